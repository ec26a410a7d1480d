//! `krel release`: from a completed stage to a published release.
//!
//! [`prepare_release`] does every read and check, then returns a [`Plan`]; the binary runs the
//! plan through `krel_plan::execute` (only with `--nomock`) and calls
//! [`PreparedRelease::finish`]. Steps of the preparation, journaled in the workspace:
//!
//! 1. `download`: `STAGED.json` and every file it lists, from `stage/<build-version>/` of the
//!    bucket (files already downloaded with the recorded SHA-256 are kept).
//! 2. Verification ([`crate::verify::verify_stage`]): the record's signature, every file
//!    against the record, each provenance statement and its subjects, every `.sig`, the SUMS.
//!    Any mismatch stops the release before anything is published. It runs on every run.
//! 3. `source`: `src.tar.gz` restored; every tag must point where the record says.
//! 4. The plan, from the remotes' current state, so a rerun plans only what is left:
//!    - the release branch (new, fast-forwarded, or merged favouring the release when the
//!      remote moved since the stage; the merge is kept at `refs/krel/release/<branch>`), then
//!      each tag (a tag already there at the same commit
//!      is done; at another commit the release stops before any change);
//!    - `gcs-stage/<version>/` and the provenance to `release/<version>/`;
//!    - a GitHub release per version (draft, assets, publish) unless it is published;
//!    - version markers that the versions move forward (after what they announce);
//!    - `stage/<build-version>/RELEASED.json`, last: the release is complete.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use krel_config::Config;
use krel_git::{Credentials, Identity, MergeOutcome, NoProgress, RefUpdate, Repo};
use krel_github::{AssetFile, GitHub, ReleaseSpec};
use krel_plan::{Action, Plan};
use krel_sign::PublicKey;
use krel_storage::{
    marker_names, plan_marker, plan_push, Location, MarkerUpdate, PushOptions, Store, UploadBatch,
};
use krel_version::{BuildVersion, ReleaseType, Version};
use serde::Serialize;

use crate::files::{copy_tree, io, relative_files, remove_dir, write_file};
use crate::journal::Journal;
use crate::layout::{self, slug};
use crate::source::restore_source_archive;
use crate::stage::{type_name, StagedRecord};
use crate::verify::verify_stage;
use crate::{git, storage, ReleaseError, Report};

/// The completion record of a release, uploaded last beside the stage.
pub const RELEASED: &str = "RELEASED.json";

/// What to release.
#[derive(Clone, Debug)]
pub struct ReleaseRequest {
    /// The type the build version was staged as.
    pub release_type: ReleaseType,
    /// The branch it was staged from.
    pub branch: String,
    /// The staged build version.
    pub build_version: BuildVersion,
    /// Release notes for the prime version's GitHub release (markdown), put above the
    /// generated download section.
    pub notes: Option<String>,
}

/// Everything release uses from outside.
pub struct ReleaseSetup<'a> {
    /// The project configuration.
    pub config: &'a Config,
    /// Where workspaces live.
    pub workspace_root: &'a Path,
    /// The bucket holding `stage/<build-version>/` and receiving `release/<version>/`.
    pub bucket: &'a Location,
    /// The bucket's store.
    pub store: &'a Store,
    /// The runtime the store and the GitHub client run on.
    pub runtime: &'a tokio::runtime::Runtime,
    /// Credentials for the git remote.
    pub credentials: &'a Credentials,
    /// Who makes a merge commit, when the release branch moved since the stage.
    pub identity: Option<&'a Identity>,
    /// The key the stage was signed with (its public half).
    pub public_key: &'a PublicKey,
    /// The GitHub client, when GitHub releases are published (`release.github_release`).
    pub github: Option<&'a GitHub>,
    /// Threads for hashing and verifying, requests at once.
    pub jobs: usize,
    /// Called after each journaled step.
    pub after_step: &'a dyn Fn(&str),
    /// Where progress goes.
    pub report: &'a dyn Report,
}

/// What a release does or did, for the summary.
#[derive(Clone, Debug, Serialize)]
pub struct ReleaseSummary {
    /// The build version.
    pub build_version: String,
    /// The versions, prime first.
    pub versions: Vec<String>,
    /// Where the versions are published (`<bucket>/release`).
    pub location: String,
    /// Files verified in the stage.
    pub verified: usize,
    /// Version → commit of its tag.
    pub tags: BTreeMap<String, String>,
    /// The release branch and the commit it gets, for releases from a release branch.
    pub branch: Option<(String, String)>,
    /// What is already done on the remotes (from an earlier run, or another release).
    pub already_done: Vec<String>,
    /// The actions the plan holds.
    pub actions: usize,
    /// The local workspace.
    pub workspace: PathBuf,
}

/// A verified stage and the plan that publishes it.
pub struct PreparedRelease {
    /// The plan; execute it with `krel_plan::execute`.
    pub plan: Plan,
    /// The restored source repository, which the git pushes read from.
    pub repo: Repo,
    /// The summary.
    pub summary: ReleaseSummary,
    journal: Journal,
}

impl PreparedRelease {
    /// Records the release as complete in the journal (after the plan was executed).
    pub fn finish(mut self) -> Result<ReleaseSummary, ReleaseError> {
        self.journal
            .record("published", self.summary.versions.join(" "))?;
        Ok(self.summary)
    }
}

/// Downloads and verifies the stage and plans its publication; see the module documentation.
pub fn prepare_release(
    setup: &ReleaseSetup<'_>,
    request: &ReleaseRequest,
) -> Result<PreparedRelease, ReleaseError> {
    let config = setup.config;
    let report = setup.report;
    let build_version = &request.build_version;
    let project_slug = slug(&config.project);
    let workspace = setup
        .workspace_root
        .join("release")
        .join(&project_slug)
        .join(build_version.to_string());
    std::fs::create_dir_all(&workspace).map_err(io("creating the workspace", &workspace))?;
    let mut journal = Journal::open(
        &workspace.join("journal.json"),
        "release",
        &build_version.to_string(),
    )?;

    // 1. The stage, from the bucket.
    let stage_location = setup.bucket.join(&layout::stage_dir(build_version));
    let local = workspace.join("stage");
    report.status("Reading", &format!("the stage at {stage_location}"));
    let record = read_record(setup, &stage_location, &local)?;
    // The request must be what was staged: checked before anything large is downloaded.
    let staged_as = (record.release_type.as_str(), record.branch.as_str());
    if staged_as != (type_name(request.release_type), request.branch.as_str())
        || record.build_version != build_version.to_string()
        || record.project != config.project
    {
        return Err(ReleaseError::Config {
            message: format!(
                "{} {build_version} was staged as `--type {} --branch {}` of {}, not `--type {} --branch {}` of {}",
                stage_location,
                record.release_type,
                record.branch,
                record.project,
                type_name(request.release_type),
                request.branch,
                config.project
            ),
            hint: format!(
                "release what was staged: krel release --type {} --branch {} --build-version {build_version}",
                record.release_type, record.branch
            ),
        });
    }
    download_files(setup, &stage_location, &local, &record)?;
    if !journal.is_done("download") {
        journal.record("download", record.files.len().to_string())?;
        (setup.after_step)("download");
    }

    // 2. Verification, every run.
    report.status(
        "Verifying",
        &format!(
            "{} staged files: signatures, checksums and provenance",
            record.files.len() + 2
        ),
    );
    let verified = verify_stage(&local, setup.public_key, setup.jobs)?;
    if verified != record {
        return Err(ReleaseError::Verification {
            what: stage_location.to_string(),
            problems: vec!["STAGED.json changed while it was being verified".into()],
        });
    }
    report.status(
        "Verified",
        &format!(
            "{} files against the signed record and provenance",
            record.files.len() + 2
        ),
    );

    // 3. The source with its git objects.
    // Restored once per archive: the journal holds the archive's digest, so another stage's
    // source is never reused.
    let source_dir = workspace.join("source");
    let archive_digest = record
        .files
        .get(layout::SOURCE_ARCHIVE)
        .cloned()
        .unwrap_or_default();
    if journal.get("source") != Some(archive_digest.as_str()) || !source_dir.is_dir() {
        remove_dir(&source_dir)?;
        restore_source_archive(&local.join(layout::SOURCE_ARCHIVE), &source_dir)?;
        journal.record("source", archive_digest)?;
        (setup.after_step)("source");
    } else {
        report.resumed("source");
    }
    let top = single_subdirectory(&source_dir)?;
    let repo = Repo::open(&top).map_err(git("opening the restored source"))?;
    let remote = &config.git.remote;
    let url = config.git_url();
    repo.set_remote_url(remote, &url)
        .map_err(git("pointing the restored source at the remote"))?;
    let mut problems = Vec::new();
    for (version, commit) in &record.tags {
        match repo.resolve(&format!("refs/tags/{version}^{{commit}}")) {
            Ok(found) if found.to_string() == *commit => {}
            Ok(found) => problems.push(format!(
                "tag {version} in {} points at {found}, STAGED.json says {commit}",
                layout::SOURCE_ARCHIVE
            )),
            Err(_) => problems.push(format!("{} has no tag {version}", layout::SOURCE_ARCHIVE)),
        }
    }
    if let Some(commit) = &record.release_branch_commit {
        match repo.resolve(&format!("refs/heads/{}", record.branch)) {
            Ok(found) if found.to_string() == *commit => {}
            _ => problems.push(format!(
                "{} does not hold branch {} at {commit}",
                layout::SOURCE_ARCHIVE,
                record.branch
            )),
        }
    }
    if !problems.is_empty() {
        return Err(ReleaseError::Verification {
            what: stage_location.to_string(),
            problems,
        });
    }

    let versions: Vec<Version> = record
        .versions
        .iter()
        .map(|v| {
            v.parse::<Version>()
                .map_err(|err| ReleaseError::Verification {
                    what: stage_location.to_string(),
                    problems: vec![format!("STAGED.json names `{v}`, not a version: {err}")],
                })
        })
        .collect::<Result<_, _>>()?;
    let mut plan = Plan::new(format!(
        "release {} of {} from {build_version}",
        record.versions.join(" and "),
        config.project
    ));
    let mut already_done = Vec::new();

    // 4a. Git: the release branch, then the tags.
    report.status("Checking", &format!("the branches and tags of {url}"));
    let refs = repo
        .list_remote(remote, setup.credentials)
        .map_err(git(format!("listing the branches and tags of {url}")))?;
    let mut tag_updates = Vec::new();
    for version in record.tags.keys() {
        let commit = repo
            .resolve(&format!("refs/tags/{version}^{{commit}}"))
            .map_err(git(format!("reading tag {version}")))?;
        match refs.tags.get(version) {
            Some(existing) if *existing == commit => {
                already_done.push(format!("tag {version} is on the remote"));
            }
            Some(existing) => {
                return Err(ReleaseError::TagOnRemote {
                    tag: version.clone(),
                    version: version.clone(),
                    commit: existing.short(),
                })
            }
            None => tag_updates.push(RefUpdate {
                remote: remote.clone(),
                url: url.clone(),
                source: format!("refs/tags/{version}"),
                commit,
                destination: format!("refs/tags/{version}"),
                expected: None,
            }),
        }
    }
    let mut branch_summary = None;
    if record.release_branch_commit.is_some() {
        let branch = &record.branch;
        let local_ref = format!("refs/heads/{branch}");
        let release_commit = repo
            .resolve(&local_ref)
            .map_err(git(format!("reading branch {branch}")))?;
        // A merge is kept on a scratch ref: the restored branch stays where the stage put it,
        // so the next run (a rerun, or --nomock after a mock run) checks and plans the same way.
        let merge_ref = format!("refs/krel/release/{branch}");
        let update = |source: &str, target, expected| RefUpdate {
            remote: remote.clone(),
            url: url.clone(),
            source: source.to_string(),
            commit: target,
            destination: local_ref.clone(),
            expected,
        };
        let mut branch_target = release_commit;
        match refs.heads.get(branch).copied() {
            None => plan.push(Action::PushRef(update(&local_ref, release_commit, None))),
            Some(head) if head == release_commit => {
                already_done.push(format!("{branch} is at the release commit"));
            }
            Some(head) => {
                // The remote's history is needed to compare: fetch it (tags were checked above,
                // so fetching them changes none of ours).
                repo.fetch(remote, setup.credentials, &NoProgress)
                    .map_err(git(format!("fetching {url}")))?;
                if repo
                    .is_ancestor(release_commit, head)
                    .map_err(git("comparing the release branch"))?
                {
                    already_done.push(format!("{branch} holds the release commit"));
                } else if repo
                    .is_ancestor(head, release_commit)
                    .map_err(git("comparing the release branch"))?
                {
                    plan.push(Action::PushRef(update(
                        &local_ref,
                        release_commit,
                        Some(head),
                    )));
                } else {
                    let identity = setup.identity.ok_or_else(|| ReleaseError::Config {
                        message: format!("{branch} moved on the remote since the stage, and merging needs a committer identity"),
                        hint: "set GIT_COMMITTER_NAME and GIT_COMMITTER_EMAIL, or git config user.name and user.email".into(),
                    })?;
                    let message =
                        format!("Merge remote-tracking branch '{remote}/{branch}' into {branch}");
                    match repo
                        .merge_favoring_ours(release_commit, head, &message, Some(identity))
                        .map_err(git(format!("merging the remote's {branch}")))?
                    {
                        MergeOutcome::Merged(merged) => {
                            repo.set_reference(&merge_ref, merged, "krel release: merge")
                                .map_err(git("keeping the merge commit"))?;
                            branch_target = merged;
                            report.status(
                                "Merged",
                                &format!(
                                    "{branch} moved on the remote since the stage: {} merges {}",
                                    merged.short(),
                                    head.short()
                                ),
                            );
                            plan.push(Action::PushRef(update(&merge_ref, merged, Some(head))));
                        }
                        MergeOutcome::Conflicts(conflicts) => {
                            return Err(ReleaseError::BranchDiverged {
                                branch: branch.clone(),
                                conflicts: conflicts
                                    .iter()
                                    .map(|c| format!("{}: {:?}", c.path, c.kind))
                                    .collect(),
                            })
                        }
                        MergeOutcome::UpToDate | MergeOutcome::FastForward(_) => {}
                    }
                }
            }
        }
        branch_summary = Some((branch.clone(), branch_target.to_string()));
    }
    for update in tag_updates {
        plan.push(Action::PushRef(update));
    }

    // 4b. The files of each version to release/<version>/.
    let publish = workspace.join("publish");
    remove_dir(&publish)?;
    let release_root = setup.bucket.join("release");
    let options = PushOptions {
        allow_overwrite: false,
        jobs: setup.jobs.max(1),
    };
    for version in &versions {
        let dir = publish.join(version.to_string());
        copy_tree(&local.join(layout::gcs_stage(version)), &dir)?;
        for name in [
            layout::PROVENANCE.to_string(),
            format!("{}.sig", layout::PROVENANCE),
        ] {
            let from = local.join(version.to_string()).join(&name);
            std::fs::hard_link(&from, dir.join(&name))
                .or_else(|_| std::fs::copy(&from, dir.join(&name)).map(|_| ()))
                .map_err(io("copying", &from))?;
        }
        let location = release_root.join(&version.to_string());
        let push = setup
            .runtime
            .block_on(plan_push(&dir, &location, setup.store, &options))
            .map_err(storage(format!("comparing {version} with {location}")))?;
        if push.uploads.is_empty() {
            already_done.push(format!("{location} holds every file"));
        } else {
            plan.push(Action::Upload(UploadBatch {
                destination: location.to_string(),
                objects: push.uploads,
            }));
        }
    }

    // 4c. GitHub releases (after the tags: GitHub would otherwise make a missing tag itself).
    if let Some(github) = setup.github {
        for (index, version) in versions.iter().enumerate() {
            let tag = version.to_string();
            let existing = setup
                .runtime
                .block_on(github.find_release(&tag))
                .map_err(|err| ReleaseError::GitHub {
                    context: format!("looking up the GitHub release {tag}"),
                    source: Box::new(err),
                })?;
            let dir = publish.join(&tag);
            let assets = release_assets(&dir)?;
            if let Some(existing) = &existing {
                if !existing.draft {
                    // Published releases take no more assets: one that lacks some stops the
                    // release here, before anything is changed.
                    let missing: Vec<String> = assets
                        .iter()
                        .filter(|file| {
                            !existing.assets.iter().any(|a| {
                                a.name == file.name && a.state == "uploaded" && a.size == file.size
                            })
                        })
                        .map(|file| file.name.clone())
                        .collect();
                    if !missing.is_empty() {
                        return Err(ReleaseError::GitHub {
                            context: format!("checking the published GitHub release {tag}"),
                            source: Box::new(krel_github::GitHubError::ReleaseIncomplete {
                                tag: tag.clone(),
                                repository: format!("{}/{}", config.github.org, config.github.repo),
                                missing,
                            }),
                        });
                    }
                    already_done.push(format!("the GitHub release {tag} is published"));
                    continue;
                }
            }
            let notes = if index == 0 {
                request.notes.as_deref()
            } else {
                None
            };
            plan.push(Action::PublishRelease(ReleaseSpec {
                repository: format!("{}/{}", config.github.org, config.github.repo),
                tag: tag.clone(),
                name: format!("{} {tag}", config.project),
                body: release_body(
                    notes,
                    &release_root.join(&tag).to_string(),
                    &record,
                    version,
                ),
                prerelease: !version.is_official(),
                assets,
            }));
        }
    }

    // 4d. Version markers, each to the newest version that names it: after everything they
    // announce is in place.
    let mut markers: BTreeMap<String, &Version> = BTreeMap::new();
    for version in &versions {
        for name in marker_names(version) {
            let entry = markers.entry(name).or_insert(version);
            if version > *entry {
                *entry = version;
            }
        }
    }
    let marker_updates: Vec<Option<MarkerUpdate>> = setup
        .runtime
        .block_on(
            futures_util::stream::iter(markers.iter())
                .map(|(name, version)| plan_marker(setup.store, &release_root, name, version))
                .buffered(setup.jobs.max(1))
                .collect::<Vec<_>>(),
        )
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(storage("reading the version markers"))?;
    for ((name, _), update) in markers.iter().zip(marker_updates) {
        match update {
            Some(update) => plan.push(Action::SetMarker(update)),
            None => already_done.push(format!("{name} names this version or a newer one")),
        }
    }

    // 4e. The completion record, last.
    let released_dir = workspace.join("released");
    remove_dir(&released_dir)?;
    let released = serde_json::json!({
        "project": record.project,
        "build_version": record.build_version,
        "versions": record.versions,
        "tags": record.tags,
        "release_branch": branch_summary.as_ref().map(|(b, _)| b),
        "release_branch_commit": record.release_branch_commit,
        "location": release_root.to_string(),
    });
    let mut bytes = serde_json::to_vec_pretty(&released).unwrap_or_default();
    bytes.push(b'\n');
    write_file(&released_dir.join(RELEASED), &bytes)?;
    let push = setup
        .runtime
        .block_on(plan_push(
            &released_dir,
            &stage_location,
            setup.store,
            &options,
        ))
        .map_err(storage(format!(
            "comparing {RELEASED} with {stage_location}"
        )))?;
    if !push.uploads.is_empty() {
        plan.push(Action::Upload(UploadBatch {
            destination: stage_location.to_string(),
            objects: push.uploads,
        }));
    }

    Ok(PreparedRelease {
        summary: ReleaseSummary {
            build_version: build_version.to_string(),
            versions: record.versions.clone(),
            location: release_root.to_string(),
            verified: record.files.len() + 2,
            tags: record.tags.clone(),
            branch: branch_summary,
            already_done,
            actions: plan.actions.len(),
            workspace,
        },
        plan,
        repo,
        journal,
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

/// Downloads the record and its signature into `local`; returns the (not yet verified) record.
fn read_record(
    setup: &ReleaseSetup<'_>,
    stage: &Location,
    local: &Path,
) -> Result<StagedRecord, ReleaseError> {
    for name in [
        layout::STAGED.to_string(),
        format!("{}.sig", layout::STAGED),
    ] {
        let (_, found) = setup
            .runtime
            .block_on(fetch(setup.store, stage, local, name.clone()))
            .map_err(storage(format!("downloading {name} from {stage}")))?;
        if !found {
            return Err(ReleaseError::NotStaged {
                url: stage.to_string(),
            });
        }
    }
    let record_path = local.join(layout::STAGED);
    let bytes = std::fs::read(&record_path).map_err(io("reading", &record_path))?;
    serde_json::from_slice(&bytes).map_err(|err| ReleaseError::Verification {
        what: stage.to_string(),
        problems: vec![format!("{} is not a stage record: {err}", layout::STAGED)],
    })
}

/// Downloads every file `record` lists into `local`. Files already there with the recorded
/// digest are kept (a rerun after a kill); files the record does not list are removed.
fn download_files(
    setup: &ReleaseSetup<'_>,
    stage: &Location,
    local: &Path,
    record: &StagedRecord,
) -> Result<(), ReleaseError> {
    // Files already here with the recorded digest are kept (a rerun after a kill).
    let mut wanted = Vec::new();
    for (name, sha256) in &record.files {
        if name.split('/').any(|part| part == ".." || part.is_empty()) {
            return Err(ReleaseError::Verification {
                what: stage.to_string(),
                problems: vec![format!("{} lists a bad path `{name}`", layout::STAGED)],
            });
        }
        let path = local.join(name);
        let have = krel_sign::sha256_file(&path).ok().map(hex::encode);
        if have.as_deref() != Some(sha256.as_str()) {
            wanted.push(name.clone());
        }
    }
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
    // Files that are no longer in the record (a stage rewritten by hand) must not linger.
    for (name, path) in relative_files(local)? {
        let keep = record.files.contains_key(&name)
            || name == layout::STAGED
            || name == format!("{}.sig", layout::STAGED);
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

/// The files attached to a GitHub release: the top level of `release/<version>/` (tarballs,
/// checksums, SBOMs, provenance, signatures), not the per-platform `bin/` tree.
fn release_assets(dir: &Path) -> Result<Vec<AssetFile>, ReleaseError> {
    let mut assets = Vec::new();
    for (name, path) in relative_files(dir)? {
        if name.contains('/') {
            continue;
        }
        let size = std::fs::metadata(&path)
            .map_err(io("reading", &path))?
            .len();
        assets.push(AssetFile { name, path, size });
    }
    Ok(assets)
}

/// The GitHub release's text: the notes, then where everything is and the digests.
fn release_body(
    notes: Option<&str>,
    location: &str,
    record: &StagedRecord,
    version: &Version,
) -> String {
    let mut body = String::new();
    if let Some(notes) = notes {
        body.push_str(notes.trim_end());
        body.push_str("\n\n");
    }
    body.push_str(&format!(
        "## Downloads for {version}\n\nEvery artifact, per-platform binary, checksum, SBOM and signature is at `{location}/`; \
         `provenance.json` there is a signed SLSA v1 statement covering all of them.\n\n\
         | file | sha256 |\n|---|---|\n"
    ));
    let prefix = format!("{}/", layout::gcs_stage(version));
    for (path, sha256) in &record.files {
        if let Some(name) = path.strip_prefix(&prefix) {
            if !name.contains('/') && !name.ends_with(".sig") && !name.contains(".sha") {
                body.push_str(&format!("| {name} | `{sha256}` |\n"));
            }
        }
    }
    body.push_str(&format!(
        "\nBuilt from build version {} ({} release from `{}`).\n",
        record.build_version, record.release_type, record.branch
    ));
    body
}
