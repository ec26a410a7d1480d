//! Flags several commands share, each defined once and flattened into the commands that take
//! it (`#[command(flatten)]`), so that every command spells, types and documents it alike.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// `--jobs N` / `-j N`.
#[derive(Debug, Clone, Copy, Args)]
pub struct JobsArg {
    /// Work done at once: files hashed, signed or verified, packages built, transfers in
    /// flight (default: 8 transfers for push, stage and release; else the number of CPUs).
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    jobs: Option<u16>,
}

impl JobsArg {
    /// The flag, or the number of CPUs.
    pub fn or_cpus(self) -> usize {
        self.jobs
            .map(usize::from)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
    }

    /// The flag, or `default`.
    pub fn or(self, default: usize) -> usize {
        self.jobs.map_or(default, usize::from)
    }
}

/// `--workspace DIR`.
#[derive(Debug, Clone, Args)]
pub struct WorkspaceArg {
    /// Where clones, builds, downloaded stages and journals are kept (default:
    /// release.workspace, else ~/.local/share/krel/workspace).
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
}

/// `--github-api-url URL`.
#[derive(Debug, Clone, Args)]
pub struct GitHubApiArg {
    /// GitHub API base, for GitHub Enterprise or a stand-in.
    #[arg(
        long,
        value_name = "URL",
        env = "KREL_GITHUB_API_URL",
        default_value = "https://api.github.com"
    )]
    pub github_api_url: String,
}

/// `--non-interactive`.
#[derive(Debug, Clone, Copy, Args)]
pub struct ConfirmArg {
    /// Do not ask for confirmation before changing remotes with --nomock.
    #[arg(long)]
    pub non_interactive: bool,
}

/// Release types, as on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReleaseTypeArg {
    /// vX.Y.0-alpha.N from the main branch.
    Alpha,
    /// vX.Y.0-beta.N from the main branch.
    Beta,
    /// vX.Y.Z-rc.N from a release branch (rc.0 with --cut-branch).
    Rc,
    /// vX.Y.Z from a release branch.
    Official,
}

impl From<ReleaseTypeArg> for krel_version::ReleaseType {
    fn from(arg: ReleaseTypeArg) -> krel_version::ReleaseType {
        match arg {
            ReleaseTypeArg::Alpha => krel_version::ReleaseType::Alpha,
            ReleaseTypeArg::Beta => krel_version::ReleaseType::Beta,
            ReleaseTypeArg::Rc => krel_version::ReleaseType::Rc,
            ReleaseTypeArg::Official => krel_version::ReleaseType::Official,
        }
    }
}

/// A `--build-version` flag's value, parsed.
pub fn parse_build_version(
    text: &str,
) -> Result<krel_version::BuildVersion, crate::failure::Failure> {
    text.parse().map_err(|err: krel_version::VersionError| {
        crate::failure::Failure::usage(err).with_hint(Some(
            "a build version looks like v1.30.0-rc.0.12+4e9bdd481e2400 (git describe of the commit)"
                .into(),
        ))
    })
}
