//! cosign-compatible image signatures: for a manifest `sha256:<hex>` of repository `R`, an
//! OCI manifest tagged `sha256-<hex>.sig` in `R` whose layers are simple-signing payloads
//! (`application/vnd.dev.cosign.simplesigning.v1+json`), each with its base64 ECDSA signature
//! in the `dev.cosignproject.cosign/signature` annotation. The payload binds the digest to the
//! repository's name (`critical.identity.docker-reference`), which is what
//! containers/image's `sigstoreSigned` policy with `matchRepository` checks.

use std::collections::{BTreeMap, HashMap};

use base64::Engine;
use oci_spec::image::Descriptor;
use serde_json::json;

use crate::copy::Side;
use crate::digest::Digest;
use crate::manifest::{media, Content, Manifest};
use crate::ImageError;

/// The annotation holding a keyless signature's whole Sigstore bundle (certificate, signature,
/// transparency-log entry), which verifies it by identity.
pub const BUNDLE_ANNOTATION: &str = "dev.krel/sigstore-bundle";

/// The annotation holding a layer's signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

/// A layer's signature and the annotations that go with it (for a keyless signature: the
/// certificate, the transparency-log bundle, and the whole Sigstore bundle).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PayloadSignature {
    /// Base64 of the DER signature over the payload's SHA-256.
    pub signature: String,
    /// More annotations of the layer.
    pub annotations: BTreeMap<String, String>,
}

/// What signs a simple-signing payload.
pub trait PayloadSigner: Sync {
    /// Signs `payload`.
    fn sign_payload(&self, payload: &[u8]) -> Result<PayloadSignature, String>;
}

/// What checks a layer's signature over its payload (the payload's own rules are checked by
/// [`verify`]).
pub trait PayloadVerifier: Sync {
    /// Ok when `signature` (with the layer's `annotations`) signs `payload` as expected.
    fn verify_payload(
        &self,
        payload: &[u8],
        signature: &str,
        annotations: &BTreeMap<String, String>,
    ) -> Result<(), String>;
}

/// Signs with a key: a deterministic ECDSA signature, no more annotations.
pub struct KeyPayloadSigner<'a>(pub &'a dyn krel_sign::Signer);

impl PayloadSigner for KeyPayloadSigner<'_> {
    fn sign_payload(&self, payload: &[u8]) -> Result<PayloadSignature, String> {
        let signature = self
            .0
            .sign_digest(&sha256(payload))
            .map_err(|err| err.to_string())?;
        Ok(PayloadSignature {
            signature: base64::engine::general_purpose::STANDARD.encode(&signature.der),
            annotations: BTreeMap::new(),
        })
    }
}

impl PayloadVerifier for krel_sign::PublicKey {
    fn verify_payload(
        &self,
        payload: &[u8],
        signature: &str,
        _annotations: &BTreeMap<String, String>,
    ) -> Result<(), String> {
        let der = base64::engine::general_purpose::STANDARD
            .decode(signature.trim())
            .map_err(|_| "a signature is not base64".to_string())?;
        if self.verifies_digest(&sha256(payload), &der) {
            Ok(())
        } else {
            Err(format!("a signature is not by key {}", self.fingerprint()))
        }
    }
}

/// The simple-signing payload for `digest` under the name `identity`, as cosign writes it.
pub fn payload(identity: &str, digest: &Digest) -> Vec<u8> {
    let value = json!({
        "critical": {
            "identity": {"docker-reference": identity},
            "image": {"docker-manifest-digest": digest.to_string()},
            "type": "cosign container image signature",
        },
        "optional": null,
    });
    serde_json::to_vec(&value).unwrap_or_default()
}

/// cosign's configuration blob for a signature manifest with these payload layers.
fn config(payload_digests: &[String]) -> Vec<u8> {
    let value = json!({
        "architecture": "",
        "config": {},
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": payload_digests},
    });
    serde_json::to_vec(&value).unwrap_or_default()
}

/// What [`sign`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signed {
    /// A signature was added.
    Added,
    /// A valid signature by this key for this name was there already.
    Present,
}

/// Signs [`payload`]`(identity, digest)` with `signer`: outside any async runtime, since a
/// keyless signer runs its own.
pub fn sign_payload(
    identity: &str,
    digest: &Digest,
    signer: &dyn PayloadSigner,
) -> Result<PayloadSignature, ImageError> {
    signer
        .sign_payload(&payload(identity, digest))
        .map_err(ImageError::Signing)
}

/// Adds `signed` (from [`sign_payload`] for the same `identity` and `digest`) as a signature of
/// the manifest `digest` of `side`. Signatures already there are kept beside the new one; the
/// same signature (a key signs deterministically) is not added twice.
pub async fn sign(
    side: Side<'_>,
    identity: &str,
    digest: &Digest,
    signed: PayloadSignature,
) -> Result<Signed, ImageError> {
    let existing = signature_layers(side, digest).await?;
    let payload = payload(identity, digest);
    let payload_digest = Digest::of(&payload);
    if existing
        .iter()
        .any(|layer| layer.payload == payload && layer.signature == signed.signature)
    {
        return Ok(Signed::Present);
    }
    let mut layers: Vec<SignatureLayer> = existing;
    let mut annotations = signed.annotations;
    annotations.insert(SIGNATURE_ANNOTATION.to_string(), signed.signature.clone());
    layers.push(SignatureLayer {
        payload,
        digest: payload_digest,
        signature: signed.signature,
        annotations,
    });
    write_layers(side, &digest.signature_tag(), &layers).await?;
    Ok(Signed::Added)
}

/// Writes a signature manifest of `layers` (payloads, config, manifest) tagged `tag`.
async fn write_layers(
    side: Side<'_>,
    tag: &str,
    layers: &[SignatureLayer],
) -> Result<(), ImageError> {
    for layer in layers {
        side.store
            .write_blob(side.repo, &layer.digest, layer.payload.clone())
            .await?;
    }
    let diff_ids: Vec<String> = layers.iter().map(|l| l.digest.to_string()).collect();
    let config = config(&diff_ids);
    let config_digest = Digest::of(&config);
    side.store
        .write_blob(side.repo, &config_digest, config.clone())
        .await?;
    let descriptors = layers
        .iter()
        .map(|layer| {
            let mut descriptor = Descriptor::new(
                media::SIMPLE_SIGNING.into(),
                layer.payload.len() as u64,
                layer.digest.to_oci()?,
            );
            descriptor.set_annotations(Some(
                layer
                    .annotations
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<HashMap<_, _>>(),
            ));
            Ok(descriptor)
        })
        .collect::<Result<Vec<_>, ImageError>>()?;
    let manifest = Manifest::image(&config, &config_digest, descriptors)?;
    side.store
        .put_manifest(side.repo, &manifest, Some(tag))
        .await
}

/// Points the signature tag `tag` of `side` at the signature manifest `digest` (already
/// there), as cosign does: signatures accumulate. When the tag names another signature
/// manifest (the same image signed again, such as an unchanged image in the next version,
/// signed keylessly anew), the two are merged: the tag then names a manifest with the layers
/// of both, the older first. A merge that adds nothing leaves the tag alone.
pub async fn merge_signatures(
    side: Side<'_>,
    tag: &str,
    digest: &Digest,
) -> Result<Signed, ImageError> {
    let Some(current) = side.store.manifest(side.repo, tag).await? else {
        crate::copy::tag(side, tag, digest).await?;
        return Ok(Signed::Added);
    };
    if current.digest == *digest {
        return Ok(Signed::Present);
    }
    let mut layers = layers_in(side, &current, true).await?;
    let incoming = crate::copy::read_manifest(side, digest).await?;
    let before = layers.len();
    for layer in layers_in(side, &incoming, true).await? {
        if !layers
            .iter()
            .any(|l| l.payload == layer.payload && l.signature == layer.signature)
        {
            layers.push(layer);
        }
    }
    if layers.len() == before {
        return Ok(Signed::Present);
    }
    write_layers(side, tag, &layers).await?;
    Ok(Signed::Added)
}

/// Why an image's signature did not verify.
#[derive(Debug)]
pub enum SignatureFailure {
    /// The registry could not be read (network, credentials): nothing is known either way.
    Unreadable(ImageError),
    /// What was found instead of a valid signature.
    Invalid(String),
}

impl std::fmt::Display for SignatureFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignatureFailure::Unreadable(err) => write!(f, "{err}"),
            SignatureFailure::Invalid(reason) => f.write_str(reason),
        }
    }
}

/// Checks that the manifest `digest` of `side` carries a signature by `key` naming
/// `identity`; the error says what was found instead, or that the registry could not be read.
pub async fn verify(
    side: Side<'_>,
    identity: &str,
    digest: &Digest,
    verifier: &dyn PayloadVerifier,
) -> Result<(), SignatureFailure> {
    let layers = signature_layers(side, digest)
        .await
        .map_err(SignatureFailure::Unreadable)?;
    if layers.is_empty() {
        return Err(SignatureFailure::Invalid(format!(
            "{digest} has no signature (no {} tag)",
            digest.signature_tag()
        )));
    }
    let mut reasons = Vec::new();
    for layer in &layers {
        match check_layer(layer, identity, digest, verifier) {
            Ok(()) => return Ok(()),
            Err(reason) => reasons.push(reason),
        }
    }
    Err(SignatureFailure::Invalid(format!(
        "{digest} has no valid signature: {}",
        reasons.join("; ")
    )))
}

/// One signature: the payload and its base64 signature.
#[derive(Clone, Debug)]
struct SignatureLayer {
    payload: Vec<u8>,
    digest: Digest,
    signature: String,
    /// Every annotation of the layer (the signature's among them).
    annotations: BTreeMap<String, String>,
}

/// The signature layers under `sha256-<hex>.sig` (none when there is no such tag).
async fn signature_layers(
    side: Side<'_>,
    digest: &Digest,
) -> Result<Vec<SignatureLayer>, ImageError> {
    let Some(manifest) = side
        .store
        .manifest(side.repo, &digest.signature_tag())
        .await?
    else {
        return Ok(Vec::new());
    };
    layers_of(side, &manifest).await
}

/// The signature layers of a signature manifest.
async fn layers_of(side: Side<'_>, manifest: &Manifest) -> Result<Vec<SignatureLayer>, ImageError> {
    layers_in(side, manifest, false).await
}

/// The signature layers of a signature manifest. `strict` (to rewrite it): any layer that
/// cannot be read or is not a simple-signing signature is an error, never dropped.
async fn layers_in(
    side: Side<'_>,
    manifest: &Manifest,
    strict: bool,
) -> Result<Vec<SignatureLayer>, ImageError> {
    let unusable = |what: String| ImageError::Signing(format!("cannot merge signatures: {what}"));
    let Content::Image(image) = &manifest.content else {
        if strict {
            return Err(unusable(format!(
                "{} is not an image manifest",
                manifest.digest
            )));
        }
        return Ok(Vec::new());
    };
    let mut layers = Vec::new();
    for descriptor in image.layers() {
        let annotations: BTreeMap<String, String> = descriptor
            .annotations()
            .as_ref()
            .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let signature = annotations.get(SIGNATURE_ANNOTATION).cloned();
        let usable = crate::manifest::descriptor_digest(descriptor).filter(|(_, size)| {
            descriptor.media_type().to_string() == media::SIMPLE_SIGNING && *size <= 64 * 1024
        });
        let (Some((layer_digest, _)), Some(signature)) = (usable, signature) else {
            if strict {
                return Err(unusable(format!(
                    "a layer of {} is not a cosign signature",
                    manifest.digest
                )));
            }
            continue;
        };
        let payload = match side.store.read_blob(side.repo, &layer_digest).await {
            Ok(payload) => payload,
            Err(err) if strict => return Err(err),
            Err(_) => continue,
        };
        layers.push(SignatureLayer {
            payload,
            digest: layer_digest,
            signature,
            annotations,
        });
    }
    Ok(layers)
}

fn check_layer(
    layer: &SignatureLayer,
    identity: &str,
    digest: &Digest,
    verifier: &dyn PayloadVerifier,
) -> Result<(), String> {
    verifier.verify_payload(&layer.payload, &layer.signature, &layer.annotations)?;
    let payload: serde_json::Value = serde_json::from_slice(&layer.payload)
        .map_err(|_| "a signed payload is not JSON".to_string())?;
    let critical = &payload["critical"];
    if critical["type"] != "cosign container image signature" {
        return Err("a signed payload is not a cosign container image signature".into());
    }
    if critical["image"]["docker-manifest-digest"] != digest.to_string().as_str() {
        return Err(format!(
            "a signature is for {}",
            critical["image"]["docker-manifest-digest"]
                .as_str()
                .unwrap_or("another image")
        ));
    }
    if critical["identity"]["docker-reference"] != identity {
        return Err(format!(
            "a signature names {} instead of {identity}",
            critical["identity"]["docker-reference"]
                .as_str()
                .unwrap_or("nothing")
        ));
    }
    Ok(())
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}
