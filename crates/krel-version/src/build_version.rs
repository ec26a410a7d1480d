//! Build versions: the `git describe` description of a commit, in Kubernetes' form.
//!
//! Kubernetes turns `git describe --tags --abbrev=14` output into a semver-shaped string
//! (`hack/lib/version.sh`): after a pre-release tag the commit count joins with a dot
//! (`v1.20.0-alpha.2.1273+4e9bdd481e2400`), after an official tag with a dash
//! (`v1.26.3-39+4a7242e481c645`); a commit that is exactly a tag is the bare tag; a
//! modified work tree appends `-dirty`.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::version::{parse_core, parse_number, parse_pre, Version, VersionError};

/// A build version: the nearest tag, how many commits follow it, the commit, and dirtiness.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BuildVersion {
    /// The nearest release tag reachable from the commit.
    pub tag: Version,
    /// Commits between the tag and the described commit (0 when the commit is the tag).
    pub commits: u64,
    /// The abbreviated commit id after `+`, when the commit is not exactly the tag.
    pub commit: Option<String>,
    /// True when the work tree had uncommitted changes (`-dirty`).
    pub dirty: bool,
}

impl BuildVersion {
    /// Builds the Kubernetes form from `git describe --tags --long` output such as
    /// `v1.20.0-alpha.2-1273-g4e9bdd481e2400` (with `-dirty` when `--dirty` was given).
    pub fn from_git_describe(describe: &str) -> Result<BuildVersion, VersionError> {
        let (text, dirty) = match describe.strip_suffix("-dirty") {
            Some(text) => (text, true),
            None => (describe, false),
        };
        let mut parts = text.rsplitn(3, '-');
        let (sha, count, tag) = match (parts.next(), parts.next(), parts.next()) {
            (Some(sha), Some(count), Some(tag)) => (sha, count, tag),
            _ => {
                return Err(VersionError::new(
                    describe,
                    "`git describe --long` output must look like TAG-COUNT-gSHA",
                ))
            }
        };
        let sha = sha.strip_prefix('g').ok_or_else(|| {
            VersionError::new(
                describe,
                "the commit id after the count must start with `g`",
            )
        })?;
        let tag: Version = tag.parse()?;
        let commits = parse_number(describe, count, "commit count")?;
        Ok(BuildVersion {
            tag,
            commits,
            commit: (commits > 0).then(|| sha.to_string()),
            dirty,
        })
    }

    /// The release line (major, minor) this build belongs to.
    pub fn major_minor(&self) -> (u64, u64) {
        (self.tag.major, self.tag.minor)
    }

    /// Orders two builds by history position: first by tag, then by commits after it.
    /// Builds at the same position but different commits compare equal here.
    pub fn cmp_position(&self, other: &BuildVersion) -> Ordering {
        self.tag
            .cmp(&other.tag)
            .then(self.commits.cmp(&other.commits))
    }
}

impl FromStr for BuildVersion {
    type Err = VersionError;

    fn from_str(input: &str) -> Result<BuildVersion, VersionError> {
        let (text, dirty) = match input.strip_suffix("-dirty") {
            Some(text) => (text, true),
            None => (input, false),
        };
        let (core, commit) = match text.split_once('+') {
            Some((core, commit)) => {
                if commit.is_empty() || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(VersionError::new(
                        input,
                        format!("the commit id `{commit}` after `+` is not hexadecimal"),
                    ));
                }
                (core, Some(commit.to_string()))
            }
            None => (text, None),
        };
        let (major, minor, patch, rest) = parse_core(input, core)?;
        let ids: Vec<&str> = rest.map(|r| r.split('.').collect()).unwrap_or_default();
        let (tag, commits) = match ids.as_slice() {
            [] => (Version::official(major, minor, patch), 0),
            [count] if count.bytes().all(|b| b.is_ascii_digit()) => (
                Version::official(major, minor, patch),
                parse_number(input, count, "commit count")?,
            ),
            [label, number] => (
                Version {
                    major,
                    minor,
                    patch,
                    pre: Some(parse_pre(input, label, Some(number))?),
                },
                0,
            ),
            [label, number, count] => (
                Version {
                    major,
                    minor,
                    patch,
                    pre: Some(parse_pre(input, label, Some(number))?),
                },
                parse_number(input, count, "commit count")?,
            ),
            [label] => {
                // A lone identifier that is not a count: a label without its number.
                return Err(match parse_pre(input, label, None) {
                    Err(err) => err,
                    Ok(_) => VersionError::new(input, "the pre-release has no number"),
                });
            }
            _ => {
                return Err(VersionError::new(
                    input,
                    "too many parts after the dash (expected LABEL.N or LABEL.N.COMMITS)",
                ))
            }
        };
        if commits > 0 && commit.is_none() {
            return Err(VersionError::new(
                input,
                "a build after a tag needs the commit id (`+SHA`)",
            ));
        }
        Ok(BuildVersion {
            tag,
            commits,
            commit,
            dirty,
        })
    }
}

impl fmt::Display for BuildVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.tag)?;
        // The count is shown whenever a commit is (`v1.2.3-alpha.3.0+sha` prints back as given).
        if self.commits > 0 || self.commit.is_some() {
            let joiner = if self.tag.is_official() { '-' } else { '.' };
            write!(f, "{joiner}{}", self.commits)?;
        }
        if let Some(commit) = &self.commit {
            write!(f, "+{commit}")?;
        }
        if self.dirty {
            f.write_str("-dirty")?;
        }
        Ok(())
    }
}

impl serde::Serialize for BuildVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for BuildVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<BuildVersion, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Label;

    fn bv(s: &str) -> BuildVersion {
        s.parse().unwrap()
    }

    #[test]
    fn reads_the_kubernetes_build_version_forms() {
        let b = bv("v1.20.0-alpha.2.1273+4e9bdd481e2400");
        assert_eq!(b.tag, Version::pre_release(1, 20, 0, Label::Alpha, 2));
        assert_eq!(b.commits, 1273);
        assert_eq!(b.commit.as_deref(), Some("4e9bdd481e2400"));
        assert!(!b.dirty);

        let b = bv("v1.26.3-39+4a7242e481c645");
        assert_eq!(b.tag, Version::official(1, 26, 3));
        assert_eq!(b.commits, 39);

        let b = bv("v1.26.3-39+4a7242e481c645-dirty");
        assert!(b.dirty);
        assert_eq!(b.commits, 39);

        let b = bv("v1.18.0-rc.1");
        assert_eq!(b.tag, Version::pre_release(1, 18, 0, Label::Rc, 1));
        assert_eq!(b.commits, 0);
        assert_eq!(b.commit, None);

        assert_eq!(bv("v1.18.0").tag, Version::official(1, 18, 0));
        assert!(bv("v1.18.0-dirty").dirty);
    }

    #[test]
    fn prints_what_it_read() {
        for text in [
            "v1.20.0-alpha.2.1273+4e9bdd481e2400",
            "v1.26.3-39+4a7242e481c645",
            "v1.26.3-39+4a7242e481c645-dirty",
            "v1.18.0-rc.1",
            "v1.18.0",
            "v1.18.0-dirty",
            "v1.20.0-alpha.3.0+4e9bdd481e2400-dirty",
            "v1.26.3-0+4a7242e481c645",
        ] {
            assert_eq!(bv(text).to_string(), text);
        }
    }

    #[test]
    fn converts_git_describe_output() {
        let b = BuildVersion::from_git_describe("v1.20.0-alpha.2-1273-g4e9bdd481e2400").unwrap();
        assert_eq!(b.to_string(), "v1.20.0-alpha.2.1273+4e9bdd481e2400");
        let b = BuildVersion::from_git_describe("v1.26.3-39-g4a7242e481c645-dirty").unwrap();
        assert_eq!(b.to_string(), "v1.26.3-39+4a7242e481c645-dirty");
        let b = BuildVersion::from_git_describe("v1.26.3-0-g4a7242e481c645").unwrap();
        assert_eq!(b.to_string(), "v1.26.3");
        assert!(BuildVersion::from_git_describe("v1.26.3").is_err());
        assert!(BuildVersion::from_git_describe("v1.26.3-3-4a72").is_err());
    }

    #[test]
    fn orders_by_position_in_history() {
        // The k/k#117115 case: a build after an official tag sorts after it.
        assert_eq!(
            bv("v1.26.3-39+4a7242e481c645").cmp_position(&bv("v1.26.3")),
            Ordering::Greater
        );
        assert_eq!(
            bv("v1.27.0-rc.0.5+aa").cmp_position(&bv("v1.26.3-39+bb")),
            Ordering::Greater
        );
        assert_eq!(
            bv("v1.27.0-rc.0.5+aa").cmp_position(&bv("v1.27.0-rc.0.4+bb")),
            Ordering::Greater
        );
    }

    #[test]
    fn rejects_malformed_build_versions() {
        for (input, reason) in [
            ("v1.20.0-alpha.2.1273+xyz", "not hexadecimal"),
            ("v1.20.0-alpha.2.1273", "needs the commit id"),
            ("v1.20.0-alpha", "no number"),
            ("v1.20.0-alpha.1.2.3+aa", "too many parts"),
            ("1.20.0", "does not start with `v`"),
            ("v1.20.0+", "not hexadecimal"),
        ] {
            let err = input.parse::<BuildVersion>().unwrap_err().to_string();
            assert!(err.contains(reason), "{input}: {err}");
        }
    }
}
