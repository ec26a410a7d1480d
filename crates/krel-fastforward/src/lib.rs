//! `krel ff`: bring the main branch into the newest release branch during code freeze.
//!
//! Between a minor's rc.0 branch cut and the next alpha on main, everything merged to main is
//! meant for the release too. [`plan`] checks that this is still the case and prepares the
//! merge, as upstream krel's `pkg/fastforward` does:
//!
//! 1. pick the release branch: the one given, or the newest `release-X.Y` on the remote by
//!    version (`release-1.10` is newer than `release-1.9`, whatever the name order says);
//! 2. refuse when the branch's official tag `vX.Y.0` exists (the release is out: code thaw);
//! 3. refuse unless the nearest tag of the main branch equals the nearest tag of the merge base
//!    (main has not moved on to another alpha: only the newest branch can be fast-forwarded);
//! 4. merge main into the branch favouring the branch on conflicting hunks (`git merge -X ours`),
//!    in memory; a conflict that cannot be settled that way (modify/delete) is refused with the
//!    paths, and nothing is written;
//! 5. point the local ref `refs/krel/ff/<branch>` at the result for review, and return a
//!    [`FastForwardPlan`] whose [`Plan`] holds one action: push it to the branch, with a lease
//!    on the branch's current commit.
//!
//! Executing the plan ([`krel_plan::execute`]) is the caller's business, and happens only with
//! `--nomock`. Nothing in this crate writes to a remote.
//!
//! When the review ref from an earlier run still merges the same two commits, it is reused, so
//! the commit pushed with `--nomock` is the very commit reviewed after the mock run.
//!
//! ```no_run
//! use krel_fastforward::{plan, FastForwardRequest};
//! use krel_git::{Credentials, NoProgress, Repo};
//!
//! let repo = Repo::open("/src/kubernetes".as_ref()).unwrap();
//! let request = FastForwardRequest {
//!     branch: None,
//!     main_branch: "master".into(),
//!     main_ref: None,
//!     remote: "origin".into(),
//!     pattern: Default::default(),
//!     identity: None,
//!     credentials: Credentials::default(),
//! };
//! let ff = plan(&repo, &request, &NoProgress).unwrap();
//! println!("{} {} -> {}: {} commits", ff.branch, ff.old, ff.new, ff.commits.len());
//! ```

use krel_git::{
    CommitId, CommitSummary, Conflict, Credentials, GitError, Identity, MergeOutcome, Progress,
    RefUpdate, Repo,
};
use krel_plan::{Action, Plan};
use krel_version::ReleaseBranchPattern;

/// What to fast-forward, and how to reach it.
#[derive(Clone, Debug)]
pub struct FastForwardRequest {
    /// The release branch; `None` picks the newest on the remote.
    pub branch: Option<String>,
    /// The main branch's name (`master` for kubernetes/kubernetes).
    pub main_branch: String,
    /// The revision to merge; `None` means `<remote>/<main_branch>`.
    pub main_ref: Option<String>,
    /// The remote's name in the repository (`origin`).
    pub remote: String,
    /// How release branches are named.
    pub pattern: ReleaseBranchPattern,
    /// Who writes the merge commit; `None` uses git config.
    pub identity: Option<Identity>,
    /// How to authenticate to the remote.
    pub credentials: Credentials,
}

/// How the release branch takes the main branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MergeKind {
    /// A merge commit with the release branch first and main second.
    Merge,
    /// The release branch had no commits of its own: it moves to main's commit.
    FastForward,
    /// The release branch already contains main: nothing to do.
    UpToDate,
}

/// Everything `krel ff` found and intends to do.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FastForwardPlan {
    /// The local repository used.
    pub repository: String,
    /// The remote's name.
    pub remote: String,
    /// Where the push goes (the remote's push URL).
    pub url: String,
    /// The release branch.
    pub branch: String,
    /// The revision merged into it.
    pub main_ref: String,
    /// That revision's commit.
    pub main_commit: CommitId,
    /// The nearest tag of main and of the merge base (they are equal, or we would have stopped).
    pub tag: String,
    /// The release branch's commit on the remote now.
    pub old: CommitId,
    /// What the release branch will point at.
    pub new: CommitId,
    /// How it gets there.
    pub merge: MergeKind,
    /// The commits the push adds to the branch, newest first.
    pub commits: Vec<CommitSummary>,
    /// Local ref pointing at `new`, for review before pushing.
    pub review_ref: String,
    /// GitHub compare link, when the project is on GitHub.
    pub compare_url: Option<String>,
    /// The actions: empty when up to date, else one push.
    pub plan: Plan,
}

/// Why `krel ff` stopped.
#[derive(Debug, thiserror::Error)]
pub enum FastForwardError {
    /// A git operation failed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// The branch name does not fit the release branch pattern.
    #[error("`{branch}` is not a release branch (release branches are named like `{pattern}`)")]
    NotAReleaseBranch {
        /// The name given.
        branch: String,
        /// The configured pattern.
        pattern: String,
    },
    /// The branch does not exist on the remote.
    #[error("release branch `{branch}` does not exist on remote `{remote}`")]
    BranchNotOnRemote {
        /// The branch.
        branch: String,
        /// The remote.
        remote: String,
    },
    /// No branch on the remote fits the pattern.
    #[error("remote `{remote}` has no release branch named like `{pattern}`")]
    NoReleaseBranch {
        /// The remote.
        remote: String,
        /// The configured pattern.
        pattern: String,
    },
    /// The official release is out: the branch is past code thaw.
    #[error("the final tag {tag} already exists: `{branch}` is past its official release, so there is nothing to fast-forward")]
    FinalTagExists {
        /// The branch.
        branch: String,
        /// `vX.Y.0`.
        tag: String,
    },
    /// Main has a newer tag than the branch point.
    #[error("unable to fast-forward `{branch}`: the nearest tag of {main_ref} is {main_tag}, but the nearest tag of the branch point is {base_tag}")]
    TagMismatch {
        /// The branch.
        branch: String,
        /// The main revision.
        main_ref: String,
        /// Main's nearest tag.
        main_tag: String,
        /// The merge base's nearest tag.
        base_tag: String,
    },
    /// The merge has conflicts that favouring the release branch cannot settle.
    #[error("merging {main_ref} into `{branch}` leaves conflicts that cannot be settled by keeping the release branch's side:{}", list(conflicts))]
    Conflicts {
        /// The branch.
        branch: String,
        /// The main revision.
        main_ref: String,
        /// The paths and how they conflict.
        conflicts: Vec<Conflict>,
    },
}

fn list(conflicts: &[Conflict]) -> String {
    conflicts
        .iter()
        .map(|c| format!("\n  {} ({})", c.path, c.kind))
        .collect()
}

impl krel_error::Diagnose for FastForwardError {
    /// Refused when the repository's state says no; a git failure keeps its own kind.
    fn kind(&self) -> krel_error::ErrorKind {
        match self {
            FastForwardError::Git(err) => err.kind(),
            // --branch names no release branch: the command line, as for stage.
            FastForwardError::NotAReleaseBranch { .. } => krel_error::ErrorKind::Usage,
            _ => krel_error::ErrorKind::Refused,
        }
    }

    /// What a release manager can do about it.
    fn hint(&self) -> Option<String> {
        match self {
            FastForwardError::Git(err) => err.hint(),
            FastForwardError::NotAReleaseBranch { .. } | FastForwardError::BranchNotOnRemote { .. } => {
                Some("leave out --branch to pick the newest release branch on the remote".into())
            }
            FastForwardError::NoReleaseBranch { .. } => Some(
                "cut the release branch first (krel stage --type rc --branch release-X.Y), or set git.release_branch in krel.yaml".into(),
            ),
            FastForwardError::FinalTagExists { .. } => Some(
                "after the official release, changes reach the branch as cherry-picks, not fast-forwards".into(),
            ),
            FastForwardError::TagMismatch { .. } => Some(
                "only the newest release branch can be fast-forwarded, and only until the next alpha is cut on main".into(),
            ),
            FastForwardError::Conflicts { branch, main_ref, .. } => Some(format!(
                "resolve it on `{branch}` by hand (for example restore or delete the file there, as main has it), push, then run krel ff again; `git merge {main_ref}` on a local `{branch}` shows the same conflicts"
            )),
        }
    }
}

/// The local ref that holds the merge result for review.
pub fn review_ref(branch: &str) -> String {
    format!("refs/krel/ff/{branch}")
}

/// Checks, merges in memory and returns the plan. Reads the remote (ls-remote, fetch); writes
/// only to the local repository (the merge commit object and [`review_ref`]).
pub fn plan(
    repo: &Repo,
    request: &FastForwardRequest,
    progress: &dyn Progress,
) -> Result<FastForwardPlan, FastForwardError> {
    let remote = &request.remote;
    let pattern = &request.pattern;
    let url = repo.push_url(remote)?;
    let remote_refs = repo.list_remote(remote, &request.credentials)?;

    let (branch, (major, minor)) = match &request.branch {
        Some(branch) => {
            let line =
                pattern
                    .parse(branch)
                    .ok_or_else(|| FastForwardError::NotAReleaseBranch {
                        branch: branch.clone(),
                        pattern: pattern.template().to_string(),
                    })?;
            if !remote_refs.heads.contains_key(branch) {
                return Err(FastForwardError::BranchNotOnRemote {
                    branch: branch.clone(),
                    remote: remote.clone(),
                });
            }
            (branch.clone(), line)
        }
        None => remote_refs
            .heads
            .keys()
            .filter_map(|name| pattern.parse(name).map(|line| (name.clone(), line)))
            .max_by_key(|(_, line)| *line)
            .ok_or_else(|| FastForwardError::NoReleaseBranch {
                remote: remote.clone(),
                pattern: pattern.template().to_string(),
            })?,
    };
    tracing::info!(%branch, "release branch");
    // A review ref from an earlier run is reused below when it is still the same merge, else
    // replaced; removed when the branch's state makes it obsolete (final tag, new tag on main);
    // kept when a run fails for another reason (the merge someone reviewed survives a typo).
    let review_ref = review_ref(&branch);
    let reviewed = repo.resolve(&review_ref).ok();
    let obsolete = |err: FastForwardError| -> Result<FastForwardPlan, FastForwardError> {
        repo.delete_reference(&review_ref)?;
        Err(err)
    };

    let final_tag = format!("v{major}.{minor}.0");
    if remote_refs.tags.contains_key(&final_tag) {
        return obsolete(FastForwardError::FinalTagExists {
            branch,
            tag: final_tag,
        });
    }

    repo.fetch(remote, &request.credentials, progress)?;
    let old = repo.resolve(&format!("refs/remotes/{remote}/{branch}"))?;
    let (main_ref, main_commit) = match &request.main_ref {
        Some(main_ref) => (main_ref.clone(), repo.resolve(main_ref)?),
        None => {
            // By full name, so a local branch or tag called `origin/master` cannot stand in.
            let full = format!("refs/remotes/{remote}/{}", request.main_branch);
            (
                format!("{remote}/{}", request.main_branch),
                repo.resolve(&full)?,
            )
        }
    };

    let merge_base = repo.merge_base(main_commit, old)?;
    let main_tag = repo.nearest_tag(&main_commit.to_string())?;
    let base_tag = repo.nearest_tag(&merge_base.to_string())?;
    tracing::info!(%main_tag, %base_tag, %merge_base, "comparing nearest tags");
    if main_tag != base_tag {
        return obsolete(FastForwardError::TagMismatch {
            branch,
            main_ref,
            main_tag,
            base_tag,
        });
    }

    let message = format!("Merge remote-tracking branch '{main_ref}' into {branch}");
    let same_merge = match reviewed {
        Some(commit) => repo.parents(commit)? == [old, main_commit],
        None => false,
    };
    let computed =
        repo.merge_favoring_ours(old, main_commit, &message, request.identity.as_ref())?;
    // The reviewed merge is pushed only when it is the merge krel computes, content and all:
    // a review ref changed in between (same parents, another tree) is replaced, never pushed.
    let outcome = match (reviewed, &computed) {
        (Some(commit), MergeOutcome::Merged(fresh)) if same_merge => {
            if repo.same_tree(commit, *fresh)? {
                MergeOutcome::Merged(commit)
            } else {
                tracing::warn!(
                    "{review_ref} ({}) merges the same commits with other content than krel's merge: replaced by {}",
                    commit.short(),
                    fresh.short()
                );
                computed
            }
        }
        _ => computed,
    };
    let (new, merge) = match outcome {
        MergeOutcome::UpToDate => (old, MergeKind::UpToDate),
        MergeOutcome::FastForward(new) => (new, MergeKind::FastForward),
        MergeOutcome::Merged(new) => (new, MergeKind::Merge),
        MergeOutcome::Conflicts(conflicts) => {
            return Err(FastForwardError::Conflicts {
                branch,
                main_ref,
                conflicts,
            })
        }
    };

    let mut plan = Plan::new(format!("fast-forward {branch} with {main_ref}"));
    let commits = if merge == MergeKind::UpToDate {
        // Nothing to review: an earlier run's ref is stale.
        repo.delete_reference(&review_ref)?;
        Vec::new()
    } else {
        repo.set_reference(&review_ref, new, &message)?;
        plan.push(Action::PushRef(RefUpdate {
            remote: remote.clone(),
            url: url.clone(),
            source: review_ref.clone(),
            commit: new,
            destination: format!("refs/heads/{branch}"),
            expected: Some(old),
        }));
        repo.commits_between(old, new)?
    };

    let compare_url = github_repo(&url)
        .filter(|_| merge != MergeKind::UpToDate)
        .map(|repo| format!("https://github.com/{repo}/compare/{old}...{new}"));
    Ok(FastForwardPlan {
        repository: repo.path().display().to_string(),
        remote: remote.clone(),
        url,
        compare_url,
        branch,
        main_ref,
        main_commit,
        tag: main_tag,
        old,
        new,
        merge,
        commits,
        review_ref,
        plan,
    })
}

/// `org/repo` when `url` is a GitHub remote (https or ssh form).
fn github_repo(url: &str) -> Option<String> {
    let path = url
        .strip_prefix("https://github.com/")
        .or_else(|| url.strip_prefix("git@github.com:"))
        .or_else(|| url.strip_prefix("ssh://git@github.com/"))?;
    let path = path.trim_end_matches('/').trim_end_matches(".git");
    let (org, repo) = path.split_once('/')?;
    (!org.is_empty() && !repo.is_empty() && !repo.contains('/')).then(|| format!("{org}/{repo}"))
}

/// After a successful push: drop the review ref, which now equals the remote branch.
pub fn finish(repo: &Repo, plan: &FastForwardPlan) -> Result<(), FastForwardError> {
    repo.delete_reference(&plan.review_ref)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::github_repo;

    #[test]
    fn compare_links_come_from_the_push_url() {
        for url in [
            "https://github.com/kubernetes/kubernetes.git",
            "https://github.com/kubernetes/kubernetes",
            "git@github.com:kubernetes/kubernetes.git",
            "ssh://git@github.com/kubernetes/kubernetes.git",
        ] {
            assert_eq!(
                github_repo(url).as_deref(),
                Some("kubernetes/kubernetes"),
                "{url}"
            );
        }
        assert_eq!(github_repo("/srv/git/remote.git"), None);
        assert_eq!(github_repo("https://gitlab.com/a/b"), None);
    }
}
