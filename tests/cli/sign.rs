//! `krel sign` end to end, checked with openssl.

use crate::{krel, openssl_verifies};

fn release_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "kubernetes.tar.gz",
        "bin/linux/amd64/kubectl",
        "bin/linux/arm64/kubectl",
    ] {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, format!("content of {name}")).unwrap();
    }
    dir
}

#[test]
fn generate_sign_a_directory_verify_and_openssl_agrees() {
    let krel = krel().env("KREL_SIGNING_PASSWORD", "release-pw");
    let dir = release_dir();
    let d = dir.path();
    let keys = tempfile::tempdir().unwrap();
    let run = krel.run_in(
        keys.path(),
        &["sign", "generate-key", "--output-prefix", "release"],
    );
    run.assert_exit(0)
        .assert_stdout_has("release.key")
        .assert_stdout_has("release.pub");
    let key_text = std::fs::read_to_string(keys.path().join("release.key")).unwrap();
    assert!(key_text.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"));
    assert!(!run.stdout.contains(&key_text[40..80]) && !run.stderr.contains(&key_text[40..80]));
    let key_arg = keys.path().join("release.key").display().to_string();
    let public = keys.path().join("release.pub").display().to_string();

    krel.run_in(d, &["checksum", "."]).assert_exit(0);
    krel.run_in(d, &["sign", "blobs", ".", "--key", &key_arg])
        .assert_exit(0)
        .assert_stderr_has("Signed 5 files with ECDSA P-256 key");
    for file in [
        "kubernetes.tar.gz",
        "bin/linux/arm64/kubectl",
        "SHA256SUMS",
        "SHA512SUMS",
    ] {
        assert!(
            openssl_verifies(std::path::Path::new(&public), &d.join(file)),
            "{file}"
        );
    }
    assert!(
        !d.join("kubernetes.tar.gz.sha256.sig").exists(),
        "digest files are not signed"
    );
    krel.run_in(d, &["sign", "verify", ".", "--key", &public])
        .assert_exit(0)
        .assert_stderr_has("Verified 5 files signed by the given public key");
    // Checksums still verify: signatures are not artifacts.
    krel.run_in(d, &["checksum", "--check", "."]).assert_exit(0);
}

#[test]
fn verify_fails_closed() {
    let krel = krel().env("KREL_SIGNING_PASSWORD", "");
    let dir = release_dir();
    let d = dir.path();
    krel.run_in(d, &["sign", "generate-key", "--output-prefix", "k"])
        .assert_exit(0);
    krel.run_in(d, &["sign", "generate-key", "--output-prefix", "other"])
        .assert_exit(0);
    // Keys live beside the artifacts here; sign the artifacts by name.
    let files = [
        "kubernetes.tar.gz",
        "bin/linux/amd64/kubectl",
        "bin/linux/arm64/kubectl",
    ];
    let mut args = vec!["sign", "blobs", "--key", "k.key"];
    args.extend(files);
    krel.run_in(d, &args).assert_exit(0);

    let verify = |key: &str| {
        let mut args = vec!["sign", "verify", "--key", key];
        args.extend(files);
        krel.run_in(d, &args)
    };
    verify("k.pub").assert_exit(0);
    verify("other.pub")
        .assert_exit(1)
        .assert_stdout_has("FAILED")
        .assert_stderr_has("3 problem(s): 3 of 3 file(s) did not verify");

    std::fs::write(d.join("bin/linux/amd64/kubectl"), "tampered").unwrap();
    verify("k.pub")
        .assert_exit(1)
        .assert_stdout_has("bin/linux/amd64/kubectl.sigstore.json: artifact mismatch");
    // The .sig alone is checked too, when it is all there is.
    std::fs::remove_file(d.join("bin/linux/amd64/kubectl.sigstore.json")).unwrap();
    verify("k.pub")
        .assert_exit(1)
        .assert_stdout_has("bin/linux/amd64/kubectl: signature does not match");
    for gone in ["kubernetes.tar.gz.sig", "kubernetes.tar.gz.sigstore.json"] {
        std::fs::remove_file(d.join(gone)).unwrap();
    }
    verify("k.pub")
        .assert_exit(1)
        .assert_stdout_has("kubernetes.tar.gz: no signature");
}

#[test]
fn key_problems_are_clear() {
    let dir = release_dir();
    let d = dir.path();
    krel()
        .env("KREL_SIGNING_PASSWORD", "right")
        .run_in(d, &["sign", "generate-key", "--output-prefix", "k"])
        .assert_exit(0);
    krel()
        .env("KREL_SIGNING_PASSWORD", "wrong")
        .run_in(d, &["sign", "blobs", "kubernetes.tar.gz", "--key", "k.key"])
        .assert_exit(2)
        .assert_stderr_has("the password does not decrypt the key");
    // No password and no terminal: a clear error, not a hang.
    krel()
        .run_in(d, &["sign", "blobs", "kubernetes.tar.gz", "--key", "k.key"])
        .assert_exit(2)
        .assert_stderr_has("no password was given")
        .assert_stderr_has("KREL_SIGNING_PASSWORD");
    krel()
        .env("KREL_SIGNING_PASSWORD", "right")
        .run_in(d, &["sign", "generate-key", "--output-prefix", "k"])
        .assert_exit(2)
        .assert_stderr_has("already exists; krel does not overwrite keys");
    krel()
        .run_in(d, &["sign", "blobs", "kubernetes.tar.gz", "--key", "k.pub"])
        .assert_exit(2)
        .assert_stderr_has("a `PUBLIC KEY` PEM is not a private key");
    assert!(
        !d.join("kubernetes.tar.gz.sig").exists(),
        "nothing signed on failure"
    );
}

#[test]
fn a_directory_without_checksum_lists_is_not_signed() {
    let krel = krel().env("KREL_SIGNING_PASSWORD", "");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("out")).unwrap();
    std::fs::write(d.join("out/kubectl.tar.gz"), "kubectl").unwrap();
    krel.run_in(d, &["sign", "generate-key", "--output-prefix", "k"])
        .assert_exit(0);
    // `krel sign verify out` could never pass: nothing to notice a deleted file by.
    krel.run_in(d, &["sign", "blobs", "out", "--key", "k.key"])
        .assert_exit(2)
        .assert_stderr_has("out has no SHA256SUMS or SHA512SUMS")
        .assert_stderr_has("hint: run `krel checksum out` first");
    assert!(!d.join("out/kubectl.tar.gz.sigstore.json").exists());
    // Files signed one by one verify one by one; as a directory, the hint says what is missing.
    krel.run_in(
        d,
        &["sign", "blobs", "out/kubectl.tar.gz", "--key", "k.key"],
    )
    .assert_exit(0);
    krel.run_in(
        d,
        &["sign", "verify", "out/kubectl.tar.gz", "--key", "k.pub"],
    )
    .assert_exit(0);
    krel.run_in(d, &["sign", "verify", "out", "--key", "k.pub"])
        .assert_exit(1)
        .assert_stderr_has(
            "hint: without its SHA256SUMS and SHA512SUMS a deleted file goes unnoticed",
        );
    // With the lists, it signs and verifies.
    krel.run_in(d, &["checksum", "out"]).assert_exit(0);
    krel.run_in(d, &["sign", "blobs", "out", "--key", "k.key"])
        .assert_exit(0);
    krel.run_in(d, &["sign", "verify", "out", "--key", "k.pub"])
        .assert_exit(0);
}
