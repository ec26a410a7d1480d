//! Verifying what a release publishes, as the people who download it would: `krel verify`,
//! `krel release`'s gate before it publishes, and `krel rehearse`'s checks.
//!
//! [`verify_release`] takes one version's directory (`release/<version>/` of a bucket, or
//! what was downloaded of it) and checks, listing every problem rather than the first:
//!
//! 1. every file is read once (in parallel) and its SHA-256 computed (and its SHA-512 with
//!    [`Expect::sha512`]);
//! 2. checksums: `SHA256SUMS` and each `<file>.sha256` agree with the files and list every
//!    artifact; `SHA512SUMS` lists the same files (it is signed like every file, and its
//!    digests are recomputed with [`Expect::sha512`]: everything else binds each file to the
//!    signer by SHA-256 already, so a second digest adds reading time, not assurance);
//! 3. signatures: every file has a Sigstore bundle or a `.sig` (with a key) and each one there
//!    verifies, by the expected signer ([`Verifier`]);
//! 4. provenance: `provenance.json` and its attestation are signed, its subjects are exactly
//!    the other files (and the images `images.json` lists), and its source is the tag of the
//!    version (in the expected repository, when given);
//! 5. SBOMs: every file the release SBOM lists has the digest it records, and each SBOM's
//!    attestation, when there is one, is signed and about that SBOM.
//!
//! [`verify_images`] then checks the images `images.json` lists where they are published (a
//! registry); `krel release`'s gate checks the staged ones instead, before they are promoted.

pub mod fetch;
mod images;
mod signatures;

pub use images::{verify_images, ImagesReport};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use signatures::{is_signature, Verifier};

/// Why verifying could not run (a problem found is not an error: it is in the [`Report`]).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The signer or trusted root is not usable.
    #[error(transparent)]
    Bundle(#[from] krel_sigstore::BundleError),
    /// The key is not usable.
    #[error(transparent)]
    Key(#[from] krel_sign::SignError),
    /// The location could not be read as a published version.
    #[error("{location}: {reason}")]
    Location {
        /// The location given.
        location: String,
        /// What went wrong.
        reason: String,
    },
    /// The directory could not be read.
    #[error("reading {}", path.display())]
    Read {
        /// What could not be read.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl krel_error::Diagnose for VerifyError {
    fn kind(&self) -> krel_error::ErrorKind {
        match self {
            VerifyError::Bundle(err) => err.kind(),
            VerifyError::Key(err) => err.kind(),
            VerifyError::Read { .. } | VerifyError::Location { .. } => krel_error::ErrorKind::Usage,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            VerifyError::Bundle(err) => err.hint(),
            VerifyError::Key(err) => err.hint(),
            VerifyError::Read { .. } => None,
            VerifyError::Location { .. } => Some(
                "LOCATION is a version's directory: a local path, gs://BUCKET/release/vX.Y.Z, s3://…, file://…, or https://HOST/release/vX.Y.Z".into(),
            ),
        }
    }
}

/// What the release must be, beyond being signed by the expected signer.
#[derive(Clone, Debug, Default)]
pub struct Expect {
    /// The version, whose tag the provenance's source must be; `None`: not checked (the report
    /// names the version the provenance's tag says).
    pub version: Option<String>,
    /// The source repository the provenance must name (`https://github.com/ORG/REPO`).
    pub source_repo: Option<String>,
    /// Also recompute every SHA-512 (`SHA512SUMS`, `<file>.sha512`).
    pub sha512: bool,
}

/// What was checked, and every problem found.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// The version checked.
    pub version: String,
    /// Files (signatures not counted).
    pub files: usize,
    /// Files checked against SHA256SUMS/SHA512SUMS.
    pub checksums: usize,
    /// Files whose signatures verified.
    pub signatures: usize,
    /// Attestations verified (provenance and SBOMs).
    pub attestations: usize,
    /// Provenance subjects (files and images).
    pub provenance_subjects: usize,
    /// The source the provenance names.
    pub source: Option<String>,
    /// Files checked against the release SBOM.
    pub sbom_files: usize,
    /// Everything wrong; empty means verified.
    pub problems: Vec<String>,
}

/// One file's digests.
#[derive(Clone, Debug)]
struct Digest {
    sha256: String,
    /// Only with [`Expect::sha512`].
    sha512: Option<String>,
}

/// Verifies the release in `dir` (see the crate documentation).
pub fn verify_release(
    dir: &Path,
    verifier: &Verifier,
    expect: &Expect,
    jobs: usize,
) -> Result<Report, VerifyError> {
    let version = expect.version.clone().unwrap_or_else(|| {
        dir.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    });
    let (files, odd) = listing(dir)?;
    let digests = hash_all(dir, &files, jobs, expect.sha512);
    let mut report = Report {
        version,
        files: files.len(),
        problems: odd,
        ..Report::default()
    };
    let mut known = BTreeMap::new();
    for (path, digest) in files.iter().zip(digests) {
        match digest {
            Ok(digest) => {
                known.insert(path.clone(), digest);
            }
            Err(err) => report.problems.push(format!("{path}: {err}")),
        }
    }
    check_sums(dir, &known, &mut report);
    check_signatures(dir, verifier, &known, jobs, &mut report);
    check_provenance(dir, verifier, &known, expect.version.is_some(), &mut report);
    check_sboms(dir, verifier, &known, &mut report);
    report.problems.sort();
    report.problems.dedup();
    Ok(report)
}

/// Every file under `dir` but signatures, relative, with `/`, sorted; and every entry that is
/// neither a file nor a directory (a symbolic link would escape every check).
fn listing(dir: &Path) -> Result<(Vec<String>, Vec<String>), VerifyError> {
    let mut files = Vec::new();
    let mut odd = Vec::new();
    for entry in walkdir::WalkDir::new(dir).min_depth(1).sort_by_file_name() {
        let entry = entry.map_err(|err| VerifyError::Read {
            path: dir.to_path_buf(),
            source: err.into(),
        })?;
        let relative = entry
            .path()
            .strip_prefix(dir)
            .unwrap_or(entry.path())
            .to_string_lossy()
            .replace('\\', "/");
        if entry.file_type().is_dir() {
            continue;
        }
        if !entry.file_type().is_file() {
            odd.push(format!(
                "{relative}: not a regular file (a symbolic link?); a release holds only files"
            ));
        } else if !is_signature(&relative) {
            files.push(relative);
        }
    }
    files.sort();
    Ok((files, odd))
}

fn hash_all(
    dir: &Path,
    files: &[String],
    jobs: usize,
    sha512: bool,
) -> Vec<Result<Digest, String>> {
    let paths: Vec<PathBuf> = files.iter().map(|f| dir.join(f)).collect();
    krel_fs::parallel_map(&paths, jobs, |path| {
        if sha512 {
            krel_checksum::hash_file(path).map(|d| Digest {
                sha256: d.sha256,
                sha512: Some(d.sha512),
            })
        } else {
            krel_sign::sha256_file(path).map(|d| Digest {
                sha256: hex::encode(d),
                sha512: None,
            })
        }
        .map_err(|err| err.to_string())
    })
}

fn sha256_bytes(hex_digest: &str) -> Option<[u8; 32]> {
    hex::decode(hex_digest).ok()?.try_into().ok()
}

/// SHA256SUMS, SHA512SUMS and the per-file digest files, against the digests read.
fn check_sums(dir: &Path, known: &BTreeMap<String, Digest>, report: &mut Report) {
    let artifacts: Vec<&String> = known
        .keys()
        .filter(|path| {
            let name = path.rsplit('/').next().unwrap_or(path);
            !krel_checksum::is_derived(name)
        })
        .collect();
    for (list, pick) in [
        (
            krel_checksum::SHA256SUMS,
            (|d: &Digest| Some(d.sha256.clone())) as fn(&Digest) -> Option<String>,
        ),
        (krel_checksum::SHA512SUMS, |d: &Digest| d.sha512.clone()),
    ] {
        let listed = match krel_checksum::read_sums(dir, list) {
            Ok(listed) => listed,
            Err(err) => {
                // Named relative to the version, as every problem is (not by a temporary path
                // a remote version was fetched into).
                report.problems.push(match err {
                    krel_checksum::ChecksumError::Parse { line, message, .. } => {
                        format!("{list}:{line}: {message}")
                    }
                    krel_checksum::ChecksumError::Read { source, .. }
                        if source.kind() == std::io::ErrorKind::NotFound =>
                    {
                        format!("{list}: missing")
                    }
                    krel_checksum::ChecksumError::Read { source, .. } => {
                        format!("{list}: cannot be read: {source}")
                    }
                    other => format!("{list}: {other}"),
                });
                continue;
            }
        };
        for (name, digest) in &listed {
            match known.get(name) {
                None => report
                    .problems
                    .push(format!("{name}: listed in {list} but missing")),
                Some(actual) if pick(actual).is_some_and(|a| a != *digest) => report
                    .problems
                    .push(format!("{name}: content does not match {list}")),
                Some(_) => {}
            }
        }
        for artifact in &artifacts {
            if !listed.contains_key(artifact.as_str()) {
                report.problems.push(format!("{artifact}: not in {list}"));
            }
        }
    }
    // The per-file digest files.
    for (path, digest) in known {
        let sides = [
            (".sha256", Some(&digest.sha256)),
            (".sha512", digest.sha512.as_ref()),
        ];
        for (suffix, value) in sides {
            let side = format!("{path}{suffix}");
            let Some(value) = value else { continue };
            if known.contains_key(&side) {
                let text = std::fs::read_to_string(dir.join(&side)).unwrap_or_default();
                if text.split_whitespace().next() != Some(value.as_str()) {
                    report
                        .problems
                        .push(format!("{side}: holds another digest"));
                }
            }
        }
    }
    report.checksums = artifacts.len();
}

fn check_signatures(
    dir: &Path,
    verifier: &Verifier,
    known: &BTreeMap<String, Digest>,
    jobs: usize,
    report: &mut Report,
) {
    let paths: Vec<PathBuf> = known.keys().map(PathBuf::from).collect();
    let results = krel_fs::parallel_map(&paths, jobs, |path| {
        let relative = path.to_string_lossy();
        let sha256 = known
            .get(relative.as_ref())
            .and_then(|d| sha256_bytes(&d.sha256));
        verifier.signatures(dir, &relative, sha256)
    });
    for result in results {
        match result {
            Ok(()) => report.signatures += 1,
            Err(problem) => report.problems.push(problem),
        }
    }
}

/// The provenance: attested, its subjects the other files and the listed images, its source
/// the version's tag.
fn check_provenance(
    dir: &Path,
    verifier: &Verifier,
    known: &BTreeMap<String, Digest>,
    check_tag: bool,
    report: &mut Report,
) {
    const PROVENANCE: &str = "provenance.json";
    let Ok(bytes) = std::fs::read(dir.join(PROVENANCE)) else {
        report.problems.push(format!("{PROVENANCE}: missing"));
        return;
    };
    match verifier.attestation(dir, PROVENANCE, true) {
        Ok(true) => report.attestations += 1,
        Ok(false) => {}
        Err(problem) => report.problems.push(problem),
    }
    let statement = match krel_attest::Statement::parse(&bytes, PROVENANCE) {
        Ok(statement) => statement,
        Err(err) => {
            report.problems.push(err.to_string());
            return;
        }
    };
    let mut subjects: Vec<krel_attest::FileEntry> = known
        .iter()
        .filter(|(path, _)| path.as_str() != PROVENANCE)
        .map(|(path, digest)| krel_attest::FileEntry {
            path: path.clone(),
            sha1: String::new(),
            sha256: digest.sha256.clone(),
            size: 0,
        })
        .collect();
    // Signatures are subjects too, except the provenance's own.
    for signature in signature_files(dir) {
        let own = [".sig", ".sigstore.json", ".intoto.sigstore.json", ".cert"]
            .iter()
            .any(|suffix| signature == format!("{PROVENANCE}{suffix}"));
        if !own {
            if let Ok(digests) = krel_checksum::hash_file(&dir.join(&signature)) {
                subjects.push(krel_attest::FileEntry {
                    path: signature,
                    sha1: String::new(),
                    sha256: digests.sha256,
                    size: 0,
                });
            }
        }
    }
    subjects.extend(image_subjects(dir));
    report.provenance_subjects = statement.subjects.len();
    report.problems.extend(
        statement
            .check(&subjects)
            .iter()
            .map(|m| format!("{PROVENANCE}: {m}")),
    );
    check_source(&statement, check_tag, report);
}

/// The source the provenance names; with `check_tag`, it must be the tag of the version.
fn check_source(statement: &krel_attest::Statement, check_tag: bool, report: &mut Report) {
    let Some(source) = statement.dependencies.first() else {
        report
            .problems
            .push("provenance.json: names no source".to_string());
        return;
    };
    report.source = Some(source.uri.clone());
    if !check_tag {
        if let Some((_, tag)) = source.uri.rsplit_once("@refs/tags/") {
            report.version = tag.to_string();
        }
        return;
    }
    let tag = format!("@refs/tags/{}", report.version);
    if !source.uri.ends_with(&tag) {
        report.problems.push(format!(
            "provenance.json: the source {} is not the tag {}",
            source.uri, report.version
        ));
    }
}

/// Checks the source repository the provenance names against `repo`
/// (`https://github.com/org/repo`, with or without `.git`).
pub fn check_source_repo(report: &mut Report, repo: &str) {
    let Some(source) = &report.source else { return };
    let location = source
        .strip_prefix("git+")
        .unwrap_or(source)
        .rsplit_once('@')
        .map_or(source.as_str(), |(location, _)| location);
    let normal = |s: &str| s.trim_end_matches('/').trim_end_matches(".git").to_string();
    if normal(location) != normal(repo) {
        report.problems.push(format!(
            "provenance.json: the source repository is {location}, not {repo}"
        ));
    }
}

fn signature_files(dir: &Path) -> Vec<String> {
    walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| {
            let relative = e
                .path()
                .strip_prefix(dir)
                .ok()?
                .to_string_lossy()
                .to_string();
            is_signature(&relative).then_some(relative)
        })
        .collect()
}

/// One image of `images.json`.
#[derive(serde::Deserialize)]
struct ListedImage {
    reference: String,
    digest: String,
    #[serde(default)]
    manifests: BTreeMap<String, String>,
}

/// The provenance subjects `images.json` promises: `image:<name>` and `image:<name>/<platform>`.
fn image_subjects(dir: &Path) -> Vec<krel_attest::FileEntry> {
    let images: Vec<ListedImage> = std::fs::read(dir.join("images.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    let mut subjects = Vec::new();
    for image in images {
        let without_tag = image
            .reference
            .rsplit_once(':')
            .map_or(image.reference.as_str(), |(r, _)| r);
        let name = without_tag.rsplit('/').next().unwrap_or(without_tag);
        let entry = |path: String, digest: &str| krel_attest::FileEntry {
            path,
            sha1: String::new(),
            sha256: digest.trim_start_matches("sha256:").to_string(),
            size: 0,
        };
        subjects.push(entry(format!("image:{name}"), &image.digest));
        for (platform, digest) in &image.manifests {
            subjects.push(entry(format!("image:{name}/{platform}"), digest));
        }
    }
    subjects
}

/// The release SBOM's file digests against the files; every SBOM's attestation.
fn check_sboms(
    dir: &Path,
    verifier: &Verifier,
    known: &BTreeMap<String, Digest>,
    report: &mut Report,
) {
    for sbom in known.keys().filter(|p| p.ends_with(".spdx.json")) {
        match verifier.attestation(dir, sbom, false) {
            Ok(true) => report.attestations += 1,
            Ok(false) => {}
            Err(problem) => report.problems.push(problem),
        }
        if !sbom.ends_with("-release.spdx.json") {
            continue;
        }
        let document: serde_json::Value = match std::fs::read(dir.join(sbom))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
        {
            Some(document) => document,
            None => {
                report
                    .problems
                    .push(format!("{sbom}: not an SPDX JSON document"));
                continue;
            }
        };
        for file in document["files"].as_array().into_iter().flatten() {
            let name = file["fileName"].as_str().unwrap_or("");
            let name = name.strip_prefix("./").unwrap_or(name);
            let recorded = file["checksums"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["algorithm"] == "SHA256")
                .and_then(|c| c["checksumValue"].as_str());
            match (known.get(name), recorded) {
                (Some(actual), Some(recorded)) if actual.sha256 == recorded => {
                    report.sbom_files += 1
                }
                (None, _) => report
                    .problems
                    .push(format!("{sbom}: lists {name}, which is not in the release")),
                (Some(_), None) => report
                    .problems
                    .push(format!("{sbom}: {name} has no SHA-256 checksum")),
                _ => report.problems.push(format!(
                    "{sbom}: {name} has another SHA-256 than it records"
                )),
            }
        }
    }
}
