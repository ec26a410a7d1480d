//! A yum/dnf repository: every `.rpm` under the root, and `repodata/` describing them.
//!
//! ```text
//! rpm/
//!   x86_64/kubelet-1.29.0-1.1.x86_64.rpm
//!   repodata/repomd.xml, repomd.xml.asc, repomd.xml.key
//!   repodata/<sha256>-primary.xml.gz, -filelists.xml.gz, -other.xml.gz
//! ```
//! The metadata is rebuilt from the packages on disk each time (headers only are read), so a
//! version added beside older ones keeps them listed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use quick_xml::escape::escape;
use rpm::{DependencyFlags, FileType, IndexSignatureTag, PackageMetadata};
use sha2::{Digest, Sha256};

pub use crate::yum_read::{primary_packages, repomd_data, ListedRpm, RepomdData};
use crate::{gzip, write_file, RepoError};

/// What [`write_yum_repo`] wrote.
#[derive(Debug, Clone, Default)]
pub struct YumSummary {
    /// Packages listed.
    pub packages: usize,
    /// Whether `repomd.xml.asc` was written.
    pub signed: bool,
}

struct Entry {
    href: String,
    sha256: String,
    size: u64,
    meta: PackageMetadata,
}

/// The header of an RPM package (`bytes`, read from `path`), as yum metadata is made from it.
pub fn read_metadata(path: &Path, bytes: &[u8]) -> Result<PackageMetadata, RepoError> {
    let bad = |message: String| RepoError::BadPackage {
        path: path.to_path_buf(),
        message: format!("not an RPM package: {message}"),
    };
    // The rpm crate trusts the sizes a header declares (it overflows on some, and allocates
    // whatever a header asks): check them against the file first.
    check_header_sizes(bytes).map_err(bad)?;
    PackageMetadata::parse(&mut &bytes[..]).map_err(|err| bad(err.to_string()))
}

/// The lead (96 bytes), then the signature header (padded to 8 bytes) and the main header:
/// each header's declared index and data must fit in what is left of the file.
fn check_header_sizes(bytes: &[u8]) -> Result<(), String> {
    const LEAD: usize = 96;
    let mut at = LEAD;
    for (which, padded) in [("signature", true), ("main", false)] {
        let header = bytes
            .get(at..at + 16)
            .ok_or_else(|| format!("the file ends before the {which} header"))?;
        if header[..3] != [0x8e, 0xad, 0xe8] {
            return Err(format!("the {which} header has no header magic"));
        }
        let word = |i: usize| {
            u32::from_be_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]) as usize
        };
        let (entries, data) = (word(8), word(12));
        let size = entries
            .checked_mul(16)
            .and_then(|index| index.checked_add(data))
            .and_then(|rest| rest.checked_add(16))
            .filter(|size| at.checked_add(*size).is_some_and(|end| end <= bytes.len()))
            .ok_or_else(|| {
                format!("the {which} header declares {entries} entries and {data} bytes of data, more than the file holds")
            })?;
        at += size;
        if padded {
            at = at.div_ceil(8) * 8;
        }
    }
    Ok(())
}

/// Rebuilds `repodata/` for every RPM under `root`, signed when `key` is given; `date` (Unix
/// seconds) is the revision and timestamps.
pub fn write_yum_repo(
    root: &Path,
    key: Option<&krel_package::SigningKeys>,
    date: u64,
) -> Result<YumSummary, RepoError> {
    if key.is_none() {
        if let Some(signature) = crate::yum_signature(root) {
            return Err(RepoError::SignedWithoutKey { signature });
        }
    }
    let mut rpms: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "rpm"))
        .map(|e| e.into_path())
        .collect();
    rpms.sort();
    let mut entries = Vec::new();
    for path in rpms {
        let bytes = std::fs::read(&path).map_err(RepoError::io("reading", &path))?;
        let meta = read_metadata(&path, &bytes)?;
        let href = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        entries.push(Entry {
            href,
            sha256: hex::encode(Sha256::digest(&bytes)),
            size: bytes.len() as u64,
            meta,
        });
    }
    let bad = |entry: &Entry, err: rpm::Error| RepoError::BadPackage {
        path: root.join(&entry.href),
        message: err.to_string(),
    };
    let mut primary = String::new();
    let mut filelists = String::new();
    let mut other = String::new();
    let count = entries.len();
    let _ = write!(
        primary,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xmlns=\"http://linux.duke.edu/metadata/common\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"{count}\">\n"
    );
    let _ = write!(
        filelists,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<filelists xmlns=\"http://linux.duke.edu/metadata/filelists\" packages=\"{count}\">\n"
    );
    let _ = write!(
        other,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<otherdata xmlns=\"http://linux.duke.edu/metadata/other\" packages=\"{count}\">\n"
    );
    for entry in &entries {
        let m = &entry.meta;
        let name = m.get_name().map_err(|e| bad(entry, e))?;
        let arch = m.get_arch().map_err(|e| bad(entry, e))?;
        let version = m.get_version().map_err(|e| bad(entry, e))?;
        let release = m.get_release().map_err(|e| bad(entry, e))?;
        let epoch = m.get_epoch().unwrap_or(0);
        let text = |value: Result<&str, rpm::Error>| escape(value.unwrap_or("")).into_owned();
        let build_time = m.get_build_time().unwrap_or(date);
        let installed = m.get_installed_size().unwrap_or(0);
        let archive = m
            .signature
            .get_entry_data_as_u32(IndexSignatureTag::RPMSIGTAG_PAYLOADSIZE)
            .map(u64::from)
            .or_else(|_| {
                m.signature
                    .get_entry_data_as_u64(IndexSignatureTag::RPMSIGTAG_LONGARCHIVESIZE)
            })
            .unwrap_or(0);
        let offsets = m.get_package_segment_offsets();
        let nevr = format!(
            "<version epoch=\"{epoch}\" ver=\"{}\" rel=\"{}\"/>",
            escape(version),
            escape(release)
        );
        let _ = write!(
            primary,
            "<package type=\"rpm\">\n  <name>{}</name>\n  <arch>{}</arch>\n  {nevr}\n  <checksum type=\"sha256\" pkgid=\"YES\">{}</checksum>\n  <summary>{}</summary>\n  <description>{}</description>\n  <packager>{}</packager>\n  <url>{}</url>\n  <time file=\"{date}\" build=\"{build_time}\"/>\n  <size package=\"{}\" installed=\"{installed}\" archive=\"{archive}\"/>\n  <location href=\"{}\"/>\n  <format>\n    <rpm:license>{}</rpm:license>\n    <rpm:vendor>{}</rpm:vendor>\n    <rpm:group>{}</rpm:group>\n    <rpm:buildhost>{}</rpm:buildhost>\n    <rpm:sourcerpm>{}</rpm:sourcerpm>\n    <rpm:header-range start=\"{}\" end=\"{}\"/>\n",
            escape(name),
            escape(arch),
            entry.sha256,
            text(m.get_summary()),
            text(m.get_description()),
            text(m.get_packager()),
            text(m.get_url()),
            entry.size,
            escape(entry.href.as_str()),
            text(m.get_license()),
            text(m.get_vendor()),
            text(m.get_group()),
            text(m.get_build_host()),
            text(m.get_source_rpm()),
            offsets.header,
            offsets.payload,
        );
        for (tag, deps) in [
            ("provides", m.get_provides()),
            ("requires", m.get_requires()),
        ] {
            let deps: Vec<rpm::Dependency> = deps
                .unwrap_or_default()
                .into_iter()
                .filter(|d| {
                    !d.name.starts_with("rpmlib(") && !d.flags.contains(DependencyFlags::RPMLIB)
                })
                .collect();
            if deps.is_empty() {
                continue;
            }
            let _ = writeln!(primary, "    <rpm:{tag}>");
            for dep in deps {
                let _ = writeln!(primary, "      {}", dependency_entry(&dep));
            }
            let _ = writeln!(primary, "    </rpm:{tag}>");
        }
        let files = m.get_file_entries().unwrap_or_default();
        let mut listed = String::new();
        for file in &files {
            let path = file.path().to_string_lossy().into_owned();
            let is_dir = file.file_type() == FileType::Dir;
            let element = if is_dir {
                format!("<file type=\"dir\">{}</file>", escape(path.as_str()))
            } else {
                format!("<file>{}</file>", escape(path.as_str()))
            };
            // primary.xml lists the files dependency solvers look for; filelists.xml all of them.
            if path.starts_with("/etc/") || path.contains("/bin/") || path == "/usr/lib/sendmail" {
                let _ = writeln!(primary, "    {element}");
            }
            let _ = writeln!(listed, "    {element}");
        }
        let _ = write!(primary, "  </format>\n</package>\n");
        let _ = write!(
            filelists,
            "<package pkgid=\"{}\" name=\"{}\" arch=\"{}\">\n  {nevr}\n{listed}</package>\n",
            entry.sha256,
            escape(name),
            escape(arch)
        );
        let _ = write!(
            other,
            "<package pkgid=\"{}\" name=\"{}\" arch=\"{}\">\n  {nevr}\n</package>\n",
            entry.sha256,
            escape(name),
            escape(arch)
        );
    }
    primary.push_str("</metadata>\n");
    filelists.push_str("</filelists>\n");
    other.push_str("</otherdata>\n");

    let repodata = root.join("repodata");
    let mut keep = vec!["repomd.xml".to_string()];
    if key.is_some() {
        keep.extend(["repomd.xml.asc".to_string(), "repomd.xml.key".to_string()]);
    }
    let mut repomd = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<repomd xmlns=\"http://linux.duke.edu/metadata/repo\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n  <revision>{date}</revision>\n"
    );
    for (kind, xml) in [
        ("primary", &primary),
        ("filelists", &filelists),
        ("other", &other),
    ] {
        let compressed = gzip(xml.as_bytes());
        let digest = hex::encode(Sha256::digest(&compressed));
        let file = format!("{digest}-{kind}.xml.gz");
        write_file(&repodata.join(&file), &compressed)?;
        let _ = write!(
            repomd,
            "  <data type=\"{kind}\">\n    <checksum type=\"sha256\">{digest}</checksum>\n    <open-checksum type=\"sha256\">{}</open-checksum>\n    <location href=\"repodata/{file}\"/>\n    <timestamp>{date}</timestamp>\n    <size>{}</size>\n    <open-size>{}</open-size>\n  </data>\n",
            hex::encode(Sha256::digest(xml.as_bytes())),
            compressed.len(),
            xml.len()
        );
        keep.push(file);
    }
    repomd.push_str("</repomd>\n");
    write_file(&repodata.join("repomd.xml"), repomd.as_bytes())?;
    let signed = match key {
        Some(key) => {
            write_file(
                &repodata.join("repomd.xml.asc"),
                key.detached(repomd.as_bytes())?.as_bytes(),
            )?;
            write_file(
                &repodata.join("repomd.xml.key"),
                key.public_keys_armored()?.as_bytes(),
            )?;
            true
        }
        None => false,
    };
    // Metadata of earlier runs is no longer referenced.
    for entry in std::fs::read_dir(&repodata).map_err(RepoError::io("listing", &repodata))? {
        let entry = entry.map_err(RepoError::io("listing", &repodata))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !keep.contains(&name) {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(RepoError::io("removing stale metadata", &path))?;
        }
    }
    Ok(YumSummary {
        packages: count,
        signed,
    })
}

/// Every package the repository's current `primary` metadata lists (none without metadata).
pub fn listed(root: &Path) -> Result<Vec<ListedRpm>, RepoError> {
    let Some(xml) = primary_xml(root)? else {
        return Ok(Vec::new());
    };
    primary_packages(&xml).map_err(|message| RepoError::BadPackage {
        path: root.join("repodata"),
        message: format!("primary metadata: {message}: fix or remove repodata/"),
    })
}

/// Whether the repository's current `primary` metadata lists `href` (`x86_64/…rpm`): a
/// published package, as opposed to one left by a run stopped before the metadata was written.
pub fn is_listed(root: &Path, href: &str) -> Result<bool, RepoError> {
    Ok(primary_xml(root)?
        .is_some_and(|xml| xml.contains(&format!("<location href=\"{}\"/>", escape(href)))))
}

/// The current `primary` metadata, uncompressed (`None` when there is no `repomd.xml`).
fn primary_xml(root: &Path) -> Result<Option<String>, RepoError> {
    use std::io::Read;
    let repomd_path = root.join("repodata/repomd.xml");
    let repomd = match std::fs::read_to_string(&repomd_path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(RepoError::io("reading", &repomd_path)(err)),
    };
    let bad = |message: String| RepoError::BadPackage {
        path: repomd_path.clone(),
        message: format!("{message}: fix or remove repodata/"),
    };
    let primary = repomd_data(&repomd)
        .map_err(&bad)?
        .into_iter()
        .find(|data| data.kind == "primary" && !data.href.is_empty())
        .ok_or_else(|| bad("it names no primary metadata".into()))?;
    let path = root.join(&primary.href);
    let compressed = std::fs::read(&path).map_err(RepoError::io("reading", &path))?;
    let mut xml = String::new();
    flate2::read::GzDecoder::new(compressed.as_slice())
        .read_to_string(&mut xml)
        .map_err(RepoError::io("decompressing", &path))?;
    Ok(Some(xml))
}

fn dependency_entry(dep: &rpm::Dependency) -> String {
    let flags =
        dep.flags & (DependencyFlags::LESS | DependencyFlags::GREATER | DependencyFlags::EQUAL);
    let flag = if flags == DependencyFlags::LESS | DependencyFlags::EQUAL {
        "LE"
    } else if flags == DependencyFlags::GREATER | DependencyFlags::EQUAL {
        "GE"
    } else if flags == DependencyFlags::EQUAL {
        "EQ"
    } else if flags == DependencyFlags::LESS {
        "LT"
    } else if flags == DependencyFlags::GREATER {
        "GT"
    } else {
        return format!("<rpm:entry name=\"{}\"/>", escape(dep.name.as_str()));
    };
    // `[epoch:]version[-release]`
    let (epoch, rest) = match dep.version.split_once(':') {
        Some((epoch, rest)) if epoch.chars().all(|c| c.is_ascii_digit()) => (epoch, rest),
        _ => ("0", dep.version.as_str()),
    };
    let (ver, rel) = match rest.rsplit_once('-') {
        Some((ver, rel)) => (ver, Some(rel)),
        None => (rest, None),
    };
    let mut entry = format!(
        "<rpm:entry name=\"{}\" flags=\"{flag}\" epoch=\"{epoch}\" ver=\"{}\"",
        escape(dep.name.as_str()),
        escape(ver)
    );
    if let Some(rel) = rel {
        let _ = write!(entry, " rel=\"{}\"", escape(rel));
    }
    entry.push_str("/>");
    entry
}
