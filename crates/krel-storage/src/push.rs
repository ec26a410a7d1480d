//! Pushing a directory tree: plan (all reads), then upload (only with --nomock).

use krel_error::Diagnose;
use std::path::{Path, PathBuf};

use futures_util::stream::{self, StreamExt};

use crate::digest::{hex, local_digests, LocalDigests};
use crate::{Location, ObjectInfo, Precondition, Sameness, StorageError, Store};

/// Choices for a push.
#[derive(Clone, Debug)]
pub struct PushOptions {
    /// Replace objects that exist with different content (with a precondition on what was seen).
    pub allow_overwrite: bool,
    /// Requests (and local hashing) at once.
    pub jobs: usize,
}

impl Default for PushOptions {
    fn default() -> PushOptions {
        PushOptions {
            allow_overwrite: false,
            jobs: 8,
        }
    }
}

/// One object to upload.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ObjectUpload {
    /// The local file.
    pub source: PathBuf,
    /// The object key in the bucket.
    pub key: String,
    /// The object's URL, for messages.
    pub url: String,
    /// The local file's digests, checked again after upload.
    pub digests: LocalDigests,
    /// The condition the upload makes on the existing object.
    pub precondition: Precondition,
}

/// What a push will do: the plan's upload action carries `uploads`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PushPlan {
    /// The local directory.
    pub source: PathBuf,
    /// The destination location.
    pub destination: String,
    /// Objects to upload (new, or replacing different content when allowed).
    pub uploads: Vec<ObjectUpload>,
    /// Keys already stored with the same content: skipped.
    pub unchanged: Vec<String>,
    /// Bytes to upload.
    pub bytes: u64,
}

/// The objects of one upload action, as the plan holds them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct UploadBatch {
    /// The destination location.
    pub destination: String,
    /// The objects.
    pub objects: Vec<ObjectUpload>,
}

/// What happened to each upload.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PushReport {
    /// Keys uploaded and verified.
    pub uploaded: Vec<String>,
    /// Uploads that failed.
    pub failures: Vec<PushFailure>,
    /// Set when an upload found that the bucket does not exist.
    #[serde(skip)]
    pub missing_bucket: Option<String>,
}

/// One failed upload.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PushFailure {
    /// The object key.
    pub key: String,
    /// Why.
    pub error: String,
    /// True when the store's state refused it (a conflict), not an outage.
    pub refused: bool,
}

/// Progress of uploads; called from several tasks.
pub trait PushProgress: Send + Sync {
    /// The upload begins.
    fn started(&self, objects: usize, bytes: u64);
    /// One object is uploaded and verified.
    fn uploaded(&self, key: &str, bytes: u64);
    /// One object failed.
    fn failed(&self, key: &str, error: &str);
    /// All done.
    fn done(&self) {}
}

/// Reports nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl PushProgress for NoProgress {
    fn started(&self, _: usize, _: u64) {}
    fn uploaded(&self, _: &str, _: u64) {}
    fn failed(&self, _: &str, _: &str) {}
}

/// The single door through which krel uploads: the plan executor calls it with `--nomock`.
pub trait Uploader {
    /// Uploads every object of the batch; an error when any failed (the others are complete).
    fn upload(&self, batch: &UploadBatch) -> Result<PushReport, StorageError>;
}

/// Checks that `source` can be pushed (a directory with files, no link out of it) without
/// reading any store: a push refuses a bad source before it writes anything, its lock too.
pub fn check_source(source: &Path) -> Result<usize, StorageError> {
    files(source).map(|files| files.len())
}

/// Files under `source`, as (relative path with `/`, path), sorted. Symbolic links are
/// followed only while they stay inside `source` (krel_fs::tree).
fn files(source: &Path) -> Result<Vec<(String, PathBuf)>, StorageError> {
    let bad = |reason: String| StorageError::Source {
        path: source.to_path_buf(),
        reason,
    };
    let found = krel_fs::tree::files(source).map_err(|err| match err {
        krel_fs::tree::TreeError::NotADirectory(_) => {
            bad("it is not a directory (or does not exist)".into())
        }
        krel_fs::tree::TreeError::Escapes { link, target, .. } => bad(format!(
            "{} is a link to {}, outside the directory being pushed",
            link.display(),
            target.display()
        )),
        other => bad(other.to_string()),
    })?;
    // krel's own working files (a bucket's `.krel-locks/`, `.krel-partial-*` uploads cut short,
    // scratch directories) are never published, even from a tree that was once a destination.
    let found: Vec<_> = found
        .into_iter()
        .filter(|f| !f.relative.split('/').any(|part| part.starts_with(".krel-")))
        .collect();
    if found.is_empty() {
        return Err(bad("the directory holds no files".into()));
    }
    Ok(found.into_iter().map(|f| (f.relative, f.path)).collect())
}

/// Reads the local files and the store, and decides what to upload. Reads only.
pub async fn plan_push(
    source: &Path,
    location: &Location,
    store: &Store,
    options: &PushOptions,
) -> Result<PushPlan, StorageError> {
    let files = files(source)?;
    let jobs = options.jobs.max(1);
    let local: Vec<(PathBuf, String, LocalDigests)> = stream::iter(files)
        .map(|(relative, path)| async move {
            let key = location.key(&relative);
            let digests = tokio::task::spawn_blocking({
                let path = path.clone();
                move || local_digests(&path)
            })
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|r| r)
            .map_err(|source| StorageError::Io {
                action: "reading",
                path: path.clone(),
                source,
            })?;
            Ok::<_, StorageError>((path, key, digests))
        })
        .buffered(jobs)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    // What the store holds, `jobs` requests at a time, in order.
    let stats: Vec<Option<ObjectInfo>> = stream::iter(&local)
        .map(|(_, key, _)| store.stat(key))
        .buffered(jobs)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;

    let mut plan = PushPlan {
        source: source.to_path_buf(),
        destination: location.to_string(),
        uploads: Vec::new(),
        unchanged: Vec::new(),
        bytes: 0,
    };
    let mut different = Vec::new();
    let mut unknown = Vec::new();
    for ((path, key, digests), existing) in local.into_iter().zip(stats) {
        let precondition = match &existing {
            None => Precondition::Absent,
            Some(info) => match info.compare(&digests) {
                Sameness::Same => {
                    plan.unchanged.push(key);
                    continue;
                }
                Sameness::Different => {
                    different.push(key.clone());
                    replace_condition(info)
                }
                Sameness::Unknown => {
                    unknown.push(key.clone());
                    replace_condition(info)
                }
            },
        };
        plan.bytes += digests.size;
        plan.uploads.push(ObjectUpload {
            source: path,
            url: location.object_url(&key),
            key,
            digests,
            precondition,
        });
    }
    if !options.allow_overwrite {
        if !different.is_empty() {
            return Err(StorageError::WouldOverwrite { keys: different });
        }
        if !unknown.is_empty() {
            return Err(StorageError::CannotCompare { keys: unknown });
        }
    }
    Ok(plan)
}

pub(crate) fn replace_condition(info: &ObjectInfo) -> Precondition {
    match (&info.generation, &info.etag, &info.md5) {
        (Some(generation), _, _) => Precondition::Generation {
            generation: *generation,
        },
        (None, Some(etag), _) => Precondition::Etag { etag: etag.clone() },
        (None, None, Some(md5)) => Precondition::Md5 { md5: hex(md5) },
        (None, None, None) => Precondition::Md5 { md5: String::new() },
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Uploads `uploads` with up to `jobs` at once. Every object is attempted; failures are
/// collected, never left half-visible.
pub async fn execute_push(
    store: &Store,
    uploads: &[ObjectUpload],
    jobs: usize,
    progress: &dyn PushProgress,
) -> PushReport {
    progress.started(uploads.len(), uploads.iter().map(|u| u.digests.size).sum());
    let results: Vec<(String, Result<ObjectInfo, StorageError>)> = stream::iter(uploads)
        .map(|upload| async move {
            let result = store.put(upload).await;
            match &result {
                Ok(_) => progress.uploaded(&upload.key, upload.digests.size),
                Err(err) => progress.failed(&upload.key, &error_chain(err)),
            }
            (upload.key.clone(), result)
        })
        .buffer_unordered(jobs.max(1))
        .collect()
        .await;
    let mut report = PushReport::default();
    for (key, result) in results {
        match result {
            Ok(_) => report.uploaded.push(key),
            Err(err) => {
                if let StorageError::NoBucket { url } = &err {
                    report.missing_bucket = Some(url.clone());
                }
                report.failures.push(PushFailure {
                    key,
                    refused: err.is_refusal(),
                    error: error_chain(&err),
                })
            }
        }
    }
    report.uploaded.sort();
    progress.done();
    report
}

/// An [`Uploader`] over a [`Store`], blocking on a Tokio runtime.
pub struct BlockingUploader<'a> {
    /// The runtime the store was opened on.
    pub runtime: &'a tokio::runtime::Runtime,
    /// The store.
    pub store: &'a Store,
    /// Uploads at once.
    pub jobs: usize,
    /// Where progress goes.
    pub progress: &'a dyn PushProgress,
}

impl Uploader for BlockingUploader<'_> {
    fn upload(&self, batch: &UploadBatch) -> Result<PushReport, StorageError> {
        let swept = self
            .store
            .sweep_partials(batch.objects.iter().map(|o| o.key.as_str()));
        if swept > 0 {
            tracing::info!(swept, "removed partial files left by interrupted pushes");
        }
        let report = self.runtime.block_on(execute_push(
            self.store,
            &batch.objects,
            self.jobs,
            self.progress,
        ));
        if let Some(url) = report.missing_bucket {
            return Err(StorageError::NoBucket { url });
        }
        if report.failures.is_empty() {
            Ok(report)
        } else {
            Err(StorageError::Incomplete {
                total: batch.objects.len(),
                failures: report.failures,
            })
        }
    }
}
