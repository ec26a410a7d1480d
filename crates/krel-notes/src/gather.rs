//! From a history to notes: the PRs between two revisions, and the notes of a set of PRs.

use std::collections::BTreeMap;

use krel_git::{GitError, Repo};
use krel_github::{PullRequest, User};

use crate::note::{cherry_pick_origin, note_from_pr, pr_number, ReleaseNote, Skip};

/// The PRs merged between `start` (exclusive) and `end`, newest first: the first-parent
/// history from `end` back to the merge base of the two (a start tag on a release branch is
/// not on `end`'s first-parent line). Each PR once, with the commit that merged it.
pub fn pr_commits(repo: &Repo, start: &str, end: &str) -> Result<Vec<(u64, String)>, GitError> {
    let start_id = repo.resolve(start)?;
    let end_id = repo.resolve(end)?;
    let base = repo.merge_base(start_id, end_id)?;
    let mut seen = std::collections::BTreeSet::new();
    Ok(repo
        // Hide the start as well as the merge base: with criss-cross merges, commits the start
        // already has could otherwise come back.
        .first_parent_history_excluding(&[base, start_id], end_id)?
        .into_iter()
        .filter_map(|(commit, message)| pr_number(&message).map(|n| (n, commit.to_string())))
        .filter(|(number, _)| seen.insert(*number))
        .collect())
}

/// Notes and the PRs that gave none.
#[derive(Debug, Default)]
pub struct Gathered {
    /// The notes, in history order.
    pub notes: Vec<ReleaseNote>,
    /// PRs without a note, and why.
    pub skipped: Vec<(u64, Skip)>,
}

/// The notes of `prs`. `commits` maps PR numbers to merge commits; `originals` holds the
/// original PRs of robot cherry-picks, whose authors get the credit.
pub fn notes_from_prs(
    prs: &[PullRequest],
    commits: &BTreeMap<u64, String>,
    originals: &BTreeMap<u64, User>,
) -> Gathered {
    let mut gathered = Gathered::default();
    for pr in prs {
        let original = cherry_pick_origin(pr).and_then(|n| originals.get(&n));
        let commit = commits.get(&pr.number).map(String::as_str).unwrap_or("");
        match note_from_pr(pr, commit, original) {
            Ok(note) => gathered.notes.push(note),
            Err(skip) => gathered.skipped.push((pr.number, skip)),
        }
    }
    gathered
}
