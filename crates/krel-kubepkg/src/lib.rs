//! `krel kubepkg`: resolve a spec (a file, or the built-in Kubernetes spec) for a version, some
//! architectures and formats; fetch binaries from local release trees or buckets; build every
//! package in parallel; and, with a channel, file them into an apt and a yum repository with
//! signed metadata.
//!
//! Nothing is half-written: packages are built in a scratch directory inside `out`, and moved
//! into place only when every one of them built; a package listed in a repository's indexes
//! with other bytes is refused before anything moves (published files never change under one
//! name), while an unlisted one, left by a run stopped before its indexes, is replaced. One run
//! at a time holds the output directory's lock.
//!
//! Repository layout (`--repo`), one repository per channel and minor version, as pkgs.k8s.io
//! lays them out (`core:/stable:/v1.32/deb/`):
//! ```text
//! <out>/core:/<channel>:/v1.29/deb/{Release.key, pool/…, dists/<channel>/…}
//! <out>/core:/<channel>:/v1.29/rpm/{<arch>/*.rpm, repodata/…}
//! ```

pub mod mirror;
pub mod promote;
pub mod verify;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use krel_package::spec::Content;
use krel_package::xz::BlockStore;
use krel_package::{
    Arch, Compression, Format, PackageInput, Resolve, SigningKeys, Spec, SpecError,
};
use krel_storage::{Location, Store, StoreEnv};
use sha2::{Digest, Sha256};

/// The built-in Kubernetes spec.
pub const KUBERNETES_SPEC: &str = include_str!("kubernetes.yaml");

/// Where the spec comes from.
#[derive(Debug, Clone)]
pub enum SpecSource {
    /// A YAML file.
    File(PathBuf),
    /// The built-in Kubernetes spec.
    Kubernetes,
}

impl SpecSource {
    /// Reads and checks the spec.
    pub fn load(&self) -> Result<Spec, SpecError> {
        match self {
            SpecSource::File(path) => Spec::load(path),
            SpecSource::Kubernetes => {
                Spec::parse(Path::new("<built-in kubernetes spec>"), KUBERNETES_SPEC)
            }
        }
    }
}

/// A release channel: which repository of a minor version a package goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// Official releases.
    Stable,
    /// alpha, beta and rc.
    Prerelease,
    /// Builds between releases.
    Nightly,
}

impl Channel {
    /// The channel's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Stable => "stable",
            Channel::Prerelease => "prerelease",
            Channel::Nightly => "nightly",
        }
    }

    /// The channel's directory, as pkgs.k8s.io names it: `core:/stable:`.
    pub fn dir(self) -> String {
        format!("core:/{}:", self.as_str())
    }

    /// The channel a repository's path or URL names (`…/core:/prerelease:/v1.30`), if any.
    pub fn named_in(location: &str) -> Option<Channel> {
        [Channel::Stable, Channel::Prerelease, Channel::Nightly]
            .into_iter()
            .find(|channel| {
                let dir = format!("{}/", channel.dir());
                location.contains(&dir) || location.trim_end_matches('/').ends_with(&channel.dir())
            })
    }

    /// The channel of a version: prerelease for alpha, beta and rc, else stable.
    pub fn of(version: &krel_package::PackageVersion) -> Channel {
        if version.is_prerelease() {
            Channel::Prerelease
        } else {
            Channel::Stable
        }
    }
}

/// Where binaries come from: a local directory or a bucket URL (`gs://`, `s3://`, `file://`).
#[derive(Debug, Clone)]
pub enum SourceRoot {
    /// A local directory.
    Dir(PathBuf),
    /// A bucket location.
    Bucket(Location),
}

impl SourceRoot {
    /// `gs://…`, `s3://…` and `file://…` are buckets; anything else is a directory.
    pub fn parse(text: &str) -> Result<SourceRoot, KubepkgError> {
        if text.contains("://") {
            text.parse::<Location>()
                .map(SourceRoot::Bucket)
                .map_err(|err| KubepkgError::Usage(format!("--source {text}: {err}")))
        } else {
            Ok(SourceRoot::Dir(PathBuf::from(text)))
        }
    }
}

/// A `krel kubepkg` run.
#[derive(Debug)]
pub struct KubepkgRequest {
    /// The spec.
    pub spec: SpecSource,
    /// Only these packages (empty: all).
    pub packages: Vec<String>,
    /// The component version.
    pub version: String,
    /// The package revision.
    pub revision: String,
    /// Architectures.
    pub arches: Vec<Arch>,
    /// Formats.
    pub formats: Vec<Format>,
    /// Per-package component versions.
    pub package_versions: Vec<(String, String)>,
    /// Where binaries come from, searched in order.
    pub sources: Vec<SourceRoot>,
    /// Output directory.
    pub out: PathBuf,
    /// Payload compression.
    pub compression: Compression,
    /// Signs RPMs and repository metadata.
    pub keys: Option<SigningKeys>,
    /// File the packages into repositories of this channel (`--repo`).
    pub repo: Option<Channel>,
    /// Timestamp of files and builds (`SOURCE_DATE_EPOCH`, else now).
    pub mtime: u64,
    /// Packages built at once.
    pub jobs: usize,
}

/// What a run reports while it works (the binary draws it).
pub trait Progress: Sync {
    /// `bytes` of files are about to be compressed, once each, for the packages that hold them.
    fn compressing(&self, bytes: u64) {
        let _ = bytes;
    }
    /// `bytes` more of them are compressed.
    fn compressed(&self, bytes: u64) {
        let _ = bytes;
    }
    /// `total` packages are about to be built.
    fn start(&self, total: usize);
    /// One package is built.
    fn built(&self, file_name: &str, bytes: u64);
    /// Repository metadata is being written.
    fn indexing(&self, what: &str);
}

/// One package written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BuiltPackage {
    /// Package name.
    pub name: String,
    /// Format.
    pub format: &'static str,
    /// Go architecture name.
    pub arch: String,
    /// Version as the format writes it.
    pub version: String,
    /// Path of the file.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the file.
    pub sha256: String,
    /// Whether an identical file was already there.
    pub unchanged: bool,
    /// Whether it replaced an unlisted package of an interrupted run.
    pub replaced_orphan: bool,
}

/// One repository written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RepoSummary {
    /// `deb` or `rpm`.
    pub format: &'static str,
    /// The repository root.
    pub root: PathBuf,
    /// Packages it lists.
    pub packages: usize,
    /// Whether its metadata is signed.
    pub signed: bool,
}

/// What a run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KubepkgSummary {
    /// Packages written.
    pub packages: Vec<BuiltPackage>,
    /// Repositories written (`--repo`).
    pub repositories: Vec<RepoSummary>,
    /// The current key's fingerprint (it signs the RPMs), when signed.
    pub fingerprint: Option<String>,
    /// Every key that signed the repository metadata, current first.
    pub fingerprints: Vec<String>,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum KubepkgError {
    /// Bad arguments.
    #[error("{0}")]
    Usage(String),
    /// A bucket source holds none of the files asked of it.
    #[error("--source {url} holds none of the {} file(s) asked of it ({})", asked.len(), asked.iter().take(3).cloned().collect::<Vec<_>>().join(", "))]
    EmptySource {
        /// The source.
        url: String,
        /// What it was asked for.
        asked: Vec<String>,
    },
    /// The spec is wrong.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A package could not be built.
    #[error(transparent)]
    Package(#[from] krel_package::PackageError),
    /// Repository metadata could not be written.
    #[error(transparent)]
    Repo(#[from] krel_pkgrepo::RepoError),
    /// A bucket source could not be read.
    #[error("reading {url}: {source}")]
    Source {
        /// The object.
        url: String,
        /// The cause.
        #[source]
        source: krel_storage::StorageError,
    },
    /// A package of the same name is in the repository with other content.
    #[error("{} is already in the repository with other content (sha256 {existing}, this build {built})", path.display())]
    Republish {
        /// The file.
        path: PathBuf,
        /// Its digest.
        existing: String,
        /// This build's digest.
        built: String,
    },
    /// Another run holds the output's lock.
    #[error("another `krel kubepkg` is writing to this output ({}): it holds the directory's lock", .0.display())]
    Busy(PathBuf),
    /// A local file operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: String,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl KubepkgError {
    fn io(what: &str, path: &Path) -> impl FnOnce(std::io::Error) -> KubepkgError {
        let what = what.to_string();
        let path = path.to_path_buf();
        move |source| KubepkgError::Io { what, path, source }
    }
}

/// What a run takes from outside besides its request: the runtime bucket sources are
/// downloaded on, and the credentials and endpoints of those buckets. The caller (the binary)
/// builds both once; the library reads no environment.
pub struct Effects<'a> {
    /// The async runtime for bucket downloads.
    pub runtime: &'a tokio::runtime::Runtime,
    /// Credentials and endpoints for gs:// and s3:// sources.
    pub store_env: &'a StoreEnv,
}

/// Runs `krel kubepkg`.
pub fn run(
    request: &KubepkgRequest,
    effects: &Effects<'_>,
    progress: &dyn Progress,
) -> Result<KubepkgSummary, KubepkgError> {
    if request.arches.is_empty() || request.formats.is_empty() {
        return Err(KubepkgError::Usage(
            "give at least one architecture and one format".into(),
        ));
    }
    let spec = request.spec.load()?;
    let run_version = krel_package::PackageVersion::new(&request.version, &request.revision)
        .map_err(|err| KubepkgError::Usage(format!("--version/--revision: {err}")))?;
    if let (Some(channel), None) = (request.repo, &request.keys) {
        let root = request
            .out
            .join(channel.dir())
            .join(run_version.minor_series());
        if let Some(signature) = krel_pkgrepo::signature_of(&root.join("deb"), &root.join("rpm")) {
            return Err(krel_pkgrepo::RepoError::SignedWithoutKey { signature }.into());
        }
    }
    let empty_sources: Vec<PathBuf> = Vec::new();
    let base = Resolve {
        version: &request.version,
        revision: &request.revision,
        arches: &request.arches,
        formats: &request.formats,
        packages: &request.packages,
        package_versions: &request.package_versions,
        sources: &empty_sources,
        mtime: request.mtime,
    };
    let wanted = spec.wanted_sources(&base)?;
    // Bucket sources are copied to a temporary directory; `out` is not touched until the
    // spec has resolved completely.
    let (_downloads_registered, downloads) =
        krel_fs::scratch::temp_dir(&std::env::temp_dir(), "krel-kubepkg-sources-").map_err(
            KubepkgError::io("creating a temporary directory in", &std::env::temp_dir()),
        )?;
    let roots = materialize_sources(&request.sources, &wanted, downloads.path(), effects)?;
    let inputs = spec.resolve(&Resolve {
        sources: &roots,
        ..base
    })?;
    if inputs.is_empty() {
        return Err(KubepkgError::Usage(
            "nothing to build: no package of the spec is built for the architectures asked for"
                .into(),
        ));
    }
    std::fs::create_dir_all(&request.out).map_err(KubepkgError::io("creating", &request.out))?;
    let _lock = lock_out(&request.out)?;
    // Holding the lock, any scratch directory here is a dead run's: never published.
    krel_fs::scratch::sweep(&request.out, SCRATCH_PREFIX, std::time::Duration::ZERO);
    // Scratch space inside `out`, so moves into place are renames on one file system.
    let (_registered, scratch) = krel_fs::scratch::temp_dir(&request.out, SCRATCH_PREFIX).map_err(
        KubepkgError::io("creating a scratch directory in", &request.out),
    )?;

    let built = build_all(&inputs, request, scratch.path(), progress)?;

    // Where each package goes, and a check that nothing published would change.
    let repo_roots = request.repo.map(|channel| {
        request
            .out
            .join(channel.dir())
            .join(run_version.minor_series())
    });
    let mut placed = Vec::new();
    for (input, (scratch_path, digest, size)) in inputs.iter().zip(&built) {
        let dest = match (&repo_roots, input.format) {
            (None, _) => request.out.join(input.file_name()),
            (Some(root), Format::Deb) => root.join("deb").join(krel_pkgrepo::apt::pool_path(
                &input.name,
                &input.file_name(),
            )),
            (Some(root), Format::Rpm) => root
                .join("rpm")
                .join(input.arch.rpm())
                .join(input.file_name()),
        };
        let existing = if dest.is_file() {
            Some(sha256_file(&dest)?)
        } else {
            None
        };
        let mut replaced_orphan = false;
        if let (Some(existing), Some(root)) = (&existing, &repo_roots) {
            if existing != digest {
                // Published (listed in an index): never changes. Not listed: left by a run
                // stopped between moving its packages and writing the indexes; replace it.
                if is_published(root, input.format, &dest)? {
                    return Err(KubepkgError::Republish {
                        path: dest,
                        existing: existing.clone(),
                        built: digest.clone(),
                    });
                }
                replaced_orphan = true;
            }
        }
        let unchanged = existing.as_deref() == Some(digest.as_str());
        placed.push((
            input,
            scratch_path,
            dest,
            digest.clone(),
            *size,
            unchanged,
            replaced_orphan,
        ));
    }
    let mut packages = Vec::new();
    for (input, scratch_path, dest, sha256, size, unchanged, replaced_orphan) in placed {
        if !unchanged {
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent).map_err(KubepkgError::io("creating", parent))?;
            }
            std::fs::rename(scratch_path, &dest)
                .map_err(KubepkgError::io("moving the package to", &dest))?;
        }
        packages.push(BuiltPackage {
            name: input.name.clone(),
            format: input.format.as_str(),
            arch: input.arch.go().to_string(),
            version: match input.format {
                Format::Deb => input.version.deb(),
                Format::Rpm => format!("{}-{}", input.version.upstream(), input.version.revision()),
            },
            path: dest,
            size,
            sha256,
            unchanged,
            replaced_orphan,
        });
    }

    let mut repositories = Vec::new();
    if let (Some(root), Some(channel)) = (&repo_roots, request.repo) {
        let date = request.mtime;
        if request.formats.contains(&Format::Deb) {
            let deb_root = root.join("deb");
            progress.indexing(&format!("apt repository {}", deb_root.display()));
            let debs: Vec<PathBuf> = packages
                .iter()
                .filter(|p| p.format == "deb")
                .filter_map(|p| p.path.strip_prefix(&deb_root).ok().map(Path::to_path_buf))
                .collect();
            let summary = krel_pkgrepo::apt::write_apt_repo(
                &deb_root,
                channel.as_str(),
                &debs,
                request.keys.as_ref(),
                date,
            )?;
            repositories.push(RepoSummary {
                format: "deb",
                root: deb_root,
                packages: summary.packages,
                signed: summary.signed,
            });
        }
        if request.formats.contains(&Format::Rpm) {
            let rpm_root = root.join("rpm");
            progress.indexing(&format!("yum repository {}", rpm_root.display()));
            let summary =
                krel_pkgrepo::yum::write_yum_repo(&rpm_root, request.keys.as_ref(), date)?;
            repositories.push(RepoSummary {
                format: "rpm",
                root: rpm_root,
                packages: summary.packages,
                signed: summary.signed,
            });
        }
    }
    Ok(KubepkgSummary {
        packages,
        repositories,
        fingerprint: request
            .keys
            .as_ref()
            .map(|keys| keys.current().fingerprint()),
        fingerprints: request
            .keys
            .as_ref()
            .map(SigningKeys::fingerprints)
            .unwrap_or_default(),
    })
}

/// A package built in the scratch directory: its path, SHA-256 and size.
type Built = (PathBuf, String, u64);

/// Whether the package at `dest` is listed in its repository's metadata.
fn is_published(root: &Path, format: Format, dest: &Path) -> Result<bool, KubepkgError> {
    let format_root = root.join(format.as_str());
    let rel = dest
        .strip_prefix(&format_root)
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .unwrap_or_default();
    Ok(match format {
        Format::Deb => krel_pkgrepo::apt::is_listed(&format_root, &rel)?,
        Format::Rpm => krel_pkgrepo::yum::is_listed(&format_root, &rel)?,
    })
}

/// The scratch directory of a run, inside `out`.
const SCRATCH_PREFIX: &str = ".krel-kubepkg-";

/// Holds a lock on the `out` directory itself (flock on its descriptor) for the run, so two
/// runs never write one output, or one repository's indexes, at once. Nothing is left in the
/// tree that `krel push` would upload.
pub(crate) fn lock_out(out: &Path) -> Result<std::fs::File, KubepkgError> {
    let lock = std::fs::File::open(out).map_err(KubepkgError::io("opening", out))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => Err(KubepkgError::Busy(out.to_path_buf())),
        Err(std::fs::TryLockError::Error(err)) => Err(KubepkgError::io("locking", out)(err)),
    }
}

/// Builds every input with `request.jobs` threads; returns what was built, in input order.
/// With xz, every large file is compressed first, once, `request.jobs` blocks at a time (a
/// kubelet goes into a deb and an RPM, each as the same blocks).
fn build_all(
    inputs: &[PackageInput],
    request: &KubepkgRequest,
    scratch: &Path,
    progress: &dyn Progress,
) -> Result<Vec<Built>, KubepkgError> {
    let dir = scratch.join("built");
    krel_fs::scratch::create_dir_all(&dir).map_err(KubepkgError::io("creating", &dir))?;
    let store = match request.compression {
        Compression::Xz => Some(compress_ahead(inputs, request.jobs, scratch, progress)?),
        _ => None,
    };
    progress.start(inputs.len());
    let failed = AtomicBool::new(false);
    let results = krel_fs::parallel_map(inputs, request.jobs, |input| {
        if failed.load(Ordering::Relaxed) {
            return None;
        }
        let shared = store
            .as_ref()
            .map(|s| s as &dyn krel_package::xz::SharedBlocks);
        let result = build_one(input, request, &dir, shared, progress);
        if result.is_err() {
            failed.store(true, Ordering::Relaxed);
        }
        Some(result)
    });
    let mut built = Vec::with_capacity(inputs.len());
    // A package skipped after another failed is `None`; that failure is returned.
    for result in results.into_iter().flatten() {
        built.push(result?);
    }
    if built.len() != inputs.len() {
        return Err(KubepkgError::Usage("a package build stopped early".into()));
    }
    Ok(built)
}

/// Builds one package into `dir`.
fn build_one(
    input: &PackageInput,
    request: &KubepkgRequest,
    dir: &Path,
    shared: Option<&dyn krel_package::xz::SharedBlocks>,
    progress: &dyn Progress,
) -> Result<Built, KubepkgError> {
    let bytes = krel_package::build(
        input,
        request.compression,
        request.keys.as_ref().map(SigningKeys::current),
        shared,
    )?;
    let path = dir.join(input.file_name());
    krel_fs::write_atomic(&path, &bytes, 0o644, krel_fs::Replace::Always)
        .map_err(KubepkgError::io("writing", &path))?;
    progress.built(&input.file_name(), bytes.len() as u64);
    Ok((
        path,
        hex::encode(Sha256::digest(&bytes)),
        bytes.len() as u64,
    ))
}

/// Compresses every large file the packages hold, once each, in blocks on `jobs` threads
/// (largest first), into a store under `scratch` the package writers take them from.
fn compress_ahead(
    inputs: &[PackageInput],
    jobs: usize,
    scratch: &Path,
    progress: &dyn Progress,
) -> Result<BlockStore, KubepkgError> {
    let dir = scratch.join("blocks");
    krel_fs::scratch::create_dir_all(&dir).map_err(KubepkgError::io("creating", &dir))?;
    let store = BlockStore::new(&dir);
    let mut paths: Vec<&Path> = inputs
        .iter()
        .flat_map(|input| &input.files)
        .filter_map(|file| match &file.content {
            Content::Path(path) => Some(path.as_path()),
            Content::Bytes(_) => None,
        })
        .collect();
    paths.sort();
    paths.dedup();
    let mut chunks = Vec::new();
    for (path, planned) in paths
        .iter()
        .zip(krel_fs::parallel_map(&paths, jobs, |path| store.plan(path)))
    {
        chunks.extend(planned.map_err(KubepkgError::io("reading", path))?);
    }
    chunks.sort_by_key(|chunk| std::cmp::Reverse(chunk.len()));
    let total: u64 = chunks.iter().map(|chunk| chunk.len() as u64).sum();
    if total > 0 {
        progress.compressing(total);
    }
    let failed = AtomicBool::new(false);
    for result in krel_fs::parallel_map(&chunks, jobs, |chunk| {
        if failed.load(Ordering::Relaxed) {
            return Ok(());
        }
        let result = store.compress(chunk);
        match &result {
            Ok(()) => progress.compressed(chunk.len() as u64),
            Err(_) => failed.store(true, Ordering::Relaxed),
        }
        result.map_err(|err| (chunk.path().to_path_buf(), err))
    }) {
        result.map_err(|(path, err)| KubepkgError::io("compressing", &path)(err))?;
    }
    Ok(store)
}

/// Local roots to search, in order: directories as given, buckets as scratch copies of the
/// `wanted` files they hold.
fn materialize_sources(
    sources: &[SourceRoot],
    wanted: &[String],
    cache: &Path,
    effects: &Effects<'_>,
) -> Result<Vec<PathBuf>, KubepkgError> {
    let mut roots = Vec::new();
    for (index, source) in sources.iter().enumerate() {
        match source {
            SourceRoot::Dir(dir) => {
                if !dir.is_dir() {
                    return Err(KubepkgError::Usage(format!(
                        "--source {}: no such directory (a bucket source is a gs://, s3:// or file:// URL)",
                        dir.display()
                    )));
                }
                roots.push(dir.clone());
            }
            SourceRoot::Bucket(location) => {
                let root = cache.join(index.to_string());
                effects.runtime.block_on(async {
                    let store =
                        Store::open(location, effects.store_env)
                            .await
                            .map_err(|source| KubepkgError::Source {
                                url: location.to_string(),
                                source,
                            })?;
                    let (mut asked, mut found) = (Vec::new(), 0);
                    for rel in wanted {
                        if roots
                            .iter()
                            .any(|earlier: &PathBuf| earlier.join(rel).is_file())
                        {
                            continue;
                        }
                        let key = location.key(rel);
                        asked.push(rel.clone());
                        found += usize::from(store.download(&key, &root.join(rel)).await.map_err(
                            |source| KubepkgError::Source {
                                url: location.object_url(&key),
                                source,
                            },
                        )?);
                    }
                    // A bucket source that holds none of what it was asked for is a wrong URL
                    // (or a missing bucket), not a list of missing files.
                    if found == 0 && !asked.is_empty() {
                        return Err(KubepkgError::EmptySource {
                            url: location.to_string(),
                            asked,
                        });
                    }
                    Ok::<(), KubepkgError>(())
                })?;
                roots.push(root);
            }
        }
    }
    Ok(roots)
}

/// The SHA-256 of a file, streamed (packages can be large).
pub(crate) fn sha256_file(path: &Path) -> Result<String, KubepkgError> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(KubepkgError::io("reading", path))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 256 * 1024];
    loop {
        match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buffer[..n]),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(KubepkgError::io("reading", path)(err)),
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

impl krel_error::Diagnose for KubepkgError {
    fn kind(&self) -> krel_error::ErrorKind {
        if self.is_refusal() {
            krel_error::ErrorKind::Refused
        } else if let KubepkgError::Repo(err) = self {
            err.kind()
        } else if !matches!(self, KubepkgError::Io { .. } | KubepkgError::Source { .. }) {
            krel_error::ErrorKind::Usage
        } else {
            krel_error::ErrorKind::Unexpected
        }
    }

    /// True when the state of the world says no, as opposed to a failure to do the work.
    fn is_refusal(&self) -> bool {
        matches!(self, KubepkgError::Republish { .. } | KubepkgError::Busy(_))
    }

    /// What a user can do about it.
    fn hint(&self) -> Option<String> {
        match self {
            KubepkgError::Republish { .. } => Some(
                "published packages never change under one name: bump --revision, leave the package out with --packages when it did not change, or rebuild the same bytes with the SOURCE_DATE_EPOCH of the first build".into(),
            ),
            KubepkgError::Busy(_) => Some("wait for it to finish, then run again".into()),
            KubepkgError::EmptySource { .. } => Some("check that the bucket exists and the prefix is the release's (gs://BUCKET/release/vX.Y.Z holds bin/linux/<arch>/…); nothing was built".into()),
            KubepkgError::Spec(err) => err.hint.map(String::from),
            KubepkgError::Repo(err) => err.hint(),
            KubepkgError::Package(krel_package::PackageError::Key { .. }) => Some(
                "--sign-key takes an ASCII-armored secret key: gpg --armor --export-secret-keys KEYID > key.asc".into(),
            ),
            _ => None,
        }
    }
}
