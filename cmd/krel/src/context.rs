//! What every command starts from: configuration, identity and credentials, read once from
//! flags, the environment and krel.yaml. Besides clap's `env =` flags, the only other
//! environment reads are NO_COLOR (shell.rs) and KREL_LOG (logging.rs).

use std::path::PathBuf;

use krel_config::Config;
use krel_git::{Credentials, Identity};
use krel_plan::Mode;
use krel_secret::Secret;

use crate::cli::GlobalArgs;
use crate::failure::Failure;

/// The resolved global settings.
pub struct Context {
    /// Project configuration (flag > env > file > default, except per-command flags).
    pub config: Config,
    /// Mock (default) or --nomock.
    pub mode: Mode,
    /// Credentials for git remotes (GITHUB_TOKEN or GH_TOKEN).
    pub credentials: Credentials,
    /// Committer identity from GIT_COMMITTER_NAME/GIT_COMMITTER_EMAIL, else git config.
    pub identity: Option<Identity>,
    /// Where krel keeps clones between runs.
    pub cache_dir: PathBuf,
    /// SOURCE_DATE_EPOCH, when set: the time of commits, tags and generated documents.
    pub source_date_epoch: Option<i64>,
}

impl Context {
    /// Reads configuration and environment.
    pub fn load(global: &GlobalArgs) -> Result<Context, Failure> {
        let cwd = std::env::current_dir().map_err(|err| {
            Failure::unexpected(anyhow::Error::new(err).context("reading the current directory"))
        })?;
        let config = Config::load(global.config.as_deref(), &cwd, |name| {
            std::env::var(name).ok()
        })
        .map_err(|err| {
            let hint = Some(err.hint());
            Failure::usage(err).with_hint(hint)
        })?;
        let token = std::env::var("GITHUB_TOKEN")
            .ok()
            .or_else(|| std::env::var("GH_TOKEN").ok());
        let source_date_epoch = source_date_epoch()?;
        let identity = match (
            std::env::var("GIT_COMMITTER_NAME"),
            std::env::var("GIT_COMMITTER_EMAIL"),
        ) {
            (Ok(name), Ok(email)) if !name.is_empty() && !email.is_empty() => Some(Identity {
                name,
                email,
                time: None,
            }),
            // Otherwise each repository's own git configuration decides, as git does.
            _ => None,
        }
        .map(|identity| Identity {
            time: source_date_epoch,
            ..identity
        });
        let cache_dir = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
            .unwrap_or_else(std::env::temp_dir)
            .join("krel");
        Ok(Context {
            config,
            mode: Mode::from_nomock(global.nomock && !global.mock),
            credentials: Credentials {
                token: Secret::from_optional(token),
                ..Credentials::default()
            },
            identity,
            cache_dir,
            source_date_epoch,
        })
    }

    /// Who makes release commits, tags and merges in a workspace clone: the environment's
    /// committer, else the user's git configuration (a workspace clone has none of its own),
    /// dated SOURCE_DATE_EPOCH when it is set.
    pub fn committer(&self) -> Option<Identity> {
        self.identity
            .clone()
            .or_else(Identity::from_git_config)
            .map(|identity| Identity {
                time: self.source_date_epoch,
                ..identity
            })
    }

    /// Where krel keeps data that outlives a run: the mock bucket and release workspaces
    /// (`$XDG_DATA_HOME/krel`, else `~/.local/share/krel`).
    pub fn data_dir(&self) -> PathBuf {
        std::env::var_os("XDG_DATA_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share"))
            })
            .unwrap_or_else(std::env::temp_dir)
            .join("krel")
    }
}

/// `SOURCE_DATE_EPOCH`: the time written into commits, tags, archives and documents, so that
/// the same inputs give the same bytes. Unset or empty means "now".
fn source_date_epoch() -> Result<Option<i64>, Failure> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) if !value.trim().is_empty() => {
            value.trim().parse::<i64>().map(Some).map_err(|_| {
                Failure::usage(anyhow::anyhow!(
                    "SOURCE_DATE_EPOCH is `{value}`, not a number of seconds since 1970"
                ))
                .with_hint(Some(
                    "set it to an integer such as `date +%s`, or unset it".into(),
                ))
            })
        }
        _ => Ok(None),
    }
}
