//! What every command starts from: the environment snapshot, the mode, and the shared doors
//! to the outside (configuration, credentials, identity, buckets, runtime, GitHub, the signing
//! key, the test fault hook). Commands take what they need from here and never from each
//! other; nothing here is read before a command asks for it, so a command that needs no
//! configuration is not stopped by a broken krel.yaml.

use std::cell::OnceCell;
use std::path::PathBuf;

use krel_ci::Actions;
use krel_config::Config;
use krel_git::{Credentials, Identity};
use krel_github::{GitHub, GitHubConfig};
use krel_plan::Mode;
use krel_secret::Secret;
use krel_sign::{KeySigner, SignError};
use krel_storage::{Location, Store, StoreEnv};

use crate::args::{GitHubApiArg, WorkspaceArg};
use crate::cli::GlobalArgs;
use crate::env::Env;
use crate::failure::Failure;

/// The resolved global settings and shared helpers.
pub struct Context {
    /// The environment, read once.
    pub env: Env,
    /// Mock (default) or --nomock.
    pub mode: Mode,
    config_flag: Option<PathBuf>,
    config: OnceCell<Config>,
}

impl Context {
    /// The context of one run.
    pub fn new(global: &GlobalArgs, env: Env) -> Context {
        Context {
            env,
            mode: Mode::from_nomock(global.nomock && !global.mock),
            config_flag: global.config.clone(),
            config: OnceCell::new(),
        }
    }

    /// The project configuration: flag > `KREL_*` > krel.yaml > default (read on first use).
    pub fn config(&self) -> Result<&Config, Failure> {
        if let Some(config) = self.config.get() {
            return Ok(config);
        }
        let cwd = std::env::current_dir().map_err(|err| {
            Failure::unexpected(anyhow::Error::new(err).context("reading the current directory"))
        })?;
        let config = Config::load(self.config_flag.as_deref(), &cwd, self.env.lookup())?;
        Ok(self.config.get_or_init(|| config))
    }

    /// Credentials for git remotes and GitHub: GITHUB_TOKEN, else GH_TOKEN.
    pub fn credentials(&self) -> Credentials {
        let token = self
            .env
            .non_empty("GITHUB_TOKEN")
            .or_else(|| self.env.non_empty("GH_TOKEN"));
        Credentials {
            token: Secret::from_optional(token),
            ..Credentials::default()
        }
    }

    /// `SOURCE_DATE_EPOCH`: the time written into commits, tags, archives and documents, so
    /// that the same inputs give the same bytes. Unset or empty means "now".
    pub fn source_date_epoch(&self) -> Result<Option<i64>, Failure> {
        let Some(value) = self.env.non_empty("SOURCE_DATE_EPOCH") else {
            return Ok(None);
        };
        if value.trim().is_empty() {
            return Ok(None);
        }
        value.trim().parse::<i64>().map(Some).map_err(|_| {
            Failure::usage(anyhow::anyhow!(
                "SOURCE_DATE_EPOCH is `{value}`, not a number of seconds since 1970"
            ))
            .with_hint(Some(
                "set it to an integer such as `date +%s`, or unset it".into(),
            ))
        })
    }

    /// The committer named by GIT_COMMITTER_NAME and GIT_COMMITTER_EMAIL, dated
    /// SOURCE_DATE_EPOCH when set; `None` lets each repository's git configuration decide.
    pub fn identity(&self) -> Result<Option<Identity>, Failure> {
        let time = self.source_date_epoch()?;
        Ok(
            match (
                self.env.non_empty("GIT_COMMITTER_NAME"),
                self.env.non_empty("GIT_COMMITTER_EMAIL"),
            ) {
                (Some(name), Some(email)) => Some(Identity { name, email, time }),
                _ => None,
            },
        )
    }

    /// Who makes release commits, tags and merges in a workspace clone: the environment's
    /// committer, else the user's git configuration (a workspace clone has none of its own),
    /// dated SOURCE_DATE_EPOCH when it is set.
    pub fn committer(&self) -> Result<Option<Identity>, Failure> {
        let time = self.source_date_epoch()?;
        Ok(self
            .identity()?
            .or_else(Identity::from_git_config)
            .map(|identity| Identity { time, ..identity }))
    }

    fn home_dir(&self, xdg: &str, fallback: &str) -> PathBuf {
        self.env
            .non_empty(xdg)
            .map(PathBuf::from)
            .or_else(|| {
                self.env
                    .var("HOME")
                    .map(|home| PathBuf::from(home).join(fallback))
            })
            .unwrap_or_else(std::env::temp_dir)
            .join("krel")
    }

    /// Where krel keeps clones between runs (`$XDG_CACHE_HOME/krel`, else `~/.cache/krel`).
    pub fn cache_dir(&self) -> PathBuf {
        self.home_dir("XDG_CACHE_HOME", ".cache")
    }

    /// Where krel keeps data that outlives a run: the mock bucket and release workspaces
    /// (`$XDG_DATA_HOME/krel`, else `~/.local/share/krel`).
    pub fn data_dir(&self) -> PathBuf {
        self.home_dir("XDG_DATA_HOME", ".local/share")
    }

    /// The workspace root: the flag, release.workspace, or the data directory.
    pub fn workspace_root(&self, arg: &WorkspaceArg) -> Result<PathBuf, Failure> {
        Ok(match &arg.workspace {
            Some(dir) => dir.clone(),
            None => match &self.config()?.release.workspace {
                Some(dir) => dir.clone(),
                None => self.data_dir().join("workspace"),
            },
        })
    }

    /// A multi-threaded Tokio runtime for commands that talk to stores or GitHub.
    pub fn runtime(&self) -> Result<tokio::runtime::Runtime, Failure> {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|err| {
                Failure::unexpected(anyhow::Error::new(err).context("starting the async runtime"))
            })
    }

    /// Endpoints and credentials of the stores (STORAGE_EMULATOR_HOST, AWS_*, …).
    pub fn store_env(&self) -> StoreEnv {
        StoreEnv::from_env(self.env.lookup())
    }

    /// Opens the store of `location` (no request is made for file://).
    pub fn open_store(
        &self,
        runtime: &tokio::runtime::Runtime,
        location: &Location,
    ) -> Result<Store, Failure> {
        Ok(runtime.block_on(Store::open(location, &self.store_env()))?)
    }

    /// The registries of a release's images: stage pushes to the mock registry (local,
    /// default `oci:~/.local/share/krel/mock-registry`) or, with --nomock,
    /// release.staging_registry; release promotes to release.registry.
    pub fn image_setup(&self) -> Result<krel_release::ImageSetup, Failure> {
        self.image_setup_for(self.mode)
    }

    /// [`Context::image_setup`] for a stage made in `staged_in` mode (a mock release of a
    /// --nomock stage reads the staging registry, as it reads the release bucket).
    pub fn image_setup_for(&self, staged_in: Mode) -> Result<krel_release::ImageSetup, Failure> {
        let config = self.config()?;
        let staging = match staged_in {
            Mode::NoMock => config.release.staging_registry.to_string(),
            Mode::Mock => match &config.release.mock_registry {
                Some(registry) => registry.to_string(),
                None => format!("oci:{}", self.data_dir().join("mock-registry").display()),
            },
        };
        let parse = |text: &str| {
            text.parse::<krel_image::ImageLocation>().map_err(|err| {
                Failure::usage(err).with_hint(Some(
                    "set release.staging_registry / release.registry / release.mock_registry in krel.yaml (docs/configuration.md)".into(),
                ))
            })
        };
        Ok(krel_release::ImageSetup {
            staging: parse(&staging)?,
            release: parse(config.release.registry.as_str())?,
            env: krel_image::RegistryEnv::from_env(self.env.lookup()),
        })
    }

    /// The bucket stage writes to and release reads from: the mock bucket (local, default
    /// `~/.local/share/krel/mock-bucket`) or, with --nomock, release.bucket.
    pub fn stage_bucket(&self) -> Result<Location, Failure> {
        let config = self.config()?;
        let url = match self.mode {
            Mode::NoMock => config.release.bucket.to_string(),
            Mode::Mock => match &config.release.mock_bucket {
                Some(bucket) => bucket.to_string(),
                None => format!("file://{}", self.data_dir().join("mock-bucket").display()),
            },
        };
        url.parse().map_err(|err: krel_storage::StorageError| {
            Failure::usage(err).with_hint(Some(
                "set release.bucket / release.mock_bucket in krel.yaml (docs/configuration.md)"
                    .into(),
            ))
        })
    }

    /// The GitHub client of the configured repository (call with the runtime it will run on).
    pub fn github(
        &self,
        runtime: &tokio::runtime::Runtime,
        api: &GitHubApiArg,
    ) -> Result<GitHub, Failure> {
        let config = self.config()?;
        let mut github = GitHubConfig::new(&config.github.org, &config.github.repo);
        github.api_url = api.github_api_url.clone();
        github.token = self.credentials().token;
        let _guard = runtime.enter();
        Ok(GitHub::new(github)?)
    }

    /// The password of a cosign key: KREL_SIGNING_PASSWORD when set (even empty), else a
    /// prompt on a terminal.
    pub fn signing_password(&self) -> Result<Secret, SignError> {
        use std::io::IsTerminal;
        if let Some(value) = self.env.var_os("KREL_SIGNING_PASSWORD") {
            return Ok(Secret::new(value.to_string_lossy()));
        }
        if !std::io::stdin().is_terminal() {
            return Err(SignError::NoPassword);
        }
        rpassword::prompt_password("Password for the signing key: ")
            .map(Secret::new)
            .map_err(|_| SignError::NoPassword)
    }

    /// The private key at `path`, opened with [`Context::signing_password`].
    pub fn signer(&self, path: &std::path::Path) -> Result<KeySigner, Failure> {
        let pem = std::fs::read_to_string(path).map_err(|err| {
            Failure::usage(
                anyhow::Error::new(err).context(format!("reading key {}", path.display())),
            )
        })?;
        Ok(krel_sign::load_signing_key(&pem, &|| {
            self.signing_password()
        })?)
    }

    /// A keyless signer: identity tokens from SIGSTORE_ID_TOKEN or GitHub Actions, Fulcio and
    /// Rekor from `signing_config` (a file) or Sigstore's public-good instance.
    pub fn keyless_signer(
        &self,
        signing_config: Option<&std::path::Path>,
    ) -> Result<krel_sigstore::KeylessSigner, Failure> {
        let tokens = krel_sigstore::TokenSource::from_env(self.env.lookup()).ok_or_else(|| {
            Failure::usage(anyhow::anyhow!(
                "keyless signing needs an OIDC identity token, and there is none"
            ))
            .with_hint(Some(
                "in GitHub Actions give the job `permissions: id-token: write`; elsewhere set SIGSTORE_ID_TOKEN".into(),
            ))
        })?;
        let services = match signing_config {
            None => krel_sigstore::Services::PublicGood,
            Some(path) => krel_sigstore::Services::Config {
                json: std::fs::read_to_string(path).map_err(|err| {
                    Failure::usage(
                        anyhow::Error::new(err).context(format!("reading {}", path.display())),
                    )
                })?,
                what: path.display().to_string(),
            },
        };
        Ok(krel_sigstore::KeylessSigner::new(&services, tokens)?)
    }

    /// The throwaway key a mock keyless stage signs with (`<workspace>/mock-keyless.key`,
    /// made on first use); its `.pub` verifies a mock release of that stage.
    pub fn mock_keyless_key(
        &self,
        workspace_root: &std::path::Path,
    ) -> Result<krel_sign::KeySigner, Failure> {
        let prefix = workspace_root.join("mock-keyless");
        let private = prefix.with_extension("key");
        if !private.is_file() {
            std::fs::create_dir_all(workspace_root).map_err(|err| {
                Failure::unexpected(
                    anyhow::Error::new(err)
                        .context(format!("creating {}", workspace_root.display())),
                )
            })?;
            let empty = krel_sign::Secret::new("");
            krel_sign::generate_key_pair(&empty)?.write(&prefix)?;
        }
        let pem = std::fs::read_to_string(&private).map_err(|err| {
            Failure::unexpected(
                anyhow::Error::new(err).context(format!("reading {}", private.display())),
            )
        })?;
        Ok(krel_sign::load_signing_key(&pem, &|| {
            Ok(krel_sign::Secret::new(""))
        })?)
    }

    /// The release signing key (release.signing_key).
    pub fn release_signer(&self) -> Result<KeySigner, Failure> {
        let path = self.config()?.release.signing_key.as_ref().ok_or_else(|| {
            Failure::usage(anyhow::anyhow!("no signing key: release.signing_key is not set")).with_hint(Some(
                "set release.signing_key in krel.yaml (or KREL_SIGNING_KEY); make one with `krel sign generate-key`".into(),
            ))
        })?;
        self.signer(path)
    }

    /// Stops the process abruptly after the named step (`KREL_TEST_ABORT_AFTER`): how tests
    /// kill a run at a chosen point.
    pub fn fault_hook(&self) -> impl Fn(&str) {
        let stop_after = self.env.non_empty("KREL_TEST_ABORT_AFTER");
        move |step: &str| {
            if stop_after.as_deref() == Some(step) {
                std::process::abort();
            }
        }
    }

    /// The environment `build.command` runs in: PATH, HOME, USER, LOGNAME, SHELL, TERM, TMPDIR,
    /// TZ, LANG, LANGUAGE and LC_* from krel's environment, then `build.env` (a name passes
    /// krel's value through, `NAME=value` sets it). Nothing else: krel's credentials stay out.
    pub fn build_env(&self) -> Result<Vec<(String, String)>, Failure> {
        const BASICS: &[&str] = &[
            "PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "TMPDIR", "TZ", "LANG", "LANGUAGE",
        ];
        let mut env = std::collections::BTreeMap::new();
        for (name, value) in self.env.vars() {
            let (Some(name), Some(value)) = (name.to_str(), value.to_str()) else {
                continue;
            };
            if BASICS.contains(&name) || name.starts_with("LC_") {
                env.insert(name.to_string(), value.to_string());
            }
        }
        for entry in &self.config()?.build.env {
            let value = entry.value.clone().or_else(|| self.env.var(&entry.name));
            if let Some(value) = value {
                env.insert(entry.name.clone(), value);
            }
        }
        Ok(env.into_iter().collect())
    }

    /// The secret values of krel's environment (tokens, passwords, cloud keys), to be masked
    /// wherever krel echoes text it did not write.
    pub fn masker(&self) -> krel_secret::Masker {
        masker(&self.env)
    }

    /// The GitHub Actions workflow krel runs in, if any (`GITHUB_ACTIONS=true`).
    pub fn actions(&self) -> Option<Actions> {
        Actions::from_env(self.env.lookup())
    }
}

/// The secret values of an environment snapshot.
pub fn masker(env: &Env) -> krel_secret::Masker {
    let vars = env.vars();
    krel_secret::Masker::from_env(
        vars.iter()
            .filter_map(|(k, v)| Some((k.to_str()?, v.to_str()?))),
    )
}
