//! Package versions and version constraints.
//!
//! A component version (`1.30.0-rc.1`, from the release) and a package revision (`1.1`, the
//! packaging's own counter) are kept apart. Pre-releases take the tilde rule so that apt and dnf
//! sort them before the final release: `1.30.0~rc.1-1.1` (deb) and Version `1.30.0~rc.1`,
//! Release `1.1` (rpm).

use std::cmp::Ordering;
use std::fmt;

/// What is wrong with a version, a revision or a constraint.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VersionError {
    /// Not a semantic version.
    #[error("`{value}` is not a version like 1.29.0 or v1.30.0-rc.1: {reason}")]
    Version {
        /// The text given.
        value: String,
        /// What the parser said.
        reason: String,
    },
    /// A revision with characters neither deb nor rpm accept.
    #[error(
        "`{0}` is not a package revision: use digits, letters, `.`, `+` or `~` (like 1.1), no `-`"
    )]
    Revision(String),
    /// A constraint that cannot be read.
    #[error("`{value}` is not a version constraint like `>= 1.28.0, < 1.30.0`: {reason}")]
    Constraint {
        /// The text given.
        value: String,
        /// Which part is wrong.
        reason: String,
    },
}

/// A package's version: the component version and the package revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageVersion {
    semver: semver::Version,
    upstream: String,
    revision: String,
}

impl PackageVersion {
    /// Reads `version` (a leading `v` is allowed) and `revision`.
    pub fn new(version: &str, revision: &str) -> Result<PackageVersion, VersionError> {
        let semver = parse_semver(version)?;
        if semver.pre.contains('-') {
            return Err(VersionError::Version {
                value: version.to_string(),
                reason: "a `-` inside the pre-release part cannot be mapped to deb and rpm".into(),
            });
        }
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '~');
        if revision.is_empty() || !revision.chars().all(valid) {
            return Err(VersionError::Revision(revision.to_string()));
        }
        let mut upstream = format!("{}.{}.{}", semver.major, semver.minor, semver.patch);
        if !semver.pre.is_empty() {
            upstream.push('~');
            upstream.push_str(semver.pre.as_str());
        }
        if !semver.build.is_empty() {
            upstream.push('+');
            upstream.push_str(semver.build.as_str());
        }
        Ok(PackageVersion {
            semver,
            upstream,
            revision: revision.to_string(),
        })
    }

    /// The component version with the tilde rule (`1.30.0~rc.1`): rpm's Version.
    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    /// The package revision: rpm's Release, the part after the last `-` in deb.
    pub fn revision(&self) -> &str {
        &self.revision
    }

    /// The Debian version, `<upstream>-<revision>`.
    pub fn deb(&self) -> String {
        format!("{}-{}", self.upstream, self.revision)
    }

    /// The semantic version, for constraints.
    pub fn semver(&self) -> &semver::Version {
        &self.semver
    }

    /// Whether this is a pre-release (alpha, beta, rc...).
    pub fn is_prerelease(&self) -> bool {
        !self.semver.pre.is_empty()
    }

    /// The minor series, `v1.29`: one repository per minor, as pkgs.k8s.io.
    pub fn minor_series(&self) -> String {
        format!("v{}.{}", self.semver.major, self.semver.minor)
    }
}

impl fmt::Display for PackageVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.deb())
    }
}

fn parse_semver(text: &str) -> Result<semver::Version, VersionError> {
    let trimmed = text.trim();
    let bare = trimmed.strip_prefix('v').unwrap_or(trimmed);
    semver::Version::parse(bare).map_err(|err| VersionError::Version {
        value: text.to_string(),
        reason: err.to_string(),
    })
}

/// A comparison in a constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Less,
    /// `<=`
    LessEqual,
    /// `=`
    Equal,
    /// `>=`
    GreaterEqual,
    /// `>`
    Greater,
}

impl Op {
    fn parse(text: &str) -> Option<(Op, &str)> {
        // Longest first, so `>=` is not read as `>`.
        for (token, op) in [
            (">=", Op::GreaterEqual),
            ("<=", Op::LessEqual),
            ("==", Op::Equal),
            (">>", Op::Greater),
            ("<<", Op::Less),
            (">", Op::Greater),
            ("<", Op::Less),
            ("=", Op::Equal),
        ] {
            if let Some(rest) = text.strip_prefix(token) {
                return Some((op, rest.trim_start()));
            }
        }
        None
    }

    /// Debian's spelling (`>>` and `<<` for strict comparisons).
    pub fn deb(self) -> &'static str {
        match self {
            Op::Less => "<<",
            Op::LessEqual => "<=",
            Op::Equal => "=",
            Op::GreaterEqual => ">=",
            Op::Greater => ">>",
        }
    }

    /// RPM's spelling.
    pub fn rpm(self) -> &'static str {
        match self {
            Op::Less => "<",
            Op::LessEqual => "<=",
            Op::Equal => "=",
            Op::GreaterEqual => ">=",
            Op::Greater => ">",
        }
    }

    fn accepts(self, ordering: Ordering) -> bool {
        match self {
            Op::Less => ordering == Ordering::Less,
            Op::LessEqual => ordering != Ordering::Greater,
            Op::Equal => ordering == Ordering::Equal,
            Op::GreaterEqual => ordering != Ordering::Less,
            Op::Greater => ordering == Ordering::Greater,
        }
    }
}

/// A constraint on a version, as upstream's `metadata.yaml`: `>= 1.28.0, < 1.30.0`.
/// Pre-releases sort before their release (semantic-version precedence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    text: String,
    clauses: Vec<(Op, semver::Version)>,
}

impl Constraint {
    /// Reads comma-separated clauses, each an operator and a version.
    pub fn parse(text: &str) -> Result<Constraint, VersionError> {
        let fail = |reason: String| VersionError::Constraint {
            value: text.to_string(),
            reason,
        };
        let mut clauses = Vec::new();
        for clause in text.split(',') {
            let clause = clause.trim();
            let (op, version) = Op::parse(clause)
                .ok_or_else(|| fail(format!("`{clause}` lacks an operator (>=, >, <=, <, =)")))?;
            let version = parse_semver(version).map_err(|err| fail(err.to_string()))?;
            clauses.push((op, version));
        }
        Ok(Constraint {
            text: text.trim().to_string(),
            clauses,
        })
    }

    /// Whether `version` satisfies every clause.
    pub fn matches(&self, version: &semver::Version) -> bool {
        self.clauses
            .iter()
            .all(|(op, bound)| op.accepts(version.cmp_precedence(bound)))
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A dependency on another package: `kubelet >= 1.29.0`, `iptables (>= 1.4.21)`, `socat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The package depended on.
    pub name: String,
    /// An optional comparison with a version (kept as text: it is the other package's version).
    pub version: Option<(Op, String)>,
}

impl Dependency {
    /// Reads `name`, `name OP version` or `name (OP version)`.
    pub fn parse(text: &str) -> Result<Dependency, VersionError> {
        let fail = |reason: &str| VersionError::Constraint {
            value: text.to_string(),
            reason: reason.to_string(),
        };
        let text = text.trim();
        let name_end = text
            .find(|c: char| c.is_whitespace() || matches!(c, '(' | '<' | '>' | '='))
            .unwrap_or(text.len());
        let name = &text[..name_end];
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-' | '_');
        if name.is_empty() || !name.chars().all(valid) {
            return Err(fail("a dependency starts with a package name"));
        }
        let rest = text[name_end..].trim();
        let rest = rest
            .strip_prefix('(')
            .map(|inner| inner.strip_suffix(')').ok_or_else(|| fail("unclosed `(`")))
            .transpose()?
            .unwrap_or(rest)
            .trim();
        if rest.is_empty() {
            return Ok(Dependency {
                name: name.to_string(),
                version: None,
            });
        }
        let (op, version) =
            Op::parse(rest).ok_or_else(|| fail("expected >=, >, <=, < or = after the name"))?;
        if version.is_empty() || version.contains(char::is_whitespace) {
            return Err(fail("expected one version after the operator"));
        }
        Ok(Dependency {
            name: name.to_string(),
            version: Some((op, version.to_string())),
        })
    }

    /// Debian's form: `kubelet (>= 1.29.0)`.
    pub fn deb(&self) -> String {
        match &self.version {
            Some((op, version)) => format!("{} ({} {version})", self.name, op.deb()),
            None => self.name.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_version_and_revision_stay_apart() {
        let v = PackageVersion::new("1.29.0", "1.1").expect("valid");
        assert_eq!(
            (v.deb().as_str(), v.upstream(), v.revision()),
            ("1.29.0-1.1", "1.29.0", "1.1")
        );
        assert_eq!(v.minor_series(), "v1.29");
    }

    #[test]
    fn prereleases_take_the_tilde_rule() {
        let v = PackageVersion::new("v1.30.0-rc.1", "1.1").expect("valid");
        assert_eq!(v.upstream(), "1.30.0~rc.1");
        assert_eq!(v.deb(), "1.30.0~rc.1-1.1");
        assert!(v.is_prerelease());
        let nightly = PackageVersion::new("v1.30.0-alpha.0.12+4e9bdd481e2400", "0").expect("valid");
        assert_eq!(nightly.upstream(), "1.30.0~alpha.0.12+4e9bdd481e2400");
    }

    #[test]
    fn bad_versions_and_revisions_are_named() {
        let err = PackageVersion::new("1.29", "1").expect_err("not semver");
        assert!(err.to_string().contains("`1.29`"), "{err}");
        let err = PackageVersion::new("1.29.0", "1-1").expect_err("hyphen");
        assert!(err.to_string().contains("`1-1`"), "{err}");
        assert!(PackageVersion::new("1.29.0-rc-1", "1").is_err());
    }

    #[test]
    fn constraints_follow_semver_precedence() {
        let c = Constraint::parse(">= 1.28.0, < 1.30.0").expect("valid");
        let v = |s: &str| semver::Version::parse(s).expect("semver");
        assert!(c.matches(&v("1.28.0")));
        assert!(c.matches(&v("1.29.9")));
        assert!(
            c.matches(&v("1.30.0-rc.1")),
            "a 1.30 pre-release sorts before 1.30.0"
        );
        assert!(!c.matches(&v("1.30.0")));
        assert!(!c.matches(&v("1.27.5")));
        assert!(Constraint::parse(">=v1.28.0")
            .expect("compact")
            .matches(&v("1.28.0")));
        let err = Constraint::parse("1.28.0").expect_err("no operator");
        assert!(err.to_string().contains("operator"), "{err}");
    }

    #[test]
    fn dependencies_read_both_spellings() {
        let d = Dependency::parse("kubelet >= 1.29.0").expect("valid");
        assert_eq!(d.deb(), "kubelet (>= 1.29.0)");
        let d = Dependency::parse("iptables (>= 1.4.21)").expect("valid");
        assert_eq!(
            (d.name.as_str(), d.version.clone()),
            ("iptables", Some((Op::GreaterEqual, "1.4.21".into())))
        );
        assert_eq!(Dependency::parse("socat").expect("bare").deb(), "socat");
        assert_eq!(
            Dependency::parse("x > 1").expect("strict").deb(),
            "x (>> 1)"
        );
        assert!(Dependency::parse(">= 1").is_err());
        assert!(Dependency::parse("x (>= 1").is_err());
    }
}
