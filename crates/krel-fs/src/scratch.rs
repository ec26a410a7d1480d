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

/// A registered temporary path; unregistered when dropped.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    /// Registers `path` (a file or a directory krel made and will remove or rename).
    pub fn register(path: &Path) -> Scratch {
        if let Ok(mut registered) = REGISTERED.lock() {
            registered.insert(path.to_path_buf());
        }
        Scratch(path.to_path_buf())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Ok(mut registered) = REGISTERED.lock() {
            registered.remove(&self.0);
        }
    }
}

/// A new temporary file in `dir` named `<prefix><unique>`, registered *before* it is created,
/// so that a signal at any moment (even between creating it and registering it, where a
/// registration after the fact would leave it behind) removes it. The guard unregisters it.
pub fn named_temp_file(
    dir: &Path,
    prefix: &str,
) -> std::io::Result<(tempfile::NamedTempFile, Scratch)> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    loop {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let unique = format!(
            "{}-{}-{nanos:08x}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let path = dir.join(format!("{prefix}{unique}"));
        let scratch = Scratch::register(&path);
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => {
                let temp_path = tempfile::TempPath::try_from_path(path)?;
                return Ok((
                    tempfile::NamedTempFile::from_parts(file, temp_path),
                    scratch,
                ));
            }
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err),
        }
    }
}

/// Removes every registered path that still exists; returns how many were removed. For a
/// process that is about to exit on a signal.
pub fn remove_registered() -> usize {
    remove(&registered())
}

/// The registered paths, now.
pub fn registered() -> Vec<PathBuf> {
    match REGISTERED.lock() {
        Ok(registered) => registered.iter().cloned().collect(),
        Err(poisoned) => poisoned.into_inner().iter().cloned().collect(),
    }
}

fn remove(paths: &[PathBuf]) -> usize {
    paths
        .iter()
        .filter(|path| {
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(path)
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
