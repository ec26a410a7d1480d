//! End-to-end tests: the real `krel` binary, run as a user would, against real git
//! repositories and bare remotes created in temporary directories.

// In tests a panic is the assertion: unwrap freely.
#![allow(clippy::unwrap_used)]

mod changelog;
mod checksum;
mod cli;
mod ff;
mod images;
mod kubepkg;
mod meta;
mod next_version;
mod paths;
mod push;
mod rehearse;
mod release;
mod sandbox;
mod sign;
mod signals;
mod sigstore;
mod snapshots;
mod split;
mod stage;
mod workflows;

use krel_test_support::{Krel, Run};

/// The binary under test, with a private HOME and a clean environment.
pub fn krel() -> Krel {
    Krel::new(env!("CARGO_BIN_EXE_krel"))
}

/// True when openssl verifies `file.sig` (base64 DER, cosign's blob format) against `file`
/// with the PEM public key at `public`: the independent check of krel's signatures.
pub fn openssl_verifies(public: &std::path::Path, file: &std::path::Path) -> bool {
    use std::process::{Command, Stdio};
    let sig = std::fs::read_to_string(format!("{}.sig", file.display())).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let der = scratch.path().join("sig.der");
    let decoded = Command::new("openssl")
        .args(["base64", "-d", "-A", "-out"])
        .arg(&der)
        .stdin(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(sig.trim().as_bytes())?;
            child.wait()
        })
        .unwrap();
    assert!(decoded.success(), "openssl base64 -d");
    Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(public)
        .arg("-signature")
        .arg(&der)
        .arg(file)
        .output()
        .unwrap()
        .status
        .success()
}

/// A copy of kubepkg's fake binaries at `dest` (to change or link in a test).
pub fn copy_kubepkg_source(dest: &std::path::Path) {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(krel_test_support::repo_root().join("testdata/kubepkg/source"))
        .arg(dest)
        .status()
        .unwrap();
    assert!(status.success(), "cp -a testdata/kubepkg/source");
}

/// Python's http.server on 127.0.0.1 serving `dir`; stopped when dropped. `.1` is the port.
pub struct Served(std::process::Child, pub u16);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Serves `dir` over HTTP on loopback until the result is dropped.
pub fn serve(dir: &std::path::Path) -> Served {
    let port = krel_test_support::free_port();
    let child = std::process::Command::new("python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--directory",
        ])
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "http.server did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Served(child, port)
}
