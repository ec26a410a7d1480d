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
    /// vX.Y.Z-rc.N from a release branch (rc.0 cuts a new release-X.Y: stage and release do it
    /// when --branch names one that does not exist yet; next-version takes --cut-branch).
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

/// Who must have signed, and the roots of trust: `--key`, or `--certificate-identity[-regexp]`
/// with `--certificate-oidc-issuer[-regexp]`; `--trusted-root`.
#[derive(Debug, Clone, Args)]
pub struct SignerArgs {
    /// The signer's public key (`PUBLIC KEY` PEM, as cosign.pub or the .pub of
    /// `krel sign generate-key`).
    #[arg(long, value_name = "PUB", conflicts_with_all = ["certificate_identity", "certificate_identity_regexp"])]
    pub key: Option<PathBuf>,
    /// Keyless: the identity the signing certificate was issued to (an email, or a workflow
    /// URI such as https://github.com/ORG/REPO/.github/workflows/release.yml@refs/tags/v1.2.3).
    #[arg(long, value_name = "ID")]
    pub certificate_identity: Option<String>,
    /// Keyless: a regular expression the whole identity must match.
    #[arg(long, value_name = "REGEX", conflicts_with = "certificate_identity")]
    pub certificate_identity_regexp: Option<String>,
    /// Keyless: the OIDC issuer that vouched for the identity
    /// (https://token.actions.githubusercontent.com for GitHub Actions).
    #[arg(long, value_name = "URL")]
    pub certificate_oidc_issuer: Option<String>,
    /// Keyless: a regular expression the whole OIDC issuer must match.
    #[arg(long, value_name = "REGEX", conflicts_with = "certificate_oidc_issuer")]
    pub certificate_oidc_issuer_regexp: Option<String>,
    /// The trusted root (a trusted_root.json: certificate authorities, transparency logs,
    /// timestamp authorities); default: Sigstore's public-good root, built into krel.
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
}

impl SignerArgs {
    /// Whether any signer was named.
    #[allow(dead_code)]
    pub fn given(&self) -> bool {
        self.key.is_some()
            || self.certificate_identity.is_some()
            || self.certificate_identity_regexp.is_some()
    }

    /// The expected signer and the trusted root.
    pub fn resolve(
        &self,
    ) -> Result<(krel_sigstore::Expected, krel_sigstore::Trust), crate::failure::Failure> {
        use crate::failure::Failure;
        use krel_sigstore::{Expected, Matcher, Trust};
        let trust = match &self.trusted_root {
            Some(path) => Trust::from_file(path)?,
            None => Trust::public_good()?,
        };
        if let Some(path) = &self.key {
            let pem = std::fs::read_to_string(path).map_err(|err| {
                Failure::usage(
                    anyhow::Error::new(err).context(format!("reading key {}", path.display())),
                )
                .with_hint(Some(
                    "--key is the public key (`PUBLIC KEY` PEM): the .pub that `krel sign generate-key` wrote, or cosign.pub".into(),
                ))
            })?;
            return Ok((Expected::key_pem(&pem, &path.display().to_string())?, trust));
        }
        let regex = |expression: &str| {
            Matcher::regex(expression).map_err(|err| Failure::usage(anyhow::anyhow!(err)))
        };
        let identity = match (&self.certificate_identity, &self.certificate_identity_regexp) {
            (Some(exact), _) => Matcher::Exact(exact.clone()),
            (None, Some(expression)) => regex(expression)?,
            (None, None) => return Err(Failure::usage(anyhow::anyhow!(
                "no signer given: pass --key, or --certificate-identity (or -regexp) with --certificate-oidc-issuer (or -regexp)"
            ))
            .with_hint(Some("a signature proves nothing without saying whose it must be".into()))),
        };
        let issuer = match (
            &self.certificate_oidc_issuer,
            &self.certificate_oidc_issuer_regexp,
        ) {
            (Some(exact), _) => Matcher::Exact(exact.clone()),
            (None, Some(expression)) => regex(expression)?,
            (None, None) => {
                return Err(Failure::usage(anyhow::anyhow!(
                    "--certificate-identity needs --certificate-oidc-issuer (or -regexp)"
                ))
                .with_hint(Some(
                    "GitHub Actions' issuer is https://token.actions.githubusercontent.com".into(),
                )))
            }
        };
        Ok((Expected::Identity { identity, issuer }, trust))
    }
}
