//! The process environment, read once.
//!
//! [`Env::capture`] is the only place in krel that reads environment variables (clippy's
//! `disallowed-methods` in `clippy.toml` keeps it so): every other reader, from the
//! configuration's `KREL_*` overrides to the signing password, asks the snapshot in the
//! [`crate::context::Context`]. Libraries never read the environment; they are given what
//! they need. (clap's `env =` flags are read by clap while parsing, and are listed in each
//! flag's help.)

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};

/// A snapshot of the environment variables.
#[derive(Clone, Debug, Default)]
pub struct Env {
    vars: BTreeMap<OsString, OsString>,
}

impl Env {
    /// Reads the process environment.
    #[allow(clippy::disallowed_methods)]
    pub fn capture() -> Env {
        Env {
            vars: std::env::vars_os().collect(),
        }
    }

    /// A snapshot holding exactly these variables (tests).
    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Env {
        Env {
            vars: pairs
                .iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v)))
                .collect(),
        }
    }

    /// The variable as UTF-8 text, when set and valid UTF-8.
    pub fn var(&self, name: &str) -> Option<String> {
        self.var_os(name)
            .and_then(|value| value.to_str())
            .map(str::to_owned)
    }

    /// The variable when set and not empty.
    pub fn non_empty(&self, name: &str) -> Option<String> {
        self.var(name).filter(|value| !value.is_empty())
    }

    /// The variable's raw value.
    pub fn var_os(&self, name: &str) -> Option<&OsStr> {
        self.vars.get(OsStr::new(name)).map(OsString::as_os_str)
    }

    /// Every variable, for sealing a child's environment.
    pub fn vars(&self) -> Vec<(OsString, OsString)> {
        self.vars
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// A lookup function, for libraries that take one (`krel_config::Config::load`,
    /// `krel_storage::StoreEnv::from_env`).
    pub fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        move |name| self.var(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_see_the_snapshot_only() {
        let env = Env::from_pairs(&[("KREL_X", "1"), ("EMPTY", "")]);
        assert_eq!(env.var("KREL_X").as_deref(), Some("1"));
        assert_eq!(env.non_empty("EMPTY"), None);
        assert_eq!(env.var("EMPTY").as_deref(), Some(""));
        assert_eq!((env.lookup())("MISSING"), None);
    }
}
