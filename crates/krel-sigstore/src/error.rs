//! Why making or checking a bundle failed.

use std::path::PathBuf;

/// Why making, reading or verifying a Sigstore bundle failed.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The key-based signer failed.
    #[error(transparent)]
    Sign(#[from] krel_sign::SignError),
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
    /// The bundle is not a Sigstore bundle this verifier reads.
    #[error("{what}: not a Sigstore bundle: {reason}")]
    Malformed {
        /// The bundle.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// The trusted root is not usable.
    #[error("trusted root {what}: {reason}")]
    TrustedRoot {
        /// Where it came from.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// The public key is not usable.
    #[error("public key {what}: {reason}")]
    Key {
        /// Where it came from.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// A statement to attest is not an in-toto statement.
    #[error("not an in-toto statement: {reason}")]
    Statement {
        /// What is wrong.
        reason: String,
    },
    /// Keyless signing failed: the identity token, Fulcio or Rekor.
    #[error("keyless signing: {reason}")]
    Keyless {
        /// What went wrong.
        reason: String,
    },
    /// The bundle does not verify; `check` names the check that failed.
    #[error("{what}: {check}")]
    Rejected {
        /// The bundle.
        what: String,
        /// The check that failed and why.
        check: String,
    },
}

impl krel_error::Diagnose for BundleError {
    fn kind(&self) -> krel_error::ErrorKind {
        match self {
            BundleError::Sign(err) => err.kind(),
            BundleError::Rejected { .. } | BundleError::Malformed { .. } => {
                krel_error::ErrorKind::Refused
            }
            BundleError::Read { .. } | BundleError::Write { .. } | BundleError::Keyless { .. } => {
                krel_error::ErrorKind::Unexpected
            }
            _ => krel_error::ErrorKind::Usage,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            BundleError::Sign(err) => err.hint(),
            BundleError::TrustedRoot { .. } => Some(
                "--trusted-root takes a trusted_root.json (Sigstore's TrustedRoot message); without it the public-good root is used".into(),
            ),
            BundleError::Key { .. } => {
                Some("--key takes a `PUBLIC KEY` PEM, such as the .pub of `krel sign generate-key`".into())
            }
            _ => None,
        }
    }
}
