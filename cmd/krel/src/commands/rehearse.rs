//! `krel rehearse`: a whole release cycle on local stand-ins.

use std::path::PathBuf;

use krel_rehearse::{rehearse, Progress};

use crate::cli::OutputFormat;
use crate::context::Context;
use crate::failure::Failure;
use crate::shell::Shell;

/// `krel rehearse` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where the sandbox is made (a new or empty directory; default: a new temporary one).
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Sign keylessly, as a GitHub Actions workflow would: a Sigstore stand-in on 127.0.0.1
    /// (OIDC token issuer, Fulcio, Rekor) signs every stage; release and the final checks trust
    /// only its workflow identity. DIR/trusted_root.json describes it, for sigstore-js,
    /// sigstore-python or `krel verify --trusted-root`.
    #[arg(long)]
    pub keyless: bool,
}

pub const LONG_ABOUT: &str = "\
Rehearse a complete release cycle, for real, on stand-ins that live on this machine.

krel creates a sandbox project (history with merged pull requests and release branches, a bare
git remote, file:// buckets, a throwaway signing key, krel.yaml) and serves a GitHub API
stand-in on 127.0.0.1. Then it runs itself, each command with --nomock against those stand-ins:
  1. krel stage + krel release of an alpha from main;
  2. the branch cut: release-X.Y with vX.Y.0-rc.0 and vX.(Y+1).0-alpha.0;
  3. a fix pushed to main during code freeze, and krel ff onto the release branch;
  4. krel stage, krel changelog (the notes since the rc) and krel release --notes of the
     official vX.Y.0.
Finally it checks what was published, independently of those commands: every checksum, every
signature and the provenance of each release/<version>/, its images in the sandbox's registry
(tag, platforms, signatures), the version markers, the tags and branch on the remote, and the
GitHub releases with their assets and the official one's notes; and prints a summary.

Each command runs with the caller's KREL_*, AWS_*, GOOGLE_*, CLOUDSDK_*, STORAGE_EMULATOR_HOST,
GITHUB_TOKEN/GH_TOKEN and SOURCE_DATE_EPOCH removed, so a real bucket, remote or token in the
environment cannot leak into the rehearsal; everything comes from the sandbox's krel.yaml.
Nothing goes beyond loopback. The sandbox stays for inspection (its path is printed).

Exit status: 0 every check passed; 1 a check failed (each problem is listed); 2 DIR is not new
or empty, or a krel command failed (the end of its output is shown).";

pub const EXAMPLES: &str = "\
Examples:
  krel rehearse                       # in a new temporary directory
  krel rehearse /tmp/krel-rehearsal   # DIR must be new or empty
  krel --output json rehearse /tmp/r2 # the summary as JSON";

struct ShellProgress<'a>(&'a Shell);

impl Progress for ShellProgress<'_> {
    fn running(&self, command: &str) {
        self.0.status("Running", command);
    }

    fn finished(&self, _command: &str, result: &str) {
        self.0.status("Done", result);
    }
}

pub fn exec(ctx: &Context, args: &Args, shell: &Shell) -> Result<(), Failure> {
    let krel = std::env::current_exe().map_err(|err| {
        Failure::unexpected(anyhow::Error::new(err).context("finding the krel binary"))
    })?;
    let root = match &args.dir {
        Some(dir) => dir.clone(),
        None => tempfile::Builder::new()
            .prefix("krel-rehearsal-")
            .tempdir()
            .map_err(|err| {
                Failure::unexpected(anyhow::Error::new(err).context("making a temporary directory"))
            })?
            .keep(),
    };
    shell.status(
        "Rehearsing",
        format!("a release cycle in {}", root.display()),
    );
    let summary = rehearse(
        &krel,
        &root,
        &ctx.env.vars(),
        &ShellProgress(shell),
        args.keyless,
    )?;
    match shell.output() {
        OutputFormat::Json => shell.json(&summary),
        OutputFormat::Text => {
            let mut text = format!(
                "\nRehearsal complete in {}\n\nCut:\n",
                summary.root.display()
            );
            for (version, commit) in &summary.tags {
                let assets = summary.github_releases.get(version).copied().unwrap_or(0);
                text.push_str(&format!(
                    "  {version:<18} tag at {}  bucket/release/{version}/  GitHub release with {assets} assets\n",
                    &commit[..commit.len().min(12)]
                ));
            }
            if let Some(identity) = &summary.keyless {
                text.push_str(&format!(
                    "\nSigned keylessly as {identity} (Sigstore stand-in); trusted root: {}\n",
                    summary.root.join("trusted_root.json").display()
                ));
            }
            text.push_str("\nMarkers (bucket/release/):\n");
            for (name, version) in &summary.markers {
                text.push_str(&format!("  {name:<18} {version}\n"));
            }
            text.push_str(&format!(
                "\nChecked: {} checksums, {} signatures, {} provenance statements, {} signed image manifests in registry/release, {} markers, {} tags, {} GitHub releases, the official release's notes ({}).\nThe GitHub stand-in on 127.0.0.1 answered {} requests; nothing left this machine.\n\nLook around: cd {} && git --git-dir remote.git log --oneline --decorate --all | head",
                summary.checksums_checked,
                summary.signatures_checked,
                summary.provenance_checked,
                summary.images_checked,
                summary.markers.len(),
                summary.tags.len(),
                summary.github_releases.len(),
                summary
                    .release_notes
                    .iter()
                    .map(|n| format!("#{n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                summary.github_requests,
                summary.root.display()
            ));
            shell.data(text);
        }
    }
    Ok(())
}
