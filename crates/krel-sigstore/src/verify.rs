//! Verifying one bundle: the artifact, the expected signer, the trusted root.

use std::path::Path;

use sigstore_crypto::VerificationKey;
use sigstore_trust_root::{TrustedRoot, SIGSTORE_PRODUCTION_TRUSTED_ROOT};
use sigstore_types::bundle::{SignatureContent, VerificationMaterialContent};
use sigstore_types::{Bundle, DerPublicKey, Sha256Hash};
use sigstore_verify::{PublicKeyVerificationPolicy, VerificationPolicy, Verifier};

use crate::BundleError;

/// The roots of trust: certificate authorities, transparency logs, CT logs and timestamp
/// authorities, from a `trusted_root.json`.
pub struct Trust {
    verifier: Verifier,
    what: String,
}

impl Trust {
    /// Sigstore's public-good instance (the root `sigstore-trust-root` carries).
    pub fn public_good() -> Result<Trust, BundleError> {
        Trust::from_json(SIGSTORE_PRODUCTION_TRUSTED_ROOT, "public-good (embedded)")
    }

    /// A `trusted_root.json` file.
    pub fn from_file(path: &Path) -> Result<Trust, BundleError> {
        let text = std::fs::read_to_string(path).map_err(|source| BundleError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Trust::from_json(&text, &path.display().to_string())
    }

    /// A trusted root in JSON; `what` names it in messages.
    pub fn from_json(json: &str, what: &str) -> Result<Trust, BundleError> {
        let bad = |reason: String| BundleError::TrustedRoot {
            what: what.to_string(),
            reason,
        };
        let root = TrustedRoot::from_json(json).map_err(|err| bad(err.to_string()))?;
        let verifier = Verifier::new(&root).map_err(|err| bad(err.to_string()))?;
        Ok(Trust {
            verifier,
            what: what.to_string(),
        })
    }

    /// Where the root came from.
    pub fn describe(&self) -> &str {
        &self.what
    }
}

/// A string matched exactly or by a regular expression (anchored, as cosign's `-regexp`
/// flags: the whole value must match).
#[derive(Clone, Debug)]
pub enum Matcher {
    /// Equal to this.
    Exact(String),
    /// Matches this expression.
    Regex(regex::Regex),
}

impl Matcher {
    /// An anchored regular expression; an invalid one is a [`BundleError::Key`]-like usage
    /// error naming the expression.
    pub fn regex(expression: &str) -> Result<Matcher, String> {
        regex::Regex::new(&format!("^(?:{expression})$"))
            .map(Matcher::Regex)
            .map_err(|err| format!("{expression:?} is not a regular expression: {err}"))
    }

    fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(expected) => expected == value,
            Matcher::Regex(expression) => expression.is_match(value),
        }
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Matcher::Exact(value) => write!(f, "{value}"),
            Matcher::Regex(expression) => write!(f, "/{}/", expression.as_str()),
        }
    }
}

/// Who must have signed.
#[derive(Clone, Debug)]
pub enum Expected {
    /// The holder of this public key (`PUBLIC KEY` PEM).
    Key(DerPublicKey),
    /// A certificate issued for this identity (the SAN: an email or URI) by this OIDC issuer.
    Identity {
        /// The certificate's subject alternative name.
        identity: Matcher,
        /// The OIDC issuer recorded in the certificate.
        issuer: Matcher,
    },
}

impl Expected {
    /// A public key from its PEM; `what` names it in messages.
    pub fn key_pem(pem: &str, what: &str) -> Result<Expected, BundleError> {
        DerPublicKey::from_pem(pem)
            .map(Expected::Key)
            .map_err(|err| BundleError::Key {
                what: what.to_string(),
                reason: err.to_string(),
            })
    }

    /// What the signer must be, for reports.
    pub fn describe(&self) -> String {
        match self {
            Expected::Key(_) => "the given public key".into(),
            Expected::Identity { identity, issuer } => {
                format!("identity {identity} from issuer {issuer}")
            }
        }
    }
}

/// What is verified against a bundle.
#[derive(Clone, Copy, Debug)]
pub enum Subject<'a> {
    /// The bytes of the artifact.
    Bytes(&'a [u8]),
    /// The artifact's file, read to the end.
    File(&'a Path),
    /// The artifact's SHA-256.
    Digest([u8; 32]),
}

/// `sha256:<64 hex digits>` as bytes; anything else is not a digest.
pub fn parse_sha256(text: &str) -> Option<[u8; 32]> {
    let digits = text.strip_prefix("sha256:")?;
    hex::decode(digits).ok()?.try_into().ok()
}

/// What a verified bundle said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The certificate's identity, for a certificate bundle.
    pub identity: Option<String>,
    /// The certificate's OIDC issuer, for a certificate bundle.
    pub issuer: Option<String>,
    /// Whether a transparency-log entry was verified (inclusion proof or promise).
    pub transparency_log: bool,
    /// For a DSSE attestation: the statement, exactly as signed.
    pub statement: Option<Vec<u8>>,
}

/// Parses a bundle; `what` names it in messages.
pub fn parse(json: &str, what: &str) -> Result<Bundle, BundleError> {
    Bundle::from_json(json).map_err(|err| BundleError::Malformed {
        what: what.to_string(),
        reason: err.to_string(),
    })
}

/// Verifies the bundle `json` (named `what` in messages) for `subject`, signed as `expected`
/// says, under `trust`. A key-based bundle without a transparency-log entry (what krel writes
/// with a key: no public log holds a private project's signatures) verifies by the key alone;
/// every entry a bundle does carry is verified.
pub fn verify(
    subject: Subject<'_>,
    json: &str,
    what: &str,
    expected: &Expected,
    trust: &Trust,
) -> Result<Verified, BundleError> {
    let bundle = parse(json, what)?;
    let rejected = |check: String| BundleError::Rejected {
        what: what.to_string(),
        check,
    };
    let result = match expected {
        Expected::Key(key) if without_evidence(&bundle) => {
            verify_key_only(subject, &bundle, key).map_err(rejected)?;
            return Ok(Verified {
                identity: None,
                issuer: None,
                transparency_log: false,
                statement: statement_of(&bundle),
            });
        }
        Expected::Key(key) => {
            let mut policy = PublicKeyVerificationPolicy::new(key.clone());
            if bundle.verification_material.tlog_entries.is_empty() {
                policy = policy.skip_tlog_unsafe();
            }
            run(&trust.verifier, subject, &bundle, &policy)
        }
        Expected::Identity { identity, issuer } => {
            if !matches!(
                bundle.verification_material.content,
                VerificationMaterialContent::Certificate(_)
                    | VerificationMaterialContent::X509CertificateChain { .. }
            ) {
                return Err(rejected(
                    "signed with a key, not a certificate: verify it with --key".into(),
                ));
            }
            let policy = policy_for(identity, issuer);
            run(&trust.verifier, subject, &bundle, &policy)
        }
    }
    .map_err(|err| rejected(err.to_string()))?;
    check_claims(expected, &result).map_err(rejected)?;
    Ok(Verified {
        identity: result.identity().map(|i| i.as_str().to_string()),
        issuer: result.issuer().map(str::to_string),
        transparency_log: result.tlog_verified(),
        statement: statement_of(&bundle),
    })
}

fn statement_of(bundle: &Bundle) -> Option<Vec<u8>> {
    match &bundle.content {
        SignatureContent::DsseEnvelope(envelope) => Some(envelope.payload.as_bytes().to_vec()),
        _ => None,
    }
}

/// A bundle with neither a transparency-log entry nor a timestamp: what a key signs without a
/// public log. `sigstore-verify` requires evidence of the signing time, which such a bundle
/// cannot have, so its signature is checked here with the key alone (the signing time is then
/// not established; the report says no log entry was verified).
fn without_evidence(bundle: &Bundle) -> bool {
    bundle.verification_material.tlog_entries.is_empty()
        && bundle
            .verification_material
            .timestamp_verification_data
            .rfc3161_timestamps
            .is_empty()
}

fn verify_key_only(
    subject: Subject<'_>,
    bundle: &Bundle,
    key: &DerPublicKey,
) -> Result<(), String> {
    let key =
        VerificationKey::from_spki(key).map_err(|err| format!("unusable public key: {err}"))?;
    let digest = sha256_of(subject)?;
    match &bundle.content {
        SignatureContent::MessageSignature(message) => {
            if let Some(recorded) = &message.message_digest {
                if recorded.digest.as_bytes() != digest.as_slice() {
                    return Err(
                        "artifact mismatch: message digest in bundle does not match artifact hash"
                            .into(),
                    );
                }
            }
            key.verify_prehashed(&digest, &message.signature)
                .map_err(|err| format!("invalid signature: signature verification failed: {err}"))
        }
        SignatureContent::DsseEnvelope(envelope) => {
            if envelope.payload_type != crate::IN_TOTO_PAYLOAD_TYPE {
                return Err(format!(
                    "unsupported DSSE payload type {:?}",
                    envelope.payload_type
                ));
            }
            key.verify(envelope.pae(), &envelope.signature.sig)
                .map_err(|err| {
                    format!("invalid signature: DSSE signature verification failed: {err}")
                })?;
            let statement: sigstore_types::Statement =
                serde_json::from_slice(envelope.payload.as_bytes())
                    .map_err(|err| format!("invalid bundle: not an in-toto statement: {err}"))?;
            if statement.matches_sha256(&Sha256Hash::from(digest)) {
                Ok(())
            } else {
                Err("artifact mismatch: the artifact is not a subject of the attestation".into())
            }
        }
        _ => Err("unsupported bundle content".into()),
    }
}

/// The SHA-256 of the subject, streaming a file.
fn sha256_of(subject: Subject<'_>) -> Result<[u8; 32], String> {
    use sha2::Digest;
    match subject {
        Subject::Bytes(bytes) => Ok(sha2::Sha256::digest(bytes).into()),
        Subject::Digest(digest) => Ok(digest),
        Subject::File(path) => {
            krel_sign::sha256_file(path).map_err(|err| format!("reading {}: {err}", path.display()))
        }
    }
}

/// Verifies an attestation bundle on its own and returns its in-toto statement, for a caller
/// that checks the subjects itself (all of them, against files it has): the signature is
/// checked with the statement's first SHA-256 subject as the artifact.
pub fn verify_statement(
    json: &str,
    what: &str,
    expected: &Expected,
    trust: &Trust,
) -> Result<Vec<u8>, BundleError> {
    let rejected = |check: &str| BundleError::Rejected {
        what: what.to_string(),
        check: check.to_string(),
    };
    let bundle = parse(json, what)?;
    let statement =
        statement_of(&bundle).ok_or_else(|| rejected("not an attestation (no DSSE envelope)"))?;
    let parsed: sigstore_types::Statement = serde_json::from_slice(&statement)
        .map_err(|err| rejected(&format!("not an in-toto statement: {err}")))?;
    let digest = parsed
        .subject
        .iter()
        .find_map(|s| s.digest.sha256)
        .ok_or_else(|| rejected("the statement has no SHA-256 subject"))?;
    verify(
        Subject::Digest(*digest.as_bytes()),
        json,
        what,
        expected,
        trust,
    )?;
    Ok(statement)
}

/// Exact matches go to the library's policy; regular expressions are checked afterwards on
/// the verified certificate's claims.
fn policy_for(identity: &Matcher, issuer: &Matcher) -> VerificationPolicy {
    let mut policy = VerificationPolicy::any_identity();
    if let Matcher::Exact(identity) = identity {
        policy = policy.require_identity(identity.as_str());
    }
    if let Matcher::Exact(issuer) = issuer {
        policy = policy.require_issuer(issuer.as_str());
    }
    policy
}

fn check_claims(
    expected: &Expected,
    result: &sigstore_verify::VerificationResult,
) -> Result<(), String> {
    let Expected::Identity { identity, issuer } = expected else {
        return Ok(());
    };
    let actual = result.identity().map(|i| i.as_str()).unwrap_or("");
    if !identity.matches(actual) {
        return Err(format!(
            "identity mismatch: expected {identity}, got {actual:?}"
        ));
    }
    let actual = result.issuer().unwrap_or("");
    if !issuer.matches(actual) {
        return Err(format!(
            "issuer mismatch: expected {issuer}, got {actual:?}"
        ));
    }
    Ok(())
}

fn run(
    verifier: &Verifier,
    subject: Subject<'_>,
    bundle: &Bundle,
    policy: &(impl sigstore_verify::Policy + ?Sized),
) -> Result<sigstore_verify::VerificationResult, String> {
    match subject {
        Subject::Bytes(bytes) => verifier.verify(bytes, bundle, policy),
        Subject::Digest(digest) => verifier.verify(Sha256Hash::from(digest), bundle, policy),
        Subject::File(path) => {
            let file = std::fs::File::open(path)
                .map_err(|err| format!("reading {}: {err}", path.display()))?;
            verifier.verify_reader(
                std::io::BufReader::with_capacity(256 * 1024, file),
                bundle,
                policy,
            )
        }
    }
    .map_err(|err| err.to_string())
}
