//! `krel stage`: build, attest, sign and upload a release to the stage area of a bucket.

use std::path::PathBuf;

use krel_config::Platform;
use krel_plan::{Action, Executors, Mode};
use krel_release::split::prepare_merge;
use krel_release::stage::{
    prepare_stage, PreparedStage, StageOutcome, StageRequest, StageScope, StageSetup,
};
use krel_release::{ReleaseError, Shared};
use krel_storage::{BlockingUploader, Location, NoProgress, Store};

use crate::args::{parse_build_version, JobsArg, ReleaseTypeArg, WorkspaceArg};
use crate::cli::OutputFormat;
use crate::context::Context;
use crate::failure::Failure;
use crate::output::{print_envelope, render_plan, run_plan, Confirm, Heading};
use crate::shell::Shell;

/// `krel stage` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Release type.
    #[arg(long = "type", value_enum, value_name = "TYPE", required = true)]
    pub release_type: Option<ReleaseTypeArg>,

    /// The main branch, or a release branch (cut from the main branch when the remote does
    /// not have it yet).
    #[arg(long, value_name = "BRANCH", required = true)]
    pub branch: Option<String>,

    /// Build this platform only (OS/ARCH, one of build.platforms), for one job of a split
    /// stage; needs --split.
    #[arg(long, value_name = "OS/ARCH", requires = "split")]
    pub platform: Option<String>,

    /// Upload the build of --platform as a partial stage (stage-partial/<bv>/<os>-<arch>/)
    /// for `krel stage merge`, instead of staging the release. Needs --build-version, so
    /// that every job builds the same commit.
    #[arg(long, requires_all = ["platform", "build_version"])]
    pub split: bool,

    /// The commit to release, in `git describe` form (default: the head of the branch, or of
    /// the main branch for a branch cut, described).
    #[arg(long, value_name = "BV")]
    pub build_version: Option<String>,

    #[command(flatten)]
    pub workspace: WorkspaceArg,

    #[command(flatten)]
    pub jobs: JobsArg,
}

/// `krel stage` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Stage the whole release from the partial stages of a split stage: check that every
    /// platform in build.platforms arrived, then checksum, attest, sign and upload all of it.
    #[command(long_about = MERGE_LONG_ABOUT, after_help = MERGE_EXAMPLES)]
    Merge(MergeArgs),
}

/// `krel stage merge` arguments.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The build version the platform jobs staged.
    #[arg(long, value_name = "BV")]
    pub build_version: String,

    #[command(flatten)]
    pub workspace: WorkspaceArg,

    #[command(flatten)]
    pub jobs: JobsArg,
}

pub const LONG_ABOUT: &str = "\
Stage a release: everything `krel release` will publish, built and signed, in a bucket.

krel fetches the remote, decides whether --branch must be cut (a release-X.Y the remote does not
have yet), computes the versions as `krel next-version` does (a branch cut gives vX.Y.0-rc.0 and
vX.(Y+1).0-alpha.0) and refuses when a tag exists on the remote, when a --build-version is not
what git describe says of its commit (or, for a new stage, is spelled otherwise than krel spells
it), or when a version would come below a released tag of its minor. Then, in a workspace:
  1. clone the remote; on a release branch make an empty \"Release commit for <project> vX.Y.Z\"
     on the build version's commit and tag it (on the main branch the commit itself is tagged);
     nothing is pushed to git;
  2. for each version: write the tag's tree to a clean directory, run build.command there in
     an environment of its own (PATH, HOME, locale, build.env; KREL_VERSION, KREL_BUILD_VERSION,
     KREL_PLATFORMS, SOURCE_DATE_EPOCH; never krel's credentials; secrets printed are masked),
     copy the files build.artifacts names into stage/<bv>/<version>/gcs-stage/<version>/ (a
     link out of the build tree is refused), and read the container images build.images names
     (docker save archives NAME.tar or OCI layouts NAME/, one per image and platform; no Docker
     needed): per image an OCI index over its platforms, cosign signatures of the index and of
     every platform manifest, images.json and an SBOM per image among the version's files;
  3. add SPDX 2.3 SBOMs of the artifacts and of the source, SHA256SUMS/SHA512SUMS and per-file
     digests, a Sigstore bundle (<file>.sigstore.json) and a .sig for every file
     (release.detached_signatures), the SBOMs as signed attestations, and an in-toto SLSA v1
     provenance statement whose subjects are all of them, signed and attested
     (provenance.json.intoto.sigstore.json);
  4. archive the source with its git objects (stage/<bv>/src.tar.gz) for `krel release`;
  5. plan the upload (printed as every plan is; --output json prints it in the envelope
     {mode, outcome, plan, result}), then upload stage/<bv>/ to the bucket, copy the images by
     digest to the staging registry and tag each index with the build version, then upload
     STAGED.json (signed, with every image digest), which marks the stage complete.

Mock (default) stages into release.mock_bucket (a file:// directory, default
~/.local/share/krel/mock-bucket) and release.mock_registry (an oci: directory, default
~/.local/share/krel/mock-registry); --nomock into release.bucket and
release.staging_registry (credentials: KREL_REGISTRY_USERNAME and KREL_REGISTRY_PASSWORD, else
~/.docker/config.json). Either way no git remote and no GitHub API is written to.

Every step is journaled in the workspace: after a failure or a kill, run the same command again
and it continues where it stopped. A build version is staged once: staging the same build
version as another type is refused (stage a newer commit instead). Once a version is tagged,
its commit describes as that tag, a new build version, which may be staged again.

The signing key is release.signing_key (password from KREL_SIGNING_PASSWORD, or asked on a
terminal). With release.signing: keyless there is no key: the OIDC identity token of the job
(SIGSTORE_ID_TOKEN, or GitHub Actions' with `permissions: id-token: write`) gets a Fulcio
certificate for every signature, each logged in Rekor (services from release.signing_config;
Sigstore's public-good instance by default). A mock stage never writes to that public log: it
signs with a throwaway key in the workspace, which a mock release of it verifies with.
SOURCE_DATE_EPOCH fixes every time written (commits, tags, documents), so the same
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

/// Transfers at once by default.
const TRANSFERS: usize = 8;

pub fn exec(ctx: &Context, args: &Args, shell: &Shell) -> Result<(), Failure> {
    if let Some(Command::Merge(merge)) = &args.command {
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
    let staging = Staging::open(ctx, &args.workspace, shell, sign)?;
    staging.run(ctx, args.jobs.or(TRANSFERS), shell, |setup| {
        prepare_stage(setup, &request)
    })
}

fn exec_merge(ctx: &Context, args: &MergeArgs, shell: &Shell) -> Result<(), Failure> {
    let build_version = parse_build_version(&args.build_version)?;
    let staging = Staging::open(ctx, &args.workspace, shell, true)?;
    staging.run(ctx, args.jobs.or(TRANSFERS), shell, |setup| {
        prepare_merge(setup, &build_version)
    })
}

/// The stage's signer: release.signing_key, or keyless (release.signing: keyless). A mock
/// stage never signs keylessly: that would write to a public transparency log, and a dry run
/// changes nothing remote. It signs with the workspace's throwaway mock key instead, which a
/// mock release of that stage then verifies with.
fn release_bundle_signer(
    ctx: &Context,
    workspace_root: &std::path::Path,
    shell: &Shell,
) -> Result<Box<dyn krel_sigstore::BundleSigner>, Failure> {
    let release = &ctx.config()?.release;
    match (release.signing, ctx.mode) {
        (krel_config::Signing::Key, _) => Ok(Box::new(krel_sigstore::KeyBundleSigner::new(
            ctx.release_signer()?,
        )?)),
        (krel_config::Signing::Keyless, Mode::Mock) => {
            shell.status(
                "Mock",
                "keyless signing writes to a public transparency log, so this dry run signs with a throwaway key",
            );
            Ok(Box::new(krel_sigstore::KeyBundleSigner::new(
                ctx.mock_keyless_key(workspace_root)?,
            )?))
        }
        (krel_config::Signing::Keyless, Mode::NoMock) => Ok(Box::new(
            ctx.keyless_signer(release.signing_config.as_deref())?,
        )),
    }
}

/// What every stage run needs: the signing key, the bucket and its store, the workspace.
struct Staging {
    signer: Option<Box<dyn krel_sigstore::BundleSigner>>,
    bucket: Location,
    workspace_root: PathBuf,
    runtime: tokio::runtime::Runtime,
    store: Store,
}

impl Staging {
    /// `sign`: load release.signing_key (every run but a split stage's platform job).
    fn open(
        ctx: &Context,
        workspace: &WorkspaceArg,
        shell: &Shell,
        sign: bool,
    ) -> Result<Staging, Failure> {
        let workspace_root = ctx.workspace_root(workspace)?;
        let signer = if sign {
            Some(release_bundle_signer(ctx, &workspace_root, shell)?)
        } else {
            None
        };
        let bucket = ctx.stage_bucket()?;
        let runtime = ctx.runtime()?;
        let store = ctx.open_store(&runtime, &bucket)?;
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

    /// Builds the stage with `prepare`, prints its plan, executes it into the bucket (the
    /// mock bucket in mock mode: a stage always writes its stage, never a remote the mode
    /// protects), journals it and reports.
    fn run(
        &self,
        ctx: &Context,
        jobs: usize,
        shell: &Shell,
        prepare: impl FnOnce(&StageSetup<'_>) -> Result<PreparedStage, ReleaseError>,
    ) -> Result<(), Failure> {
        let config = ctx.config()?;
        let identity = ctx.committer()?;
        let hook = ctx.fault_hook();
        let build_env = ctx.build_env()?;
        let masker = ctx.masker();
        let credentials = ctx.credentials();
        let images = ctx.image_setup()?;
        let setup = StageSetup {
            shared: Shared {
                config,
                workspace_root: &self.workspace_root,
                bucket: &self.bucket,
                store: &self.store,
                runtime: &self.runtime,
                credentials: &credentials,
                identity: identity.as_ref(),
                jobs,
                after_step: &hook,
                report: shell,
                images: Some(&images),
            },
            source_date_epoch: ctx.source_date_epoch()?,
            signer: self.signer.as_deref(),
            build_env: &build_env,
            masker: &masker,
        };
        let prepared = prepare(&setup)?;
        render_plan(shell, &prepared.plan, Heading::Carried);
        let uploader = BlockingUploader {
            runtime: &self.runtime,
            store: &self.store,
            jobs,
            progress: &NoProgress,
        };
        let after = |index: usize, _: &Action| {
            if let Some(step) = prepared.action_step(index) {
                hook(&step);
            }
        };
        let image_writer = krel_image::BlockingImageWriter {
            runtime: &self.runtime,
            env: &images.env,
            jobs,
        };
        let executors = Executors {
            storage: Some(&uploader),
            images: Some(&image_writer),
            after_action: Some(&after),
            ..Executors::default()
        };
        let outcome = run_plan(shell, &prepared.plan, Mode::NoMock, Confirm::No, &executors)?;
        let plan = prepared.plan.clone();
        let staged = prepared.finish(shell)?;
        report_outcome(ctx, shell, &staged);
        print_envelope(shell, ctx.mode, Some(outcome), &plan, &staged);
        Ok(())
    }
}

fn report_outcome(ctx: &Context, shell: &Shell, outcome: &StageOutcome) {
    let release_type = &outcome.release_type;
    let nomock = if ctx.mode == Mode::NoMock {
        " --nomock"
    } else {
        ""
    };
    if shell.output() == OutputFormat::Text {
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
    crate::ci::stage_summary(ctx, outcome);
}
