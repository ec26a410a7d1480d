//! Release versions as Kubernetes tags them: `vMAJOR.MINOR.PATCH[-(alpha|beta|rc).N]`.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A pre-release label. Declaration order is release order: alpha, then beta, then rc.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Label {
    /// `-alpha.N`: cut from the main branch early in a cycle.
    Alpha,
    /// `-beta.N`: cut from the main branch after the alphas.
    Beta,
    /// `-rc.N`: release candidates, cut from a release branch.
    Rc,
}

impl Label {
    /// The label as it appears in a tag.
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Alpha => "alpha",
            Label::Beta => "beta",
            Label::Rc => "rc",
        }
    }

    fn parse(s: &str) -> Option<Label> {
        match s {
            "alpha" => Some(Label::Alpha),
            "beta" => Some(Label::Beta),
            "rc" => Some(Label::Rc),
            _ => None,
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The pre-release part of a version: a label and its number, as in `-rc.1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PreRelease {
    /// alpha, beta or rc.
    pub label: Label,
    /// The number after the label.
    pub number: u64,
}

/// A Kubernetes release version such as `v1.29.0` or `v1.30.0-rc.1`.
///
/// Ordering follows the release order: `v1.30.0-alpha.3 < v1.30.0-beta.0 < v1.30.0-rc.1 < v1.30.0`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Version {
    /// X in vX.Y.Z.
    pub major: u64,
    /// Y in vX.Y.Z.
    pub minor: u64,
    /// Z in vX.Y.Z.
    pub patch: u64,
    /// `None` for an official release.
    pub pre: Option<PreRelease>,
}

impl Version {
    /// An official release version `vMAJOR.MINOR.PATCH`.
    pub fn official(major: u64, minor: u64, patch: u64) -> Version {
        Version {
            major,
            minor,
            patch,
            pre: None,
        }
    }

    /// A pre-release version such as `v1.30.0-rc.1`.
    pub fn pre_release(major: u64, minor: u64, patch: u64, label: Label, number: u64) -> Version {
        Version {
            major,
            minor,
            patch,
            pre: Some(PreRelease { label, number }),
        }
    }

    /// True for an official release (no pre-release label).
    pub fn is_official(&self) -> bool {
        self.pre.is_none()
    }

    /// The same version without its pre-release part: `v1.30.0-rc.1` gives `v1.30.0`.
    pub fn without_pre(&self) -> Version {
        Version::official(self.major, self.minor, self.patch)
    }
}

/// Why a version string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a Kubernetes version: {reason} (expected vMAJOR.MINOR.PATCH with an optional -alpha.N, -beta.N or -rc.N, for example v1.29.0 or v1.30.0-rc.1)")]
pub struct VersionError {
    /// The text that was given.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

impl VersionError {
    pub(crate) fn new(input: &str, reason: impl Into<String>) -> VersionError {
        VersionError {
            input: input.to_string(),
            reason: reason.into(),
        }
    }
}

impl krel_error::Diagnose for VersionError {
    /// A version that does not parse is a usage error.
    fn kind(&self) -> krel_error::ErrorKind {
        krel_error::ErrorKind::Usage
    }
}

/// Parses a decimal number without sign or leading zeros (as semver requires).
pub(crate) fn parse_number(input: &str, part: &str, what: &str) -> Result<u64, VersionError> {
    if part.is_empty() {
        return Err(VersionError::new(input, format!("the {what} is empty")));
    }
    if !part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VersionError::new(
            input,
            format!("the {what} `{part}` is not a number"),
        ));
    }
    if part.len() > 1 && part.starts_with('0') {
        return Err(VersionError::new(
            input,
            format!("the {what} `{part}` has a leading zero"),
        ));
    }
    part.parse()
        .map_err(|_| VersionError::new(input, format!("the {what} `{part}` is too large")))
}

/// Splits `vX.Y.Z[-rest]` into the three numbers and the optional rest after the first `-`.
pub(crate) fn parse_core<'a>(
    input: &str,
    text: &'a str,
) -> Result<(u64, u64, u64, Option<&'a str>), VersionError> {
    let body = text
        .strip_prefix('v')
        .ok_or_else(|| VersionError::new(input, "it does not start with `v`"))?;
    let (core, rest) = match body.split_once('-') {
        Some((core, rest)) => (core, Some(rest)),
        None => (body, None),
    };
    let mut numbers = core.split('.');
    let major = parse_number(input, numbers.next().unwrap_or(""), "major version")?;
    let minor = parse_number(input, numbers.next().unwrap_or(""), "minor version")?;
    let patch = parse_number(input, numbers.next().unwrap_or(""), "patch version")?;
    if numbers.next().is_some() {
        return Err(VersionError::new(
            input,
            "it has more than three numbers before the pre-release",
        ));
    }
    Ok((major, minor, patch, rest))
}

/// Reads `alpha.N`, `beta.N` or `rc.N` from the first two dot-separated identifiers.
pub(crate) fn parse_pre(
    input: &str,
    label: &str,
    number: Option<&str>,
) -> Result<PreRelease, VersionError> {
    let label = Label::parse(label).ok_or_else(|| {
        VersionError::new(
            input,
            format!("the pre-release label `{label}` is not alpha, beta or rc"),
        )
    })?;
    let number = number.ok_or_else(|| {
        VersionError::new(
            input,
            format!("the pre-release `{label}` has no number (write {label}.0)"),
        )
    })?;
    let number = parse_number(input, number, "pre-release number")?;
    Ok(PreRelease { label, number })
}

impl FromStr for Version {
    type Err = VersionError;

    fn from_str(input: &str) -> Result<Version, VersionError> {
        if input.contains('+') {
            return Err(VersionError::new(
                input,
                "it has build metadata (`+…`); that is a build version, not a release version",
            ));
        }
        let (major, minor, patch, rest) = parse_core(input, input)?;
        let pre = match rest {
            None => None,
            Some(rest) => {
                let mut ids = rest.split('.');
                let label = ids.next().unwrap_or("");
                let pre = parse_pre(input, label, ids.next())?;
                if ids.next().is_some() {
                    return Err(VersionError::new(
                        input,
                        "it has more after the pre-release number; that is a build version, not a release version",
                    ));
                }
                Some(pre)
            }
        };
        Ok(Version {
            major,
            minor,
            patch,
            pre,
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)?;
        if let Some(pre) = self.pre {
            write!(f, "-{}.{}", pre.label, pre.number)?;
        }
        Ok(())
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (&self.pre, &other.pre) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => a.cmp(b),
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Version) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl serde::Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Version, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_prints_release_versions() {
        for text in [
            "v1.29.0",
            "v1.29.0-alpha.3",
            "v1.29.0-beta.0",
            "v1.29.10-rc.1",
            "v0.0.0",
        ] {
            assert_eq!(v(text).to_string(), text);
        }
        assert_eq!(
            v("v1.30.0-rc.1"),
            Version::pre_release(1, 30, 0, Label::Rc, 1)
        );
    }

    #[test]
    fn orders_as_kubernetes_releases() {
        let ordered = [
            "v1.9.9",
            "v1.10.0-alpha.0",
            "v1.10.0-alpha.10",
            "v1.10.0-beta.0",
            "v1.10.0-rc.0",
            "v1.10.0-rc.2",
            "v1.10.0",
            "v1.10.1-rc.0",
            "v1.10.1",
            "v2.0.0",
        ];
        for pair in ordered.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn rejects_malformed_versions_with_a_reason() {
        let cases = [
            ("1.29.0", "does not start with `v`"),
            ("v1.29", "patch version is empty"),
            ("v1.29.0.1", "more than three numbers"),
            ("v1.029.0", "leading zero"),
            ("v1.x.0", "`x` is not a number"),
            ("v1.29.0-gamma.1", "`gamma` is not alpha, beta or rc"),
            ("v1.29.0-rc", "has no number"),
            ("v1.29.0-rc.1.5", "build version"),
            ("v1.29.0+abc", "build metadata"),
            ("", "does not start with `v`"),
        ];
        for (input, reason) in cases {
            let err = input.parse::<Version>().unwrap_err().to_string();
            assert!(err.contains(reason), "{input}: {err}");
            assert!(err.contains("for example v1.29.0"), "{input}: {err}");
        }
    }

    #[test]
    fn round_trips_through_serde_as_a_string() {
        let json = serde_json::to_string(&v("v1.2.3-rc.4")).unwrap();
        assert_eq!(json, "\"v1.2.3-rc.4\"");
        let back: Version = serde_json::from_str(&json).unwrap();
        assert_eq!(back, v("v1.2.3-rc.4"));
        let bad = serde_json::from_str::<Version>("\"1.2\"").unwrap_err();
        assert!(bad.to_string().contains("does not start with `v`"));
    }
}
