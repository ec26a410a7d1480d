//! Manifests as stored: the exact bytes (their digest is the image's identity), the media
//! type, and the parsed content (an image manifest or an index, by `oci-spec`).

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, Platform};

use crate::digest::Digest;
use crate::ImageError;

/// Media types krel writes or reads.
pub mod media {
    /// OCI image manifest.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// OCI image index.
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// OCI image configuration.
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// Docker image manifest (schema 2), read from registries and archives.
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// Docker manifest list, read from registries.
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    /// cosign's simple-signing payload layer.
    pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
    /// Every manifest type krel accepts from a registry.
    pub const ACCEPTED: [&str; 4] = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];
}

/// A manifest: its bytes, media type, digest and content.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// The bytes as stored.
    pub bytes: Vec<u8>,
    /// The media type.
    pub media_type: String,
    /// The digest of the bytes.
    pub digest: Digest,
    /// What it is.
    pub content: Content,
}

/// An image (one platform) or an index (several).
#[derive(Clone, Debug)]
pub enum Content {
    /// One platform's image.
    Image(Box<ImageManifest>),
    /// A list of platform images.
    Index(Box<ImageIndex>),
}

impl Manifest {
    /// Parses stored bytes; `media_type` is the one the store gave, else the document's own.
    pub fn parse(bytes: Vec<u8>, media_type: Option<&str>) -> Result<Manifest, ImageError> {
        let corrupt = |reason: String| ImageError::Corrupt {
            what: "a manifest".into(),
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|err| corrupt(format!("not JSON: {err}")))?;
        let media_type = media_type
            .map(str::to_owned)
            .or_else(|| value["mediaType"].as_str().map(str::to_owned))
            .unwrap_or_else(|| {
                if value.get("manifests").is_some() {
                    media::OCI_INDEX.into()
                } else {
                    media::OCI_MANIFEST.into()
                }
            });
        let content = if media_type == media::OCI_INDEX || media_type == media::DOCKER_LIST {
            Content::Index(Box::new(
                serde_json::from_value(value)
                    .map_err(|err| corrupt(format!("not an image index: {err}")))?,
            ))
        } else if media_type == media::OCI_MANIFEST || media_type == media::DOCKER_MANIFEST {
            Content::Image(Box::new(
                serde_json::from_value(value)
                    .map_err(|err| corrupt(format!("not an image manifest: {err}")))?,
            ))
        } else {
            return Err(corrupt(format!(
                "media type `{media_type}` is not an image manifest or index"
            )));
        };
        Ok(Manifest {
            digest: Digest::of(&bytes),
            bytes,
            media_type,
            content,
        })
    }

    /// Serializes an image manifest (OCI media type).
    pub fn from_image(image: &ImageManifest) -> Result<Manifest, ImageError> {
        let bytes = serde_json::to_vec(image).map_err(|err| ImageError::Corrupt {
            what: "a new manifest".into(),
            reason: err.to_string(),
        })?;
        Manifest::parse(bytes, Some(media::OCI_MANIFEST))
    }

    /// An OCI image manifest over a configuration blob (`config`, its digest) and `layers`.
    pub fn image(
        config: &[u8],
        config_digest: &Digest,
        layers: Vec<Descriptor>,
    ) -> Result<Manifest, ImageError> {
        let image = oci_spec::image::ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(media::OCI_MANIFEST)
            .config(Descriptor::new(
                media::OCI_CONFIG.into(),
                config.len() as u64,
                config_digest.to_oci()?,
            ))
            .layers(layers)
            .build()
            .map_err(|err| ImageError::Corrupt {
                what: "a new manifest".into(),
                reason: err.to_string(),
            })?;
        Manifest::from_image(&image)
    }

    /// Serializes an index (OCI media type).
    pub fn from_index(index: &ImageIndex) -> Result<Manifest, ImageError> {
        let bytes = serde_json::to_vec(index).map_err(|err| ImageError::Corrupt {
            what: "a new index".into(),
            reason: err.to_string(),
        })?;
        Manifest::parse(bytes, Some(media::OCI_INDEX))
    }

    /// The blobs an image manifest names (config first); none for an index.
    pub fn blobs(&self) -> Vec<(Digest, u64)> {
        match &self.content {
            Content::Image(image) => std::iter::once(image.config())
                .chain(image.layers())
                .filter_map(descriptor_digest)
                .collect(),
            Content::Index(_) => Vec::new(),
        }
    }

    /// The manifests an index lists, with their platforms; none for an image.
    pub fn children(&self) -> Vec<(Digest, Option<Platform>)> {
        match &self.content {
            Content::Index(index) => index
                .manifests()
                .iter()
                .filter_map(|d| {
                    descriptor_digest(d).map(|(digest, _)| (digest, d.platform().clone()))
                })
                .collect(),
            Content::Image(_) => Vec::new(),
        }
    }

    /// The platforms an index lists (`os/arch[/variant]` → manifest).
    pub fn platforms(&self) -> std::collections::BTreeMap<String, Digest> {
        self.children()
            .into_iter()
            .map(|(digest, platform)| {
                (
                    platform.as_ref().map(platform_name).unwrap_or_default(),
                    digest,
                )
            })
            .collect()
    }

    /// A descriptor of this manifest, for an index.
    pub fn descriptor(&self, platform: Option<Platform>) -> Result<Descriptor, ImageError> {
        let mut descriptor = Descriptor::new(
            self.media_type.as_str().into(),
            self.bytes.len() as u64,
            self.digest.to_oci()?,
        );
        descriptor.set_platform(platform);
        Ok(descriptor)
    }
}

/// A descriptor's digest when it is a SHA-256 one, with the size.
pub fn descriptor_digest(descriptor: &Descriptor) -> Option<(Digest, u64)> {
    let digest = descriptor.digest().to_string().parse::<Digest>().ok()?;
    Some((digest, descriptor.size()))
}

/// Reads `os/arch[/variant]`.
pub fn parse_platform(name: &str) -> Result<Platform, ImageError> {
    let bad = |reason: String| ImageError::Corrupt {
        what: format!("platform `{name}`"),
        reason,
    };
    let mut parts = name.split('/');
    let (Some(os), Some(arch)) = (parts.next(), parts.next()) else {
        return Err(bad("not os/arch".into()));
    };
    let mut builder = oci_spec::image::PlatformBuilder::default()
        .os(os)
        .architecture(arch);
    if let Some(variant) = parts.next() {
        builder = builder.variant(variant);
    }
    builder.build().map_err(|err| bad(err.to_string()))
}

/// `os/arch[/variant]`.
pub fn platform_name(platform: &Platform) -> String {
    let mut name = format!("{}/{}", platform.os(), platform.architecture());
    if let Some(variant) = platform.variant() {
        name.push('/');
        name.push_str(variant);
    }
    name
}
