//! `krel stage` and `krel release`: a whole release, resumable.
//!
//! **Stage** ([`stage::stage`]) computes the versions, clones the remote into a clean
//! workspace, makes the release commits and tags (locally: stage pushes nothing to git),
//! builds every version in a clean tree, collects the artifacts, writes checksums, SPDX SBOMs,
//! signatures and a signed SLSA provenance statement, archives the source with its git
//! objects, and uploads everything under `stage/<build-version>/` of a bucket, a completion
//! record last ([`layout`]).
//!
//! **Release** ([`release::prepare_release`]) downloads a completed stage, verifies every
//! signature, checksum and provenance subject (stopping on any mismatch), restores the source
//! with its tags, and plans the publication: git branch and tags, `release/<version>/`,
//! version markers, GitHub releases. The binary executes the plan with `--nomock`.
//!
//! A large build can be split ([`split`]): one job per platform uploads a partial stage, and
//! one merge gathers them and stages the whole release, the same as one machine would.
//!
//! Both keep a [`journal::Journal`] of completed steps in their workspace, so that running the
//! same command again after a failure or a kill continues where it stopped.

// Stage and release stay as short steps (docs/architecture.md): no function over 150 lines.
#![warn(clippy::too_many_lines)]

pub mod build;
mod files;
pub mod image_signing;
pub mod journal;
pub mod layout;
pub mod records;
pub mod release;
pub mod source;
pub mod split;
pub mod stage;
pub mod verify;

use std::path::PathBuf;

use krel_error::{Diagnose, ErrorKind};

/// Why a stage or release stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// The configuration does not allow this run.
    #[error("{message}")]
    Config {
        /// What is wrong.
        message: String,
        /// What to do.
        hint: String,
    },
    /// The versions cannot be computed for this type and branch.
    #[error("computing the release versions")]
    Version(#[source] Box<krel_version::NextVersionError>),
    /// A git operation failed.
    #[error("{context}")]
    Git {
        /// What krel was doing.
        context: String,
        /// The cause.
        source: Box<krel_git::GitError>,
    },
    /// A tag to be made exists already where it would be pushed.
    #[error("tag {tag} already exists on the remote ({commit}): {version} was released or staged before")]
    TagOnRemote {
        /// The tag.
        tag: String,
        /// The version.
        version: String,
        /// Where the remote's tag points.
        commit: String,
    },
    /// A storage operation failed.
    #[error("{context}")]
    Storage {
        /// What krel was doing.
        context: String,
        /// The cause.
        source: Box<krel_storage::StorageError>,
    },
    /// GitHub could not be read or written.
    #[error("{context}")]
    GitHub {
        /// What krel was doing.
        context: String,
        /// The cause.
        source: Box<krel_github::GitHubError>,
    },
    /// A registry or an image could not be read or written.
    #[error("{what}")]
    Image {
        /// What krel was doing.
        what: String,
        /// The cause.
        source: krel_image::ImageError,
    },
    /// Signing into Sigstore bundles failed.
    #[error("{context}")]
    Bundle {
        /// What krel was doing.
        context: String,
        /// The cause.
        source: Box<krel_sigstore::BundleError>,
    },
    /// Checksums could not be written.
    #[error("writing checksums")]
    Checksum(#[source] Box<krel_checksum::ChecksumError>),
    /// An SBOM or provenance statement could not be made or read.
    #[error("attestations")]
    Attest(#[source] Box<krel_attest::AttestError>),
    /// The build command failed.
    #[error("the build of {version} failed: `{command}` {status} in {}", dir.display())]
    BuildFailed {
        /// The version being built.
        version: String,
        /// The command.
        command: String,
        /// How it ended.
        status: String,
        /// Where it ran.
        dir: PathBuf,
    },
    /// The build did not leave what `build.artifacts` names.
    #[error("the build of {version} left no {what}")]
    MissingArtifacts {
        /// The version.
        version: String,
        /// What is missing (a directory or file of the build tree).
        what: String,
    },
    /// A file-system operation failed.
    #[error("{action} {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The workspace holds something krel cannot continue from.
    #[error("the workspace at {} cannot be used: {reason}", path.display())]
    Workspace {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Another run of the same command holds the workspace's lock.
    #[error("the workspace at {} cannot be used: another `krel {command}` of {build_version} is running in it (it holds {})", path.display(), lock.display())]
    WorkspaceBusy {
        /// The workspace.
        path: PathBuf,
        /// `stage` or `release`.
        command: String,
        /// The build version.
        build_version: String,
        /// The lock file.
        lock: PathBuf,
    },
    /// The platforms' partial stages of a split stage disagree.
    #[error("the partial stages at {root} failed verification:\n  - {}", problems.join("\n  - "))]
    PartialsDisagree {
        /// Where they are.
        root: String,
        /// Each disagreement.
        problems: Vec<String>,
    },
    /// Staged files do not match their checksums, signatures or provenance.
    #[error("{what} failed verification:\n  - {}", problems.join("\n  - "))]
    Verification {
        /// What was verified.
        what: String,
        /// Each problem.
        problems: Vec<String>,
    },
    /// The release branch moved on the remote since the stage, in a way that cannot be merged.
    #[error("{branch} moved on the remote since the stage and cannot be merged into the release commit:\n  - {}", conflicts.join("\n  - "))]
    BranchDiverged {
        /// The release branch.
        branch: String,
        /// The conflicting paths.
        conflicts: Vec<String>,
    },
    /// A split stage's merge found platforms whose job has not uploaded its partial stage.
    #[error("the partial stages of {build_version} are incomplete: {} not arrived (arrived: {})", missing.join(", "), if arrived.is_empty() { "none".to_string() } else { arrived.join(", ") })]
    PartialsMissing {
        /// The build version.
        build_version: String,
        /// Platforms in build.platforms without a partial stage.
        missing: Vec<String>,
        /// Platforms whose partial stage is there.
        arrived: Vec<String>,
    },
    /// The bucket holds a stage of this build version with other content.
    #[error("{location} already holds a stage of this build version with other content ({objects} object(s) differ); nothing was uploaded")]
    StagedBefore {
        /// Where the stage is.
        location: String,
        /// How many objects differ.
        objects: usize,
    },
    /// There is no completed stage where one was expected.
    #[error("no completed stage at {url}")]
    NotStaged {
        /// The stage location.
        url: String,
    },
}

impl Diagnose for ReleaseError {
    /// Usage when the request or configuration does not allow the run; refused when the state
    /// of the world says no (a tag exists, a file was tampered with); else unexpected.
    fn kind(&self) -> ErrorKind {
        if let ReleaseError::Image { source, .. } = self {
            return source.kind();
        }
        if matches!(self, ReleaseError::Config { .. } | ReleaseError::Version(_)) {
            ErrorKind::Usage
        } else if self.is_refusal() {
            ErrorKind::Refused
        } else {
            ErrorKind::Unexpected
        }
    }

    /// True when the state of the world says no.
    fn is_refusal(&self) -> bool {
        match self {
            ReleaseError::TagOnRemote { .. }
            | ReleaseError::Verification { .. }
            | ReleaseError::PartialsDisagree { .. }
            | ReleaseError::BranchDiverged { .. }
            | ReleaseError::NotStaged { .. }
            | ReleaseError::PartialsMissing { .. }
            | ReleaseError::StagedBefore { .. } => true,
            ReleaseError::Git { source, .. } => source.is_refusal(),
            ReleaseError::Storage { source, .. } => source.is_refusal(),
            ReleaseError::GitHub { source, .. } => source.is_refusal(),
            _ => false,
        }
    }

    /// What a user can do about it.
    fn hint(&self) -> Option<String> {
        match self {
            ReleaseError::Config { hint, .. } => Some(hint.clone()),
            ReleaseError::Version(err) => err.hint(),
            ReleaseError::Git { source, .. } => source.hint(),
            ReleaseError::Storage { source, .. } => source.hint(),
            ReleaseError::GitHub { source, .. } => source.hint(),
            ReleaseError::Image { source, .. } => source.hint(),
            ReleaseError::TagOnRemote { .. } => Some(
                "pick the next version (another --type, or a newer --build-version); tags are never moved".into(),
            ),
            ReleaseError::BuildFailed { .. } => Some(
                "the build's output is above; fix the build and run the same command again: finished steps are kept".into(),
            ),
            ReleaseError::MissingArtifacts { .. } => Some(
                "check build.artifacts in krel.yaml against what the build writes (docs/commands/stage.md)".into(),
            ),
            ReleaseError::WorkspaceBusy { .. } => Some(
                "wait for that run to finish (a run that was killed frees the lock with its process), then run again".into(),
            ),
            ReleaseError::Workspace { .. } => Some(
                "move the workspace directory away (or pass another --workspace) to start afresh".into(),
            ),
            ReleaseError::PartialsDisagree { .. } => Some(
                "nothing was staged: stage the platforms named again with the same --type, --branch and --build-version, then merge again".into(),
            ),
            ReleaseError::Verification { .. } => Some(
                "nothing was published. If every signature fails, check that --public-key is the key the stage was signed with; otherwise the stage is not what was built and signed: stage a new build version".into(),
            ),
            ReleaseError::BranchDiverged { branch, .. } => Some(format!(
                "nothing was published: merge the remote's {branch} into the release commit by hand, or stage a newer build version of {branch}"
            )),
            ReleaseError::PartialsMissing { build_version, missing, .. } => Some(format!(
                "run `krel stage --split --platform P --build-version {build_version}` (same type, branch and --nomock choice) for {}, then merge again; nothing was staged",
                missing.join(", ")
            )),
            ReleaseError::StagedBefore { .. } => Some(
                "a build version is staged once: release the stage that is there, or stage a newer commit (--build-version). To remake the same stage byte for byte, run with the SOURCE_DATE_EPOCH the first stage used".into(),
            ),
            ReleaseError::NotStaged { .. } => Some(
                "run `krel stage` for this build version first (with the same --nomock choice), or check --build-version".into(),
            ),
            _ => None,
        }
    }
}

impl From<krel_version::NextVersionError> for ReleaseError {
    fn from(err: krel_version::NextVersionError) -> ReleaseError {
        ReleaseError::Version(Box::new(err))
    }
}

impl From<krel_checksum::ChecksumError> for ReleaseError {
    fn from(err: krel_checksum::ChecksumError) -> ReleaseError {
        ReleaseError::Checksum(Box::new(err))
    }
}

impl From<krel_attest::AttestError> for ReleaseError {
    fn from(err: krel_attest::AttestError) -> ReleaseError {
        ReleaseError::Attest(Box::new(err))
    }
}

/// Adds context to bundle errors.
pub(crate) fn bundle(
    context: impl Into<String>,
) -> impl FnOnce(krel_sigstore::BundleError) -> ReleaseError {
    let context = context.into();
    move |source| ReleaseError::Bundle {
        context,
        source: Box::new(source),
    }
}

/// Adds context to git errors.
pub(crate) fn git(context: impl Into<String>) -> impl FnOnce(krel_git::GitError) -> ReleaseError {
    let context = context.into();
    move |source| ReleaseError::Git {
        context,
        source: Box::new(source),
    }
}

/// Adds context to storage errors.
pub(crate) fn storage(
    context: impl Into<String>,
) -> impl FnOnce(krel_storage::StorageError) -> ReleaseError {
    let context = context.into();
    move |source| ReleaseError::Storage {
        context,
        source: Box::new(source),
    }
}

/// Whether an upload may replace an object that holds other bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StageOverwrite {
    /// A stage is written once: other bytes under its name are a refusal.
    Refused,
    /// A platform job's partial stage may be rewritten by a rerun of that job (its record,
    /// uploaded last, says what the merge is to find).
    Allowed,
}

/// What stage and release both take from outside: the configuration, where workspaces live,
/// the bucket and its store, the runtime, git credentials and committer, how much runs at
/// once, the step hook and the progress report. [`stage::StageSetup`] and
/// [`release::ReleaseSetup`] add what each needs besides, and dereference to this.
pub struct Shared<'a> {
    /// The project configuration.
    pub config: &'a krel_config::Config,
    /// Where workspaces and the mirror live.
    pub workspace_root: &'a std::path::Path,
    /// The bucket: the stage's destination, or the release's source and destination (the
    /// mock bucket, or the release bucket with --nomock).
    pub bucket: &'a krel_storage::Location,
    /// The bucket's store.
    pub store: &'a krel_storage::Store,
    /// The runtime the store (and the GitHub client) run on.
    pub runtime: &'a tokio::runtime::Runtime,
    /// Credentials for the git remote.
    pub credentials: &'a krel_git::Credentials,
    /// Who makes release commits, tags, and a release's merge commit.
    pub identity: Option<&'a krel_git::Identity>,
    /// Threads for hashing, signing and verifying; requests at once.
    pub jobs: usize,
    /// Called after each journaled step (tests stop a run at a given step with it).
    pub after_step: &'a dyn Fn(&str),
    /// Where progress goes.
    pub report: &'a dyn Report,
    /// The registries images are staged in and promoted to (`None`: images are refused).
    pub images: Option<&'a ImageSetup>,
}

/// Where a release's container images go.
#[derive(Clone, Debug)]
pub struct ImageSetup {
    /// The registry stage pushes to and release reads from: the mock registry (a local OCI
    /// layout directory) or, with --nomock, `release.staging_registry`.
    pub staging: krel_image::ImageLocation,
    /// The registry release promotes to (`release.registry`); stage signs for it too.
    pub release: krel_image::ImageLocation,
    /// Registry credentials.
    pub env: krel_image::RegistryEnv,
}

/// Progress and findings, for the person running the release.
pub trait Report: Sync {
    /// A step happened: `verb` is short ("Tagged", "Built"), `message` says what.
    fn status(&self, verb: &str, message: &str);
    /// A step was skipped because the journal says it is done.
    fn resumed(&self, step: &str) {
        self.status("Resumed", &format!("{step} (done in an earlier run)"));
    }
}

/// Says nothing.
pub struct Quiet;

impl Report for Quiet {
    fn status(&self, _: &str, _: &str) {}
}
