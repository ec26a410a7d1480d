//! `krel stage`: from a branch of the remote to a complete, signed stage in a bucket.
//!
//! Steps, each recorded in the journal when complete (a rerun skips what is recorded):
//!
//! 1. `clone`: a bare clone of the remote in the workspace (through a mirror kept between
//!    runs, so a large repository is fetched, not cloned, each time).
//! 2. `tag <version>`: on a release branch, an empty "Release commit for <project> <version>"
//!    on top of the build version's commit, tagged; on the main branch, the build version's
//!    commit is tagged. Local only: stage pushes nothing to git.
//! 3. `build <version>`: the tag's tree is written to a clean directory, described in a source
//!    SBOM, built, and its artifacts collected.
//! 4. `attest <version>`: the staged directory is assembled afresh from the collected
//!    artifacts: release SBOM, checksums, a signature for every file, then the provenance
//!    statement over all of them, signed.
//! 5. `source`: `src.tar.gz` with the git objects, its digest and signature.
//! 6. `record`: `STAGED.json`, listing every staged file with its SHA-256, signed.
//! 7. Upload: everything under `stage/<build-version>/`, then the record. Uploads skip what is
//!    already there with the same content, so this step simply runs again on a rerun.

use std::path::{Path, PathBuf};

use krel_attest::{
    describe_files, provenance_statement, spdx_document, FileEntry, ProvenanceInput, Resource,
    SbomInput,
};
use krel_config::{Config, Platform};
use krel_git::{CommitId, Credentials, Identity, NoProgress, Repo};
use krel_sign::Signer;
use krel_storage::{
    plan_push, BlockingUploader, Location, NoProgress as NoPushProgress, PushOptions, Store,
    UploadBatch, Uploader,
};
use krel_version::{next_versions, Branch, BuildVersion, ReleaseType, Version};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::build::{collect_artifacts, run_build, BuildRun};
use crate::files::{copy_tree, hex_sha256, io, relative_files, remove_dir, write_file};
use crate::journal::Journal;
use crate::layout::{self, slug};
use crate::source::write_source_archive;
use crate::split::{
    gather_version, partial_location, platform_dir_name, write_partial_record, PartialRecord,
};
use crate::StageOverwrite;
use crate::{git, sign, storage, ReleaseError, Report};

/// What to stage.
#[derive(Clone, Debug)]
pub struct StageRequest {
    /// alpha, beta, rc or official.
    pub release_type: ReleaseType,
    /// The main branch or a release branch (`release-X.Y`); a release branch missing on the
    /// remote is cut.
    pub branch: String,
    /// The commit to release, as a build version; default: the branch's head (the main
    /// branch's head for a branch cut), described.
    pub build_version: Option<BuildVersion>,
    /// The whole release, one platform of a split stage, or the merge of a split stage.
    pub scope: StageScope,
}

/// How much of a stage one run does.
#[derive(Clone, Debug, Default)]
pub enum StageScope {
    /// Build every platform and stage the whole release.
    #[default]
    Whole,
    /// Build one platform and upload it as a partial stage ([`crate::split`]).
    Platform(Platform),
    /// Stage the whole release from the partial stages of every platform, read and checked
    /// by [`crate::split::read_partials`].
    Merge(Vec<PartialRecord>),
}

/// Everything stage uses from outside: configuration, places and side-effect doors.
pub struct StageSetup<'a> {
    /// The project configuration.
    pub config: &'a Config,
    /// Where workspaces and the mirror live.
    pub workspace_root: &'a Path,
    /// The bucket the stage goes to (the mock bucket, or the release bucket with --nomock).
    pub bucket: &'a Location,
    /// The bucket's store.
    pub store: &'a Store,
    /// The runtime the store runs on.
    pub runtime: &'a tokio::runtime::Runtime,
    /// Credentials for the git remote.
    pub credentials: &'a Credentials,
    /// Who makes the release commits and tags.
    pub identity: Option<&'a Identity>,
    /// SOURCE_DATE_EPOCH, when set.
    pub source_date_epoch: Option<i64>,
    /// Signs every staged file. A platform job of a split stage signs nothing and needs none:
    /// the build jobs, which run the project's build scripts, never hold the signing key.
    pub signer: Option<&'a dyn Signer>,
    /// Threads for hashing and signing, requests at once for uploads.
    pub jobs: usize,
    /// Called after each step is journaled (used by tests to stop a run at a given step).
    pub after_step: &'a dyn Fn(&str),
    /// Where progress goes.
    pub report: &'a dyn Report,
}

/// The completion record, `STAGED.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedRecord {
    /// The project.
    pub project: String,
    /// The build version.
    pub build_version: String,
    /// alpha, beta, rc or official.
    pub release_type: String,
    /// The branch released from.
    pub branch: String,
    /// True when this stage cuts the branch.
    pub cut_branch: bool,
    /// The versions, prime first.
    pub versions: Vec<String>,
    /// Version → the commit its tag points at.
    pub tags: std::collections::BTreeMap<String, String>,
    /// Where the release branch is to point (release branches only).
    pub release_branch_commit: Option<String>,
    /// Every staged file (relative to `stage/<build-version>/`) → SHA-256.
    pub files: std::collections::BTreeMap<String, String>,
}

/// What a stage did.
#[derive(Clone, Debug, Serialize)]
pub struct StageOutcome {
    /// The build version staged.
    pub build_version: String,
    /// alpha, beta, rc or official.
    pub release_type: String,
    /// The versions, prime first.
    pub versions: Vec<String>,
    /// The branch.
    pub branch: String,
    /// True when the branch is cut by this release.
    pub cut_branch: bool,
    /// Where the stage is (`<bucket>/stage/<build-version>`).
    pub location: String,
    /// Files staged.
    pub files: usize,
    /// Objects uploaded by this run.
    pub uploaded: usize,
    /// Objects that were already in the bucket.
    pub unchanged: usize,
    /// The local workspace.
    pub workspace: PathBuf,
    /// The platform, for one platform's job of a split stage (its partial stage is at
    /// `location`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
}

/// Runs a stage; see the module documentation for the steps.
pub fn stage(setup: &StageSetup<'_>, request: &StageRequest) -> Result<StageOutcome, ReleaseError> {
    let config = setup.config;
    let report = setup.report;
    let remote = &config.git.remote;
    let url = config.git_url();
    let branch = Branch::parse(
        &request.branch,
        &config.git.main_branch,
        &config.git.release_branch,
    )
    .map_err(|err| ReleaseError::Config {
        message: err.to_string(),
        hint: format!(
            "--branch is the main branch (`{}`) or a release branch (`{}`)",
            config.git.main_branch,
            config.git.release_branch.template()
        ),
    })?;
    let identity = setup.identity.ok_or_else(|| ReleaseError::Config {
        message: "no identity for the release commits and tags".into(),
        hint:
            "set GIT_COMMITTER_NAME and GIT_COMMITTER_EMAIL, or git config user.name and user.email"
                .into(),
    })?;
    let project_slug = slug(&config.project);

    // The mirror: fetched every run, so the versions are computed from the remote's state.
    let mirror_path = setup
        .workspace_root
        .join("mirror")
        .join(format!("{project_slug}.git"));
    report.status("Fetching", &url);
    let mirror = open_or_clone(&mirror_path, &url, remote, setup.credentials)?;
    let refs = mirror
        .list_remote(remote, setup.credentials)
        .map_err(git(format!("listing the branches and tags of {url}")))?;
    let cut_branch =
        matches!(&branch, Branch::Release { name, .. } if !refs.heads.contains_key(name));
    let source_branch = if cut_branch {
        config.git.main_branch.clone()
    } else {
        request.branch.clone()
    };
    if !refs.heads.contains_key(&source_branch) {
        return Err(ReleaseError::Config {
            message: format!("the remote {url} has no branch `{source_branch}`"),
            hint: "check --branch and git.main_branch in krel.yaml".into(),
        });
    }
    let source_ref = format!("refs/remotes/{remote}/{source_branch}");
    let build_version = match &request.build_version {
        Some(build) => build.clone(),
        None => mirror
            .build_version(&source_ref)
            .map_err(git(format!("describing the head of `{source_branch}`")))?,
    };
    if build_version.dirty {
        return Err(ReleaseError::Config {
            message: format!("{build_version} is a dirty build version"),
            hint: "a release is built from a commit: drop -dirty".into(),
        });
    }
    let build_commit = match &build_version.commit {
        Some(commit) => mirror.resolve(commit),
        None => mirror.resolve(&format!("refs/tags/{}", build_version.tag)),
    }
    .map_err(git(format!(
        "finding the commit of build version {build_version}"
    )))?;
    let source_head = mirror
        .resolve(&source_ref)
        .map_err(git("reading the branch head"))?;
    if !mirror
        .is_ancestor(build_commit, source_head)
        .map_err(git("checking the build version's commit"))?
    {
        return Err(ReleaseError::Config {
            message: format!(
                "build version {build_version} ({}) is not on `{source_branch}` of {url}",
                build_commit.short()
            ),
            hint: "pass a build version from the branch being released".into(),
        });
    }
    if let StageScope::Platform(platform) = &request.scope {
        if !config.build.platforms.contains(platform) {
            return Err(ReleaseError::Config {
                message: format!("{platform} is not in build.platforms"),
                hint: format!(
                    "--platform is one of {}",
                    config
                        .build
                        .platforms
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
    }
    let signer = match (&request.scope, setup.signer) {
        (StageScope::Platform(_), _) => None,
        (_, Some(signer)) => Some(signer),
        (_, None) => {
            return Err(ReleaseError::Config {
                message: "no signing key: a stage signs every file it stages".into(),
                hint: "set release.signing_key in krel.yaml (or KREL_SIGNING_KEY); make one with `krel sign generate-key`".into(),
            })
        }
    };
    // A split stage's jobs run on other machines at other times: they share one time, so that
    // each makes the same release commit and writes the same bytes. It is SOURCE_DATE_EPOCH
    // when set, else the build commit's time; the merge takes the one its platforms used.
    let fixed_epoch = match &request.scope {
        StageScope::Whole => setup.source_date_epoch,
        StageScope::Platform(_) => Some(match setup.source_date_epoch {
            Some(epoch) => epoch,
            None => mirror
                .commit_time(build_commit)
                .map_err(git("reading the build commit's time"))?,
        }),
        StageScope::Merge(records) => records.first().map(|r| r.source_date_epoch),
    };
    let identity = &Identity {
        time: fixed_epoch.or(identity.time),
        ..identity.clone()
    };
    let versions = next_versions(request.release_type, &build_version, &branch, cut_branch)?;
    let ordered: Vec<Version> = versions.ordered().into_iter().cloned().collect();
    for version in &ordered {
        if let Some(commit) = refs.tags.get(&version.to_string()) {
            return Err(ReleaseError::TagOnRemote {
                tag: version.to_string(),
                version: version.to_string(),
                commit: commit.short(),
            });
        }
    }
    report.status(
        "Staging",
        &format!(
            "{} from {build_version} on {}{}",
            ordered
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" and "),
            request.branch,
            if cut_branch { " (branch cut)" } else { "" }
        ),
    );

    // The workspace of this build version.
    // A merge works apart from a one-machine stage of the same build version: it must stage
    // what its platforms built, not find the other's finished steps in the journal.
    let workspace_name = match &request.scope {
        StageScope::Platform(platform) => {
            format!("{build_version}.{}", platform_dir_name(platform))
        }
        StageScope::Merge(_) => format!("{build_version}.merge"),
        StageScope::Whole => build_version.to_string(),
    };
    let workspace = setup
        .workspace_root
        .join("stage")
        .join(&project_slug)
        .join(workspace_name);
    std::fs::create_dir_all(&workspace).map_err(io("creating the workspace", &workspace))?;
    let mut journal = Journal::open(
        &workspace.join("journal.json"),
        "stage",
        &build_version.to_string(),
    )?;
    // One build version is one stage: `stage/<bv>/` holds one completion record.
    let staging = format!(
        "{} {}",
        type_name(request.release_type),
        ordered
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    );
    match journal.get("versions") {
        Some(earlier) if earlier != staging => {
            return Err(ReleaseError::Config {
                message: format!(
                    "build version {build_version} was already staged as `{earlier}`; this run would stage `{staging}`"
                ),
                hint: "a build version is staged once: release that stage, or stage a newer commit (--build-version)".into(),
            })
        }
        Some(_) => {}
        None => journal.record("versions", staging)?,
    }
    let stage_dir = layout::stage_dir(&build_version);
    let out = workspace.join("out").join(&stage_dir);
    let done = |journal: &Journal, step: &str| {
        let done = journal.is_done(step);
        if done {
            report.resumed(step);
        }
        done
    };

    // 1. The workspace clone.
    let src_git = workspace.join("src.git");
    let repo = if done(&journal, "clone") {
        Repo::open(&src_git).map_err(git("opening the workspace clone"))?
    } else {
        remove_dir(&src_git)?;
        let repo = Repo::clone_bare(
            &mirror_path.display().to_string(),
            &src_git,
            remote,
            &Credentials::default(),
            &NoProgress,
        )
        .map_err(git("cloning the mirror into the workspace"))?;
        repo.set_remote_url(remote, &url)
            .map_err(git("pointing the workspace clone at the remote"))?;
        journal.record("clone", build_commit.to_string())?;
        (setup.after_step)("clone");
        repo
    };

    // 2. Release commits and tags.
    let release_type = request.release_type;
    let mut tags = std::collections::BTreeMap::new();
    let mut release_branch_commit = None;
    for version in &ordered {
        let step = format!("tag {version}");
        let on_release_branch =
            matches!(&branch, Branch::Release { .. }) && *version == versions.prime;
        let commit = if let Some(recorded) = journal.get(&step) {
            report.resumed(&step);
            recorded
                .parse::<CommitId>()
                .map_err(|_| ReleaseError::Workspace {
                    path: journal.path().to_path_buf(),
                    reason: format!("step `{step}` recorded `{recorded}`, not a commit"),
                })?
        } else {
            // A run killed after tagging but before journaling left the tag: keep it (a new
            // release commit would have another time, so another id), if it is what this
            // step makes.
            let existing = repo
                .resolve(&format!("refs/tags/{version}^{{commit}}"))
                .ok();
            let target = if let Some(existing) = existing {
                let expected = if on_release_branch {
                    repo.parents(existing)
                        .map_err(git(format!("reading the commit of tag {version}")))?
                        == [build_commit]
                } else {
                    existing == build_commit
                };
                if !expected {
                    return Err(ReleaseError::Workspace {
                        path: src_git.clone(),
                        reason: format!(
                            "tag {version} there points at {}, which is not on build version {build_version}",
                            existing.short()
                        ),
                    });
                }
                existing
            } else if on_release_branch {
                repo.commit_empty(
                    build_commit,
                    &format!("Release commit for {} {version}", config.project),
                    Some(identity),
                )
                .map_err(git(format!("making the release commit for {version}")))?
            } else {
                build_commit
            };
            repo.create_tag(
                &version.to_string(),
                target,
                &format!(
                    "{} {} release {version}",
                    config.project,
                    type_name(release_type)
                ),
                Some(identity),
            )
            .map_err(git(format!("tagging {version}")))?;
            if on_release_branch {
                repo.set_reference(
                    &format!("refs/heads/{}", request.branch),
                    target,
                    "krel stage: release commit",
                )
                .map_err(git("moving the release branch in the workspace"))?;
            }
            journal.record(&step, target.to_string())?;
            report.status("Tagged", &format!("{version} at {}", target.short()));
            (setup.after_step)(&step);
            target
        };
        if on_release_branch {
            release_branch_commit = Some(commit.to_string());
        }
        tags.insert(version.to_string(), commit);
    }

    if let StageScope::Merge(records) = &request.scope {
        check_merged_tags(records, &tags, release_branch_commit.as_deref())?;
    }
    let source_date_epoch = match fixed_epoch {
        Some(epoch) => epoch,
        None => repo
            .commit_time(build_commit)
            .map_err(git("reading the build commit's time"))?,
    };
    let now = || fixed_epoch.unwrap_or_else(unix_now);
    let started = now();

    // 3. Builds (or, for a merge, the files the platform jobs built).
    let platforms = match &request.scope {
        StageScope::Platform(platform) => std::slice::from_ref(platform),
        _ => config.build.platforms.as_slice(),
    };
    let whole = !matches!(request.scope, StageScope::Platform(_));
    for version in &ordered {
        let step = match request.scope {
            StageScope::Merge(_) => format!("gather {version}"),
            _ => format!("build {version}"),
        };
        if done(&journal, &step) {
            continue;
        }
        let commit = tags[&version.to_string()];
        let tree = workspace.join("build").join(version.to_string());
        let artifacts = workspace.join("artifacts").join(version.to_string());
        remove_dir(&tree)?;
        remove_dir(&artifacts)?;
        repo.export_tree(commit, &tree)
            .map_err(git(format!("writing the tree of {version}")))?;
        // The source SBOM belongs to the whole stage: a platform job leaves it to the merge.
        let source_sbom = if whole {
            let source_files = describe_files(&tree, |_| true)?;
            let download = format!("git+{url}@refs/tags/{version}");
            Some(spdx_document(&SbomInput {
                name: &format!("{project_slug}-source"),
                version: &version.to_string(),
                download_location: &download,
                creator: &format!("Organization: {}", config.github.org),
                created: now(),
                files: &source_files,
            }))
        } else {
            None
        };
        let count = if let StageScope::Merge(records) = &request.scope {
            gather_version(
                setup,
                records,
                &build_version,
                &version.to_string(),
                &artifacts,
            )?
        } else {
            report.status(
                "Building",
                &format!(
                    "{version} for {} with `{}`",
                    platforms
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    config.build.command
                ),
            );
            run_build(&BuildRun {
                command: &config.build.command,
                tree: &tree,
                version: &version.to_string(),
                build_version: &build_version.to_string(),
                platforms,
                source_date_epoch,
                log: &workspace.join(format!("build-{version}.log")),
            })?;
            collect_artifacts(
                &version.to_string(),
                &tree,
                &config.build.artifacts,
                platforms,
                &artifacts,
            )?
        };
        if let Some(source_sbom) = source_sbom {
            write_file(
                &artifacts.join(format!("{project_slug}-source.spdx.json")),
                &source_sbom,
            )?;
        }
        remove_dir(&tree)?;
        journal.record(&step, count.to_string())?;
        let verb = match request.scope {
            StageScope::Merge(_) => "Gathered",
            _ => "Built",
        };
        report.status(verb, &format!("{version}: {count} artifact(s)"));
        (setup.after_step)(&step);
    }

    // The record of what this release is, with `files`: STAGED.json, or a platform's
    // PARTIAL.json.
    let record_of = |files: Vec<FileEntry>| StagedRecord {
        project: config.project.clone(),
        build_version: build_version.to_string(),
        release_type: type_name(release_type).into(),
        branch: request.branch.clone(),
        cut_branch,
        versions: ordered.iter().map(ToString::to_string).collect(),
        tags: tags
            .iter()
            .map(|(v, c)| (v.clone(), c.to_string()))
            .collect(),
        release_branch_commit: release_branch_commit.clone(),
        files: files.into_iter().map(|f| (f.path, f.sha256)).collect(),
    };

    if let StageScope::Platform(platform) = &request.scope {
        let record = PartialRecord {
            stage: record_of(describe_files(&workspace.join("artifacts"), |_| true)?),
            source_date_epoch,
            platform: platform.to_string(),
        };
        let record_dir = workspace.join("partial-record");
        remove_dir(&record_dir)?;
        write_partial_record(&record, &record_dir)?;
        let location = partial_location(setup.bucket, &build_version, platform);
        let (uploaded, unchanged) = upload_dirs(
            setup,
            &location,
            &[
                (&workspace.join("artifacts"), "the partial stage"),
                (&record_dir, "its record"),
            ],
            StageOverwrite::Allowed,
        )?;
        journal.record(&format!("upload {platform}"), location.to_string())?;
        report.status(
            "Staged",
            &format!("{platform} of {build_version} at {location}"),
        );
        return Ok(StageOutcome {
            build_version: build_version.to_string(),
            release_type: type_name(release_type).into(),
            versions: ordered.iter().map(ToString::to_string).collect(),
            branch: request.branch.clone(),
            cut_branch,
            location: location.to_string(),
            files: record.stage.files.len() + 2,
            uploaded,
            unchanged,
            workspace,
            platform: Some(platform.to_string()),
        });
    }

    // Only a platform job has no signer, and it has returned above.
    let Some(signer) = signer else {
        return Err(ReleaseError::Config {
            message: "no signing key".into(),
            hint: "set release.signing_key".into(),
        });
    };

    // 4. The staged directory of each version, assembled afresh.
    for version in &ordered {
        let step = format!("attest {version}");
        if done(&journal, &step) {
            continue;
        }
        let version_dir = out.join(version.to_string());
        let gcs = out.join(layout::gcs_stage(version));
        remove_dir(&version_dir)?;
        copy_tree(&workspace.join("artifacts").join(version.to_string()), &gcs)?;
        let artifacts = describe_files(&gcs, |path| !path.ends_with(".spdx.json"))?;
        let sbom = spdx_document(&SbomInput {
            name: &project_slug,
            version: &version.to_string(),
            download_location: "NOASSERTION",
            creator: &format!("Organization: {}", config.github.org),
            created: now(),
            files: &artifacts,
        });
        write_file(
            &gcs.join(format!("{project_slug}-release.spdx.json")),
            &sbom,
        )?;
        krel_checksum::write_checksums(&gcs, setup.jobs, &krel_checksum::NoProgress)?;
        let unsigned: Vec<PathBuf> = relative_files(&gcs)?
            .into_iter()
            .map(|(_, path)| path)
            .collect();
        krel_sign::sign_files(signer, &unsigned, setup.jobs)
            .map_err(sign(format!("signing the files of {version}")))?;
        let subjects = describe_files(&gcs, |_| true)?;
        let commit = tags[&version.to_string()];
        let statement = provenance_statement(&ProvenanceInput {
            subjects,
            build_type: "https://github.com/krel-dev/krel/stage/v1".into(),
            external_parameters: json!({
                "type": type_name(release_type),
                "branch": request.branch,
                "buildVersion": build_version.to_string(),
                "version": version.to_string(),
            }),
            internal_parameters: json!({
                "command": config.build.command,
                "platforms": config.build.platforms.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "sourceDateEpoch": source_date_epoch,
            }),
            dependencies: vec![Resource {
                uri: format!("git+{url}@refs/tags/{version}"),
                digest: [("gitCommit".to_string(), commit.to_string())].into(),
            }],
            builder_id: format!(
                "https://github.com/krel-dev/krel@v{}",
                env!("CARGO_PKG_VERSION")
            ),
            invocation_id: format!("{build_version}/{version}"),
            started,
            finished: now(),
        });
        let provenance = version_dir.join(layout::PROVENANCE);
        write_file(&provenance, &statement)?;
        krel_sign::sign_file(signer, &provenance)
            .map_err(sign(format!("signing the provenance of {version}")))?;
        journal.record(&step, hex_sha256(&statement))?;
        report.status(
            "Attested",
            &format!("{version}: checksums, SBOMs, signatures and provenance"),
        );
        (setup.after_step)(&step);
    }

    // 5. The source archive.
    if !done(&journal, "source") {
        let prime = &versions.prime;
        let tree = workspace.join("archive-tree");
        remove_dir(&tree)?;
        repo.export_tree(tags[&prime.to_string()], &tree)
            .map_err(git("writing the source tree"))?;
        let archive = out.join(layout::SOURCE_ARCHIVE);
        write_source_archive(&archive, &project_slug, &tree, &src_git)?;
        remove_dir(&tree)?;
        let digests = krel_checksum::hash_file(&archive).map_err(io("reading", &archive))?;
        let digest_file = krel_checksum::with_extension(&archive, "sha256");
        write_file(&digest_file, digests.sha256.as_bytes())?;
        krel_sign::sign_files(signer, &[archive.clone(), digest_file], 2)
            .map_err(sign("signing the source archive"))?;
        journal.record("source", digests.sha256)?;
        report.status(
            "Archived",
            &format!(
                "the source with its git objects ({})",
                layout::SOURCE_ARCHIVE
            ),
        );
        (setup.after_step)("source");
    }

    // 6. The completion record, kept apart so it is uploaded last.
    let record_dir = workspace.join("record");
    let files = describe_files(&out, |_| true)?;
    if !done(&journal, "record") {
        remove_dir(&record_dir)?;
        let record = record_of(files.clone());
        let mut bytes = serde_json::to_vec_pretty(&record).unwrap_or_default();
        bytes.push(b'\n');
        let path = record_dir.join(layout::STAGED);
        write_file(&path, &bytes)?;
        krel_sign::sign_file(signer, &path).map_err(sign("signing the completion record"))?;
        journal.record("record", hex_sha256(&bytes))?;
        (setup.after_step)("record");
    }

    // 7. Upload: the files, then the record.
    let location = setup.bucket.join(&stage_dir);
    let (uploaded, unchanged) = upload_dirs(
        setup,
        &location,
        &[(&out, "the stage"), (&record_dir, "the completion record")],
        StageOverwrite::Refused,
    )?;
    journal.record("upload", location.to_string())?;
    report.status("Staged", &format!("{build_version} at {location}"));

    Ok(StageOutcome {
        build_version: build_version.to_string(),
        release_type: type_name(release_type).into(),
        versions: ordered.iter().map(ToString::to_string).collect(),
        branch: request.branch.clone(),
        cut_branch,
        location: location.to_string(),
        files: files.len() + 2,
        uploaded,
        unchanged,
        workspace,
        platform: None,
    })
}

/// A merge makes the tags itself; they must be the ones its platforms were built from.
fn check_merged_tags(
    records: &[PartialRecord],
    tags: &std::collections::BTreeMap<String, CommitId>,
    release_branch_commit: Option<&str>,
) -> Result<(), ReleaseError> {
    let made: std::collections::BTreeMap<String, String> = tags
        .iter()
        .map(|(v, c)| (v.clone(), c.to_string()))
        .collect();
    // The records agree with each other (read_partials): the first speaks for all.
    let Some(built) = records.first().map(|r| &r.stage) else {
        return Ok(());
    };
    if built.tags == made && built.release_branch_commit.as_deref() == release_branch_commit {
        return Ok(());
    }
    Err(ReleaseError::Config {
        message: format!(
            "the merge made other release commits or tags than its platform jobs:\n  - the platforms were built from {:?} (branch at {:?})\n  - the merge made {:?} (branch at {:?})",
            built.tags, built.release_branch_commit, made, release_branch_commit
        ),
        hint: "run the merge with the committer the platform jobs used (GIT_COMMITTER_NAME, GIT_COMMITTER_EMAIL) and a fresh --workspace: this one holds the tags it made".into(),
    })
}

/// Uploads each directory to `location`, in order, skipping objects already there; returns
/// (uploaded, already there). Every directory is planned before anything is uploaded, so an
/// object that would be overwritten (a stage written once) stops the run with nothing written.
fn upload_dirs(
    setup: &StageSetup<'_>,
    location: &Location,
    dirs: &[(&Path, &str)],
    overwrite: StageOverwrite,
) -> Result<(usize, usize), ReleaseError> {
    let report = setup.report;
    let options = PushOptions {
        allow_overwrite: overwrite == StageOverwrite::Allowed,
        jobs: setup.jobs.max(1),
    };
    let mut plans = Vec::new();
    for &(dir, what) in dirs {
        let plan = match setup
            .runtime
            .block_on(plan_push(dir, location, setup.store, &options))
        {
            Ok(plan) => plan,
            Err(krel_storage::StorageError::WouldOverwrite { keys }) => {
                return Err(ReleaseError::StagedBefore {
                    location: location.to_string(),
                    objects: keys.len(),
                })
            }
            Err(err) => {
                return Err(storage(format!(
                    "planning the upload of {what} to {location}"
                ))(err))
            }
        };
        plans.push((plan, what));
    }
    let mut uploaded = 0;
    let mut unchanged = 0;
    for (plan, what) in plans {
        unchanged += plan.unchanged.len();
        if !plan.uploads.is_empty() {
            report.status(
                "Uploading",
                &format!("{} object(s) of {what} to {location}", plan.uploads.len()),
            );
        }
        let uploader = BlockingUploader {
            runtime: setup.runtime,
            store: setup.store,
            jobs: options.jobs,
            progress: &NoPushProgress,
        };
        let pushed = uploader
            .upload(&UploadBatch {
                destination: location.to_string(),
                objects: plan.uploads,
            })
            .map_err(storage(format!("uploading {what} to {location}")))?;
        uploaded += pushed.uploaded.len();
        (setup.after_step)(&format!("upload {what}"));
    }
    Ok((uploaded, unchanged))
}

/// `alpha`, `beta`, `rc` or `official`.
pub fn type_name(release_type: ReleaseType) -> &'static str {
    match release_type {
        ReleaseType::Alpha => "alpha",
        ReleaseType::Beta => "beta",
        ReleaseType::Rc => "rc",
        ReleaseType::Official => "official",
    }
}

fn open_or_clone(
    path: &Path,
    url: &str,
    remote: &str,
    credentials: &Credentials,
) -> Result<Repo, ReleaseError> {
    if path.join("HEAD").is_file() {
        let repo = Repo::open(path).map_err(git("opening the mirror"))?;
        repo.set_remote_url(remote, url)
            .map_err(git("pointing the mirror at the remote"))?;
        repo.fetch(remote, credentials, &NoProgress)
            .map_err(git(format!("fetching {url}")))?;
        return Ok(repo);
    }
    remove_dir(path)?;
    let repo = Repo::clone_bare(url, path, remote, credentials, &NoProgress)
        .map_err(git(format!("cloning {url}")))?;
    repo.fetch(remote, credentials, &NoProgress)
        .map_err(git(format!("fetching the tags of {url}")))?;
    Ok(repo)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
