//! `krel checksum`: write or check SHA256SUMS, SHA512SUMS and per-file digests.

use std::time::Instant;

use std::path::PathBuf;

use krel_checksum::{verify_checksums, write_checksums};

use crate::args::JobsArg;
use crate::cli::OutputFormat;
use crate::failure::Failure;
use crate::progress::BytesBar;
use crate::shell::Shell;

pub const LONG_ABOUT: &str = "\
Write, at the top of DIR, SHA256SUMS and SHA512SUMS (lines `<hex>  <path>`, sorted by path, so
`sha256sum -c SHA256SUMS` passes in DIR), then `<file>.sha256` and `<file>.sha512` beside every
file, the SUMS files included, holding the bare hex digest (as upstream krel stages releases).

Every file is read once for both digests; files are hashed in parallel; memory stays bounded.
Nothing is written until every file is hashed, and each file is written atomically. Derived
files (SUMS, *.sha256, *.sha512, *.sig, *.cert) are not artifacts, so rerunning is idempotent.

A `<file>.sha256`/`.sha512` whose file is gone is removed (and named by --check).

With --check, hash everything again and compare with the SUMS and digest files: any tampered,
missing or unlisted file is reported and the exit status is 1.";

pub const EXAMPLES: &str = "\
Examples:
  krel checksum _output/release-stage/v1.30.0
  krel checksum --check _output/release-stage/v1.30.0
  krel checksum --jobs 8 --output json _output/release-stage/v1.30.0";

/// `krel checksum` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The release directory.
    pub dir: PathBuf,

    /// Verify the directory against its SUMS and digest files instead of writing them.
    #[arg(long)]
    pub check: bool,

    #[command(flatten)]
    pub jobs: JobsArg,
}

/// Runs `krel checksum`.
pub fn exec(args: &Args, shell: &Shell) -> Result<(), Failure> {
    let jobs = args.jobs.or_cpus();
    let started = Instant::now();
    let progress = BytesBar::new(shell, "Hashing");
    if args.check {
        return check(args, jobs, shell, &progress, started);
    }
    let summary = write_checksums(&args.dir, jobs, &progress)?;
    shell.status(
        "Hashed",
        format!(
            "{} files ({}) in {:.2?}",
            summary.files.len(),
            indicatif::HumanBytes(summary.bytes),
            started.elapsed()
        ),
    );
    match shell.output() {
        OutputFormat::Text => {
            for path in summary.written.iter().take(2) {
                shell.data(path.display().to_string());
            }
            shell.note(format!(
                "{} digest files written beside the artifacts.",
                summary.written.len().saturating_sub(2)
            ));
        }
        OutputFormat::Json => {
            let files: Vec<_> = summary
                .files
                .iter()
                .map(|(artifact, digests)| {
                    serde_json::json!({
                        "name": artifact.name,
                        "size": artifact.size,
                        "sha256": digests.sha256,
                        "sha512": digests.sha512,
                    })
                })
                .collect();
            shell.json(&serde_json::json!({
                "dir": args.dir,
                "bytes": summary.bytes,
                "files": files,
                "written": summary.written,
            }));
        }
    }
    Ok(())
}

fn check(
    args: &Args,
    jobs: usize,
    shell: &Shell,
    progress: &BytesBar,
    started: Instant,
) -> Result<(), Failure> {
    let verification = verify_checksums(&args.dir, jobs, progress)?;
    match shell.output() {
        OutputFormat::Text => {
            for mismatch in &verification.mismatches {
                shell.data(format!("FAILED {mismatch}"));
            }
        }
        OutputFormat::Json => shell.json(&serde_json::json!({
            "dir": args.dir,
            "checked": verification.checked,
            "ok": verification.is_ok(),
            "mismatches": verification.mismatches.iter().map(ToString::to_string).collect::<Vec<_>>(),
        })),
    }
    if !verification.is_ok() {
        return Err(Failure::refused(anyhow::anyhow!(
            "verification failed: {} problem(s) in {}",
            verification.mismatches.len(),
            args.dir.display()
        ))
        .with_hint(Some(
            "the files differ from their recorded digests: do not publish them; re-stage from a clean build".into(),
        )));
    }
    shell.status(
        "Verified",
        format!(
            "{} files in {:.2?}",
            verification.checked,
            started.elapsed()
        ),
    );
    Ok(())
}
