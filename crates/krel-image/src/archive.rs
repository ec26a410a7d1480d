//! Reading the images a build made, without Docker: `docker save` archives (`*.tar`, as
//! Kubernetes' `make release` writes them under `_output/release-images/<arch>/`) and OCI
//! layout directories. Each becomes one image in a workspace layout (blobs as they are, so the
//! digests are the build's), with its platform taken from its configuration.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, Platform, PlatformBuilder};

use crate::digest::Digest;
use crate::layout::Layouts;
use crate::manifest::{media, Content, Manifest};
use crate::ImageError;

/// One platform's image, read into a workspace layout.
#[derive(Clone, Debug)]
pub struct LocalImage {
    /// The image name (the archive's or directory's name, less `.tar` and a `-<arch>` suffix).
    pub name: String,
    /// Its platform, from its configuration.
    pub platform: Platform,
    /// Its manifest, stored in the workspace layout's repository `name`.
    pub manifest: Manifest,
    /// Where it came from.
    pub source: PathBuf,
}

/// The image sources in `dir`: every `*.tar` file and every directory holding an OCI layout,
/// sorted by name.
pub fn image_sources(dir: &Path) -> Result<Vec<PathBuf>, ImageError> {
    let entries = std::fs::read_dir(dir).map_err(ImageError::io("reading", dir))?;
    let mut sources: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            (p.is_file() && p.extension().is_some_and(|e| e == "tar"))
                || p.join("index.json").is_file()
        })
        .collect();
    sources.sort();
    Ok(sources)
}

/// The image name of a source: its file name without `.tar`, and without `-<arch>`.
pub fn image_name(source: &Path, arch: &str) -> Result<String, ImageError> {
    let file = source
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = file.strip_suffix(".tar").unwrap_or(&file);
    let name = stem.strip_suffix(&format!("-{arch}")).unwrap_or(stem);
    if crate::location::is_repository_component(name) {
        Ok(name.to_string())
    } else {
        Err(bad(source, format!("`{name}` is not an image name (lower-case letters and digits, with `.`, `_` or `-` between them); rename the file")))
    }
}

fn bad(source: &Path, reason: impl Into<String>) -> ImageError {
    ImageError::BadImage {
        path: source.to_path_buf(),
        reason: reason.into(),
    }
}

/// Reads one image source (a `docker save` archive or an OCI layout holding one image) into
/// repository `name` of `workspace`, and checks its platform is `os/arch`.
pub fn read_image(
    source: &Path,
    name: &str,
    workspace: &Layouts,
    os: &str,
    arch: &str,
) -> Result<LocalImage, ImageError> {
    let manifest = if source.is_dir() {
        read_layout(source, name, workspace)?
    } else {
        read_archive(source, name, workspace)?
    };
    let platform = platform_of(source, name, workspace, &manifest)?;
    if platform.os().to_string() != os || platform.architecture().to_string() != arch {
        return Err(bad(
            source,
            format!(
                "it is an image for {}/{}, found among the images for {os}/{arch}",
                platform.os(),
                platform.architecture()
            ),
        ));
    }
    Ok(LocalImage {
        name: name.to_string(),
        platform,
        manifest,
        source: source.to_path_buf(),
    })
}

/// The platform an image's configuration names.
fn platform_of(
    source: &Path,
    name: &str,
    workspace: &Layouts,
    manifest: &Manifest,
) -> Result<Platform, ImageError> {
    let Content::Image(image) = &manifest.content else {
        return Err(bad(
            source,
            "it holds an image index; give one image per platform",
        ));
    };
    let (config_digest, _) = crate::manifest::descriptor_digest(image.config())
        .ok_or_else(|| bad(source, "its configuration has no sha256 digest"))?;
    let config: serde_json::Value =
        serde_json::from_slice(&workspace.read_blob(name, &config_digest)?)
            .map_err(|err| bad(source, format!("its configuration is not JSON: {err}")))?;
    let (Some(os), Some(arch)) = (config["os"].as_str(), config["architecture"].as_str()) else {
        return Err(bad(
            source,
            "its configuration names no os and architecture; it is not an image",
        ));
    };
    let mut builder = PlatformBuilder::default().os(os).architecture(arch);
    if let Some(variant) = config["variant"].as_str() {
        builder = builder.variant(variant);
    }
    builder
        .build()
        .map_err(|err| bad(source, format!("its platform: {err}")))
}

/// An OCI layout with exactly one image manifest.
fn read_layout(source: &Path, name: &str, workspace: &Layouts) -> Result<Manifest, ImageError> {
    let index_path = source.join("index.json");
    let index = std::fs::read(&index_path).map_err(ImageError::io("reading", &index_path))?;
    let index = Manifest::parse(index, Some(media::OCI_INDEX))
        .map_err(|err| bad(source, err.to_string()))?;
    let children = index.children();
    let [(digest, _)] = children.as_slice() else {
        return Err(bad(
            source,
            format!(
                "its index.json lists {} manifests; krel expects one image per layout",
                children.len()
            ),
        ));
    };
    let read = |digest: &Digest| -> Result<Vec<u8>, ImageError> {
        let path = source.join("blobs").join("sha256").join(digest.hex());
        let bytes =
            std::fs::read(&path).map_err(|_| bad(source, format!("blob {digest} is missing")))?;
        if Digest::of(&bytes) != *digest {
            return Err(bad(
                source,
                format!("blob {digest} does not have its digest"),
            ));
        }
        Ok(bytes)
    };
    let manifest =
        Manifest::parse(read(digest)?, None).map_err(|err| bad(source, err.to_string()))?;
    for (blob, _) in manifest.blobs() {
        if !workspace.has_blob(name, &blob) {
            workspace.write_blob(name, &blob, &read(&blob)?)?;
        }
    }
    workspace.put_manifest(name, &manifest, None)?;
    Ok(manifest)
}

/// A `docker save` archive: `manifest.json` names the configuration and the layers, each a
/// file of the archive (or a link to one). Every file streams into the workspace layout as a
/// blob as the archive is read once; nothing is held in memory but `manifest.json` and the
/// configuration.
fn read_archive(source: &Path, name: &str, workspace: &Layouts) -> Result<Manifest, ImageError> {
    let files = archive_files(source, name, workspace)?;
    let small = |path: &str, what: &str| -> Result<(Digest, Vec<u8>), ImageError> {
        let file = files
            .get(path)
            .ok_or_else(|| bad(source, format!("its {what} `{path}` is not in the archive")))?;
        if file.size > 4 << 20 {
            return Err(bad(source, format!("its {what} `{path}` is over 4 MiB")));
        }
        Ok((
            file.digest.clone(),
            workspace.read_blob(name, &file.digest)?,
        ))
    };
    let (_, manifest_json) = small("manifest.json", "manifest.json").map_err(|_| {
        bad(
            source,
            "it has no manifest.json: it is not a `docker save` archive",
        )
    })?;
    let entries: Vec<serde_json::Value> = serde_json::from_slice(&manifest_json)
        .map_err(|err| bad(source, format!("its manifest.json is not a list: {err}")))?;
    let [entry] = entries.as_slice() else {
        return Err(bad(
            source,
            format!(
                "it holds {} images; krel expects one image per archive",
                entries.len()
            ),
        ));
    };
    let config_path = entry["Config"]
        .as_str()
        .ok_or_else(|| bad(source, "manifest.json names no Config"))?;
    let (config_digest, config) = small(config_path, "configuration")?;
    let mut layers = Vec::new();
    for layer in entry["Layers"].as_array().into_iter().flatten() {
        let path = layer
            .as_str()
            .ok_or_else(|| bad(source, "a layer in manifest.json is not a path"))?;
        let file = files
            .get(path)
            .ok_or_else(|| bad(source, format!("its layer `{path}` is not in the archive")))?;
        layers.push(Descriptor::new(
            layer_media_type(&file.head).into(),
            file.size,
            file.digest.to_oci()?,
        ));
    }
    if layers.is_empty() {
        return Err(bad(source, "manifest.json lists no layers"));
    }
    let manifest = Manifest::image(&config, &config_digest, layers)?;
    workspace.put_manifest(name, &manifest, None)?;
    Ok(manifest)
}

/// The media type of a layer, by its first bytes.
fn layer_media_type(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        "application/vnd.oci.image.layer.v1.tar+gzip"
    } else if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        "application/vnd.oci.image.layer.v1.tar+zstd"
    } else {
        "application/vnd.oci.image.layer.v1.tar"
    }
}

/// A file of the archive, as a blob of the workspace layout.
#[derive(Clone)]
struct ArchiveFile {
    digest: Digest,
    size: u64,
    /// Its first bytes (for the layer's compression).
    head: Vec<u8>,
}

/// Every regular file of the archive by path, streamed into blobs of repository `name`;
/// links resolved to their targets.
fn archive_files(
    source: &Path,
    name: &str,
    workspace: &Layouts,
) -> Result<BTreeMap<String, ArchiveFile>, ImageError> {
    let file = std::fs::File::open(source).map_err(ImageError::io("opening", source))?;
    let mut archive = tar::Archive::new(file);
    let mut files = BTreeMap::new();
    let mut links = Vec::new();
    let entries = archive
        .entries()
        .map_err(|err| bad(source, format!("it is not a tar archive: {err}")))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|err| bad(source, format!("it is not a tar archive: {err}")))?;
        let path = clean(
            &entry
                .path()
                .map_err(|err| bad(source, err.to_string()))?
                .to_string_lossy(),
        );
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            if let Ok(Some(target)) = entry.link_name() {
                let target = target.to_string_lossy().into_owned();
                let base = if kind.is_symlink() {
                    path.rsplit_once('/').map_or("", |(d, _)| d).to_string()
                } else {
                    String::new()
                };
                links.push((path, clean(&format!("{base}/{target}"))));
            }
        } else if kind.is_file() {
            let (digest, size, head) = workspace
                .write_blob_from(name, &mut entry)
                .map_err(|err| bad(source, format!("reading `{path}`: {err}")))?;
            files.insert(path, ArchiveFile { digest, size, head });
        }
    }
    for (link, target) in links {
        if let Some(file) = files.get(&target).cloned() {
            files.insert(link, file);
        }
    }
    Ok(files)
}

/// `./a/../b/c` → `b/c`.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    parts.join("/")
}
