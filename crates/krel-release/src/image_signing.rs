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

use krel_image::cosign::BUNDLE_ANNOTATION;

/// Signs image payloads keylessly through a [`BundleSigner`].
pub struct KeylessPayloadSigner<'a>(pub &'a dyn BundleSigner);

impl PayloadSigner for KeylessPayloadSigner<'_> {
    fn sign_payload(&self, payload: &[u8]) -> Result<PayloadSignature, String> {
        let digest: [u8; 32] = sha2::Sha256::digest(payload).into();
        let bundle = self.0.sign_digest(&digest).map_err(|e| e.to_string())?;
        let text = bundle.to_json().map_err(|e| e.to_string())?;
        let value: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        let signature = value["messageSignature"]["signature"]
            .as_str()
            .ok_or("the bundle has no message signature")?
            .to_string();
        let mut annotations = BTreeMap::new();
        let material = &value["verificationMaterial"];
        if let Some(raw) = material["certificate"]["rawBytes"].as_str() {
            let der = base64::engine::general_purpose::STANDARD
                .decode(raw)
                .map_err(|e| e.to_string())?;
            annotations.insert(
                "dev.sigstore.cosign/certificate".into(),
                pem("CERTIFICATE", &der),
            );
        }
        if let Some(entry) = material["tlogEntries"].get(0) {
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

fn pem(label: &str, der: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(64)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}
