//! Checksums for release artifacts, as upstream krel writes them (`pkg/release` WriteChecksums).
//!
//! [`write_checksums`] hashes every artifact under a directory and writes, at its top,
//! `SHA256SUMS` and `SHA512SUMS` (lines `<hex>  <relative path>`, sorted by path, so
//! `sha256sum -c SHA256SUMS` passes in that directory), then `<file>.sha256` and
//! `<file>.sha512` beside every file, the two SUMS files included, holding the bare hex digest.
//! [`verify_checksums`] checks a directory against them.
//!
//! Each file is read once for both digests, files are hashed on `jobs` threads, and memory
//! stays bounded (one buffer per thread) whatever the file sizes. Nothing is written until
//! every file has been hashed, and each output file is written to a temporary name and renamed,
//! so a failure never leaves a half-written checksum behind.
//!
//! Derived files are not artifacts: the SUMS files, `*.sha256`, `*.sha512`, and signatures
//! (`*.sig`, `*.cert`), which are added after checksumming. Rerunning is therefore idempotent.
//!
//! ```no_run
//! let summary = krel_checksum::write_checksums("_output/release".as_ref(), 4, &krel_checksum::NoProgress).unwrap();
//! println!("{} files, {} bytes", summary.files.len(), summary.bytes);
//! ```

mod hash;
mod tree;
mod verify;

use std::path::{Path, PathBuf};

pub use hash::{hash_file, hash_reader, Digests};
pub use tree::{artifacts, is_derived, Artifact};
pub use verify::{read_sums, verify_checksums, Mismatch, Problem, Verification};

/// The file listing SHA-256 digests.
pub const SHA256SUMS: &str = "SHA256SUMS";
/// The file listing SHA-512 digests.
pub const SHA512SUMS: &str = "SHA512SUMS";

/// Receives hashing progress in bytes; called from several threads.
pub trait Progress: Sync {
    /// The total number of bytes to hash, once known.
    fn start(&self, total_bytes: u64);
    /// More bytes were hashed.
    fn advance(&self, bytes: u64);
    /// Hashing ended.
    fn done(&self) {}
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: u64) {}
    fn advance(&self, _: u64) {}
}

/// Why checksumming failed.
#[derive(Debug, thiserror::Error)]
pub enum ChecksumError {
    /// The directory does not exist or is not a directory.
    #[error("{} is not a directory", path.display())]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// The directory holds no artifacts.
    #[error("{} holds no files to checksum", path.display())]
    Empty {
        /// The directory.
        path: PathBuf,
    },
    /// Listing the directory failed.
    #[error("listing {}", path.display())]
    Walk {
        /// Where.
        path: PathBuf,
        /// The cause.
        source: walkdir::Error,
    },
    /// A file could not be read.
    #[error("reading {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("writing {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A name that a SUMS file cannot hold.
    #[error("{} cannot be listed in {SHA256SUMS}: its name is not UTF-8 or contains a newline or backslash", path.display())]
    BadName {
        /// The file.
        path: PathBuf,
    },
    /// A symbolic link that leads out of the directory.
    #[error("{} is a link to {}, outside the directory", path.display(), target.display())]
    LinkOutside {
        /// The link.
        path: PathBuf,
        /// Where it leads.
        target: PathBuf,
    },
    /// A symbolic link that does not lead to a regular file.
    #[error("{} is a symbolic link that does not lead to a regular file", path.display())]
    BadLink {
        /// The link.
        path: PathBuf,
    },
    /// A SUMS file could not be read as `<hex>  <path>` lines.
    #[error("{}:{line}: {message}", path.display())]
    Parse {
        /// The SUMS file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// What [`write_checksums`] did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The artifacts and their digests, sorted by relative path.
    pub files: Vec<(Artifact, Digests)>,
    /// Total bytes hashed (artifacts only).
    pub bytes: u64,
    /// Every file written.
    pub written: Vec<PathBuf>,
}

/// Hashes every artifact under `dir` on `jobs` threads and writes the SUMS and per-file
/// digest files. See the crate documentation for the layout.
pub fn write_checksums(
    dir: &Path,
    jobs: usize,
    progress: &dyn Progress,
) -> Result<Summary, ChecksumError> {
    let files = artifacts(dir)?;
    let bytes = files.iter().map(|a| a.size).sum();
    let digests = hash::hash_all(&files, jobs, progress)?;
    let files: Vec<(Artifact, Digests)> = files.into_iter().zip(digests).collect();

    let mut written = Vec::new();
    let mut sha256sums = String::new();
    let mut sha512sums = String::new();
    for (artifact, digests) in &files {
        sha256sums.push_str(&format!("{}  {}\n", digests.sha256, artifact.name));
        sha512sums.push_str(&format!("{}  {}\n", digests.sha512, artifact.name));
    }
    let mut sums = Vec::new();
    for (name, text) in [(SHA256SUMS, sha256sums), (SHA512SUMS, sha512sums)] {
        let path = dir.join(name);
        write_atomic(&path, text.as_bytes())?;
        let digests = hash_reader(text.as_bytes()).map_err(|source| ChecksumError::Read {
            path: path.clone(),
            source,
        })?;
        written.push(path.clone());
        sums.push((path, digests));
    }
    let per_file = files
        .iter()
        .map(|(artifact, digests)| (artifact.path.clone(), digests))
        .chain(sums.iter().map(|(path, digests)| (path.clone(), digests)));
    for (path, digests) in per_file {
        for (extension, hex) in [("sha256", &digests.sha256), ("sha512", &digests.sha512)] {
            let target = with_extension(&path, extension);
            write_atomic(&target, hex.as_bytes())?;
            written.push(target);
        }
    }
    // Digest files of artifacts that are gone would be published for nothing.
    for stale in tree::orphan_digest_files(dir) {
        std::fs::remove_file(&stale).map_err(|source| ChecksumError::Read {
            path: stale.clone(),
            source,
        })?;
    }
    Ok(Summary {
        files,
        bytes,
        written,
    })
}

/// `kubernetes.tar.gz` + `sha256` gives `kubernetes.tar.gz.sha256`.
pub fn with_extension(path: &Path, extension: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(extension);
    PathBuf::from(name)
}

/// Writes `bytes` atomically (published files: mode 0644).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ChecksumError> {
    krel_fs::write_atomic(path, bytes, 0o644, krel_fs::Replace::Always).map_err(|source| {
        ChecksumError::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}

impl krel_error::Diagnose for ChecksumError {
    /// Usage when the directory given is not a release directory; else unexpected.
    fn kind(&self) -> krel_error::ErrorKind {
        match self {
            ChecksumError::NotADirectory { .. }
            | ChecksumError::Empty { .. }
            | ChecksumError::LinkOutside { .. } => krel_error::ErrorKind::Usage,
            _ => krel_error::ErrorKind::Unexpected,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            ChecksumError::NotADirectory { .. } | ChecksumError::Empty { .. } => {
                Some("pass the directory that holds the release artifacts".to_string())
            }
            ChecksumError::BadName { .. } => Some(
                "rename the file: SUMS files cannot list names with newlines or backslashes"
                    .to_string(),
            ),
            ChecksumError::BadLink { .. } | ChecksumError::LinkOutside { .. } => {
                Some("replace the link with the file it should be, or remove it".to_string())
            }
            ChecksumError::Read { path, .. }
                if path.ends_with("SHA256SUMS") || path.ends_with("SHA512SUMS") =>
            {
                Some("write them first with `krel checksum DIR`".to_string())
            }
            _ => None,
        }
    }
}
