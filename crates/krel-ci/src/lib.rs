//! GitHub Actions: what krel tells the workflow it runs in.
//!
//! When `GITHUB_ACTIONS=true`, [`Actions::from_env`] gives a handle that
//! - turns an error into an `::error::` workflow command (an annotation on the run), escaped as
//!   the runner expects (`%`, CR and LF in the message; also `:` and `,` in properties);
//! - appends markdown to the job's step summary (`$GITHUB_STEP_SUMMARY`);
//! - appends `name=value` step outputs to `$GITHUB_OUTPUT`, with a delimiter block for a value
//!   that spans lines, so a later step can use `steps.<id>.outputs.<name>`.
//!
//! Outside a workflow there is no handle and nothing is written.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The workflow krel runs in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actions {
    summary: Option<PathBuf>,
    output: Option<PathBuf>,
}

impl Actions {
    /// A handle when `GITHUB_ACTIONS` is `true`; `var` reads the environment.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Option<Actions> {
        if var("GITHUB_ACTIONS").as_deref() != Some("true") {
            return None;
        }
        let path = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        Some(Actions {
            summary: path("GITHUB_STEP_SUMMARY"),
            output: path("GITHUB_OUTPUT"),
        })
    }

    /// Appends `markdown` (and a blank line) to the step summary, if the runner gave one.
    pub fn append_summary(&self, markdown: &str) -> std::io::Result<()> {
        let Some(path) = &self.summary else {
            return Ok(());
        };
        let mut text = markdown.trim_end().to_string();
        text.push_str("\n\n");
        append(path, &text)
    }

    /// Appends each output to `$GITHUB_OUTPUT`, if the runner gave one.
    pub fn set_outputs(&self, outputs: &[(&str, String)]) -> std::io::Result<()> {
        let Some(path) = &self.output else {
            return Ok(());
        };
        let text: String = outputs
            .iter()
            .map(|(name, value)| output_line(name, value))
            .collect();
        append(path, &text)
    }
}

fn append(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(text.as_bytes())
}

/// One output: `name=value\n`, or for a value with a line break
/// `name<<DELIMITER\nvalue\nDELIMITER\n` with a delimiter the value does not contain.
pub fn output_line(name: &str, value: &str) -> String {
    if !value.contains('\n') && !value.contains('\r') {
        return format!("{name}={value}\n");
    }
    let mut delimiter = "KREL_OUTPUT_END".to_string();
    let mut n = 0;
    while value.lines().any(|line| line == delimiter) {
        n += 1;
        delimiter = format!("KREL_OUTPUT_END_{n}");
    }
    format!("{name}<<{delimiter}\n{value}\n{delimiter}\n")
}

/// The `::error title=…::message` workflow command for `message`.
pub fn error_command(title: &str, message: &str) -> String {
    format!(
        "::error title={}::{}",
        escape_property(title),
        escape_data(message)
    )
}

/// Escapes a workflow command's message: `%`, CR and LF.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value: as [`escape_data`], plus `:` and `,`.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// A two-column markdown table; `|` in a cell is escaped so it stays one cell.
pub fn summary_table(title: &str, rows: &[(&str, String)]) -> String {
    let mut out = format!("### {title}\n\n| | |\n|---|---|\n");
    for (name, value) in rows {
        out.push_str(&format!("| {name} | {} |\n", value.replace('|', "\\|")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn only_a_workflow_gets_a_handle() {
        assert_eq!(Actions::from_env(env(&[])), None);
        assert_eq!(Actions::from_env(env(&[("GITHUB_ACTIONS", "false")])), None);
        let actions = Actions::from_env(env(&[("GITHUB_ACTIONS", "true")])).unwrap();
        // No files from the runner: nothing to write, and no error.
        actions.append_summary("x").unwrap();
        actions.set_outputs(&[("a", "b".into())]).unwrap();
    }

    #[test]
    fn messages_are_escaped_as_the_runner_reads_them() {
        assert_eq!(
            error_command("krel stage: failed", "100% broken\nhint: a, b"),
            "::error title=krel stage%3A failed::100%25 broken%0Ahint: a, b"
        );
    }

    #[test]
    fn outputs_and_summary_are_appended() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let summary = dir.path().join("summary");
        let vars = [
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_OUTPUT", out.to_str().unwrap()),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ];
        let actions = Actions::from_env(env(&vars)).unwrap();
        std::fs::write(&out, "earlier=step\n").unwrap();
        actions
            .set_outputs(&[
                ("version", "v1.2.3".into()),
                ("notes", "a\nKREL_OUTPUT_END\nb".into()),
            ])
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "earlier=step\nversion=v1.2.3\nnotes<<KREL_OUTPUT_END_1\na\nKREL_OUTPUT_END\nb\nKREL_OUTPUT_END_1\n"
        );
        actions
            .append_summary(&summary_table("Staged", &[("Files", "a|b".into())]))
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(&summary).unwrap(),
            "### Staged\n\n| | |\n|---|---|\n| Files | a\\|b |\n\n"
        );
    }
}
