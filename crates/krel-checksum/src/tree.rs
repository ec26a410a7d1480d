//! Which files under a directory are artifacts, and their names in a SUMS file.

use std::path::{Path, PathBuf};

use crate::{ChecksumError, SHA256SUMS, SHA512SUMS};

/// The provenance statement's file name.
pub const PROVENANCE: &str = "provenance.json";

/// One file to checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Path relative to the directory, with `/` separators, as listed in the SUMS files.
    pub name: String,
    /// The file on disk.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
}

/// True for files that checksumming, signing or attesting produce, which are never artifacts.
/// `provenance.json` (the SLSA statement `krel release` puts beside the artifacts) names every
/// artifact with its digest, so it cannot be one of them.
pub fn is_derived(file_name: &str) -> bool {
    file_name == SHA256SUMS
        || file_name == SHA512SUMS
        || file_name == PROVENANCE
        || [".sha256", ".sha512", ".sig", ".cert", ".sigstore.json"]
            .iter()
            .any(|suffix| file_name.ends_with(suffix))
}

/// The artifacts under `dir`, sorted by name (byte order). Symbolic links to regular files
/// inside `dir` count as those files; a link out of `dir`, or to anything but a file, is an
/// error (krel_fs::tree).
pub fn artifacts(dir: &Path) -> Result<Vec<Artifact>, ChecksumError> {
    if !dir.is_dir() {
        return Err(ChecksumError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    let mut found = Vec::new();
    for entry in walkdir::WalkDir::new(dir).min_depth(1).follow_links(false) {
        let entry = entry.map_err(|source| ChecksumError::Walk {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        if entry.file_type().is_dir() {
            continue;
        }
        if entry.path_is_symlink() {
            if let Err(krel_fs::tree::TreeError::Escapes { target, .. }) =
                krel_fs::tree::inside(dir, path)
            {
                return Err(ChecksumError::LinkOutside {
                    path: path.to_path_buf(),
                    target,
                });
            }
        }
        let metadata = std::fs::metadata(path).map_err(|source| {
            if entry.path_is_symlink() {
                return ChecksumError::BadLink {
                    path: path.to_path_buf(),
                };
            }
            ChecksumError::Read {
                path: path.to_path_buf(),
                source,
            }
        })?;
        if !metadata.is_file() {
            if metadata.is_dir() {
                // A link to a directory: its files are not part of this tree.
                return Err(ChecksumError::BadLink {
                    path: path.to_path_buf(),
                });
            }
            continue; // sockets, fifos: not artifacts
        }
        let name = relative_name(dir, path)?;
        if is_derived(entry.file_name().to_str().unwrap_or_default()) {
            continue;
        }
        found.push(Artifact {
            name,
            path: path.to_path_buf(),
            size: metadata.len(),
        });
    }
    if found.is_empty() {
        return Err(ChecksumError::Empty {
            path: dir.to_path_buf(),
        });
    }
    found.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    Ok(found)
}

fn relative_name(dir: &Path, path: &Path) -> Result<String, ChecksumError> {
    let bad = || ChecksumError::BadName {
        path: path.to_path_buf(),
    };
    let relative = path.strip_prefix(dir).map_err(|_| bad())?;
    let mut parts = Vec::new();
    for component in relative.components() {
        let part = component.as_os_str().to_str().ok_or_else(bad)?;
        if part.contains('\n') || part.contains('\\') {
            return Err(bad());
        }
        parts.push(part);
    }
    Ok(parts.join("/"))
}

/// `.sha256`/`.sha512` files under `dir` whose file is gone (the artifact was removed after an
/// earlier run): stale digests a push would publish for nothing.
pub fn orphan_digest_files(dir: &Path) -> Vec<std::path::PathBuf> {
    walkdir::WalkDir::new(dir)
        .min_depth(1)
        .follow_links(false)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_file())
        .map(|entry| entry.into_path())
        .filter(|path| {
            let name = path.to_string_lossy();
            let base = name
                .strip_suffix(".sha256")
                .or_else(|| name.strip_suffix(".sha512"));
            base.is_some_and(|base| !Path::new(base).exists())
        })
        .collect()
}
