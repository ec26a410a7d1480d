//! The stand-in's keys: ECDSA P-256 through the same crypto provider the verifiers use.

use sha2::{Digest, Sha256};
use sigstore_crypto::KeyPair;

/// A P-256 key with its SubjectPublicKeyInfo.
pub(crate) struct Key {
    pair: KeyPair,
    /// DER SubjectPublicKeyInfo.
    pub(crate) spki: Vec<u8>,
}

impl Key {
    /// A fresh key.
    pub(crate) fn generate() -> Key {
        #[allow(clippy::expect_used)] // the system's randomness; nothing a user controls
        let pair = KeyPair::generate_ecdsa_p256().expect("generating a P-256 key");
        #[allow(clippy::expect_used)]
        let spki = pair
            .public_key_der()
            .expect("encoding a public key")
            .as_bytes()
            .to_vec();
        Key { pair, spki }
    }

    /// A DER ECDSA-SHA256 signature over `data`.
    pub(crate) fn sign(&self, data: &[u8]) -> Vec<u8> {
        #[allow(clippy::expect_used)]
        self.pair
            .sign(data)
            .expect("signing with a P-256 key")
            .as_bytes()
            .to_vec()
    }

    /// SHA-256 of the SubjectPublicKeyInfo: a log's ID, a CA's key identifier.
    pub(crate) fn id(&self) -> [u8; 32] {
        Sha256::digest(&self.spki).into()
    }
}
