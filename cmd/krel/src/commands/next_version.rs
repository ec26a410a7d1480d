//! `krel next-version`: the versions a release would produce.

use krel_git::Repo;
use krel_version::{next_versions, Branch, BuildVersion, NextVersionError, ReleaseType};

use crate::cli::{NextVersionArgs, OutputFormat, ReleaseTypeArg};
use crate::context::Context;
use crate::failure::Failure;
use crate::shell::Shell;

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
pub fn exec(ctx: &Context, args: &NextVersionArgs, shell: &Shell) -> Result<(), Failure> {
    let git = &ctx.config.git;
    let branch =
        Branch::parse(&args.branch, &git.main_branch, &git.release_branch).map_err(|err| {
            Failure::usage(err).with_hint(Some(format!(
            "release branches follow git.release_branch (`{}`); the main branch is git.main_branch",
            git.release_branch.template()
        )))
        })?;
    let build = build_version(args, shell)?;
    let release_type = match args.release_type {
        ReleaseTypeArg::Alpha => ReleaseType::Alpha,
        ReleaseTypeArg::Beta => ReleaseType::Beta,
        ReleaseTypeArg::Rc => ReleaseType::Rc,
        ReleaseTypeArg::Official => ReleaseType::Official,
    };
    let versions =
        next_versions(release_type, &build, &branch, args.cut_branch).map_err(|err| {
            let hint = Some(err.hint());
            let refusal = matches!(
                err,
                NextVersionError::AlphaAfterNonAlpha { .. }
                    | NextVersionError::BetaAfterNonPreview { .. }
            );
            let failure = if refusal {
                Failure::refused(err)
            } else {
                Failure::usage(err)
            };
            failure.with_hint(hint)
        })?;
    crate::ci::next_version_outputs(&build, &versions);
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
fn build_version(args: &NextVersionArgs, shell: &Shell) -> Result<BuildVersion, Failure> {
    if let Some(text) = &args.build_version {
        return parse_build_version(text);
    }
    let described = Repo::open(&args.repo_path).and_then(|repo| repo.build_version(&args.rev));
    let build = described.map_err(|err| {
        let hint = err
            .hint()
            .or_else(|| Some("pass --build-version explicitly".into()));
        Failure::usage(err).with_hint(hint)
    })?;
    shell.status("Described", format!("{} as {build}", args.rev));
    Ok(build)
}

/// Reads `--build-version`, with a hint showing the form.
pub(crate) fn parse_build_version(text: &str) -> Result<BuildVersion, Failure> {
    text.parse().map_err(|err: krel_version::VersionError| {
        Failure::usage(err).with_hint(Some(
            "a build version looks like v1.30.0-rc.0.12+4e9bdd481e2400 (git describe of the commit)"
                .into(),
        ))
    })
}
