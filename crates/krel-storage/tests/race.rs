//! Two pushes racing for the same objects: preconditions let exactly one win, on every store.

#![allow(clippy::unwrap_used)]

use krel_error::Diagnose;
use krel_storage::{
    execute_push, plan_push, Location, NoProgress, PushOptions, StorageError, Store, StoreEnv,
};
use krel_test_support::{fake_gcs, seaweed_s3, test_python, test_tool};

fn tree(content: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a.txt", "bin/b.bin"] {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, format!("{content} {name}")).unwrap();
    }
    dir
}

/// Plans A and B against the same empty location, runs B, then A: every A upload must be
/// refused as a conflict, and the store must hold B's content.
async fn race(location: Location, env: StoreEnv, read: impl Fn(&str) -> Vec<u8>) {
    let store = Store::open(&location, &env).await.unwrap();
    let options = PushOptions::default();
    let (a, b) = (tree("from A"), tree("from B"));
    let plan_a = plan_push(a.path(), &location, &store, &options)
        .await
        .unwrap();
    let plan_b = plan_push(b.path(), &location, &store, &options)
        .await
        .unwrap();
    assert_eq!(plan_a.uploads.len(), 2);
    let report_b = execute_push(&store, &plan_b.uploads, 2, &NoProgress).await;
    assert!(report_b.failures.is_empty(), "{:?}", report_b.failures);
    let report_a = execute_push(&store, &plan_a.uploads, 2, &NoProgress).await;
    assert!(
        report_a.uploaded.is_empty(),
        "A must not win anything: {:?}",
        report_a.uploaded
    );
    assert_eq!(report_a.failures.len(), 2);
    assert!(
        report_a
            .failures
            .iter()
            .all(|f| f.refused && f.error.contains("another push got there first")),
        "{:?}",
        report_a.failures
    );
    let incomplete = StorageError::Incomplete {
        failures: report_a.failures,
        total: 2,
    };
    assert!(incomplete.is_refusal(), "a lost race is a refusal (exit 1)");
    for upload in &plan_b.uploads {
        assert_eq!(
            read(&upload.key),
            std::fs::read(&upload.source).unwrap(),
            "{}",
            upload.key
        );
    }
}

fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

fn python_read(args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new(test_python())
        .arg("-c")
        .arg(args[0])
        .args(&args[1..])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[tokio::test]
async fn file_store_race() {
    let root = tempfile::tempdir().unwrap();
    let location: Location = format!("file://{}", root.path().display()).parse().unwrap();
    let base = root.path().to_path_buf();
    race(location, StoreEnv::default(), |key| {
        std::fs::read(base.join(key)).unwrap()
    })
    .await;
}

#[tokio::test]
async fn gcs_race() {
    let gcs = fake_gcs();
    let bucket = unique("race-gcs");
    gcs.create_bucket(&bucket);
    let env = StoreEnv {
        storage_emulator_host: Some(gcs.host()),
        ..StoreEnv::default()
    };
    let location: Location = format!("gs://{bucket}/race").parse().unwrap();
    let host = gcs.host();
    let script = "import os,sys; os.environ['STORAGE_EMULATOR_HOST']='http://'+sys.argv[1]; \
        from google.auth.credentials import AnonymousCredentials; from google.cloud import storage; \
        sys.stdout.buffer.write(storage.Client(project='p', credentials=AnonymousCredentials()).bucket(sys.argv[2]).blob(sys.argv[3]).download_as_bytes())";
    race(location, env, |key| {
        python_read(&[script, &host, &bucket, key])
    })
    .await;
}

#[tokio::test]
async fn s3_race() {
    let s3 = seaweed_s3();
    let bucket = unique("race-s3");
    let mkbucket = std::process::Command::new(test_python())
        .arg(test_tool("readback.py"))
        .args([
            "s3-mkbucket",
            &s3.endpoint(),
            &bucket,
            &s3.access_key,
            &s3.secret_key,
        ])
        .status()
        .unwrap();
    assert!(mkbucket.success());
    let env = StoreEnv {
        aws_endpoint_url: Some(s3.endpoint()),
        aws_access_key_id: Some(s3.access_key.clone()),
        aws_secret_access_key: Some(krel_secret::Secret::new(s3.secret_key.clone())),
        ..StoreEnv::default()
    };
    let location: Location = format!("s3://{bucket}/race").parse().unwrap();
    let script = "import sys, boto3; from botocore.config import Config; \
        c = boto3.client('s3', endpoint_url=sys.argv[1], aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3], region_name='us-east-1', config=Config(s3={'addressing_style':'path'})); \
        sys.stdout.buffer.write(c.get_object(Bucket=sys.argv[4], Key=sys.argv[5])['Body'].read())";
    let (endpoint, access, secret) = (s3.endpoint(), s3.access_key.clone(), s3.secret_key.clone());
    race(location, env, |key| {
        python_read(&[script, &endpoint, &access, &secret, &bucket, key])
    })
    .await;
}
