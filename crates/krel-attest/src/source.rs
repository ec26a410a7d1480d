//! Where a release's source comes from, written as each document needs it: an absolute URI for
//! provenance (`resolvedDependencies[].uri`), and an SPDX `downloadLocation`, which must be a
//! network URL (SPDX's grammar has no `file:`), else `NOASSERTION`.

/// The source of `tag` in the git repository at `url` (https, ssh, git, an scp-like
/// `user@host:path`, `file://…` or an absolute path).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitSource {
    /// An absolute URI: `git+https://host/repo.git@refs/tags/v1.30.0`,
    /// `git+file:///srv/repo.git@refs/tags/v1.30.0`.
    pub uri: String,
    /// An SPDX download location: `git+https://host/repo.git@v1.30.0`, or `NOASSERTION` for
    /// a repository that is not on the network (a path, `file://`, a host without a domain).
    pub spdx: String,
}

/// See [`GitSource`].
pub fn git_source(url: &str, tag: &str) -> GitSource {
    let url = url.trim().trim_end_matches('/');
    let (network, base) = if let Some((scheme, rest)) = url.split_once("://") {
        let base = format!("{scheme}://{}", encode_path(rest));
        let network = matches!(scheme, "https" | "http" | "ssh" | "git") && has_domain(rest);
        (network, base)
    } else if let Some((host, path)) = scp_like(url) {
        let base = format!("ssh://{host}/{}", encode_path(path.trim_start_matches('/')));
        (has_domain(host), base)
    } else {
        // A path: an absolute file URI (the caller makes relative paths absolute).
        let path = if url.starts_with('/') {
            url.to_string()
        } else {
            format!("/{url}")
        };
        (false, format!("file://{}", encode_path(&path)))
    };
    GitSource {
        uri: format!("git+{base}@refs/tags/{tag}"),
        spdx: if network {
            format!("git+{base}@{tag}")
        } else {
            "NOASSERTION".into()
        },
    }
}

/// `git@github.com:org/repo.git` → (`git@github.com`, `org/repo.git`): a host before a `:`
/// that no `/` precedes.
fn scp_like(url: &str) -> Option<(&str, &str)> {
    let (host, path) = url.split_once(':')?;
    (!host.is_empty() && !host.contains('/') && !path.starts_with("//")).then_some((host, path))
}

/// True when the authority (`[user@]host[:port]…`) names a host with a domain (`github.com`),
/// as SPDX's download-location grammar requires.
fn has_domain(rest: &str) -> bool {
    let authority = rest.split('/').next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let host = host.split(':').next().unwrap_or_default();
    let tld = host.rsplit('.').next().unwrap_or_default();
    host.contains('.')
        && (2..=5).contains(&tld.len())
        && tld.chars().all(|c| c.is_ascii_alphabetic())
}

/// Percent-encodes what may not appear in a URI path (spaces, `%`, non-ASCII...).
fn encode_path(path: &str) -> String {
    let mut out = String::new();
    for byte in path.bytes() {
        let c = byte as char;
        if c.is_ascii_alphanumeric() || "-._~/:@!$&'()*+,;=".contains(c) {
            out.push(c);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_git_url_becomes_an_absolute_uri() {
        let cases = [
            (
                "https://github.com/kubernetes/kubernetes.git",
                "git+https://github.com/kubernetes/kubernetes.git@refs/tags/v1.30.0",
                "git+https://github.com/kubernetes/kubernetes.git@v1.30.0",
            ),
            (
                "ssh://git@github.com/org/repo.git",
                "git+ssh://git@github.com/org/repo.git@refs/tags/v1.30.0",
                "git+ssh://git@github.com/org/repo.git@v1.30.0",
            ),
            (
                "git@github.com:org/repo.git",
                "git+ssh://git@github.com/org/repo.git@refs/tags/v1.30.0",
                "git+ssh://git@github.com/org/repo.git@v1.30.0",
            ),
            (
                "/srv/git/widget.git",
                "git+file:///srv/git/widget.git@refs/tags/v1.30.0",
                "NOASSERTION",
            ),
            (
                "file:///srv/git/widget.git",
                "git+file:///srv/git/widget.git@refs/tags/v1.30.0",
                "NOASSERTION",
            ),
            (
                "/tmp/my repo.git",
                "git+file:///tmp/my%20repo.git@refs/tags/v1.30.0",
                "NOASSERTION",
            ),
            (
                "http://127.0.0.1:3000/org/repo.git",
                "git+http://127.0.0.1:3000/org/repo.git@refs/tags/v1.30.0",
                "NOASSERTION",
            ),
        ];
        for (url, uri, spdx) in cases {
            let source = git_source(url, "v1.30.0");
            assert_eq!(source.uri, uri, "{url}");
            assert_eq!(source.spdx, spdx, "{url}");
        }
    }
}
