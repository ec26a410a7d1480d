//! `krel kubepkg verify`: the check release managers did by eye, on a published repository of
//! one channel and minor (`…/core:/stable:/v1.29`): the expected packages are there for every
//! architecture, the indexes are signed by the expected key and agree with the files, and
//! every package's dependencies resolve within the repository plus a base system. Every problem
//! is listed.

use std::path::Path;

use krel_package::{Constraint, Dependency, PublicKeys};
use serde::Serialize;

use crate::{sha256_file, KubepkgError};

/// What to check.
#[derive(Debug)]
pub struct VerifyRequest<'a> {
    /// The repository root (`…/core:/stable:/v1.29`, holding `deb/` and `rpm/`).
    pub root: &'a Path,
    /// What messages call it: its path, or the URL it was read from.
    pub name: &'a str,
    /// The keys the indexes must be signed by.
    pub keys: &'a PublicKeys,
    /// Package → upstream version expected (`kubelet` → `1.29.0`); `None`: any version.
    pub expected: Vec<(String, Option<String>)>,
    /// Go architecture names expected (`amd64`, ...).
    pub arches: Vec<krel_package::Arch>,
    /// Packages a base system provides (dependencies outside the repository).
    pub base: Vec<String>,
}

/// What was checked, and what is wrong.
#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    /// Signatures verified.
    pub signatures: usize,
    /// Files checked against an index.
    pub files: usize,
    /// Packages whose dependencies were resolved.
    pub packages: usize,
    /// Every problem found.
    pub problems: Vec<String>,
}

/// The packages a base system provides, whatever its distribution calls them: dependencies
/// outside the repository that count as met.
pub const BASE_SYSTEM: &[&str] = &[
    "iptables",
    "mount",
    "util-linux",
    "systemd",
    "libc6",
    "glibc",
    "conntrack",
    "conntrack-tools",
    "iproute2",
    "iproute",
    "ethtool",
    "socat",
    "ebtables",
];

/// One package an index lists.
pub(crate) struct Listed {
    name: String,
    version: String,
    arch: String,
    depends: Vec<String>,
    /// Its path under the format's root (apt's Filename, yum's href).
    file: String,
}

impl Listed {
    /// Its path under the format's root.
    pub(crate) fn file(&self) -> &str {
        &self.file
    }
}

/// What a repository (`deb/` and `rpm/` under `repo`) lists, by format, unchecked.
pub(crate) fn listed_in(repo: &Path) -> Result<Vec<(&'static str, Listed)>, KubepkgError> {
    let mut found = Vec::new();
    let indexes = walkdir::WalkDir::new(repo.join("deb/dists"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name() == "Packages");
    for index in indexes {
        let text = std::fs::read_to_string(index.path()).unwrap_or_default();
        found.extend(parse_packages(&text).into_iter().map(|(p, _)| ("deb", p)));
    }
    for rpm in krel_pkgrepo::yum::listed(&repo.join("rpm"))? {
        found.push(("rpm", listed_rpm(rpm)));
    }
    Ok(found)
}

/// The dependencies of the packages `promoted` (format, file) lists that nothing in `after`
/// (what the target will list) or the base system (with `extra_base`) provides, each told as a
/// problem.
pub(crate) fn unresolved(
    after: &[(&'static str, Listed)],
    promoted: &[(&str, String)],
    extra_base: &[String],
) -> Vec<String> {
    let base: Vec<String> = BASE_SYSTEM
        .iter()
        .map(|s| s.to_string())
        .chain(extra_base.iter().cloned())
        .collect();
    let mut problems = Vec::new();
    for (format, package) in after {
        if !promoted
            .iter()
            .any(|(f, file)| f == format && *file == package.file)
        {
            continue;
        }
        let same_format: Vec<&Listed> = after
            .iter()
            .filter(|(f, _)| f == format)
            .map(|(_, p)| p)
            .collect();
        for dependency in &package.depends {
            let met = dependency
                .split('|')
                .any(|alternative| resolves_in(alternative.trim(), package, &same_format, &base));
            if !met {
                problems.push(format!(
                    "{format}: {} {} ({}) depends on `{dependency}`, which the target would not hold",
                    package.name, package.version, package.arch
                ));
            }
        }
    }
    problems.sort();
    problems.dedup();
    problems
}

/// Runs every check; the report lists the problems (an empty list: the repository is right).
pub fn verify_repo(request: &VerifyRequest<'_>) -> Result<VerifyReport, KubepkgError> {
    let mut report = VerifyReport::default();
    let deb = request.root.join("deb");
    let rpm = request.root.join("rpm");
    if !deb.is_dir() && !rpm.is_dir() {
        report
            .problems
            .push(format!("{} holds no deb/ or rpm/ repository", request.name));
        return Ok(report);
    }
    if deb.is_dir() {
        let listed = verify_apt(&deb, request.keys, &mut report)?;
        check_listed(
            "apt",
            &listed,
            request,
            |arch| arch.deb().to_string(),
            &mut report,
        );
    }
    if rpm.is_dir() {
        let listed = verify_yum(&rpm, request.keys, &mut report)?;
        check_listed(
            "yum",
            &listed,
            request,
            |arch| arch.rpm().to_string(),
            &mut report,
        );
    }
    report.problems.sort();
    report.problems.dedup();
    Ok(report)
}

/// Expected packages present per architecture, and every dependency resolvable.
fn check_listed(
    kind: &str,
    listed: &[Listed],
    request: &VerifyRequest<'_>,
    arch_name: impl Fn(krel_package::Arch) -> String,
    report: &mut VerifyReport,
) {
    for arch in &request.arches {
        let arch = arch_name(*arch);
        for (name, version) in &request.expected {
            let found = listed.iter().any(|p| {
                p.name == *name
                    && (p.arch == arch || p.arch == "all" || p.arch == "noarch")
                    && version.as_ref().is_none_or(|v| upstream(&p.version) == *v)
            });
            if !found {
                report.problems.push(format!(
                    "{kind}: {name} {} for {arch} is missing",
                    version.as_deref().unwrap_or("(any version)")
                ));
            }
        }
    }
    for package in listed {
        report.packages += 1;
        for dependency in &package.depends {
            let resolved = dependency
                .split('|')
                .any(|alternative| resolves(alternative.trim(), package, listed, &request.base));
            if !resolved {
                report.problems.push(format!(
                    "{kind}: {} {} ({}) depends on `{dependency}`, which neither the repository nor the base system provides",
                    package.name, package.version, package.arch
                ));
            }
        }
    }
}

/// `1.29.0-1.1` → `1.29.0`; `1.30.0~rc.1` → `1.30.0-rc.1` (semantic version spelling).
fn upstream(version: &str) -> String {
    let without_revision = match version.rsplit_once('-') {
        Some((upstream, _)) if !upstream.is_empty() => upstream,
        _ => version,
    };
    without_revision.replacen('~', "-", 1)
}

fn resolves(text: &str, package: &Listed, listed: &[Listed], base: &[String]) -> bool {
    let listed: Vec<&Listed> = listed.iter().collect();
    resolves_in(text, package, &listed, base)
}

fn resolves_in(text: &str, package: &Listed, listed: &[&Listed], base: &[String]) -> bool {
    // What rpm adds by itself: files of the base system (`/bin/sh`), rpm's own features, and
    // the package's own `config(NAME)`.
    if text.starts_with('/')
        || text.starts_with("rpmlib(")
        || text.starts_with(&format!("config({})", package.name))
    {
        return true;
    }
    let Ok(dependency) = Dependency::parse(text) else {
        return false;
    };
    if base.contains(&dependency.name) {
        return true;
    }
    let candidates = listed.iter().filter(|p| {
        p.name == dependency.name
            && (p.arch == package.arch || p.arch == "all" || p.arch == "noarch")
    });
    let Some((op, version)) = &dependency.version else {
        return candidates.count() > 0;
    };
    let Ok(constraint) = Constraint::parse(&format!("{} {}", op.rpm(), upstream(version))) else {
        return candidates.count() > 0;
    };
    candidates.into_iter().any(|candidate| {
        semver::Version::parse(&upstream(&candidate.version))
            .map(|v| constraint.matches(&v))
            .unwrap_or(true)
    })
}

/// The apt repository: each suite's `InRelease` and `Release.gpg` signed by the keys,
/// `Release`'s digests of the indexes, and each index entry's file and digest.
fn verify_apt(
    root: &Path,
    keys: &PublicKeys,
    report: &mut VerifyReport,
) -> Result<Vec<Listed>, KubepkgError> {
    let mut listed = Vec::new();
    let dists = root.join("dists");
    let suites: Vec<_> = std::fs::read_dir(&dists)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    if suites.is_empty() {
        report
            .problems
            .push("apt: deb/dists has no suite".to_string());
    }
    for suite in suites {
        let name = suite
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let read = |file: &str| std::fs::read(suite.join(file)).ok();
        let release = read("Release").unwrap_or_default();
        match read("InRelease").and_then(|t| keys.verify_clearsigned(&String::from_utf8_lossy(&t)))
        {
            Some(text)
                if text.replace("\r\n", "\n").trim_end()
                    == String::from_utf8_lossy(&release).trim_end() =>
            {
                report.signatures += 1
            }
            Some(_) => report.problems.push(format!(
                "apt: dists/{name}/InRelease does not sign the Release beside it"
            )),
            None => report.problems.push(format!(
                "apt: dists/{name}/InRelease is missing or not signed by the expected key"
            )),
        }
        match read("Release.gpg") {
            Some(sig) if keys.verify_detached(&release, &String::from_utf8_lossy(&sig)) => {
                report.signatures += 1
            }
            _ => report.problems.push(format!(
                "apt: dists/{name}/Release.gpg is missing or not signed by the expected key"
            )),
        }
        let sha256 = release_sha256(&String::from_utf8_lossy(&release));
        for (rel, digest) in &sha256 {
            report.files += 1;
            let path = suite.join(rel);
            match sha256_file(&path) {
                Ok(actual) if actual == *digest => {}
                Ok(_) => report.problems.push(format!(
                    "apt: dists/{name}/{rel} does not match Release (tampered index?)"
                )),
                Err(_) => report.problems.push(format!(
                    "apt: dists/{name}/{rel}, listed in Release, is missing"
                )),
            }
            if rel.ends_with("/Packages") {
                listed.extend(apt_packages(root, &path, report));
            }
        }
    }
    Ok(listed)
}

/// The `SHA256:` section of a `Release`: (index path, digest).
pub(crate) fn release_sha256(text: &str) -> Vec<(String, String)> {
    text.split("SHA256:\n")
        .nth(1)
        .unwrap_or_default()
        .lines()
        .take_while(|l| l.starts_with(' '))
        .filter_map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            (parts.len() == 3).then(|| (parts[2].to_string(), parts[0].to_string()))
        })
        .collect()
}

/// The entries of a `Packages` index, each checked against its file.
fn apt_packages(root: &Path, index: &Path, report: &mut VerifyReport) -> Vec<Listed> {
    let text = std::fs::read_to_string(index).unwrap_or_default();
    let mut listed = Vec::new();
    for (package, digest) in parse_packages(&text) {
        let file = &package.file;
        report.files += 1;
        match sha256_file(&root.join(file)) {
            Ok(actual) if actual == digest => {}
            Ok(_) => report
                .problems
                .push(format!("apt: {file} does not match its index")),
            Err(_) => report
                .problems
                .push(format!("apt: {file}, listed in the index, is missing")),
        }
        listed.push(package);
    }
    listed
}

/// The stanzas of a `Packages` index, with each file's SHA-256.
fn parse_packages(text: &str) -> Vec<(Listed, String)> {
    text.split("\n\n")
        .filter(|s| !s.trim().is_empty())
        .map(|stanza| {
            let field = |name| {
                krel_pkgrepo::apt::field(stanza, name)
                    .unwrap_or_default()
                    .to_string()
            };
            let package = Listed {
                name: field("Package"),
                version: field("Version"),
                arch: field("Architecture"),
                depends: field("Depends")
                    .split(',')
                    .map(|d| d.trim().to_string())
                    .filter(|d| !d.is_empty())
                    .collect(),
                file: field("Filename"),
            };
            (package, field("SHA256"))
        })
        .collect()
}

/// A package of yum's `primary`, as listed.
fn listed_rpm(rpm: krel_pkgrepo::yum::ListedRpm) -> Listed {
    Listed {
        arch: rpm.href.split('/').next().unwrap_or_default().to_string(),
        version: format!("{}-{}", rpm.version, rpm.release),
        name: rpm.name,
        depends: rpm.requires,
        file: rpm.href,
    }
}

/// The yum repository: `repomd.xml.asc` signed by the keys, `repomd.xml`'s digests of the
/// metadata, and each package against `primary`.
fn verify_yum(
    root: &Path,
    keys: &PublicKeys,
    report: &mut VerifyReport,
) -> Result<Vec<Listed>, KubepkgError> {
    let repomd = std::fs::read(root.join("repodata/repomd.xml")).unwrap_or_default();
    match std::fs::read(root.join("repodata/repomd.xml.asc")) {
        Ok(sig)
            if !repomd.is_empty()
                && keys.verify_detached(&repomd, &String::from_utf8_lossy(&sig)) =>
        {
            report.signatures += 1
        }
        _ => report.problems.push(
            "yum: repodata/repomd.xml.asc is missing or not signed by the expected key".into(),
        ),
    }
    let text = String::from_utf8_lossy(&repomd);
    let entries = match krel_pkgrepo::yum::repomd_data(&text) {
        Ok(entries) => entries,
        Err(err) => {
            report
                .problems
                .push(format!("yum: repodata/repomd.xml cannot be read: {err}"));
            Vec::new()
        }
    };
    for data in entries {
        report.files += 1;
        let href = &data.href;
        match sha256_file(&root.join(href)) {
            Ok(actual) if Some(&actual) == data.sha256.as_ref() => {}
            _ => report.problems.push(format!(
                "yum: {href} does not match repomd.xml (tampered or missing)"
            )),
        }
    }
    let mut listed = Vec::new();
    for rpm in krel_pkgrepo::yum::listed(root)? {
        report.files += 1;
        match sha256_file(&root.join(&rpm.href)) {
            Ok(actual) if actual == rpm.sha256 => {}
            Ok(_) => report
                .problems
                .push(format!("yum: {} does not match its metadata", rpm.href)),
            Err(_) => report.problems.push(format!(
                "yum: {}, listed in the metadata, is missing",
                rpm.href
            )),
        }
        listed.push(listed_rpm(rpm));
    }
    Ok(listed)
}
