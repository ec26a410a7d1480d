//! Reading a user's tree safely: every reader of a directory someone else filled (a build's
//! output, a package source, a directory to push, sign or checksum) lists it through
//! [`files`] or checks a path with [`inside`], so that a symbolic link leading out of the tree
//! (to `/etc/shadow`, to `~/.ssh`) is refused instead of followed. Links that stay inside the
//! tree are followed.

use std::path::{Path, PathBuf};

/// A regular file of a tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeFile {
    /// Its path relative to the tree, with `/` separators.
    pub relative: String,
    /// Its path (through the tree, not the link's target).
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
}

/// Why a tree cannot be read safely.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// The tree is not a directory.
    #[error("{} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// A link leads out of the tree.
    #[error("{} is a link to {}, outside {}", link.display(), target.display(), root.display())]
    Escapes {
        /// The link.
        link: PathBuf,
        /// Where it leads.
        target: PathBuf,
        /// The tree.
        root: PathBuf,
    },
    /// A link leads nowhere.
    #[error("{} is a link that leads nowhere", .0.display())]
    BrokenLink(PathBuf),
    /// A name that is not UTF-8.
    #[error("{} has a name that is not UTF-8", .0.display())]
    BadName(PathBuf),
    /// Reading failed.
    #[error("reading {}", path.display())]
    Io {
        /// Where.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TreeError + '_ {
    move |source| TreeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Every regular file under `root`, sorted by relative path. Links are followed while they
/// stay inside `root`; one that leaves it, or leads nowhere, is an error naming it.
pub fn files(root: &Path) -> Result<Vec<TreeFile>, TreeError> {
    files_within(root, root)
}

/// [`files`] of `root`, where links may lead anywhere inside `bound` (a directory that holds
/// `root`: a build's output directory inside its build tree).
pub fn files_within(root: &Path, bound: &Path) -> Result<Vec<TreeFile>, TreeError> {
    if !root.is_dir() {
        return Err(TreeError::NotADirectory(root.to_path_buf()));
    }
    let canonical = bound.canonicalize().map_err(io(bound))?;
    let mut found = Vec::new();
    for entry in walkdir::WalkDir::new(root).min_depth(1).follow_links(true) {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => return Err(walk_error(root, err)),
        };
        if entry.path_is_symlink() {
            check_target(&canonical, bound, entry.path())?;
        }
        if !entry.file_type().is_file() {
            continue;
        }
        let relative = entry
            .path()
            .strip_prefix(root)
            .ok()
            .and_then(|p| p.to_str())
            .ok_or_else(|| TreeError::BadName(entry.path().to_path_buf()))?
            .replace(std::path::MAIN_SEPARATOR, "/");
        let size = entry.metadata().map_err(|e| walk_error(root, e))?.len();
        found.push(TreeFile {
            relative,
            path: entry.path().to_path_buf(),
            size,
        });
    }
    found.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(found)
}

/// Checks that `path` (a path under `root`, existing) resolves inside `root`, whatever links
/// it passes through; returns it unchanged.
pub fn inside(root: &Path, path: &Path) -> Result<PathBuf, TreeError> {
    let canonical = root.canonicalize().map_err(io(root))?;
    check_target(&canonical, root, path)?;
    Ok(path.to_path_buf())
}

fn check_target(canonical_root: &Path, root: &Path, path: &Path) -> Result<(), TreeError> {
    let target = match path.canonicalize() {
        Ok(target) => target,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(TreeError::BrokenLink(path.to_path_buf()))
        }
        Err(err) => return Err(io(path)(err)),
    };
    if target.starts_with(canonical_root) {
        return Ok(());
    }
    Err(TreeError::Escapes {
        link: path.to_path_buf(),
        target,
        root: root.to_path_buf(),
    })
}

fn walk_error(root: &Path, err: walkdir::Error) -> TreeError {
    let path = err.path().unwrap_or(root).to_path_buf();
    if err.loop_ancestor().is_some() {
        return TreeError::Io {
            path,
            source: std::io::Error::other("a link loop"),
        };
    }
    match err.into_io_error() {
        Some(source) if source.kind() == std::io::ErrorKind::NotFound => {
            TreeError::BrokenLink(path)
        }
        Some(source) => TreeError::Io { path, source },
        None => TreeError::Io {
            path,
            source: std::io::Error::other("unreadable"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_inside_are_followed_and_links_out_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("tree");
        std::fs::create_dir_all(root.join("bin/linux")).unwrap();
        std::fs::write(root.join("bin/linux/kubelet"), b"elf").unwrap();
        symlink("linux", root.join("bin/current")).unwrap();
        symlink("bin/linux/kubelet", root.join("kubelet")).unwrap();
        let listed: Vec<String> = files(&root)
            .unwrap()
            .into_iter()
            .map(|f| f.relative)
            .collect();
        assert_eq!(
            listed,
            ["bin/current/kubelet", "bin/linux/kubelet", "kubelet"]
        );

        std::fs::write(dir.path().join("shadow"), b"root:x").unwrap();
        symlink(dir.path().join("shadow"), root.join("bin/linux/shadow")).unwrap();
        let err = files(&root).unwrap_err();
        assert!(matches!(err, TreeError::Escapes { .. }), "{err}");
        assert!(err.to_string().contains("outside"), "{err}");
        assert!(inside(&root, &root.join("bin/linux/shadow")).is_err());
        assert!(inside(&root, &root.join("kubelet")).is_ok());
        std::fs::remove_file(root.join("bin/linux/shadow")).unwrap();

        symlink(dir.path(), root.join("up")).unwrap();
        assert!(matches!(
            files(&root).unwrap_err(),
            TreeError::Escapes { .. }
        ));
        std::fs::remove_file(root.join("up")).unwrap();
        symlink("/nonexistent/x", root.join("dangling")).unwrap();
        assert!(matches!(
            files(&root).unwrap_err(),
            TreeError::BrokenLink(_)
        ));
    }
}
