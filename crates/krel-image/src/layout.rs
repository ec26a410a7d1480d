//! OCI image layouts on disk, one per repository: `ROOT/<repo>/{oci-layout,index.json,blobs}`.
//!
//! Blobs are written to a temporary name, checked against their digest, and renamed into
//! place; `index.json` is rewritten the same way under a lock on the repository directory, so
//! two writers never lose each other's entries. A tag is the entry's
//! `org.opencontainers.image.ref.name` annotation, as skopeo and umoci read it.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::digest::{sha256_hex, Digest};
use crate::{ImageError, Manifest};

/// The annotation that names a tag in `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A directory of OCI layouts.
#[derive(Clone, Debug)]
pub struct Layouts {
    root: PathBuf,
}

impl Layouts {
    /// The layouts under `root`.
    pub fn new(root: &Path) -> Layouts {
        Layouts {
            root: root.to_path_buf(),
        }
    }

    /// The layout directory of a repository.
    pub fn dir(&self, repo: &str) -> PathBuf {
        self.root.join(repo)
    }

    /// Where a blob of `repo` is (whether or not it exists).
    pub fn blob_path(&self, repo: &str, digest: &Digest) -> PathBuf {
        self.dir(repo)
            .join("blobs")
            .join("sha256")
            .join(digest.hex())
    }

    /// True when `repo` holds the blob.
    pub fn has_blob(&self, repo: &str, digest: &Digest) -> bool {
        self.blob_path(repo, digest).is_file()
    }

    /// Reads a blob, checking its digest.
    pub fn read_blob(&self, repo: &str, digest: &Digest) -> Result<Vec<u8>, ImageError> {
        let bytes = self.read_blob_unchecked(repo, digest)?;
        if sha256_hex(&bytes) != digest.hex() {
            let path = self.blob_path(repo, digest);
            return Err(ImageError::Corrupt {
                what: path.display().to_string(),
                reason: format!("its content does not have the digest {digest}"),
            });
        }
        Ok(bytes)
    }

    /// Reads a blob without checking its digest: for an upload to a registry, which checks it.
    pub(crate) fn read_blob_unchecked(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<Vec<u8>, ImageError> {
        let path = self.blob_path(repo, digest);
        std::fs::read(&path).map_err(ImageError::io("reading", &path))
    }

    /// Writes a blob (nothing when it is there), checking `bytes` against `digest`.
    pub fn write_blob(&self, repo: &str, digest: &Digest, bytes: &[u8]) -> Result<(), ImageError> {
        if sha256_hex(bytes) != digest.hex() {
            return Err(ImageError::Corrupt {
                what: format!("a blob for {repo}"),
                reason: format!("its content does not have the digest {digest}"),
            });
        }
        self.init(repo)?;
        let path = self.blob_path(repo, digest);
        if path.is_file() {
            return Ok(());
        }
        write_atomically(&path, bytes)
    }

    /// Writes a blob read from `reader` (hashed as it streams to a temporary file, then renamed
    /// to its digest); returns the digest, the size and the first bytes (at most 8).
    pub(crate) fn write_blob_from(
        &self,
        repo: &str,
        reader: &mut impl std::io::Read,
    ) -> Result<(Digest, u64, Vec<u8>), ImageError> {
        use sha2::Digest as _;
        self.init(repo)?;
        let dir = self.dir(repo).join("blobs").join("sha256");
        // Registered for removal on a signal before it exists (krel_fs::scratch).
        let (_scratch, mut incoming) = krel_fs::scratch::named_temp_file(&dir, INCOMING)
            .map_err(ImageError::io("creating a temporary file in", &dir))?;
        let temp = incoming.path().to_path_buf();
        let file = incoming.as_file_mut();
        let mut hasher = sha2::Sha256::new();
        let (mut size, mut head) = (0u64, Vec::new());
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            let read = reader
                .read(&mut buffer)
                .map_err(ImageError::io("reading into", &temp))?;
            if read == 0 {
                break;
            }
            let chunk = &buffer[..read];
            if head.len() < 8 {
                head.extend(chunk.iter().take(8 - head.len()));
            }
            hasher.update(chunk);
            file.write_all(chunk)
                .map_err(ImageError::io("writing", &temp))?;
            size += read as u64;
        }
        file.sync_all().map_err(ImageError::io("writing", &temp))?;
        let digest = Digest::of_hash(&hasher.finalize());
        incoming
            .persist(self.blob_path(repo, &digest))
            .map_err(|err| ImageError::io("renaming", &temp)(err.error))?;
        Ok((digest, size, head))
    }

    /// Links (or copies) a blob from another repository of these layouts.
    pub fn mount_blob(&self, repo: &str, from: &str, digest: &Digest) -> Result<bool, ImageError> {
        let source = self.blob_path(from, digest);
        if !source.is_file() {
            return Ok(false);
        }
        self.init(repo)?;
        let target = self.blob_path(repo, digest);
        if target.is_file() {
            return Ok(true);
        }
        // A link appears whole; one another writer made first holds the same content.
        match std::fs::hard_link(&source, &target) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
            // Another file system: a copy, renamed into place.
            Err(_) => {
                let bytes = std::fs::read(&source).map_err(ImageError::io("reading", &source))?;
                write_atomically(&target, &bytes)?;
            }
        }
        Ok(true)
    }

    /// Creates the repository's layout when it is missing.
    fn init(&self, repo: &str) -> Result<(), ImageError> {
        let dir = self.dir(repo);
        let blobs = dir.join("blobs").join("sha256");
        std::fs::create_dir_all(&blobs).map_err(ImageError::io("creating", &blobs))?;
        let marker = dir.join("oci-layout");
        if !marker.is_file() {
            write_atomically(&marker, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        let index = dir.join("index.json");
        if !index.is_file() {
            let empty =
                json!({"schemaVersion": 2, "mediaType": crate::media::OCI_INDEX, "manifests": []});
            write_atomically(&index, &serde_json::to_vec(&empty).unwrap_or_default())?;
        }
        Ok(())
    }

    /// The entries of `index.json` (empty when the repository does not exist).
    fn entries(&self, repo: &str) -> Result<Vec<Value>, ImageError> {
        let path = self.dir(repo).join("index.json");
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(ImageError::io("reading", &path)(err)),
        };
        let index: Value = serde_json::from_slice(&bytes).map_err(|err| ImageError::Corrupt {
            what: path.display().to_string(),
            reason: format!("not JSON: {err}"),
        })?;
        Ok(index["manifests"].as_array().cloned().unwrap_or_default())
    }

    /// The tags of `repo` and the digests they name.
    pub fn tags(&self, repo: &str) -> Result<Vec<(String, Digest)>, ImageError> {
        let mut tags = Vec::new();
        for entry in self.entries(repo)? {
            let name = entry["annotations"][REF_NAME].as_str();
            let digest = entry["digest"]
                .as_str()
                .and_then(|d| d.parse::<Digest>().ok());
            if let (Some(name), Some(digest)) = (name, digest) {
                tags.push((name.to_string(), digest));
            }
        }
        Ok(tags)
    }

    /// The manifest a tag or digest names, when there is one.
    pub fn manifest(&self, repo: &str, reference: &str) -> Result<Option<Manifest>, ImageError> {
        let digest = match reference.parse::<Digest>() {
            Ok(digest) => digest,
            Err(_) => match self.tags(repo)?.into_iter().find(|(t, _)| t == reference) {
                Some((_, digest)) => digest,
                None => return Ok(None),
            },
        };
        if !self.has_blob(repo, &digest) {
            return Ok(None);
        }
        let bytes = self.read_blob(repo, &digest)?;
        Manifest::parse(bytes, None).map(Some)
    }

    /// Stores a manifest and lists it in `index.json`, under `tag` when given (a tag moves
    /// only when the caller allows it; see [`crate::ImageStore::put_manifest`]).
    pub fn put_manifest(
        &self,
        repo: &str,
        manifest: &Manifest,
        tag: Option<&str>,
    ) -> Result<(), ImageError> {
        self.write_blob(repo, &manifest.digest, &manifest.bytes)?;
        let dir = self.dir(repo);
        let lock = std::fs::File::open(&dir).map_err(ImageError::io("opening", &dir))?;
        lock.lock().map_err(ImageError::io("locking", &dir))?;
        let mut entries = self.entries(repo)?;
        let digest = manifest.digest.to_string();
        let named = |entry: &Value| entry["annotations"][REF_NAME].as_str().map(str::to_owned);
        match tag {
            Some(tag) => {
                entries.retain(|entry| named(entry).as_deref() != Some(tag));
                // An untagged entry of the same manifest is replaced by the tagged one.
                entries
                    .retain(|entry| entry["digest"] != digest.as_str() || named(entry).is_some());
            }
            None if entries
                .iter()
                .any(|entry| entry["digest"] == digest.as_str()) =>
            {
                return Ok(())
            }
            None => {}
        }
        let mut entry = json!({
            "mediaType": manifest.media_type,
            "digest": digest,
            "size": manifest.bytes.len(),
        });
        if let Some(tag) = tag {
            entry["annotations"] = json!({ REF_NAME: tag });
        }
        entries.push(entry);
        write_index(&dir, entries)
    }

    /// Removes a tag (its manifest stays, by digest); nothing when there is no such tag.
    pub fn remove_tag(&self, repo: &str, tag: &str) -> Result<(), ImageError> {
        let dir = self.dir(repo);
        if !dir.join("index.json").is_file() {
            return Ok(());
        }
        let lock = std::fs::File::open(&dir).map_err(ImageError::io("opening", &dir))?;
        lock.lock().map_err(ImageError::io("locking", &dir))?;
        let mut entries = self.entries(repo)?;
        let before = entries.len();
        entries.retain(|entry| entry["annotations"][REF_NAME].as_str() != Some(tag));
        if entries.len() == before {
            return Ok(());
        }
        write_index(&dir, entries)
    }

    /// The repositories under the root (directories holding an `index.json`), sorted.
    pub fn repositories(&self) -> Vec<String> {
        let mut repos: Vec<String> = walk_layouts(&self.root)
            .into_iter()
            .filter_map(|dir| {
                let relative = dir.strip_prefix(&self.root).ok()?;
                Some(relative.to_string_lossy().replace('\\', "/"))
            })
            .collect();
        repos.sort();
        repos
    }
}

fn walk_layouts(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if dir.join("index.json").is_file() {
        found.push(dir.to_path_buf());
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() && path.file_name().is_some_and(|n| n != "blobs") {
                found.extend(walk_layouts(&path));
            }
        }
    }
    found
}

/// Writes a layout's `index.json` listing `entries`.
fn write_index(dir: &Path, entries: Vec<Value>) -> Result<(), ImageError> {
    let index =
        json!({"schemaVersion": 2, "mediaType": crate::media::OCI_INDEX, "manifests": entries});
    let bytes = serde_json::to_vec(&index).map_err(|err| ImageError::Corrupt {
        what: dir.display().to_string(),
        reason: err.to_string(),
    })?;
    write_atomically(&dir.join("index.json"), &bytes)
}

/// The prefix of a layout's temporary files (registered for removal on a signal).
const INCOMING: &str = ".krel-incoming-";

/// Writes `bytes` beside `path` and renames them into place (`krel_fs::write_atomic`: synced,
/// registered for removal on a signal, a unique temporary name per writer).
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ImageError> {
    krel_fs::write_atomic(path, bytes, 0o644, krel_fs::Replace::Always)
        .map_err(ImageError::io("writing", path))
}
