//! The images of a release: verified in the staging registry before anything is published,
//! then promoted by digest to the release registry and tagged with each version.
//!
//! - [`verify_images`]: for every staged image, its index is in the staging registry with the
//!   recorded digest, lists exactly the recorded platform manifests, covers every image
//!   platform, and the index and every platform manifest carry a signature by the stage's key
//!   naming the staging repository and one naming the release repository. Every problem is
//!   listed, and any one stops the release.
//! - [`plan_images`]: per version, a copy by digest (blobs mounted where the registry allows,
//!   signatures with them), then the tags; a tag already naming the image is done, one naming
//!   another image stops the release before anything is published.

use krel_image::copy::Side;
use krel_image::{cosign, Content, ImageStore, ImageTag, ImageTransfer};
use krel_plan::Action;

use super::plan::Planned;
use crate::records::{StagedImage, StagedRecord};
use crate::{ImageSetup, ReleaseError, Shared};

fn image_error(what: String) -> impl FnOnce(krel_image::ImageError) -> ReleaseError {
    move |source| ReleaseError::Image { what, source }
}

fn setup_of<'a>(shared: &Shared<'a>) -> Result<&'a ImageSetup, ReleaseError> {
    shared.images.ok_or_else(|| ReleaseError::Config {
        message: "the stage has images, and no registry was given".into(),
        hint: "set release.staging_registry and release.registry".into(),
    })
}

/// Checks every staged image in the staging registry; see the module documentation.
pub fn verify_images(
    shared: &Shared<'_>,
    record: &StagedRecord,
    verifier: &krel_verify::Verifier,
) -> Result<usize, ReleaseError> {
    if record.images.is_empty() {
        return Ok(0);
    }
    let key = verifier;
    let setup = setup_of(shared)?;
    let staging = ImageStore::open(&setup.staging, &setup.env)
        .map_err(image_error(format!("opening {}", setup.staging)))?;
    let expected_platforms: Vec<String> = shared
        .config
        .build
        .images
        .as_ref()
        .map(|rule| rule.platforms(&shared.config.build.platforms))
        .unwrap_or_default()
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut problems = Vec::new();
    let mut checked = 0;
    for (version, images) in &record.images {
        for image in images {
            let found = shared
                .runtime
                .block_on(check_image(setup, &staging, image, key))?;
            problems.extend(
                found
                    .into_iter()
                    .map(|p| format!("{version}: {}: {p}", image.name)),
            );
            for platform in &expected_platforms {
                if !image
                    .platforms
                    .keys()
                    .any(|p| p == platform || p.starts_with(&format!("{platform}/")))
                {
                    problems.push(format!(
                        "{version}: {}: no image for {platform}",
                        image.name
                    ));
                }
            }
            checked += 1 + image.platforms.len();
        }
    }
    if problems.is_empty() {
        shared.report.status(
            "Verified",
            &format!(
                "{checked} staged image manifest(s) in {}: digests, platforms and signatures",
                setup.staging
            ),
        );
        return Ok(checked);
    }
    problems.sort();
    Err(ReleaseError::Verification {
        what: format!("the staged images in {}", setup.staging),
        problems,
    })
}

/// What is wrong with one staged image (nothing when it is as recorded and signed).
async fn check_image(
    setup: &ImageSetup,
    staging: &ImageStore,
    image: &StagedImage,
    verifier: &dyn cosign::PayloadVerifier,
) -> Result<Vec<String>, ReleaseError> {
    let repo = setup.staging.repository(&image.name);
    let side = Side {
        store: staging,
        repo: &repo,
    };
    let Some(index_digest) = &image.digest else {
        return Ok(vec!["the record has no index digest".into()]);
    };
    let index = staging
        .manifest(&repo, &index_digest.to_string())
        .await
        .map_err(image_error(format!("reading {repo}@{index_digest}")))?;
    let Some(index) = index else {
        return Ok(vec![format!(
            "its index {index_digest} is not in {}",
            setup.staging
        )]);
    };
    let mut problems = Vec::new();
    if !matches!(index.content, Content::Index(_)) {
        problems.push(format!("{index_digest} is not an index"));
    }
    let listed = index.platforms();
    for (platform, digest) in &image.platforms {
        match listed.get(platform) {
            None => problems.push(format!("the index does not list {platform}")),
            Some(found) if found != digest => problems.push(format!(
                "the index lists {found} for {platform}, the record {digest}"
            )),
            Some(_) => {}
        }
    }
    for (platform, digest) in &listed {
        if !image.platforms.contains_key(platform) {
            problems.push(format!(
                "the index lists {platform} ({digest}), which the record does not"
            ));
        }
    }
    let identities = [
        setup.staging.identity(&image.name),
        setup.release.identity(&image.name),
    ];
    for digest in std::iter::once(index_digest).chain(image.platforms.values()) {
        for identity in &identities {
            if let Err(problem) = cosign::verify(side, identity, digest, verifier).await {
                problems.push(format!("signature for {identity}: {problem}"));
            }
        }
    }
    Ok(problems)
}

/// The promotion of every version's images; see the module documentation.
pub fn plan_images(shared: &Shared<'_>, record: &StagedRecord) -> Result<Planned, ReleaseError> {
    let mut planned = Planned::default();
    if record.images.is_empty() {
        return Ok(planned);
    }
    let setup = setup_of(shared)?;
    let release = ImageStore::open(&setup.release, &setup.env)
        .map_err(image_error(format!("opening {}", setup.release)))?;
    let mut moved = Vec::new();
    for version in &record.versions {
        let Some(images) = record.images.get(&version.to_string()) else {
            continue;
        };
        let tag = version.to_string();
        let mut copy = Vec::new();
        let mut tags = Vec::new();
        for image in images {
            let Some(index) = image.digest.clone() else {
                continue;
            };
            let repo = setup.release.repository(&image.name);
            let current = shared
                .runtime
                .block_on(release.manifest(&repo, &tag))
                .map_err(image_error(format!("reading {repo}:{tag}")))?;
            match current {
                Some(manifest) if manifest.digest == index => {
                    planned.done.push(format!(
                        "image {}:{tag} is in {}",
                        image.name, setup.release
                    ));
                    continue;
                }
                Some(manifest) => {
                    moved.push(format!(
                        "{}:{tag} names {}, not the staged {index}",
                        setup.release.repository_display(&repo),
                        manifest.digest
                    ));
                    continue;
                }
                None => {}
            }
            copy.extend(image.copy());
            tags.push(ImageTag {
                name: image.name.clone(),
                tag: tag.clone(),
                digest: index,
            });
        }
        if copy.is_empty() {
            continue;
        }
        planned.actions.push(Action::Images(ImageTransfer {
            from: setup.staging.clone(),
            to: setup.release.clone(),
            images: copy,
            tags: Vec::new(),
        }));
        planned.actions.push(Action::Images(ImageTransfer {
            from: setup.release.clone(),
            to: setup.release.clone(),
            images: Vec::new(),
            tags,
        }));
    }
    if !moved.is_empty() {
        return Err(ReleaseError::Verification {
            what: format!("the tags in {}", setup.release),
            problems: moved
                .into_iter()
                .map(|m| format!("{m}; a published tag is never moved: release a new version"))
                .collect(),
        });
    }
    Ok(planned)
}
