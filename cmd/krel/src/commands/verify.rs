//! `krel verify LOCATION`: a published release, checked as the people who download it would.

use std::path::{Path, PathBuf};

use krel_verify::{verify_images, verify_release, Expect, ImagesReport, Report, Verifier};

use crate::args::{JobsArg, SignerArgs};
use crate::cli::OutputFormat;
use crate::context::Context;
use crate::failure::Failure;
use crate::shell::Shell;

/// `krel verify` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The version's directory: a local path, gs://BUCKET/release/vX.Y.Z, s3://..., file://...,
    /// or https://HOST/release/vX.Y.Z.
    #[arg(value_name = "LOCATION")]
    pub location: String,
    #[command(flatten)]
    pub signer: SignerArgs,
    /// The source repository the provenance must name (https://github.com/ORG/REPO).
    #[arg(long, value_name = "URL")]
    pub source_repo: Option<String>,
    /// The version, whose tag the provenance's source must be (default: LOCATION's last part,
    /// `.` included, when it is a version; otherwise the tag is not checked, with a warning).
    #[arg(long, value_name = "VERSION")]
    pub version: Option<String>,
    /// Also recompute every SHA-512 (SHA512SUMS, <file>.sha512). By default every file is
    /// bound to the signer by SHA-256 (bundles, provenance, SHA256SUMS), and SHA512SUMS, signed
    /// like every file, must list the same files.
    #[arg(long)]
    pub sha512: bool,
    /// Do not check the images images.json lists in their registry (offline, or no access to
    /// it); the files are still checked, images.json among them. Said in the result.
    #[arg(long)]
    pub skip_images: bool,
    #[command(flatten)]
    pub jobs: JobsArg,
}

pub const LONG_ABOUT: &str = "\
Verify a published release the way someone who downloads it should, before trusting it. Every
check runs and every problem is listed (exit 1); nothing is trusted that is not signed by the
signer you name:

  checksums    SHA256SUMS and each <file>.sha256 match the files and list every artifact;
               SHA512SUMS lists the same files (--sha512 recomputes those digests too)
  signatures   every file has a Sigstore bundle (<file>.sigstore.json) or, with --key, a .sig,
               and each one present verifies: by the key, or for keyless signatures by the
               certificate's identity and issuer under the trusted root (certificate chain,
               transparency-log inclusion, timestamps)
  provenance   provenance.json and its attestation (provenance.json.intoto.sigstore.json) are
               signed; its subjects are exactly the files (and the images images.json lists);
               its source is the version's tag (in --source-repo, when given)
  SBOMs        every file the release SBOM lists has the digest it records; each SBOM's
               attestation, when present, is signed and about that SBOM
  images       every image images.json lists is in its registry under its tag with the listed
               index digest, the index lists exactly the listed platform manifests, and the
               index and each manifest carry a signature by the signer naming that repository
               (only once the files verify, images.json among them; --skip-images: not
               checked; credentials: per registry host from ~/.docker/config.json, never
               KREL_REGISTRY_*; an unreachable registry exits 2, not 1)

LOCATION is a directory, a bucket URL or an https:// URL of one version. Remote versions are read
as the provenance lists them (provenance.json first, then every file it names), into a
temporary directory that is removed afterwards.";

pub const EXAMPLES: &str = "\
Examples:
  krel verify ./release/v1.4.0 --key release.pub --sha512      # every digest recomputed
  krel verify https://dl.k8s.io/release/v1.32.0 \\
      --certificate-identity krel-trust@k8s-releng-prod.iam.gserviceaccount.com \\
      --certificate-oidc-issuer https://accounts.google.com
  krel verify gs://my-releases/release/v1.4.0 --key release.pub --source-repo https://github.com/me/widget
  krel verify ./release/v1.4.0 --key release.pub --output json";

/// Runs `krel verify`.
pub fn exec(ctx: &Context, args: &Args, shell: &Shell) -> Result<(), Failure> {
    if let Some(version) = &args.version {
        version.parse::<krel_version::Version>().map_err(|err| {
            Failure::usage(anyhow::Error::new(err).context(format!("--version {version}")))
                .with_hint(Some(
                    "--version takes the release's version tag, such as v1.30.2".into(),
                ))
        })?;
    }
    let (expected, trust) = args.signer.resolve()?;
    // A P-256 key also checks `.sig` files; another kind of key checks bundles only.
    let key = match &args.signer.key {
        Some(path) => match krel_sign::PublicKey::from_file(path) {
            Ok(key) => Some(key),
            Err(err) => {
                shell.warn(&format!(
                    "{}: {err}; .sig files are not checked, only bundles",
                    path.display()
                ));
                None
            }
        },
        None => None,
    };
    let verifier = Verifier::new(expected, trust, key);
    let jobs = args.jobs.or_cpus();
    let local = Path::new(&args.location);
    // Declared in this order so the directory is removed before it is unregistered.
    let _scratch_registered;
    let scratch: tempfile::TempDir;
    let dir: PathBuf = if local.is_dir() {
        if !local.join("provenance.json").is_file() {
            return Err(Failure::usage(anyhow::anyhow!(
                "{}: there is no provenance.json: not a version krel published",
                args.location
            ))
            .with_hint(Some(
                "LOCATION is one version's directory, such as release/v1.2.3".into(),
            )));
        }
        local.to_path_buf()
    } else if !args.location.contains("://") {
        return Err(Failure::usage(anyhow::anyhow!(
            "{} is not a directory",
            args.location
        ))
        .with_hint(Some(
            "LOCATION is a version's directory (release/vX.Y.Z), or its gs://, s3://, file:// or https:// URL".into(),
        )));
    } else {
        (_scratch_registered, scratch) =
            krel_fs::scratch::temp_dir(&std::env::temp_dir(), "krel-verify-").map_err(|err| {
                Failure::unexpected(
                    anyhow::Error::new(err).context("creating a temporary directory"),
                )
            })?;
        fetch(ctx, &args.location, scratch.path(), jobs, shell)?;
        scratch.path().to_path_buf()
    };
    let version = args
        .version
        .clone()
        .or_else(|| version_named_by(&args.location, shell));
    let expect = Expect {
        version,
        source_repo: args.source_repo.clone(),
        sha512: args.sha512,
    };
    shell.status(
        "Verifying",
        format!("{} signed by {}", args.location, verifier.describe()),
    );
    let mut report = verify_release(&dir, &verifier, &expect, jobs)?;
    if let Some(repo) = &args.source_repo {
        krel_verify::check_source_repo(&mut report, repo);
    }
    let images = images(args.skip_images, &report, &dir, &verifier);
    render(&report, &images, &verifier, shell);
    let checked = match &images {
        Images::Checked(checked) => Some(checked),
        _ => None,
    };
    let problems = report.problems.len() + checked.map_or(0, |i| i.problems.len());
    if problems > 0 {
        return Err(Failure::refused(anyhow::anyhow!(
            "{} does not verify: {problems} problem(s)",
            args.location,
        ))
        .with_hint(Some(
            "do not install or redistribute these files; check the signer and the URL".into(),
        )));
    }
    if let Some(unreachable) = checked.map(|i| &i.unreachable).filter(|u| !u.is_empty()) {
        return Err(Failure::unexpected(anyhow::anyhow!(
            "the files verify, and the registry of {} image(s) could not be read: {}",
            unreachable.len(),
            unreachable.join("; ")
        ))
        .with_hint(Some(
            "check the network and the registry's credentials (docker login, ~/.docker/config.json), or pass --skip-images to verify the files only".into(),
        )));
    }
    Ok(())
}

/// What became of the images check.
enum Images {
    /// `--skip-images`.
    Skipped,
    /// The files did not verify, so `images.json` is not known to be the signer's: its
    /// registries are not contacted.
    Untrusted,
    /// Checked.
    Checked(ImagesReport),
}

/// Checks the images `images.json` lists, once the files (it among them) verified. Only
/// credentials kept per registry host (`~/.docker/config.json` and its helpers) are used:
/// `KREL_REGISTRY_*` are for the publisher's registries, and `images.json` could name any.
fn images(skip: bool, report: &Report, dir: &Path, verifier: &Verifier) -> Images {
    if skip {
        return Images::Skipped;
    }
    if !report.problems.is_empty() {
        return Images::Untrusted;
    }
    let env = krel_image::RegistryEnv {
        docker_config: true,
        ..krel_image::RegistryEnv::default()
    };
    Images::Checked(verify_images(dir, verifier, &env))
}

/// The version LOCATION's last part names (`release/v1.30.0`, `.` inside it), whose tag the
/// provenance's source must be; none when that part is not a version (then the tag is not
/// checked, and the user is told how to check it).
fn version_named_by(location: &str, shell: &Shell) -> Option<String> {
    let local = Path::new(location);
    let name = if local.is_dir() {
        std::fs::canonicalize(local)
            .ok()
            .and_then(|path| path.file_name().map(|n| n.to_string_lossy().into_owned()))
    } else {
        location
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .map(str::to_string)
    }?;
    if name.parse::<krel_version::Version>().is_ok() {
        return Some(name);
    }
    shell.warn(&format!(
        "{location} is not named after a version: the provenance's tag is not checked (give --version vX.Y.Z to check it)"
    ));
    None
}

fn fetch(
    ctx: &Context,
    location: &str,
    dest: &Path,
    jobs: usize,
    shell: &Shell,
) -> Result<(), Failure> {
    let runtime = ctx.runtime()?;
    shell.status(
        "Fetching",
        format!("{location} (as its provenance lists it)"),
    );
    let fetched = runtime.block_on(async {
        let source = krel_verify::fetch::Source::open(location, &ctx.store_env()).await?;
        krel_verify::fetch::download(&source, location, dest, jobs).await
    })?;
    shell.status("Fetched", format!("{fetched} files"));
    Ok(())
}

fn render(report: &Report, images: &Images, verifier: &Verifier, shell: &Shell) {
    let checked = match images {
        Images::Checked(checked) => Some(checked),
        _ => None,
    };
    let problems = report
        .problems
        .iter()
        .chain(checked.iter().flat_map(|i| i.problems.iter()));
    match shell.output() {
        OutputFormat::Json => shell.json(&serde_json::json!({
            "signer": verifier.describe(),
            "report": report,
            "images": checked,
            "images_status": match images {
                Images::Skipped => "skipped",
                Images::Untrusted => "untrusted",
                Images::Checked(_) => "checked",
            },
        })),
        OutputFormat::Text => {
            for problem in problems.clone() {
                shell.data(format!("FAILED {problem}"));
            }
            shell.data(format!(
                "{}: {} files; {} checksummed, {} signed, {} attestations; provenance: {} subjects from {}; SBOM: {} files; {}",
                report.version,
                report.files,
                report.checksums,
                report.signatures,
                report.attestations,
                report.provenance_subjects,
                report.source.as_deref().unwrap_or("(none)"),
                report.sbom_files,
                match images {
                    Images::Skipped => "images: not checked (--skip-images)".to_string(),
                    Images::Untrusted => "images: not checked (the files do not verify, so images.json is not trusted)".to_string(),
                    Images::Checked(i) => format!(
                        "images: {} in their registry, {} signed manifests{}",
                        i.images - i.unreachable.len(),
                        i.manifests,
                        if i.unreachable.is_empty() { String::new() } else { format!(", {} not reachable", i.unreachable.len()) }
                    ),
                },
            ));
        }
    }
    let unreachable = checked.is_some_and(|i| !i.unreachable.is_empty());
    if problems.count() == 0 && !unreachable {
        shell.status(
            "Verified",
            format!("{} signed by {}", report.version, verifier.describe()),
        );
    }
}
