//! The package spec (YAML): what each package holds, and its resolution, for one version and
//! architecture, into a [`PackageInput`] that the deb and rpm writers take.
//!
//! Every problem is reported with the spec file, the line and the key (`packages[kubelet].files[0].source`),
//! and nothing is written until every package of a run has resolved.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::arch::Arch;
use crate::version::{Constraint, Dependency, PackageVersion};

/// A package format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Debian package (`.deb`).
    Deb,
    /// RPM package (`.rpm`).
    Rpm,
}

impl Format {
    /// `deb` or `rpm`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Deb => "deb",
            Format::Rpm => "rpm",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A spec problem, with where it is.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}{}: {key}: {message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct SpecError {
    /// The spec file (or `<built-in kubernetes spec>`).
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The key in error, like `packages[kubelet].files[0].source`.
    pub key: String,
    /// What is wrong and what to do.
    pub message: String,
    /// What a person can do about it, when the spec is not what needs changing.
    pub hint: Option<&'static str>,
}

/// The hint of a `source` that names no file of the trees given.
const SOURCE_HINT: &str = "--source takes a release tree (bin/linux/<arch>/…), a directory or a bucket URL; repeat it to search several";
/// The hint of a binary built for another architecture than its directory says.
const ARCH_HINT: &str = "put each architecture's binaries under bin/linux/<arch>/ of the release tree (check the build that made them)";

impl SpecError {
    fn with_hint(self, hint: &'static str) -> SpecError {
        SpecError {
            hint: Some(hint),
            ..self
        }
    }
}

/// A whole spec file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecDocument {
    /// The packages, in build order.
    pub packages: Vec<PackageSpec>,
}

/// One package as the spec describes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageSpec {
    /// Package name (`kubelet`).
    pub name: String,
    /// The component version when it is not the run's `--version` (cri-tools, kubernetes-cni).
    /// May use `{major}`, `{minor}`, `{patch}` of the run's version.
    #[serde(default)]
    pub version: Option<String>,
    /// One-line summary.
    pub summary: String,
    /// Longer description (several lines allowed).
    pub description: String,
    /// License (SPDX, like `Apache-2.0`).
    pub license: String,
    /// `Name <email>`.
    pub maintainer: String,
    /// Project home page.
    #[serde(default)]
    pub homepage: Option<String>,
    /// Debian section (default `misc`).
    #[serde(default)]
    pub section: Option<String>,
    /// Architectures this package is built for (default: every one the run asks for).
    #[serde(default)]
    pub architectures: Option<Vec<String>>,
    /// Files installed.
    #[serde(default)]
    pub files: Vec<FileSpec>,
    /// Configuration files: kept on upgrade when the admin changed them (deb conffiles, rpm %config(noreplace)).
    #[serde(default)]
    pub config_files: Vec<FileSpec>,
    /// Empty directories the package owns.
    #[serde(default)]
    pub directories: Vec<String>,
    /// systemd units, installed in the unit directory.
    #[serde(default)]
    pub systemd_units: Vec<UnitSpec>,
    /// systemd drop-ins, installed in `<unit>.d/`.
    #[serde(default)]
    pub systemd_dropins: Vec<DropinSpec>,
    /// Maintainer scripts.
    #[serde(default)]
    pub scripts: Scripts,
    /// Dependencies for every version.
    #[serde(default)]
    pub depends: Vec<PerFormat>,
    /// Dependencies chosen by a constraint on the package version; exactly one entry must match.
    #[serde(default)]
    pub dependencies: Vec<VersionedDependencies>,
    /// lintian tags this package overrides, with the reason in a comment (deb only), such as
    /// `dir-or-file-in-opt` for CNI plugins, which live in /opt/cni/bin by convention.
    #[serde(default)]
    pub lintian_overrides: Vec<String>,
}

/// A file: from the source tree or inline content, to an absolute destination.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// Path under a source root; may use `{arch}`, `{version}`, `{tag}`. A trailing `/` takes
    /// every file in that directory into the `dest` directory.
    #[serde(default)]
    pub source: Option<String>,
    /// Inline content, instead of `source`.
    #[serde(default)]
    pub content: Option<String>,
    /// Absolute destination path.
    pub dest: String,
    /// Octal permission bits as a string (`"0755"`); default 0755 under `bin/`, 0644 elsewhere.
    #[serde(default)]
    pub mode: Option<Mode>,
    /// Only in these formats (default: all).
    #[serde(default)]
    pub formats: Option<Vec<Format>>,
}

/// A permission mode: `"0755"`, or a YAML number read as octal digits.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Mode {
    /// `"0755"`.
    Text(String),
    /// `755` or `0755` unquoted.
    Number(u32),
}

/// A systemd unit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitSpec {
    /// Unit file name (`kubelet.service`).
    pub name: String,
    /// Path under a source root.
    #[serde(default)]
    pub source: Option<String>,
    /// Inline content.
    #[serde(default)]
    pub content: Option<String>,
}

/// A systemd drop-in.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropinSpec {
    /// The unit it changes (`kubelet.service`).
    pub unit: String,
    /// Drop-in file name (`10-kubeadm.conf`).
    pub name: String,
    /// Path under a source root.
    #[serde(default)]
    pub source: Option<String>,
    /// Inline content.
    #[serde(default)]
    pub content: Option<String>,
    /// Only in these formats (default: both).
    #[serde(default)]
    pub formats: Option<Vec<Format>>,
}

/// Maintainer scripts, by Debian name; rpm runs them as `%pre`, `%post`, `%preun`, `%postun`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scripts {
    /// Before installation (`%pre`).
    #[serde(default)]
    pub preinst: Option<PerFormat>,
    /// After installation (`%post`).
    #[serde(default)]
    pub postinst: Option<PerFormat>,
    /// Before removal (`%preun`).
    #[serde(default)]
    pub prerm: Option<PerFormat>,
    /// After removal (`%postun`).
    #[serde(default)]
    pub postrm: Option<PerFormat>,
}

/// A value that is the same in both formats, or given per format (`{deb: iproute2, rpm: iproute}`;
/// a format left out gets nothing).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PerFormat {
    /// The same text in both formats.
    Same(String),
    /// Per format.
    Split {
        /// For deb.
        #[serde(default)]
        deb: Option<String>,
        /// For rpm.
        #[serde(default)]
        rpm: Option<String>,
    },
}

impl PerFormat {
    /// The text for `format`, if any.
    pub fn get(&self, format: Format) -> Option<&str> {
        match (self, format) {
            (PerFormat::Same(text), _) => Some(text),
            (PerFormat::Split { deb, .. }, Format::Deb) => deb.as_deref(),
            (PerFormat::Split { rpm, .. }, Format::Rpm) => rpm.as_deref(),
        }
    }
}

/// Dependencies for the package versions a constraint accepts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionedDependencies {
    /// The constraint on this package's version (`>= 1.28.0, < 1.30.0`).
    pub versions: String,
    /// The dependencies.
    #[serde(default)]
    pub depends: Vec<PerFormat>,
}

/// A spec read from a file, with its text kept for line numbers.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Where it came from.
    pub file: PathBuf,
    text: String,
    /// The parsed document.
    pub document: SpecDocument,
}

/// The script slots, in Debian's names.
pub const SCRIPT_NAMES: [&str; 4] = ["preinst", "postinst", "prerm", "postrm"];

/// What a resolved package installs: a file's bytes come from disk or from the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A file on disk.
    Path(PathBuf),
    /// Inline bytes.
    Bytes(Vec<u8>),
}

/// One file of a resolved package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadFile {
    /// Absolute destination.
    pub dest: String,
    /// Permission bits.
    pub mode: u32,
    /// Where the bytes are.
    pub content: Content,
    /// A configuration file.
    pub config: bool,
}

/// A package resolved for one version, architecture and format, ready to write.
#[derive(Debug, Clone)]
pub struct PackageInput {
    /// Package name.
    pub name: String,
    /// Version and revision.
    pub version: PackageVersion,
    /// Architecture.
    pub arch: Arch,
    /// Format.
    pub format: Format,
    /// One-line summary.
    pub summary: String,
    /// Long description.
    pub description: String,
    /// License.
    pub license: String,
    /// Maintainer.
    pub maintainer: String,
    /// Home page.
    pub homepage: Option<String>,
    /// Debian section.
    pub section: String,
    /// Files, sorted by destination.
    pub files: Vec<PayloadFile>,
    /// Directories the package owns (absolute).
    pub directories: Vec<String>,
    /// Maintainer scripts: Debian slot name and content.
    pub scripts: Vec<(&'static str, String)>,
    /// Dependencies in this format's names.
    pub depends: Vec<Dependency>,
    /// Timestamp for every file and the build (`SOURCE_DATE_EPOCH`).
    pub mtime: u64,
}

impl PackageInput {
    /// The file name: `kubelet_1.29.0-1.1_amd64.deb` or `kubelet-1.29.0-1.1.x86_64.rpm`.
    pub fn file_name(&self) -> String {
        match self.format {
            Format::Deb => format!(
                "{}_{}_{}.deb",
                self.name,
                self.version.deb(),
                self.arch.deb()
            ),
            Format::Rpm => format!(
                "{}-{}-{}.{}.rpm",
                self.name,
                self.version.upstream(),
                self.version.revision(),
                self.arch.rpm()
            ),
        }
    }
}

/// What to resolve a spec for.
#[derive(Debug, Clone)]
pub struct Resolve<'a> {
    /// The run's component version (`--version`).
    pub version: &'a str,
    /// The package revision (`--revision`).
    pub revision: &'a str,
    /// Architectures asked for.
    pub arches: &'a [Arch],
    /// Formats asked for.
    pub formats: &'a [Format],
    /// Only these packages (empty: all).
    pub packages: &'a [String],
    /// Component versions per package that override the spec (`name`, `version`).
    pub package_versions: &'a [(String, String)],
    /// Local directories searched in order for `source` paths.
    pub sources: &'a [PathBuf],
    /// Timestamp for files and builds.
    pub mtime: u64,
}

impl Spec {
    /// Reads a spec file.
    pub fn load(path: &Path) -> Result<Spec, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|err| SpecError {
            file: path.to_path_buf(),
            line: None,
            key: "(file)".into(),
            message: format!("cannot read the spec: {err}"),
            hint: None,
        })?;
        Spec::parse(path, &text)
    }

    /// Parses spec text; `file` names it in errors.
    pub fn parse(file: &Path, text: &str) -> Result<Spec, SpecError> {
        let document: SpecDocument = serde_yaml_ng::from_str(text).map_err(|err| {
            let message = err.to_string();
            let message = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_string();
            SpecError {
                file: file.to_path_buf(),
                line: err.location().map(|l| l.line()),
                key: "(yaml)".into(),
                message,
                hint: None,
            }
        })?;
        let spec = Spec {
            file: file.to_path_buf(),
            text: text.to_string(),
            document,
        };
        spec.check_names()?;
        Ok(spec)
    }

    /// The names of every package, in order.
    pub fn package_names(&self) -> Vec<&str> {
        self.document
            .packages
            .iter()
            .map(|p| p.name.as_str())
            .collect()
    }

    fn check_names(&self) -> Result<(), SpecError> {
        if self.document.packages.is_empty() {
            return Err(self.error(None, "packages", "the spec lists no packages"));
        }
        let mut seen = BTreeSet::new();
        for package in &self.document.packages {
            let valid = package.name.len() >= 2
                && package
                    .name
                    .starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && package.name.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '+' | '.')
                });
            if !valid {
                return Err(self.error(
                    Some(&package.name),
                    &format!("packages[{}].name", package.name),
                    "a package name has two or more lower-case letters, digits, `-`, `+` or `.`, starting with a letter or digit",
                ));
            }
            if !seen.insert(package.name.as_str()) {
                return Err(self.error(
                    Some(&package.name),
                    &format!("packages[{}].name", package.name),
                    "this package is listed twice",
                ));
            }
        }
        Ok(())
    }

    /// The source paths (templated, relative) a run needs: what to fetch from a bucket source.
    /// Directory sources (ending in `/`) are left out: they must be local.
    pub fn wanted_sources(&self, request: &Resolve<'_>) -> Result<Vec<String>, SpecError> {
        let run_version = PackageVersion::new(request.version, request.revision)
            .map_err(|err| self.error(None, "--version/--revision", &err.to_string()))?;
        let mut wanted = BTreeSet::new();
        for package in &self.document.packages {
            if !request.packages.is_empty() && !request.packages.contains(&package.name) {
                continue;
            }
            let resolver = PackageResolver {
                spec: self,
                package,
                request,
                run_version: &run_version,
            };
            let version = resolver.version()?;
            let sources = package
                .files
                .iter()
                .chain(&package.config_files)
                .filter_map(|f| f.source.as_deref())
                .chain(
                    package
                        .systemd_units
                        .iter()
                        .filter_map(|u| u.source.as_deref()),
                )
                .chain(
                    package
                        .systemd_dropins
                        .iter()
                        .filter_map(|d| d.source.as_deref()),
                )
                .filter(|s| !s.ends_with('/'));
            for source in sources {
                for arch in resolver.arches()? {
                    wanted.insert(resolver.template(source, &version, arch));
                }
            }
        }
        Ok(wanted.into_iter().collect())
    }

    /// Resolves the packages asked for, for every architecture and format. Checks everything
    /// (versions, sources, dependencies) before returning, so a bad spec writes nothing.
    pub fn resolve(&self, request: &Resolve<'_>) -> Result<Vec<PackageInput>, SpecError> {
        for wanted in request.packages {
            if !self.document.packages.iter().any(|p| &p.name == wanted) {
                return Err(self.error(
                    None,
                    "packages",
                    &format!(
                        "the spec has no package `{wanted}`; it has: {}",
                        self.package_names().join(", ")
                    ),
                ));
            }
        }
        for (name, _) in request.package_versions {
            if !self.document.packages.iter().any(|p| &p.name == name) {
                return Err(self.error(
                    None,
                    "packages",
                    &format!("a version is given for `{name}`, which the spec does not have"),
                ));
            }
        }
        let run_version = PackageVersion::new(request.version, request.revision)
            .map_err(|err| self.error(None, "--version/--revision", &err.to_string()))?;
        let mut inputs = Vec::new();
        for package in &self.document.packages {
            if !request.packages.is_empty() && !request.packages.contains(&package.name) {
                continue;
            }
            let resolver = PackageResolver {
                spec: self,
                package,
                request,
                run_version: &run_version,
            };
            inputs.extend(resolver.resolve()?);
        }
        Ok(inputs)
    }

    fn error(&self, package: Option<&str>, key: &str, message: &str) -> SpecError {
        let line = package.and_then(|name| self.package_line(name));
        SpecError {
            file: self.file.clone(),
            line,
            key: key.to_string(),
            message: message.to_string(),
            hint: None,
        }
    }

    /// The line of `name: <package>` (1-based).
    fn package_line(&self, name: &str) -> Option<usize> {
        self.text
            .lines()
            .position(|line| {
                let line = line.trim_start().trim_start_matches("- ").trim();
                line.strip_prefix("name:")
                    .map(|value| value.trim().trim_matches(['"', '\'']) == name)
                    .unwrap_or(false)
            })
            .map(|index| index + 1)
    }

    /// The first line at or after the package's own that contains `needle`.
    fn line_in_package(&self, package: &str, needle: &str) -> Option<usize> {
        let start = self.package_line(package)?;
        self.text
            .lines()
            .enumerate()
            .skip(start - 1)
            .find(|(_, line)| line.contains(needle))
            .map(|(index, _)| index + 1)
            .or(Some(start))
    }
}

struct PackageResolver<'a> {
    spec: &'a Spec,
    package: &'a PackageSpec,
    request: &'a Resolve<'a>,
    run_version: &'a PackageVersion,
}

impl PackageResolver<'_> {
    fn fail(&self, key: &str, needle: Option<&str>, message: String) -> SpecError {
        let name = &self.package.name;
        SpecError {
            file: self.spec.file.clone(),
            line: match needle {
                Some(needle) => self.spec.line_in_package(name, needle),
                None => self.spec.package_line(name),
            },
            key: format!("packages[{name}].{key}"),
            message,
            hint: None,
        }
    }

    fn version(&self) -> Result<PackageVersion, SpecError> {
        let run = self.run_version.semver();
        let given = self
            .request
            .package_versions
            .iter()
            .find(|(name, _)| name == &self.package.name)
            .map(|(_, version)| version.clone());
        let text = match (&given, &self.package.version) {
            (Some(version), _) => version.clone(),
            (None, Some(template)) => template
                .replace("{major}", &run.major.to_string())
                .replace("{minor}", &run.minor.to_string())
                .replace("{patch}", &run.patch.to_string()),
            (None, None) => return Ok(self.run_version.clone()),
        };
        PackageVersion::new(&text, self.run_version.revision())
            .map_err(|err| self.fail("version", self.package.version.as_deref(), err.to_string()))
    }

    fn arches(&self) -> Result<Vec<Arch>, SpecError> {
        let Some(listed) = &self.package.architectures else {
            return Ok(self.request.arches.to_vec());
        };
        let mut allowed = Vec::new();
        for name in listed {
            allowed.push(
                name.parse::<Arch>()
                    .map_err(|err| self.fail("architectures", Some(name), err.to_string()))?,
            );
        }
        Ok(self
            .request
            .arches
            .iter()
            .copied()
            .filter(|a| allowed.contains(a))
            .collect())
    }

    fn resolve(&self) -> Result<Vec<PackageInput>, SpecError> {
        let package = self.package;
        let version = self.version()?;
        for (key, value) in [
            ("summary", &package.summary),
            ("description", &package.description),
            ("license", &package.license),
            ("maintainer", &package.maintainer),
        ] {
            if value.trim().is_empty() {
                return Err(self.fail(key, None, format!("`{key}` is empty")));
            }
        }
        if package.summary.contains('\n') {
            return Err(self.fail(
                "summary",
                None,
                "the summary is one line; put more in `description`".into(),
            ));
        }
        let mut inputs = Vec::new();
        for arch in self.arches()? {
            for &format in self.request.formats {
                inputs.push(self.input(&version, arch, format)?);
            }
        }
        Ok(inputs)
    }

    fn input(
        &self,
        version: &PackageVersion,
        arch: Arch,
        format: Format,
    ) -> Result<PackageInput, SpecError> {
        let package = self.package;
        let mut files = Vec::new();
        for (index, file) in package.files.iter().enumerate() {
            self.add_file(
                &format!("files[{index}]"),
                file,
                false,
                version,
                arch,
                format,
                &mut files,
            )?;
        }
        for (index, file) in package.config_files.iter().enumerate() {
            self.add_file(
                &format!("config_files[{index}]"),
                file,
                true,
                version,
                arch,
                format,
                &mut files,
            )?;
        }
        let unit_dir = match format {
            // Debian 12's lintian expects units under /lib; RPM distributions use /usr/lib.
            Format::Deb => "/lib/systemd/system",
            Format::Rpm => "/usr/lib/systemd/system",
        };
        for (index, unit) in package.systemd_units.iter().enumerate() {
            let key = format!("systemd_units[{index}]");
            self.check_file_name(&key, &unit.name)?;
            let content = self.content(
                &key,
                unit.source.as_deref(),
                unit.content.as_deref(),
                version,
                arch,
            )?;
            files.push(PayloadFile {
                dest: format!("{unit_dir}/{}", unit.name),
                mode: 0o644,
                content,
                config: false,
            });
        }
        for (index, dropin) in package.systemd_dropins.iter().enumerate() {
            if dropin
                .formats
                .as_ref()
                .is_some_and(|f| !f.contains(&format))
            {
                continue;
            }
            let key = format!("systemd_dropins[{index}]");
            self.check_file_name(&key, &dropin.unit)?;
            self.check_file_name(&key, &dropin.name)?;
            let content = self.content(
                &key,
                dropin.source.as_deref(),
                dropin.content.as_deref(),
                version,
                arch,
            )?;
            files.push(PayloadFile {
                dest: format!("{unit_dir}/{}.d/{}", dropin.unit, dropin.name),
                mode: 0o644,
                content,
                config: false,
            });
        }
        if format == Format::Deb && !package.lintian_overrides.is_empty() {
            let overrides: String = package
                .lintian_overrides
                .iter()
                .map(|tag| format!("{}: {}\n", package.name, tag.trim()))
                .collect();
            files.push(PayloadFile {
                dest: format!("/usr/share/lintian/overrides/{}", package.name),
                mode: 0o644,
                content: Content::Bytes(overrides.into_bytes()),
                config: false,
            });
        }
        files.sort_by(|a, b| a.dest.cmp(&b.dest));
        for pair in files.windows(2) {
            if pair[0].dest == pair[1].dest {
                return Err(self.fail(
                    "files",
                    Some(&pair[0].dest),
                    format!("`{}` is installed twice", pair[0].dest),
                ));
            }
        }
        let mut directories = Vec::new();
        for dir in &package.directories {
            directories.push(
                self.dest("directories", dir)?
                    .trim_end_matches('/')
                    .to_string(),
            );
        }
        // A package owns the drop-in directories it installs into (`kubelet.service.d/`).
        for file in &files {
            if let Some((dir, _)) = file.dest.rsplit_once('/') {
                if dir.ends_with(".service.d") && !directories.iter().any(|d| d == dir) {
                    directories.push(dir.to_string());
                }
            }
        }
        let mut scripts = Vec::new();
        for (slot, script) in SCRIPT_NAMES.iter().zip([
            &package.scripts.preinst,
            &package.scripts.postinst,
            &package.scripts.prerm,
            &package.scripts.postrm,
        ]) {
            if let Some(text) = script.as_ref().and_then(|s| s.get(format)) {
                if !text.starts_with("#!") {
                    return Err(self.fail(
                        &format!("scripts.{slot}"),
                        Some(slot),
                        "a maintainer script starts with `#!` (like `#!/bin/sh`)".into(),
                    ));
                }
                scripts.push((*slot, text.to_string()));
            }
        }
        Ok(PackageInput {
            name: package.name.clone(),
            version: version.clone(),
            arch,
            format,
            summary: package.summary.trim().to_string(),
            description: package.description.trim_end().to_string(),
            license: package.license.trim().to_string(),
            maintainer: package.maintainer.trim().to_string(),
            homepage: package.homepage.clone(),
            section: package.section.clone().unwrap_or_else(|| "misc".into()),
            files,
            directories,
            scripts,
            depends: self.depends(version, format)?,
            mtime: self.request.mtime,
        })
    }

    fn depends(
        &self,
        version: &PackageVersion,
        format: Format,
    ) -> Result<Vec<Dependency>, SpecError> {
        let package = self.package;
        let mut texts: Vec<&PerFormat> = package.depends.iter().collect();
        if !package.dependencies.is_empty() {
            let mut matching = Vec::new();
            for entry in &package.dependencies {
                let constraint = Constraint::parse(&entry.versions).map_err(|err| {
                    self.fail("dependencies", Some(&entry.versions), err.to_string())
                })?;
                if constraint.matches(version.semver()) {
                    matching.push(entry);
                }
            }
            let ranges = || {
                package
                    .dependencies
                    .iter()
                    .map(|e| format!("`{}`", e.versions))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            match matching.as_slice() {
                [one] => texts.extend(one.depends.iter()),
                [] => {
                    return Err(self.fail(
                        "dependencies",
                        Some("dependencies:"),
                        format!(
                            "no entry matches version {}; the entries are {}: add one for it",
                            version.semver(),
                            ranges()
                        ),
                    ))
                }
                several => {
                    return Err(self.fail(
                        "dependencies",
                        Some(&several[1].versions),
                        format!(
                            "{} entries match version {} ({}): exactly one may match",
                            several.len(),
                            version.semver(),
                            several
                                .iter()
                                .map(|e| format!("`{}`", e.versions))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ))
                }
            }
        }
        let mut depends = Vec::new();
        for text in texts {
            if let Some(text) = text.get(format) {
                depends.push(
                    Dependency::parse(text)
                        .map_err(|err| self.fail("depends", Some(text), err.to_string()))?,
                );
            }
        }
        Ok(depends)
    }

    fn dest(&self, key: &str, dest: &str) -> Result<String, SpecError> {
        let bad = !dest.starts_with('/')
            || dest.split('/').any(|part| part == ".." || part == ".")
            || dest.contains("//")
            || dest == "/";
        if bad {
            return Err(self.fail(
                key,
                Some(dest),
                format!("`{dest}` is not an absolute path like /usr/bin/kubectl"),
            ));
        }
        Ok(dest.to_string())
    }

    fn check_file_name(&self, key: &str, name: &str) -> Result<(), SpecError> {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(self.fail(key, Some(name), format!("`{name}` is not a file name")));
        }
        Ok(())
    }

    /// An ELF program must be built for the package's architecture: an x86-64 kubelet under
    /// `bin/linux/arm64/` is refused, naming the file and both architectures.
    fn check_arch(&self, key: &str, raw: &str, path: &Path, arch: Arch) -> Result<(), SpecError> {
        let mut head = [0u8; 20];
        let read = std::fs::File::open(path)
            .and_then(|mut file| std::io::Read::read(&mut file, &mut head))
            .unwrap_or(0);
        let found = match crate::arch::elf_arch(&head[..read]) {
            None => return Ok(()),
            Some(Ok(found)) if found == arch => return Ok(()),
            Some(Ok(found)) => found.describe().to_string(),
            Some(Err(description)) => description,
        };
        Err(self.fail(
            &format!("{key}.source"),
            Some(raw),
            format!(
                "`{}` is built for {found}, and this package is for {}: the release tree holds the wrong binary there",
                path.display(),
                arch.describe()
            ),
        )
        .with_hint(ARCH_HINT))
    }

    fn template(&self, text: &str, version: &PackageVersion, arch: Arch) -> String {
        text.replace("{arch}", arch.go())
            .replace("{version}", &version.semver().to_string())
            .replace("{tag}", &format!("v{}", version.semver()))
    }

    fn content(
        &self,
        key: &str,
        source: Option<&str>,
        content: Option<&str>,
        version: &PackageVersion,
        arch: Arch,
    ) -> Result<Content, SpecError> {
        match (source, content) {
            (Some(source), None) => {
                let rel = self.template(source, version, arch);
                Ok(Content::Path(self.find_source(key, source, &rel)?))
            }
            (None, Some(content)) => Ok(Content::Bytes(content.as_bytes().to_vec())),
            _ => Err(self.fail(
                key,
                None,
                "give exactly one of `source` and `content`".into(),
            )),
        }
    }

    fn find_source(&self, key: &str, raw: &str, rel: &str) -> Result<PathBuf, SpecError> {
        if rel.split('/').any(|part| part == "..") || rel.starts_with('/') {
            return Err(self
                .fail(
                    &format!("{key}.source"),
                    Some(raw),
                    format!("`{rel}` must be a relative path inside a source"),
                )
                .with_hint(SOURCE_HINT));
        }
        for root in self.request.sources {
            let candidate = root.join(rel.trim_end_matches('/'));
            if candidate.exists() {
                return self.inside(key, raw, root, &candidate);
            }
        }
        let searched: Vec<String> = self
            .request
            .sources
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        Err(self.fail(
            &format!("{key}.source"),
            Some(raw),
            format!(
                "`{rel}` is in no source (searched {}): pass --source with the release tree or directory that has it",
                if searched.is_empty() { "nothing: no --source given".to_string() } else { searched.join(", ") }
            ),
        )
        .with_hint(SOURCE_HINT))
    }

    /// `path` (under the source `root`) must not lead out of it through a link: a package
    /// never carries a file from outside the trees it was given.
    fn inside(&self, key: &str, raw: &str, root: &Path, path: &Path) -> Result<PathBuf, SpecError> {
        krel_fs::tree::inside(root, path).map_err(|err| {
            self.fail(
                &format!("{key}.source"),
                Some(raw),
                format!("{err}: a package takes files from its sources only"),
            )
            .with_hint(SOURCE_HINT)
        })
    }

    /// The source that holds `dir`, for checking the files listed in it.
    fn source_root(&self, dir: &Path) -> Option<&PathBuf> {
        self.request
            .sources
            .iter()
            .find(|root| dir.starts_with(root))
    }

    #[allow(clippy::too_many_arguments)]
    fn add_file(
        &self,
        key: &str,
        file: &FileSpec,
        config: bool,
        version: &PackageVersion,
        arch: Arch,
        format: Format,
        files: &mut Vec<PayloadFile>,
    ) -> Result<(), SpecError> {
        if let Some(formats) = &file.formats {
            if !formats.contains(&format) {
                return Ok(());
            }
        }
        let dest = self.dest(
            &format!("{key}.dest"),
            &self.template(&file.dest, version, arch),
        )?;
        let mode = match &file.mode {
            None => None,
            Some(mode) => Some(parse_mode(mode).ok_or_else(|| {
                self.fail(
                    &format!("{key}.mode"),
                    Some("mode"),
                    "a mode is octal permission bits, quoted: \"0755\"".into(),
                )
            })?),
        };
        let default_mode = |dest: &str| {
            if dest.contains("/bin/") || dest.contains("/sbin/") {
                0o755
            } else {
                0o644
            }
        };
        let directory_source = file.source.as_deref().is_some_and(|s| s.ends_with('/'));
        if directory_source {
            let raw = file.source.as_deref().unwrap_or_default();
            let dir = self.find_source(key, raw, &self.template(raw, version, arch))?;
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map_err(|err| {
                    self.fail(
                        &format!("{key}.source"),
                        Some(raw),
                        format!("cannot list `{}`: {err}", dir.display()),
                    )
                    .with_hint(SOURCE_HINT)
                })?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|path| path.is_file())
                .collect();
            entries.sort();
            if let Some(root) = self.source_root(&dir) {
                for entry in &entries {
                    self.inside(key, raw, root, entry)?;
                }
            }
            if entries.is_empty() {
                return Err(self.fail(
                    &format!("{key}.source"),
                    Some(raw),
                    format!("`{}` holds no files", dir.display()),
                ));
            }
            for path in entries {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let dest = format!("{}/{name}", dest.trim_end_matches('/'));
                self.check_arch(key, raw, &path, arch)?;
                files.push(PayloadFile {
                    mode: mode.unwrap_or_else(|| default_mode(&dest)),
                    dest,
                    content: Content::Path(path),
                    config,
                });
            }
            return Ok(());
        }
        let content = self.content(
            key,
            file.source.as_deref(),
            file.content.as_deref(),
            version,
            arch,
        )?;
        if let Content::Path(path) = &content {
            if !path.is_file() {
                return Err(self.fail(
                    &format!("{key}.source"),
                    file.source.as_deref(),
                    format!(
                        "`{}` is a directory: end the source with `/` to take every file in it",
                        path.display()
                    ),
                ));
            }
            self.check_arch(key, file.source.as_deref().unwrap_or_default(), path, arch)?;
        }
        files.push(PayloadFile {
            mode: mode.unwrap_or_else(|| default_mode(&dest)),
            dest,
            content,
            config,
        });
        Ok(())
    }
}

fn parse_mode(mode: &Mode) -> Option<u32> {
    let digits = match mode {
        Mode::Text(text) => text.trim().to_string(),
        Mode::Number(number) => number.to_string(),
    };
    let value = u32::from_str_radix(digits.trim_start_matches("0o"), 8).ok()?;
    (value <= 0o7777 && !digits.is_empty()).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "\
packages:
  - name: hello
    summary: Says hello
    description: |
      Says hello.
      Twice.
    license: Apache-2.0
    maintainer: Krel Authors <krel@example.com>
    files:
      - source: bin/{arch}/hello
        dest: /usr/bin/hello
      - content: \"HELLO_ARGS=\\n\"
        dest: /etc/default/hello
        formats: [deb]
    config_files:
      - content: \"x: 1\\n\"
        dest: /etc/hello/config.yaml
        mode: \"0600\"
    dependencies:
      - versions: \">= 1.0.0, < 2.0.0\"
        depends: [\"libc6 >= 2.17\", {deb: iproute2, rpm: iproute}]
      - versions: \">= 2.0.0\"
        depends: []
";

    fn sources() -> (tempfile::TempDir, Vec<PathBuf>) {
        let dir = tempfile::tempdir().expect("tempdir");
        for arch in Arch::ALL {
            let bin = dir.path().join("bin").join(arch.go());
            std::fs::create_dir_all(&bin).expect("mkdir");
            std::fs::write(bin.join("hello"), format!("#!/bin/sh\necho {arch}\n")).expect("write");
        }
        let roots = vec![dir.path().to_path_buf()];
        (dir, roots)
    }

    fn request<'a>(version: &'a str, roots: &'a [PathBuf]) -> Resolve<'a> {
        Resolve {
            version,
            revision: "1.1",
            arches: &Arch::ALL,
            formats: &[Format::Deb, Format::Rpm],
            packages: &[],
            package_versions: &[],
            sources: roots,
            mtime: 1_700_000_000,
        }
    }

    #[test]
    fn resolves_every_arch_and_format() {
        let (_dir, roots) = sources();
        let spec = Spec::parse(Path::new("spec.yaml"), SPEC).expect("valid spec");
        let inputs = spec.resolve(&request("1.2.3", &roots)).expect("resolves");
        assert_eq!(inputs.len(), 8);
        let deb = &inputs[0];
        assert_eq!(deb.file_name(), "hello_1.2.3-1.1_amd64.deb");
        assert_eq!(inputs[1].file_name(), "hello-1.2.3-1.1.x86_64.rpm");
        assert_eq!(deb.files.len(), 3);
        assert_eq!(
            inputs[1].files.len(),
            2,
            "the /etc/default file is deb only"
        );
        let config = deb.files.iter().find(|f| f.config).expect("config file");
        assert_eq!(
            (config.dest.as_str(), config.mode),
            ("/etc/hello/config.yaml", 0o600)
        );
        let bin = deb
            .files
            .iter()
            .find(|f| f.dest == "/usr/bin/hello")
            .expect("binary");
        assert_eq!(bin.mode, 0o755);
        assert_eq!(
            deb.depends.iter().map(|d| d.deb()).collect::<Vec<_>>(),
            ["libc6 (>= 2.17)", "iproute2"]
        );
        assert_eq!(inputs[1].depends[1].name, "iproute");
    }

    #[test]
    fn a_missing_source_names_key_and_line() {
        let spec = Spec::parse(Path::new("spec.yaml"), SPEC).expect("valid spec");
        let err = spec
            .resolve(&request("1.2.3", &[]))
            .expect_err("no sources");
        assert_eq!(err.key, "packages[hello].files[0].source");
        assert_eq!(err.line, Some(10));
        assert!(err.to_string().starts_with("spec.yaml:10: "), "{err}");
    }

    #[test]
    fn dependency_entries_must_match_exactly_once() {
        let (_dir, roots) = sources();
        let spec = Spec::parse(Path::new("spec.yaml"), SPEC).expect("valid spec");
        let err = spec
            .resolve(&request("0.9.0", &roots))
            .expect_err("none match");
        assert!(
            err.message.contains("no entry matches version 0.9.0"),
            "{err}"
        );
        let overlapping = SPEC.replace(">= 2.0.0", ">= 1.5.0");
        let spec = Spec::parse(Path::new("spec.yaml"), &overlapping).expect("valid spec");
        let err = spec
            .resolve(&request("1.6.0", &roots))
            .expect_err("two match");
        assert!(
            err.message.contains("2 entries match version 1.6.0"),
            "{err}"
        );
        assert_eq!(err.line, Some(22));
    }

    #[test]
    fn yaml_problems_name_the_line() {
        let err = Spec::parse(Path::new("s.yaml"), &SPEC.replace("license:", "licence:"))
            .expect_err("unknown");
        assert!(err.message.contains("unknown field `licence`"), "{err}");
        assert_eq!(err.line, Some(7));
        let err = Spec::parse(
            Path::new("s.yaml"),
            &SPEC.replace("    license: Apache-2.0\n", ""),
        )
        .expect_err("missing");
        assert!(err.message.contains("missing field `license`"), "{err}");
        let err = Spec::parse(
            Path::new("s.yaml"),
            &SPEC.replace("name: hello", "name: Hello"),
        )
        .expect_err("bad name");
        assert_eq!(err.line, Some(2));
    }

    #[test]
    fn bad_values_are_refused() {
        let (_dir, roots) = sources();
        let spec = Spec::parse(
            Path::new("s.yaml"),
            &SPEC.replace("/usr/bin/hello", "usr/bin/hello"),
        )
        .expect("parses");
        let err = spec
            .resolve(&request("1.2.3", &roots))
            .expect_err("relative dest");
        assert_eq!(err.key, "packages[hello].files[0].dest");
        let spec = Spec::parse(Path::new("s.yaml"), &SPEC.replace("\"0600\"", "\"0900\""))
            .expect("parses");
        assert!(spec.resolve(&request("1.2.3", &roots)).is_err());
        let spec = Spec::parse(Path::new("s.yaml"), SPEC).expect("parses");
        let err = spec
            .resolve(&Resolve {
                packages: &["nope".into()],
                ..request("1.2.3", &roots)
            })
            .expect_err("unknown package");
        assert!(err.message.contains("no package `nope`"), "{err}");
        assert!(spec.resolve(&request("1.2", &roots)).is_err());
    }
}
