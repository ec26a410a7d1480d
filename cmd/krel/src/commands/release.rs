//! `krel release`: verify a stage and publish it.

use std::path::PathBuf;

use krel_git::Git2Pusher;
use krel_github::BlockingPublisher;
use krel_plan::{Action, Executors, Mode, Outcome};
use krel_release::release::{
    prepare_release, PreparedRelease, ReleaseRequest, ReleaseSetup, ReleaseSummary,
};
use krel_release::Shared;
use krel_sign::PublicKey;
use krel_storage::{BlockingMarkerWriter, BlockingUploader, Location, NoProgress, Store};

use crate::args::{
    parse_build_version, ConfirmArg, GitHubApiArg, JobsArg, ReleaseTypeArg, WorkspaceArg,
};
use crate::cli::OutputFormat;
use crate::context::Context;
use crate::failure::Failure;
use crate::output::{print_envelope, render_plan, run_plan, Confirm, Heading};
use crate::shell::Shell;

/// `krel release` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The release type the build version was staged as.
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub release_type: ReleaseTypeArg,

    /// The branch it was staged from.
    #[arg(long, value_name = "BRANCH")]
    pub branch: String,

    /// The staged build version (`krel stage` prints it).
    #[arg(long, value_name = "BV")]
    pub build_version: String,

    /// The public key the stage was signed with (default: release.signing_key with `.pub`
    /// in place of `.key`).
    #[arg(long, value_name = "FILE")]
    pub public_key: Option<PathBuf>,

    /// Release notes (markdown, e.g. from `krel changelog`) for the GitHub release of the
    /// prime version.
    #[arg(long, value_name = "FILE")]
    pub notes: Option<PathBuf>,

    #[command(flatten)]
    pub github: GitHubApiArg,

    #[command(flatten)]
    pub workspace: WorkspaceArg,

    #[command(flatten)]
    pub jobs: JobsArg,

    #[command(flatten)]
    pub confirm: ConfirmArg,
}

pub const LONG_ABOUT: &str = "\
Publish a staged release, after checking that it is exactly what was built and signed.

krel reads stage/<build-version>/ from the bucket `krel stage` wrote to: with --nomock
release.bucket; in mock mode the mock bucket, or release.bucket (reads only) when the build
version was staged with --nomock. Then:
  1. downloads STAGED.json and every file it lists (files already downloaded are kept);
  2. verifies STAGED.json's signature and every file against it, then each version exactly as
     it will be published through `krel verify`'s checks (checksums, every bundle and .sig,
     the provenance and its attestation, the SBOMs), and every staged image in the staging
     registry (digests as recorded, every platform, the signatures for the staging and the
     release repository); any mismatch stops the release with the list of problems and nothing
     published;
  3. restores src.tar.gz (the source with its git objects) and checks every tag;
  4. plans, from the remotes' current state:
     - push the release branch (new on a branch cut; when the remote moved since the stage, a
       merge favouring the release commit), then the tags (a tag already there at the same
       commit is done; at another commit the release stops before changing anything);
     - upload <version>/gcs-stage/<version>/ and the provenance to release/<version>/;
     - copy each version's images by digest with their signatures to release.registry (blobs
       mounted, never uploaded twice), then tag them vX.Y.Z (a tag naming another image stops
       the release before changing anything: tags are never moved);
     - a GitHub release per version (release.github_release): a draft, every top-level file of
       release/<version>/ as an asset, then published once;
     - move the version markers release/latest[-X[.Y]].txt (every release) and
       release/stable[-X[.Y]].txt (official releases) forward, never back: each write has a
       precondition on what was read, and an older version leaves a newer marker alone;
     - stage/<build-version>/RELEASED.json, last.

Mock (default) prints that plan and changes nothing on any remote. --nomock carries it out
(after a confirmation, unless --non-interactive). Rerunning after a failure or a kill plans only
what is left; a release run twice changes nothing the second time.

GitHub: GITHUB_TOKEN (or GH_TOKEN), and --github-api-url (KREL_GITHUB_API_URL) for GitHub
Enterprise or a stand-in. The public key defaults to release.signing_key with .pub for .key;
a keyless stage (release.signing: keyless) is verified for release.signer_identity (a regular
expression) and release.signer_issuer under release.trusted_root instead.

Exit status: 0 done (or planned), 1 refused (the stage does not verify, a tag exists at another
commit, a remote changed underneath), 2 usage or unexpected failure.";

pub const EXAMPLES: &str = "\
Examples:
  krel release --type alpha --branch master --build-version v1.31.0-alpha.0.5+0123456789abcd
  krel release --type official --branch release-1.30 --build-version v1.30.1-rc.0.3+abcdef0123 \\
      --notes CHANGELOG-1.30.1.md --nomock";

/// Who must have signed the stage: with `release.signing: keyless`, a certificate identity
/// matching `release.signer_identity` from `release.signer_issuer`, under
/// `release.trusted_root`; else the public key.
fn stage_verifier(
    ctx: &Context,
    flag: Option<&PathBuf>,
    staged_in: Mode,
    workspace_root: &std::path::Path,
) -> Result<krel_verify::Verifier, Failure> {
    let release = &ctx.config()?.release;
    if release.signing == krel_config::Signing::Key || flag.is_some() {
        let key = public_key(ctx, flag)?;
        return Ok(krel_verify::Verifier::with_key(&key)?);
    }
    if staged_in == Mode::Mock {
        // A mock keyless stage was signed with the workspace's throwaway key.
        let key = ctx.mock_keyless_key(workspace_root)?.public_key();
        return Ok(krel_verify::Verifier::with_key(&key)?);
    }
    let identity = release.signer_identity.as_deref().ok_or_else(|| {
        Failure::usage(anyhow::anyhow!(
            "release.signing is keyless, and release.signer_identity does not say whose signatures to trust"
        ))
        .with_hint(Some(
            "set release.signer_identity to a regular expression of the stage workflow's identity, e.g. https://github.com/ORG/REPO/.github/workflows/stage.yml@.*".into(),
        ))
    })?;
    let expected = krel_sigstore::Expected::Identity {
        identity: krel_sigstore::Matcher::regex(identity)
            .map_err(|err| Failure::usage(anyhow::anyhow!("release.signer_identity: {err}")))?,
        issuer: krel_sigstore::Matcher::Exact(release.signer_issuer.clone()),
    };
    let trust = match &release.trusted_root {
        Some(path) => krel_sigstore::Trust::from_file(path)?,
        None => krel_sigstore::Trust::public_good()?,
    };
    Ok(krel_verify::Verifier::new(expected, trust, None))
}

/// The public key that checks the stage: the flag, or the signing key's `.pub` sibling.
fn public_key(ctx: &Context, flag: Option<&PathBuf>) -> Result<PublicKey, Failure> {
    let path = match flag {
        Some(path) => path.clone(),
        None => {
            let key = ctx.config()?.release.signing_key.as_ref().ok_or_else(|| {
                Failure::usage(anyhow::anyhow!(
                    "no key to verify the stage with: pass --public-key or set release.signing_key"
                ))
                .with_hint(Some(
                    "--public-key is the .pub file `krel sign generate-key` wrote beside the key"
                        .into(),
                ))
            })?;
            key.with_extension("pub")
        }
    };
    if !path.is_file() {
        return Err(Failure::usage(anyhow::anyhow!(
            "the public key {} does not exist",
            path.display()
        ))
        .with_hint(Some(
            "pass --public-key FILE (the .pub beside the signing key)".into(),
        )));
    }
    Ok(PublicKey::from_file(&path)?)
}

/// The bucket the stage is read from and published to: with --nomock the release bucket. A
/// mock run uses the mock bucket, unless the stage is not there but in the release bucket
/// (staged with --nomock): then it reads that bucket, so the plan shows what --nomock will do.
/// Also says how the stage was made: a stage in the release bucket was made with --nomock, so
/// its images are in the staging registry (whichever bucket a mock run calls its own).
fn release_bucket(
    ctx: &Context,
    runtime: &tokio::runtime::Runtime,
    build_version: &krel_version::BuildVersion,
    shell: &Shell,
) -> Result<(Location, Store, Mode), Failure> {
    let (bucket, store) = stage_location(ctx, runtime, build_version, shell)?;
    let release_bucket = ctx
        .config()?
        .release
        .bucket
        .to_string()
        .parse::<Location>()
        .ok();
    let staged_in = if ctx.mode == Mode::NoMock || release_bucket.as_ref() == Some(&bucket) {
        Mode::NoMock
    } else {
        Mode::Mock
    };
    Ok((bucket, store, staged_in))
}

fn stage_location(
    ctx: &Context,
    runtime: &tokio::runtime::Runtime,
    build_version: &krel_version::BuildVersion,
    shell: &Shell,
) -> Result<(Location, Store), Failure> {
    let bucket = ctx.stage_bucket()?;
    let store = ctx.open_store(runtime, &bucket)?;
    if ctx.mode == Mode::NoMock {
        return Ok((bucket, store));
    }
    let record = format!(
        "{}/{}",
        krel_release::layout::stage_dir(build_version),
        krel_release::layout::STAGED
    );
    let has_stage = |location: &Location, store: &Store| {
        runtime
            .block_on(store.stat(&location.key(&record)))
            .is_ok_and(|info| info.is_some())
    };
    if has_stage(&bucket, &store) {
        return Ok((bucket, store));
    }
    let staged_for_real = ctx
        .config()?
        .release
        .bucket
        .to_string()
        .parse::<Location>()
        .ok()
        .and_then(|release| {
            let store = ctx.open_store(runtime, &release).ok()?;
            has_stage(&release, &store).then_some((release, store))
        });
    match staged_for_real {
        Some((release, release_store)) => {
            shell.status(
                "Mock",
                format!(
                    "{build_version} was staged with --nomock: reading {release}; nothing is written"
                ),
            );
            Ok((release, release_store))
        }
        None => Ok((bucket, store)),
    }
}

/// Transfers at once by default.
const TRANSFERS: usize = 8;

pub fn exec(ctx: &Context, args: &Args, shell: &Shell) -> Result<(), Failure> {
    let build_version = parse_build_version(&args.build_version)?;
    let workspace_root = ctx.workspace_root(&args.workspace)?;
    let runtime = ctx.runtime()?;
    let (bucket, store, staged_in) = release_bucket(ctx, &runtime, &build_version, shell)?;
    let verifier = stage_verifier(ctx, args.public_key.as_ref(), staged_in, &workspace_root)?;
    let notes = match &args.notes {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|err| {
            Failure::usage(anyhow::anyhow!(
                "reading the notes {}: {err}",
                path.display()
            ))
        })?),
        None => None,
    };
    let config = ctx.config()?;
    let jobs = args.jobs.or(TRANSFERS);
    let github = if config.release.github_release {
        if ctx.mode == Mode::NoMock && ctx.credentials().token.is_none() {
            return Err(Failure::usage(anyhow::anyhow!(
                "publishing the GitHub release needs a token, and neither GITHUB_TOKEN nor GH_TOKEN is set"
            ))
            .with_hint(Some(
                "export GITHUB_TOKEN (contents: write on the repository), or set release.github_release: false".into(),
            )));
        }
        Some(ctx.github(&runtime, &args.github)?)
    } else {
        None
    };
    let identity = ctx.committer()?;
    let hook = ctx.fault_hook();
    let credentials = ctx.credentials();
    let images = ctx.image_setup_for(staged_in)?;
    let prepared = prepare_release(
        &ReleaseSetup {
            shared: Shared {
                config,
                workspace_root: &workspace_root,
                bucket: &bucket,
                store: &store,
                runtime: &runtime,
                credentials: &credentials,
                identity: identity.as_ref(),
                jobs,
                after_step: &hook,
                report: shell,
                images: Some(&images),
            },
            verifier: &verifier,
            github: github.as_ref(),
        },
        &ReleaseRequest {
            release_type: args.release_type.into(),
            branch: args.branch.clone(),
            build_version,
            notes,
        },
    )?;
    show_plan(ctx, shell, &prepared);

    let scratch = prepared.summary.workspace.join("markers");
    let pusher = Git2Pusher::new(&prepared.repo, ctx.credentials());
    let uploader = BlockingUploader {
        runtime: &runtime,
        store: &store,
        jobs,
        progress: &NoProgress,
    };
    let markers = BlockingMarkerWriter {
        runtime: &runtime,
        store: &store,
        scratch: &scratch,
    };
    let publisher = github.as_ref().map(|github| BlockingPublisher {
        runtime: &runtime,
        github,
    });
    let image_writer = krel_image::BlockingImageWriter {
        runtime: &runtime,
        env: &images.env,
        jobs,
    };
    let text = shell.output() == OutputFormat::Text;
    let after_action = |index: usize, action: &Action| {
        if text {
            shell.status("Done", format!("{index}. {action}"));
        }
        hook(&format!("action {index}"));
    };
    let question = format!(
        "Publish {} ({} action(s) above)?",
        prepared.summary.versions.join(" and "),
        prepared.plan.actions.len()
    );
    let outcome = run_plan(
        shell,
        &prepared.plan,
        ctx.mode,
        if args.confirm.non_interactive {
            Confirm::No
        } else {
            Confirm::Ask(&question)
        },
        &Executors {
            git: Some(&pusher),
            storage: Some(&uploader),
            markers: Some(&markers),
            github: publisher
                .as_ref()
                .map(|p| p as &dyn krel_github::ReleasePublisher),
            images: Some(&image_writer),
            after_action: Some(&after_action),
        },
    )?;
    let plan = prepared.plan.clone();
    let summary = match outcome {
        Outcome::Executed { .. } => {
            drop(pusher);
            prepared.finish()?
        }
        Outcome::Planned { .. } => prepared.summary,
    };
    let executed = matches!(outcome, Outcome::Executed { .. });
    crate::ci::release_summary(ctx, &summary, executed);
    if executed && text {
        shell.note(released_text(&summary));
    }
    print_envelope(shell, ctx.mode, Some(outcome), &plan, &summary);
    Ok(())
}

/// What is done already, then the plan (or that nothing is left).
fn show_plan(ctx: &Context, shell: &Shell, prepared: &PreparedRelease) {
    if shell.output() != OutputFormat::Text {
        return;
    }
    for done in &prepared.summary.already_done {
        shell.status("Already", done);
    }
    if prepared.plan.is_empty() {
        shell.status(
            "Up to date",
            format!(
                "{} is published: nothing left to do",
                prepared.summary.versions.join(" and ")
            ),
        );
    }
    render_plan(shell, &prepared.plan, Heading::of(ctx.mode));
}

fn released_text(summary: &ReleaseSummary) -> String {
    let short = |c: &String| c.chars().take(12).collect::<String>();
    format!(
        "\nReleased {} from build version {}\n  files   {}/<version>/ ({} staged files verified)\n  tags    {}{}",
        summary.versions.join(" and "),
        summary.build_version,
        summary.location,
        summary.verified,
        summary
            .tags
            .iter()
            .map(|(v, c)| format!("{v} at {}", short(c)))
            .collect::<Vec<_>>()
            .join(", "),
        summary
            .branch
            .as_ref()
            .map(|(b, c)| format!("\n  branch  {b} at {}", short(c)))
            .unwrap_or_default(),
    )
}
