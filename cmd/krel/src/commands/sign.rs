//! `krel sign`: cosign-compatible blob signatures.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use krel_sign::{
    generate_key_pair, sign_files, verify_files, PublicKey, Secret, SignError, Signer,
};

use crate::args::JobsArg;
use crate::cli::OutputFormat;
use crate::context::Context;
use crate::failure::Failure;
use crate::shell::Shell;

/// `krel sign` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Write <file>.sig for each file: base64 DER ECDSA P-256/SHA-256, as `cosign sign-blob --key`.
    #[command(long_about = BLOBS_ABOUT, after_help = EXAMPLES)]
    Blobs {
        /// Files, or directories (their artifacts and SHA256SUMS/SHA512SUMS).
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Private key: a cosign key (password from KREL_SIGNING_PASSWORD or a prompt) or a
        /// PEM PKCS#8/SEC1 EC P-256 key as openssl writes it.
        #[arg(long, value_name = "KEY")]
        key: PathBuf,
        #[command(flatten)]
        jobs: JobsArg,
    },
    /// Check <file>.sig for each file; any missing, malformed or wrong signature fails (exit 1).
    #[command(after_help = EXAMPLES)]
    Verify {
        /// Files, or directories (their artifacts and SHA256SUMS/SHA512SUMS).
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Public key (`PUBLIC KEY` PEM, as cosign.pub).
        #[arg(long, value_name = "PUB")]
        key: PathBuf,
        #[command(flatten)]
        jobs: JobsArg,
    },
    /// Write a new key pair: <prefix>.key (encrypted, cosign format, mode 0600) and <prefix>.pub.
    #[command(name = "generate-key", after_help = EXAMPLES)]
    GenerateKey {
        /// Path prefix of the two files.
        #[arg(long, value_name = "PREFIX", default_value = "cosign")]
        output_prefix: PathBuf,
    },
}

pub const BLOBS_ABOUT: &str = "\
Write <file>.sig beside each file: the base64 of an ECDSA P-256 / SHA-256 DER signature, the
format `cosign sign-blob --key` produces. It verifies with cosign verify-blob, krel sign verify,
or plain openssl:
  openssl dgst -sha256 -verify cosign.pub -signature <(base64 -d f.sig) f

A directory stands for its artifacts (every file but *.sha256, *.sha512, *.sig, *.cert) plus its
SHA256SUMS and SHA512SUMS. Each .sig is written atomically; rerunning replaces them.

The key is a cosign key (ENCRYPTED SIGSTORE/COSIGN PRIVATE KEY; the password comes from
KREL_SIGNING_PASSWORD, which may be empty, or a prompt on a terminal) or an unencrypted PEM
EC P-256 key as openssl writes it (PRIVATE KEY or EC PRIVATE KEY). Keys and passwords are
never printed.";

pub const EXAMPLES: &str = "\
Examples:
  krel sign generate-key --output-prefix release            # release.key, release.pub
  KREL_SIGNING_PASSWORD=... krel sign blobs _output/release --key release.key
  krel sign verify _output/release --key release.pub
  krel sign blobs kubectl kubeadm --key ec-p256.pem          # an openssl key";

/// Runs `krel sign ...`.
pub fn exec(ctx: &Context, command: &Command, shell: &Shell) -> Result<(), Failure> {
    match command {
        Command::Blobs { paths, key, jobs } => blobs(ctx, paths, key, jobs.or_cpus(), shell),
        Command::Verify { paths, key, jobs } => verify(paths, key, jobs.or_cpus(), shell),
        Command::GenerateKey { output_prefix } => generate(ctx, output_prefix, shell),
    }
}

/// Expands directories into their artifacts and SUMS files; files stay as given.
fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Failure> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let artifacts = krel_checksum::artifacts(path).map_err(|err| {
                Failure::usage(err).with_hint(Some("pass files or a directory of artifacts".into()))
            })?;
            files.extend(artifacts.into_iter().map(|a| a.path));
            for sums in [krel_checksum::SHA256SUMS, krel_checksum::SHA512SUMS] {
                let sums = path.join(sums);
                if sums.is_file() {
                    files.push(sums);
                }
            }
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            return Err(Failure::usage(anyhow::anyhow!(
                "{} is not a file or directory",
                path.display()
            ))
            .with_hint(Some(
                "pass files, or a directory of artifacts; nothing was signed".into(),
            )));
        }
    }
    Ok(files)
}

fn read_key_file(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|err| {
        Failure::usage(anyhow::Error::new(err).context(format!("reading key {}", path.display())))
            .with_hint(Some(
                "--key is the public key (`PUBLIC KEY` PEM): the .pub that `krel sign generate-key` wrote, or cosign.pub".into(),
            ))
    })
}

fn blobs(
    ctx: &Context,
    paths: &[PathBuf],
    key: &Path,
    jobs: usize,
    shell: &Shell,
) -> Result<(), Failure> {
    let files = expand(paths)?;
    let signer = ctx.signer(key)?;
    let signatures = sign_files(&signer, &files, jobs)?;
    shell.status(
        "Signed",
        format!("{} files with {}", signatures.len(), signer.describe()),
    );
    match shell.output() {
        OutputFormat::Text => {
            for signature in &signatures {
                shell.data(signature.display().to_string());
            }
        }
        OutputFormat::Json => shell.json(&serde_json::json!({
            "key": signer.describe(),
            "signatures": signatures,
        })),
    }
    Ok(())
}

/// For a directory: its SUMS files must be there, and every file they list must exist (a
/// deleted artifact with its signature must not verify by its absence).
fn directory_completeness(paths: &[PathBuf]) -> Vec<String> {
    let mut problems = Vec::new();
    for dir in paths.iter().filter(|p| p.is_dir()) {
        for list in [krel_checksum::SHA256SUMS, krel_checksum::SHA512SUMS] {
            let sums = dir.join(list);
            let Ok(text) = std::fs::read_to_string(&sums) else {
                problems.push(format!(
                    "{}: missing, so missing files cannot be detected",
                    sums.display()
                ));
                continue;
            };
            for name in text
                .lines()
                .filter_map(|l| l.split_once("  ").map(|(_, n)| n))
            {
                if !dir.join(name).is_file() {
                    problems.push(format!(
                        "{}: listed in {list} but missing",
                        dir.join(name).display()
                    ));
                }
            }
        }
    }
    problems.sort();
    problems.dedup();
    problems
}

fn verify(paths: &[PathBuf], key: &Path, jobs: usize, shell: &Shell) -> Result<(), Failure> {
    let files = expand(paths)?;
    let public = PublicKey::from_pem(&read_key_file(key)?)?;
    let results = verify_files(&public, &files, jobs);
    let mut failures: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().err().map(ToString::to_string))
        .collect();
    let incomplete = directory_completeness(paths);
    for problem in &incomplete {
        shell.data(format!("FAILED {problem}"));
    }
    failures.extend(incomplete);
    match shell.output() {
        OutputFormat::Text => {
            for (file, result) in files.iter().zip(&results) {
                match result {
                    Ok(()) => shell.data(format!("OK     {}", file.display())),
                    Err(err) => shell.data(format!("FAILED {err}")),
                }
            }
        }
        OutputFormat::Json => shell.json(&serde_json::json!({
            "key": public.fingerprint(),
            "verified": files.len() - failures.len(),
            "failures": failures,
        })),
    }
    if !failures.is_empty() {
        return Err(Failure::refused(anyhow::anyhow!(
            "{} of {} signatures did not verify",
            failures.len(),
            files.len()
        ))
        .with_hint(Some(
            "do not publish these files: re-sign them from a trusted build, or check --key".into(),
        )));
    }
    shell.status(
        "Verified",
        format!(
            "{} signatures with key {}",
            files.len(),
            public.fingerprint()
        ),
    );
    Ok(())
}

fn generate(ctx: &Context, prefix: &Path, shell: &Shell) -> Result<(), Failure> {
    let password = match ctx.env.var_os("KREL_SIGNING_PASSWORD") {
        Some(value) => Secret::new(value.to_string_lossy()),
        None if std::io::stdin().is_terminal() => {
            let first = rpassword::prompt_password("Password for the new key: ")
                .map_err(|_| Failure::from(SignError::NoPassword))?;
            let again = rpassword::prompt_password("Again: ")
                .map_err(|_| Failure::from(SignError::NoPassword))?;
            if first != again {
                return Err(Failure::usage(anyhow::anyhow!(
                    "the passwords differ; no key was written"
                )));
            }
            Secret::new(first)
        }
        None => return Err(SignError::NoPassword.into()),
    };
    let pair = generate_key_pair(&password)?;
    let (private, public) = pair.write(prefix)?;
    let fingerprint = PublicKey::from_pem(&pair.public_pem)?.fingerprint();
    shell.status("Generated", format!("ECDSA P-256 key {fingerprint}"));
    shell.data(private.display().to_string());
    shell.data(public.display().to_string());
    shell.note("Keep the .key file and its password secret; publish the .pub file.");
    Ok(())
}
