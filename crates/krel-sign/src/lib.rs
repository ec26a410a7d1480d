//! cosign-compatible blob signatures, natively.
//!
//! - [`Signer`]: the trait every signing method implements. [`KeySigner`] signs with an ECDSA
//!   P-256 private key; keyless signing (OIDC → Fulcio → Rekor, for CI) will be another
//!   implementation of the same trait.
//! - [`load_signing_key`] reads a key as `cosign generate-key-pair` writes it (an
//!   `ENCRYPTED SIGSTORE PRIVATE KEY` or `ENCRYPTED COSIGN PRIVATE KEY` PEM: scrypt +
//!   NaCl secretbox around PKCS#8) or as `openssl` writes it (`PRIVATE KEY`, `EC PRIVATE KEY`).
//!   [`generate_key_pair`] writes a new cosign-format pair.
//! - [`sign_file`] writes `<file>.sig`: the base64 of the DER ECDSA signature over the file's
//!   SHA-256, exactly what `cosign sign-blob --key` writes, verifiable with
//!   `openssl dgst -sha256 -verify cosign.pub -signature <(base64 -d f.sig) f`.
//!   [`verify_file`] checks one and fails closed: a missing, malformed or wrong signature is an
//!   error.
//!
//! Private keys and passwords are [`Secret`]s or zeroized buffers; nothing here prints them.
//!
//! ```no_run
//! use krel_secret::Secret;
//! use krel_sign::{generate_key_pair, load_signing_key, sign_file, verify_file, PublicKey};
//!
//! let pair = generate_key_pair(&Secret::new("correct horse")).unwrap();
//! let signer = load_signing_key(pair.private_pem.expose(), &|| Ok(Secret::new("correct horse"))).unwrap();
//! let sig = sign_file(&signer, "kubectl".as_ref()).unwrap();
//! let public = PublicKey::from_pem(&pair.public_pem).unwrap();
//! verify_file(&public, "kubectl".as_ref()).unwrap();
//! # let _ = sig;
//! ```

mod cosign;
mod keys;

use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine;
use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use sha2::{Digest, Sha256};

pub use keys::{generate_key_pair, load_signing_key, KeyPair, PublicKey};
pub use krel_secret::Secret;

/// What signing one digest produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// The DER-encoded ECDSA signature (written base64 as `<file>.sig`).
    pub der: Vec<u8>,
    /// The signing certificate, PEM, for keyless signing (written as `<file>.cert`).
    pub certificate_pem: Option<String>,
}

/// Something that signs SHA-256 digests.
pub trait Signer: Sync {
    /// Signs a SHA-256 digest.
    fn sign_digest(&self, digest: &[u8; 32]) -> Result<Signature, SignError>;
    /// What signs, for messages ("ECDSA P-256 key 1a2b3c4d5e6f7a8b").
    fn describe(&self) -> String;
}

/// Signs with an ECDSA P-256 private key.
pub struct KeySigner {
    key: p256::ecdsa::SigningKey,
}

impl KeySigner {
    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_verifying_key(*self.key.verifying_key())
    }
}

impl Signer for KeySigner {
    fn sign_digest(&self, digest: &[u8; 32]) -> Result<Signature, SignError> {
        let signature: p256::ecdsa::DerSignature = self
            .key
            .sign_prehash(digest)
            .map_err(|_| SignError::Signing)?;
        Ok(Signature {
            der: signature.as_bytes().to_vec(),
            certificate_pem: None,
        })
    }

    fn describe(&self) -> String {
        format!("ECDSA P-256 key {}", self.public_key().fingerprint())
    }
}

/// Why signing or loading a key failed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
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
    /// The key file is not a key krel can use; `reason` says why.
    #[error("the key is not usable: {reason}")]
    BadKey {
        /// What is wrong.
        reason: String,
    },
    /// The password does not open the encrypted key.
    #[error("the password does not decrypt the key")]
    WrongPassword,
    /// No password was available for an encrypted key.
    #[error("the key is encrypted and no password was given")]
    NoPassword,
    /// The system's random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// The signature could not be made.
    #[error("ECDSA signing failed")]
    Signing,
    /// Refusing to overwrite an existing key file.
    #[error("{} already exists; krel does not overwrite keys", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
}

impl krel_error::Diagnose for SignError {
    /// Usage when the key, its password or the output place is wrong; else unexpected.
    fn kind(&self) -> krel_error::ErrorKind {
        match self {
            SignError::NoPassword
            | SignError::WrongPassword
            | SignError::BadKey { .. }
            | SignError::Exists { .. } => krel_error::ErrorKind::Usage,
            _ => krel_error::ErrorKind::Unexpected,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            SignError::NoPassword => Some("set KREL_SIGNING_PASSWORD (empty for a key without password), or run on a terminal to be asked".into()),
            SignError::WrongPassword => Some("check KREL_SIGNING_PASSWORD; the key file is unchanged".into()),
            SignError::BadKey { .. } => Some("use a cosign key (krel sign generate-key) or `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`".into()),
            SignError::Exists { .. } => Some("choose another --output-prefix, or move the old key away first".into()),
            _ => None,
        }
    }
}

/// Why a signature did not verify.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// There is no `<file>.sig`.
    #[error("{}: no signature ({} is missing)", file.display(), signature.display())]
    Missing {
        /// The signed file.
        file: PathBuf,
        /// The expected signature file.
        signature: PathBuf,
    },
    /// The signature file is not a base64 DER ECDSA signature.
    #[error("{}: malformed signature ({reason})", signature.display())]
    Malformed {
        /// The signature file.
        signature: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The signature does not match the file and key.
    #[error("{}: signature does not match the file and key", file.display())]
    Mismatch {
        /// The signed file.
        file: PathBuf,
    },
    /// The file could not be read.
    #[error("reading {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// `file` + `.sig`.
pub fn signature_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".sig");
    PathBuf::from(name)
}

/// The SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> std::io::Result<[u8; 32]> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 256 * 1024];
    loop {
        match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buffer[..n]),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        }
    }
    Ok(hasher.finalize().into())
}

/// Signs `file` and writes `<file>.sig` (base64, no newline) atomically. Returns its path.
pub fn sign_file(signer: &dyn Signer, file: &Path) -> Result<PathBuf, SignError> {
    let signature = sign_only(signer, file)?;
    write_signature(file, &signature)
}

/// Reads and signs `file`, writing nothing.
fn sign_only(signer: &dyn Signer, file: &Path) -> Result<Signature, SignError> {
    let digest = sha256_file(file).map_err(|source| SignError::Read {
        path: file.to_path_buf(),
        source,
    })?;
    signer.sign_digest(&digest)
}

/// Writes `<file>.sig` (base64, no newline) and `<file>.cert` for a signature with a
/// certificate, atomically; returns the `.sig`'s path.
pub fn write_signature(file: &Path, signature: &Signature) -> Result<PathBuf, SignError> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(&signature.der);
    let target = signature_path(file);
    write_atomic(&target, encoded.as_bytes(), None)?;
    if let Some(certificate) = &signature.certificate_pem {
        let mut name = file.as_os_str().to_owned();
        name.push(".cert");
        write_atomic(Path::new(&name), certificate.as_bytes(), None)?;
    }
    Ok(target)
}

/// Checks `<file>.sig` against `file` and `key`.
pub fn verify_file(key: &PublicKey, file: &Path) -> Result<(), VerifyError> {
    let digest = sha256_file(file).map_err(|source| VerifyError::Read {
        path: file.to_path_buf(),
        source,
    })?;
    verify_file_digest(key, file, &digest)
}

/// Checks `<file>.sig` against `key` and `digest`, the SHA-256 of `file` already computed.
pub fn verify_file_digest(
    key: &PublicKey,
    file: &Path,
    digest: &[u8; 32],
) -> Result<(), VerifyError> {
    let signature = signature_path(file);
    // A signature is ~100 bytes; refuse to read a huge file in its place.
    if std::fs::metadata(&signature).is_ok_and(|m| m.len() > 64 * 1024) {
        return Err(VerifyError::Malformed {
            signature,
            reason: "larger than 64 KiB".into(),
        });
    }
    let text = match std::fs::read(&signature) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(VerifyError::Missing {
                file: file.to_path_buf(),
                signature,
            })
        }
        Err(source) => {
            return Err(VerifyError::Read {
                path: signature,
                source,
            })
        }
    };
    let malformed = |reason: &str| VerifyError::Malformed {
        signature: signature.clone(),
        reason: reason.to_string(),
    };
    // cosign writes base64; `cosign sign-blob` to a terminal adds a newline; raw DER is accepted too.
    let trimmed: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(&trimmed)
        .unwrap_or(text);
    let parsed = p256::ecdsa::DerSignature::try_from(der.as_slice())
        .map_err(|_| malformed("not a DER-encoded ECDSA P-256 signature"))?;
    key.verifying_key()
        .verify_prehash(digest, &parsed)
        .map_err(|_| VerifyError::Mismatch {
            file: file.to_path_buf(),
        })
}

/// Signs every file on up to `jobs` threads. Every file is read and signed before any
/// `.sig` is written: one unreadable file fails the whole call with nothing written.
pub fn sign_files(
    signer: &dyn Signer,
    files: &[PathBuf],
    jobs: usize,
) -> Result<Vec<PathBuf>, SignError> {
    let signatures: Vec<Signature> =
        krel_fs::parallel_map(files, jobs, |file| sign_only(signer, file))
            .into_iter()
            .collect::<Result<_, _>>()?;
    files
        .iter()
        .zip(&signatures)
        .map(|(file, signature)| write_signature(file, signature))
        .collect()
}

/// Verifies every file on up to `jobs` threads; one result per file, in order.
pub fn verify_files(
    key: &PublicKey,
    files: &[PathBuf],
    jobs: usize,
) -> Vec<Result<(), VerifyError>> {
    krel_fs::parallel_map(files, jobs, |file| verify_file(key, file))
}

/// Writes a file atomically: signatures mode 0644 and replaced; keys (`mode` given) never
/// replace an existing file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: Option<u32>) -> Result<(), SignError> {
    let replace = if mode.is_some() {
        krel_fs::Replace::Never
    } else {
        krel_fs::Replace::Always
    };
    krel_fs::write_atomic(path, bytes, mode.unwrap_or(0o644), replace).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            SignError::Exists {
                path: path.to_path_buf(),
            }
        } else {
            SignError::Write {
                path: path.to_path_buf(),
                source,
            }
        }
    })
}
