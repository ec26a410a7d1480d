//! `krel changelog`: release notes from pull requests, rendered as a Kubernetes CHANGELOG.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use krel_github::{GitHub, GitHubConfig, PullRequest, User};
use krel_notes::{
    changelog_file, dependencies_section, downloads_section, maps, notes_from_prs, pr_commits,
    Document, DownloadFile, DownloadImage,
};

use crate::args::GitHubApiArg;
use crate::context::Context;
use crate::failure::Failure;
use crate::shell::Shell;

/// `krel changelog` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub notes: NotesArgs,

    /// markdown (a CHANGELOG section) or json (notes keyed by PR number); default markdown,
    /// json on stdout with the global `--output json` (not into --output-file).
    #[arg(long, value_enum)]
    pub format: Option<NotesFormat>,

    /// Write here instead of stdout (`--output` is the global text/json switch).
    #[arg(long, value_name = "FILE")]
    pub output_file: Option<PathBuf>,
}

/// `krel changelog` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Write or update CHANGELOG/CHANGELOG-X.Y.md: this release's section on top, or in place of
    /// its earlier one.
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NotesFormat {
    /// A Kubernetes CHANGELOG section.
    Markdown,
    /// Notes keyed by PR number.
    Json,
}

/// Where the notes come from.
#[derive(Debug, clap::Args)]
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
    #[command(flatten)]
    pub github: GitHubApiArg,
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

pub const LONG_ABOUT: &str = "\
Release notes from the pull requests merged between two revisions, as Kubernetes publishes them.

Which PRs: the first-parent history from --end-rev back to the merge base with --start-rev,
and the line a merge that names no PR brought in (a code-freeze krel ff: main's new PRs);
each commit's PR number comes from `Merge pull request #N`, `automated-cherry-pick-of-#N`, a
squashed revert or a squash title `… (#N)`. PRs are fetched from GitHub in GraphQL batches of
100 (GITHUB_TOKEN; --github-api-url for GitHub Enterprise), at most two queries in flight,
honouring primary and secondary rate limits, and cached on disk: a rerun asks only for PRs it has not seen (--refresh to ask
again). Offline, --prs FILE takes a JSON array of PRs in GitHub's REST shape.

The note is the PR's ```release-note block; NONE, N/A, /release-note-none or the label
release-note-none leave the PR out; the label release-note-action-required puts it under
Urgent Upgrade Notes; kind/* labels pick the section, sig/* labels the [SIG …] suffix. Robot
cherry-picks credit the original author. --map DIR applies YAML overrides per PR.

`krel changelog update --tag vX.Y.Z` writes CHANGELOG/CHANGELOG-X.Y.md: this release on top (or
in place of its earlier section), the table of contents regenerated. --downloads of another
version than the notes' is refused.";

pub const EXAMPLES: &str = "\
Examples:
  krel changelog --start-rev v1.30.0 --end-rev v1.30.1 --repo-path ~/src/kubernetes
  krel changelog --start-rev v1.30.0 --end-rev HEAD --format json --output-file notes.json
  krel changelog --prs prs.json --release-version v1.30.1 --start-rev v1.30.0   # offline
  krel changelog update --tag v1.30.1 --start-rev v1.30.0 --end-rev v1.30.1 \\
    --downloads _output/release-tars";

/// Runs `krel changelog` and `krel changelog update`.
pub fn exec(ctx: &Context, args: &Args, shell: &Shell) -> Result<(), Failure> {
    match &args.command {
        None => {
            let document = build(ctx, &args.notes, None, shell)?;
            // `--output json` asks for JSON on stdout; a file is what --format says (Markdown by
            // default), whatever KREL_OUTPUT a job exports.
            let format = args
                .format
                .unwrap_or(match (shell.output(), &args.output_file) {
                    (crate::cli::OutputFormat::Json, None) => NotesFormat::Json,
                    _ => NotesFormat::Markdown,
                });
            let text = match format {
                NotesFormat::Markdown => document.markdown(),
                NotesFormat::Json => document.json() + "\n",
            };
            match &args.output_file {
                Some(path) => {
                    write_file(path, &text)?;
                    shell.status("Wrote", path.display().to_string());
                }
                None => shell.data(text.trim_end()),
            }
            Ok(())
        }
        Some(Command::Update {
            tag,
            changelog_dir,
            notes,
        }) => {
            let version: krel_version::Version = tag.parse().map_err(Failure::usage)?;
            let document = build(ctx, notes, Some(tag), shell)?;
            let dir = changelog_dir
                .clone()
                .unwrap_or_else(|| notes.repo_path.join("CHANGELOG"));
            let path = dir.join(changelog_file::file_name(version.major, version.minor));
            let existing = match std::fs::read_to_string(&path) {
                Ok(text) => Some(text),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
                // Never rewrite a CHANGELOG that could not be read: it would lose its history.
                Err(err) => {
                    return Err(Failure::unexpected(
                        anyhow::Error::new(err).context(format!("reading {}", path.display())),
                    ))
                }
            };
            let text = changelog_file::update(existing.as_deref(), tag, &document.markdown());
            write_file(&path, &text)?;
            shell.status("Updated", format!("{} with {tag}", path.display()));
            shell.data(path.display().to_string());
            Ok(())
        }
    }
}

fn write_file(path: &Path, text: &str) -> Result<(), Failure> {
    let fail = |err: std::io::Error| {
        Failure::unexpected(anyhow::Error::new(err).context(format!("writing {}", path.display())))
    };
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    krel_fs::write_atomic(path, text.as_bytes(), 0o644, krel_fs::Replace::Always).map_err(fail)
}

fn build(
    ctx: &Context,
    args: &NotesArgs,
    tag: Option<&String>,
    shell: &Shell,
) -> Result<Document, Failure> {
    let (prs, commits, originals, repo) = match &args.prs {
        Some(file) => {
            let text = std::fs::read_to_string(file).map_err(|err| {
                Failure::usage(
                    anyhow::Error::new(err).context(format!("reading {}", file.display())),
                )
            })?;
            let prs: Vec<PullRequest> = serde_json::from_str(&text).map_err(|err| {
                Failure::usage(anyhow::anyhow!("{}: not a JSON array of pull requests: {err}", file.display()))
                    .with_hint(Some("each PR needs number, user.login, user.html_url and html_url, as GitHub's REST API returns them".into()))
            })?;
            let originals: BTreeMap<u64, User> =
                prs.iter().map(|pr| (pr.number, pr.user.clone())).collect();
            (prs, BTreeMap::new(), originals, None)
        }
        None => fetch(ctx, args, shell)?,
    };
    let mut gathered = notes_from_prs(&prs, &commits, &originals);
    shell.status(
        "Notes",
        format!(
            "{} release notes from {} pull requests ({} without a note)",
            gathered.notes.len(),
            prs.len(),
            gathered.skipped.len()
        ),
    );
    if let Some(dir) = &args.map {
        let found = maps::read_maps(dir).map_err(|err| {
            Failure::usage(err).with_hint(Some("map files hold pr and releasenote {text, author, sigs, kinds, areas, feature, action_required, do_not_publish}".into()))
        })?;
        maps::apply_maps(&mut gathered.notes, &found).map_err(Failure::usage)?;
    }
    let version = tag
        .cloned()
        .or_else(|| args.release_version.clone())
        .or_else(|| args.end_rev.clone())
        .unwrap_or_else(|| "Unreleased".to_string());
    let downloads = match &args.downloads {
        Some(source) => {
            let images = download_images(ctx, source)?;
            check_downloads_version(&version, source, &images)?;
            downloads_section(
                &version,
                &args.downloads_url,
                &download_files(ctx, source)?,
                &images,
            )
        }
        None => None,
    };
    let dependencies = match (&repo, &args.start_rev, &args.end_rev) {
        (Some(repo), Some(start), Some(end)) => dependencies(repo, start, end)?,
        _ => None,
    };
    Ok(Document {
        version,
        previous: args.start_rev.clone(),
        notes: gathered.notes,
        downloads,
        dependencies,
    })
}

type Fetched = (
    Vec<PullRequest>,
    BTreeMap<u64, String>,
    BTreeMap<u64, User>,
    Option<krel_git::Repo>,
);

fn fetch(ctx: &Context, args: &NotesArgs, shell: &Shell) -> Result<Fetched, Failure> {
    let (Some(start), Some(end)) = (&args.start_rev, &args.end_rev) else {
        return Err(Failure::usage(anyhow::anyhow!(
            "--start-rev and --end-rev are needed to find the pull requests"
        ))
        .with_hint(Some(
            "or pass --prs FILE with the pull requests to use".into(),
        )));
    };
    let repo = krel_git::Repo::open(&args.repo_path)?;
    let walk = std::time::Instant::now();
    let numbers = pr_commits(&repo, start, end)?;
    shell.status(
        "History",
        format!(
            "{} pull requests between {start} and {end} ({:.1?})",
            numbers.len(),
            walk.elapsed()
        ),
    );
    let commits: BTreeMap<u64, String> = numbers.iter().cloned().collect();
    let project = ctx.config()?;
    let mut config = GitHubConfig::new(
        args.github_org.as_deref().unwrap_or(&project.github.org),
        args.github_repo.as_deref().unwrap_or(&project.github.repo),
    );
    config.api_url = args.github.github_api_url.clone();
    config.token = ctx.credentials().token;
    config.cache_dir = (!args.refresh).then(|| ctx.cache_dir().join("github"));
    let runtime = ctx.runtime()?;
    let (prs, originals, stats) = runtime.block_on(async {
        let github = GitHub::new(config)?;
        let wanted: Vec<u64> = numbers.iter().map(|(n, _)| *n).collect();
        let (prs, mut stats) = github.pull_requests(&wanted).await?;
        // Robot cherry-picks: fetch the originals to credit their authors.
        let origins: Vec<u64> = prs
            .iter()
            .filter_map(krel_notes::cherry_pick_origin)
            .collect();
        let mut originals = BTreeMap::new();
        if !origins.is_empty() {
            let (found, more) = github.pull_requests(&origins).await?;
            stats.requests += more.requests;
            stats.cached += more.cached;
            originals = found.into_iter().map(|pr| (pr.number, pr.user)).collect();
        }
        Ok::<_, krel_github::GitHubError>((prs, originals, stats))
    })?;
    shell.status(
        "GitHub",
        format!(
            "{} pull requests: {} fetched in {} request(s), {} from the cache{}",
            prs.len(),
            stats.fetched,
            stats.requests,
            stats.cached,
            if stats.missing.is_empty() {
                String::new()
            } else {
                format!(
                    ", {} numbers are not pull requests ({:?})",
                    stats.missing.len(),
                    stats.missing
                )
            }
        ),
    );
    Ok((prs, commits, originals, Some(repo)))
}

/// `--downloads` must be the documented version's: its location named after another version
/// (`…/release/v1.11.0` for v1.12.0), or an image tagged with another, is refused.
fn check_downloads_version(
    version: &str,
    source: &str,
    images: &[DownloadImage],
) -> Result<(), Failure> {
    let Ok(documented) = version.parse::<krel_version::Version>() else {
        return Ok(());
    };
    let named = source
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("");
    let image_tags = images.iter().filter_map(|image| {
        let name = image.reference.split('@').next()?;
        let (_, tag) = name
            .rsplit_once(':')
            .filter(|(_, tag)| !tag.contains('/'))?;
        Some(tag)
    });
    let other = std::iter::once(named).chain(image_tags).find(|found| {
        found
            .parse::<krel_version::Version>()
            .is_ok_and(|found| found != documented)
    });
    match other {
        None => Ok(()),
        Some(other) => Err(Failure::usage(anyhow::anyhow!(
            "--downloads {source} holds the downloads of {other}, and these notes are for {version}"
        ))
        .with_hint(Some(format!(
            "pass the downloads of {version} (…/release/{version}), or --release-version/--tag of the version they are"
        )))),
    }
}

fn is_archive(name: &str) -> bool {
    [".tar.gz", ".tgz", ".zip", ".tar.xz"]
        .iter()
        .any(|s| name.ends_with(s))
}

/// Top-level release archives with their SHA-512: from a bucket's SHA512SUMS, or by hashing
/// the files of a directory.
fn download_files(ctx: &Context, source: &str) -> Result<Vec<DownloadFile>, Failure> {
    if source.contains("://") {
        return bucket_download_files(ctx, source);
    }
    let dir = Path::new(source);
    let entries = std::fs::read_dir(dir).map_err(|err| {
        Failure::usage(
            anyhow::Error::new(err)
                .context(format!("reading downloads directory {}", dir.display())),
        )
    })?;
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !is_archive(&name) || !entry.path().is_file() {
            continue;
        }
        let digests = krel_checksum::hash_file(&entry.path()).map_err(|err| {
            Failure::unexpected(
                anyhow::Error::new(err).context(format!("reading {}", entry.path().display())),
            )
        })?;
        files.push(DownloadFile {
            name,
            sha512: digests.sha512,
        });
    }
    Ok(files)
}

/// The release's container images, from `images.json` beside its files (none when the
/// release has no images).
fn download_images(ctx: &Context, source: &str) -> Result<Vec<DownloadImage>, Failure> {
    let name = krel_release::stage::images::IMAGE_LIST;
    let bytes = if source.contains("://") {
        use krel_storage::{Location, Store};
        let location: Location = source.parse()?;
        let runtime = ctx.runtime()?;
        let env = ctx.store_env();
        runtime.block_on(async {
            Store::open(&location, &env)
                .await?
                .read(&location.key(name))
                .await
        })?
    } else {
        match std::fs::read(Path::new(source).join(name)) {
            Ok(bytes) => Some(bytes),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => {
                return Err(Failure::unexpected(
                    anyhow::Error::new(err).context(format!("reading {source}/{name}")),
                ))
            }
        }
    };
    let Some(bytes) = bytes else {
        return Ok(Vec::new());
    };
    serde_json::from_slice(&bytes).map_err(|err| {
        Failure::usage(
            anyhow::Error::new(err).context(format!("{source}/{name} is not a list of images")),
        )
    })
}

/// Reads `<url>/SHA512SUMS` from a bucket: the archives at its top level, as staged.
fn bucket_download_files(ctx: &Context, url: &str) -> Result<Vec<DownloadFile>, Failure> {
    use krel_storage::{Location, Store};
    let location: Location = url.parse()?;
    let runtime = ctx.runtime()?;
    let env = ctx.store_env();
    let key = location.key(krel_checksum::SHA512SUMS);
    let sums = runtime
        .block_on(async { Store::open(&location, &env).await?.read(&key).await })?
        .ok_or_else(|| {
            Failure::usage(anyhow::anyhow!(
                "{} does not exist",
                location.object_url(&key)
            ))
            .with_hint(Some(
                "stage the release with its checksums first (krel checksum, then krel push)".into(),
            ))
        })?;
    Ok(String::from_utf8_lossy(&sums)
        .lines()
        .filter_map(|line| line.split_once("  "))
        .filter(|(_, name)| !name.contains('/') && is_archive(name))
        .map(|(hash, name)| DownloadFile {
            name: name.to_string(),
            sha512: hash.to_string(),
        })
        .collect())
}

/// The Dependencies section from go.mod (or Cargo.lock) at both revisions, when there is one.
fn dependencies(repo: &krel_git::Repo, start: &str, end: &str) -> Result<Option<String>, Failure> {
    for file in ["go.mod", "Cargo.lock"] {
        let read = |rev: &str| repo.read_file(rev, file).map_err(Failure::unexpected);
        let (before, after) = (read(start)?, read(end)?);
        if before.is_some() || after.is_some() {
            return Ok(Some(dependencies_section(
                &before.unwrap_or_default(),
                &after.unwrap_or_default(),
            )));
        }
    }
    Ok(None)
}
