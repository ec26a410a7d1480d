//! Plans: what a command that changes a remote will do, as data, decided in one place.
//!
//! Every mutating krel command works in two halves. First it does all its reads and checks
//! and builds a [`Plan`]: a list of typed [`Action`]s (push a ref, upload objects, set a
//! version marker, publish a GitHub release). Then [`execute`] runs the plan through the
//! side-effect traits in [`Executors`], **only** when the [`Mode`] is [`Mode::NoMock`]. In
//! [`Mode::Mock`] (the default everywhere) it returns at once: the plan is the output, printed
//! as text or JSON, and no trait method that writes to a remote is ever called.
//!
//! That is the only `if mock` in krel, but for the choice of bucket: `krel stage` (which writes
//! no remote) stages into the local mock bucket or the release bucket, and `krel release` reads
//! the stage from the same place (a mock release of a `--nomock` stage reads the release bucket).
//!
//! ```
//! use krel_plan::{execute, Executors, Mode, Plan, Outcome};
//! # struct NeverPush;
//! # impl krel_git::RefPusher for NeverPush {
//! #     fn push(&self, _: &krel_git::RefUpdate) -> Result<(), krel_git::GitError> { unreachable!() }
//! # }
//! let plan = Plan::new("fast-forward release-1.30");
//! let outcome = execute(&plan, Mode::Mock, &Executors { git: Some(&NeverPush), ..Executors::default() }).unwrap();
//! assert_eq!(outcome, Outcome::Planned { actions: 0 });
//! ```

use std::fmt;

use krel_error::{Diagnose, ErrorKind};
use krel_git::{GitError, RefPusher, RefUpdate};
use krel_github::{GitHubError, ReleasePublisher, ReleaseSpec};
use krel_image::{ImageError, ImageTransfer, ImageWriter};
use krel_storage::{MarkerUpdate, MarkerWriter, StorageError, UploadBatch, Uploader};

/// Whether remote changes happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Plan only (the default): no mutating call reaches any remote.
    Mock,
    /// Carry the plan out (`--nomock`).
    NoMock,
}

impl Mode {
    /// `--nomock` given or not.
    pub fn from_nomock(nomock: bool) -> Mode {
        if nomock {
            Mode::NoMock
        } else {
            Mode::Mock
        }
    }
}

/// One change to a remote.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// Move a ref on a git remote (fast-forward only, with a lease on its current value).
    PushRef(RefUpdate),
    /// Upload objects to a bucket, each with a precondition on what it replaces.
    Upload(UploadBatch),
    /// Move a version marker forward (never back: re-checked when it runs).
    SetMarker(MarkerUpdate),
    /// Create a GitHub release as a draft, attach its assets, publish it.
    PublishRelease(ReleaseSpec),
    /// Copy images by digest with their signatures, then tag them (a tag is never moved).
    Images(ImageTransfer),
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::PushRef(update) => {
                let from = update.expected.map_or("(new)".to_string(), |id| id.short());
                write!(
                    f,
                    "push {} to {} on {} ({} -> {})",
                    update.commit.short(),
                    update.destination,
                    update.remote,
                    from,
                    update.commit.short()
                )
            }
            Action::Upload(batch) => {
                let bytes: u64 = batch.objects.iter().map(|o| o.digests.size).sum();
                write!(
                    f,
                    "upload {} object(s), {bytes} bytes, to {}",
                    batch.objects.len(),
                    batch.destination
                )
            }
            Action::SetMarker(marker) => write!(
                f,
                "set {} to {} (now {})",
                marker.url,
                marker.version,
                marker.current.as_deref().unwrap_or("absent")
            ),
            Action::PublishRelease(release) => write!(
                f,
                "publish the GitHub {}release {} of {} with {} asset(s)",
                if release.prerelease { "pre-" } else { "" },
                release.tag,
                release.repository,
                release.assets.len()
            ),
            Action::Images(transfer) => transfer.fmt(f),
        }
    }
}

/// A list of actions with a title, in execution order.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Plan {
    /// What the plan achieves, for humans.
    pub title: String,
    /// The actions, in order.
    pub actions: Vec<Action>,
}

impl Plan {
    /// An empty plan.
    pub fn new(title: impl Into<String>) -> Plan {
        Plan {
            title: title.into(),
            actions: Vec::new(),
        }
    }

    /// Appends an action.
    pub fn push(&mut self, action: Action) {
        self.actions.push(action);
    }

    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

/// Called after each action with its 1-based index.
pub type AfterAction<'a> = dyn Fn(usize, &Action) + 'a;

/// The side-effect implementations a plan runs through; a command provides those its plan needs.
#[derive(Default)]
pub struct Executors<'a> {
    /// Writes refs to git remotes.
    pub git: Option<&'a dyn RefPusher>,
    /// Uploads objects to a store.
    pub storage: Option<&'a dyn Uploader>,
    /// Writes version markers.
    pub markers: Option<&'a dyn MarkerWriter>,
    /// Publishes GitHub releases.
    pub github: Option<&'a dyn ReleasePublisher>,
    /// Copies and tags images.
    pub images: Option<&'a dyn ImageWriter>,
    /// Called with the 1-based index of each action once it is done (progress; tests use it
    /// to stop a run between two actions).
    pub after_action: Option<&'a AfterAction<'a>>,
}

/// What [`execute`] did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// Mock mode: nothing was done.
    Planned {
        /// How many actions the plan holds.
        actions: usize,
    },
    /// Every action was carried out.
    Executed {
        /// How many actions ran.
        actions: usize,
    },
}

/// An action failed; the ones before it were completed.
#[derive(Debug, thiserror::Error)]
#[error("step {step} of {total} failed ({action}); {completed} step(s) before it were completed")]
pub struct ExecuteError {
    /// 1-based index of the failed action.
    pub step: usize,
    /// Number of actions in the plan.
    pub total: usize,
    /// Actions completed before the failure.
    pub completed: usize,
    /// The failed action, described.
    pub action: String,
    /// Why it failed.
    #[source]
    pub source: Box<ActionError>,
}

/// Why one action failed.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// A git remote refused or could not be reached.
    #[error(transparent)]
    Git(#[from] GitError),
    /// A store refused or could not be reached.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// GitHub refused or could not be reached.
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    /// A registry refused or could not be reached.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The command built a plan it gave no executor for (a bug in krel).
    #[error("no executor for `{0}` actions was provided (this is a bug in krel)")]
    NoExecutor(&'static str),
}

impl Diagnose for ActionError {
    /// The kind of the remote's error: refused when its state said no.
    fn kind(&self) -> ErrorKind {
        match self {
            ActionError::Git(err) => err.kind(),
            ActionError::Storage(err) => err.kind(),
            ActionError::GitHub(err) => err.kind(),
            ActionError::Image(err) => err.kind(),
            ActionError::NoExecutor(_) => ErrorKind::Unexpected,
        }
    }

    /// What a user can do about it.
    fn hint(&self) -> Option<String> {
        match self {
            ActionError::Git(err) => err.hint(),
            ActionError::Storage(err) => err.hint(),
            ActionError::GitHub(err) => err.hint(),
            ActionError::Image(err) => err.hint(),
            ActionError::NoExecutor(_) => None,
        }
    }
}

impl Diagnose for ExecuteError {
    /// The failed action's kind.
    fn kind(&self) -> ErrorKind {
        self.source.kind()
    }

    /// The failed action's hint.
    fn hint(&self) -> Option<String> {
        self.source.hint()
    }
}

/// Runs a plan: in [`Mode::Mock`] returns at once; in [`Mode::NoMock`] runs each action in
/// order and stops at the first failure.
pub fn execute(
    plan: &Plan,
    mode: Mode,
    executors: &Executors<'_>,
) -> Result<Outcome, ExecuteError> {
    let total = plan.actions.len();
    if mode == Mode::Mock {
        tracing::info!(actions = total, "mock mode: plan not executed");
        return Ok(Outcome::Planned { actions: total });
    }
    for (index, action) in plan.actions.iter().enumerate() {
        tracing::info!(step = index + 1, total, %action, "executing");
        let result = match action {
            Action::PushRef(update) => match executors.git {
                Some(git) => git.push(update).map_err(ActionError::from),
                None => Err(ActionError::NoExecutor("push-ref")),
            },
            Action::Upload(batch) => match executors.storage {
                Some(storage) => storage.upload(batch).map(|_| ()).map_err(ActionError::from),
                None => Err(ActionError::NoExecutor("upload")),
            },
            Action::SetMarker(marker) => match executors.markers {
                Some(markers) => markers.set(marker).map(|_| ()).map_err(ActionError::from),
                None => Err(ActionError::NoExecutor("set-marker")),
            },
            Action::PublishRelease(release) => match executors.github {
                Some(github) => github
                    .publish(release)
                    .map(|_| ())
                    .map_err(ActionError::from),
                None => Err(ActionError::NoExecutor("publish-release")),
            },
            Action::Images(transfer) => match executors.images {
                Some(images) => images
                    .transfer(transfer)
                    .map(|_| ())
                    .map_err(ActionError::from),
                None => Err(ActionError::NoExecutor("images")),
            },
        };
        result.map_err(|source| ExecuteError {
            step: index + 1,
            total,
            completed: index,
            action: action.to_string(),
            source: Box::new(source),
        })?;
        if let Some(after) = executors.after_action {
            after(index + 1, action);
        }
    }
    Ok(Outcome::Executed { actions: total })
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    /// Records pushes; fails on the destination named in `fail_on`.
    struct Recorder {
        pushed: RefCell<Vec<String>>,
        fail_on: Option<&'static str>,
    }

    impl RefPusher for Recorder {
        fn push(&self, update: &RefUpdate) -> Result<(), GitError> {
            if self.fail_on == Some(update.destination.as_str()) {
                return Err(GitError::PushRejected {
                    remote: update.remote.clone(),
                    destination: update.destination.clone(),
                    reason: "protected branch".into(),
                });
            }
            self.pushed.borrow_mut().push(update.destination.clone());
            Ok(())
        }
    }

    fn plan() -> Plan {
        let commit = "0123456789abcdef0123456789abcdef01234567".parse().unwrap();
        let mut plan = Plan::new("two pushes");
        for branch in ["a", "b"] {
            plan.push(Action::PushRef(RefUpdate {
                remote: "origin".into(),
                url: "/srv/remote.git".into(),
                source: format!("refs/krel/{branch}"),
                commit,
                destination: format!("refs/heads/{branch}"),
                expected: None,
            }));
        }
        plan
    }

    #[test]
    fn mock_calls_nothing() {
        let recorder = Recorder {
            pushed: RefCell::default(),
            fail_on: None,
        };
        let outcome = execute(
            &plan(),
            Mode::Mock,
            &Executors {
                git: Some(&recorder),
                ..Executors::default()
            },
        )
        .unwrap();
        assert_eq!(outcome, Outcome::Planned { actions: 2 });
        assert!(recorder.pushed.borrow().is_empty());
    }

    #[test]
    fn nomock_runs_in_order_and_stops_at_the_first_failure() {
        let recorder = Recorder {
            pushed: RefCell::default(),
            fail_on: None,
        };
        let outcome = execute(
            &plan(),
            Mode::NoMock,
            &Executors {
                git: Some(&recorder),
                ..Executors::default()
            },
        )
        .unwrap();
        assert_eq!(outcome, Outcome::Executed { actions: 2 });
        assert_eq!(*recorder.pushed.borrow(), ["refs/heads/a", "refs/heads/b"]);

        let recorder = Recorder {
            pushed: RefCell::default(),
            fail_on: Some("refs/heads/a"),
        };
        let err = execute(
            &plan(),
            Mode::NoMock,
            &Executors {
                git: Some(&recorder),
                ..Executors::default()
            },
        )
        .unwrap_err();
        assert_eq!((err.step, err.completed), (1, 0));
        assert!(err.to_string().contains("step 1 of 2 failed"), "{err}");
        assert!(
            recorder.pushed.borrow().is_empty(),
            "stopped before the second push"
        );
    }

    #[test]
    fn serializes_as_tagged_actions() {
        let json = serde_json::to_value(plan()).unwrap();
        assert_eq!(json["actions"][0]["action"], "push-ref");
        assert_eq!(json["actions"][0]["destination"], "refs/heads/a");
        assert_eq!(
            json["actions"][0]["commit"],
            "0123456789abcdef0123456789abcdef01234567"
        );
    }
}
