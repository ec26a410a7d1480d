//! [`ImageTransfer`]: the one image action of a plan. It copies images by digest (each with its
//! platform manifests and its signatures) from one location to another, then sets tags, which
//! are never moved. Running it again does nothing; a run killed halfway is finished by the
//! next, because every manifest lands by digest before any tag names it.

use std::fmt;

use crate::copy::{copy_manifests, tag, CopyStats, Side};
use crate::digest::Digest;
use crate::location::ImageLocation;
use crate::store::{ImageStore, RegistryEnv};
use crate::ImageError;

/// Images to copy and tags to set.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ImageTransfer {
    /// Where the images are.
    pub from: ImageLocation,
    /// Where they go (the same as `from` for tags alone).
    pub to: ImageLocation,
    /// The images to copy by digest.
    pub images: Vec<ImageRef>,
    /// The tags to set once every image is there.
    pub tags: Vec<ImageTag>,
}

/// One image to copy: a manifest (an index: with every platform it lists) and the signatures
/// of the manifests in `signed` (their `sha256-<hex>.sig` tags).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ImageRef {
    /// The image name (the repository under the location's prefix).
    pub name: String,
    /// The manifest.
    pub digest: Digest,
    /// Manifests whose signatures are copied with it.
    pub signed: Vec<Digest>,
}

/// A tag to set.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ImageTag {
    /// The image name.
    pub name: String,
    /// The tag.
    pub tag: String,
    /// The manifest it names.
    pub digest: Digest,
}

impl fmt::Display for ImageTransfer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.images.is_empty() {
            let signatures: usize = self.images.iter().map(|i| i.signed.len()).sum();
            let from = if self.from == self.to {
                String::new()
            } else {
                format!(" from {}", self.from)
            };
            parts.push(format!(
                "copy {} image(s) by digest with {signatures} signature(s){from} to {}",
                self.images.len(),
                self.to
            ));
        }
        if !self.tags.is_empty() {
            let mut tags: Vec<&str> = self.tags.iter().map(|t| t.tag.as_str()).collect();
            tags.dedup();
            let place = if self.images.is_empty() {
                format!(" in {}", self.to)
            } else {
                String::new()
            };
            parts.push(format!(
                "tag {} image(s) {}{place}",
                self.tags.len(),
                tags.join(", ")
            ));
        }
        if parts.is_empty() {
            parts.push(format!("nothing to do in {}", self.to));
        }
        f.write_str(&parts.join(", then "))
    }
}

/// Carries out a transfer; returns what was sent.
pub async fn run_transfer(
    transfer: &ImageTransfer,
    env: &RegistryEnv,
    jobs: usize,
) -> Result<CopyStats, ImageError> {
    let from = ImageStore::open(&transfer.from, env)?;
    let to = ImageStore::open(&transfer.to, env)?;
    let repos: Vec<(String, String)> = transfer
        .images
        .iter()
        .map(|image| {
            (
                transfer.from.repository(&image.name),
                transfer.to.repository(&image.name),
            )
        })
        .collect();
    // The signature manifests to copy with the images, found first.
    let mut copies = Vec::new();
    let mut signature_tags = Vec::new();
    for (image, (from_repo, to_repo)) in transfer.images.iter().zip(&repos) {
        let source = Side {
            store: &from,
            repo: from_repo,
        };
        let target = Side {
            store: &to,
            repo: to_repo,
        };
        copies.push((source, target, image.digest.clone()));
        for signed in &image.signed {
            let signature_tag = signed.signature_tag();
            let signature = from
                .manifest(from_repo, &signature_tag)
                .await?
                .ok_or_else(|| ImageError::Missing {
                    what: format!(
                        "the signature of {}@{signed} ({signature_tag})",
                        transfer.from.repository_display(from_repo)
                    ),
                })?;
            copies.push((source, target, signature.digest.clone()));
            signature_tags.push((target, signature_tag, signature.digest));
        }
    }
    let stats = copy_manifests(&copies, jobs).await?;
    // Signatures accumulate, as cosign's do: one signature tag per image digest, merged.
    let merges = signature_tags
        .iter()
        .map(|(target, signature_tag, digest)| async move {
            crate::cosign::merge_signatures(*target, signature_tag, digest)
                .await
                .map(|_| ())
        });
    run_all(merges, jobs).await?;
    let repos: Vec<String> = transfer
        .tags
        .iter()
        .map(|t| transfer.to.repository(&t.name))
        .collect();
    let tags =
        transfer.tags.iter().zip(&repos).map(|(image_tag, repo)| {
            tag(Side { store: &to, repo }, &image_tag.tag, &image_tag.digest)
        });
    run_all(tags, jobs).await?;
    Ok(stats)
}

/// Runs `tasks` `jobs` at a time; the first error wins.
async fn run_all<T>(
    tasks: impl Iterator<Item = impl std::future::Future<Output = Result<T, ImageError>>>,
    jobs: usize,
) -> Result<(), ImageError> {
    use futures_util::{StreamExt, TryStreamExt};
    futures_util::stream::iter(tasks)
        .buffer_unordered(jobs.max(1))
        .try_collect::<Vec<T>>()
        .await
        .map(|_| ())
}

/// Carries out image transfers (the plan executor's door to registries).
pub trait ImageWriter {
    /// Carries out one transfer.
    fn transfer(&self, transfer: &ImageTransfer) -> Result<CopyStats, ImageError>;
}

/// Runs transfers on a runtime, for the plan executor.
pub struct BlockingImageWriter<'a> {
    /// The runtime.
    pub runtime: &'a tokio::runtime::Runtime,
    /// Registry credentials.
    pub env: &'a RegistryEnv,
    /// Blobs at once.
    pub jobs: usize,
}

impl ImageWriter for BlockingImageWriter<'_> {
    fn transfer(&self, transfer: &ImageTransfer) -> Result<CopyStats, ImageError> {
        self.runtime
            .block_on(run_transfer(transfer, self.env, self.jobs))
    }
}
