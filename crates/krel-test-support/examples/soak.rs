//! `bench/soak`: many releases through a proxy that fails a fifth of the storage requests.
//!
//! For each backend (fake-gcs-server for `gs://`, SeaweedFS for `s3://`), a sandbox project is
//! released again and again: a commit lands on main, then `krel stage --nomock` and
//! `krel release --nomock` of the next alpha, with every storage request going through a
//! fault-injecting proxy (resets before and after forwarding, 503s, slow answers). A command
//! that still fails after its own retries is run again, as a release manager would (the
//! journals make that safe). After each release, every object of `release/<version>/` is read
//! back directly from the service with its own Python client and compared with the signed
//! stage record: the report counts releases completed, objects verified, missing and corrupt.
//!
//! Usage: cargo run --release -p krel-test-support --example soak -- [RELEASES] [gcs|s3|both]
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use krel_test_support::{fake_gcs, readback, repo_root, seaweed_s3, Fault, FaultyProxy, Krel};

/// One request in five fails, in every way the proxy knows but a 60-second stall.
fn schedule() -> Vec<Option<Fault>> {
    let mut schedule = vec![None; 20];
    schedule[2] = Some(Fault::DropRequest);
    schedule[7] = Some(Fault::Unavailable);
    schedule[11] = Some(Fault::DropResponse);
    schedule[16] = Some(Fault::Slow);
    schedule
}

#[derive(Default)]
struct Tally {
    releases: usize,
    reruns: usize,
    verified: usize,
    missing: Vec<String>,
    corrupt: Vec<String>,
}

/// Reads objects under a prefix back: relative key → sha256.
type ReadBack = dyn Fn(&str) -> BTreeMap<String, String>;

struct Backend {
    name: &'static str,
    bucket_url: String,
    /// Environment that sends krel's storage requests through the proxy.
    env: Vec<(String, String)>,
    /// Reads `release/<version>/` back directly: key (relative) → sha256.
    read_back: Box<ReadBack>,
    proxy: FaultyProxy,
}

fn gcs_backend(bucket: &str) -> Backend {
    let gcs = fake_gcs();
    gcs.create_bucket(bucket);
    let proxy = FaultyProxy::start(gcs.port, schedule(), usize::MAX);
    let (host, bucket_name) = (gcs.host(), bucket.to_string());
    Backend {
        name: "gs:// (fake-gcs-server)",
        bucket_url: format!("gs://{bucket}"),
        env: vec![("STORAGE_EMULATOR_HOST".into(), proxy.host())],
        read_back: Box::new(move |prefix| readback(&["gcs", &host, &bucket_name, prefix], prefix)),
        proxy,
    }
}

fn s3_backend(bucket: &str) -> Backend {
    let s3 = seaweed_s3();
    readback(
        &[
            "s3-mkbucket",
            &s3.endpoint(),
            bucket,
            &s3.access_key,
            &s3.secret_key,
        ],
        "",
    );
    let proxy = FaultyProxy::start(s3.port, schedule(), usize::MAX);
    let (endpoint, bucket_name) = (s3.endpoint(), bucket.to_string());
    let (access, secret) = (s3.access_key.clone(), s3.secret_key.clone());
    Backend {
        name: "s3:// (SeaweedFS)",
        bucket_url: format!("s3://{bucket}"),
        env: vec![
            (
                "AWS_ENDPOINT_URL".into(),
                format!("http://{}", proxy.host()),
            ),
            ("AWS_ACCESS_KEY_ID".into(), s3.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY".into(), s3.secret_key.clone()),
        ],
        read_back: Box::new(move |prefix| {
            readback(
                &["s3", &endpoint, &bucket_name, prefix, &access, &secret],
                prefix,
            )
        }),
        proxy,
    }
}

/// Runs `krel args`, again after a failure (up to 5 runs); the successful run and the number
/// of reruns.
fn run_until_done(
    krel: &Krel,
    root: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (krel_test_support::Run, usize) {
    for attempt in 0..5 {
        let run = krel.run_with_env(root, args, env);
        if run.code == Some(0) {
            return (run, attempt);
        }
        eprintln!(
            "  rerun of krel {} after: {}",
            args[0],
            run.stderr
                .lines()
                .find(|l| l.starts_with("error:"))
                .unwrap_or("?")
        );
    }
    panic!("krel {args:?} failed five times");
}

fn soak(backend: &Backend, releases: usize, krel_bin: &Path) -> Tally {
    let krel = Krel::new(krel_bin)
        .env("GIT_COMMITTER_NAME", "Soak")
        .env("GIT_COMMITTER_EMAIL", "soak@krel.invalid");
    let sandbox = krel.sandbox();
    let root = sandbox.root.clone();
    let mut env: Vec<(&str, &str)> = backend
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    env.push(("KREL_RELEASE_BUCKET", &backend.bucket_url));
    let mut tally = Tally::default();
    for i in 0..releases {
        sandbox
            .commit_file(
                "main",
                &format!("soak/{i}.txt"),
                Some(&format!("change {i}\n")),
                &format!("Soak change {i} (#{})", 500 + i),
            )
            .unwrap();
        sandbox.publish().unwrap();
        let stage_args = [
            "--output", "json", "stage", "--type", "alpha", "--branch", "main", "--nomock",
        ];
        let (run, reruns) = run_until_done(&krel, &root, &stage_args, &env);
        tally.reruns += reruns;
        let staged = run.json();
        let bv = staged["result"]["build_version"]
            .as_str()
            .unwrap()
            .to_string();
        let version = staged["result"]["versions"][0]
            .as_str()
            .unwrap()
            .to_string();
        let release = [
            "release",
            "--type",
            "alpha",
            "--branch",
            "main",
            "--build-version",
            &bv,
            "--nomock",
            "--non-interactive",
        ];
        tally.reruns += run_until_done(&krel, &root, &release, &env).1;
        // The signed record says what release/<version>/ must hold.
        let record_path = root
            .join("workspace/release/widget")
            .join(&bv)
            .join("stage/STAGED.json");
        let record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&record_path).unwrap()).unwrap();
        let prefix = format!("{version}/gcs-stage/{version}/");
        let expected: BTreeMap<String, String> = record["files"]
            .as_object()
            .unwrap()
            .iter()
            .filter_map(|(k, v)| {
                Some((
                    k.strip_prefix(&prefix)?.to_string(),
                    v.as_str()?.to_string(),
                ))
            })
            .collect();
        let held = (backend.read_back)(&format!("release/{version}"));
        for (name, sha256) in &expected {
            match held.get(name) {
                None => tally.missing.push(format!("{version}/{name}")),
                Some(found) if found != sha256 => tally.corrupt.push(format!("{version}/{name}")),
                Some(_) => tally.verified += 1,
            }
        }
        tally.releases += 1;
        eprintln!(
            "{}: {version} released ({} faults injected so far)",
            backend.name,
            backend.proxy.faults()
        );
    }
    tally
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let releases: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(50);
    let which = args.get(2).map(String::as_str).unwrap_or("both");
    let krel_bin: PathBuf = repo_root().join("target/release/krel");
    assert!(
        krel_bin.exists(),
        "build it first: cargo build --release -p krel"
    );
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut backends = Vec::new();
    if which != "s3" {
        backends.push(gcs_backend(&format!("krel-soak-{stamp}")));
    }
    if which != "gcs" {
        backends.push(s3_backend(&format!("krel-soak-{stamp}")));
    }
    let mut clean = true;
    for backend in &backends {
        let started = Instant::now();
        let tally = soak(backend, releases, &krel_bin);
        let requests = backend.proxy.requests();
        println!(
            "{}: {} releases completed in {:.0?}; {} of {} storage requests failed by the proxy ({:.0}%); {} reruns of a command; {} objects verified, {} missing, {} corrupt",
            backend.name,
            tally.releases,
            started.elapsed(),
            backend.proxy.faults(),
            requests,
            100.0 * backend.proxy.faults() as f64 / requests.max(1) as f64,
            tally.reruns,
            tally.verified,
            tally.missing.len(),
            tally.corrupt.len()
        );
        for bad in tally.missing.iter().chain(&tally.corrupt) {
            println!("  BAD {bad}");
        }
        clean &= tally.missing.is_empty() && tally.corrupt.is_empty();
    }
    if !clean {
        std::process::exit(1);
    }
}
