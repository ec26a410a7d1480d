//! Fetching pull requests: cache first, then GraphQL batches of up to 100, at most two queries
//! in flight (GitHub asks integrations to avoid concurrency), honouring rate limits.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::StreamExt;
use krel_secret::Secret;
use octocrab::Octocrab;
use serde_json::{json, Value};

use crate::{Head, Label, PullRequest, User};

/// Where and how to reach GitHub.
#[derive(Clone, Debug)]
pub struct GitHubConfig {
    /// The REST API base: `https://api.github.com`, `https://ghe.example/api/v3`, or a stand-in.
    pub api_url: String,
    /// Repository owner.
    pub org: String,
    /// Repository name.
    pub repo: String,
    /// `GITHUB_TOKEN`.
    pub token: Option<Secret>,
    /// Where fetched PRs are kept between runs (`None`: no cache).
    pub cache_dir: Option<PathBuf>,
    /// PRs per GraphQL query (GitHub allows up to 100 nodes).
    pub batch_size: usize,
    /// The longest krel waits for a rate limit to reset before giving up.
    pub max_wait: Duration,
    /// Attempts per query for transient failures (5xx, timeouts, secondary limits).
    pub attempts: u32,
    /// Queries in flight at once. Two keeps latency down while staying far below what triggers
    /// GitHub's secondary limits (upstream krel sends ten REST calls at once).
    pub concurrency: usize,
}

impl GitHubConfig {
    /// Defaults for `org/repo` on github.com.
    pub fn new(org: &str, repo: &str) -> GitHubConfig {
        GitHubConfig {
            api_url: "https://api.github.com".into(),
            org: org.into(),
            repo: repo.into(),
            token: None,
            cache_dir: None,
            batch_size: 100,
            max_wait: Duration::from_secs(15 * 60),
            attempts: 6,
            concurrency: 2,
        }
    }

    /// The GraphQL endpoint that goes with `api_url`.
    pub fn graphql_url(&self) -> String {
        let base = self.api_url.trim_end_matches('/');
        match base.strip_suffix("/api/v3") {
            Some(host) => format!("{host}/api/graphql"),
            None => format!("{base}/graphql"),
        }
    }
}

/// What fetching cost.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct FetchStats {
    /// HTTP requests sent.
    pub requests: usize,
    /// PRs served from the cache.
    pub cached: usize,
    /// PRs fetched from GitHub.
    pub fetched: usize,
    /// Numbers GitHub does not know as pull requests (commit messages can cite issues).
    pub missing: Vec<u64>,
    /// Seconds spent waiting for rate limits.
    pub waited_seconds: u64,
}

/// Why GitHub could not be read.
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    /// The client could not be built.
    #[error("setting up the GitHub client for {url}: {reason}")]
    Setup {
        /// The API URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// A request failed after its retries.
    #[error("GitHub request {url} ({repo}): {reason}")]
    Request {
        /// The endpoint.
        url: String,
        /// `org/repo`.
        repo: String,
        /// Status and message.
        reason: String,
        /// HTTP status, when there was one.
        status: Option<u16>,
    },
    /// The rate limit resets later than krel is willing to wait.
    #[error("GitHub's rate limit is exhausted for another {seconds} s (longer than the {max} s krel waits)")]
    RateLimited {
        /// Seconds until the reset.
        seconds: u64,
        /// The longest wait allowed.
        max: u64,
    },
    /// The answer was not what GraphQL should return.
    #[error("GitHub answered something krel cannot read: {0}")]
    BadResponse(String),
    /// A published release lacks assets, and published releases take no more uploads.
    #[error("the GitHub release {tag} of {repository} is published but lacks {}", missing.join(", "))]
    ReleaseIncomplete {
        /// The tag.
        tag: String,
        /// `org/repo`.
        repository: String,
        /// The assets it lacks.
        missing: Vec<String>,
    },
}

/// Whether a token may go to `api_url`: https, or plain http to a loopback address (the
/// GitHub stand-in).
fn secure_for_tokens(api_url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(api_url) else {
        return false;
    };
    match url.scheme() {
        "https" => true,
        "http" => url.host_str().is_some_and(|host| {
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
        }),
        _ => false,
    }
}

/// A GitHub client for one repository.
pub struct GitHub {
    pub(crate) octocrab: Octocrab,
    pub(crate) config: GitHubConfig,
}

const PR_FIELDS: &str = "number title body url mergedAt headRefName headRepositoryOwner { login } author { login url } labels(first: 100) { nodes { name } }";

impl GitHub {
    /// Builds the client (call inside a Tokio runtime).
    pub fn new(config: GitHubConfig) -> Result<GitHub, GitHubError> {
        let setup = |reason: String| GitHubError::Setup {
            url: config.api_url.clone(),
            reason,
        };
        if config.token.is_some() && !secure_for_tokens(&config.api_url) {
            return Err(setup(
                "the token would cross the network in clear text: use an https:// API URL (plain http only to 127.0.0.1 or [::1]), or unset GITHUB_TOKEN for a server that needs none".into(),
            ));
        }
        // octocrab sends the token only with relative requests (or to api.github.com) and puts
        // the base URI's path in front of them: the base is scheme and host, the path relative.
        let (origin, _) = split_url(&config.api_url);
        // reqwest sends small requests without Nagle's delay (TCP_NODELAY), which otherwise
        // stalls every POST on delayed ACKs.
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| setup(e.to_string()))?;
        let mut builder = Octocrab::builder()
            .base_uri(origin.as_str())
            .map_err(|e| setup(e.to_string()))?;
        if let Some(token) = &config.token {
            builder = builder.personal_token(token.expose().to_string());
        }
        let octocrab = builder
            .build_with_reqwest(http)
            .map_err(|e| setup(e.to_string()))?;
        Ok(GitHub { octocrab, config })
    }

    fn cache_path(&self, number: u64) -> Option<PathBuf> {
        let host: String = self
            .config
            .api_url
            .split("://")
            .nth(1)
            .unwrap_or(&self.config.api_url)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.config.cache_dir.as_ref().map(|dir| {
            dir.join(host)
                .join(&self.config.org)
                .join(&self.config.repo)
                .join(format!("pr-{number}.json"))
        })
    }

    fn read_cache(&self, number: u64) -> Option<PullRequest> {
        let text = std::fs::read_to_string(self.cache_path(number)?).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The pull requests with these numbers (unknown numbers are listed in the stats).
    pub async fn pull_requests(
        &self,
        numbers: &[u64],
    ) -> Result<(Vec<PullRequest>, FetchStats), GitHubError> {
        let mut stats = FetchStats::default();
        let mut found = BTreeMap::new();
        let mut wanted = Vec::new();
        for &number in numbers {
            if found.contains_key(&number) || wanted.contains(&number) {
                continue;
            }
            match self.read_cache(number) {
                Some(pr) => {
                    stats.cached += 1;
                    found.insert(number, pr);
                }
                None => wanted.push(number),
            }
        }
        // Cache writes run beside the next query instead of between queries.
        let mut writes = tokio::task::JoinSet::new();
        let batches: Vec<&[u64]> = wanted
            .chunks(self.config.batch_size.clamp(1, 100))
            .collect();
        let mut answers = futures_util::stream::iter(batches)
            .map(|batch| async move {
                let mut own = FetchStats::default();
                let data = self.query(batch, &mut own).await;
                (batch, data, own)
            })
            .buffered(self.config.concurrency.max(1));
        while let Some((batch, data, own)) = answers.next().await {
            stats.requests += own.requests;
            stats.waited_seconds += own.waited_seconds;
            let data = data?;
            let mut fetched = Vec::new();
            for &number in batch {
                match data.get(&format!("pr{number}")).filter(|v| !v.is_null()) {
                    Some(node) => {
                        let pr = from_graphql(node)?;
                        stats.fetched += 1;
                        fetched.push((self.cache_path(number), pr.clone()));
                        found.insert(number, pr);
                    }
                    None => stats.missing.push(number),
                }
            }
            writes.spawn_blocking(move || {
                for (path, pr) in &fetched {
                    write_cache(path.clone(), pr);
                }
            });
        }
        while writes.join_next().await.is_some() {}
        let prs = numbers
            .iter()
            .filter_map(|n| found.get(n).cloned())
            .collect::<Vec<_>>();
        let mut seen = std::collections::BTreeSet::new();
        let prs = prs
            .into_iter()
            .filter(|pr| seen.insert(pr.number))
            .collect();
        Ok((prs, stats))
    }

    /// One GraphQL query for `numbers`, retried on transient failures and rate limits.
    async fn query(
        &self,
        numbers: &[u64],
        stats: &mut FetchStats,
    ) -> Result<serde_json::Map<String, Value>, GitHubError> {
        let url = self.config.graphql_url();
        let (_, graphql_path) = split_url(&url);
        let repo = format!("{}/{}", self.config.org, self.config.repo);
        let fields: String = numbers
            .iter()
            .map(|n| format!("pr{n}: pullRequest(number: {n}) {{ {PR_FIELDS} }} "))
            .collect();
        let query = format!("query($owner: String!, $name: String!) {{ repository(owner: $owner, name: $name) {{ {fields}}} }}");
        let body = json!({ "query": query, "variables": { "owner": self.config.org, "name": self.config.repo } });
        let error = |reason: String, status: Option<u16>| GitHubError::Request {
            url: url.clone(),
            repo: repo.clone(),
            reason,
            status,
        };
        let mut attempt = 0;
        let mut backoff = Duration::from_millis(500);
        loop {
            attempt += 1;
            stats.requests += 1;
            let outcome = self
                .octocrab
                ._post(graphql_path.as_str(), Some(&body))
                .await;
            let wait = match outcome {
                Err(err) => {
                    if attempt >= self.config.attempts {
                        return Err(error(err.to_string(), None));
                    }
                    backoff
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string)
                    };
                    let text = self
                        .octocrab
                        .body_to_string(response)
                        .await
                        .unwrap_or_default();
                    let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    let rate_limited_body = parsed["errors"]
                        .as_array()
                        .is_some_and(|errors| errors.iter().any(|e| e["type"] == "RATE_LIMITED"));
                    let exhausted = header("x-ratelimit-remaining").as_deref() == Some("0");
                    let limited_status = status == 403 || status == 429;
                    let says_rate_limit = text.to_lowercase().contains("rate limit");
                    let retry_after = header("retry-after").and_then(|v| v.parse::<u64>().ok());
                    let until_reset = || {
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| d.as_secs());
                        header("x-ratelimit-reset")
                            .and_then(|v| v.parse::<u64>().ok())
                            .map_or(Duration::from_secs(60), |reset| {
                                Duration::from_secs(reset.saturating_sub(now).max(1))
                            })
                    };
                    if limited_status && retry_after.is_some() {
                        // Secondary limit: GitHub says how long to wait.
                        Duration::from_secs(retry_after.unwrap_or(60))
                    } else if (limited_status && exhausted) || rate_limited_body {
                        // Primary limit: wait for the reset (a minute when it is not given).
                        until_reset()
                    } else if limited_status && says_rate_limit {
                        // Secondary limit without retry-after: GitHub asks for at least a minute.
                        Duration::from_secs(60).max(backoff)
                    } else if status == 200 {
                        let data = parsed["data"]["repository"].as_object().cloned();
                        // A null node is "not a pull request" only when GitHub says NOT_FOUND
                        // for it; a null from a timeout or a permission error is retried.
                        let not_found: std::collections::BTreeSet<String> = parsed["errors"]
                            .as_array()
                            .map(|errors| {
                                errors
                                    .iter()
                                    .filter(|e| e["type"] == "NOT_FOUND")
                                    .filter_map(|e| {
                                        e["path"].as_array()?.get(1)?.as_str().map(str::to_string)
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        let unexplained: Vec<String> = data
                            .iter()
                            .flatten()
                            .filter(|(alias, node)| node.is_null() && !not_found.contains(*alias))
                            .map(|(alias, _)| format!("#{}", alias.trim_start_matches("pr")))
                            .collect();
                        if !unexplained.is_empty() {
                            if attempt >= self.config.attempts {
                                let message = parsed["errors"].to_string();
                                return Err(error(
                                    format!(
                                        "GitHub left pull requests out without saying why ({}), {} times: {message}",
                                        unexplained.join(", "),
                                        attempt
                                    ),
                                    Some(status),
                                ));
                            }
                            backoff
                        } else {
                            match data {
                                Some(data) => return Ok(data),
                                None => {
                                    let message = parsed["errors"].to_string();
                                    return Err(error(format!("no data: {message}"), Some(status)));
                                }
                            }
                        }
                    } else if status >= 500 || status == 408 {
                        if attempt >= self.config.attempts {
                            return Err(error(format!("HTTP {status}"), Some(status)));
                        }
                        backoff
                    } else {
                        let message = parsed["message"]
                            .as_str()
                            .unwrap_or(text.as_str())
                            .chars()
                            .take(300)
                            .collect::<String>();
                        return Err(error(format!("HTTP {status}: {message}"), Some(status)));
                    }
                }
            };
            if wait > self.config.max_wait {
                return Err(GitHubError::RateLimited {
                    seconds: wait.as_secs(),
                    max: self.config.max_wait.as_secs(),
                });
            }
            if attempt >= self.config.attempts + 10 {
                return Err(error("gave up after repeated rate limiting".into(), None));
            }
            tracing::warn!(
                seconds = wait.as_secs_f64(),
                attempt,
                "waiting before asking GitHub again"
            );
            stats.waited_seconds += wait.as_secs();
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }
}

/// Writes one PR to its cache file (a temporary file renamed into place); failures only warn.
fn write_cache(path: Option<PathBuf>, pr: &PullRequest) {
    let Some(path) = path else { return };
    let Some(dir) = path.parent() else { return };
    let written = std::fs::create_dir_all(dir).and_then(|_| {
        let temp = tempfile::NamedTempFile::new_in(dir)?;
        serde_json::to_writer(&temp, pr).map_err(std::io::Error::other)?;
        temp.persist(&path).map_err(|e| e.error)?;
        Ok(())
    });
    if let Err(err) = written {
        tracing::warn!(path = %path.display(), error = %err, "could not cache a pull request");
    }
}

/// `https://host:port/some/path` → (`https://host:port`, `/some/path`).
pub(crate) fn split_url(url: &str) -> (String, String) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let (host, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    (
        format!("{scheme}://{host}"),
        path.trim_end_matches('/').to_string(),
    )
}

/// A GraphQL PR node in the REST shape.
fn from_graphql(node: &Value) -> Result<PullRequest, GitHubError> {
    let bad = |what: &str| GitHubError::BadResponse(format!("a pull request without {what}"));
    let number = node["number"].as_u64().ok_or_else(|| bad("a number"))?;
    let (login, profile) = match node["author"].as_object() {
        Some(author) => (
            author
                .get("login")
                .and_then(Value::as_str)
                .unwrap_or("ghost")
                .to_string(),
            author
                .get("url")
                .and_then(Value::as_str)
                .unwrap_or("https://github.com/ghost")
                .to_string(),
        ),
        // A deleted account: GitHub shows "ghost".
        None => ("ghost".to_string(), "https://github.com/ghost".to_string()),
    };
    let labels = node["labels"]["nodes"]
        .as_array()
        .map(|nodes| {
            nodes
                .iter()
                .filter_map(|l| l["name"].as_str())
                .map(|name| Label {
                    name: name.to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    let head = match (
        node["headRepositoryOwner"]["login"].as_str(),
        node["headRefName"].as_str(),
    ) {
        (Some(owner), Some(branch)) => Some(Head {
            label: format!("{owner}:{branch}"),
        }),
        _ => None,
    };
    Ok(PullRequest {
        number,
        title: node["title"].as_str().unwrap_or_default().to_string(),
        body: node["body"].as_str().map(str::to_string),
        user: User {
            login,
            html_url: profile,
        },
        labels,
        html_url: node["url"]
            .as_str()
            .ok_or_else(|| bad("a url"))?
            .to_string(),
        merged_at: node["mergedAt"].as_str().map(str::to_string),
        head,
    })
}

impl krel_error::Diagnose for GitHubError {
    fn kind(&self) -> krel_error::ErrorKind {
        if self.is_refusal() {
            krel_error::ErrorKind::Refused
        } else {
            krel_error::ErrorKind::Unexpected
        }
    }

    /// True when the state of the world says no, as opposed to a failure to do the work.
    fn is_refusal(&self) -> bool {
        matches!(
            self,
            GitHubError::ReleaseIncomplete { .. }
                | GitHubError::Request {
                    status: Some(403 | 404 | 409 | 422),
                    ..
                }
        )
    }

    /// What a user can do about it.
    fn hint(&self) -> Option<String> {
        match self {
            GitHubError::Request { status: Some(401), .. } => Some("set GITHUB_TOKEN to a token that can read the repository".into()),
            GitHubError::ReleaseIncomplete { .. } => Some("GitHub does not accept uploads to a published immutable release: attach the files by hand if the release is mutable, or cut the next version".into()),
            GitHubError::RateLimited { .. } => Some("wait for the reset, or use a token with a higher limit (GITHUB_TOKEN); fetched PRs are cached, so a rerun continues where this one stopped".into()),
            GitHubError::Request { .. } => Some("check --github-api-url (KREL_GITHUB_API_URL), GITHUB_TOKEN and the network; rerunning repeats only what is missing".into()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_go_over_https_or_to_this_machine_only() {
        for (url, secure) in [
            ("https://api.github.com", true),
            ("https://ghe.example.com/api/v3", true),
            ("http://127.0.0.1:8080", true),
            ("http://[::1]:8080", true),
            ("http://192.0.2.2:18767", false),
            ("http://127.evil.example", false),
            ("ftp://127.0.0.1", false),
        ] {
            assert_eq!(secure_for_tokens(url), secure, "{url}");
        }
    }

    #[test]
    fn graphql_endpoint_follows_the_api_url() {
        let mut config = GitHubConfig::new("k", "k");
        assert_eq!(config.graphql_url(), "https://api.github.com/graphql");
        config.api_url = "https://ghe.example.com/api/v3/".into();
        assert_eq!(config.graphql_url(), "https://ghe.example.com/api/graphql");
        config.api_url = "http://127.0.0.1:8080".into();
        assert_eq!(config.graphql_url(), "http://127.0.0.1:8080/graphql");
    }

    #[test]
    fn graphql_nodes_become_rest_shaped_prs() {
        let node = json!({"number": 7, "title": "t", "body": "b", "url": "https://github.com/o/r/pull/7",
            "mergedAt": null, "headRefName": "cherry-pick-5-to-release-1.2", "headRepositoryOwner": {"login": "bot"},
            "author": null, "labels": {"nodes": [{"name": "kind/bug"}]}});
        let pr = from_graphql(&node).unwrap();
        assert_eq!(pr.user.login, "ghost");
        assert_eq!(pr.labels[0].name, "kind/bug");
        assert_eq!(pr.head.unwrap().label, "bot:cherry-pick-5-to-release-1.2");
    }
}
