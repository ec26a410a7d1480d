//! krel-sign against openssl and an independent implementation of cosign's key format.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use krel_sign::{
    generate_key_pair, load_signing_key, sign_file, verify_file, PublicKey, Secret, SignError,
    Signer, VerifyError,
};
use krel_test_support::{test_python, test_tool};

fn run(program: impl AsRef<std::ffi::OsStr>, args: &[&str], dir: &Path) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn blob(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn password(p: &'static str) -> impl Fn() -> Result<Secret, SignError> {
    move || Ok(Secret::new(p))
}

/// `openssl dgst -sha256 -verify pub.pem -signature <(base64 -d f.sig) f`
fn openssl_verifies(dir: &Path, public: &str, file: &Path) -> bool {
    let sig = std::fs::read_to_string(krel_sign::signature_path(file)).unwrap();
    let der = dir.join("sig.der");
    std::fs::write(&der, base64_decode(&sig)).unwrap();
    Command::new("openssl")
        .current_dir(dir)
        .args(["dgst", "-sha256", "-verify", public, "-signature"])
        .arg(&der)
        .arg(file)
        .output()
        .unwrap()
        .status
        .success()
}

fn base64_decode(text: &str) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(["base64", "-d", "-A"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    out.stdout
}

#[test]
fn cosign_key_pair_signs_and_openssl_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let pair = generate_key_pair(&Secret::new("s3cret")).unwrap();
    assert!(pair
        .private_pem
        .expose()
        .starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
    assert!(pair.public_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    let (private, public) = pair.write(&dir.path().join("cosign")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&private).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the private key is private");
    }
    let err = pair.write(&dir.path().join("cosign")).unwrap_err();
    assert!(
        matches!(err, SignError::Exists { .. }),
        "never overwrites keys: {err}"
    );

    let signer = load_signing_key(pair.private_pem.expose(), &password("s3cret")).unwrap();
    let file = blob(dir.path(), "kubectl", b"a release binary");
    let sig = sign_file(&signer, &file).unwrap();
    let text = std::fs::read_to_string(&sig).unwrap();
    assert!(!text.ends_with('\n'), "cosign writes no newline");
    assert!(openssl_verifies(
        dir.path(),
        public.to_str().unwrap(),
        &file
    ));

    let public_key = PublicKey::from_file(&public).unwrap();
    verify_file(&public_key, &file).unwrap();
    assert!(signer.describe().contains(&public_key.fingerprint()));
}

#[test]
fn wrong_password_wrong_key_tampering_and_missing_signatures_fail() {
    let dir = tempfile::tempdir().unwrap();
    let pair = generate_key_pair(&Secret::new("right")).unwrap();
    let err = load_signing_key(pair.private_pem.expose(), &password("wrong"))
        .err()
        .unwrap();
    assert!(matches!(err, SignError::WrongPassword), "{err}");

    let signer = load_signing_key(pair.private_pem.expose(), &password("right")).unwrap();
    let public = signer.public_key();
    let file = blob(dir.path(), "kubernetes.tar.gz", b"tarball");
    sign_file(&signer, &file).unwrap();

    let other = generate_key_pair(&Secret::new("x")).unwrap();
    let other = PublicKey::from_pem(&other.public_pem).unwrap();
    assert!(matches!(
        verify_file(&other, &file),
        Err(VerifyError::Mismatch { .. })
    ));

    std::fs::write(&file, b"tarbal!").unwrap();
    assert!(matches!(
        verify_file(&public, &file),
        Err(VerifyError::Mismatch { .. })
    ));

    let lonely = blob(dir.path(), "unsigned", b"x");
    let err = verify_file(&public, &lonely).unwrap_err();
    assert!(matches!(err, VerifyError::Missing { .. }));
    assert!(err.to_string().contains("unsigned.sig is missing"), "{err}");

    std::fs::write(krel_sign::signature_path(&lonely), "bm90IGEgc2lnbmF0dXJl").unwrap();
    assert!(matches!(
        verify_file(&public, &lonely),
        Err(VerifyError::Malformed { .. })
    ));
}

#[test]
fn openssl_keys_and_signatures_interoperate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run(
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "key.pem",
        ],
        d,
    );
    run(
        "openssl",
        &["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"],
        d,
    );
    run("openssl", &["ec", "-in", "key.pem", "-out", "sec1.pem"], d);
    let file = blob(d, "kubeadm", b"kubeadm binary");

    for key in ["key.pem", "sec1.pem"] {
        let text = std::fs::read_to_string(d.join(key)).unwrap();
        let signer = load_signing_key(&text, &|| panic!("a plain key needs no password")).unwrap();
        sign_file(&signer, &file).unwrap();
        assert!(openssl_verifies(d, "pub.pem", &file), "{key}");
    }
    assert!(std::fs::read_to_string(d.join("sec1.pem"))
        .unwrap()
        .contains("BEGIN EC PRIVATE KEY"));

    // openssl signs, krel verifies (a newline after the base64, as a terminal would leave).
    run(
        "openssl",
        &[
            "dgst", "-sha256", "-sign", "key.pem", "-out", "sig.der", "kubeadm",
        ],
        d,
    );
    let b64 = run("openssl", &["base64", "-A", "-in", "sig.der"], d);
    std::fs::write(d.join("kubeadm.sig"), format!("{}\n", b64.trim())).unwrap();
    verify_file(&PublicKey::from_file(&d.join("pub.pem")).unwrap(), &file).unwrap();

    // Other curves and algorithms are refused with a reason.
    run(
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-out",
            "p384.pem",
        ],
        d,
    );
    run(
        "openssl",
        &["genpkey", "-algorithm", "ed25519", "-out", "ed.pem"],
        d,
    );
    for key in ["p384.pem", "ed.pem"] {
        let text = std::fs::read_to_string(d.join(key)).unwrap();
        let err = load_signing_key(&text, &password("")).err().unwrap();
        assert!(
            err.to_string().contains("not an ECDSA P-256 key"),
            "{key}: {err}"
        );
    }
    let err = load_signing_key("hello", &password("")).err().unwrap();
    assert!(err.to_string().contains("not a PEM file"), "{err}");
}

#[test]
fn cosign_format_matches_an_independent_implementation() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let python = test_python();
    let tool = test_tool("cosign_key.py");

    // krel's key, read by the independent implementation, signs; krel verifies.
    let pair = generate_key_pair(&Secret::new("pw")).unwrap();
    pair.write(&d.join("cosign")).unwrap();
    let file = blob(d, "kubelet", b"kubelet binary");
    run(
        &python,
        &[
            tool.to_str().unwrap(),
            "sign",
            "cosign.key",
            "pw",
            "kubelet",
        ],
        d,
    );
    verify_file(&PublicKey::from_pem(&pair.public_pem).unwrap(), &file).unwrap();

    // A key wrapped by the independent implementation (old and new scrypt strengths) loads.
    run(
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "key.pem",
        ],
        d,
    );
    run(
        "openssl",
        &["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"],
        d,
    );
    for n in ["32768", "65536"] {
        run(
            &python,
            &[
                tool.to_str().unwrap(),
                "wrap",
                "key.pem",
                "",
                n,
                "wrapped.key",
            ],
            d,
        );
        let text = std::fs::read_to_string(d.join("wrapped.key")).unwrap();
        let signer = load_signing_key(&text, &password("")).unwrap();
        sign_file(&signer, &file).unwrap();
        assert!(openssl_verifies(d, "pub.pem", &file), "N={n}");
    }
    // Too-expensive scrypt parameters are refused rather than computed.
    run(
        &python,
        &[
            tool.to_str().unwrap(),
            "wrap",
            "key.pem",
            "",
            "262144",
            "huge.key",
        ],
        d,
    );
    let text = std::fs::read_to_string(d.join("huge.key")).unwrap();
    let err = load_signing_key(&text, &password("")).err().unwrap();
    assert!(
        err.to_string().contains("unsupported scrypt parameters"),
        "{err}"
    );
}

#[test]
fn one_unreadable_file_fails_the_batch_with_no_signature_written() {
    let dir = tempfile::tempdir().unwrap();
    let pair = generate_key_pair(&Secret::new("pw")).unwrap();
    let signer = load_signing_key(pair.private_pem.expose(), &password("pw")).unwrap();
    let files = vec![
        blob(dir.path(), "a.tar.gz", b"a"),
        dir.path().join("vanished.tar.gz"),
        blob(dir.path(), "c.tar.gz", b"c"),
    ];
    let err = krel_sign::sign_files(&signer, &files, 2).unwrap_err();
    assert!(matches!(err, SignError::Read { .. }), "{err}");
    for name in ["a.tar.gz.sig", "c.tar.gz.sig"] {
        assert!(!dir.path().join(name).exists(), "{name} was written");
    }
    let written = krel_sign::sign_files(&signer, &[files[0].clone(), files[2].clone()], 2).unwrap();
    assert_eq!(written.len(), 2);
}
