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

/// Copies one blob unless the destination has it: mounted when both sides share a backend
/// (one request, which also succeeds when the blob is there), else read and uploaded.
async fn copy_blob(from: Side<'_>, to: Side<'_>, digest: &Digest) -> Result<CopyStats, ImageError> {
    if to.store.same_backend(from.store) && to.store.mount_blob(to.repo, from.repo, digest).await? {
        return Ok(CopyStats {
            blobs_mounted: 1,
            ..CopyStats::default()
        });
    }
    if to.store.has_blob(to.repo, digest).await? {
        return Ok(CopyStats {
            blobs_present: 1,
            ..CopyStats::default()
        });
    }
    let size = match from.store.local_blob(from.repo, digest) {
        Some(path) if to.store.is_registry() => {
            to.store.upload_file(to.repo, digest, &path).await?
        }
        _ => {
            let bytes = from.store.read_blob(from.repo, digest).await?;
            let size = bytes.len() as u64;
            to.store.write_blob(to.repo, digest, bytes).await?;
            size
        }
    };
    Ok(CopyStats {
        blobs_sent: 1,
        bytes_sent: size,
        ..CopyStats::default()
    })
}

/// Copies the manifest `digest` names, with everything it refers to, `jobs` blobs at a time.
/// See [`copy_manifests`].
pub async fn copy_manifest(
    from: Side<'_>,
    to: Side<'_>,
    digest: &Digest,
    jobs: usize,
) -> Result<CopyStats, ImageError> {
    copy_manifests(&[(from, to, digest.clone())], jobs).await
}

/// Copies several manifests (each from one side to another), with everything they refer to:
/// first every manifest is read (an index with its platforms), then every missing blob of
/// every one of them is sent, `jobs` at a time, then the manifests are written, platforms
/// before the indexes that list them. A manifest the destination already holds is skipped
/// whole: a registry accepts a manifest only once everything it names is there.
pub async fn copy_manifests(
    copies: &[(Side<'_>, Side<'_>, Digest)],
    jobs: usize,
) -> Result<CopyStats, ImageError> {
    // Each copy's manifests to write (children first) and the blobs they need, read at once.
    let collected: Vec<Collected<'_>> =
        stream::iter(copies.iter().map(|(from, to, digest)| async move {
            let mut found = Collected::default();
            collect(*from, *to, digest, &mut found.manifests, &mut found.blobs).await?;
            Ok::<_, ImageError>(found)
        }))
        .buffered(jobs.max(1))
        .try_collect()
        .await?;
    let mut manifests: Vec<(Side<'_>, Manifest)> = Vec::new();
    let mut blobs: Vec<(Side<'_>, Side<'_>, Digest)> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for found in collected {
        for (side, manifest) in found.manifests {
            if seen.insert((
                side.store.location().repository_display(side.repo),
                manifest.digest.clone(),
            )) {
                manifests.push((side, manifest));
            }
        }
        blobs.extend(found.blobs);
    }
    let mut seen = std::collections::BTreeSet::new();
    blobs.retain(|(_, to, digest)| {
        seen.insert((
            to.store.location().repository_display(to.repo),
            digest.clone(),
        ))
    });
    let mut stats = CopyStats::default();
    let copied: Vec<CopyStats> = stream::iter(
        blobs
            .iter()
            .map(|(from, to, blob)| copy_blob(*from, *to, blob)),
    )
    .buffer_unordered(jobs.max(1))
    .try_collect()
    .await?;
    copied.into_iter().for_each(|s| stats.add(s));
    // Platform images first, all at once; then the indexes that list them.
    let (indexes, images): (Vec<_>, Vec<_>) = manifests
        .iter()
        .partition(|(_, manifest)| matches!(manifest.content, Content::Index(_)));
    for group in [images, indexes] {
        stream::iter(
            group
                .into_iter()
                .map(|(to, manifest)| to.store.put_manifest(to.repo, manifest, None)),
        )
        .buffer_unordered(jobs.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    }
    stats.manifests_written += manifests.len();
    Ok(stats)
}

/// What [`collect`] found for one copy.
#[derive(Default)]
struct Collected<'a> {
    manifests: Vec<(Side<'a>, Manifest)>,
    blobs: Vec<(Side<'a>, Side<'a>, Digest)>,
}

/// Reads the manifest `digest` and (for an index) its platforms, unless the destination has
/// it; adds what to write to `manifests` (children first) and the blobs to `blobs`.
async fn collect<'a>(
    from: Side<'a>,
    to: Side<'a>,
    digest: &Digest,
    manifests: &mut Vec<(Side<'a>, Manifest)>,
    blobs: &mut Vec<(Side<'a>, Side<'a>, Digest)>,
) -> Result<(), ImageError> {
    if to
        .store
        .manifest(to.repo, &digest.to_string())
        .await?
        .is_some()
        || manifests
            .iter()
            .any(|(side, m)| m.digest == *digest && side.repo == to.repo)
    {
        return Ok(());
    }
    let manifest = read_manifest(from, digest).await?;
    // The platforms of an index, looked up at once (each is an image: no deeper level).
    let children = manifest.children();
    let found: Vec<Option<Manifest>> = stream::iter(children.iter().map(|(child, _)| async move {
        if to
            .store
            .manifest(to.repo, &child.to_string())
            .await?
            .is_some()
        {
            return Ok(None);
        }
        read_manifest(from, child).await.map(Some)
    }))
    .buffered(8)
    .try_collect()
    .await?;
    for child in found.into_iter().flatten() {
        if matches!(child.content, Content::Index(_)) {
            Box::pin(collect(from, to, &child.digest, manifests, blobs)).await?;
            continue;
        }
        blobs.extend(child.blobs().into_iter().map(|(blob, _)| (from, to, blob)));
        manifests.push((to, child));
    }
    blobs.extend(
        manifest
            .blobs()
            .into_iter()
            .map(|(blob, _)| (from, to, blob)),
    );
    manifests.push((to, manifest));
    Ok(())
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
