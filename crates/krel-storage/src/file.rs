//! `file://` stores: a directory; objects are files written to a temporary name and renamed.

use std::path::{Path, PathBuf};

use crate::digest::{hex, local_digests};
use crate::push::ObjectUpload;
use crate::{ObjectInfo, Precondition, StorageError};

/// Temporary files start with this. A push that writes into a directory removes ones older
/// than [`STALE_AFTER`] there (left by a killed push); younger ones may belong to a push that
/// is still running and are left alone.
pub(crate) const PARTIAL_PREFIX: &str = ".krel-partial-";

/// Age after which a temporary file is taken to be abandoned.
pub(crate) const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// A directory standing in for a bucket.
pub struct FileStore {
    root: PathBuf,
}

impl FileStore {
    pub(crate) fn new(root: PathBuf) -> FileStore {
        FileStore { root }
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

    pub(crate) async fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let path = self.path(key);
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StorageError::Io {
                action: "reading",
                path,
                source,
            }),
        }
    }

    /// Copies an object to `path`; `false` when there is no such object.
    pub(crate) async fn download(&self, key: &str, path: &Path) -> Result<bool, StorageError> {
        let source = self.path(key);
        match tokio::fs::copy(&source, path).await {
            Ok(_) => Ok(true),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(source_err) => Err(StorageError::Io {
                action: "reading",
                path: source,
                source: source_err,
            }),
        }
    }

    /// Uploads; `Ok(None)` when the precondition failed ([`crate::Store::put`] settles it).
    pub(crate) async fn put(
        &self,
        upload: &ObjectUpload,
    ) -> Result<Option<ObjectInfo>, StorageError> {
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

/// How old a `.krel-partial-*` file must be before a push takes it for the leftover of a dead
/// run (a live upload keeps touching its file).
const STALE_PARTIAL: std::time::Duration = std::time::Duration::from_secs(15 * 60);

impl FileStore {
    /// Removes `.krel-partial-*` files left by dead runs in the directories of `keys`;
    /// returns how many.
    pub(crate) fn sweep_partials<'a>(&self, keys: impl IntoIterator<Item = &'a str>) -> usize {
        let dirs: std::collections::BTreeSet<PathBuf> = keys
            .into_iter()
            .filter_map(|key| self.path(key).parent().map(Path::to_path_buf))
            .collect();
        dirs.iter()
            .map(|dir| krel_fs::scratch::sweep(dir, PARTIAL_PREFIX, STALE_PARTIAL))
            .sum()
    }
}

/// Writes the object; `Ok(None)` when its precondition failed.
fn put_blocking(target: &Path, upload: &ObjectUpload) -> Result<Option<ObjectInfo>, StorageError> {
    let dir = target.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir).map_err(StorageError::io("creating", dir))?;
    // Removed by the signal handler if the run is interrupted before the rename (registered
    // before it exists: no moment leaves it behind).
    let (_scratch, mut temp) = krel_fs::scratch::named_temp_file(dir, PARTIAL_PREFIX)
        .map_err(StorageError::io("creating a temporary file in", dir))?;
    let mut source =
        std::fs::File::open(&upload.source).map_err(StorageError::io("reading", &upload.source))?;
    std::io::copy(&mut source, temp.as_file_mut())
        .map_err(StorageError::io("writing", temp.path()))?;
    #[cfg(unix)]
    {
        // Published objects are readable by everyone, as in a bucket (tempfile makes 0600).
        use std::os::unix::fs::PermissionsExt;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(StorageError::io("writing", temp.path()))?;
    }
    temp.as_file()
        .sync_all()
        .map_err(StorageError::io("writing", temp.path()))?;

    // Read back what was written: the file store's verification.
    let written =
        local_digests(temp.path()).map_err(StorageError::io("reading back", temp.path()))?;
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
    let result = match &upload.precondition {
        Precondition::Absent => match temp.persist_noclobber(target) {
            Ok(_) => Ok(Some(info)),
            // Someone else wrote it meanwhile: `Store::put` settles it.
            Err(err) if err.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
            Err(err) => Err(StorageError::io("writing", target)(err.error)),
        },
        Precondition::Md5 { md5 } => {
            // Replace only the content seen when planning.
            let current = stat_blocking(target)?.and_then(|i| i.md5).map(|m| hex(&m));
            if current.as_deref() != Some(md5.as_str()) {
                return Ok(None);
            }
            temp.persist(target)
                .map_err(|e| StorageError::io("writing", target)(e.error))?;
            Ok(Some(info))
        }
        Precondition::Generation { .. } | Precondition::Etag { .. } => {
            temp.persist(target)
                .map_err(|e| StorageError::io("writing", target)(e.error))?;
            Ok(Some(info))
        }
    };
    remove_stale_partials(dir);
    result
}

/// Removes temporary files older than [`STALE_AFTER`] from `dir` (not recursive).
pub(crate) fn remove_stale_partials(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry
            .file_name()
            .to_string_lossy()
            .starts_with(PARTIAL_PREFIX)
        {
            continue;
        }
        let age = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok());
        if age.is_some_and(|age| age > STALE_AFTER) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
