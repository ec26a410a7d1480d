//! Map files: YAML overrides of release notes per PR (upstream's `notes_map.go` schema).
//!
//! A directory of `*.yaml`/`*.yml` files, each with one or more `---`-separated documents:
//!
//! ```yaml
//! pr: 95000
//! releasenote:
//!   text: A better note.
//!   sigs: [instrumentation]
//!   kinds: [feature]
//!   action_required: false
//!   do_not_publish: false
//! ```
//!
//! Unknown fields, and maps for PRs that are not part of the release, are errors naming the
//! file and line.

use std::path::{Path, PathBuf};

use crate::note::{markdown_line, ReleaseNote};

/// One override.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteMap {
    /// The PR it applies to.
    pub pr: u64,
    /// The commit (informational).
    #[serde(default)]
    pub commit: Option<String>,
    /// Fields to override.
    #[serde(default)]
    pub releasenote: MapNote,
    /// Free-form data (for example `cve`), kept as is.
    #[serde(default)]
    pub datafields: Option<serde_yaml_ng::Value>,
    /// A replacement PR body.
    #[serde(default)]
    pub pr_body: Option<String>,
}

/// The overridable note fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapNote {
    /// The note text.
    pub text: Option<String>,
    /// The author's login.
    pub author: Option<String>,
    /// `sig/*` names.
    pub sigs: Option<Vec<String>>,
    /// `kind/*` names.
    pub kinds: Option<Vec<String>>,
    /// `area/*` names.
    pub areas: Option<Vec<String>>,
    /// A feature.
    pub feature: Option<bool>,
    /// Goes to Urgent Upgrade Notes.
    pub action_required: Option<bool>,
    /// Left out of the document.
    pub do_not_publish: Option<bool>,
    /// Documentation links (kept, not rendered).
    pub documentation: Option<serde_yaml_ng::Value>,
}

/// A map file problem.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// A file could not be read.
    #[error("reading map file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A document is not a valid map.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
}

impl krel_error::Diagnose for MapError {
    /// A map file that cannot be read or used is a usage error.
    fn kind(&self) -> krel_error::ErrorKind {
        krel_error::ErrorKind::Usage
    }

    fn hint(&self) -> Option<String> {
        Some("map files hold pr and releasenote {text, author, sigs, kinds, areas, feature, action_required, do_not_publish}".into())
    }
}

/// Reads every map under `dir` (sorted by path; within a file, in order), with the file and
/// the line of each document for messages.
pub fn read_maps(dir: &Path) -> Result<Vec<(NoteMap, PathBuf, usize)>, MapError> {
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    files.sort();
    let mut maps = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(|source| MapError::Read {
            path: path.clone(),
            source,
        })?;
        for (map, line) in parse_maps(&text, &path)? {
            maps.push((map, path.clone(), line));
        }
    }
    Ok(maps)
}

/// The maps of one file's `text` (documents separated by `---` lines), each with the line it
/// starts on; `path` names the file in errors.
pub fn parse_maps(text: &str, path: &Path) -> Result<Vec<(NoteMap, usize)>, MapError> {
    // Documents are separated by `---` lines; each keeps the line it starts on.
    let mut documents: Vec<(usize, String)> = vec![(1, String::new())];
    for (index, line) in text.lines().enumerate() {
        if line == "---" || line.starts_with("--- ") {
            documents.push((index + 2, String::new()));
        } else if let Some((_, document)) = documents.last_mut() {
            document.push_str(line);
            document.push('\n');
        }
    }
    let mut maps = Vec::new();
    for (start, document) in documents {
        // A document of only comments (a header before the first `---`) is no map.
        let map = serde_yaml_ng::from_str::<Option<NoteMap>>(&document).map_err(|err| {
            MapError::Invalid {
                path: path.to_path_buf(),
                line: err.location().map(|l| start + l.line() - 1),
                message: err
                    .to_string()
                    .split(" at line ")
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            }
        })?;
        if let Some(map) = map {
            let line = start + pr_line(&document, map.pr) - 1;
            maps.push((map, line));
        }
    }
    Ok(maps)
}

/// The line of `pr: N` in a map file (1 when it cannot be found).
fn pr_line(text: &str, pr: u64) -> usize {
    text.lines()
        .position(|line| {
            line.trim_start_matches("- ")
                .strip_prefix("pr:")
                .is_some_and(|v| v.trim().parse::<u64>().ok() == Some(pr))
        })
        .map_or(1, |index| index + 1)
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), MapError> {
    let entries = std::fs::read_dir(dir).map_err(|source| MapError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files)?;
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            files.push(path);
        }
    }
    Ok(())
}

/// Applies maps to notes; a map for a PR without a note in this release is an error.
pub fn apply_maps(
    notes: &mut [ReleaseNote],
    maps: &[(NoteMap, PathBuf, usize)],
) -> Result<(), MapError> {
    for (map, path, line) in maps {
        let Some(note) = notes.iter_mut().find(|n| n.pr_number == map.pr) else {
            return Err(MapError::Invalid {
                path: path.clone(),
                line: Some(*line),
                message: format!("PR #{} has no release note in this release (not between the revisions, or no note)", map.pr),
            });
        };
        let m = &map.releasenote;
        if let Some(text) = &m.text {
            note.text = text.clone();
        }
        if let Some(author) = &m.author {
            note.author = author.clone();
            note.author_url = format!("https://github.com/{author}");
        }
        if let Some(sigs) = &m.sigs {
            note.sigs = sigs.clone();
            note.sigs.sort();
        }
        if let Some(kinds) = &m.kinds {
            note.kinds = kinds.clone();
        }
        if let Some(areas) = &m.areas {
            note.areas = areas.clone();
        }
        if let Some(feature) = m.feature {
            note.feature = feature;
        }
        if let Some(action) = m.action_required {
            note.action_required = action;
        }
        if let Some(dnp) = m.do_not_publish {
            note.do_not_publish = dnp;
        }
        if let Some(body) = &map.pr_body {
            note.pr_body = body.clone();
        }
        note.is_mapped = true;
        note.markdown = markdown_line(
            &note.text,
            note.pr_number,
            &note.pr_url,
            &note.author,
            &note.author_url,
            &note.sigs,
        );
        // A mapped note is published unless the map itself says not to.
        if m.do_not_publish == Some(true) {
            note.is_mapped = false;
        }
    }
    Ok(())
}
