//! How krel's library errors say what kind of failure they are, and what to do about it.
//!
//! Every library error type implements [`Diagnose`]: its [`ErrorKind`] (which decides the exit
//! status: 1 for [`ErrorKind::Refused`], 2 otherwise) and an optional hint, one sentence a
//! person can act on. The binary turns any `Diagnose` error into its failure report in one
//! place (`error:`, the causes, `hint:`), so it never needs to know a library's error enum.
//!
//! ```
//! use krel_error::{Diagnose, ErrorKind};
//!
//! #[derive(Debug)]
//! struct TagExists(String);
//! impl std::fmt::Display for TagExists {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
//!         write!(f, "tag {} exists", self.0)
//!     }
//! }
//! impl std::error::Error for TagExists {}
//! impl Diagnose for TagExists {
//!     fn kind(&self) -> ErrorKind {
//!         ErrorKind::Refused
//!     }
//!     fn hint(&self) -> Option<String> {
//!         Some("pick the next version: tags are never moved".into())
//!     }
//! }
//! assert_eq!(TagExists("v1.0.0".into()).kind().exit_code(), 1);
//! ```

/// What kind of failure an error is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The state of the world says no: a tag exists, a stage does not verify, a remote moved,
    /// not confirmed. Exit 1.
    Refused,
    /// The user asked for something that cannot be done as asked: a bad flag, configuration
    /// or input. Exit 2.
    Usage,
    /// Something failed that should have worked: I/O, network, a tool. Exit 2.
    Unexpected,
}

impl ErrorKind {
    /// The process exit status for this kind.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Refused => 1,
            ErrorKind::Usage | ErrorKind::Unexpected => 2,
        }
    }

    /// `refused`, `usage` or `unexpected` (for JSON output and logs).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Refused => "refused",
            ErrorKind::Usage => "usage",
            ErrorKind::Unexpected => "unexpected",
        }
    }
}

/// An error that knows its kind and what a person can do about it.
pub trait Diagnose: std::error::Error + Send + Sync + 'static {
    /// Refused, usage or unexpected.
    fn kind(&self) -> ErrorKind;

    /// One sentence saying what to do, when there is something to say.
    fn hint(&self) -> Option<String> {
        None
    }

    /// True for [`ErrorKind::Refused`].
    fn is_refusal(&self) -> bool {
        self.kind() == ErrorKind::Refused
    }
}

impl<T: Diagnose> Diagnose for Box<T> {
    fn kind(&self) -> ErrorKind {
        (**self).kind()
    }

    fn hint(&self) -> Option<String> {
        (**self).hint()
    }
}
