//! `krel kubepkg`: .deb and .rpm packages for several architectures, and signed apt/yum repositories.

use std::path::PathBuf;
use std::time::Instant;

use krel_kubepkg::{Channel, Effects, KubepkgRequest, SourceRoot, SpecSource};
use krel_package::{Arch, Compression, Format, PackageVersion, SigningKey, SigningKeys};

use crate::args::JobsArg;
use crate::cli::OutputFormat;
use crate::context::Context;
use crate::failure::Failure;
use crate::shell::Shell;
use krel_plan::Mode;

/// `krel kubepkg` arguments.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("spec_source").required(true).args(["spec", "kubernetes"])))]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Command>,

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
    // (An Option only so that `krel kubepkg promote` parses without it.)
    #[arg(long, value_name = "V", required = true)]
    pub version: Option<String>,

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
    #[arg(long, value_name = "DIR", required = true)]
    pub out: Option<PathBuf>,

    /// Formats (comma-separated): deb, rpm.
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "deb,rpm"
    )]
    pub format: Vec<String>,

    /// Payload compression: xz (default, read everywhere; each binary compressed once for its
    /// deb and its RPM), gzip, or zstd (newer systems only).
    #[arg(long, value_name = "ALG", default_value = "xz")]
    pub compression: String,

    #[command(flatten)]
    pub signing: SigningArgs,

    /// Also write apt and yum repositories under OUT/core:/<channel>:/v<major.minor>/{deb,rpm}.
    #[arg(long)]
    pub repo: bool,

    /// Repository channel (default: stable for official versions, prerelease for alpha, beta
    /// and rc).
    #[arg(long, value_enum, requires = "repo")]
    pub channel: Option<ChannelArg>,

    #[command(flatten)]
    pub jobs: JobsArg,
}

/// The signing keys and their expiry policy: the same for building and promoting.
#[derive(Debug, clap::Args)]
pub struct SigningArgs {
    /// ASCII-armored OpenPGP secret key: signs RPMs and the repository metadata. Give it
    /// twice to rotate keys: the first signs the RPMs, both sign the metadata, and Release.key
    /// carries both. A protected key's passphrase comes from KREL_PACKAGE_KEY_PASSPHRASE.
    #[arg(
        long,
        value_name = "KEY",
        env = "KREL_PACKAGE_SIGN_KEY",
        value_delimiter = ','
    )]
    pub sign_key: Vec<PathBuf>,

    /// Refuse a signing key that expires within this many days (one that has expired is
    /// always refused); warn within three times as many.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    pub key_expiry_window: u64,
}

/// `krel kubepkg` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Copy a version's published packages from one channel's repositories to another's
    /// (prerelease to stable), byte for byte, and sign the target's indexes.
    #[command(long_about = PROMOTE_LONG_ABOUT, disable_version_flag = true)]
    Promote(PromoteArgs),

    /// Check a published repository: every expected package, signatures by the expected key,
    /// indexes that agree with the files, dependencies that resolve.
    #[command(long_about = VERIFY_LONG_ABOUT, disable_version_flag = true)]
    Verify(VerifyArgs),
}

/// `krel kubepkg verify` arguments.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The repository of one channel and minor (the directory holding deb/ and rpm/, or its
    /// https:// URL), or the tree above it (then core:/<channel>:/vX.Y, the channel as
    /// --channel says).
    pub location: String,

    /// The Kubernetes version whose kubelet, kubeadm, kubectl and cri-tools must be there.
    #[arg(long, value_name = "V")]
    pub version: String,

    /// The public key(s) the indexes must be signed by (armored; Release.key is one).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,

    /// The repository's channel (default: the one LOCATION names, core:/<channel>:/, else
    /// the version's: stable, or prerelease for alpha, beta and rc). Over https it names the
    /// apt suite to read.
    #[arg(long, value_enum)]
    pub channel: Option<ChannelArg>,

    /// Architectures that must be there (default: all four).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub arch: Vec<String>,

    /// Packages a base system provides, besides the usual ones (iptables, mount, util-linux,
    /// systemd, ...), for dependencies outside the repository.
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub base: Vec<String>,
}

pub const VERIFY_LONG_ABOUT: &str = "\
Check a published apt and yum repository of one channel and minor, as a release manager would
before announcing it: kubelet, kubeadm and kubectl of --version and cri-tools of its minor, and
kubernetes-cni, for every architecture asked for, in both formats; InRelease, Release.gpg and
repomd.xml.asc signed by --key; Release's and repomd.xml's digests of the indexes, and every
package against its index entry; every dependency resolved by the repository or a base system.
Every problem is listed; exit 1 when there is one.";

/// `krel kubepkg promote` arguments.
#[derive(Debug, clap::Args)]
pub struct PromoteArgs {
    /// The channel the packages are in.
    #[arg(long, value_enum)]
    pub from: ChannelArg,

    /// The channel they go to.
    #[arg(long, value_enum)]
    pub to: ChannelArg,

    /// The version to promote (1.29.0), first; repeat or comma-separate for packages of other
    /// versions (kubernetes-cni 1.4.0). The first one's minor picks the repositories (v1.29).
    #[arg(long, value_name = "V", required = true, value_delimiter = ',')]
    pub version: Vec<String>,

    /// The tree holding the channels (as `krel kubepkg --repo --out` wrote it).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Packages a base system provides, besides the usual ones (iptables, mount, util-linux,
    /// systemd, ...): dependencies the target repository need not hold.
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub base: Vec<String>,

    #[command(flatten)]
    pub signing: SigningArgs,
}

pub const PROMOTE_LONG_ABOUT: &str = "\
Copy a version's packages from one channel's repositories to another's of the same minor
(OUT/core:/prerelease:/v1.29 to OUT/core:/stable:/v1.29), exactly as published: each package is
the file its source index lists, checked by digest before and after the copy, never rebuilt.
Then the target's apt and yum indexes are written (what they list stays) and signed with
--sign-key. A package the target already has with the same bytes is left alone. Refused before
anything changes (each named): one with other bytes; a version of which nothing is published; a
promoted package whose dependency the target would not hold (promote kubernetes-cni's own
version with it: --version 1.29.1,1.4.0; --base as for verify); a signed target without
--sign-key (rewriting it unsigned would break every client).

Mock (default) prints the plan and changes nothing; --nomock carries it out.";

/// A repository channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ChannelArg {
    /// Official releases (`release` is accepted for it).
    #[value(alias = "release")]
    Stable,
    /// alpha, beta and rc.
    Prerelease,
    /// Builds between releases.
    Nightly,
}

pub const LONG_ABOUT: &str = "\
Build Debian and RPM packages from a spec (--spec FILE) or the built-in Kubernetes spec
(--kubernetes: kubelet with its systemd unit, kubeadm with the kubelet drop-in, kubectl,
kubernetes-cni, cri-tools), for every architecture asked for, with no dpkg-deb or rpmbuild.

The component version and the package revision stay apart: --version 1.29.0 --revision 1.1
gives deb 1.29.0-1.1 and rpm Version 1.29.0, Release 1.1. Pre-releases take the tilde rule
(1.30.0~rc.1) so that apt and dnf sort them before the final release.

Binaries come from --source: a release tree (bin/linux/<arch>/kubelet, as `krel stage` writes
under release/<version>/), any directory, or a gs://, s3:// or file:// URL; repeat it to search
several. RPMs are signed with --sign-key (an ASCII-armored OpenPGP secret key). With
SOURCE_DATE_EPOCH set, the same inputs give byte-identical packages.

With --repo, the packages are filed into one apt and one yum repository per channel and minor
version, as pkgs.k8s.io (OUT/core:/stable:/v1.29/deb and .../rpm; core:/prerelease:/ for alpha,
beta and rc), with Packages, Release,
InRelease, Release.gpg and repodata/repomd.xml(.asc) written beside them. Packages already in
the repository stay listed; a listed package whose name is already there with other bytes is
refused (one no index lists, left by an interrupted run, is replaced).
Push the tree with `krel push` and serve it as static files.

Nothing is half-written: every package is built before any is moved into OUT, and one run at a
time holds OUT (a second is refused with exit 1).";

pub const EXAMPLES: &str = "\
Examples:
  Kubernetes packages from a staged release, signed, as a repository:
    krel kubepkg --kubernetes --version 1.29.0 --revision 1.1 \\
      --source gs://my-bucket/release/v1.29.0 --source ./third-party \\
      --sign-key release-key.asc --repo --out ./site
    krel push ./site gs://my-packages --nomock

  Use it (apt):
    curl -fsSL https://packages.example.com/core:/stable:/v1.29/deb/Release.key \\
      | sudo gpg --dearmor -o /etc/apt/keyrings/kubernetes.gpg
    echo 'deb [signed-by=/etc/apt/keyrings/kubernetes.gpg] https://packages.example.com/core:/stable:/v1.29/deb stable main' \\
      | sudo tee /etc/apt/sources.list.d/kubernetes.list

  Your own spec, amd64 only, debs only:
    krel kubepkg --spec packaging/spec.yaml --version 2.3.0 --arch amd64 --format deb \\
      --source _output --out dist

  Rotate the signing key (both sign the metadata until users have the new one):
    krel kubepkg --kubernetes --version 1.29.1 --source ... --repo --out ./site \\
      --sign-key new-key.asc --sign-key old-key.asc

  Promote a tested version from prerelease to stable, then check what users will get:
    krel kubepkg promote --from prerelease --to stable --version 1.29.0 --out ./site \\
      --sign-key release-key.asc --nomock
    krel push ./site gs://my-packages --nomock --allow-overwrite
    krel kubepkg verify https://packages.example.com --version 1.29.0 --key Release.key";

/// Runs `krel kubepkg`.
pub fn exec(ctx: &Context, args: &Args, shell: &Shell) -> Result<(), Failure> {
    match &args.command {
        Some(Command::Promote(promote_args)) => return promote(ctx, promote_args, shell),
        Some(Command::Verify(verify_args)) => return verify(ctx, verify_args, shell),
        None => {}
    }
    let started = Instant::now();
    let request = request(ctx, args, shell)?;
    let progress = Progress::new(shell);
    let runtime = ctx.runtime()?;
    let effects = Effects {
        runtime: &runtime,
        store_env: &ctx.store_env(),
    };
    let summary = krel_kubepkg::run(&request, &effects, &progress)?;
    progress.finish();
    for package in summary.packages.iter().filter(|p| p.replaced_orphan) {
        shell.warn(&format!(
            "{} was in the repository but in no index (left by an interrupted run): replaced",
            package.path.display()
        ));
    }
    let changed = summary.packages.iter().filter(|p| !p.unchanged).count();
    shell.status(
        "Built",
        format!(
            "{} packages ({} new, {} already there) in {:.2?}",
            summary.packages.len(),
            changed,
            summary.packages.len() - changed,
            started.elapsed()
        ),
    );
    match shell.output() {
        OutputFormat::Text => {
            for package in &summary.packages {
                shell.data(package.path.display().to_string());
            }
            for repo in &summary.repositories {
                shell.status(
                    "Indexed",
                    format!(
                        "{} repository {} ({} packages, {})",
                        repo.format,
                        repo.root.display(),
                        repo.packages,
                        if repo.signed { "signed" } else { "UNSIGNED" }
                    ),
                );
            }
            if !summary.repositories.is_empty() && summary.fingerprint.is_none() {
                shell.warn("the repositories are not signed: apt and dnf refuse them unless told to trust them; pass --sign-key");
            }
        }
        OutputFormat::Json => shell.json(&summary),
    }
    Ok(())
}

/// Loads the signing keys (current first) and applies the expiry policy: an expired key, or one
/// that expires within `window_days`, is refused before anything is built (the v1.24–v1.27
/// repositories broke for every user when their key expired); within three windows, a warning
/// says the key needs rotating.
fn load_keys(
    ctx: &Context,
    shell: &Shell,
    signing: &SigningArgs,
) -> Result<Option<SigningKeys>, Failure> {
    let (paths, window_days) = (&signing.sign_key, signing.key_expiry_window);
    let passphrase = ctx.env.non_empty("KREL_PACKAGE_KEY_PASSPHRASE");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut keys = Vec::new();
    for (index, path) in paths.iter().enumerate() {
        let key = SigningKey::load(path, passphrase.clone()).map_err(|err| {
            Failure::usage(err).with_hint(Some(
                "--sign-key takes an ASCII-armored secret key: gpg --armor --export-secret-keys KEYID > key.asc".into(),
            ))
        })?;
        if let Some(expires) = key.expires_at() {
            let date =
                chrono::DateTime::from_timestamp(i64::try_from(expires).unwrap_or(i64::MAX), 0)
                    .map(|d| d.format("%Y-%m-%d").to_string())
                    .unwrap_or_else(|| expires.to_string());
            let left_days = expires.saturating_sub(now) / 86_400;
            let what = format!("signing key {} ({})", key.fingerprint(), path.display());
            let rotate = "rotate it: give the new key first and this one second (--sign-key NEW --sign-key OLD) until users have the new key, or extend its expiry (gpg --quick-set-expire) and publish Release.key again";
            if expires <= now {
                return Err(Failure::refused(anyhow::anyhow!(
                    "{what} expired on {date}: apt and dnf refuse what it signs"
                ))
                .with_hint(Some(rotate.into())));
            }
            // The window holds the key that signs alone from now on (the first); an older key
            // kept for a rotation only adds its signature until users have the new one.
            if left_days < window_days && index == 0 {
                return Err(Failure::refused(anyhow::anyhow!("{what} expires on {date}, in {left_days} day(s), within --key-expiry-window {window_days}")).with_hint(Some(rotate.into())));
            }
            if left_days < window_days.saturating_mul(3) && index == 0 {
                shell.warn(&format!(
                    "{what} expires on {date}, in {left_days} days: {rotate}"
                ));
            } else if left_days < window_days {
                shell.warn(&format!(
                    "{what}, kept for the rotation, expires on {date}, in {left_days} days: drop it once users have the new key"
                ));
            }
        }
        keys.push(key);
    }
    Ok(SigningKeys::new(keys))
}

fn request(ctx: &Context, args: &Args, shell: &Shell) -> Result<KubepkgRequest, Failure> {
    let usage = |message: String| Failure::usage(anyhow::anyhow!(message));
    // clap requires both when building; they are options only for `krel kubepkg promote`.
    let (Some(version_arg), Some(out)) = (&args.version, &args.out) else {
        return Err(usage("--version and --out are required".into()));
    };
    let spec = match (&args.spec, args.kubernetes) {
        (Some(path), false) => SpecSource::File(path.clone()),
        (None, true) => SpecSource::Kubernetes,
        _ => {
            return Err(usage(
                "give exactly one of --spec FILE and --kubernetes".into(),
            ))
        }
    };
    let mut arches = Vec::new();
    for name in &args.arch {
        let arch = name
            .parse::<Arch>()
            .map_err(|err| usage(format!("--arch: {err}")))?;
        if !arches.contains(&arch) {
            arches.push(arch);
        }
    }
    let mut formats = Vec::new();
    for name in &args.format {
        let format = match name.trim() {
            "deb" => Format::Deb,
            "rpm" => Format::Rpm,
            other => {
                return Err(usage(format!(
                    "--format: unknown format `{other}`: use deb, rpm or deb,rpm"
                )))
            }
        };
        if !formats.contains(&format) {
            formats.push(format);
        }
    }
    let compression: Compression = args
        .compression
        .parse()
        .map_err(|err: String| usage(format!("--compression: {err}")))?;
    let mut package_versions = Vec::new();
    for pair in &args.package_versions {
        let (name, version) = pair.split_once('=').ok_or_else(|| {
            usage(format!(
                "--package-version {pair}: write NAME=VERSION, like kubernetes-cni=1.4.0"
            ))
        })?;
        package_versions.push((name.trim().to_string(), version.trim().to_string()));
    }
    // Checked here too, because the default channel depends on it.
    let version = PackageVersion::new(version_arg, &args.revision)
        .map_err(|err| {
            usage(format!("--version/--revision: {err}")).with_hint(Some(
                "--version is the component version (1.29.0, v1.30.0-rc.1); --revision the package revision (1.1)".into(),
            ))
        })?;
    let channel = args
        .repo
        .then(|| args.channel.map_or_else(|| Channel::of(&version), channel));
    if channel == Some(Channel::Stable) && version.is_prerelease() {
        return Err(usage(format!(
            "{} is a pre-release: it goes to the prerelease (or nightly) channel, not stable",
            version_arg
        )));
    }
    let mut sources = Vec::new();
    for text in &args.source {
        sources.push(SourceRoot::parse(text).map_err(|err| usage(err.to_string()))?);
    }
    let keys = load_keys(ctx, shell, &args.signing)?;
    let mtime = match ctx.env.var("SOURCE_DATE_EPOCH") {
        Some(text) if !text.trim().is_empty() => text.trim().parse::<u64>().map_err(|_| {
            usage(format!(
                "SOURCE_DATE_EPOCH={text} is not a number of seconds since 1970"
            ))
        })?,
        _ => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    };
    Ok(KubepkgRequest {
        spec,
        packages: args
            .packages
            .iter()
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect(),
        version: version_arg.clone(),
        revision: args.revision.clone(),
        arches,
        formats,
        package_versions,
        sources,
        out: out.clone(),
        compression,
        keys,
        repo: channel,
        mtime,
        jobs: args.jobs.or_cpus(),
    })
}

/// A package-count bar on a terminal; plain lines otherwise (unless --quiet).
struct Progress<'a> {
    shell: &'a Shell,
    bar: Option<indicatif::ProgressBar>,
}

impl<'a> Progress<'a> {
    fn new(shell: &'a Shell) -> Progress<'a> {
        let bar = shell
            .progress_allowed()
            .then(|| indicatif::ProgressBar::new(0));
        Progress { shell, bar }
    }

    /// Shows a new count (bytes compressed, then packages built) from zero out of `len`.
    fn restart(bar: &indicatif::ProgressBar, prefix: &'static str, template: &str, len: u64) {
        let style = indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(prefix);
        bar.set_position(0);
        bar.set_length(len);
        bar.set_message("");
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl krel_kubepkg::Progress for Progress<'_> {
    fn compressing(&self, bytes: u64) {
        match &self.bar {
            Some(bar) => Self::restart(
                bar,
                "Compressing",
                "{prefix:>12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg}",
                bytes,
            ),
            None => self.shell.status(
                "Compressing",
                format!(
                    "{} of binaries, each once for all its packages",
                    indicatif::HumanBytes(bytes)
                ),
            ),
        }
    }

    fn compressed(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    fn start(&self, total: usize) {
        match &self.bar {
            Some(bar) => Self::restart(
                bar,
                "Packaging",
                "{prefix:>12} [{bar:30}] {pos}/{len} packages {msg}",
                total as u64,
            ),
            None => self.shell.status("Packaging", format!("{total} packages")),
        }
    }

    fn built(&self, file_name: &str, bytes: u64) {
        match &self.bar {
            Some(bar) => {
                bar.inc(1);
                bar.set_message(file_name.to_string());
            }
            None => {
                self.shell.status(
                    "Built",
                    format!("{file_name} ({})", indicatif::HumanBytes(bytes)),
                );
            }
        }
    }

    fn indexing(&self, what: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("indexing {what}"));
        } else {
            self.shell.status("Indexing", what);
        }
    }
}

fn channel(arg: ChannelArg) -> Channel {
    match arg {
        ChannelArg::Stable => Channel::Stable,
        ChannelArg::Prerelease => Channel::Prerelease,
        ChannelArg::Nightly => Channel::Nightly,
    }
}

/// Runs `krel kubepkg promote`: the plan, printed; carried out with --nomock.
fn promote(ctx: &Context, args: &PromoteArgs, shell: &Shell) -> Result<(), Failure> {
    use krel_kubepkg::promote::{execute_promote, plan_promote, PromoteRequest};
    let usage = |message: String| Failure::usage(anyhow::anyhow!(message));
    if args.from == args.to {
        return Err(usage("--from and --to name the same channel".into()));
    }
    // Every version as the packages spell it (1.30.0-rc.1 is 1.30.0~rc.1), all of one minor.
    let mut versions = Vec::new();
    for given in &args.version {
        let version = PackageVersion::new(given.trim().trim_start_matches('v'), "1")
            .map_err(|err| usage(format!("--version {given}: {err}")))?;
        if channel(args.to) == Channel::Stable && version.is_prerelease() {
            return Err(usage(format!(
                "{given} is a pre-release: it does not go to the stable channel"
            )));
        }
        versions.push(version);
    }
    let Some(version) = versions.first() else {
        return Err(usage("--version names no version".into()));
    };
    let keys = load_keys(ctx, shell, &args.signing)?;
    let request = PromoteRequest {
        out: args.out.clone(),
        from: channel(args.from),
        to: channel(args.to),
        minor: version.minor_series(),
        versions: versions.iter().map(|v| v.upstream().to_string()).collect(),
        signing: keys.is_some(),
        base: args.base.clone(),
    };
    let plan = plan_promote(&request)?;
    if shell.output() == OutputFormat::Text {
        shell.data(format!(
            "Plan{}: promote {} package(s) from {} to {}",
            if ctx.mode == Mode::Mock {
                " (mock: nothing will be changed)"
            } else {
                ""
            },
            plan.copies.len(),
            plan.from.display(),
            plan.to.display()
        ));
        for (index, copy) in plan.copies.iter().enumerate() {
            shell.data(format!(
                "  {}. copy {} (sha256 {})",
                index + 1,
                copy.rel,
                &copy.sha256[..16]
            ));
        }
        shell.data(format!(
            "  {}. write and sign the apt and yum indexes of {}",
            plan.copies.len() + 1,
            plan.to.display()
        ));
        if !plan.present.is_empty() {
            shell.status(
                "Present",
                format!(
                    "{} package(s) already in {}",
                    plan.present.len(),
                    plan.to.display()
                ),
            );
        }
    }
    if ctx.mode == Mode::NoMock {
        let date = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let date = ctx
            .source_date_epoch()?
            .map_or(date, |epoch| u64::try_from(epoch).unwrap_or(date));
        execute_promote(&args.out, &plan, keys.as_ref(), date)?;
        shell.status(
            "Promoted",
            format!("{} package(s) to {}", plan.copies.len(), plan.to.display()),
        );
    } else if shell.output() == OutputFormat::Text {
        shell.note("\nMock run: nothing changed. Run again with --nomock to carry the plan out.");
    }
    if shell.output() == OutputFormat::Json {
        shell.json(&serde_json::json!({"mode": ctx.mode, "plan": plan}));
    }
    Ok(())
}

/// Runs `krel kubepkg verify`.
fn verify(ctx: &Context, args: &VerifyArgs, shell: &Shell) -> Result<(), Failure> {
    use krel_kubepkg::verify::{verify_repo, VerifyRequest};
    let usage = |message: String| Failure::usage(anyhow::anyhow!(message));
    let version = PackageVersion::new(&args.version, "1")
        .map_err(|err| usage(format!("--version {}: {err}", args.version)))?;
    let keys = krel_package::PublicKeys::load(&args.key).map_err(Failure::usage)?;
    let channel = args
        .channel
        .map(channel)
        .or_else(|| Channel::named_in(&args.location))
        .unwrap_or_else(|| Channel::of(&version));
    let minor = version.minor_series();
    let (_registered, downloaded) =
        krel_fs::scratch::temp_dir(&std::env::temp_dir(), "krel-kubepkg-verify-")
            .map_err(|err| Failure::unexpected(anyhow::Error::new(err)))?;
    let mut root = PathBuf::from(&args.location);
    if args.location.starts_with("https://") || args.location.starts_with("http://") {
        let mut base = args.location.trim_end_matches('/').to_string();
        if !base.ends_with(&format!("/{minor}")) {
            base = format!("{base}/{}/{minor}", channel.dir());
        }
        shell.status(
            "Downloading",
            format!("{base} (what apt and dnf would read)"),
        );
        let runtime = ctx.runtime()?;
        let fetched = runtime.block_on(krel_kubepkg::mirror::mirror(
            &base,
            channel.as_str(),
            downloaded.path(),
        ))?;
        shell.status("Downloaded", format!("{fetched} file(s)"));
        root = downloaded.path().to_path_buf();
    } else if !root.join("deb").is_dir() && !root.join("rpm").is_dir() {
        root = root.join(channel.dir()).join(&minor);
        if !root.is_dir() {
            return Err(usage(format!(
                "{} is neither a repository (deb/, rpm/) nor a tree holding {}/{minor}",
                args.location,
                channel.dir()
            )));
        }
    }
    // What messages call the repository: its URL, not the temporary mirror.
    let shown = if root.starts_with(downloaded.path()) {
        args.location.clone()
    } else {
        root.display().to_string()
    };
    let arches = if args.arch.is_empty() {
        Arch::ALL.to_vec()
    } else {
        args.arch
            .iter()
            .map(|a| {
                a.parse::<Arch>()
                    .map_err(|err| usage(format!("--arch {a}: {err}")))
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    let semver = version.semver();
    let upstream = version.upstream().replacen('~', "-", 1);
    let expected = vec![
        ("kubelet".to_string(), Some(upstream.clone())),
        ("kubeadm".to_string(), Some(upstream.clone())),
        ("kubectl".to_string(), Some(upstream)),
        (
            "cri-tools".to_string(),
            Some(format!("{}.{}.0", semver.major, semver.minor)),
        ),
        ("kubernetes-cni".to_string(), None),
    ];
    let mut base: Vec<String> = krel_kubepkg::verify::BASE_SYSTEM
        .iter()
        .map(|s| s.to_string())
        .collect();
    base.extend(args.base.iter().cloned());
    let report = verify_repo(&VerifyRequest {
        root: &root,
        name: &shown,
        keys: &keys,
        expected,
        arches,
        base,
    })?;
    if shell.output() == OutputFormat::Json {
        shell.json(&report);
    } else {
        shell.status(
            "Checked",
            format!(
                "{shown}: {} signature(s) verified with {}, {} file(s) against their indexes, dependencies of {} package(s)",
                report.signatures,
                keys.fingerprints().join(", "),
                report.files,
                report.packages,
            ),
        );
    }
    if report.problems.is_empty() {
        return Ok(());
    }
    Err(Failure::refused(anyhow::anyhow!(
        "{shown} is not as it should be:\n  - {}",
        report.problems.join("\n  - ")
    ))
    .with_hint(Some("republish what is missing or damaged (a rerun of krel kubepkg --repo restores indexes), then verify again".into())))
}
