//! Support for krel's tests: run the real `krel` binary as a user would, in a clean
//! environment, and take byte-level snapshots of git remotes to prove a run changed nothing.
//!
//! ```no_run
//! use krel_test_support::{Krel, RemoteSnapshot};
//!
//! let krel = Krel::new("target/debug/krel"); // in tests: env!("CARGO_BIN_EXE_krel")
//! let sandbox = krel.sandbox();
//! let before = RemoteSnapshot::take(&sandbox.remote);
//! let run = krel.run_in(&sandbox.root, &["ff", "--repo-path", "clone"]);
//! run.assert_exit(0);
//! assert_eq!(RemoteSnapshot::take(&sandbox.remote), before);
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use krel_sandbox::Sandbox;

pub mod images;
mod proxy;
mod services;
pub mod sigstore;

pub use krel_github_standin::{GitHubStandIn, Recorded, StandInOptions};

pub use proxy::{Fault, FaultyProxy};
pub use services::{
    docker_registry, docker_registry_with_auth, fake_gcs, free_port, seaweed_s3, DockerRegistry,
    FakeGcs, SeaweedS3,
};

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

/// The Python of the test virtualenv (`scripts/install-test-deps` creates it), which has the
/// independent checkers and stand-ins the tests use. Panics with the fix when it is missing.
pub fn test_python() -> PathBuf {
    let python = repo_root().join("target/test-tools/venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/install-test-deps (scripts/test does)",
        python.display()
    );
    python
}

/// A script under `tests/tools/`.
pub fn test_tool(name: &str) -> PathBuf {
    repo_root().join("tests/tools").join(name)
}

/// Reads back what krel pushed with the storage services' own Python clients
/// (`tests/tools/readback.py ARGS`): object key, with `PREFIX/` removed, → SHA-256.
pub fn readback(args: &[&str], prefix: &str) -> BTreeMap<String, String> {
    let out = Command::new(test_python())
        .arg(test_tool("readback.py"))
        .args(args)
        .output()
        .expect("running readback.py");
    assert!(
        out.status.success(),
        "readback {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("readback.py prints JSON");
    json.as_object()
        .map(|objects| {
            objects
                .iter()
                .filter_map(|(key, v)| {
                    let key = key.strip_prefix(&format!("{prefix}/")).unwrap_or(key);
                    Some((key.to_string(), v["sha256"].as_str()?.to_string()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The `krel` binary under test, with a private HOME and a clean environment.
pub struct Krel {
    bin: PathBuf,
    home: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Krel {
    /// The binary at `bin` (use `env!("CARGO_BIN_EXE_krel")`).
    pub fn new(bin: impl Into<PathBuf>) -> Krel {
        let home = tempfile::tempdir().expect("creating a temporary HOME");
        // krel's own temporary files (and its children's) go with HOME, so that a run killed
        // on purpose leaves nothing in the machine's temporary directory.
        std::fs::create_dir(home.path().join("tmp")).expect("creating HOME/tmp");
        std::fs::write(
            home.path().join(".gitconfig"),
            "[user]\n\tname = Test Release Manager\n\temail = rm@test.example\n",
        )
        .expect("writing .gitconfig");
        Krel {
            bin: bin.into(),
            home,
            env: Vec::new(),
        }
    }

    /// Sets an environment variable for every run.
    pub fn env(mut self, key: &str, value: &str) -> Krel {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// A fresh sandbox project in a directory of this `Krel`'s HOME.
    pub fn sandbox(&self) -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("sandbox-")
            .tempdir_in(self.home.path())
            .expect("creating a sandbox directory")
            .keep();
        std::fs::remove_dir(&dir).expect("emptying the sandbox directory");
        Sandbox::create(&dir).expect("creating a sandbox")
    }

    /// The private HOME directory.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    // The tests pass their PATH on to the binary they drive; krel itself reads the environment
    // only through its context.
    #[allow(clippy::disallowed_methods)]
    fn command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .current_dir(dir)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("TMPDIR", self.home.path().join("tmp"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", self.home.path().join(".gitconfig"))
            .env("NO_COLOR", "1")
            .env("LC_ALL", "C")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Starts `krel ARGS` in `dir` without waiting (to interrupt it); killed when dropped.
    pub fn spawn_in(&self, dir: &Path, args: &[&str]) -> KillOnDrop {
        KillOnDrop(
            self.command(dir, args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting krel"),
        )
    }

    /// Runs `krel ARGS` in `dir` with extra environment variables for this run only.
    pub fn run_with_env(&self, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = self.command(dir, args);
        command.envs(env.iter().copied());
        finish(command, args, "")
    }

    /// Runs `krel ARGS` in `dir` with no input.
    pub fn run_in(&self, dir: &Path, args: &[&str]) -> Run {
        self.run_with_input(dir, args, "")
    }

    /// Runs `krel ARGS` in `dir`, writing `input` to its stdin.
    pub fn run_with_input(&self, dir: &Path, args: &[&str], input: &str) -> Run {
        finish(self.command(dir, args), args, input)
    }
}

/// Runs a prepared command to its end (or its deadline), feeding it `input`.
fn finish(mut command: Command, args: &[&str], input: &str) -> Run {
    {
        use std::io::Write;
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting krel");
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(input.as_bytes());
        }
        // Every run ends: a krel that hangs is killed and the test fails with what it printed.
        let pid = child.id();
        let finished = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watchdog = {
            let finished = finished.clone();
            std::thread::spawn(move || {
                let deadline = std::time::Instant::now() + RUN_DEADLINE;
                while std::time::Instant::now() < deadline {
                    if finished.load(std::sync::atomic::Ordering::SeqCst) {
                        return false;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                true
            })
        };
        let output = child.wait_with_output().expect("waiting for krel");
        finished.store(true, std::sync::atomic::Ordering::SeqCst);
        let killed = watchdog.join().unwrap_or(false);
        assert!(
            !killed,
            "krel {args:?} ran longer than {RUN_DEADLINE:?} and was killed"
        );
        Run {
            args: args.iter().map(|s| s.to_string()).collect(),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// How long one krel run may take in a test.
pub const RUN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(300);

/// A child process killed (and reaped) when dropped, so a failing test leaves nothing running.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What one run of krel did.
#[derive(Debug)]
pub struct Run {
    /// The arguments.
    pub args: Vec<String>,
    /// The exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Everything printed on stdout.
    pub stdout: String,
    /// Everything printed on stderr.
    pub stderr: String,
}

impl Run {
    /// Panics with the whole output unless the exit code is `code`.
    pub fn assert_exit(&self, code: i32) -> &Run {
        assert_eq!(
            self.code,
            Some(code),
            "krel {:?} exited {:?}, expected {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.args,
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Panics unless stderr contains `text`.
    pub fn assert_stderr_has(&self, text: &str) -> &Run {
        assert!(
            self.stderr.contains(text),
            "stderr of krel {:?} lacks {text:?}:\n{}",
            self.args,
            self.stderr
        );
        self
    }

    /// Panics unless stdout contains `text`.
    pub fn assert_stdout_has(&self, text: &str) -> &Run {
        assert!(
            self.stdout.contains(text),
            "stdout of krel {:?} lacks {text:?}:\n{}",
            self.args,
            self.stdout
        );
        self
    }

    /// Parses stdout as JSON, panicking with the text when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|err| panic!("stdout is not JSON ({err}):\n{}", self.stdout))
    }
}

/// Every byte that describes a bare repository's state: `HEAD`, `packed-refs`, every file under
/// `refs/`, and the names of every file under `objects/` (a mock run writes none of them).
#[derive(Debug, PartialEq, Eq)]
pub struct RemoteSnapshot(BTreeMap<String, Vec<u8>>);

impl RemoteSnapshot {
    /// Reads the snapshot of the bare repository at `git_dir`.
    pub fn take(git_dir: &Path) -> RemoteSnapshot {
        let mut files = BTreeMap::new();
        for name in ["HEAD", "packed-refs", "config"] {
            if let Ok(bytes) = std::fs::read(git_dir.join(name)) {
                files.insert(name.to_string(), bytes);
            }
        }
        walk(git_dir, &git_dir.join("refs"), true, &mut files);
        walk(git_dir, &git_dir.join("objects"), false, &mut files);
        assert!(
            files
                .keys()
                .any(|k| k.starts_with("refs/") || k == "packed-refs"),
            "{} does not look like a git repository",
            git_dir.display()
        );
        RemoteSnapshot(files)
    }
}

/// Every file under `dir` (relative path → bytes); empty when `dir` does not exist.
pub fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    walk(dir, dir, true, &mut files);
    files
}

/// Copies every file under `from` into `to`, keeping the relative paths.
pub fn copy_tree(from: &Path, to: &Path) {
    for (relative, bytes) in tree(from) {
        let target = to.join(relative);
        std::fs::create_dir_all(target.parent().expect("a file has a parent"))
            .expect("creating a directory of the copy");
        std::fs::write(target, bytes).expect("writing a file of the copy");
    }
}

fn walk(root: &Path, dir: &Path, contents: bool, files: &mut BTreeMap<String, Vec<u8>>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(root, &path, contents, files);
        } else {
            let name = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            let bytes = if contents {
                std::fs::read(&path).unwrap_or_default()
            } else {
                Vec::new()
            };
            files.insert(name, bytes);
        }
    }
}
