//! Pushing a directory tree: plan (all reads), then upload (only with --nomock).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::digest::{local_digests, LocalDigests};
use crate::file::{remove_stale_partials, PARTIAL_PREFIX};
use crate::{Location, ObjectInfo, Precondition, StorageError, Store};

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

/// Files under `source`, as (relative path with `/`, path), sorted.
fn files(source: &Path) -> Result<Vec<(String, PathBuf)>, StorageError> {
    let bad = |reason: String| StorageError::BadLocation {
        url: source.display().to_string(),
        reason,
    };
    if !source.is_dir() {
        return Err(bad("the source is not a directory".into()));
    }
    let mut found = Vec::new();
    for entry in walkdir::WalkDir::new(source)
        .min_depth(1)
        .follow_links(true)
    {
        let entry = entry.map_err(|e| StorageError::Io {
            action: "listing",
            path: source.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy();
        if name.starts_with(PARTIAL_PREFIX) {
            continue;
        }
        let relative = entry
            .path()
            .strip_prefix(source)
            .ok()
            .and_then(|p| p.to_str())
            .ok_or_else(|| {
                bad(format!(
                    "{} has a name that is not UTF-8",
                    entry.path().display()
                ))
            })?
            .replace(std::path::MAIN_SEPARATOR, "/");
        found.push((relative, entry.path().to_path_buf()));
    }
    if found.is_empty() {
        return Err(bad("the source directory holds no files".into()));
    }
    found.sort();
    Ok(found)
}

/// Reads the local files and the store, and decides what to upload. Reads only.
pub async fn plan_push(
    source: &Path,
    location: &Location,
    store: &Store,
    options: &PushOptions,
) -> Result<PushPlan, StorageError> {
    let files = files(source)?;
    let limit = Arc::new(Semaphore::new(options.jobs.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, (relative, path)) in files.iter().cloned().enumerate() {
        let limit = limit.clone();
        let key = location.key(&relative);
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
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
            Ok::<_, StorageError>((index, path, key, digests))
        });
    }
    let mut local = Vec::with_capacity(files.len());
    while let Some(joined) = tasks.join_next().await {
        local.push(joined.map_err(join_error)??);
    }
    local.sort_by_key(|(index, ..)| *index);

    // What the store holds, concurrently.
    let mut stats = Vec::with_capacity(local.len());
    {
        let limit = &limit;
        let futures = local.iter().map(|(_, _, key, _)| async move {
            let _permit = limit.acquire().await;
            store.stat(key).await
        });
        for result in futures_join(futures).await {
            stats.push(result?);
        }
    }

    let mut plan = PushPlan {
        source: source.to_path_buf(),
        destination: location.to_string(),
        uploads: Vec::new(),
        unchanged: Vec::new(),
        bytes: 0,
    };
    let mut different = Vec::new();
    for ((_, path, key, digests), existing) in local.into_iter().zip(stats) {
        let precondition = match &existing {
            None => Precondition::Absent,
            Some(info) if info.matches(&digests) => {
                plan.unchanged.push(key);
                continue;
            }
            Some(info) => {
                different.push(key.clone());
                replace_condition(info)
            }
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
    if !different.is_empty() && !options.allow_overwrite {
        return Err(StorageError::WouldOverwrite { keys: different });
    }
    if let Location::File { root } = location {
        for upload in &plan.uploads {
            if let Some(dir) = root.join(&upload.key).parent() {
                remove_stale_partials(dir);
            }
        }
    }
    Ok(plan)
}

fn replace_condition(info: &ObjectInfo) -> Precondition {
    match (&info.generation, &info.etag) {
        (Some(generation), _) => Precondition::Generation {
            generation: *generation,
        },
        (None, Some(etag)) => Precondition::Etag { etag: etag.clone() },
        (None, None) => Precondition::Replace,
    }
}

/// Runs futures concurrently (their own semaphore limits them) and returns results in order.
async fn futures_join<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let futures: Vec<_> = futures.map(Box::pin).collect();
    let mut results: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    let mut pending: Vec<(usize, std::pin::Pin<Box<F>>)> =
        futures.into_iter().enumerate().collect();
    std::future::poll_fn(|cx| {
        pending.retain_mut(|(index, future)| match future.as_mut().poll(cx) {
            std::task::Poll::Ready(output) => {
                results[*index] = Some(output);
                false
            }
            std::task::Poll::Pending => true,
        });
        if pending.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    results.into_iter().flatten().collect()
}

fn join_error(err: tokio::task::JoinError) -> StorageError {
    StorageError::Io {
        action: "waiting for",
        path: PathBuf::from("an upload task"),
        source: std::io::Error::other(err.to_string()),
    }
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
    let limit = Semaphore::new(jobs.max(1));
    let futures = uploads.iter().map(|upload| {
        let limit = &limit;
        async move {
            let _permit = limit.acquire().await;
            let result = store.put(upload).await;
            match &result {
                Ok(_) => progress.uploaded(&upload.key, upload.digests.size),
                Err(err) => progress.failed(&upload.key, &err.to_string()),
            }
            (upload.key.clone(), result)
        }
    });
    let mut report = PushReport::default();
    for (key, result) in futures_join(futures).await {
        match result {
            Ok(_) => report.uploaded.push(key),
            Err(err) => report.failures.push(PushFailure {
                key,
                refused: err.is_refusal(),
                error: error_chain(&err),
            }),
        }
    }
    progress.done();
    report
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
        let report = self.runtime.block_on(execute_push(
            self.store,
            &batch.objects,
            self.jobs,
            self.progress,
        ));
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
