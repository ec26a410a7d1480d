//! `krel release` end to end: sandbox projects staged with `krel stage`, then published to a
//! `file://` bucket, the sandbox's bare git remote and the GitHub stand-in on 127.0.0.1;
//! signatures checked by openssl, history by git.

use std::collections::BTreeMap;
use std::path::Path;

use krel_sandbox::Sandbox;
use krel_test_support::{tree, GitHubStandIn, Krel, RemoteSnapshot, Run, StandInOptions};
use serde_json::Value;

use crate::{krel, openssl_verifies, serve};
use krel_test_support::sigstore::{securesystemslib_dsse, sigstore_js, JsSigner};

/// SHA-256 of `bytes`, by `sha256sum`.
fn sha256_of(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

const EPOCH: &str = "1700000000";

/// A sandbox, a GitHub stand-in, and krel pointed at both.
struct Stand {
    krel: Krel,
    sandbox: Sandbox,
    github: GitHubStandIn,
}

fn stand() -> Stand {
    let github = GitHubStandIn::start(Vec::new(), StandInOptions::default());
    let krel = krel()
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env("KREL_GITHUB_RELEASE", "true")
        .env("KREL_GITHUB_API_URL", &github.url)
        .env("GITHUB_TOKEN", "stand-in-token");
    let sandbox = krel.sandbox();
    Stand {
        krel,
        sandbox,
        github,
    }
}

impl Stand {
    fn run(&self, args: &[&str]) -> Run {
        self.krel.run_in(&self.sandbox.root, args)
    }

    fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        self.krel.run_with_env(&self.sandbox.root, args, env)
    }

    /// Stages with --nomock and returns the build version.
    fn stage(&self, kind: &str, branch: &str) -> String {
        let run = self.run(&[
            "--output", "json", "stage", "--type", kind, "--branch", branch, "--nomock",
        ]);
        run.assert_exit(0);
        run.json()["result"]["build_version"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn release_args<'a>(&self, kind: &'a str, branch: &'a str, bv: &'a str) -> Vec<&'a str> {
        vec![
            "release",
            "--type",
            kind,
            "--branch",
            branch,
            "--build-version",
            bv,
            "--nomock",
            "--non-interactive",
        ]
    }

    fn marker(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.sandbox.root.join("bucket/release").join(name))
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// What a release leaves in this sandbox.
    fn published(&self) -> Published {
        published(
            &self.sandbox.root.join("bucket"),
            &self.sandbox.remote,
            &self.github,
        )
    }
}

/// What a release leaves, to compare two runs: the release tree of the bucket (digests), the
/// remote's refs, and the GitHub releases with their assets' digests.
type Published = (BTreeMap<String, String>, String, Vec<Value>);

fn published(bucket: &Path, remote: &Path, github: &GitHubStandIn) -> Published {
    let out = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(remote)
        .args([
            "for-each-ref",
            "--format=%(refname) %(objectname) %(*objectname)",
        ])
        .output()
        .unwrap();
    let refs = String::from_utf8(out.stdout).unwrap();
    let releases = github
        .releases()
        .into_iter()
        .map(|r| {
            let mut assets: Vec<String> = r["assets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| format!("{} {}", a["name"], a["digest"]))
                .collect();
            assets.sort();
            // The body names the bucket, whose directory differs between runs.
            let body = r["body"]
                .as_str()
                .unwrap_or_default()
                .replace(&bucket.display().to_string(), "<bucket>");
            serde_json::json!({"tag": r["tag_name"], "draft": r["draft"],
                "prerelease": r["prerelease"], "body": body, "assets": assets})
        })
        .collect();
    let files = tree(&bucket.join("release"))
        .into_iter()
        .map(|(path, bytes)| {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(&bytes);
            (path, digest.iter().map(|b| format!("{b:02x}")).collect())
        })
        .collect();
    (files, refs, releases)
}

#[test]
fn a_branch_cut_is_published_everywhere_and_a_second_run_changes_nothing() {
    let t = stand();
    let bv = t.stage("rc", "release-1.11");
    // Mock, pointed at the same bucket, plans exactly what --nomock then does.
    let bucket_url = format!("file://{}", t.sandbox.root.join("bucket").display());
    let mut args = vec!["--output", "json"];
    args.extend(t.release_args("rc", "release-1.11", &bv));
    let mock_args: Vec<&str> = args.iter().copied().filter(|a| *a != "--nomock").collect();
    let mock = t.run_with(&mock_args, &[("KREL_MOCK_BUCKET", bucket_url.as_str())]);
    mock.assert_exit(0);
    assert_eq!(mock.json()["outcome"]["outcome"], "planned");
    assert!(t.github.mutating_requests().is_empty());
    let run = t.run(&args);
    run.assert_exit(0).assert_stderr_has("Verified 256 files");
    assert_eq!(run.json()["outcome"]["outcome"], "executed");
    assert_eq!(run.json()["plan"], mock.json()["plan"]);
    // Git, files, a copy and a tag of the images per version, GitHub, markers, the record.
    assert_eq!(run.json()["plan"]["actions"].as_array().unwrap().len(), 16);

    // The bucket: each version's staged files and its provenance, byte for byte.
    let root = &t.sandbox.root;
    for version in ["v1.11.0-rc.0", "v1.12.0-alpha.0"] {
        let staged = tree(
            &root
                .join("bucket/stage")
                .join(&bv)
                .join(version)
                .join("gcs-stage")
                .join(version),
        );
        let released = tree(&root.join("bucket/release").join(version));
        for (path, bytes) in &staged {
            assert_eq!(released.get(path), Some(bytes), "{version}/{path}");
        }
        assert_eq!(
            released.len(),
            staged.len() + 4,
            "plus the provenance, its signature, its bundle and its attestation"
        );
        let public = root.join("keys/sandbox.pub");
        let dir = root.join("bucket/release").join(version);
        for file in ["provenance.json", "SHA256SUMS", "widget-release.spdx.json"] {
            assert!(
                openssl_verifies(&public, &dir.join(file)),
                "{version}/{file}"
            );
            // The same signatures as Sigstore bundles, by sigstore-js.
            let bundle = dir.join(format!("{file}.sigstore.json"));
            sigstore_js(&bundle, &dir.join(file), &JsSigner::Key(&public))
                .unwrap_or_else(|err| panic!("sigstore-js: {version}/{file}: {err}"));
        }
        // The provenance and the release SBOM as DSSE attestations, by securesystemslib:
        // the provenance is about every file, the SBOM about every artifact.
        let attestation = dir.join("provenance.json.intoto.sigstore.json");
        let predicate =
            securesystemslib_dsse(&attestation, &public, Some(&dir.join("SHA256SUMS"))).unwrap();
        assert_eq!(predicate, "https://slsa.dev/provenance/v1");
        let envelope: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&attestation).unwrap()).unwrap();
        let payload = base64_decode(envelope["dsseEnvelope"]["payload"].as_str().unwrap());
        assert_eq!(
            payload, released["provenance.json"],
            "the attestation is provenance.json"
        );
        let sbom = dir.join("widget-release.spdx.json.intoto.sigstore.json");
        let artifact = dir.join("widget-linux-amd64.tar.gz");
        assert_eq!(
            securesystemslib_dsse(&sbom, &public, Some(&artifact)).unwrap(),
            "https://spdx.dev/Document/v2.3"
        );
        sigstore_js(&sbom, &artifact, &JsSigner::Key(&public))
            .unwrap_or_else(|err| panic!("sigstore-js: SBOM attestation: {err}"));
    }
    // Markers: pre-releases move latest*, never stable*.
    assert_eq!(t.marker("latest.txt").as_deref(), Some("v1.12.0-alpha.0"));
    assert_eq!(t.marker("latest-1.txt").as_deref(), Some("v1.12.0-alpha.0"));
    assert_eq!(t.marker("latest-1.11.txt").as_deref(), Some("v1.11.0-rc.0"));
    assert_eq!(
        t.marker("latest-1.12.txt").as_deref(),
        Some("v1.12.0-alpha.0")
    );
    assert_eq!(t.marker("stable.txt"), None);

    // Git: the new branch at the release commit, both tags where the stage made them.
    let s = &t.sandbox;
    let branch = s.remote_git(&["rev-parse", "release-1.11"]).unwrap();
    assert_eq!(
        s.remote_git(&["rev-parse", "v1.11.0-rc.0^{commit}"])
            .unwrap(),
        branch
    );
    assert_eq!(
        s.remote_git(&["log", "-1", "--format=%s", "release-1.11"])
            .unwrap(),
        "Release commit for widget v1.11.0-rc.0"
    );
    assert_eq!(
        s.remote_git(&["rev-parse", "v1.12.0-alpha.0^{commit}"])
            .unwrap(),
        s.remote_git(&["rev-parse", "release-1.11^"]).unwrap(),
        "the next alpha tags the commit the branch was cut from"
    );

    // GitHub: two published pre-releases, each with its top-level files as assets.
    let releases = t.github.releases();
    assert_eq!(releases.len(), 2);
    for release in &releases {
        assert_eq!(release["draft"], false);
        assert_eq!(release["prerelease"], true);
        let tag = release["tag_name"].as_str().unwrap();
        let names: Vec<&str> = release["assets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap())
            .collect();
        for expected in ["provenance.json", "provenance.json.sig", "SHA512SUMS"] {
            assert!(names.contains(&expected), "{tag}: {names:?}");
        }
        assert!(names.iter().all(|n| !n.contains('/')), "{names:?}");
        let tarball = names.iter().find(|n| n.ends_with(".tar.gz")).unwrap();
        assert_eq!(
            t.github.asset(tag, tarball).unwrap(),
            std::fs::read(root.join("bucket/release").join(tag).join(tarball)).unwrap()
        );
    }
    // Completion record beside the stage.
    assert!(root
        .join("bucket/stage")
        .join(&bv)
        .join("RELEASED.json")
        .is_file());

    // Images: promoted to the release registry by digest, tagged with each version, read
    // back by skopeo; the GitHub release lists them.
    for version in ["v1.11.0-rc.0", "v1.12.0-alpha.0"] {
        let listed: serde_json::Value = serde_json::from_slice(
            &std::fs::read(
                root.join("bucket/release")
                    .join(version)
                    .join("images.json"),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
        for image in listed.as_array().unwrap() {
            let name = image["reference"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap();
            let layout = format!("oci:{}/{name}", root.join("registry/release").display());
            let raw = std::process::Command::new("skopeo")
                .args(["inspect", "--raw", &layout])
                .output()
                .unwrap();
            assert!(
                raw.status.success(),
                "{}",
                String::from_utf8_lossy(&raw.stderr)
            );
            assert_eq!(
                format!("sha256:{}", sha256_of(&raw.stdout)),
                image["digest"].as_str().unwrap(),
                "{name}"
            );
        }
        let body = releases.iter().find(|r| r["tag_name"] == version).unwrap()["body"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(body.contains("### Container Images"), "{body}");
        assert!(
            body.contains(&format!("widget:{version}@sha256:")),
            "{body}"
        );
    }
    let registry = tree(&root.join("registry/release"));

    // Again: nothing to do, nothing written anywhere.
    let before = t.published();
    let remote = RemoteSnapshot::take(&s.remote);
    let requests = t.github.mutating_requests().len();
    t.run(&t.release_args("rc", "release-1.11", &bv))
        .assert_exit(0)
        .assert_stderr_has("nothing left to do");
    assert_eq!(
        tree(&root.join("registry/release")),
        registry,
        "the images are unchanged"
    );
    assert_eq!(t.published(), before);
    assert_eq!(RemoteSnapshot::take(&s.remote), remote);
    assert_eq!(t.github.mutating_requests().len(), requests);
}

#[test]
fn a_mock_release_plans_everything_and_changes_nothing() {
    let t = stand();
    let s = &t.sandbox;
    t.run(&["stage", "--type", "alpha", "--branch", "main"])
        .assert_exit(0);
    let bv = std::fs::read_dir(s.root.join("mock-bucket/stage"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name()
        .into_string()
        .unwrap();
    let remote = RemoteSnapshot::take(&s.remote);
    let run = t.run(&[
        "release",
        "--type",
        "alpha",
        "--branch",
        "main",
        "--build-version",
        &bv,
    ]);
    run.assert_exit(0)
        .assert_stdout_has("push 614be88271a2 to refs/tags/v1.11.0-alpha.1")
        .assert_stdout_has("release/latest.txt to v1.11.0-alpha.1 (now absent)")
        .assert_stdout_has("publish the GitHub pre-release v1.11.0-alpha.1 of krel-sandbox/widget")
        .assert_stdout_has("tag 2 image(s) v1.11.0-alpha.1 in oci:")
        .assert_stderr_has("Mock run: 9 action(s) planned");
    assert_eq!(RemoteSnapshot::take(&s.remote), remote);
    assert!(
        !s.root.join("registry/release").exists(),
        "a mock release writes to no registry"
    );
    assert!(!s.root.join("mock-bucket/release").exists());
    assert!(!s
        .root
        .join("mock-bucket/stage")
        .join(&bv)
        .join("RELEASED.json")
        .exists());
    assert!(!t.github.requests().is_empty(), "mock reads GitHub");
    assert!(
        t.github.mutating_requests().is_empty(),
        "{:?}",
        t.github.mutating_requests()
    );
}

#[test]
fn a_tampered_stage_is_refused_before_anything_is_published() {
    let t = stand();
    let bv = t.stage("alpha", "main");
    let s = &t.sandbox;
    let gcs = s
        .root
        .join("bucket/stage")
        .join(&bv)
        .join("v1.11.0-alpha.1/gcs-stage/v1.11.0-alpha.1");
    let tarball = gcs.join("widget-linux-amd64.tar.gz");
    let mut bytes = std::fs::read(&tarball).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&tarball, bytes).unwrap();
    let remote = RemoteSnapshot::take(&s.remote);

    let run = t.run(&t.release_args("alpha", "main", &bv));
    run.assert_exit(1)
        .assert_stderr_has("failed verification")
        .assert_stderr_has("widget-linux-amd64.tar.gz: sha256 is")
        .assert_stderr_has("nothing was published");
    assert!(!s.root.join("bucket/release").exists());
    assert_eq!(RemoteSnapshot::take(&s.remote), remote);
    assert!(t.github.mutating_requests().is_empty());

    // Asking for another type than was staged is a usage error naming the right command.
    t.run(&t.release_args("rc", "main", &bv))
        .assert_exit(2)
        .assert_stderr_has("release what was staged: krel release --type alpha --branch main");
    // A build version that was never staged.
    t.run(&t.release_args("alpha", "main", "v1.11.0-alpha.0.9+0123456789abcd"))
        .assert_exit(1)
        .assert_stderr_has("no completed stage at");
}

#[test]
fn a_kill_at_any_point_then_a_rerun_ends_as_an_uninterrupted_release() {
    // One stage; each run releases it into its own copy of the remote and the bucket, with its
    // own GitHub stand-in.
    let t = stand();
    let bv = t.stage("rc", "release-1.11");
    let root = t.sandbox.root.clone();
    let args = t.release_args("rc", "release-1.11", &bv);
    let release_into =
        |name: &str, kill_at: Option<&str>| -> (Published, BTreeMap<String, Vec<u8>>) {
            let remote = root.join(format!("remote-{name}.git"));
            let bucket = root.join(format!("bucket-{name}"));
            for (from, to) in [
                (t.sandbox.remote.clone(), remote.clone()),
                (root.join("bucket/stage"), bucket.join("stage")),
            ] {
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                let status = std::process::Command::new("cp")
                    .arg("-a")
                    .arg(&from)
                    .arg(&to)
                    .status()
                    .unwrap();
                assert!(status.success());
            }
            let github = GitHubStandIn::start(Vec::new(), StandInOptions::default());
            // The release registry is where the stage's signatures say: emptied for each run.
            let registry = root.join("registry/release");
            let _ = std::fs::remove_dir_all(&registry);
            let (url, bucket_url, workspace) = (
                remote.display().to_string(),
                format!("file://{}", bucket.display()),
                root.join(format!("ws-{name}")).display().to_string(),
            );
            let mut env = vec![
                ("KREL_GIT_URL", url.as_str()),
                ("KREL_RELEASE_BUCKET", bucket_url.as_str()),
                ("KREL_WORKSPACE", workspace.as_str()),
                ("KREL_GITHUB_API_URL", github.url.as_str()),
            ];
            if let Some(point) = kill_at {
                let mut killing = env.clone();
                killing.push(("KREL_TEST_ABORT_AFTER", point));
                let killed = t.run_with(&args, &killing);
                assert_eq!(killed.code, None, "killed at {point}: {}", killed.stderr);
            }
            env.push(("KREL_TEST_ABORT_AFTER", ""));
            t.run_with(&args, &env).assert_exit(0);
            // The images as the registry holds them, but the names of temporary files.
            let images: BTreeMap<String, Vec<u8>> = tree(&registry)
                .into_iter()
                .filter(|(path, _)| !path.contains(".partial-"))
                .collect();
            (published(&bucket, &remote, &github), images)
        };
    let expected = release_into("clean", None);
    assert!(expected.0 .0.len() > 100 && expected.0 .2.len() == 2);
    assert!(expected.1.len() > 20, "{:?}", expected.1.keys());

    // The plan is: branch, 2 tags, 2 uploads, a copy and a tag of the images per version,
    // 2 GitHub releases, 4 markers, RELEASED.json.
    for (index, point) in [
        "download",
        "source",
        "action 1",
        "action 3",
        "action 5",
        "action 6",
        "action 7",
        "action 9",
        "action 12",
        "action 14",
    ]
    .iter()
    .enumerate()
    {
        let resumed = release_into(&format!("killed-{index}"), Some(point));
        assert_eq!(resumed, expected, "after a kill at `{point}`");
    }
}

#[test]
fn markers_follow_official_releases_and_never_move_back() {
    let t = stand();
    let s = &t.sandbox;
    // v1.10.0 from release-1.10, after someone pushed to the branch since the stage.
    let bv = t.stage("official", "release-1.10");
    s.commit_file(
        "release-1.10",
        "docs/late.md",
        Some("late fix\n"),
        "A late fix",
    )
    .unwrap();
    s.publish().unwrap();
    let late = s.remote_git(&["rev-parse", "release-1.10"]).unwrap();
    t.run(&t.release_args("official", "release-1.10", &bv))
        .assert_exit(0)
        .assert_stderr_has("release-1.10 moved on the remote since the stage");
    let tag = s.remote_git(&["rev-parse", "v1.10.0^{commit}"]).unwrap();
    let head = s.remote_git(&["rev-parse", "release-1.10"]).unwrap();
    assert_eq!(
        s.remote_git(&["rev-parse", "release-1.10^1", "release-1.10^2"])
            .unwrap(),
        format!("{tag}\n{late}"),
        "the branch merges the late commit into the release commit"
    );
    assert_ne!(head, tag);
    // Run again after the merge: everything is in place, nothing is merged or pushed twice.
    t.run(&t.release_args("official", "release-1.10", &bv))
        .assert_exit(0)
        .assert_stderr_has("nothing left to do");
    assert_eq!(s.remote_git(&["rev-parse", "release-1.10"]).unwrap(), head);
    for name in [
        "stable.txt",
        "stable-1.txt",
        "stable-1.10.txt",
        "latest.txt",
        "latest-1.10.txt",
    ] {
        assert_eq!(t.marker(name).as_deref(), Some("v1.10.0"), "{name}");
    }
    let official = t
        .github
        .releases()
        .into_iter()
        .find(|r| r["tag_name"] == "v1.10.0")
        .unwrap();
    assert_eq!(official["prerelease"], false);

    // An older patch release moves only its own minor's markers.
    let bv = t.stage("official", "release-1.9");
    // A mock run after `stage --nomock` previews the release from the release bucket.
    let mock: Vec<&str> = t
        .release_args("official", "release-1.9", &bv)
        .into_iter()
        .filter(|a| *a != "--nomock")
        .collect();
    t.run(&mock)
        .assert_exit(0)
        .assert_stderr_has("was staged with --nomock")
        .assert_stdout_has("stable-1.9.txt to v1.9.1 (now absent)")
        .assert_stderr_has("Mock run:");
    assert_eq!(t.marker("stable-1.9.txt"), None);
    t.run(&t.release_args("official", "release-1.9", &bv))
        .assert_exit(0)
        .assert_stderr_has("stable.txt names this version or a newer one");
    assert_eq!(t.marker("stable-1.9.txt").as_deref(), Some("v1.9.1"));
    assert_eq!(t.marker("latest-1.9.txt").as_deref(), Some("v1.9.1"));
    for name in [
        "stable.txt",
        "stable-1.txt",
        "latest.txt",
        "stable-1.10.txt",
    ] {
        assert_eq!(t.marker(name).as_deref(), Some("v1.10.0"), "{name}");
    }

    // An alpha moves latest, not stable.
    let bv = t.stage("alpha", "main");
    t.run(&t.release_args("alpha", "main", &bv)).assert_exit(0);
    assert_eq!(t.marker("latest.txt").as_deref(), Some("v1.11.0-alpha.1"));
    assert_eq!(t.marker("stable.txt").as_deref(), Some("v1.10.0"));
}

#[test]
fn stage_and_release_into_a_gcs_bucket() {
    use crate::push::{readback, sha256, unique};
    let gcs = krel_test_support::fake_gcs();
    let bucket = unique("krel-release");
    gcs.create_bucket(&bucket);
    let github = GitHubStandIn::start(Vec::new(), StandInOptions::default());
    let krel = krel()
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env("STORAGE_EMULATOR_HOST", &gcs.host())
        .env("KREL_RELEASE_BUCKET", &format!("gs://{bucket}"))
        .env("KREL_GITHUB_RELEASE", "true")
        .env("KREL_GITHUB_API_URL", &github.url)
        .env("GITHUB_TOKEN", "stand-in-token");
    let s = krel.sandbox();
    let t = Stand {
        krel,
        sandbox: s,
        github,
    };
    let bv = t.stage("rc", "release-1.11");
    let args = t.release_args("rc", "release-1.11", &bv);
    t.run(&args).assert_exit(0).assert_stderr_has("Released");

    // Google's own client reads back what krel published, digest for digest.
    let released = readback(&["gcs", &gcs.host(), &bucket, "release"], "release");
    let staged = readback(&["gcs", &gcs.host(), &bucket, "stage"], "stage");
    let prefix = format!("{bv}/v1.11.0-rc.0/gcs-stage/v1.11.0-rc.0/");
    let mut compared = 0;
    for (key, digest) in &staged {
        if let Some(name) = key.strip_prefix(&prefix) {
            assert_eq!(
                released.get(&format!("v1.11.0-rc.0/{name}")),
                Some(digest),
                "{name}"
            );
            compared += 1;
        }
    }
    assert!(compared >= 60, "{compared}");
    assert_eq!(released["latest.txt"], sha256(b"v1.12.0-alpha.0\n"));
    assert_eq!(released["latest-1.11.txt"], sha256(b"v1.11.0-rc.0\n"));
    assert!(staged.contains_key(&format!("{bv}/RELEASED.json")));
    assert_eq!(t.github.releases().len(), 2);

    // A second run finds everything in place (GCS digests compared, generations unchanged).
    t.run(&args)
        .assert_exit(0)
        .assert_stderr_has("nothing left to do");
}

/// Standard base64, decoded by openssl (an independent decoder).
fn base64_decode(text: &str) -> Vec<u8> {
    use std::io::Write;
    let mut child = std::process::Command::new("openssl")
        .args(["base64", "-d", "-A"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap().stdout
}

/// `krel verify` on a published version: from the directory, the bucket and over HTTP it
/// verifies; each kind of tampering is named and exits 1; another signer is refused.
#[test]
fn a_published_release_verifies_for_downloaders_and_tampering_is_named() {
    let t = stand();
    let bv = t.stage("alpha", "main");
    t.run(&t.release_args("alpha", "main", &bv)).assert_exit(0);
    let root = &t.sandbox.root;
    let version = "v1.11.0-alpha.1";
    let dir = root.join("bucket/release").join(version);
    let key = root.join("keys/sandbox.pub").display().to_string();
    let remote = format!("file://{}", t.sandbox.remote.display());
    let verify = |location: &str, extra: &[&str]| {
        let mut args = vec!["verify", location, "--key", key.as_str()];
        args.extend(extra);
        t.run(&args)
    };
    let run = verify(&dir.display().to_string(), &["--source-repo", &remote]);
    run.assert_exit(0)
        .assert_stdout_has("40 signed, 4 attestations")
        .assert_stderr_has("Verified v1.11.0-alpha.1 signed by key");
    // From inside the version's directory (`.`), and from a copy under another name (the
    // version is then the provenance's own, with a warning that no tag was asked for).
    t.krel
        .run_in(&dir, &["verify", ".", "--key", &key])
        .assert_exit(0)
        .assert_stderr_has("Verified v1.11.0-alpha.1");
    let copy = tempfile::tempdir().unwrap();
    krel_test_support::copy_tree(&dir, &copy.path().join("downloaded"));
    t.run(&[
        "verify",
        &copy.path().join("downloaded").display().to_string(),
        "--key",
        &key,
    ])
    .assert_exit(0)
    .assert_stderr_has("not named after a version")
    .assert_stderr_has("Verified v1.11.0-alpha.1");
    // A directory that holds no version is a usage error, as its URL is.
    t.run(&[
        "verify",
        &dir.parent().unwrap().display().to_string(),
        "--key",
        &key,
    ])
    .assert_exit(2)
    .assert_stderr_has("there is no provenance.json");
    // The same from the bucket and over HTTP, fetched as the provenance lists it.
    let bucket = format!("file://{}", dir.display());
    verify(&bucket, &[])
        .assert_exit(0)
        .assert_stderr_has("Fetched");
    let server = serve(&root.join("bucket/release"));
    let url = format!("http://127.0.0.1:{}/{version}", server.1);
    let json = t
        .run(&["--output", "json", "verify", &url, "--key", &key])
        .json();
    assert_eq!(json["report"]["problems"], serde_json::json!([]));
    assert!(json["report"]["signatures"].as_u64().unwrap() > 20);

    // Another repository, another signer, a tampered file, a removed bundle.
    verify(
        &dir.display().to_string(),
        &["--source-repo", "https://github.com/evil/widget"],
    )
    .assert_exit(1)
    .assert_stdout_has("the source repository is");
    let other = tempfile::tempdir().unwrap();
    krel()
        .env("KREL_SIGNING_PASSWORD", "")
        .run_in(
            other.path(),
            &["sign", "generate-key", "--output-prefix", "o"],
        )
        .assert_exit(0);
    let other_key = other.path().join("o.pub").display().to_string();
    t.run(&["verify", &dir.display().to_string(), "--key", &other_key])
        .assert_exit(1)
        .assert_stdout_has("FAILED provenance.json.intoto.sigstore.json");
    let tarball = dir.join("widget-linux-amd64.tar.gz");
    std::fs::write(&tarball, b"a trojan").unwrap();
    std::fs::remove_file(dir.join("SHA512SUMS.sigstore.json")).unwrap();
    let run = verify(&url, &[]);
    run.assert_exit(1)
        .assert_stdout_has("widget-linux-amd64.tar.gz: content does not match SHA256SUMS")
        .assert_stdout_has("widget-linux-amd64.tar.gz.sigstore.json: artifact mismatch")
        .assert_stdout_has("provenance.json: widget-linux-amd64.tar.gz")
        .assert_stdout_has(
            "widget-release.spdx.json: widget-linux-amd64.tar.gz has another SHA-256",
        )
        .assert_stderr_has("does not verify");
    // A symbolic link escapes every check of a directory: it is refused.
    std::os::unix::fs::symlink("/etc/hostname", dir.join("install.sh")).unwrap();
    t.run(&["verify", &dir.display().to_string(), "--key", &key])
        .assert_exit(1)
        .assert_stdout_has("install.sh: not a regular file");
    // A URL that is not a version.
    t.run(&[
        "verify",
        &format!("http://127.0.0.1:{}/nothing", server.1),
        "--key",
        &key,
    ])
    .assert_exit(2)
    .assert_stderr_has("there is no provenance.json");
}

/// Keyless, end to end on loopback: a stage signed through the Fulcio and Rekor stand-ins with
/// a workflow's identity token, released only after its signatures verify for that identity;
/// `krel verify` by identity, and sigstore-python, accept what was published. A dry run never
/// signs keylessly (it would write to a public log): it signs with a throwaway key, which a
/// mock release of that stage verifies with. Another identity is refused before anything is
/// published.
#[test]
fn a_keyless_stage_is_released_only_for_the_expected_identity() {
    let standin = krel_sigstore_standin::SigstoreStandIn::start().unwrap();
    let t = stand();
    let root = t.sandbox.root.clone();
    std::fs::write(root.join("trusted_root.json"), standin.trusted_root()).unwrap();
    std::fs::write(root.join("signing_config.json"), standin.signing_config()).unwrap();
    let url = standin.token_request_url();
    let identity_re = "https://github.com/krel-sandbox/widget/.github/workflows/.*".to_string();
    let issuer = standin.issuer();
    let env = |identity: &str| -> Vec<(String, String)> {
        vec![
            ("KREL_SIGNING".into(), "keyless".into()),
            (
                "KREL_SIGNING_CONFIG".into(),
                root.join("signing_config.json").display().to_string(),
            ),
            (
                "KREL_TRUSTED_ROOT".into(),
                root.join("trusted_root.json").display().to_string(),
            ),
            ("KREL_SIGNER_IDENTITY".into(), identity.to_string()),
            ("KREL_SIGNER_ISSUER".into(), issuer.clone()),
            ("ACTIONS_ID_TOKEN_REQUEST_URL".into(), url.clone()),
            (
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN".into(),
                krel_sigstore_standin::REQUEST_TOKEN.into(),
            ),
        ]
    };
    let run = |args: &[&str], identity: &str| {
        let env = env(identity);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        t.run_with(args, &env)
    };
    // The dry run: a throwaway key, verified by the mock release.
    let mock = run(
        &[
            "--output", "json", "stage", "--type", "alpha", "--branch", "main",
        ],
        &identity_re,
    );
    mock.assert_exit(0)
        .assert_stderr_has("signs with a throwaway key");
    let mock_bv = mock.json()["result"]["build_version"]
        .as_str()
        .unwrap()
        .to_string();
    run(
        &[
            "release",
            "--type",
            "alpha",
            "--branch",
            "main",
            "--build-version",
            &mock_bv,
        ],
        &identity_re,
    )
    .assert_exit(0);
    // For real.
    let staged = run(
        &[
            "--output", "json", "stage", "--type", "alpha", "--branch", "main", "--nomock",
        ],
        &identity_re,
    );
    staged.assert_exit(0);
    let bv = staged.json()["result"]["build_version"]
        .as_str()
        .unwrap()
        .to_string();
    let release = t.release_args("alpha", "main", &bv);
    // Another identity is refused before anything is published.
    run(&release, "https://github.com/evil/.*")
        .assert_exit(1)
        .assert_stderr_has("identity mismatch");
    assert!(!root.join("bucket/release/v1.11.0-alpha.1").exists());
    run(&release, &identity_re)
        .assert_exit(0)
        .assert_stderr_has("staged image manifest(s)");
    let dir = root.join("bucket/release/v1.11.0-alpha.1");
    assert!(dir.join("widget-linux-amd64.tar.gz.cert").is_file());
    let dir_arg = dir.display().to_string();
    t.run(&[
        "verify",
        &dir_arg,
        "--certificate-identity-regexp",
        &identity_re,
        "--certificate-oidc-issuer",
        &issuer,
        "--trusted-root",
        &root.join("trusted_root.json").display().to_string(),
        "--sha512",
    ])
    .assert_exit(0)
    .assert_stderr_has("Verified v1.11.0-alpha.1");
    krel_test_support::sigstore::sigstore_python(
        &dir.join("provenance.json.intoto.sigstore.json"),
        &dir.join("widget-linux-amd64.tar.gz"),
        &standin.workflow_identity(),
        &issuer,
        &standin.trusted_root(),
        &standin.signing_config(),
    )
    .unwrap_or_else(|err| panic!("sigstore-python: {err}"));
}
