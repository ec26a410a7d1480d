//! The records a stage and a release leave in the bucket, with typed fields.
//!
//! - [`StagedRecord`] (`STAGED.json`, signed): what a completed stage is: project, build
//!   version, type, branch, versions, tags, and every staged file with its SHA-256.
//! - [`PartialRecord`] (`PARTIAL.json`): one platform job's part of a split stage: the stage
//!   record that release will have, listing that platform's files, plus the platform and the
//!   time its job used.
//! - [`ReleasedRecord`] (`RELEASED.json`): written last by `krel release`.
//!
//! Stage, split, verify and release all read and write them through this module. A record is
//! outside input once it has been in a bucket: [`StagedRecord::problems`] checks every field
//! that later becomes a path or a ref, so that a signed record naming `../../x` is refused for
//! what it is.

use std::collections::BTreeMap;
use std::path::Path;

use krel_git::CommitId;
use krel_version::{BuildVersion, ReleaseType, Version};
use serde::{Deserialize, Serialize};

use crate::files::{create_parent, write_file};
use crate::layout;
use crate::ReleaseError;

/// The completion record of a stage, `STAGED.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedRecord {
    /// The project.
    pub project: String,
    /// The build version.
    pub build_version: BuildVersion,
    /// alpha, beta, rc or official.
    pub release_type: ReleaseType,
    /// The branch released from.
    pub branch: String,
    /// True when this stage cuts the branch.
    pub cut_branch: bool,
    /// The versions, prime first.
    pub versions: Vec<Version>,
    /// Version → the commit its tag points at.
    pub tags: BTreeMap<String, CommitId>,
    /// Where the release branch is to point (release branches only).
    pub release_branch_commit: Option<CommitId>,
    /// Every staged file (relative to `stage/<build-version>/`) → SHA-256.
    pub files: BTreeMap<String, String>,
    /// Version → its container images, pushed to the staging registry (none when the build
    /// makes no images).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub images: BTreeMap<String, Vec<StagedImage>>,
}

impl StagedImage {
    /// The copy of this image with its signatures (the index's and every platform's), when
    /// it has an index.
    pub fn copy(&self) -> Option<krel_image::ImageRef> {
        let index = self.digest.clone()?;
        let mut signed = vec![index.clone()];
        signed.extend(self.platforms.values().cloned());
        Some(krel_image::ImageRef {
            name: self.name.clone(),
            digest: index,
            signed,
        })
    }
}

/// One container image of a version: its index over every platform, and each platform's
/// manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedImage {
    /// The image name (its repository under the registry's prefix).
    pub name: String,
    /// The index listing every platform (absent in a platform job's record, whose merge makes
    /// it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<krel_image::Digest>,
    /// Platform (`os/arch`) → its manifest.
    pub platforms: BTreeMap<String, krel_image::Digest>,
}

impl StagedRecord {
    /// Every field that would become a path or a ref and is not a plain one: each tag names a
    /// staged version, the branch is a plain branch name, every file is a relative path
    /// without `.` or `..` and its digest is 64 hex digits.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let versions: Vec<String> = self.versions.iter().map(ToString::to_string).collect();
        if versions.is_empty() {
            problems.push("it names no version".into());
        }
        for tag in self.tags.keys() {
            if !versions.contains(tag) {
                problems.push(format!("tag `{tag}` is not one of its versions"));
            }
        }
        if !is_plain_ref_name(&self.branch) {
            problems.push(format!("`{}` is not a branch name", self.branch));
        }
        for (path, sha256) in &self.files {
            if !is_plain_relative_path(path) {
                problems.push(format!("`{path}` is not a plain relative path"));
            }
            if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                problems.push(format!("the SHA-256 of `{path}` is not 64 hex digits"));
            }
        }
        for (version, images) in &self.images {
            if !versions.contains(version) {
                problems.push(format!(
                    "images of `{version}`, which is not one of its versions"
                ));
            }
            for image in images {
                if !krel_image::is_repository_component(&image.name) {
                    problems.push(format!("`{}` is not an image name", image.name));
                }
                if image.platforms.is_empty() {
                    problems.push(format!("image {} of {version} has no platform", image.name));
                }
            }
        }
        problems
    }

    /// [`StagedRecord::problems`], and every image has its index (a completed stage's record).
    fn completed_problems(&self) -> Vec<String> {
        let mut problems = self.problems();
        for (version, images) in &self.images {
            for image in images.iter().filter(|i| i.digest.is_none()) {
                problems.push(format!(
                    "image {} of {version} has no index digest",
                    image.name
                ));
            }
        }
        problems
    }

    /// The record as written: pretty JSON and a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        to_bytes(self)
    }

    /// Reads a record; `what` names it in errors (a location).
    pub fn parse(bytes: &[u8], what: &str) -> Result<StagedRecord, ReleaseError> {
        let record: StagedRecord =
            serde_json::from_slice(bytes).map_err(|err| ReleaseError::Verification {
                what: what.to_string(),
                problems: vec![format!("{} is not a stage record: {err}", layout::STAGED)],
            })?;
        let problems: Vec<String> = record
            .completed_problems()
            .into_iter()
            .map(|p| format!("{}: {p}", layout::STAGED))
            .collect();
        if problems.is_empty() {
            Ok(record)
        } else {
            Err(ReleaseError::Verification {
                what: what.to_string(),
                problems,
            })
        }
    }

    /// `--type T --branch B` of the project, as a person would ask for it.
    pub fn describe(&self) -> String {
        format!(
            "`--type {} --branch {}` of {}",
            self.release_type, self.branch, self.project
        )
    }
}

/// The record of one platform's partial stage, `PARTIAL.json`: the stage record this release
/// will have (`STAGED.json`'s fields), listing this platform's files, plus the platform and
/// the time its job used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartialRecord {
    /// Project, build version, type, branch, versions, tags; `files` are this platform's
    /// (`<version>/<path>`, relative to the partial directory) → SHA-256.
    #[serde(flatten)]
    pub stage: StagedRecord,
    /// The time used for commits, tags, documents and the build (`SOURCE_DATE_EPOCH`).
    pub source_date_epoch: i64,
    /// The platform built, `os/arch`.
    pub platform: String,
}

impl PartialRecord {
    /// Everything but the platform and its files: what every platform's record must share.
    pub fn release(&self) -> (StagedRecord, i64) {
        let stage = StagedRecord {
            files: BTreeMap::new(),
            images: BTreeMap::new(),
            ..self.stage.clone()
        };
        (stage, self.source_date_epoch)
    }

    /// [`PartialRecord::release`], for messages.
    pub fn describe(&self) -> String {
        let stage = &self.stage;
        format!(
            "{} {} {} from {} of {}{} (tags {}, time {})",
            stage.project,
            stage.release_type,
            join(&stage.versions, " and "),
            stage.branch,
            stage.build_version,
            if stage.cut_branch { ", branch cut" } else { "" },
            stage
                .tags
                .iter()
                .map(|(tag, commit)| format!("{tag}={}", commit.short()))
                .collect::<Vec<_>>()
                .join(" "),
            self.source_date_epoch,
        )
    }

    /// Writes `PARTIAL.json` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), ReleaseError> {
        let path = dir.join(layout::PARTIAL);
        create_parent(&path)?;
        write_file(&path, &to_bytes(self))
    }
}

/// The completion record of a release, `RELEASED.json`, uploaded last beside the stage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleasedRecord {
    /// The project.
    pub project: String,
    /// The build version released.
    pub build_version: BuildVersion,
    /// The versions, prime first.
    pub versions: Vec<Version>,
    /// Version → the commit its tag points at.
    pub tags: BTreeMap<String, CommitId>,
    /// The release branch, for releases from a release branch.
    pub release_branch: Option<String>,
    /// Where the stage put the release branch.
    pub release_branch_commit: Option<CommitId>,
    /// Where the versions are published (`<bucket>/release`).
    pub location: String,
}

impl ReleasedRecord {
    /// The record as written: pretty JSON and a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        to_bytes(self)
    }
}

/// The versions joined with `sep`, for messages.
pub fn join(versions: &[Version], sep: &str) -> String {
    versions
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(sep)
}

fn to_bytes(value: &impl Serialize) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// A relative path of plain names: no empty, `.` or `..` part, no leading `/`, no `\`.
pub fn is_plain_relative_path(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\\')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

/// A branch name git accepts and that names nothing outside `refs/heads/`.
fn is_plain_ref_name(name: &str) -> bool {
    is_plain_relative_path(name)
        && !name.contains("..")
        && !name.starts_with('-')
        && !name.ends_with(".lock")
        && !name.ends_with('.')
        && name
            .chars()
            .all(|c| !c.is_control() && !" ~^:?*[".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn record() -> StagedRecord {
        StagedRecord {
            project: "widget".into(),
            build_version: "v1.0.0-alpha.0.3+abcdef0".parse().unwrap(),
            release_type: ReleaseType::Alpha,
            branch: "main".into(),
            cut_branch: false,
            versions: vec!["v1.0.0-alpha.1".parse().unwrap()],
            tags: [(
                "v1.0.0-alpha.1".to_string(),
                "0123456789abcdef0123456789abcdef01234567".parse().unwrap(),
            )]
            .into(),
            release_branch_commit: None,
            files: [("v1.0.0-alpha.1/a".to_string(), "ab".repeat(32))].into(),
            images: BTreeMap::new(),
        }
    }

    #[test]
    fn a_record_reads_back_as_written_with_the_same_bytes() {
        let bytes = record().to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("\"release_type\": \"alpha\""), "{text}");
        assert!(
            text.contains("\"versions\": [\n    \"v1.0.0-alpha.1\"\n  ]"),
            "{text}"
        );
        let back = StagedRecord::parse(&bytes, "here").unwrap();
        assert_eq!(back, record());
        assert_eq!(back.to_bytes(), bytes);
    }

    #[test]
    fn fields_that_become_paths_or_refs_are_checked() {
        let text = String::from_utf8(record().to_bytes()).unwrap();
        let bad_version = text.replace("\"v1.0.0-alpha.1\"\n  ]", "\"../../../x\"\n  ]");
        let err = StagedRecord::parse(bad_version.as_bytes(), "here").unwrap_err();
        assert!(
            err.to_string().contains("here failed verification"),
            "{err}"
        );

        let mut escaping = record();
        escaping
            .files
            .insert("../../etc/passwd".into(), "00".repeat(32));
        escaping.branch = "../heads".into();
        escaping
            .tags
            .insert("v9.9.9".into(), escaping.tags["v1.0.0-alpha.1"]);
        let problems = escaping.problems();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(StagedRecord::parse(&escaping.to_bytes(), "here").is_err());

        let short_commit = text.replace("0123456789abcdef0123456789abcdef01234567", "0123456789ab");
        assert!(StagedRecord::parse(short_commit.as_bytes(), "here").is_err());
    }

    #[test]
    fn partial_records_of_one_release_describe_it_alike_whatever_the_platform() {
        let partial = |platform: &str| PartialRecord {
            stage: StagedRecord {
                images: BTreeMap::new(),
                files: BTreeMap::new(),
                ..record()
            },
            source_date_epoch: 1_700_000_000,
            platform: platform.into(),
        };
        let amd = partial("linux/amd64");
        let mut arm = partial("linux/arm64");
        arm.stage
            .files
            .insert("v1.0.0-alpha.1/x".into(), "00".repeat(32));
        assert_eq!(amd.release(), arm.release());
        let mut other_time = partial("linux/arm64");
        other_time.source_date_epoch += 1;
        assert_ne!(amd.release(), other_time.release());
        let mut other_tag = partial("linux/arm64");
        other_tag.stage.tags.insert(
            "v1.0.0-alpha.1".into(),
            "fedcba9876543210fedcba9876543210fedcba98".parse().unwrap(),
        );
        assert_ne!(amd.release(), other_tag.release());
        assert!(amd
            .describe()
            .contains("widget alpha v1.0.0-alpha.1 from main"));
    }

    #[test]
    fn plain_paths_and_branch_names() {
        assert!(is_plain_relative_path("v1/gcs-stage/v1/bin/linux/amd64/x"));
        for bad in ["", "/x", "a//b", "a/../b", "./a", "a\\b"] {
            assert!(!is_plain_relative_path(bad), "{bad}");
        }
        assert!(is_plain_ref_name("release-1.30"));
        for bad in ["-x", "a..b", "x.lock", "a b", "a:b", "../x"] {
            assert!(!is_plain_ref_name(bad), "{bad}");
        }
    }
}
