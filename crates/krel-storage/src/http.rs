//! Reading a published place over HTTPS, as a downloader does (`krel verify`, `krel kubepkg
//! verify`): plain HTTP only to this machine, no redirect from https down to http, a missing
//! file (404, or 403 as buckets behind a CDN answer) is absent rather than an error, and large
//! files stream to disk.

use std::path::Path;

/// A base URL and its client.
pub struct HttpSource {
    base: String,
    client: reqwest::Client,
}

/// True for a URL whose host is this machine (127.0.0.0/8, ::1, `localhost`).
pub fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    }
}

impl HttpSource {
    /// `base` (`https://…`, or `http://` to a loopback host), or why it is refused.
    pub fn open(base: &str) -> Result<HttpSource, String> {
        let base = base.trim_end_matches('/').to_string();
        let url = reqwest::Url::parse(&base).map_err(|err| err.to_string())?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => return Err("plain http is refused; use https://".into()),
            other => return Err(format!("`{other}:` is not http or https")),
        }
        let policy = reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() > 10 {
                attempt.error("too many redirects")
            } else if attempt.url().scheme() == "http" && !is_loopback(attempt.url()) {
                attempt.error("a redirect to plain http")
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(600))
            .redirect(policy)
            .build()
            .map_err(|err| err.to_string())?;
        Ok(HttpSource { base, client })
    }

    /// The response for `relative`, or `None` when the server does not have it.
    async fn response(&self, relative: &str) -> Result<Option<reqwest::Response>, String> {
        let url = format!("{}/{relative}", self.base);
        let response = self
            .client
            .get(&url)
            .send()
            .await
            .map_err(|err| format!("{url}: {err}"))?;
        if matches!(
            response.status(),
            reqwest::StatusCode::NOT_FOUND | reqwest::StatusCode::FORBIDDEN
        ) {
            return Ok(None);
        }
        response
            .error_for_status()
            .map(Some)
            .map_err(|err| format!("{url}: {err}"))
    }

    /// `relative`'s bytes (for small files: indexes, signatures), or `None` when absent.
    pub async fn get(&self, relative: &str) -> Result<Option<Vec<u8>>, String> {
        let Some(response) = self.response(relative).await? else {
            return Ok(None);
        };
        let bytes = response
            .bytes()
            .await
            .map_err(|err| format!("{}/{relative}: {err}", self.base))?;
        Ok(Some(bytes.to_vec()))
    }

    /// Streams `relative` into `target` (parents created); false when absent.
    pub async fn download(&self, relative: &str, target: &Path) -> Result<bool, String> {
        let Some(mut response) = self.response(relative).await? else {
            return Ok(false);
        };
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|err| format!("{relative}: {err}"))?;
        }
        let mut file = std::fs::File::create(target).map_err(|err| format!("{relative}: {err}"))?;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| format!("{}/{relative}: {err}", self.base))?
        {
            std::io::Write::write_all(&mut file, &chunk)
                .map_err(|err| format!("{relative}: {err}"))?;
        }
        Ok(true)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_this_machine_may_be_plain_http() {
        for (url, loopback) in [
            ("http://127.0.0.1:8080/release/v1", true),
            ("http://127.8.9.10/x", true),
            ("http://[::1]:80/x", true),
            ("http://localhost:3000/x", true),
            ("http://127.evil.example/x", false),
            ("http://localhost.evil.example/x", false),
            ("http://dl.k8s.io/release", false),
        ] {
            assert_eq!(
                is_loopback(&reqwest::Url::parse(url).unwrap()),
                loopback,
                "{url}"
            );
            assert_eq!(HttpSource::open(url).is_ok(), loopback, "{url}");
        }
        assert!(HttpSource::open("https://dl.k8s.io/release").is_ok());
        assert!(HttpSource::open("ftp://dl.k8s.io/release").is_err());
    }
}
