//! Reading, generating and writing P-256 keys in the formats cosign and openssl use.

use std::path::Path;

use p256::pkcs8::der::pem;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use sha2::{Digest, Sha256};

use crate::cosign;
use crate::{write_atomic, KeySigner, Secret, SignError};

/// A P-256 public key, as `cosign.pub` holds it (`PUBLIC KEY` PEM, SubjectPublicKeyInfo).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    key: p256::ecdsa::VerifyingKey,
}

impl PublicKey {
    pub(crate) fn from_verifying_key(key: p256::ecdsa::VerifyingKey) -> PublicKey {
        PublicKey { key }
    }

    pub(crate) fn verifying_key(&self) -> &p256::ecdsa::VerifyingKey {
        &self.key
    }

    /// True when `der` (a DER-encoded ECDSA signature) signs the SHA-256 `digest` with this key.
    pub fn verifies_digest(&self, digest: &[u8; 32], der: &[u8]) -> bool {
        use p256::ecdsa::signature::hazmat::PrehashVerifier;
        p256::ecdsa::DerSignature::try_from(der)
            .is_ok_and(|signature| self.key.verify_prehash(digest, &signature).is_ok())
    }

    /// Reads a `PUBLIC KEY` PEM.
    pub fn from_pem(text: &str) -> Result<PublicKey, SignError> {
        use p256::pkcs8::DecodePublicKey;
        let (label, _) =
            pem::decode_vec(text.trim().as_bytes()).map_err(|_| SignError::BadKey {
                reason: "not a PEM file (expected -----BEGIN PUBLIC KEY-----)".into(),
            })?;
        if label != "PUBLIC KEY" {
            return Err(SignError::BadKey {
                reason: format!("a public key is a `PUBLIC KEY` PEM, not `{label}`"),
            });
        }
        let key = p256::ecdsa::VerifyingKey::from_public_key_pem(text.trim()).map_err(|_| {
            SignError::BadKey {
                reason: "not an ECDSA P-256 public key".into(),
            }
        })?;
        Ok(PublicKey { key })
    }

    /// Reads a public key file.
    pub fn from_file(path: &Path) -> Result<PublicKey, SignError> {
        let text = std::fs::read_to_string(path).map_err(|source| SignError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        PublicKey::from_pem(&text)
    }

    /// The `PUBLIC KEY` PEM.
    pub fn to_pem(&self) -> Result<String, SignError> {
        self.key
            .to_public_key_pem(LineEnding::LF)
            .map_err(|_| SignError::BadKey {
                reason: "cannot encode the public key".into(),
            })
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn to_der(&self) -> Result<Vec<u8>, SignError> {
        self.key
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|_| SignError::BadKey {
                reason: "cannot encode the public key".into(),
            })
    }

    /// The first 16 hex digits of the SHA-256 of the SubjectPublicKeyInfo: a short key id.
    pub fn fingerprint(&self) -> String {
        let der = self
            .key
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default();
        let digest = Sha256::digest(&der);
        let mut hex = String::new();
        for byte in &digest[..8] {
            hex.push_str(&format!("{byte:02x}"));
        }
        hex
    }
}

/// A new key pair in cosign's format.
pub struct KeyPair {
    /// `ENCRYPTED SIGSTORE PRIVATE KEY` PEM (as cosign.key).
    pub private_pem: Secret,
    /// `PUBLIC KEY` PEM (as cosign.pub).
    pub public_pem: String,
}

impl KeyPair {
    /// Writes `<prefix>.key` (mode 0600) and `<prefix>.pub`, refusing to overwrite either.
    pub fn write(
        &self,
        prefix: &Path,
    ) -> Result<(std::path::PathBuf, std::path::PathBuf), SignError> {
        let private = with_suffix(prefix, "key");
        let public = with_suffix(prefix, "pub");
        for path in [&private, &public] {
            if path.exists() {
                return Err(SignError::Exists { path: path.clone() });
            }
        }
        write_atomic(&private, self.private_pem.expose().as_bytes(), Some(0o600))?;
        write_atomic(&public, self.public_pem.as_bytes(), Some(0o644))?;
        Ok((private, public))
    }
}

fn with_suffix(prefix: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    name.into()
}

/// A fresh P-256 key pair, the private key encrypted with `password` as cosign does.
pub fn generate_key_pair(password: &Secret) -> Result<KeyPair, SignError> {
    let secret = loop {
        let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut()).map_err(|_| SignError::Random)?;
        // Out-of-range scalars (zero, or not below the group order) are astronomically rare.
        if let Ok(key) = p256::SecretKey::from_slice(bytes.as_ref()) {
            break key;
        }
    };
    let der = secret.to_pkcs8_der().map_err(|_| SignError::BadKey {
        reason: "cannot encode the new key".into(),
    })?;
    let private_pem = cosign::encrypt(der.as_bytes(), password)?;
    let public = PublicKey::from_verifying_key(
        p256::ecdsa::SigningKey::from(&secret)
            .verifying_key()
            .to_owned(),
    );
    Ok(KeyPair {
        private_pem,
        public_pem: public.to_pem()?,
    })
}

/// Reads a private key from PEM text. `password` is asked for only when the key is encrypted.
pub fn load_signing_key(
    text: &str,
    password: &dyn Fn() -> Result<Secret, SignError>,
) -> Result<KeySigner, SignError> {
    let bad = |reason: &str| SignError::BadKey {
        reason: reason.to_string(),
    };
    let (label, body) = pem::decode_vec(text.trim().as_bytes())
        .map_err(|_| bad("not a PEM file (expected -----BEGIN ... PRIVATE KEY-----)"))?;
    let body = zeroize::Zeroizing::new(body);
    let secret = match label {
        cosign::LABEL | cosign::LEGACY_LABEL => {
            let der = cosign::decrypt(&body, &password()?)?;
            p256::SecretKey::from_pkcs8_der(&der)
                .map_err(|_| bad("the decrypted key is not an ECDSA P-256 PKCS#8 key"))?
        }
        "PRIVATE KEY" => p256::SecretKey::from_pkcs8_der(&body)
            .map_err(|_| bad("not an ECDSA P-256 key (PKCS#8 of another algorithm or curve)"))?,
        "EC PRIVATE KEY" => p256::SecretKey::from_sec1_der(&body)
            .map_err(|_| bad("not an ECDSA P-256 key (SEC1 of another curve)"))?,
        "ENCRYPTED PRIVATE KEY" => {
            return Err(bad(
                "PKCS#8-encrypted keys are not supported: use a cosign key, or decrypt it with `openssl pkcs8`",
            ))
        }
        other => return Err(bad(&format!("a `{other}` PEM is not a private key"))),
    };
    Ok(KeySigner {
        key: p256::ecdsa::SigningKey::from(&secret),
    })
}
