//! Independent verifiers of Sigstore bundles: sigstore-js (`tests/tools/sigstore-js/verify.js`,
//! installed by scripts/install-test-deps) and securesystemslib (`tests/tools/verify_dsse.py`).

use std::path::Path;
use std::process::Command;

use crate::{repo_root, test_python, test_tool};

/// Who sigstore-js must find as the signer.
pub enum JsSigner<'a> {
    /// A `PUBLIC KEY` PEM file; verified offline (no log entry, timestamp or SCT required).
    Key(&'a Path),
    /// A certificate identity and OIDC issuer, under a trusted root.
    Identity {
        /// The certificate's SAN.
        identity: &'a str,
        /// The OIDC issuer.
        issuer: &'a str,
        /// The trusted_root.json.
        trusted_root: &'a Path,
    },
}

/// Runs sigstore-js on `bundle` for `artifact`: Ok, or its error message.
pub fn sigstore_js(bundle: &Path, artifact: &Path, signer: &JsSigner<'_>) -> Result<(), String> {
    let modules = repo_root().join("target/test-tools/sigstore-js/node_modules");
    assert!(
        modules.is_dir(),
        "{} is missing: run scripts/install-test-deps (scripts/test does)",
        modules.display()
    );
    let mut command = Command::new("node");
    command
        .env("NODE_PATH", &modules)
        .arg(test_tool("sigstore-js/verify.js"))
        .arg("--bundle")
        .arg(bundle)
        .arg("--artifact")
        .arg(artifact);
    match signer {
        JsSigner::Key(key) => {
            command.arg("--key").arg(key);
        }
        JsSigner::Identity {
            identity,
            issuer,
            trusted_root,
        } => {
            command
                .args(["--identity", identity, "--issuer", issuer])
                .arg("--trusted-root")
                .arg(trusted_root);
        }
    }
    outcome(command, "sigstore-js")
}

/// Runs securesystemslib on the DSSE envelope of `bundle` with the PEM key `public`, and
/// checks `artifact` is a subject: Ok(the predicate type), or its error message.
pub fn securesystemslib_dsse(
    bundle: &Path,
    public: &Path,
    artifact: Option<&Path>,
) -> Result<String, String> {
    let mut command = Command::new(test_python());
    command
        .arg(test_tool("verify_dsse.py"))
        .arg(bundle)
        .arg(public);
    if let Some(artifact) = artifact {
        command.arg(artifact);
    }
    let out = command.output().expect("running verify_dsse.py");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

fn outcome(mut command: Command, what: &str) -> Result<(), String> {
    let out = command
        .output()
        .unwrap_or_else(|err| panic!("running {what}: {err}"));
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Runs sigstore-python (`sigstore verify identity`) on `bundle` for `artifact`, with a client
/// trust config made of `trusted_root` and `signing_config` (JSON texts): Ok, or its output.
pub fn sigstore_python(
    bundle: &Path,
    artifact: &Path,
    identity: &str,
    issuer: &str,
    trusted_root: &str,
    signing_config: &str,
) -> Result<(), String> {
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let config = scratch.path().join("trust_config.json");
    let parse = |text: &str| serde_json::from_str::<serde_json::Value>(text).expect("JSON");
    let trust = serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": parse(trusted_root),
        "signingConfig": parse(signing_config),
    });
    std::fs::write(&config, trust.to_string()).expect("writing the trust config");
    let sigstore = test_python().with_file_name("sigstore");
    let mut command = Command::new(sigstore);
    command
        .arg("--trust-config")
        .arg(&config)
        .args(["verify", "identity", "--cert-identity", identity])
        .args(["--cert-oidc-issuer", issuer, "--bundle"])
        .arg(bundle)
        .arg(artifact);
    outcome(command, "sigstore-python")
}
