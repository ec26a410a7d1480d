//! The top-level parser: global flags and the list of commands. Each command's arguments and
//! help live in its own file under `commands/`; shared flags in `args.rs`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands::{
    changelog, checksum, completion, config, ff, kubepkg, man, next_version, push, rehearse,
    release, sandbox, sign, stage, verify, version,
};

const ABOUT: &str = "Release engineering for Kubernetes-style projects";

const LONG_ABOUT: &str = "\
Release engineering for Kubernetes-style projects: compute versions, fast-forward release
branches, stage (build, checksum, sign, attest), verify and publish releases, write release
notes, build .deb and .rpm packages with signed apt and yum repositories, and rehearse a whole
release cycle on local stand-ins.

Anything that changes a remote (git push, bucket upload, GitHub release) runs in mock mode by
default: krel does every read and check, prints the plan, and changes nothing remote. Pass
--nomock to carry the plan out.";

const EXAMPLES: &str = "\
Examples:
  Rehearse a whole release cycle for real on local stand-ins (nothing leaves the machine):
    krel rehearse /tmp/krel-rehearsal

  Try krel safely on a throwaway project:
    krel sandbox create /tmp/krel-demo && cd /tmp/krel-demo
    krel ff --repo-path clone                # mock: prints the plan, pushes nothing
    krel ff --repo-path clone --nomock       # pushes after asking

  Compute the versions of a release:
    krel next-version --type rc --build-version v1.30.0-beta.1.12+4e9bdd481e2400 \\
      --branch release-1.30 --cut-branch

Configuration: flags beat KREL_* environment variables, which beat krel.yaml (from --config,
KREL_CONFIG or the current directory), which beats the defaults (kubernetes/kubernetes).
Exit status: 0 done, 1 refused (the repository's state says no), 2 usage or unexpected error,
130 interrupted (Ctrl-C or SIGTERM: temporary files removed; run the same command again).";

/// krel: release engineering for Kubernetes-style projects.
#[derive(Debug, Parser)]
#[command(name = "krel", version, long_version = version::LONG_VERSION, about = ABOUT, long_about = LONG_ABOUT, after_help = EXAMPLES)]
#[command(propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// `KREL_NOMOCK`'s value: true/false, yes/no, on/off, 1/0, or empty (unset, as CI templates
/// often leave it: mock).
fn nomock_value(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "0" | "false" | "no" | "n" | "off" | "f" => Ok(false),
        "1" | "true" | "yes" | "y" | "on" | "t" => Ok(true),
        other => Err(format!(
            "`{other}` is not true or false (KREL_NOMOCK takes true/false, yes/no, 1/0, or empty for mock)"
        )),
    }
}

/// Options every command accepts.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Really change remotes (push, upload, publish). Without it, krel only plans.
    #[arg(long, global = true, env = "KREL_NOMOCK", action = clap::ArgAction::SetTrue,
          value_parser = nomock_value)]
    pub nomock: bool,

    /// Plan only, even when KREL_NOMOCK or --nomock is given (mock is the default).
    #[arg(long, global = true)]
    pub mock: bool,

    /// Configuration file (default: ./krel.yaml when it exists).
    #[arg(long, global = true, env = "KREL_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// More diagnostics on stderr (-v info, -vv debug, -vvv trace). KREL_LOG takes a filter.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only errors on stderr; no progress.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Format of diagnostics on stderr: status lines, warnings, errors with their causes and
    /// hint, and the -v events (json: one object per line; no progress bars).
    #[arg(long, global = true, env = "KREL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Format of results on stdout.
    #[arg(long, global = true, env = "KREL_OUTPUT", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// Diagnostics format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line: timestamp, level, fields (message; status, or an error's
    /// detail: `caused by`, `hint`).
    Json,
}

/// Results format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// For people.
    Text,
    /// For programs.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Merge the main branch into the newest release branch during code freeze (branchff).
    #[command(name = "ff", visible_alias = "fast-forward")]
    #[command(long_about = ff::LONG_ABOUT, after_help = ff::EXAMPLES)]
    Ff(ff::Args),

    /// Print the versions a release would produce, the prime version first.
    #[command(name = "next-version")]
    #[command(long_about = next_version::LONG_ABOUT, after_help = next_version::EXAMPLES)]
    NextVersion(next_version::Args),

    /// Build, checksum, sign and attest a release, and upload it to the stage area of a bucket.
    #[command(
        long_about = stage::LONG_ABOUT,
        after_help = stage::EXAMPLES,
        args_conflicts_with_subcommands = true,
        subcommand_negates_reqs = true
    )]
    Stage(stage::Args),

    /// Verify a stage and publish it: bucket, version markers, git tags and branch, GitHub release.
    #[command(long_about = release::LONG_ABOUT, after_help = release::EXAMPLES)]
    Release(release::Args),

    /// Rehearse a whole release cycle for real on local stand-ins, then check everything.
    #[command(long_about = rehearse::LONG_ABOUT, after_help = rehearse::EXAMPLES)]
    Rehearse(rehearse::Args),

    /// Release notes from the pull requests between two revisions, as a Kubernetes CHANGELOG.
    #[command(long_about = changelog::LONG_ABOUT, after_help = changelog::EXAMPLES)]
    #[command(args_conflicts_with_subcommands = true)]
    Changelog(Box<changelog::Args>),

    /// Write SHA256SUMS, SHA512SUMS and per-file digests for a release directory, or check them.
    #[command(long_about = checksum::LONG_ABOUT, after_help = checksum::EXAMPLES)]
    Checksum(checksum::Args),

    /// Upload a directory tree to gs://, s3:// or file:// (parallel, verified, idempotent).
    #[command(long_about = push::LONG_ABOUT, after_help = push::EXAMPLES)]
    Push(push::Args),

    /// Build .deb and .rpm packages for several architectures, and signed apt/yum repositories.
    #[command(long_about = kubepkg::LONG_ABOUT, after_help = kubepkg::EXAMPLES)]
    #[command(
        disable_version_flag = true,
        args_conflicts_with_subcommands = true,
        subcommand_negates_reqs = true
    )]
    Kubepkg(Box<kubepkg::Args>),

    /// Verify a published release as a downloader: checksums, signatures, provenance, SBOMs.
    #[command(long_about = verify::LONG_ABOUT, after_help = verify::EXAMPLES)]
    #[command(disable_version_flag = true)]
    Verify(verify::Args),

    /// Sign files with a cosign-compatible key, verify signatures, make a key pair.
    #[command(subcommand, after_help = sign::EXAMPLES)]
    Sign(sign::Command),

    /// Create throwaway projects to rehearse releases on.
    #[command(subcommand, after_help = sandbox::EXAMPLES)]
    Sandbox(sandbox::Command),

    /// Check krel.yaml and show every effective setting, or print its JSON Schema.
    #[command(subcommand, after_help = config::EXAMPLES)]
    Config(config::Command),

    /// krel's version, commit, build date, compiler and platform.
    #[command(long_about = version::LONG_ABOUT)]
    Version,

    /// Shell completions for bash, zsh, fish, powershell or elvish, on stdout.
    #[command(long_about = completion::LONG_ABOUT, after_help = completion::EXAMPLES)]
    Completion(completion::Args),

    /// Man pages (roff): krel's, or one command's; or all of them into a directory.
    #[command(long_about = man::LONG_ABOUT, after_help = man::EXAMPLES)]
    Man(man::Args),
}

impl Command {
    /// The command's name, for messages (`stage`, `release`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Command::Ff(_) => "ff",
            Command::NextVersion(_) => "next-version",
            Command::Checksum(_) => "checksum",
            Command::Stage(_) => "stage",
            Command::Rehearse(_) => "rehearse",
            Command::Release(_) => "release",
            Command::Changelog(_) => "changelog",
            Command::Sandbox(_) => "sandbox",
            Command::Sign(_) => "sign",
            Command::Verify(_) => "verify",
            Command::Kubepkg(_) => "kubepkg",
            Command::Push(_) => "push",
            Command::Config(_) => "config",
            Command::Version => "version",
            Command::Completion(_) => "completion",
            Command::Man(_) => "man",
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}

#[cfg(test)]
mod nomock_tests {
    #[test]
    fn an_empty_krel_nomock_is_mock_and_a_wrong_one_names_the_variable() {
        assert_eq!(super::nomock_value(""), Ok(false));
        assert_eq!(super::nomock_value("True"), Ok(true));
        assert_eq!(super::nomock_value("0"), Ok(false));
        assert!(super::nomock_value("maybe")
            .unwrap_err()
            .contains("KREL_NOMOCK"));
    }
}
