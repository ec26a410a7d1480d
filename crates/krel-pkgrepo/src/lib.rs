//! Package repositories that apt and dnf accept, written beside the packages, signed with an
//! OpenPGP key, ready to be pushed to a bucket and served as static files.
//!
//! - [`apt`]: `dists/<channel>/{Release,InRelease,Release.gpg}`, `main/binary-<arch>/Packages(.gz)`
//!   over a shared `pool/`; adding packages keeps the ones already listed.
//! - [`yum`]: `repodata/repomd.xml` (+ `.asc`) with `primary`, `filelists` and `other`, rebuilt
//!   from every RPM under the repository, so older versions stay.
//!
//! ```no_run
//! # fn main() -> Result<(), krel_pkgrepo::RepoError> {
//! let root = std::path::Path::new("out/release/v1.29/rpm");
//! let summary = krel_pkgrepo::yum::write_yum_repo(root, None, 1_700_000_000)?;
//! println!("{} packages", summary.packages);
//! # Ok(()) }
//! ```

pub mod apt;
pub mod yum;
mod yum_read;

use std::path::PathBuf;

/// Why repository metadata could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// Reading or writing a file failed.
    #[error("{what} {}", path.display())]
    Io {
        /// What was being done.
        what: String,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A package in the repository cannot be read.
    #[error("{}: {message}", path.display())]
    BadPackage {
        /// The package file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Signing failed.
    #[error(transparent)]
    Sign(#[from] krel_package::PackageError),
    /// A signed repository would be rewritten without a key.
    #[error("{} is signed, and no signing key was given: rewriting its indexes unsigned would break every apt and dnf client that trusts it. Give the key (--sign-key, or KREL_PACKAGE_SIGN_KEY); nothing was changed", signature.display())]
    SignedWithoutKey {
        /// The signature found.
        signature: PathBuf,
    },
}

impl krel_error::Diagnose for RepoError {
    fn kind(&self) -> krel_error::ErrorKind {
        match self {
            // The key is missing from the command line.
            RepoError::SignedWithoutKey { .. } => krel_error::ErrorKind::Usage,
            RepoError::Io { .. } | RepoError::BadPackage { .. } | RepoError::Sign(_) => {
                krel_error::ErrorKind::Unexpected
            }
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            RepoError::SignedWithoutKey { .. } => Some(
                "give the repository's signing key with --sign-key (KREL_PACKAGE_SIGN_KEY); during a rotation, both keys".into(),
            ),
            _ => None,
        }
    }
}

/// The signature that makes the apt repository at `deb_root` or the yum repository at
/// `rpm_root` signed, if either is (`InRelease`, `Release.gpg`, `repomd.xml.asc`).
pub fn signature_of(deb_root: &std::path::Path, rpm_root: &std::path::Path) -> Option<PathBuf> {
    apt_signature(deb_root).or_else(|| yum_signature(rpm_root))
}

/// A signature of the apt repository at `root` (`dists/*/InRelease` or `Release.gpg`), if any.
pub fn apt_signature(root: &std::path::Path) -> Option<PathBuf> {
    std::fs::read_dir(root.join("dists"))
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|suite| ["InRelease", "Release.gpg"].map(|name| suite.path().join(name)))
        .find(|path| path.is_file())
}

/// The signature of the yum repository at `root` (`repodata/repomd.xml.asc`), if any.
pub fn yum_signature(root: &std::path::Path) -> Option<PathBuf> {
    Some(root.join("repodata/repomd.xml.asc")).filter(|path| path.is_file())
}

impl RepoError {
    pub(crate) fn io(
        what: &str,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> RepoError {
        let what = what.to_string();
        let path = path.to_path_buf();
        move |source| RepoError::Io { what, path, source }
    }
}

/// Writes `bytes` to `path` atomically, creating parent directories.
pub(crate) fn write_file(path: &std::path::Path, bytes: &[u8]) -> Result<(), RepoError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(RepoError::io("creating", parent))?;
    }
    krel_fs::write_atomic(path, bytes, 0o644, krel_fs::Replace::Always)
        .map_err(RepoError::io("writing", path))
}

/// gzip at the best level, with no name and no time, so the same input gives the same bytes.
pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::new();
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .write(&mut out, flate2::Compression::best());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    let _ = encoder.finish();
    out
}
