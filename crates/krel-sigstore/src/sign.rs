//! Making bundles: a message signature over a file's SHA-256, or a DSSE envelope around an
//! in-toto statement.

use base64::Engine;
use sha2::{Digest, Sha256};
use sigstore_bundle::{BundleV03, VerificationMaterialV03};
use sigstore_types::bundle::{MessageDigest, MessageSignature, SignatureContent};
use sigstore_types::{
    Bundle, DigestBytes, DsseEnvelope, DsseSignature, HashAlgorithm, KeyId, PayloadBytes,
    SignatureBytes,
};

use crate::BundleError;

/// The DSSE payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// Something that makes Sigstore bundles.
pub trait BundleSigner: Sync {
    /// A bundle holding a signature over a SHA-256 digest (a `messageSignature`).
    fn sign_digest(&self, digest: &[u8; 32]) -> Result<Bundle, BundleError>;
    /// A bundle holding a DSSE envelope whose payload is `statement`, an in-toto statement.
    fn sign_statement(&self, statement: &[u8]) -> Result<Bundle, BundleError>;
    /// What signs, for messages.
    fn describe(&self) -> String;
    /// The same signer for what has no bundle (cosign image signatures), when it has one:
    /// keyless signing does not (yet) sign images.
    fn detached(&self) -> Option<&dyn krel_sign::Signer>;
}

/// Makes bundles with a key: the bundle names the key by a hint (the base64 SHA-256 of its
/// DER public key, as cosign writes it) and has no transparency-log entry.
pub struct KeyBundleSigner {
    signer: krel_sign::KeySigner,
    hint: String,
}

impl KeyBundleSigner {
    /// Bundles signed by `signer`.
    pub fn new(signer: krel_sign::KeySigner) -> Result<Self, BundleError> {
        let der = signer.public_key().to_der()?;
        let hint = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(der));
        Ok(Self { signer, hint })
    }

    /// The key, for what signs without bundles (image signatures, `.sig` files).
    pub fn key(&self) -> &krel_sign::KeySigner {
        &self.signer
    }

    fn bundle(&self, content: SignatureContent) -> Bundle {
        BundleV03::new(
            VerificationMaterialV03::PublicKey {
                hint: self.hint.clone(),
            },
            content,
        )
        .into_bundle()
    }
}

impl BundleSigner for KeyBundleSigner {
    fn sign_digest(&self, digest: &[u8; 32]) -> Result<Bundle, BundleError> {
        let signature = krel_sign::Signer::sign_digest(&self.signer, digest)?;
        let message =
            MessageSignature::new(SignatureBytes::new(signature.der)).with_message_digest(
                MessageDigest::new(HashAlgorithm::Sha2256, DigestBytes::new(digest.to_vec())),
            );
        Ok(self.bundle(SignatureContent::MessageSignature(message)))
    }

    fn sign_statement(&self, statement: &[u8]) -> Result<Bundle, BundleError> {
        let pae = sigstore_types::pae(IN_TOTO_PAYLOAD_TYPE, statement);
        let signature = krel_sign::Signer::sign_digest(&self.signer, &Sha256::digest(&pae).into())?;
        let envelope = DsseEnvelope::new(
            IN_TOTO_PAYLOAD_TYPE,
            PayloadBytes::from_bytes(statement),
            DsseSignature::new(SignatureBytes::new(signature.der), KeyId::default()),
        );
        Ok(self.bundle(SignatureContent::DsseEnvelope(envelope)))
    }

    fn describe(&self) -> String {
        krel_sign::Signer::describe(&self.signer)
    }

    fn detached(&self) -> Option<&dyn krel_sign::Signer> {
        Some(&self.signer)
    }
}

/// Signs `statement` (an in-toto statement: `_type`, `subject`, `predicateType`) as a DSSE
/// attestation. The statement is checked first: a verifier binds the attestation to
/// artifacts through its subjects, so a statement without any is refused.
pub fn attest(signer: &dyn BundleSigner, statement: &[u8]) -> Result<Bundle, BundleError> {
    let parsed: sigstore_types::Statement =
        serde_json::from_slice(statement).map_err(|err| BundleError::Statement {
            reason: err.to_string(),
        })?;
    if parsed.subject.is_empty() {
        return Err(BundleError::Statement {
            reason: "it has no subjects".into(),
        });
    }
    signer.sign_statement(statement)
}
