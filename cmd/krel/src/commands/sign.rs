//! `krel sign`: cosign-compatible blob signatures.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use krel_fs::parallel_map;
use krel_sign::{generate_key_pair, verify_files, PublicKey, Secret};
use krel_sigstore::{
    bundle_path, sign_files, BundleSigner, Expected, KeyBundleSigner, Outputs, Subject, Trust,
};

use crate::args::{JobsArg, SignerArgs};
use crate::cli::OutputFormat;
use crate::context::Context;
use crate::failure::Failure;
use crate::shell::Shell;

/// How to sign: with a key, or keylessly.
#[derive(Debug, clap::Args)]
pub struct HowArgs {
    /// Private key: a cosign key (password from KREL_SIGNING_PASSWORD or a prompt) or a
    /// PEM PKCS#8/SEC1 EC P-256 key as openssl writes it.
    #[arg(
        long,
        value_name = "KEY",
        required_unless_present = "keyless",
        conflicts_with = "keyless"
    )]
    key: Option<PathBuf>,
    /// Sign keylessly: an OIDC identity token (SIGSTORE_ID_TOKEN, or GitHub Actions' with
    /// `permissions: id-token: write`), exchanged for a Fulcio certificate; each signature is
    /// logged in Rekor and its bundle holds all three. Public, so it needs --nomock.
    #[arg(long)]
    keyless: bool,
    /// Keyless: the Sigstore signing config naming Fulcio and Rekor (default: public-good).
    #[arg(long, value_name = "FILE", requires = "keyless")]
    signing_config: Option<PathBuf>,
}

/// `krel sign` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Write <file>.sigstore.json (a Sigstore bundle) and <file>.sig for each file, as
    /// `cosign sign-blob --key` does.
    #[command(long_about = BLOBS_ABOUT, after_help = EXAMPLES)]
    Blobs {
        /// Files, or directories (their artifacts and SHA256SUMS/SHA512SUMS).
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        how: HowArgs,
        /// Write only <file>.sigstore.json, no <file>.sig.
        #[arg(long)]
        bundle_only: bool,
        #[command(flatten)]
        jobs: JobsArg,
    },
    /// Sign an in-toto statement (provenance, an SBOM statement) as a DSSE attestation:
    /// <file>.intoto.sigstore.json, as `cosign attest-blob` makes.
    #[command(after_help = EXAMPLES)]
    Attest {
        /// The in-toto v1 statement (JSON with _type, subject, predicateType, predicate).
        #[arg(value_name = "STATEMENT")]
        statement: PathBuf,
        #[command(flatten)]
        how: HowArgs,
    },
    /// Verify each file's <file>.sigstore.json bundle and <file>.sig against a key or a keyless
    /// signer's identity; or one FILE_OR_DIGEST against --bundle.
    #[command(long_about = VERIFY_ABOUT, after_help = EXAMPLES)]
    Verify {
        /// Files, directories (their artifacts and SHA256SUMS/SHA512SUMS), or with --bundle one
        /// file or `sha256:<hex>` digest.
        #[arg(required = true, value_name = "FILE_OR_DIGEST")]
        paths: Vec<String>,
        /// The bundle to verify (default: <file>.sigstore.json beside each file).
        #[arg(long, value_name = "BUNDLE")]
        bundle: Option<PathBuf>,
        #[command(flatten)]
        signer: SignerArgs,
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
Write beside each file a Sigstore bundle, <file>.sigstore.json (media type v0.3, the key named
by a hint, no transparency-log entry: what `cosign sign-blob --key --tlog-upload=false` writes),
and <file>.sig: the base64 of the same ECDSA P-256 / SHA-256 DER signature, for verifiers that
predate bundles (--bundle-only leaves it out). Both verify with krel sign verify, sigstore-js
and (the formats cosign verify-blob reads) cosign; the .sig with plain openssl too:
  openssl dgst -sha256 -verify cosign.pub -signature <(base64 -d f.sig) f

A directory stands for its artifacts (every file but *.sha256, *.sha512, *.sig, *.cert,
*.sigstore.json) plus its
SHA256SUMS and SHA512SUMS. Each .sig is written atomically; rerunning replaces them.

With --keyless there is no key: an OIDC identity token (SIGSTORE_ID_TOKEN, or the GitHub
Actions job's own with `permissions: id-token: write`) buys a short-lived Fulcio certificate for
each signature, which is logged publicly in Rekor (so it needs --nomock); the bundle holds the
certificate and the log entry, and <file>.cert joins the .sig.

The key is a cosign key (ENCRYPTED SIGSTORE/COSIGN PRIVATE KEY; the password comes from
KREL_SIGNING_PASSWORD, which may be empty, or a prompt on a terminal) or an unencrypted PEM
EC P-256 key as openssl writes it (PRIVATE KEY or EC PRIVATE KEY). Keys and passwords are
never printed.";

pub const VERIFY_ABOUT: &str = "\
Verify signatures against the signer you expect: a public key (--key), or for keyless signatures
the certificate's identity and OIDC issuer (--certificate-identity/-regexp and
--certificate-oidc-issuer/-regexp), checked under a trusted root (Sigstore's public-good root
unless --trusted-root names another).

Without --bundle, each file (a directory stands for its artifacts and SUMS files) must have
<file>.sigstore.json or <file>.sig (a .sig needs --key); every one present is verified.
With --bundle, the one FILE_OR_DIGEST is checked against that bundle: a file, or its digest as
sha256:<hex>. For an attestation bundle (a DSSE envelope around an in-toto statement) the file
must be one of the statement's subjects.

A bundle's transparency-log entries, certificate chain, signed certificate timestamps and
timestamps are all verified; a key-signed bundle without a log entry (what krel writes with a
key) verifies by the key alone. Any failure names the check and exits 1.";

pub const EXAMPLES: &str = "\
Examples:
  krel sign generate-key --output-prefix release            # release.key, release.pub
  KREL_SIGNING_PASSWORD=... krel sign blobs _output/release --key release.key
  krel sign verify _output/release --key release.pub
  krel sign verify kubectl --bundle kubectl.sigstore.json \\
      --certificate-identity krel-staging@k8s-releng-prod.iam.gserviceaccount.com \\
      --certificate-oidc-issuer https://accounts.google.com
  krel sign verify sha256:9f86d081884c7d65... --bundle provenance.json.intoto.sigstore.json --key release.pub
  krel sign blobs kubectl kubeadm --key ec-p256.pem          # an openssl key
  krel sign attest provenance.json --key release.key         # provenance.json.intoto.sigstore.json";

/// Runs `krel sign ...`.
pub fn exec(ctx: &Context, command: &Command, shell: &Shell) -> Result<(), Failure> {
    match command {
        Command::Blobs {
            paths,
            how,
            bundle_only,
            jobs,
        } => blobs(ctx, paths, how, *bundle_only, jobs.or_cpus(), shell),
        Command::Attest { statement, how } => attest(ctx, statement, how, shell),
        Command::Verify {
            paths,
            bundle,
            signer,
            jobs,
        } => verify(paths, bundle.as_deref(), signer, jobs.or_cpus(), shell),
        Command::GenerateKey { output_prefix } => generate(ctx, output_prefix, shell),
    }
}

/// Expands directories into their artifacts and SUMS files; files stay as given.
/// The files `paths` name (a directory: its artifacts and checksum lists); `then` ends the hint
/// of a path that is neither (`; nothing was signed`).
fn expand(paths: &[PathBuf], then: &str) -> Result<Vec<PathBuf>, Failure> {
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
            .with_hint(Some(format!(
                "pass files, or a directory of artifacts{then}"
            ))));
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
    how: &HowArgs,
    bundle_only: bool,
    jobs: usize,
    shell: &Shell,
) -> Result<(), Failure> {
    let files = expand(paths, "; nothing was signed")?;
    require_listings(paths)?;
    let Some(bundles) = bundle_signer(ctx, how, &format!("{} file(s)", files.len()), shell)? else {
        return Ok(());
    };
    let outputs = Outputs {
        bundle: true,
        detached: !bundle_only,
    };
    let signatures = sign_files(bundles.as_ref(), &files, jobs, outputs)?;
    shell.status(
        "Signed",
        format!("{} files with {}", files.len(), bundles.describe()),
    );
    match shell.output() {
        OutputFormat::Text => {
            for signature in &signatures {
                shell.data(signature.display().to_string());
            }
        }
        OutputFormat::Json => shell.json(&serde_json::json!({
            "key": bundles.describe(),
            "signatures": signatures,
        })),
    }
    Ok(())
}

/// The signer `how` asks for.
/// The signer `how` asks for; `None` in mock mode with `--keyless`, after saying what would be
/// signed: every keyless signature is written to a public transparency log, a remote change
/// that only --nomock makes.
fn bundle_signer(
    ctx: &Context,
    how: &HowArgs,
    what: &str,
    shell: &Shell,
) -> Result<Option<Box<dyn BundleSigner>>, Failure> {
    if let Some(key) = &how.key {
        return Ok(Some(Box::new(KeyBundleSigner::new(ctx.signer(key)?)?)));
    }
    let signer = ctx.keyless_signer(how.signing_config.as_deref())?;
    if ctx.mode == krel_plan::Mode::Mock {
        let identity = signer.identity()?;
        shell.status(
            "Mock",
            format!(
                "would sign {what} keylessly as {identity} ({}); each signature is logged publicly in Rekor, so run with --nomock to sign",
                signer.describe()
            ),
        );
        return Ok(None);
    }
    Ok(Some(Box::new(signer)))
}

fn attest(ctx: &Context, statement: &Path, how: &HowArgs, shell: &Shell) -> Result<(), Failure> {
    let bytes = std::fs::read(statement).map_err(|err| {
        Failure::usage(anyhow::Error::new(err).context(format!("reading {}", statement.display())))
    })?;
    let Some(bundles) = bundle_signer(ctx, how, &statement.display().to_string(), shell)? else {
        return Ok(());
    };
    let written = krel_sigstore::write_attestation(bundles.as_ref(), statement, &bytes)?;
    shell.status(
        "Attested",
        format!("{} with {}", statement.display(), bundles.describe()),
    );
    shell.data(written.display().to_string());
    Ok(())
}

/// The checksum lists `dir` lacks.
fn missing_listings(dir: &Path) -> Vec<&'static str> {
    [krel_checksum::SHA256SUMS, krel_checksum::SHA512SUMS]
        .into_iter()
        .filter(|list| !dir.join(list).is_file())
        .collect()
}

/// A directory is signed with its checksum lists, which `krel sign verify DIR` checks it
/// against: without them a deleted file could not be noticed, so the signing is refused.
fn require_listings(paths: &[PathBuf]) -> Result<(), Failure> {
    for dir in paths.iter().filter(|p| p.is_dir()) {
        let missing = missing_listings(dir);
        if !missing.is_empty() {
            return Err(Failure::usage(anyhow::anyhow!(
                "{} has no {}: `krel sign verify` checks a directory against its checksum lists, and could not notice a deleted file; nothing was signed",
                dir.display(),
                missing.join(" or ")
            ))
            .with_hint(Some(format!(
                "run `krel checksum {}` first, then sign it (or sign the files themselves)",
                dir.display()
            ))));
        }
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

fn verify(
    args: &[String],
    bundle: Option<&Path>,
    signer: &SignerArgs,
    jobs: usize,
    shell: &Shell,
) -> Result<(), Failure> {
    let (expected, trust) = signer.resolve()?;
    if let Some(bundle) = bundle {
        return verify_bundle(args, bundle, &expected, &trust, shell);
    }
    let paths: Vec<PathBuf> = args.iter().map(PathBuf::from).collect();
    let files = expand(&paths, "")?;
    let detached_key = match (&signer.key, &expected) {
        (Some(path), _) => PublicKey::from_pem(&read_key_file(path)?).ok(),
        _ => None,
    };
    let results = parallel_map(&files, jobs, |file| {
        verify_file_signatures(file, &expected, detached_key.as_ref(), &trust)
    });
    let mut failures: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().err().cloned())
        .collect();
    let incomplete = directory_completeness(&paths);
    failures.extend(incomplete.iter().cloned());
    render_verification(&files, &results, &incomplete, &expected, shell);
    if !failures.is_empty() {
        let bad_files = results.iter().filter(|r| r.is_err()).count();
        return Err(Failure::refused(anyhow::anyhow!(
            "{} problem(s): {bad_files} of {} file(s) did not verify{}",
            failures.len(),
            files.len(),
            if incomplete.is_empty() {
                String::new()
            } else {
                format!(", {} in the directory's listings", incomplete.len())
            }
        ))
        .with_hint(Some(
            if bad_files == 0 && paths.iter().any(|p| p.is_dir() && !missing_listings(p).is_empty()) {
                "without its SHA256SUMS and SHA512SUMS a deleted file goes unnoticed: if you signed this directory, make them with `krel checksum DIR` and sign it again; if you downloaded it, do not trust it".into()
            } else {
                "do not publish or install these files: re-sign them from a trusted build, or check the expected signer".into()
            },
        )));
    }
    shell.status(
        "Verified",
        format!("{} files signed by {}", files.len(), expected.describe()),
    );
    Ok(())
}

/// Every signature of one file: its bundle, and its .sig when verifying with a key. Returns
/// what was checked.
fn verify_file_signatures(
    file: &Path,
    expected: &Expected,
    detached_key: Option<&PublicKey>,
    trust: &Trust,
) -> Result<Vec<&'static str>, String> {
    let mut checked = Vec::new();
    let bundle = bundle_path(file);
    if bundle.is_file() {
        let json = std::fs::read_to_string(&bundle)
            .map_err(|err| format!("{}: {err}", bundle.display()))?;
        krel_sigstore::verify(
            Subject::File(file),
            &json,
            &bundle.display().to_string(),
            expected,
            trust,
        )
        .map_err(|err| err.to_string())?;
        checked.push("bundle");
    }
    let detached = krel_sign::signature_path(file);
    if detached.is_file() {
        if let Some(key) = detached_key {
            verify_files(key, &[file.to_path_buf()], 1)
                .pop()
                .unwrap_or(Ok(()))
                .map_err(|err| err.to_string())?;
            checked.push("sig");
        }
    }
    if checked.is_empty() {
        return Err(format!(
            "{}: no signature: neither {} nor (with --key) {}",
            file.display(),
            bundle.display(),
            detached.display()
        ));
    }
    Ok(checked)
}

fn render_verification(
    files: &[PathBuf],
    results: &[Result<Vec<&'static str>, String>],
    incomplete: &[String],
    expected: &Expected,
    shell: &Shell,
) {
    match shell.output() {
        OutputFormat::Text => {
            for problem in incomplete {
                shell.data(format!("FAILED {problem}"));
            }
            for (file, result) in files.iter().zip(results) {
                match result {
                    Ok(checked) => shell.data(format!(
                        "OK     {} ({})",
                        file.display(),
                        checked.join(", ")
                    )),
                    Err(err) => shell.data(format!("FAILED {err}")),
                }
            }
        }
        OutputFormat::Json => {
            let failures: Vec<&String> = incomplete
                .iter()
                .chain(results.iter().filter_map(|r| r.as_ref().err()))
                .collect();
            shell.json(&serde_json::json!({
                "signer": expected.describe(),
                "verified": results.iter().filter(|r| r.is_ok()).count(),
                "failures": failures,
            }))
        }
    }
}

/// `krel sign verify FILE_OR_DIGEST --bundle B`: one artifact (a path, or `sha256:<hex>`
/// when that is not a file) against one bundle.
fn verify_bundle(
    args: &[String],
    bundle: &Path,
    expected: &Expected,
    trust: &Trust,
    shell: &Shell,
) -> Result<(), Failure> {
    let [target] = args else {
        return Err(Failure::usage(anyhow::anyhow!(
            "--bundle verifies one file or digest, not {}",
            args.len()
        )));
    };
    let digest = krel_sigstore::parse_sha256(target);
    let subject = match &digest {
        Some(digest) if !Path::new(target).exists() => Subject::Digest(*digest),
        _ => Subject::File(Path::new(target)),
    };
    if let Subject::File(path) = subject {
        if !path.is_file() {
            return Err(
                Failure::usage(anyhow::anyhow!("{target} is not a file")).with_hint(Some(
                    "pass the artifact, or its digest as sha256:<64 hex digits>".into(),
                )),
            );
        }
    }
    let json = std::fs::read_to_string(bundle).map_err(|err| {
        Failure::usage(anyhow::Error::new(err).context(format!("reading {}", bundle.display())))
    })?;
    let verified = krel_sigstore::verify(
        subject,
        &json,
        &bundle.display().to_string(),
        expected,
        trust,
    )?;
    match shell.output() {
        OutputFormat::Text => shell.data(format!("OK     {target}")),
        OutputFormat::Json => shell.json(&serde_json::json!({
            "artifact": target,
            "bundle": bundle,
            "identity": verified.identity,
            "issuer": verified.issuer,
            "transparency_log": verified.transparency_log,
            "attestation": verified.statement.is_some(),
        })),
    }
    let signer = match (&verified.identity, &verified.issuer) {
        (Some(identity), Some(issuer)) => format!("{identity} ({issuer})"),
        _ => expected.describe(),
    };
    shell.status("Verified", format!("{target} signed by {signer}"));
    Ok(())
}

fn generate(ctx: &Context, prefix: &Path, shell: &Shell) -> Result<(), Failure> {
    let no_password = || {
        Failure::usage(anyhow::anyhow!(
            "no password for the new key: set KREL_SIGNING_PASSWORD (empty for a key without one), or run on a terminal to be asked; no key was written"
        ))
    };
    let password = match ctx.env.var_os("KREL_SIGNING_PASSWORD") {
        Some(value) => Secret::new(value.to_string_lossy()),
        None if std::io::stdin().is_terminal() => {
            let first = rpassword::prompt_password("Password for the new key: ")
                .map_err(|_| no_password())?;
            let again = rpassword::prompt_password("Again: ").map_err(|_| no_password())?;
            if first != again {
                return Err(Failure::usage(anyhow::anyhow!(
                    "the passwords differ; no key was written"
                )));
            }
            Secret::new(first)
        }
        None => return Err(no_password()),
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
