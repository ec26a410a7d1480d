//! `krel checksum` end to end, checked with coreutils.

use std::process::Command;

use crate::krel;

fn release_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, size) in [
        ("kubernetes.tar.gz", 300_000),
        ("bin/linux/amd64/kubectl", 70_000),
        ("bin/linux/arm64/kubectl", 1),
    ] {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let bytes: Vec<u8> = (0..size).map(|i: usize| (i * 7 % 256) as u8).collect();
        std::fs::write(path, bytes).unwrap();
    }
    dir
}

#[test]
fn writes_checksums_that_sha256sum_and_sha512sum_accept() {
    let krel = krel();
    let dir = release_tree();
    let arg = dir.path().display().to_string();
    krel.run_in(dir.path(), &["checksum", &arg])
        .assert_exit(0)
        .assert_stdout_has("SHA256SUMS")
        .assert_stderr_has("Hashed 3 files");
    for (tool, list) in [("sha256sum", "SHA256SUMS"), ("sha512sum", "SHA512SUMS")] {
        let out = Command::new(tool)
            .args(["-c", list])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{tool}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    krel.run_in(dir.path(), &["checksum", "--check", &arg])
        .assert_exit(0)
        .assert_stderr_has("Verified 3 files");
}

#[test]
fn check_fails_closed_on_a_tampered_file() {
    let krel = krel();
    let dir = release_tree();
    let arg = dir.path().display().to_string();
    krel.run_in(dir.path(), &["checksum", &arg]).assert_exit(0);
    std::fs::write(dir.path().join("bin/linux/arm64/kubectl"), "evil").unwrap();
    krel.run_in(dir.path(), &["checksum", "--check", &arg])
        .assert_exit(1)
        .assert_stdout_has("FAILED bin/linux/arm64/kubectl: content does not match SHA256SUMS")
        .assert_stderr_has("verification failed");
    let run = krel.run_in(
        dir.path(),
        &["checksum", "--check", "--output", "json", &arg],
    );
    run.assert_exit(1);
    assert_eq!(run.json()["ok"], false);
}

#[test]
fn json_lists_every_file_with_both_digests() {
    let krel = krel();
    let dir = release_tree();
    let arg = dir.path().display().to_string();
    let run = krel.run_in(
        dir.path(),
        &["checksum", "--jobs", "1", "--output", "json", &arg],
    );
    run.assert_exit(0);
    let json = run.json();
    let files = json["files"].as_array().unwrap();
    assert_eq!(files.len(), 3);
    assert_eq!(files[0]["name"], "bin/linux/amd64/kubectl");
    assert_eq!(files[0]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(files[0]["sha512"].as_str().unwrap().len(), 128);
}

#[test]
fn bad_input_is_a_usage_error() {
    let krel = krel();
    let dir = tempfile::tempdir().unwrap();
    let arg = dir.path().display().to_string();
    krel.run_in(dir.path(), &["checksum", &arg])
        .assert_exit(2)
        .assert_stderr_has("holds no files to checksum");
    krel.run_in(dir.path(), &["checksum", "--jobs", "0", &arg])
        .assert_exit(2);
    std::fs::write(dir.path().join("f"), "x").unwrap();
    krel.run_in(dir.path(), &["checksum", "--check", &arg])
        .assert_exit(2)
        .assert_stderr_has("reading")
        .assert_stderr_has("hint: write them first");
}
