//! Image signatures by the release's signer: a key signs as cosign does with `--key`; a
//! keyless signer's signature layer carries what `cosign sign` puts there keylessly (the
//! certificate, and the transparency-log entry as `dev.sigstore.cosign/bundle`) and the whole
//! Sigstore bundle (`dev.krel/sigstore-bundle`), which `krel_verify::Verifier` checks by
//! identity.

use std::collections::BTreeMap;

use base64::Engine;
use krel_image::cosign::{PayloadSignature, PayloadSigner};
use krel_sigstore::BundleSigner;
use serde_json::{json, Value};
use sha2::Digest;
use sigstore_types::bundle::SignatureContent;

use krel_image::cosign::BUNDLE_ANNOTATION;

/// Signs image payloads keylessly through a [`BundleSigner`].
pub struct KeylessPayloadSigner<'a>(pub &'a dyn BundleSigner);

impl PayloadSigner for KeylessPayloadSigner<'_> {
    fn sign_payload(&self, payload: &[u8]) -> Result<PayloadSignature, String> {
        let digest: [u8; 32] = sha2::Sha256::digest(payload).into();
        let bundle = self.0.sign_digest(&digest).map_err(|e| e.to_string())?;
        let SignatureContent::MessageSignature(message) = &bundle.content else {
            return Err("the bundle has no message signature".into());
        };
        let signature = message.signature.to_base64();
        let mut annotations = BTreeMap::new();
        if let Some(certificate) = bundle.signing_certificate() {
            annotations.insert(
                "dev.sigstore.cosign/certificate".into(),
                certificate.to_pem(),
            );
        }
        let text = bundle.to_json().map_err(|e| e.to_string())?;
        let value: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        if let Some(entry) = value["verificationMaterial"]["tlogEntries"].get(0) {
            annotations.insert("dev.sigstore.cosign/bundle".into(), rekor_bundle(entry)?);
        }
        annotations.insert(BUNDLE_ANNOTATION.into(), text);
        Ok(PayloadSignature {
            signature,
            annotations,
        })
    }
}

/// cosign's `dev.sigstore.cosign/bundle`: the log entry and its signed entry timestamp.
fn rekor_bundle(entry: &Value) -> Result<String, String> {
    let log_id = base64::engine::general_purpose::STANDARD
        .decode(entry["logId"]["keyId"].as_str().unwrap_or_default())
        .map_err(|e| e.to_string())?;
    let number = |v: &Value| {
        v.as_str()
            .and_then(|s| s.parse::<i64>().ok())
            .or(v.as_i64())
    };
    Ok(json!({
        "SignedEntryTimestamp": entry["inclusionPromise"]["signedEntryTimestamp"],
        "Payload": {
            "body": entry["canonicalizedBody"],
            "integratedTime": number(&entry["integratedTime"]),
            "logIndex": number(&entry["logIndex"]),
            "logID": hex::encode(log_id),
        }
    })
    .to_string())
}
