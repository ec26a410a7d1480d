//! Hashing: both digests from one read, files spread over threads.

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use sha2::{Digest, Sha256, Sha512};

use crate::tree::Artifact;
use crate::{ChecksumError, Progress};

/// Read size: fits in a core's L2 cache, so the second digest reads the chunk from cache.
const CHUNK: usize = 256 * 1024;

/// The SHA-256 and SHA-512 digests of one file, as lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    /// SHA-256, 64 hex digits.
    pub sha256: String,
    /// SHA-512, 128 hex digits.
    pub sha512: String,
}

/// Both digests of everything `reader` yields, reading it once.
pub fn hash_reader(reader: impl Read) -> std::io::Result<Digests> {
    hash_with_progress(reader, &mut vec![0; CHUNK], |_| {})
}

/// Both digests of a file.
pub fn hash_file(path: &Path) -> std::io::Result<Digests> {
    hash_reader(std::fs::File::open(path)?)
}

fn hash_with_progress(
    mut reader: impl Read,
    buffer: &mut [u8],
    mut advance: impl FnMut(u64),
) -> std::io::Result<Digests> {
    let mut sha256 = Sha256::new();
    let mut sha512 = Sha512::new();
    loop {
        let n = match reader.read(buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        sha256.update(&buffer[..n]);
        sha512.update(&buffer[..n]);
        advance(n as u64);
    }
    Ok(Digests {
        sha256: hex::encode(sha256.finalize()),
        sha512: hex::encode(sha512.finalize()),
    })
}

/// Hashes `files` on up to `jobs` threads, largest first; results in the order of `files`.
/// Stops at the first unreadable file.
pub(crate) fn hash_all(
    files: &[Artifact],
    jobs: usize,
    progress: &dyn Progress,
) -> Result<Vec<Digests>, ChecksumError> {
    progress.start(files.iter().map(|f| f.size).sum());
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(files[i].size));
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Digests>>> = Mutex::new(vec![None; files.len()]);
    let first_error: Mutex<Option<ChecksumError>> = Mutex::new(None);
    let threads = jobs.clamp(1, files.len().max(1));

    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut buffer = vec![0; CHUNK];
                while !failed.load(Ordering::Relaxed) {
                    let Some(&index) = order.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    let artifact = &files[index];
                    let outcome = std::fs::File::open(&artifact.path).and_then(|file| {
                        hash_with_progress(file, &mut buffer, |n| progress.advance(n))
                    });
                    match outcome {
                        Ok(digests) => {
                            if let Ok(mut results) = results.lock() {
                                results[index] = Some(digests);
                            }
                        }
                        Err(source) => {
                            failed.store(true, Ordering::Relaxed);
                            if let Ok(mut slot) = first_error.lock() {
                                slot.get_or_insert(ChecksumError::Read {
                                    path: artifact.path.clone(),
                                    source,
                                });
                            }
                        }
                    }
                }
            });
        }
    });
    progress.done();

    if let Some(err) = first_error.into_inner().ok().flatten() {
        return Err(err);
    }
    let results = results.into_inner().unwrap_or_default();
    results
        .into_iter()
        .zip(files)
        .map(|(digests, artifact)| {
            digests.ok_or_else(|| ChecksumError::Read {
                path: artifact.path.clone(),
                source: std::io::Error::other("the file was not hashed"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        let empty = hash_reader(&b""[..]).unwrap();
        assert_eq!(
            empty.sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(empty.sha512.starts_with("cf83e1357eefb8bdf1542850d66d8007"));
        let abc = hash_reader(&b"abc"[..]).unwrap();
        assert_eq!(
            abc.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(abc.sha512.starts_with("ddaf35a193617abacc417349ae204131"));
    }

    #[test]
    fn an_unreadable_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good");
        std::fs::write(&good, "x").unwrap();
        let files = [
            Artifact {
                name: "good".into(),
                path: good,
                size: 1,
            },
            Artifact {
                name: "gone".into(),
                path: dir.path().join("gone"),
                size: 1,
            },
        ];
        let err = hash_all(&files, 2, &crate::NoProgress).unwrap_err();
        assert!(
            err.to_string().contains("reading") && err.to_string().contains("gone"),
            "{err}"
        );
    }

    #[test]
    fn chunking_does_not_change_the_digest() {
        let data: Vec<u8> = (0..(3 * CHUNK + 17)).map(|i| (i % 251) as u8).collect();
        let whole = hash_reader(&data[..]).unwrap();
        // A reader that returns odd-sized pieces.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.len().min(buf.len()).min(7777);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        assert_eq!(hash_reader(Trickle(&data)).unwrap(), whole);
    }
}
