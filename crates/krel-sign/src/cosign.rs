//! cosign's encrypted private key format (sigstore/cosign `pkg/cosign/keys.go`, encryption from
//! go-securesystemslib `encrypted`): a PEM whose body is JSON
//! `{"kdf":{"name":"scrypt","params":{"N":…,"r":8,"p":1},"salt":…},"cipher":{"name":"nacl/secretbox","nonce":…},"ciphertext":…}`
//! with standard base64 fields; the key is scrypt(password, salt) (32 bytes), the cipher NaCl
//! secretbox (XSalsa20-Poly1305, tag first), the plaintext the PKCS#8 DER of the private key.

use base64::Engine;
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use p256::pkcs8::der::pem::{self, LineEnding};
use zeroize::Zeroizing;

use crate::{Secret, SignError};

/// The PEM label cosign writes today.
pub(crate) const LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
/// The PEM label of older cosign keys, still read.
pub(crate) const LEGACY_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";

/// scrypt N written for new keys (cosign's current default).
const NEW_N: u64 = 65536;
/// scrypt N values accepted (as go-securesystemslib); larger ones are refused (denial of service).
const ACCEPTED_N: [u64; 3] = [32768, 65536, 131072];

#[derive(serde::Serialize, serde::Deserialize)]
struct EncryptedKey {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ScryptParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

fn derive(
    password: &Secret,
    salt: &[u8],
    n: u64,
    r: u32,
    p: u32,
) -> Result<Zeroizing<[u8; 32]>, SignError> {
    let bad = |reason: &str| SignError::BadKey {
        reason: reason.to_string(),
    };
    if !ACCEPTED_N.contains(&n) || r != 8 || p != 1 {
        return Err(bad(
            "unsupported scrypt parameters (expected N of 32768, 65536 or 131072, r=8, p=1)",
        ));
    }
    let log_n = n.trailing_zeros() as u8;
    let params = scrypt::Params::new(log_n, r, p).map_err(|_| bad("invalid scrypt parameters"))?;
    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(password.expose().as_bytes(), salt, &params, key.as_mut())
        .map_err(|_| bad("scrypt failed"))?;
    Ok(key)
}

/// Encrypts a PKCS#8 DER key into cosign's PEM.
pub(crate) fn encrypt(der: &[u8], password: &Secret) -> Result<Secret, SignError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut salt = [0u8; 32];
    let mut nonce = [0u8; 24];
    getrandom::fill(&mut salt).map_err(|_| SignError::Random)?;
    getrandom::fill(&mut nonce).map_err(|_| SignError::Random)?;
    let key = derive(password, &salt, NEW_N, 8, 1)?;
    let cipher = XSalsa20Poly1305::new(key.as_ref().into());
    let ciphertext = cipher
        .encrypt(&nonce.into(), der)
        .map_err(|_| SignError::BadKey {
            reason: "encryption failed".into(),
        })?;
    let document = EncryptedKey {
        kdf: Kdf {
            name: "scrypt".into(),
            params: ScryptParams {
                n: NEW_N,
                r: 8,
                p: 1,
            },
            salt: b64.encode(salt),
        },
        cipher: Cipher {
            name: "nacl/secretbox".into(),
            nonce: b64.encode(nonce),
        },
        ciphertext: b64.encode(ciphertext),
    };
    let json = serde_json::to_vec(&document).map_err(|_| SignError::BadKey {
        reason: "cannot encode the key".into(),
    })?;
    let text = pem::encode_string(LABEL, LineEnding::LF, &json).map_err(|_| SignError::BadKey {
        reason: "cannot encode the key as PEM".into(),
    })?;
    Ok(Secret::new(text))
}

/// Decrypts the JSON body of a cosign PEM into PKCS#8 DER.
pub(crate) fn decrypt(body: &[u8], password: &Secret) -> Result<Zeroizing<Vec<u8>>, SignError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let bad = |reason: &str| SignError::BadKey {
        reason: reason.to_string(),
    };
    let document: EncryptedKey = serde_json::from_slice(body)
        .map_err(|_| bad("the encrypted key's JSON is not in cosign's format"))?;
    if document.kdf.name != "scrypt" {
        return Err(bad(&format!(
            "unsupported key derivation `{}`",
            document.kdf.name
        )));
    }
    if document.cipher.name != "nacl/secretbox" {
        return Err(bad(&format!(
            "unsupported cipher `{}`",
            document.cipher.name
        )));
    }
    let salt = b64
        .decode(&document.kdf.salt)
        .map_err(|_| bad("the salt is not base64"))?;
    let nonce = b64
        .decode(&document.cipher.nonce)
        .map_err(|_| bad("the nonce is not base64"))?;
    let nonce: [u8; 24] = nonce
        .try_into()
        .map_err(|_| bad("the nonce is not 24 bytes"))?;
    let ciphertext = b64
        .decode(&document.ciphertext)
        .map_err(|_| bad("the ciphertext is not base64"))?;
    let params = &document.kdf.params;
    let key = derive(password, &salt, params.n, params.r, params.p)?;
    let cipher = XSalsa20Poly1305::new(key.as_ref().into());
    let plain = cipher
        .decrypt(&nonce.into(), ciphertext.as_slice())
        .map_err(|_| SignError::WrongPassword)?;
    Ok(Zeroizing::new(plain))
}
