//! `krel stage` end to end: the sandbox project built, attested, signed and staged into a
//! `file://` bucket; signatures checked by openssl, checksums by coreutils, the source archive
//! by git.

use std::path::Path;
use std::process::Command;

use krel_sandbox::Sandbox;
use krel_test_support::{tree, Krel, RemoteSnapshot};

use crate::{krel, openssl_verifies};

/// A fixed clock, so two stages of the same commit give the same bytes.
const EPOCH: &str = "1700000000";

fn stager() -> Krel {
    krel().env("SOURCE_DATE_EPOCH", EPOCH)
}

pub(crate) fn build_version(s: &Sandbox, branch: &str) -> String {
    let described = s
        .remote_git(&["describe", "--tags", "--long", "--abbrev=14", branch])
        .unwrap();
    // v1.11.0-alpha.0-3-gc6f656... → v1.11.0-alpha.0.3+c6f656...
    let (rest, hash) = described.rsplit_once("-g").unwrap();
    let (tag, count) = rest.rsplit_once('-').unwrap();
    format!("{tag}.{count}+{hash}")
}

fn sha256sum(file: &Path) -> String {
    let out = Command::new("sha256sum").arg(file).output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

#[test]
fn mock_stage_fills_the_mock_bucket_and_touches_no_remote() {
    let krel = stager();
    let s = krel.sandbox();
    let before = RemoteSnapshot::take(&s.remote);
    let bv = build_version(&s, "main");

    krel.run_in(&s.root, &["stage", "--type", "alpha", "--branch", "main"])
        .assert_exit(0)
        .assert_stderr_has("Tagged v1.11.0-alpha.1")
        .assert_stderr_has("Built v1.11.0-alpha.1: 6 artifact(s)")
        .assert_stderr_has(&format!(
            "Next: krel release --type alpha --branch main --build-version {bv}"
        ));
    assert_eq!(
        RemoteSnapshot::take(&s.remote),
        before,
        "stage pushes nothing to git"
    );
    assert!(
        !s.root.join("bucket").exists(),
        "mock leaves the release bucket alone"
    );

    let stage = s.root.join("mock-bucket/stage").join(&bv);
    let gcs = stage.join("v1.11.0-alpha.1/gcs-stage/v1.11.0-alpha.1");
    let public = s.root.join("keys/sandbox.pub");
    for file in [
        "widget-linux-amd64.tar.gz",
        "widget-darwin-arm64.tar.gz",
        "bin/linux/arm64/widget",
        "widget-release.spdx.json",
        "widget-source.spdx.json",
        "SHA256SUMS",
        "SHA512SUMS",
    ] {
        let path = gcs.join(file);
        assert!(path.is_file(), "{file} staged");
        assert!(
            openssl_verifies(&public, &path),
            "openssl verifies {file}.sig"
        );
    }
    // The binary is what the build made for that platform and version.
    let binary = std::fs::read_to_string(gcs.join("bin/linux/arm64/widget")).unwrap();
    assert!(
        binary.contains("widget v1.11.0-alpha.1 for linux/arm64"),
        "{binary}"
    );
    // coreutils agrees with the checksums.
    let check = Command::new("sha256sum")
        .args(["--check", "--strict", "SHA256SUMS"])
        .current_dir(&gcs)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );

    // The provenance names every staged file with its sha256, and is signed.
    let provenance = stage.join("v1.11.0-alpha.1/provenance.json");
    assert!(openssl_verifies(&public, &provenance));
    let statement: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&provenance).unwrap()).unwrap();
    assert_eq!(statement["predicateType"], "https://slsa.dev/provenance/v1");
    let subjects = statement["subject"].as_array().unwrap();
    let staged = tree(&gcs);
    let (image_subjects, file_subjects): (Vec<_>, Vec<_>) = subjects
        .iter()
        .partition(|s| s["name"].as_str().unwrap().starts_with("image:"));
    assert_eq!(file_subjects.len(), staged.len(), "every file is a subject");
    // Each image's index and its two platform manifests are subjects, by digest.
    assert_eq!(image_subjects.len(), 2 * 3, "{image_subjects:?}");
    for subject in file_subjects {
        let name = subject["name"].as_str().unwrap();
        assert_eq!(
            subject["digest"]["sha256"].as_str().unwrap(),
            sha256sum(&gcs.join(name)),
            "{name}"
        );
    }
    let commit = s.remote_git(&["rev-parse", "main"]).unwrap();
    assert_eq!(
        statement["predicate"]["buildDefinition"]["resolvedDependencies"][0]["digest"]["gitCommit"],
        commit.as_str()
    );
    // The source is an absolute URI even though git.url is a path.
    let uri = statement["predicate"]["buildDefinition"]["resolvedDependencies"][0]["uri"]
        .as_str()
        .unwrap();
    assert_eq!(
        uri,
        format!(
            "git+file://{}@refs/tags/v1.11.0-alpha.1",
            s.remote.display()
        )
    );

    // Every SBOM (artifacts, source, each image) is valid SPDX to the SPDX project's validator.
    let sboms: Vec<String> = tree(&gcs)
        .into_keys()
        .filter(|p| p.ends_with(".spdx.json"))
        .collect();
    assert_eq!(sboms.len(), 4, "{sboms:?}");
    for sbom in &sboms {
        let out = Command::new(
            krel_test_support::repo_root().join("target/test-tools/venv/bin/pyspdxtools"),
        )
        .arg("-i")
        .arg(gcs.join(sbom))
        .output()
        .unwrap();
        assert!(
            out.status.success(),
            "pyspdxtools refused {sbom}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // The SBOM is SPDX 2.3 and lists the artifacts.
    let sbom: serde_json::Value =
        serde_json::from_slice(&std::fs::read(gcs.join("widget-release.spdx.json")).unwrap())
            .unwrap();
    assert_eq!(sbom["spdxVersion"], "SPDX-2.3");
    let names: Vec<&str> = sbom["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fileName"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"./widget-linux-amd64.tar.gz"), "{names:?}");

    // The source archive carries the tag and its commit: git reads it as a repository.
    let unpacked = tempfile::tempdir().unwrap();
    let status = Command::new("tar")
        .arg("xzf")
        .arg(stage.join("src.tar.gz"))
        .arg("-C")
        .arg(unpacked.path())
        .status()
        .unwrap();
    assert!(status.success());
    let repo = unpacked.path().join("widget");
    assert!(repo.join("hack/build.sh").is_file(), "the source tree");
    let tagged = Command::new("git")
        .args(["rev-parse", "v1.11.0-alpha.1^{commit}"])
        .current_dir(&repo)
        .output();
    let tagged = tagged.unwrap();
    assert!(
        tagged.status.success(),
        "{}",
        String::from_utf8_lossy(&tagged.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&tagged.stdout).trim(), commit);

    // The completion record is signed and lists every file.
    let record = stage.join("STAGED.json");
    assert!(openssl_verifies(&public, &record));
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    assert_eq!(record["versions"][0], "v1.11.0-alpha.1");
    assert_eq!(record["cut_branch"], false);
    let files = record["files"].as_object().unwrap();
    assert_eq!(
        files["src.tar.gz"].as_str().unwrap(),
        sha256sum(&stage.join("src.tar.gz"))
    );
}

#[test]
fn nomock_branch_cut_stages_two_versions_on_a_release_commit() {
    let krel = stager();
    let s = krel.sandbox();
    let main = s.remote_git(&["rev-parse", "main"]).unwrap();
    let run = krel.run_in(
        &s.root,
        &[
            "--nomock",
            "stage",
            "--type",
            "rc",
            "--branch",
            "release-1.11",
            "--output",
            "json",
        ],
    );
    run.assert_exit(0).assert_stderr_has("(branch cut)");
    let report = run.json();
    assert_eq!(report["mode"], "nomock");
    let stage = &report["result"];
    assert_eq!(stage["versions"][0], "v1.11.0-rc.0");
    assert_eq!(stage["versions"][1], "v1.12.0-alpha.0");
    assert_eq!(stage["cut_branch"], true);
    assert!(!s.root.join("mock-bucket").exists());
    assert!(
        s.remote_git(&["rev-parse", "--verify", "--quiet", "release-1.11"])
            .is_err(),
        "the branch is cut by release, not by stage"
    );

    let bv = stage["build_version"].as_str().unwrap();
    let dir = s.root.join("bucket/stage").join(bv);
    for version in ["v1.11.0-rc.0", "v1.12.0-alpha.0"] {
        let gcs = dir.join(format!("{version}/gcs-stage/{version}"));
        let binary = std::fs::read_to_string(gcs.join("bin/darwin/arm64/widget")).unwrap();
        assert!(binary.contains(&format!("widget {version} for darwin/arm64")));
    }
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("STAGED.json")).unwrap()).unwrap();
    let rc = record["tags"]["v1.11.0-rc.0"].as_str().unwrap();
    assert_eq!(record["release_branch_commit"], rc);
    assert_eq!(
        record["tags"]["v1.12.0-alpha.0"],
        main.as_str(),
        "alpha.0 tags main"
    );

    // In the archive, the release commit sits on main's commit, with upstream's message.
    let unpacked = tempfile::tempdir().unwrap();
    assert!(Command::new("tar")
        .arg("xzf")
        .arg(dir.join("src.tar.gz"))
        .arg("-C")
        .arg(unpacked.path())
        .status()
        .unwrap()
        .success());
    let log = Command::new("git")
        .args(["log", "-1", "--format=%P %s", "release-1.11"])
        .current_dir(unpacked.path().join("widget"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&log.stdout).trim(),
        format!("{main} Release commit for widget v1.11.0-rc.0")
    );
}

/// An alpha staged into a workspace and mock bucket of its own (`ws-NAME`, `bucket-NAME`),
/// stopped after the step `abort_after` when given.
fn stage_into(krel: &Krel, s: &Sandbox, name: &str, abort_after: Option<&str>) -> crate::Run {
    let args = ["stage", "--type", "alpha", "--branch", "main"];
    let workspace = s.root.join(format!("ws-{name}")).display().to_string();
    let bucket = format!("file://{}", s.root.join(format!("bucket-{name}")).display());
    let mut env = vec![
        ("KREL_WORKSPACE", workspace.as_str()),
        ("KREL_MOCK_BUCKET", bucket.as_str()),
    ];
    if let Some(step) = abort_after {
        env.push(("KREL_TEST_ABORT_AFTER", step));
    }
    krel.run_with_env(&s.root, &args, &env)
}

#[test]
fn a_kill_after_any_step_then_a_rerun_matches_an_uninterrupted_stage() {
    let krel = stager();
    let s = krel.sandbox();
    let run_into = |name: &str, abort_after: Option<&str>| stage_into(&krel, &s, name, abort_after);
    run_into("clean", None).assert_exit(0);
    let clean = tree(&s.root.join("bucket-clean"));
    assert!(clean.len() > 60, "{} files", clean.len());

    for (index, step) in [
        "clone",
        "tag v1.11.0-alpha.1",
        "build v1.11.0-alpha.1",
        "attest v1.11.0-alpha.1",
        "source",
        "record",
        "upload the stage",
    ]
    .iter()
    .enumerate()
    {
        let name = format!("killed-{index}");
        let killed = run_into(&name, Some(step));
        assert_eq!(
            killed.code, None,
            "aborted after `{step}`: {}",
            killed.stderr
        );
        let rerun = run_into(&name, None);
        rerun.assert_exit(0).assert_stderr_has("Resumed");
        let resumed = tree(&s.root.join(format!("bucket-{name}")));
        let differing: Vec<&String> = clean
            .iter()
            .filter(|(path, bytes)| resumed.get(*path) != Some(*bytes))
            .map(|(path, _)| path)
            .collect();
        assert!(
            differing.is_empty() && resumed.len() == clean.len(),
            "after a kill at `{step}`, the rerun differs from a clean run: {differing:?}"
        );
    }
}

#[test]
fn refusals_name_the_problem_and_stage_nothing() {
    let krel = stager();
    let s = krel.sandbox();
    // A new stage's build version in another spelling (a shorter commit id) is refused, naming
    // krel's: a split stage's merge and the release look the stage up by that name.
    let bv = build_version(&s, "main");
    let (version, commit) = bv.split_once('+').unwrap();
    let short = format!("{version}+{}", &commit[..7]);
    krel.run_in(
        &s.root,
        &[
            "stage",
            "--type",
            "alpha",
            "--branch",
            "main",
            "--build-version",
            &short,
        ],
    )
    .assert_exit(2)
    .assert_stderr_has(&format!("build version {short} is {bv} as krel spells it"))
    .assert_stderr_has(&format!("hint: pass --build-version {bv}"));
    assert!(!s.root.join("mock-bucket").exists());

    // A tag the stage would make exists on the remote (off main's history, or describe would
    // have counted from it).
    s.remote_git(&["tag", "v1.11.0-alpha.1", "release-1.10"])
        .unwrap();
    krel.run_in(&s.root, &["stage", "--type", "alpha", "--branch", "main"])
        .assert_exit(1)
        .assert_stderr_has("tag v1.11.0-alpha.1 already exists on the remote");
    assert!(!s.root.join("mock-bucket").exists());

    // A failing build: its output is shown, nothing is marked staged.
    krel.run_with_env(
        &s.root,
        &["stage", "--type", "beta", "--branch", "main"],
        &[("KREL_BUILD_COMMAND", "echo compiler exploded >&2; exit 7")],
    )
    .assert_exit(2)
    .assert_stderr_has("exited with status 7")
    .assert_stderr_has("compiler exploded");
    assert!(!s.root.join("mock-bucket").exists());

    // An alpha of an old commit of main, after its minor's beta and rc: releases only move
    // forward.
    krel.run_in(
        &s.root,
        &[
            "stage",
            "--type",
            "alpha",
            "--branch",
            "main",
            "--build-version",
            "v1.10.0-alpha.1",
        ],
    )
    .assert_exit(2)
    .assert_stderr_has("v1.10.0-alpha.2 would come after v1.10.0-rc.0, which is already released");
    assert!(!s.root.join("mock-bucket").exists());

    // A branch that is neither main nor a release branch.
    krel.run_in(&s.root, &["stage", "--type", "rc", "--branch", "feature-x"])
        .assert_exit(2)
        .assert_stderr_has("feature-x");
    // An official release while cutting a branch is refused before any work.
    krel.run_in(
        &s.root,
        &["stage", "--type", "official", "--branch", "release-1.11"],
    )
    .assert_exit(2);
}

#[test]
fn a_build_version_is_staged_once() {
    let krel = stager();
    let s = krel.sandbox();
    krel.run_in(&s.root, &["stage", "--type", "alpha", "--branch", "main"])
        .assert_exit(0);
    let bv = build_version(&s, "main");
    let record = s
        .root
        .join("mock-bucket/stage")
        .join(&bv)
        .join("STAGED.json");
    let before = std::fs::read(&record).unwrap();
    // The same commit as a beta would mix two stages under one stage/<bv>/.
    krel.run_in(&s.root, &["stage", "--type", "beta", "--branch", "main"])
        .assert_exit(2)
        .assert_stderr_has("was already staged as `alpha v1.11.0-alpha.1`");
    assert_eq!(std::fs::read(&record).unwrap(), before);
    assert!(!s
        .root
        .join("mock-bucket/stage")
        .join(&bv)
        .join("v1.11.0-beta.0")
        .exists());
    // Running the same stage again is fine and uploads nothing.
    krel.run_in(&s.root, &["stage", "--type", "alpha", "--branch", "main"])
        .assert_exit(0)
        .assert_stderr_has("0 uploaded");
    // Another spelling of the same commit (its id shorter) is the same build version: found
    // staged, not staged again as a beta.
    let beta_of = |build_version: &str| {
        let args = [
            "stage",
            "--type",
            "beta",
            "--branch",
            "main",
            "--build-version",
            build_version,
        ];
        krel.run_in(&s.root, &args)
    };
    let (version, commit) = bv.split_once('+').unwrap();
    beta_of(&format!("{version}+{}", &commit[..7]))
        .assert_exit(2)
        .assert_stderr_has("was already staged as `alpha v1.11.0-alpha.1`");
    // A build version its commit does not have (a typo in the version or the count) would
    // release a wrong version: refused, naming what git describe gives.
    let (tag, count) = version.rsplit_once('.').unwrap();
    let typos = [
        format!("{}+{commit}", version.replacen("v1.11.", "v1.15.", 1)),
        format!("{tag}.{}+{commit}", count.parse::<u64>().unwrap() + 4),
    ];
    for typo in &typos {
        beta_of(typo)
            .assert_exit(2)
            .assert_stderr_has(&format!(
                "build version {typo} does not describe its commit"
            ))
            .assert_stderr_has(&format!("git describe gives {bv}"));
    }
    assert_eq!(std::fs::read(&record).unwrap(), before);
}

/// Secret values the tests put in krel's environment.
const SECRETS: [(&str, &str); 5] = [
    ("GITHUB_TOKEN", "ghp_topsecret1234567890"),
    ("KREL_SIGNING_PASSWORD", "signing-password-123"),
    ("KREL_PACKAGE_KEY_PASSPHRASE", "package-passphrase-456"),
    ("AWS_SECRET_ACCESS_KEY", "aws-secret-abcdef789"),
    ("SIGSTORE_ID_TOKEN", "eyJhbGciOiJSUzI1NiJ9.oidc"),
];

/// Every file under `dir` that holds one of the secrets.
fn files_holding_secrets(dir: &std::path::Path) -> Vec<String> {
    walkdir(dir)
        .into_iter()
        .filter(|path| {
            let text =
                String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned();
            SECRETS.iter().any(|(_, secret)| text.contains(secret))
        })
        .map(|path| path.display().to_string())
        .collect()
}

fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && !path.is_symlink() {
            files.extend(walkdir(&path));
        } else if path.is_file() {
            files.push(path);
        }
    }
    files
}

#[test]
fn the_build_never_sees_krels_secrets_and_what_it_prints_is_masked() {
    let krel = stager();
    let s = krel.sandbox();
    // A failing build that dumps its whole environment.
    let mut env: Vec<(&str, &str)> = SECRETS.to_vec();
    env.push(("KREL_BUILD_COMMAND", "env; exit 4"));
    env.push(("WIDGET_FLAVOR", "vanilla"));
    let run = krel.run_with_env(
        &s.root,
        &["stage", "--type", "alpha", "--branch", "main"],
        &env,
    );
    run.assert_exit(2)
        .assert_stderr_has("exited with status 4")
        .assert_stderr_has("PATH=");
    for (name, secret) in SECRETS {
        assert!(
            !run.stderr.contains(secret) && !run.stdout.contains(secret),
            "{name} reached the output"
        );
        assert!(
            !run.stderr.contains(&format!("{name}=")),
            "{name} reached the build"
        );
    }
    assert!(
        !run.stderr.contains("WIDGET_FLAVOR"),
        "only build.env passes variables through"
    );
    assert_eq!(files_holding_secrets(&s.root), Vec::<String>::new());

    // build.env passes variables through, even a secret when named; whatever the build prints
    // of a secret is masked in krel's output and in the log.
    let config = std::fs::read_to_string(s.root.join("krel.yaml")).unwrap();
    let config = config.replace(
        "build:\n",
        "build:\n  env: [WIDGET_FLAVOR, GITHUB_TOKEN, 'BUILD_MODE=release']\n",
    );
    std::fs::write(s.root.join("krel.yaml"), config).unwrap();
    env.pop();
    env.pop();
    env.push((
        "KREL_BUILD_COMMAND",
        "echo flavor=$WIDGET_FLAVOR mode=$BUILD_MODE token=$GITHUB_TOKEN; exit 5",
    ));
    env.push(("WIDGET_FLAVOR", "vanilla"));
    let run = krel.run_with_env(
        &s.root,
        &["stage", "--type", "alpha", "--branch", "main"],
        &env,
    );
    run.assert_exit(2)
        .assert_stderr_has("flavor=vanilla mode=release token=***");
    assert_eq!(files_holding_secrets(&s.root), Vec::<String>::new());
}

#[test]
fn in_a_workflow_the_runner_is_told_to_mask_every_secret_first() {
    let krel = krel();
    let run = krel.run_with_env(
        krel.home(),
        &["version"],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_TOKEN", "ghp_topsecret1234567890"),
        ],
    );
    run.assert_exit(0);
    assert!(
        run.stderr
            .starts_with("::add-mask::ghp_topsecret1234567890\n"),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains("ghp_"));
}

#[test]
fn a_kill_inside_the_first_fetch_and_a_fetchs_stale_locks_change_nothing() {
    let krel = stager();
    let s = krel.sandbox();
    let run_into = |name: &str, abort_after: Option<&str>| stage_into(&krel, &s, name, abort_after);
    run_into("clean", None).assert_exit(0);
    let clean = tree(&s.root.join("bucket-clean"));

    // Killed while the mirror is being cloned: no half-made mirror is left to be trusted.
    let killed = run_into("killed", Some("clone the mirror"));
    assert_eq!(killed.code, None, "{}", killed.stderr);
    let mirror = s.root.join("ws-killed/mirror/widget.git");
    assert!(!mirror.exists(), "a half-cloned mirror was left in place");
    run_into("killed", None).assert_exit(0);
    assert_eq!(tree(&s.root.join("bucket-killed")), clean);

    // The lock files a fetch killed mid-update leaves do not stop the next run.
    for lock in ["refs/tags/v1.9.0-rc.0.lock", "packed-refs.lock"] {
        std::fs::write(mirror.join(lock), "").unwrap();
    }
    run_into("killed", None)
        .assert_exit(0)
        .assert_stderr_has("Resumed");
    assert!(!mirror.join("packed-refs.lock").exists());
    assert_eq!(tree(&s.root.join("bucket-killed")), clean);
}
