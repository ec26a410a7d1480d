//! Object storage for releases: `gs://`, `s3://` and `file://` behind one [`Store`], and
//! pushes of a directory tree that are parallel, verified, idempotent and never half-visible.
//!
//! - [`Location`]: a destination URL, `gs://bucket/prefix`, `s3://bucket/prefix` or
//!   `file:///path` (the embedded default, also what rehearsals use).
//! - [`Store`]: `stat` and `put` for one location. `gs://` uses Google's `google-cloud-storage`
//!   client (pointed at `STORAGE_EMULATOR_HOST` with anonymous credentials when that is set,
//!   as Google's own clients do); `s3://` signs requests with `rusty-s3` and sends them with
//!   reqwest (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`);
//!   `file://` writes a temporary file and renames it into place.
//! - [`plan_push`] reads everything (local digests, the remote objects) and returns a
//!   [`PushPlan`]: which objects are new, unchanged, or changed (refused unless overwriting is
//!   allowed). [`execute_push`] uploads the plan's objects in parallel, each with a
//!   precondition (absent, or the generation/ETag that was seen) so two racing pushes cannot
//!   both win, and verifies every object against its local MD5/CRC32C.
//!
//! Objects appear whole or not at all: single-request uploads (GCS multipart, S3 PUT) and
//! rename for files. An interrupted push is completed by running it again: what arrived is
//! unchanged and skipped.
//!
//! ```no_run
//! # async fn demo() -> Result<(), krel_storage::StorageError> {
//! use krel_storage::{execute_push, plan_push, Location, NoProgress, PushOptions, Store};
//!
//! let location: Location = "gs://my-bucket/release/v1.30.0".parse()?;
//! let store = Store::open(&location, &krel_storage::StoreEnv::from_env(|k| std::env::var(k).ok())).await?;
//! let plan = plan_push("_output/release".as_ref(), &location, &store, &PushOptions::default()).await?;
//! let report = execute_push(&store, &plan.uploads, 8, &NoProgress).await;
//! println!("{} uploaded, {} unchanged", report.uploaded.len(), plan.unchanged.len());
//! # Ok(()) }
//! ```

mod digest;
mod download;
mod file;
mod gcs;
pub mod http;
mod location;
mod lock;
mod marker;
mod push;
mod retry;
mod s3;

use std::path::PathBuf;

pub use digest::{local_digests, LocalDigests};
pub use location::Location;
pub use lock::{host_name, lock_key, LockRecord, PushLock, LOCK_TTL};
pub use marker::{
    marker_names, plan_marker, BlockingMarkerWriter, MarkerOutcome, MarkerUpdate, MarkerWriter,
};
pub use push::{
    check_source, execute_push, plan_push, BlockingUploader, NoProgress, ObjectUpload, PushFailure,
    PushOptions, PushPlan, PushProgress, PushReport, UploadBatch, Uploader,
};
pub use retry::RetryPolicy;

/// What a store says about one object.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ObjectInfo {
    /// Size in bytes, when the store reports it.
    pub size: Option<u64>,
    /// MD5 of the content, when known.
    pub md5: Option<[u8; 16]>,
    /// CRC32C of the content, when known.
    pub crc32c: Option<u32>,
    /// GCS generation: what a replacing upload must match.
    pub generation: Option<i64>,
    /// S3 ETag (quoted as the server sent it): what a replacing upload must match.
    pub etag: Option<String>,
}

impl ObjectInfo {
    /// Compares the remote object with a local file by every digest both sides know.
    pub fn compare(&self, local: &LocalDigests) -> Sameness {
        if let Some(size) = self.size {
            if size != local.size {
                return Sameness::Different;
            }
        }
        let mut compared = false;
        for (remote, local) in [
            (self.md5.map(|m| m.to_vec()), local.md5.to_vec()),
            (
                self.crc32c.map(|c| c.to_be_bytes().to_vec()),
                local.crc32c.to_be_bytes().to_vec(),
            ),
        ] {
            if let Some(remote) = remote {
                if remote != local {
                    return Sameness::Different;
                }
                compared = true;
            }
        }
        if compared {
            Sameness::Same
        } else {
            Sameness::Unknown
        }
    }

    /// True when the remote object certainly holds `local`'s content.
    pub fn matches(&self, local: &LocalDigests) -> bool {
        self.compare(local) == Sameness::Same
    }
}

/// Whether a stored object holds a local file's content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sameness {
    /// A digest both sides know agrees, and none disagrees.
    Same,
    /// Some digest or the size disagrees.
    Different,
    /// The store gave no digest krel can compare (for example an S3 multipart or KMS ETag).
    Unknown,
}

/// The condition an upload makes on the object it writes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "if", rename_all = "kebab-case")]
pub enum Precondition {
    /// The object must not exist (a new object).
    Absent,
    /// The GCS object must still be at this generation (a replacement).
    Generation {
        /// The generation seen when planning.
        generation: i64,
    },
    /// The S3 object must still have this ETag (a replacement).
    Etag {
        /// The ETag seen when planning.
        etag: String,
    },
    /// The `file://` object must still hold the content seen (MD5, hex) when it is replaced.
    Md5 {
        /// The MD5 seen when planning.
        md5: String,
    },
}

/// Settings that come from the environment, read once by the caller.
#[derive(Clone, Debug, Default)]
pub struct StoreEnv {
    /// `STORAGE_EMULATOR_HOST`: a GCS emulator, reached over plain HTTP without credentials.
    pub storage_emulator_host: Option<String>,
    /// `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_S3`).
    pub aws_endpoint_url: Option<String>,
    /// `AWS_REGION` or `AWS_DEFAULT_REGION`.
    pub aws_region: Option<String>,
    /// `AWS_ACCESS_KEY_ID`.
    pub aws_access_key_id: Option<String>,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub aws_secret_access_key: Option<krel_secret::Secret>,
    /// `AWS_SESSION_TOKEN`, for temporary credentials (STS, OIDC in CI).
    pub aws_session_token: Option<krel_secret::Secret>,
    /// Retries of transient failures.
    pub retry: RetryPolicy,
}

impl StoreEnv {
    /// Reads the variables through `var` (usually `std::env::var(..).ok()`).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> StoreEnv {
        let non_empty = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        StoreEnv {
            storage_emulator_host: non_empty("STORAGE_EMULATOR_HOST"),
            aws_endpoint_url: non_empty("AWS_ENDPOINT_URL_S3")
                .or_else(|| non_empty("AWS_ENDPOINT_URL")),
            aws_region: non_empty("AWS_REGION").or_else(|| non_empty("AWS_DEFAULT_REGION")),
            aws_access_key_id: non_empty("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key: krel_secret::Secret::from_optional(var("AWS_SECRET_ACCESS_KEY")),
            aws_session_token: krel_secret::Secret::from_optional(var("AWS_SESSION_TOKEN")),
            retry: RetryPolicy::default(),
        }
    }
}

/// Up to twenty items, one per line, then how many more.
fn list<T: std::fmt::Display>(items: impl Iterator<Item = T>) -> String {
    let items: Vec<String> = items.map(|i| i.to_string()).collect();
    let mut text: String = items.iter().take(20).map(|i| format!("\n  {i}")).collect();
    if items.len() > 20 {
        text.push_str(&format!("\n  … and {} more", items.len() - 20));
    }
    text
}

/// What to do when the store refused the credentials, or there were none.
const CREDENTIALS_HINT: &str = "credentials missing, expired, or without permission on this bucket: for gs://, `gcloud auth application-default login` or GOOGLE_APPLICATION_CREDENTIALS=key.json (in GitHub Actions, google-github-actions/auth); for s3://, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (AWS_ENDPOINT_URL for another endpoint than AWS)";

/// An error and its root cause, `outer: innermost` (a transport error says why it failed:
/// connection refused, a name that does not resolve).
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut root = None;
    let mut source = err.source();
    while let Some(cause) = source {
        root = Some(cause);
        source = cause.source();
    }
    if let Some(root) = root.map(ToString::to_string) {
        if !text.contains(&root) {
            text.push_str(": ");
            text.push_str(&root);
        }
    }
    text
}

/// One location's store.
pub enum Store {
    /// `file://`
    File(file::FileStore),
    /// `gs://`
    Gcs(gcs::GcsStore),
    /// `s3://`
    S3(s3::S3Store),
}

impl Store {
    /// Connects to a location (no request is made for file://).
    pub async fn open(location: &Location, env: &StoreEnv) -> Result<Store, StorageError> {
        Ok(match location {
            Location::File { root, .. } => Store::File(file::FileStore::new(root.clone())),
            Location::Gcs { bucket, .. } => Store::Gcs(gcs::GcsStore::new(bucket, env).await?),
            Location::S3 { bucket, .. } => Store::S3(s3::S3Store::new(bucket, env)?),
        })
    }

    /// What is stored under `key`, or `None`.
    pub async fn stat(&self, key: &str) -> Result<Option<ObjectInfo>, StorageError> {
        match self {
            Store::File(store) => store.stat(key).await,
            Store::Gcs(store) => store.stat(key).await,
            Store::S3(store) => store.stat(key).await,
        }
    }

    /// The whole content of an object (for small files such as SHA512SUMS).
    pub async fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        match self {
            Store::File(store) => store.read(key).await,
            Store::Gcs(store) => store.read(key).await,
            Store::S3(store) => store.read(key).await,
        }
    }

    /// Removes what dead runs left beside the objects of `keys` (`.krel-partial-*` files of a
    /// `file://` store; buckets have none: their uploads are whole or absent). Returns how
    /// many were removed.
    pub fn sweep_partials<'a>(&self, keys: impl IntoIterator<Item = &'a str>) -> usize {
        match self {
            Store::File(store) => store.sweep_partials(keys),
            Store::Gcs(_) | Store::S3(_) => 0,
        }
    }

    /// Uploads `upload.source` to `upload.key` under its precondition, and verifies what the
    /// store holds afterwards against the local digests.
    ///
    /// When the store refuses the precondition, the object is read: if it now holds exactly
    /// this content (an earlier attempt whose answer was lost, or an identical racing push), the
    /// upload is done; otherwise another push got there first ([`StorageError::Conflict`]).
    pub async fn put(&self, upload: &ObjectUpload) -> Result<ObjectInfo, StorageError> {
        let stored = match self {
            Store::File(store) => store.put(upload).await?,
            Store::Gcs(store) => store.put(upload).await?,
            Store::S3(store) => store.put(upload).await?,
        };
        if let Some(info) = stored {
            return Ok(info);
        }
        match self.stat(&upload.key).await? {
            Some(existing) if existing.matches(&upload.digests) => Ok(existing),
            _ => Err(StorageError::Conflict {
                key: upload.key.clone(),
            }),
        }
    }
}

/// Why a request failed, as far as the client can tell: what decides the hint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// Credentials missing, refused (401, 403) or expired.
    Credentials,
    /// No connection: nothing listens, or the name does not resolve.
    Unreachable,
    /// Anything else (a 5xx, a timeout, a bad answer).
    Other,
}

impl Cause {
    /// The cause an HTTP status tells.
    pub fn of_status(status: u16) -> Cause {
        match status {
            401 | 403 => Cause::Credentials,
            _ => Cause::Other,
        }
    }
}

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The local directory to push cannot be pushed as it is.
    #[error("cannot push {}: {reason}", path.display())]
    Source {
        /// The directory given.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Another push to the destination holds its lock.
    #[error("another push to {destination} is running: {holder} holds its lock (taken at {since}, expires at {expires}, seconds since 1970)")]
    Locked {
        /// The destination.
        destination: String,
        /// Who holds the lock.
        holder: String,
        /// When it was taken or last renewed.
        since: i64,
        /// When it expires unless renewed.
        expires: i64,
    },
    /// This run's lock was taken over (it had expired).
    #[error("the push lock {url} was taken over by another run while this one held it")]
    LockLost {
        /// The lock object.
        url: String,
    },
    /// The bucket itself does not exist (an upload into it was answered 404).
    #[error("the bucket {url} does not exist")]
    NoBucket {
        /// `gs://NAME` or `s3://NAME`.
        url: String,
    },
    /// The destination is not a URL krel can push to.
    #[error("`{url}` is not a storage location: {reason}")]
    BadLocation {
        /// The text given.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing a local file failed.
    #[error("{action} {}", path.display())]
    Io {
        /// "reading", "writing", ...
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Setting up a client failed.
    #[error("connecting to {url}: {reason}")]
    Connect {
        /// The location.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// A request failed (after retries, when it was transient).
    #[error("{action} `{key}`: {reason}")]
    Request {
        /// What was being done ("uploading", "reading the metadata of").
        action: &'static str,
        /// The object key.
        key: String,
        /// What went wrong (status and message).
        reason: String,
        /// HTTP status, when there was a response.
        status: Option<u16>,
        /// Why, as far as the client could tell.
        cause: Cause,
    },
    /// The object changed since the plan was made, or appeared meanwhile with other content.
    #[error("`{key}` changed on the store while pushing: another push got there first")]
    Conflict {
        /// The object key.
        key: String,
    },
    /// The stored object does not match what was uploaded.
    #[error("`{key}` does not match the local file after upload ({detail})")]
    Verification {
        /// The object key.
        key: String,
        /// Which digest differs.
        detail: String,
    },
    /// Objects exist with other content and overwriting was not allowed.
    #[error("{} object(s) already exist with different content:{}", keys.len(), list(keys.iter()))]
    WouldOverwrite {
        /// The keys.
        keys: Vec<String>,
    },
    /// Objects exist whose content cannot be compared (no MD5 or CRC32C from the store).
    #[error("{} object(s) already exist and their content cannot be compared (the store reports no MD5 or CRC32C, e.g. after a multipart or KMS-encrypted upload):{}", keys.len(), list(keys.iter()))]
    CannotCompare {
        /// The keys.
        keys: Vec<String>,
    },
    /// A version marker holds something that is not a version: krel will not replace what it
    /// cannot compare.
    #[error(
        "the version marker `{key}` holds `{content}`, which is not a release version ({reason})"
    )]
    BadMarker {
        /// The object key.
        key: String,
        /// What it holds (the start of it).
        content: String,
        /// Why it is not a version.
        reason: String,
    },
    /// Some uploads failed; the others completed.
    #[error("{} of {} uploads failed; the other objects are complete:{}", failures.len(), total, list(failures.iter().map(|f| format!("{}: {}", f.key, f.error))))]
    Incomplete {
        /// The failures.
        failures: Vec<PushFailure>,
        /// Uploads attempted.
        total: usize,
    },
}

impl StorageError {
    /// Adds what was being done, and to which local path, to an I/O error:
    /// `.map_err(StorageError::io("reading", &path))`.
    pub(crate) fn io(
        action: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> StorageError {
        let path = path.to_path_buf();
        move |source| StorageError::Io {
            action,
            path,
            source,
        }
    }
}

impl krel_error::Diagnose for StorageError {
    fn kind(&self) -> krel_error::ErrorKind {
        if self.is_refusal() {
            krel_error::ErrorKind::Refused
        } else if matches!(
            self,
            StorageError::BadLocation { .. }
                | StorageError::Source { .. }
                | StorageError::NoBucket { .. }
        ) {
            krel_error::ErrorKind::Usage
        } else {
            krel_error::ErrorKind::Unexpected
        }
    }

    /// True when the state of the world says no, as opposed to a failure to do the work.
    fn is_refusal(&self) -> bool {
        match self {
            StorageError::Conflict { .. }
            | StorageError::WouldOverwrite { .. }
            | StorageError::CannotCompare { .. }
            | StorageError::BadMarker { .. }
            | StorageError::Locked { .. }
            | StorageError::LockLost { .. }
            | StorageError::Verification { .. } => true,
            StorageError::Incomplete { failures, .. } => failures.iter().all(|f| f.refused),
            _ => false,
        }
    }

    /// What a user can do about it.
    fn hint(&self) -> Option<String> {
        match self {
            StorageError::BadLocation { .. } => Some("write gs://BUCKET/PREFIX, s3://BUCKET/PREFIX or file:///ABSOLUTE/PATH".into()),
            StorageError::Locked { .. } => Some("nothing was written: wait for that push to finish and run again (a lock whose push died frees itself when it expires)".into()),
            StorageError::LockLost { .. } => Some("another push may have written to the destination meanwhile: run the same push again to compare and complete it".into()),
            StorageError::NoBucket { url } => Some(format!("check the URL, or create the bucket first ({}); nothing was uploaded", if url.starts_with("s3://") { format!("aws s3 mb {url}") } else { format!("gcloud storage buckets create {url}") })),
            StorageError::Source { .. } => Some("SRC is the local directory to upload: check its path; a link in it must point inside it (copy the file in instead)".into()),
            StorageError::CannotCompare { .. } => Some("check those objects by hand (`krel push --allow-overwrite` replaces them)".into()),
            StorageError::WouldOverwrite { .. } => Some("published objects are not replaced silently: check the version (`krel push --allow-overwrite` replaces them when that is intended)".into()),
            StorageError::BadMarker { .. } => Some("fix the marker by hand (it should hold one version, such as v1.30.2), or remove it; then run again".into()),
            StorageError::Conflict { .. } => Some("run the push again to see the store's current state".into()),
            StorageError::Request { cause: Cause::Credentials, .. } => Some(CREDENTIALS_HINT.into()),
            StorageError::Request { cause: Cause::Unreachable, .. } => Some("the store cannot be reached: check the endpoint (AWS_ENDPOINT_URL, STORAGE_EMULATOR_HOST) and the network, then run the same push again".into()),
            StorageError::Incomplete { .. } | StorageError::Request { .. } => Some("run the same push again: completed objects are skipped and the rest is uploaded".into()),
            StorageError::Verification { .. } => Some("the store holds something else than what was sent: check the network path and run again".into()),
            StorageError::Connect { .. } => Some("check the URL and credentials (STORAGE_EMULATOR_HOST, AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID)".into()),
            StorageError::Io { .. } => None,
        }
    }
}

#[cfg(test)]
mod hint_tests {
    use super::*;
    use krel_error::Diagnose;

    fn request(reason: &str, status: Option<u16>, cause: Cause) -> StorageError {
        StorageError::Request {
            action: "uploading",
            key: "k".into(),
            reason: reason.into(),
            status,
            cause,
        }
    }

    #[test]
    fn missing_credentials_and_unreachable_stores_say_what_to_do() {
        let hint = |err: StorageError| err.hint().unwrap_or_default();
        assert!(hint(request(
            "cannot create the authentication headers",
            None,
            Cause::Credentials
        ))
        .contains("gcloud auth application-default login"));
        assert!(hint(request(
            "HTTP 403 AccessDenied",
            Some(403),
            Cause::of_status(403)
        ))
        .contains("AWS_ACCESS_KEY_ID"));
        assert!(hint(request(
            "error sending request: Connection refused",
            None,
            Cause::Unreachable
        ))
        .contains("check the endpoint"));
        assert!(hint(request("HTTP 503", Some(503), Cause::of_status(503)))
            .contains("run the same push again"));
    }

    #[test]
    fn an_error_is_told_with_its_root_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
        let outer = std::io::Error::other(io);
        assert!(error_chain(&outer).contains("Connection refused"));
    }
}
