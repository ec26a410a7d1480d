//! Errors from git operations, each naming what was being done and to which object.

use std::path::PathBuf;

/// A failed git operation.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// A libgit2 call failed; `action` says what krel was doing.
    #[error("{action}")]
    Operation {
        /// What was being done, naming the object ("fetching from remote `origin`").
        action: String,
        /// libgit2's error.
        source: git2::Error,
    },
    /// A file-system operation around a repository failed.
    #[error("{action}")]
    Io {
        /// What was being done.
        action: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The directory is not a git repository.
    #[error("{} is not a git repository", path.display())]
    NotARepository {
        /// The directory.
        path: PathBuf,
        /// libgit2's error.
        source: git2::Error,
    },
    /// The named remote is not configured in the repository.
    #[error("the repository at {} has no remote named `{remote}`", path.display())]
    NoSuchRemote {
        /// The repository.
        path: PathBuf,
        /// The remote name.
        remote: String,
    },
    /// No user identity to write a commit or tag with.
    #[error("no committer identity for {action}")]
    NoIdentity {
        /// What needed one ("the merge commit", "tag `v1.30.0`").
        action: String,
        /// libgit2's error.
        source: git2::Error,
    },
    /// The repository belongs to another user and git refuses to open it.
    #[error("{} is owned by another user, so git will not open it", path.display())]
    NotOwned {
        /// The directory.
        path: PathBuf,
        /// libgit2's error.
        source: git2::Error,
    },
    /// The commit to describe has no `v*` tag in its history.
    #[error("`{rev}` has no tag matching v* in its history, so it has no build version")]
    NoTag {
        /// The revision.
        rev: String,
    },
    /// A tag could not be read as a build version.
    #[error("describing `{rev}` as a build version")]
    BuildVersion {
        /// The revision.
        rev: String,
        /// Why the description was not a build version.
        source: krel_version::VersionError,
    },
    /// The remote ref is no longer where the plan expected it.
    #[error("`{destination}` on `{remote}` moved while krel was working: expected {expected}, found {found}")]
    RemoteMoved {
        /// The remote.
        remote: String,
        /// The ref.
        destination: String,
        /// Where the plan expected it.
        expected: String,
        /// Where it is now.
        found: String,
    },
    /// A tag exists on another commit than the one it should mark.
    #[error("tag `{tag}` in {place} points at {existing}, not at {wanted}")]
    TagExists {
        /// The tag.
        tag: String,
        /// The repository or remote holding it.
        place: String,
        /// The commit it points at.
        existing: String,
        /// The commit it should point at.
        wanted: String,
    },
    /// The remote refused the update.
    #[error("`{remote}` rejected the update of `{destination}`: {reason}")]
    PushRejected {
        /// The remote.
        remote: String,
        /// The ref.
        destination: String,
        /// The remote's reason.
        reason: String,
    },
}

impl GitError {
    pub(crate) fn op(action: impl Into<String>) -> impl FnOnce(git2::Error) -> GitError {
        let action = action.into();
        move |source| GitError::Operation { action, source }
    }

    /// True when a remote refused to let us in (authentication or permissions).
    pub fn is_auth(&self) -> bool {
        match self {
            GitError::Operation { source, .. } => source.code() == git2::ErrorCode::Auth,
            _ => false,
        }
    }
}

impl krel_error::Diagnose for GitError {
    /// Refused when the remote's state says no (it moved, a tag differs, it rejected the
    /// update); usage when krel was pointed at the wrong place; else unexpected.
    fn kind(&self) -> krel_error::ErrorKind {
        match self {
            GitError::RemoteMoved { .. }
            | GitError::TagExists { .. }
            | GitError::PushRejected { .. } => krel_error::ErrorKind::Refused,
            GitError::NotARepository { .. }
            | GitError::NoSuchRemote { .. }
            | GitError::NoIdentity { .. }
            | GitError::NotOwned { .. } => krel_error::ErrorKind::Usage,
            _ => krel_error::ErrorKind::Unexpected,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            GitError::NoIdentity { .. } => Some(
                "set `git config user.name` and `git config user.email`, or GIT_COMMITTER_NAME and GIT_COMMITTER_EMAIL".into(),
            ),
            GitError::NoSuchRemote { remote, .. } => Some(format!(
                "add it with `git remote add {remote} URL`, or set git.remote in krel.yaml"
            )),
            GitError::NotARepository { .. } => {
                Some("pass --repo-path with a git clone (or run krel inside one)".into())
            }
            GitError::NotOwned { path, .. } => Some(format!(
                "if you trust it: git config --global --add safe.directory {}",
                path.display()
            )),
            GitError::RemoteMoved { .. } => {
                Some("someone pushed in the meantime; run the command again to plan from the new state".into())
            }
            GitError::NoTag { .. } => Some("fetch the remote's tags, or tag the first release".into()),
            GitError::TagExists { .. } => Some(
                "a released tag is never moved: check the version, or delete a wrong tag by hand if it was never published".into(),
            ),
            _ if self.is_auth() => Some(
                "for https set GITHUB_TOKEN (or a git credential helper); for ssh load your key into ssh-agent".into(),
            ),
            _ => None,
        }
    }
}
