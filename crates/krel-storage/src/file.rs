//! `file://` stores: a directory; objects are files written to a temporary name and renamed.

use std::path::{Path, PathBuf};

use crate::digest::local_digests;
use crate::push::ObjectUpload;
use crate::{ObjectInfo, Precondition, RetryPolicy, StorageError};

/// Temporary files start with this; a listing of the store ignores them, and a later push
/// removes ones that a killed push left behind.
pub(crate) const PARTIAL_PREFIX: &str = ".krel-partial-";

/// A directory standing in for a bucket.
pub struct FileStore {
    root: PathBuf,
    #[allow(dead_code)]
    retry: RetryPolicy,
}

impl FileStore {
    pub(crate) fn new(root: PathBuf, retry: RetryPolicy) -> FileStore {
        FileStore { root, retry }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    pub(crate) async fn stat(&self, key: &str) -> Result<Option<ObjectInfo>, StorageError> {
        let path = self.path(key);
        tokio::task::spawn_blocking(move || stat_blocking(&path))
            .await
            .unwrap_or_else(|join| Err(join_error(join)))
    }

    pub(crate) async fn put(&self, upload: &ObjectUpload) -> Result<ObjectInfo, StorageError> {
        let target = self.path(&upload.key);
        let upload = upload.clone();
        tokio::task::spawn_blocking(move || put_blocking(&target, &upload))
            .await
            .unwrap_or_else(|join| Err(join_error(join)))
    }
}

fn join_error(err: tokio::task::JoinError) -> StorageError {
    StorageError::Io {
        action: "waiting for",
        path: PathBuf::from("a file task"),
        source: std::io::Error::other(err.to_string()),
    }
}

fn stat_blocking(path: &Path) -> Result<Option<ObjectInfo>, StorageError> {
    if !path.exists() {
        return Ok(None);
    }
    let digests = local_digests(path).map_err(|source| StorageError::Io {
        action: "reading",
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Some(ObjectInfo {
        size: Some(digests.size),
        md5: Some(digests.md5),
        crc32c: Some(digests.crc32c),
        generation: None,
        etag: None,
    }))
}

fn put_blocking(target: &Path, upload: &ObjectUpload) -> Result<ObjectInfo, StorageError> {
    let io = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| StorageError::Io {
            action,
            path,
            source,
        }
    };
    let dir = target.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    let mut temp = tempfile::Builder::new()
        .prefix(PARTIAL_PREFIX)
        .tempfile_in(dir)
        .map_err(io("creating a temporary file in", dir))?;
    let mut source = std::fs::File::open(&upload.source).map_err(io("reading", &upload.source))?;
    std::io::copy(&mut source, temp.as_file_mut()).map_err(io("writing", temp.path()))?;
    temp.as_file()
        .sync_all()
        .map_err(io("writing", temp.path()))?;

    // Read back what was written: the file store's verification.
    let written = local_digests(temp.path()).map_err(io("reading back", temp.path()))?;
    if written != upload.digests {
        return Err(StorageError::Verification {
            key: upload.key.clone(),
            detail:
                "the written file differs from the source (did the source change during the push?)"
                    .into(),
        });
    }
    let info = ObjectInfo {
        size: Some(written.size),
        md5: Some(written.md5),
        crc32c: Some(written.crc32c),
        generation: None,
        etag: None,
    };
    match upload.precondition {
        Precondition::Absent => match temp.persist_noclobber(target) {
            Ok(_) => Ok(info),
            Err(err) if err.error.kind() == std::io::ErrorKind::AlreadyExists => {
                // Someone else wrote it meanwhile: fine if it is the same content.
                match stat_blocking(target)? {
                    Some(existing) if existing.matches(&upload.digests) => Ok(existing),
                    _ => Err(StorageError::Conflict {
                        key: upload.key.clone(),
                    }),
                }
            }
            Err(err) => Err(io("writing", target)(err.error)),
        },
        _ => {
            temp.persist(target)
                .map_err(|e| io("writing", target)(e.error))?;
            Ok(info)
        }
    }
}

/// Removes temporary files that a killed push left in `dir` (not recursive).
pub(crate) fn remove_stale_partials(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(PARTIAL_PREFIX)
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}
