//! The second half of a release: each part of the publication planned from the remotes'
//! current state. Every planner returns [`Planned`]: the actions left to do, and what it found
//! already done, so a rerun plans only what is left and a finished release plans nothing.

use std::collections::BTreeMap;
use std::path::Path;

use futures_util::StreamExt;
use krel_git::{CommitId, RefUpdate};
use krel_github::{AssetFile, ExistingRelease, GitHubError, ReleaseSpec};
use krel_plan::Action;
use krel_storage::{
    marker_names, plan_marker, plan_push, Location, PushOptions, Store, UploadBatch,
};
use krel_version::Version;

use crate::files::{io, relative_files, write_file};
use crate::layout;
use crate::records::{ReleasedRecord, StagedRecord};
use crate::{storage, ReleaseError};

/// What one planner decided.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Planned {
    /// Actions left to do, in order.
    pub actions: Vec<Action>,
    /// What is already done on the remotes, for the person running the release.
    pub done: Vec<String>,
}

impl Planned {
    /// Appends `other`'s actions and findings.
    pub fn extend(&mut self, other: Planned) {
        self.actions.extend(other.actions);
        self.done.extend(other.done);
    }
}

/// The git remote the refs go to.
#[derive(Clone, Debug)]
pub struct GitTarget {
    /// The remote's name.
    pub remote: String,
    /// Its URL.
    pub url: String,
}

impl GitTarget {
    fn update(
        &self,
        source: &str,
        commit: CommitId,
        destination: &str,
        expected: Option<CommitId>,
    ) -> RefUpdate {
        RefUpdate {
            remote: self.remote.clone(),
            url: self.url.clone(),
            source: source.to_string(),
            commit,
            destination: destination.to_string(),
            expected,
        }
    }
}

/// Where the remote's release branch stands against the release commit, as read (and, when
/// it moved, merged) by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BranchState {
    /// The remote has no such branch: this release cuts it.
    Absent,
    /// The branch is at the release commit.
    AtRelease,
    /// The branch has moved on past the release commit.
    HoldsRelease,
    /// The branch is behind the release commit, at `head`: fast-forward.
    Behind {
        /// The remote's head.
        head: CommitId,
    },
    /// The branch moved since the stage: `merged` (kept at `refs/krel/release/<branch>`)
    /// merges `head` into the release commit.
    Merged {
        /// The merge commit.
        merged: CommitId,
        /// The remote's head.
        head: CommitId,
    },
}

/// The release branch (when the stage has one), then each tag: a tag already on the remote
/// at the same commit is done; at another commit the release stops before any change.
pub fn plan_git(
    record: &StagedRecord,
    remote_tags: &BTreeMap<String, CommitId>,
    branch: Option<BranchState>,
    target: &GitTarget,
) -> Result<Planned, ReleaseError> {
    let mut planned = Planned::default();
    if let (Some(state), Some(release_commit)) = (branch, record.release_branch_commit) {
        planned.extend(plan_branch(&record.branch, release_commit, state, target));
    }
    for (version, commit) in &record.tags {
        match remote_tags.get(version) {
            Some(existing) if existing == commit => {
                planned.done.push(format!("tag {version} is on the remote"));
            }
            Some(existing) => {
                return Err(ReleaseError::TagOnRemote {
                    tag: version.clone(),
                    version: version.clone(),
                    commit: existing.short(),
                })
            }
            None => {
                let name = format!("refs/tags/{version}");
                planned
                    .actions
                    .push(Action::PushRef(target.update(&name, *commit, &name, None)));
            }
        }
    }
    Ok(planned)
}

fn plan_branch(
    branch: &str,
    release_commit: CommitId,
    state: BranchState,
    target: &GitTarget,
) -> Planned {
    let local = format!("refs/heads/{branch}");
    let mut planned = Planned::default();
    match state {
        BranchState::Absent => planned.actions.push(Action::PushRef(target.update(
            &local,
            release_commit,
            &local,
            None,
        ))),
        BranchState::AtRelease => planned
            .done
            .push(format!("{branch} is at the release commit")),
        BranchState::HoldsRelease => planned
            .done
            .push(format!("{branch} holds the release commit")),
        BranchState::Behind { head } => planned.actions.push(Action::PushRef(target.update(
            &local,
            release_commit,
            &local,
            Some(head),
        ))),
        BranchState::Merged { merged, head } => {
            let merge_ref = merge_ref(branch);
            planned.actions.push(Action::PushRef(target.update(
                &merge_ref,
                merged,
                &local,
                Some(head),
            )))
        }
    }
    planned
}

/// Where a merge of the remote's moved branch is kept: the restored branch stays where the
/// stage put it, so the next run (a rerun, or --nomock after a mock run) plans the same way.
pub fn merge_ref(branch: &str) -> String {
    format!("refs/krel/release/{branch}")
}

/// The stores a planner reads.
pub struct Bucket<'a> {
    /// The bucket's store.
    pub store: &'a Store,
    /// The runtime it runs on.
    pub runtime: &'a tokio::runtime::Runtime,
    /// Requests at once.
    pub jobs: usize,
}

impl Bucket<'_> {
    fn plan_upload(
        &self,
        dir: &Path,
        location: &Location,
        what: &str,
    ) -> Result<Option<Action>, ReleaseError> {
        let options = PushOptions {
            allow_overwrite: false,
            jobs: self.jobs.max(1),
        };
        let push = self
            .runtime
            .block_on(plan_push(dir, location, self.store, &options))
            .map_err(storage(format!("comparing {what} with {location}")))?;
        Ok((!push.uploads.is_empty()).then(|| {
            Action::Upload(UploadBatch {
                destination: location.to_string(),
                objects: push.uploads,
            })
        }))
    }
}

/// The files of each version: `publish/<version>/` (its `gcs-stage/<version>/` and the
/// provenance) to `release/<version>/` of the bucket; a version already there is done.
pub fn plan_files(
    bucket: &Bucket<'_>,
    publish: &Path,
    release_root: &Location,
    versions: &[Version],
) -> Result<Planned, ReleaseError> {
    let mut planned = Planned::default();
    for version in versions {
        let location = release_root.join(&version.to_string());
        let dir = publish.join(version.to_string());
        match bucket.plan_upload(&dir, &location, &version.to_string())? {
            Some(action) => planned.actions.push(action),
            None => planned.done.push(format!("{location} holds every file")),
        }
    }
    Ok(planned)
}

/// Lays out `publish/<version>/` for each version from the verified stage in `local`.
pub fn publish_dirs(
    local: &Path,
    publish: &Path,
    versions: &[Version],
) -> Result<(), ReleaseError> {
    for version in versions {
        let dir = publish.join(version.to_string());
        crate::files::copy_tree(&local.join(layout::gcs_stage(version)), &dir)?;
        for suffix in ["", ".sig", ".sigstore.json", ".intoto.sigstore.json"] {
            let name = format!("{}{suffix}", layout::PROVENANCE);
            let from = local.join(version.to_string()).join(&name);
            if !suffix.is_empty() && !from.is_file() {
                continue;
            }
            std::fs::hard_link(&from, dir.join(&name))
                .or_else(|_| std::fs::copy(&from, dir.join(&name)).map(|_| ()))
                .map_err(io("copying", &from))?;
        }
    }
    Ok(())
}

/// One version's GitHub release as it is, and what it is to be.
pub struct GitHubRelease {
    /// The version (and tag).
    pub version: Version,
    /// The release GitHub has, if any.
    pub existing: Option<ExistingRelease>,
    /// The release to publish: name, body, assets.
    pub spec: ReleaseSpec,
}

/// A GitHub release per version, unless it is published. A published release takes no more
/// assets: one that lacks some stops the release here, before anything is changed.
pub fn plan_github(releases: Vec<GitHubRelease>) -> Result<Planned, ReleaseError> {
    let mut planned = Planned::default();
    for release in releases {
        let tag = release.version.to_string();
        match &release.existing {
            Some(existing) if !existing.draft => {
                let missing = missing_assets(existing, &release.spec.assets);
                if !missing.is_empty() {
                    return Err(ReleaseError::GitHub {
                        context: format!("checking the published GitHub release {tag}"),
                        source: Box::new(GitHubError::ReleaseIncomplete {
                            tag,
                            repository: release.spec.repository,
                            missing,
                        }),
                    });
                }
                planned
                    .done
                    .push(format!("the GitHub release {tag} is published"));
            }
            _ => planned.actions.push(Action::PublishRelease(release.spec)),
        }
    }
    Ok(planned)
}

fn missing_assets(existing: &ExistingRelease, assets: &[AssetFile]) -> Vec<String> {
    assets
        .iter()
        .filter(|file| {
            !existing
                .assets
                .iter()
                .any(|a| a.name == file.name && a.state == "uploaded" && a.size == file.size)
        })
        .map(|file| file.name.clone())
        .collect()
}

/// The version markers, each to the newest version that names it; a marker that names this
/// version or a newer one is left alone (markers never move back).
pub fn plan_markers(
    bucket: &Bucket<'_>,
    release_root: &Location,
    versions: &[Version],
) -> Result<Planned, ReleaseError> {
    let mut markers: BTreeMap<String, &Version> = BTreeMap::new();
    for version in versions {
        for name in marker_names(version) {
            let entry = markers.entry(name).or_insert(version);
            if version > *entry {
                *entry = version;
            }
        }
    }
    let updates: Vec<_> = bucket
        .runtime
        .block_on(
            futures_util::stream::iter(markers.iter())
                .map(|(name, version)| plan_marker(bucket.store, release_root, name, version))
                .buffered(bucket.jobs.max(1))
                .collect::<Vec<_>>(),
        )
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(storage("reading the version markers"))?;
    let mut planned = Planned::default();
    for ((name, _), update) in markers.iter().zip(updates) {
        match update {
            Some(update) => planned.actions.push(Action::SetMarker(update)),
            None => planned
                .done
                .push(format!("{name} names this version or a newer one")),
        }
    }
    Ok(planned)
}

/// `RELEASED.json` beside the stage, last: the release is complete. Written into `dir`.
pub fn plan_record(
    bucket: &Bucket<'_>,
    record: &ReleasedRecord,
    dir: &Path,
    stage: &Location,
) -> Result<Planned, ReleaseError> {
    crate::files::remove_dir(dir)?;
    write_file(&dir.join(RELEASED), &record.to_bytes())?;
    let mut planned = Planned::default();
    planned
        .actions
        .extend(bucket.plan_upload(dir, stage, RELEASED)?);
    Ok(planned)
}

/// The completion record of a release, uploaded last beside the stage.
pub const RELEASED: &str = "RELEASED.json";

/// The files attached to a GitHub release: the top level of `release/<version>/` (tarballs,
/// checksums, SBOMs, provenance, signatures), not the per-platform `bin/` tree.
pub fn release_assets(dir: &Path) -> Result<Vec<AssetFile>, ReleaseError> {
    let mut assets = Vec::new();
    for (name, path) in relative_files(dir)? {
        if name.contains('/') {
            continue;
        }
        let size = std::fs::metadata(&path)
            .map_err(io("reading", &path))?
            .len();
        assets.push(AssetFile { name, path, size });
    }
    Ok(assets)
}

/// The GitHub release's text: the notes, then where everything is and the digests.
pub fn release_body(
    notes: Option<&str>,
    location: &str,
    record: &StagedRecord,
    version: &Version,
    registry: Option<&krel_image::ImageLocation>,
) -> String {
    let mut body = String::new();
    if let Some(notes) = notes {
        body.push_str(notes.trim_end());
        body.push_str("\n\n");
    }
    body.push_str(&format!(
        "## Downloads for {version}\n\nEvery artifact, per-platform binary, checksum, SBOM and signature is at `{location}/`; \
         `provenance.json` there is a signed SLSA v1 statement covering all of them \
         (`provenance.json.intoto.sigstore.json`: the same as a Sigstore attestation).\n\n\
         | file | sha256 |\n|---|---|\n"
    ));
    let prefix = format!("{}/", layout::gcs_stage(version));
    for (path, sha256) in &record.files {
        if let Some(name) = path.strip_prefix(&prefix) {
            if !name.contains('/') && !krel_verify::is_signature(name) && !name.contains(".sha") {
                body.push_str(&format!("| {name} | `{sha256}` |\n"));
            }
        }
    }
    if let (Some(registry), Some(images)) = (registry, record.images.get(&version.to_string())) {
        let images: Vec<krel_notes::DownloadImage> = images
            .iter()
            .map(|image| krel_notes::DownloadImage {
                reference: registry.pull_reference(&image.name, &version.to_string()),
                digest: image
                    .digest
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                platforms: image.platforms.keys().cloned().collect(),
            })
            .collect();
        body.push('\n');
        body.push_str(krel_notes::images_table(&images).trim_end());
        body.push('\n');
    }
    body.push_str(&format!(
        "\nBuilt from build version {} ({} release from `{}`).\n",
        record.build_version, record.release_type, record.branch
    ));
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use krel_github::ExistingAsset;
    use krel_storage::StoreEnv;

    fn commit(n: u8) -> CommitId {
        format!("{:040x}", n).parse().unwrap()
    }

    fn record(branch_commit: Option<CommitId>) -> StagedRecord {
        StagedRecord {
            project: "widget".into(),
            build_version: "v1.11.0-rc.0.3+abcdef0".parse().unwrap(),
            release_type: krel_version::ReleaseType::Rc,
            branch: "release-1.11".into(),
            cut_branch: branch_commit.is_some(),
            versions: vec![
                "v1.11.0-rc.0".parse().unwrap(),
                "v1.12.0-alpha.0".parse().unwrap(),
            ],
            tags: [
                ("v1.11.0-rc.0".to_string(), commit(1)),
                ("v1.12.0-alpha.0".to_string(), commit(2)),
            ]
            .into(),
            release_branch_commit: branch_commit,
            files: BTreeMap::new(),
            images: BTreeMap::new(),
        }
    }

    fn target() -> GitTarget {
        GitTarget {
            remote: "origin".into(),
            url: "/srv/widget.git".into(),
        }
    }

    fn pushes(planned: &Planned) -> Vec<(String, String, Option<CommitId>)> {
        planned
            .actions
            .iter()
            .map(|action| match action {
                Action::PushRef(u) => (u.source.clone(), u.destination.clone(), u.expected),
                other => panic!("not a push: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn git_plans_the_branch_first_then_each_missing_tag() {
        let planned = plan_git(
            &record(Some(commit(1))),
            &BTreeMap::new(),
            Some(BranchState::Absent),
            &target(),
        )
        .unwrap();
        assert_eq!(
            pushes(&planned),
            [
                (
                    "refs/heads/release-1.11".into(),
                    "refs/heads/release-1.11".into(),
                    None
                ),
                (
                    "refs/tags/v1.11.0-rc.0".into(),
                    "refs/tags/v1.11.0-rc.0".into(),
                    None
                ),
                (
                    "refs/tags/v1.12.0-alpha.0".into(),
                    "refs/tags/v1.12.0-alpha.0".into(),
                    None
                ),
            ]
        );
        assert!(planned.done.is_empty());
    }

    #[test]
    fn git_leases_a_moved_branch_and_pushes_the_merge_from_its_scratch_ref() {
        let behind = plan_git(
            &record(Some(commit(1))),
            &BTreeMap::new(),
            Some(BranchState::Behind { head: commit(9) }),
            &target(),
        )
        .unwrap();
        assert_eq!(pushes(&behind)[0].2, Some(commit(9)));
        let merged = plan_git(
            &record(Some(commit(1))),
            &BTreeMap::new(),
            Some(BranchState::Merged {
                merged: commit(7),
                head: commit(9),
            }),
            &target(),
        )
        .unwrap();
        assert_eq!(
            pushes(&merged)[0],
            (
                "refs/krel/release/release-1.11".into(),
                "refs/heads/release-1.11".into(),
                Some(commit(9))
            )
        );
    }

    #[test]
    fn git_counts_what_is_there_and_refuses_a_tag_at_another_commit() {
        let remote_tags: BTreeMap<String, CommitId> =
            [("v1.11.0-rc.0".to_string(), commit(1))].into();
        let planned = plan_git(
            &record(Some(commit(1))),
            &remote_tags,
            Some(BranchState::AtRelease),
            &target(),
        )
        .unwrap();
        assert_eq!(pushes(&planned).len(), 1);
        assert_eq!(
            planned.done,
            [
                "release-1.11 is at the release commit",
                "tag v1.11.0-rc.0 is on the remote"
            ]
        );
        let moved: BTreeMap<String, CommitId> = [("v1.11.0-rc.0".to_string(), commit(5))].into();
        let err = plan_git(&record(None), &moved, None, &target()).unwrap_err();
        assert!(matches!(err, ReleaseError::TagOnRemote { .. }), "{err}");
    }

    struct Fixture {
        dir: tempfile::TempDir,
        runtime: tokio::runtime::Runtime,
        store: Store,
        bucket: Location,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let bucket: Location = format!("file://{}", dir.path().join("bucket").display())
                .parse()
                .unwrap();
            let store = runtime
                .block_on(Store::open(&bucket, &StoreEnv::default()))
                .unwrap();
            Fixture {
                dir,
                runtime,
                store,
                bucket,
            }
        }

        fn bucket(&self) -> Bucket<'_> {
            Bucket {
                store: &self.store,
                runtime: &self.runtime,
                jobs: 2,
            }
        }

        fn put(&self, key: &str, bytes: &[u8]) {
            let path = self.dir.path().join("bucket").join(key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
    }

    #[test]
    fn files_are_uploaded_once_per_version_then_found_in_place() {
        let f = Fixture::new();
        let versions = record(None).versions;
        let publish = f.dir.path().join("publish");
        for version in &versions {
            let file = publish.join(version.to_string()).join("widget.tar.gz");
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, version.to_string()).unwrap();
        }
        let root = f.bucket.join("release");
        let planned = plan_files(&f.bucket(), &publish, &root, &versions).unwrap();
        assert_eq!(planned.actions.len(), 2);
        assert!(matches!(&planned.actions[0], Action::Upload(batch) if batch.objects.len() == 1));
        f.put("release/v1.11.0-rc.0/widget.tar.gz", b"v1.11.0-rc.0");
        let planned = plan_files(&f.bucket(), &publish, &root, &versions).unwrap();
        assert_eq!(planned.actions.len(), 1);
        assert_eq!(planned.done.len(), 1);
        assert!(planned.done[0].ends_with("release/v1.11.0-rc.0 holds every file"));
    }

    #[test]
    fn markers_move_forward_only() {
        let f = Fixture::new();
        let root = f.bucket.join("release");
        let official: Vec<Version> = vec!["v1.30.1".parse().unwrap()];
        let planned = plan_markers(&f.bucket(), &root, &official).unwrap();
        assert_eq!(planned.actions.len(), 6, "{:?}", planned.actions);
        f.put("release/latest.txt", b"v1.31.0-alpha.1");
        f.put("release/stable.txt", b"v1.29.9");
        let planned = plan_markers(&f.bucket(), &root, &official).unwrap();
        assert_eq!(planned.actions.len(), 5);
        assert_eq!(
            planned.done,
            ["latest.txt names this version or a newer one"]
        );
    }

    #[test]
    fn the_completion_record_is_planned_until_it_is_there() {
        let f = Fixture::new();
        let record = ReleasedRecord {
            project: "widget".into(),
            build_version: "v1.11.0-rc.0.3+abcdef0".parse().unwrap(),
            versions: vec!["v1.11.0-rc.0".parse().unwrap()],
            tags: [("v1.11.0-rc.0".to_string(), commit(1))].into(),
            release_branch: Some("release-1.11".into()),
            release_branch_commit: Some(commit(1)),
            location: f.bucket.join("release").to_string(),
        };
        let stage = f.bucket.join("stage/v1.11.0-rc.0.3+abcdef0");
        let dir = f.dir.path().join("released");
        let planned = plan_record(&f.bucket(), &record, &dir, &stage).unwrap();
        assert_eq!(planned.actions.len(), 1);
        let bytes = std::fs::read(dir.join(RELEASED)).unwrap();
        assert!(String::from_utf8_lossy(&bytes).contains("\"release_branch\": \"release-1.11\""));
        f.put(&format!("stage/v1.11.0-rc.0.3+abcdef0/{RELEASED}"), &bytes);
        let planned = plan_record(&f.bucket(), &record, &dir, &stage).unwrap();
        assert_eq!(planned, Planned::default());
    }

    fn release(version: &str, existing: Option<(bool, &[(&str, u64)])>) -> GitHubRelease {
        GitHubRelease {
            version: version.parse().unwrap(),
            existing: existing.map(|(draft, assets)| ExistingRelease {
                id: 1,
                draft,
                html_url: String::new(),
                upload_url: String::new(),
                assets: assets
                    .iter()
                    .map(|(name, size)| ExistingAsset {
                        id: 2,
                        name: name.to_string(),
                        state: "uploaded".into(),
                        size: *size,
                    })
                    .collect(),
            }),
            spec: ReleaseSpec {
                repository: "krel-dev/widget".into(),
                tag: version.into(),
                name: format!("widget {version}"),
                body: String::new(),
                prerelease: true,
                assets: vec![AssetFile {
                    name: "widget.tar.gz".into(),
                    path: "widget.tar.gz".into(),
                    size: 10,
                }],
            },
        }
    }

    #[test]
    fn github_publishes_what_is_not_published_and_refuses_a_published_release_lacking_assets() {
        let planned = plan_github(vec![
            release("v1.11.0-rc.0", None),
            release("v1.12.0-alpha.0", Some((true, &[]))),
            release("v1.10.0", Some((false, &[("widget.tar.gz", 10)]))),
        ])
        .unwrap();
        assert_eq!(planned.actions.len(), 2);
        assert_eq!(planned.done, ["the GitHub release v1.10.0 is published"]);
        let err = plan_github(vec![release(
            "v1.10.0",
            Some((false, &[("widget.tar.gz", 9)])),
        )])
        .unwrap_err();
        assert!(err
            .to_string()
            .contains("checking the published GitHub release v1.10.0"));
    }
}
