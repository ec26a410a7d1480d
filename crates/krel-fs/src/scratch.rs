//! Temporary files and directories krel makes while it works, registered so that an
//! interrupted run (Ctrl-C, SIGTERM) removes them before it exits: a `.krel-partial-*` file in
//! a `file://` bucket, a scratch directory in `krel kubepkg`'s output, a temporary file beside
//! a journal. Each [`Scratch`] guard unregisters its path when dropped (the work either
//! renamed the file into place or removed it); the binary's signal handler calls
//! [`remove_registered`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

static REGISTERED: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// Process groups of children krel runs (a release's build), stopped on a signal.
static GROUPS: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

/// A child's process group, registered while it runs; unregistered when dropped.
#[derive(Debug)]
pub struct ChildGroup(u32);

impl Drop for ChildGroup {
    fn drop(&mut self) {
        lock_groups().remove(&self.0);
    }
}

/// Starts `command` as the leader of a process group of its own, registered under the lock the
/// signal handler keeps: a signal stops it and everything it started (a build's `make` and its
/// compilers), even when only krel was signalled (`kill`, `timeout`, a cancelled CI job). Once
/// the handler has run, no child starts.
pub fn spawn_in_group(
    command: &mut std::process::Command,
) -> std::io::Result<(ChildGroup, std::process::Child)> {
    use std::os::unix::process::CommandExt;
    let mut groups = lock_groups();
    let child = command.process_group(0).spawn()?;
    groups.insert(child.id());
    Ok((ChildGroup(child.id()), child))
}

/// Sends SIGTERM to every registered process group, then SIGKILL to those still there a
/// second later; keeps the registry locked for good (the process is about to exit). Returns
/// how many groups there were.
pub fn stop_registered_groups() -> usize {
    let groups = lock_groups();
    let pids: Vec<u32> = groups.iter().copied().collect();
    std::mem::forget(groups);
    let signal = |name: &str, pid: u32| {
        std::process::Command::new("kill")
            .args([name, "--", &format!("-{pid}")])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    let alive: Vec<u32> = pids
        .iter()
        .copied()
        .filter(|pid| signal("-TERM", *pid))
        .collect();
    if !alive.is_empty() {
        std::thread::sleep(std::time::Duration::from_secs(1));
        for pid in alive {
            signal("-KILL", pid);
        }
    }
    pids.len()
}

fn lock_groups() -> std::sync::MutexGuard<'static, BTreeSet<u32>> {
    GROUPS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A registered temporary path; unregistered when dropped.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    /// Registers `path` (a file or a directory krel made and will remove or rename).
    pub fn register(path: &Path) -> Scratch {
        lock().insert(path.to_path_buf());
        Scratch(path.to_path_buf())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        lock().remove(&self.0);
    }
}

/// A new temporary file in `dir` named `<prefix><random>`, with its guard first (bound as
/// `let (_registered, file) = …`, the file is removed before it is unregistered), created and
/// registered under the registry's lock: the signal handler, which takes the lock for good, sees it either created
/// and registered or never created, so a signal at any moment leaves nothing behind. The
/// guard unregisters it.
pub fn named_temp_file(
    dir: &Path,
    prefix: &str,
) -> std::io::Result<(Scratch, tempfile::NamedTempFile)> {
    let mut registered = lock();
    let file = tempfile::Builder::new().prefix(prefix).tempfile_in(dir)?;
    registered.insert(file.path().to_path_buf());
    let scratch = Scratch(file.path().to_path_buf());
    Ok((scratch, file))
}

/// A new temporary directory in `dir` named `<prefix><random>`, created and registered as
/// [`named_temp_file`] does.
pub fn temp_dir(dir: &Path, prefix: &str) -> std::io::Result<(Scratch, tempfile::TempDir)> {
    let mut registered = lock();
    let temp = tempfile::Builder::new().prefix(prefix).tempdir_in(dir)?;
    registered.insert(temp.path().to_path_buf());
    let scratch = Scratch(temp.path().to_path_buf());
    Ok((scratch, temp))
}

/// Creates a directory inside a registered scratch directory, under the registry's lock: once
/// the signal handler has removed the scratch, this blocks instead of making it again.
pub fn create_dir_all(path: &Path) -> std::io::Result<()> {
    let _registered = lock();
    std::fs::create_dir_all(path)
}

/// Removes every registered path that still exists; returns how many were removed. For a
/// process that is about to exit on a signal: the registry stays locked afterwards, so a
/// thread still working blocks before it can create another temporary file (a file made
/// after the removal would be left behind).
pub fn remove_registered() -> usize {
    let registered = lock();
    let paths: Vec<PathBuf> = registered.iter().cloned().collect();
    let removed = remove(&paths);
    std::mem::forget(registered);
    removed
}

/// The registered paths, now.
pub fn registered() -> Vec<PathBuf> {
    lock().iter().cloned().collect()
}

fn lock() -> std::sync::MutexGuard<'static, BTreeSet<PathBuf>> {
    REGISTERED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn remove(paths: &[PathBuf]) -> usize {
    paths
        .iter()
        .filter(|path| {
            let removed = if path.is_dir() {
                // Once more if a file appeared while the tree was being removed.
                std::fs::remove_dir_all(path).or_else(|_| std::fs::remove_dir_all(path))
            } else {
                std::fs::remove_file(path)
            };
            removed.is_ok()
        })
        .count()
}

/// Removes the entries of `dir` whose names start with `prefix` and that were last modified
/// more than `older_than` ago: scratch left by runs that died. Returns how many.
pub fn sweep(dir: &Path, prefix: &str, older_than: std::time::Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let now = std::time::SystemTime::now();
    entries
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(prefix))
        .filter(|entry| {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|modified| {
                    now.duration_since(modified).unwrap_or_default() >= older_than
                })
        })
        .filter(|entry| {
            let path = entry.path();
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.is_ok()
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_paths_are_removed_and_dropped_guards_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let kept = dir.path().join("kept");
        let partial = dir.path().join(".krel-partial-x");
        let scratch = dir.path().join(".krel-kubepkg-y");
        std::fs::write(&kept, "").unwrap();
        std::fs::write(&partial, "").unwrap();
        std::fs::create_dir_all(scratch.join("built")).unwrap();
        let _partial = Scratch::register(&partial);
        let _scratch = Scratch::register(&scratch);
        drop(Scratch::register(&kept));
        // (Other tests' temporary files are registered too: remove only this test's.)
        let ours: Vec<PathBuf> = registered()
            .into_iter()
            .filter(|p| p.starts_with(dir.path()))
            .collect();
        assert_eq!(ours, [scratch.clone(), partial.clone()]);
        assert_eq!(remove(&ours), 2);
        assert!(kept.exists() && !partial.exists() && !scratch.exists());

        std::fs::create_dir_all(dir.path().join(".krel-kubepkg-old")).unwrap();
        assert_eq!(
            sweep(dir.path(), ".krel-kubepkg-", std::time::Duration::ZERO),
            1
        );
        assert_eq!(
            sweep(dir.path(), ".krel-", std::time::Duration::from_secs(3600)),
            0
        );
    }
}
