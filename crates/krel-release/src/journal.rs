//! The journal: which steps of a stage or release are complete, so a rerun after a failure or
//! a kill continues where the last run stopped.
//!
//! Each step is recorded only after its outputs are complete on disk (written atomically), and
//! the journal itself is replaced atomically, so a kill leaves either the old journal or the
//! new one. A step that is not in the journal is redone from the start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::files::io;
use crate::ReleaseError;

/// Completed steps, in the order they completed, each with what it produced.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Journal {
    /// `stage` or `release`.
    pub command: String,
    /// The build version the journal is for.
    pub build_version: String,
    /// Step name → what the step recorded (a commit id, a digest, a count).
    pub steps: BTreeMap<String, String>,
    /// Step names in completion order.
    pub order: Vec<String>,
    #[serde(skip)]
    path: PathBuf,
    /// An exclusive lock on `<journal>.lock`, held while the journal is open: two runs of the
    /// same stage or release never work in one workspace at once.
    #[serde(skip)]
    lock: Option<std::sync::Arc<std::fs::File>>,
}

impl PartialEq for Journal {
    fn eq(&self, other: &Journal) -> bool {
        (&self.command, &self.build_version, &self.steps, &self.order)
            == (
                &other.command,
                &other.build_version,
                &other.steps,
                &other.order,
            )
    }
}

impl Eq for Journal {}

impl Journal {
    /// Reads the journal at `path`, or starts an empty one. A journal for another command or
    /// build version is an error: the workspace belongs to something else.
    pub fn open(path: &Path, command: &str, build_version: &str) -> Result<Journal, ReleaseError> {
        let lock_path = path.with_extension("lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io("opening the workspace lock", &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(ReleaseError::WorkspaceBusy {
                    path: path.parent().unwrap_or(path).to_path_buf(),
                    command: command.to_string(),
                    build_version: build_version.to_string(),
                    lock: lock_path.clone(),
                })
            }
            Err(std::fs::TryLockError::Error(err)) => {
                return Err(io("locking the workspace", &lock_path)(err))
            }
        }
        let mut journal = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice::<Journal>(&bytes).map_err(|err| {
                ReleaseError::Workspace {
                    path: path.to_path_buf(),
                    reason: format!(
                        "the journal is not readable ({err}); move it away to start over"
                    ),
                }
            })?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Journal {
                command: command.into(),
                build_version: build_version.into(),
                ..Journal::default()
            },
            Err(source) => return Err(io("reading the journal", path)(source)),
        };
        if journal.command != command || journal.build_version != build_version {
            return Err(ReleaseError::Workspace {
                path: path.to_path_buf(),
                reason: format!(
                    "the journal is for `{} {}`, not `{command} {build_version}`",
                    journal.command, journal.build_version
                ),
            });
        }
        journal.path = path.to_path_buf();
        journal.lock = Some(std::sync::Arc::new(lock));
        Ok(journal)
    }

    /// What `step` recorded, when it is complete.
    pub fn get(&self, step: &str) -> Option<&str> {
        self.steps.get(step).map(String::as_str)
    }

    /// True when `step` is complete.
    pub fn is_done(&self, step: &str) -> bool {
        self.steps.contains_key(step)
    }

    /// Records `step` as complete with `value` and saves the journal atomically.
    pub fn record(&mut self, step: &str, value: impl Into<String>) -> Result<(), ReleaseError> {
        if self.steps.insert(step.to_string(), value.into()).is_none() {
            self.order.push(step.to_string());
        }
        self.save()
    }

    /// Writes the journal to its file.
    pub fn save(&self) -> Result<(), ReleaseError> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        krel_fs::write_atomic(&self.path, &bytes, 0o644, krel_fs::Replace::Always)
            .map_err(io("writing the journal", &self.path))
    }

    /// The journal's file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_survive_a_reopen_and_foreign_journals_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.json");
        let mut journal = Journal::open(&path, "stage", "v1.0.0-rc.0.1+abc").unwrap();
        assert!(!journal.is_done("tag"));
        journal.record("tag", "0123").unwrap();
        journal.record("build", "7").unwrap();
        let busy = Journal::open(&path, "stage", "v1.0.0-rc.0.1+abc").unwrap_err();
        assert!(busy.to_string().contains("is running in it"), "{busy}");
        drop(journal);
        let again = Journal::open(&path, "stage", "v1.0.0-rc.0.1+abc").unwrap();
        assert_eq!(again.get("tag"), Some("0123"));
        assert_eq!(again.order, ["tag", "build"]);
        drop(again);
        let err = Journal::open(&path, "stage", "v2.0.0")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not `stage v2.0.0`"), "{err}");
        std::fs::write(&path, "{").unwrap();
        assert!(Journal::open(&path, "stage", "v1.0.0-rc.0.1+abc").is_err());
    }
}
