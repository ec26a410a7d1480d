//! Container images for releases: read what a build made, push it by digest, make the
//! multi-platform index, sign it cosign-compatibly, copy it to another registry by digest, tag
//! it (never moving a tag), and verify all of that.
//!
//! - [`ImageLocation`]: `docker://HOST[:PORT]/PREFIX` (a registry, through the `oci-client`
//!   crate: token and basic auth, `KREL_REGISTRY_*` or Docker's configuration; plain HTTP only
//!   on loopback) or `oci:PATH` (a directory of OCI layouts, one per repository; the embedded
//!   default, as `file://` is for buckets).
//! - [`ImageStore`]: one location opened: blobs, manifests, tags.
//! - [`archive`]: `docker save` archives and OCI layouts into a workspace layout.
//! - [`copy`]: copy by digest (mounting blobs on one registry), indexes, tags.
//! - [`cosign`]: signatures under `sha256-<hex>.sig`, as cosign writes and skopeo verifies.
//!
//! Manifests and documents are `oci-spec` types; the bytes krel writes are kept as written, so
//! a digest is computed once and never re-serialized.

pub mod archive;
pub mod copy;
pub mod cosign;
mod digest;
mod layout;
mod location;
mod manifest;
mod store;
mod transfer;

use std::path::{Path, PathBuf};

use krel_error::{Diagnose, ErrorKind};

pub use digest::{sha256_hex, Digest};
pub use layout::{Layouts, REF_NAME};
pub use location::{host_is_loopback, is_repository_component, is_tag, ImageLocation};
pub use manifest::{descriptor_digest, media, parse_platform, platform_name, Content, Manifest};
pub use oci_spec::image::Platform;
pub use store::{ImageStore, RegistryEnv};
pub use transfer::{
    run_transfer, BlockingImageWriter, ImageRef, ImageTag, ImageTransfer, ImageWriter,
};

/// Why an image operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Not an image location.
    #[error("`{input}` is not an image location: {reason}")]
    Location {
        /// What was given.
        input: String,
        /// Why not.
        reason: String,
    },
    /// A registry refused or failed.
    #[error("{location}: {what}: {reason}")]
    Registry {
        /// The location.
        location: String,
        /// What krel was doing.
        what: String,
        /// The registry's answer.
        reason: String,
        /// True when the registry refused the credentials.
        refused: bool,
    },
    /// No usable credentials.
    #[error("credentials for {host}: {reason}")]
    Auth {
        /// The registry.
        host: String,
        /// Why not.
        reason: String,
    },
    /// A build's image file that is not an image krel can read.
    #[error("{}: {reason}", path.display())]
    BadImage {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Stored content that is not what it should be.
    #[error("{what}: {reason}")]
    Corrupt {
        /// What.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// A manifest that should be there is not.
    #[error("{what} is not there")]
    Missing {
        /// What.
        what: String,
    },
    /// A tag names another manifest.
    #[error("{reference} already names {current}, not {wanted}; a tag is never moved")]
    TagMoved {
        /// `repo:tag`.
        reference: String,
        /// What it names.
        current: Digest,
        /// What it was to name.
        wanted: Digest,
    },
    /// The signer failed.
    #[error("signing: {0}")]
    Signing(String),
    /// A local file operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What krel was doing.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl ImageError {
    pub(crate) fn io(
        action: &'static str,
        path: &Path,
    ) -> impl FnOnce(std::io::Error) -> ImageError {
        let path = path.to_path_buf();
        move |source| ImageError::Io {
            action,
            path,
            source,
        }
    }
}

impl Diagnose for ImageError {
    fn kind(&self) -> ErrorKind {
        match self {
            ImageError::Location { .. } | ImageError::BadImage { .. } => ErrorKind::Usage,
            ImageError::TagMoved { .. }
            | ImageError::Missing { .. }
            | ImageError::Corrupt { .. } => ErrorKind::Refused,
            ImageError::Registry { refused: true, .. } | ImageError::Auth { .. } => {
                ErrorKind::Refused
            }
            ImageError::Registry { .. } | ImageError::Signing(_) | ImageError::Io { .. } => {
                ErrorKind::Unexpected
            }
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            ImageError::Location { .. } => Some("write docker://HOST[:PORT]/PREFIX or oci:PATH".into()),
            ImageError::Registry { refused: true, .. } | ImageError::Auth { .. } => Some(
                "set KREL_REGISTRY_USERNAME and KREL_REGISTRY_PASSWORD, or log in with `docker login`".into(),
            ),
            ImageError::TagMoved { .. } => {
                Some("release a new version: a published tag is never moved".into())
            }
            ImageError::BadImage { .. } => Some(
                "the build must leave one `docker save` archive (NAME.tar) or OCI layout (NAME/) per image and platform".into(),
            ),
            _ => None,
        }
    }
}
