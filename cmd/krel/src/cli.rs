//! Command-line definitions (clap). Only argument shapes live here; commands/ does the work.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
Exit status: 0 done, 1 refused (the repository's state says no), 2 usage or unexpected error.";

/// krel: release engineering for Kubernetes-style projects.
#[derive(Debug, Parser)]
#[command(name = "krel", version, about = ABOUT, long_about = LONG_ABOUT, after_help = EXAMPLES)]
#[command(propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Really change remotes (push, upload, publish). Without it, krel only plans.
    #[arg(long, global = true, env = "KREL_NOMOCK", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
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

    /// Format of diagnostics on stderr.
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
    /// One JSON object per line.
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
    #[command(long_about = crate::commands::ff::LONG_ABOUT, after_help = crate::commands::ff::EXAMPLES)]
    Ff(FfArgs),

    /// Print the versions a release would produce, the prime version first.
    #[command(name = "next-version")]
    #[command(long_about = crate::commands::next_version::LONG_ABOUT, after_help = crate::commands::next_version::EXAMPLES)]
    NextVersion(NextVersionArgs),

    /// Build, checksum, sign and attest a release, and upload it to the stage area of a bucket.
    #[command(
        long_about = crate::commands::stage::LONG_ABOUT,
        after_help = crate::commands::stage::EXAMPLES,
        args_conflicts_with_subcommands = true,
        subcommand_negates_reqs = true
    )]
    Stage(StageArgs),

    /// Verify a stage and publish it: bucket, version markers, git tags and branch, GitHub release.
    #[command(long_about = crate::commands::release::LONG_ABOUT, after_help = crate::commands::release::EXAMPLES)]
    Release(ReleaseArgs),

    /// Rehearse a whole release cycle for real on local stand-ins, then check everything.
    #[command(long_about = crate::commands::rehearse::LONG_ABOUT, after_help = crate::commands::rehearse::EXAMPLES)]
    Rehearse(RehearseArgs),

    /// Release notes from the pull requests between two revisions, as a Kubernetes CHANGELOG.
    #[command(long_about = crate::commands::changelog::LONG_ABOUT, after_help = crate::commands::changelog::EXAMPLES)]
    #[command(args_conflicts_with_subcommands = true)]
    Changelog(Box<ChangelogArgs>),

    /// Write SHA256SUMS, SHA512SUMS and per-file digests for a release directory, or check them.
    #[command(long_about = crate::commands::checksum::LONG_ABOUT, after_help = crate::commands::checksum::EXAMPLES)]
    Checksum(ChecksumArgs),

    /// Upload a directory tree to gs://, s3:// or file:// (parallel, verified, idempotent).
    #[command(long_about = crate::commands::push::LONG_ABOUT, after_help = crate::commands::push::EXAMPLES)]
    Push(PushArgs),

    /// Build .deb and .rpm packages for several architectures, and signed apt/yum repositories.
    #[command(long_about = crate::commands::kubepkg::LONG_ABOUT, after_help = crate::commands::kubepkg::EXAMPLES)]
    #[command(disable_version_flag = true)]
    Kubepkg(Box<KubepkgArgs>),

    /// Sign files with a cosign-compatible key, verify signatures, make a key pair.
    #[command(subcommand, after_help = crate::commands::sign::EXAMPLES)]
    Sign(SignCommand),

    /// Create throwaway projects to rehearse releases on.
    #[command(subcommand, after_help = crate::commands::sandbox::EXAMPLES)]
    Sandbox(SandboxCommand),
}

/// `krel kubepkg` arguments.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("spec_source").required(true).args(["spec", "kubernetes"])))]
pub struct KubepkgArgs {
    /// The package spec (YAML); see docs/commands/kubepkg.md.
    #[arg(long, value_name = "FILE")]
    pub spec: Option<PathBuf>,

    /// Use the built-in spec: kubelet, kubeadm, kubectl, kubernetes-cni, cri-tools.
    #[arg(long)]
    pub kubernetes: bool,

    /// Only these packages of the spec (comma-separated; default: all).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub packages: Vec<String>,

    /// Component version, like 1.29.0 or v1.30.0-rc.1 (pre-releases get the ~ rule).
    #[arg(long, value_name = "V")]
    pub version: String,

    /// Package revision, kept apart from the version: 1.29.0 + 1.1 gives 1.29.0-1.1.
    #[arg(long, value_name = "R", default_value = "1.1")]
    pub revision: String,

    /// Version of one package when it is not --version (repeatable): kubernetes-cni=1.4.0.
    #[arg(long = "package-version", value_name = "NAME=V")]
    pub package_versions: Vec<String>,

    /// Architectures (comma-separated): amd64, arm64, ppc64le, s390x.
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "amd64,arm64,ppc64le,s390x"
    )]
    pub arch: Vec<String>,

    /// Where binaries are: a release tree or directory, or a gs://, s3:// or file:// URL.
    /// Repeatable; searched in order.
    #[arg(long, value_name = "DIR-or-URL")]
    pub source: Vec<String>,

    /// Output directory.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Formats (comma-separated): deb, rpm.
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "deb,rpm"
    )]
    pub format: Vec<String>,

    /// Payload compression: xz (default, read everywhere), gzip, or zstd (newer systems only).
    #[arg(long, value_name = "ALG", default_value = "xz")]
    pub compression: String,

    /// ASCII-armored OpenPGP secret key: signs RPMs and the repository metadata.
    /// A protected key's passphrase comes from KREL_PACKAGE_KEY_PASSPHRASE.
    #[arg(long, value_name = "KEY", env = "KREL_PACKAGE_SIGN_KEY")]
    pub sign_key: Option<PathBuf>,

    /// Also write apt and yum repositories under OUT/<channel>/v<major.minor>/{deb,rpm}.
    #[arg(long)]
    pub repo: bool,

    /// Repository channel (default: release for official versions, prerelease otherwise).
    #[arg(long, value_enum, requires = "repo")]
    pub channel: Option<ChannelArg>,

    /// Packages built at once (default: the number of CPUs).
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
}

/// A repository channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChannelArg {
    /// Official releases.
    Release,
    /// alpha, beta and rc.
    Prerelease,
    /// Builds between releases.
    Nightly,
}

/// `krel ff` arguments.
#[derive(Debug, Args)]
pub struct FfArgs {
    /// Release branch to fast-forward (default: the newest release-X.Y on the remote).
    #[arg(long, value_name = "BRANCH")]
    pub branch: Option<String>,

    /// Revision to merge (default: <remote>/<main branch>, e.g. origin/master).
    #[arg(long = "ref", value_name = "REF")]
    pub main_ref: Option<String>,

    /// Remote URL to clone when no --repo-path clone exists (default: git.url from krel.yaml).
    #[arg(long, value_name = "URL")]
    pub repo: Option<String>,

    /// A local clone to work in; cloned from --repo when the directory does not exist.
    /// Without it, krel keeps a bare clone per remote in its cache ($XDG_CACHE_HOME/krel/clones
    /// or ~/.cache/krel/clones) and fetches into it on later runs.
    #[arg(long, value_name = "DIR")]
    pub repo_path: Option<PathBuf>,

    /// Push without asking for confirmation (with --nomock).
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

/// `krel stage` arguments.
#[derive(Debug, Args)]
pub struct StageArgs {
    #[command(subcommand)]
    pub command: Option<StageCommand>,

    /// Release type.
    #[arg(long = "type", value_enum, value_name = "TYPE", required = true)]
    pub release_type: Option<ReleaseTypeArg>,

    /// The main branch, or a release branch (cut from the main branch when the remote does
    /// not have it yet).
    #[arg(long, value_name = "BRANCH", required = true)]
    pub branch: Option<String>,

    /// Build this platform only (OS/ARCH, one of build.platforms), for one job of a split
    /// stage; needs --split.
    #[arg(long, value_name = "OS/ARCH", requires = "split")]
    pub platform: Option<String>,

    /// Upload the build of --platform as a partial stage (stage-partial/<bv>/<os>-<arch>/)
    /// for `krel stage merge`, instead of staging the release. Needs --build-version, so
    /// that every job builds the same commit.
    #[arg(long, requires_all = ["platform", "build_version"])]
    pub split: bool,

    /// The commit to release, in `git describe` form (default: the head of the branch, or of
    /// the main branch for a branch cut, described).
    #[arg(long, value_name = "BV")]
    pub build_version: Option<String>,

    /// Where clones, builds and journals are kept (default: release.workspace, else
    /// ~/.local/share/krel/workspace).
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,

    /// Threads for hashing and signing, and uploads at once.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub jobs: usize,
}

/// `krel stage` subcommands.
#[derive(Debug, Subcommand)]
pub enum StageCommand {
    /// Stage the whole release from the partial stages of a split stage: check that every
    /// platform in build.platforms arrived, then checksum, attest, sign and upload all of it.
    #[command(long_about = crate::commands::stage::MERGE_LONG_ABOUT, after_help = crate::commands::stage::MERGE_EXAMPLES)]
    Merge(StageMergeArgs),
}

/// `krel stage merge` arguments.
#[derive(Debug, Args)]
pub struct StageMergeArgs {
    /// The build version the platform jobs staged.
    #[arg(long, value_name = "BV")]
    pub build_version: String,

    /// Where clones and journals are kept (default: release.workspace, else
    /// ~/.local/share/krel/workspace).
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,

    /// Threads for hashing and signing, and transfers at once.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub jobs: usize,
}

/// `krel rehearse` arguments.
#[derive(Debug, Args)]
pub struct RehearseArgs {
    /// Where the sandbox is made (a new or empty directory; default: a new temporary one).
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `krel release` arguments.
#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// The release type the build version was staged as.
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub release_type: ReleaseTypeArg,

    /// The branch it was staged from.
    #[arg(long, value_name = "BRANCH")]
    pub branch: String,

    /// The staged build version (`krel stage` prints it).
    #[arg(long, value_name = "BV")]
    pub build_version: String,

    /// The public key the stage was signed with (default: release.signing_key with `.pub`
    /// in place of `.key`).
    #[arg(long, value_name = "FILE")]
    pub public_key: Option<PathBuf>,

    /// Release notes (markdown, e.g. from `krel changelog`) for the GitHub release of the
    /// prime version.
    #[arg(long, value_name = "FILE")]
    pub notes: Option<PathBuf>,

    /// GitHub API base, for GitHub Enterprise or a stand-in.
    #[arg(
        long,
        value_name = "URL",
        env = "KREL_GITHUB_API_URL",
        default_value = "https://api.github.com"
    )]
    pub github_api_url: String,

    /// Where the downloaded stage and the restored source are kept (default:
    /// release.workspace, else ~/.local/share/krel/workspace).
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,

    /// Threads for verifying, and transfers at once.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub jobs: usize,

    /// Do not ask for confirmation before publishing with --nomock.
    #[arg(long)]
    pub non_interactive: bool,
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

/// `krel next-version` arguments.
#[derive(Debug, Args)]
pub struct NextVersionArgs {
    /// Release type.
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub release_type: ReleaseTypeArg,

    /// Build version to release, in Kubernetes' `git describe` form. Without it, krel
    /// describes --rev in --repo-path.
    #[arg(long, value_name = "BV")]
    pub build_version: Option<String>,

    /// Repository to describe when --build-version is not given.
    #[arg(
        long,
        value_name = "DIR",
        default_value = ".",
        conflicts_with = "build_version"
    )]
    pub repo_path: std::path::PathBuf,

    /// Revision to describe when --build-version is not given.
    #[arg(
        long,
        value_name = "REV",
        default_value = "HEAD",
        conflicts_with = "build_version"
    )]
    pub rev: String,

    /// Branch the release is cut from: the main branch or release-X.Y.
    #[arg(long, value_name = "BRANCH")]
    pub branch: String,

    /// The release branch does not exist yet: this release creates it (rc.0 and next alpha.0).
    #[arg(long)]
    pub cut_branch: bool,
}

/// `krel changelog` arguments.
#[derive(Debug, Args)]
pub struct ChangelogArgs {
    #[command(subcommand)]
    pub command: Option<ChangelogCommand>,

    #[command(flatten)]
    pub notes: NotesArgs,

    /// markdown (a CHANGELOG section) or json (notes keyed by PR number).
    #[arg(long, value_enum, default_value_t = NotesFormat::Markdown)]
    pub format: NotesFormat,

    /// Write here instead of stdout (`--output` is the global text/json switch).
    #[arg(long, value_name = "FILE")]
    pub output_file: Option<PathBuf>,
}

/// `krel changelog` subcommands.
#[derive(Debug, Subcommand)]
pub enum ChangelogCommand {
    /// Write or update CHANGELOG/CHANGELOG-X.Y.md with this release's section on top.
    Update {
        /// The release being documented.
        #[arg(long, value_name = "vX.Y.Z")]
        tag: String,
        /// Where the CHANGELOG files live (default: <repo-path>/CHANGELOG).
        #[arg(long, value_name = "DIR")]
        changelog_dir: Option<PathBuf>,
        #[command(flatten)]
        notes: NotesArgs,
    },
}

/// Output formats of `krel changelog`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NotesFormat {
    /// A Kubernetes CHANGELOG section.
    Markdown,
    /// Notes keyed by PR number.
    Json,
}

/// Where the notes come from.
#[derive(Debug, Args)]
pub struct NotesArgs {
    /// The previous release (exclusive), a tag or commit.
    #[arg(long, value_name = "REV")]
    pub start_rev: Option<String>,
    /// The new release's revision.
    #[arg(long, value_name = "REV")]
    pub end_rev: Option<String>,
    /// The repository to read the history from.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub repo_path: PathBuf,
    /// GitHub organisation (default: github.org from krel.yaml).
    #[arg(long, value_name = "ORG")]
    pub github_org: Option<String>,
    /// GitHub repository (default: github.repo from krel.yaml).
    #[arg(long, value_name = "REPO")]
    pub github_repo: Option<String>,
    /// GitHub API base, for GitHub Enterprise or a stand-in.
    #[arg(
        long,
        value_name = "URL",
        env = "KREL_GITHUB_API_URL",
        default_value = "https://api.github.com"
    )]
    pub github_api_url: String,
    /// Offline: a JSON array of pull requests in GitHub's REST shape; exactly these PRs are used.
    #[arg(long, value_name = "FILE")]
    pub prs: Option<PathBuf>,
    /// A directory of YAML map files overriding notes per PR.
    #[arg(long, value_name = "DIR")]
    pub map: Option<PathBuf>,
    /// The release's title (default: --end-rev).
    #[arg(long = "release-version", value_name = "vX.Y.Z")]
    pub release_version: Option<String>,
    /// The release's files for the Downloads tables: a directory (its archives are hashed),
    /// or a bucket URL (gs://, s3://, file://) whose SHA512SUMS lists them.
    #[arg(long, value_name = "DIR|URL")]
    pub downloads: Option<String>,
    /// Where the downloads are served from.
    #[arg(long, value_name = "URL", default_value = "https://dl.k8s.io")]
    pub downloads_url: String,
    /// Ignore cached pull requests and fetch them again (edited release notes).
    #[arg(long)]
    pub refresh: bool,
}

/// `krel checksum` arguments.
#[derive(Debug, Args)]
pub struct ChecksumArgs {
    /// The release directory.
    pub dir: PathBuf,

    /// Verify the directory against its SUMS and digest files instead of writing them.
    #[arg(long)]
    pub check: bool,

    /// Files hashed at once (default: the number of CPUs).
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
}

/// `krel push` arguments.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// The local directory to upload.
    pub src: PathBuf,

    /// Where to: gs://BUCKET/PREFIX, s3://BUCKET/PREFIX or file:///PATH.
    pub dest: String,

    /// Uploads at once (default 8).
    #[arg(short, long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,

    /// Replace objects that exist with different content (never done silently otherwise).
    #[arg(long)]
    pub allow_overwrite: bool,

    /// Attempts per request for transient failures (timeouts, resets, 408, 429, 5xx).
    #[arg(long, value_name = "N", default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub attempts: u32,
}

/// `krel sign` subcommands.
#[derive(Debug, Subcommand)]
pub enum SignCommand {
    /// Write <file>.sig for each file: base64 DER ECDSA P-256/SHA-256, as `cosign sign-blob --key`.
    #[command(long_about = crate::commands::sign::BLOBS_ABOUT, after_help = crate::commands::sign::EXAMPLES)]
    Blobs {
        /// Files, or directories (their artifacts and SHA256SUMS/SHA512SUMS).
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Private key: a cosign key (password from KREL_SIGNING_PASSWORD or a prompt) or a
        /// PEM PKCS#8/SEC1 EC P-256 key as openssl writes it.
        #[arg(long, value_name = "KEY")]
        key: PathBuf,
        /// Files signed at once (default: the number of CPUs).
        #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        jobs: Option<u16>,
    },
    /// Check <file>.sig for each file; any missing, malformed or wrong signature fails (exit 1).
    #[command(after_help = crate::commands::sign::EXAMPLES)]
    Verify {
        /// Files, or directories (their artifacts and SHA256SUMS/SHA512SUMS).
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Public key (`PUBLIC KEY` PEM, as cosign.pub).
        #[arg(long, value_name = "PUB")]
        key: PathBuf,
        /// Files verified at once (default: the number of CPUs).
        #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        jobs: Option<u16>,
    },
    /// Write a new key pair: <prefix>.key (encrypted, cosign format, mode 0600) and <prefix>.pub.
    #[command(name = "generate-key", after_help = crate::commands::sign::EXAMPLES)]
    GenerateKey {
        /// Path prefix of the two files.
        #[arg(long, value_name = "PREFIX", default_value = "cosign")]
        output_prefix: PathBuf,
    },
}

/// `krel sandbox` subcommands.
#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Create a throwaway project: upstream history, a bare remote, a clone and krel.yaml.
    #[command(after_help = crate::commands::sandbox::EXAMPLES)]
    Create {
        /// Directory to create (must not exist, or be empty).
        dir: PathBuf,
    },
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
