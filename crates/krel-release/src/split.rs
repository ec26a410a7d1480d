//! Split stages: one build job per platform, then one merge that stages the whole release.
//!
//! A platform job (`krel stage --platform OS/ARCH --split`) runs stage's first steps (clone,
//! tags, build) for its platform only, and uploads what its build collected under
//! `stage-partial/<build-version>/<os>-<arch>/`, with its record `PARTIAL.json` last. A
//! platform job needs no signing key: build jobs run the project's build scripts, and the key
//! stays with the merge, which signs everything it stages.
//!
//! The merge (`krel stage merge --build-version BV`) reads the record of every platform in
//! `build.platforms`, refuses when one is missing or when two disagree, makes the same tags
//! itself (a record carries the time its job used, so the release commit is the same commit),
//! downloads every file and checks its digest, and then continues exactly as a one-machine
//! stage does: checksums, SBOMs, signatures and provenance over the whole set. What lands
//! under `stage/<build-version>/` is the same, file for file, as a one-machine stage of the
//! same commit with the same `SOURCE_DATE_EPOCH`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::files::io;
use crate::layout;
use crate::layout::slug;
use crate::records::PartialRecord;
use crate::stage::{prepare_stage, PreparedStage, StageRequest, StageScope, StageSetup};
use crate::{storage, ReleaseError, Report};
use futures_util::StreamExt;
use krel_config::Platform;
use krel_storage::{Location, Store};
use krel_version::BuildVersion;

/// `<os>-<arch>`, the platform's directory name.
pub fn platform_dir_name(platform: &Platform) -> String {
    format!("{}-{}", platform.os, platform.arch)
}

/// `krel stage merge`: checks that every platform's partial stage of `build_version` arrived
/// and agrees, then stages the whole release from them (see the module documentation).
///
/// The partial stages are not signed: the build jobs never hold the signing key. What protects
/// them is who may write to the bucket; the merge checks every file against its record, and
/// signs only what it staged itself.
pub fn prepare_merge(
    setup: &StageSetup<'_>,
    build_version: &BuildVersion,
) -> Result<PreparedStage, ReleaseError> {
    let local = setup
        .workspace_root
        .join("stage")
        .join(slug(&setup.config.project))
        .join(format!("{build_version}.partials"));
    let records = read_partials(setup, build_version, &local)?;
    let Some(first) = records.first() else {
        return Err(ReleaseError::Config {
            message: "build.platforms is empty: there is nothing to merge".into(),
            hint: "list the platforms in build.platforms (krel.yaml)".into(),
        });
    };
    report_arrivals(setup.report, &records);
    let request = StageRequest {
        release_type: first.stage.release_type,
        branch: first.stage.branch.clone(),
        build_version: Some(build_version.clone()),
        scope: StageScope::Merge(records.clone()),
    };
    prepare_stage(setup, &request)
}

/// Reads and checks the partial record of every platform in `build.platforms` from the bucket.
/// Refuses, naming them, when platforms have not arrived, or when the records describe
/// different releases.
pub fn read_partials(
    setup: &StageSetup<'_>,
    build_version: &BuildVersion,
    local: &Path,
) -> Result<Vec<PartialRecord>, ReleaseError> {
    let config = setup.config;
    let root = setup.bucket.join(&layout::partial_root(build_version));
    let mut missing = Vec::new();
    let mut arrived = Vec::new();
    let mut problems = Vec::new();
    let mut records = Vec::new();
    for platform in &config.build.platforms {
        let name = platform_dir_name(platform);
        let dir = local.join(&name);
        let file = layout::PARTIAL;
        let key = root.key(&format!("{name}/{file}"));
        let found = setup
            .runtime
            .block_on(setup.store.download(&key, &dir.join(file)))
            .map_err(storage(format!("downloading {name}/{file} from {root}")))?;
        if !found {
            missing.push(platform.to_string());
            continue;
        }
        arrived.push(platform.to_string());
        let path = dir.join(layout::PARTIAL);
        let bytes = std::fs::read(&path).map_err(io("reading", &path))?;
        match serde_json::from_slice::<PartialRecord>(&bytes) {
            Ok(record) if record.platform != platform.to_string() => problems.push(format!(
                "{name}/{} is the record of {}",
                layout::PARTIAL,
                record.platform
            )),
            Ok(record) if !record.stage.problems().is_empty() => problems.extend(
                record
                    .stage
                    .problems()
                    .into_iter()
                    .map(|p| format!("{name}/{}: {p}", layout::PARTIAL)),
            ),
            Ok(record) => records.push(record),
            Err(err) => problems.push(format!(
                "{name}/{} is not a partial stage record: {err}",
                layout::PARTIAL
            )),
        }
    }
    if !missing.is_empty() {
        return Err(ReleaseError::PartialsMissing {
            build_version: build_version.to_string(),
            missing,
            arrived,
        });
    }
    if let Some(first) = records.first() {
        let stage = &first.stage;
        if stage.project != config.project || stage.build_version != *build_version {
            problems.push(format!(
                "the records are of {} {}, not {} {build_version}",
                stage.project, stage.build_version, config.project
            ));
        }
        for record in &records[1..] {
            if record.release() != first.release() {
                problems.push(format!(
                    "{} staged {}; {} staged {}",
                    first.platform,
                    first.describe(),
                    record.platform,
                    record.describe()
                ));
            }
        }
    }
    if !problems.is_empty() {
        return Err(ReleaseError::PartialsDisagree {
            root: root.to_string(),
            problems,
        });
    }
    Ok(records)
}

/// Downloads the files every platform built for `version` into `dest`, checking each against
/// its record. The same path from two platforms must hold the same bytes. Returns the number
/// of files.
pub(crate) fn gather_version(
    setup: &StageSetup<'_>,
    records: &[PartialRecord],
    build_version: &BuildVersion,
    version: &str,
    dest: &Path,
) -> Result<usize, ReleaseError> {
    let root = setup.bucket.join(&layout::partial_root(build_version));
    let prefix = format!("{version}/");
    // Path in the version → (platform directory, digest), decided before any download.
    let mut wanted: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut problems = Vec::new();
    for record in records {
        let Ok(platform) = Platform::parse(&record.platform) else {
            problems.push(format!("`{}` is not a platform", record.platform));
            continue;
        };
        let dir = platform_dir_name(&platform);
        for (name, sha256) in &record.stage.files {
            let Some(relative) = name.strip_prefix(&prefix) else {
                continue;
            };
            if relative
                .split('/')
                .any(|part| part.is_empty() || part == ".." || part == ".")
            {
                problems.push(format!(
                    "{dir}/{} lists a bad path `{name}`",
                    layout::PARTIAL
                ));
                continue;
            }
            match wanted.get(relative) {
                Some((other, digest)) if digest != sha256 => problems.push(format!(
                    "{version}/{relative} differs between {other} and {dir}: the build must write the same bytes on every platform, or put the file under a per-platform path"
                )),
                Some(_) => {}
                None => {
                    wanted.insert(relative.to_string(), (dir.clone(), sha256.clone()));
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(ReleaseError::PartialsDisagree {
            root: root.to_string(),
            problems,
        });
    }
    setup.report.status(
        "Gathering",
        &format!(
            "{} file(s) of {version} from {} platform(s) at {root}",
            wanted.len(),
            records.len()
        ),
    );
    let downloads = wanted.iter().map(|(relative, (dir, _))| {
        let key = root.key(&format!("{dir}/{prefix}{relative}"));
        let path = dest.join(relative);
        fetch(setup.store, key, path, relative.clone())
    });
    let results = setup.runtime.block_on(
        futures_util::stream::iter(downloads)
            .buffer_unordered(setup.jobs.max(1))
            .collect::<Vec<_>>(),
    );
    for result in results {
        let (relative, path, found) =
            result.map_err(storage(format!("downloading the partial stages at {root}")))?;
        let (dir, sha256) = &wanted[&relative];
        if !found {
            problems.push(format!(
                "{dir}/{prefix}{relative}: in its record but not in the bucket"
            ));
            continue;
        }
        let have = krel_sign::sha256_file(&path).map_err(io("reading", &path))?;
        if hex::encode(have) != *sha256 {
            problems.push(format!(
                "{dir}/{prefix}{relative}: its SHA-256 is not the one its record lists"
            ));
        }
    }
    if !problems.is_empty() {
        problems.sort();
        return Err(ReleaseError::PartialsDisagree {
            root: root.to_string(),
            problems,
        });
    }
    Ok(wanted.len())
}

async fn fetch(
    store: &Store,
    key: String,
    path: PathBuf,
    relative: String,
) -> Result<(String, PathBuf, bool), krel_storage::StorageError> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(|source| {
            krel_storage::StorageError::Io {
                action: "creating",
                path: parent.to_path_buf(),
                source,
            }
        })?;
    }
    let found = store.download(&key, &path).await?;
    Ok((relative, path, found))
}

/// Where the partial stage of `platform` goes.
pub fn partial_location(
    bucket: &Location,
    build_version: &BuildVersion,
    platform: &Platform,
) -> Location {
    bucket
        .join(&layout::partial_root(build_version))
        .join(&platform_dir_name(platform))
}

/// Says which platforms a merge gathers.
fn report_arrivals(report: &dyn Report, records: &[PartialRecord]) {
    report.status(
        "Merging",
        &format!(
            "{} platform(s): {}",
            records.len(),
            records
                .iter()
                .map(|r| r.platform.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
}
