//! Verifying a stage before anything is published: upstream only warns when provenance does
//! not match; krel stops on the first stage that is not exactly what was built and signed.
//!
//! [`verify_stage`] checks, for a stage directory laid out as [`crate::layout`] describes:
//!
//! 1. `STAGED.json.sig` against the public key, then that the stage holds exactly the files
//!    the record lists, each with the recorded SHA-256;
//! 2. for each version, `provenance.json.sig`, then that the statement's subjects are exactly
//!    the files of `gcs-stage/<version>/` with their SHA-256, and the version's images (index
//!    and platform manifests) with the record's digests;
//! 3. every `.sig` in the stage against its file, and that no file lacks one;
//! 4. `SHA256SUMS`/`SHA512SUMS` and the per-file digests of each version.
//!
//! Every problem found is reported, not only the first.

use std::path::{Path, PathBuf};

use krel_attest::{describe_files, FileEntry, Statement};
use krel_sign::{verify_files, PublicKey};

use crate::files::io;
use crate::layout;
use crate::records::StagedRecord;
use crate::ReleaseError;

/// Verifies the stage in `dir` (a local copy of `stage/<build-version>/`) with `key`, and
/// returns its completion record. Any difference is a [`ReleaseError::Verification`] listing
/// every problem.
pub fn verify_stage(
    dir: &Path,
    key: &PublicKey,
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
    if let Some(Err(err)) = verify_files(key, std::slice::from_ref(&record_path), 1).pop() {
        return Err(fail(vec![format!("{}: {err}", layout::STAGED)]));
    }
    let bytes = std::fs::read(&record_path).map_err(io("reading", &record_path))?;
    let record = StagedRecord::parse(&bytes, &what)?;
    let mut problems = Vec::new();
    let files = describe_files(dir, |path| {
        path != layout::STAGED && path != format!("{}.sig", layout::STAGED)
    })?;
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
        match verify_files(key, std::slice::from_ref(&provenance), 1).pop() {
            Some(Err(err)) => problems.push(format!("{version}/{}: {err}", layout::PROVENANCE)),
            _ => {
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

    // 3. Every signature, and every file signed.
    let mut signed: Vec<PathBuf> = Vec::new();
    for file in &files {
        if let Some(original) = file.path.strip_suffix(".sig") {
            signed.push(dir.join(original));
        } else if !dir.join(format!("{}.sig", file.path)).is_file() {
            problems.push(format!("{}: no signature", file.path));
        }
    }
    let results = verify_files(key, &signed, jobs);
    for (path, result) in signed.iter().zip(results) {
        if result.is_err() {
            let relative = path.strip_prefix(dir).unwrap_or(path).display().to_string();
            problems.push(format!(
                "{relative}: its signature ({relative}.sig) does not verify with the key"
            ));
        }
    }

    problems.sort();
    problems.dedup();
    if problems.is_empty() {
        Ok(record)
    } else {
        Err(fail(problems))
    }
}
