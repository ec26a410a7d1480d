//! `krel push` end to end against file://, fake-gcs-server (gs://) and SeaweedFS (s3://),
//! read back with Google's and AWS's own Python clients.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

pub(crate) use krel_test_support::readback;
use krel_test_support::{fake_gcs, seaweed_s3, Fault, FaultyProxy, Krel};

use crate::krel;

/// A release-like tree: nested paths, an empty file, a file over 1 MiB.
fn release_tree(files: usize) -> (tempfile::TempDir, BTreeMap<String, String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut expected = BTreeMap::new();
    for i in 0..files {
        let name = match i % 3 {
            0 => format!("bin/linux/amd64/tool-{i}"),
            1 => format!("kubernetes-{i}.tar.gz"),
            _ => format!("extra/deep/dir/file-{i}.txt"),
        };
        let size = match i {
            0 => 0,
            1 => 1_300_000,
            _ => 1000 + i * 37,
        };
        let content: Vec<u8> = (0..size).map(|b| ((b * 31 + i) % 251) as u8).collect();
        let path = dir.path().join(&name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &content).unwrap();
        expected.insert(name, sha256(&content));
    }
    (dir, expected)
}

pub(crate) fn sha256(bytes: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split(' ')
        .next()
        .unwrap()
        .to_string()
}

/// Runs the read-back tool; key → sha256, with `prefix/` removed from keys.
fn push(krel: &Krel, src: &Path, dest: &str, extra: &[&str]) -> krel_test_support::Run {
    let src = src.display().to_string();
    let mut args = vec!["push", src.as_str(), dest];
    args.extend_from_slice(extra);
    krel.run_in(krel.home(), &args)
}

pub(crate) fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

#[test]
fn file_store_mock_nomock_rerun_and_refused_change() {
    let krel = krel();
    let (src, expected) = release_tree(7);
    // krel's own working files in the tree (it was once a push's destination) stay behind.
    std::fs::create_dir_all(src.path().join(".krel-locks")).unwrap();
    std::fs::write(src.path().join(".krel-locks/push-root.lock"), "{}").unwrap();
    std::fs::write(src.path().join(".krel-partial-123"), "half").unwrap();
    let bucket = tempfile::tempdir().unwrap();
    let dest = format!("file://{}/release/v1.30.0", bucket.path().display());

    push(&krel, src.path(), &dest, &[])
        .assert_exit(0)
        .assert_stdout_has("7 to upload")
        .assert_stdout_has("Plan (mock: nothing will be changed)");
    assert_eq!(
        std::fs::read_dir(bucket.path()).unwrap().count(),
        0,
        "mock wrote nothing"
    );

    push(&krel, src.path(), &dest, &["--nomock"])
        .assert_exit(0)
        .assert_stderr_has("Pushed 7 object(s)");
    for (name, digest) in &expected {
        let bytes = std::fs::read(bucket.path().join("release/v1.30.0").join(name)).unwrap();
        assert_eq!(&sha256(&bytes), digest, "{name}");
    }

    let run = push(&krel, src.path(), &dest, &["--nomock", "--output", "json"]);
    run.assert_exit(0)
        .assert_stderr_has("already holds all 7 object(s)");
    assert_eq!(
        run.json()["result"]["uploads"].as_array().unwrap().len(),
        0,
        "a rerun uploads nothing"
    );

    let changed = src.path().join("kubernetes-1.tar.gz");
    std::fs::write(&changed, "different").unwrap();
    push(&krel, src.path(), &dest, &["--nomock"])
        .assert_exit(1)
        .assert_stderr_has("1 object(s) already exist with different content")
        .assert_stderr_has("kubernetes-1.tar.gz");
    let stored = bucket.path().join("release/v1.30.0/kubernetes-1.tar.gz");
    assert_ne!(
        std::fs::read(&stored).unwrap(),
        b"different",
        "nothing replaced"
    );
    push(&krel, src.path(), &dest, &["--nomock", "--allow-overwrite"])
        .assert_exit(0)
        .assert_stdout_has("replace");
    assert_eq!(std::fs::read(&stored).unwrap(), b"different");
}

#[test]
fn file_store_removes_only_stale_partial_files_and_only_when_writing() {
    let krel = krel();
    let (src, _) = release_tree(4);
    let bucket = tempfile::tempdir().unwrap();
    let target = bucket.path().join("bin/linux/amd64");
    std::fs::create_dir_all(&target).unwrap();
    // What a push killed mid-write leaves (an hour ago), and what a push running now has.
    let stale = target.join(".krel-partial-stale1");
    let fresh = target.join(".krel-partial-fresh1");
    std::fs::write(&stale, "half").unwrap();
    std::fs::write(&fresh, "in flight").unwrap();
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(hour_ago)
        .unwrap();
    let dest = format!("file://{}", bucket.path().display());

    push(&krel, src.path(), &dest, &[]).assert_exit(0);
    assert!(
        stale.exists() && fresh.exists(),
        "a mock run deletes nothing"
    );
    push(&krel, src.path(), &dest, &["--nomock"]).assert_exit(0);
    assert!(!stale.exists(), "the abandoned partial file is gone");
    assert!(
        fresh.exists(),
        "a partial file that may belong to a running push is kept"
    );
    let mode = std::fs::metadata(target.join("tool-0"))
        .unwrap()
        .permissions();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        mode.mode() & 0o777,
        0o644,
        "published objects are world-readable"
    );
}

#[test]
fn symlinks_out_of_the_source_are_refused() {
    let krel = krel();
    let (src, _) = release_tree(2);
    let secret = tempfile::tempdir().unwrap();
    std::fs::write(secret.path().join("id_rsa"), "private").unwrap();
    std::os::unix::fs::symlink(secret.path().join("id_rsa"), src.path().join("id_rsa")).unwrap();
    let bucket = tempfile::tempdir().unwrap();
    push(
        &krel,
        src.path(),
        &format!("file://{}", bucket.path().display()),
        &["--nomock"],
    )
    .assert_exit(2)
    .assert_stderr_has("outside the directory being pushed");
    assert_eq!(std::fs::read_dir(bucket.path()).unwrap().count(), 0);
}

#[test]
fn retries_that_run_out_fail_clearly() {
    let gcs = fake_gcs();
    let bucket = unique("krel-gcs-down");
    gcs.create_bucket(&bucket);
    let (src, _) = release_tree(1);
    // Taking the push lock (a stat and a write) and planning get through; the upload
    // attempts after them get a 503 (three faults in all, so releasing the lock gets through).
    let mut schedule = vec![None; 3];
    schedule.extend(vec![Some(Fault::Unavailable); 50]);
    let proxy = FaultyProxy::start(gcs.port, schedule, 3);
    let krel = krel().env("STORAGE_EMULATOR_HOST", &proxy.host());
    push(
        &krel,
        src.path(),
        &format!("gs://{bucket}/down"),
        &["--nomock", "--attempts", "3"],
    )
    .assert_exit(2)
    .assert_stderr_has("1 of 1 uploads failed")
    .assert_stderr_has("down/bin/linux/amd64/tool-0")
    .assert_stderr_has("503")
    .assert_stderr_has("hint: run the same push again");
    assert_eq!(proxy.faults(), 3, "exactly --attempts attempts");
}

#[test]
fn bad_destinations_are_usage_errors() {
    let krel = krel();
    let (src, _) = release_tree(1);
    push(&krel, src.path(), "/tmp/somewhere", &[])
        .assert_exit(2)
        .assert_stderr_has("does not start with gs://, s3:// or file://");
    push(&krel, src.path(), "gs://A", &[])
        .assert_exit(2)
        .assert_stderr_has("bucket name");
    let empty = tempfile::tempdir().unwrap();
    push(&krel, empty.path(), "file:///tmp/x", &[])
        .assert_exit(2)
        .assert_stderr_has("holds no files");
}

#[test]
fn gcs_push_reads_back_identically_with_googles_client() {
    let gcs = fake_gcs();
    let bucket = unique("krel-gcs");
    gcs.create_bucket(&bucket);
    let krel = krel().env("STORAGE_EMULATOR_HOST", &gcs.host());
    let (src, expected) = release_tree(9);
    let dest = format!("gs://{bucket}/release/v1.30.0");

    push(&krel, src.path(), &dest, &[])
        .assert_exit(0)
        .assert_stdout_has("9 to upload");
    assert!(
        readback(&["gcs", &gcs.host(), &bucket, "release"], "release/v1.30.0").is_empty(),
        "mock uploads nothing"
    );

    let run = push(&krel, src.path(), &dest, &["--nomock"]);
    run.assert_exit(0);
    assert_eq!(
        readback(&["gcs", &gcs.host(), &bucket, "release"], "release/v1.30.0"),
        expected,
        "{}",
        gcs.log_tail()
    );

    let run = push(&krel, src.path(), &dest, &["--nomock", "--output", "json"]);
    run.assert_exit(0);
    assert_eq!(
        run.json()["result"]["unchanged"].as_array().unwrap().len(),
        9,
        "a rerun uploads 0 objects"
    );

    std::fs::write(src.path().join("kubernetes-1.tar.gz"), "changed").unwrap();
    push(&krel, src.path(), &dest, &["--nomock"])
        .assert_exit(1)
        .assert_stderr_has("different content");
    push(&krel, src.path(), &dest, &["--nomock", "--allow-overwrite"]).assert_exit(0);
    let after = readback(&["gcs", &gcs.host(), &bucket, "release"], "release/v1.30.0");
    assert_eq!(after["kubernetes-1.tar.gz"], sha256(b"changed"));
}

#[test]
fn gcs_push_survives_503s_and_dropped_connections() {
    let gcs = fake_gcs();
    let bucket = unique("krel-gcs-flaky");
    gcs.create_bucket(&bucket);
    use Fault::*;
    let proxy = FaultyProxy::start(
        gcs.port,
        {
            // Planning (12 metadata reads) goes through; the faults hit the uploads.
            let mut schedule = vec![None; 12];
            schedule.extend(
                [
                    Some(Unavailable),
                    None,
                    Some(DropResponse),
                    None,
                    Some(DropRequest),
                    None,
                    None,
                ]
                .repeat(4),
            );
            schedule
        },
        12,
    );
    let krel = krel().env("STORAGE_EMULATOR_HOST", &proxy.host());
    let (src, expected) = release_tree(12);
    let dest = format!("gs://{bucket}/flaky");
    push(
        &krel,
        src.path(),
        &dest,
        &["--nomock", "--jobs", "4", "--attempts", "10"],
    )
    .assert_exit(0);
    assert!(
        proxy.faults() >= 6,
        "faults were injected: {}",
        proxy.faults()
    );
    assert!(
        proxy.count_status(412) >= 1,
        "a lost upload response was retried into a 412 and settled by comparing content"
    );
    assert_eq!(
        readback(&["gcs", &gcs.host(), &bucket, "flaky"], "flaky"),
        expected
    );
    // And a rerun through the same proxy finds everything in place.
    push(&krel, src.path(), &dest, &["--nomock", "--attempts", "10"])
        .assert_exit(0)
        .assert_stderr_has("already holds all 12");
}

pub(crate) fn s3_env(krel: Krel, endpoint: &str) -> Krel {
    let s3 = seaweed_s3();
    krel.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", &s3.access_key)
        .env("AWS_SECRET_ACCESS_KEY", &s3.secret_key)
}

pub(crate) fn s3_bucket(name: &str) -> String {
    let s3 = seaweed_s3();
    let bucket = unique(name);
    readback(
        &[
            "s3-mkbucket",
            &s3.endpoint(),
            &bucket,
            &s3.access_key,
            &s3.secret_key,
        ],
        "",
    );
    bucket
}

#[test]
fn s3_push_reads_back_identically_with_boto3() {
    let s3 = seaweed_s3();
    let bucket = s3_bucket("krel-s3");
    let krel = s3_env(krel(), &s3.endpoint());
    let (src, expected) = release_tree(8);
    let dest = format!("s3://{bucket}/release/v1.30.0");
    let back = || {
        readback(
            &[
                "s3",
                &s3.endpoint(),
                &bucket,
                "release",
                &s3.access_key,
                &s3.secret_key,
            ],
            "release/v1.30.0",
        )
    };

    push(&krel, src.path(), &dest, &[]).assert_exit(0);
    assert!(back().is_empty(), "mock uploads nothing");
    let run = push(&krel, src.path(), &dest, &["--nomock"]);
    run.assert_exit(0);
    assert_eq!(back(), expected, "{}", s3.log_tail());
    push(&krel, src.path(), &dest, &["--nomock"])
        .assert_exit(0)
        .assert_stderr_has("already holds all 8");

    std::fs::write(src.path().join("kubernetes-1.tar.gz"), "changed").unwrap();
    push(&krel, src.path(), &dest, &["--nomock"])
        .assert_exit(1)
        .assert_stderr_has("different content");
    push(&krel, src.path(), &dest, &["--nomock", "--allow-overwrite"]).assert_exit(0);
    assert_eq!(back()["kubernetes-1.tar.gz"], sha256(b"changed"));

    // Wrong credentials: a clear error, nothing written.
    let wrong = krel.env("AWS_SECRET_ACCESS_KEY", "wrong");
    std::fs::write(src.path().join("new-file"), "x").unwrap();
    push(&wrong, src.path(), &dest, &["--nomock"])
        .assert_exit(2)
        .assert_stderr_has("HTTP 403");
    assert!(!back().contains_key("new-file"));
}

#[test]
fn s3_push_survives_503s_and_dropped_connections() {
    let s3 = seaweed_s3();
    let bucket = s3_bucket("krel-s3-flaky");
    use Fault::*;
    let proxy = FaultyProxy::start(
        s3.port,
        {
            // Planning (12 metadata reads) goes through; the faults hit the uploads.
            let mut schedule = vec![None; 12];
            schedule.extend(
                [
                    Some(Unavailable),
                    None,
                    Some(DropResponse),
                    None,
                    Some(DropRequest),
                    Some(TooMany),
                    None,
                    None,
                ]
                .repeat(4),
            );
            schedule
        },
        12,
    );
    let krel = s3_env(krel(), &format!("http://{}", proxy.host()));
    let (src, expected) = release_tree(12);
    push(
        &krel,
        src.path(),
        &format!("s3://{bucket}/flaky"),
        &["--nomock", "--jobs", "4", "--attempts", "10"],
    )
    .assert_exit(0);
    assert!(
        proxy.faults() >= 6,
        "faults were injected: {}",
        proxy.faults()
    );
    assert!(proxy.faults_of(TooMany) >= 1, "429s were injected");
    assert!(
        proxy.count_status(412) >= 1,
        "a lost upload response was retried into a 412 and settled"
    );
    let back = readback(
        &[
            "s3",
            &s3.endpoint(),
            &bucket,
            "flaky",
            &s3.access_key,
            &s3.secret_key,
        ],
        "flaky",
    );
    assert_eq!(back, expected);
}

#[test]
fn a_killed_push_leaves_no_partial_object_and_a_rerun_completes_it() {
    let gcs = fake_gcs();
    let bucket = unique("krel-gcs-killed");
    gcs.create_bucket(&bucket);
    // After the 15 metadata reads of planning, every third request hangs: the push is
    // killed while uploads are in flight.
    let mut schedule = vec![None; 15];
    schedule.extend([None, None, Some(Fault::Stall)].repeat(10));
    let proxy = FaultyProxy::start(gcs.port, schedule, 1000);
    let (src, expected) = release_tree(15);
    let dest = format!("gs://{bucket}/killed");
    let src_arg = src.path().display().to_string();
    let flaky = krel().env("STORAGE_EMULATOR_HOST", &proxy.host());
    let mut child = flaky.spawn_in(
        flaky.home(),
        &["push", &src_arg, &dest, "--nomock", "--jobs", "3"],
    );
    let back = || readback(&["gcs", &gcs.host(), &bucket, "killed"], "killed");
    let started = std::time::Instant::now();
    while back().is_empty() && started.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.0.kill().unwrap();
    child.0.wait().unwrap();

    let partial = back();
    assert!(
        !partial.is_empty() && partial.len() < expected.len(),
        "killed mid-push: {} of {}",
        partial.len(),
        expected.len()
    );
    for (key, digest) in &partial {
        assert_eq!(
            Some(digest),
            expected.get(key),
            "{key} is whole or absent, never partial"
        );
    }
    let direct = krel().env("STORAGE_EMULATOR_HOST", &gcs.host());
    let run = push(
        &direct,
        src.path(),
        &dest,
        &["--nomock", "--output", "json"],
    );
    run.assert_exit(0);
    assert_eq!(
        run.json()["result"]["unchanged"].as_array().unwrap().len(),
        partial.len(),
        "what arrived is skipped"
    );
    assert_eq!(back(), expected);
}

#[test]
fn a_missing_bucket_is_named_as_missing() {
    let (src, _) = release_tree(2);
    let gcs = fake_gcs();
    let bucket = unique("krel-no-such-bucket");
    push(
        &krel().env("STORAGE_EMULATOR_HOST", &gcs.host()),
        src.path(),
        &format!("gs://{bucket}/release"),
        &["--nomock"],
    )
    .assert_exit(2)
    .assert_stderr_has(&format!("error: the bucket gs://{bucket} does not exist"))
    .assert_stderr_has("gcloud storage buckets create");
    // (SeaweedFS creates a bucket on the first PUT, so S3's 404 NoSuchBucket, mapped the same
    // way, cannot be provoked here.)
}

/// A tree of `files` files with the same names as every other such tree, and content of its own.
fn named_tree(files: usize, flavour: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..files {
        let path = dir.path().join(format!("bin/{}/file-{i}", i % 7));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("{flavour} {i}\n").repeat(50)).unwrap();
    }
    dir
}

fn assert_racing_pushes_leave_one_whole_tree(
    krel: &Krel,
    dest: &str,
    read: impl Fn() -> BTreeMap<String, String>,
) {
    let trees = [named_tree(150, "left"), named_tree(150, "right")];
    let expected: Vec<BTreeMap<String, String>> = trees
        .iter()
        .map(|tree| {
            krel_test_support::tree(tree.path())
                .into_iter()
                .map(|(k, v)| (k, sha256(&v)))
                .collect()
        })
        .collect();
    let children: Vec<_> = trees
        .iter()
        .map(|tree| {
            krel.spawn_in(
                krel.home(),
                &["push", tree.path().to_str().unwrap(), dest, "--nomock"],
            )
        })
        .collect();
    let mut codes: Vec<Option<i32>> = children
        .into_iter()
        .map(|mut child| child.0.wait().unwrap().code())
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        [Some(0), Some(1)],
        "exactly one push wins, the other is refused"
    );
    let held = read();
    assert!(
        expected.contains(&held),
        "the destination holds a mix of both trees ({} objects)",
        held.len()
    );
}

#[test]
fn racing_pushes_of_different_trees_end_with_one_whole_tree() {
    let krel = krel();
    for _ in 0..6 {
        let bucket = tempfile::tempdir().unwrap();
        let dest = format!("file://{}/release", bucket.path().display());
        let root = bucket.path().join("release");
        assert_racing_pushes_leave_one_whole_tree(&krel, &dest, || {
            krel_test_support::tree(&root)
                .into_iter()
                .filter(|(k, _)| !k.starts_with(".krel-locks/"))
                .map(|(k, v)| (k, sha256(&v)))
                .collect()
        });
    }
    // The same on fake-gcs-server, whose generation preconditions the lock uses.
    let gcs = fake_gcs();
    let krel = krel.env("STORAGE_EMULATOR_HOST", &gcs.host());
    for _ in 0..3 {
        let bucket = unique("krel-race");
        gcs.create_bucket(&bucket);
        let dest = format!("gs://{bucket}/release");
        assert_racing_pushes_leave_one_whole_tree(&krel, &dest, || {
            readback(&["gcs", &gcs.host(), &bucket, "release"], "release")
        });
    }
}
