//! Reading yum metadata as dnf does, with an XML parser: `repomd.xml`'s `<data>` entries and
//! `primary.xml`'s packages (entities unescaped, attributes in any order).

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// One `<data>` entry of `repomd.xml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepomdData {
    /// `primary`, `filelists`, `other`...
    pub kind: String,
    /// Where it is, under the repository (`repodata/<sha256>-primary.xml.gz`).
    pub href: String,
    /// Its SHA-256 (of the compressed file), when recorded.
    pub sha256: Option<String>,
}

/// One package `primary.xml` lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListedRpm {
    /// Its name.
    pub name: String,
    /// `ver` (the upstream version).
    pub version: String,
    /// `rel` (the release).
    pub release: String,
    /// Its path under the repository (`x86_64/…rpm`).
    pub href: String,
    /// Its SHA-256, as the metadata records it.
    pub sha256: String,
    /// What it requires: `name`, or `name (OP version)` with OP one of `>=`, `>`, `<=`, `<`, `=`.
    pub requires: Vec<String>,
}

/// The `<data>` entries of `repomd.xml`.
pub fn repomd_data(xml: &str) -> Result<Vec<RepomdData>, String> {
    let mut reader = Reader::from_str(xml);
    let mut found = Vec::new();
    let mut current: Option<RepomdData> = None;
    let mut in_checksum = false;
    loop {
        match reader.read_event().map_err(|err| err.to_string())? {
            Event::Start(e) | Event::Empty(e) if local(&e) == b"data" => {
                current = Some(RepomdData {
                    kind: attribute(&e, b"type")?.unwrap_or_default(),
                    href: String::new(),
                    sha256: None,
                });
            }
            Event::Start(e) | Event::Empty(e) if local(&e) == b"location" => {
                if let Some(data) = current.as_mut() {
                    data.href = attribute(&e, b"href")?.unwrap_or_default();
                }
            }
            Event::Start(e) if local(&e) == b"checksum" => {
                in_checksum = attribute(&e, b"type")?.as_deref() == Some("sha256");
            }
            Event::Text(text) if in_checksum => {
                if let Some(data) = current.as_mut() {
                    data.sha256 = Some(text.decode().map_err(|err| err.to_string())?.trim().into());
                }
            }
            Event::End(e) if e.local_name().as_ref() == b"checksum" => in_checksum = false,
            Event::End(e) if e.local_name().as_ref() == b"data" => found.extend(current.take()),
            Event::Eof => return Ok(found),
            _ => {}
        }
    }
}

/// Which text of a `<package>` is being read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    None,
    Name,
    PackageId,
}

/// The packages of `primary.xml`.
pub fn primary_packages(xml: &str) -> Result<Vec<ListedRpm>, String> {
    let mut reader = Reader::from_str(xml);
    let mut found = Vec::new();
    let mut current: Option<ListedRpm> = None;
    let (mut field, mut in_requires) = (Field::None, false);
    loop {
        let event = reader.read_event().map_err(|err| err.to_string())?;
        let Some(package) = current.as_mut() else {
            if matches!(&event, Event::Start(e) if local(e) == b"package") {
                current = Some(ListedRpm::default());
            } else if matches!(event, Event::Eof) {
                return Ok(found);
            }
            continue;
        };
        match event {
            Event::Start(e) if local(&e) == b"name" => field = Field::Name,
            Event::Start(e)
                if local(&e) == b"checksum"
                    && attribute(&e, b"pkgid")?.as_deref() == Some("YES") =>
            {
                field = Field::PackageId;
            }
            Event::Start(e) | Event::Empty(e) if local(&e) == b"version" => {
                package.version = attribute(&e, b"ver")?.unwrap_or_default();
                package.release = attribute(&e, b"rel")?.unwrap_or_default();
            }
            Event::Start(e) | Event::Empty(e) if local(&e) == b"location" => {
                package.href = attribute(&e, b"href")?.unwrap_or_default();
            }
            Event::Start(e) if e.name().as_ref() == b"rpm:requires" => in_requires = true,
            Event::End(e) if e.name().as_ref() == b"rpm:requires" => in_requires = false,
            Event::Start(e) | Event::Empty(e) if in_requires && local(&e) == b"entry" => {
                package.requires.push(requirement(&e)?);
            }
            Event::Text(text) if field != Field::None => {
                let text = text.decode().map_err(|err| err.to_string())?;
                push_text(package, field, &text);
            }
            Event::GeneralRef(entity) if field != Field::None => {
                let text = match entity.resolve_char_ref().map_err(|err| err.to_string())? {
                    Some(ch) => ch.to_string(),
                    None => {
                        let name = entity.decode().map_err(|err| err.to_string())?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| format!("unknown entity &{name};"))?
                            .to_string()
                    }
                };
                push_text(package, field, &text);
            }
            Event::End(e) if matches!(e.local_name().as_ref(), b"name" | b"checksum") => {
                field = Field::None;
            }
            Event::End(e) if e.local_name().as_ref() == b"package" => {
                found.extend(current.take());
            }
            Event::Eof => return Err("primary.xml ends inside a <package>".into()),
            _ => {}
        }
    }
}

fn push_text(package: &mut ListedRpm, field: Field, text: &str) {
    match field {
        Field::Name => package.name.push_str(text),
        Field::PackageId => package.sha256.push_str(text.trim()),
        Field::None => {}
    }
}

/// `<rpm:entry name="iptables" flags="GE" ver="1.4.21"/>` → `iptables (>= 1.4.21)`.
fn requirement(entry: &BytesStart<'_>) -> Result<String, String> {
    let name = attribute(entry, b"name")?.unwrap_or_default();
    let op = match attribute(entry, b"flags")?.as_deref() {
        Some("GE") => ">=",
        Some("GT") => ">",
        Some("LE") => "<=",
        Some("LT") => "<",
        Some("EQ") => "=",
        _ => return Ok(name),
    };
    let version = attribute(entry, b"ver")?.unwrap_or_default();
    Ok(format!("{name} ({op} {version})"))
}

fn local<'a>(element: &'a BytesStart<'_>) -> &'a [u8] {
    let name = element.name().into_inner();
    name.rsplit(|b| *b == b':').next().unwrap_or(name)
}

/// The unescaped value of attribute `key`, if present.
fn attribute(element: &BytesStart<'_>, key: &[u8]) -> Result<Option<String>, String> {
    for attribute in element.attributes() {
        let attribute = attribute.map_err(|err| err.to_string())?;
        if attribute.key.as_ref() == key {
            let value = attribute
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|err| err.to_string())?;
            return Ok(Some(value.into_owned()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repomd_entries_are_read_with_their_digests() {
        let xml = r#"<?xml version="1.0"?><repomd xmlns="http://linux.duke.edu/metadata/repo">
<revision>1</revision>
<data type="primary"><checksum type="sha256">abc</checksum><location href="repodata/abc-primary.xml.gz"/></data>
<data type="other"><location href="repodata/o.xml.gz"/><checksum type="sha256">def</checksum></data>
</repomd>"#;
        assert_eq!(
            repomd_data(xml).unwrap(),
            vec![
                RepomdData {
                    kind: "primary".into(),
                    href: "repodata/abc-primary.xml.gz".into(),
                    sha256: Some("abc".into())
                },
                RepomdData {
                    kind: "other".into(),
                    href: "repodata/o.xml.gz".into(),
                    sha256: Some("def".into())
                },
            ]
        );
    }

    #[test]
    fn packages_are_read_with_requirements_and_entities() {
        let xml = r#"<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="1">
<package type="rpm"><name>a&amp;b</name><arch>x86_64</arch>
<version epoch="0" rel="1.1" ver="1.29.0"/>
<checksum type="sha256" pkgid="YES">0123</checksum>
<location href="x86_64/a&amp;b-1.29.0-1.1.x86_64.rpm"/>
<format><rpm:provides><rpm:entry name="a&amp;b" flags="EQ" ver="1.29.0"/></rpm:provides>
<rpm:requires><rpm:entry name="iptables" flags="GE" ver="1.4.21"/><rpm:entry name="/bin/sh"/></rpm:requires></format>
</package></metadata>"#;
        assert_eq!(
            primary_packages(xml).unwrap(),
            vec![ListedRpm {
                name: "a&b".into(),
                version: "1.29.0".into(),
                release: "1.1".into(),
                href: "x86_64/a&b-1.29.0-1.1.x86_64.rpm".into(),
                sha256: "0123".into(),
                requires: vec!["iptables (>= 1.4.21)".into(), "/bin/sh".into()],
            }]
        );
        assert!(primary_packages("<metadata><package><name>x</name>").is_err());
    }
}
