//! Verifying a stage before anything is published: upstream only warns when provenance does
//! not match; krel stops on the first stage that is not exactly what was built and signed.
//!
//! [`verify_stage`] checks, for a stage directory laid out as [`crate::layout`] describes:
//!
//! 1. the signatures of `STAGED.json` (its bundle and its `.sig`, whichever are there), then
//!    that the stage holds exactly the files the record lists, each with the recorded SHA-256;
//! 2. the signatures of the stage's own files (the source archive and its digest);
//! 3. each version exactly as `krel release` will publish it (`gcs-stage/<version>/` with its
//!    `provenance.json`, hard-linked into a scratch view) through `krel verify`'s checks
//!    ([`krel_verify::verify_release`], SHA-512 included): checksums, every file's bundle and
//!    `.sig`, the provenance (attestation, subjects: every file and image, source tag), the
//!    SBOMs and their attestations. What is verified is what is published; nothing is read
//!    twice.
//!
//! Every problem is reported, not only the first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use krel_verify::{is_signature, Verifier};

use crate::files::{io, relative_files};
use crate::layout;
use crate::records::StagedRecord;
use crate::ReleaseError;

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
    let mut problems = record_problems(dir, &record, jobs)?;

    // 2. The stage's own files: everything outside the versions' directories.
    let versions: Vec<String> = record.versions.iter().map(ToString::to_string).collect();
    for name in record.files.keys() {
        let in_version = versions.iter().any(|v| name.starts_with(&format!("{v}/")));
        if !in_version && !is_signature(name) {
            if let Err(problem) = checker.signatures(dir, name, None) {
                problems.push(problem);
            }
        }
    }

    // 3. Each version as it will be published.
    let parent = dir.parent().unwrap_or(Path::new("."));
    let (_registered, view) = krel_fs::scratch::temp_dir(parent, ".krel-verify-")
        .map_err(io("creating a scratch directory in", parent))?;
    let laid_out = crate::release::plan::publish_dirs(dir, view.path(), &record.versions);
    if let Err(err) = &laid_out {
        problems.push(format!(
            "the versions cannot be laid out as published: {err}"
        ));
    }
    for version in record.versions.iter().filter(|_| laid_out.is_ok()) {
        let expect = krel_verify::Expect {
            version: Some(version.to_string()),
            source_repo: None,
            sha512: true,
        };
        match krel_verify::verify_release(
            &view.path().join(version.to_string()),
            checker,
            &expect,
            jobs,
        ) {
            Ok(report) => {
                problems.extend(report.problems.iter().map(|p| format!("{version}: {p}")))
            }
            Err(err) => problems.push(format!("{version}: {err}")),
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

/// The files of the stage against the record: none missing, none extra, each with the
/// recorded SHA-256 (hashed in parallel).
fn record_problems(
    dir: &Path,
    record: &StagedRecord,
    jobs: usize,
) -> Result<Vec<String>, ReleaseError> {
    let files: Vec<(String, PathBuf)> = relative_files(dir)?
        .into_iter()
        .filter(|(name, _)| {
            !(name.starts_with(layout::STAGED) && (name == layout::STAGED || is_signature(name)))
        })
        .collect();
    let paths: Vec<PathBuf> = files.iter().map(|(_, path)| path.clone()).collect();
    let digests = krel_fs::parallel_map(&paths, jobs, |path| krel_sign::sha256_file(path));
    let mut problems = Vec::new();
    let mut listed: BTreeMap<String, String> = record.files.clone();
    for ((name, path), digest) in files.iter().zip(digests) {
        let digest = hex::encode(digest.map_err(io("reading", path))?);
        match listed.remove(name) {
            None => problems.push(format!("{name}: staged but not in {}", layout::STAGED)),
            Some(sha256) if sha256 != digest => problems.push(format!(
                "{name}: sha256 is {digest}, {} says {sha256}",
                layout::STAGED
            )),
            Some(_) => {}
        }
    }
    for missing in listed.keys() {
        problems.push(format!("{missing}: in {} but not staged", layout::STAGED));
    }
    Ok(problems)
}
