//! The images a version publishes, checked where they are published: every image its
//! `images.json` lists (a provenance subject, so signed with the release) is in its registry
//! under the listed tag with the listed index digest, the index lists exactly the listed
//! platform manifests, and the index and every platform manifest carry a signature by the
//! expected signer naming that repository. What `krel verify` checks after the files, and what
//! `krel rehearse` checks of the images it published.

use std::collections::BTreeMap;
use std::path::Path;

use krel_image::cosign::{PayloadVerifier, SignatureFailure};
use krel_image::{ImageLocation, ImageStore, RegistryEnv};

/// What was checked of the images, and every problem found.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImagesReport {
    /// Images listed in `images.json`.
    pub images: usize,
    /// Manifests (indexes and platform manifests) whose signatures verified.
    pub manifests: usize,
    /// Everything wrong; empty means verified.
    pub problems: Vec<String>,
    /// Images whose registry could not be read (the network, credentials): not checked, which
    /// says nothing either way about the release.
    pub unreachable: Vec<String>,
}

/// One image of a version's `images.json`.
#[derive(Clone, Debug, serde::Deserialize)]
struct ListedImage {
    reference: String,
    digest: String,
    #[serde(default)]
    manifests: BTreeMap<String, String>,
}

/// Where a reference (`registry.k8s.io/widget:v1.2.3`, `oci:/srv/registry/widget:v1.2.3`)
/// points: the registry location, the image name and the tag.
fn parse_reference(reference: &str) -> Result<(ImageLocation, String, String), String> {
    let bad = |why: &str| format!("`{reference}` {why}");
    let (path, tag) = reference
        .rsplit_once(':')
        .filter(|(_, tag)| !tag.contains('/') && !tag.is_empty())
        .ok_or_else(|| bad("has no tag"))?;
    let (registry, name) = path
        .rsplit_once('/')
        .ok_or_else(|| bad("names no registry"))?;
    let location = if registry.starts_with("oci:") {
        registry.to_string()
    } else {
        format!("docker://{registry}")
    };
    let location = location.parse().map_err(|err| bad(&format!("{err}")))?;
    Ok((location, name.to_string(), tag.to_string()))
}

/// The images `dir/images.json` lists; none when there is no such file.
fn listed(dir: &Path) -> Result<Vec<ListedImage>, String> {
    match std::fs::read(dir.join("images.json")) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|err| format!("images.json is not a list of images: {err}")),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(err) => Err(format!("images.json: {err}")),
    }
}

/// Checks every image `dir/images.json` lists in its registry (see the module documentation).
pub fn verify_images(
    dir: &Path,
    verifier: &dyn PayloadVerifier,
    env: &RegistryEnv,
) -> ImagesReport {
    let mut report = ImagesReport::default();
    let images = match listed(dir) {
        Ok(images) => images,
        Err(problem) => {
            report.problems.push(problem);
            return report;
        }
    };
    report.images = images.len();
    if images.is_empty() {
        return report;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            report
                .problems
                .push(format!("starting the registry client: {err}"));
            return report;
        }
    };
    for image in &images {
        match runtime.block_on(check_image(image, verifier, env)) {
            Ok(manifests) => report.manifests += manifests,
            Err(Failed::Problems(problems)) => report.problems.extend(problems),
            Err(Failed::Unreachable(why)) => report.unreachable.push(why),
        }
    }
    report.problems.sort();
    report
}

/// Why one image did not verify.
enum Failed {
    /// What is wrong with it.
    Problems(Vec<String>),
    /// Its registry could not be read.
    Unreachable(String),
}

/// One image: its tag, index, platforms and signatures. Returns the manifests checked.
async fn check_image(
    image: &ListedImage,
    verifier: &dyn PayloadVerifier,
    env: &RegistryEnv,
) -> Result<usize, Failed> {
    let (location, name, tag) =
        parse_reference(&image.reference).map_err(|p| Failed::Problems(vec![p]))?;
    let shown = &image.reference;
    let unreachable = |err: krel_image::ImageError| Failed::Unreachable(format!("{shown}: {err}"));
    let store = ImageStore::open(&location, env).map_err(unreachable)?;
    let repo = location.repository(&name);
    let index = match store.manifest(&repo, &tag).await.map_err(unreachable)? {
        Some(index) if index.digest.to_string() == image.digest => index,
        Some(index) => {
            return Err(Failed::Problems(vec![format!(
                "{shown} names {}, and images.json {}: the published tag is not the released image",
                index.digest, image.digest
            )]))
        }
        None => {
            return Err(Failed::Problems(vec![format!(
                "{shown} is not in its registry"
            )]))
        }
    };
    let mut problems = Vec::new();
    let listed: BTreeMap<String, String> = index
        .platforms()
        .into_iter()
        .map(|(platform, digest)| (platform, digest.to_string()))
        .collect();
    if listed != image.manifests {
        problems.push(format!(
            "{shown}: the index lists {listed:?}, images.json {:?}",
            image.manifests
        ));
    }
    let side = krel_image::copy::Side {
        store: &store,
        repo: &repo,
    };
    let identity = location.identity(&name);
    let mut checked = 0;
    for digest in std::iter::once(&image.digest).chain(image.manifests.values()) {
        let Ok(digest) = digest.parse::<krel_image::Digest>() else {
            problems.push(format!("{shown}: `{digest}` is not a digest"));
            continue;
        };
        match krel_image::cosign::verify(side, &identity, &digest, verifier).await {
            Ok(()) => checked += 1,
            Err(SignatureFailure::Unreadable(err)) => return Err(unreachable(err)),
            Err(SignatureFailure::Invalid(problem)) => problems.push(format!("{shown}: {problem}")),
        }
    }
    if problems.is_empty() {
        Ok(checked)
    } else {
        Err(Failed::Problems(problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_name_their_registry_image_and_tag() {
        let (location, name, tag) = parse_reference("registry.k8s.io/widget:v1.2.3").unwrap();
        assert_eq!(
            (location.to_string(), name.as_str(), tag.as_str()),
            ("docker://registry.k8s.io".into(), "widget", "v1.2.3")
        );
        let (location, name, _) = parse_reference("127.0.0.1:5000/release/widget:v1.2.3").unwrap();
        assert_eq!(location.identity(&name), "127.0.0.1:5000/release/widget");
        let (location, name, _) = parse_reference("oci:/srv/registry/release/widget:v1").unwrap();
        assert_eq!(location.identity(&name), "oci:/srv/registry/release/widget");
        assert!(parse_reference("127.0.0.1:5000/widget")
            .unwrap_err()
            .contains("has no tag"));
        assert!(parse_reference("widget:v1")
            .unwrap_err()
            .contains("names no registry"));
    }
}
