//! One release's section of a Kubernetes CHANGELOG, and its JSON.

use std::collections::{BTreeMap, BTreeSet};

use crate::note::{Kind, ReleaseNote};

/// One downloadable file for the Downloads tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownloadFile {
    /// File name (`kubernetes-client-linux-amd64.tar.gz`).
    pub name: String,
    /// SHA-512, lowercase hex.
    pub sha512: String,
}

/// One container image for the Container Images table.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct DownloadImage {
    /// Where to pull it: `registry.k8s.io/kube-apiserver:v1.32.0`.
    pub reference: String,
    /// The index digest.
    pub digest: String,
    /// The platforms, `os/arch`.
    pub platforms: Vec<String>,
}

/// The notes of one release, ready to render.
#[derive(Clone, Debug)]
pub struct Document {
    /// The release, `v1.30.0`.
    pub version: String,
    /// The previous release, for "Changelog since".
    pub previous: Option<String>,
    /// Every note (duplicates and unpublished ones are filtered when rendering).
    pub notes: Vec<ReleaseNote>,
    /// The rendered "## Downloads" section, if any.
    pub downloads: Option<String>,
    /// The rendered "## Dependencies" section, if any.
    pub dependencies: Option<String>,
}

/// A note's line in a section: the markdown without a leading bullet.
fn entry(note: &ReleaseNote) -> String {
    let text = note.markdown.as_str();
    let stripped = text.trim_start_matches(['-', '*']);
    if stripped.len() != text.len() && stripped.starts_with(char::is_whitespace) {
        stripped.trim_start().to_string()
    } else {
        text.to_string()
    }
}

impl Document {
    /// The notes that are published, once each (identical lines collapse), in history order.
    pub fn published(&self) -> Vec<&ReleaseNote> {
        let mut seen = BTreeSet::new();
        self.notes
            .iter()
            .filter(|n| n.is_mapped || !n.do_not_publish)
            .filter(|n| seen.insert(n.markdown.clone()))
            .collect()
    }

    /// Urgent notes and notes by section, each list sorted byte-wise as upstream sorts.
    pub fn sections(&self) -> (Vec<String>, BTreeMap<Kind, Vec<String>>) {
        let mut urgent = Vec::new();
        let mut kinds: BTreeMap<Kind, Vec<String>> = BTreeMap::new();
        for note in self.published() {
            if note.action_required {
                urgent.push(entry(note));
                continue;
            }
            let mut sections: Vec<Kind> = note.kinds.iter().map(|k| Kind::from_label(k)).collect();
            sections.sort();
            sections.dedup();
            // Several kinds: the note goes once, to the highest-priority section.
            let section = sections.first().copied().unwrap_or(Kind::Uncategorized);
            kinds.entry(section).or_default().push(entry(note));
        }
        urgent.sort();
        for list in kinds.values_mut() {
            list.sort();
        }
        (urgent, kinds)
    }

    /// The CHANGELOG section for this release.
    pub fn markdown(&self) -> String {
        let mut out = format!("# {}\n\n", self.version);
        if let Some(downloads) = &self.downloads {
            out.push_str(downloads);
            out.push('\n');
        }
        if let Some(previous) = &self.previous {
            out.push_str(&format!("## Changelog since {previous}\n\n"));
        }
        let (urgent, kinds) = self.sections();
        if !urgent.is_empty() {
            out.push_str("## Urgent Upgrade Notes\n\n### (No, really, you MUST read this before you upgrade)\n\n");
            for line in &urgent {
                out.push_str(&format!("- {line}\n"));
            }
            out.push('\n');
        }
        if !kinds.is_empty() {
            out.push_str("## Changes by Kind\n\n");
            for (kind, lines) in &kinds {
                out.push_str(&format!("### {}\n\n", kind.heading()));
                for line in lines {
                    out.push_str(&format!("- {line}\n"));
                }
                out.push('\n');
            }
        }
        if let Some(dependencies) = &self.dependencies {
            out.push_str(dependencies);
        }
        format!("{}\n", out.trim_end())
    }

    /// The notes as JSON text: an object keyed by PR number, fields in upstream's order.
    pub fn json(&self) -> String {
        let map: BTreeMap<String, &ReleaseNote> = self
            .published()
            .into_iter()
            .map(|n| (n.pr_number.to_string(), n))
            .collect();
        serde_json::to_string_pretty(&map).unwrap_or_default()
    }
}

/// "## Downloads for vX" with Source Code, Client, Server and Node Binaries tables (only the
/// groups that have files), and the project's other release archives.
pub fn downloads_section(
    version: &str,
    url_prefix: &str,
    files: &[DownloadFile],
    images: &[DownloadImage],
) -> Option<String> {
    if files.is_empty() && images.is_empty() {
        return None;
    }
    let group = |file: &DownloadFile| -> usize {
        let name = file.name.as_str();
        if name == "kubernetes.tar.gz" || name == "kubernetes-src.tar.gz" {
            0
        } else if name.starts_with("kubernetes-client") {
            1
        } else if name.starts_with("kubernetes-server") {
            2
        } else if name.starts_with("kubernetes-node") {
            3
        } else {
            4
        }
    };
    let titles = [
        "Source Code",
        "Client Binaries",
        "Server Binaries",
        "Node Binaries",
        "Other Files",
    ];
    let mut out = format!("## Downloads for {version}\n\n");
    for (index, title) in titles.iter().enumerate() {
        let mut rows: Vec<&DownloadFile> = files.iter().filter(|f| group(f) == index).collect();
        if rows.is_empty() {
            continue;
        }
        if index == 0 {
            // kubernetes.tar.gz before kubernetes-src.tar.gz, as Kubernetes lists them.
            rows.sort_by_key(|f| f.name != "kubernetes.tar.gz");
        } else {
            rows.sort_by(|a, b| a.name.cmp(&b.name));
        }
        out.push_str(&format!(
            "### {title}\n\nfilename | sha512 hash\n-------- | -----------\n"
        ));
        for file in rows {
            let url = format!(
                "{}/{version}/{}",
                url_prefix.trim_end_matches('/'),
                file.name
            );
            out.push_str(&format!("[{}]({url}) | {}\n", file.name, file.sha512));
        }
        out.push('\n');
    }
    out.push_str(&images_table(images));
    Some(out)
}

/// Kubernetes' "### Container Images" table: each image by tag and digest, with its
/// architectures.
pub fn images_table(images: &[DownloadImage]) -> String {
    if images.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "### Container Images\n\nAll container images are available as manifest lists and support the described architectures.\n\nname | architectures\n---- | -------------\n",
    );
    let mut sorted: Vec<&DownloadImage> = images.iter().collect();
    sorted.sort_by(|a, b| a.reference.cmp(&b.reference));
    for image in sorted {
        let arches: Vec<&str> = image
            .platforms
            .iter()
            .map(|p| p.split('/').nth(1).unwrap_or(p))
            .collect();
        out.push_str(&format!(
            "{}@{} | {}\n",
            image.reference,
            image.digest,
            arches.join(", ")
        ));
    }
    out.push('\n');
    out
}

/// Module → version from a go.mod (`require` lines) or a Cargo.lock (`[[package]]`).
fn dependency_versions(text: &str) -> BTreeMap<String, String> {
    let mut versions = BTreeMap::new();
    if text.contains("[[package]]") {
        let mut name = None;
        for line in text.lines() {
            if let Some(value) = line.strip_prefix("name = ") {
                name = Some(value.trim_matches('"').to_string());
            } else if let (Some(value), Some(n)) = (line.strip_prefix("version = "), name.take()) {
                // A crate can be locked at several versions at once: keep them all.
                let entry = versions.entry(n).or_insert_with(String::new);
                if !entry.is_empty() {
                    entry.push_str(", ");
                }
                entry.push_str(value.trim_matches('"'));
            }
        }
        return versions;
    }
    let mut in_block = false;
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or("").trim();
        if line.starts_with("require (") {
            in_block = true;
            continue;
        }
        if in_block && line == ")" {
            in_block = false;
            continue;
        }
        let spec = if in_block {
            Some(line)
        } else {
            line.strip_prefix("require ")
        };
        if let Some(spec) = spec {
            let mut parts = spec.split_whitespace();
            if let (Some(module), Some(version)) = (parts.next(), parts.next()) {
                versions.insert(module.to_string(), version.to_string());
            }
        }
    }
    versions
}

/// `v0.0.0-20230822172742-b8732ec3820d` → `b8732ec`; other versions as they are.
fn short_version(version: &str) -> String {
    let parts: Vec<&str> = version.split('-').collect();
    match parts.last() {
        Some(last)
            if parts.len() >= 3
                && last.len() >= 12
                && last.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            last[..7].to_string()
        }
        _ => version.to_string(),
    }
}

/// "## Dependencies" from two go.mod (or Cargo.lock) contents, in go-modiff's classic form.
pub fn dependencies_section(before: &str, after: &str) -> String {
    let (old, new) = (dependency_versions(before), dependency_versions(after));
    let link = |module: &str, text: &str, path: String| {
        if module.starts_with("github.com/") {
            format!("[{text}](https://{module}/{path})")
        } else {
            text.to_string()
        }
    };
    let mut added = Vec::new();
    let mut changed = Vec::new();
    let mut removed = Vec::new();
    for (module, version) in &new {
        let plain = version.trim_end_matches("+incompatible");
        match old.get(module) {
            None => added.push(format!(
                "- {module}: {}",
                link(module, &short_version(version), format!("tree/{plain}"))
            )),
            Some(previous) if previous != version => {
                let text = format!("{} → {}", short_version(previous), short_version(version));
                let from = previous.trim_end_matches("+incompatible");
                changed.push(format!(
                    "- {module}: {}",
                    link(module, &text, format!("compare/{from}...{plain}"))
                ));
            }
            Some(_) => {}
        }
    }
    for (module, version) in &old {
        if !new.contains_key(module) {
            let plain = version.trim_end_matches("+incompatible");
            removed.push(format!(
                "- {module}: {}",
                link(module, &short_version(version), format!("tree/{plain}"))
            ));
        }
    }
    let block = |title: &str, lines: &[String]| {
        let body = if lines.is_empty() {
            "_Nothing has changed._".to_string()
        } else {
            lines.join("\n")
        };
        format!("### {title}\n{body}\n")
    };
    format!(
        "## Dependencies\n\n{}\n{}\n{}",
        block("Added", &added),
        block("Changed", &changed),
        block("Removed", &removed)
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn container_images_are_listed_by_tag_and_digest_with_their_architectures() {
        let images = [
            DownloadImage {
                reference: "registry.k8s.io/kube-proxy:v1.32.0".into(),
                digest: "sha256:bb".into(),
                platforms: vec!["linux/amd64".into(), "linux/arm64".into()],
            },
            DownloadImage {
                reference: "registry.k8s.io/kube-apiserver:v1.32.0".into(),
                digest: "sha256:aa".into(),
                platforms: vec!["linux/amd64".into(), "linux/s390x".into()],
            },
        ];
        let section = downloads_section("v1.32.0", "https://dl.k8s.io", &[], &images).unwrap();
        assert!(section.starts_with("## Downloads for v1.32.0\n\n### Container Images\n"));
        assert!(section.contains(
            "name | architectures\n---- | -------------\nregistry.k8s.io/kube-apiserver:v1.32.0@sha256:aa | amd64, s390x\nregistry.k8s.io/kube-proxy:v1.32.0@sha256:bb | amd64, arm64\n"
        ), "{section}");
        assert_eq!(
            downloads_section("v1.32.0", "https://dl.k8s.io", &[], &[]),
            None
        );
    }

    use super::*;

    #[test]
    fn go_mod_diff_in_go_modiff_form() {
        let before = "module k8s.io/kubernetes\n\nrequire (\n\tgithub.com/a/b v1.0.0\n\tgolang.org/x/net v0.14.0 // indirect\n\tgithub.com/gone/x v0.1.0\n)\n";
        let after = "module k8s.io/kubernetes\n\nrequire (\n\tgithub.com/a/b v1.1.0\n\tgolang.org/x/net v0.17.0\n\tgithub.com/new/y v0.0.0-20230822172742-b8732ec3820d\n)\n";
        let section = dependencies_section(before, after);
        assert!(section.contains("### Added\n- github.com/new/y: [b8732ec](https://github.com/new/y/tree/v0.0.0-20230822172742-b8732ec3820d)\n"), "{section}");
        assert!(section.contains("- github.com/a/b: [v1.0.0 → v1.1.0](https://github.com/a/b/compare/v1.0.0...v1.1.0)"), "{section}");
        assert!(
            section.contains("- golang.org/x/net: v0.14.0 → v0.17.0"),
            "{section}"
        );
        assert!(
            section.contains(
                "### Removed\n- github.com/gone/x: [v0.1.0](https://github.com/gone/x/tree/v0.1.0)"
            ),
            "{section}"
        );
        let same = dependencies_section(before, before);
        assert_eq!(same.matches("_Nothing has changed._").count(), 3);
    }

    #[test]
    fn cargo_lock_diff() {
        let before = "[[package]]\nname = \"serde\"\nversion = \"1.0.1\"\n";
        let after = "[[package]]\nname = \"serde\"\nversion = \"1.0.2\"\n";
        assert!(dependencies_section(before, after).contains("- serde: 1.0.1 → 1.0.2"));
    }
}
