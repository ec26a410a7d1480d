//! A Rekor v1 stand-in: an append-only RFC 6962 Merkle tree of entries; each new entry comes
//! back with its inclusion proof, a signed checkpoint and a signed entry timestamp (SET), as
//! `POST /api/v1/log/entries` answers.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use crate::keys::Key;

/// The log.
pub(crate) struct Log {
    pub(crate) key: Key,
    leaves: Vec<[u8; 32]>,
    origin: String,
    /// The signer's name in checkpoints: the log's host and port (verifiers match it against
    /// the log's base URL, as `rekor.sigstore.dev` against `https://rekor.sigstore.dev`).
    name: String,
}

fn hash_children(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut data = vec![1u8];
    data.extend_from_slice(left);
    data.extend_from_slice(right);
    crate::sha256(&data)
}

/// The largest power of two smaller than `n` (n ≥ 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// MTH over leaf hashes.
fn root(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => crate::sha256(b""),
        1 => leaves[0],
        n => {
            let k = split(n);
            hash_children(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The audit path of leaf `m` (RFC 6962 §2.1.1), bottom up.
fn path(m: usize, leaves: &[[u8; 32]]) -> Vec<[u8; 32]> {
    if leaves.len() <= 1 {
        return Vec::new();
    }
    let k = split(leaves.len());
    if m < k {
        let mut p = path(m, &leaves[..k]);
        p.push(root(&leaves[k..]));
        p
    } else {
        let mut p = path(m - k, &leaves[k..]);
        p.push(root(&leaves[..k]));
        p
    }
}

/// Base64 of a PEM document, re-encoded as Rekor stores it.
fn canonical_pem_b64(b64: &str) -> Result<String, String> {
    let text = STANDARD.decode(b64).map_err(|e| e.to_string())?;
    let text = String::from_utf8(text).map_err(|e| e.to_string())?;
    let label = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("-----BEGIN ")?.strip_suffix("-----"))
        .ok_or("not PEM")?
        .to_string();
    let body: String = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = STANDARD.decode(body).map_err(|e| e.to_string())?;
    Ok(STANDARD.encode(crate::pem(&label, &der)))
}

/// JSON with object keys sorted and no whitespace (what Rekor signs and stores).
pub(crate) fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", Value::String((*k).clone()), canonical(&map[*k])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

impl Log {
    pub(crate) fn new(name: &str) -> Log {
        Log {
            key: Key::generate(),
            leaves: Vec::new(),
            origin: format!("{name} - {}", crate::now_seconds()),
            name: name.to_string(),
        }
    }

    /// The body Rekor stores for a proposed entry, or why it is refused. As Rekor does, keys
    /// and certificates are stored in their canonical PEM (LF line ends, 64 columns), whatever
    /// the client sent.
    fn body(proposed: &Value) -> Result<Value, String> {
        match (proposed["kind"].as_str(), proposed["apiVersion"].as_str()) {
            (Some("hashedrekord"), Some("0.0.1")) => {
                let mut body = proposed.clone();
                let key = &mut body["spec"]["signature"]["publicKey"]["content"];
                *key = Value::String(canonical_pem_b64(key.as_str().ok_or("no public key")?)?);
                Ok(body)
            }
            (Some("dsse"), Some("0.0.1")) => {
                let content = &proposed["spec"]["proposedContent"];
                let envelope_text = content["envelope"].as_str().ok_or("no envelope")?;
                let envelope: Value =
                    serde_json::from_str(envelope_text).map_err(|e| e.to_string())?;
                let payload = STANDARD
                    .decode(envelope["payload"].as_str().ok_or("no payload")?)
                    .map_err(|e| e.to_string())?;
                let verifier =
                    canonical_pem_b64(content["verifiers"][0].as_str().ok_or("no verifier")?)?;
                let signatures: Vec<Value> = envelope["signatures"]
                    .as_array()
                    .ok_or("no signatures")?
                    .iter()
                    .map(|s| json!({"signature": s["sig"], "verifier": verifier}))
                    .collect();
                Ok(json!({
                    "apiVersion": "0.0.1",
                    "kind": "dsse",
                    "spec": {
                        "envelopeHash": {"algorithm": "sha256", "value": hex::encode(crate::sha256(canonical(&envelope).as_bytes()))},
                        "payloadHash": {"algorithm": "sha256", "value": hex::encode(crate::sha256(&payload))},
                        "signatures": signatures,
                    }
                }))
            }
            (kind, version) => Err(format!("unsupported entry {kind:?} {version:?}")),
        }
    }

    /// Appends a proposed entry; the response Rekor gives (`{uuid: entry}`).
    pub(crate) fn append(&mut self, proposed: &Value) -> Result<Value, String> {
        let body = canonical(&Self::body(proposed)?);
        let mut leaf = vec![0u8];
        leaf.extend_from_slice(body.as_bytes());
        let leaf_hash = crate::sha256(&leaf);
        let index = self.leaves.len();
        self.leaves.push(leaf_hash);
        let size = self.leaves.len();
        let root_hash = root(&self.leaves);
        let log_id = hex::encode(self.key.id());
        let integrated = crate::now_seconds();
        let body_b64 = STANDARD.encode(&body);
        let set = self.key.sign(
            canonical(&json!({"body": body_b64, "integratedTime": integrated, "logID": log_id, "logIndex": index}))
                .as_bytes(),
        );
        let note = format!("{}\n{size}\n{}\n", self.origin, STANDARD.encode(root_hash));
        let mut signature = self.key.id()[..4].to_vec();
        signature.extend_from_slice(&self.key.sign(note.as_bytes()));
        let checkpoint = format!(
            "{note}\n\u{2014} {} {}\n",
            self.name,
            STANDARD.encode(signature)
        );
        let uuid = hex::encode(leaf_hash);
        Ok(json!({
            uuid: {
                "body": body_b64,
                "integratedTime": integrated,
                "logID": log_id,
                "logIndex": index,
                "verification": {
                    "inclusionProof": {
                        "checkpoint": checkpoint,
                        "hashes": path(index, &self.leaves).iter().map(hex::encode).collect::<Vec<_>>(),
                        "logIndex": index,
                        "rootHash": hex::encode(root_hash),
                        "treeSize": size,
                    },
                    "signedEntryTimestamp": STANDARD.encode(set),
                }
            }
        }))
    }
}
