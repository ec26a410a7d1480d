//! From a history to notes: the PRs between two revisions, and the notes of a set of PRs.

use std::collections::BTreeMap;

use krel_git::{GitError, Repo};
use krel_github::{PullRequest, User};

use crate::note::{cherry_pick_origin, note_from_pr, pr_number, ReleaseNote, Skip};

/// The PRs merged between `start` (exclusive) and `end`, newest first: the first-parent
/// history from `end` back to the merge base of the two (a start tag on a release branch is
/// not on `end`'s first-parent line), plus what merges that are not PR merges brought in (a
/// code-freeze `krel ff` merges main into the release branch: main's new PRs). Each PR once,
/// with the commit that merged it.
pub fn pr_commits(repo: &Repo, start: &str, end: &str) -> Result<Vec<(u64, String)>, GitError> {
    let (start_id, end_id) = (repo.resolve(start)?, repo.resolve(end)?);
    let history = first_parent_history(repo, start_id, end_id)?;
    if !has_branch_merge(repo, &history)? {
        return Ok(numbered(history));
    }
    let mut excluded = repo.merge_bases(start_id, end_id)?;
    excluded.push(start_id);
    let mut followed = std::collections::HashSet::new();
    Ok(numbered(with_merged_lines(
        repo,
        history,
        (&excluded, &mut followed),
        0,
    )?))
}

/// Whether `history` has a merge that is not a PR's (a branch merged in).
fn has_branch_merge(
    repo: &Repo,
    history: &[(krel_git::CommitId, String)],
) -> Result<bool, GitError> {
    for (commit, message) in history {
        if pr_number(message).is_none() && repo.parents(*commit)?.len() > 1 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// How deep merges of merged lines are followed (a branch merged into a branch merged in).
const MERGE_DEPTH: usize = 4;

/// `history` with, after each merge that names no PR, the first-parent line its other parents
/// brought: what neither its first parent nor `excluded` (the start and merge bases) reach.
/// A PR's merge is not followed: its other parent is the PR's own commits. Each merge is
/// followed once (`followed`), however many lines bring it.
fn with_merged_lines(
    repo: &Repo,
    history: Vec<(krel_git::CommitId, String)>,
    (excluded, followed): (
        &[krel_git::CommitId],
        &mut std::collections::HashSet<krel_git::CommitId>,
    ),
    depth: usize,
) -> Result<Vec<(krel_git::CommitId, String)>, GitError> {
    let mut out = Vec::with_capacity(history.len());
    for (commit, message) in history {
        let follow =
            depth < MERGE_DEPTH && pr_number(&message).is_none() && followed.insert(commit);
        out.push((commit, message));
        if !follow {
            continue;
        }
        let parents = repo.parents(commit)?;
        let Some((first, others)) = parents.split_first() else {
            continue;
        };
        let mut hidden = excluded.to_vec();
        hidden.push(*first);
        for other in others {
            let brought = repo.first_parent_history_excluding(&hidden, *other)?;
            out.extend(with_merged_lines(
                repo,
                brought,
                (&hidden, followed),
                depth + 1,
            )?);
        }
    }
    Ok(out)
}

/// The first-parent history from `end_id` down to where `start_id`'s history begins.
fn first_parent_history(
    repo: &Repo,
    start_id: krel_git::CommitId,
    end_id: krel_git::CommitId,
) -> Result<Vec<(krel_git::CommitId, String)>, GitError> {
    // The usual case: the start (a tag on main) is on the end's first-parent line. Walking down
    // to it is exact and reads each commit once, like `git log --first-parent`. Give up once
    // the line is a day older than the start (clock skew allowed): the start is elsewhere.
    let not_before = repo.commit_time(start_id)?.saturating_sub(86_400);
    if let Some(history) = repo.first_parent_chain_to_after(end_id, start_id, not_before)? {
        return Ok(history);
    }
    let bases = repo.merge_bases(start_id, end_id)?;
    // One merge base on the first-parent line (a start on a release branch): walking down to
    // it is exact, as every commit the start has is an ancestor of the only merge base.
    let fast = match bases.as_slice() {
        [base] => repo.first_parent_chain_to(end_id, *base)?,
        _ => None,
    };
    let history = match fast {
        Some(history) => history,
        // Criss-cross merges, or a merge base off the first-parent line: leave out everything
        // reachable from the start or any merge base.
        None => {
            let mut excluded = bases;
            excluded.push(start_id);
            repo.first_parent_history_excluding(&excluded, end_id)?
        }
    };
    Ok(history)
}

/// Each PR once, with the commit that merged it, newest first.
fn numbered(history: Vec<(krel_git::CommitId, String)>) -> Vec<(u64, String)> {
    let mut seen = std::collections::BTreeSet::new();
    history
        .into_iter()
        .filter_map(|(commit, message)| pr_number(&message).map(|n| (n, commit.to_string())))
        .filter(|(number, _)| seen.insert(*number))
        .collect()
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
