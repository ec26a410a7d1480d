//! An apt repository: `pool/` holds the `.deb` files, `dists/<channel>/` the indexes.
//!
//! ```text
//! deb/
//!   Release.key                                    public key (when signed)
//!   pool/main/k/kubelet/kubelet_1.29.0-1.1_amd64.deb
//!   dists/<channel>/Release, InRelease, Release.gpg
//!   dists/<channel>/main/binary-<arch>/Packages, Packages.gz
//! ```
//! A source line: `deb [signed-by=/etc/apt/keyrings/krel.asc] <url>/deb <channel> main`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use md5::{Digest as _, Md5};
use sha2::Sha256;

use crate::{gzip, write_file, RepoError};

/// The component every package goes in.
pub const COMPONENT: &str = "main";

/// What [`write_apt_repo`] wrote.
#[derive(Debug, Clone, Default)]
pub struct AptSummary {
    /// Packages listed for the channel, over every architecture.
    pub packages: usize,
    /// Architectures (Debian names).
    pub architectures: Vec<String>,
    /// Whether `InRelease` and `Release.gpg` were written.
    pub signed: bool,
}

/// The pool path of a package: `pool/main/k/kubelet/<file>` (`lib*` packages use four letters).
pub fn pool_path(package: &str, file_name: &str) -> String {
    let prefix = if package.starts_with("lib") && package.len() > 3 {
        &package[..4]
    } else {
        &package[..1]
    };
    format!("pool/{COMPONENT}/{prefix}/{package}/{file_name}")
}

/// Adds `debs` (paths under `root`, in the pool) to channel `channel` of the repository at
/// `root`, keeping the packages already listed, then rewrites the indexes and `Release`, signed
/// when `key` is given. `date` (Unix seconds) goes in `Release`.
pub fn write_apt_repo(
    root: &Path,
    channel: &str,
    debs: &[PathBuf],
    key: Option<&krel_package::SigningKeys>,
    date: u64,
) -> Result<AptSummary, RepoError> {
    let dist = root.join("dists").join(channel);
    if key.is_none() {
        if let Some(signature) = crate::apt_signature(root) {
            return Err(RepoError::SignedWithoutKey { signature });
        }
    }
    // Existing stanzas, by architecture, keyed by Filename.
    let mut by_arch: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let component_dir = dist.join(COMPONENT);
    if component_dir.is_dir() {
        for entry in
            std::fs::read_dir(&component_dir).map_err(RepoError::io("listing", &component_dir))?
        {
            let entry = entry.map_err(RepoError::io("listing", &component_dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(arch) = name.strip_prefix("binary-") else {
                continue;
            };
            let packages = entry.path().join("Packages");
            if !packages.is_file() {
                continue;
            }
            let text =
                std::fs::read_to_string(&packages).map_err(RepoError::io("reading", &packages))?;
            let stanzas = by_arch.entry(arch.to_string()).or_default();
            for stanza in text.split("\n\n").map(str::trim).filter(|s| !s.is_empty()) {
                let filename = field(stanza, "Filename").ok_or_else(|| RepoError::BadPackage {
                    path: packages.clone(),
                    message: "a stanza has no Filename: fix or remove this index".into(),
                })?;
                stanzas.insert(filename.to_string(), format!("{stanza}\n"));
            }
        }
    }
    for deb in debs {
        let full = root.join(deb);
        let bytes = std::fs::read(&full).map_err(RepoError::io("reading", &full))?;
        let control = read_control(&full, &bytes)?;
        let arch = field(&control, "Architecture")
            .ok_or_else(|| RepoError::BadPackage {
                path: full.clone(),
                message: "its control file has no Architecture".into(),
            })?
            .to_string();
        let filename = deb.to_string_lossy().replace('\\', "/");
        let stanza = format!(
            "{}\nFilename: {filename}\nSize: {}\nMD5sum: {}\nSHA256: {}\n",
            control.trim_end(),
            bytes.len(),
            hex::encode(Md5::digest(&bytes)),
            hex::encode(Sha256::digest(&bytes)),
        );
        by_arch.entry(arch).or_default().insert(filename, stanza);
    }

    let mut index_files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut packages = 0;
    for (arch, stanzas) in &by_arch {
        packages += stanzas.len();
        let text: Vec<&str> = stanzas.values().map(String::as_str).collect();
        let text = text.join("\n");
        let rel = format!("{COMPONENT}/binary-{arch}/Packages");
        index_files.push((format!("{rel}.gz"), gzip(text.as_bytes())));
        index_files.push((rel, text.into_bytes()));
    }
    index_files.sort_by(|a, b| a.0.cmp(&b.0));
    for (rel, bytes) in &index_files {
        write_file(&dist.join(rel), bytes)?;
    }

    let architectures: Vec<String> = by_arch.keys().cloned().collect();
    let release = release_file(channel, &architectures, &index_files, date);
    // Release first, then its signatures: a reader never sees a signature of other content
    // for longer than one rename.
    write_file(&dist.join("Release"), release.as_bytes())?;
    let signed = if let Some(key) = key {
        write_file(&dist.join("InRelease"), key.clearsign(&release)?.as_bytes())?;
        write_file(
            &dist.join("Release.gpg"),
            key.detached(release.as_bytes())?.as_bytes(),
        )?;
        write_file(
            &root.join("Release.key"),
            key.public_keys_armored()?.as_bytes(),
        )?;
        true
    } else {
        false
    };
    Ok(AptSummary {
        packages,
        architectures,
        signed,
    })
}

fn release_file(
    channel: &str,
    architectures: &[String],
    index_files: &[(String, Vec<u8>)],
    date: u64,
) -> String {
    let date = chrono::DateTime::from_timestamp(i64::try_from(date).unwrap_or(0), 0)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S UTC");
    let mut release = format!(
        "Origin: krel\nLabel: krel\nSuite: {channel}\nCodename: {channel}\nDate: {date}\nArchitectures: {}\nComponents: {COMPONENT}\nDescription: packages built by krel kubepkg\n",
        architectures.join(" ")
    );
    release.push_str("MD5Sum:\n");
    for (rel, bytes) in index_files {
        release.push_str(&format!(
            " {} {:>16} {rel}\n",
            hex::encode(Md5::digest(bytes)),
            bytes.len()
        ));
    }
    release.push_str("SHA256:\n");
    for (rel, bytes) in index_files {
        release.push_str(&format!(
            " {} {:>16} {rel}\n",
            hex::encode(Sha256::digest(bytes)),
            bytes.len()
        ));
    }
    release
}

/// Whether any channel's index under `root` lists `rel` (`pool/main/k/kubelet/…deb`): a
/// published package, as opposed to one left by a run stopped before its indexes were written.
pub fn is_listed(root: &Path, rel: &str) -> Result<bool, RepoError> {
    let dists = root.join("dists");
    if !dists.is_dir() {
        return Ok(false);
    }
    let wanted = format!("Filename: {rel}");
    for entry in walkdir::WalkDir::new(&dists)
        .into_iter()
        .filter_map(Result::ok)
    {
        if entry.file_name() != "Packages" {
            continue;
        }
        let text = std::fs::read_to_string(entry.path())
            .map_err(RepoError::io("reading", entry.path()))?;
        if text.lines().any(|line| line.trim_end() == wanted) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The value of `name` in a deb822 stanza (single-line fields).
pub fn field<'a>(stanza: &'a str, name: &str) -> Option<&'a str> {
    stanza.lines().find_map(|line| {
        line.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::trim)
    })
}

/// The `control` file of a `.deb` (from `control.tar.gz`, `.xz`, `.zst` or plain `.tar`).
pub fn read_control(path: &Path, bytes: &[u8]) -> Result<String, RepoError> {
    let bad = |message: String| RepoError::BadPackage {
        path: path.to_path_buf(),
        message,
    };
    let mut archive = ar::Archive::new(bytes);
    while let Some(entry) = archive.next_entry() {
        let mut entry = entry.map_err(|err| bad(format!("not a Debian package: {err}")))?;
        let name = String::from_utf8_lossy(entry.header().identifier())
            .trim_end_matches('/')
            .to_string();
        if !name.starts_with("control.tar") {
            continue;
        }
        let mut compressed = Vec::new();
        entry
            .read_to_end(&mut compressed)
            .map_err(|err| bad(format!("reading {name}: {err}")))?;
        let reader: Box<dyn Read> = match name.as_str() {
            "control.tar.gz" => Box::new(flate2::read::GzDecoder::new(compressed.as_slice())),
            "control.tar.xz" => Box::new(liblzma::read::XzDecoder::new(compressed.as_slice())),
            "control.tar.zst" => Box::new(
                zstd::stream::read::Decoder::new(compressed.as_slice())
                    .map_err(|err| bad(format!("reading {name}: {err}")))?,
            ),
            "control.tar" => Box::new(compressed.as_slice()),
            other => return Err(bad(format!("unsupported member {other}"))),
        };
        let mut tar = tar::Archive::new(reader);
        for file in tar
            .entries()
            .map_err(|err| bad(format!("reading {name}: {err}")))?
        {
            let mut file = file.map_err(|err| bad(format!("reading {name}: {err}")))?;
            let is_control = file
                .path()
                .map(|p| p.to_string_lossy().trim_start_matches("./") == "control")
                .unwrap_or(false);
            if is_control {
                let mut control = String::new();
                file.read_to_string(&mut control)
                    .map_err(|err| bad(format!("reading control: {err}")))?;
                return Ok(control);
            }
        }
        return Err(bad(format!("{name} has no control file")));
    }
    Err(bad("no control.tar member: not a Debian package".into()))
}
