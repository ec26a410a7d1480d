//! Sigstore bundles end to end: the conformance suite's verification cases through `krel sign
//! verify`, and the bundles `krel sign blobs` writes, checked by sigstore-js and openssl.

use std::path::{Path, PathBuf};

use krel_test_support::sigstore::{sigstore_js, JsSigner};

use crate::{krel, openssl_verifies};

const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn sha256_hex(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// The arguments of one conformance case, as the suite's protocol (cli_protocol.md) gives
/// them: key or identity and issuer, trusted root, bundle.
fn case_args(case: &Path) -> Vec<String> {
    let mut args = vec![
        "sign".to_string(),
        "verify".into(),
        "--bundle".into(),
        case.join("bundle.sigstore.json").display().to_string(),
    ];
    let read = |name: &str, default: &str| {
        std::fs::read_to_string(case.join(name)).map_or(default.to_string(), |s| s.trim().into())
    };
    if case.join("key.pub").is_file() {
        args.extend(["--key".into(), case.join("key.pub").display().to_string()]);
    } else {
        args.extend([
            "--certificate-identity".into(),
            read("identity", DEFAULT_IDENTITY),
            "--certificate-oidc-issuer".into(),
            read("issuer", DEFAULT_ISSUER),
        ]);
    }
    if case.join("trusted_root.json").is_file() {
        args.extend([
            "--trusted-root".into(),
            case.join("trusted_root.json").display().to_string(),
        ]);
    }
    args
}

/// Every verification case of the Sigstore conformance suite (testdata/sigstore-conformance,
/// a copy of sigstore/sigstore-conformance's bundle-verify assets), once with the artifact's
/// path and once with its `sha256:` digest: `_fail` cases must be refused, the rest verify.
#[test]
fn passes_the_sigstore_conformance_suite() {
    let krel = krel();
    let root = krel_test_support::repo_root().join("testdata/sigstore-conformance");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("bundle.sigstore.json").is_file())
        .collect();
    cases.sort();
    assert_eq!(cases.len(), 70, "the suite has 70 verification cases");
    let mut wrong = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let artifact = [case.join("artifact"), root.join("a.txt")]
            .into_iter()
            .find(|p| p.is_file())
            .unwrap();
        let digest = format!("sha256:{}", sha256_hex(&artifact));
        for input in [artifact.display().to_string(), digest] {
            let mut args = case_args(case);
            args.push(input.clone());
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let run = krel.run_in(&root, &args);
            let refused = run.code != Some(0);
            if refused != name.ends_with("_fail") {
                wrong.push(format!(
                    "{name} ({input}): exit {:?}\n{}",
                    run.code, run.stderr
                ));
            }
            if refused {
                assert!(
                    run.stderr.contains("error:") && !run.stderr.contains("panicked"),
                    "{name}: a refusal names its reason: {}",
                    run.stderr
                );
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

fn signed_dir(bundle_only: bool) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let krel = krel().env("KREL_SIGNING_PASSWORD", "");
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let out = dir.path().join("out");
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::create_dir_all(out.join("bin")).unwrap();
    std::fs::write(out.join("kubernetes.tar.gz"), b"a tarball").unwrap();
    std::fs::write(out.join("bin/kubectl"), b"a binary").unwrap();
    krel.run_in(&keys, &["sign", "generate-key", "--output-prefix", "k"])
        .assert_exit(0);
    krel.run_in(&out, &["checksum", "."]).assert_exit(0);
    let mut args = vec!["sign", "blobs", ".", "--key", "../keys/k.key"];
    if bundle_only {
        args.push("--bundle-only");
    }
    krel.run_in(&out, &args).assert_exit(0);
    (dir, keys.join("k.pub"), out)
}

#[test]
fn key_bundles_verify_with_krel_sigstore_js_and_openssl() {
    let (_dir, public, out) = signed_dir(false);
    for file in [
        "kubernetes.tar.gz",
        "bin/kubectl",
        "SHA256SUMS",
        "SHA512SUMS",
    ] {
        let path = out.join(file);
        let bundle = out.join(format!("{file}.sigstore.json"));
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
        assert_eq!(
            json["mediaType"],
            "application/vnd.dev.sigstore.bundle.v0.3+json"
        );
        assert!(json["verificationMaterial"]["publicKey"]["hint"].is_string());
        sigstore_js(&bundle, &path, &JsSigner::Key(&public))
            .unwrap_or_else(|err| panic!("sigstore-js refused {file}: {err}"));
        assert!(openssl_verifies(&public, &path), "{file}.sig");
    }
    let public_arg = public.display().to_string();
    krel()
        .run_in(&out, &["sign", "verify", ".", "--key", &public_arg])
        .assert_exit(0)
        .assert_stdout_has("OK     ./bin/kubectl (bundle, sig)")
        .assert_stderr_has("Verified 4 files signed by the given public key");
    // One file by its digest and bundle.
    let digest = format!("sha256:{}", sha256_hex(&out.join("bin/kubectl")));
    krel()
        .run_in(
            &out,
            &[
                "sign",
                "verify",
                &digest,
                "--bundle",
                "bin/kubectl.sigstore.json",
                "--key",
                &public_arg,
            ],
        )
        .assert_exit(0);
}

#[test]
fn attestations_bind_to_their_subjects_for_krel_sigstore_js_and_securesystemslib() {
    let (_dir, public, out) = signed_dir(false);
    let kubectl = out.join("bin/kubectl");
    let statement = serde_json::json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "bin/kubectl", "digest": {"sha256": sha256_hex(&kubectl)}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {"buildDefinition": {"buildType": "x"}},
    });
    std::fs::write(out.join("stmt.json"), statement.to_string()).unwrap();
    let k = krel().env("KREL_SIGNING_PASSWORD", "");
    k.run_in(
        &out,
        &["sign", "attest", "stmt.json", "--key", "../keys/k.key"],
    )
    .assert_exit(0)
    .assert_stdout_has("stmt.json.intoto.sigstore.json");
    let attestation = out.join("stmt.json.intoto.sigstore.json");
    let public_arg = public.display().to_string();
    let bundle_arg = attestation.display().to_string();
    let verify = |artifact: &str| {
        krel().run_in(
            &out,
            &[
                "sign",
                "verify",
                artifact,
                "--bundle",
                &bundle_arg,
                "--key",
                &public_arg,
            ],
        )
    };
    verify("bin/kubectl").assert_exit(0);
    verify("kubernetes.tar.gz")
        .assert_exit(1)
        .assert_stderr_has("not a subject of the attestation");
    sigstore_js(&attestation, &kubectl, &JsSigner::Key(&public)).unwrap();
    assert_eq!(
        krel_test_support::sigstore::securesystemslib_dsse(&attestation, &public, Some(&kubectl))
            .unwrap(),
        "https://slsa.dev/provenance/v1"
    );
    // A statement about nothing is not attested.
    std::fs::write(
        out.join("empty.json"),
        r#"{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"x","predicate":{}}"#,
    )
    .unwrap();
    k.run_in(
        &out,
        &["sign", "attest", "empty.json", "--key", "../keys/k.key"],
    )
    .assert_exit(2)
    .assert_stderr_has("it has no subjects");
    assert!(!out.join("empty.json.intoto.sigstore.json").exists());
}

#[test]
fn tampering_a_wrong_key_or_no_signer_are_refused() {
    let (dir, public, out) = signed_dir(true);
    assert!(!out.join("bin/kubectl.sig").exists(), "--bundle-only");
    let public_arg = public.display().to_string();
    std::fs::write(out.join("bin/kubectl"), b"another binary").unwrap();
    let run = krel().run_in(&out, &["sign", "verify", ".", "--key", &public_arg]);
    run.assert_exit(1)
        .assert_stdout_has("FAILED ./bin/kubectl.sigstore.json: artifact mismatch")
        .assert_stdout_has("OK     ./kubernetes.tar.gz (bundle)");
    assert!(
        sigstore_js(
            &out.join("bin/kubectl.sigstore.json"),
            &out.join("bin/kubectl"),
            &JsSigner::Key(&public)
        )
        .is_err(),
        "sigstore-js agrees"
    );
    std::fs::write(out.join("bin/kubectl"), b"a binary").unwrap();
    krel()
        .env("KREL_SIGNING_PASSWORD", "")
        .run_in(
            dir.path(),
            &["sign", "generate-key", "--output-prefix", "other"],
        )
        .assert_exit(0);
    let other = dir.path().join("other.pub").display().to_string();
    krel()
        .run_in(&out, &["sign", "verify", ".", "--key", &other])
        .assert_exit(1)
        .assert_stdout_has("signature verification failed");
    // A signature proves nothing without saying whose it must be.
    krel()
        .run_in(&out, &["sign", "verify", "."])
        .assert_exit(2)
        .assert_stderr_has("no signer given");
    krel()
        .run_in(
            &out,
            &[
                "sign",
                "verify",
                ".",
                "--certificate-identity",
                "me@example.com",
            ],
        )
        .assert_exit(2)
        .assert_stderr_has("needs --certificate-oidc-issuer");
    // A key-signed bundle checked as keyless names what is wrong.
    krel()
        .run_in(
            &out,
            &[
                "sign",
                "verify",
                "bin/kubectl",
                "--bundle",
                "bin/kubectl.sigstore.json",
                "--certificate-identity",
                "me@example.com",
                "--certificate-oidc-issuer",
                "https://accounts.google.com",
            ],
        )
        .assert_exit(1)
        .assert_stderr_has("signed with a key, not a certificate");
}

/// Keyless end to end on loopback: a GitHub Actions-style token, the Fulcio and Rekor
/// stand-ins; the bundles verify by identity with krel, sigstore-js and sigstore-python under
/// the stand-in's trusted root; a wrong identity or issuer, another instance's root and a
/// corrupted inclusion proof are each refused, naming the check.
#[test]
fn keyless_bundles_verify_by_identity_everywhere_and_bad_ones_are_named() {
    use krel_test_support::sigstore::sigstore_python;
    let standin = krel_sigstore_standin::SigstoreStandIn::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("trusted_root.json"), standin.trusted_root()).unwrap();
    std::fs::write(d.join("signing_config.json"), standin.signing_config()).unwrap();
    std::fs::write(d.join("kubectl"), b"a binary").unwrap();
    let kubectl = d.join("kubectl");
    let statement = serde_json::json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "kubectl", "digest": {"sha256": sha256_hex(&kubectl)}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {},
    });
    std::fs::write(d.join("provenance.json"), statement.to_string()).unwrap();
    let url = standin.token_request_url();
    let signing = krel().env("ACTIONS_ID_TOKEN_REQUEST_URL", &url).env(
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        krel_sigstore_standin::REQUEST_TOKEN,
    );
    let keyless = [
        "--keyless",
        "--signing-config",
        "signing_config.json",
        "--nomock",
    ];
    // Mock by default: a keyless signature is a public record.
    signing
        .run_in(
            d,
            &[
                "sign",
                "blobs",
                "kubectl",
                "--keyless",
                "--signing-config",
                "signing_config.json",
            ],
        )
        .assert_exit(0)
        .assert_stderr_has(
            "would sign 1 file(s) keylessly as https://github.com/krel-sandbox/widget/",
        );
    assert!(
        !d.join("kubectl.sigstore.json").exists(),
        "a dry run signs nothing"
    );
    let mut args = vec!["sign", "blobs", "kubectl"];
    args.extend(keyless);
    signing
        .run_in(d, &args)
        .assert_exit(0)
        .assert_stderr_has("Signed 1 files with keyless (the GitHub Actions OIDC token");
    assert!(
        d.join("kubectl.cert").is_file(),
        "the certificate for old verifiers"
    );
    let mut args = vec!["sign", "attest", "provenance.json"];
    args.extend(keyless);
    signing.run_in(d, &args).assert_exit(0);
    // No token: a clear refusal.
    krel()
        .run_in(d, &["sign", "blobs", "kubectl", "--keyless", "--nomock"])
        .assert_exit(2)
        .assert_stderr_has("id-token: write");

    let (identity, issuer) = (standin.workflow_identity(), standin.issuer());
    let verify = |bundle: &str, extra: &[&str]| {
        let mut args = vec!["sign", "verify", "kubectl", "--bundle", bundle];
        args.extend(extra);
        krel().run_in(d, &args)
    };
    let by_identity = [
        "--certificate-identity",
        identity.as_str(),
        "--certificate-oidc-issuer",
        issuer.as_str(),
        "--trusted-root",
        "trusted_root.json",
    ];
    for bundle in [
        "kubectl.sigstore.json",
        "provenance.json.intoto.sigstore.json",
    ] {
        verify(bundle, &by_identity)
            .assert_exit(0)
            .assert_stderr_has(&format!("signed by {identity} ({issuer})"));
        let path = d.join(bundle);
        sigstore_js(
            &path,
            &kubectl,
            &JsSigner::Identity {
                identity: &identity,
                issuer: &issuer,
                trusted_root: &d.join("trusted_root.json"),
            },
        )
        .unwrap_or_else(|err| panic!("sigstore-js: {bundle}: {err}"));
        sigstore_python(
            &path,
            &kubectl,
            &identity,
            &issuer,
            &standin.trusted_root(),
            &standin.signing_config(),
        )
        .unwrap_or_else(|err| panic!("sigstore-python: {bundle}: {err}"));
    }
    // By regular expression, as a workflow's identity is usually checked.
    verify(
        "kubectl.sigstore.json",
        &[
            "--certificate-identity-regexp",
            "https://github.com/krel-sandbox/widget/.github/workflows/.*",
            "--certificate-oidc-issuer",
            &issuer,
            "--trusted-root",
            "trusted_root.json",
        ],
    )
    .assert_exit(0);

    // Wrong identity, wrong issuer, another instance's root.
    let mut wrong = by_identity;
    wrong[1] = "https://github.com/evil/widget/.github/workflows/release.yml@refs/heads/main";
    verify("kubectl.sigstore.json", &wrong)
        .assert_exit(1)
        .assert_stderr_has("identity mismatch");
    let mut wrong = by_identity;
    wrong[3] = "https://token.actions.githubusercontent.com";
    verify("kubectl.sigstore.json", &wrong)
        .assert_exit(1)
        .assert_stderr_has("issuer mismatch");
    verify("kubectl.sigstore.json", &by_identity[..4])
        .assert_exit(1)
        .assert_stderr_has("kubectl.sigstore.json:")
        .assert_stderr_has("No log key valid");
    // A corrupted inclusion proof.
    let mut bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("kubectl.sigstore.json")).unwrap()).unwrap();
    let proof = &mut bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"];
    proof["rootHash"] = serde_json::json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    std::fs::write(d.join("corrupt.sigstore.json"), bundle.to_string()).unwrap();
    verify("corrupt.sigstore.json", &by_identity)
        .assert_exit(1)
        .assert_stderr_has("inclusion proof");
    // A certificate that expired before the signature was logged.
    standin.skew_certificates(-3600);
    std::fs::write(d.join("late"), b"signed late").unwrap();
    let mut args = vec!["sign", "blobs", "late"];
    args.extend(keyless);
    signing.run_in(d, &args).assert_exit(0);
    let mut args = vec!["sign", "verify", "late", "--bundle", "late.sigstore.json"];
    args.extend(by_identity);
    krel()
        .run_in(d, &args)
        .assert_exit(1)
        .assert_stderr_has("certificate");
}
