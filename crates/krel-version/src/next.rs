//! The versions a release produces, computed as upstream krel does.

use std::fmt;
use std::str::FromStr;

use crate::branch::Branch;
use crate::build_version::BuildVersion;
use crate::version::{Label, Version};

/// The kind of release being cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseType {
    /// `vX.Y.0-alpha.N` from the main branch.
    Alpha,
    /// `vX.Y.0-beta.N` from the main branch.
    Beta,
    /// `vX.Y.Z-rc.N` from a release branch, or `rc.0` when cutting the branch.
    Rc,
    /// `vX.Y.Z` from a release branch.
    Official,
}

impl ReleaseType {
    /// All types, in the order they appear in `--help`.
    pub const ALL: [ReleaseType; 4] = [
        ReleaseType::Alpha,
        ReleaseType::Beta,
        ReleaseType::Rc,
        ReleaseType::Official,
    ];

    /// The name used on the command line and in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseType::Alpha => "alpha",
            ReleaseType::Beta => "beta",
            ReleaseType::Rc => "rc",
            ReleaseType::Official => "official",
        }
    }
}

impl fmt::Display for ReleaseType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReleaseType {
    type Err = String;

    fn from_str(s: &str) -> Result<ReleaseType, String> {
        ReleaseType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a release type (alpha, beta, rc or official)"))
    }
}

/// The versions one release produces. `prime` is the headline version; a branch cut also
/// produces the next minor's `alpha.0` for the main branch.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ReleaseVersions {
    /// The most prominent version of this release.
    pub prime: Version,
    /// Set for an official release.
    pub official: Option<Version>,
    /// Set for a release candidate (and for a branch cut, `rc.0`).
    pub rc: Option<Version>,
    /// Set for a beta.
    pub beta: Option<Version>,
    /// Set for an alpha (and for a branch cut, the next minor's `alpha.0`).
    pub alpha: Option<Version>,
}

impl ReleaseVersions {
    fn only(prime: Version, set: impl FnOnce(&mut ReleaseVersions, Version)) -> ReleaseVersions {
        let mut versions = ReleaseVersions {
            prime: prime.clone(),
            official: None,
            rc: None,
            beta: None,
            alpha: None,
        };
        set(&mut versions, prime);
        versions
    }

    /// The versions in the order they are built and tagged: official, rc, beta, alpha.
    /// The prime version always comes first.
    pub fn ordered(&self) -> Vec<&Version> {
        [&self.official, &self.rc, &self.beta, &self.alpha]
            .into_iter()
            .flatten()
            .collect()
    }
}

/// Why no versions could be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NextVersionError {
    /// An alpha after a beta or rc on the same line.
    #[error(
        "cannot cut an alpha after {build_version}: the last release on this line is not an alpha"
    )]
    AlphaAfterNonAlpha {
        /// The build version the release would be cut from.
        build_version: String,
        /// The line's last release is a beta (so a beta can follow), not an rc or official.
        after_beta: bool,
    },
    /// A beta after an rc, an official release, or from an official tag.
    #[error("cannot cut a beta after {build_version}: betas follow an alpha or a beta")]
    BetaAfterNonPreview {
        /// The build version the release would be cut from.
        build_version: String,
    },
    /// The release type does not fit the branch.
    #[error("{release_type} releases are not cut from {branch_kind} `{branch}`")]
    TypeDoesNotFitBranch {
        /// The requested type.
        release_type: ReleaseType,
        /// "the main branch" or "release branch".
        branch_kind: &'static str,
        /// The branch name.
        branch: String,
    },
    /// Cutting a branch makes rc.0; any other type is refused.
    #[error("cutting release branch `{branch}` makes rc.0 and the next alpha.0; a {release_type} release cannot be cut at the same time")]
    BranchCutNeedsRc {
        /// The requested type.
        release_type: ReleaseType,
        /// The branch being cut.
        branch: String,
    },
    /// A branch cut needs the name of the branch to create.
    #[error("a branch cut needs the release branch to create (such as release-1.30), not the main branch `{branch}`")]
    BranchCutFromMain {
        /// The main branch name that was given.
        branch: String,
    },
    /// A version number is too large to add one to.
    #[error("build version {build_version} has a number too large to increment")]
    TooLarge {
        /// The build version given.
        build_version: String,
    },
    /// The release branch is for another minor line than the build version.
    #[error("branch `{branch}` is for v{major}.{minor}, but build version {build_version} is on another release line")]
    BranchDoesNotMatchBuild {
        /// The release branch.
        branch: String,
        /// X of the branch.
        major: u64,
        /// Y of the branch.
        minor: u64,
        /// The build version given.
        build_version: String,
    },
}

impl krel_error::Diagnose for NextVersionError {
    /// Refused when the history says no (an alpha after a beta, a beta after the branch
    /// cut); otherwise the request does not fit the branch or the build version.
    fn kind(&self) -> krel_error::ErrorKind {
        match self {
            NextVersionError::AlphaAfterNonAlpha { .. }
            | NextVersionError::BetaAfterNonPreview { .. } => krel_error::ErrorKind::Refused,
            _ => krel_error::ErrorKind::Usage,
        }
    }

    /// What a release manager can do about it.
    fn hint(&self) -> Option<String> {
        Some(self.advice())
    }
}

impl NextVersionError {
    fn advice(&self) -> String {
        match self {
            NextVersionError::AlphaAfterNonAlpha { after_beta: true, .. } => {
                "cut a beta instead (--type beta), or an alpha of the next minor after its branch cut".into()
            }
            NextVersionError::AlphaAfterNonAlpha { after_beta: false, .. } => {
                "this line is past its previews: the main branch's next alphas are the next minor's, after the branch cut (describe the main branch's head again: krel next-version --rev)".into()
            }
            NextVersionError::BetaAfterNonPreview { .. } => {
                "after the branch cut, cut release candidates (--type rc) from the release branch".into()
            }
            NextVersionError::TypeDoesNotFitBranch { release_type, .. } => match release_type {
                ReleaseType::Alpha | ReleaseType::Beta => {
                    "alphas and betas come from the main branch; pass --branch with the main branch".into()
                }
                ReleaseType::Rc | ReleaseType::Official => {
                    "rc and official releases come from a release branch (--branch release-X.Y); a release branch that does not exist yet is cut with rc.0 (krel stage does it when --branch names it; krel next-version needs --cut-branch)".into()
                }
            },
            NextVersionError::BranchCutNeedsRc { .. } => {
                "cut the branch with --type rc, then the official release from the branch".into()
            }
            NextVersionError::BranchCutFromMain { .. } => {
                "pass --branch release-X.Y for the minor whose branch is being cut".into()
            }
            NextVersionError::TooLarge { .. } => "check --build-version".into(),
            NextVersionError::BranchDoesNotMatchBuild { .. } => {
                "check --branch and --build-version: both must name the same vX.Y".into()
            }
        }
    }
}

/// Computes the versions a release produces.
///
/// - `cut_branch`: the release branch does not exist yet and this release creates it
///   (upstream's "branch from master"): only `rc` is allowed, and it yields `vX.Y.0-rc.0` plus
///   `vX.(Y+1).0-alpha.0`.
/// - On an existing release branch: `official` gives `vX.Y.P`, `rc` gives `vX.Y.P-rc.N`, where
///   P is the tag's patch (plus one after an official tag) and N is the tag's number plus one
///   (1 after an official tag).
/// - On the main branch: `beta` gives `-beta.0` after an alpha and `-beta.(N+1)` after
///   `beta.N`; `alpha` gives `-alpha.(N+1)` after `alpha.N`.
pub fn next_versions(
    release_type: ReleaseType,
    build: &BuildVersion,
    branch: &Branch,
    cut_branch: bool,
) -> Result<ReleaseVersions, NextVersionError> {
    let tag = &build.tag;
    let bv = || build.to_string();
    let plus_one = |n: u64| {
        n.checked_add(1).ok_or_else(|| NextVersionError::TooLarge {
            build_version: bv(),
        })
    };

    if let Branch::Release {
        name, major, minor, ..
    } = branch
    {
        if (*major, *minor) != build.major_minor() {
            return Err(NextVersionError::BranchDoesNotMatchBuild {
                branch: name.clone(),
                major: *major,
                minor: *minor,
                build_version: bv(),
            });
        }
    }

    if cut_branch {
        let Branch::Release { name, major, minor } = branch else {
            return Err(NextVersionError::BranchCutFromMain {
                branch: branch.name().to_string(),
            });
        };
        if release_type != ReleaseType::Rc {
            return Err(NextVersionError::BranchCutNeedsRc {
                release_type,
                branch: name.clone(),
            });
        }
        let rc = Version::pre_release(*major, *minor, 0, Label::Rc, 0);
        let mut versions = ReleaseVersions::only(rc, |v, rc| v.rc = Some(rc));
        versions.alpha = Some(Version::pre_release(
            *major,
            plus_one(*minor)?,
            0,
            Label::Alpha,
            0,
        ));
        return Ok(versions);
    }

    match (branch, release_type) {
        (Branch::Release { .. }, ReleaseType::Official | ReleaseType::Rc) => {
            // After an official tag the build belongs to the next patch.
            let patch = if tag.is_official() {
                plus_one(tag.patch)?
            } else {
                tag.patch
            };
            let base = Version::official(tag.major, tag.minor, patch);
            if release_type == ReleaseType::Official {
                return Ok(ReleaseVersions::only(base, |v, o| v.official = Some(o)));
            }
            let number = match tag.pre {
                Some(pre) => plus_one(pre.number)?,
                None => 1,
            };
            let rc = Version::pre_release(base.major, base.minor, base.patch, Label::Rc, number);
            Ok(ReleaseVersions::only(rc, |v, rc| v.rc = Some(rc)))
        }
        (Branch::Main(_), ReleaseType::Beta) => {
            let number = match tag.pre {
                Some(pre) if pre.label == Label::Alpha => 0,
                Some(pre) if pre.label == Label::Beta => plus_one(pre.number)?,
                _ => {
                    return Err(NextVersionError::BetaAfterNonPreview {
                        build_version: bv(),
                    })
                }
            };
            let beta = Version::pre_release(tag.major, tag.minor, tag.patch, Label::Beta, number);
            Ok(ReleaseVersions::only(beta, |v, b| v.beta = Some(b)))
        }
        (Branch::Main(_), ReleaseType::Alpha) => match tag.pre {
            Some(pre) if pre.label == Label::Alpha => {
                let alpha = Version::pre_release(
                    tag.major,
                    tag.minor,
                    tag.patch,
                    Label::Alpha,
                    plus_one(pre.number)?,
                );
                Ok(ReleaseVersions::only(alpha, |v, a| v.alpha = Some(a)))
            }
            _ => Err(NextVersionError::AlphaAfterNonAlpha {
                build_version: bv(),
                after_beta: tag.pre.is_some_and(|pre| pre.label == Label::Beta),
            }),
        },
        (Branch::Release { name, .. }, _) => Err(NextVersionError::TypeDoesNotFitBranch {
            release_type,
            branch_kind: "release branch",
            branch: name.clone(),
        }),
        (Branch::Main(name), _) => Err(NextVersionError::TypeDoesNotFitBranch {
            release_type,
            branch_kind: "the main branch",
            branch: name.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ReleaseBranchPattern;
    use krel_error::Diagnose;

    fn run(
        release_type: ReleaseType,
        build: &str,
        branch: &str,
        cut: bool,
    ) -> Result<Vec<String>, NextVersionError> {
        let pattern = ReleaseBranchPattern::default();
        let branch = Branch::parse(branch, "master", &pattern).unwrap();
        let build: BuildVersion = build.parse().unwrap();
        let versions = next_versions(release_type, &build, &branch, cut)?;
        let ordered: Vec<String> = versions.ordered().iter().map(|v| v.to_string()).collect();
        assert_eq!(ordered[0], versions.prime.to_string(), "prime comes first");
        Ok(ordered)
    }

    // The vectors of upstream's release_version_test.go, plus the issue's.
    #[test]
    fn new_final_patch_release() {
        let got = run(
            ReleaseType::Official,
            "v1.18.4-rc.0.3+3ff09514d162b0",
            "release-1.18",
            false,
        );
        assert_eq!(got.unwrap(), ["v1.18.4"]);
    }

    #[test]
    fn new_rc_on_existing_release_branch() {
        let got = run(
            ReleaseType::Rc,
            "v1.18.4-beta.0.2+3ff09514d162b0",
            "release-1.18",
            false,
        );
        assert_eq!(got.unwrap(), ["v1.18.4-rc.1"]);
    }

    #[test]
    fn rc_cut_creates_the_branch_and_the_next_alpha() {
        let got = run(
            ReleaseType::Rc,
            "v1.18.0-beta.3.2+3ff09514d162b0",
            "release-1.18",
            true,
        );
        assert_eq!(got.unwrap(), ["v1.18.0-rc.0", "v1.19.0-alpha.0"]);
    }

    #[test]
    fn beta_from_beta_and_from_alpha() {
        let got = run(
            ReleaseType::Beta,
            "v1.18.4-beta.1.2+3ff09514d162b0",
            "master",
            false,
        );
        assert_eq!(got.unwrap(), ["v1.18.4-beta.2"]);
        let got = run(
            ReleaseType::Beta,
            "v1.18.0-alpha.1.2+3ff09514d162b0",
            "master",
            false,
        );
        assert_eq!(got.unwrap(), ["v1.18.0-beta.0"]);
    }

    #[test]
    fn alpha_from_alpha() {
        let got = run(
            ReleaseType::Alpha,
            "v1.18.4-alpha.1.2+3ff09514d162b0",
            "master",
            false,
        );
        assert_eq!(got.unwrap(), ["v1.18.4-alpha.2"]);
        let got = run(
            ReleaseType::Alpha,
            "v1.20.0-alpha.2.1273+4e9bdd481e2400",
            "master",
            false,
        );
        assert_eq!(got.unwrap(), ["v1.20.0-alpha.3"]);
    }

    #[test]
    fn alpha_after_beta_is_an_error() {
        let err = run(
            ReleaseType::Alpha,
            "v1.18.4-beta.1.2+3ff09514d162b0",
            "master",
            false,
        );
        assert!(matches!(
            err,
            Err(NextVersionError::AlphaAfterNonAlpha { .. })
        ));
    }

    #[test]
    fn official_while_cutting_a_branch_is_an_error() {
        let err = run(
            ReleaseType::Official,
            "v1.18.0-beta.3.2+3ff09514d162b0",
            "release-1.18",
            true,
        );
        assert!(matches!(
            err,
            Err(NextVersionError::BranchCutNeedsRc { .. })
        ));
    }

    #[test]
    fn patch_after_an_official_tag() {
        let got = run(
            ReleaseType::Official,
            "v1.26.3-39+4a7242e481c645",
            "release-1.26",
            false,
        );
        assert_eq!(got.unwrap(), ["v1.26.4"]);
        let got = run(
            ReleaseType::Rc,
            "v1.26.3-39+4a7242e481c645",
            "release-1.26",
            false,
        );
        assert_eq!(got.unwrap(), ["v1.26.4-rc.1"]);
    }

    #[test]
    fn types_that_do_not_fit_the_branch() {
        for (t, branch) in [
            (ReleaseType::Alpha, "release-1.18"),
            (ReleaseType::Beta, "release-1.18"),
            (ReleaseType::Rc, "master"),
            (ReleaseType::Official, "master"),
        ] {
            let err = run(t, "v1.18.0-alpha.1.2+3ff0", branch, false).unwrap_err();
            assert!(
                matches!(err, NextVersionError::TypeDoesNotFitBranch { .. }),
                "{t} {branch}"
            );
            assert!(!err.hint().unwrap_or_default().is_empty());
        }
        let err = run(ReleaseType::Rc, "v1.18.0-beta.1.2+3ff0", "master", true).unwrap_err();
        assert!(matches!(err, NextVersionError::BranchCutFromMain { .. }));
        let err = run(ReleaseType::Beta, "v1.18.0-rc.1.2+3ff0", "master", false).unwrap_err();
        assert!(matches!(err, NextVersionError::BetaAfterNonPreview { .. }));
    }

    #[test]
    fn branch_must_match_the_build_line() {
        let err = run(
            ReleaseType::Rc,
            "v1.19.0-alpha.0.2+3ff0",
            "release-1.18",
            false,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("`release-1.18` is for v1.18"),
            "{err}"
        );
        let err = run(
            ReleaseType::Rc,
            "v1.19.0-beta.0.2+3ff0",
            "release-1.18",
            true,
        )
        .unwrap_err();
        assert!(matches!(
            err,
            NextVersionError::BranchDoesNotMatchBuild { .. }
        ));
    }

    #[test]
    fn huge_numbers_are_an_error_not_a_panic() {
        let max = u64::MAX;
        for (t, bv, branch, cut) in [
            (
                ReleaseType::Official,
                format!("v1.0.{max}"),
                "release-1.0",
                false,
            ),
            (
                ReleaseType::Rc,
                format!("v1.0.0-rc.{max}"),
                "release-1.0",
                false,
            ),
            (
                ReleaseType::Alpha,
                format!("v1.0.0-alpha.{max}"),
                "master",
                false,
            ),
            (
                ReleaseType::Beta,
                format!("v1.0.0-beta.{max}"),
                "master",
                false,
            ),
            (
                ReleaseType::Rc,
                format!("v1.{max}.0-beta.1"),
                &format!("release-1.{max}") as &str,
                true,
            ),
        ] {
            let err = run(t, &bv, branch, cut).unwrap_err();
            assert!(
                matches!(err, NextVersionError::TooLarge { .. }),
                "{bv}: {err}"
            );
        }
    }

    #[test]
    fn release_type_names() {
        for t in ReleaseType::ALL {
            assert_eq!(t.as_str().parse::<ReleaseType>().unwrap(), t);
        }
        assert!("gamma"
            .parse::<ReleaseType>()
            .unwrap_err()
            .contains("alpha, beta, rc or official"));
    }
}
