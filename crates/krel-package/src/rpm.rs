//! RPM packages through the `rpm` crate, optionally signed with an OpenPGP key (the header and
//! payload signatures `rpm -K` checks).
//!
//! An xz payload is compressed here rather than by the crate: the cpio archive the crate writes
//! is recompressed as blocks, each large file's content in blocks of its own, taken from the
//! blocks the deb of the same package used when they were compressed ahead of time. The header's
//! payload tags and the signature header are then rewritten for the compressed payload.

use std::ops::Range;

use rpm::{
    CompressionWithLevel, FileOptions, Header, HeaderEntry, IndexData, IndexTag, Package,
    PackageBuilder, RpmFormat, SignatureHeaderBuilder,
};
use sha2::{Digest, Sha256};

use crate::compression::Compression;
use crate::openpgp::SigningKey;
use crate::spec::{Content, PackageInput};
use crate::version::Op;
use crate::xz::SharedBlocks;
use crate::PackageError;

/// Builds the `.rpm` for `input` and returns its bytes; large file contents come from `shared`
/// when they were compressed ahead of time (xz).
pub fn build_rpm(
    input: &PackageInput,
    compression: Compression,
    key: Option<&SigningKey>,
    shared: Option<&dyn SharedBlocks>,
) -> Result<Vec<u8>, PackageError> {
    let name = input.file_name();
    let fail = |what: &str, err: rpm::Error| PackageError::Rpm {
        package: name.clone(),
        what: what.to_string(),
        message: err.to_string(),
    };
    let mtime = u32::try_from(input.mtime).map_err(|_| PackageError::Time(input.mtime))?;
    let config = rpm::BuildConfig::default()
        .compression(match compression {
            Compression::Gzip => CompressionWithLevel::Gzip(9),
            // Compressed below, in blocks.
            Compression::Xz => CompressionWithLevel::None,
            Compression::Zstd => CompressionWithLevel::Zstd(19),
        })
        .source_date(mtime);
    let mut builder = PackageBuilder::new(
        &input.name,
        input.version.upstream(),
        &input.license,
        input.arch.rpm(),
        &input.summary,
    );
    builder
        .using_config(config)
        .release(input.version.revision())
        .description(&input.description)
        .packager(&input.maintainer)
        .vendor(&input.maintainer)
        // rpmlint counts rpm's default group, "Unspecified", as missing.
        .group("System Environment/Base")
        // The host name would make builds differ from machine to machine.
        .build_host("krel");
    if let Some(homepage) = &input.homepage {
        builder.url(homepage);
    }
    builder.add_changelog_entry(
        format!(
            "{} - {}-{}",
            input.maintainer,
            input.version.upstream(),
            input.version.revision()
        ),
        format!("- Package of {} {}.", input.name, input.version.semver()),
        mtime,
    );
    for file in &input.files {
        let bytes = match &file.content {
            Content::Path(path) => std::fs::read(path).map_err(|err| PackageError::Io {
                package: name.clone(),
                what: format!("reading {}", path.display()),
                source: err,
            })?,
            Content::Bytes(bytes) => bytes.clone(),
        };
        let permissions = u16::try_from(file.mode & 0o7777).unwrap_or(0o644);
        let mut options = FileOptions::new(file.dest.clone()).permissions(permissions);
        if file.config {
            options = options.config().noreplace();
        }
        builder
            .with_file_contents(bytes, options)
            .map_err(|err| fail(&format!("adding {}", file.dest), err))?;
    }
    // `%license LICENSE` and `%doc README.md`, as upstream's specs have them.
    for (dest, text, license) in [
        (
            format!("/usr/share/licenses/{}/LICENSE", input.name),
            crate::license_text(input),
            true,
        ),
        (
            format!("/usr/share/doc/{}/README.md", input.name),
            crate::readme(input),
            false,
        ),
    ] {
        let options = FileOptions::new(dest.clone()).permissions(0o644);
        let options = if license {
            options.license()
        } else {
            options.doc()
        };
        builder
            .with_file_contents(text.into_bytes(), options)
            .map_err(|err| fail(&format!("adding {dest}"), err))?;
    }
    for dir in &input.directories {
        builder
            .with_dir_entry(FileOptions::dir(dir.clone()).permissions(0o755))
            .map_err(|err| fail(&format!("adding {dir}/"), err))?;
    }
    for (slot, script) in &input.scripts {
        let script = script.clone();
        match *slot {
            "preinst" => builder.pre_install_script(script),
            "postinst" => builder.post_install_script(script),
            "prerm" => builder.pre_uninstall_script(script),
            _ => builder.post_uninstall_script(script),
        };
    }
    for dep in &input.depends {
        let dependency = match &dep.version {
            None => rpm::Dependency::any(&dep.name),
            Some((op, version)) => match op {
                Op::Less => rpm::Dependency::less(&dep.name, version),
                Op::LessEqual => rpm::Dependency::less_eq(&dep.name, version),
                Op::Equal => rpm::Dependency::eq(&dep.name, version),
                Op::GreaterEqual => rpm::Dependency::greater_eq(&dep.name, version),
                Op::Greater => rpm::Dependency::greater(&dep.name, version),
            },
        };
        builder.requires(dependency);
    }
    if compression == Compression::Xz {
        // What rpmbuild declares for an xz payload.
        builder.requires(rpm::Dependency::rpmlib("PayloadIsXz", "5.2-1"));
    }
    let mut package = builder.build().map_err(|err| fail("building", err))?;
    if compression == Compression::Xz {
        compress_payload(&mut package, shared).map_err(|err| match err {
            PayloadError::Io(err) => PackageError::Io {
                package: name.clone(),
                what: "compressing the payload".into(),
                source: err,
            },
            PayloadError::Rpm(err) => fail("compressing the payload", err),
        })?;
    }
    if let Some(key) = key {
        // As `build_and_sign` does: the build's timestamp unless it is in the future.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(u64::MAX);
        let when = u32::try_from(input.mtime.min(now)).unwrap_or(mtime);
        package
            .sign_with_timestamp(key.rpm_signer()?, when)
            .map_err(|err| fail("signing", err))?;
    }
    let mut bytes = Vec::new();
    package
        .write(&mut bytes)
        .map_err(|err| fail("writing", err))?;
    Ok(bytes)
}

enum PayloadError {
    Io(std::io::Error),
    Rpm(rpm::Error),
}

/// Replaces the package's uncompressed cpio payload with an xz stream of blocks (the large
/// contents from `shared` when there), and rewrites what describes the payload: the header's
/// compressor, flags and digest, and the signature header's digests and size.
fn compress_payload(
    package: &mut Package,
    shared: Option<&dyn SharedBlocks>,
) -> Result<(), PayloadError> {
    let cpio = std::mem::take(&mut package.payload);
    let mut writer = crate::xz::Writer::new(shared);
    let mut at = 0;
    // An archive not in newc (the stripped one of packages over 4 GiB) is compressed whole:
    // right, but not shared with the deb.
    for range in cpio_contents(&cpio).unwrap_or_default() {
        std::io::Write::write_all(&mut writer, &cpio[at..range.start]).map_err(PayloadError::Io)?;
        writer
            .content(&cpio[range.clone()])
            .map_err(PayloadError::Io)?;
        at = range.end;
    }
    std::io::Write::write_all(&mut writer, &cpio[at..]).map_err(PayloadError::Io)?;
    drop(cpio);
    let payload = writer.finish().map_err(PayloadError::Io)?;

    let digest = hex::encode(Sha256::digest(&payload));
    let mut entries: Vec<HeaderEntry> = package
        .metadata
        .header
        .get_all_entries()
        .map_err(PayloadError::Rpm)?
        .into_iter()
        .filter(|(tag, _)| {
            ![
                IndexTag::RPMTAG_HEADERIMMUTABLE as u32,
                IndexTag::RPMTAG_PAYLOADCOMPRESSOR as u32,
                IndexTag::RPMTAG_PAYLOADFLAGS as u32,
                IndexTag::RPMTAG_PAYLOADSHA256 as u32,
            ]
            .contains(tag)
        })
        .map(|(tag, data)| HeaderEntry::new(tag, data))
        .collect();
    entries.extend([
        HeaderEntry::new(
            IndexTag::RPMTAG_PAYLOADCOMPRESSOR as u32,
            IndexData::StringTag("xz".into()),
        ),
        HeaderEntry::new(
            IndexTag::RPMTAG_PAYLOADFLAGS as u32,
            IndexData::StringTag(crate::xz::PRESET.to_string()),
        ),
        HeaderEntry::new(
            IndexTag::RPMTAG_PAYLOADSHA256 as u32,
            IndexData::StringArray(vec![digest]),
        ),
    ]);
    package.metadata.header = Header::from_entries(entries, IndexTag::RPMTAG_HEADERIMMUTABLE);
    let header = package.header_bytes().map_err(PayloadError::Rpm)?;
    package.metadata.signature = SignatureHeaderBuilder::new()
        .format(RpmFormat::V4)
        .reserved_space(Some(SignatureHeaderBuilder::DEFAULT_RESERVED_SPACE))
        .set_content_length(header.len() as u64 + payload.len() as u64)
        .calculate_digests(&header)
        .build()
        .map_err(PayloadError::Rpm)?;
    package.payload = payload;
    Ok(())
}

/// Where each regular file's content lies in a `newc` cpio archive (magic `070701`: a 110-byte
/// header of hexadecimal fields, the name, padding to 4, the content, padding to 4).
fn cpio_contents(cpio: &[u8]) -> std::io::Result<Vec<Range<usize>>> {
    let bad = |what: &str| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("cpio archive: {what}"),
        )
    };
    let field = |at: usize, n: usize| -> std::io::Result<usize> {
        let start = at + 6 + n * 8;
        let text = cpio
            .get(start..start + 8)
            .and_then(|b| std::str::from_utf8(b).ok())
            .ok_or_else(|| bad("header cut short"))?;
        usize::from_str_radix(text, 16).map_err(|_| bad("header field is not hexadecimal"))
    };
    let mut contents = Vec::new();
    let mut at = 0;
    loop {
        if cpio.get(at..at + 6) != Some(b"070701".as_slice()) {
            return Err(bad("no newc header where one should be"));
        }
        let (size, name_len) = (field(at, 6)?, field(at, 11)?);
        let name = cpio
            .get(at + 110..at + 110 + name_len)
            .ok_or_else(|| bad("name cut short"))?;
        if name == b"TRAILER!!!\0" {
            return Ok(contents);
        }
        let start = (at + 110 + name_len).div_ceil(4) * 4;
        let end = start + size;
        if end > cpio.len() {
            return Err(bad("content cut short"));
        }
        if size > 0 {
            contents.push(start..end);
        }
        at = end.div_ceil(4) * 4;
    }
}
