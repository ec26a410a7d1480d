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
        armor(
            &Framed(vec![self.detached_packet(data)?]),
            pgp::armor::BlockType::Signature,
            self,
        )
    }

    /// `text` clear-signed (`InRelease`).
    pub fn clearsign(&self, text: &str) -> Result<String, PackageError> {
        self.clearsigned(text)?
            .to_armored_string(ArmorOptions::default())
            .map_err(|err| self.sign_error(err))
    }

    /// `text` clear-signed by this key, with the signing subkey when there is one.
    fn clearsigned(&self, text: &str) -> Result<CleartextSignedMessage, PackageError> {
        let rng = rand::thread_rng();
        match self.signing_subkey() {
            Some(subkey) => CleartextSignedMessage::sign(rng, text, subkey, &self.password()),
            None => {
                CleartextSignedMessage::sign(rng, text, &self.key.primary_key, &self.password())
            }
        }
        .map_err(|err| self.sign_error(err))
    }

    /// When the key can no longer sign (Unix seconds): the earlier of its primary key's and its
    /// signing subkey's expiry, each from its most recent self-signature; `None` when neither
    /// expires.
    pub fn expires_at(&self) -> Option<u64> {
        let primary = self.key.primary_key.created_at().as_secs();
        let self_signatures = self
            .key
            .details
            .users
            .iter()
            .flat_map(|user| user.signatures.iter())
            .chain(self.key.details.direct_signatures.iter());
        let mut expiries: Vec<u64> = expiry(primary, self_signatures).into_iter().collect();
        if let Some(subkey) = self
            .key
            .secret_subkeys
            .iter()
            .find(|sub| sub.signatures.iter().any(|sig| sig.key_flags().sign()))
        {
            expiries.extend(expiry(
                subkey.key.created_at().as_secs(),
                subkey.signatures.iter(),
            ));
        }
        expiries.into_iter().min()
    }

    /// The signature packets of `data` (for a detached signature of several keys).
    fn detached_packet(&self, data: &[u8]) -> Result<pgp::packet::Signature, PackageError> {
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
        Ok(signature.signature)
    }

    /// A text signature of `text` (already normalized), for a clear-signed message of several
    /// keys.
    fn text_packet(&self, text: &str) -> Result<pgp::packet::Signature, PackageError> {
        self.clearsigned(text)?
            .signatures()
            .first()
            .cloned()
            .ok_or_else(|| self.sign_error("no signature was made"))
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

/// The expiry (Unix seconds) the most recent of `signatures` gives a key created at `created`.
fn expiry<'a>(
    created: u32,
    signatures: impl Iterator<Item = &'a pgp::packet::Signature>,
) -> Option<u64> {
    let latest = signatures.max_by_key(|sig| sig.created().map(|t| t.as_secs()).unwrap_or(0))?;
    let lifetime = latest.key_expiration_time()?.as_secs();
    if lifetime == 0 {
        return None;
    }
    Some(u64::from(created) + u64::from(lifetime))
}

/// The keys that sign a repository: the first signs the RPMs and is the current key; every
/// one signs the repository metadata (`InRelease`, `Release.gpg`, `repomd.xml.asc`), and
/// `Release.key` carries them all, so that clients trusting either key accept the repository
/// while keys are rotated.
#[derive(Debug)]
pub struct SigningKeys {
    keys: Vec<SigningKey>,
}

impl SigningKeys {
    /// The keys, current first; at least one.
    pub fn new(keys: Vec<SigningKey>) -> Option<SigningKeys> {
        (!keys.is_empty()).then_some(SigningKeys { keys })
    }

    /// The current key (it signs the RPMs).
    pub fn current(&self) -> &SigningKey {
        &self.keys[0]
    }

    /// Every key, current first.
    pub fn all(&self) -> &[SigningKey] {
        &self.keys
    }

    /// The fingerprints, current first.
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys.iter().map(SigningKey::fingerprint).collect()
    }

    /// One armored signature block holding a detached signature of `data` by every key.
    pub fn detached(&self, data: &[u8]) -> Result<String, PackageError> {
        let packets = self
            .keys
            .iter()
            .map(|key| key.detached_packet(data))
            .collect::<Result<Vec<_>, _>>()?;
        armor(
            &Framed(packets),
            pgp::armor::BlockType::Signature,
            self.current(),
        )
    }

    /// `text` clear-signed by every key (one message, one signature each).
    pub fn clearsign(&self, text: &str) -> Result<String, PackageError> {
        let current = self.current();
        let message = CleartextSignedMessage::new_many(text, |normalized| {
            let mut signatures = Vec::new();
            for key in &self.keys {
                let packet =
                    key.text_packet(normalized)
                        .map_err(|err| pgp::errors::Error::Message {
                            message: err.to_string(),
                            backtrace: None,
                        })?;
                signatures.push(packet);
            }
            Ok(signatures)
        })
        .map_err(|err| current.sign_error(err))?;
        message
            .to_armored_string(ArmorOptions::default())
            .map_err(|err| current.sign_error(err))
    }

    /// Every public key in one armored block (what `gpg --dearmor` turns into a keyring).
    pub fn public_keys_armored(&self) -> Result<String, PackageError> {
        let keys: Vec<pgp::composed::SignedPublicKey> = self
            .keys
            .iter()
            .map(|key| key.key.to_public_key())
            .collect();
        armor(&keys, pgp::armor::BlockType::PublicKey, self.current())
    }
}

/// Signature packets written with their packet headers (a `Vec<Signature>` serializes bodies).
struct Framed(Vec<pgp::packet::Signature>);

impl pgp::ser::Serialize for Framed {
    fn to_writer<W: std::io::Write>(&self, writer: &mut W) -> pgp::errors::Result<()> {
        use pgp::packet::PacketTrait;
        for signature in &self.0 {
            signature.to_writer_with_header(writer)?;
        }
        Ok(())
    }

    fn write_len(&self) -> usize {
        let mut bytes = Vec::new();
        match self.to_writer(&mut bytes) {
            Ok(()) => bytes.len(),
            Err(_) => 0,
        }
    }
}

fn armor(
    packets: &impl pgp::ser::Serialize,
    kind: pgp::armor::BlockType,
    key: &SigningKey,
) -> Result<String, PackageError> {
    let mut out = Vec::new();
    pgp::armor::write(packets, kind, &mut out, None, true).map_err(|err| key.sign_error(err))?;
    String::from_utf8(out).map_err(|err| key.sign_error(err))
}

/// Public keys that a repository's signatures are checked against (`--key`, a keyring file of
/// one or more armored public keys, like `Release.key`).
#[derive(Debug)]
pub struct PublicKeys {
    keys: Vec<pgp::composed::SignedPublicKey>,
}

impl PublicKeys {
    /// Reads every armored public key in `path`.
    pub fn load(path: &Path) -> Result<PublicKeys, PackageError> {
        let fail = |message: String| PackageError::Key {
            path: path.to_path_buf(),
            message,
        };
        let text =
            std::fs::read_to_string(path).map_err(|err| fail(format!("cannot read it: {err}")))?;
        let (keys, _) = pgp::composed::SignedPublicKey::from_string_many(&text)
            .map_err(|err| fail(format!("not an armored OpenPGP public key: {err}")))?;
        let keys: Vec<_> = keys.filter_map(Result::ok).collect();
        if keys.is_empty() {
            return Err(fail("it holds no public key".into()));
        }
        Ok(PublicKeys { keys })
    }

    /// The primary keys' fingerprints.
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| format!("{:X}", k.primary_key.fingerprint()))
            .collect()
    }

    /// True when `signature` verifies with one of the keys (primary or subkey).
    fn verifies(&self, signature: &pgp::packet::Signature, data: &[u8]) -> bool {
        self.keys.iter().any(|key| {
            signature.verify(&key.primary_key, data).is_ok()
                || key
                    .public_subkeys
                    .iter()
                    .any(|sub| signature.verify(&sub.key, data).is_ok())
        })
    }

    /// True when the armored detached signature(s) hold one that signs `data` with one of
    /// the keys.
    pub fn verify_detached(&self, data: &[u8], armored: &str) -> bool {
        let Ok((signatures, _)) = DetachedSignature::from_string_many(armored) else {
            return false;
        };
        signatures
            .filter_map(Result::ok)
            .any(|sig| self.verifies(&sig.signature, data))
    }

    /// The text of a clear-signed message when one of its signatures is by one of the keys.
    pub fn verify_clearsigned(&self, armored: &str) -> Option<String> {
        let (message, _) = CleartextSignedMessage::from_string(armored).ok()?;
        let verified = self.keys.iter().any(|key| {
            message.verify(&key.primary_key).is_ok()
                || key
                    .public_subkeys
                    .iter()
                    .any(|sub| message.verify(&sub.key).is_ok())
        });
        verified.then(|| message.signed_text())
    }
}
