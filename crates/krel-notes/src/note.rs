//! One PR's release note: which PR a commit is, the note text, and its markdown line.

use std::sync::OnceLock;

use krel_github::PullRequest;
use regex::Regex;

/// The account that opens automated cherry-pick PRs; their notes are credited to the
/// original PR's author.
pub const CHERRY_PICK_ROBOT: &str = "k8s-infra-cherrypick-robot";

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| {
        Regex::new(pattern).unwrap_or_else(|e| panic!("built-in regex {pattern}: {e}"))
    })
}

/// The PR number a commit message names, trying in order: a merge commit
/// (`Merge pull request #N`), a cherry-pick branch (`automated-cherry-pick-of-#N`), a squashed
/// revert (`(#N)` before "This reverts commit"), a squash merge (`… (#N)`).
pub fn pr_number(message: &str) -> Option<u64> {
    static MERGE: OnceLock<Regex> = OnceLock::new();
    static CHERRY: OnceLock<Regex> = OnceLock::new();
    static REVERT: OnceLock<Regex> = OnceLock::new();
    static SQUASH: OnceLock<Regex> = OnceLock::new();
    [
        re(&MERGE, r"(?m)^Merge pull request #([0-9]+)"),
        re(&CHERRY, r"automated-cherry-pick-of-#([0-9]+)"),
        re(&REVERT, r"\(#([0-9]+)\)\s*\n\nThis reverts commit"),
        re(&SQUASH, r"\(#([0-9]+)\)"),
    ]
    .iter()
    .find_map(|regex| regex.captures(message)?.get(1)?.as_str().parse().ok())
}

/// The sections of "Changes by Kind", in Kubernetes' order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Kind {
    /// `kind/deprecation`
    Deprecation,
    /// `kind/api-change`
    ApiChange,
    /// `kind/feature`
    Feature,
    /// `kind/design`
    Design,
    /// `kind/documentation`
    Documentation,
    /// `kind/failing-test`
    FailingTest,
    /// `kind/bug`, `kind/regression`
    Bug,
    /// `kind/cleanup`, `kind/flake`
    Other,
    /// no (known) kind
    Uncategorized,
}

impl Kind {
    /// All sections, in order.
    pub const ALL: [Kind; 9] = [
        Kind::Deprecation,
        Kind::ApiChange,
        Kind::Feature,
        Kind::Design,
        Kind::Documentation,
        Kind::FailingTest,
        Kind::Bug,
        Kind::Other,
        Kind::Uncategorized,
    ];

    /// The section for a `kind/*` label (without the prefix); unknown kinds are uncategorised.
    pub fn from_label(kind: &str) -> Kind {
        match kind {
            "deprecation" => Kind::Deprecation,
            "api-change" => Kind::ApiChange,
            "feature" => Kind::Feature,
            "design" => Kind::Design,
            "documentation" => Kind::Documentation,
            "failing-test" => Kind::FailingTest,
            "bug" | "regression" => Kind::Bug,
            "cleanup" | "flake" => Kind::Other,
            _ => Kind::Uncategorized,
        }
    }

    /// The section heading.
    pub fn heading(self) -> &'static str {
        match self {
            Kind::Deprecation => "Deprecation",
            Kind::ApiChange => "API Change",
            Kind::Feature => "Feature",
            Kind::Design => "Design",
            Kind::Documentation => "Documentation",
            Kind::FailingTest => "Failing Test",
            Kind::Bug => "Bug or Regression",
            Kind::Other => "Other (Cleanup or Flake)",
            Kind::Uncategorized => "Uncategorized",
        }
    }
}

/// A release note, with the fields a website or bot needs (upstream's JSON names).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ReleaseNote {
    /// The PR number.
    pub pr_number: u64,
    /// The merge or squash commit.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub commit: String,
    /// The note, cleaned up.
    pub text: String,
    /// The rendered line, without the leading `- `.
    pub markdown: String,
    /// Who gets credit (the original author for robot cherry-picks).
    pub author: String,
    /// Their profile.
    pub author_url: String,
    /// The PR's page.
    pub pr_url: String,
    /// `area/*` labels.
    pub areas: Vec<String>,
    /// `kind/*` labels.
    pub kinds: Vec<String>,
    /// `sig/*` labels, sorted.
    pub sigs: Vec<String>,
    /// `kind/feature`.
    pub feature: bool,
    /// More than one SIG.
    pub duplicate: bool,
    /// More than one kind.
    pub duplicate_kind: bool,
    /// `release-note-action-required`.
    pub action_required: bool,
    /// `release-note-none` label.
    pub do_not_publish: bool,
    /// Changed by a map file.
    pub is_mapped: bool,
    /// The PR description.
    pub pr_body: String,
}

/// Why a PR has no note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skip {
    /// NONE, N/A, `/release-note-none`.
    NoneGiven,
    /// A release-note block with nothing in it.
    Empty,
    /// No release-note block.
    NoBlock,
}

fn labels_with_prefix(pr: &PullRequest, prefix: &str) -> Vec<String> {
    pr.labels
        .iter()
        .filter_map(|l| l.name.strip_prefix(prefix))
        .map(str::to_string)
        .collect()
}

/// Extracts the note text from a PR body, or says why there is none.
pub fn note_text(body: &str) -> Result<String, Skip> {
    static NONE: OnceLock<Regex> = OnceLock::new();
    static EMPTY: OnceLock<Regex> = OnceLock::new();
    static BLOCK_CRLF: OnceLock<Regex> = OnceLock::new();
    static DEV_BLOCK: OnceLock<Regex> = OnceLock::new();
    static PLAIN_CRLF: OnceLock<Regex> = OnceLock::new();
    static BLOCK_LF: OnceLock<Regex> = OnceLock::new();
    // Upstream writes ('")? — a group matching the pair '" — so a quoted "NONE" is published;
    // a character class excludes it, as intended.
    if re(
        &NONE,
        r#"(?i)```release-notes?\s*['"]?(none|n/a|na)['"]?\s*```"#,
    )
    .is_match(body)
        || body.contains("/release-note-none")
    {
        return Err(Skip::NoneGiven);
    }
    if re(&EMPTY, r"(?i)```release-notes?\s*```").is_match(body) {
        return Err(Skip::Empty);
    }
    let patterns = [
        re(&BLOCK_CRLF, "(?sU)```release-notes?\r\n(.+)\r\n```"),
        // Upstream's version captures a single character; the block is meant.
        re(&DEV_BLOCK, "(?sU)```dev-release-notes?\r?\n(.+)\r?\n```"),
        re(&PLAIN_CRLF, "(?sU)```\r\n(.+)\r\n```"),
        re(&BLOCK_LF, "(?sU)```release-notes?\n(.+)\n```"),
    ];
    let raw = patterns
        .iter()
        .find_map(|p| {
            p.captures(body)
                .and_then(|c| c.get(1))
                .map(|m| m.as_str().to_string())
        })
        .ok_or(Skip::NoBlock)?;
    let text = clean(&raw);
    if text.is_empty() {
        return Err(Skip::Empty);
    }
    Ok(text)
}

/// Upstream's clean-up: drop `\r`, remove "action required" markers, `*` bullets to `-`,
/// unlist a note that is itself a list item, trim.
fn clean(raw: &str) -> String {
    static ACTION_BRACKET: OnceLock<Regex> = OnceLock::new();
    static ACTION_COLON: OnceLock<Regex> = OnceLock::new();
    static STAR: OnceLock<Regex> = OnceLock::new();
    let text = raw.replace('\r', "");
    let text = re(&ACTION_BRACKET, r"(?i)\[action required\]\s").replace_all(&text, "");
    let text = re(&ACTION_COLON, r"(?i)action required:\s").replace_all(&text, "");
    let text = re(&STAR, r"(?m)^([ \t]*)\*\s").replace_all(&text, "${1}- ");
    let text = dedent(text.trim_matches('\n'));
    let text = if text.starts_with("- ") {
        unlist(&text)
    } else {
        text.to_string()
    };
    text.trim().to_string()
}

/// `text` without the indentation all its non-blank lines share (a note indented as a whole,
/// such as `    - a nested item`, reads as if it were not).
fn dedent(text: &str) -> String {
    let common = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start_matches([' ', '\t']).len())
        .min()
        .unwrap_or(0);
    text.lines()
        .map(|line| line.get(common..).unwrap_or_else(|| line.trim_start()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A note that starts with `- ` loses that dash, and the lines under it their two-space
/// indent, until the next top-level item.
fn unlist(text: &str) -> String {
    let mut trimming = true;
    let mut out = Vec::new();
    for (index, line) in text.split('\n').enumerate() {
        if index == 0 {
            out.push(line.strip_prefix("- ").unwrap_or(line).to_string());
            continue;
        }
        if line.starts_with("- ") {
            trimming = false;
        }
        if trimming {
            out.push(line.strip_prefix("  ").unwrap_or(line).to_string());
        } else {
            out.push(line.to_string());
        }
    }
    out.join("\n")
}

/// `api-machinery` → `API Machinery`.
fn pretty_sig(sig: &str) -> String {
    sig.split('-')
        .map(|part| match part {
            "vsphere" => "vSphere".to_string(),
            "vmware" => "VMWare".to_string(),
            "openstack" => "OpenStack".to_string(),
            "api" | "aws" | "cli" | "gcp" => part.to_uppercase(),
            _ => {
                let lower = part.to_lowercase();
                let mut chars = lower.chars();
                chars.next().map_or(String::new(), |first| {
                    first.to_uppercase().chain(chars).collect()
                })
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `SIG A`, `SIG A and B`, `SIG A, B and C`.
fn sig_list(sigs: &[String]) -> String {
    let pretty: Vec<String> = sigs.iter().map(|s| pretty_sig(s)).collect();
    match pretty.as_slice() {
        [] => String::new(),
        [one] => format!("SIG {one}"),
        [rest @ .., last] => format!("SIG {} and {last}", rest.join(", ")),
    }
}

/// The fence a line opens or closes (`` ``` `` or `~~~`, three or more), with its length.
pub(crate) fn fence(line: &str) -> Option<(char, usize)> {
    let trimmed = line.trim_start();
    let marker = trimmed.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let length = trimmed.chars().take_while(|c| *c == marker).count();
    (length >= 3).then_some((marker, length))
}

/// Keeps note text from breaking the document around it: outside code fences, a line that would
/// be a heading (`# …`, or a setext underline of `=` or `-` under a line of text) is escaped
/// and an HTML comment opener is defused; an unclosed fence is closed. Markdown is otherwise
/// kept as written (and never executed: it is only text in a file).
fn neutralise(text: &str) -> String {
    let mut open: Option<(char, usize)> = None;
    let mut lines = Vec::new();
    for line in text.split('\n') {
        match (open, fence(line)) {
            (None, Some(f)) => open = Some(f),
            (Some((c, n)), Some((c2, n2)))
                if c == c2 && n2 >= n && line.trim().chars().all(|x| x == c) =>
            {
                open = None
            }
            _ => {}
        }
        let inside = open.is_some() && fence(line).is_none();
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        if !inside && (trimmed.starts_with('#') || is_setext_underline(trimmed)) {
            lines.push(format!("{indent}\\{trimmed}"));
        } else if !inside && trimmed.contains("<!--") {
            lines.push(line.replace("<!--", "&lt;!--"));
        } else {
            lines.push(line.to_string());
        }
    }
    if let Some((marker, length)) = open {
        lines.push(marker.to_string().repeat(length));
    }
    lines.join("\n")
}

/// Closers for the `<details>` elements `text` opens and does not close (outside code: in a
/// fence or a `code span` it is only text).
fn close_details(text: &str) -> String {
    let mut open: Option<(char, usize)> = None;
    let (mut opened, mut closed) = (0usize, 0usize);
    for line in text.split('\n') {
        match (open, fence(line)) {
            (None, Some(f)) => {
                open = Some(f);
                continue;
            }
            (Some((c, n)), Some((c2, n2))) if c == c2 && n2 >= n => {
                open = None;
                continue;
            }
            (Some(_), _) => continue,
            (None, None) => {}
        }
        // Text between backticks is code; what lies outside every pair is not.
        let outside: String = line
            .split('`')
            .step_by(2)
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase();
        opened += outside.matches("<details").count();
        closed += outside.matches("</details>").count();
    }
    "\n  </details>".repeat(opened.saturating_sub(closed))
}

/// `===` or `---` (one or more, trailing spaces allowed): under a line of text, CommonMark makes
/// that line a heading.
fn is_setext_underline(trimmed: &str) -> bool {
    let line = trimmed.trim_end();
    ['=', '-']
        .iter()
        .any(|&c| !line.is_empty() && line.chars().all(|x| x == c))
}

/// The rendered line: text (continuation lines indented two spaces), links, SIGs; first
/// character upper-cased. A `<details>` the text leaves open is closed after the links (it would
/// fold every note after it on GitHub).
pub fn markdown_line(
    text: &str,
    number: u64,
    pr_url: &str,
    author: &str,
    author_url: &str,
    sigs: &[String],
) -> String {
    let text = neutralise(text);
    // The links never go on a fence line, where they would not be links.
    let separator = if text.lines().last().is_some_and(|l| fence(l).is_some()) {
        "\n  "
    } else {
        " "
    };
    let mut line = format!(
        "{}{separator}([#{number}]({pr_url}), [@{author}]({author_url}))",
        text.replace('\n', "\n  ")
    );
    if !sigs.is_empty() {
        line.push_str(&format!(" [{}]", sig_list(sigs)));
    }
    line.push_str(&close_details(&text));
    let mut chars = line.chars();
    chars.next().map_or(String::new(), |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// The note of one PR. `original_author` is the author of the PR a robot cherry-pick copies.
pub fn note_from_pr(
    pr: &PullRequest,
    commit: &str,
    original_author: Option<&krel_github::User>,
) -> Result<ReleaseNote, Skip> {
    let body = pr.body.clone().unwrap_or_default();
    let has = |name: &str| pr.labels.iter().any(|l| l.name == name);
    // The label keeps the note out of the document, but a map file may still publish it.
    let text = match note_text(&body) {
        Err(_) if has("release-note-none") => return Err(Skip::NoneGiven),
        other => other?,
    };
    let mut sigs = labels_with_prefix(pr, "sig/");
    sigs.sort();
    let kinds = labels_with_prefix(pr, "kind/");
    let user = original_author.unwrap_or(&pr.user);
    Ok(ReleaseNote {
        pr_number: pr.number,
        commit: commit.to_string(),
        markdown: markdown_line(
            &text,
            pr.number,
            &pr.html_url,
            &user.login,
            &user.html_url,
            &sigs,
        ),
        text,
        author: user.login.clone(),
        author_url: user.html_url.clone(),
        pr_url: pr.html_url.clone(),
        areas: labels_with_prefix(pr, "area/"),
        feature: kinds.iter().any(|k| k == "feature"),
        duplicate: sigs.len() > 1,
        duplicate_kind: kinds.len() > 1,
        kinds,
        sigs,
        action_required: has("release-note-action-required"),
        do_not_publish: has("release-note-none"),
        is_mapped: false,
        pr_body: body,
    })
}

/// The original PR number of a robot cherry-pick (`…:cherry-pick-12345-to-release-1.29`).
pub fn cherry_pick_origin(pr: &PullRequest) -> Option<u64> {
    static ORIGIN: OnceLock<Regex> = OnceLock::new();
    if pr.user.login != CHERRY_PICK_ROBOT {
        return None;
    }
    let label = &pr.head.as_ref()?.label;
    re(&ORIGIN, r"cherry-pick-([0-9]+)-to")
        .captures(label)?
        .get(1)?
        .as_str()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pr_numbers_from_messages() {
        assert_eq!(
            pr_number("Merge pull request #76030 from andrewsykim/e2e-legacyscheme\n\nx"),
            Some(76030)
        );
        assert_eq!(
            pr_number("Add swapoff to centos so kubelet starts (#504)"),
            Some(504)
        );
        assert_eq!(
            pr_number("Merge pull request #53422 from x/automated-cherry-pick-of-#53233-upstream-release-1.8"),
            Some(53422),
            "the cherry-pick PR itself carries the note"
        );
        assert_eq!(
            pr_number("Revert \"foo (#123)\" (#456)\n\nThis reverts commit abc."),
            Some(456)
        );
        assert_eq!(
            pr_number("automated-cherry-pick-of-#99: squashed"),
            Some(99)
        );
        assert_eq!(pr_number("Fix a typo"), None);
        assert_eq!(
            pr_number("Update docs (#200)\n\n* Merge pull request #7 from x/y was mentioned"),
            Some(200),
            "only a merge commit's first line names its PR"
        );
        assert_eq!(
            pr_number("Fix (#\u{0661}) and (#123)"),
            Some(123),
            "ASCII digits only"
        );
    }

    fn body(note: &str) -> String {
        format!("#### What this PR does\n\nStuff.\r\n\r\n```release-note\r\n{note}\r\n```\r\n")
    }

    #[test]
    fn exclusions() {
        for none in ["NONE", "none", "N/A", "NA", "\"NONE\"", "'none'"] {
            assert_eq!(note_text(&body(none)), Err(Skip::NoneGiven), "{none}");
        }
        assert_eq!(note_text("foo\n/release-note-none\n"), Err(Skip::NoneGiven));
        assert_eq!(note_text("```release-note\r\n\r\n```"), Err(Skip::Empty));
        assert_eq!(note_text("no block here"), Err(Skip::NoBlock));
        assert_eq!(
            note_text(&body("this none should stay")).unwrap(),
            "this none should stay"
        );
    }

    #[test]
    fn cleanup_rules() {
        assert_eq!(
            note_text(&body("[ACTION REQUIRED] Remove the flag.")).unwrap(),
            "Remove the flag."
        );
        assert_eq!(
            note_text(&body("Action Required: Remove it.")).unwrap(),
            "Remove it."
        );
        assert_eq!(note_text(&body("* a\n  * b")).unwrap(), "a\n- b");
        // A note indented as a whole reads as if it were not.
        assert_eq!(
            note_text(&body("    - nested item\n      more\n\n    last")).unwrap(),
            "nested item\nmore\n\nlast"
        );
        assert_eq!(
            note_text(&body("- item\n  item\n  item")).unwrap(),
            "item\nitem\nitem"
        );
        assert_eq!(
            note_text(&body("- item\n  item\n- item\n  item")).unwrap(),
            "item\nitem\n- item\n  item"
        );
        assert_eq!(
            note_text("```release-note\nLF only note\n```").unwrap(),
            "LF only note"
        );
        assert_eq!(
            note_text("```dev-release-note\r\nfor devs\r\n```").unwrap(),
            "for devs"
        );
        assert_eq!(
            note_text(&body("**bold** stays")).unwrap(),
            "**bold** stays"
        );
    }

    #[test]
    fn lines_sigs_and_capitals() {
        let sigs = vec![
            "api-machinery".to_string(),
            "node".to_string(),
            "cli".to_string(),
        ];
        let mut sorted = sigs.clone();
        sorted.sort();
        let line = markdown_line(
            "fix it\nsecond line",
            5,
            "https://g/pull/5",
            "al",
            "https://github.com/al",
            &sorted,
        );
        assert_eq!(line, "Fix it\n  second line ([#5](https://g/pull/5), [@al](https://github.com/al)) [SIG API Machinery, CLI and Node]");
        assert_eq!(
            sig_list(&["cluster-lifecycle".into()]),
            "SIG Cluster Lifecycle"
        );
        assert_eq!(sig_list(&["a".into(), "b".into()]), "SIG A and B");
        assert_eq!(
            pretty_sig("cloud-provider-vsphere"),
            "Cloud Provider vSphere"
        );
        assert_eq!(
            markdown_line("привет", 1, "u", "a", "v", &[]),
            "Привет ([#1](u), [@a](v))"
        );
    }

    #[test]
    fn setext_underlines_are_escaped_and_details_closed() {
        let line = markdown_line(
            "Second\n---\nTitle\n=====\n<details><summary>x</summary>",
            1,
            "u",
            "a",
            "v",
            &[],
        );
        assert_eq!(
            line,
            "Second\n  \\---\n  Title\n  \\=====\n  <details><summary>x</summary> ([#1](u), [@a](v))\n  </details>"
        );
        // A list item and a thematic break with spaces stay as they are; closed details too,
        // and details in code are only text.
        let kept = markdown_line(
            "a\n- item\n- - -\n<details>y</details>, `<details>` in code\n```\n<details>\n```",
            1,
            "u",
            "a",
            "v",
            &[],
        );
        assert_eq!(
            kept,
            "A\n  - item\n  - - -\n  <details>y</details>, `<details>` in code\n  ```\n  <details>\n  ```\n  ([#1](u), [@a](v))"
        );
    }

    #[test]
    fn neutralises_what_would_break_the_document() {
        let line = markdown_line(
            "## Not a heading\n```go\n# a comment in code\nunclosed",
            1,
            "u",
            "a",
            "v",
            &[],
        );
        assert!(line.starts_with("\\## Not a heading"), "{line}");
        assert!(
            line.contains("\n  # a comment in code"),
            "code stays as written: {line}"
        );
        assert!(
            line.contains("\n  ```\n  ([#1](u), [@a](v))"),
            "fence closed, links after it: {line}"
        );
        let comment = markdown_line("see <!-- hidden", 2, "u", "a", "v", &[]);
        assert!(comment.contains("&lt;!-- hidden"), "{comment}");
    }

    #[test]
    fn kinds_map_to_sections() {
        assert_eq!(Kind::from_label("regression"), Kind::Bug);
        assert_eq!(Kind::from_label("flake"), Kind::Other);
        assert_eq!(Kind::from_label("support"), Kind::Uncategorized);
        assert_eq!(Kind::Bug.heading(), "Bug or Regression");
    }
}
