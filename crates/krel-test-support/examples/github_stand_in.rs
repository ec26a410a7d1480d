//! Runs the GitHub stand-in for benchmarks: `github_stand_in PRS LATENCY_MS` serves PRS
//! generated pull requests (numbers 1..=PRS) with LATENCY_MS added to every response, prints
//! its URL, and serves until stdin closes.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Read;
use std::time::Duration;

use krel_test_support::{GitHubStandIn, StandInOptions};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3000);
    let latency: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100);
    let prs = (1..=count)
        .map(|n| {
            let kind = ["kind/bug", "kind/feature", "kind/cleanup"][(n % 3) as usize];
            let sig = ["sig/node", "sig/cli", "sig/api-machinery"][(n % 3) as usize];
            serde_json::json!({
                "number": n,
                "title": format!("Change number {n}"),
                "body": format!("#### What this PR does\r\n\r\nChange {n}.\r\n\r\n```release-note\r\nChange number {n} is user-visible.\r\n```\r\n"),
                "user": {"login": format!("dev{}", n % 50), "html_url": format!("https://github.com/dev{}", n % 50)},
                "labels": [{"name": kind}, {"name": sig}],
                "html_url": format!("https://github.com/bench/repo/pull/{n}"),
                "merged_at": "2024-01-01T00:00:00Z",
            })
        })
        .collect();
    let stand_in = GitHubStandIn::start(
        prs,
        StandInOptions {
            latency: Duration::from_millis(latency),
            ..Default::default()
        },
    );
    println!("{}", stand_in.url);
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    eprintln!("requests: {}", stand_in.requests().len());
}
