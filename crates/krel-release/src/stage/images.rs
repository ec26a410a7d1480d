//! The container images of a stage.
//!
//! - After the build ([`collect_images`]): every image the build left (`build.images`: one
//!   `docker save` archive or OCI layout per image, per platform) is read into the workspace's
//!   OCI layout `images/<version>/` without Docker, and listed in `images/<version>.json`.
//!   Every image must exist for every image platform; what is missing is listed.
//! - Step `images <version>` ([`StageRun::images`]): per image, the index over its platforms
//!   (a merge reads the platform jobs' manifests from the staging registry), then cosign
//!   signatures of the index and every platform manifest, each naming both the staging
//!   repository and the release one (so promotion copies signatures and needs no key), all in
//!   the workspace layout; and an SBOM per image (`images/<name>.spdx.json`) among the
//!   version's artifacts, so it is checksummed, signed and in the provenance.
//! - The upload plan ([`image_actions`]) copies them by digest to the staging registry and
//!   tags each index with the staging tag, before the record is uploaded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use krel_attest::{spdx_document, FileEntry, SbomInput};
use krel_config::Platform;
use krel_image::archive::{image_name, image_sources, read_image};
use krel_image::copy::{make_index, Side};
use krel_image::{
    cosign, platform_name, Digest, ImageLocation, ImageRef, ImageStore, ImageTag, ImageTransfer,
    Layouts, Manifest,
};
use krel_plan::Action;
use krel_version::{BuildVersion, Version};

use super::{StageRun, StageScope};
use crate::files::{io, write_file};
use crate::records::StagedImage;
use crate::{ImageSetup, ReleaseError};

/// The list of a version's images among its files.
pub const IMAGE_LIST: &str = "images.json";

/// One platform's image as the build (or a platform job) made it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct PlatformImage {
    /// The image name.
    pub name: String,
    /// `os/arch[/variant]`.
    pub platform: String,
    /// Its manifest.
    pub digest: Digest,
}

/// What the journal keeps of step `images <version>`.
#[derive(serde::Serialize, serde::Deserialize)]
struct JournaledImages {
    /// The staging registry the signatures name.
    staging: String,
    /// Who signed (" signed by …"); empty in journals from before it was recorded.
    #[serde(default)]
    signer: String,
    /// The images.
    images: Vec<StagedImage>,
}

/// The workspace layout of `version`'s images.
pub fn layout_root(workspace: &Path, version: &Version) -> PathBuf {
    workspace.join("images").join(version.to_string())
}

fn list_path(workspace: &Path, version: &Version) -> PathBuf {
    workspace.join("images").join(format!("{version}.json"))
}

/// The tag a staged index gets: the build version (`+` is not allowed in a tag), and the
/// version for a stage's second version.
pub fn staging_tag(build_version: &BuildVersion, version: &Version, prime: &Version) -> String {
    let tag = if version == prime {
        build_version.to_string()
    } else {
        format!("{build_version}-{version}")
    };
    tag.replace('+', "_")
}

fn bad_images(message: String) -> ReleaseError {
    ReleaseError::Config {
        message,
        hint: "the build must leave one `docker save` archive (NAME.tar) or OCI layout (NAME/) per image in the build.images directory of every image platform".into(),
    }
}

fn image_error(what: String) -> impl FnOnce(krel_image::ImageError) -> ReleaseError {
    move |source| ReleaseError::Image { what, source }
}

/// Reads the images the build left in `tree` for `platforms` into the workspace layout and
/// lists them; returns how many. Nothing when the build makes no images.
pub fn collect_images(
    run: &StageRun<'_>,
    version: &Version,
    tree: &Path,
    platforms: &[Platform],
) -> Result<usize, ReleaseError> {
    let Some(rule) = &run.setup.config.build.images else {
        return Ok(0);
    };
    let image_platforms = rule.platforms(&run.setup.config.build.platforms);
    let layouts_root = layout_root(&run.workspace, version);
    crate::files::remove_dir(&layouts_root)?;
    let layouts = Layouts::new(&layouts_root);
    let mut images: Vec<PlatformImage> = Vec::new();
    for platform in platforms.iter().filter(|p| image_platforms.contains(p)) {
        let from = platform.expand(rule.from.as_str());
        let dir = tree.join(&from);
        if !dir.is_dir() {
            return Err(bad_images(format!(
                "the build left no image directory `{from}` for {platform} (build.images)"
            )));
        }
        let sources = image_sources(&dir).map_err(image_error(format!("reading {from}")))?;
        if sources.is_empty() {
            return Err(bad_images(format!(
                "`{from}` holds no image for {platform} (build.images)"
            )));
        }
        for source in sources {
            krel_fs::tree::inside(tree, &source).map_err(|err| bad_images(err.to_string()))?;
            let name = image_name(&source, &platform.arch)
                .map_err(image_error(format!("reading {from}")))?;
            if images
                .iter()
                .any(|i| i.name == name && of_platform(&i.platform, platform))
            {
                return Err(bad_images(format!(
                    "`{from}` holds two images named {name}"
                )));
            }
            let image = read_image(&source, &name, &layouts, &platform.os, &platform.arch)
                .map_err(image_error(format!("reading the images of {platform}")))?;
            images.push(PlatformImage {
                name,
                platform: platform_name(&image.platform),
                digest: image.manifest.digest,
            });
        }
    }
    if !matches!(run.request.scope, StageScope::Platform(_)) {
        check_complete(&images, &image_platforms)?;
    }
    let bytes = serde_json::to_vec_pretty(&images).unwrap_or_default();
    write_file(&list_path(&run.workspace, version), &bytes)?;
    Ok(images.len())
}

/// True when an image's platform (`linux/arm/v7`) is `platform` (`linux/arm`) or a variant
/// of it, and not merely a longer name (`linux/arm64`).
fn of_platform(image_platform: &str, platform: &Platform) -> bool {
    let platform = platform.to_string();
    image_platform == platform || image_platform.starts_with(&format!("{platform}/"))
}

/// Every image exists for every image platform; else the list of what is missing.
fn check_complete(images: &[PlatformImage], platforms: &[Platform]) -> Result<(), ReleaseError> {
    let names: std::collections::BTreeSet<&str> = images.iter().map(|i| i.name.as_str()).collect();
    let mut missing = Vec::new();
    for name in &names {
        for platform in platforms {
            if !images
                .iter()
                .any(|i| i.name == *name && of_platform(&i.platform, platform))
            {
                missing.push(format!("{name} has no image for {platform}"));
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(bad_images(format!(
            "images are missing:\n  - {}",
            missing.join("\n  - ")
        )))
    }
}

/// The platform images a build or a platform job listed for `version`.
pub fn listed_images(
    workspace: &Path,
    version: &Version,
) -> Result<Vec<PlatformImage>, ReleaseError> {
    let path = list_path(workspace, version);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|err| ReleaseError::Workspace {
            path: path.clone(),
            reason: format!("not a list of images: {err}"),
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(err) => Err(io("reading", &path)(err)),
    }
}

/// `os/arch[/variant]` as an OCI platform.
fn oci_platform(name: &str) -> Result<krel_image::Platform, ReleaseError> {
    krel_image::parse_platform(name).map_err(image_error(format!("platform {name}")))
}

impl StageRun<'_> {
    pub(super) fn image_setup(&self) -> Result<&ImageSetup, ReleaseError> {
        self.setup.images.ok_or_else(|| ReleaseError::Config {
            message: "this build makes images, and no registry was given".into(),
            hint: "set release.staging_registry and release.registry".into(),
        })
    }

    /// Step `images <version>`: indexes, signatures and SBOMs in the workspace; returns the
    /// staged images as JSON (the journal restores them from it).
    pub(super) fn images(&mut self, version: &Version) -> Result<String, ReleaseError> {
        let platform_images = match &self.request.scope {
            StageScope::Merge(records) => self.fetch_platform_images(records, version)?,
            _ => listed_images(&self.workspace, version)?,
        };
        let mut by_name: BTreeMap<String, Vec<PlatformImage>> = BTreeMap::new();
        for image in platform_images {
            by_name.entry(image.name.clone()).or_default().push(image);
        }
        let layouts = Layouts::new(&layout_root(&self.workspace, version));
        let mut staged = Vec::new();
        for (name, platforms) in by_name {
            staged.push(self.index_and_sign(&layouts, version, &name, &platforms)?);
        }
        self.write_image_sboms(version, &layouts, &staged)?;
        self.write_image_list(version, &staged)?;
        let journaled = JournaledImages {
            staging: self.image_setup()?.staging.to_string(),
            signer: self.signed_by(),
            images: staged.clone(),
        };
        self.images.insert(version.to_string(), staged);
        Ok(serde_json::to_string(&journaled).unwrap_or_default())
    }

    /// Restores a journaled `images <version>` step; false when it was signed for another
    /// staging registry (a mock stage, then a --nomock one), so it must run again.
    pub(super) fn resume_images(
        &mut self,
        version: &Version,
        value: &str,
    ) -> Result<bool, ReleaseError> {
        let journaled: JournaledImages =
            serde_json::from_str(value).map_err(|err| ReleaseError::Workspace {
                path: self.journal.path().to_path_buf(),
                reason: format!(
                    "step `images {version}` recorded something else than images: {err}"
                ),
            })?;
        let resigned = !journaled.signer.is_empty() && journaled.signer != self.signed_by();
        if journaled.staging != self.image_setup()?.staging.to_string() || resigned {
            return Ok(false);
        }
        self.images.insert(version.to_string(), journaled.images);
        Ok(true)
    }

    fn index_and_sign(
        &self,
        layouts: &Layouts,
        version: &Version,
        name: &str,
        platforms: &[PlatformImage],
    ) -> Result<StagedImage, ReleaseError> {
        let setup = self.image_setup()?;
        let local = ImageStore::open(
            &ImageLocation::Layout {
                root: layouts.dir(""),
                prefix: String::new(),
            },
            &setup.env,
        )
        .map_err(image_error(format!("opening the images of {version}")))?;
        let side = Side {
            store: &local,
            repo: name,
        };
        let rt = self.setup.runtime;
        let mut entries: Vec<(Manifest, krel_image::Platform)> = Vec::new();
        for image in platforms {
            let manifest = rt
                .block_on(krel_image::copy::read_manifest(side, &image.digest))
                .map_err(image_error(format!(
                    "reading {name} for {}",
                    image.platform
                )))?;
            entries.push((manifest, oci_platform(&image.platform)?));
        }
        let index =
            make_index(&entries).map_err(image_error(format!("making the index of {name}")))?;
        layouts
            .put_manifest(name, &index, None)
            .map_err(image_error(format!("writing the index of {name}")))?;
        let bundles = self.signer()?;
        let key_signer = bundles.detached().map(cosign::KeyPayloadSigner);
        let keyless_signer = crate::image_signing::KeylessPayloadSigner(bundles);
        let signer: &dyn cosign::PayloadSigner = match &key_signer {
            Some(key) => key,
            None => &keyless_signer,
        };
        let identities = [setup.staging.identity(name), setup.release.identity(name)];
        for digest in std::iter::once(&index.digest).chain(platforms.iter().map(|p| &p.digest)) {
            // Signed afresh: an earlier run may have signed for another staging registry.
            layouts
                .remove_tag(name, &digest.signature_tag())
                .map_err(image_error(format!(
                    "replacing the signature of {name}@{digest}"
                )))?;
            for identity in &identities {
                let signed = cosign::sign_payload(identity, digest, signer)
                    .map_err(image_error(format!("signing {name}@{digest}")))?;
                rt.block_on(cosign::sign(side, identity, digest, signed))
                    .map_err(image_error(format!("signing {name}@{digest}")))?;
            }
        }
        self.setup.report.status(
            "Signed",
            &format!(
                "image {name} of {version}: {} platform(s), index {}",
                platforms.len(),
                index.digest
            ),
        );
        Ok(StagedImage {
            name: name.to_string(),
            digest: Some(index.digest),
            platforms: platforms
                .iter()
                .map(|p| (p.platform.clone(), p.digest.clone()))
                .collect(),
        })
    }

    /// A merge: the manifests the platform jobs pushed, read from the staging registry into
    /// the workspace layout (manifests only: the blobs stay in the registry).
    fn fetch_platform_images(
        &self,
        records: &[crate::records::PartialRecord],
        version: &Version,
    ) -> Result<Vec<PlatformImage>, ReleaseError> {
        let setup = self.image_setup()?;
        let staging = ImageStore::open(&setup.staging, &setup.env)
            .map_err(image_error(format!("opening {}", setup.staging)))?;
        let layouts = Layouts::new(&layout_root(&self.workspace, version));
        let mut images = Vec::new();
        let mut missing = Vec::new();
        for record in records {
            for image in record
                .stage
                .images
                .get(&version.to_string())
                .into_iter()
                .flatten()
            {
                for (platform, digest) in &image.platforms {
                    let repo = setup.staging.repository(&image.name);
                    let found = self
                        .setup
                        .runtime
                        .block_on(staging.manifest(&repo, &digest.to_string()))
                        .map_err(image_error(format!("reading {repo}@{digest}")))?;
                    match found {
                        Some(manifest) => layouts
                            .put_manifest(&image.name, &manifest, None)
                            .map_err(image_error(format!("keeping {repo}@{digest}")))?,
                        None => missing.push(format!(
                            "{} for {platform} ({digest}) is not in {}",
                            image.name, setup.staging
                        )),
                    }
                    images.push(PlatformImage {
                        name: image.name.clone(),
                        platform: platform.clone(),
                        digest: digest.clone(),
                    });
                }
            }
        }
        if !missing.is_empty() {
            return Err(bad_images(format!(
                "the platform jobs' images did not all arrive:\n  - {}",
                missing.join("\n  - ")
            )));
        }
        if let Some(rule) = &self.setup.config.build.images {
            check_complete(&images, &rule.platforms(&self.setup.config.build.platforms))?;
        }
        Ok(images)
    }

    /// `images.json` among the version's artifacts: each image as it will be pulled from the
    /// release registry, with its digest and platforms (the CHANGELOG's Container Images
    /// table reads it).
    fn write_image_list(
        &self,
        version: &Version,
        staged: &[StagedImage],
    ) -> Result<(), ReleaseError> {
        let release = &self.image_setup()?.release;
        let list: Vec<serde_json::Value> = staged
            .iter()
            .map(|image| {
                serde_json::json!({
                    "reference": release.pull_reference(&image.name, &version.to_string()),
                    "digest": image.digest.as_ref().map(ToString::to_string),
                    "platforms": image.platforms.keys().collect::<Vec<_>>(),
                    "manifests": image.platforms,
                })
            })
            .collect();
        let mut bytes = serde_json::to_vec_pretty(&list).unwrap_or_default();
        bytes.push(b'\n');
        let artifacts = self.workspace.join("artifacts").join(version.to_string());
        write_file(&artifacts.join(IMAGE_LIST), &bytes)
    }

    /// `images/<name>.spdx.json` among the version's artifacts: the index and each platform
    /// manifest with its digests.
    fn write_image_sboms(
        &self,
        version: &Version,
        layouts: &Layouts,
        staged: &[StagedImage],
    ) -> Result<(), ReleaseError> {
        let artifacts = self.workspace.join("artifacts").join(version.to_string());
        for image in staged {
            let mut files = Vec::new();
            let digests = image.digest.iter().map(|d| ("index".to_string(), d)).chain(
                image
                    .platforms
                    .iter()
                    .map(|(p, d)| (p.replace('/', "-"), d)),
            );
            for (label, digest) in digests {
                let bytes = layouts
                    .read_blob(&image.name, digest)
                    .map_err(image_error(format!("reading {}@{digest}", image.name)))?;
                files.push(FileEntry {
                    path: format!("{}/{label}.json", image.name),
                    sha1: hex::encode(<sha1::Sha1 as sha1::Digest>::digest(&bytes)),
                    sha256: digest.hex().to_string(),
                    size: bytes.len() as u64,
                });
            }
            let sbom = spdx_document(&SbomInput {
                name: &format!("{}-image-{}", self.project_slug, image.name),
                version: &version.to_string(),
                download_location: "NOASSERTION",
                creator: &format!("Organization: {}", self.setup.config.github.org),
                created: self.now(),
                files: &files,
            });
            write_file(
                &artifacts
                    .join("images")
                    .join(format!("{}.spdx.json", image.name)),
                &sbom,
            )?;
        }
        Ok(())
    }
}

/// The provenance subjects of a version's images: `image:<name>` (the index) and
/// `image:<name>/<os>/<arch>` (each platform), with their digests.
pub fn image_subjects(images: &[StagedImage]) -> Vec<FileEntry> {
    let mut subjects = Vec::new();
    for image in images {
        let entry = |path: String, digest: &Digest| FileEntry {
            path,
            sha1: String::new(),
            sha256: digest.hex().to_string(),
            size: 0,
        };
        if let Some(digest) = &image.digest {
            subjects.push(entry(format!("image:{}", image.name), digest));
        }
        for (platform, digest) in &image.platforms {
            subjects.push(entry(format!("image:{}/{platform}", image.name), digest));
        }
    }
    subjects
}

/// The upload plan's image actions: per version, copy the images (and their signatures) by
/// digest from the workspace layout to the staging registry, then tag the indexes. A platform
/// job copies its platform manifests only. Versions whose tags are all in place are done.
pub fn image_actions(run: &StageRun<'_>) -> Result<Vec<Action>, ReleaseError> {
    let Some(setup) = run.setup.images else {
        return Ok(Vec::new());
    };
    let staging = ImageStore::open(&setup.staging, &setup.env)
        .map_err(image_error(format!("opening {}", setup.staging)))?;
    let mut actions = Vec::new();
    for version in &run.ordered {
        let from = ImageLocation::Layout {
            root: layout_root(&run.workspace, version),
            prefix: String::new(),
        };
        let transfer = match &run.request.scope {
            StageScope::Platform(_) => ImageTransfer {
                from,
                to: setup.staging.clone(),
                images: listed_images(&run.workspace, version)?
                    .into_iter()
                    .map(|i| ImageRef {
                        name: i.name,
                        digest: i.digest,
                        signed: Vec::new(),
                    })
                    .collect(),
                tags: Vec::new(),
            },
            _ => {
                let staged = run
                    .images
                    .get(&version.to_string())
                    .cloned()
                    .unwrap_or_default();
                let tag = staging_tag(&run.build_version, version, &run.prime);
                let mut images = Vec::new();
                let mut tags = Vec::new();
                for copy in staged.iter().filter_map(StagedImage::copy) {
                    tags.push(ImageTag {
                        name: copy.name.clone(),
                        tag: tag.clone(),
                        digest: copy.digest.clone(),
                    });
                    images.push(copy);
                }
                ImageTransfer {
                    from,
                    to: setup.staging.clone(),
                    images,
                    tags,
                }
            }
        };
        if transfer.images.is_empty() || done(run, &staging, &transfer)? {
            continue;
        }
        actions.push(Action::Images(transfer));
    }
    Ok(actions)
}

/// True when every tag (or, without tags, every manifest) of a transfer is in place.
fn done(
    run: &StageRun<'_>,
    staging: &ImageStore,
    transfer: &ImageTransfer,
) -> Result<bool, ReleaseError> {
    let rt = run.setup.runtime;
    if transfer.tags.is_empty() {
        for image in &transfer.images {
            let repo = transfer.to.repository(&image.name);
            let found = rt
                .block_on(staging.manifest(&repo, &image.digest.to_string()))
                .map_err(image_error(format!("reading {repo}")))?;
            if found.is_none() {
                return Ok(false);
            }
        }
        return Ok(true);
    }
    for tag in &transfer.tags {
        let repo = transfer.to.repository(&tag.name);
        let found = rt
            .block_on(staging.manifest(&repo, &tag.tag))
            .map_err(image_error(format!("reading {repo}:{}", tag.tag)))?;
        if found.map(|m| m.digest) != Some(tag.digest.clone()) {
            return Ok(false);
        }
    }
    Ok(true)
}
