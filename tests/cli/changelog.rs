//! `krel changelog` end to end: a golden document from offline PRs, and the history of a real
//! repository with PRs served by a GitHub stand-in on 127.0.0.1.

use krel_test_support::{repo_root, GitHubStandIn, StandInOptions};

use crate::krel;

fn prs_file() -> String {
    repo_root()
        .join("testdata/changelog/in/prs.json")
        .display()
        .to_string()
}

fn prs_json() -> Vec<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(prs_file()).unwrap()).unwrap()
}

#[test]
fn offline_prs_render_the_golden_changelog() {
    let krel = krel();
    let run = krel.run_in(
        krel.home(),
        &[
            "changelog",
            "--prs",
            &prs_file(),
            "--release-version",
            "v1.11.0",
            "--start-rev",
            "v1.10.0",
        ],
    );
    run.assert_exit(0)
        .assert_stderr_has("10 release notes from 13 pull requests (3 without a note)");
    let golden =
        std::fs::read_to_string(repo_root().join("testdata/changelog/out/v1.11.0.md")).unwrap();
    assert_eq!(
        run.stdout, golden,
        "the rendered document differs from testdata/changelog/out/v1.11.0.md"
    );
}

#[test]
fn json_is_keyed_by_pr_with_the_fields_bots_need() {
    let krel = krel();
    let run = krel.run_in(
        krel.home(),
        &["changelog", "--prs", &prs_file(), "--format", "json"],
    );
    run.assert_exit(0);
    let json = run.json();
    let note = &json["111"];
    assert_eq!(note["pr_number"], 111);
    assert_eq!(note["action_required"], true);
    assert_eq!(
        note["text"],
        "`--json` output replaces the old `--machine` flag.\nScripts must switch to `--json`."
    );
    assert_eq!(note["kinds"], serde_json::json!(["api-change", "feature"]));
    assert_eq!(note["sigs"], serde_json::json!(["cli"]));
    assert_eq!(note["author_url"], "https://github.com/dave");
    assert!(note["markdown"]
        .as_str()
        .unwrap()
        .contains("[#111](https://github.com/krel-sandbox/widget/pull/111)"));
    assert_eq!(
        json["114"]["author"], "erin",
        "robot cherry-picks credit the original author"
    );
    // The global --output json asks for the same.
    let global = krel.run_in(
        krel.home(),
        &["--output", "json", "changelog", "--prs", &prs_file()],
    );
    assert_eq!(global.assert_exit(0).json(), json);
    for excluded in ["101", "113", "118"] {
        assert!(json.get(excluded).is_none(), "#{excluded} has no note");
    }
}

#[test]
fn history_between_two_tags_fetched_in_one_batch_then_cached() {
    let stand_in = GitHubStandIn::start(prs_json(), StandInOptions::default());
    let krel = krel();
    let s = krel.sandbox();
    let cache = s.root.join("cache").display().to_string();
    let krel = krel.env("XDG_CACHE_HOME", &cache);
    let args = [
        "changelog",
        "--repo-path",
        "clone",
        "--start-rev",
        "v1.10.0-alpha.1",
        "--end-rev",
        "origin/main",
        "--github-api-url",
        &stand_in.url,
        "--release-version",
        "v1.11.0-alpha.1",
    ];
    let run = krel.run_in(&s.root, &args);
    run.assert_exit(0)
        .assert_stderr_has("3 pull requests between v1.10.0-alpha.1 and origin/main")
        .assert_stderr_has("3 fetched in 1 request(s), 0 from the cache");
    // #102, #110, #111 merged after v1.10.0-alpha.1; #90 and #101 came before it.
    assert!(
        run.stdout.contains("[#102]")
            && run.stdout.contains("[#110]")
            && run.stdout.contains("[#111]")
    );
    assert!(!run.stdout.contains("[#90]") && !run.stdout.contains("[#101]"));
    assert!(run
        .stdout
        .starts_with("# v1.11.0-alpha.1\n\n## Changelog since v1.10.0-alpha.1\n"));
    let requests = stand_in.requests();
    assert_eq!(requests.len(), 1);
    let mut asked = requests[0].prs.clone();
    asked.sort();
    assert_eq!(asked, [102, 110, 111]);

    krel.run_in(&s.root, &args)
        .assert_exit(0)
        .assert_stderr_has("0 fetched in 0 request(s), 3 from the cache");
    assert_eq!(stand_in.requests().len(), 1, "a rerun makes no request");
    let mut refreshed = args.to_vec();
    refreshed.push("--refresh");
    krel.run_in(&s.root, &refreshed)
        .assert_exit(0)
        .assert_stderr_has("3 fetched in 1 request(s)");
    assert!(stand_in.mutating_requests().is_empty());
}

#[test]
fn a_pull_request_github_keeps_leaving_out_is_named() {
    // Answered null without NOT_FOUND (a timeout, a permission): retried, then named, not
    // dropped from the notes in silence.
    let stand_in = GitHubStandIn::start(
        prs_json(),
        StandInOptions {
            unexplained_nulls: vec![111],
            ..Default::default()
        },
    );
    let krel = krel();
    let s = krel.sandbox();
    let args = [
        "changelog",
        "--repo-path",
        "clone",
        "--start-rev",
        "v1.10.0-alpha.1",
        "--end-rev",
        "origin/main",
        "--github-api-url",
        &stand_in.url,
    ];
    let run = krel.run_in(&s.root, &args);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    run.assert_stderr_has("GitHub left pull requests out without saying why (#111), 6 times");
    assert!(stand_in.requests().len() >= 6, "retried");
}

#[test]
fn rate_limits_are_waited_out() {
    let stand_in = GitHubStandIn::start(
        prs_json(),
        StandInOptions {
            secondary_limits: 1,
            primary_limits: 1,
            ..Default::default()
        },
    );
    let krel = krel();
    let s = krel.sandbox();
    let run = krel.run_in(
        &s.root,
        &[
            "changelog",
            "--repo-path",
            "clone",
            "--start-rev",
            "v1.9.0-alpha.0",
            "--end-rev",
            "origin/main",
            "--github-api-url",
            &stand_in.url,
            "--refresh",
        ],
    );
    run.assert_exit(0)
        .assert_stderr_has("fetched in 3 request(s)")
        .assert_stderr_has("waiting before asking GitHub again");
    assert!(run.stdout.contains("[#90]"), "{}", run.stdout);
}

#[test]
fn update_writes_the_changelog_file_newest_first_with_a_toc() {
    let krel = krel();
    let dir = tempfile::tempdir().unwrap();
    let changelog_dir = dir.path().display().to_string();
    let downloads = dir.path().join("out");
    std::fs::create_dir_all(&downloads).unwrap();
    std::fs::write(downloads.join("kubernetes.tar.gz"), "src").unwrap();
    std::fs::write(
        downloads.join("kubernetes-client-linux-amd64.tar.gz"),
        "client",
    )
    .unwrap();
    let downloads = downloads.display().to_string();
    let base = [
        "--prs",
        prs_file().leak(),
        "--changelog-dir",
        changelog_dir.as_str().to_owned().leak(),
    ];
    let mut first = vec![
        "changelog",
        "update",
        "--tag",
        "v1.11.0",
        "--start-rev",
        "v1.10.0",
        "--downloads",
        &downloads,
    ];
    first.extend(base);
    krel.run_in(dir.path(), &first)
        .assert_exit(0)
        .assert_stdout_has("CHANGELOG-1.11.md");
    let mut second = vec![
        "changelog",
        "update",
        "--tag",
        "v1.11.1",
        "--start-rev",
        "v1.11.0",
    ];
    second.extend(base);
    krel.run_in(dir.path(), &second).assert_exit(0);

    let text = std::fs::read_to_string(dir.path().join("CHANGELOG-1.11.md")).unwrap();
    assert!(
        text.starts_with("<!-- BEGIN MUNGE: GENERATED_TOC -->\n\n- [v1.11.1](#v1111)\n"),
        "{text}"
    );
    assert!(text.contains("- [v1.11.0](#v1110)\n  - [Downloads for v1.11.0](#downloads-for-v1110)\n    - [Source Code](#source-code)"), "{text}");
    assert!(
        text.contains("  - [Changes by Kind](#changes-by-kind-1)"),
        "repeated anchors are numbered:\n{text}"
    );
    assert!(
        text.find("# v1.11.1\n").unwrap() < text.find("# v1.11.0\n").unwrap(),
        "newest first"
    );
    let sha512 = krel_checksum::hash_reader(&b"client"[..]).unwrap().sha512;
    assert!(text.contains(&format!("[kubernetes-client-linux-amd64.tar.gz](https://dl.k8s.io/v1.11.0/kubernetes-client-linux-amd64.tar.gz) | {sha512}")), "{text}");
    // Updating a version again replaces its section.
    krel.run_in(dir.path(), &second).assert_exit(0);
    let again = std::fs::read_to_string(dir.path().join("CHANGELOG-1.11.md")).unwrap();
    assert_eq!(again.matches("\n# v1.11.1\n").count(), 1);
}

#[test]
fn map_files_override_and_bad_maps_name_the_file_and_line() {
    let krel = krel();
    let dir = tempfile::tempdir().unwrap();
    let maps = dir.path().join("maps");
    std::fs::create_dir_all(&maps).unwrap();
    std::fs::write(maps.join("a.yaml"), "pr: 112\nreleasenote:\n  text: A better note.\n  sigs: [node, scheduling]\n---\npr: 115\nreleasenote:\n  do_not_publish: true\n").unwrap();
    let map_arg = maps.display().to_string();
    let run = krel.run_in(
        dir.path(),
        &["changelog", "--prs", &prs_file(), "--map", &map_arg],
    );
    run.assert_exit(0).assert_stdout_has("- A better note. ([#112](https://github.com/krel-sandbox/widget/pull/112), [@erin](https://github.com/erin)) [SIG Node and Scheduling]");
    assert!(
        !run.stdout.contains("[#115]"),
        "do_not_publish in a map hides the note"
    );

    std::fs::write(maps.join("b.yaml"), "# Maps for v1.11\n---\npr: 116\nreleasenote:\n  text: fine\n---\npr: 117\nreleasenote:\n  txet: typo\n").unwrap();
    krel.run_in(
        dir.path(),
        &["changelog", "--prs", &prs_file(), "--map", &map_arg],
    )
    .assert_exit(2)
    .assert_stderr_has("b.yaml:9")
    .assert_stderr_has("unknown field `txet`");
    std::fs::write(maps.join("b.yaml"), "pr: 9999\nreleasenote:\n  text: x\n").unwrap();
    krel.run_in(
        dir.path(),
        &["changelog", "--prs", &prs_file(), "--map", &map_arg],
    )
    .assert_exit(2)
    .assert_stderr_has("b.yaml:1: PR #9999 has no release note in this release");
}

#[test]
fn bad_input_is_a_usage_error() {
    let krel = krel();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.json"), "{\"not\": \"a list\"}").unwrap();
    krel.run_in(dir.path(), &["changelog", "--prs", "bad.json"])
        .assert_exit(2)
        .assert_stderr_has("not a JSON array of pull requests");
    krel.run_in(dir.path(), &["changelog"])
        .assert_exit(2)
        .assert_stderr_has("--start-rev and --end-rev are needed");
    krel.run_in(
        dir.path(),
        &["changelog", "update", "--tag", "1.2", "--prs", "bad.json"],
    )
    .assert_exit(2);
}

#[test]
fn downloads_from_a_staged_bucket_and_dependencies_from_go_mod() {
    let gcs = krel_test_support::fake_gcs();
    let bucket = format!("krel-notes-{}", std::process::id());
    gcs.create_bucket(&bucket);
    let krel = krel().env("STORAGE_EMULATOR_HOST", &gcs.host());
    let s = krel.sandbox();
    // A staged release: archives checksummed, then pushed.
    let stage = s.root.join("stage");
    std::fs::create_dir_all(stage.join("bin")).unwrap();
    std::fs::write(stage.join("kubernetes.tar.gz"), "source tarball").unwrap();
    std::fs::write(stage.join("kubernetes-server-linux-amd64.tar.gz"), "server").unwrap();
    std::fs::write(stage.join("bin/widget"), "not an archive").unwrap();
    // The images list a stage writes beside the files (docs/images.md).
    std::fs::write(
        stage.join("images.json"),
        r#"[{"reference": "registry.example/widget:v1.11.0", "digest": "sha256:ab12", "platforms": ["linux/amd64", "linux/arm64"], "manifests": {}}]"#,
    )
    .unwrap();
    let stage_arg = stage.display().to_string();
    krel.run_in(&s.root, &["checksum", &stage_arg])
        .assert_exit(0);
    let url = format!("gs://{bucket}/release/v1.11.0");
    krel.run_in(&s.root, &["push", &stage_arg, &url, "--nomock"])
        .assert_exit(0);

    // go.mod appears and changes on main after the start tag.
    s.commit_file("main", "go.mod", Some("module example.com/widget\n\nrequire (\n\tgithub.com/spf13/cobra v1.7.0\n\tgolang.org/x/net v0.14.0\n)\n"), "Add go.mod (#120)").unwrap();
    s.publish().unwrap();
    let start = s.upstream_git(&["rev-parse", "main"]);
    s.commit_file("main", "go.mod", Some("module example.com/widget\n\nrequire (\n\tgithub.com/spf13/cobra v1.8.0\n\tgithub.com/google/uuid v1.4.0\n)\n"), "Bump deps (#121)").unwrap();
    s.publish().unwrap();
    let stand_in = GitHubStandIn::start(prs_json(), StandInOptions::default());
    let start = start.unwrap_or_else(|_| panic!("rev-parse"));
    s.clone_git(&["fetch", "--quiet", "origin"]).unwrap();
    let run = krel.run_in(
        &s.root,
        &[
            "changelog",
            "--repo-path",
            "clone",
            "--start-rev",
            &start,
            "--end-rev",
            "origin/main",
            "--github-api-url",
            &stand_in.url,
            "--release-version",
            "v1.11.0",
            "--downloads",
            &url,
        ],
    );
    run.assert_exit(0);
    let sha512 = krel_checksum::hash_reader(&b"server"[..]).unwrap().sha512;
    assert!(run.stdout.contains(&format!("### Server Binaries\n\nfilename | sha512 hash\n-------- | -----------\n[kubernetes-server-linux-amd64.tar.gz](https://dl.k8s.io/v1.11.0/kubernetes-server-linux-amd64.tar.gz) | {sha512}\n")), "{}", run.stdout);
    assert!(run.stdout.contains("### Source Code"), "{}", run.stdout);
    assert!(
        run.stdout.contains("### Container Images\n\nAll container images are available as manifest lists and support the described architectures.\n\nname | architectures\n---- | -------------\nregistry.example/widget:v1.11.0@sha256:ab12 | amd64, arm64\n"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("bin/widget"));
    assert!(run.stdout.contains("## Dependencies\n\n### Added\n- github.com/google/uuid: [v1.4.0](https://github.com/google/uuid/tree/v1.4.0)\n"), "{}", run.stdout);
    assert!(run.stdout.contains("- github.com/spf13/cobra: [v1.7.0 → v1.8.0](https://github.com/spf13/cobra/compare/v1.7.0...v1.8.0)"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("### Removed\n- golang.org/x/net: v0.14.0\n"),
        "{}",
        run.stdout
    );
    // The stand-in does not know #121: listed as not a pull request, not an error.
    run.assert_stderr_has("numbers are not pull requests ([121])");
    // Another version's downloads are refused, by their location and by their images' tags.
    let wrong = krel.run_in(
        &s.root,
        &[
            "changelog",
            "--prs",
            &prs_file(),
            "--release-version",
            "v1.12.0",
            "--downloads",
            &url,
        ],
    );
    wrong.assert_exit(2).assert_stderr_has(&format!(
        "--downloads {url} holds the downloads of v1.11.0, and these notes are for v1.12.0"
    ));
    let renamed = s.root.join("renamed");
    krel_test_support::copy_tree(&stage, &renamed);
    let renamed = renamed.display().to_string();
    krel.run_in(
        &s.root,
        &[
            "changelog",
            "--prs",
            &prs_file(),
            "--release-version",
            "v1.12.0",
            "--downloads",
            &renamed,
        ],
    )
    .assert_exit(2)
    .assert_stderr_has("holds the downloads of v1.11.0");
}

#[test]
fn the_token_reaches_a_github_enterprise_url() {
    let stand_in = GitHubStandIn::start(prs_json(), StandInOptions::default());
    let krel = krel().env("GITHUB_TOKEN", "ghe-token-123");
    let s = krel.sandbox();
    let api = format!("{}/api/v3", stand_in.url);
    krel.run_in(
        &s.root,
        &[
            "changelog",
            "--repo-path",
            "clone",
            "--start-rev",
            "v1.10.0-alpha.1",
            "--end-rev",
            "origin/main",
            "--github-api-url",
            &api,
            "--refresh",
        ],
    )
    .assert_exit(0);
    let requests = stand_in.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].path, "/api/graphql",
        "GitHub Enterprise serves GraphQL at /api/graphql"
    );
    assert!(
        requests[0]
            .authorization
            .as_deref()
            .is_some_and(|a| a.contains("ghe-token-123")),
        "{:?}",
        requests[0].authorization
    );
}

#[test]
fn more_than_a_hundred_prs_go_in_batches() {
    let prs: Vec<serde_json::Value> = (1..=250u64)
        .map(|n| {
            serde_json::json!({
                "number": n, "title": format!("Change {n}"),
                "body": format!("```release-note\r\nChange {n}.\r\n```"),
                "user": {"login": "dev", "html_url": "https://github.com/dev"},
                "labels": [{"name": "kind/feature"}],
                "html_url": format!("https://github.com/o/r/pull/{n}"),
            })
        })
        .collect();
    let stand_in = GitHubStandIn::start(prs, StandInOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let git = krel_sandbox::GitCli::new();
    git.run(dir.path(), &["init", "--quiet", "repo"]).unwrap();
    let repo = dir.path().join("repo");
    git.run(
        &repo,
        &["commit", "--quiet", "--allow-empty", "-m", "start"],
    )
    .unwrap();
    git.run(&repo, &["tag", "start"]).unwrap();
    for n in 1..=250 {
        git.run(
            &repo,
            &[
                "commit",
                "--quiet",
                "--allow-empty",
                "-m",
                &format!("Change {n} (#{n})"),
            ],
        )
        .unwrap();
    }
    let krel = krel();
    let run = krel.run_in(
        dir.path(),
        &[
            "changelog",
            "--repo-path",
            "repo",
            "--start-rev",
            "start",
            "--end-rev",
            "HEAD",
            "--github-api-url",
            &stand_in.url,
            "--format",
            "json",
        ],
    );
    run.assert_exit(0)
        .assert_stderr_has("250 fetched in 3 request(s)");
    assert_eq!(run.json().as_object().unwrap().len(), 250);
    let sizes: Vec<usize> = stand_in.requests().iter().map(|r| r.prs.len()).collect();
    assert_eq!(sizes.iter().sum::<usize>(), 250);
    assert!(sizes.iter().all(|&n| n <= 100), "{sizes:?}");
}

#[test]
fn a_start_on_a_release_branch_uses_the_merge_base_and_cherry_picks_credit_the_original_author() {
    let stand_in = GitHubStandIn::start(prs_json(), StandInOptions::default());
    let krel = krel();
    let s = krel.sandbox();
    // A robot cherry-pick of #112 merged on release-1.10.
    s.commit_file(
        "release-1.10",
        "docs/race.md",
        Some("fixed\n"),
        "Merge pull request #114 from k8s-infra-cherrypick-robot/cherry-pick-112-to-release-1.10",
    )
    .unwrap();
    s.publish().unwrap();
    s.clone_git(&["fetch", "--quiet", "origin"]).unwrap();
    // From the rc.0 tag (on the release branch) to main: only main's PRs since the branch point.
    let run = krel.run_in(
        &s.root,
        &[
            "changelog",
            "--repo-path",
            "clone",
            "--start-rev",
            "v1.10.0-rc.0",
            "--end-rev",
            "origin/main",
            "--github-api-url",
            &stand_in.url,
            "--format",
            "json",
            "--refresh",
        ],
    );
    run.assert_exit(0)
        .assert_stderr_has("2 pull requests between v1.10.0-rc.0 and origin/main");
    let mut keys: Vec<String> = run.json().as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["110", "111"]);
    // On the release branch: the cherry-pick, credited to #112's author.
    let run = krel.run_in(
        &s.root,
        &[
            "changelog",
            "--repo-path",
            "clone",
            "--start-rev",
            "v1.10.0-rc.0",
            "--end-rev",
            "origin/release-1.10",
            "--github-api-url",
            &stand_in.url,
            "--format",
            "json",
            "--refresh",
        ],
    );
    run.assert_exit(0);
    let json = run.json();
    assert_eq!(json["114"]["author"], "erin");
    assert_eq!(
        json["114"]["pr_url"],
        "https://github.com/krel-sandbox/widget/pull/114"
    );
    let asked: Vec<Vec<u64>> = stand_in.requests().iter().map(|r| r.prs.clone()).collect();
    assert!(
        asked.iter().any(|prs| prs == &vec![112]),
        "the original PR was fetched: {asked:?}"
    );
}
