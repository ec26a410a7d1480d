//! Moving images by digest: copy a manifest (and, for an index, every platform it lists)
//! with its blobs from one store and repository to another, sending only what is missing and
//! mounting blobs where both are on one registry; make an index; tag without ever moving a
//! tag.

use futures_util::{stream, StreamExt, TryStreamExt};
use oci_spec::image::{ImageIndexBuilder, Platform};

use crate::digest::Digest;
use crate::manifest::{media, Content, Manifest};
use crate::store::ImageStore;
use crate::ImageError;

/// What a copy did, for progress and for the benchmark's "a rerun sends nothing".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CopyStats {
    /// Blobs uploaded.
    pub blobs_sent: usize,
    /// Bytes uploaded.
    pub bytes_sent: u64,
    /// Blobs mounted from another repository (no bytes sent).
    pub blobs_mounted: usize,
    /// Blobs the destination already had.
    pub blobs_present: usize,
    /// Manifests written.
    pub manifests_written: usize,
}

impl CopyStats {
    /// The sum of two.
    pub fn plus(mut self, other: CopyStats) -> CopyStats {
        self.add(other);
        self
    }

    fn add(&mut self, other: CopyStats) {
        self.blobs_sent += other.blobs_sent;
        self.bytes_sent += other.bytes_sent;
        self.blobs_mounted += other.blobs_mounted;
        self.blobs_present += other.blobs_present;
        self.manifests_written += other.manifests_written;
    }
}

/// One side of a copy: a store and a repository in it.
#[derive(Clone, Copy)]
pub struct Side<'a> {
    /// The store.
    pub store: &'a ImageStore,
    /// The repository.
    pub repo: &'a str,
}

/// Copies one blob unless the destination has it: mounted when both sides share a backend,
/// else read and uploaded.
async fn copy_blob(from: Side<'_>, to: Side<'_>, digest: &Digest) -> Result<CopyStats, ImageError> {
    if to.store.has_blob(to.repo, digest).await? {
        return Ok(CopyStats {
            blobs_present: 1,
            ..CopyStats::default()
        });
    }
    if to.store.same_backend(from.store) && to.store.mount_blob(to.repo, from.repo, digest).await? {
        return Ok(CopyStats {
            blobs_mounted: 1,
            ..CopyStats::default()
        });
    }
    let bytes = from.store.read_blob(from.repo, digest).await?;
    let size = bytes.len() as u64;
    to.store.write_blob(to.repo, digest, bytes).await?;
    Ok(CopyStats {
        blobs_sent: 1,
        bytes_sent: size,
        ..CopyStats::default()
    })
}

/// Copies the manifest `digest` names, with everything it refers to, `jobs` blobs at a time.
/// A manifest the destination already holds is not written again (its blobs are checked).
pub async fn copy_manifest(
    from: Side<'_>,
    to: Side<'_>,
    digest: &Digest,
    jobs: usize,
) -> Result<CopyStats, ImageError> {
    // A registry accepts a manifest only once everything it names is there: done.
    if to
        .store
        .manifest(to.repo, &digest.to_string())
        .await?
        .is_some()
    {
        return Ok(CopyStats::default());
    }
    let manifest = read_manifest(from, digest).await?;
    let mut stats = CopyStats::default();
    for (child, _) in manifest.children() {
        stats.add(Box::pin(copy_manifest(from, to, &child, jobs)).await?);
    }
    let blobs = manifest.blobs();
    let copied: Vec<CopyStats> =
        stream::iter(blobs.iter().map(|(blob, _)| copy_blob(from, to, blob)))
            .buffer_unordered(jobs.max(1))
            .try_collect()
            .await?;
    copied.into_iter().for_each(|s| stats.add(s));
    if to
        .store
        .manifest(to.repo, &digest.to_string())
        .await?
        .is_none()
    {
        to.store.put_manifest(to.repo, &manifest, None).await?;
        stats.manifests_written += 1;
    }
    Ok(stats)
}

/// The manifest `digest` names in `side`, or an error saying it is missing.
pub async fn read_manifest(side: Side<'_>, digest: &Digest) -> Result<Manifest, ImageError> {
    side.store
        .manifest(side.repo, &digest.to_string())
        .await?
        .ok_or_else(|| ImageError::Missing {
            what: format!(
                "{}@{digest}",
                side.store.location().repository_display(side.repo)
            ),
        })
}

/// An OCI index over the given platform manifests, in the order given.
pub fn make_index(platforms: &[(Manifest, Platform)]) -> Result<Manifest, ImageError> {
    let manifests = platforms
        .iter()
        .map(|(manifest, platform)| manifest.descriptor(Some(platform.clone())))
        .collect::<Result<Vec<_>, _>>()?;
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(media::OCI_INDEX)
        .manifests(manifests)
        .build()
        .map_err(|err| ImageError::Corrupt {
            what: "a new index".into(),
            reason: err.to_string(),
        })?;
    Manifest::from_index(&index)
}

/// What [`tag`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tagged {
    /// The tag was made.
    Created,
    /// The tag already named this digest.
    Present,
}

/// Points `tag` of `side` at the manifest `digest` (which must be there). A tag that names
/// another digest is refused, never moved.
pub async fn tag(side: Side<'_>, tag: &str, digest: &Digest) -> Result<Tagged, ImageError> {
    if let Some(current) = side.store.manifest(side.repo, tag).await? {
        if current.digest == *digest {
            return Ok(Tagged::Present);
        }
        return Err(ImageError::TagMoved {
            reference: format!(
                "{}:{tag}",
                side.store.location().repository_display(side.repo)
            ),
            current: current.digest,
            wanted: digest.clone(),
        });
    }
    let manifest = read_manifest(side, digest).await?;
    side.store
        .put_manifest(side.repo, &manifest, Some(tag))
        .await?;
    Ok(Tagged::Created)
}

/// The platforms of an image: for an index its children, for an image itself.
pub fn platform_digests(manifest: &Manifest) -> Vec<(Digest, Option<Platform>)> {
    match &manifest.content {
        Content::Index(_) => manifest.children(),
        Content::Image(_) => vec![(manifest.digest.clone(), None)],
    }
}
