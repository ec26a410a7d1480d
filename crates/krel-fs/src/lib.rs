//! Atomic file writes, so that nothing krel writes is ever seen half-written; and [`tree`],
//! the one way krel reads a directory a user filled, refusing links that lead out of it; and
//! [`parallel_map`], how work over many files uses every core.
//!
//! [`write_atomic`] writes to a temporary file in the target's directory, sets its mode, syncs
//! it, and renames it into place (or, with [`Replace::Never`], refuses an existing target).
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("SHA256SUMS");
//! krel_fs::write_atomic(&path, b"abc  file\n", 0o644, krel_fs::Replace::Always).unwrap();
//! assert_eq!(std::fs::read(&path).unwrap(), b"abc  file\n");
//! ```

pub mod scratch;
pub mod tree;

use std::io::Write;
use std::path::Path;

/// Whether an existing target may be replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replace {
    /// Replace it (checksums, signatures, CHANGELOG files).
    Always,
    /// Fail with `AlreadyExists` (keys).
    Never,
}

/// Writes `bytes` to `path` atomically with Unix `mode`.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32, replace: Replace) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let (_scratch, mut temp) = scratch::named_temp_file(dir, ".krel-tmp-")?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    match replace {
        Replace::Always => temp.persist(path).map(|_| ()).map_err(|e| e.error),
        Replace::Never => temp
            .persist_noclobber(path)
            .map(|_| ())
            .map_err(|e| e.error),
    }
}

/// Maps `work` over `items` on up to `jobs` scoped threads, keeping the order.
pub fn parallel_map<I: Sync, T: Send>(
    items: &[I],
    jobs: usize,
    work: impl Fn(&I) -> T + Sync,
) -> Vec<T> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let threads = jobs.clamp(1, items.len().max(1));
    let mut results: Vec<(usize, T)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(index) else { break };
                        done.push((index, work(item)));
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| match handle.join() {
                Ok(done) => done,
                // A worker's panic is not a result: let it surface.
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, result)| result).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_replacement() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        write_atomic(&path, b"one", 0o600, Replace::Never).unwrap();
        let err = write_atomic(&path, b"two", 0o600, Replace::Never).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        write_atomic(&path, b"three", 0o644, Replace::Always).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"three");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o644
            );
        }
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    #[test]
    fn parallel_map_keeps_the_order() {
        let items: Vec<u32> = (0..100).collect();
        assert_eq!(
            super::parallel_map(&items, 4, |i| i * 2),
            items.iter().map(|i| i * 2).collect::<Vec<_>>()
        );
        assert!(super::parallel_map(&[] as &[u32], 4, |i| *i).is_empty());
    }
}
