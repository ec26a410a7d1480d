//! `krel sandbox create`: a throwaway project to rehearse on.

use std::path::{Path, PathBuf};

use krel_sandbox::Sandbox;

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
        /// The registry images are staged in (`…/staging`) and promoted to (`…/release`):
        /// `docker://HOST[:PORT]` (plain HTTP only on loopback) or `oci:PATH`. Default: OCI
        /// layouts in DIR/registry.
        #[arg(long, value_name = "LOCATION")]
        registry: Option<String>,
    },
}

pub const EXAMPLES: &str = "\
The sandbox holds upstream/ (where its history was made), remote.git (a bare remote standing in
for GitHub), clone/ (a release manager's clone) and krel.yaml pointing at the remote. Its
history has release-1.9 (released) and release-1.10 (in code freeze, main ahead of it).

Examples:
  krel sandbox create /tmp/krel-demo
  krel sandbox create /tmp/krel-demo --registry docker://127.0.0.1:5000   # a local registry
  cd /tmp/krel-demo && krel ff --repo-path clone && krel ff --repo-path clone --nomock
  cd /tmp/krel-demo && krel stage --type alpha --branch main      # into mock-bucket/
  krel rehearse /tmp/krel-rehearsal    # a sandbox plus a whole release cycle, for real";

/// Runs `krel sandbox …`.
pub fn exec(command: &Command, shell: &Shell) -> Result<(), Failure> {
    match command {
        Command::Create { dir, registry } => create(dir, registry.as_deref(), shell),
    }
}

/// Runs `krel sandbox create`.
fn create(dir: &Path, registry: Option<&str>, shell: &Shell) -> Result<(), Failure> {
    if let Some(registry) = registry {
        registry
            .parse::<krel_image::ImageLocation>()
            .map_err(Failure::from)?;
    }
    shell.status("Creating", format!("sandbox in {}", dir.display()));
    let created = match registry {
        Some(registry) => Sandbox::create_with_registry(dir, registry),
        None => Sandbox::create(dir),
    };
    let sandbox = created.map_err(Failure::from)?;
    shell.data(format!("root      {}", sandbox.root.display()));
    shell.data(format!("remote    {}", sandbox.remote.display()));
    shell.data(format!("clone     {}", sandbox.clone.display()));
    shell.data(format!("config    {}", sandbox.config.display()));
    shell.data(format!("registry  {}", sandbox.registry));
    shell.note(format!(
        "\nNext: cd {} && krel ff --repo-path clone   (or krel stage --type alpha --branch main)",
        sandbox.root.display()
    ));
    Ok(())
}
