//! Merging in memory, favouring our side on conflicting hunks (`git merge -X ours`).
//!
//! The merge is computed on the object database only: the work tree, the index and every
//! branch stay as they were, whatever the outcome. A successful merge writes one commit object
//! that no reference points to yet; the caller decides where it goes.

use std::fmt;

use crate::error::GitError;
use crate::repo::{CommitId, Identity, Repo};

/// What merging `theirs` into `ours` gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MergeOutcome {
    /// `theirs` is already in the history of `ours`: nothing to do.
    UpToDate,
    /// `ours` is in the history of `theirs`: move to `theirs` (as `git merge` fast-forwards).
    FastForward(CommitId),
    /// A new merge commit with parents `ours` then `theirs`.
    Merged(CommitId),
    /// Conflicts that favouring our side cannot settle; nothing was written.
    Conflicts(Vec<Conflict>),
}

/// One path that could not be merged.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Conflict {
    /// The path in the tree.
    pub path: String,
    /// How the two sides disagree.
    pub kind: ConflictKind,
}

/// How the two sides of a conflict disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConflictKind {
    /// Deleted on our side, modified on theirs.
    DeletedByUs,
    /// Modified on our side, deleted on theirs.
    DeletedByThem,
    /// Added on both sides differently and not settled by favouring ours.
    BothAdded,
    /// Modified on both sides in a way a text merge cannot settle (binary, mode, rename).
    BothModified,
}

impl fmt::Display for ConflictKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConflictKind::DeletedByUs => {
                "deleted on the release branch, modified on the main branch"
            }
            ConflictKind::DeletedByThem => {
                "modified on the release branch, deleted on the main branch"
            }
            ConflictKind::BothAdded => "added on both branches",
            ConflictKind::BothModified => "changed on both branches in a way that cannot be merged",
        })
    }
}

impl Repo {
    /// Merges `theirs` into `ours`, taking our side of every conflicting hunk.
    /// Returns the new commit's id without moving any reference.
    pub fn merge_favoring_ours(
        &self,
        ours: CommitId,
        theirs: CommitId,
        message: &str,
        identity: Option<&Identity>,
    ) -> Result<MergeOutcome, GitError> {
        if self.is_ancestor(theirs, ours)? {
            return Ok(MergeOutcome::UpToDate);
        }
        if self.is_ancestor(ours, theirs)? {
            return Ok(MergeOutcome::FastForward(theirs));
        }
        let repo = self.inner();
        let action = || format!("merging {} into {}", theirs.short(), ours.short());
        let our_commit = repo.find_commit(ours.0).map_err(GitError::op(action()))?;
        let their_commit = repo.find_commit(theirs.0).map_err(GitError::op(action()))?;
        let mut options = git2::MergeOptions::new();
        options.file_favor(git2::FileFavor::Ours);
        let mut index = repo
            .merge_commits(&our_commit, &their_commit, Some(&options))
            .map_err(GitError::op(action()))?;
        if index.has_conflicts() {
            let mut conflicts = Vec::new();
            for conflict in index.conflicts().map_err(GitError::op(action()))? {
                let conflict = conflict.map_err(GitError::op(action()))?;
                conflicts.push(describe_conflict(&conflict));
            }
            conflicts.sort_by(|a, b| a.path.cmp(&b.path));
            conflicts.dedup();
            return Ok(MergeOutcome::Conflicts(conflicts));
        }
        let tree_id = index.write_tree_to(repo).map_err(GitError::op(action()))?;
        let tree = repo.find_tree(tree_id).map_err(GitError::op(action()))?;
        let signature = self.signature(identity, "the merge commit")?;
        let commit = repo
            .commit(
                None,
                &signature,
                &signature,
                message,
                &tree,
                &[&our_commit, &their_commit],
            )
            .map_err(GitError::op(action()))?;
        Ok(MergeOutcome::Merged(CommitId(commit)))
    }
}

fn describe_conflict(conflict: &git2::IndexConflict) -> Conflict {
    let path = [&conflict.our, &conflict.their, &conflict.ancestor]
        .into_iter()
        .flatten()
        .next()
        .map(|entry| String::from_utf8_lossy(&entry.path).into_owned())
        .unwrap_or_default();
    let kind = match (&conflict.ancestor, &conflict.our, &conflict.their) {
        (_, None, Some(_)) => ConflictKind::DeletedByUs,
        (_, Some(_), None) => ConflictKind::DeletedByThem,
        (None, Some(_), Some(_)) => ConflictKind::BothAdded,
        _ => ConflictKind::BothModified,
    };
    Conflict { path, kind }
}
