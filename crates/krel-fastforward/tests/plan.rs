//! Planning a fast-forward against sandbox repositories.

// In tests a panic is the assertion: unwrap freely.
#![allow(clippy::unwrap_used)]

use krel_error::Diagnose;
use krel_fastforward::{plan, FastForwardError, FastForwardRequest, MergeKind};
use krel_git::{Credentials, Identity, NoProgress, Repo};
use krel_plan::Action;
use krel_sandbox::Sandbox;
use krel_version::ReleaseBranchPattern;

fn request(branch: Option<&str>) -> FastForwardRequest {
    FastForwardRequest {
        branch: branch.map(str::to_string),
        main_branch: "main".into(),
        main_ref: None,
        remote: "origin".into(),
        pattern: ReleaseBranchPattern::default(),
        identity: Some(Identity {
            name: "RM".into(),
            email: "rm@example.com".into(),
            time: None,
        }),
        credentials: Credentials::default(),
    }
}

fn sandbox() -> (tempfile::TempDir, Sandbox) {
    let dir = tempfile::tempdir().unwrap();
    let s = Sandbox::create(&dir.path().join("s")).unwrap();
    (dir, s)
}

#[test]
fn picks_the_newest_branch_by_version_and_plans_one_push() {
    let (_dir, s) = sandbox();
    let repo = Repo::open(&s.clone).unwrap();
    let p = plan(&repo, &request(None), &NoProgress).unwrap();
    assert_eq!(p.branch, "release-1.10", "1.10 is newer than 1.9");
    assert_eq!(p.merge, MergeKind::Merge);
    assert_eq!(p.tag, "v1.11.0-alpha.0");
    assert_eq!(p.plan.actions.len(), 1);
    let Action::PushRef(update) = &p.plan.actions[0] else {
        panic!("expected a push, got {:?}", p.plan.actions[0]);
    };
    assert_eq!(update.destination, "refs/heads/release-1.10");
    assert_eq!(update.expected, Some(p.old));
    assert_eq!(update.commit, p.new);
    let summaries: Vec<&str> = p.commits.iter().map(|c| c.summary.as_str()).collect();
    assert_eq!(
        summaries[0],
        "Merge remote-tracking branch 'origin/main' into release-1.10"
    );
    assert!(
        summaries.contains(&"Add --json output (#111)"),
        "{summaries:?}"
    );
    assert!(
        summaries.contains(&"Merge pull request #110 from carol/support"),
        "{summaries:?}"
    );
    assert_eq!(
        p.commits.len(),
        4,
        "merge + PR #110 (2 commits) + #111: {summaries:?}"
    );
    assert_eq!(repo.resolve(&p.review_ref).unwrap(), p.new);
    assert_eq!(
        p.compare_url, None,
        "a local remote has no GitHub compare page"
    );

    // A second plan reuses the reviewed commit: the push is what was reviewed.
    let again = plan(&repo, &request(None), &NoProgress).unwrap();
    assert_eq!(again.new, p.new);
}

#[test]
fn a_refusal_removes_the_previous_review_ref() {
    let (_dir, s) = sandbox();
    let repo = Repo::open(&s.clone).unwrap();
    let first = plan(&repo, &request(None), &NoProgress).unwrap();
    assert!(repo.has_reference(&first.review_ref));
    s.upstream_git(&["tag", "v1.10.0", "release-1.10"]).unwrap(); // lightweight final tag
    s.publish().unwrap();
    let err = plan(&repo, &request(None), &NoProgress).unwrap_err();
    assert!(
        matches!(err, FastForwardError::FinalTagExists { .. }),
        "{err}"
    );
    assert!(
        !repo.has_reference(&first.review_ref),
        "no stale result left for review"
    );
}

#[test]
fn a_new_main_commit_gives_a_new_merge() {
    let (_dir, s) = sandbox();
    let repo = Repo::open(&s.clone).unwrap();
    let first = plan(&repo, &request(None), &NoProgress).unwrap();
    s.commit_file(
        "main",
        "docs/new.md",
        Some("new\n"),
        "Another freeze fix (#112)",
    )
    .unwrap();
    s.publish().unwrap();
    let second = plan(&repo, &request(None), &NoProgress).unwrap();
    assert_ne!(second.new, first.new);
    assert_eq!(second.commits.len(), first.commits.len() + 1);
}

#[test]
fn refuses_a_released_branch_and_a_bad_name() {
    let (_dir, s) = sandbox();
    let repo = Repo::open(&s.clone).unwrap();
    let err = plan(&repo, &request(Some("release-1.9")), &NoProgress).unwrap_err();
    assert!(
        matches!(err, FastForwardError::FinalTagExists { ref tag, .. } if tag == "v1.9.0"),
        "{err}"
    );
    assert!(err.is_refusal());
    let err = plan(&repo, &request(Some("feature/x")), &NoProgress).unwrap_err();
    assert!(
        matches!(err, FastForwardError::NotAReleaseBranch { .. }),
        "{err}"
    );
    let err = plan(&repo, &request(Some("release-2.0")), &NoProgress).unwrap_err();
    assert!(
        matches!(err, FastForwardError::BranchNotOnRemote { .. }),
        "{err}"
    );
}

#[test]
fn refuses_once_main_has_a_newer_alpha() {
    let (_dir, s) = sandbox();
    s.upstream_git(&["tag", "-a", "-m", "alpha.1", "v1.11.0-alpha.1", "main"])
        .unwrap();
    s.publish().unwrap();
    let repo = Repo::open(&s.clone).unwrap();
    let err = plan(&repo, &request(None), &NoProgress).unwrap_err();
    let FastForwardError::TagMismatch {
        main_tag, base_tag, ..
    } = &err
    else {
        panic!("expected a tag mismatch, got {err}");
    };
    assert_eq!(
        (main_tag.as_str(), base_tag.as_str()),
        ("v1.11.0-alpha.1", "v1.11.0-alpha.0")
    );
}

#[test]
fn nothing_to_do_when_the_branch_already_has_main() {
    let (_dir, s) = sandbox();
    s.upstream_git(&["checkout", "--quiet", "release-1.10"])
        .unwrap();
    s.upstream_git(&["merge", "--quiet", "-X", "ours", "-m", "ff", "main"])
        .unwrap();
    s.upstream_git(&["checkout", "--quiet", "main"]).unwrap();
    s.publish().unwrap();
    let repo = Repo::open(&s.clone).unwrap();
    let p = plan(&repo, &request(None), &NoProgress).unwrap();
    assert_eq!(p.merge, MergeKind::UpToDate);
    assert!(p.plan.is_empty() && p.commits.is_empty());
    assert_eq!(p.old, p.new);
}
