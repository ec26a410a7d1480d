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
