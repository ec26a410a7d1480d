//! OpenPGP signing for packages and repositories: an ASCII-armored secret key signs RPMs,
//! apt's `InRelease` (clear-signed) and `Release.gpg`, and yum's `repomd.xml.asc` (detached).

use std::path::{Path, PathBuf};

use pgp::composed::{
    ArmorOptions, CleartextSignedMessage, Deserializable, DetachedSignature, SignedSecretKey,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::types::{KeyDetails, Password};

use crate::PackageError;

/// A secret key that signs packages and repository metadata. Never printed.
pub struct SigningKey {
    path: PathBuf,
    armored: String,
    key: SignedSecretKey,
    passphrase: Option<String>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("path", &self.path)
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

impl SigningKey {
    /// Reads an ASCII-armored OpenPGP secret key (`gpg --armor --export-secret-keys`).
    /// `passphrase` unlocks a protected key.
    pub fn load(path: &Path, passphrase: Option<String>) -> Result<SigningKey, PackageError> {
        let fail = |message: String| PackageError::Key {
            path: path.to_path_buf(),
            message,
        };
        let armored =
            std::fs::read_to_string(path).map_err(|err| fail(format!("cannot read it: {err}")))?;
        let (key, _) = SignedSecretKey::from_string(&armored).map_err(|err| {
            fail(format!(
                "not an ASCII-armored OpenPGP secret key ({err}); export one with `gpg --armor --export-secret-keys KEYID`"
            ))
        })?;
        key.verify_bindings()
            .map_err(|err| fail(format!("its self-signatures do not verify: {err}")))?;
        let signing_key = SigningKey {
            path: path.to_path_buf(),
            armored,
            key,
            passphrase,
        };
        // Sign once now, so a wrong passphrase or unusable key stops the run before any package.
        if let Err(err) = signing_key.detached(b"krel") {
            let protected = signing_key.key.primary_key.secret_params().is_encrypted();
            return Err(match (protected, &signing_key.passphrase) {
                (true, Some(_)) => {
                    fail("the passphrase in KREL_PACKAGE_KEY_PASSPHRASE does not unlock it".into())
                }
                (true, None) => fail(
                    "it is protected by a passphrase, and KREL_PACKAGE_KEY_PASSPHRASE is not set"
                        .into(),
                ),
                (false, _) => err,
            });
        }
        Ok(signing_key)
    }

    fn password(&self) -> Password {
        self.passphrase
            .as_deref()
            .map(Password::from)
            .unwrap_or_else(Password::empty)
    }

    fn sign_error(&self, err: impl std::fmt::Display) -> PackageError {
        let hint = if self.passphrase.is_none() {
            " (if the key is protected, set KREL_PACKAGE_KEY_PASSPHRASE)"
        } else {
            ""
        };
        PackageError::Key {
            path: self.path.clone(),
            message: format!("cannot sign with it: {err}{hint}"),
        }
    }

    /// The primary key's fingerprint, upper-case hex.
    pub fn fingerprint(&self) -> String {
        format!("{:X}", self.key.primary_key.fingerprint())
    }

    /// The public key, ASCII-armored, for users to import (`Release.key`, `repomd.xml.key`).
    pub fn public_key_armored(&self) -> Result<String, PackageError> {
        self.key
            .to_public_key()
            .to_armored_string(ArmorOptions::default())
            .map_err(|err| self.sign_error(err))
    }

    /// The signer the `rpm` crate takes.
    pub fn rpm_signer(&self) -> Result<rpm::signature::pgp::Signer, PackageError> {
        let signer = rpm::signature::pgp::Signer::from_asc(&self.armored)
            .map_err(|err| self.sign_error(err))?;
        Ok(match &self.passphrase {
            Some(passphrase) => signer.with_key_passphrase(passphrase.clone()),
            None => signer,
        })
    }

    /// An armored detached signature of `data` (`Release.gpg`, `repomd.xml.asc`).
    pub fn detached(&self, data: &[u8]) -> Result<String, PackageError> {
        let rng = rand::thread_rng();
        let signature = match self.signing_subkey() {
            Some(subkey) => DetachedSignature::sign_binary_data(
                rng,
                subkey,
                &self.password(),
                HashAlgorithm::Sha256,
                data,
            ),
            None => DetachedSignature::sign_binary_data(
                rng,
                &self.key.primary_key,
                &self.password(),
                HashAlgorithm::Sha256,
                data,
            ),
        }
        .map_err(|err| self.sign_error(err))?;
        signature
            .to_armored_string(ArmorOptions::default())
            .map_err(|err| self.sign_error(err))
    }

    /// `text` clear-signed (`InRelease`).
    pub fn clearsign(&self, text: &str) -> Result<String, PackageError> {
        let rng = rand::thread_rng();
        let message = match self.signing_subkey() {
            Some(subkey) => CleartextSignedMessage::sign(rng, text, subkey, &self.password()),
            None => {
                CleartextSignedMessage::sign(rng, text, &self.key.primary_key, &self.password())
            }
        }
        .map_err(|err| self.sign_error(err))?;
        message
            .to_armored_string(ArmorOptions::default())
            .map_err(|err| self.sign_error(err))
    }

    /// The first subkey flagged for signing, which gpg and apt prefer to the primary key.
    fn signing_subkey(&self) -> Option<&pgp::packet::SecretSubkey> {
        self.key
            .secret_subkeys
            .iter()
            .find(|sub| sub.signatures.iter().any(|sig| sig.key_flags().sign()))
            .map(|sub| &sub.key)
    }
}
