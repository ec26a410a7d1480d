//! Publishing a GitHub release so that a rerun or a second run never makes a second one:
//! find the release by its tag (drafts included), create it as a draft when there is none,
//! upload each asset that is not there whole, then publish it once. GitHub refuses uploads to
//! a published immutable release, so nothing is added after publishing; a published release
//! that lacks an asset is reported, not patched.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use crate::client::split_url;
use crate::{GitHub, GitHubError};

/// A release to publish.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ReleaseSpec {
    /// `org/repo`, for messages.
    pub repository: String,
    /// The tag the release is for (pushed before the release is published).
    pub tag: String,
    /// The release's title.
    pub name: String,
    /// The release notes (markdown).
    pub body: String,
    /// True for alpha, beta and rc releases.
    pub prerelease: bool,
    /// The files attached to it.
    pub assets: Vec<AssetFile>,
}

/// One file to attach.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AssetFile {
    /// The asset's name on the release.
    pub name: String,
    /// The local file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
}

/// A release as GitHub holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExistingRelease {
    /// Its id.
    pub id: u64,
    /// True while it is a draft.
    pub draft: bool,
    /// Its page.
    pub html_url: String,
    /// Where assets are uploaded (without the `{?name,label}` template).
    pub upload_url: String,
    /// Its assets.
    pub assets: Vec<ExistingAsset>,
}

/// An asset as GitHub holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExistingAsset {
    /// Its id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// `uploaded` when complete (`starter` after an interrupted upload).
    pub state: String,
    /// Its size.
    pub size: u64,
}

/// What [`GitHub::publish_release`] did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Published {
    /// The release's page.
    pub html_url: String,
    /// True when this call created the draft.
    pub created: bool,
    /// Assets uploaded by this call.
    pub uploaded: Vec<String>,
    /// True when this call published it (false: it was published before).
    pub published: bool,
}

/// The single door through which krel writes GitHub releases.
pub trait ReleasePublisher {
    /// Makes the release exist, complete and published, from whatever state it is in.
    fn publish(&self, spec: &ReleaseSpec) -> Result<Published, GitHubError>;
}

/// A [`ReleasePublisher`] over a [`GitHub`] client, blocking on a Tokio runtime.
pub struct BlockingPublisher<'a> {
    /// The runtime the client was made on.
    pub runtime: &'a tokio::runtime::Runtime,
    /// The client.
    pub github: &'a GitHub,
}

impl ReleasePublisher for BlockingPublisher<'_> {
    fn publish(&self, spec: &ReleaseSpec) -> Result<Published, GitHubError> {
        self.runtime.block_on(self.github.publish_release(spec))
    }
}

fn parse_release(value: &Value) -> Option<ExistingRelease> {
    Some(ExistingRelease {
        id: value["id"].as_u64()?,
        draft: value["draft"].as_bool().unwrap_or(false),
        html_url: value["html_url"].as_str().unwrap_or_default().to_string(),
        upload_url: value["upload_url"]
            .as_str()?
            .split('{')
            .next()
            .unwrap_or_default()
            .to_string(),
        assets: value["assets"]
            .as_array()
            .map(|assets| assets.iter().filter_map(parse_asset).collect())
            .unwrap_or_default(),
    })
}

fn parse_asset(value: &Value) -> Option<ExistingAsset> {
    Some(ExistingAsset {
        id: value["id"].as_u64()?,
        name: value["name"].as_str()?.to_string(),
        state: value["state"].as_str().unwrap_or("uploaded").to_string(),
        size: value["size"].as_u64().unwrap_or(0),
    })
}

/// Characters a query value may hold as they are; everything else is percent-encoded.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl GitHub {
    fn repos_path(&self, rest: &str) -> String {
        let (_, prefix) = split_url(&self.config.api_url);
        format!(
            "{prefix}/repos/{}/{}/{rest}",
            self.config.org, self.config.repo
        )
    }

    /// One REST call, retried on 5xx and transport errors; the status and the JSON answer.
    async fn rest(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), GitHubError> {
        let attempts = self.config.attempts.clamp(1, 4);
        self.rest_attempts(method, path, body, attempts).await
    }

    /// [`GitHub::rest`] with at most `attempts` tries.
    async fn rest_attempts(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        attempts: u32,
    ) -> Result<(u16, Value), GitHubError> {
        let mut backoff = Duration::from_millis(500);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let response = match method {
                "GET" => self.octocrab._get(path).await,
                "POST" => self.octocrab._post(path, body).await,
                "PATCH" => self.octocrab._patch(path, body).await,
                "DELETE" => self.octocrab._delete(path, body).await,
                _ => return Err(GitHubError::BadResponse(format!("no method {method}"))),
            };
            let failure = match response {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let text = self
                        .octocrab
                        .body_to_string(response)
                        .await
                        .unwrap_or_default();
                    if status < 500 {
                        let value = serde_json::from_str(&text).unwrap_or(Value::Null);
                        return Ok((status, value));
                    }
                    format!("HTTP {status}")
                }
                Err(err) => err.to_string(),
            };
            if attempt >= attempts {
                return Err(self.request_error(path, failure, None));
            }
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }

    fn request_error(&self, url: &str, reason: String, status: Option<u16>) -> GitHubError {
        GitHubError::Request {
            url: url.to_string(),
            repo: format!("{}/{}", self.config.org, self.config.repo),
            reason,
            status,
        }
    }

    fn unexpected(&self, what: &str, path: &str, status: u16, answer: &Value) -> GitHubError {
        let message = answer["message"].as_str().unwrap_or_default();
        let errors = answer["errors"].to_string();
        self.request_error(
            path,
            format!("{what}: HTTP {status} {message} {errors}")
                .trim()
                .to_string(),
            Some(status),
        )
    }

    /// The release for `tag`, drafts included (GitHub's by-tag lookup skips drafts, so they
    /// are found by listing, newest first).
    pub async fn find_release(&self, tag: &str) -> Result<Option<ExistingRelease>, GitHubError> {
        let path = self.repos_path(&format!("releases/tags/{}", encode(tag)));
        let (status, answer) = self.rest("GET", &path, None).await?;
        match status {
            200 => return Ok(parse_release(&answer)),
            404 => {}
            _ => return Err(self.unexpected("finding the release", &path, status, &answer)),
        }
        for page in 1..=50 {
            let path = self.repos_path(&format!("releases?per_page=100&page={page}"));
            let (status, answer) = self.rest("GET", &path, None).await?;
            if status != 200 {
                return Err(self.unexpected("listing releases", &path, status, &answer));
            }
            let Some(list) = answer.as_array() else {
                return Err(GitHubError::BadResponse(format!("{path} is not a list")));
            };
            if let Some(found) = list.iter().find(|r| r["tag_name"] == tag) {
                return Ok(parse_release(found));
            }
            if list.len() < 100 {
                break;
            }
        }
        Ok(None)
    }

    /// Publishes `spec` from whatever state GitHub holds (see the module documentation).
    pub async fn publish_release(&self, spec: &ReleaseSpec) -> Result<Published, GitHubError> {
        let mut outcome = Published {
            html_url: String::new(),
            created: false,
            uploaded: Vec::new(),
            published: false,
        };
        let release = match self.find_release(&spec.tag).await? {
            Some(release) => release,
            None => {
                let path = self.repos_path("releases");
                let request = json!({
                    "tag_name": spec.tag,
                    "name": spec.name,
                    "body": spec.body,
                    "draft": true,
                    "prerelease": spec.prerelease,
                });
                // Sent once: a POST whose answer was lost may have created the draft, so look
                // again instead of sending it twice.
                match self.rest_attempts("POST", &path, Some(&request), 1).await {
                    Ok((201, answer)) => {
                        outcome.created = true;
                        parse_release(&answer).ok_or_else(|| {
                            GitHubError::BadResponse("the created release has no id".into())
                        })?
                    }
                    Ok((status, answer)) => {
                        return Err(self.unexpected(
                            "creating the draft release",
                            &path,
                            status,
                            &answer,
                        ))
                    }
                    Err(err) => match self.find_release(&spec.tag).await? {
                        Some(release) => release,
                        None => return Err(err),
                    },
                }
            }
        };
        outcome.html_url = release.html_url.clone();
        let complete = |asset: &ExistingAsset, file: &AssetFile| {
            asset.state == "uploaded" && asset.size == file.size
        };
        if !release.draft {
            let missing: Vec<&str> = spec
                .assets
                .iter()
                .filter(|file| {
                    !release
                        .assets
                        .iter()
                        .any(|a| a.name == file.name && complete(a, file))
                })
                .map(|file| file.name.as_str())
                .collect();
            if missing.is_empty() {
                return Ok(outcome);
            }
            return Err(GitHubError::ReleaseIncomplete {
                tag: spec.tag.clone(),
                repository: spec.repository.clone(),
                missing: missing.iter().map(|s| s.to_string()).collect(),
            });
        }
        for file in &spec.assets {
            match release.assets.iter().find(|a| a.name == file.name) {
                Some(asset) if complete(asset, file) => continue,
                Some(asset) => {
                    // An interrupted upload leaves a `starter` asset: remove it and upload again.
                    let path = self.repos_path(&format!("releases/assets/{}", asset.id));
                    let (status, answer) = self.rest("DELETE", &path, None).await?;
                    if status != 204 && status != 404 {
                        return Err(self.unexpected(
                            "removing a partial asset",
                            &path,
                            status,
                            &answer,
                        ));
                    }
                }
                None => {}
            }
            self.upload_asset(&release, file).await?;
            outcome.uploaded.push(file.name.clone());
        }
        let path = self.repos_path(&format!("releases/{}", release.id));
        // The whole spec with the publication: a draft left by an earlier run gets this run's
        // name, notes and pre-release flag.
        let publish = json!({
            "draft": false,
            "name": spec.name,
            "body": spec.body,
            "prerelease": spec.prerelease,
        });
        let (status, answer) = self.rest("PATCH", &path, Some(&publish)).await?;
        if status != 200 {
            return Err(self.unexpected("publishing the release", &path, status, &answer));
        }
        outcome.published = true;
        if let Some(url) = answer["html_url"].as_str() {
            outcome.html_url = url.to_string();
        }
        Ok(outcome)
    }

    async fn upload_asset(
        &self,
        release: &ExistingRelease,
        file: &AssetFile,
    ) -> Result<(), GitHubError> {
        let url = format!("{}?name={}", release.upload_url, encode(&file.name));
        // Shared, not copied, between attempts.
        let bytes = bytes::Bytes::from(tokio::fs::read(&file.path).await.map_err(|err| {
            self.request_error(
                &url,
                format!("reading {}: {err}", file.path.display()),
                None,
            )
        })?);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let request = http::Request::builder()
                .method(http::Method::POST)
                .uri(url.as_str())
                .header(http::header::CONTENT_TYPE, "application/octet-stream")
                .header(http::header::CONTENT_LENGTH, bytes.len())
                .body(bytes.clone())
                .map_err(|err| self.request_error(&url, err.to_string(), None))?;
            let failure = match self.octocrab.execute(request).await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let text = self
                        .octocrab
                        .body_to_string(response)
                        .await
                        .unwrap_or_default();
                    let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    match status {
                        201 => return Ok(()),
                        s if s < 500 => {
                            return Err(self.unexpected(
                                &format!("uploading {}", file.name),
                                &url,
                                status,
                                &answer,
                            ))
                        }
                        _ => format!("HTTP {status}"),
                    }
                }
                Err(err) => err.to_string(),
            };
            if attempt >= 3 {
                return Err(self.request_error(&url, failure, None));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_percent_encoded() {
        assert_eq!(encode("a b+c.tar.gz"), "a%20b%2Bc.tar.gz");
    }
}
