//! Resolving a stage once: branch, build version, versions, signer, time and workspace.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use krel_config::Config;
use krel_git::{CommitId, Identity, NoProgress, RemoteRefs, Repo};
use krel_sigstore::BundleSigner;
use krel_version::{next_versions, Branch, BuildVersion, Version};

use super::{StageRequest, StageRun, StageScope, StageSetup};
use crate::files::{io, remove_dir};
use crate::journal::Journal;
use crate::layout::{self, slug};
use crate::records::join;
use crate::split::platform_dir_name;
use crate::{git, ReleaseError};

/// The remote's state as the mirror sees it, and what it decides.
struct Source {
    url: String,
    remote: String,
    mirror_path: PathBuf,
    mirror: Repo,
    refs: RemoteRefs,
    branch: Branch,
    cut_branch: bool,
    source_branch: String,
}

/// Fetches the remote and decides everything the steps need; see the module documentation.
pub(super) fn resolve<'a>(
    setup: &'a StageSetup<'a>,
    request: &'a StageRequest,
) -> Result<StageRun<'a>, ReleaseError> {
    let config = setup.config;
    let branch = parse_branch(config, &request.branch)?;
    let identity = setup.identity.ok_or_else(|| ReleaseError::Config {
        message: "no identity for the release commits and tags".into(),
        hint:
            "set GIT_COMMITTER_NAME and GIT_COMMITTER_EMAIL, or git config user.name and user.email"
                .into(),
    })?;
    let source = fetch_source(setup, branch, &request.branch)?;
    let given = build_version(&source, request)?;
    let build_commit = build_commit(&source, &given)?;
    let versions = next_versions(
        request.release_type,
        &given,
        &source.branch,
        source.cut_branch,
    )?;
    let ordered: Vec<Version> = versions.ordered().into_iter().cloned().collect();
    // First: a release interrupted after it tagged this commit makes the commit describe as
    // that tag; "already exists" is the true story, not "does not describe its commit".
    check_tags_absent(&source.refs, &ordered)?;
    // One spelling per commit (the describer's), so a stage is found whatever was typed. The
    // versions stay those computed above: the same tag and count.
    let typed = given.to_string();
    let build_version = match request.build_version {
        Some(_) => canonical(&source, &given, build_commit)?,
        None => given,
    };
    check_not_behind(&source.refs, &ordered)?;
    check_platform(config, &request.scope)?;
    let signer = signer(&request.scope, setup.signer)?;
    let fixed_epoch = fixed_epoch(setup, &request.scope, &source.mirror, build_commit)?;
    setup.report.status(
        "Staging",
        &format!(
            "{} from {build_version} on {}{}",
            join(&ordered, " and "),
            request.branch,
            if source.cut_branch {
                " (branch cut)"
            } else {
                ""
            }
        ),
    );
    let source_date_epoch = match fixed_epoch {
        Some(epoch) => epoch,
        None => source
            .mirror
            .commit_time(build_commit)
            .map_err(git("reading the build commit's time"))?,
    };
    check_spelling(setup, request, &typed, &build_version)?;
    let workspace = workspace(setup, request, &build_version)?;
    let journal = open_journal(&workspace, request, &build_version, &ordered)?;
    let now = fixed_epoch.unwrap_or_else(unix_now);
    Ok(StageRun {
        setup,
        request,
        url: source.url,
        mirror_path: source.mirror_path,
        branch: source.branch,
        cut_branch: source.cut_branch,
        out: workspace
            .join("out")
            .join(layout::stage_dir(&build_version)),
        build_version,
        build_commit,
        prime: versions.prime,
        ordered,
        signer,
        identity: Identity {
            time: fixed_epoch.or(identity.time),
            ..identity.clone()
        },
        fixed_epoch,
        source_date_epoch,
        started: now,
        project_slug: slug(&config.project),
        workspace,
        journal,
        repo: None,
        tags: BTreeMap::new(),
        release_branch_commit: None,
        images: BTreeMap::new(),
    })
}

fn parse_branch(config: &Config, name: &str) -> Result<Branch, ReleaseError> {
    Branch::parse(name, &config.git.main_branch, &config.git.release_branch).map_err(|err| {
        ReleaseError::Config {
            message: err.to_string(),
            hint: format!(
                "--branch is the main branch (`{}`) or a release branch (`{}`)",
                config.git.main_branch,
                config.git.release_branch.template()
            ),
        }
    })
}

/// The mirror, fetched every run so the versions are computed from the remote's state.
fn fetch_source(
    setup: &StageSetup<'_>,
    branch: Branch,
    requested: &str,
) -> Result<Source, ReleaseError> {
    let config = setup.config;
    let url = config.git_url();
    let mirror_path = setup
        .workspace_root
        .join("mirror")
        .join(format!("{}.git", slug(&config.project)));
    setup.report.status("Fetching", &url);
    let mirror = open_or_clone(setup, &mirror_path, &url)?;
    let refs = mirror
        .list_remote(&config.git.remote, setup.credentials)
        .map_err(git(format!("listing the branches and tags of {url}")))?;
    let cut_branch =
        matches!(&branch, Branch::Release { name, .. } if !refs.heads.contains_key(name));
    let source_branch = if cut_branch {
        config.git.main_branch.clone()
    } else {
        requested.to_string()
    };
    if !refs.heads.contains_key(&source_branch) {
        return Err(ReleaseError::Config {
            message: format!("the remote {url} has no branch `{source_branch}`"),
            hint: "check --branch and git.main_branch in krel.yaml".into(),
        });
    }
    Ok(Source {
        url,
        remote: config.git.remote.clone(),
        mirror_path,
        mirror,
        refs,
        branch,
        cut_branch,
        source_branch,
    })
}

impl Source {
    /// The source branch as the mirror has it.
    fn source_ref(&self) -> String {
        format!("refs/remotes/{}/{}", self.remote, self.source_branch)
    }
}

/// The requested build version, or the source branch's head described.
fn build_version(source: &Source, request: &StageRequest) -> Result<BuildVersion, ReleaseError> {
    let build_version = match &request.build_version {
        Some(build) => build.clone(),
        None => source
            .mirror
            .build_version(&source.source_ref())
            .map_err(git(format!(
                "describing the head of `{}`",
                source.source_branch
            )))?,
    };
    if build_version.dirty {
        return Err(ReleaseError::Config {
            message: format!("{build_version} is a dirty build version"),
            hint: "a release is built from a commit: drop -dirty".into(),
        });
    }
    Ok(build_version)
}

/// The build version's commit, which must be on the source branch.
fn build_commit(source: &Source, build_version: &BuildVersion) -> Result<CommitId, ReleaseError> {
    let mirror = &source.mirror;
    let build_commit = match &build_version.commit {
        Some(commit) => mirror.resolve(commit),
        None => mirror.resolve(&format!("refs/tags/{}", build_version.tag)),
    }
    .map_err(git(format!(
        "finding the commit of build version {build_version}"
    )))?;
    let head = mirror
        .resolve(&source.source_ref())
        .map_err(git("reading the branch head"))?;
    if !mirror
        .is_ancestor(build_commit, head)
        .map_err(git("checking the build version's commit"))?
    {
        return Err(ReleaseError::Config {
            message: format!(
                "build version {build_version} ({}) is not on `{}` of {}",
                build_commit.short(),
                source.source_branch,
                source.url
            ),
            hint: "pass a build version from the branch being released".into(),
        });
    }
    Ok(build_commit)
}

fn check_platform(config: &Config, scope: &StageScope) -> Result<(), ReleaseError> {
    let StageScope::Platform(platform) = scope else {
        return Ok(());
    };
    if config.build.platforms.contains(platform) {
        return Ok(());
    }
    Err(ReleaseError::Config {
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
    })
}

/// Every scope signs but a platform job's.
fn signer<'a>(
    scope: &StageScope,
    signer: Option<&'a dyn BundleSigner>,
) -> Result<Option<&'a dyn BundleSigner>, ReleaseError> {
    match (scope, signer) {
        (StageScope::Platform(_), _) => Ok(None),
        (_, Some(signer)) => Ok(Some(signer)),
        (_, None) => Err(ReleaseError::Config {
            message: "no signing key: a stage signs every file it stages".into(),
            hint: "set release.signing_key in krel.yaml (or KREL_SIGNING_KEY); make one with `krel sign generate-key`".into(),
        }),
    }
}

/// A split stage's jobs run on other machines at other times: they share one time, so that
/// each makes the same release commit and writes the same bytes. It is SOURCE_DATE_EPOCH when
/// set, else the build commit's time; the merge takes the one its platforms used.
fn fixed_epoch(
    setup: &StageSetup<'_>,
    scope: &StageScope,
    mirror: &Repo,
    build_commit: CommitId,
) -> Result<Option<i64>, ReleaseError> {
    Ok(match scope {
        StageScope::Whole => setup.source_date_epoch,
        StageScope::Platform(_) => Some(match setup.source_date_epoch {
            Some(epoch) => epoch,
            None => mirror
                .commit_time(build_commit)
                .map_err(git("reading the build commit's time"))?,
        }),
        StageScope::Merge(records) => records.first().map(|r| r.source_date_epoch),
    })
}

/// A build version given on the command line must be what `git describe` says of its commit:
/// its version and commit count decide the versions released, so a typo (v1.15 for v1.11)
/// would publish a wrong version. Returns the describer's spelling (the commit abbreviated as
/// krel abbreviates it), so that another spelling of one commit is not a second stage of it.
fn canonical(
    source: &Source,
    given: &BuildVersion,
    commit: krel_git::CommitId,
) -> Result<BuildVersion, ReleaseError> {
    let mirror = &source.mirror;
    let described = mirror
        .build_version(&commit.to_string())
        .map_err(git(format!("describing {}", commit.short())))?;
    let tag_commit = |tag: &Version| mirror.resolve(&format!("refs/tags/{tag}")).ok();
    // The same tagged commit under another of its tags is the same description.
    let same_tag = described.tag == given.tag
        || (tag_commit(&described.tag).is_some()
            && tag_commit(&described.tag) == tag_commit(&given.tag));
    if same_tag && described.commits == given.commits {
        return Ok(BuildVersion {
            tag: given.tag.clone(),
            ..described
        });
    }
    Err(ReleaseError::Config {
        message: format!(
            "build version {given} does not describe its commit {}: git describe gives {described}",
            commit.short()
        ),
        hint: format!(
            "pass --build-version {described}, or leave it out to release the head of `{}`",
            source.source_branch
        ),
    })
}

/// No version is released below a tag of its minor that exists (an alpha after that minor's
/// rc, from an old commit): releases of a line only move forward.
fn check_not_behind(refs: &RemoteRefs, versions: &[Version]) -> Result<(), ReleaseError> {
    for version in versions {
        let newer = refs
            .tags
            .keys()
            .filter_map(|name| name.parse::<Version>().ok())
            .filter(|tag| tag.major == version.major && tag.minor == version.minor)
            .filter(|tag| tag > version)
            .max();
        if let Some(newer) = newer {
            return Err(ReleaseError::Config {
                message: format!("{version} would come after {newer}, which is already released"),
                hint: "releases of a minor only move forward: stage from the head of its branch (krel next-version shows what it gives)".into(),
            });
        }
    }
    Ok(())
}

fn check_tags_absent(refs: &RemoteRefs, versions: &[Version]) -> Result<(), ReleaseError> {
    for version in versions {
        if let Some(commit) = refs.tags.get(&version.to_string()) {
            return Err(ReleaseError::TagOnRemote {
                tag: version.to_string(),
                version: version.to_string(),
                commit: commit.short(),
            });
        }
    }
    Ok(())
}

/// The workspace of this build version and scope. A merge works apart from a one-machine
/// stage of the same build version: it must stage what its platforms built, not find the
/// other's finished steps in the journal.
fn workspace(
    setup: &StageSetup<'_>,
    request: &StageRequest,
    build_version: &BuildVersion,
) -> Result<PathBuf, ReleaseError> {
    let workspace = workspace_path(setup, request, build_version);
    std::fs::create_dir_all(&workspace).map_err(io("creating the workspace", &workspace))?;
    Ok(workspace)
}

/// A build version typed in another spelling than krel's (a shorter commit id) finds a stage
/// already made under krel's; a new one is refused before anything is written, because a split
/// stage's merge and `krel release` look the stage up by the spelling they are given.
fn check_spelling(
    setup: &StageSetup<'_>,
    request: &StageRequest,
    typed: &str,
    build_version: &BuildVersion,
) -> Result<(), ReleaseError> {
    let journal = workspace_path(setup, request, build_version).join("journal.json");
    if typed == build_version.to_string() || journal.is_file() {
        return Ok(());
    }
    Err(ReleaseError::Config {
        message: format!("build version {typed} is {build_version} as krel spells it"),
        hint: format!(
            "pass --build-version {build_version}: the split stage's merge and krel release find the stage by that name"
        ),
    })
}

/// Where the workspace of this build version and scope is (see [`workspace`]).
fn workspace_path(
    setup: &StageSetup<'_>,
    request: &StageRequest,
    build_version: &BuildVersion,
) -> PathBuf {
    let name = match &request.scope {
        StageScope::Platform(platform) => {
            format!("{build_version}.{}", platform_dir_name(platform))
        }
        StageScope::Merge(_) => format!("{build_version}.merge"),
        StageScope::Whole => build_version.to_string(),
    };
    setup
        .workspace_root
        .join("stage")
        .join(slug(&setup.config.project))
        .join(name)
}

/// The journal, which also holds what this build version is staged as: one build version is
/// one stage, so `stage/<bv>/` holds one completion record.
fn open_journal(
    workspace: &Path,
    request: &StageRequest,
    build_version: &BuildVersion,
    ordered: &[Version],
) -> Result<Journal, ReleaseError> {
    let mut journal = Journal::open(
        &workspace.join("journal.json"),
        "stage",
        &build_version.to_string(),
    )?;
    let staging = format!("{} {}", request.release_type, join(ordered, " "));
    match journal.get("versions") {
        Some(earlier) if earlier != staging => Err(ReleaseError::Config {
            message: format!(
                "build version {build_version} was already staged as `{earlier}`; this run would stage `{staging}`"
            ),
            hint: format!(
                "a build version is staged once: release that stage, or stage a newer commit (--build-version). If it was only a mock run (never staged with --nomock), remove its workspace {} and run again",
                workspace.display()
            ),
        }),
        Some(_) => Ok(journal),
        None => {
            journal.record("versions", staging)?;
            Ok(journal)
        }
    }
}

/// The mirror at `path`, fetched; cloned when there is none. Safe against a kill at any
/// point: a new mirror is cloned beside its place and renamed into it only when complete, and
/// the lock files a killed fetch leaves are removed before the next fetch, under an exclusive
/// lock that stage runs sharing the mirror take in turn.
fn open_or_clone(setup: &StageSetup<'_>, path: &Path, url: &str) -> Result<Repo, ReleaseError> {
    let remote = &setup.config.git.remote;
    let credentials = setup.credentials;
    let _lock = lock_mirror(path)?;
    if path.join("HEAD").is_file() {
        remove_stale_locks(path)?;
        let repo = Repo::open(path).map_err(git("opening the mirror"))?;
        repo.set_remote_url(remote, url)
            .map_err(git("pointing the mirror at the remote"))?;
        repo.fetch(remote, credentials, &NoProgress)
            .map_err(git(format!("fetching {url}")))?;
        return Ok(repo);
    }
    let partial = path.with_extension("git.partial");
    remove_dir(path)?;
    remove_dir(&partial)?;
    let repo = Repo::clone_bare(url, &partial, remote, credentials, &NoProgress)
        .map_err(git(format!("cloning {url}")))?;
    (setup.after_step)("clone the mirror");
    repo.fetch(remote, credentials, &NoProgress)
        .map_err(git(format!("fetching the tags of {url}")))?;
    drop(repo);
    std::fs::rename(&partial, path).map_err(io("moving the new mirror into place at", path))?;
    Repo::open(path).map_err(git("opening the mirror"))
}

/// An exclusive lock on `<mirror>.lock`, held while the mirror is fetched (released when the
/// process ends, however it ends).
fn lock_mirror(path: &Path) -> Result<std::fs::File, ReleaseError> {
    let lock_path = path.with_extension("lock");
    if let Some(parent) = lock_path.parent() {
        std::fs::create_dir_all(parent).map_err(io("creating", parent))?;
    }
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io("opening the mirror lock", &lock_path))?;
    lock.lock().map_err(io("locking the mirror", &lock_path))?;
    Ok(lock)
}

/// Removes the `*.lock` files git leaves in a repository when it is killed mid-update
/// (`refs/tags/v1.9.0.lock`, `packed-refs.lock`, …). Only called under the mirror lock, so no
/// live fetch owns them.
fn remove_stale_locks(repo: &Path) -> Result<(), ReleaseError> {
    let mut stale: Vec<PathBuf> = [
        "packed-refs.lock",
        "HEAD.lock",
        "config.lock",
        "shallow.lock",
    ]
    .iter()
    .map(|name| repo.join(name))
    .filter(|path| path.exists())
    .collect();
    for entry in walkdir::WalkDir::new(repo.join("refs"))
        .into_iter()
        .flatten()
    {
        if entry.file_type().is_file() && entry.file_name().to_string_lossy().ends_with(".lock") {
            stale.push(entry.into_path());
        }
    }
    for path in stale {
        tracing::warn!(path = %path.display(), "removing a lock file left by an interrupted fetch");
        std::fs::remove_file(&path).map_err(io("removing the stale lock", &path))?;
    }
    Ok(())
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
