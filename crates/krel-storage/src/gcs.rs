//! `gs://` stores through Google's `google-cloud-storage` client.
//!
//! With `STORAGE_EMULATOR_HOST` set (as Google's own clients read it), requests go to that
//! host over plain HTTP with anonymous credentials, and every upload is a single request
//! (emulators mishandle resumable uploads and their preconditions). Uploads carry their CRC32C,
//! so the service checks the bytes it received; krel then compares the stored object's
//! checksums with the local file's. Retries and per-attempt timeouts are krel's own (the
//! client's internal retry is limited to one attempt), the same for every store.

use google_cloud_gax::retry_policy::RetryPolicyExt;
use google_cloud_storage::client::Storage;
use google_cloud_storage::model_ext::ReadRange;
use google_cloud_storage::retry_policy::RetryableErrors;

use crate::digest::hex;
use crate::push::ObjectUpload;
use crate::retry::{transient_status, upload_timeout, within, Failed, STAT_TIMEOUT};
use crate::{ObjectInfo, Precondition, RetryPolicy, StorageError, StoreEnv};

/// A Google Cloud Storage bucket.
pub struct GcsStore {
    client: Storage,
    bucket: String,
    /// `gs://NAME`, for messages.
    url: String,
    retry: RetryPolicy,
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
        let mut builder =
            Storage::builder().with_retry_policy(RetryableErrors.with_attempt_limit(1));
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
            url: format!("gs://{bucket}"),
            retry: env.retry.clone(),
        })
    }

    pub(crate) async fn stat(&self, key: &str) -> Result<Option<ObjectInfo>, StorageError> {
        const ACTION: &str = "reading the metadata of";
        self.retry
            .run(key, || {
                within(STAT_TIMEOUT, ACTION, key, async {
                    // Metadata without the body: ask for one byte; the object's headers describe
                    // the whole object. An empty object cannot serve a byte (416): read it whole.
                    let ranged = self
                        .client
                        .read_object(&self.bucket, key)
                        .set_read_range(ReadRange::head(1))
                        .send()
                        .await;
                    let response = match ranged {
                        Err(err) if err.http_status_code() == Some(416) => {
                            self.client.read_object(&self.bucket, key).send().await
                        }
                        other => other,
                    };
                    match response {
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
                        Err(err) => Err(classify(ACTION, key, &err)),
                    }
                })
            })
            .await
    }

    pub(crate) async fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        const ACTION: &str = "reading";
        self.retry
            .run(key, || {
                within(STAT_TIMEOUT, ACTION, key, async {
                    match self.client.read_object(&self.bucket, key).send().await {
                        Ok(mut response) => {
                            let mut bytes = Vec::new();
                            while let Some(chunk) = response.next().await {
                                let chunk = chunk.map_err(|err| classify(ACTION, key, &err))?;
                                bytes.extend_from_slice(&chunk);
                            }
                            Ok(Some(bytes))
                        }
                        Err(err) if err.http_status_code() == Some(404) => Ok(None),
                        Err(err) => Err(classify(ACTION, key, &err)),
                    }
                })
            })
            .await
    }

    /// Streams an object into the file at `path` (created afresh on each attempt); `false` when there is no such object.
    pub(crate) async fn download(
        &self,
        key: &str,
        path: &std::path::Path,
        limit: std::time::Duration,
    ) -> Result<bool, StorageError> {
        const ACTION: &str = "downloading";
        self.retry
            .run(key, || {
                within(limit, ACTION, key, async move {
                    let mut file = crate::download::create(path).await?;
                    match self.client.read_object(&self.bucket, key).send().await {
                        Ok(mut response) => {
                            while let Some(chunk) = response.next().await {
                                let chunk = chunk.map_err(|err| classify(ACTION, key, &err))?;
                                crate::download::append(&mut file, &chunk, path).await?;
                            }
                            crate::download::finish(file, path).await?;
                            Ok(true)
                        }
                        Err(err) if err.http_status_code() == Some(404) => Ok(false),
                        Err(err) => Err(classify(ACTION, key, &err)),
                    }
                })
            })
            .await
    }

    /// Uploads; `Ok(None)` when the precondition failed ([`crate::Store::put`] settles it).
    pub(crate) async fn put(
        &self,
        upload: &ObjectUpload,
    ) -> Result<Option<ObjectInfo>, StorageError> {
        const ACTION: &str = "uploading";
        let key = upload.key.as_str();
        let outcome = self
            .retry
            .run(key, || {
                within(upload_timeout(upload.digests.size), ACTION, key, async {
                    let file = tokio::fs::File::open(&upload.source)
                        .await
                        .map_err(|source| {
                            Failed::Fatal(StorageError::Io {
                                action: "reading",
                                path: upload.source.clone(),
                                source,
                            })
                        })?;
                    let mut request = self
                        .client
                        .write_object(&self.bucket, key, file)
                        .with_known_crc32c(upload.digests.crc32c);
                    request = match &upload.precondition {
                        Precondition::Absent => request.set_if_generation_match(0_i64),
                        Precondition::Generation { generation } => {
                            request.set_if_generation_match(*generation)
                        }
                        _ => request,
                    };
                    match request.send_unbuffered().await {
                        Ok(object) => {
                            let checksums = object.checksums.clone().unwrap_or_default();
                            Ok(Some(ObjectInfo {
                                size: u64::try_from(object.size).ok().filter(|s| *s > 0),
                                md5: <[u8; 16]>::try_from(checksums.md5_hash.as_ref()).ok(),
                                crc32c: checksums.crc32c,
                                generation: Some(object.generation),
                                etag: None,
                            }))
                        }
                        Err(err) if err.http_status_code() == Some(412) => Ok(None),
                        // A write is answered 404 only when the bucket is missing.
                        Err(err) if err.http_status_code() == Some(404) => {
                            Err(Failed::Fatal(StorageError::NoBucket {
                                url: self.url.clone(),
                            }))
                        }
                        Err(err) => Err(classify(ACTION, key, &err)),
                    }
                })
            })
            .await?;
        match outcome {
            Some(info) => {
                verify(key, &info, upload)?;
                Ok(Some(info))
            }
            None => Ok(None),
        }
    }
}

fn classify(action: &'static str, key: &str, err: &google_cloud_storage::Error) -> Failed {
    let status = err.http_status_code();
    let failure = StorageError::Request {
        action,
        key: key.into(),
        reason: crate::error_chain(err),
        status,
        cause: match status {
            Some(status) => crate::Cause::of_status(status),
            None if err.is_authentication() => crate::Cause::Credentials,
            None if err.is_transport() => crate::Cause::Unreachable,
            None => crate::Cause::Other,
        },
    };
    let transient = match status {
        Some(status) => transient_status(status),
        None => err.is_transport() || err.is_timeout() || err.is_io(),
    };
    if transient {
        Failed::Transient(failure)
    } else {
        Failed::Fatal(failure)
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
