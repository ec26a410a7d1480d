//! Debian packages: `debian-binary`, `control.tar.*` (control, md5sums, conffiles, maintainer
//! scripts) and `data.tar.*`, in an ar archive, written without dpkg-deb.
//!
//! Every entry is owned by root with the input's timestamp, in sorted order, so the same inputs
//! give the same bytes.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::io::{self, Read, Write};

use md5::{Digest, Md5};

use crate::compression::{Compression, PayloadWriter};
use crate::spec::{Content, PackageInput};
use crate::xz::SharedBlocks;
use crate::PackageError;

/// Builds the `.deb` for `input` and returns its bytes; large file contents come from `shared`
/// when they were compressed ahead of time (xz).
pub fn build_deb(
    input: &PackageInput,
    compression: Compression,
    shared: Option<&dyn SharedBlocks>,
) -> Result<Vec<u8>, PackageError> {
    let fail = failing(input);
    let mut data = Vec::new();
    let (md5sums, installed_bytes) = write_data(
        input,
        compression
            .payload_writer(&mut data, shared)
            .map_err(|e| fail("compressing data.tar", e))?,
    )?;
    let control = write_control(input, compression, md5sums, installed_bytes / 1024)?;

    let mut deb = Vec::with_capacity(data.len() + control.len() + 512);
    {
        let mut ar = ar::Builder::new(&mut deb);
        let ext = compression.extension();
        for (name, bytes) in [
            ("debian-binary".to_string(), b"2.0\n".as_slice()),
            (format!("control.tar.{ext}"), control.as_slice()),
            (format!("data.tar.{ext}"), data.as_slice()),
        ] {
            let mut header = ar::Header::new(name.into_bytes(), bytes.len() as u64);
            header.set_mtime(input.mtime);
            header.set_mode(0o100644);
            ar.append(&header, bytes)
                .map_err(|e| fail("writing the ar archive", e))?;
        }
    }
    Ok(deb)
}

/// `control.tar`: `control`, `md5sums`, `conffiles` and the maintainer scripts.
fn write_control(
    input: &PackageInput,
    compression: Compression,
    md5sums: String,
    installed_kib: u64,
) -> Result<Vec<u8>, PackageError> {
    let fail = failing(input);
    let mut control = Vec::new();
    let mut compressor = compression
        .writer(&mut control)
        .map_err(|e| fail("compressing control.tar", e))?;
    let mut tar = tar::Builder::new(&mut compressor);
    append_dir(&mut tar, "/", input.mtime).map_err(|e| fail("writing control.tar", e))?;
    let mut members: Vec<(String, u32, Vec<u8>)> = vec![
        (
            "control".into(),
            0o644,
            control_file(input, installed_kib).into_bytes(),
        ),
        ("md5sums".into(), 0o644, md5sums.into_bytes()),
    ];
    let conffiles: String = input
        .files
        .iter()
        .filter(|f| f.config)
        .map(|f| format!("{}\n", f.dest))
        .collect();
    if !conffiles.is_empty() {
        members.push(("conffiles".into(), 0o644, conffiles.into_bytes()));
    }
    for (slot, script) in &input.scripts {
        members.push((slot.to_string(), 0o755, script.clone().into_bytes()));
    }
    members.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, mode, bytes) in members {
        let mut header = header(tar::EntryType::Regular, mode, input.mtime);
        header.set_size(bytes.len() as u64);
        append_named(
            &mut tar,
            &mut header,
            &format!("./{name}"),
            bytes.as_slice(),
        )
        .map_err(|e| fail("writing control.tar", e))?;
    }
    tar.into_inner()
        .map_err(|e| fail("writing control.tar", e))?;
    compressor
        .finish()
        .map_err(|e| fail("compressing control.tar", e))?;
    Ok(control)
}

/// Writes `data.tar` through `payload`: directories, then files in sorted order. Returns the
/// `md5sums` member and the installed size in bytes.
fn write_data(
    input: &PackageInput,
    payload: PayloadWriter<'_>,
) -> Result<(String, u64), PackageError> {
    let fail = failing(input);
    let docs = doc_files(input);
    let mut md5sums = String::new();
    let mut installed_bytes = 0u64;
    let mut tar = tar::Builder::new(payload);
    for dir in directories(input) {
        append_dir(&mut tar, &dir, input.mtime).map_err(|e| fail("writing data.tar", e))?;
    }
    let mut entries: Vec<(&str, u32, Entry<'_>)> = input
        .files
        .iter()
        .map(|f| (f.dest.as_str(), f.mode, Entry::Spec(&f.content)))
        .chain(
            docs.iter()
                .map(|(dest, bytes)| (dest.as_str(), 0o644, Entry::Doc(bytes))),
        )
        .collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    for (dest, mode, entry) in entries {
        let bytes: Cow<'_, [u8]> = match entry {
            Entry::Spec(Content::Path(path)) => Cow::Owned(
                std::fs::read(path).map_err(|e| fail(&format!("reading {}", path.display()), e))?,
            ),
            Entry::Spec(Content::Bytes(bytes)) => Cow::Borrowed(bytes.as_slice()),
            Entry::Doc(bytes) => Cow::Borrowed(bytes),
        };
        append_file(&mut tar, dest, mode, input.mtime, &bytes)
            .map_err(|e| fail(&format!("adding {dest}"), e))?;
        md5sums.push_str(&format!(
            "{}  {}\n",
            hex::encode(Md5::digest(&bytes)),
            &dest[1..]
        ));
        installed_bytes += (bytes.len() as u64).div_ceil(1024) * 1024;
    }
    tar.into_inner()
        .map_err(|e| fail("writing data.tar", e))?
        .finish()
        .map_err(|e| fail("compressing data.tar", e))?;
    Ok((md5sums, installed_bytes))
}

/// Appends a regular file: its header, then its content through the payload writer (so xz can
/// give it blocks of its own), then the padding to 512 bytes.
fn append_file(
    tar: &mut tar::Builder<PayloadWriter<'_>>,
    dest: &str,
    mode: u32,
    mtime: u64,
    bytes: &[u8],
) -> io::Result<()> {
    let mut header = header(tar::EntryType::Regular, mode, mtime);
    header.set_size(bytes.len() as u64);
    append_named(tar, &mut header, &format!(".{dest}"), io::empty())?;
    let payload = tar.get_mut();
    payload.content(bytes)?;
    let padding = (512 - bytes.len() % 512) % 512;
    payload.write_all(&[0; 512][..padding])
}

/// The error of an I/O step while building `input`.
fn failing(input: &PackageInput) -> impl Fn(&str, io::Error) -> PackageError + '_ {
    |what, err| PackageError::Io {
        package: input.file_name(),
        what: what.to_string(),
        source: err,
    }
}

enum Entry<'a> {
    Spec(&'a Content),
    Doc(&'a [u8]),
}

fn header(kind: tar::EntryType, mode: u32, mtime: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(mtime);
    // Names are plain ASCII, so these cannot fail.
    let _ = header.set_username("root");
    let _ = header.set_groupname("root");
    header.set_size(0);
    header
}

fn append_dir<W: Write>(tar: &mut tar::Builder<W>, dir: &str, mtime: u64) -> io::Result<()> {
    let mut header = header(tar::EntryType::Directory, 0o755, mtime);
    let path = if dir == "/" {
        "./".to_string()
    } else {
        format!(".{dir}/")
    };
    append_named(tar, &mut header, &path, io::empty())
}

/// Appends an entry named exactly `path` (`./usr/bin/kubelet`, as `dpkg-deb --build` names
/// them; the tar crate's `append_data` would drop the leading `./`). A name too long for the
/// header's 100 bytes goes through `append_data` and its long-name extension instead.
fn append_named<W: Write>(
    tar: &mut tar::Builder<W>,
    header: &mut tar::Header,
    path: &str,
    data: impl Read,
) -> io::Result<()> {
    let bytes = path.as_bytes();
    if bytes.len() >= 100 {
        return tar.append_data(header, path, data);
    }
    let name = &mut header.as_old_mut().name;
    name.fill(0);
    name[..bytes.len()].copy_from_slice(bytes);
    header.set_cksum();
    tar.append(header, data)
}

/// Every directory the payload needs, parents first: `/`, `/usr`, `/usr/bin`...
fn directories(input: &PackageInput) -> BTreeSet<String> {
    let mut dirs = BTreeSet::from(["/".to_string()]);
    let doc_dir = format!("/usr/share/doc/{}/x", input.name);
    let paths = input
        .files
        .iter()
        .map(|f| f.dest.as_str())
        .chain(std::iter::once(doc_dir.as_str()))
        .map(|dest| {
            dest.rsplit_once('/')
                .map(|(parent, _)| parent)
                .unwrap_or("")
        })
        .chain(input.directories.iter().map(String::as_str));
    for path in paths {
        let mut current = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            current.push('/');
            current.push_str(part);
            dirs.insert(current.clone());
        }
    }
    dirs
}

/// `/usr/share/doc/<name>/copyright` and `changelog.Debian.gz`, which Debian policy asks of every package.
fn doc_files(input: &PackageInput) -> Vec<(String, Vec<u8>)> {
    let doc = format!("/usr/share/doc/{}", input.name);
    let mut copyright = format!(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: {}\n",
        input.name
    );
    if let Some(homepage) = &input.homepage {
        copyright.push_str(&format!("Source: {homepage}\n"));
    }
    copyright.push_str(&format!(
        "\nFiles: *\nCopyright: {}\nLicense: {}\n",
        input.maintainer, input.license
    ));
    let common = format!("/usr/share/common-licenses/{}", input.license);
    copyright.push_str(&format!(" On Debian systems, the license text is in {common}\n when it is a common license; see https://spdx.org/licenses/{}.html\n", input.license));
    let date = chrono::DateTime::from_timestamp(i64::try_from(input.mtime).unwrap_or(0), 0)
        .unwrap_or_default()
        .to_rfc2822();
    let changelog = format!(
        "{} ({}) stable; urgency=medium\n\n  * Package of {} {}.\n\n -- {}  {}\n",
        input.name,
        input.version.deb(),
        input.name,
        input.version.semver(),
        input.maintainer,
        date
    );
    let mut gz = Vec::new();
    {
        let mut encoder = flate2::GzBuilder::new()
            .mtime(0)
            .write(&mut gz, flate2::Compression::best());
        // Writing to a Vec cannot fail.
        let _ = encoder.write_all(changelog.as_bytes());
        let _ = encoder.finish();
    }
    vec![
        (
            format!("{doc}/README.md"),
            crate::readme(input).into_bytes(),
        ),
        (format!("{doc}/changelog.Debian.gz"), gz),
        (format!("{doc}/copyright"), copyright.into_bytes()),
    ]
}

/// The `control` file.
pub fn control_file(input: &PackageInput, installed_kib: u64) -> String {
    let mut control = format!(
        "Package: {}\nVersion: {}\nArchitecture: {}\nMaintainer: {}\nInstalled-Size: {}\n",
        input.name,
        input.version.deb(),
        input.arch.deb(),
        input.maintainer,
        installed_kib.max(1)
    );
    if !input.depends.is_empty() {
        let depends: Vec<String> = input.depends.iter().map(|d| d.deb()).collect();
        control.push_str(&format!("Depends: {}\n", depends.join(", ")));
    }
    control.push_str(&format!("Section: {}\nPriority: optional\n", input.section));
    if let Some(homepage) = &input.homepage {
        control.push_str(&format!("Homepage: {homepage}\n"));
    }
    control.push_str(&format!("Description: {}\n", input.summary));
    for line in input.description.lines() {
        if line.trim().is_empty() {
            control.push_str(" .\n");
        } else {
            control.push_str(&format!(" {line}\n"));
        }
    }
    control
}
