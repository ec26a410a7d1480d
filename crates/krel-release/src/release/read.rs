//! The first half of a release: the stage downloaded, verified and its source restored.

use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use krel_git::Repo;
use krel_storage::{Location, Store};
use krel_version::Version;

use super::{ReleaseRequest, ReleaseSetup};
use crate::files::{io, relative_files, remove_dir};
use crate::journal::Journal;
use crate::layout;
use crate::records::StagedRecord;
use crate::source::restore_source_archive;
use crate::{git, storage, ReleaseError};

/// A stage that verified, with its source restored.
pub struct VerifiedStage {
    /// The signed record.
    pub record: StagedRecord,
    /// Where the stage is in the bucket.
    pub location: Location,
    /// The local copy of the stage.
    pub local: PathBuf,
    /// The restored source repository (tags and release branch as staged).
    pub repo: Repo,
}

impl VerifiedStage {
    /// The versions, prime first.
    pub fn versions(&self) -> &[Version] {
        &self.record.versions
    }
}

/// Downloads the stage of `request` into `workspace/stage`, verifies every signature,
/// checksum and provenance subject (any mismatch stops the release), and restores the source
/// with its tags (journal steps `download` and `source`).
pub fn verify_stage(
    setup: &ReleaseSetup<'_>,
    request: &ReleaseRequest,
    workspace: &Path,
    journal: &mut Journal,
) -> Result<VerifiedStage, ReleaseError> {
    let report = setup.report;
    let location = setup
        .bucket
        .join(&layout::stage_dir(&request.build_version));
    let local = workspace.join("stage");
    report.status("Reading", &format!("the stage at {location}"));
    let record = read_record(setup, &location, &local)?;
    // The request must be what was staged: checked before anything large is downloaded.
    check_request(setup, request, &record, &location)?;
    download_files(setup, &location, &local, &record)?;
    if !journal.is_done("download") {
        journal.record("download", record.files.len().to_string())?;
        (setup.after_step)("download");
    }
    let count = record.files.len() + 2;
    report.status(
        "Verifying",
        &format!("{count} staged files: signatures, checksums and provenance"),
    );
    let verified = crate::verify::verify_stage(&local, setup.verifier, setup.jobs)?;
    if verified != record {
        return Err(ReleaseError::Verification {
            what: location.to_string(),
            problems: vec!["STAGED.json changed while it was being verified".into()],
        });
    }
    report.status(
        "Verified",
        &format!("{count} files against the signed record and provenance"),
    );
    let repo = restore_source(setup, workspace, journal, &local, &record)?;
    check_source(&repo, &record, &location)?;
    Ok(VerifiedStage {
        record,
        location,
        local,
        repo,
    })
}

fn check_request(
    setup: &ReleaseSetup<'_>,
    request: &ReleaseRequest,
    record: &StagedRecord,
    location: &Location,
) -> Result<(), ReleaseError> {
    let build_version = &request.build_version;
    let asked = StagedRecord {
        release_type: request.release_type,
        branch: request.branch.clone(),
        project: setup.config.project.clone(),
        ..record.clone()
    };
    if asked.describe() == record.describe() && record.build_version == *build_version {
        return Ok(());
    }
    Err(ReleaseError::Config {
        message: format!(
            "{location} holds build version {} staged as {}; this run asks for build version {build_version} as {}",
            record.build_version,
            record.describe(),
            asked.describe(),
        ),
        hint: format!(
            "release what was staged: krel release --type {} --branch {} --build-version {}",
            record.release_type, record.branch, record.build_version
        ),
    })
}

/// The source with its git objects, restored once per archive: the journal holds the
/// archive's digest, so another stage's source is never reused.
fn restore_source(
    setup: &ReleaseSetup<'_>,
    workspace: &Path,
    journal: &mut Journal,
    local: &Path,
    record: &StagedRecord,
) -> Result<Repo, ReleaseError> {
    let source_dir = workspace.join("source");
    let digest = record
        .files
        .get(layout::SOURCE_ARCHIVE)
        .cloned()
        .unwrap_or_default();
    if journal.get("source") != Some(digest.as_str()) || !source_dir.is_dir() {
        remove_dir(&source_dir)?;
        restore_source_archive(&local.join(layout::SOURCE_ARCHIVE), &source_dir)?;
        journal.record("source", digest)?;
        (setup.after_step)("source");
    } else {
        setup.report.resumed("source");
    }
    let top = single_subdirectory(&source_dir)?;
    let repo = Repo::open(&top).map_err(git("opening the restored source"))?;
    repo.set_remote_url(&setup.config.git.remote, &setup.config.git_url())
        .map_err(git("pointing the restored source at the remote"))?;
    Ok(repo)
}

/// Every tag, and the release branch, must be where the record says.
fn check_source(
    repo: &Repo,
    record: &StagedRecord,
    location: &Location,
) -> Result<(), ReleaseError> {
    let archive = layout::SOURCE_ARCHIVE;
    let mut problems = Vec::new();
    for (version, commit) in &record.tags {
        match repo.resolve(&format!("refs/tags/{version}^{{commit}}")) {
            Ok(found) if found == *commit => {}
            Ok(found) => problems.push(format!(
                "tag {version} in {archive} points at {found}, STAGED.json says {commit}"
            )),
            Err(_) => problems.push(format!("{archive} has no tag {version}")),
        }
    }
    if let Some(commit) = &record.release_branch_commit {
        match repo.resolve(&format!("refs/heads/{}", record.branch)) {
            Ok(found) if found == *commit => {}
            _ => problems.push(format!(
                "{archive} does not hold branch {} at {commit}",
                record.branch
            )),
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(ReleaseError::Verification {
        what: location.to_string(),
        problems,
    })
}

/// Fetches `name` of the stage into `local`; whether the bucket has it.
async fn fetch(
    store: &Store,
    stage: &Location,
    local: &Path,
    name: String,
) -> Result<(String, bool), krel_storage::StorageError> {
    let found = store
        .download(&stage.key(&name), &local.join(&name))
        .await?;
    Ok((name, found))
}

/// Downloads the record and its signatures (bundle, `.sig`; at least one) into `local`;
/// returns the (not yet verified) record.
fn read_record(
    setup: &ReleaseSetup<'_>,
    stage: &Location,
    local: &Path,
) -> Result<StagedRecord, ReleaseError> {
    let mut found = Vec::new();
    for name in record_files() {
        let (_, here) = setup
            .runtime
            .block_on(fetch(setup.store, stage, local, name.clone()))
            .map_err(storage(format!("downloading {name} from {stage}")))?;
        found.push(here);
    }
    // The record, and a signature of it.
    if !found[0] || !found[1..].contains(&true) {
        return Err(ReleaseError::NotStaged {
            url: stage.to_string(),
        });
    }
    let record_path = local.join(layout::STAGED);
    let bytes = std::fs::read(&record_path).map_err(io("reading", &record_path))?;
    StagedRecord::parse(&bytes, &stage.to_string())
}

/// Downloads every file `record` lists into `local`. Files already there with the recorded
/// digest are kept (a rerun after a kill); files the record does not list are removed.
fn download_files(
    setup: &ReleaseSetup<'_>,
    stage: &Location,
    local: &Path,
    record: &StagedRecord,
) -> Result<(), ReleaseError> {
    // Paths were checked when the record was read (StagedRecord::parse).
    let wanted: Vec<String> = record
        .files
        .iter()
        .filter(|(name, sha256)| {
            let have = krel_sign::sha256_file(&local.join(name))
                .ok()
                .map(hex::encode);
            have.as_deref() != Some(sha256.as_str())
        })
        .map(|(name, _)| name.clone())
        .collect();
    if !wanted.is_empty() {
        setup.report.status(
            "Downloading",
            &format!("{} file(s) from {stage}", wanted.len()),
        );
    }
    let results = setup.runtime.block_on(
        futures_util::stream::iter(wanted)
            .map(|name| fetch(setup.store, stage, local, name))
            .buffer_unordered(setup.jobs.max(1))
            .collect::<Vec<_>>(),
    );
    let mut missing = Vec::new();
    for result in results {
        let (name, found) = result.map_err(storage(format!("downloading the stage {stage}")))?;
        if !found {
            missing.push(format!(
                "{name}: in {} but not in the bucket",
                layout::STAGED
            ));
        }
    }
    if !missing.is_empty() {
        missing.sort();
        return Err(ReleaseError::Verification {
            what: stage.to_string(),
            problems: missing,
        });
    }
    remove_unlisted(local, record)
}

/// The record and its signatures, which it cannot list.
fn record_files() -> [String; 3] {
    [
        layout::STAGED.to_string(),
        format!("{}.sigstore.json", layout::STAGED),
        format!("{}.sig", layout::STAGED),
    ]
}

/// Files that are no longer in the record (a stage rewritten by hand) must not linger.
fn remove_unlisted(local: &Path, record: &StagedRecord) -> Result<(), ReleaseError> {
    for (name, path) in relative_files(local)? {
        let keep = record.files.contains_key(&name) || record_files().contains(&name);
        if !keep {
            std::fs::remove_file(&path).map_err(io("removing", &path))?;
        }
    }
    Ok(())
}

/// The only directory in `dir` (the restored archive's top directory).
fn single_subdirectory(dir: &Path) -> Result<PathBuf, ReleaseError> {
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io("reading", dir))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    match entries.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(ReleaseError::Workspace {
            path: dir.to_path_buf(),
            reason: "the restored source should hold one directory".into(),
        }),
    }
}
