//! `krel sign`: cosign-compatible blob signatures.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use krel_sign::{
    generate_key_pair, load_signing_key, sign_files, verify_files, PublicKey, Secret, SignError,
    Signer,
};

use crate::cli::{OutputFormat, SignCommand};
use crate::failure::Failure;
use crate::shell::Shell;

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
pub fn exec(command: &SignCommand, shell: &Shell) -> Result<(), Failure> {
    match command {
        SignCommand::Blobs { paths, key, jobs } => blobs(paths, key, jobs_or_cpus(*jobs), shell),
        SignCommand::Verify { paths, key, jobs } => verify(paths, key, jobs_or_cpus(*jobs), shell),
        SignCommand::GenerateKey { output_prefix } => generate(output_prefix, shell),
    }
}

fn jobs_or_cpus(jobs: Option<u16>) -> usize {
    jobs.map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
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
            )));
        }
    }
    Ok(files)
}

/// KREL_SIGNING_PASSWORD when set (even empty), else a prompt on a terminal.
pub(crate) fn password() -> Result<Secret, SignError> {
    if let Some(value) = std::env::var_os("KREL_SIGNING_PASSWORD") {
        return Ok(Secret::new(value.to_string_lossy()));
    }
    if !std::io::stdin().is_terminal() {
        return Err(SignError::NoPassword);
    }
    rpassword::prompt_password("Password for the signing key: ")
        .map(Secret::new)
        .map_err(|_| SignError::NoPassword)
}

pub(crate) fn sign_failure(err: SignError) -> Failure {
    let hint = match &err {
        SignError::NoPassword => Some("set KREL_SIGNING_PASSWORD (empty for a key without password), or run on a terminal to be asked".into()),
        SignError::WrongPassword => Some("check KREL_SIGNING_PASSWORD; the key file is unchanged".into()),
        SignError::BadKey { .. } => Some("use a cosign key (krel sign generate-key) or `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`".into()),
        SignError::Exists { .. } => Some("choose another --output-prefix, or move the old key away first".into()),
        _ => None,
    };
    let usage = matches!(
        err,
        SignError::NoPassword
            | SignError::WrongPassword
            | SignError::BadKey { .. }
            | SignError::Exists { .. }
    );
    let failure = if usage {
        Failure::usage(err)
    } else {
        Failure::unexpected(err)
    };
    failure.with_hint(hint)
}

pub(crate) fn read_key_file(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|err| {
        Failure::usage(anyhow::Error::new(err).context(format!("reading key {}", path.display())))
    })
}

fn blobs(paths: &[PathBuf], key: &Path, jobs: usize, shell: &Shell) -> Result<(), Failure> {
    let files = expand(paths)?;
    let signer = load_signing_key(&read_key_file(key)?, &password).map_err(sign_failure)?;
    let signatures = sign_files(&signer, &files, jobs).map_err(sign_failure)?;
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
    let public = PublicKey::from_pem(&read_key_file(key)?).map_err(sign_failure)?;
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

fn generate(prefix: &Path, shell: &Shell) -> Result<(), Failure> {
    let password = match std::env::var_os("KREL_SIGNING_PASSWORD") {
        Some(value) => Secret::new(value.to_string_lossy()),
        None if std::io::stdin().is_terminal() => {
            let first = rpassword::prompt_password("Password for the new key: ")
                .map_err(|_| sign_failure(SignError::NoPassword))?;
            let again = rpassword::prompt_password("Again: ")
                .map_err(|_| sign_failure(SignError::NoPassword))?;
            if first != again {
                return Err(Failure::usage(anyhow::anyhow!(
                    "the passwords differ; no key was written"
                )));
            }
            Secret::new(first)
        }
        None => return Err(sign_failure(SignError::NoPassword)),
    };
    let pair = generate_key_pair(&password).map_err(sign_failure)?;
    let (private, public) = pair.write(prefix).map_err(sign_failure)?;
    let fingerprint = PublicKey::from_pem(&pair.public_pem)
        .map_err(sign_failure)?
        .fingerprint();
    shell.status("Generated", format!("ECDSA P-256 key {fingerprint}"));
    shell.data(private.display().to_string());
    shell.data(public.display().to_string());
    shell.note("Keep the .key file and its password secret; publish the .pub file.");
    Ok(())
}
