//! `krel ff` end to end.

use krel_sandbox::Sandbox;
use krel_test_support::RemoteSnapshot;

use crate::krel;

fn rev(s: &Sandbox, rev: &str) -> String {
    s.remote_git(&["rev-parse", rev])
        .expect("rev-parse in the remote")
}

#[test]
fn mock_run_prints_the_plan_and_leaves_the_remote_byte_identical() {
    let krel = krel();
    let s = krel.sandbox();
    let old = rev(&s, "release-1.10");
    let before = RemoteSnapshot::take(&s.remote);
    let head_before = s.clone_git(&["rev-parse", "HEAD"]).unwrap();

    let run = krel.run_in(&s.root, &["ff", "--repo-path", "clone"]);
    run.assert_exit(0)
        .assert_stdout_has("Fast-forward release-1.10 with origin/main")
        .assert_stdout_has(&format!("release-1.10  {}", &old[..12]))
        .assert_stdout_has("Add --json output (#111)")
        .assert_stdout_has("Merge pull request #110 from carol/support")
        .assert_stdout_has("Plan (mock: nothing will be changed)")
        .assert_stderr_has("nothing changed on any remote");

    assert_eq!(
        RemoteSnapshot::take(&s.remote),
        before,
        "a mock run must not touch the remote"
    );
    assert_eq!(s.clone_git(&["rev-parse", "HEAD"]).unwrap(), head_before);
    assert_eq!(s.clone_git(&["status", "--porcelain"]).unwrap(), "");
    // The result waits for review in the clone.
    let review = s
        .clone_git(&["rev-parse", "refs/krel/ff/release-1.10"])
        .unwrap();
    assert!(run.stdout.contains(&review[..12]), "{}", run.stdout);
    let parents = s
        .clone_git(&["rev-list", "--parents", "-n1", &review])
        .unwrap();
    assert_eq!(parents.split(' ').count(), 3, "a merge commit: {parents}");
    // A run that fails (a typo in --ref) leaves the reviewed merge where it was.
    let failed = krel.run_in(
        &s.root,
        &["ff", "--repo-path", "clone", "--ref", "deadbeef"],
    );
    assert_ne!(failed.code, Some(0), "{}", failed.stderr);
    assert_eq!(
        s.clone_git(&["rev-parse", "refs/krel/ff/release-1.10"])
            .unwrap(),
        review
    );
    // A review ref changed in between (the same two parents, other content) is never pushed:
    // krel's own merge replaces it, and the warning names both.
    let parents: Vec<String> = parents.split(' ').skip(1).map(str::to_string).collect();
    let tree = s
        .clone_git(&["rev-parse", &format!("{}^{{tree}}", parents[1])])
        .unwrap();
    let planted = s
        .clone_git(&[
            "commit-tree",
            &tree,
            "-p",
            &parents[0],
            "-p",
            &parents[1],
            "-m",
            "Merge",
        ])
        .unwrap();
    s.clone_git(&["update-ref", "refs/krel/ff/release-1.10", &planted])
        .unwrap();
    let pushed = krel.run_in(
        &s.root,
        &[
            "ff",
            "--repo-path",
            "clone",
            "--nomock",
            "--non-interactive",
        ],
    );
    pushed
        .assert_exit(0)
        .assert_stderr_has(
            "merges the same commits with other content than krel's merge: replaced by",
        )
        .assert_stderr_has(&planted[..12]);
    let on_remote = s.remote_git(&["rev-parse", "release-1.10"]).unwrap();
    assert_ne!(on_remote, planted);
    assert_eq!(
        s.remote_git(&["rev-parse", "release-1.10^{tree}"]).unwrap(),
        s.clone_git(&["rev-parse", &format!("{review}^{{tree}}")])
            .unwrap(),
        "the pushed merge holds what was reviewed"
    );
}

#[test]
fn nomock_non_interactive_pushes_a_merge_that_git_sees() {
    let krel = krel();
    let s = krel.sandbox();
    let old = rev(&s, "release-1.10");
    let main = rev(&s, "main");

    krel.run_in(
        &s.root,
        &[
            "ff",
            "--repo-path",
            "clone",
            "--nomock",
            "--non-interactive",
        ],
    )
    .assert_exit(0)
    .assert_stderr_has("Pushed release-1.10");

    // git itself: the release branch now contains main, through a merge commit.
    s.remote_git(&["merge-base", "--is-ancestor", "main", "release-1.10"])
        .expect("release-1.10 contains main");
    let new = rev(&s, "release-1.10");
    let parents = s
        .remote_git(&["rev-list", "--parents", "-n1", &new])
        .unwrap();
    assert_eq!(parents, format!("{new} {old} {main}"));
    // Conflicting hunks kept the release branch's side (-X ours); main's other work arrived.
    let support = s
        .remote_git(&["show", "release-1.10:docs/support.md"])
        .unwrap();
    assert!(
        support.contains("1.9, 1.10 (release candidate)"),
        "{support}"
    );
    let widget = s
        .remote_git(&["show", "release-1.10:cmd/widget/main.sh"])
        .unwrap();
    assert!(widget.contains("--json"), "{widget}");
    let message = s
        .remote_git(&["log", "-1", "--format=%s%n%cn", "release-1.10"])
        .unwrap();
    assert_eq!(
        message,
        "Merge remote-tracking branch 'origin/main' into release-1.10\nSandbox Release Manager"
    );
    // The review ref is gone; the clone's tracking branch follows the remote.
    assert!(s
        .clone_git(&["rev-parse", "--verify", "-q", "refs/krel/ff/release-1.10"])
        .is_err());
    assert_eq!(
        s.clone_git(&["rev-parse", "origin/release-1.10"]).unwrap(),
        new
    );

    // Running again changes nothing.
    let before = RemoteSnapshot::take(&s.remote);
    krel.run_in(
        &s.root,
        &[
            "ff",
            "--repo-path",
            "clone",
            "--nomock",
            "--non-interactive",
        ],
    )
    .assert_exit(0)
    .assert_stderr_has("already contains origin/main");
    assert_eq!(RemoteSnapshot::take(&s.remote), before);
}

#[test]
fn nomock_asks_and_only_yes_pushes() {
    let krel = krel();
    let s = krel.sandbox();
    let before = RemoteSnapshot::take(&s.remote);
    let args = ["ff", "--repo-path", "clone", "--nomock"];

    krel.run_with_input(&s.root, &args, "no\n")
        .assert_exit(1)
        .assert_stderr_has("Type 'yes' to continue")
        .assert_stderr_has("not confirmed");
    krel.run_in(&s.root, &args).assert_exit(1); // end of input is not a yes
    assert_eq!(RemoteSnapshot::take(&s.remote), before);

    krel.run_with_input(&s.root, &args, "yes\n").assert_exit(0);
    s.remote_git(&["merge-base", "--is-ancestor", "main", "release-1.10"])
        .expect("pushed after yes");
}

#[test]
fn refuses_a_branch_past_its_official_tag() {
    let krel = krel();
    let s = krel.sandbox();
    s.upstream_git(&["tag", "-a", "-m", "v1.10.0", "v1.10.0", "release-1.10"])
        .unwrap();
    s.publish().unwrap();
    let before = RemoteSnapshot::take(&s.remote);
    krel.run_in(
        &s.root,
        &[
            "ff",
            "--repo-path",
            "clone",
            "--nomock",
            "--non-interactive",
        ],
    )
    .assert_exit(1)
    .assert_stderr_has("error: the final tag v1.10.0 already exists")
    .assert_stderr_has("hint:");
    assert_eq!(RemoteSnapshot::take(&s.remote), before);
}

#[test]
fn refuses_when_main_has_moved_past_the_branch_point_tag() {
    let krel = krel();
    let s = krel.sandbox();
    s.upstream_git(&["tag", "-a", "-m", "alpha.1", "v1.11.0-alpha.1", "main"])
        .unwrap();
    s.publish().unwrap();
    let before = RemoteSnapshot::take(&s.remote);
    krel.run_in(
        &s.root,
        &[
            "ff",
            "--repo-path",
            "clone",
            "--nomock",
            "--non-interactive",
        ],
    )
    .assert_exit(1)
    .assert_stderr_has("unable to fast-forward `release-1.10`")
    .assert_stderr_has("v1.11.0-alpha.1")
    .assert_stderr_has("v1.11.0-alpha.0");
    assert_eq!(RemoteSnapshot::take(&s.remote), before);
}

#[test]
fn refuses_a_name_that_is_not_a_release_branch() {
    let krel = krel();
    let s = krel.sandbox();
    krel.run_in(&s.root, &["ff", "--repo-path", "clone", "--branch", "feature/x"])
        .assert_exit(2)
        .assert_stderr_has("`feature/x` is not a release branch (release branches are named like `release-{major}.{minor}`)");
    krel.run_in(
        &s.root,
        &["ff", "--repo-path", "clone", "--branch", "release-7.0"],
    )
    .assert_exit(1)
    .assert_stderr_has("does not exist on remote `origin`");
}

#[test]
fn picks_the_newest_release_branch_by_version_not_by_name() {
    let krel = krel();
    let s = krel.sandbox();
    // "release-1.9" sorts after "release-1.10" by name; 1.10 is the newer line.
    let run = krel.run_in(&s.root, &["ff", "--repo-path", "clone", "--output", "json"]);
    run.assert_exit(0);
    assert_eq!(run.json()["result"]["branch"], "release-1.10");
}

#[test]
fn modify_delete_conflict_aborts_with_the_paths_and_leaves_the_clone_clean() {
    let krel = krel();
    let s = krel.sandbox();
    s.commit_file(
        "release-1.10",
        "CHANGELOG/CHANGELOG-1.9.md",
        None,
        "Drop the 1.9 changelog",
    )
    .unwrap();
    s.commit_file(
        "main",
        "CHANGELOG/CHANGELOG-1.9.md",
        Some("# v1.9.0\n\nEdited on main.\n"),
        "Edit",
    )
    .unwrap();
    s.publish().unwrap();
    let before = RemoteSnapshot::take(&s.remote);
    let head_before = s.clone_git(&["rev-parse", "HEAD"]).unwrap();

    krel.run_in(
        &s.root,
        &[
            "ff",
            "--repo-path",
            "clone",
            "--nomock",
            "--non-interactive",
        ],
    )
    .assert_exit(1)
    .assert_stderr_has("leaves conflicts")
    .assert_stderr_has(
        "CHANGELOG/CHANGELOG-1.9.md (deleted on the release branch, modified on the main branch)",
    )
    .assert_stderr_has("hint: resolve it on `release-1.10` by hand");

    assert_eq!(RemoteSnapshot::take(&s.remote), before);
    assert_eq!(s.clone_git(&["status", "--porcelain"]).unwrap(), "");
    assert_eq!(s.clone_git(&["rev-parse", "HEAD"]).unwrap(), head_before);
    assert!(s
        .clone_git(&["rev-parse", "--verify", "-q", "refs/krel/ff/release-1.10"])
        .is_err());
}

#[test]
fn json_output_describes_the_plan() {
    let krel = krel();
    let s = krel.sandbox();
    let run = krel.run_in(&s.root, &["ff", "--repo-path", "clone", "--output", "json"]);
    run.assert_exit(0);
    let json = run.json();
    assert_eq!(json["mode"], "mock");
    assert_eq!(json["outcome"]["outcome"], "planned");
    assert_eq!(json["result"]["merge"], "merge");
    assert_eq!(json["result"]["old"], rev(&s, "release-1.10"));
    assert_eq!(json["result"]["commits"].as_array().map(Vec::len), Some(4));
    let action = &json["plan"]["actions"][0];
    assert_eq!(action["action"], "push-ref");
    assert_eq!(action["destination"], "refs/heads/release-1.10");
    assert_eq!(action["commit"], json["result"]["new"]);
    assert_eq!(action["expected"], json["result"]["old"]);
}

#[test]
fn clones_when_given_a_remote_url() {
    let krel = krel();
    let s = krel.sandbox();
    let url = s.remote.display().to_string();
    let dest = s.root.join("fresh-clone");
    let dest_arg = dest.display().to_string();
    krel.run_in(&s.root, &["ff", "--repo", &url, "--repo-path", &dest_arg])
        .assert_exit(0)
        .assert_stderr_has("Cloning")
        .assert_stdout_has("Fast-forward release-1.10");
    assert!(
        dest.join("refs").is_dir() || dest.join("HEAD").is_file(),
        "a bare clone at {dest_arg}"
    );
    // The existing clone does not track another remote.
    krel.run_in(
        &s.root,
        &["ff", "--repo", "/elsewhere.git", "--repo-path", "clone"],
    )
    .assert_exit(2)
    .assert_stderr_has("does not match remote `origin`");
}

#[test]
fn a_directory_that_is_not_a_repository_is_a_usage_error() {
    let krel = krel();
    let s = krel.sandbox();
    std::fs::create_dir(s.root.join("empty")).unwrap();
    krel.run_in(&s.root, &["ff", "--repo-path", "empty"])
        .assert_exit(2)
        .assert_stderr_has("is not a git repository")
        .assert_stderr_has("hint:");
}

#[test]
fn fast_forward_alias_and_explicit_ref() {
    let krel = krel();
    let s = krel.sandbox();
    krel.run_in(
        &s.root,
        &[
            "fast-forward",
            "--repo-path",
            "clone",
            "--ref",
            "v1.11.0-alpha.0",
        ],
    )
    .assert_exit(0)
    .assert_stderr_has("already contains v1.11.0-alpha.0");
}

#[test]
fn pushes_go_to_the_push_url_and_the_lease_is_checked_there() {
    let krel = krel();
    let s = krel.sandbox();
    let push_remote = s.root.join("push.git");
    let push_arg = push_remote.display().to_string();
    s.remote_git(&["clone", "--quiet", "--bare", ".", &push_arg])
        .unwrap();
    s.clone_git(&["config", "remote.origin.pushurl", &push_arg])
        .unwrap();
    let before = RemoteSnapshot::take(&s.remote);

    krel.run_in(&s.root, &["ff", "--repo-path", "clone"])
        .assert_exit(0)
        .assert_stdout_has(&format!("remote      origin ({push_arg})"));
    krel.run_in(
        &s.root,
        &[
            "ff",
            "--repo-path",
            "clone",
            "--nomock",
            "--non-interactive",
        ],
    )
    .assert_exit(0);
    let pushed = std::process::Command::new("git")
        .args([
            "-C",
            &push_arg,
            "merge-base",
            "--is-ancestor",
            "main",
            "release-1.10",
        ])
        .status()
        .unwrap();
    assert!(pushed.success(), "the push URL received the fast-forward");
    assert_eq!(
        RemoteSnapshot::take(&s.remote),
        before,
        "the fetch URL was not pushed to"
    );
}

#[test]
fn a_moved_push_remote_is_a_refusal() {
    let krel = krel();
    let s = krel.sandbox();
    let push_remote = s.root.join("push.git");
    let push_arg = push_remote.display().to_string();
    s.remote_git(&["clone", "--quiet", "--bare", ".", &push_arg])
        .unwrap();
    // The push remote's branch is elsewhere than the fetch remote's: the lease must refuse.
    std::process::Command::new("git")
        .args([
            "-C",
            &push_arg,
            "update-ref",
            "refs/heads/release-1.10",
            "refs/heads/release-1.9",
        ])
        .status()
        .unwrap();
    s.clone_git(&["config", "remote.origin.pushurl", &push_arg])
        .unwrap();
    krel.run_in(
        &s.root,
        &[
            "ff",
            "--repo-path",
            "clone",
            "--nomock",
            "--non-interactive",
        ],
    )
    .assert_exit(1)
    .assert_stderr_has("moved while krel was working");
}

#[test]
fn without_a_repo_path_the_clone_is_cached_and_reused() {
    let krel = krel();
    let s = krel.sandbox();
    let cache = s.root.join("cache");
    let cache_arg = cache.display().to_string();
    let krel = krel.env("XDG_CACHE_HOME", &cache_arg);
    krel.run_in(&s.root, &["ff"])
        .assert_exit(0)
        .assert_stderr_has("Cloning");
    krel.run_in(&s.root, &["ff"])
        .assert_exit(0)
        .assert_stderr_has("Using the cached clone")
        .assert_stdout_has("Fast-forward release-1.10");
    let clones: Vec<_> = std::fs::read_dir(cache.join("krel/clones"))
        .unwrap()
        .collect();
    assert_eq!(clones.len(), 1);
}
