//! GitHub for krel: pull requests in GitHub's REST shape, fetched in GraphQL batches, and
//! releases published through the [`ReleasePublisher`] door.
//!
//! This module defines the data; `client` fetches it and `release` publishes.

mod client;
mod release;

pub use client::{FetchStats, GitHub, GitHubConfig, GitHubError};
pub use release::{
    AssetFile, BlockingPublisher, ExistingAsset, ExistingRelease, Published, ReleasePublisher,
    ReleaseSpec,
};

/// A pull request, in the shape of GitHub's REST API (the fields krel uses), which is also
/// the format of `krel changelog --prs FILE`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PullRequest {
    /// The PR number.
    pub number: u64,
    /// Its title.
    #[serde(default)]
    pub title: String,
    /// Its description (markdown), where the release note lives.
    #[serde(default)]
    pub body: Option<String>,
    /// Who opened it.
    pub user: User,
    /// Its labels.
    #[serde(default)]
    pub labels: Vec<Label>,
    /// Its web page.
    pub html_url: String,
    /// When it was merged (RFC 3339), if it was.
    #[serde(default)]
    pub merged_at: Option<String>,
    /// Its head branch (`owner:branch`), to trace cherry-picks to their origin.
    #[serde(default)]
    pub head: Option<Head>,
}

/// A GitHub user.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct User {
    /// The login.
    pub login: String,
    /// The profile page.
    pub html_url: String,
}

/// A label.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Label {
    /// Its name, such as `kind/bug` or `sig/node`.
    pub name: String,
}

/// A PR's head branch.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Head {
    /// `owner:branch`, as GitHub's REST API gives it.
    pub label: String,
}
