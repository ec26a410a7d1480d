//! `krel kubepkg promote`: a version's packages copied from one channel's repositories to
//! another's of the same minor (`core:/prerelease:/v1.29` → `core:/stable:/v1.29`), byte for
//! byte: every package is the file its source index lists, checked by digest before and after
//! the copy, never rebuilt; then the target's indexes are written (keeping what they list) and
//! signed. [`plan_promote`] reads and checks everything and changes nothing; [`execute_promote`]
//! carries the plan out.

use std::path::{Path, PathBuf};

use krel_package::SigningKeys;
use serde::Serialize;

use crate::{sha256_file, Channel, KubepkgError};

/// What to promote.
#[derive(Debug, Clone)]
pub struct PromoteRequest {
    /// The tree holding the channels (`--out`).
    pub out: PathBuf,
    /// The channel the packages are in.
    pub from: Channel,
    /// The channel they go to.
    pub to: Channel,
    /// The minor series (`v1.29`).
    pub minor: String,
    /// Upstream versions to promote (`1.29.0`; `1.4.0` for kubernetes-cni, ...).
    pub versions: Vec<String>,
    /// Whether a signing key was given: without one, a signed repository is refused.
    pub signing: bool,
    /// Packages a base system provides besides [`crate::verify::BASE_SYSTEM`].
    pub base: Vec<String>,
}

/// One package to copy.
#[derive(Debug, Clone, Serialize)]
pub struct PromoteCopy {
    /// `deb` or `rpm`.
    pub format: &'static str,
    /// Where it is.
    pub from: PathBuf,
    /// Where it goes.
    pub to: PathBuf,
    /// Its path under the repository (`pool/…`, `x86_64/…`).
    pub rel: String,
    /// Its SHA-256, as its index lists it.
    pub sha256: String,
}

/// The promotion, decided.
#[derive(Debug, Clone, Serialize)]
pub struct PromotePlan {
    /// The source repositories (`…/core:/prerelease:/v1.29`).
    pub from: PathBuf,
    /// The target repositories.
    pub to: PathBuf,
    /// The target channel (the apt suite).
    pub channel: Channel,
    /// Packages to copy.
    pub copies: Vec<PromoteCopy>,
    /// Packages the target already has, byte for byte.
    pub present: Vec<PathBuf>,
}

/// Reads both channels' repositories and plans the copies; nothing is written. Refused: no
/// package of the versions in the source, a package whose bytes differ from its source index,
/// or a target that holds the same name with other bytes.
pub fn plan_promote(request: &PromoteRequest) -> Result<PromotePlan, KubepkgError> {
    let from = request.out.join(request.from.dir()).join(&request.minor);
    let to = request.out.join(request.to.dir()).join(&request.minor);
    if !request.signing {
        let signed = krel_pkgrepo::signature_of(&to.join("deb"), &to.join("rpm"))
            .or_else(|| krel_pkgrepo::signature_of(&from.join("deb"), &from.join("rpm")));
        if let Some(signature) = signed {
            return Err(krel_pkgrepo::RepoError::SignedWithoutKey { signature }.into());
        }
    }
    let mut listed = deb_listed(&from.join("deb"), &request.versions)?;
    for rpm in krel_pkgrepo::yum::listed(&from.join("rpm"))? {
        if request.versions.contains(&rpm.version) {
            listed.push(("rpm", rpm.href, rpm.sha256, rpm.version));
        }
    }
    for version in &request.versions {
        if !listed.iter().any(|listed| listed.3 == *version) {
            return Err(KubepkgError::Usage(format!(
                "{} lists no package of version {version}: nothing was promoted (the first --version is the Kubernetes version, whose minor picks the repositories; the others are versions of packages in them, such as kubernetes-cni's)",
                from.display(),
            )));
        }
    }
    check_complete(&from, &to, &listed, &request.base)?;
    let mut plan = PromotePlan {
        from: from.clone(),
        to: to.clone(),
        channel: request.to,
        copies: Vec::new(),
        present: Vec::new(),
    };
    for (format, rel, sha256, _) in listed {
        let source = from.join(format).join(&rel);
        let actual = sha256_file(&source)?;
        if actual != sha256 {
            return Err(KubepkgError::Usage(format!(
                "{} does not match its index (sha256 {actual}, the index says {sha256}): the published repository is damaged; nothing was promoted",
                source.display()
            )));
        }
        let target = to.join(format).join(&rel);
        if target.is_file() {
            let existing = sha256_file(&target)?;
            if existing == sha256 {
                plan.present.push(target);
                continue;
            }
            return Err(KubepkgError::Republish {
                path: target,
                existing,
                built: sha256,
            });
        }
        plan.copies.push(PromoteCopy {
            format,
            from: source,
            to: target,
            rel,
            sha256,
        });
    }
    Ok(plan)
}

/// Refuses a promotion after which a promoted package would depend on something the target
/// does not hold (kubelet without the kubernetes-cni it needs): users could not install it.
fn check_complete(
    from: &Path,
    to: &Path,
    promoted: &[ListedFile],
    base: &[String],
) -> Result<(), KubepkgError> {
    let promoted: Vec<(&str, String)> = promoted
        .iter()
        .map(|(format, rel, _, _)| (*format, rel.clone()))
        .collect();
    let mut after = crate::verify::listed_in(to)?;
    for (format, package) in crate::verify::listed_in(from)? {
        let is_promoted = promoted
            .iter()
            .any(|(f, file)| *f == format && *file == package.file());
        let in_target = after
            .iter()
            .any(|(f, p)| *f == format && p.file() == package.file());
        if is_promoted && !in_target {
            after.push((format, package));
        }
    }
    let problems = crate::verify::unresolved(&after, &promoted, base);
    if problems.is_empty() {
        return Ok(());
    }
    Err(KubepkgError::Usage(format!(
        "after this promotion {} could not install what it lists; nothing was promoted:\n  - {}\n(promote the packages they need too: another --version for kubernetes-cni or cri-tools, as {} lists them)",
        to.display(),
        problems.join("\n  - "),
        from.display()
    )))
}

/// A package an index lists: format, path under the format's root, SHA-256, upstream version.
type ListedFile = (&'static str, String, String, String);

/// The debs of `versions` the apt indexes under `root` list.
fn deb_listed(root: &Path, versions: &[String]) -> Result<Vec<ListedFile>, KubepkgError> {
    let mut listed = Vec::new();
    let dists = root.join("dists");
    if !dists.is_dir() {
        return Ok(listed);
    }
    let mut indexes: Vec<PathBuf> = walkdir::WalkDir::new(&dists)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name() == "Packages")
        .map(|entry| entry.path().to_path_buf())
        .collect();
    indexes.sort();
    for index in indexes {
        let text = std::fs::read_to_string(&index).map_err(KubepkgError::io("reading", &index))?;
        for stanza in text.split("\n\n") {
            let field = |name| krel_pkgrepo::apt::field(stanza, name);
            let (Some(version), Some(file), Some(sha256)) =
                (field("Version"), field("Filename"), field("SHA256"))
            else {
                continue;
            };
            let upstream = version.rsplit_once('-').map_or(version, |(u, _)| u);
            let entry = (
                "deb",
                file.to_string(),
                sha256.to_string(),
                upstream.to_string(),
            );
            if versions.iter().any(|v| v == upstream) && !listed.contains(&entry) {
                listed.push(entry);
            }
        }
    }
    Ok(listed)
}

/// Carries a plan out under the output's lock: each package copied to a temporary name,
/// checked against its digest and renamed into place, then the target's apt and yum indexes
/// written (keeping what they list) and signed with `keys`.
pub fn execute_promote(
    out: &Path,
    plan: &PromotePlan,
    keys: Option<&SigningKeys>,
    date: u64,
) -> Result<(), KubepkgError> {
    let _lock = crate::lock_out(out)?;
    for copy in &plan.copies {
        let parent = copy.to.parent().unwrap_or(out);
        std::fs::create_dir_all(parent).map_err(KubepkgError::io("creating", parent))?;
        // Registered for removal on a signal before it exists (krel_fs::scratch).
        let (_scratch, mut temp) = krel_fs::scratch::named_temp_file(parent, ".krel-promote-")
            .map_err(KubepkgError::io("creating a temporary file in", parent))?;
        let mut source =
            std::fs::File::open(&copy.from).map_err(KubepkgError::io("reading", &copy.from))?;
        std::io::copy(&mut source, temp.as_file_mut())
            .map_err(KubepkgError::io("copying to", temp.path()))?;
        if sha256_file(temp.path())? != copy.sha256 {
            return Err(KubepkgError::Usage(format!(
                "the copy of {} does not have its digest: nothing more was promoted",
                copy.from.display()
            )));
        }
        let temp_path = temp.path().to_path_buf();
        temp.persist(&copy.to)
            .map_err(|err| KubepkgError::io("renaming", &temp_path)(err.error))?;
    }
    // The debs copied now and those already there: a run that died after its copies but
    // before the indexes left debs the target's index does not list yet (indexing one twice
    // is harmless: stanzas are keyed by file name).
    let deb_root = plan.to.join("deb");
    let debs: Vec<PathBuf> = plan
        .copies
        .iter()
        .filter(|c| c.format == "deb")
        .map(|c| PathBuf::from(&c.rel))
        .chain(
            plan.present
                .iter()
                .filter_map(|p| p.strip_prefix(&deb_root).ok().map(Path::to_path_buf)),
        )
        .collect();
    if !debs.is_empty() || plan.to.join("deb").is_dir() {
        krel_pkgrepo::apt::write_apt_repo(
            &plan.to.join("deb"),
            plan.channel.as_str(),
            &debs,
            keys,
            date,
        )?;
    }
    if plan.copies.iter().any(|c| c.format == "rpm") || plan.to.join("rpm").is_dir() {
        krel_pkgrepo::yum::write_yum_repo(&plan.to.join("rpm"), keys, date)?;
    }
    Ok(())
}
