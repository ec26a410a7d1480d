//! `s3://` stores: requests signed with rusty-s3 (presigned URLs) and sent with reqwest.

use std::time::Duration;

use base64::Engine;
use rusty_s3::actions::{HeadObject, PutObject};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

use crate::digest::hex;
use crate::push::ObjectUpload;
use crate::retry::{transient_status, upload_timeout, within, Failed, STAT_TIMEOUT};
use crate::{ObjectInfo, Precondition, RetryPolicy, StorageError, StoreEnv};

const SIGNATURE_LIFETIME: Duration = Duration::from_secs(3600);

/// An S3 (or S3-compatible) bucket.
pub struct S3Store {
    bucket: Bucket,
    credentials: Option<Credentials>,
    http: reqwest::Client,
    retry: RetryPolicy,
}

impl S3Store {
    pub(crate) fn new(name: &str, env: &StoreEnv) -> Result<S3Store, StorageError> {
        let region = env.aws_region.clone().unwrap_or_else(|| "us-east-1".into());
        let (endpoint, style) = match &env.aws_endpoint_url {
            Some(url) => (url.clone(), UrlStyle::Path),
            None => (
                format!("https://s3.{region}.amazonaws.com"),
                UrlStyle::VirtualHost,
            ),
        };
        let connect = |reason: String| StorageError::Connect {
            url: format!("s3://{name}"),
            reason,
        };
        let endpoint: url::Url = endpoint
            .parse()
            .map_err(|e| connect(format!("AWS_ENDPOINT_URL `{endpoint}` is not a URL: {e}")))?;
        let bucket = Bucket::new(endpoint, style, name.to_string(), region)
            .map_err(|e| connect(e.to_string()))?;
        let credentials = match (
            &env.aws_access_key_id,
            &env.aws_secret_access_key,
            &env.aws_session_token,
        ) {
            (Some(key), Some(secret), Some(token)) => Some(Credentials::new_with_token(
                key.clone(),
                secret.expose().to_string(),
                token.expose().to_string(),
            )),
            (Some(key), Some(secret), None) => {
                Some(Credentials::new(key.clone(), secret.expose().to_string()))
            }
            _ => None,
        };
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| connect(e.to_string()))?;
        Ok(S3Store {
            bucket,
            credentials,
            http,
            retry: env.retry.clone(),
        })
    }

    pub(crate) async fn stat(&self, key: &str) -> Result<Option<ObjectInfo>, StorageError> {
        self.retry
            .run(key, || {
                within(STAT_TIMEOUT, "reading the metadata of", key, async {
                    let url = HeadObject::new(&self.bucket, self.credentials.as_ref(), key)
                        .sign(SIGNATURE_LIFETIME);
                    let response = self
                        .http
                        .head(url)
                        .send()
                        .await
                        .map_err(|e| transport("reading the metadata of", key, e))?;
                    let status = response.status().as_u16();
                    match status {
                        200 => Ok(Some(info_from(&response))),
                        404 => Ok(None),
                        s if transient_status(s) || s == 409 => Err(Failed::Transient(http_error(
                            "reading the metadata of",
                            key,
                            status,
                            "",
                        ))),
                        _ => Err(Failed::Fatal(http_error(
                            "reading the metadata of",
                            key,
                            status,
                            "",
                        ))),
                    }
                })
            })
            .await
    }

    pub(crate) async fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.retry
            .run(key, || {
                within(STAT_TIMEOUT, "reading", key, async {
                    let url = rusty_s3::actions::GetObject::new(
                        &self.bucket,
                        self.credentials.as_ref(),
                        key,
                    )
                    .sign(SIGNATURE_LIFETIME);
                    let response = self
                        .http
                        .get(url)
                        .send()
                        .await
                        .map_err(|e| transport("reading", key, e))?;
                    let status = response.status().as_u16();
                    match status {
                        200 => {
                            let bytes = response
                                .bytes()
                                .await
                                .map_err(|e| transport("reading", key, e))?;
                            Ok(Some(bytes.to_vec()))
                        }
                        404 => Ok(None),
                        s if transient_status(s) => {
                            Err(Failed::Transient(http_error("reading", key, status, "")))
                        }
                        _ => Err(Failed::Fatal(http_error("reading", key, status, ""))),
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
        limit: Duration,
    ) -> Result<bool, StorageError> {
        const ACTION: &str = "downloading";
        self.retry
            .run(key, || {
                within(limit, ACTION, key, async move {
                    let mut file = crate::download::create(path).await?;
                    let url = rusty_s3::actions::GetObject::new(
                        &self.bucket,
                        self.credentials.as_ref(),
                        key,
                    )
                    .sign(SIGNATURE_LIFETIME);
                    let mut response = self
                        .http
                        .get(url)
                        .send()
                        .await
                        .map_err(|e| transport(ACTION, key, e))?;
                    let status = response.status().as_u16();
                    match status {
                        200 => {
                            while let Some(chunk) = response
                                .chunk()
                                .await
                                .map_err(|e| transport(ACTION, key, e))?
                            {
                                crate::download::append(&mut file, &chunk, path).await?;
                            }
                            crate::download::finish(file, path).await?;
                            Ok(true)
                        }
                        404 => Ok(false),
                        s if transient_status(s) => {
                            Err(Failed::Transient(http_error(ACTION, key, status, "")))
                        }
                        _ => Err(Failed::Fatal(http_error(ACTION, key, status, ""))),
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
        let key = upload.key.as_str();
        let md5_b64 = base64::engine::general_purpose::STANDARD.encode(upload.digests.md5);
        let outcome = self
            .retry
            .run(key, || {
                within(
                    upload_timeout(upload.digests.size),
                    "uploading",
                    key,
                    async {
                        let mut action =
                            PutObject::new(&self.bucket, self.credentials.as_ref(), key);
                        action.headers_mut().insert("content-md5", md5_b64.clone());
                        match &upload.precondition {
                            Precondition::Absent => {
                                action.headers_mut().insert("if-none-match", "*")
                            }
                            Precondition::Etag { etag } => {
                                action.headers_mut().insert("if-match", etag.clone())
                            }
                            _ => {}
                        }
                        let url = action.sign(SIGNATURE_LIFETIME);
                        let file =
                            tokio::fs::File::open(&upload.source)
                                .await
                                .map_err(|source| {
                                    Failed::Fatal(StorageError::Io {
                                        action: "reading",
                                        path: upload.source.clone(),
                                        source,
                                    })
                                })?;
                        let mut request = self
                            .http
                            .put(url)
                            .header("content-md5", &md5_b64)
                            .header(reqwest::header::CONTENT_LENGTH, upload.digests.size)
                            .body(reqwest::Body::from(file));
                        match &upload.precondition {
                            Precondition::Absent => request = request.header("if-none-match", "*"),
                            Precondition::Etag { etag } => {
                                request = request.header("if-match", etag)
                            }
                            _ => {}
                        }
                        let response = request
                            .send()
                            .await
                            .map_err(|e| transport("uploading", key, e))?;
                        let status = response.status().as_u16();
                        match status {
                            200 | 201 => Ok(Some(info_from(&response))),
                            412 => Ok(None),
                            // A PUT is answered 404 only when the bucket is missing.
                            404 => Err(Failed::Fatal(StorageError::NoBucket {
                                url: format!("s3://{}", self.bucket.name()),
                            })),
                            s if transient_status(s) || s == 409 => {
                                let body = response.text().await.unwrap_or_default();
                                Err(Failed::Transient(http_error(
                                    "uploading",
                                    key,
                                    status,
                                    &body,
                                )))
                            }
                            _ => {
                                let body = response.text().await.unwrap_or_default();
                                Err(Failed::Fatal(http_error("uploading", key, status, &body)))
                            }
                        }
                    },
                )
            })
            .await?;
        match outcome {
            Some(info) => match info.md5 {
                Some(md5) if md5 == upload.digests.md5 => Ok(Some(info)),
                Some(md5) => Err(StorageError::Verification {
                    key: key.into(),
                    detail: format!(
                        "ETag MD5 {} != local {}",
                        hex(&md5),
                        hex(&upload.digests.md5)
                    ),
                }),
                // A multipart or encrypted upload's ETag is no MD5: check what is stored.
                None => verify_by_stat(self, upload).await.map(Some),
            },
            None => Ok(None),
        }
    }
}

async fn verify_by_stat(
    store: &S3Store,
    upload: &ObjectUpload,
) -> Result<ObjectInfo, StorageError> {
    match store.stat(&upload.key).await? {
        Some(info) if info.size == Some(upload.digests.size) => Ok(info),
        _ => Err(StorageError::Verification {
            key: upload.key.clone(),
            detail: "size after upload differs".into(),
        }),
    }
}

fn info_from(response: &reqwest::Response) -> ObjectInfo {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let etag = header("etag");
    // With SSE-KMS, DSSE or SSE-C the ETag is not the MD5 of the content.
    let encrypted = header("x-amz-server-side-encryption")
        .is_some_and(|v| v.starts_with("aws:kms"))
        || header("x-amz-server-side-encryption-customer-algorithm").is_some();
    let md5 = etag.as_deref().filter(|_| !encrypted).and_then(|etag| {
        let bare = etag.trim_matches('"');
        if bare.len() != 32 {
            return None;
        }
        let mut md5 = [0u8; 16];
        for (i, chunk) in bare.as_bytes().chunks(2).enumerate() {
            md5[i] = u8::from_str_radix(std::str::from_utf8(chunk).ok()?, 16).ok()?;
        }
        Some(md5)
    });
    ObjectInfo {
        size: header("content-length").and_then(|v| v.parse().ok()),
        md5,
        crc32c: None,
        generation: None,
        etag,
    }
}

fn transport(action: &'static str, key: &str, err: reqwest::Error) -> Failed {
    // Without the URL: a presigned URL carries a signature, which must not reach logs. The
    // endpoint (scheme, host, port) carries none, and says where the request went.
    let endpoint = err.url().map(|url| {
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        format!(
            " (endpoint {}://{}{port})",
            url.scheme(),
            url.host_str().unwrap_or("")
        )
    });
    let err = err.without_url();
    let failure = StorageError::Request {
        action,
        key: key.into(),
        reason: format!(
            "{}{}",
            crate::error_chain(&err),
            endpoint.unwrap_or_default()
        ),
        status: None,
        cause: if err.is_connect() {
            crate::Cause::Unreachable
        } else {
            crate::Cause::Other
        },
    };
    if err.is_builder() {
        Failed::Fatal(failure)
    } else {
        Failed::Transient(failure)
    }
}

fn http_error(action: &'static str, key: &str, status: u16, body: &str) -> StorageError {
    let code = body
        .split("<Code>")
        .nth(1)
        .and_then(|rest| rest.split("</Code>").next())
        .map(|code| format!(" ({code})"))
        .unwrap_or_default();
    StorageError::Request {
        action,
        key: key.into(),
        reason: format!("HTTP {status}{code}"),
        status: Some(status),
        cause: crate::Cause::of_status(status),
    }
}
