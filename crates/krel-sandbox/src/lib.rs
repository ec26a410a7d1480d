//! Sandboxes: a throwaway upstream project with real history, a bare remote and a clone, so
//! that krel can be tried (and tested) without touching anything real.
//!
//! [`Sandbox::create`] builds, under one directory:
//!
//! - `upstream/`: the working repository where the history was made (the "developers");
//! - `remote.git`: a bare repository standing in for the project's git remote;
//! - `clone/`: a clone of the remote, as a release manager would have it;
//! - `krel.yaml`: configuration pointing krel at the remote, with the demo build
//!   (`sh hack/build.sh`), a `file://` bucket and mock bucket, and a workspace under the root;
//! - `keys/`: the sandbox signing key, public on purpose (its signatures prove nothing).
//!
//! The history is that of a small project, `widget`, from `testdata/sandbox/widget`: alphas and
//! betas on `main`, release branches `release-1.9` (released as `v1.9.0`) and `release-1.10`
//! (cut at `v1.10.0-rc.0`, in code freeze), merged and squashed pull requests, and a line that
//! both `main` and `release-1.10` changed, so that a fast-forward has real work to do.
//!
//! It drives the real `git` command ([`GitCli`]) with the user's git configuration switched off
//! and fixed dates, so every sandbox has the same commit ids.
//!
//! ```no_run
//! let dir = std::path::Path::new("/tmp/krel-sandbox");
//! let sandbox = krel_sandbox::Sandbox::create(dir).unwrap();
//! println!("clone at {}", sandbox.clone.display());
//! ```

mod git_cli;
mod history;

use std::path::{Path, PathBuf};

pub use git_cli::GitCli;

/// The paths of a created sandbox.
#[derive(Clone, Debug)]
pub struct Sandbox {
    /// The directory holding everything.
    pub root: PathBuf,
    /// The working repository the history was made in.
    pub upstream: PathBuf,
    /// The bare repository standing in for the project's remote.
    pub remote: PathBuf,
    /// A clone of the remote, as a release manager would have it.
    pub clone: PathBuf,
    /// `krel.yaml` pointing at the remote.
    pub config: PathBuf,
    /// Where images are staged (`…/staging` of the registry) and promoted (`…/release`).
    pub registry: String,
    git: GitCli,
}

/// Why a sandbox could not be made or changed.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The target directory exists and has files in it.
    #[error("{} already exists and is not empty", path.display())]
    NotEmpty {
        /// The directory.
        path: PathBuf,
    },
    /// The target exists and is not a directory.
    #[error("{} exists and is not a directory", path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// A file or directory could not be written.
    #[error("writing {}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// `git` could not be started.
    #[error("running `git`: is git installed and on PATH?")]
    Spawn(#[source] std::io::Error),
    /// A git command failed.
    #[error("`git {args}` in {} failed ({status}): {stderr}", dir.display())]
    Git {
        /// The arguments, joined by spaces.
        args: String,
        /// Where it ran.
        dir: PathBuf,
        /// The exit status.
        status: String,
        /// What git printed on stderr.
        stderr: String,
    },
}

impl Sandbox {
    /// Creates a sandbox in `root`, which must not exist or be empty.
    pub fn create(root: &Path) -> Result<Sandbox, SandboxError> {
        Sandbox::create_with(root, GitCli::new())
    }

    /// Creates a sandbox whose images are staged and promoted in `registry`
    /// (`docker://HOST[:PORT]`, or `oci:PATH`): at `…/staging` and `…/release` of it.
    pub fn create_with_registry(root: &Path, registry: &str) -> Result<Sandbox, SandboxError> {
        Sandbox::create_full(root, GitCli::new(), Some(registry))
    }

    /// Creates a sandbox with a given `git` runner (for example another git binary).
    pub fn create_with(root: &Path, git: GitCli) -> Result<Sandbox, SandboxError> {
        Sandbox::create_full(root, git, None)
    }

    fn create_full(
        root: &Path,
        git: GitCli,
        registry: Option<&str>,
    ) -> Result<Sandbox, SandboxError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SandboxError::Io { path, source }
        };
        if root.exists() && !root.is_dir() {
            return Err(SandboxError::NotADirectory {
                path: root.to_path_buf(),
            });
        }
        if root.exists() {
            let mut entries = std::fs::read_dir(root).map_err(io(root))?;
            if entries.next().is_some() {
                return Err(SandboxError::NotEmpty {
                    path: root.to_path_buf(),
                });
            }
        }
        std::fs::create_dir_all(root).map_err(io(root))?;
        let root = root.canonicalize().map_err(io(root))?;
        let sandbox = Sandbox {
            upstream: root.join("upstream"),
            remote: root.join("remote.git"),
            clone: root.join("clone"),
            config: root.join("krel.yaml"),
            registry: registry.map_or_else(
                || format!("oci:{}", root.join("registry").display()),
                |r| r.trim_end_matches('/').to_string(),
            ),
            root,
            git,
        };
        history::make(&sandbox)?;
        sandbox.write_config()?;
        Ok(sandbox)
    }

    /// Runs `git` in the upstream working repository (to add history in tests).
    pub fn upstream_git(&self, args: &[&str]) -> Result<String, SandboxError> {
        self.git.run(&self.upstream, args)
    }

    /// Runs `git` in the release manager's clone.
    pub fn clone_git(&self, args: &[&str]) -> Result<String, SandboxError> {
        self.git.run(&self.clone, args)
    }

    /// Runs `git` in the bare remote.
    pub fn remote_git(&self, args: &[&str]) -> Result<String, SandboxError> {
        self.git.run(&self.remote, args)
    }

    /// Commits one file change on a branch of the upstream repository.
    pub fn commit_file(
        &self,
        branch: &str,
        path: &str,
        content: Option<&str>,
        message: &str,
    ) -> Result<String, SandboxError> {
        history::commit_file(self, branch, path, content, message)
    }

    /// Publishes every branch and tag of the upstream repository to the remote.
    pub fn publish(&self) -> Result<(), SandboxError> {
        self.upstream_git(&[
            "push",
            "--quiet",
            "--force",
            "origin",
            "refs/heads/*:refs/heads/*",
        ])?;
        self.upstream_git(&[
            "push",
            "--quiet",
            "--force",
            "origin",
            "refs/tags/*:refs/tags/*",
        ])?;
        Ok(())
    }

    fn write_config(&self) -> Result<(), SandboxError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SandboxError::Io { path, source }
        };
        let keys = self.root.join("keys");
        std::fs::create_dir_all(&keys).map_err(io(&keys))?;
        for (name, text) in [("sandbox.key", SANDBOX_KEY), ("sandbox.pub", SANDBOX_PUB)] {
            std::fs::write(keys.join(name), text).map_err(io(&keys.join(name)))?;
        }
        let quote = |path: &Path| path.display().to_string().replace('\'', "''");
        let text = format!(
            "# krel configuration for the sandbox at {root}\n\
             # Everything points at local stand-ins; nothing here reaches the network.\n\
             project: widget\n\
             github:\n  org: krel-sandbox\n  repo: widget\n\
             git:\n  url: '{remote}'\n  remote: origin\n  main_branch: main\n  release_branch: release-{{major}}.{{minor}}\n\
             build:\n  command: sh hack/build.sh\n  platforms: [linux/amd64, linux/arm64, darwin/arm64]\n\
             \x20 artifacts:\n\
             \x20   - from: _output/release-tars\n      to: .\n\
             \x20   - from: _output/bin/{{os}}/{{arch}}\n      to: bin/{{os}}/{{arch}}\n\
             \x20 # One docker save archive per image and linux platform.\n\
             \x20 images:\n    from: _output/release-images/{{arch}}\n\
             release:\n\
             \x20 # --nomock goes here; the mock bucket takes mock stages.\n\
             \x20 bucket: 'file://{bucket}'\n  mock_bucket: 'file://{mock}'\n\
             \x20 workspace: '{workspace}'\n\
             \x20 # Images: stages push to staging (mock stages to mock_registry), releases\n\
             \x20 # promote by digest to registry.\n\
             \x20 staging_registry: '{registry}/staging'\n  registry: '{registry}/release'\n\
             \x20 mock_registry: 'oci:{mock_registry}'\n\
             \x20 # A throwaway key whose private half is public: signatures prove nothing.\n\
             \x20 signing_key: '{key}'\n\
             \x20 # `krel rehearse` serves a GitHub stand-in on 127.0.0.1 and turns this on\n\
             \x20 # (KREL_GITHUB_RELEASE=true, KREL_GITHUB_API_URL=http://127.0.0.1:PORT).\n\
             \x20 github_release: false\n",
            root = self.root.display(),
            remote = quote(&self.remote),
            bucket = quote(&self.root.join("bucket")),
            mock = quote(&self.root.join("mock-bucket")),
            workspace = quote(&self.root.join("workspace")),
            registry = self.registry.replace('\'', "''"),
            mock_registry = quote(&self.root.join("mock-registry")),
            key = quote(&keys.join("sandbox.key")),
        );
        std::fs::write(&self.config, text).map_err(io(&self.config))
    }
}

/// The sandbox signing key (unencrypted, public on purpose: see testdata/sandbox/keys).
pub const SANDBOX_KEY: &str = include_str!("../../../testdata/sandbox/keys/sandbox.key");
/// Its public key.
pub const SANDBOX_PUB: &str = include_str!("../../../testdata/sandbox/keys/sandbox.pub");

impl krel_error::Diagnose for SandboxError {
    /// Usage when the directory is taken; else unexpected.
    fn kind(&self) -> krel_error::ErrorKind {
        match self {
            SandboxError::NotEmpty { .. } | SandboxError::NotADirectory { .. } => {
                krel_error::ErrorKind::Usage
            }
            _ => krel_error::ErrorKind::Unexpected,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            SandboxError::NotEmpty { .. } | SandboxError::NotADirectory { .. } => {
                Some("choose a new or empty directory".into())
            }
            _ => None,
        }
    }
}
