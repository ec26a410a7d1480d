//! `krel version`: what this krel is, for bug reports and the release cut issue.

use serde::Serialize;

use crate::cli::OutputFormat;
use crate::failure::Failure;
use crate::shell::Shell;

pub const LONG_ABOUT: &str = "\
Print krel's version, the git commit it was built from and whether that tree had changes,
the build date (SOURCE_DATE_EPOCH at build time, when set), the Rust compiler and the platform.
Paste it into the release's cut issue. --output json prints the same as one object.";

/// What `krel version` reports.
#[derive(Debug, Serialize)]
pub struct VersionInfo {
    /// krel's version (the workspace version).
    pub version: &'static str,
    /// The git commit built, or `unknown`.
    pub git_commit: &'static str,
    /// `clean`, `dirty` (uncommitted changes were built) or `unknown`.
    pub git_tree_state: &'static str,
    /// When it was built (RFC 3339, UTC).
    pub build_date: &'static str,
    /// `rustc --version` of the compiler.
    pub rustc: &'static str,
    /// The target triple.
    pub platform: &'static str,
}

impl VersionInfo {
    /// This binary's information.
    pub fn current() -> VersionInfo {
        VersionInfo {
            version: env!("CARGO_PKG_VERSION"),
            git_commit: env!("KREL_GIT_COMMIT"),
            git_tree_state: env!("KREL_GIT_TREE_STATE"),
            build_date: env!("KREL_BUILD_DATE"),
            rustc: env!("KREL_RUSTC_VERSION"),
            platform: env!("KREL_TARGET"),
        }
    }
}

/// `krel --version`: the same, in the form clap prints after the program's name.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ncommit    ",
    env!("KREL_GIT_COMMIT"),
    " (",
    env!("KREL_GIT_TREE_STATE"),
    ")\nbuilt     ",
    env!("KREL_BUILD_DATE"),
    "\ncompiler  ",
    env!("KREL_RUSTC_VERSION"),
    "\nplatform  ",
    env!("KREL_TARGET"),
);

/// Runs `krel version`.
pub fn exec(shell: &Shell) -> Result<(), Failure> {
    let info = VersionInfo::current();
    match shell.output() {
        OutputFormat::Json => shell.json(&info),
        OutputFormat::Text => {
            shell.data(format!("krel {}", info.version));
            shell.data(format!(
                "  commit    {} ({})",
                info.git_commit, info.git_tree_state
            ));
            shell.data(format!("  built     {}", info.build_date));
            shell.data(format!("  compiler  {}", info.rustc));
            shell.data(format!("  platform  {}", info.platform));
        }
    }
    Ok(())
}
