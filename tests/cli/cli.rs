//! Global conventions: help, exit codes, configuration precedence, logging.

use crate::krel;

#[test]
fn help_explains_with_examples() {
    let krel = krel();
    let run = krel.run_in(krel.home(), &["--help"]);
    run.assert_exit(0)
        .assert_stdout_has("Examples:")
        .assert_stdout_has("--nomock")
        .assert_stdout_has("mock mode by")
        .assert_stdout_has("Exit status: 0 done, 1 refused");
    for command in [
        &["ff", "--help"][..],
        &["next-version", "--help"],
        &["sandbox", "create", "--help"],
    ] {
        krel.run_in(krel.home(), command)
            .assert_exit(0)
            .assert_stdout_has("Examples:");
    }
    krel.run_in(krel.home(), &["ff", "--help"])
        .assert_stdout_has("git merge -X ours")
        .assert_stdout_has("the official tag vX.Y.0 exists");
}

#[test]
fn unknown_flags_are_usage_errors() {
    let krel = krel();
    krel.run_in(krel.home(), &["ff", "--frobnicate"])
        .assert_exit(2)
        .assert_stderr_has("unexpected argument '--frobnicate'");
    krel.run_in(krel.home(), &[]).assert_exit(2);
}

#[test]
fn config_errors_name_the_file_line_and_key() {
    let krel = krel();
    let dir = krel.home();
    std::fs::write(
        dir.join("krel.yaml"),
        "github:\n  org: acme\n  repoo: widget\n",
    )
    .unwrap();
    krel.run_in(
        dir,
        &[
            "next-version",
            "--type",
            "beta",
            "--build-version",
            "v1.2.0-alpha.0",
            "--branch",
            "main",
        ],
    )
    .assert_exit(2)
    .assert_stderr_has("krel.yaml:3:3: github: unknown field `repoo`, expected `org` or `repo`")
    .assert_stderr_has("hint: docs/configuration.md");
    std::fs::remove_file(dir.join("krel.yaml")).unwrap();

    krel.run_in(dir, &["--config", "missing.yaml", "ff"])
        .assert_exit(2)
        .assert_stderr_has("reading configuration file missing.yaml")
        .assert_stderr_has("caused by:");
}

#[test]
fn flag_beats_environment_beats_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("krel.yaml"),
        "git:\n  main_branch: trunk\n  release_branch: 'v{major}.{minor}.x'\n",
    )
    .unwrap();
    let args = |branch: &'static str| -> Vec<&'static str> {
        vec![
            "next-version",
            "--type",
            "beta",
            "--build-version",
            "v1.2.0-alpha.0",
            "--branch",
            branch,
        ]
    };
    // The file's main branch and release branch pattern apply...
    let krel = krel();
    krel.run_in(dir.path(), &args("trunk")).assert_exit(0);
    let run = krel.run_in(
        dir.path(),
        &[
            "next-version",
            "--type",
            "rc",
            "--build-version",
            "v1.2.0-rc.0",
            "--branch",
            "v1.2.x",
        ],
    );
    run.assert_exit(0);
    assert_eq!(run.stdout, "v1.2.0-rc.1\n");
    // ...unless the environment overrides them...
    let krel = crate::krel().env("KREL_MAIN_BRANCH", "develop");
    krel.run_in(dir.path(), &args("trunk")).assert_exit(2);
    krel.run_in(dir.path(), &args("develop")).assert_exit(0);
    // ...and --config (a flag) beats KREL_CONFIG.
    std::fs::write(
        dir.path().join("other.yaml"),
        "git:\n  main_branch: other\n",
    )
    .unwrap();
    let krel = crate::krel().env("KREL_CONFIG", "krel.yaml");
    krel.run_in(dir.path(), &args("trunk")).assert_exit(0);
    let mut with_flag = vec!["--config", "other.yaml"];
    with_flag.extend(args("other"));
    krel.run_in(dir.path(), &with_flag).assert_exit(0);
}

#[test]
fn json_logs_on_stderr_keep_stdout_clean() {
    let krel = krel();
    let s = krel.sandbox();
    let run = krel.run_in(
        &s.root,
        &[
            "-v",
            "--log-format",
            "json",
            "--output",
            "json",
            "ff",
            "--repo-path",
            "clone",
        ],
    );
    run.assert_exit(0);
    let json = run.json();
    assert_eq!(json["result"]["branch"], "release-1.10");
    let log_lines: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with('{')).collect();
    assert!(!log_lines.is_empty(), "no JSON log lines:\n{}", run.stderr);
    for line in log_lines {
        let value: serde_json::Value = serde_json::from_str(line).expect("each log line is JSON");
        assert!(value["level"].is_string(), "{line}");
    }
}

#[test]
fn tokens_never_reach_the_output() {
    let krel = krel().env("GITHUB_TOKEN", "ghp_supersecret123");
    let s = krel.sandbox();
    let run = krel.run_in(&s.root, &["-vvv", "ff", "--repo-path", "clone"]);
    run.assert_exit(0);
    assert!(!run.stdout.contains("supersecret") && !run.stderr.contains("supersecret"));
}

#[test]
fn krel_nomock_accepts_boolish_values() {
    let s_krel = krel();
    let s = s_krel.sandbox();
    for (value, mode) in [
        ("1", "nomock"),
        ("yes", "nomock"),
        ("true", "nomock"),
        ("0", "mock"),
        ("false", "mock"),
    ] {
        // Up to date first, so that a nomock run has nothing to push.
        let krel = crate::krel().env("KREL_NOMOCK", value);
        let run = krel.run_in(
            &s.root,
            &[
                "ff",
                "--repo-path",
                "clone",
                "--ref",
                "v1.11.0-alpha.0",
                "--output",
                "json",
            ],
        );
        run.assert_exit(0);
        assert_eq!(run.json()["mode"], mode, "KREL_NOMOCK={value}");
    }
}

#[test]
fn the_mock_flag_beats_krel_nomock() {
    let krel = crate::krel().env("KREL_NOMOCK", "1");
    let s = krel.sandbox();
    let before = krel_test_support::RemoteSnapshot::take(&s.remote);
    let run = krel.run_in(
        &s.root,
        &[
            "ff",
            "--repo-path",
            "clone",
            "--mock",
            "--non-interactive",
            "--output",
            "json",
        ],
    );
    run.assert_exit(0);
    assert_eq!(run.json()["mode"], "mock");
    assert_eq!(krel_test_support::RemoteSnapshot::take(&s.remote), before);
}

#[test]
fn quiet_prints_results_only() {
    let krel = krel();
    let s = krel.sandbox();
    let run = krel.run_in(&s.root, &["-q", "ff", "--repo-path", "clone"]);
    run.assert_exit(0)
        .assert_stdout_has("Fast-forward release-1.10");
    assert_eq!(run.stderr, "", "nothing on stderr with -q");
    let run = krel.run_in(&s.root, &["-v", "ff", "--repo-path", "clone"]);
    run.assert_exit(0).assert_stderr_has("INFO");
}

#[test]
fn log_format_json_makes_every_stderr_line_a_json_object() {
    let krel = krel();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kubectl.tar.gz"), "kubectl").unwrap();
    let release = dir.path().display().to_string();
    let ok = krel.run_in(krel.home(), &["--log-format", "json", "checksum", &release]);
    ok.assert_exit(0);
    let failed = krel.run_in(
        krel.home(),
        &[
            "--log-format",
            "json",
            "verify",
            &release,
            "--key",
            "missing.pub",
        ],
    );
    failed.assert_exit(2);
    let events: Vec<serde_json::Value> = format!("{}{}", ok.stderr, failed.stderr)
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}"))
        })
        .collect();
    assert!(events
        .iter()
        .all(|e| e["level"].is_string() && e["fields"]["message"].is_string()));
    assert!(
        events
            .iter()
            .any(|e| e["level"] == "INFO" && e["fields"]["status"].is_string()),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["level"] == "ERROR" && e["fields"]["detail"] == "hint"),
        "{events:?}"
    );
}

#[test]
fn credentials_in_a_remote_url_never_print() {
    let krel = krel();
    let s = krel.sandbox();
    // A CI checkout with its token in the remote URL (as actions/checkout can leave it).
    let url = "https://x-access-token:ghs_SECRETTOKEN42@127.0.0.1:9/org/repo.git";
    s.clone_git(&["remote", "set-url", "origin", url]).unwrap();
    for args in [
        &["ff", "--repo-path", "clone", "-vv"][..],
        &["--log-format", "json", "ff", "--repo-path", "clone", "-vv"],
    ] {
        let run = krel.run_in(&s.root, args);
        assert_ne!(run.code, Some(0));
        let all = format!("{}{}", run.stdout, run.stderr);
        assert!(!all.contains("ghs_SECRETTOKEN42"), "{all}");
        assert!(all.contains("x-access-token:***@127.0.0.1:9"), "{all}");
    }
}
