//! The file operations stage and release share, each failing with a [`ReleaseError::Io`] that
//! names what was being done and to which path.

use std::path::{Path, PathBuf};

use crate::ReleaseError;

/// Adds what was being done, and to which path, to an I/O error:
/// `.map_err(io("reading", &path))`.
pub(crate) fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ReleaseError {
    let path = path.to_path_buf();
    move |source| ReleaseError::Io {
        action,
        path,
        source,
    }
}

/// Every regular file under `dir`, as (path relative to `dir` with `/`, path), sorted.
pub(crate) fn relative_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, ReleaseError> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.map_err(|err| {
            let path = err.path().unwrap_or(dir).to_path_buf();
            io("reading", &path)(err.into())
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let relative = entry
            .path()
            .strip_prefix(dir)
            .unwrap_or(entry.path())
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        files.push((relative, entry.into_path()));
    }
    Ok(files)
}

/// Creates the directory that will hold `path`.
pub(crate) fn create_parent(path: &Path) -> Result<(), ReleaseError> {
    match path.parent() {
        Some(parent) => std::fs::create_dir_all(parent).map_err(io("creating", parent)),
        None => Ok(()),
    }
}

/// Copies (hard-links when possible) every file of `from` into `to`.
pub(crate) fn copy_tree(from: &Path, to: &Path) -> Result<(), ReleaseError> {
    for (relative, path) in relative_files(from)? {
        let target = to.join(relative);
        create_parent(&target)?;
        if std::fs::hard_link(&path, &target).is_err() {
            std::fs::copy(&path, &target).map_err(io("copying to", &target))?;
        }
    }
    Ok(())
}

/// Removes a directory tree; one that does not exist is fine.
pub(crate) fn remove_dir(path: &Path) -> Result<(), ReleaseError> {
    match std::fs::remove_dir_all(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(io("removing", path)(err)),
        _ => Ok(()),
    }
}

/// Writes a file atomically (temporary file, then rename), creating its directory.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ReleaseError> {
    create_parent(path)?;
    krel_fs::write_atomic(path, bytes, 0o644, krel_fs::Replace::Always).map_err(io("writing", path))
}

/// SHA-256 of `bytes`, hex.
pub(crate) fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
