//! Writing to a remote: the [`RefPusher`] trait and its libgit2 implementation.

use crate::auth::{callbacks, Credentials, NoProgress};
use crate::error::GitError;
use crate::repo::{CommitId, Repo};

/// One reference update on a remote: "make `destination` point at `commit`, which must be a
/// descendant of `expected`" (a lease: if the remote moved since the plan was made, refuse).
///
/// For a tag (`refs/tags/…`), `expected` is `None`: a tag already on the remote at `commit` is
/// accepted as done; a tag at another commit is an error, never overwritten.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RefUpdate {
    /// The remote's name in the local repository (`origin`).
    pub remote: String,
    /// Where the push goes (the remote's push URL), for messages and plans.
    pub url: String,
    /// A local reference holding `commit` (pushed by name, as git pushes).
    pub source: String,
    /// The commit the remote reference should point at.
    pub commit: CommitId,
    /// The remote reference, such as `refs/heads/release-1.30`.
    pub destination: String,
    /// Where the remote reference is expected to be now; `None` when it must not exist.
    pub expected: Option<CommitId>,
}

/// The single door through which krel writes to a git remote.
pub trait RefPusher {
    /// Performs the update, or fails without changing the remote.
    fn push(&self, update: &RefUpdate) -> Result<(), GitError>;
}

/// Pushes with libgit2: checks the lease, pushes without force (so a remote that moved
/// rejects the update), checks the remote's per-reference answer, then updates the local
/// remote-tracking branch.
pub struct Git2Pusher<'a> {
    repo: &'a Repo,
    credentials: Credentials,
}

impl<'a> Git2Pusher<'a> {
    /// A pusher for remotes configured in `repo`.
    pub fn new(repo: &'a Repo, credentials: Credentials) -> Git2Pusher<'a> {
        Git2Pusher { repo, credentials }
    }
}

impl RefPusher for Git2Pusher<'_> {
    fn push(&self, update: &RefUpdate) -> Result<(), GitError> {
        let RefUpdate {
            remote,
            source,
            commit,
            destination,
            expected,
            ..
        } = update;
        // The lease is checked where the push goes (a remote's pushurl may differ from its url).
        let current = self.repo.list_remote_in(remote, &self.credentials, true)?;
        if let Some(tag) = destination.strip_prefix("refs/tags/") {
            match current.tags.get(tag) {
                Some(existing) if existing == commit => {
                    tracing::info!(%remote, tag, "tag already on the remote at the same commit");
                    return Ok(());
                }
                Some(existing) => {
                    return Err(GitError::TagExists {
                        tag: tag.to_string(),
                        place: format!("remote `{remote}`"),
                        existing: existing.to_string(),
                        wanted: commit.to_string(),
                    })
                }
                None => {}
            }
        }
        let found = destination
            .strip_prefix("refs/heads/")
            .and_then(|branch| current.heads.get(branch))
            .copied();
        if destination.starts_with("refs/heads/") && found != *expected {
            let show = |id: Option<CommitId>| id.map_or("nothing".to_string(), |id| id.to_string());
            return Err(GitError::RemoteMoved {
                remote: remote.clone(),
                destination: destination.clone(),
                expected: show(*expected),
                found: show(found),
            });
        }

        let repo = self.repo.inner();
        let action = || {
            format!(
                "pushing {} to `{destination}` on remote `{remote}`",
                commit.short()
            )
        };
        // Push to the push URL explicitly: the same place the lease was checked.
        let push_url = self.repo.push_url(remote)?;
        let mut handle = repo
            .remote_anonymous(&push_url)
            .map_err(GitError::op(action()))?;
        let mut rejection: Option<String> = None;
        {
            let progress = NoProgress;
            let mut cb = callbacks(&self.credentials, repo.config().ok(), &progress);
            cb.push_update_reference(|reference, status| {
                if let Some(status) = status {
                    rejection = Some(format!("{reference}: {status}"));
                }
                Ok(())
            });
            let mut options = git2::PushOptions::new();
            options.remote_callbacks(cb);
            let spec = format!("{source}:{destination}");
            tracing::info!(%remote, %destination, commit = %commit, "pushing");
            handle
                .push(&[spec.as_str()], Some(&mut options))
                .map_err(GitError::op(action()))?;
        }
        if let Some(reason) = rejection {
            return Err(GitError::PushRejected {
                remote: remote.clone(),
                destination: destination.clone(),
                reason,
            });
        }
        // The push landed; keeping the local tracking branch in step is a courtesy, and its
        // failure must not be reported as a failed push.
        if let Some(branch) = destination.strip_prefix("refs/heads/") {
            let tracking = format!("refs/remotes/{remote}/{branch}");
            if let Err(err) = self.repo.set_reference(&tracking, *commit, "krel: pushed") {
                tracing::warn!(%tracking, error = %err, "pushed, but could not update the tracking branch");
            }
        }
        Ok(())
    }
}
