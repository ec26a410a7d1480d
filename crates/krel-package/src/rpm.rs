//! RPM packages through the `rpm` crate, optionally signed with an OpenPGP key (the header and
//! payload signatures `rpm -K` checks).

use rpm::{CompressionWithLevel, FileOptions, PackageBuilder};

use crate::compression::Compression;
use crate::openpgp::SigningKey;
use crate::spec::{Content, PackageInput};
use crate::version::Op;
use crate::PackageError;

/// Builds the `.rpm` for `input` and returns its bytes.
pub fn build_rpm(
    input: &PackageInput,
    compression: Compression,
    key: Option<&SigningKey>,
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
            Compression::Xz => CompressionWithLevel::Xz(6),
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
    let package = match key {
        Some(key) => builder
            .build_and_sign(key.rpm_signer()?)
            .map_err(|err| fail("building and signing", err))?,
        None => builder.build().map_err(|err| fail("building", err))?,
    };
    let mut bytes = Vec::new();
    package
        .write(&mut bytes)
        .map_err(|err| fail("writing", err))?;
    Ok(bytes)
}
