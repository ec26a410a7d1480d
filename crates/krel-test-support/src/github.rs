//! A GitHub API stand-in on 127.0.0.1: answers GraphQL pull-request queries from a dataset
//! of REST-shaped PRs, records every request, and can add latency and rate-limit responses.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use regex::Regex;
use serde_json::{json, Value};

/// Behaviour knobs.
#[derive(Clone, Debug, Default)]
pub struct StandInOptions {
    /// Added to every response.
    pub latency: Duration,
    /// The first N GraphQL requests get a secondary rate limit (403 + `retry-after: 1`).
    pub secondary_limits: usize,
    /// The next N GraphQL requests get an exhausted primary limit (403, remaining 0, reset in 1 s).
    pub primary_limits: usize,
}

/// One recorded request.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// PR numbers a GraphQL query asked for.
    pub prs: Vec<u64>,
    /// The Authorization header, if any.
    pub authorization: Option<String>,
}

/// The running stand-in; stops when dropped.
pub struct GitHubStandIn {
    /// `http://127.0.0.1:PORT`, the value for `--github-api-url`.
    pub url: String,
    server: Arc<tiny_http::Server>,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    stopped: Arc<AtomicBool>,
}

impl GitHubStandIn {
    /// Serves `prs` (REST-shaped pull requests).
    pub fn start(prs: Vec<Value>, options: StandInOptions) -> GitHubStandIn {
        let server =
            Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("starting the GitHub stand-in"));
        let port = server
            .server_addr()
            .to_ip()
            .map(|a| a.port())
            .expect("stand-in port");
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let stopped = Arc::new(AtomicBool::new(false));
        let graphql_count = Arc::new(AtomicUsize::new(0));
        // Indexed by number: a query for 100 PRs must not scan thousands for each.
        let prs: Arc<std::collections::HashMap<u64, Value>> = Arc::new(
            prs.into_iter()
                .filter_map(|pr| Some((pr["number"].as_u64()?, pr)))
                .collect(),
        );
        let (srv, rec, stop) = (server.clone(), recorded.clone(), stopped.clone());
        std::thread::spawn(move || {
            for request in srv.incoming_requests() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let (rec, prs, count, options) = (
                    rec.clone(),
                    prs.clone(),
                    graphql_count.clone(),
                    options.clone(),
                );
                std::thread::spawn(move || respond(request, &rec, &prs, &count, &options));
            }
        });
        GitHubStandIn {
            url: format!("http://127.0.0.1:{port}"),
            server,
            recorded,
            stopped,
        }
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.recorded.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Requests that could change something (anything but GET, HEAD and GraphQL queries).
    pub fn mutating_requests(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| !(r.method == "GET" || r.method == "HEAD" || r.path.ends_with("/graphql")))
            .collect()
    }
}

impl Drop for GitHubStandIn {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::Relaxed);
        self.server.unblock();
    }
}

fn respond(
    mut request: tiny_http::Request,
    recorded: &Mutex<Vec<Recorded>>,
    prs: &std::collections::HashMap<u64, Value>,
    graphql_count: &AtomicUsize,
    options: &StandInOptions,
) {
    std::thread::sleep(options.latency);
    let method = request.method().to_string();
    let path = request.url().to_string();
    let authorization = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("authorization"))
        .map(|h| h.value.to_string());
    let mut body = String::new();
    let _ = request.as_reader().read_to_string(&mut body);
    let header = |name: &str, value: &str| {
        tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
    };
    let reply = |status: u16, text: String, headers: Vec<Option<tiny_http::Header>>| {
        let mut response = tiny_http::Response::from_string(text).with_status_code(status);
        for h in headers.into_iter().flatten() {
            response.add_header(h);
        }
        response.add_header(header("content-type", "application/json").expect("header"));
        response
    };
    if !(method == "POST" && path.ends_with("/graphql")) {
        // REST: GET /repos/{owner}/{repo}/pulls/{number}, as upstream krel fetches PRs.
        let number = Regex::new(r"^/repos/[^/]+/[^/]+/pulls/([0-9]+)$")
            .ok()
            .and_then(|re| re.captures(&path).and_then(|c| c[1].parse::<u64>().ok()));
        if let Ok(mut r) = recorded.lock() {
            r.push(Recorded {
                method: method.clone(),
                path,
                prs: number.into_iter().collect(),
                authorization,
            });
        }
        let found = number.and_then(|n| prs.get(&n));
        let _ = match (method.as_str(), found) {
            ("GET", Some(pr)) => request.respond(reply(200, pr.to_string(), vec![])),
            _ => request.respond(reply(
                404,
                json!({"message": "Not Found"}).to_string(),
                vec![],
            )),
        };
        return;
    }
    let query: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let text = query["query"].as_str().unwrap_or_default();
    let wanted: Vec<u64> = Regex::new(r"pr(\d+): pullRequest\(number: (\d+)\)")
        .map(|re| {
            re.captures_iter(text)
                .filter_map(|c| c[2].parse().ok())
                .collect()
        })
        .unwrap_or_default();
    if let Ok(mut r) = recorded.lock() {
        r.push(Recorded {
            method,
            path,
            prs: wanted.clone(),
            authorization,
        });
    }
    let n = graphql_count.fetch_add(1, Ordering::SeqCst);
    if n < options.secondary_limits {
        let body = json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."});
        let _ = request.respond(reply(
            403,
            body.to_string(),
            vec![header("retry-after", "1")],
        ));
        return;
    }
    if n < options.secondary_limits + options.primary_limits {
        let reset = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            + 1;
        let body = json!({"message": "API rate limit exceeded"});
        let headers = vec![
            header("x-ratelimit-remaining", "0"),
            header("x-ratelimit-reset", &reset.to_string()),
        ];
        let _ = request.respond(reply(403, body.to_string(), headers));
        return;
    }
    let mut data = serde_json::Map::new();
    let mut errors = Vec::new();
    for number in wanted {
        let node = prs.get(&number).map(|pr| {
            let head = pr["head"]["label"].as_str().and_then(|l| l.split_once(':'));
            json!({
                "number": number,
                "title": pr["title"],
                "body": pr["body"],
                "url": pr["html_url"],
                "mergedAt": pr["merged_at"],
                "headRefName": head.map(|(_, b)| b),
                "headRepositoryOwner": head.map(|(o, _)| json!({"login": o})),
                "author": {"login": pr["user"]["login"], "url": pr["user"]["html_url"]},
                "labels": {"nodes": pr["labels"]},
            })
        });
        match node {
            Some(node) => {
                data.insert(format!("pr{number}"), node);
            }
            None => {
                data.insert(format!("pr{number}"), Value::Null);
                errors.push(json!({"type": "NOT_FOUND", "path": ["repository", format!("pr{number}")], "message": format!("Could not resolve to a PullRequest with the number of {number}.")}));
            }
        }
    }
    let mut answer = json!({"data": {"repository": data}});
    if !errors.is_empty() {
        answer["errors"] = Value::Array(errors);
    }
    let _ = request.respond(reply(
        200,
        answer.to_string(),
        vec![header("x-ratelimit-remaining", "4999")],
    ));
}
