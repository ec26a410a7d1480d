//! A GitHub API stand-in on 127.0.0.1, for `krel rehearse` and the tests: it answers GraphQL
//! pull-request queries and REST `pulls/N` from a dataset of REST-shaped PRs, serves the
//! releases API (create a draft, upload assets, publish, list, get by tag) with GitHub's
//! rules for drafts and immutable releases, records every request, and can add latency and
//! rate-limit responses. Nothing leaves loopback.

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
    /// Pull requests answered as `null` with no `NOT_FOUND` error, as GitHub does when a query
    /// times out or lacks a permission for them.
    pub unexplained_nulls: Vec<u64>,
    /// Let assets be added to or deleted from published releases (GitHub refuses both for
    /// immutable releases, which is the default here).
    pub mutable_releases: bool,
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
    releases: Arc<Mutex<Releases>>,
    stopped: Arc<AtomicBool>,
}

/// The releases the stand-in holds.
#[derive(Default)]
struct Releases {
    next_id: u64,
    list: Vec<Release>,
}

struct Release {
    id: u64,
    json: Value,
    assets: Vec<(Value, Vec<u8>)>,
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
        let releases = Arc::new(Mutex::new(Releases {
            next_id: 1,
            list: Vec::new(),
        }));
        let stopped = Arc::new(AtomicBool::new(false));
        let graphql_count = Arc::new(AtomicUsize::new(0));
        // Indexed by number: a query for 100 PRs must not scan thousands for each.
        let prs: Arc<std::collections::HashMap<u64, Value>> = Arc::new(
            prs.into_iter()
                .filter_map(|pr| Some((pr["number"].as_u64()?, pr)))
                .collect(),
        );
        let url = format!("http://127.0.0.1:{port}");
        let (srv, rec, rel, stop, base) = (
            server.clone(),
            recorded.clone(),
            releases.clone(),
            stopped.clone(),
            url.clone(),
        );
        std::thread::spawn(move || {
            for request in srv.incoming_requests() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let (rec, rel, prs, count, options, base) = (
                    rec.clone(),
                    rel.clone(),
                    prs.clone(),
                    graphql_count.clone(),
                    options.clone(),
                    base.clone(),
                );
                std::thread::spawn(move || {
                    let shared = Shared {
                        recorded: &rec,
                        releases: &rel,
                        prs: &prs,
                        graphql_count: &count,
                        options: &options,
                        base: &base,
                    };
                    respond(request, &shared)
                });
            }
        });
        GitHubStandIn {
            url,
            server,
            recorded,
            releases,
            stopped,
        }
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.recorded.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Every release, newest first, as the REST API shows it (drafts included).
    pub fn releases(&self) -> Vec<Value> {
        self.releases
            .lock()
            .map(|r| r.list.iter().rev().map(Release::to_json).collect())
            .unwrap_or_default()
    }

    /// The bytes of asset `name` of the release for `tag`.
    pub fn asset(&self, tag: &str, name: &str) -> Option<Vec<u8>> {
        let releases = self.releases.lock().ok()?;
        let release = releases.list.iter().find(|r| r.json["tag_name"] == tag)?;
        release
            .assets
            .iter()
            .find(|(a, _)| a["name"] == name)
            .map(|(_, bytes)| bytes.clone())
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

/// What every request handler shares.
struct Shared<'a> {
    recorded: &'a Mutex<Vec<Recorded>>,
    releases: &'a Mutex<Releases>,
    prs: &'a std::collections::HashMap<u64, Value>,
    graphql_count: &'a AtomicUsize,
    options: &'a StandInOptions,
    base: &'a str,
}

fn respond(mut request: tiny_http::Request, shared: &Shared<'_>) {
    let Shared {
        recorded,
        prs,
        graphql_count,
        options,
        ..
    } = *shared;
    std::thread::sleep(options.latency);
    let method = request.method().to_string();
    let path = request.url().to_string();
    let authorization = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("authorization"))
        .map(|h| h.value.to_string());
    let mut raw = Vec::new();
    let _ = request.as_reader().read_to_end(&mut raw);
    let body = String::from_utf8_lossy(&raw).to_string();
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
    if path.contains("/releases") {
        if let Ok(mut r) = recorded.lock() {
            r.push(Recorded {
                method: method.clone(),
                path: path.clone(),
                prs: Vec::new(),
                authorization,
            });
        }
        let (status, answer) = match shared.releases.lock() {
            Ok(mut releases) => releases_api(&mut releases, shared, &method, &path, &raw),
            Err(_) => (500, json!({"message": "stand-in state poisoned"})),
        };
        let _ = request.respond(reply(status, answer.to_string(), vec![]));
        return;
    }
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
        if options.unexplained_nulls.contains(&number) {
            data.insert(format!("pr{number}"), Value::Null);
            continue;
        }
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

impl Release {
    fn to_json(&self) -> Value {
        let mut json = self.json.clone();
        json["assets"] = Value::Array(self.assets.iter().map(|(a, _)| a.clone()).collect());
        json
    }
}

fn now_rfc3339() -> String {
    // The stand-in needs an ordering, not a calendar: seconds since the epoch as a UTC time.
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60
    )
}

fn validation(message: &str, code: &str, field: &str) -> (u16, Value) {
    (
        422,
        json!({"message": message, "errors": [{"resource": "Release", "code": code, "field": field}],
               "documentation_url": "https://docs.github.com/rest/releases"}),
    )
}

/// The releases endpoints, as GitHub's REST API answers them.
fn releases_api(
    state: &mut Releases,
    shared: &Shared<'_>,
    method: &str,
    path: &str,
    body: &[u8],
) -> (u16, Value) {
    let not_found = || (404, json!({"message": "Not Found"}));
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    };
    let Ok(route) = Regex::new(
        r"^(/uploads)?/repos/([^/]+)/([^/]+)/releases(?:/(tags/[^/]+|assets/[0-9]+|[0-9]+)(/assets)?)?$",
    ) else {
        return not_found();
    };
    let Some(parts) = route.captures(path) else {
        return not_found();
    };
    let upload = parts.get(1).is_some();
    let (owner, repo) = (parts[2].to_string(), parts[3].to_string());
    let target = parts.get(4).map(|m| m.as_str().to_string());
    let sub_assets = parts.get(5).is_some();
    let find = |state: &Releases, id: u64| state.list.iter().position(|r| r.id == id);
    let immutable = !shared.options.mutable_releases;
    match (method, target.as_deref(), sub_assets, upload) {
        ("GET", None, false, false) => {
            let per_page: usize = param("per_page").and_then(|v| v.parse().ok()).unwrap_or(30);
            let page: usize = param("page").and_then(|v| v.parse().ok()).unwrap_or(1);
            let all: Vec<Value> = state.list.iter().rev().map(Release::to_json).collect();
            let start = per_page.saturating_mul(page.saturating_sub(1));
            (
                200,
                Value::Array(all.into_iter().skip(start).take(per_page.max(1)).collect()),
            )
        }
        ("POST", None, false, false) => {
            let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let Some(tag) = request["tag_name"].as_str().filter(|t| !t.is_empty()) else {
                return validation("Validation Failed", "missing_field", "tag_name");
            };
            if state.list.iter().any(|r| r.json["tag_name"] == tag) {
                return validation("Validation Failed", "already_exists", "tag_name");
            }
            let id = state.next_id;
            state.next_id += 1;
            let draft = request["draft"].as_bool().unwrap_or(false);
            let api = format!("{}/repos/{owner}/{repo}/releases/{id}", shared.base);
            let json = json!({
                "url": api,
                "html_url": format!("https://github.com/{owner}/{repo}/releases/tag/{tag}"),
                "assets_url": format!("{api}/assets"),
                "upload_url": format!("{}/uploads/repos/{owner}/{repo}/releases/{id}/assets{{?name,label}}", shared.base),
                "tarball_url": null,
                "zipball_url": null,
                "id": id,
                "node_id": format!("RE_{id}"),
                "tag_name": tag,
                "target_commitish": request["target_commitish"].as_str().unwrap_or("main"),
                "name": request["name"],
                "body": request["body"],
                "draft": draft,
                "prerelease": request["prerelease"].as_bool().unwrap_or(false),
                "immutable": immutable,
                "created_at": now_rfc3339(),
                "published_at": if draft { Value::Null } else { Value::String(now_rfc3339()) },
                "author": {"login": "krel-stand-in"},
                "assets": [],
            });
            state.list.push(Release {
                id,
                json,
                assets: Vec::new(),
            });
            (201, state.list[state.list.len() - 1].to_json())
        }
        ("GET", Some(target), false, false) if target.starts_with("tags/") => {
            let tag = &target["tags/".len()..];
            // As GitHub: drafts are not found by tag.
            match state
                .list
                .iter()
                .find(|r| r.json["tag_name"] == tag && r.json["draft"] == false)
            {
                Some(release) => (200, release.to_json()),
                None => not_found(),
            }
        }
        ("GET", Some(id), false, false) => match id.parse().ok().and_then(|id| find(state, id)) {
            Some(at) => (200, state.list[at].to_json()),
            None => not_found(),
        },
        ("PATCH", Some(id), false, false) => {
            let Some(at) = id.parse().ok().and_then(|id| find(state, id)) else {
                return not_found();
            };
            let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let release = &mut state.list[at];
            for field in ["name", "body", "prerelease", "target_commitish"] {
                if !request[field].is_null() {
                    release.json[field] = request[field].clone();
                }
            }
            if request["draft"] == false && release.json["draft"] == true {
                release.json["draft"] = Value::Bool(false);
                release.json["published_at"] = Value::String(now_rfc3339());
            } else if request["draft"] == true && release.json["draft"] == false && immutable {
                return validation(
                    "Cannot change a published immutable release back to a draft",
                    "invalid",
                    "draft",
                );
            }
            (200, release.to_json())
        }
        ("GET", Some(id), true, false) => match id.parse().ok().and_then(|id| find(state, id)) {
            Some(at) => (
                200,
                Value::Array(
                    state.list[at]
                        .assets
                        .iter()
                        .map(|(a, _)| a.clone())
                        .collect(),
                ),
            ),
            None => not_found(),
        },
        ("POST", Some(id), true, true) => {
            let Some(at) = id.parse().ok().and_then(|id| find(state, id)) else {
                return not_found();
            };
            let Some(name) = param("name").filter(|n| !n.is_empty()) else {
                return validation("Validation Failed", "missing_field", "name");
            };
            let release = &mut state.list[at];
            if immutable && release.json["draft"] == false {
                return validation(
                    "Cannot upload assets to an immutable release.",
                    "invalid",
                    "release",
                );
            }
            if release
                .assets
                .iter()
                .any(|(a, _)| a["name"] == name.as_str())
            {
                return validation("Validation Failed", "already_exists", "name");
            }
            let asset_id = release.id * 1_000 + release.assets.len() as u64 + 1;
            let digest = {
                use sha2::Digest;
                let hash = sha2::Sha256::digest(body);
                hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
            };
            let asset = json!({
                "url": format!("{}/repos/{owner}/{repo}/releases/assets/{asset_id}", shared.base),
                "browser_download_url": format!("https://github.com/{owner}/{repo}/releases/download/{}/{name}", release.json["tag_name"].as_str().unwrap_or_default()),
                "id": asset_id,
                "node_id": format!("RA_{asset_id}"),
                "name": name,
                "label": param("label"),
                "state": "uploaded",
                "content_type": "application/octet-stream",
                "size": body.len(),
                "digest": format!("sha256:{digest}"),
                "download_count": 0,
                "created_at": now_rfc3339(),
                "updated_at": now_rfc3339(),
                "uploader": {"login": "krel-stand-in"},
            });
            release.assets.push((asset.clone(), body.to_vec()));
            (201, asset)
        }
        ("DELETE", Some(target), false, false) if target.starts_with("assets/") => {
            let asset_id: u64 = target["assets/".len()..].parse().unwrap_or(0);
            for release in &mut state.list {
                if let Some(at) = release.assets.iter().position(|(a, _)| a["id"] == asset_id) {
                    if immutable && release.json["draft"] == false {
                        return validation(
                            "Cannot delete assets of an immutable release.",
                            "invalid",
                            "release",
                        );
                    }
                    release.assets.remove(at);
                    return (204, Value::Null);
                }
            }
            not_found()
        }
        _ => not_found(),
    }
}
