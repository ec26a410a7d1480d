//! `krel release`: from a completed stage to a published release.
//!
//! [`prepare_release`] does every read and check, then returns a [`Plan`]; the binary runs the
//! plan through `krel_plan::execute` (only with `--nomock`) and calls
//! [`PreparedRelease::finish`]. It has two halves:
//!
//! 1. [`read::verify_stage`]: `STAGED.json` and every file it lists downloaded from
//!    `stage/<build-version>/` (journal step `download`; files already downloaded with the
//!    recorded SHA-256 are kept), verified on every run ([`crate::verify::verify_stage`]:
//!    the record's signature, every file against the record, each provenance statement and
//!    its subjects, every `.sig`, the SUMS; any mismatch stops the release before anything is
//!    published), and `src.tar.gz` restored (journal step `source`) with every tag checked.
//! 2. The plan, from the remotes' current state, so a rerun plans only what is left; each part
//!    is one function of [`plan`]:
//!    - [`plan::plan_git`]: the release branch (new, fast-forwarded, or merged favouring the
//!      release when the remote moved since the stage; the merge is kept at
//!      `refs/krel/release/<branch>`), then each tag;
//!    - [`plan::plan_files`]: `gcs-stage/<version>/` and the provenance to
//!      `release/<version>/`;
//!    - [`images::plan_images`]: the staged images (verified first by
//!      [`images::verify_images`]) copied by digest to the release registry, then tagged;
//!    - [`plan::plan_github`]: a GitHub release per version (draft, assets, publish) unless
//!      it is published (after the tags: GitHub would otherwise make a missing tag itself);
//!    - [`plan::plan_markers`]: version markers that the versions move forward (after what
//!      they announce);
//!    - [`plan::plan_record`]: `stage/<build-version>/RELEASED.json`, last.

pub mod images;
pub mod plan;
pub mod read;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use krel_git::{CommitId, MergeOutcome, NoProgress, Repo};
use krel_github::{GitHub, ReleaseSpec};
use krel_plan::Plan;
use krel_storage::Location;
use krel_version::{BuildVersion, ReleaseType};
use serde::Serialize;

use crate::files::{io, remove_dir};
use crate::journal::Journal;
use crate::layout::slug;
use crate::records::{join, ReleasedRecord};
use crate::{git, ReleaseError, Shared};
use plan::{
    plan_files, plan_git, plan_github, plan_markers, plan_record, publish_dirs, release_assets,
    release_body, BranchState, Bucket, GitHubRelease, GitTarget, Planned,
};
use read::{verify_stage, VerifiedStage};

pub use plan::RELEASED;

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

/// Everything release uses from outside: the [`Shared`] doors, and what only release needs.
pub struct ReleaseSetup<'a> {
    /// Configuration, places and doors shared with stage.
    pub shared: Shared<'a>,
    /// Who must have signed the stage (a key, or a keyless identity), and the trusted root.
    pub verifier: &'a krel_verify::Verifier,
    /// The GitHub client, when GitHub releases are published (`release.github_release`).
    pub github: Option<&'a GitHub>,
}

impl<'a> std::ops::Deref for ReleaseSetup<'a> {
    type Target = Shared<'a>;

    fn deref(&self) -> &Shared<'a> {
        &self.shared
    }
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
    let workspace = setup
        .workspace_root
        .join("release")
        .join(slug(&setup.config.project))
        .join(request.build_version.to_string());
    std::fs::create_dir_all(&workspace).map_err(io("creating the workspace", &workspace))?;
    let mut journal = Journal::open(
        &workspace.join("journal.json"),
        "release",
        &request.build_version.to_string(),
    )?;
    let stage = verify_stage(setup, request, &workspace, &mut journal)?;
    images::verify_images(&setup.shared, &stage.record, setup.verifier)?;
    let (planned, branch) = plan_publication(setup, request, &stage, &workspace)?;
    let record = &stage.record;
    let mut plan = Plan::new(format!(
        "release {} of {} from {}",
        join(&record.versions, " and "),
        setup.config.project,
        request.build_version
    ));
    plan.actions = planned.actions;
    Ok(PreparedRelease {
        summary: ReleaseSummary {
            build_version: request.build_version.to_string(),
            versions: record.versions.iter().map(ToString::to_string).collect(),
            location: setup.bucket.join("release").to_string(),
            verified: record.files.len() + 2,
            tags: record
                .tags
                .iter()
                .map(|(v, c)| (v.clone(), c.to_string()))
                .collect(),
            branch: branch.map(|(b, c)| (b, c.to_string())),
            already_done: planned.done,
            actions: plan.actions.len(),
            workspace,
        },
        plan,
        repo: stage.repo,
        journal,
    })
}

/// Every part of the publication, in order; also the release branch and where it will be.
fn plan_publication(
    setup: &ReleaseSetup<'_>,
    request: &ReleaseRequest,
    stage: &VerifiedStage,
    workspace: &Path,
) -> Result<(Planned, Option<(String, CommitId)>), ReleaseError> {
    let config = setup.config;
    let target = GitTarget {
        remote: config.git.remote.clone(),
        url: config.git_url(),
    };
    setup.report.status(
        "Checking",
        &format!("the branches and tags of {}", target.url),
    );
    let refs = stage
        .repo
        .list_remote(&target.remote, setup.credentials)
        .map_err(git(format!(
            "listing the branches and tags of {}",
            target.url
        )))?;
    let record = &stage.record;
    let branch_state = match record.release_branch_commit {
        Some(commit) => Some(branch_state(
            setup,
            stage,
            refs.heads.get(&record.branch).copied(),
            commit,
        )?),
        None => None,
    };
    let mut planned = plan_git(record, &refs.tags, branch_state, &target)?;
    let branch = record
        .release_branch_commit
        .map(|commit| (record.branch.clone(), branch_target(branch_state, commit)));

    let bucket = Bucket {
        store: setup.store,
        runtime: setup.runtime,
        jobs: setup.jobs,
    };
    let publish = workspace.join("publish");
    remove_dir(&publish)?;
    publish_dirs(&stage.local, &publish, stage.versions())?;
    let release_root = setup.bucket.join("release");
    planned.extend(plan_files(
        &bucket,
        &publish,
        &release_root,
        stage.versions(),
    )?);
    planned.extend(images::plan_images(&setup.shared, record)?);
    if let Some(github) = setup.github {
        let releases = github_releases(setup, github, request, stage, &publish, &release_root)?;
        planned.extend(plan_github(releases)?);
    }
    planned.extend(plan_markers(&bucket, &release_root, stage.versions())?);
    let released = ReleasedRecord {
        project: record.project.clone(),
        build_version: record.build_version.clone(),
        versions: record.versions.clone(),
        tags: record.tags.clone(),
        release_branch: branch.as_ref().map(|(b, _)| b.clone()),
        release_branch_commit: record.release_branch_commit,
        location: release_root.to_string(),
    };
    planned.extend(plan_record(
        &bucket,
        &released,
        &workspace.join("released"),
        &stage.location,
    )?);
    Ok((planned, branch))
}

/// Where the release branch will point: the merge when there is one, else the release commit.
fn branch_target(state: Option<BranchState>, release_commit: CommitId) -> CommitId {
    match state {
        Some(BranchState::Merged { merged, .. }) => merged,
        _ => release_commit,
    }
}

/// Compares the remote's release branch (`head`) with the release commit; when the branch
/// moved since the stage, merges it favouring the release, kept at `refs/krel/release/<b>`.
fn branch_state(
    setup: &ReleaseSetup<'_>,
    stage: &VerifiedStage,
    head: Option<CommitId>,
    release_commit: CommitId,
) -> Result<BranchState, ReleaseError> {
    let Some(head) = head else {
        return Ok(BranchState::Absent);
    };
    if head == release_commit {
        return Ok(BranchState::AtRelease);
    }
    let repo = &stage.repo;
    let (remote, url) = (&setup.config.git.remote, setup.config.git_url());
    // The remote's history is needed to compare: fetch it (tags were checked, so fetching
    // them changes none of ours).
    repo.fetch(remote, setup.credentials, &NoProgress)
        .map_err(git(format!("fetching {url}")))?;
    let ancestor = |a, b| {
        repo.is_ancestor(a, b)
            .map_err(git("comparing the release branch"))
    };
    if ancestor(release_commit, head)? {
        return Ok(BranchState::HoldsRelease);
    }
    if ancestor(head, release_commit)? {
        return Ok(BranchState::Behind { head });
    }
    merge_moved_branch(setup, repo, &stage.record.branch, release_commit, head)
}

fn merge_moved_branch(
    setup: &ReleaseSetup<'_>,
    repo: &Repo,
    branch: &str,
    release_commit: CommitId,
    head: CommitId,
) -> Result<BranchState, ReleaseError> {
    let remote = &setup.config.git.remote;
    let identity = setup.identity.ok_or_else(|| ReleaseError::Config {
        message: format!(
            "{branch} moved on the remote since the stage, and merging needs a committer identity"
        ),
        hint:
            "set GIT_COMMITTER_NAME and GIT_COMMITTER_EMAIL, or git config user.name and user.email"
                .into(),
    })?;
    let message = format!("Merge remote-tracking branch '{remote}/{branch}' into {branch}");
    match repo
        .merge_favoring_ours(release_commit, head, &message, Some(identity))
        .map_err(git(format!("merging the remote's {branch}")))?
    {
        MergeOutcome::Merged(merged) => {
            repo.set_reference(&plan::merge_ref(branch), merged, "krel release: merge")
                .map_err(git("keeping the merge commit"))?;
            setup.report.status(
                "Merged",
                &format!(
                    "{branch} moved on the remote since the stage: {} merges {}",
                    merged.short(),
                    head.short()
                ),
            );
            Ok(BranchState::Merged { merged, head })
        }
        MergeOutcome::Conflicts(conflicts) => Err(ReleaseError::BranchDiverged {
            branch: branch.to_string(),
            conflicts: conflicts
                .iter()
                .map(|c| format!("{}: {:?}", c.path, c.kind))
                .collect(),
        }),
        MergeOutcome::UpToDate | MergeOutcome::FastForward(_) => Ok(BranchState::HoldsRelease),
    }
}

/// Each version's GitHub release as GitHub has it, and as it is to be published.
fn github_releases(
    setup: &ReleaseSetup<'_>,
    github: &GitHub,
    request: &ReleaseRequest,
    stage: &VerifiedStage,
    publish: &Path,
    release_root: &Location,
) -> Result<Vec<GitHubRelease>, ReleaseError> {
    let config = setup.config;
    let mut releases = Vec::new();
    for (index, version) in stage.versions().iter().enumerate() {
        let tag = version.to_string();
        let existing = setup
            .runtime
            .block_on(github.find_release(&tag))
            .map_err(|err| ReleaseError::GitHub {
                context: format!("looking up the GitHub release {tag}"),
                source: Box::new(err),
            })?;
        let notes = request.notes.as_deref().filter(|_| index == 0);
        let spec = ReleaseSpec {
            repository: format!("{}/{}", config.github.org, config.github.repo),
            tag: tag.clone(),
            name: format!("{} {tag}", config.project),
            body: release_body(
                notes,
                &release_root.join(&tag).to_string(),
                &stage.record,
                version,
                setup.images.map(|images| &images.release),
            ),
            prerelease: !version.is_official(),
            assets: release_assets(&publish.join(&tag))?,
        };
        releases.push(GitHubRelease {
            version: version.clone(),
            existing,
            spec,
        });
    }
    Ok(releases)
}
