//! Credentials and progress reporting for talking to remotes.

use std::cell::Cell;

use krel_secret::Secret;

/// How to authenticate to a remote. With nothing set, git's credential helpers (https) and
/// ssh-agent (ssh) are tried, as `git` itself would.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// A token for https remotes (GitHub accepts it as the password of `x-access-token`).
    pub token: Option<Secret>,
    /// Hosts the token may be sent to (default `github.com`); other hosts never see it.
    pub token_hosts: Vec<String>,
}

impl Default for Credentials {
    fn default() -> Credentials {
        Credentials {
            token: None,
            token_hosts: vec!["github.com".to_string()],
        }
    }
}

impl Credentials {
    /// The token, if there is one and `url`'s host may receive it.
    fn token_for(&self, url: &str) -> Option<&Secret> {
        let host = url_host(url)?;
        self.token.as_ref().filter(|_| {
            self.token_hosts
                .iter()
                .any(|h| h.eq_ignore_ascii_case(host))
        })
    }
}

/// The host of an `https://[user@]host[:port]/path` URL.
fn url_host(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("https://")?;
    let authority = rest.split('/').next()?;
    let host = authority.rsplit('@').next()?;
    Some(host.split(':').next().unwrap_or(host))
}

/// Receives transfer progress during clone and fetch. The binary draws a progress bar;
/// libraries and tests pass [`NoProgress`].
pub trait Progress {
    /// Objects received so far out of the total, and bytes received.
    fn transfer(&self, received_objects: usize, total_objects: usize, received_bytes: usize);
    /// The transfer ended.
    fn done(&self) {}
}

/// Reports nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn transfer(&self, _: usize, _: usize, _: usize) {}
}

/// Callbacks for one remote operation: credentials (each method tried once, so a wrong
/// credential fails instead of looping) and progress.
pub(crate) fn callbacks<'a>(
    credentials: &'a Credentials,
    config: Option<git2::Config>,
    progress: &'a dyn Progress,
) -> git2::RemoteCallbacks<'a> {
    let tried_token = Cell::new(false);
    let tried_helper = Cell::new(false);
    let tried_agent = Cell::new(false);
    let mut cb = git2::RemoteCallbacks::new();
    cb.credentials(move |url, username, allowed| {
        if allowed.contains(git2::CredentialType::USERNAME) {
            return git2::Cred::username(username.unwrap_or("git"));
        }
        if allowed.contains(git2::CredentialType::SSH_KEY) && !tried_agent.replace(true) {
            return git2::Cred::ssh_key_from_agent(username.unwrap_or("git"));
        }
        if allowed.contains(git2::CredentialType::USER_PASS_PLAINTEXT) {
            if let Some(token) = credentials.token_for(url) {
                if !tried_token.replace(true) {
                    return git2::Cred::userpass_plaintext("x-access-token", token.expose());
                }
            }
            if let Some(config) = &config {
                if !tried_helper.replace(true) {
                    return git2::Cred::credential_helper(config, url, username);
                }
            }
        }
        Err(git2::Error::new(
            git2::ErrorCode::Auth,
            git2::ErrorClass::Net,
            format!("no usable credentials for {url}"),
        ))
    });
    cb.transfer_progress(move |p| {
        progress.transfer(p.received_objects(), p.total_objects(), p.received_bytes());
        true
    });
    cb
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_goes_only_to_its_hosts() {
        let credentials = Credentials {
            token: Some(Secret::new("t")),
            ..Credentials::default()
        };
        assert!(credentials
            .token_for("https://github.com/kubernetes/kubernetes.git")
            .is_some());
        assert!(credentials
            .token_for("https://x-access-token@github.com:443/k/k")
            .is_some());
        assert!(credentials
            .token_for("https://git.internal.example/k/k.git")
            .is_none());
        assert!(credentials
            .token_for("https://github.com.evil.example/k")
            .is_none());
        assert!(
            credentials.token_for("http://github.com/k/k").is_none(),
            "never over plain http"
        );
        assert!(credentials.token_for("git@github.com:k/k.git").is_none());
    }
}
