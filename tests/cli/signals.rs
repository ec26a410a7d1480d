//! Ctrl-C in the middle of work: krel removes its temporary files and exits 130, and what a
//! dead run left is swept by the next.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::krel;

/// Entries under `dir` (recursively) whose names start with `prefix`.
fn named(dir: &Path, prefix: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with(prefix) {
            found.push(path.clone());
        }
        if path.is_dir() {
            found.extend(named(&path, prefix));
        }
    }
    found
}

/// Waits until `ready` holds (polling), then sends SIGINT; returns krel's exit code.
fn interrupt_when(
    mut child: krel_test_support::KillOnDrop,
    ready: impl Fn() -> bool,
) -> Option<i32> {
    let start = Instant::now();
    while !ready() {
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!("krel ended ({status}) before it could be interrupted");
        }
        assert!(start.elapsed() < Duration::from_secs(60), "never got there");
        std::thread::sleep(Duration::from_millis(1));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.0.wait().unwrap().code()
}

/// The pushed file's size: large enough that its upload is under way for a while (hashed and
/// written), small enough not to strain a CI disk (the copy is real bytes).
const BIG: u64 = 160 << 20;

#[test]
fn sigint_mid_push_leaves_no_partial_file_and_a_rerun_completes() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("release");
    std::fs::create_dir_all(&src).unwrap();
    // A large file, so the upload is under way for a while (sparse: cheap to make).
    let big = std::fs::File::create(src.join("kubernetes-server.tar.gz")).unwrap();
    big.set_len(BIG).unwrap();
    std::fs::write(src.join("SHA256SUMS"), "x").unwrap();
    let dest = dir.path().join("bucket");
    let url = format!("file://{}", dest.display());
    let krel = krel();
    let child = krel.spawn_in(
        dir.path(),
        &["push", "release", &url, "--nomock", "--jobs", "1"],
    );
    // Interrupted while an object uploads (the lock taken: its own temporary file is in
    // .krel-locks/).
    let uploading = || {
        named(&dest, ".krel-partial-")
            .iter()
            .any(|path| path.parent() == Some(dest.as_path()))
    };
    let code = interrupt_when(child, uploading);
    assert_eq!(code, Some(130));
    assert_eq!(
        named(&dest, ".krel-partial-"),
        Vec::<std::path::PathBuf>::new()
    );
    // The push lock expires in seconds, not LOCK_TTL, for the next push wherever it runs (a
    // cancelled CI job).
    let lock: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dest.join(".krel-locks/push-root.lock")).unwrap())
            .unwrap();
    let left = lock["expires"].as_i64().unwrap() - lock["since"].as_i64().unwrap();
    assert!(left <= 15, "{lock}");
    // A partial file a killed run (kill -9) left behind long ago is swept by the next push.
    let stale = dest.join(".krel-partial-dead");
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::write(&stale, "half").unwrap();
    let old = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(old)
        .unwrap();
    krel.run_in(dir.path(), &["push", "release", &url, "--nomock"])
        .assert_exit(0);
    assert!(!stale.exists(), "a dead run's partial file was left");
    assert_eq!(
        std::fs::metadata(dest.join("kubernetes-server.tar.gz"))
            .unwrap()
            .len(),
        BIG
    );
}

#[test]
fn sigint_mid_kubepkg_leaves_no_scratch_and_a_dead_runs_scratch_is_swept() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    crate::copy_kubepkg_source(&source);
    // A larger binary, so the build takes a moment.
    let kubelet = source.join("bin/linux/amd64/kubelet");
    std::fs::File::options()
        .write(true)
        .open(&kubelet)
        .unwrap()
        .set_len(16 << 20)
        .unwrap();
    let out = dir.path().join("site");
    let args = [
        "kubepkg",
        "--kubernetes",
        "--version",
        "1.30.0",
        "--source",
        source.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--repo",
        "--jobs",
        "1",
        "--arch",
        "amd64",
    ];
    let krel = krel();
    let child = krel.spawn_in(dir.path(), &args);
    let code = interrupt_when(child, || !named(&out, ".krel-kubepkg-").is_empty());
    assert_eq!(code, Some(130));
    assert_eq!(
        named(&out, ".krel-kubepkg-"),
        Vec::<std::path::PathBuf>::new()
    );

    // What a run killed with -9 left (it could not clean up) is swept by the next, which
    // holds the output's lock: `krel push site` never uploads it.
    let dead = out.join(".krel-kubepkg-dead/built");
    std::fs::create_dir_all(&dead).unwrap();
    std::fs::write(dead.join("kubelet_1.30.0-1.1_amd64.deb"), "half").unwrap();
    krel.run_in(dir.path(), &args).assert_exit(0);
    assert_eq!(
        named(&out, ".krel-kubepkg-"),
        Vec::<std::path::PathBuf>::new()
    );
}

/// A build that writes a heartbeat file every 0.1 s: (command, heartbeat path).
fn heartbeat_build(dir: &Path) -> (String, std::path::PathBuf) {
    let beat = dir.join("heartbeat");
    let command = format!(
        "i=0; while [ $i -lt 600 ]; do echo $i >> '{}'; i=$((i+1)); sleep 0.1; done",
        beat.display()
    );
    (command, beat)
}

#[test]
fn sigterm_mid_build_stops_the_build_too() {
    let dir = tempfile::tempdir().unwrap();
    let (command, beat) = heartbeat_build(dir.path());
    let krel = krel().env("KREL_BUILD_COMMAND", &command);
    let s = krel.sandbox();
    let mut child = krel.spawn_in(&s.root, &["stage", "--type", "alpha", "--branch", "main"]);
    let start = Instant::now();
    while !beat.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the build never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Only krel is signalled (as `kill`, `timeout` and a cancelled CI job do).
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(child.0.wait().unwrap().code(), Some(130));
    // The build stopped with it: its heartbeat no longer grows.
    std::thread::sleep(Duration::from_millis(300));
    let stopped = std::fs::read_to_string(&beat).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        std::fs::read_to_string(&beat).unwrap(),
        stopped,
        "the build still runs"
    );
}

#[test]
fn sigint_while_the_push_lock_is_written_makes_that_lock_expire() {
    use krel_test_support::{seaweed_s3, test_python, test_tool, Fault, FaultyProxy};
    let s3 = seaweed_s3();
    let bucket = crate::push::s3_bucket("krel-s3-lock");
    // Every answer comes late: the server has written the lock before krel hears it has.
    let proxy = FaultyProxy::start(s3.port, vec![Some(Fault::SlowAnswer)], 1000);
    let krel = crate::push::s3_env(krel(), &format!("http://{}", proxy.host()));
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("kubectl"), "kubectl").unwrap();
    let dest = format!("s3://{bucket}/v1.30.0");
    let args = ["push", src.path().to_str().unwrap(), &dest, "--nomock"];
    let lock_written = || {
        proxy
            .request_lines()
            .iter()
            .any(|line| line.starts_with("PUT ") && line.contains(".krel-locks/"))
    };
    let code = interrupt_when(krel.spawn_in(src.path(), &args), lock_written);
    assert_eq!(code, Some(130));
    let read = Command::new(test_python())
        .arg(test_tool("readback.py"))
        .args([
            "s3-get",
            &s3.endpoint(),
            &bucket,
            ".krel-locks/push-v1.30.0.lock",
        ])
        .args([&s3.access_key, &s3.secret_key])
        .output()
        .unwrap();
    assert!(read.status.success(), "{read:?}");
    let object: serde_json::Value = serde_json::from_slice(&read.stdout).unwrap();
    let lock: serde_json::Value =
        serde_json::from_str(object["text"].as_str().expect("the lock was written")).unwrap();
    // Not held for LOCK_TTL by a run that is gone: it expires seconds after the interrupt.
    let left = lock["expires"].as_i64().unwrap() - lock["since"].as_i64().unwrap();
    assert!(left <= 15, "{lock}");
}
