//! `gs://` stores through Google's `google-cloud-storage` client.
//!
//! With `STORAGE_EMULATOR_HOST` set (as Google's own clients read it), requests go to that
//! host over plain HTTP with anonymous credentials, and every upload is a single request
//! (emulators mishandle resumable uploads and their preconditions). Uploads carry their CRC32C,
//! so the service checks the bytes it received; krel then compares the stored object's
//! checksums with the local file's.

use google_cloud_gax::exponential_backoff::ExponentialBackoffBuilder;
use google_cloud_gax::retry_policy::RetryPolicyExt;
use google_cloud_storage::client::Storage;
use google_cloud_storage::retry_policy::RetryableErrors;

use crate::digest::hex;
use crate::push::ObjectUpload;
use crate::{ObjectInfo, Precondition, StorageError, StoreEnv};

/// A Google Cloud Storage bucket.
pub struct GcsStore {
    client: Storage,
    bucket: String,
}

/// `127.0.0.1:4443`, `http://127.0.0.1:4443/` → `http://127.0.0.1:4443`.
fn emulator_endpoint(host: &str) -> String {
    let host = host.trim().trim_end_matches('/');
    if host.starts_with("http://") || host.starts_with("https://") {
        host.to_string()
    } else {
        format!("http://{host}")
    }
}

impl GcsStore {
    pub(crate) async fn new(bucket: &str, env: &StoreEnv) -> Result<GcsStore, StorageError> {
        let connect = |reason: String| StorageError::Connect {
            url: format!("gs://{bucket}"),
            reason,
        };
        let backoff = ExponentialBackoffBuilder::new()
            .with_initial_delay(env.retry.initial_delay)
            .with_maximum_delay(env.retry.max_delay)
            .build()
            .map_err(|e| connect(e.to_string()))?;
        let mut builder = Storage::builder()
            .with_retry_policy(RetryableErrors.with_attempt_limit(env.retry.attempts.max(1)))
            .with_backoff_policy(backoff);
        if let Some(host) = &env.storage_emulator_host {
            let credentials = google_cloud_auth::credentials::anonymous::Builder::new().build();
            builder = builder
                .with_endpoint(emulator_endpoint(host))
                .with_credentials(credentials)
                .with_resumable_upload_threshold(usize::MAX);
        }
        let client = builder.build().await.map_err(|e| connect(e.to_string()))?;
        Ok(GcsStore {
            client,
            bucket: format!("projects/_/buckets/{bucket}"),
        })
    }

    pub(crate) async fn stat(&self, key: &str) -> Result<Option<ObjectInfo>, StorageError> {
        // Metadata without the body: the object's headers arrive with the first response.
        match self.client.read_object(&self.bucket, key).send().await {
            Ok(response) => {
                let highlights = response.object();
                drop(response);
                let checksums = highlights.checksums.unwrap_or_default();
                Ok(Some(ObjectInfo {
                    size: u64::try_from(highlights.size).ok().filter(|s| *s > 0),
                    md5: <[u8; 16]>::try_from(checksums.md5_hash.as_ref()).ok(),
                    crc32c: checksums.crc32c,
                    generation: Some(highlights.generation),
                    etag: None,
                }))
            }
            Err(err) if err.http_status_code() == Some(404) => Ok(None),
            Err(err) => Err(request_error("reading the metadata of", key, &err)),
        }
    }

    pub(crate) async fn put(&self, upload: &ObjectUpload) -> Result<ObjectInfo, StorageError> {
        let key = upload.key.as_str();
        let file = tokio::fs::File::open(&upload.source)
            .await
            .map_err(|source| StorageError::Io {
                action: "reading",
                path: upload.source.clone(),
                source,
            })?;
        let mut request = self
            .client
            .write_object(&self.bucket, key, file)
            .with_known_crc32c(upload.digests.crc32c);
        request = match &upload.precondition {
            Precondition::Absent => request.set_if_generation_match(0_i64),
            Precondition::Generation { generation } => request.set_if_generation_match(*generation),
            _ => request,
        };
        match request.send_unbuffered().await {
            Ok(object) => {
                let checksums = object.checksums.clone().unwrap_or_default();
                let info = ObjectInfo {
                    size: u64::try_from(object.size).ok().filter(|s| *s > 0),
                    md5: <[u8; 16]>::try_from(checksums.md5_hash.as_ref()).ok(),
                    crc32c: checksums.crc32c,
                    generation: Some(object.generation),
                    etag: None,
                };
                verify(key, &info, upload)?;
                Ok(info)
            }
            Err(err) if err.http_status_code() == Some(412) => {
                // Precondition failed: perhaps our own attempt whose answer was lost.
                match self.stat(key).await? {
                    Some(existing) if existing.matches(&upload.digests) => Ok(existing),
                    _ => Err(StorageError::Conflict { key: key.into() }),
                }
            }
            Err(err) => Err(request_error("uploading", key, &err)),
        }
    }
}

fn verify(key: &str, stored: &ObjectInfo, upload: &ObjectUpload) -> Result<(), StorageError> {
    if let Some(crc) = stored.crc32c {
        if crc != upload.digests.crc32c {
            return Err(StorageError::Verification {
                key: key.into(),
                detail: format!("CRC32C {crc:08x} != local {:08x}", upload.digests.crc32c),
            });
        }
    }
    if let Some(md5) = stored.md5 {
        if md5 != upload.digests.md5 {
            return Err(StorageError::Verification {
                key: key.into(),
                detail: format!("MD5 {} != local {}", hex(&md5), hex(&upload.digests.md5)),
            });
        }
    }
    if stored.crc32c.is_none() && stored.md5.is_none() {
        return Err(StorageError::Verification {
            key: key.into(),
            detail: "the store reported no checksum to compare".into(),
        });
    }
    Ok(())
}

fn request_error(
    action: &'static str,
    key: &str,
    err: &google_cloud_storage::Error,
) -> StorageError {
    StorageError::Request {
        action,
        key: key.into(),
        reason: err.to_string(),
        status: err.http_status_code(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn emulator_host_forms() {
        for host in [
            "127.0.0.1:4443",
            "http://127.0.0.1:4443",
            "http://127.0.0.1:4443/",
        ] {
            assert_eq!(super::emulator_endpoint(host), "http://127.0.0.1:4443");
        }
    }
}
