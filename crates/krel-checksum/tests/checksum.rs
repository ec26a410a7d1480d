//! write_checksums and verify_checksums on real trees, checked with coreutils.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use krel_checksum::{verify_checksums, write_checksums, ChecksumError, NoProgress, Problem};

fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (name, content) in [
        ("kubernetes.tar.gz", &b"tarball"[..]),
        ("kubernetes-src.tar.gz", b"source"),
        ("bin/linux/amd64/kubectl", b"kubectl amd64"),
        ("bin/linux/arm64/kubectl", b"kubectl arm64"),
        ("a.txt", b""),
        ("a/b.txt", b"nested"),
    ] {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    dir
}

fn coreutils_check(dir: &Path, tool: &str, list: &str) {
    let out = Command::new(tool)
        .arg("-c")
        .arg(list)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{tool} -c {list}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn writes_what_coreutils_accepts() {
    let dir = tree();
    let summary = write_checksums(dir.path(), 3, &NoProgress).unwrap();
    assert_eq!(summary.files.len(), 6);
    coreutils_check(dir.path(), "sha256sum", "SHA256SUMS");
    coreutils_check(dir.path(), "sha512sum", "SHA512SUMS");

    let sums = std::fs::read_to_string(dir.path().join("SHA256SUMS")).unwrap();
    let names: Vec<&str> = sums.lines().map(|l| &l[66..]).collect();
    assert_eq!(
        names,
        [
            "a.txt",
            "a/b.txt",
            "bin/linux/amd64/kubectl",
            "bin/linux/arm64/kubectl",
            "kubernetes-src.tar.gz",
            "kubernetes.tar.gz"
        ],
        "sorted by path bytes"
    );
    // Per-file digests hold the bare hex, for artifacts and for the SUMS files.
    for name in [
        "kubernetes.tar.gz",
        "bin/linux/amd64/kubectl",
        "SHA256SUMS",
        "SHA512SUMS",
    ] {
        for (ext, tool) in [("sha256", "sha256sum"), ("sha512", "sha512sum")] {
            let digest = std::fs::read_to_string(dir.path().join(format!("{name}.{ext}"))).unwrap();
            let out = Command::new(tool)
                .arg(name)
                .current_dir(dir.path())
                .output()
                .unwrap();
            let expected = String::from_utf8_lossy(&out.stdout);
            assert_eq!(digest, expected.split(' ').next().unwrap(), "{name}.{ext}");
        }
    }
    assert_eq!(summary.written.len(), 2 + 2 * 8);
}

#[test]
fn rerunning_is_idempotent_and_ignores_signatures() {
    let dir = tree();
    write_checksums(dir.path(), 2, &NoProgress).unwrap();
    let first = std::fs::read(dir.path().join("SHA512SUMS")).unwrap();
    std::fs::write(dir.path().join("kubernetes.tar.gz.sig"), "c2ln").unwrap();
    let summary = write_checksums(dir.path(), 2, &NoProgress).unwrap();
    assert_eq!(summary.files.len(), 6);
    assert_eq!(std::fs::read(dir.path().join("SHA512SUMS")).unwrap(), first);
}

#[test]
fn verify_finds_tampering_missing_and_unlisted_files() {
    let dir = tree();
    write_checksums(dir.path(), 2, &NoProgress).unwrap();
    let ok = verify_checksums(dir.path(), 2, &NoProgress).unwrap();
    assert!(ok.is_ok(), "{:?}", ok.mismatches);
    assert_eq!(ok.checked, 6);

    std::fs::write(dir.path().join("bin/linux/amd64/kubectl"), "tampered").unwrap();
    std::fs::remove_file(dir.path().join("a.txt")).unwrap();
    std::fs::write(dir.path().join("extra.bin"), "new").unwrap();
    std::fs::remove_file(dir.path().join("kubernetes.tar.gz.sha512")).unwrap();
    let bad = verify_checksums(dir.path(), 2, &NoProgress).unwrap();
    let report: Vec<String> = bad.mismatches.iter().map(|m| m.to_string()).collect();
    assert!(
        report.contains(&"bin/linux/amd64/kubectl: content does not match SHA256SUMS".into()),
        "{report:?}"
    );
    assert!(
        report.contains(&"bin/linux/amd64/kubectl: content does not match SHA512SUMS".into()),
        "{report:?}"
    );
    assert!(
        report.contains(&"a.txt: listed but missing".into()),
        "{report:?}"
    );
    assert!(
        report.contains(&"extra.bin: present but not listed in SHA256SUMS".into()),
        "{report:?}"
    );
    assert!(
        report.contains(&"kubernetes.tar.gz.sha512: missing".into()),
        "{report:?}"
    );
    assert!(bad.mismatches.iter().any(|m| m.problem == Problem::Missing));
    // a.txt is gone but its digest files stayed: named, then removed by the next run.
    assert!(
        report.contains(&"a.txt.sha256: a digest of a file that is not there".into()),
        "{report:?}"
    );
    write_checksums(dir.path(), 2, &NoProgress).unwrap();
    assert!(!dir.path().join("a.txt.sha256").exists());
    assert!(!dir.path().join("a.txt.sha512").exists());
}

#[test]
fn clear_errors_and_nothing_written_on_failure() {
    let empty = tempfile::tempdir().unwrap();
    let err = write_checksums(empty.path(), 2, &NoProgress).unwrap_err();
    assert!(matches!(err, ChecksumError::Empty { .. }), "{err}");
    let err = write_checksums(&empty.path().join("nope"), 2, &NoProgress).unwrap_err();
    assert!(err.to_string().ends_with("is not a directory"), "{err}");

    let dir = tree();
    std::os::unix::fs::symlink("/nonexistent/target", dir.path().join("dangling")).unwrap();
    let err = write_checksums(dir.path(), 2, &NoProgress).unwrap_err();
    assert!(matches!(err, ChecksumError::BadLink { .. }), "{err}");
    assert!(!dir.path().join("SHA256SUMS").exists(), "nothing written");

    let dir = tree();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("shadow"), "root:x").unwrap();
    std::os::unix::fs::symlink(outside.path().join("shadow"), dir.path().join("shadow")).unwrap();
    let err = write_checksums(dir.path(), 2, &NoProgress).unwrap_err();
    assert!(matches!(err, ChecksumError::LinkOutside { .. }), "{err}");
    assert!(!dir.path().join("SHA256SUMS").exists(), "nothing written");

    let dir = tree();
    std::fs::write(dir.path().join("bad\nname"), "x").unwrap();
    let err = write_checksums(dir.path(), 2, &NoProgress).unwrap_err();
    assert!(matches!(err, ChecksumError::BadName { .. }), "{err}");
    assert!(!dir.path().join("SHA256SUMS").exists(), "nothing written");
}
