//! Publishing releases against the GitHub stand-in on 127.0.0.1.

// In tests a panic is the assertion: unwrap freely.
#![allow(clippy::unwrap_used)]

use krel_error::Diagnose;
use krel_github::{AssetFile, GitHub, GitHubConfig, GitHubError, ReleaseSpec};
use krel_github_standin::{GitHubStandIn, StandInOptions};

fn client(stand_in: &GitHubStandIn) -> GitHub {
    let mut config = GitHubConfig::new("acme", "widget");
    config.api_url = stand_in.url.clone();
    GitHub::new(config).unwrap()
}

fn spec(dir: &std::path::Path, names: &[&str]) -> ReleaseSpec {
    let assets = names
        .iter()
        .map(|name| {
            let path = dir.join(name);
            std::fs::write(&path, format!("content of {name}")).unwrap();
            AssetFile {
                name: name.to_string(),
                size: std::fs::metadata(&path).unwrap().len(),
                path,
            }
        })
        .collect();
    ReleaseSpec {
        repository: "acme/widget".into(),
        tag: "v1.0.0".into(),
        name: "Widget v1.0.0".into(),
        body: "notes".into(),
        prerelease: false,
        assets,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_is_drafted_filled_and_published_once() {
    let stand_in = GitHubStandIn::start(Vec::new(), StandInOptions::default());
    let github = client(&stand_in);
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), &["a.tar.gz", "SHA256SUMS"]);

    let first = github.publish_release(&spec).await.unwrap();
    assert!(first.created && first.published);
    assert_eq!(first.uploaded, ["a.tar.gz", "SHA256SUMS"]);
    let releases = stand_in.releases();
    assert_eq!(releases.len(), 1);
    assert_eq!(releases[0]["draft"], false);
    assert_eq!(
        stand_in.asset("v1.0.0", "a.tar.gz").unwrap(),
        b"content of a.tar.gz"
    );
    // The order GitHub needs: create the draft, upload, then publish.
    let mutating: Vec<String> = stand_in
        .mutating_requests()
        .iter()
        .map(|r| r.method.clone())
        .collect();
    assert_eq!(mutating, ["POST", "POST", "POST", "PATCH"]);

    // Again: nothing changes.
    let before = stand_in.mutating_requests().len();
    let second = github.publish_release(&spec).await.unwrap();
    assert!(!second.created && !second.published && second.uploaded.is_empty());
    assert_eq!(stand_in.mutating_requests().len(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_draft_is_completed_and_a_published_gap_is_reported() {
    let stand_in = GitHubStandIn::start(Vec::new(), StandInOptions::default());
    let github = client(&stand_in);
    let dir = tempfile::tempdir().unwrap();
    assert!(github.find_release("v1.0.0").await.unwrap().is_none());
    // A draft holding one of the assets, as a run killed before publishing leaves it.
    let full = spec(dir.path(), &["a.tar.gz", "b.tar.gz"]);
    let draft = r#"{"tag_name":"v1.0.0","name":"Widget v1.0.0","draft":true}"#;
    assert_eq!(raw(&stand_in, "/repos/acme/widget/releases", draft), 201);
    let asset = "/uploads/repos/acme/widget/releases/1/assets?name=a.tar.gz";
    assert_eq!(raw(&stand_in, asset, "content of a.tar.gz"), 201);
    let found = github.find_release("v1.0.0").await.unwrap().unwrap();
    assert!(found.draft, "drafts are found by listing");

    let done = github.publish_release(&full).await.unwrap();
    assert!(!done.created && done.published);
    assert_eq!(
        done.uploaded,
        ["b.tar.gz"],
        "the asset already there is kept"
    );

    // Published and immutable: a missing asset cannot be added, and krel says so.
    let more = spec(dir.path(), &["a.tar.gz", "b.tar.gz", "c.tar.gz"]);
    let err = github.publish_release(&more).await.unwrap_err();
    assert!(
        matches!(err, GitHubError::ReleaseIncomplete { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("c.tar.gz"), "{err}");
    assert!(err.is_refusal());
}

/// POSTs `body` to `path` of the stand-in with a plain HTTP/1.1 request; the status.
fn raw(stand_in: &GitHubStandIn, path: &str, body: &str) -> u16 {
    let addr = stand_in.url.trim_start_matches("http://").to_string();
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}
