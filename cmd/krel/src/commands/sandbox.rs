//! `krel sandbox create`: a throwaway project to rehearse on.

use std::path::{Path, PathBuf};

use krel_sandbox::{Sandbox, SandboxError};

use crate::failure::Failure;
use crate::shell::Shell;

/// `krel sandbox` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a throwaway project: upstream history, a bare remote, a clone and krel.yaml.
    #[command(after_help = EXAMPLES)]
    Create {
        /// Directory to create (must not exist, or be empty).
        dir: PathBuf,
    },
}

pub const EXAMPLES: &str = "\
The sandbox holds upstream/ (where its history was made), remote.git (a bare remote standing in
for GitHub), clone/ (a release manager's clone) and krel.yaml pointing at the remote. Its
history has release-1.9 (released) and release-1.10 (in code freeze, main ahead of it).

Examples:
  krel sandbox create /tmp/krel-demo
  cd /tmp/krel-demo && krel ff --repo-path clone && krel ff --repo-path clone --nomock
  cd /tmp/krel-demo && krel stage --type alpha --branch main      # into mock-bucket/
  krel rehearse /tmp/krel-rehearsal    # a sandbox plus a whole release cycle, for real";

/// Runs `krel sandbox …`.
pub fn exec(command: &Command, shell: &Shell) -> Result<(), Failure> {
    match command {
        Command::Create { dir } => create(dir, shell),
    }
}

/// Runs `krel sandbox create`.
fn create(dir: &Path, shell: &Shell) -> Result<(), Failure> {
    shell.status("Creating", format!("sandbox in {}", dir.display()));
    let sandbox = Sandbox::create(dir).map_err(|err| match err {
        SandboxError::NotEmpty { .. } => Failure::usage(err).with_hint(Some(
            "choose a new directory, or delete this one first".into(),
        )),
        err => Failure::unexpected(err),
    })?;
    shell.data(format!("root      {}", sandbox.root.display()));
    shell.data(format!("remote    {}", sandbox.remote.display()));
    shell.data(format!("clone     {}", sandbox.clone.display()));
    shell.data(format!("config    {}", sandbox.config.display()));
    shell.note(format!(
        "\nNext: cd {} && krel ff --repo-path clone   (or krel stage --type alpha --branch main)",
        sandbox.root.display()
    ));
    Ok(())
}
