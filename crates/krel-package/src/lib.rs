//! Native Debian and RPM packages from a YAML spec, with no dpkg-deb or rpmbuild.
//!
//! - [`spec`]: the spec file and its resolution, per version, architecture and format, into a
//!   [`PackageInput`], with errors that name the file, line and key;
//! - [`version`]: component version + package revision, the tilde rule, constraints and dependencies;
//! - [`deb`] and [`rpm`]: the writers; [`openpgp`]: the signing key for RPMs and repositories;
//! - [`xz`]: xz payloads assembled from blocks, so a file shared by a deb and an RPM is
//!   compressed once;
//! - [`Arch`]: Go, Debian and RPM architecture names.
//!
//! ```
//! use krel_package::{Arch, Format, Resolve, Spec};
//! let spec = Spec::parse("spec.yaml".as_ref(), "packages:\n  - name: hello\n    summary: Hi\n    \
//!     description: Hi.\n    license: MIT\n    maintainer: Me <me@example.com>\n    \
//!     files: [{content: \"hi\\n\", dest: /usr/share/hello/hi}]\n").unwrap();
//! let inputs = spec.resolve(&Resolve { version: "1.0.0", revision: "1", arches: &[Arch::Amd64],
//!     formats: &[Format::Deb], packages: &[], package_versions: &[], sources: &[], mtime: 0 }).unwrap();
//! let deb = krel_package::build(&inputs[0], krel_package::Compression::Gzip, None, None).unwrap();
//! assert!(deb.starts_with(b"!<arch>\n"));
//! ```

pub mod arch;
pub mod compression;
pub mod deb;
pub mod openpgp;
pub mod rpm;
pub mod spec;
pub mod version;
pub mod xz;

use std::path::PathBuf;

pub use arch::Arch;
pub use compression::Compression;
pub use openpgp::{PublicKeys, SigningKey, SigningKeys};
pub use spec::{Format, PackageInput, Resolve, Spec, SpecError};
pub use version::{Constraint, Dependency, PackageVersion};

/// Why a package could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// Reading an input or writing an archive failed.
    #[error("building {package}: {what}")]
    Io {
        /// The package file being built.
        package: String,
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The rpm crate refused.
    #[error("building {package}: {what}: {message}")]
    Rpm {
        /// The package file being built.
        package: String,
        /// What was being done.
        what: String,
        /// The rpm crate's message.
        message: String,
    },
    /// The signing key cannot be used.
    #[error("signing key {}: {message}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A timestamp RPM cannot hold.
    #[error("timestamp {0} is past 2106, which RPM cannot hold: check SOURCE_DATE_EPOCH")]
    Time(u64),
}

/// `README.md` of a package (both formats): what it is, from its summary and description.
pub(crate) fn readme(input: &PackageInput) -> String {
    let mut text = format!(
        "# {}\n\n{}.\n\n{}",
        input.name,
        input.summary,
        input.description.trim_end()
    );
    text.push('\n');
    if let Some(homepage) = &input.homepage {
        text.push_str(&format!("\n{homepage}\n"));
    }
    text
}

/// `LICENSE` of an RPM (`%license`): the license's SPDX identifier and where its text is.
pub(crate) fn license_text(input: &PackageInput) -> String {
    format!(
        "{} is distributed under the {} license.\nThe license text: https://spdx.org/licenses/{}.html\n",
        input.name, input.license, input.license
    )
}

/// Builds one package in its format; RPMs are signed when `key` is given (debs are signed
/// through the repository's `Release` file, as apt expects). Large file contents are taken from
/// `shared` when they were compressed ahead of time ([`xz::BlockStore`]), so the deb and the RPM
/// of a package compress each binary once.
pub fn build(
    input: &PackageInput,
    compression: Compression,
    key: Option<&SigningKey>,
    shared: Option<&dyn xz::SharedBlocks>,
) -> Result<Vec<u8>, PackageError> {
    match input.format {
        Format::Deb => deb::build_deb(input, compression, shared),
        Format::Rpm => rpm::build_rpm(input, compression, key, shared),
    }
}
