//! One file's signatures: its Sigstore bundle and `.sig`, whichever are there (at least one),
//! and attestations about it, against the expected signer.

use std::path::Path;

use krel_sign::PublicKey;
use krel_sigstore::{Expected, Subject, Trust};

use crate::VerifyError;

/// True for what signing writes: `.sig`, `.cert`, `.sigstore.json` (bundles and attestations).
pub fn is_signature(path: &str) -> bool {
    path.ends_with(".sig") || path.ends_with(".cert") || path.ends_with(".sigstore.json")
}

/// The expected signer and the roots of trust.
pub struct Verifier {
    expected: Expected,
    trust: Trust,
    /// The key, when the signer is one: `.sig` files verify with it.
    key: Option<PublicKey>,
}

impl Verifier {
    /// Signatures by `key` (bundles without a log entry verify by the key alone).
    pub fn with_key(key: &PublicKey) -> Result<Verifier, VerifyError> {
        let pem = key.to_pem()?;
        Ok(Verifier {
            expected: Expected::key_pem(&pem, "the release key")?,
            trust: Trust::public_good()?,
            key: Some(key.clone()),
        })
    }

    /// Signatures by `expected` under `trust`. With a P-256 key, `.sig` files are checked too;
    /// otherwise only bundles count.
    pub fn new(expected: Expected, trust: Trust, key: Option<PublicKey>) -> Verifier {
        Verifier {
            expected,
            trust,
            key,
        }
    }

    /// The key, when the signer is one.
    pub fn key(&self) -> Option<&PublicKey> {
        self.key.as_ref()
    }

    /// Checks a bundle (JSON, named `what`) over `bytes` for the expected signer.
    pub fn bundle_over(&self, bytes: &[u8], json: &str, what: &str) -> Result<(), String> {
        krel_sigstore::verify(
            Subject::Bytes(bytes),
            json,
            what,
            &self.expected,
            &self.trust,
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    }

    /// Who must have signed, for reports.
    pub fn describe(&self) -> String {
        match &self.key {
            Some(key) => format!("key {}", key.fingerprint()),
            None => self.expected.describe(),
        }
    }

    /// `dir/relative`'s bundle and `.sig`, each verified when present (the `.sig` only with a
    /// key); one of them must be. `sha256` is the file's digest when already known.
    pub fn signatures(
        &self,
        dir: &Path,
        relative: &str,
        sha256: Option<[u8; 32]>,
    ) -> Result<(), String> {
        let file = dir.join(relative);
        let bundle = krel_sigstore::bundle_path(&file);
        let detached = krel_sign::signature_path(&file);
        let usable_detached = detached.is_file() && self.key.is_some();
        if !bundle.is_file() && !usable_detached {
            return Err(match self.key {
                Some(_) => format!("{relative}: no signature ({relative}.sigstore.json or .sig)"),
                None => format!("{relative}: no Sigstore bundle ({relative}.sigstore.json)"),
            });
        }
        let subject = match &sha256 {
            Some(digest) => Subject::Digest(*digest),
            None => Subject::File(&file),
        };
        if bundle.is_file() {
            let json = std::fs::read_to_string(&bundle)
                .map_err(|e| format!("{relative}.sigstore.json: {e}"))?;
            krel_sigstore::verify(
                subject,
                &json,
                &format!("{relative}.sigstore.json"),
                &self.expected,
                &self.trust,
            )
            .map_err(|e| e.to_string())?;
        }
        if let (true, Some(key)) = (usable_detached, &self.key) {
            let ok = match sha256 {
                Some(digest) => krel_sign::verify_file_digest(key, &file, &digest).is_ok(),
                None => krel_sign::verify_file(key, &file).is_ok(),
            };
            if !ok {
                return Err(format!(
                    "{relative}: its signature ({relative}.sig) does not verify with the key"
                ));
            }
        }
        Ok(())
    }

    /// `<relative>.intoto.sigstore.json`: signed as expected, and its statement is
    /// `relative`'s content (`is_statement`: provenance) or has it as predicate (an SBOM).
    /// Returns whether there was one. A missing attestation is a problem only for a statement
    /// whose file has a bundle (a release made before attestations has neither).
    pub fn attestation(
        &self,
        dir: &Path,
        relative: &str,
        is_statement: bool,
    ) -> Result<bool, String> {
        let file = dir.join(relative);
        let path = krel_sigstore::attestation_path(&file);
        let what = format!("{relative}.intoto.sigstore.json");
        let json = match std::fs::read_to_string(&path) {
            Ok(json) => json,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if is_statement && krel_sigstore::bundle_path(&file).is_file() {
                    return Err(format!("{what}: missing"));
                }
                return Ok(false);
            }
            Err(e) => return Err(format!("{what}: {e}")),
        };
        let statement = krel_sigstore::verify_statement(&json, &what, &self.expected, &self.trust)
            .map_err(|e| e.to_string())?;
        let content = std::fs::read(&file).map_err(|e| format!("{relative}: {e}"))?;
        let same = if is_statement {
            statement == content
        } else {
            let predicate = serde_json::from_slice::<serde_json::Value>(&statement)
                .ok()
                .and_then(|s| s.get("predicate").cloned());
            predicate.is_some() && predicate == serde_json::from_slice(&content).ok()
        };
        if same {
            Ok(true)
        } else {
            Err(format!("{what}: the attested statement is not {relative}"))
        }
    }
}

/// Image signatures: by the key, or by the Sigstore bundle a keyless signature layer carries.
impl krel_image::cosign::PayloadVerifier for Verifier {
    fn verify_payload(
        &self,
        payload: &[u8],
        signature: &str,
        annotations: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), String> {
        if let Some(key) = &self.key {
            return key.verify_payload(payload, signature, annotations);
        }
        let bundle = annotations
            .get(krel_image::cosign::BUNDLE_ANNOTATION)
            .ok_or("a signature has no Sigstore bundle (signed with a key?)")?;
        self.bundle_over(payload, bundle, "an image signature's bundle")
    }
}
