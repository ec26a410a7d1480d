//! The output contract, pinned: every mutating command prints its plan the same way (text on
//! stdout) and one JSON envelope `{mode, outcome, plan, result}`; failures print `error:`,
//! the causes and `hint:` on stderr with exit 1 (refused) or 2. Snapshots live in
//! `tests/cli/snapshots/`; paths, sizes and digests that change from run to run are redacted.
//! After an intended change: `INSTA_UPDATE=always cargo test --test cli snapshots`, then
//! review the diff.

use std::path::Path;

use krel_test_support::Run;
use serde_json::Value;

use crate::krel;

const EPOCH: &str = "1700000000";

/// Replaces what differs between runs: the sandbox and HOME paths, byte sizes.
fn redact(text: &str, root: &Path, home: &Path) -> String {
    let text = text
        .replace(&root.display().to_string(), "[ROOT]")
        .replace(&home.display().to_string(), "[HOME]");
    let sizes = regex::Regex::new(r"\d+ bytes").unwrap();
    sizes.replace_all(&text, "[N] bytes").into_owned()
}

/// The JSON with each upload's object list replaced by its count, and strings redacted:
/// the shape of the envelope, its plan's actions and the result, without per-file digests.
fn skeleton(value: &Value, root: &Path, home: &Path) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, v)| {
                    let v = match (key.as_str(), v) {
                        ("objects" | "uploads" | "unchanged", Value::Array(items)) => {
                            Value::String(format!("[{} items]", items.len()))
                        }
                        ("bytes" | "size", Value::Number(_)) => Value::String("[N]".into()),
                        _ => skeleton(v, root, home),
                    };
                    (key.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| skeleton(v, root, home)).collect())
        }
        Value::String(text) => Value::String(redact(text, root, home)),
        other => other.clone(),
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap()
}

/// `error:`, `caused by:` and `hint:` lines and the exit status.
fn failure(run: &Run, root: &Path, home: &Path) -> String {
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| {
            l.starts_with("error:")
                || l.starts_with("  caused by:")
                || l.starts_with("hint:")
                || l.starts_with("  - ")
        })
        .collect();
    format!(
        "exit {}\n{}",
        run.code.map_or("signal".into(), |c| c.to_string()),
        redact(&lines.join("\n"), root, home)
    )
}

#[test]
fn plans_print_one_way_and_json_is_one_envelope() {
    // A fixed committer and time: the fast-forward's merge commit has the same id every run.
    let krel = krel()
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env("GIT_COMMITTER_NAME", "Snapshot")
        .env("GIT_COMMITTER_EMAIL", "snapshot@krel.invalid");
    let s = krel.sandbox();
    let (root, home) = (s.root.clone(), krel.home().to_path_buf());
    let text_with = |args: &[&str], env: &[(&str, &str)]| {
        let run = krel.run_with_env(&root, args, env);
        run.assert_exit(0);
        redact(&run.stdout, &root, &home)
    };
    let text = |args: &[&str]| text_with(args, &[]);
    let json = |args: &[&str]| {
        let mut all = vec!["--output", "json"];
        all.extend_from_slice(args);
        let run = krel.run_in(&root, &all);
        run.assert_exit(0);
        pretty(&skeleton(&run.json(), &root, &home))
    };

    let ff = ["ff", "--repo-path", "clone"];
    insta::assert_snapshot!("ff_text", text(&ff));
    insta::assert_snapshot!("ff_json", json(&ff));

    // Stage writes its plan into the mock bucket: the text run uses a bucket of its own.
    let stage = ["stage", "--type", "alpha", "--branch", "main"];
    let (bucket, workspace) = (
        format!("file://{}", root.join("text-bucket").display()),
        root.join("text-workspace").display().to_string(),
    );
    let apart = [
        ("KREL_MOCK_BUCKET", bucket.as_str()),
        ("KREL_WORKSPACE", workspace.as_str()),
    ];
    insta::assert_snapshot!("stage_text", text_with(&stage, &apart));
    insta::assert_snapshot!("stage_json", json(&stage));
    // Staged already: the rerun plans nothing, in the same envelope.
    let rerun = krel.run_in(
        &root,
        &[
            "--output", "json", "stage", "--type", "alpha", "--branch", "main",
        ],
    );
    let rerun = rerun.json();
    assert_eq!(rerun["plan"]["actions"], serde_json::json!([]));
    let bv = rerun["result"]["build_version"]
        .as_str()
        .unwrap()
        .to_string();
    let release = [
        "release",
        "--type",
        "alpha",
        "--branch",
        "main",
        "--build-version",
        &bv,
    ];
    insta::assert_snapshot!("release_text", text(&release));
    insta::assert_snapshot!("release_json", json(&release));

    std::fs::create_dir_all(root.join("site/bin")).unwrap();
    std::fs::write(root.join("site/index.html"), "<h1>widget</h1>\n").unwrap();
    std::fs::write(root.join("site/bin/widget"), "#!/bin/sh\n").unwrap();
    let bucket = format!("file://{}", root.join("pushed").display());
    let push = ["push", "site", &bucket];
    insta::assert_snapshot!("push_text", text(&push));
    insta::assert_snapshot!("push_json", json(&push));
}

/// A failing invocation: its name, its arguments, extra environment.
type Case<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)]);

#[test]
fn failures_print_error_causes_and_hint() {
    let krel = krel().env("SOURCE_DATE_EPOCH", EPOCH);
    let s = krel.sandbox();
    let (root, home) = (s.root.clone(), krel.home().to_path_buf());
    std::fs::write(root.join("bad.yaml"), "github:\n  org: x\n  colour: blue\n").unwrap();
    let cases: &[Case] = &[
        (
            "ff_not_a_release_branch",
            &["ff", "--repo-path", "clone", "--branch", "feature/x"],
            &[],
        ),
        (
            "next_version_alpha_after_beta",
            &[
                "next-version",
                "--type",
                "alpha",
                "--branch",
                "main",
                "--build-version",
                "v1.11.0-beta.0.3+0123456789abcd",
            ],
            &[],
        ),
        (
            "release_not_staged",
            &[
                "release",
                "--type",
                "alpha",
                "--branch",
                "main",
                "--build-version",
                "v1.11.0-alpha.0.3+0123456789abcd",
            ],
            &[],
        ),
        (
            "release_bad_build_version",
            &[
                "release",
                "--type",
                "alpha",
                "--branch",
                "main",
                "--build-version",
                "1.11",
            ],
            &[],
        ),
        (
            "stage_missing_key",
            &["stage", "--type", "alpha", "--branch", "main"],
            &[("KREL_SIGNING_KEY", "/nonexistent/release.key")],
        ),
        (
            "push_bad_destination",
            &["push", "upstream", "ftp://example/x"],
            &[],
        ),
        ("checksum_not_a_directory", &["checksum", "missing"], &[]),
        (
            "config_unknown_key",
            &["--config", "bad.yaml", "config", "check"],
            &[],
        ),
        ("man_unknown_command", &["man", "frobnicate"], &[]),
        (
            "stage_merge_nothing_arrived",
            &[
                "stage",
                "merge",
                "--build-version",
                "v1.11.0-alpha.0.3+614be88271a2a1",
            ],
            &[],
        ),
        (
            "sign_verify_missing_key",
            &["sign", "verify", "krel.yaml", "--key", "missing.pub"],
            &[],
        ),
        (
            "sign_blobs_missing_file",
            &[
                "sign",
                "blobs",
                "missing.tar.gz",
                "--key",
                "keys/sandbox.key",
            ],
            &[],
        ),
        (
            "kubepkg_bad_version",
            &[
                "kubepkg",
                "--kubernetes",
                "--version",
                "one.two",
                "--out",
                "pkgs",
            ],
            &[],
        ),
        (
            "changelog_without_revisions",
            &["changelog", "--repo-path", "clone"],
            &[],
        ),
        ("sandbox_not_empty", &["sandbox", "create", "."], &[]),
        ("rehearse_not_empty", &["rehearse", "."], &[]),
    ];
    let mut all = String::new();
    for (name, args, env) in cases {
        let run = krel.run_with_env(&root, args, env);
        assert!(
            run.code.is_some_and(|c| c == 1 || c == 2),
            "{name}: {}",
            run.stderr
        );
        all.push_str(&format!(
            "## {name}: krel {}\n{}\n\n",
            args.join(" "),
            failure(&run, &root, &home)
        ));
    }
    insta::assert_snapshot!("failures", all);
}
