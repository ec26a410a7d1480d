//! Attestations for a staged release: what is in it ([SPDX 2.3] SBOMs) and how it was made
//! (an [in-toto] statement with a [SLSA v1] provenance predicate).
//!
//! - [`describe_files`] hashes a directory's files (SHA-1 for SPDX, SHA-256 for everything
//!   else), sorted by path, so documents are byte-identical for identical trees.
//! - [`spdx_document`] lists files as one SPDX package with its verification code.
//! - [`provenance_statement`] names every staged file as a subject with its SHA-256, the
//!   source commit as a resolved dependency, and the build's parameters.
//! - [`Statement::parse`] and [`Statement::check`] read a statement back and compare its
//!   subjects with files on disk: a missing, extra or changed file is a [`Mismatch`].
//!
//! Times are passed in (seconds since the epoch), never read from the clock here, so that
//! `SOURCE_DATE_EPOCH` makes the documents reproducible.
//!
//! [SPDX 2.3]: https://spdx.github.io/spdx-spec/v2.3/
//! [in-toto]: https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md
//! [SLSA v1]: https://slsa.dev/spec/v1.0/provenance

mod source;
pub use source::{git_source, GitSource};

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The in-toto statement type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The SLSA provenance predicate type.
pub const PROVENANCE_TYPE: &str = "https://slsa.dev/provenance/v1";
/// The predicate type of an SPDX 2.3 document (as `cosign attest --type spdxjson` writes it).
pub const SPDX_TYPE: &str = "https://spdx.dev/Document/v2.3";

/// One file of a tree, with the digests attestations need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// Path relative to the tree's root, with `/`.
    pub path: String,
    /// SHA-1, hex (SPDX requires it).
    pub sha1: String,
    /// SHA-256, hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// Why an attestation could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    /// A file could not be read.
    #[error("reading {}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A statement is not JSON of the expected shape.
    #[error("{what} is not an in-toto statement with a SLSA v1 predicate: {reason}")]
    Malformed {
        /// The document, for messages.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// An SBOM to attest is not JSON.
    #[error("the SBOM is not JSON: {reason}")]
    Sbom {
        /// What is wrong.
        reason: String,
    },
}

/// Hashes every regular file under `root` for which `include` returns true (given the
/// relative path), sorted by path. Files are hashed on every core.
pub fn describe_files(
    root: &Path,
    include: impl Fn(&str) -> bool,
) -> Result<Vec<FileEntry>, AttestError> {
    let mut wanted = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.map_err(|err| AttestError::Io {
            path: err.path().unwrap_or(root).to_path_buf(),
            source: err.into(),
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let relative = entry
            .path()
            .strip_prefix(root)
            .unwrap_or(entry.path())
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        if include(&relative) {
            wanted.push((relative, entry.into_path()));
        }
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(wanted.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Vec<(usize, Result<FileEntry, AttestError>)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((relative, path)) = wanted.get(index) else {
                            break;
                        };
                        done.push((index, describe_file(relative, path)));
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().unwrap_or_default())
            .collect()
    });
    let mut entries: Vec<(usize, FileEntry)> = Vec::with_capacity(wanted.len());
    for (index, result) in results.into_iter().flatten() {
        entries.push((index, result?));
    }
    if entries.len() != wanted.len() {
        return Err(AttestError::Io {
            path: root.to_path_buf(),
            source: std::io::Error::other("a hashing thread stopped"),
        });
    }
    entries.sort_by(|a, b| a.1.path.cmp(&b.1.path));
    Ok(entries.into_iter().map(|(_, entry)| entry).collect())
}

/// SHA-1, SHA-256 and size of one file, in one read.
fn describe_file(relative: &str, path: &Path) -> Result<FileEntry, AttestError> {
    let io = |source| AttestError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let (mut sha1, mut sha256, mut size) = (Sha1::new(), Sha256::new(), 0u64);
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buffer).map_err(io)?;
        if n == 0 {
            break;
        }
        sha1.update(&buffer[..n]);
        sha256.update(&buffer[..n]);
        size += n as u64;
    }
    Ok(FileEntry {
        path: relative.to_string(),
        sha1: hex::encode(sha1.finalize()),
        sha256: hex::encode(sha256.finalize()),
        size,
    })
}

/// RFC 3339 UTC time, seconds precision, as SPDX and SLSA write it.
pub fn rfc3339(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// What an SBOM describes.
#[derive(Clone, Debug)]
pub struct SbomInput<'a> {
    /// The package name (`widget`, `widget-source`).
    pub name: &'a str,
    /// The version (`v1.30.0`).
    pub version: &'a str,
    /// Where the package can be downloaded (`git+https://…@v1.30.0`), or `NOASSERTION`.
    pub download_location: &'a str,
    /// Who made the document (`Organization: kubernetes`).
    pub creator: &'a str,
    /// When, seconds since the epoch.
    pub created: i64,
    /// The files, as [`describe_files`] returns them.
    pub files: &'a [FileEntry],
}

/// An SPDX 2.3 JSON document for one package made of `input.files`.
pub fn spdx_document(input: &SbomInput<'_>) -> Vec<u8> {
    let package_id = format!("SPDXRef-Package-{}", spdx_id_part(input.name));
    let file_ids: Vec<String> = input
        .files
        .iter()
        .enumerate()
        .map(|(index, file)| format!("SPDXRef-File-{}-{}", index + 1, spdx_id_part(&file.path)))
        .collect();
    // Package verification code: SHA-1 over the sorted, concatenated file SHA-1s (SPDX 7.9).
    let mut sha1s: Vec<&str> = input.files.iter().map(|f| f.sha1.as_str()).collect();
    sha1s.sort_unstable();
    let verification = hex::encode(Sha1::digest(sha1s.concat().as_bytes()));
    // The namespace is unique per content, and reproducible.
    let mut listing = Sha256::new();
    for file in input.files {
        listing.update(format!("{}  {}\n", file.sha256, file.path).as_bytes());
    }
    let namespace = format!(
        "https://spdx.org/spdxdocs/krel/{}-{}-{}",
        spdx_id_part(input.name),
        spdx_id_part(input.version),
        &hex::encode(listing.finalize())[..32]
    );
    let files: Vec<Value> = input
        .files
        .iter()
        .zip(&file_ids)
        .map(|(file, id)| {
            json!({
                "SPDXID": id,
                "fileName": format!("./{}", file.path),
                "checksums": [
                    {"algorithm": "SHA1", "checksumValue": file.sha1},
                    {"algorithm": "SHA256", "checksumValue": file.sha256},
                ],
                "licenseConcluded": "NOASSERTION",
                "copyrightText": "NOASSERTION",
            })
        })
        .collect();
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": package_id,
    })];
    relationships.extend(file_ids.iter().map(|id| {
        json!({
            "spdxElementId": package_id,
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        })
    }));
    let document = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{}-{}", input.name, input.version),
        "documentNamespace": namespace,
        "creationInfo": {
            "created": rfc3339(input.created),
            "creators": [
                format!("Tool: krel-{}", env!("CARGO_PKG_VERSION")),
                input.creator,
            ],
        },
        "packages": [{
            "SPDXID": package_id,
            "name": input.name,
            "versionInfo": input.version,
            "downloadLocation": input.download_location,
            "filesAnalyzed": true,
            "packageVerificationCode": {"packageVerificationCodeValue": verification},
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "hasFiles": file_ids,
        }],
        "files": files,
        "relationships": relationships,
    });
    to_pretty(&document)
}

/// SPDX identifiers allow letters, digits, `.` and `-`.
fn spdx_id_part(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn to_pretty(value: &Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// A source, tool or input the build used, as SLSA's ResourceDescriptor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// `git+https://github.com/org/repo@refs/tags/v1.30.0`.
    pub uri: String,
    /// Algorithm → hex digest (`gitCommit`, `sha256`).
    pub digest: BTreeMap<String, String>,
}

/// What a provenance statement records.
#[derive(Clone, Debug)]
pub struct ProvenanceInput {
    /// The staged files (paths relative to the stage root) with their digests.
    pub subjects: Vec<FileEntry>,
    /// The build type URI.
    pub build_type: String,
    /// What the person releasing chose (type, branch, build version).
    pub external_parameters: Value,
    /// What krel chose (command, platforms).
    pub internal_parameters: Value,
    /// The sources built.
    pub dependencies: Vec<Resource>,
    /// Who built it (`https://github.com/krel-dev/krel@v0.1.0`).
    pub builder_id: String,
    /// An identifier of this run (the build version).
    pub invocation_id: String,
    /// When the build started, seconds since the epoch.
    pub started: i64,
    /// When it finished.
    pub finished: i64,
}

/// An in-toto v1 statement with a SLSA v1 provenance predicate, as JSON bytes.
pub fn provenance_statement(input: &ProvenanceInput) -> Vec<u8> {
    let subjects: Vec<Value> = input
        .subjects
        .iter()
        .map(|file| json!({"name": file.path, "digest": {"sha256": file.sha256}}))
        .collect();
    let statement = json!({
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PROVENANCE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": input.build_type,
                "externalParameters": input.external_parameters,
                "internalParameters": input.internal_parameters,
                "resolvedDependencies": input.dependencies,
            },
            "runDetails": {
                "builder": {"id": input.builder_id},
                "metadata": {
                    "invocationId": input.invocation_id,
                    "startedOn": rfc3339(input.started),
                    "finishedOn": rfc3339(input.finished),
                },
            },
        },
    });
    to_pretty(&statement)
}

/// A statement's subject: a name and its digests (algorithm → hex).
pub type Subject = (String, BTreeMap<String, String>);

/// An in-toto v1 statement whose predicate is the SPDX document `sbom` (JSON bytes), about
/// `subjects`: each a name and its digests (`sha256`, or `gitCommit` for a source tree).
pub fn sbom_statement(subjects: &[Subject], sbom: &[u8]) -> Result<Vec<u8>, AttestError> {
    let predicate: Value = serde_json::from_slice(sbom).map_err(|err| AttestError::Sbom {
        reason: err.to_string(),
    })?;
    let subjects: Vec<Value> = subjects
        .iter()
        .map(|(name, digest)| json!({"name": name, "digest": digest}))
        .collect();
    Ok(to_pretty(&json!({
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": SPDX_TYPE,
        "predicate": predicate,
    })))
}

/// A provenance statement read back: its subjects and its sources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// Subject name → SHA-256.
    pub subjects: BTreeMap<String, String>,
    /// The resolved dependencies.
    pub dependencies: Vec<Resource>,
}

/// A difference between a statement and the files it should describe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// A subject has no file.
    Missing(String),
    /// A file is not a subject.
    Unlisted(String),
    /// The file's SHA-256 differs from the subject's.
    Changed {
        /// The file.
        path: String,
        /// The statement's digest.
        expected: String,
        /// The file's digest.
        actual: String,
    },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::Missing(path) => {
                write!(f, "{path}: the provenance lists it, and it is missing")
            }
            Mismatch::Unlisted(path) => write!(f, "{path}: present, and not in the provenance"),
            Mismatch::Changed {
                path,
                expected,
                actual,
            } => write!(
                f,
                "{path}: sha256 is {actual}, the provenance says {expected}"
            ),
        }
    }
}

impl Statement {
    /// Reads a statement; `what` names it in errors.
    pub fn parse(bytes: &[u8], what: &str) -> Result<Statement, AttestError> {
        let malformed = |reason: &str| AttestError::Malformed {
            what: what.to_string(),
            reason: reason.to_string(),
        };
        #[derive(Deserialize)]
        struct Raw {
            #[serde(rename = "_type")]
            kind: String,
            subject: Vec<RawSubject>,
            #[serde(rename = "predicateType")]
            predicate_type: String,
            predicate: RawPredicate,
        }
        #[derive(Deserialize)]
        struct RawSubject {
            name: String,
            digest: BTreeMap<String, String>,
        }
        #[derive(Deserialize)]
        struct RawPredicate {
            #[serde(rename = "buildDefinition")]
            build_definition: RawDefinition,
        }
        #[derive(Deserialize)]
        struct RawDefinition {
            #[serde(rename = "resolvedDependencies", default)]
            resolved_dependencies: Vec<Resource>,
        }
        let raw: Raw = serde_json::from_slice(bytes).map_err(|err| malformed(&err.to_string()))?;
        if raw.kind != STATEMENT_TYPE {
            return Err(malformed(&format!("_type is `{}`", raw.kind)));
        }
        if raw.predicate_type != PROVENANCE_TYPE {
            return Err(malformed(&format!(
                "predicateType is `{}`",
                raw.predicate_type
            )));
        }
        let mut subjects = BTreeMap::new();
        for subject in raw.subject {
            let sha256 = subject
                .digest
                .get("sha256")
                .ok_or_else(|| malformed(&format!("subject {} has no sha256", subject.name)))?;
            if subjects
                .insert(subject.name.clone(), sha256.clone())
                .is_some()
            {
                return Err(malformed(&format!(
                    "subject {} is listed twice",
                    subject.name
                )));
            }
        }
        Ok(Statement {
            subjects,
            dependencies: raw.predicate.build_definition.resolved_dependencies,
        })
    }

    /// Compares the subjects with `files` (paths relative to the same root): every file must
    /// be a subject with the same SHA-256, and every subject a file.
    pub fn check(&self, files: &[FileEntry]) -> Vec<Mismatch> {
        let mut mismatches = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for file in files {
            seen.insert(file.path.as_str());
            match self.subjects.get(&file.path) {
                None => mismatches.push(Mismatch::Unlisted(file.path.clone())),
                Some(expected) if *expected != file.sha256 => mismatches.push(Mismatch::Changed {
                    path: file.path.clone(),
                    expected: expected.clone(),
                    actual: file.sha256.clone(),
                }),
                Some(_) => {}
            }
        }
        for subject in self.subjects.keys() {
            if !seen.contains(subject.as_str()) {
                mismatches.push(Mismatch::Missing(subject.clone()));
            }
        }
        mismatches
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> (tempfile::TempDir, Vec<FileEntry>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("bin/linux/amd64")).unwrap();
        std::fs::write(dir.path().join("bin/linux/amd64/widget"), b"binary").unwrap();
        std::fs::write(dir.path().join("widget.tar.gz"), b"tarball").unwrap();
        std::fs::write(dir.path().join("skip.sig"), b"sig").unwrap();
        let files = describe_files(dir.path(), |p| !p.ends_with(".sig")).unwrap();
        (dir, files)
    }

    #[test]
    fn files_are_hashed_and_sorted() {
        let (_dir, files) = tree();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["bin/linux/amd64/widget", "widget.tar.gz"]);
        // sha1("binary") and sha256("binary"), from coreutils.
        assert_eq!(files[0].sha1, "7e57cfe843145135aee1f4d0d63ceb7842093712");
        assert_eq!(
            files[0].sha256,
            "9a3a45d01531a20e89ac6ae10b0b0beb0492acd7216a368aa062d1a5fecaf9cd"
        );
        assert_eq!(files[0].size, 6);
    }

    #[test]
    fn spdx_document_is_reproducible_and_complete() {
        let (_dir, files) = tree();
        let input = SbomInput {
            name: "widget",
            version: "v1.11.0",
            download_location: "NOASSERTION",
            creator: "Organization: krel-sandbox",
            created: 1_700_000_000,
            files: &files,
        };
        let a = spdx_document(&input);
        assert_eq!(a, spdx_document(&input));
        let doc: Value = serde_json::from_slice(&a).unwrap();
        assert_eq!(doc["spdxVersion"], "SPDX-2.3");
        assert_eq!(doc["creationInfo"]["created"], "2023-11-14T22:13:20Z");
        assert_eq!(doc["files"].as_array().unwrap().len(), 2);
        assert_eq!(doc["files"][0]["fileName"], "./bin/linux/amd64/widget");
        assert_eq!(doc["packages"][0]["hasFiles"].as_array().unwrap().len(), 2);
        let id = doc["files"][0]["SPDXID"].as_str().unwrap();
        assert!(
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'),
            "{id}"
        );
    }

    #[test]
    fn provenance_round_trips_and_catches_every_difference() {
        let (dir, files) = tree();
        let input = ProvenanceInput {
            subjects: files.clone(),
            build_type: "https://krel.dev/stage/v1".into(),
            external_parameters: json!({"type": "official"}),
            internal_parameters: json!({}),
            dependencies: vec![Resource {
                uri: "git+file:///srv/widget.git@refs/tags/v1.11.0".into(),
                digest: [("gitCommit".to_string(), "ab".repeat(20))].into(),
            }],
            builder_id: "https://github.com/krel-dev/krel".into(),
            invocation_id: "v1.11.0-rc.0.3+abc".into(),
            started: 1,
            finished: 2,
        };
        let statement = Statement::parse(&provenance_statement(&input), "p.json").unwrap();
        assert_eq!(statement.subjects.len(), 2);
        assert_eq!(statement.dependencies, input.dependencies);
        assert!(statement.check(&files).is_empty());

        std::fs::write(dir.path().join("widget.tar.gz"), b"tampered").unwrap();
        std::fs::write(dir.path().join("extra"), b"x").unwrap();
        std::fs::remove_file(dir.path().join("bin/linux/amd64/widget")).unwrap();
        let now = describe_files(dir.path(), |p| !p.ends_with(".sig")).unwrap();
        let mismatches = statement.check(&now);
        assert_eq!(mismatches.len(), 3, "{mismatches:?}");
        assert!(mismatches.contains(&Mismatch::Unlisted("extra".into())));
        assert!(mismatches.contains(&Mismatch::Missing("bin/linux/amd64/widget".into())));
        assert!(mismatches
            .iter()
            .any(|m| matches!(m, Mismatch::Changed { path, .. } if path == "widget.tar.gz")));

        let err = Statement::parse(
            br#"{"_type":"x","subject":[],"predicateType":"y","predicate":{"buildDefinition":{}}}"#,
            "p.json",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("p.json") && err.contains("_type"), "{err}");
    }
}
