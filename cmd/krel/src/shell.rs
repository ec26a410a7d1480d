//! All console output goes through [`Shell`]: results on stdout, everything else on stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{BufRead, IsTerminal, Write};

/// Writes a line to stderr; a closed stderr (`krel … 2>&1 | head`) is not worth a panic.
fn err_line(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

use crate::cli::{LogFormat, OutputFormat};

/// The console.
pub struct Shell {
    quiet: bool,
    output: OutputFormat,
    color: bool,
    stderr_is_terminal: bool,
    in_workflow: bool,
    /// `--log-format json`: every stderr line is a JSON object, as the tracing events are.
    log_json: bool,
    masker: krel_secret::Masker,
}

impl Shell {
    /// A shell honouring `--quiet`, `--output`, `--log-format` and `NO_COLOR`.
    pub fn new(
        quiet: bool,
        (output, log_format): (OutputFormat, LogFormat),
        env: &crate::env::Env,
    ) -> Shell {
        let stderr_is_terminal = std::io::stderr().is_terminal();
        let no_color = env.non_empty("NO_COLOR").is_some();
        let log_json = log_format == LogFormat::Json;
        Shell {
            quiet,
            output,
            color: stderr_is_terminal && !no_color && !log_json,
            stderr_is_terminal,
            in_workflow: krel_ci::Actions::from_env(env.lookup()).is_some(),
            log_json,
            masker: crate::context::masker(env),
        }
    }

    /// The results format chosen with `--output`.
    pub fn output(&self) -> OutputFormat {
        self.output
    }

    /// True when progress bars may be drawn.
    pub fn progress_allowed(&self) -> bool {
        // A workflow's log is not a terminal, whatever the runner's pseudo-terminal says.
        !self.quiet && self.stderr_is_terminal && !self.in_workflow && !self.log_json
    }

    /// A result line on stdout.
    pub fn data(&self, line: impl AsRef<str>) {
        let mut out = std::io::stdout().lock();
        // A closed stdout (`krel ... | head`) is not an error worth reporting.
        let _ = writeln!(out, "{}", self.masker.mask(line.as_ref()));
    }

    /// Tells a GitHub Actions runner to mask every secret value in its log (`::add-mask::`),
    /// before anything else is printed.
    pub fn mask_in_workflow(&self) {
        if self.in_workflow {
            for secret in self.masker.secrets() {
                err_line(&format!("::add-mask::{}", secret.expose()));
            }
        }
    }

    /// `text` with every secret value of krel's environment masked.
    pub fn mask(&self, text: &str) -> String {
        self.masker.mask(text)
    }

    fn line(&self, text: &str) {
        err_line(&self.masker.mask(text));
    }

    /// One diagnostic: a text line, or with `--log-format json` an object shaped as the
    /// tracing events are (`timestamp`, `level`, `fields` with `message` and, for a status
    /// line, `status`; for an error's causes and hint, `detail`).
    fn diagnostic(&self, level: &str, label: Option<(&str, &str)>, message: &str, text: &str) {
        if !self.log_json {
            return self.line(text);
        }
        let mut fields = serde_json::Map::new();
        fields.insert("message".into(), self.masker.mask(message).into());
        if let Some((key, value)) = label {
            fields.insert(key.into(), value.trim().trim_end_matches(':').into());
        }
        let event = serde_json::json!({
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "level": level,
            "fields": fields,
            "target": "krel",
        });
        err_line(&event.to_string());
    }

    /// A JSON document on stdout.
    pub fn json<T: serde::Serialize>(&self, value: &T) {
        match serde_json::to_string_pretty(value) {
            Ok(text) => self.data(text),
            Err(err) => self.error(&format!("could not render JSON: {err}")),
        }
    }

    /// A status line on stderr, such as `   Cloning https://...`. Hidden by `--quiet`.
    pub fn status(&self, label: &str, message: impl AsRef<str>) {
        if self.quiet {
            return;
        }
        let message = message.as_ref();
        let painted = if self.color {
            format!("\x1b[1;32m{label:>12}\x1b[0m")
        } else {
            format!("{label:>12}")
        };
        let text = format!("{painted} {message}");
        self.diagnostic("INFO", Some(("status", label)), message, &text);
    }

    /// Free text on stderr (review guides, notes). Hidden by `--quiet`.
    pub fn note(&self, text: impl AsRef<str>) {
        if !self.quiet {
            self.diagnostic("INFO", None, text.as_ref(), text.as_ref());
        }
    }

    /// A warning on stderr (never hidden).
    pub fn warn(&self, message: &str) {
        let label = self.paint("warning:", "1;33");
        self.diagnostic("WARN", None, message, &format!("{label} {message}"));
    }

    /// An error line on stderr (never hidden).
    pub fn error(&self, message: &str) {
        let label = self.paint("error:", "1;31");
        self.diagnostic("ERROR", None, message, &format!("{label} {message}"));
    }

    /// Follow-up lines of an error (causes, hint).
    pub fn error_detail(&self, label: &str, message: &str) {
        let painted = self.paint(label, "1");
        let text = format!("{painted} {message}");
        self.diagnostic("ERROR", Some(("detail", label)), message, &text);
    }

    fn paint(&self, text: &str, code: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// Asks a question on stderr and reads one line from stdin. `None` at end of input.
    pub fn ask(&self, question: &str) -> Option<String> {
        let _ = write!(std::io::stderr().lock(), "{question} ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        let read = std::io::stdin().lock().read_line(&mut line);
        if !std::io::stdin().is_terminal() {
            // The answer was not echoed: end the prompt's line.
            err_line("");
        }
        match read {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim().to_string()),
        }
    }
}

/// Stage and release report their progress as status lines.
impl krel_release::Report for Shell {
    fn status(&self, verb: &str, message: &str) {
        Shell::status(self, verb, message);
    }
}
