//! `krel stage`: build, attest, sign and upload a release to the stage area of a bucket.

use std::path::PathBuf;

use krel_config::Platform;
use krel_plan::Mode;
use krel_release::split::merge;
use krel_release::stage::{stage, StageOutcome, StageRequest, StageScope, StageSetup};
use krel_release::ReleaseError;
use krel_sign::load_signing_key;
use krel_storage::{Location, Store, StoreEnv};

use crate::cli::{OutputFormat, StageArgs, StageCommand, StageMergeArgs};
use crate::commands::next_version::parse_build_version;
use crate::commands::push::storage_failure;
use crate::commands::sign::{password, read_key_file, sign_failure};
use crate::context::Context;
use crate::failure::Failure;
use crate::shell::Shell;

pub const LONG_ABOUT: &str = "\
Stage a release: everything `krel release` will publish, built and signed, in a bucket.

krel fetches the remote, decides whether --branch must be cut (a release-X.Y the remote does not
have yet), computes the versions as `krel next-version` does (a branch cut gives vX.Y.0-rc.0 and
vX.(Y+1).0-alpha.0) and refuses when a tag exists on the remote. Then, in a workspace:
  1. clone the remote; on a release branch make an empty \"Release commit for <project> vX.Y.Z\"
     on the build version's commit and tag it (on the main branch the commit itself is tagged);
     nothing is pushed to git;
  2. for each version: write the tag's tree to a clean directory, run build.command there
     (KREL_VERSION, KREL_BUILD_VERSION, KREL_PLATFORMS, SOURCE_DATE_EPOCH set), copy the files
     build.artifacts names into stage/<bv>/<version>/gcs-stage/<version>/;
  3. add SPDX 2.3 SBOMs of the artifacts and of the source, SHA256SUMS/SHA512SUMS and per-file
     digests, a signature (.sig) for every file, and a signed in-toto SLSA v1 provenance
     statement whose subjects are all of them;
  4. archive the source with its git objects (stage/<bv>/src.tar.gz) for `krel release`;
  5. upload stage/<bv>/ to the bucket, then STAGED.json (signed), which marks the stage complete.

Mock (default) stages into release.mock_bucket (a file:// directory, default
~/.local/share/krel/mock-bucket); --nomock into release.bucket. Either way no git remote and no
GitHub API is written to.

Every step is journaled in the workspace: after a failure or a kill, run the same command again
and it continues where it stopped. A build version is staged once: staging the same commit as
another type is refused (stage a newer commit instead).

The signing key is release.signing_key (password from KREL_SIGNING_PASSWORD, or asked on a
terminal). SOURCE_DATE_EPOCH fixes every time written (commits, tags, documents), so the same
inputs give the same bytes.
`krel release` then verifies the stage and publishes it.

A large build can be split over machines (one CI job per platform): each job runs
  krel stage --type T --branch B --build-version BV --split --platform OS/ARCH
which clones, tags and builds that platform only (KREL_PLATFORMS=OS/ARCH), then uploads what
build.artifacts collected to stage-partial/<bv>/<os>-<arch>/ with PARTIAL.json last. A platform
job needs no signing key (build jobs run the project's scripts; the key stays with the merge).
Every job uses one time for commits, tags and documents: SOURCE_DATE_EPOCH, else the build
commit's time, so all of them make the same release commit. Then one job runs
  krel stage merge --build-version BV
(see `krel stage merge --help`); the result is the same, file for file, as a one-machine stage
with that SOURCE_DATE_EPOCH. In a GitHub Actions workflow (GITHUB_ACTIONS=true) krel writes a
summary to $GITHUB_STEP_SUMMARY and outputs version, versions, build-version, release-type,
branch, stage-location (and platform) to $GITHUB_OUTPUT.";

pub const MERGE_LONG_ABOUT: &str = "\
Stage the whole release from the partial stages that `krel stage --split --platform P` jobs
uploaded for one build version.

krel reads stage-partial/<bv>/<os>-<arch>/PARTIAL.json of every platform in build.platforms
from the bucket (the mock bucket, or release.bucket with --nomock). It refuses (exit 1, nothing
staged) when a platform has not arrived, naming it, or when the records disagree (type, branch,
versions, tags, time). The records are not signed: the bucket's write permission protects them,
and every file is checked against its record. Then it makes the same release commits and tags
itself and checks them against the records, downloads every file of every platform and checks
its SHA-256 (the same path from two platforms must hold the same bytes), writes the source SBOM,
and continues as `krel stage` does: release SBOM, checksums, signatures, provenance, the source
archive, the upload of stage/<bv>/ and STAGED.json last. The type and branch come from the
records.

Like stage, merge is journaled (in its own workspace, <bv>.merge): run it again after a failure
and it continues. It plans the whole upload before writing anything: a bucket that already holds
a stage of this build version with other bytes stops it (exit 1), nothing uploaded. The partial
stages are left in place (a bucket lifecycle rule on stage-partial/ can expire them).";

pub const MERGE_EXAMPLES: &str = "\
Examples:
  # one job per platform (a CI matrix), the same build version in each:
  krel stage --type rc --branch release-1.31 --build-version v1.31.0-rc.0.5+0123456789abcd \\
    --split --platform linux/arm64 --nomock
  # then, once:
  krel stage merge --build-version v1.31.0-rc.0.5+0123456789abcd --nomock";

pub const EXAMPLES: &str = "\
Examples:
  krel stage --type alpha --branch master                 # mock: into the mock bucket
  krel stage --type rc --branch release-1.31              # cuts release-1.31 when it is new
  krel stage --type official --branch release-1.30 --nomock
  krel stage --type rc --branch release-1.30 --build-version v1.30.1-rc.0.4+0123456789abcd
  krel stage --type rc --branch release-1.30 --build-version v1.30.1-rc.0.4+0123456789abcd \\
    --split --platform linux/arm64                       # one job of a split stage
  krel stage merge --build-version v1.30.1-rc.0.4+0123456789abcd";

pub(crate) fn release_failure(err: ReleaseError) -> Failure {
    let hint = err.hint();
    let failure = if err.is_usage() {
        Failure::usage(err)
    } else if err.is_refusal() {
        Failure::refused(err)
    } else {
        Failure::unexpected(err)
    };
    failure.with_hint(hint)
}

/// The bucket stage writes to: the mock bucket (local) or, with --nomock, the release bucket.
pub(crate) fn stage_bucket(ctx: &Context) -> Result<Location, Failure> {
    let url = match ctx.mode {
        Mode::NoMock => ctx.config.release.bucket.to_string(),
        Mode::Mock => match &ctx.config.release.mock_bucket {
            Some(bucket) => bucket.to_string(),
            None => format!("file://{}", ctx.data_dir().join("mock-bucket").display()),
        },
    };
    url.parse().map_err(|err: krel_storage::StorageError| {
        Failure::usage(err).with_hint(Some(
            "set release.bucket / release.mock_bucket in krel.yaml (docs/configuration.md)".into(),
        ))
    })
}

/// Opens the store of `bucket` (no request is made for file://).
pub(crate) fn open_store(
    runtime: &tokio::runtime::Runtime,
    bucket: &Location,
) -> Result<Store, Failure> {
    let env = StoreEnv::from_env(|name| std::env::var(name).ok());
    runtime
        .block_on(Store::open(bucket, &env))
        .map_err(storage_failure)
}

/// The workspace root: the flag, release.workspace, or the data directory.
pub(crate) fn workspace_root(ctx: &Context, flag: Option<&PathBuf>) -> PathBuf {
    flag.cloned()
        .or_else(|| ctx.config.release.workspace.clone())
        .unwrap_or_else(|| ctx.data_dir().join("workspace"))
}

/// Stops the process abruptly after the named step: how tests kill a run at a chosen point.
pub(crate) fn fault_hook() -> impl Fn(&str) {
    let stop_after = std::env::var("KREL_TEST_ABORT_AFTER").ok();
    move |step: &str| {
        if stop_after.as_deref() == Some(step) {
            std::process::abort();
        }
    }
}

pub fn exec(ctx: &Context, args: &StageArgs, shell: &Shell) -> Result<(), Failure> {
    if let Some(StageCommand::Merge(merge)) = &args.command {
        return exec_merge(ctx, merge, shell);
    }
    let (Some(release_type), Some(branch)) = (args.release_type, args.branch.clone()) else {
        return Err(Failure::usage(anyhow::anyhow!(
            "--type and --branch are needed to stage"
        )));
    };
    let scope = match (&args.platform, args.split) {
        (Some(platform), true) => StageScope::Platform(
            Platform::parse(platform)
                .map_err(|err| Failure::usage(anyhow::anyhow!("--platform: {err}")))?,
        ),
        _ => StageScope::Whole,
    };
    let build_version = args
        .build_version
        .as_deref()
        .map(parse_build_version)
        .transpose()?;
    let request = StageRequest {
        release_type: release_type.into(),
        branch,
        build_version,
        scope,
    };
    // A platform job runs the project's build and signs nothing: it never loads the key.
    let sign = !matches!(request.scope, StageScope::Platform(_));
    let staging = Staging::open(ctx, args.workspace.as_ref(), shell, sign)?;
    let outcome = staging
        .run(ctx, args.jobs, shell, |setup| stage(setup, &request))
        .map_err(release_failure)?;
    report_outcome(ctx, shell, &outcome)
}

fn exec_merge(ctx: &Context, args: &StageMergeArgs, shell: &Shell) -> Result<(), Failure> {
    let build_version = parse_build_version(&args.build_version)?;
    let staging = Staging::open(ctx, args.workspace.as_ref(), shell, true)?;
    let outcome = staging
        .run(ctx, args.jobs, shell, |setup| merge(setup, &build_version))
        .map_err(release_failure)?;
    report_outcome(ctx, shell, &outcome)
}

/// What every stage run needs: the signing key, the bucket and its store, the workspace.
struct Staging {
    signer: Option<krel_sign::KeySigner>,
    bucket: Location,
    workspace_root: PathBuf,
    runtime: tokio::runtime::Runtime,
    store: Store,
}

impl Staging {
    /// `sign`: load release.signing_key (every run but a split stage's platform job).
    fn open(
        ctx: &Context,
        workspace: Option<&PathBuf>,
        shell: &Shell,
        sign: bool,
    ) -> Result<Staging, Failure> {
        let signer = if sign {
            let key_path = ctx.config.release.signing_key.as_ref().ok_or_else(|| {
                Failure::usage(anyhow::anyhow!("no signing key: release.signing_key is not set")).with_hint(Some(
                    "set release.signing_key in krel.yaml (or KREL_SIGNING_KEY); make one with `krel sign generate-key`".into(),
                ))
            })?;
            Some(load_signing_key(&read_key_file(key_path)?, &password).map_err(sign_failure)?)
        } else {
            None
        };
        let bucket = stage_bucket(ctx)?;
        let workspace_root = workspace_root(ctx, workspace);
        let runtime = crate::commands::runtime()?;
        let store = open_store(&runtime, &bucket)?;
        if ctx.mode == Mode::Mock {
            shell.status(
                "Mock",
                format!("staging into the mock bucket {bucket}; nothing is written to any remote"),
            );
        }
        Ok(Staging {
            signer,
            bucket,
            workspace_root,
            runtime,
            store,
        })
    }

    fn run<T>(
        &self,
        ctx: &Context,
        jobs: usize,
        shell: &Shell,
        body: impl FnOnce(&StageSetup<'_>) -> Result<T, ReleaseError>,
    ) -> Result<T, ReleaseError> {
        let identity = ctx.committer();
        let hook = fault_hook();
        body(&StageSetup {
            config: &ctx.config,
            workspace_root: &self.workspace_root,
            bucket: &self.bucket,
            store: &self.store,
            runtime: &self.runtime,
            credentials: &ctx.credentials,
            identity: identity.as_ref(),
            source_date_epoch: ctx.source_date_epoch,
            signer: self.signer.as_ref().map(|s| s as &dyn krel_sign::Signer),
            jobs,
            after_step: &hook,
            report: shell,
        })
    }
}

fn report_outcome(ctx: &Context, shell: &Shell, outcome: &StageOutcome) -> Result<(), Failure> {
    let release_type = &outcome.release_type;
    let nomock = if ctx.mode == Mode::NoMock {
        " --nomock"
    } else {
        ""
    };
    match shell.output() {
        OutputFormat::Text => {
            let versions = outcome.versions.join(" and ");
            let bv = &outcome.build_version;
            let (what, next) = match &outcome.platform {
                Some(platform) => (
                    format!("{platform} of {versions}"),
                    format!("when every platform of build.platforms is staged, krel stage merge --build-version {bv}{nomock}"),
                ),
                None => (
                    versions,
                    format!("krel release --type {release_type} --branch {} --build-version {bv}{nomock}", outcome.branch),
                ),
            };
            shell.note(format!(
                "\nStaged {what} from build version {bv} ({} files, {} uploaded, {} already there)\n  at {}\n  workspace {}\nNext: {next}",
                outcome.files,
                outcome.uploaded,
                outcome.unchanged,
                outcome.location,
                outcome.workspace.display(),
            ));
        }
        OutputFormat::Json => shell.json(&serde_json::json!({
            "mode": ctx.mode,
            "stage": outcome,
        })),
    }
    crate::ci::stage_summary(ctx, outcome);
    Ok(())
}
