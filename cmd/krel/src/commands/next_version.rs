//! `krel next-version`: the versions a release would produce.

use std::path::PathBuf;

use krel_error::Diagnose;
use krel_git::Repo;
use krel_version::{next_versions, Branch, BuildVersion};

use crate::args::ReleaseTypeArg;
use crate::cli::OutputFormat;
use crate::context::Context;
use crate::failure::Failure;
use crate::shell::Shell;

/// `krel next-version` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
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
    pub repo_path: PathBuf,

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

pub const LONG_ABOUT: &str = "\
Print the versions a release would produce, one per line, the prime version first, computed as
upstream krel does:
  - alpha on the main branch after alpha.N: alpha.(N+1); after a beta: refused
  - beta on the main branch: beta.0 after an alpha, beta.(N+1) after beta.N
  - rc with --cut-branch on release-X.Y: vX.Y.0-rc.0 and vX.(Y+1).0-alpha.0
  - rc on an existing release-X.Y: vX.Y.P-rc.(N+1) (patch + 1 and rc.1 after an official tag)
  - official on release-X.Y: vX.Y.P (patch + 1 after an official tag)
The release branch must be for the same vX.Y as the build version. Without --build-version,
krel describes --rev (default HEAD) in --repo-path (default the current directory).
In a GitHub Actions workflow (GITHUB_ACTIONS=true) it also sets the step outputs version,
versions and build-version, which the split-stage workflow passes to its platform jobs.";

pub const EXAMPLES: &str = "\
Examples:
  krel next-version --type alpha --build-version v1.20.0-alpha.2.1273+4e9bdd481e2400 --branch master
  krel next-version --type rc --build-version v1.18.0-beta.3.2+3ff09514d162b0 \\
    --branch release-1.18 --cut-branch
  krel next-version --type official --build-version v1.18.4-rc.0.3+3ff09514d162b0 \\
    --branch release-1.18 --output json
  krel next-version --type rc --branch release-1.30 --repo-path ~/src/kubernetes --rev origin/release-1.30";

/// Runs `krel next-version`.
pub fn exec(ctx: &Context, args: &Args, shell: &Shell) -> Result<(), Failure> {
    let git = &ctx.config()?.git;
    let branch =
        Branch::parse(&args.branch, &git.main_branch, &git.release_branch).map_err(|err| {
            Failure::usage(err).with_hint(Some(format!(
            "release branches follow git.release_branch (`{}`); the main branch is git.main_branch",
            git.release_branch.template()
        )))
        })?;
    let build = build_version(ctx, args, shell)?;
    if build.dirty {
        // As stage refuses it: a release is built from a commit, not a work tree.
        return Err(Failure::usage(anyhow::anyhow!(
            "{build} is a dirty build version"
        ))
        .with_hint(Some(
            "a release is built from a commit: drop -dirty (or commit the changes and describe again)".into(),
        )));
    }
    let versions = next_versions(args.release_type.into(), &build, &branch, args.cut_branch)?;
    crate::ci::next_version_outputs(ctx, &build, &versions);
    match shell.output() {
        OutputFormat::Text => {
            for version in versions.ordered() {
                shell.data(version.to_string());
            }
        }
        OutputFormat::Json => {
            #[derive(serde::Serialize)]
            struct Report<'a> {
                build_version: String,
                ordered: Vec<&'a krel_version::Version>,
                #[serde(flatten)]
                versions: &'a krel_version::ReleaseVersions,
            }
            shell.json(&Report {
                build_version: build.to_string(),
                ordered: versions.ordered(),
                versions: &versions,
            });
        }
    }
    Ok(())
}

/// The build version given, or the description of `--rev` in `--repo-path`.
fn build_version(ctx: &Context, args: &Args, shell: &Shell) -> Result<BuildVersion, Failure> {
    if let Some(text) = &args.build_version {
        return crate::args::parse_build_version(text);
    }
    let usage = |err: krel_git::GitError| {
        let hint = err
            .hint()
            .or_else(|| Some("pass --build-version explicitly".into()));
        Failure::usage(err).with_hint(hint)
    };
    let repo = Repo::open(&args.repo_path).map_err(usage)?;
    let build = repo.build_version(&args.rev).map_err(usage)?;
    shell.status("Described", format!("{} as {build}", args.rev));
    warn_if_behind(ctx, &repo, &args.rev, shell);
    Ok(build)
}

/// When `rev` is a remote-tracking branch (`origin/release-1.30`), compares it and the tags with
/// what the remote has now (read only), and warns when the clone is behind: the versions
/// would be computed from a stale state. Offline or unreachable: nothing is said.
fn warn_if_behind(ctx: &Context, repo: &Repo, rev: &str, shell: &Shell) {
    let Some((remote, branch)) = rev.split_once('/') else {
        return;
    };
    let Ok(local) = repo.resolve(&format!("refs/remotes/{rev}")) else {
        return;
    };
    let Ok(refs) = repo.list_remote(remote, &ctx.credentials()) else {
        return;
    };
    let moved = refs.heads.get(branch).is_some_and(|head| *head != local);
    let missing: Vec<&String> = refs
        .tags
        .keys()
        .filter(|tag| !repo.has_reference(&format!("refs/tags/{tag}")))
        .collect();
    if moved || !missing.is_empty() {
        let tags = match missing.as_slice() {
            [] => String::new(),
            [one] => format!("; it has tag {one}, which the clone lacks"),
            [first, ..] => format!(
                "; it has {} tags the clone lacks ({first}, ...)",
                missing.len()
            ),
        };
        shell.warn(&format!(
            "the clone is behind {remote}{}{tags}: run `git fetch --tags {remote}` first, or these versions may already be taken",
            if moved { format!(" ({branch} has moved)") } else { String::new() }
        ));
    }
}
