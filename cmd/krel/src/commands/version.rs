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
    pub build_date: String,
    /// `rustc --version` of the compiler.
    pub rustc: &'static str,
    /// The target triple.
    pub platform: &'static str,
}

impl VersionInfo {
    /// This binary's information.
    pub fn current() -> VersionInfo {
        let epoch: i64 = env!("KREL_BUILD_EPOCH").parse().unwrap_or(0);
        VersionInfo {
            version: env!("CARGO_PKG_VERSION"),
            git_commit: env!("KREL_GIT_COMMIT"),
            git_tree_state: env!("KREL_GIT_TREE_STATE"),
            build_date: chrono::DateTime::from_timestamp(epoch, 0)
                .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_default(),
            rustc: env!("KREL_RUSTC_VERSION"),
            platform: env!("KREL_TARGET"),
        }
    }
}

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
