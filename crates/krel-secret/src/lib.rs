//! [`Secret`]: tokens, private keys and passwords, kept out of every log line and message.
//!
//! `Debug` and `Display` print `<redacted>`; the content is reached only through
//! [`Secret::expose`], so a reviewer can find every place a secret is used by searching for it.
//!
//! [`Masker`] hides known secret values in text that krel did not write itself (a build's
//! output, an error from a server): every occurrence becomes `***`. [`is_secret_name`] says
//! which environment variables hold secrets.
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

/// Environment variables whose values are secrets, whatever their name says.
pub const SECRET_VARS: &[&str] = &[
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "KREL_SIGNING_PASSWORD",
    "KREL_PACKAGE_KEY_PASSPHRASE",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "SIGSTORE_ID_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "ACTIONS_RUNTIME_TOKEN",
    "CLOUDSDK_AUTH_ACCESS_TOKEN",
    "GOOGLE_OAUTH_ACCESS_TOKEN",
];

/// True for a variable that holds a secret: one of [`SECRET_VARS`], or a name that says so
/// (`…TOKEN…`, `…SECRET…`, `…PASSWORD…`, `…PASSPHRASE…`, `…PRIVATE_KEY…`).
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_VARS.contains(&upper.as_str())
        || ["TOKEN", "SECRET", "PASSWORD", "PASSPHRASE", "PRIVATE_KEY"]
            .iter()
            .any(|word| upper.contains(word))
}

/// Hides known secret values in text: each occurrence becomes `***`.
#[derive(Clone, Default)]
pub struct Masker {
    /// Longest first, so that a secret containing another is hidden whole.
    values: Vec<Secret>,
}

impl Masker {
    /// The shortest value masked: shorter ones (`1`, `true`) would garble ordinary text.
    pub const MIN_LEN: usize = 6;

    /// A masker for these values (blank and short ones are left out).
    pub fn new(values: impl IntoIterator<Item = Secret>) -> Masker {
        let mut values: Vec<Secret> = values
            .into_iter()
            .filter(|v| v.expose().trim().len() >= Masker::MIN_LEN)
            .collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.expose().len()));
        values.dedup();
        Masker { values }
    }

    /// The secret values of an environment: every [`is_secret_name`] variable's.
    pub fn from_env<'a>(vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> Masker {
        Masker::new(
            vars.into_iter()
                .filter(|(name, _)| is_secret_name(name))
                .map(|(_, value)| Secret::new(value)),
        )
    }

    /// `text` with every secret replaced by `***`.
    pub fn mask(&self, text: &str) -> String {
        let mut text = text.to_string();
        for value in &self.values {
            if text.contains(value.expose()) {
                text = text.replace(value.expose(), "***");
            }
        }
        mask_url_credentials(&text)
    }

    /// The secrets, for telling a CI runner to mask them too (`::add-mask::`).
    pub fn secrets(&self) -> &[Secret] {
        &self.values
    }

    /// True when there is nothing to mask.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// `text` with the credentials of every URL in it masked: `https://user:TOKEN@host` becomes
/// `https://user:***@host`, and `https://TOKEN@host` (a token as the user name, as git hosts
/// accept) becomes `https://***@host`. A user name alone is kept where it is no secret: short
/// ones (`https://user@proxy`), any ssh scheme's (`git+ssh://git@github.com`), and whatever
/// is not http(s) (`docker://busybox@sha256:…`).
pub fn mask_url_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        let scheme = before[..at]
            .rsplit(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let end = after
            .find(|c: char| {
                c.is_whitespace() || matches!(c, '/' | '?' | '#' | ')' | '"' | '\'' | '>' | '`')
            })
            .unwrap_or(after.len());
        let authority = &after[..end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str(&masked_userinfo(&scheme, &authority[..at]));
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// A URL's user information with its secret part masked (see [`mask_url_credentials`]).
fn masked_userinfo(scheme: &str, userinfo: &str) -> String {
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None if scheme.starts_with("http") && userinfo.len() >= 16 => "***".into(),
        None => userinfo.into(),
    }
}

impl fmt::Debug for Masker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Masker({} secret(s))", self.values.len())
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn url_credentials_are_masked_and_the_rest_kept() {
        let m = Masker::default();
        assert_eq!(
            m.mask("Fetching origin (https://x-access-token:ghs_SECRET42@github.com/o/r.git)"),
            "Fetching origin (https://x-access-token:***@github.com/o/r.git)"
        );
        assert_eq!(
            m.mask("https://ghp_TOKEN0123456789abcdef@github.com/o/r"),
            "https://***@github.com/o/r"
        );
        assert_eq!(
            m.mask("git+ssh://git@github.com/o/r.git@refs/tags/v1"),
            "git+ssh://git@github.com/o/r.git@refs/tags/v1"
        );
        assert_eq!(
            m.mask("support `https://user@proxy:3128`"),
            "support `https://user@proxy:3128`"
        );
        assert_eq!(
            m.mask("docker://busybox@sha256:abc and https://h/p?ref=a@b"),
            "docker://busybox@sha256:abc and https://h/p?ref=a@b"
        );
        assert_eq!(
            m.mask("ssh://git@github.com/o/r and git@github.com:o/r"),
            "ssh://git@github.com/o/r and git@github.com:o/r"
        );
        assert_eq!(m.mask("ssh://git:pw@host/r"), "ssh://git:***@host/r");
        assert_eq!(
            m.mask("see https://github.com/o/r/pull/1 (@alice)"),
            "see https://github.com/o/r/pull/1 (@alice)"
        );
        assert_eq!(m.mask("a://b c://u:p@h"), "a://b c://u:***@h");
    }

    use super::*;

    #[test]
    fn masks_every_secret_value_and_leaves_short_ones() {
        let masker = Masker::from_env([
            ("GITHUB_TOKEN", "ghp_abcdef123456"),
            ("MY_API_TOKEN", "ghp_abcdef123456-extended"),
            ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI"),
            ("KREL_SIGNING_PASSWORD", "1"),
            ("HOME", "/home/release"),
        ]);
        let text = "token ghp_abcdef123456-extended and ghp_abcdef123456, key wJalrXUtnFEMI, 1, /home/release";
        assert_eq!(
            masker.mask(text),
            "token *** and ***, key ***, 1, /home/release"
        );
        assert_eq!(format!("{masker:?}"), "Masker(3 secret(s))");
        assert!(is_secret_name("KREL_REGISTRY_PASSWORD"));
        assert!(!is_secret_name("KREL_SIGNING_KEY"));
    }

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
