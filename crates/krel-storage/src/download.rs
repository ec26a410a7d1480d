//! Downloads: an object streamed to a temporary file beside its destination, then renamed into
//! place, so a destination file is always a whole object.

use std::path::Path;

use tokio::io::AsyncWriteExt;

use crate::retry::{upload_timeout, Failed};
use crate::{StorageError, Store};

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Failed {
    let path = path.to_path_buf();
    move |source| {
        Failed::Fatal(StorageError::Io {
            action,
            path,
            source,
        })
    }
}

/// Creates (or truncates) the file one download attempt writes.
pub(crate) async fn create(path: &Path) -> Result<tokio::fs::File, Failed> {
    tokio::fs::File::create(path)
        .await
        .map_err(io_error("creating", path))
}

/// Appends a chunk.
pub(crate) async fn append(
    file: &mut tokio::fs::File,
    chunk: &[u8],
    path: &Path,
) -> Result<(), Failed> {
    file.write_all(chunk)
        .await
        .map_err(io_error("writing", path))
}

/// Flushes the file to disk.
pub(crate) async fn finish(mut file: tokio::fs::File, path: &Path) -> Result<(), Failed> {
    file.flush().await.map_err(io_error("writing", path))?;
    file.sync_all().await.map_err(io_error("writing", path))
}

impl Store {
    /// Copies the object `key` to `destination` (parents created), or returns `false` when
    /// there is no such object. The object is written to a temporary file beside the
    /// destination and renamed into place: `destination` is never a partial object.
    pub async fn download(&self, key: &str, destination: &Path) -> Result<bool, StorageError> {
        let dir = destination.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(StorageError::io("creating", dir))?;
        let temp = tempfile::Builder::new()
            .prefix(crate::file::PARTIAL_PREFIX)
            .tempfile_in(dir)
            .map_err(StorageError::io("creating a temporary file in", dir))?
            .into_temp_path();
        let found = match self {
            Store::File(store) => store.download(key, &temp).await?,
            Store::Gcs(store) => {
                let size = self.stat(key).await?.and_then(|info| info.size);
                store
                    .download(key, &temp, upload_timeout(size.unwrap_or(0)))
                    .await?
            }
            Store::S3(store) => {
                let size = self.stat(key).await?.and_then(|info| info.size);
                store
                    .download(key, &temp, upload_timeout(size.unwrap_or(0)))
                    .await?
            }
        };
        if found {
            temp.persist(destination)
                .map_err(|err| StorageError::io("writing", destination)(err.error))?;
        }
        Ok(found)
    }
}
