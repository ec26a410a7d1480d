//! [`Secret`]: tokens, private keys and passwords, kept out of every log line and message.
//!
//! `Debug` and `Display` print `<redacted>`; the content is reached only through
//! [`Secret::expose`], so a reviewer can find every place a secret is used by searching for it.
//!
//! ```
//! let token = krel_secret::Secret::new("ghp_abc123");
//! assert_eq!(format!("{token} {token:?}"), "<redacted> <redacted>");
//! assert_eq!(token.expose(), "ghp_abc123");
//! ```

use std::fmt;

/// A secret string. Cloning is allowed; printing shows `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// Reads an environment-style value: `None` when absent or blank.
    pub fn from_optional(value: Option<String>) -> Option<Secret> {
        value.filter(|v| !v.trim().is_empty()).map(Secret)
    }

    /// The secret itself. Use only to hand it to the service that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_its_content() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s} {s:?} {:?}", Some(&s)).contains("hunter2"));
        assert_eq!(Secret::from_optional(Some("  ".into())), None);
        assert_eq!(
            Secret::from_optional(Some("x".into())).unwrap().expose(),
            "x"
        );
    }
}
