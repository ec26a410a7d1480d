//! How a command fails: the error with its causes, a hint, and the exit status.
//!
//! Any library error converts into a [`Failure`] through [`krel_error::Diagnose`]: its kind
//! decides the exit status and its hint is printed, so `?` is all a command writes. A command
//! adds its own hint or kind only where it knows more than the library (`with_hint`).

use std::process::ExitCode;

use krel_error::{Diagnose, ErrorKind};

use crate::shell::Shell;

/// A failed command.
#[derive(Debug)]
pub struct Failure {
    kind: ErrorKind,
    error: anyhow::Error,
    hint: Option<String>,
}

impl<E: Diagnose> From<E> for Failure {
    fn from(err: E) -> Failure {
        let (kind, hint) = (err.kind(), err.hint());
        Failure {
            kind,
            error: anyhow::Error::new(err),
            hint,
        }
    }
}

impl Failure {
    /// A failure of the given kind.
    pub fn new(kind: ErrorKind, error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            kind,
            error: error.into(),
            hint: None,
        }
    }

    /// A refusal (exit 1).
    pub fn refused(error: impl Into<anyhow::Error>) -> Failure {
        Failure::new(ErrorKind::Refused, error)
    }

    /// A usage error (exit 2).
    pub fn usage(error: impl Into<anyhow::Error>) -> Failure {
        Failure::new(ErrorKind::Usage, error)
    }

    /// An unexpected failure (exit 2).
    pub fn unexpected(error: impl Into<anyhow::Error>) -> Failure {
        Failure::new(ErrorKind::Unexpected, error)
    }

    /// Adds (or replaces) what the user can do about it.
    pub fn with_hint(mut self, hint: Option<String>) -> Failure {
        if hint.is_some() {
            self.hint = hint;
        }
        self
    }

    /// The error, each cause and the hint as text.
    fn text(&self) -> String {
        let mut text = self.error.to_string();
        for cause in self.error.chain().skip(1) {
            text.push_str(&format!("\n  caused by: {cause}"));
        }
        if let Some(hint) = &self.hint {
            text.push_str(&format!("\nhint: {hint}"));
        }
        text
    }

    /// Prints `error:`, each cause, then `hint:` (in a GitHub Actions workflow also an
    /// `::error::` annotation of all three); returns the exit status.
    pub fn report(
        self,
        shell: &Shell,
        command: &str,
        actions: Option<&krel_ci::Actions>,
    ) -> ExitCode {
        tracing::debug!(kind = ?self.kind, error = ?self.error, "command failed");
        if actions.is_some() {
            crate::ci::annotate_error(command, &shell.mask(&self.text()));
        }
        shell.error(&self.error.to_string());
        for cause in self.error.chain().skip(1) {
            shell.error_detail("  caused by:", &cause.to_string());
        }
        if let Some(hint) = &self.hint {
            shell.error_detail("hint:", hint);
        }
        ExitCode::from(self.kind.exit_code())
    }
}
