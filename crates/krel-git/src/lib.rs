//! Git for release engineering, on libgit2 (the `git2` crate).
//!
//! - [`Repo`]: open or clone a repository, fetch, list a remote's branches and tags
//!   ([`RemoteRefs`], like `git ls-remote`), resolve revisions, find merge bases, describe a
//!   commit as a Kubernetes [`BuildVersion`](krel_version::BuildVersion), list the commits
//!   between two points, and merge in memory favouring our side ([`Repo::merge_favoring_ours`],
//!   like `git merge -X ours`) without touching the work tree.
//! - [`RefPusher`]: the one trait through which anything is written to a remote. The real
//!   implementation is [`Git2Pusher`]; mock mode never calls it, and tests substitute their own.
//!
//! Reads (fetch, ls-remote) are always allowed: mock mode needs them to plan. Writes to a remote
//! happen only through a [`RefPusher`].
//!
//! ```no_run
//! use krel_git::{Credentials, NoProgress, Repo};
//!
//! let repo = Repo::open("/src/kubernetes".as_ref()).unwrap();
//! let remote = repo.list_remote("origin", &Credentials::default()).unwrap();
//! for (branch, commit) in &remote.heads {
//!     println!("{branch} {commit}");
//! }
//! repo.fetch("origin", &Credentials::default(), &NoProgress).unwrap();
//! println!("{}", repo.build_version("origin/master").unwrap());
//! ```

mod auth;
mod error;
mod merge;
mod push;
mod repo;

pub use auth::{Credentials, NoProgress, Progress};
pub use error::GitError;
pub use merge::{Conflict, ConflictKind, MergeOutcome};
pub use push::{Git2Pusher, RefPusher, RefUpdate};
pub use repo::{CommitId, CommitSummary, Identity, RemoteRefs, Repo};
