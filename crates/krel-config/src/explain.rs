//! Every setting's effective value and where it came from, for `krel config check`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::{Config, ConfigSource, ENV_VARS};

/// Every configuration key, in the order `krel config check` shows them.
pub const KEYS: &[&str] = &[
    "project",
    "github.org",
    "github.repo",
    "git.url",
    "git.remote",
    "git.main_branch",
    "git.release_branch",
    "build.command",
    "build.platforms",
    "build.artifacts",
    "build.env",
    "build.images",
    "release.bucket",
    "release.mock_bucket",
    "release.workspace",
    "release.signing_key",
    "release.github_release",
    "release.detached_signatures",
    "release.signing",
    "release.signing_config",
    "release.trusted_root",
    "release.signer_identity",
    "release.signer_issuer",
    "release.staging_registry",
    "release.registry",
    "release.mock_registry",
];

/// Where a setting's value came from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "from", rename_all = "lowercase")]
pub enum Origin {
    /// The built-in default.
    Default,
    /// The configuration file, at this line.
    File {
        /// The file.
        path: PathBuf,
        /// 1-based line of the key, when found.
        line: Option<usize>,
    },
    /// A `KREL_*` environment variable.
    Env {
        /// The variable.
        var: String,
    },
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File {
                path,
                line: Some(line),
            } => write!(f, "{}:{line}", path.display()),
            Origin::File { path, line: None } => write!(f, "{}", path.display()),
            Origin::Env { var } => write!(f, "{var}"),
        }
    }
}

/// One key's effective value.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Setting {
    /// The dotted key.
    pub key: &'static str,
    /// The value, as text (`(unset)` when it has none).
    pub value: String,
    /// Where it came from.
    pub origin: Origin,
}

impl Config {
    /// The effective value of `key` as text.
    pub fn value_of(&self, key: &str) -> String {
        let path = |p: &Option<PathBuf>| {
            p.as_ref()
                .map_or("(unset)".to_string(), |p| p.display().to_string())
        };
        match key {
            "project" => self.project.clone(),
            "github.org" => self.github.org.clone(),
            "github.repo" => self.github.repo.clone(),
            "git.url" => match &self.git.url {
                Some(url) => url.clone(),
                None => format!("{} (from github.org and github.repo)", self.git_url()),
            },
            "git.remote" => self.git.remote.clone(),
            "git.main_branch" => self.git.main_branch.clone(),
            "git.release_branch" => self.git.release_branch.template().to_string(),
            "build.command" => self.build.command.clone(),
            "build.platforms" => self
                .build
                .platforms
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            "build.artifacts" => self
                .build
                .artifacts
                .iter()
                .map(|rule| {
                    format!(
                        "{} -> {}",
                        shown(rule.from.as_str()),
                        shown(rule.to.as_str())
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
            "build.env" if self.build.env.is_empty() => "(none)".into(),
            "build.env" => self
                .build
                .env
                .iter()
                .map(|e| match &e.value {
                    Some(_) => format!("{}=…", e.name),
                    None => e.name.clone(),
                })
                .collect::<Vec<_>>()
                .join(", "),
            "release.bucket" => self.release.bucket.to_string(),
            "release.mock_bucket" => self.release.mock_bucket.as_ref().map_or(
                "(unset: ~/.local/share/krel/mock-bucket)".into(),
                ToString::to_string,
            ),
            "release.workspace" => path(&self.release.workspace),
            "release.signing_key" => path(&self.release.signing_key),
            "release.github_release" => self.release.github_release.to_string(),
            "release.detached_signatures" => self.release.detached_signatures.to_string(),
            "release.signing" => self.release.signing.to_string(),
            "release.signing_config" => self
                .release
                .signing_config
                .as_ref()
                .map_or("(unset: Sigstore public-good)".into(), |p| {
                    p.display().to_string()
                }),
            "release.trusted_root" => self
                .release
                .trusted_root
                .as_ref()
                .map_or("(unset: Sigstore public-good)".into(), |p| {
                    p.display().to_string()
                }),
            "release.signer_identity" => self
                .release
                .signer_identity
                .clone()
                .unwrap_or_else(|| "(unset)".into()),
            "release.signer_issuer" => self.release.signer_issuer.clone(),
            "release.staging_registry" => self.release.staging_registry.to_string(),
            "release.registry" => self.release.registry.to_string(),
            "release.mock_registry" => self.release.mock_registry.as_ref().map_or(
                "(unset: oci:~/.local/share/krel/mock-registry)".into(),
                ToString::to_string,
            ),
            "build.images" => self.build.images.as_ref().map_or("(none)".into(), |rule| {
                let platforms = rule.platforms(&self.build.platforms);
                let names: Vec<String> = platforms.iter().map(ToString::to_string).collect();
                format!("{} for {}", rule.from.as_str(), names.join(", "))
            }),
            _ => "(no such key)".into(),
        }
    }

    /// Every key's value and origin: the environment when a `KREL_*` variable set it, else
    /// the file (with the key's line) when it names the key, else the default. `file_text` is
    /// the configuration file's text; `env` the lookup the configuration was loaded with.
    pub fn explain(
        &self,
        file_text: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Vec<Setting> {
        let lines = file_text.map(key_lines).unwrap_or_default();
        KEYS.iter()
            .map(|key| {
                let var = ENV_VARS.iter().find(|(_, k)| k == key).map(|(v, _)| *v);
                let origin = match (var.filter(|v| env(v).is_some()), &self.source) {
                    (Some(var), _) => Origin::Env { var: var.into() },
                    (None, ConfigSource::File(path)) if lines.contains_key(*key) => Origin::File {
                        path: path.clone(),
                        line: lines.get(*key).copied(),
                    },
                    _ => Origin::Default,
                };
                Setting {
                    key,
                    value: self.value_of(key),
                    origin,
                }
            })
            .collect()
    }
}

fn shown(path: &str) -> &str {
    if path.is_empty() {
        "."
    } else {
        path
    }
}

/// The line of every mapping key of block-style YAML, by dotted path (`release.bucket`).
fn key_lines(text: &str) -> BTreeMap<String, usize> {
    let mut found = BTreeMap::new();
    let mut stack: Vec<(usize, String)> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('-') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        let Some((key, _)) = trimmed.split_once(':') else {
            continue;
        };
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        stack.push((indent, key.to_string()));
        let path = stack
            .iter()
            .map(|(_, k)| k.as_str())
            .collect::<Vec<_>>()
            .join(".");
        found.entry(path).or_insert(index + 1);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_says_where_its_value_came_from() {
        let yaml = "# widget\ngithub:\n  org: example\n  repo: widget\nrelease:\n  bucket: gs://b\n  github_release: false\n";
        let env = |name: &str| (name == "KREL_GITHUB_REPO").then(|| "other".to_string());
        let config = Config::from_yaml(yaml, "krel.yaml", env).unwrap();
        let settings = config.explain(Some(yaml), env);
        let of = |key: &str| settings.iter().find(|s| s.key == key).unwrap().clone();
        assert_eq!(of("github.org").origin.to_string(), "krel.yaml:3");
        assert_eq!(of("github.repo").value, "other");
        assert_eq!(of("github.repo").origin.to_string(), "KREL_GITHUB_REPO");
        assert_eq!(
            of("release.github_release").origin.to_string(),
            "krel.yaml:7"
        );
        assert_eq!(of("git.remote").origin, Origin::Default);
        assert!(of("git.url")
            .value
            .starts_with("https://github.com/example/other.git"));
        assert_eq!(settings.len(), KEYS.len());
    }

    #[test]
    fn every_key_has_a_value() {
        let config = Config::defaults();
        for key in KEYS {
            assert_ne!(config.value_of(key), "(no such key)", "{key}");
        }
    }
}
