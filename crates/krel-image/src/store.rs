//! [`ImageStore`]: one image location, a registry (through `oci-client`) or OCI layouts.

use std::sync::Arc;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::RegistryOperation;
use oci_client::{Client, Reference};

use crate::digest::Digest;
use crate::layout::Layouts;
use crate::location::ImageLocation;
use crate::manifest::{media, Manifest};
use crate::ImageError;

/// How krel authenticates to registries.
#[derive(Clone, Debug, Default)]
pub struct RegistryEnv {
    /// `KREL_REGISTRY_USERNAME`.
    pub username: Option<String>,
    /// `KREL_REGISTRY_PASSWORD` (a password or a token).
    pub password: Option<krel_secret::Secret>,
    /// Read `~/.docker/config.json` (and its credential helpers) when no `KREL_REGISTRY_*`
    /// credentials are given (true but in tests that must not see the user's).
    pub docker_config: bool,
}

impl RegistryEnv {
    /// Reads the variables through `var`.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> RegistryEnv {
        let non_empty = |name: &str| var(name).filter(|v| !v.is_empty());
        RegistryEnv {
            username: non_empty("KREL_REGISTRY_USERNAME"),
            password: non_empty("KREL_REGISTRY_PASSWORD").map(krel_secret::Secret::new),
            docker_config: true,
        }
    }

    /// The credentials for `host`: `KREL_REGISTRY_*`, else Docker's configuration, else none.
    fn auth(&self, host: &str) -> Result<RegistryAuth, ImageError> {
        if let (Some(user), Some(password)) = (&self.username, &self.password) {
            return Ok(RegistryAuth::Basic(
                user.clone(),
                password.expose().to_string(),
            ));
        }
        if !self.docker_config {
            return Ok(RegistryAuth::Anonymous);
        }
        match docker_credential::get_credential(host) {
            Ok(docker_credential::DockerCredential::UsernamePassword(user, password)) => {
                Ok(RegistryAuth::Basic(user, password))
            }
            Ok(docker_credential::DockerCredential::IdentityToken(_)) => Err(ImageError::Auth {
                host: host.to_string(),
                reason:
                    "Docker's configuration holds an identity token for it, which krel cannot use"
                        .into(),
            }),
            Err(_) => Ok(RegistryAuth::Anonymous),
        }
    }
}

/// One image location, opened.
#[derive(Clone)]
pub struct ImageStore {
    location: ImageLocation,
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    Remote(Arc<Remote>),
    Layout(Layouts),
}

struct Remote {
    client: Client,
    /// A client of its own for the one question [`Remote::auth`] asks (asking it through
    /// `client` would store anonymous credentials there for good).
    probe: Client,
    host: String,
    auth: RegistryAuth,
    /// The credentials requests carry, decided on first use (see [`Remote::auth`]).
    effective: tokio::sync::OnceCell<RegistryAuth>,
}

impl Remote {
    /// The credentials to use. Without configured credentials, the registry is asked once
    /// (`GET /v2/`) whether it wants any: a registry that issues anonymous tokens gets them
    /// (oci-client caches the token); one that needs no authentication at all gets a
    /// placeholder bearer token, which it ignores, because oci-client would otherwise repeat
    /// that question before every request, doubling the requests of a copy.
    async fn auth(&self, reference: &Reference) -> &RegistryAuth {
        self.effective
            .get_or_init(|| async {
                if !matches!(self.auth, RegistryAuth::Anonymous) {
                    return self.auth.clone();
                }
                match self
                    .probe
                    .auth(reference, &RegistryAuth::Anonymous, RegistryOperation::Pull)
                    .await
                {
                    Ok(None) => RegistryAuth::Bearer("unauthenticated".into()),
                    _ => RegistryAuth::Anonymous,
                }
            })
            .await
    }
}

impl ImageStore {
    /// Opens a location. Plain HTTP is used only for a registry on loopback.
    pub fn open(location: &ImageLocation, env: &RegistryEnv) -> Result<ImageStore, ImageError> {
        let kind = match location {
            ImageLocation::Registry { host, .. } => {
                let protocol = if location.is_loopback() {
                    ClientProtocol::HttpsExcept(vec![host.clone()])
                } else {
                    ClientProtocol::Https
                };
                let config = || ClientConfig {
                    protocol: protocol.clone(),
                    use_monolithic_push: true,
                    connect_timeout: Some(std::time::Duration::from_secs(30)),
                    read_timeout: Some(std::time::Duration::from_secs(300)),
                    ..ClientConfig::default()
                };
                Kind::Remote(Arc::new(Remote {
                    client: Client::new(config()),
                    probe: Client::new(config()),
                    host: host.clone(),
                    auth: env.auth(host)?,
                    effective: tokio::sync::OnceCell::new(),
                }))
            }
            ImageLocation::Layout { root, .. } => Kind::Layout(Layouts::new(root)),
        };
        Ok(ImageStore {
            location: location.clone(),
            kind,
        })
    }

    /// The location.
    pub fn location(&self) -> &ImageLocation {
        &self.location
    }

    /// True when `other` is the same registry (or directory), so blobs can be mounted.
    pub fn same_backend(&self, other: &ImageStore) -> bool {
        match (&self.location, &other.location) {
            (ImageLocation::Registry { host: a, .. }, ImageLocation::Registry { host: b, .. }) => {
                a == b
            }
            (ImageLocation::Layout { root: a, .. }, ImageLocation::Layout { root: b, .. }) => {
                a == b
            }
            _ => false,
        }
    }

    fn reference(&self, repo: &str, reference: &str) -> Reference {
        let host = match &self.kind {
            Kind::Remote(remote) => remote.host.clone(),
            Kind::Layout(_) => String::new(),
        };
        match reference.parse::<Digest>() {
            Ok(digest) => Reference::with_digest(host, repo.to_string(), digest.to_string()),
            Err(_) => Reference::with_tag(host, repo.to_string(), reference.to_string()),
        }
    }

    fn failed(&self, what: String) -> impl FnOnce(OciDistributionError) -> ImageError + '_ {
        move |err| ImageError::Registry {
            location: self.location.to_string(),
            what,
            reason: describe(&err),
            refused: is_auth(&err),
        }
    }

    /// Authenticates for pushing to `repo` (the pull and push calls need a stored auth).
    async fn login(&self, remote: &Remote, repo: &str) {
        let reference = self.reference(repo, "latest");
        let auth = remote.auth(&reference).await;
        remote
            .client
            .store_auth_if_needed(reference.resolve_registry(), auth)
            .await;
    }

    /// True when `repo` holds the blob.
    pub async fn has_blob(&self, repo: &str, digest: &Digest) -> Result<bool, ImageError> {
        match &self.kind {
            Kind::Layout(layouts) => Ok(layouts.has_blob(repo, digest)),
            Kind::Remote(remote) => {
                self.login(remote, repo).await;
                let reference = self.reference(repo, &digest.to_string());
                let digest_text = digest.to_string();
                retry(META_TIMEOUT, || {
                    remote.client.blob_exists(&reference, &digest_text)
                })
                .await
                .map_err(self.failed(format!("checking blob {digest} in {repo}")))
            }
        }
    }

    /// The file of a blob of a layout (`None` for a registry).
    pub(crate) fn local_blob(&self, repo: &str, digest: &Digest) -> Option<std::path::PathBuf> {
        match &self.kind {
            Kind::Layout(layouts) => Some(layouts.blob_path(repo, digest)),
            Kind::Remote(_) => None,
        }
    }

    /// True for a registry (which checks every blob it is sent against its digest).
    pub(crate) fn is_registry(&self) -> bool {
        matches!(self.kind, Kind::Remote(_))
    }

    /// Uploads a local file as a blob of a registry, streaming it (1 MiB at a time, never
    /// whole in memory); the registry refuses content without the digest it is sent under.
    pub(crate) async fn upload_file(
        &self,
        repo: &str,
        digest: &Digest,
        path: &std::path::Path,
    ) -> Result<u64, ImageError> {
        let Kind::Remote(remote) = &self.kind else {
            let bytes = std::fs::read(path).map_err(ImageError::io("reading", path))?;
            let size = bytes.len() as u64;
            self.write_blob(repo, digest, bytes).await?;
            return Ok(size);
        };
        let size = std::fs::metadata(path)
            .map_err(ImageError::io("reading", path))?
            .len();
        self.login(remote, repo).await;
        let reference = self.reference(repo, &digest.to_string());
        let digest_text = digest.to_string();
        retry(BLOB_TIMEOUT, || async {
            let file = tokio::fs::File::open(path).await?;
            remote
                .client
                .push_blob_stream(&reference, file_chunks(file), &digest_text, Some(size))
                .await
        })
        .await
        .map_err(self.failed(format!("uploading blob {digest} to {repo}")))?;
        Ok(size)
    }

    /// Reads a blob, checking its digest.
    pub async fn read_blob(&self, repo: &str, digest: &Digest) -> Result<Vec<u8>, ImageError> {
        match &self.kind {
            Kind::Layout(layouts) => layouts.read_blob(repo, digest),
            Kind::Remote(remote) => {
                self.login(remote, repo).await;
                let reference = self.reference(repo, &digest.to_string());
                let digest_text = digest.to_string();
                let bytes = retry(BLOB_TIMEOUT, || async {
                    let mut bytes = Vec::new();
                    remote
                        .client
                        .pull_blob(&reference, digest_text.as_str(), &mut bytes)
                        .await
                        .map(|()| bytes)
                })
                .await
                .map_err(self.failed(format!("reading blob {digest} of {repo}")))?;
                if Digest::of(&bytes) != *digest {
                    return Err(ImageError::Corrupt {
                        what: format!("blob {digest} of {repo} in {}", self.location),
                        reason: "the registry sent content with another digest".into(),
                    });
                }
                Ok(bytes)
            }
        }
    }

    /// Writes a blob.
    pub async fn write_blob(
        &self,
        repo: &str,
        digest: &Digest,
        bytes: Vec<u8>,
    ) -> Result<(), ImageError> {
        match &self.kind {
            Kind::Layout(layouts) => layouts.write_blob(repo, digest, &bytes),
            Kind::Remote(remote) => {
                self.login(remote, repo).await;
                let reference = self.reference(repo, &digest.to_string());
                let digest_text = digest.to_string();
                let bytes = bytes::Bytes::from(bytes);
                retry(BLOB_TIMEOUT, || {
                    remote
                        .client
                        .push_blob(&reference, bytes.clone(), &digest_text)
                })
                .await
                .map(|_| ())
                .map_err(self.failed(format!("uploading blob {digest} to {repo}")))
            }
        }
    }

    /// Mounts a blob from another repository of the same backend; false when the backend
    /// would not (the caller then uploads it).
    pub async fn mount_blob(
        &self,
        repo: &str,
        from: &str,
        digest: &Digest,
    ) -> Result<bool, ImageError> {
        match &self.kind {
            Kind::Layout(layouts) => layouts.mount_blob(repo, from, digest),
            Kind::Remote(remote) => {
                self.login(remote, repo).await;
                let target = self.reference(repo, &digest.to_string());
                let source = self.reference(from, &digest.to_string());
                let digest_text = digest.to_string();
                match retry(META_TIMEOUT, || {
                    remote.client.mount_blob(&target, &source, &digest_text)
                })
                .await
                {
                    Ok(()) => Ok(true),
                    // A registry that does not mount answers 202 with an upload session.
                    Err(_) => self.has_blob(repo, digest).await,
                }
            }
        }
    }

    /// The manifest `reference` (a tag or a digest) names in `repo`, or `None`.
    pub async fn manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<Manifest>, ImageError> {
        match &self.kind {
            Kind::Layout(layouts) => layouts.manifest(repo, reference),
            Kind::Remote(remote) => {
                let target = self.reference(repo, reference);
                let auth = remote.auth(&target).await;
                let pulled = retry(META_TIMEOUT, || async {
                    match remote
                        .client
                        .pull_manifest_raw(&target, auth, &media::ACCEPTED)
                        .await
                    {
                        Ok((bytes, _)) => Ok(Some(bytes)),
                        Err(err) if is_not_found(&err) => Ok(None),
                        Err(err) => Err(err),
                    }
                })
                .await
                .map_err(self.failed(format!("reading {repo}:{reference}")))?;
                let Some(bytes) = pulled else {
                    return Ok(None);
                };
                let manifest = Manifest::parse(bytes.to_vec(), None)?;
                if let Ok(digest) = reference.parse::<Digest>() {
                    if manifest.digest != digest {
                        return Err(ImageError::Corrupt {
                            what: format!("{repo}@{digest} in {}", self.location),
                            reason: format!(
                                "the registry sent a manifest with digest {}",
                                manifest.digest
                            ),
                        });
                    }
                }
                Ok(Some(manifest))
            }
        }
    }

    /// Stores a manifest by digest, and under `tag` when given. Moving a tag is the caller's
    /// decision: see [`crate::tag`], which refuses it.
    pub async fn put_manifest(
        &self,
        repo: &str,
        manifest: &Manifest,
        tag: Option<&str>,
    ) -> Result<(), ImageError> {
        match &self.kind {
            Kind::Layout(layouts) => layouts.put_manifest(repo, manifest, tag),
            Kind::Remote(remote) => {
                self.login(remote, repo).await;
                let reference = tag.map_or_else(|| manifest.digest.to_string(), str::to_owned);
                let target = self.reference(repo, &reference);
                let content_type: http::HeaderValue =
                    manifest
                        .media_type
                        .parse()
                        .map_err(|_| ImageError::Corrupt {
                            what: format!("{repo}@{}", manifest.digest),
                            reason: format!(
                                "media type `{}` is not a header value",
                                manifest.media_type
                            ),
                        })?;
                let body = bytes::Bytes::from(manifest.bytes.clone());
                retry(META_TIMEOUT, || {
                    remote
                        .client
                        .push_manifest_raw(&target, body.clone(), content_type.clone())
                })
                .await
                .map(|_| ())
                .map_err(self.failed(format!("writing the manifest {repo}:{reference}")))
            }
        }
    }

    /// The tags of `repo` (empty when it does not exist).
    pub async fn tags(&self, repo: &str) -> Result<Vec<String>, ImageError> {
        match &self.kind {
            Kind::Layout(layouts) => Ok(layouts.tags(repo)?.into_iter().map(|(t, _)| t).collect()),
            Kind::Remote(remote) => {
                let target = self.reference(repo, "latest");
                let auth = remote.auth(&target).await;
                retry(META_TIMEOUT, || async {
                    match remote.client.list_tags(&target, auth, None, None).await {
                        Ok(list) => Ok(list.tags),
                        Err(err) if is_not_found(&err) => Ok(Vec::new()),
                        Err(err) => Err(err),
                    }
                })
                .await
                .map_err(self.failed(format!("listing the tags of {repo}")))
            }
        }
    }
}

/// A file as a stream of 1 MiB chunks.
fn file_chunks(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, OciDistributionError>> + Send + 'static {
    futures_util::stream::unfold(Some(file), |file| async move {
        use tokio::io::AsyncReadExt;
        let mut file = file?;
        let mut buffer = vec![0u8; 1 << 20];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(read) => {
                buffer.truncate(read);
                Some((Ok(bytes::Bytes::from(buffer)), Some(file)))
            }
            Err(err) => Some((Err(OciDistributionError::IoError(err)), None)),
        }
    })
}

/// How long one request about a manifest, a tag or a blob's presence may take.
const META_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// How long one blob transfer may take.
const BLOB_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);
/// Attempts in all for one request.
const ATTEMPTS: u32 = 6;

/// Runs `attempt` until it succeeds, fails for good, or has failed [`ATTEMPTS`] times:
/// connection failures, time-outs (`timeout` per attempt), 408, 429 and 5xx answers are
/// retried after 100 ms, doubled each time up to 5 s, with jitter. Every request krel makes
/// to a registry may be repeated: reads, uploads by digest, manifests by digest or tag.
async fn retry<T, F, Fut>(
    timeout: std::time::Duration,
    attempt: F,
) -> Result<T, OciDistributionError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, OciDistributionError>>,
{
    let mut delay = std::time::Duration::from_millis(100);
    let mut tries = 0;
    loop {
        tries += 1;
        let failure = match tokio::time::timeout(timeout, attempt()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(err)) if !is_transient(&err) => return Err(err),
            Ok(Err(err)) => err,
            Err(_) => OciDistributionError::GenericError(Some(format!(
                "no answer within {} s",
                timeout.as_secs()
            ))),
        };
        if tries >= ATTEMPTS {
            return Err(failure);
        }
        tracing::debug!(tries, error = %failure, "registry request failed; retrying");
        let jitter = std::time::Duration::from_millis(u64::from(std::process::id() % 50));
        tokio::time::sleep(delay + jitter).await;
        delay = (delay * 2).min(std::time::Duration::from_secs(5));
    }
}

/// A failure worth another attempt. A manifest refused because a blob it names is unknown is
/// one: krel sends a manifest only after its blobs, so the registry has not caught up yet (a
/// filesystem registry does not, for a moment, while another client mounts the same blob).
fn is_transient(err: &OciDistributionError) -> bool {
    match err {
        OciDistributionError::ServerError {
            code: 400, message, ..
        } => message.contains("BLOB_UNKNOWN"),
        OciDistributionError::RequestError(err) => err
            .status()
            .is_none_or(|s| s.is_server_error() || matches!(s.as_u16(), 408 | 429)),
        OciDistributionError::IoError(_) => true,
        _ => matches!(status_of(err), Some(408 | 429 | 500..=599)),
    }
}

fn status_of(err: &OciDistributionError) -> Option<u16> {
    match err {
        OciDistributionError::ServerError { code, .. } => Some(*code),
        OciDistributionError::RegistryError { .. } => None,
        OciDistributionError::RequestError(err) => err.status().map(|s| s.as_u16()),
        OciDistributionError::UnauthorizedError { .. } => Some(401),
        OciDistributionError::ImageManifestNotFoundError(_) => Some(404),
        _ => None,
    }
}

fn is_not_found(err: &OciDistributionError) -> bool {
    status_of(err) == Some(404) || has_code(err, &["ManifestUnknown", "NameUnknown", "BlobUnknown"])
}

fn is_auth(err: &OciDistributionError) -> bool {
    matches!(status_of(err), Some(401 | 403))
        || matches!(err, OciDistributionError::AuthenticationFailure(_))
        || has_code(err, &["Denied", "Unauthorized"])
}

/// True when the registry's error envelope carries one of the OCI error `codes`.
fn has_code(err: &OciDistributionError, codes: &[&str]) -> bool {
    match err {
        OciDistributionError::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .any(|e| codes.contains(&format!("{:?}", e.code).as_str())),
        _ => false,
    }
}

/// The error in one line, with the registry's own words when it sent some.
fn describe(err: &OciDistributionError) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
