//! `project:`, `build:` and `release:` keys: how a release is built, where its artifacts go in
//! the bucket, which buckets hold it and which key signs it.
//!
//! Values that can be wrong in themselves (a platform that is not `OS/ARCH`, an artifact path
//! leaving the tree, a bucket URL with an unknown scheme) are checked while the YAML is read,
//! so the error names the line.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

/// `build:` keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Build {
    /// The command that builds a release, run with `sh -c` at the top of a clean tree of the
    /// tagged commit (default `make release`, as Kubernetes). It sees `KREL_VERSION`,
    /// `KREL_BUILD_VERSION`, `KREL_PLATFORMS` (comma-separated `os/arch`) and
    /// `SOURCE_DATE_EPOCH` in its environment.
    pub command: String,
    /// The platforms to build (default: Kubernetes' release platforms).
    pub platforms: Vec<Platform>,
    /// Where the build leaves artifacts and where each goes in the staged release.
    pub artifacts: Vec<ArtifactRule>,
    /// What the build's environment holds besides a few basics (PATH, HOME, locale, …):
    /// krel's own credentials never reach it.
    pub env: Vec<EnvEntry>,
    /// Where the build leaves its container images, when it makes any.
    pub images: Option<ImageRule>,
}

/// `build.images`: the directory (per platform) where the build leaves one `docker save`
/// archive (`NAME.tar`) or OCI layout (`NAME/`) per image, and the platforms that have images.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageRule {
    /// A directory in the build tree; `{os}` and `{arch}` expand per platform.
    pub from: RelativePath,
    /// The platforms with images (default: every linux platform of `build.platforms`).
    #[serde(default)]
    pub platforms: Option<Vec<Platform>>,
}

impl ImageRule {
    /// Kubernetes' `make release`: `_output/release-images/<arch>/*.tar`.
    pub fn kubernetes() -> ImageRule {
        ImageRule {
            from: RelativePath("_output/release-images/{arch}".into()),
            platforms: None,
        }
    }

    /// The platforms with images, given the build's.
    pub fn platforms(&self, build: &[Platform]) -> Vec<Platform> {
        match &self.platforms {
            Some(platforms) => platforms.clone(),
            None => build.iter().filter(|p| p.os == "linux").cloned().collect(),
        }
    }
}

/// One entry of `build.env`: a variable passed from krel's environment (`NAME`), or set to a
/// value (`NAME=value`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct EnvEntry {
    /// The variable's name.
    pub name: String,
    /// Its value, when set here; `None` passes krel's own value through.
    pub value: Option<String>,
}

impl TryFrom<String> for EnvEntry {
    type Error = String;
    fn try_from(text: String) -> Result<EnvEntry, String> {
        let (name, value) = match text.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (text.as_str(), None),
        };
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "`{text}` is not NAME or NAME=value (letters, digits and _; not starting with a digit)"
            ));
        }
        Ok(EnvEntry {
            name: name.to_string(),
            value,
        })
    }
}

impl schemars::JsonSchema for EnvEntry {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "EnvEntry".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        string_schema(
            "^[A-Za-z_][A-Za-z0-9_]*(=.*)?$",
            "NAME: passed from krel's environment; NAME=value: set to value",
        )
    }
}

impl Build {
    /// Kubernetes' build: `make release`, its platforms, tarballs at the top and binaries
    /// under `bin/<os>/<arch>/`.
    pub fn kubernetes() -> Build {
        let platforms = [
            "linux/amd64",
            "linux/arm64",
            "linux/ppc64le",
            "linux/s390x",
            "darwin/amd64",
            "darwin/arm64",
            "windows/amd64",
        ];
        Build {
            command: "make release".into(),
            platforms: platforms
                .iter()
                .filter_map(|p| Platform::parse(p).ok())
                .collect(),
            artifacts: vec![
                ArtifactRule {
                    from: RelativePath("_output/release-tars".into()),
                    to: RelativePath(String::new()),
                    files: Vec::new(),
                },
                ArtifactRule {
                    from: RelativePath("_output/dockerized/bin/{os}/{arch}".into()),
                    to: RelativePath("bin/{os}/{arch}".into()),
                    files: Vec::new(),
                },
            ],
            env: Vec::new(),
            images: Some(ImageRule::kubernetes()),
        }
    }
}

/// `release:` keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    /// The bucket releases go to with `--nomock`: `stage/` and `release/` under it
    /// (default `gs://kubernetes-release`).
    pub bucket: BucketUrl,
    /// The bucket a mock stage writes to; must be `file://` (a dry run reaches no remote).
    /// Default: `file://<data dir>/mock-bucket`, chosen by the binary.
    pub mock_bucket: Option<BucketUrl>,
    /// Where stage and release keep clones, builds and journals; default
    /// `<data dir>/workspace`, chosen by the binary.
    pub workspace: Option<PathBuf>,
    /// The private key that signs staged files (cosign or PKCS#8 PEM); its password comes
    /// from `KREL_SIGNING_PASSWORD`.
    pub signing_key: Option<PathBuf>,
    /// Whether `krel release` publishes a GitHub release (default true).
    pub github_release: bool,
    /// Whether stage writes `<file>.sig` (and `.cert`) beside every `<file>.sigstore.json`
    /// bundle, for verifiers that predate bundles (default true).
    pub detached_signatures: bool,
    /// How stage signs: with `signing_key`, or keylessly (an OIDC identity, Fulcio, Rekor).
    pub signing: Signing,
    /// Keyless: the Sigstore signing config naming Fulcio and Rekor (default: public-good).
    pub signing_config: Option<PathBuf>,
    /// Keyless: the trusted root release verifies the stage under (default: public-good).
    pub trusted_root: Option<PathBuf>,
    /// Keyless: a regular expression the signing certificate's identity must match (the stage
    /// workflow, such as `https://github.com/ORG/REPO/.github/workflows/stage.yml@.*`).
    pub signer_identity: Option<String>,
    /// Keyless: the OIDC issuer of the signing identity.
    pub signer_issuer: String,
    /// The registry stage pushes images to with `--nomock` (`docker://HOST/PREFIX` or
    /// `oci:PATH`; default `docker://gcr.io/k8s-staging-kubernetes`).
    pub staging_registry: RegistryUrl,
    /// The registry release promotes images to (default `docker://registry.k8s.io`).
    pub registry: RegistryUrl,
    /// The registry a mock stage pushes to: an `oci:` directory (a dry run reaches no remote).
    /// Default: `oci:<data dir>/mock-registry`, chosen by the binary.
    pub mock_registry: Option<RegistryUrl>,
}

impl Default for Release {
    fn default() -> Release {
        Release {
            bucket: BucketUrl("gs://kubernetes-release".into()),
            mock_bucket: None,
            workspace: None,
            signing_key: None,
            github_release: true,
            detached_signatures: true,
            signing: Signing::Key,
            signing_config: None,
            trusted_root: None,
            signer_identity: None,
            signer_issuer: "https://token.actions.githubusercontent.com".into(),
            staging_registry: RegistryUrl("docker://gcr.io/k8s-staging-kubernetes".into()),
            registry: RegistryUrl("docker://registry.k8s.io".into()),
            mock_registry: None,
        }
    }
}

/// How a stage is signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signing {
    /// With `release.signing_key`.
    Key,
    /// Keylessly: an OIDC identity token, a Fulcio certificate, a Rekor entry.
    Keyless,
}

impl std::fmt::Display for Signing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Signing::Key => "key",
            Signing::Keyless => "keyless",
        })
    }
}

/// A platform to build, `os/arch` as Go and Kubernetes name them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct Platform {
    /// `linux`, `darwin`, `windows`, …
    pub os: String,
    /// `amd64`, `arm64`, `ppc64le`, `s390x`, …
    pub arch: String,
}

impl Platform {
    /// Reads `os/arch`.
    pub fn parse(text: &str) -> Result<Platform, String> {
        let ok = |part: &str| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        match text.split_once('/') {
            Some((os, arch)) if ok(os) && ok(arch) => Ok(Platform {
                os: os.into(),
                arch: arch.into(),
            }),
            _ => Err(format!(
                "`{text}` is not a platform: write OS/ARCH in lower case, such as linux/amd64"
            )),
        }
    }

    /// Replaces `{os}` and `{arch}` in `template`.
    pub fn expand(&self, template: &str) -> String {
        template
            .replace("{os}", &self.os)
            .replace("{arch}", &self.arch)
    }
}

impl TryFrom<String> for Platform {
    type Error = String;
    fn try_from(text: String) -> Result<Platform, String> {
        Platform::parse(&text)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)
    }
}

/// Parses a comma-separated platform list (`KREL_PLATFORMS`).
pub fn parse_platforms(text: &str) -> Result<Vec<Platform>, String> {
    let platforms = text
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(Platform::parse)
        .collect::<Result<Vec<_>, _>>()?;
    if platforms.is_empty() {
        return Err("no platform given".into());
    }
    Ok(platforms)
}

/// One rule of `build.artifacts`: copy the files in `from` (a directory of the build tree)
/// to `to` (a directory of the staged release; empty for its top). When either contains
/// `{os}` or `{arch}`, the rule applies once per platform.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArtifactRule {
    /// A directory in the build tree.
    pub from: RelativePath,
    /// A directory in the staged release (`.` or empty for the top).
    #[serde(default)]
    pub to: RelativePath,
    /// Only these file names (default: every file in `from`, recursively).
    #[serde(default)]
    pub files: Vec<String>,
}

impl ArtifactRule {
    /// True when the rule is expanded once per platform.
    pub fn per_platform(&self) -> bool {
        [&self.from.0, &self.to.0]
            .iter()
            .any(|p| p.contains("{os}") || p.contains("{arch}"))
    }
}

/// A relative path with `/` separators that stays inside its directory (no `..`, not
/// absolute). `.` and the empty string both mean the directory itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct RelativePath(String);

impl RelativePath {
    /// The path, normalised: no leading `./`, no trailing `/`, empty for the top.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RelativePath {
    type Error = String;
    fn try_from(text: String) -> Result<RelativePath, String> {
        if text.starts_with('/') || text.contains('\\') {
            return Err(format!(
                "`{text}` must be a relative path with / separators"
            ));
        }
        let parts: Vec<&str> = text
            .split('/')
            .filter(|part| !part.is_empty() && *part != ".")
            .collect();
        if parts.contains(&"..") {
            return Err(format!("`{text}` leaves its directory (`..`)"));
        }
        Ok(RelativePath(parts.join("/")))
    }
}

/// A bucket URL: `gs://bucket[/prefix]`, `s3://bucket[/prefix]` or `file:///absolute/path`.
/// Only the scheme is checked here; the storage layer reads the rest.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct BucketUrl(String);

impl BucketUrl {
    /// The URL as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for `file://` URLs.
    pub fn is_local(&self) -> bool {
        self.0.starts_with("file://")
    }
}

impl TryFrom<String> for BucketUrl {
    type Error = String;
    fn try_from(text: String) -> Result<BucketUrl, String> {
        let known = ["gs://", "s3://", "file:///"];
        if known
            .iter()
            .any(|scheme| text.starts_with(scheme) && text.len() > scheme.len())
        {
            Ok(BucketUrl(text.trim_end_matches('/').to_string()))
        } else {
            Err(format!(
                "`{text}` is not a bucket URL: use gs://BUCKET, s3://BUCKET or file:///ABSOLUTE/PATH"
            ))
        }
    }
}

impl fmt::Display for BucketUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An image location: `docker://HOST[:PORT]/PREFIX` (a registry) or `oci:PATH` (a directory
/// of OCI layouts). Only the scheme is checked here; krel-image reads the rest.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct RegistryUrl(String);

impl RegistryUrl {
    /// The location as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for `oci:` directories.
    pub fn is_local(&self) -> bool {
        self.0.starts_with("oci:")
    }
}

impl TryFrom<String> for RegistryUrl {
    type Error = String;
    fn try_from(text: String) -> Result<RegistryUrl, String> {
        let known = ["docker://", "oci:"];
        if known
            .iter()
            .any(|scheme| text.starts_with(scheme) && text.len() > scheme.len())
        {
            Ok(RegistryUrl(text.trim_end_matches('/').to_string()))
        } else {
            Err(format!(
                "`{text}` is not an image location: use docker://HOST[:PORT]/PREFIX or oci:PATH"
            ))
        }
    }
}

impl fmt::Display for RegistryUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl schemars::JsonSchema for RegistryUrl {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RegistryUrl".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        string_schema(
            "^(docker://|oci:).+",
            "docker://HOST[:PORT]/PREFIX (a registry) or oci:PATH (a directory of OCI layouts)",
        )
    }
}

/// How a release is built and what it is made of.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileBuild {
    /// The build, run with `sh -c` at the top of a clean tree of the release tag, with
    /// KREL_VERSION, KREL_BUILD_VERSION, KREL_PLATFORMS and SOURCE_DATE_EPOCH set (default:
    /// Kubernetes' `make release`).
    pub(crate) command: Option<String>,
    /// The platforms to build, `os/arch` (default: linux/amd64, linux/arm64, linux/ppc64le,
    /// linux/s390x).
    pub(crate) platforms: Option<Vec<Platform>>,
    /// Which files of the build tree are staged, and where (default: Kubernetes' layout).
    pub(crate) artifacts: Option<Vec<ArtifactRule>>,
    /// Variables the build sees besides PATH, HOME, USER, LOGNAME, SHELL, TERM, TMPDIR, TZ,
    /// LANG and LC_*: `NAME` passes krel's value through, `NAME=value` sets it. krel's own
    /// credentials (GITHUB_TOKEN, the signing password, cloud keys) reach the build only when
    /// named here, and are masked in its log either way.
    pub(crate) env: Option<Vec<EnvEntry>>,
    /// Where the build leaves its container images: `from` (per platform, with {os} and
    /// {arch}) holds one docker save archive NAME.tar or OCI layout NAME/ per image; the
    /// platforms with images default to the linux ones. Default: Kubernetes'
    /// `_output/release-images/{arch}` with Kubernetes' build command; none with another
    /// build command unless set here.
    pub(crate) images: Option<ImageRule>,
}

/// Where releases go and what signs them.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileRelease {
    /// The bucket stages and releases go to with --nomock (gs://, s3:// or file:///).
    pub(crate) bucket: Option<BucketUrl>,
    /// The bucket a mock stage writes to: a file:// URL (default
    /// ~/.local/share/krel/mock-bucket).
    pub(crate) mock_bucket: Option<BucketUrl>,
    /// Where clones, builds and journals are kept (relative to this file; default
    /// ~/.local/share/krel/workspace).
    pub(crate) workspace: Option<PathBuf>,
    /// The cosign-compatible private key that signs every staged file (relative to this
    /// file); its password comes from KREL_SIGNING_PASSWORD.
    pub(crate) signing_key: Option<PathBuf>,
    /// Publish a GitHub release per version (default true).
    pub(crate) github_release: Option<bool>,
    /// Also write <file>.sig (and .cert) beside every <file>.sigstore.json bundle, for
    /// verifiers that predate bundles (default true).
    pub(crate) detached_signatures: Option<bool>,
    /// How stage signs: `key` (release.signing_key, the default) or `keyless` (an OIDC
    /// identity token, a Fulcio certificate, a Rekor entry).
    pub(crate) signing: Option<String>,
    /// Keyless: the Sigstore signing config naming Fulcio and Rekor (relative to this file;
    /// default: Sigstore's public-good instance).
    pub(crate) signing_config: Option<PathBuf>,
    /// Keyless: the trusted root release verifies under (relative to this file; default:
    /// Sigstore's public-good root).
    pub(crate) trusted_root: Option<PathBuf>,
    /// Keyless: a regular expression the signing identity must match.
    pub(crate) signer_identity: Option<String>,
    /// Keyless: the OIDC issuer of the signing identity (default
    /// https://token.actions.githubusercontent.com).
    pub(crate) signer_issuer: Option<String>,
    /// The registry stage pushes images to with --nomock: docker://HOST[:PORT]/PREFIX or
    /// oci:PATH (default docker://gcr.io/k8s-staging-kubernetes).
    pub(crate) staging_registry: Option<RegistryUrl>,
    /// The registry release promotes images to (default docker://registry.k8s.io).
    pub(crate) registry: Option<RegistryUrl>,
    /// The registry a mock stage pushes to: an oci: directory (default
    /// ~/.local/share/krel/mock-registry).
    pub(crate) mock_registry: Option<RegistryUrl>,
}

/// A string schema with a pattern and a description, for types read from strings.
fn string_schema(pattern: &str, description: &str) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "pattern": pattern,
        "description": description,
    })
}

impl schemars::JsonSchema for Platform {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Platform".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        string_schema(
            "^[a-z0-9]+/[a-z0-9]+$",
            "os/arch, as Go names them: linux/amd64",
        )
    }
}

impl schemars::JsonSchema for RelativePath {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RelativePath".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        string_schema(
            "^(?!/)(?!.*(^|/)\\.\\.(/|$)).*$",
            "a relative path with / separators, without `..`; {os} and {arch} expand per platform",
        )
    }
}

impl schemars::JsonSchema for BucketUrl {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "BucketUrl".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        string_schema(
            "^(gs://|s3://|file:///).+",
            "gs://BUCKET[/PREFIX], s3://BUCKET[/PREFIX] or file:///ABSOLUTE/PATH",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_and_paths_are_checked() {
        assert_eq!(
            Platform::parse("linux/arm64").unwrap().to_string(),
            "linux/arm64"
        );
        for bad in ["linux", "Linux/amd64", "linux/", "/amd64", "linux/amd64/v8"] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            RelativePath::try_from("./bin//{os}/".to_string())
                .unwrap()
                .as_str(),
            "bin/{os}"
        );
        assert_eq!(
            RelativePath::try_from(".".to_string()).unwrap().as_str(),
            ""
        );
        assert!(RelativePath::try_from("../x".to_string()).is_err());
        assert!(RelativePath::try_from("/etc".to_string()).is_err());
        assert!(BucketUrl::try_from("gs://b/".to_string()).is_ok());
        assert!(BucketUrl::try_from("file://relative".to_string()).is_err());
        assert!(BucketUrl::try_from("http://x".to_string()).is_err());
        assert_eq!(
            parse_platforms(" linux/amd64, darwin/arm64 ")
                .unwrap()
                .len(),
            2
        );
        assert!(parse_platforms(",").is_err());
    }
}
