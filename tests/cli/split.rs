//! Split stages and GitHub Actions: one `krel stage --split --platform P` process per platform
//! (each with its own workspace, as on separate runners) and `krel stage merge`, against the
//! local GCS server, compared file for file with a one-machine stage; and what krel writes for
//! a workflow when `GITHUB_ACTIONS=true`.

use std::collections::BTreeMap;

use krel_sandbox::Sandbox;
use krel_test_support::Krel;

use crate::krel;
use crate::push::{readback, unique};
use crate::stage::build_version;

const PLATFORMS: [&str; 3] = ["linux/amd64", "linux/arm64", "darwin/arm64"];

/// One runner: its own workspace, the shared bucket.
fn on_runner(
    krel: &Krel,
    s: &Sandbox,
    runner: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> krel_test_support::Run {
    let workspace = s
        .root
        .join(format!("runner-{runner}"))
        .display()
        .to_string();
    let mut all = vec![("KREL_WORKSPACE", workspace.as_str())];
    all.extend_from_slice(env);
    krel.run_with_env(&s.root, args, &all)
}

fn split_job(bv: &str, platform: &str) -> Vec<String> {
    [
        "--nomock",
        "stage",
        "--type",
        "rc",
        "--branch",
        "release-1.11",
        "--build-version",
        bv,
        "--split",
        "--platform",
        platform,
    ]
    .iter()
    .map(ToString::to_string)
    .collect()
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// `stage/<bv>/…` → sha256, read back with Google's client.
fn stage_objects(host: &str, bucket: &str, bv: &str) -> BTreeMap<String, String> {
    readback(
        &["gcs", host, bucket, &format!("stage/{bv}")],
        &format!("stage/{bv}"),
    )
}

#[test]
fn a_split_stage_merges_into_what_one_machine_stages() {
    let gcs = krel_test_support::fake_gcs();
    let krel = krel().env("STORAGE_EMULATOR_HOST", &gcs.host());
    let s = krel.sandbox();
    // A branch cut: a release commit and two versions, the hardest case to make alike.
    let bv = build_version(&s, "main");
    let commit_time = s
        .remote_git(&["log", "-1", "--format=%ct", "main"])
        .unwrap()
        .trim()
        .to_string();

    // One machine, SOURCE_DATE_EPOCH = the build commit's time.
    let whole = unique("krel-whole");
    gcs.create_bucket(&whole);
    let whole_url = format!("gs://{whole}");
    on_runner(
        &krel,
        &s,
        "whole",
        &[
            "--nomock",
            "stage",
            "--type",
            "rc",
            "--branch",
            "release-1.11",
            "--build-version",
            &bv,
        ],
        &[
            ("KREL_RELEASE_BUCKET", &whole_url),
            ("SOURCE_DATE_EPOCH", &commit_time),
        ],
    )
    .assert_exit(0);

    // Split: no SOURCE_DATE_EPOCH anywhere, so every job takes the build commit's time.
    let split = unique("krel-split");
    gcs.create_bucket(&split);
    let split_url = format!("gs://{split}");
    let env = [("KREL_RELEASE_BUCKET", split_url.as_str())];

    // The merge refuses while a platform is missing, and stages nothing.
    for platform in &PLATFORMS[..2] {
        on_runner(&krel, &s, platform, &strs(&split_job(&bv, platform)), &env)
            .assert_exit(0)
            .assert_stderr_has(&format!("Staged {platform} of v1.11.0-rc.0"))
            .assert_stderr_has(&format!("krel stage merge --build-version {bv} --nomock"));
    }
    on_runner(
        &krel,
        &s,
        "merge",
        &["--nomock", "stage", "merge", "--build-version", &bv],
        &env,
    )
    .assert_exit(1)
    .assert_stderr_has("darwin/arm64 not arrived (arrived: linux/amd64, linux/arm64)")
    .assert_stderr_has("--split --platform P");
    assert!(
        stage_objects(&gcs.host(), &split, &bv).is_empty(),
        "nothing staged"
    );

    let run = on_runner(
        &krel,
        &s,
        "darwin/arm64",
        &strs(&split_job(&bv, "darwin/arm64")),
        &env,
    );
    run.assert_exit(0);
    let partial = readback(
        &[
            "gcs",
            &gcs.host(),
            &split,
            &format!("stage-partial/{bv}/darwin-arm64"),
        ],
        "x",
    );
    assert!(
        partial
            .keys()
            .any(|k| k.ends_with("v1.11.0-rc.0/widget-darwin-arm64.tar.gz"))
            && !partial.keys().any(|k| k.contains("linux")),
        "a job uploads its own platform only: {partial:?}"
    );
    on_runner(
        &krel,
        &s,
        "merge",
        &["--nomock", "stage", "merge", "--build-version", &bv],
        &env,
    )
    .assert_exit(0)
    .assert_stderr_has("Merging")
    .assert_stderr_has("Gathered v1.11.0-rc.0")
    .assert_stderr_has(&format!(
        "Next: krel release --type rc --branch release-1.11 --build-version {bv} --nomock"
    ));

    let one = stage_objects(&gcs.host(), &whole, &bv);
    let merged = stage_objects(&gcs.host(), &split, &bv);
    assert!(one.len() > 100, "{} objects", one.len());
    let differing: Vec<&String> = one
        .keys()
        .chain(merged.keys())
        .filter(|key| one.get(*key) != merged.get(*key))
        .collect();
    assert!(
        differing.is_empty(),
        "the merged stage differs from the one-machine stage: {differing:?}"
    );

    // krel release verifies the merged stage (every signature, checksum and provenance).
    on_runner(
        &krel,
        &s,
        "release",
        &[
            "release",
            "--type",
            "rc",
            "--branch",
            "release-1.11",
            "--build-version",
            &bv,
        ],
        &env,
    )
    .assert_exit(0)
    .assert_stdout_has("Plan");
}

#[test]
fn a_merge_refuses_jobs_that_disagree_or_are_not_configured() {
    let krel = krel();
    let s = krel.sandbox();
    let bv = build_version(&s, "main");
    // A platform job never loads the signing key: it runs without one.
    on_runner(
        &krel,
        &s,
        "keyless",
        &strs(&split_job(&bv, "linux/amd64"))[1..],
        &[("KREL_SIGNING_KEY", "/nonexistent/signing.key")],
    )
    .assert_exit(0);
    // Two jobs with different clocks make different release commits.
    for (platform, epoch) in [
        ("linux/amd64", "1700000000"),
        ("linux/arm64", "1700000001"),
        ("darwin/arm64", "1700000000"),
    ] {
        on_runner(
            &krel,
            &s,
            platform,
            &strs(&split_job(&bv, platform))[1..],
            &[("SOURCE_DATE_EPOCH", epoch)],
        )
        .assert_exit(0);
    }
    on_runner(
        &krel,
        &s,
        "merge",
        &["stage", "merge", "--build-version", &bv],
        &[],
    )
    .assert_exit(1)
    .assert_stderr_has("failed verification")
    .assert_stderr_has("time 1700000001");
    assert!(!s.root.join(format!("mock-bucket/stage/{bv}")).exists());

    // A merge by another committer makes another release commit: refused, with what to do.
    let amd = split_job(&bv, "linux/arm64");
    on_runner(
        &krel,
        &s,
        "arm2",
        &strs(&amd)[1..],
        &[("SOURCE_DATE_EPOCH", "1700000000")],
    )
    .assert_exit(0);
    on_runner(
        &krel,
        &s,
        "merge-other",
        &["stage", "merge", "--build-version", &bv],
        &[
            ("GIT_COMMITTER_NAME", "Someone Else"),
            ("GIT_COMMITTER_EMAIL", "else@test.example"),
        ],
    )
    .assert_exit(2)
    .assert_stderr_has("other release commits or tags than its platform jobs")
    .assert_stderr_has("a fresh --workspace");
    assert!(!s.root.join(format!("mock-bucket/stage/{bv}")).exists());

    on_runner(
        &krel,
        &s,
        "x",
        &strs(&split_job(&bv, "windows/amd64"))[1..],
        &[],
    )
    .assert_exit(2)
    .assert_stderr_has("windows/amd64 is not in build.platforms")
    .assert_stderr_has("linux/amd64, linux/arm64, darwin/arm64");
    krel.run_in(
        &s.root,
        &[
            "stage",
            "--type",
            "rc",
            "--branch",
            "release-1.11",
            "--platform",
            "linux/amd64",
        ],
    )
    .assert_exit(2)
    .assert_stderr_has("--split");
    krel.run_in(
        &s.root,
        &[
            "stage",
            "--type",
            "rc",
            "--branch",
            "release-1.11",
            "--split",
            "--platform",
            "linux/amd64",
        ],
    )
    .assert_exit(2)
    .assert_stderr_has("--build-version");
}

#[test]
fn in_github_actions_krel_writes_annotations_a_summary_and_outputs() {
    let krel = krel().env("GITHUB_ACTIONS", "true");
    let s = krel.sandbox();
    let runner = s.root.join("runner-files");
    std::fs::create_dir_all(&runner).unwrap();
    let output = runner.join("output");
    let summary = runner.join("summary");
    let files = [
        ("GITHUB_OUTPUT", output.display().to_string()),
        ("GITHUB_STEP_SUMMARY", summary.display().to_string()),
    ];
    let env: Vec<(&str, &str)> = files.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let bv = build_version(&s, "main");

    // next-version: what the workflow's plan job hands to the platform jobs.
    krel.run_with_env(
        &s.root,
        &[
            "next-version",
            "--type",
            "rc",
            "--branch",
            "release-1.11",
            "--cut-branch",
            "--build-version",
            &bv,
        ],
        &env,
    )
    .assert_exit(0);
    let outputs = std::fs::read_to_string(&output).unwrap();
    assert_eq!(
        outputs,
        format!(
            "version=v1.11.0-rc.0\nversions=v1.11.0-rc.0 v1.12.0-alpha.0\nbuild-version={bv}\n"
        )
    );
    std::fs::remove_file(&output).unwrap();

    // A platform job, then a merge that fails (a platform is missing): an annotation.
    let job = split_job(&bv, "linux/arm64");
    on_runner(&krel, &s, "arm", &strs(&job)[1..], &env).assert_exit(0);
    let outputs = std::fs::read_to_string(&output).unwrap();
    let mock = format!("file://{}", s.root.join("mock-bucket").display());
    for line in [
        "version=v1.11.0-rc.0".to_string(),
        format!("build-version={bv}"),
        "release-type=rc".into(),
        "branch=release-1.11".into(),
        format!("stage-location={mock}/stage-partial/{bv}/linux-arm64"),
        "platform=linux/arm64".into(),
    ] {
        assert!(outputs.lines().any(|l| l == line), "{line} in\n{outputs}");
    }
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(
        text.starts_with("### krel stage: linux/arm64 of v1.11.0-rc.0 (partial stage)\n"),
        "{text}"
    );
    assert!(
        text.contains("| Mode | mock (nothing written to any remote) |"),
        "{text}"
    );

    let failed = on_runner(
        &krel,
        &s,
        "merge",
        &["stage", "merge", "--build-version", &bv],
        &env,
    );
    failed.assert_exit(1);
    let annotation = failed
        .stderr
        .lines()
        .find(|l| l.starts_with("::error "))
        .unwrap_or_else(|| panic!("no annotation in\n{}", failed.stderr));
    assert!(
        annotation.starts_with("::error title=krel stage failed::the partial stages of"),
        "{annotation}"
    );
    assert!(
        annotation.contains("linux/amd64, darwin/arm64 not arrived"),
        "{annotation}"
    );
    assert!(
        annotation.contains("%0Ahint: run `krel stage --split"),
        "{annotation}"
    );
    assert!(
        failed.stdout.is_empty(),
        "stdout stays clean: {}",
        failed.stdout
    );

    // The whole stage: summary and outputs for the release job.
    std::fs::remove_file(&output).unwrap();
    std::fs::remove_file(&summary).unwrap();
    let run = on_runner(
        &krel,
        &s,
        "whole",
        &[
            "stage",
            "--type",
            "rc",
            "--branch",
            "release-1.11",
            "--build-version",
            &bv,
            "--output",
            "json",
        ],
        &env,
    );
    run.assert_exit(0);
    assert_eq!(
        run.json()["result"]["build_version"],
        bv.as_str(),
        "stdout is still JSON"
    );
    let outputs = std::fs::read_to_string(&output).unwrap();
    assert!(
        outputs.contains(&format!("stage-location={mock}/stage/{bv}\n")),
        "{outputs}"
    );
    assert!(
        outputs.contains("versions=v1.11.0-rc.0 v1.12.0-alpha.0\n"),
        "{outputs}"
    );
    assert!(!outputs.contains("platform="), "{outputs}");
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(
        text.contains("### krel stage: v1.11.0-rc.0 and v1.12.0-alpha.0"),
        "{text}"
    );
    assert!(
        text.contains("| Branch | `release-1.11` (branch cut) |"),
        "{text}"
    );

    // Outside a workflow, none of it.
    let quiet = tempfile::tempdir().unwrap();
    let elsewhere = quiet.path().join("output");
    let plain = Krel::new(env!("CARGO_BIN_EXE_krel"));
    plain
        .run_with_env(
            &s.root,
            &[
                "next-version",
                "--type",
                "alpha",
                "--branch",
                "main",
                "--build-version",
                &bv,
            ],
            &[("GITHUB_OUTPUT", elsewhere.to_str().unwrap())],
        )
        .assert_exit(0);
    assert!(!elsewhere.exists());
}

#[test]
fn a_merge_never_overwrites_a_stage_already_made_of_its_build_version() {
    let krel = krel();
    let s = krel.sandbox();
    let bv = build_version(&s, "main");
    // A one-machine stage first, at today's time: its documents carry another time than the
    // split jobs' (the build commit's).
    krel.run_in(
        &s.root,
        &[
            "stage",
            "--type",
            "alpha",
            "--branch",
            "main",
            "--build-version",
            &bv,
        ],
    )
    .assert_exit(0);
    let stage = s.root.join(format!("mock-bucket/stage/{bv}"));
    let before = krel_test_support::tree(&stage);
    for platform in PLATFORMS {
        krel.run_in(
            &s.root,
            &[
                "stage",
                "--type",
                "alpha",
                "--branch",
                "main",
                "--build-version",
                &bv,
                "--split",
                "--platform",
                platform,
            ],
        )
        .assert_exit(0);
    }
    // The merge stages from the platforms (its own workspace, not the finished one's) and is
    // refused before it writes anything: a stage is written once.
    krel.run_in(&s.root, &["stage", "merge", "--build-version", &bv])
        .assert_exit(1)
        .assert_stderr_has("Gathered v1.11.0-alpha.1")
        .assert_stderr_has("already holds a stage of this build version with other content")
        .assert_stderr_has("a build version is staged once");
    assert_eq!(
        krel_test_support::tree(&stage),
        before,
        "the stage is untouched"
    );
}
