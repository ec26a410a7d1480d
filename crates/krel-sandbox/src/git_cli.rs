//! A `git` runner isolated from the user's configuration, with a deterministic clock.

use std::cell::Cell;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::SandboxError;

/// Start of the sandbox clock: 2023-11-14 22:13:20 UTC. Each commit or tag is an hour later.
const EPOCH: i64 = 1_700_000_000;

/// Runs the `git` program with the user's global and system configuration ignored, a fixed
/// identity, no signing, and a clock that advances one hour per call that writes history.
#[derive(Clone, Debug)]
pub struct GitCli {
    program: PathBuf,
    tick: Cell<i64>,
}

impl Default for GitCli {
    fn default() -> GitCli {
        GitCli::new()
    }
}

impl GitCli {
    /// The `git` found on `PATH`.
    pub fn new() -> GitCli {
        GitCli::with_program("git")
    }

    /// A specific git binary.
    pub fn with_program(program: impl Into<PathBuf>) -> GitCli {
        GitCli {
            program: program.into(),
            tick: Cell::new(0),
        }
    }

    /// Runs `git ARGS` in `dir`, returning stdout with the trailing newline removed.
    pub fn run(&self, dir: &Path, args: &[&str]) -> Result<String, SandboxError> {
        let tick = self.tick.get() + 1;
        self.tick.set(tick);
        self.run_at(dir, args, EPOCH + tick * 3600)
    }

    /// Runs `git ARGS` in `dir` with the clock stopped at `seconds` since 1970 (commits and
    /// tags that must carry the same date, as a split stage's tags do).
    pub fn run_at(&self, dir: &Path, args: &[&str], seconds: i64) -> Result<String, SandboxError> {
        let date = format!("@{seconds} +0000");
        let output = Command::new(&self.program)
            .current_dir(dir)
            .args(["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"])
            .args([
                "-c",
                "init.defaultBranch=main",
                "-c",
                "advice.detachedHead=false",
            ])
            .args(args)
            .envs(isolated_env(&date))
            .output()
            .map_err(SandboxError::Spawn)?;
        if !output.status.success() {
            return Err(SandboxError::Git {
                args: args.join(" "),
                dir: dir.to_path_buf(),
                status: output.status.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        let mut stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        while stdout.ends_with('\n') {
            stdout.pop();
        }
        Ok(stdout)
    }
}

fn isolated_env(date: &str) -> Vec<(OsString, OsString)> {
    [
        ("GIT_CONFIG_GLOBAL", "/dev/null"),
        ("GIT_CONFIG_NOSYSTEM", "1"),
        ("GIT_AUTHOR_NAME", "Widget Developer"),
        ("GIT_AUTHOR_EMAIL", "dev@widget.example"),
        ("GIT_COMMITTER_NAME", "Widget Developer"),
        ("GIT_COMMITTER_EMAIL", "dev@widget.example"),
        ("GIT_AUTHOR_DATE", date),
        ("GIT_COMMITTER_DATE", date),
        ("GIT_TERMINAL_PROMPT", "0"),
        ("LC_ALL", "C"),
    ]
    .into_iter()
    .map(|(k, v)| (k.into(), v.into()))
    .collect()
}
