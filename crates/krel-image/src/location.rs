//! Image locations: `docker://HOST[:PORT]/PREFIX` (a registry) and `oci:PATH` (OCI layouts).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::ImageError;

/// Where images go: a registry and a repository prefix, or a directory of OCI layouts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ImageLocation {
    /// A registry speaking the OCI distribution API.
    Registry {
        /// `host[:port]`.
        host: String,
        /// The repository prefix (no leading or trailing `/`; may be empty).
        prefix: String,
    },
    /// A directory holding one OCI image layout per repository (`PATH/<repo>/index.json`).
    Layout {
        /// The directory.
        root: PathBuf,
        /// The repository prefix (sub-directories; may be empty).
        prefix: String,
    },
}

impl ImageLocation {
    /// The repository of image `name` (`prefix/name`).
    pub fn repository(&self, name: &str) -> String {
        let prefix = self.prefix();
        if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}/{name}")
        }
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        match self {
            ImageLocation::Registry { prefix, .. } | ImageLocation::Layout { prefix, .. } => prefix,
        }
    }

    /// This location with `sub` appended to its prefix (`docker://h/p` + `staging`).
    pub fn join(&self, sub: &str) -> ImageLocation {
        let sub = sub.trim_matches('/');
        let joined = |prefix: &str| match (prefix.is_empty(), sub.is_empty()) {
            (_, true) => prefix.to_string(),
            (true, false) => sub.to_string(),
            (false, false) => format!("{prefix}/{sub}"),
        };
        match self {
            ImageLocation::Registry { host, prefix } => ImageLocation::Registry {
                host: host.clone(),
                prefix: joined(prefix),
            },
            ImageLocation::Layout { root, prefix } => ImageLocation::Layout {
                root: root.clone(),
                prefix: joined(prefix),
            },
        }
    }

    /// The name a signature binds image `name` to (cosign's `docker-reference`):
    /// `host[:port]/prefix/name` for a registry, `oci:PATH/prefix/name` for a layout.
    pub fn identity(&self, name: &str) -> String {
        match self {
            ImageLocation::Registry { host, .. } => format!("{host}/{}", self.repository(name)),
            ImageLocation::Layout { root, .. } => {
                format!("oci:{}", root.join(self.repository(name)).display())
            }
        }
    }

    /// What a person types to pull image `name` at `reference` (a tag, or a digest).
    pub fn pull_reference(&self, name: &str, reference: &str) -> String {
        let separator = if reference.contains(':') { "@" } else { ":" };
        match self {
            ImageLocation::Registry { host, .. } => {
                format!("{host}/{}{separator}{reference}", self.repository(name))
            }
            ImageLocation::Layout { root, .. } => format!(
                "oci:{}:{reference}",
                root.join(self.repository(name)).display()
            ),
        }
    }

    /// A repository of this location as people write it (`host/repo`, `oci:PATH/repo`).
    pub fn repository_display(&self, repo: &str) -> String {
        match self {
            ImageLocation::Registry { host, .. } => format!("{host}/{repo}"),
            ImageLocation::Layout { root, .. } => format!("oci:{}", root.join(repo).display()),
        }
    }

    /// True for a registry on this machine (plain HTTP is allowed only there).
    pub fn is_loopback(&self) -> bool {
        match self {
            ImageLocation::Registry { host, .. } => host_is_loopback(host),
            ImageLocation::Layout { .. } => true,
        }
    }
}

/// `localhost`, `127.x.y.z` or `[::1]`, with or without a port.
pub fn host_is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.split(':').next().unwrap_or("")
    };
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A repository path component as the distribution spec allows: lower-case letters and
/// digits, separated by one `.`, `_`, `__` or any number of `-`.
pub fn is_repository_component(part: &str) -> bool {
    let bytes = part.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(&bytes[0]) || !alnum(&bytes[bytes.len() - 1]) {
        return false;
    }
    bytes
        .iter()
        .all(|b| alnum(b) || matches!(b, b'.' | b'_' | b'-'))
        && !part.contains("..")
        && !part.contains("___")
        && !part.contains("._")
        && !part.contains("_.")
}

/// A valid tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn is_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn bad(input: &str, reason: impl Into<String>) -> ImageError {
    ImageError::Location {
        input: input.to_string(),
        reason: reason.into(),
    }
}

fn check_prefix(input: &str, prefix: &str) -> Result<(), ImageError> {
    for part in prefix.split('/').filter(|p| !p.is_empty()) {
        if !is_repository_component(part) {
            return Err(bad(
                input,
                format!("`{part}` is not a repository name part (lower-case letters and digits, with `.`, `_` or `-` between them)"),
            ));
        }
    }
    Ok(())
}

impl FromStr for ImageLocation {
    type Err = ImageError;

    fn from_str(input: &str) -> Result<ImageLocation, ImageError> {
        if let Some(rest) = input.strip_prefix("docker://") {
            let (host, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let prefix = prefix.trim_matches('/');
            let host_ok = !host.is_empty()
                && host.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                });
            if !host_ok {
                return Err(bad(
                    input,
                    "it names no registry host (docker://HOST[:PORT]/PREFIX)",
                ));
            }
            check_prefix(input, prefix)?;
            return Ok(ImageLocation::Registry {
                host: host.to_ascii_lowercase(),
                prefix: prefix.to_string(),
            });
        }
        if let Some(path) = input.strip_prefix("oci:") {
            if path.is_empty() {
                return Err(bad(input, "it names no directory (oci:PATH)"));
            }
            return Ok(ImageLocation::Layout {
                root: PathBuf::from(path),
                prefix: String::new(),
            });
        }
        Err(bad(
            input,
            "an image location is docker://HOST[:PORT]/PREFIX (a registry) or oci:PATH (a directory of OCI layouts)",
        ))
    }
}

impl fmt::Display for ImageLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageLocation::Registry { host, prefix } if prefix.is_empty() => {
                write!(f, "docker://{host}")
            }
            ImageLocation::Registry { host, prefix } => write!(f, "docker://{host}/{prefix}"),
            ImageLocation::Layout { root, prefix } if prefix.is_empty() => {
                write!(f, "oci:{}", root.display())
            }
            ImageLocation::Layout { root, prefix } => {
                write!(f, "oci:{}", root.join(prefix).display())
            }
        }
    }
}

impl serde::Serialize for ImageLocation {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_registries_and_layouts() {
        let registry: ImageLocation = "docker://127.0.0.1:5000/staging/k8s".parse().unwrap();
        assert_eq!(registry.repository("kube-proxy"), "staging/k8s/kube-proxy");
        assert_eq!(
            registry.identity("kube-proxy"),
            "127.0.0.1:5000/staging/k8s/kube-proxy"
        );
        assert_eq!(
            registry.pull_reference("kube-proxy", "v1.2.3"),
            "127.0.0.1:5000/staging/k8s/kube-proxy:v1.2.3"
        );
        assert!(registry.is_loopback());
        assert_eq!(registry.to_string(), "docker://127.0.0.1:5000/staging/k8s");
        let layout: ImageLocation = "oci:/tmp/images".parse().unwrap();
        assert_eq!(
            layout.join("release").to_string(),
            "oci:/tmp/images/release"
        );
        assert_eq!(layout.join("release").repository("a"), "release/a");
    }

    #[test]
    fn refuses_what_is_not_a_location() {
        for input in [
            "gs://bucket",
            "docker://",
            "docker://h/Upper",
            "oci:",
            "docker://h/a..b",
        ] {
            let err = input.parse::<ImageLocation>().unwrap_err().to_string();
            assert!(err.contains(input), "{err}");
        }
        assert!(!"docker://registry.k8s.io/x"
            .parse::<ImageLocation>()
            .unwrap()
            .is_loopback());
    }

    #[test]
    fn tags_and_names_follow_the_distribution_spec() {
        assert!(is_tag("v1.32.0-rc.1"));
        assert!(is_tag("sha256-abc.sig"));
        assert!(!is_tag("v1.32.0+abc"));
        assert!(!is_tag(".hidden"));
        assert!(is_repository_component("kube-apiserver"));
        assert!(!is_repository_component("Kube"));
        assert!(!is_repository_component("-a"));
    }
}
