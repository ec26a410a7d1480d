//! Bundles beside the files they sign: `<file>.sigstore.json`, `<file>.sig`, `<file>.cert`,
//! and attestations `<file>.intoto.sigstore.json`.

use std::path::{Path, PathBuf};

use sigstore_types::bundle::{SignatureContent, VerificationMaterialContent};
use sigstore_types::Bundle;

use crate::{attest, BundleError, BundleSigner};

/// Which signature files [`sign_files`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outputs {
    /// `<file>.sigstore.json`, the Sigstore bundle (cosign v3's default output).
    pub bundle: bool,
    /// `<file>.sig` (and `<file>.cert` for a certificate), for verifiers that predate bundles.
    pub detached: bool,
}

impl Outputs {
    /// Both forms: the default.
    pub const BOTH: Outputs = Outputs {
        bundle: true,
        detached: true,
    };
}

fn with_suffix(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// `<file>.sigstore.json`.
pub fn bundle_path(file: &Path) -> PathBuf {
    with_suffix(file, ".sigstore.json")
}

/// `<file>.intoto.sigstore.json`: the attestation about the artifacts `file` describes.
pub fn attestation_path(file: &Path) -> PathBuf {
    with_suffix(file, ".intoto.sigstore.json")
}

/// Signs every file on up to `jobs` threads and writes the `outputs` beside each. Every file
/// is read and signed before anything is written: one unreadable file fails the whole call
/// with nothing written. Returns the paths written.
pub fn sign_files(
    signer: &dyn BundleSigner,
    files: &[PathBuf],
    jobs: usize,
    outputs: Outputs,
) -> Result<Vec<PathBuf>, BundleError> {
    let bundles: Vec<Bundle> = krel_fs::parallel_map(files, jobs, |file| {
        let digest = krel_sign::sha256_file(file).map_err(|source| BundleError::Read {
            path: file.to_path_buf(),
            source,
        })?;
        signer.sign_digest(&digest)
    })
    .into_iter()
    .collect::<Result<_, _>>()?;
    let mut written = Vec::new();
    for (file, bundle) in files.iter().zip(&bundles) {
        written.extend(write_outputs(file, bundle, outputs)?);
    }
    Ok(written)
}

/// Writes `statement` to `file` and its attestation to `<file>.intoto.sigstore.json`.
pub fn write_attestation(
    signer: &dyn BundleSigner,
    file: &Path,
    statement: &[u8],
) -> Result<PathBuf, BundleError> {
    let bundle = attest(signer, statement)?;
    let target = attestation_path(file);
    write(&target, bundle_json(&bundle)?.as_bytes())?;
    Ok(target)
}

fn bundle_json(bundle: &Bundle) -> Result<String, BundleError> {
    bundle.to_json().map_err(|err| BundleError::Malformed {
        what: "a bundle krel made".into(),
        reason: err.to_string(),
    })
}

/// The files of one signed file, from its bundle.
fn write_outputs(
    file: &Path,
    bundle: &Bundle,
    outputs: Outputs,
) -> Result<Vec<PathBuf>, BundleError> {
    let mut written = Vec::new();
    if outputs.bundle {
        let target = bundle_path(file);
        write(&target, bundle_json(bundle)?.as_bytes())?;
        written.push(target);
    }
    if let (true, SignatureContent::MessageSignature(message)) = (outputs.detached, &bundle.content)
    {
        // The same files `krel_sign` writes for a key: <file>.sig, and <file>.cert keyless.
        let certificate_pem = match &bundle.verification_material.content {
            VerificationMaterialContent::Certificate(cert) => Some(cert.raw_bytes.to_pem()),
            _ => None,
        };
        let detached = krel_sign::Signature {
            der: message.signature.as_bytes().to_vec(),
            certificate_pem,
        };
        written.push(krel_sign::write_signature(file, &detached)?);
        if detached.certificate_pem.is_some() {
            written.push(with_suffix(file, ".cert"));
        }
    }
    Ok(written)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), BundleError> {
    krel_fs::write_atomic(path, bytes, 0o644, krel_fs::Replace::Always).map_err(|source| {
        BundleError::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}
