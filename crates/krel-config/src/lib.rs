//! `krel.yaml`: the project configuration every command starts from.
//!
//! A project describes itself once (GitHub org and repo, git remote, main branch, how release
//! branches are named); commands read it through [`Config::load`]. Precedence, highest first:
//! command-line flag (applied by the binary), environment variable (`KREL_*`, see [`ENV_VARS`]),
//! the configuration file, then the defaults, which fit kubernetes/kubernetes.
//!
//! Unknown keys and wrong types are errors that name the file, line and key.
//!
//! ```
//! use krel_config::{Config, ConfigSource};
//!
//! let yaml = "github:\n  org: example\n  repo: widget\ngit:\n  main_branch: main\n";
//! let config = Config::from_yaml(yaml, "krel.yaml", |_| None).unwrap();
//! assert_eq!(config.git.main_branch, "main");
//! assert_eq!(config.git_url(), "https://github.com/example/widget.git");
//! assert_eq!(config.git.release_branch.branch_name(1, 30), "release-1.30");
//! # let _ = ConfigSource::Defaults;
//! ```

use std::path::{Path, PathBuf};

mod build;
mod explain;

use krel_version::ReleaseBranchPattern;
use serde::Deserialize;

pub use build::{
    parse_platforms, ArtifactRule, BucketUrl, Build, EnvEntry, ImageRule, Platform, RegistryUrl,
    RelativePath, Release, Signing,
};
use build::{FileBuild, FileRelease};
pub use explain::{Origin, Setting, KEYS};

/// The file name looked for in the current directory when no `--config` is given.
pub const DEFAULT_FILE_NAME: &str = "krel.yaml";

/// Environment variables that override configuration keys, with the key each one sets.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("KREL_GITHUB_ORG", "github.org"),
    ("KREL_GITHUB_REPO", "github.repo"),
    ("KREL_GIT_URL", "git.url"),
    ("KREL_GIT_REMOTE", "git.remote"),
    ("KREL_MAIN_BRANCH", "git.main_branch"),
    ("KREL_RELEASE_BRANCH", "git.release_branch"),
    ("KREL_PROJECT", "project"),
    ("KREL_BUILD_COMMAND", "build.command"),
    ("KREL_PLATFORMS", "build.platforms"),
    ("KREL_RELEASE_BUCKET", "release.bucket"),
    ("KREL_MOCK_BUCKET", "release.mock_bucket"),
    ("KREL_STAGING_REGISTRY", "release.staging_registry"),
    ("KREL_REGISTRY", "release.registry"),
    ("KREL_MOCK_REGISTRY", "release.mock_registry"),
    ("KREL_WORKSPACE", "release.workspace"),
    ("KREL_SIGNING_KEY", "release.signing_key"),
    ("KREL_GITHUB_RELEASE", "release.github_release"),
    ("KREL_DETACHED_SIGNATURES", "release.detached_signatures"),
    ("KREL_SIGNING", "release.signing"),
    ("KREL_SIGNING_CONFIG", "release.signing_config"),
    ("KREL_TRUSTED_ROOT", "release.trusted_root"),
    ("KREL_SIGNER_IDENTITY", "release.signer_identity"),
    ("KREL_SIGNER_ISSUER", "release.signer_issuer"),
];

/// The whole project configuration, defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Where the configuration came from, for messages.
    pub source: ConfigSource,
    /// The GitHub repository releases are published to.
    pub github: GitHub,
    /// The git repository releases are cut from.
    pub git: Git,
    /// The project's name in release commits and messages (default `Kubernetes`).
    pub project: String,
    /// How a release is built and what it is made of.
    pub build: Build,
    /// Where releases go and what signs them.
    pub release: Release,
}

/// Where a configuration was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigSource {
    /// No file: built-in defaults (and environment).
    Defaults,
    /// A YAML file.
    File(PathBuf),
}

/// `github:` keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitHub {
    /// Organisation or user owning the repository (default `kubernetes`).
    pub org: String,
    /// Repository name (default `kubernetes`).
    pub repo: String,
}

/// `git:` keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Git {
    /// The remote URL to clone or push; default `https://github.com/<org>/<repo>.git`.
    pub url: Option<String>,
    /// The remote's name in a local clone (default `origin`).
    pub remote: String,
    /// The main development branch (default `master`, as kubernetes/kubernetes).
    pub main_branch: String,
    /// How release branches are named (default `release-{major}.{minor}`).
    pub release_branch: ReleaseBranchPattern,
}

impl Config {
    /// The configuration with every default and no file.
    pub fn defaults() -> Config {
        Config {
            source: ConfigSource::Defaults,
            github: GitHub {
                org: "kubernetes".into(),
                repo: "kubernetes".into(),
            },
            git: Git {
                url: None,
                remote: "origin".into(),
                main_branch: "master".into(),
                release_branch: ReleaseBranchPattern::default(),
            },
            project: "Kubernetes".into(),
            build: Build::kubernetes(),
            release: Release::default(),
        }
    }

    /// Loads the configuration.
    ///
    /// `explicit` is the `--config` flag or `KREL_CONFIG`: it must exist. Without it,
    /// `krel.yaml` in `dir` is read when present, otherwise the defaults apply.
    /// `env` looks up environment variables (injected so tests need not touch the process).
    pub fn load(
        explicit: Option<&Path>,
        dir: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let path = match explicit {
            Some(path) => path.to_path_buf(),
            None => {
                let candidate = dir.join(DEFAULT_FILE_NAME);
                if !candidate.is_file() {
                    let mut config = Config::defaults();
                    config.apply_env(&env)?;
                    return Ok(config);
                }
                candidate
            }
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        Config::from_yaml(&text, &path, env)
    }

    /// Reads configuration from YAML text; `path` is used in messages only.
    pub fn from_yaml(
        text: &str,
        path: impl AsRef<Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let path = path.as_ref().to_path_buf();
        let file: FileConfig = if text.trim().is_empty() {
            FileConfig::default()
        } else {
            serde_yaml_ng::from_str(text).map_err(|err| ConfigError::Parse {
                path: path.clone(),
                line: err.location().map(|l| l.line()),
                column: err.location().map(|l| l.column()),
                message: without_location(&err.to_string()),
            })?
        };
        let mut config = Config::defaults();
        config.source = ConfigSource::File(path.clone());
        config
            .apply_file(file)
            .map_err(|err| with_location(err, text, &path))?;
        config.apply_env(&env)?;
        Ok(config)
    }

    /// The git remote URL: `git.url`, or GitHub's URL for `github.org`/`github.repo`.
    pub fn git_url(&self) -> String {
        self.git.url.clone().unwrap_or_else(|| {
            format!(
                "https://github.com/{}/{}.git",
                self.github.org, self.github.repo
            )
        })
    }

    /// Sets one key by its dotted name (`git.main_branch`), validating the value.
    /// Used for environment variables; the binary uses it for flags that override keys.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            source_name: self.source_name(),
            key: key.to_string(),
            message,
        };
        if value.trim().is_empty() {
            return Err(invalid("the value is empty".into()));
        }
        match key {
            "github.org" => self.github.org = value.into(),
            "github.repo" => self.github.repo = value.into(),
            "git.url" => self.git.url = Some(value.into()),
            "git.remote" => self.git.remote = value.into(),
            "git.main_branch" => {
                if value.contains(char::is_whitespace) || value.starts_with('-') {
                    return Err(invalid(format!("`{value}` is not a branch name")));
                }
                self.git.main_branch = value.into()
            }
            "git.release_branch" => {
                self.git.release_branch =
                    ReleaseBranchPattern::new(value).map_err(|e| invalid(e.to_string()))?
            }
            "project" => self.project = value.trim().into(),
            "build.command" => {
                // Kubernetes' images come with Kubernetes' build; another build declares its own.
                if value != Build::kubernetes().command
                    && self.build.images == Some(ImageRule::kubernetes())
                {
                    self.build.images = None;
                }
                self.build.command = value.into()
            }
            "build.platforms" => self.build.platforms = parse_platforms(value).map_err(invalid)?,
            "release.bucket" => {
                self.release.bucket = BucketUrl::try_from(value.to_string()).map_err(invalid)?
            }
            "release.mock_bucket" => {
                let bucket = BucketUrl::try_from(value.to_string()).map_err(invalid)?;
                if !bucket.is_local() {
                    return Err(invalid(format!(
                        "`{bucket}` is not a file:// URL: a mock run writes only to the local disk"
                    )));
                }
                self.release.mock_bucket = Some(bucket)
            }
            "release.staging_registry" => {
                self.release.staging_registry =
                    RegistryUrl::try_from(value.to_string()).map_err(invalid)?
            }
            "release.registry" => {
                self.release.registry = RegistryUrl::try_from(value.to_string()).map_err(invalid)?
            }
            "release.mock_registry" => {
                let registry = RegistryUrl::try_from(value.to_string()).map_err(invalid)?;
                if !registry.is_local() {
                    return Err(invalid(format!(
                        "`{registry}` is not an oci: directory: a mock run writes only to the local disk"
                    )));
                }
                self.release.mock_registry = Some(registry)
            }
            "release.workspace" => self.release.workspace = Some(self.resolve(value)),
            "release.signing_key" => self.release.signing_key = Some(self.resolve(value)),
            "release.github_release" => {
                self.release.github_release = boolean(value).map_err(invalid)?
            }
            "release.signing" => {
                self.release.signing = match value.trim() {
                    "key" => Signing::Key,
                    "keyless" => Signing::Keyless,
                    other => return Err(invalid(format!("`{other}` is not key or keyless"))),
                }
            }
            "release.signing_config" => self.release.signing_config = Some(self.resolve(value)),
            "release.trusted_root" => self.release.trusted_root = Some(self.resolve(value)),
            "release.signer_identity" => self.release.signer_identity = Some(value.trim().into()),
            "release.signer_issuer" => self.release.signer_issuer = value.trim().into(),
            "release.detached_signatures" => {
                self.release.detached_signatures = boolean(value).map_err(invalid)?
            }
            _ => return Err(invalid("no such configuration key".into())),
        }
        Ok(())
    }

    /// A path from the file is relative to the file's directory; from elsewhere, as given.
    fn resolve(&self, value: &str) -> PathBuf {
        let path = PathBuf::from(value);
        match &self.source {
            ConfigSource::File(file) if path.is_relative() => {
                file.parent().map(|dir| dir.join(&path)).unwrap_or(path)
            }
            _ => path,
        }
    }

    fn source_name(&self) -> String {
        match &self.source {
            ConfigSource::Defaults => "configuration".into(),
            ConfigSource::File(path) => path.display().to_string(),
        }
    }

    fn apply_file(&mut self, file: FileConfig) -> Result<(), ConfigError> {
        let FileConfig {
            github,
            git,
            project,
            build,
            release,
        } = file;
        if let Some(project) = project {
            self.set("project", &project)?;
        }
        if let Some(command) = build.command {
            self.set("build.command", &command)?;
        }
        if let Some(images) = build.images {
            self.build.images = Some(images);
        }
        if let Some(platforms) = build.platforms {
            if platforms.is_empty() {
                return Err(ConfigError::Invalid {
                    source_name: self.source_name(),
                    key: "build.platforms".into(),
                    message: "the list is empty: name at least one OS/ARCH".into(),
                });
            }
            self.build.platforms = platforms;
        }
        if let Some(env) = build.env {
            self.build.env = env;
        }
        if let Some(artifacts) = build.artifacts {
            self.build.artifacts = artifacts;
        }
        if let Some(bucket) = release.bucket {
            self.release.bucket = bucket;
        }
        for (key, value) in [
            (
                "release.mock_bucket",
                release.mock_bucket.map(|b| b.to_string()),
            ),
            (
                "release.workspace",
                release.workspace.map(|p| p.display().to_string()),
            ),
            (
                "release.staging_registry",
                release.staging_registry.map(|r| r.to_string()),
            ),
            ("release.registry", release.registry.map(|r| r.to_string())),
            (
                "release.mock_registry",
                release.mock_registry.map(|r| r.to_string()),
            ),
            (
                "release.signing_key",
                release.signing_key.map(|p| p.display().to_string()),
            ),
            ("release.signing", release.signing),
            (
                "release.signing_config",
                release.signing_config.map(|p| p.display().to_string()),
            ),
            (
                "release.trusted_root",
                release.trusted_root.map(|p| p.display().to_string()),
            ),
            ("release.signer_identity", release.signer_identity),
            ("release.signer_issuer", release.signer_issuer),
        ] {
            if let Some(value) = value {
                self.set(key, &value)?;
            }
        }
        if let Some(detached) = release.detached_signatures {
            self.release.detached_signatures = detached;
        }
        if let Some(github_release) = release.github_release {
            self.release.github_release = github_release;
        }
        let pairs = [
            ("github.org", github.org),
            ("github.repo", github.repo),
            ("git.url", git.url),
            ("git.remote", git.remote),
            ("git.main_branch", git.main_branch),
            ("git.release_branch", git.release_branch),
        ];
        for (key, value) in pairs {
            if let Some(value) = value {
                self.set(key, &value)?;
            }
        }
        Ok(())
    }

    fn apply_env(&mut self, env: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        for (var, key) in ENV_VARS {
            if let Some(value) = env(var) {
                self.set(key, &value).map_err(|err| ConfigError::Env {
                    var: (*var).to_string(),
                    // The value came from the variable, not from the file.
                    source: Box::new(match err {
                        ConfigError::Invalid { key, message, .. } => ConfigError::Invalid {
                            source_name: (*var).to_string(),
                            key,
                            message,
                        },
                        other => other,
                    }),
                })?;
            }
        }
        Ok(())
    }
}

/// A value the file gave that is not acceptable, told at its line and column when the key is
/// found in block-style YAML.
fn with_location(err: ConfigError, text: &str, path: &Path) -> ConfigError {
    match err {
        ConfigError::Invalid { key, message, .. } if key_position(text, &key).is_some() => {
            let (line, column) = key_position(text, &key).unwrap_or((1, 1));
            ConfigError::Parse {
                path: path.to_path_buf(),
                line: Some(line),
                column: Some(column),
                message: format!("`{key}`: {message}"),
            }
        }
        other => other,
    }
}

/// The 1-based line and column of the dotted `key` (`git.release_branch`) in block-style YAML:
/// each part is looked for below the previous one, indented more.
fn key_position(text: &str, key: &str) -> Option<(usize, usize)> {
    let mut parts = key.split('.').peekable();
    let mut part = parts.next()?;
    let mut min_indent = 0;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if trimmed.is_empty() || trimmed.starts_with('#') || indent < min_indent {
            continue;
        }
        let name = trimmed.split(':').next().unwrap_or_default().trim();
        if name.trim_matches(|c| c == '"' || c == '\'') == part && trimmed.contains(':') {
            match parts.next() {
                Some(next) => {
                    part = next;
                    min_indent = indent + 1;
                }
                None => return Some((index + 1, indent + 1)),
            }
        }
    }
    None
}

/// Drops the parser's trailing " at line L column C": the error prints the location first.
fn without_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) if message[at..].contains(" column ") => message[..at].to_string(),
        _ => message.to_string(),
    }
}

/// krel.yaml: the project krel releases. Every key is optional; unknown keys are errors.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "krel.yaml")]
struct FileConfig {
    /// The GitHub repository releases are published to.
    #[serde(default)]
    github: FileGitHub,
    /// The git repository releases are cut from.
    #[serde(default)]
    git: FileGit,
    /// The project's name in release commits and messages (default `Kubernetes`).
    project: Option<String>,
    /// How a release is built and what it is made of.
    #[serde(default)]
    build: FileBuild,
    /// Where releases go and what signs them.
    #[serde(default)]
    release: FileRelease,
}

/// The GitHub repository releases are published to.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct FileGitHub {
    /// Organisation or user owning the repository (default `kubernetes`).
    org: Option<String>,
    /// Repository name (default `kubernetes`).
    repo: Option<String>,
}

/// The git repository releases are cut from.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct FileGit {
    /// The remote URL to clone and push (default `https://github.com/<org>/<repo>.git`).
    url: Option<String>,
    /// The remote's name in a local clone (default `origin`).
    remote: Option<String>,
    /// The main development branch (default `master`).
    main_branch: Option<String>,
    /// How release branches are named, with `{major}` and `{minor}` (default
    /// `release-{major}.{minor}`).
    release_branch: Option<String>,
}

/// The JSON Schema of krel.yaml, made from the types the file is read with.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(FileConfig)).unwrap_or_default()
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading configuration file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The YAML is malformed, has an unknown key or a value of the wrong type.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}:{}", column.unwrap_or(1))).unwrap_or_default())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// The parser's message, naming the key.
        message: String,
    },
    /// A value is well-formed YAML but not acceptable.
    #[error("{source_name}: `{key}`: {message}")]
    Invalid {
        /// The file (or "configuration").
        source_name: String,
        /// The dotted key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// An environment variable holds an unacceptable value.
    #[error("environment variable {var}")]
    Env {
        /// The variable.
        var: String,
        /// What is wrong with its value.
        source: Box<ConfigError>,
    },
}

impl krel_error::Diagnose for ConfigError {
    /// A configuration that cannot be read or used is always a usage error.
    fn kind(&self) -> krel_error::ErrorKind {
        krel_error::ErrorKind::Usage
    }

    /// What to do about it.
    fn hint(&self) -> Option<String> {
        Some(self.advice())
    }
}

impl ConfigError {
    fn advice(&self) -> String {
        match self {
            ConfigError::Read { .. } => {
                "check the --config path (or KREL_CONFIG); without either, krel reads ./krel.yaml when it exists".into()
            }
            ConfigError::Parse { .. } | ConfigError::Invalid { .. } => {
                "docs/configuration.md lists every key with its type and default".into()
            }
            ConfigError::Env { var, .. } => format!("fix or unset {var}"),
        }
    }
}

/// `true`/`1`/`yes` or `false`/`0`/`no`.
fn boolean(value: &str) -> Result<bool, String> {
    match value.trim() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        other => Err(format!("`{other}` is not true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_fit_kubernetes() {
        let c = Config::load(None, Path::new("/nonexistent-dir"), no_env).unwrap();
        assert_eq!(c.source, ConfigSource::Defaults);
        assert_eq!(c.git_url(), "https://github.com/kubernetes/kubernetes.git");
        assert_eq!(c.git.main_branch, "master");
        assert_eq!(c.git.remote, "origin");
        assert_eq!(c.git.release_branch.template(), "release-{major}.{minor}");
    }

    #[test]
    fn file_then_env_override_defaults() {
        let yaml = "github:\n  org: acme\ngit:\n  main_branch: main\n  url: /srv/git/widget.git\n";
        let env = |k: &str| (k == "KREL_MAIN_BRANCH").then(|| "trunk".to_string());
        let c = Config::from_yaml(yaml, "krel.yaml", env).unwrap();
        assert_eq!(c.github.org, "acme");
        assert_eq!(c.github.repo, "kubernetes");
        assert_eq!(c.git.main_branch, "trunk", "environment beats file");
        assert_eq!(c.git_url(), "/srv/git/widget.git");
    }

    #[test]
    fn reads_krel_yaml_from_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("krel.yaml"), "git:\n  remote: upstream\n").unwrap();
        let c = Config::load(None, dir.path(), no_env).unwrap();
        assert_eq!(c.git.remote, "upstream");
        assert_eq!(c.source, ConfigSource::File(dir.path().join("krel.yaml")));
    }

    #[test]
    fn bad_values_name_their_line_and_env_values_their_variable() {
        let text = "project: widget\ngit:\n  remote: origin\n  release_branch: 'nope'\n";
        let err = Config::from_yaml(text, "bad.yaml", |_| None)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("bad.yaml:4:3: `git.release_branch`"),
            "{err}"
        );
        let env = |name: &str| (name == "KREL_RELEASE_BUCKET").then(|| "ftp://x".to_string());
        let err = Config::from_yaml("project: widget\n", "krel.yaml", env).unwrap_err();
        let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
        assert!(
            chain.contains("KREL_RELEASE_BUCKET: `release.bucket`"),
            "{chain}"
        );
        assert!(!chain.contains("krel.yaml"), "{chain}");
    }

    #[test]
    fn unknown_keys_name_the_key_and_line() {
        let yaml = "github:\n  org: acme\n  repoo: x\n";
        let err = Config::from_yaml(yaml, "krel.yaml", no_env)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("krel.yaml:3:"), "{err}");
        assert!(err.contains("unknown field `repoo`"), "{err}");
        assert!(!err.contains("at line"), "location printed once: {err}");
        let err = Config::from_yaml("gitt: {}\n", "krel.yaml", no_env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown field `gitt`") && err.contains(":1:"),
            "{err}"
        );
    }

    #[test]
    fn wrong_types_and_bad_values_are_errors() {
        let err = Config::from_yaml("git:\n  main_branch: [a, b]\n", "k.yaml", no_env).unwrap_err();
        assert!(err.to_string().contains("k.yaml:2:"), "{err}");
        let err = Config::from_yaml("git:\n  release_branch: rel-{minor}\n", "k.yaml", no_env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`git.release_branch`") && err.contains("{major}"),
            "{err}"
        );
        let env = |k: &str| (k == "KREL_GITHUB_ORG").then(String::new);
        let err = Config::from_yaml("", "k.yaml", env).unwrap_err();
        assert!(err.to_string().contains("KREL_GITHUB_ORG"), "{err}");
    }

    #[test]
    fn build_and_release_keys_are_read_and_bad_values_name_their_line() {
        let yaml = "project: widget\nbuild:\n  command: sh build.sh\n  platforms: [linux/amd64]\n  artifacts:\n    - from: out/{os}/{arch}\n      to: bin/{os}/{arch}\nrelease:\n  bucket: gs://widget-release\n  signing_key: keys/release.key\n";
        let c = Config::from_yaml(yaml, "/srv/widget/krel.yaml", no_env).unwrap();
        assert_eq!(c.project, "widget");
        assert_eq!(c.build.command, "sh build.sh");
        assert_eq!(c.build.platforms.len(), 1);
        assert!(c.build.artifacts[0].per_platform());
        assert_eq!(c.release.bucket.as_str(), "gs://widget-release");
        assert_eq!(
            c.release.signing_key,
            Some(PathBuf::from("/srv/widget/keys/release.key")),
            "relative to the file"
        );
        let bad = "build:\n  platforms:\n    - linux/amd64\n    - windows\n";
        let err = Config::from_yaml(bad, "k.yaml", no_env)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("k.yaml:3:"),
            "the list names its line: {err}"
        );
        assert!(err.contains("`windows` is not a platform"), "{err}");
        let bad = "build:\n  artifacts:\n    - from: ../outside\n";
        let err = Config::from_yaml(bad, "k.yaml", no_env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("k.yaml:3:") && err.contains("leaves its directory"),
            "{err}"
        );
        let env = |k: &str| (k == "KREL_MOCK_BUCKET").then(|| "gs://real-bucket".to_string());
        let err = Config::from_yaml("", "k.yaml", env).unwrap_err();
        assert!(format!("{err:?}").contains("not a file:// URL"), "{err:?}");
    }

    #[test]
    fn a_missing_explicit_file_is_an_error() {
        let err = Config::load(
            Some(Path::new("/nonexistent/krel.yaml")),
            Path::new("."),
            no_env,
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
        assert!(krel_error::Diagnose::hint(&err)
            .unwrap()
            .contains("--config"));
    }
}
