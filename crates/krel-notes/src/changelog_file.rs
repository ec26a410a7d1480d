//! `CHANGELOG/CHANGELOG-X.Y.md`: releases newest first, under a generated table of contents.

/// Start of the generated table of contents.
pub const TOC_BEGIN: &str = "<!-- BEGIN MUNGE: GENERATED_TOC -->";
/// End of the generated table of contents.
pub const TOC_END: &str = "<!-- END MUNGE: GENERATED_TOC -->";

/// Tracks code fences line by line: a fence closes only on a bare fence of the same character
/// at least as long as the one that opened it.
#[derive(Default)]
struct Fences {
    open: Option<(char, usize)>,
}

impl Fences {
    /// Feeds a line; true when the line is code or a fence (not markdown structure).
    fn inside_after(&mut self, line: &str) -> bool {
        match (self.open, crate::note::fence(line)) {
            (None, Some(fence)) => {
                self.open = Some(fence);
                true
            }
            (Some((c, n)), Some((c2, n2)))
                if c == c2 && n2 >= n && line.trim().chars().all(|x| x == c) =>
            {
                self.open = None;
                true
            }
            (open, _) => open.is_some(),
        }
    }
}

/// The file name for a version's minor line: `v1.30.2` → `CHANGELOG-1.30.md`.
pub fn file_name(major: u64, minor: u64) -> String {
    format!("CHANGELOG-{major}.{minor}.md")
}

/// A heading's anchor, as GitHub and mdtoc make it: lower-cased, characters other than
/// letters, digits, `_`, `-` and space removed, spaces to `-`.
pub fn anchor(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '_' || *c == '-' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The table of contents of a markdown body (headings outside code fences); repeated anchors
/// get `-1`, `-2`, … in document order.
pub fn toc(body: &str) -> String {
    let mut headings = Vec::new();
    let mut fences = Fences::default();
    for line in body.lines() {
        if fences.inside_after(line) {
            continue;
        }
        let level = line.bytes().take_while(|&b| b == b'#').count();
        if (1..=6).contains(&level) && line.as_bytes().get(level) == Some(&b' ') {
            headings.push((level, line[level..].trim().to_string()));
        }
    }
    let min = headings.iter().map(|(l, _)| *l).min().unwrap_or(1);
    let mut seen = std::collections::HashMap::new();
    let mut out = String::new();
    for (level, text) in headings {
        let base = anchor(&text);
        let count = seen.entry(base.clone()).or_insert(0usize);
        let anchor = if *count == 0 {
            base.clone()
        } else {
            format!("{base}-{count}")
        };
        *count += 1;
        out.push_str(&format!(
            "{}- [{text}](#{anchor})\n",
            "  ".repeat(level - min)
        ));
    }
    out
}

/// The whole file: generated TOC, then the body.
fn assemble(body: &str) -> String {
    let body = body.trim();
    format!("{TOC_BEGIN}\n\n{}\n{TOC_END}\n\n{body}\n", toc(body))
}

/// Puts `section` (one release, from [`crate::Document::markdown`]) in `existing` (the current
/// file, if any) and regenerates the table of contents: in place of an earlier section for the
/// same `# version` (regenerating an older release keeps the file in order), else on top.
pub fn update(existing: Option<&str>, version: &str, section: &str) -> String {
    let old_body = existing
        .map(|text| match text.find(TOC_END) {
            Some(at) => text[at + TOC_END.len()..].to_string(),
            None => text.to_string(),
        })
        .unwrap_or_default();
    let mut kept: Vec<&str> = Vec::new();
    let (mut skipping, mut replaced) = (false, false);
    let mut fences = Fences::default();
    for line in old_body.lines() {
        let in_code = fences.inside_after(line);
        if let Some(heading) = line.strip_prefix("# ").filter(|_| !in_code) {
            let same = heading.trim() == version;
            if same && !replaced {
                kept.extend([section.trim(), "", ""]);
                replaced = true;
            }
            skipping = same;
        }
        if !skipping {
            kept.push(line);
        }
    }
    let rest = kept.join("\n");
    let body = if replaced || rest.trim().is_empty() {
        if replaced {
            rest.trim().to_string()
        } else {
            section.trim().to_string()
        }
    } else {
        format!("{}\n\n\n{}", section.trim(), rest.trim())
    };
    assemble(&body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_as_github_makes_them() {
        assert_eq!(anchor("v1.29.0-alpha.3"), "v1290-alpha3");
        assert_eq!(
            anchor("Changelog since v1.29.0-alpha.2"),
            "changelog-since-v1290-alpha2"
        );
        assert_eq!(
            anchor("(No, really, you MUST read this before you upgrade)"),
            "no-really-you-must-read-this-before-you-upgrade"
        );
        assert_eq!(anchor("Other (Cleanup or Flake)"), "other-cleanup-or-flake");
        assert_eq!(anchor("`kubectl` changes: 1.2"), "kubectl-changes-12");
    }

    #[test]
    fn toc_indents_by_level_and_numbers_repeats() {
        let body = "# v1.2.1\n\n## Changes by Kind\n\n### Bug or Regression\n\n````\n# not a heading\n```go\n# still code\n````\n# v1.2.0\n\n## Changes by Kind\n";
        assert_eq!(
            toc(body),
            "- [v1.2.1](#v121)\n  - [Changes by Kind](#changes-by-kind)\n    - [Bug or Regression](#bug-or-regression)\n- [v1.2.0](#v120)\n  - [Changes by Kind](#changes-by-kind-1)\n"
        );
    }

    #[test]
    fn newest_on_top_and_an_update_replaces_its_section() {
        let first = update(
            None,
            "v1.2.0",
            "# v1.2.0\n\n## Changes by Kind\n\n### Feature\n\n- A.\n",
        );
        assert!(first.starts_with("<!-- BEGIN MUNGE: GENERATED_TOC -->\n\n- [v1.2.0](#v120)"));
        let second = update(
            Some(&first),
            "v1.2.1",
            "# v1.2.1\n\n## Changelog since v1.2.0\n",
        );
        let v121 = second.find("# v1.2.1").unwrap();
        let v120 = second.find("# v1.2.0").unwrap();
        assert!(v121 < v120, "newest first:\n{second}");
        let again = update(
            Some(&second),
            "v1.2.1",
            "# v1.2.1\n\n## Changelog since v1.2.0\n\nnew text\n",
        );
        assert_eq!(again.matches("# v1.2.1\n").count(), 1, "{again}");
        assert!(again.contains("new text") && again.contains("# v1.2.0"));
        // Regenerating the older release replaces it where it is: the file stays in order,
        // spaced as before.
        let older = update(
            Some(&again),
            "v1.2.0",
            "# v1.2.0\n\n## Changes by Kind\n\n### Feature\n\n- B.\n",
        );
        let (v121, v120) = (
            older.find("# v1.2.1").unwrap(),
            older.find("# v1.2.0").unwrap(),
        );
        assert!(v121 < v120, "still newest first:\n{older}");
        assert!(
            older.contains("new text\n\n\n# v1.2.0")
                && older.contains("- B.")
                && !older.contains("- A."),
            "{older}"
        );
        assert!(older.find("- [v1.2.1]").unwrap() < older.find("- [v1.2.0]").unwrap());
    }
}
