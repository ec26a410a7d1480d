//! Verifying a stage before anything is published: upstream only warns when provenance does
//! not match; krel stops on the first stage that is not exactly what was built and signed.
//!
//! [`verify_stage`] checks, for a stage directory laid out as [`crate::layout`] describes:
//!
//! 1. the signatures of `STAGED.json` (its bundle `STAGED.json.sigstore.json` and its `.sig`,
//!    whichever are there) against the public key, then that the stage holds exactly the
//!    files the record lists, each with the recorded SHA-256;
//! 2. for each version, the provenance's signatures, and its attestation
//!    (`provenance.json.intoto.sigstore.json`, whose statement must be `provenance.json`
//!    byte for byte), then that the statement's subjects are exactly the files of
//!    `gcs-stage/<version>/` with their SHA-256, and the version's images (index and platform
//!    manifests) with the record's digests;
//! 3. every other file's bundle and `.sig` (at least one of them), and every SBOM's
//!    attestation when there is one;
//! 4. `SHA256SUMS`/`SHA512SUMS` and the per-file digests of each version.
//!
//! Every problem found is reported, not only the first.

use std::path::{Path, PathBuf};

use krel_attest::{describe_files, FileEntry, Statement};

use krel_verify::{is_signature, Verifier};

use crate::files::io;
use crate::layout;
use crate::records::StagedRecord;
use crate::ReleaseError;

/// Verifies the stage in `dir` (a local copy of `stage/<build-version>/`) with `key`, and
/// returns its completion record. Any difference is a [`ReleaseError::Verification`] listing
/// every problem.
pub fn verify_stage(
    dir: &Path,
    checker: &Verifier,
    jobs: usize,
) -> Result<StagedRecord, ReleaseError> {
    let what = format!("the stage at {}", dir.display());
    let fail = |problems: Vec<String>| ReleaseError::Verification {
        what: what.clone(),
        problems,
    };
    let record_path = dir.join(layout::STAGED);
    if !record_path.is_file() {
        return Err(ReleaseError::NotStaged {
            url: dir.display().to_string(),
        });
    }
    // 1. The record, then the files it lists.
    if let Err(problem) = checker.signatures(dir, layout::STAGED, None) {
        return Err(fail(vec![problem]));
    }
    let bytes = std::fs::read(&record_path).map_err(io("reading", &record_path))?;
    let record = StagedRecord::parse(&bytes, &what)?;
    let mut problems = Vec::new();
    let files = describe_files(dir, |path| {
        !path.starts_with(layout::STAGED) || !is_signature(path)
    })?;
    let files: Vec<FileEntry> = files
        .into_iter()
        .filter(|f| f.path != layout::STAGED)
        .collect();
    let mut listed = record.files.clone();
    for file in &files {
        match listed.remove(&file.path) {
            None => problems.push(format!(
                "{}: staged but not in {}",
                file.path,
                layout::STAGED
            )),
            Some(sha256) if sha256 != file.sha256 => problems.push(format!(
                "{}: sha256 is {}, {} says {sha256}",
                file.path,
                file.sha256,
                layout::STAGED
            )),
            Some(_) => {}
        }
    }
    for missing in listed.keys() {
        problems.push(format!("{missing}: in {} but not staged", layout::STAGED));
    }

    // 2. Provenance of each version.
    for version in &record.versions {
        let provenance = dir.join(layout::provenance(version));
        let gcs = dir.join(layout::gcs_stage(version));
        let relative = layout::provenance(version);
        let signed = checker
            .signatures(dir, &relative, None)
            .and_then(|()| checker.attestation(dir, &relative, true).map(|_| ()));
        match signed {
            Err(problem) => problems.push(problem),
            Ok(()) => {
                let text = std::fs::read(&provenance).map_err(io("reading", &provenance))?;
                let statement = Statement::parse(&text, &provenance.display().to_string())?;
                // The files of gcs-stage/<version>/, from the listing already made above.
                let prefix = format!("{version}/gcs-stage/{version}/");
                let mut staged: Vec<FileEntry> = files
                    .iter()
                    .filter_map(|f| {
                        Some(FileEntry {
                            path: f.path.strip_prefix(&prefix)?.to_string(),
                            ..f.clone()
                        })
                    })
                    .collect();
                // The images of the version are subjects too, by the record's digests.
                if let Some(images) = record.images.get(&version.to_string()) {
                    staged.extend(crate::stage::images::image_subjects(images));
                }
                problems.extend(
                    statement
                        .check(&staged)
                        .iter()
                        .map(|m| format!("{version}/gcs-stage/{version}/{m}")),
                );
            }
        }
        // 4. Checksums.
        match krel_checksum::verify_checksums(&gcs, jobs, &krel_checksum::NoProgress) {
            Ok(verification) => problems.extend(
                verification
                    .mismatches
                    .iter()
                    .map(|m| format!("{version}: {m}")),
            ),
            Err(err) => problems.push(format!("{version}: checksums: {err}")),
        }
    }

    // 3. Every other file's signatures, and the SBOMs' attestations.
    let unsigned: Vec<&str> = files
        .iter()
        .map(|f| f.path.as_str())
        .filter(|p| {
            !is_signature(p)
                && !record
                    .versions
                    .iter()
                    .any(|v| *p == layout::provenance(v).as_str())
        })
        .collect();
    let results = krel_sign::parallel_map(
        &unsigned.iter().map(PathBuf::from).collect::<Vec<_>>(),
        jobs,
        |path| {
            let path = path.to_string_lossy();
            checker.signatures(dir, &path, None).and_then(|()| {
                if path.ends_with(".spdx.json") {
                    checker.attestation(dir, &path, false).map(|_| ())
                } else {
                    Ok(())
                }
            })
        },
    );
    problems.extend(results.into_iter().filter_map(Result::err));

    problems.sort();
    problems.dedup();
    if problems.is_empty() {
        Ok(record)
    } else {
        Err(fail(problems))
    }
}
