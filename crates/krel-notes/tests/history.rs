//! Which PRs lie between two revisions, on real histories made by git.

#![allow(clippy::unwrap_used)]

use krel_git::Repo;
use krel_notes::pr_commits;
use krel_sandbox::Sandbox;

fn numbers(repo: &Repo, start: &str, end: &str) -> Vec<u64> {
    pr_commits(repo, start, end)
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect()
}

#[test]
fn ranges_on_main_and_from_a_release_branch() {
    let dir = tempfile::tempdir().unwrap();
    let s = Sandbox::create(&dir.path().join("s")).unwrap();
    let repo = Repo::open(&s.clone).unwrap();
    assert_eq!(
        numbers(&repo, "v1.9.0-alpha.0", "origin/main"),
        [111, 110, 102, 101, 90]
    );
    assert_eq!(
        numbers(&repo, "v1.10.0-alpha.1", "origin/main"),
        [111, 110, 102]
    );
    // The start is on release-1.10; the merge base is the branch point on main.
    assert_eq!(numbers(&repo, "v1.10.0-rc.0", "origin/main"), [111, 110]);
    assert!(numbers(&repo, "origin/main", "origin/main").is_empty());
}

#[test]
fn a_start_off_the_first_parent_line_falls_back_to_exact_exclusion() {
    let dir = tempfile::tempdir().unwrap();
    let s = Sandbox::create(&dir.path().join("s")).unwrap();
    let repo = Repo::open(&s.clone).unwrap();
    // The second parent of #110's merge: a commit of the PR branch, not on main's first parents.
    let side = s
        .clone_git(&["rev-parse", ":/^Support 1.11 on main"])
        .unwrap();
    assert_eq!(numbers(&repo, &side, "origin/main"), [111, 110]);
}

#[test]
fn prs_a_code_freeze_merge_brought_into_the_release_branch_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // As the sandbox runs git: isolated from the user's configuration, each call an hour later.
    let cli = krel_sandbox::GitCli::new();
    let git = |args: &[&str]| {
        cli.run(d, args).unwrap();
    };
    git(&["init", "-q", "-b", "main"]);
    let commit = |message: &str| git(&["commit", "-q", "--allow-empty", "-m", message]);
    commit("Initial commit");
    commit("Add the widget (#1)");
    git(&["checkout", "-q", "-b", "release-1.0"]);
    git(&["tag", "v1.0.0-rc.0"]);
    git(&["checkout", "-q", "main"]);
    commit("Fix a bug found in code freeze (#3)");
    git(&["checkout", "-q", "-b", "topic"]);
    commit("Work on the fix");
    git(&["checkout", "-q", "main"]);
    git(&[
        "merge",
        "-q",
        "--no-ff",
        "topic",
        "-m",
        "Merge pull request #4 from someone/topic",
    ]);
    // krel ff (branchff): main merged into the release branch, a merge without a PR.
    let freeze_merge = || {
        let message = "Merge remote-tracking branch 'origin/main' into release-1.0";
        git(&["merge", "-q", "--no-ff", "main", "-m", message]);
    };
    git(&["checkout", "-q", "release-1.0"]);
    freeze_merge();
    commit("Automated cherry pick of #2: Fix the docs (#5)");
    let repo = Repo::open(d).unwrap();
    // #4's own commit ("Work on the fix") names no PR; #1 was in the release before rc.0.
    assert_eq!(numbers(&repo, "v1.0.0-rc.0", "release-1.0"), [5, 4, 3]);
    // A second freeze merge brings only what is new since the first.
    git(&["checkout", "-q", "main"]);
    commit("Another fix (#6)");
    git(&["checkout", "-q", "release-1.0"]);
    git(&["tag", "v1.0.0-rc.1"]);
    freeze_merge();
    assert_eq!(numbers(&repo, "v1.0.0-rc.1", "release-1.0"), [6]);
    assert_eq!(numbers(&repo, "v1.0.0-rc.0", "release-1.0"), [6, 5, 4, 3]);
}
