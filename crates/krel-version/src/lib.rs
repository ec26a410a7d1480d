//! Kubernetes release versions, build versions and the rules that compute the next release.
//!
//! This crate is pure logic: no I/O, no git, no clock. It knows three things:
//!
//! - [`Version`]: a release version as tagged, `v1.29.0`, `v1.29.0-alpha.3`, `v1.29.0-rc.1`,
//!   ordered the way Kubernetes releases are (`alpha < beta < rc < official`).
//! - [`BuildVersion`]: what `git describe` says about a commit, in Kubernetes' form:
//!   `v1.20.0-alpha.2.1273+4e9bdd481e2400` (1273 commits after `v1.20.0-alpha.2`),
//!   `v1.26.3-39+4a7242e481c645` (39 commits after the official `v1.26.3`), optionally `-dirty`.
//! - [`next_versions`]: given a [`ReleaseType`], a build version and a [`Branch`], the versions a
//!   release produces, exactly as upstream krel computes them (`pkg/release/release_version.go`),
//!   except that combinations upstream silently mishandles are errors here.
//!
//! ```
//! use krel_version::{next_versions, Branch, BuildVersion, ReleaseBranchPattern, ReleaseType};
//!
//! let pattern = ReleaseBranchPattern::default(); // release-{major}.{minor}
//! let branch = Branch::parse("release-1.18", "master", &pattern).unwrap();
//! let build: BuildVersion = "v1.18.0-beta.3.2+3ff09514d162b0".parse().unwrap();
//! let versions = next_versions(ReleaseType::Rc, &build, &branch, true).unwrap();
//! let names: Vec<String> = versions.ordered().iter().map(|v| v.to_string()).collect();
//! assert_eq!(names, ["v1.18.0-rc.0", "v1.19.0-alpha.0"]);
//! ```

mod branch;
mod build_version;
mod next;
mod version;

pub use branch::{Branch, BranchError, ReleaseBranchPattern};
pub use build_version::BuildVersion;
pub use next::{next_versions, NextVersionError, ReleaseType, ReleaseVersions};
pub use version::{Label, PreRelease, Version, VersionError};
