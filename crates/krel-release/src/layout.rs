//! Where everything goes, in the bucket and in the workspace (the same layout in both):
//!
//! ```text
//! stage/<build-version>/
//!   src.tar.gz, src.tar.gz.sha256, src.tar.gz.sig     source with git objects
//!   <version>/gcs-stage/<version>/                      what release/<version>/ will hold:
//!     <artifacts>, bin/<os>/<arch>/<binary>             as build.artifacts maps them
//!     <project>-release.spdx.json                       SBOM of the artifacts
//!     <project>-source.spdx.json                        SBOM of the source
//!     SHA256SUMS, SHA512SUMS, <file>.sha256/.sha512     checksums
//!     <file>.sigstore.json, <file>.sig                  signatures (not in the SUMS)
//!     <sbom>.intoto.sigstore.json                       SBOM attestations (DSSE)
//!   <version>/provenance.json (+ .sigstore.json, .sig)  SLSA v1: every file above as subject
//!   <version>/provenance.json.intoto.sigstore.json      the same statement as a DSSE attestation
//!   STAGED.json (+ .sigstore.json, .sig)                completion record, uploaded last
//!   RELEASED.json                                       written by `krel release`, last
//! stage-partial/<build-version>/<os>-<arch>/             a split stage's platform job:
//!   <version>/<artifacts of that platform>              what its build collected
//!   PARTIAL.json                                         its record, uploaded last
//! release/<version>/                                     gcs-stage/<version>/ + provenance
//! release/latest[-X[.Y]].txt, stable[-X[.Y]].txt         version markers
//! ```

use krel_version::{BuildVersion, Version};

/// The completion record of a stage: present only when every other file is uploaded.
pub const STAGED: &str = "STAGED.json";
/// The provenance statement of one version.
pub const PROVENANCE: &str = "provenance.json";
/// The record of one platform's partial stage.
pub const PARTIAL: &str = "PARTIAL.json";
/// The source archive.
pub const SOURCE_ARCHIVE: &str = "src.tar.gz";

/// `stage/<build-version>`.
pub fn stage_dir(build: &BuildVersion) -> String {
    format!("stage/{build}")
}

/// `stage-partial/<build-version>`: the platform jobs of a split stage, one directory each.
/// Apart from `stage/`, so that a merged stage is the same as a one-machine stage.
pub fn partial_root(build: &BuildVersion) -> String {
    format!("stage-partial/{build}")
}

/// `<version>/gcs-stage/<version>`, relative to the stage directory.
pub fn gcs_stage(version: &Version) -> String {
    format!("{version}/gcs-stage/{version}")
}

/// `<version>/provenance.json`, relative to the stage directory.
pub fn provenance(version: &Version) -> String {
    format!("{version}/{PROVENANCE}")
}

/// `release/<version>`.
pub fn release_dir(version: &Version) -> String {
    format!("release/{version}")
}

/// A name usable in file names: lower case, `-` for anything but letters and digits.
pub fn slug(project: &str) -> String {
    let slug: String = project
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let slug = slug.trim_matches('-').to_string();
    if slug.is_empty() {
        "project".into()
    } else {
        slug
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_upstream() {
        let build: BuildVersion = "v1.30.0-rc.0.12+4e9bdd481e2400".parse().unwrap();
        let version: Version = "v1.30.0-rc.1".parse().unwrap();
        assert_eq!(stage_dir(&build), "stage/v1.30.0-rc.0.12+4e9bdd481e2400");
        assert_eq!(gcs_stage(&version), "v1.30.0-rc.1/gcs-stage/v1.30.0-rc.1");
        assert_eq!(release_dir(&version), "release/v1.30.0-rc.1");
        assert_eq!(slug("Kubernetes"), "kubernetes");
        assert_eq!(slug("My Widget!"), "my-widget");
    }
}
