//! `krel stage`: build, attest, sign and upload a release to the stage area of a bucket.

use std::path::PathBuf;

use krel_plan::Mode;
use krel_release::stage::{stage, StageRequest, StageSetup};
use krel_release::ReleaseError;
use krel_sign::load_signing_key;
use krel_storage::{Location, Store, StoreEnv};

use crate::cli::{OutputFormat, StageArgs};
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
`krel release` then verifies the stage and publishes it.";

pub const EXAMPLES: &str = "\
Examples:
  krel stage --type alpha --branch master                 # mock: into the mock bucket
  krel stage --type rc --branch release-1.31              # cuts release-1.31 when it is new
  krel stage --type official --branch release-1.30 --nomock
  krel stage --type rc --branch release-1.30 --build-version v1.30.1-rc.0.4+0123456789abcd";

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
    let key_path = ctx.config.release.signing_key.as_ref().ok_or_else(|| {
        Failure::usage(anyhow::anyhow!("no signing key: release.signing_key is not set")).with_hint(Some(
            "set release.signing_key in krel.yaml (or KREL_SIGNING_KEY); make one with `krel sign generate-key`".into(),
        ))
    })?;
    let signer = load_signing_key(&read_key_file(key_path)?, &password).map_err(sign_failure)?;
    let build_version = args
        .build_version
        .as_deref()
        .map(parse_build_version)
        .transpose()?;
    let bucket = stage_bucket(ctx)?;
    let workspace_root = workspace_root(ctx, args.workspace.as_ref());
    let runtime = crate::commands::runtime()?;
    let store = open_store(&runtime, &bucket)?;
    let identity = ctx.committer();
    let hook = fault_hook();
    if ctx.mode == Mode::Mock {
        shell.status(
            "Mock",
            format!("staging into the mock bucket {bucket}; nothing is written to any remote"),
        );
    }
    let outcome = stage(
        &StageSetup {
            config: &ctx.config,
            workspace_root: &workspace_root,
            bucket: &bucket,
            store: &store,
            runtime: &runtime,
            credentials: &ctx.credentials,
            identity: identity.as_ref(),
            source_date_epoch: ctx.source_date_epoch,
            signer: &signer,
            jobs: args.jobs,
            after_step: &hook,
            report: shell,
        },
        &StageRequest {
            release_type: args.release_type.into(),
            branch: args.branch.clone(),
            build_version,
        },
    )
    .map_err(release_failure)?;
    match shell.output() {
        OutputFormat::Text => {
            shell.note(format!(
                "\nStaged {} from build version {} ({} files, {} uploaded, {} already there)\n  at {}\n  workspace {}\nNext: krel release --type {} --branch {} --build-version {}{}",
                outcome.versions.join(" and "),
                outcome.build_version,
                outcome.files,
                outcome.uploaded,
                outcome.unchanged,
                outcome.location,
                outcome.workspace.display(),
                krel_release::stage::type_name(args.release_type.into()),
                outcome.branch,
                outcome.build_version,
                if ctx.mode == Mode::NoMock { " --nomock" } else { "" },
            ));
        }
        OutputFormat::Json => shell.json(&serde_json::json!({
            "mode": ctx.mode,
            "stage": outcome,
        })),
    }
    Ok(())
}
