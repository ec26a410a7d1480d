//! How a command fails: the error with its causes, a hint, and the exit status.

use std::process::ExitCode;

use crate::shell::Shell;

/// Why the command did not succeed, which decides the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The repository's state says no (not fast-forwardable, final tag exists...): exit 1.
    Refused,
    /// Bad arguments or configuration: exit 2.
    Usage,
    /// Something failed that should have worked (I/O, network, git): exit 2.
    Unexpected,
}

/// A failed command.
#[derive(Debug)]
pub struct Failure {
    kind: Kind,
    error: anyhow::Error,
    hint: Option<String>,
}

impl Failure {
    /// A failure of the given kind.
    pub fn new(kind: Kind, error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            kind,
            error: error.into(),
            hint: None,
        }
    }

    /// A refusal (exit 1).
    pub fn refused(error: impl Into<anyhow::Error>) -> Failure {
        Failure::new(Kind::Refused, error)
    }

    /// A usage error (exit 2).
    pub fn usage(error: impl Into<anyhow::Error>) -> Failure {
        Failure::new(Kind::Usage, error)
    }

    /// An unexpected failure (exit 2).
    pub fn unexpected(error: impl Into<anyhow::Error>) -> Failure {
        Failure::new(Kind::Unexpected, error)
    }

    /// Adds what the user can do about it.
    pub fn with_hint(mut self, hint: Option<String>) -> Failure {
        if hint.is_some() {
            self.hint = hint;
        }
        self
    }

    /// Prints `error:`, each cause, then `hint:` (in a GitHub Actions workflow also an
    /// `::error::` annotation of all three); returns the exit status.
    pub fn report(self, shell: &Shell, command: &str) -> ExitCode {
        tracing::debug!(kind = ?self.kind, error = ?self.error, "command failed");
        let mut annotation = self.error.to_string();
        for cause in self.error.chain().skip(1) {
            annotation.push_str(&format!("\n  caused by: {cause}"));
        }
        if let Some(hint) = &self.hint {
            annotation.push_str(&format!("\nhint: {hint}"));
        }
        crate::ci::annotate_error(command, &annotation);
        shell.error(&self.error.to_string());
        for cause in self.error.chain().skip(1) {
            shell.error_detail("  caused by:", &cause.to_string());
        }
        if let Some(hint) = &self.hint {
            shell.error_detail("hint:", hint);
        }
        match self.kind {
            Kind::Refused => ExitCode::from(1),
            Kind::Usage | Kind::Unexpected => ExitCode::from(2),
        }
    }
}
