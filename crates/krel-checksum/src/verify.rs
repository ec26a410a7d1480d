//! Checking a directory against its SUMS and per-file digest files.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use crate::hash::hash_all;
use crate::tree::artifacts;
use crate::{with_extension, ChecksumError, Progress, SHA256SUMS, SHA512SUMS};

/// The outcome of [`verify_checksums`].
#[derive(Debug, Clone, Default)]
pub struct Verification {
    /// Artifacts hashed and compared.
    pub checked: usize,
    /// Everything that does not match; empty means verified.
    pub mismatches: Vec<Mismatch>,
}

impl Verification {
    /// True when everything matched.
    pub fn is_ok(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// One file that failed verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The file, relative to the directory.
    pub name: String,
    /// What is wrong.
    pub problem: Problem,
}

/// What is wrong with a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Its content does not match the digest in a SUMS file.
    DigestDiffers {
        /// `SHA256SUMS` or `SHA512SUMS`.
        list: &'static str,
    },
    /// A SUMS file lists it but it is not there.
    Missing,
    /// It is there but no SUMS file lists it.
    NotListed,
    /// A `.sha256`/`.sha512` file whose file is gone.
    Orphan,
    /// Its `.sha256`/`.sha512` file is missing or holds another digest.
    DigestFile {
        /// `sha256` or `sha512`.
        algorithm: &'static str,
        /// True when the file is missing, false when it differs.
        missing: bool,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            Problem::DigestDiffers { list } => {
                write!(f, "{}: content does not match {list}", self.name)
            }
            Problem::Missing => write!(f, "{}: listed but missing", self.name),
            Problem::Orphan => write!(f, "{}: a digest of a file that is not there", self.name),
            Problem::NotListed => {
                write!(f, "{}: present but not listed in {SHA256SUMS}", self.name)
            }
            Problem::DigestFile {
                algorithm,
                missing: true,
            } => {
                write!(f, "{}.{algorithm}: missing", self.name)
            }
            Problem::DigestFile {
                algorithm,
                missing: false,
            } => {
                write!(f, "{}.{algorithm}: holds another digest", self.name)
            }
        }
    }
}

/// Reads `dir/list` (SHA256SUMS or SHA512SUMS): file name → hex digest.
pub fn read_sums(dir: &Path, list: &str) -> Result<BTreeMap<String, String>, ChecksumError> {
    let path = dir.join(list);
    let text = std::fs::read_to_string(&path).map_err(|source| ChecksumError::Read {
        path: path.clone(),
        source,
    })?;
    let width = if list == SHA256SUMS { 64 } else { 128 };
    let mut entries = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let parse = |message: &str| ChecksumError::Parse {
            path: path.clone(),
            line: index + 1,
            message: message.to_string(),
        };
        let (hex, name) = line
            .split_once("  ")
            .or_else(|| line.split_once(" *"))
            .ok_or_else(|| parse("expected `<hex digest>  <path>`"))?;
        if hex.len() != width || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(parse(&format!("expected a {width}-digit hex digest")));
        }
        entries.insert(name.to_string(), hex.to_ascii_lowercase());
    }
    Ok(entries)
}

/// Hashes every artifact under `dir` and compares it with `SHA256SUMS`, `SHA512SUMS` and the
/// per-file `.sha256`/`.sha512` files (those of the SUMS files too). Missing SUMS files are
/// errors; every other difference is reported in the [`Verification`].
pub fn verify_checksums(
    dir: &Path,
    jobs: usize,
    progress: &dyn Progress,
) -> Result<Verification, ChecksumError> {
    let sha256_list = read_sums(dir, SHA256SUMS)?;
    let sha512_list = read_sums(dir, SHA512SUMS)?;
    let files = artifacts(dir)?;
    let digests = hash_all(&files, jobs, progress)?;
    let mut mismatches = Vec::new();
    let mut seen = std::collections::BTreeSet::new();

    for (artifact, actual) in files.iter().zip(&digests) {
        seen.insert(artifact.name.clone());
        let listed_256 = sha256_list.get(&artifact.name);
        let listed_512 = sha512_list.get(&artifact.name);
        if listed_256.is_none() && listed_512.is_none() {
            mismatches.push(Mismatch {
                name: artifact.name.clone(),
                problem: Problem::NotListed,
            });
            continue;
        }
        for (list, listed, actual) in [
            (SHA256SUMS, listed_256, &actual.sha256),
            (SHA512SUMS, listed_512, &actual.sha512),
        ] {
            if listed != Some(actual) {
                mismatches.push(Mismatch {
                    name: artifact.name.clone(),
                    problem: Problem::DigestDiffers { list },
                });
            }
        }
        check_digest_files(
            &mut mismatches,
            &artifact.name,
            &artifact.path,
            &actual.sha256,
            &actual.sha512,
        );
    }
    for list in [SHA256SUMS, SHA512SUMS] {
        let path = dir.join(list);
        let digests = crate::hash_file(&path).map_err(|source| ChecksumError::Read {
            path: path.clone(),
            source,
        })?;
        check_digest_files(
            &mut mismatches,
            list,
            &path,
            &digests.sha256,
            &digests.sha512,
        );
    }
    for name in sha256_list.keys().chain(sha512_list.keys()) {
        if seen.insert(name.clone()) {
            mismatches.push(Mismatch {
                name: name.clone(),
                problem: Problem::Missing,
            });
        }
    }
    for orphan in crate::tree::orphan_digest_files(dir) {
        mismatches.push(Mismatch {
            name: orphan
                .strip_prefix(dir)
                .unwrap_or(&orphan)
                .to_string_lossy()
                .replace('\\', "/"),
            problem: Problem::Orphan,
        });
    }
    Ok(Verification {
        checked: files.len(),
        mismatches,
    })
}

/// Compares the `.sha256`/`.sha512` files beside `path` with the expected digests.
fn check_digest_files(
    mismatches: &mut Vec<Mismatch>,
    name: &str,
    path: &Path,
    sha256: &str,
    sha512: &str,
) {
    for (algorithm, expected) in [("sha256", sha256), ("sha512", sha512)] {
        let digest_file = with_extension(path, algorithm);
        let problem = match std::fs::read_to_string(&digest_file) {
            Ok(text) if text.trim().eq_ignore_ascii_case(expected) => continue,
            Ok(_) => Problem::DigestFile {
                algorithm,
                missing: false,
            },
            Err(_) => Problem::DigestFile {
                algorithm,
                missing: true,
            },
        };
        mismatches.push(Mismatch {
            name: name.to_string(),
            problem,
        });
    }
}
