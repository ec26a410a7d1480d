//! Credentials and progress reporting for talking to remotes.

use std::cell::Cell;

use krel_secret::Secret;

/// How to authenticate to a remote. With nothing set, git's credential helpers (https) and
/// ssh-agent (ssh) are tried, as `git` itself would.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    /// A token for https remotes (GitHub accepts it as the password of `x-access-token`).
    pub token: Option<Secret>,
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
        if allowed.contains(git2::CredentialType::SSH_KEY) && !tried_agent.replace(true) {
            return git2::Cred::ssh_key_from_agent(username.unwrap_or("git"));
        }
        if allowed.contains(git2::CredentialType::USER_PASS_PLAINTEXT) {
            if let Some(token) = &credentials.token {
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
