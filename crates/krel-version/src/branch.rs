//! Branches a release is cut from: the main branch, or a release branch named by a pattern.

use std::fmt;

/// The naming pattern of release branches, such as `release-{major}.{minor}` (the default,
/// as Kubernetes names them). It both recognises a branch name and builds one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseBranchPattern {
    template: String,
    prefix: String,
    middle: String,
    suffix: String,
}

/// Why a branch or branch pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BranchError {
    /// The pattern lacks a placeholder or has them in the wrong order.
    #[error("release branch pattern `{0}` must contain `{{major}}` followed by `{{minor}}` with text between them, for example `release-{{major}}.{{minor}}`")]
    BadPattern(String),
    /// The branch is neither the main branch nor a release branch.
    #[error("branch `{branch}` is neither the main branch `{main}` nor a release branch like `{example}`")]
    NotAReleaseBranch {
        /// The branch that was given.
        branch: String,
        /// The configured main branch.
        main: String,
        /// An example release branch name built from the pattern.
        example: String,
    },
}

impl krel_error::Diagnose for BranchError {
    /// A branch or pattern that does not fit is a usage error.
    fn kind(&self) -> krel_error::ErrorKind {
        krel_error::ErrorKind::Usage
    }

    fn hint(&self) -> Option<String> {
        Some("--branch is the main branch (git.main_branch) or a release branch (git.release_branch)".into())
    }
}

impl ReleaseBranchPattern {
    /// Reads a pattern with `{major}` and `{minor}` placeholders.
    pub fn new(template: &str) -> Result<ReleaseBranchPattern, BranchError> {
        let bad = || BranchError::BadPattern(template.to_string());
        let (prefix, rest) = template.split_once("{major}").ok_or_else(bad)?;
        let (middle, suffix) = rest.split_once("{minor}").ok_or_else(bad)?;
        let has_digit_or_brace = |s: &str| s.bytes().any(|b| b.is_ascii_digit() || b == b'{');
        if middle.is_empty() || [prefix, middle, suffix].into_iter().any(has_digit_or_brace) {
            return Err(bad());
        }
        Ok(ReleaseBranchPattern {
            template: template.to_string(),
            prefix: prefix.to_string(),
            middle: middle.to_string(),
            suffix: suffix.to_string(),
        })
    }

    /// The pattern as written.
    pub fn template(&self) -> &str {
        &self.template
    }

    /// The branch name for a release line: `(1, 30)` gives `release-1.30`.
    pub fn branch_name(&self, major: u64, minor: u64) -> String {
        format!(
            "{}{major}{}{minor}{}",
            self.prefix, self.middle, self.suffix
        )
    }

    /// The release line of a branch name, or `None` when the name does not match exactly.
    pub fn parse(&self, name: &str) -> Option<(u64, u64)> {
        let rest = name.strip_prefix(&self.prefix)?;
        let rest = rest.strip_suffix(&self.suffix)?;
        let (major, minor) = rest.split_once(&self.middle)?;
        Some((plain_number(major)?, plain_number(minor)?))
    }
}

impl Default for ReleaseBranchPattern {
    fn default() -> ReleaseBranchPattern {
        ReleaseBranchPattern {
            template: "release-{major}.{minor}".to_string(),
            prefix: "release-".to_string(),
            middle: ".".to_string(),
            suffix: String::new(),
        }
    }
}

fn plain_number(s: &str) -> Option<u64> {
    let canonical = !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_digit())
        && !(s.len() > 1 && s.starts_with('0'));
    canonical.then(|| s.parse().ok()).flatten()
}

/// The branch a release is cut from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Branch {
    /// The main development branch (`master` for kubernetes/kubernetes, often `main`).
    Main(String),
    /// A release branch for one minor line.
    Release {
        /// The branch name, such as `release-1.30`.
        name: String,
        /// X of the release line.
        major: u64,
        /// Y of the release line.
        minor: u64,
    },
}

impl Branch {
    /// Classifies a branch name: the main branch (the configured `main`, or `main`/`master`
    /// as upstream accepts both), a release branch, or an error.
    pub fn parse(
        name: &str,
        main: &str,
        pattern: &ReleaseBranchPattern,
    ) -> Result<Branch, BranchError> {
        if name == main || name == "main" || name == "master" {
            return Ok(Branch::Main(name.to_string()));
        }
        match pattern.parse(name) {
            Some((major, minor)) => Ok(Branch::Release {
                name: name.to_string(),
                major,
                minor,
            }),
            None => Err(BranchError::NotAReleaseBranch {
                branch: name.to_string(),
                main: main.to_string(),
                example: pattern.branch_name(1, 30),
            }),
        }
    }

    /// The branch name.
    pub fn name(&self) -> &str {
        match self {
            Branch::Main(name) | Branch::Release { name, .. } => name,
        }
    }
}

impl fmt::Display for Branch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_pattern_matches_kubernetes_branches() {
        let p = ReleaseBranchPattern::default();
        assert_eq!(
            p,
            ReleaseBranchPattern::new("release-{major}.{minor}").unwrap()
        );
        assert_eq!(p.parse("release-1.30"), Some((1, 30)));
        assert_eq!(p.parse("release-1.9"), Some((1, 9)));
        assert_eq!(p.branch_name(1, 30), "release-1.30");
        for bad in [
            "release-1",
            "release-1.30.1",
            "release-1.x",
            "release-01.30",
            "xrelease-1.30",
            "release-1.30-x",
            "release-.30",
        ] {
            assert_eq!(p.parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn custom_patterns() {
        let p = ReleaseBranchPattern::new("v{major}.{minor}.x").unwrap();
        assert_eq!(p.parse("v2.7.x"), Some((2, 7)));
        assert_eq!(p.branch_name(2, 7), "v2.7.x");
        for bad in [
            "release-{major}",
            "{minor}.{major}",
            "r{major}{minor}",
            "r1{major}.{minor}",
        ] {
            assert!(ReleaseBranchPattern::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn classifies_branches() {
        let p = ReleaseBranchPattern::default();
        assert_eq!(
            Branch::parse("master", "master", &p).unwrap(),
            Branch::Main("master".into())
        );
        assert_eq!(
            Branch::parse("release-1.18", "master", &p).unwrap(),
            Branch::Release {
                name: "release-1.18".into(),
                major: 1,
                minor: 18
            }
        );
        assert_eq!(
            Branch::parse("main", "trunk", &p).unwrap(),
            Branch::Main("main".into())
        );
        let err = Branch::parse("feature-x", "master", &p)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`feature-x`") && err.contains("release-1.30"),
            "{err}"
        );
    }
}
