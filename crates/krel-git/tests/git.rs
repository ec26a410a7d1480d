//! krel-git against real repositories made by the `git` command (via krel-sandbox).

// In tests a panic is the assertion: unwrap freely.
#![allow(clippy::unwrap_used)]

use krel_error::Diagnose;
use krel_git::{
    CommitId, ConflictKind, Credentials, Git2Pusher, GitError, Identity, MergeOutcome, NoProgress,
    RefPusher, RefUpdate, Repo,
};
use krel_sandbox::Sandbox;

fn sandbox() -> (tempfile::TempDir, Sandbox) {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::create(&dir.path().join("s")).unwrap();
    (dir, sandbox)
}

fn id(s: &Sandbox, rev: &str) -> CommitId {
    s.clone_git(&["rev-parse", &format!("{rev}^{{commit}}")])
        .unwrap()
        .parse()
        .unwrap()
}

fn identity() -> Identity {
    Identity {
        name: "Test".into(),
        email: "test@example.com".into(),
        time: None,
    }
}

#[test]
fn lists_remote_branches_and_peeled_tags() {
    let (_dir, s) = sandbox();
    let repo = Repo::open(&s.clone).unwrap();
    let refs = repo.list_remote("origin", &Credentials::default()).unwrap();
    assert_eq!(
        refs.heads.keys().collect::<Vec<_>>(),
        ["main", "release-1.10", "release-1.9"]
    );
    assert_eq!(refs.tags["v1.10.0-rc.0"], id(&s, "v1.10.0-rc.0"));
    assert_eq!(refs.heads["release-1.10"], id(&s, "origin/release-1.10"));
    assert!(refs.tags.contains_key("v1.9.0"));
    assert!(!refs.tags.contains_key("v1.10.0"));
}

#[test]
fn describes_like_git_describe() {
    let (_dir, s) = sandbox();
    let repo = Repo::open(&s.clone).unwrap();
    repo.fetch("origin", &Credentials::default(), &NoProgress)
        .unwrap();
    assert_eq!(repo.nearest_tag("origin/main").unwrap(), "v1.11.0-alpha.0");
    let git = s
        .clone_git(&[
            "describe",
            "--tags",
            "--long",
            "--abbrev=14",
            "--match",
            "v*",
            "origin/main",
        ])
        .unwrap();
    let expected = krel_version::BuildVersion::from_git_describe(&git).unwrap();
    let got = repo.build_version("origin/main").unwrap();
    assert_eq!(got, expected);
    assert!(got.to_string().starts_with("v1.11.0-alpha.0.3+"), "{got}");
    assert_eq!(repo.build_version("v1.9.0").unwrap().to_string(), "v1.9.0");
}

#[test]
fn two_tags_on_one_commit_describe_as_the_higher_whatever_their_dates() {
    // A branch cut from an alpha's commit tags it for both lines; a split stage dates both tags
    // alike, and git's newest-tag rule then has nothing to go by.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cli = krel_sandbox::GitCli::new();
    let git = |args: &[&str]| cli.run_at(d, args, 1_700_000_000).unwrap();
    git(&["init", "-q", "-b", "main"]);
    git(&["commit", "-q", "--allow-empty", "-m", "one"]);
    // Created in both orders: neither the order nor the name sorts the answer.
    for (first, second) in [
        ("v1.11.0-alpha.1", "v1.12.0-alpha.0"),
        ("v1.13.0-alpha.0", "v1.12.0-beta.0"),
    ] {
        git(&["tag", "-a", "-m", first, first]);
        git(&["tag", "-a", "-m", second, second]);
        git(&["commit", "-q", "--allow-empty", "-m", "next"]);
    }
    let repo = Repo::open(d).unwrap();
    assert_eq!(repo.nearest_tag("HEAD").unwrap(), "v1.13.0-alpha.0");
    assert!(repo
        .build_version("HEAD")
        .unwrap()
        .to_string()
        .starts_with("v1.13.0-alpha.0.1+"));
    assert_eq!(repo.nearest_tag("HEAD~1").unwrap(), "v1.13.0-alpha.0");
    assert_eq!(repo.nearest_tag("HEAD~2").unwrap(), "v1.12.0-alpha.0");
}

#[test]
fn merges_in_memory_favouring_ours() {
    let (_dir, s) = sandbox();
    let repo = Repo::open(&s.clone).unwrap();
    let head_before = s.clone_git(&["rev-parse", "HEAD"]).unwrap();
    let ours = id(&s, "origin/release-1.10");
    let theirs = id(&s, "origin/main");
    let outcome = repo
        .merge_favoring_ours(ours, theirs, "Merge main", Some(&identity()))
        .unwrap();
    let MergeOutcome::Merged(merged) = outcome else {
        panic!("expected a merge, got {outcome:?}");
    };
    assert_eq!(repo.parents(merged).unwrap(), [ours, theirs]);
    // Both sides changed the support line: ours (the release branch) wins.
    let support = s
        .clone_git(&["show", &format!("{merged}:docs/support.md")])
        .unwrap();
    assert!(
        support.contains("1.9, 1.10 (release candidate)"),
        "{support}"
    );
    // Main's other changes arrived.
    let main_sh = s
        .clone_git(&["show", &format!("{merged}:cmd/widget/main.sh")])
        .unwrap();
    assert!(main_sh.contains("--json"));
    // Nothing in the clone moved.
    assert_eq!(s.clone_git(&["rev-parse", "HEAD"]).unwrap(), head_before);
    assert_eq!(s.clone_git(&["status", "--porcelain"]).unwrap(), "");
}

#[test]
fn reports_modify_delete_conflicts_without_writing() {
    let (_dir, s) = sandbox();
    s.commit_file(
        "release-1.10",
        "CHANGELOG/CHANGELOG-1.9.md",
        None,
        "Drop old changelog",
    )
    .unwrap();
    s.commit_file(
        "main",
        "CHANGELOG/CHANGELOG-1.9.md",
        Some("# v1.9.0\n\nrewritten\n"),
        "Rewrite",
    )
    .unwrap();
    s.publish().unwrap();
    let repo = Repo::open(&s.clone).unwrap();
    repo.fetch("origin", &Credentials::default(), &NoProgress)
        .unwrap();
    let refs_before = s.clone_git(&["for-each-ref"]).unwrap();
    let outcome = repo
        .merge_favoring_ours(
            id(&s, "origin/release-1.10"),
            id(&s, "origin/main"),
            "m",
            Some(&identity()),
        )
        .unwrap();
    let MergeOutcome::Conflicts(conflicts) = outcome else {
        panic!("expected conflicts, got {outcome:?}");
    };
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].path, "CHANGELOG/CHANGELOG-1.9.md");
    assert_eq!(conflicts[0].kind, ConflictKind::DeletedByUs);
    assert_eq!(s.clone_git(&["for-each-ref"]).unwrap(), refs_before);
    assert_eq!(s.clone_git(&["status", "--porcelain"]).unwrap(), "");
}

#[test]
fn up_to_date_and_fast_forward() {
    let (_dir, s) = sandbox();
    let repo = Repo::open(&s.clone).unwrap();
    let main = id(&s, "origin/main");
    let older = id(&s, "v1.11.0-alpha.0");
    assert_eq!(
        repo.merge_favoring_ours(main, older, "m", None).unwrap(),
        MergeOutcome::UpToDate
    );
    assert_eq!(
        repo.merge_favoring_ours(older, main, "m", None).unwrap(),
        MergeOutcome::FastForward(main)
    );
}

#[test]
fn pushes_with_a_lease() {
    let (_dir, s) = sandbox();
    let repo = Repo::open(&s.clone).unwrap();
    let ours = id(&s, "origin/release-1.10");
    let MergeOutcome::Merged(merged) = repo
        .merge_favoring_ours(ours, id(&s, "origin/main"), "Merge main", Some(&identity()))
        .unwrap()
    else {
        panic!("expected a merge");
    };
    repo.set_reference("refs/krel/test", merged, "test")
        .unwrap();
    let update = RefUpdate {
        remote: "origin".into(),
        url: s.remote.display().to_string(),
        source: "refs/krel/test".into(),
        commit: merged,
        destination: "refs/heads/release-1.10".into(),
        expected: Some(ours),
    };
    let pusher = Git2Pusher::new(&repo, Credentials::default());

    // Someone else pushes first: the lease refuses and the remote keeps their commit.
    let theirs = s
        .commit_file(
            "release-1.10",
            "docs/extra.md",
            Some("x\n"),
            "Concurrent change",
        )
        .unwrap();
    s.publish().unwrap();
    let err = pusher.push(&update).unwrap_err();
    assert!(matches!(err, GitError::RemoteMoved { .. }), "{err}");
    assert_eq!(
        s.remote_git(&["rev-parse", "refs/heads/release-1.10"])
            .unwrap(),
        theirs
    );

    // Even with the lease updated to their commit, our merge does not contain it.
    let update = RefUpdate {
        expected: Some(theirs.parse().unwrap()),
        ..update
    };
    let err = pusher.push(&update).unwrap_err();
    // Our merge does not contain their commit: git refuses a non-fast-forward.
    assert!(err.to_string().contains("pushing"), "{err}");
    assert_eq!(
        s.remote_git(&["rev-parse", "refs/heads/release-1.10"])
            .unwrap(),
        theirs
    );
}

#[test]
fn pushes_a_descendant() {
    let (_dir, s) = sandbox();
    let repo = Repo::open(&s.clone).unwrap();
    let ours = id(&s, "origin/release-1.10");
    let MergeOutcome::Merged(merged) = repo
        .merge_favoring_ours(ours, id(&s, "origin/main"), "Merge main", Some(&identity()))
        .unwrap()
    else {
        panic!("expected a merge");
    };
    repo.set_reference("refs/krel/test", merged, "test")
        .unwrap();
    let pusher = Git2Pusher::new(&repo, Credentials::default());
    pusher
        .push(&RefUpdate {
            remote: "origin".into(),
            url: String::new(),
            source: "refs/krel/test".into(),
            commit: merged,
            destination: "refs/heads/release-1.10".into(),
            expected: Some(ours),
        })
        .unwrap();
    assert_eq!(
        s.remote_git(&["rev-parse", "refs/heads/release-1.10"])
            .unwrap(),
        merged.to_string()
    );
    assert_eq!(id(&s, "origin/release-1.10"), merged);
}

#[test]
fn errors_name_the_object() {
    let dir = tempfile::tempdir().unwrap();
    let err = Repo::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("is not a git repository"), "{err}");
    assert!(err.hint().is_some());
    let (_dir, s) = sandbox();
    let repo = Repo::open(&s.clone).unwrap();
    let err = repo
        .list_remote("upstream", &Credentials::default())
        .unwrap_err();
    assert!(
        err.to_string().contains("no remote named `upstream`"),
        "{err}"
    );
    let err = repo.resolve("no-such-branch").unwrap_err();
    assert!(err.to_string().contains("`no-such-branch`"), "{err}");
}

#[test]
fn tags_locally_and_pushes_tags_idempotently() {
    let (_dir, s) = sandbox();
    let repo = Repo::open(&s.clone).unwrap();
    let head = id(&s, "origin/release-1.10");
    repo.create_tag(
        "v1.10.0-rc.1",
        head,
        "Kubernetes v1.10.0-rc.1",
        Some(&identity()),
    )
    .unwrap();
    // Same tag, same commit: fine. Another commit: refused.
    repo.create_tag("v1.10.0-rc.1", head, "again", Some(&identity()))
        .unwrap();
    let err = repo
        .create_tag(
            "v1.10.0-rc.1",
            id(&s, "origin/main"),
            "moved",
            Some(&identity()),
        )
        .unwrap_err();
    assert!(matches!(err, GitError::TagExists { .. }), "{err}");
    let kind = s.clone_git(&["cat-file", "-t", "v1.10.0-rc.1"]).unwrap();
    assert_eq!(kind, "tag", "an annotated tag");

    let pusher = Git2Pusher::new(&repo, Credentials::default());
    let update = RefUpdate {
        remote: "origin".into(),
        url: String::new(),
        source: "refs/tags/v1.10.0-rc.1".into(),
        commit: head,
        destination: "refs/tags/v1.10.0-rc.1".into(),
        expected: None,
    };
    pusher.push(&update).unwrap();
    assert_eq!(
        s.remote_git(&["rev-parse", "v1.10.0-rc.1^{commit}"])
            .unwrap(),
        head.to_string()
    );
    pusher.push(&update).unwrap(); // already there: done
                                   // A remote tag on another commit is never overwritten.
    let err = pusher
        .push(&RefUpdate {
            source: "refs/tags/v1.10.0-rc.0".into(),
            destination: "refs/tags/v1.10.0-rc.0".into(),
            commit: id(&s, "origin/main"),
            ..update
        })
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("tag `v1.10.0-rc.0` in remote `origin` points at"),
        "{err}"
    );
}

#[test]
fn head_with_tracked_changes_is_dirty() {
    let (_dir, s) = sandbox();
    let repo = Repo::open(&s.clone).unwrap();
    assert!(!repo.build_version("HEAD").unwrap().dirty);
    std::fs::write(s.clone.join("untracked.txt"), "x").unwrap();
    assert!(
        !repo.build_version("HEAD").unwrap().dirty,
        "untracked files do not count"
    );
    std::fs::write(s.clone.join("README.md"), "changed").unwrap();
    let build = repo.build_version("HEAD").unwrap();
    assert!(
        build.dirty && build.to_string().ends_with("-dirty"),
        "{build}"
    );
    assert!(
        !repo.build_version("origin/main").unwrap().dirty,
        "only HEAD has a work tree"
    );
    // Opening from a subdirectory finds the repository, as git does.
    assert!(Repo::open(&s.clone.join("docs")).is_ok());
}
