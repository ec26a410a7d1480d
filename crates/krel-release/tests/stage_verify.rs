//! A real stage of the sandbox project, verified, then tampered with in every way release
//! must catch.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};

use krel_config::Config;
use krel_git::Identity;
use krel_release::stage::{stage, StageOutcome, StageRequest, StageSetup};
use krel_release::verify::verify_stage;
use krel_release::{Quiet, ReleaseError, Shared};
use krel_sign::{load_signing_key, PublicKey, Secret};
use krel_storage::{Location, Store, StoreEnv};
use krel_version::ReleaseType;

/// Stages release-1.10's next rc of `sandbox` into its `bucket/`, committing at `time`.
fn run_stage(sandbox: &krel_sandbox::Sandbox, time: i64) -> StageOutcome {
    let config = Config::load(Some(&sandbox.config), &sandbox.root, |_| None).unwrap();
    let signer = krel_sigstore::KeyBundleSigner::new(
        load_signing_key(krel_sandbox::SANDBOX_KEY, &|| Ok(Secret::new(""))).unwrap(),
    )
    .unwrap();
    let bucket: Location = format!("file://{}", sandbox.root.join("bucket").display())
        .parse()
        .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = runtime
        .block_on(Store::open(&bucket, &StoreEnv::default()))
        .unwrap();
    let identity = Identity {
        name: "RM".into(),
        email: "rm@example.com".into(),
        time: Some(time),
    };
    let images = krel_release::ImageSetup {
        staging: format!("oci:{}", sandbox.root.join("registry/staging").display())
            .parse()
            .unwrap(),
        release: format!("oci:{}", sandbox.root.join("registry/release").display())
            .parse()
            .unwrap(),
        env: Default::default(),
    };
    stage(
        &StageSetup {
            shared: Shared {
                config: &config,
                workspace_root: &sandbox.root.join("workspace"),
                bucket: &bucket,
                store: &store,
                runtime: &runtime,
                credentials: &Default::default(),
                identity: Some(&identity),
                jobs: 2,
                after_step: &|_| {},
                report: &Quiet,
                images: Some(&images),
            },
            source_date_epoch: Some(1_700_000_000),
            signer: Some(&signer),
            build_env: &[("PATH".into(), "/usr/bin:/bin".into())],
            masker: &Default::default(),
        },
        &StageRequest {
            release_type: ReleaseType::Rc,
            branch: "release-1.10".into(),
            build_version: None,
            scope: Default::default(),
        },
    )
    .unwrap()
}

fn staged() -> (tempfile::TempDir, PathBuf, PublicKey) {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = krel_sandbox::Sandbox::create(&dir.path().join("sb")).unwrap();
    let outcome = run_stage(&sandbox, 1_700_000_000);
    assert_eq!(outcome.versions, ["v1.10.0-rc.1"]);
    let stage_dir = sandbox
        .root
        .join("bucket/stage")
        .join(&outcome.build_version);
    let signer = load_signing_key(krel_sandbox::SANDBOX_KEY, &|| Ok(Secret::new(""))).unwrap();
    (dir, stage_dir, signer.public_key())
}

#[test]
fn a_kill_between_tagging_and_journaling_keeps_the_tag_already_made() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = krel_sandbox::Sandbox::create(&dir.path().join("sb")).unwrap();
    let first = run_stage(&sandbox, 1_700_000_000);
    // Forget every step from the tag on, as if the run died right after `git tag`; the rerun
    // commits at another time (no SOURCE_DATE_EPOCH for commits), so a new release commit
    // would get another id and clash with the tag.
    let journal_path = first.workspace.join("journal.json");
    let mut journal: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&journal_path).unwrap()).unwrap();
    let steps = journal["steps"].as_object_mut().unwrap();
    steps.retain(|step, _| step == "clone");
    journal["order"] = serde_json::json!(["clone"]);
    std::fs::write(&journal_path, serde_json::to_vec(&journal).unwrap()).unwrap();
    let second = run_stage(&sandbox, 1_800_000_000);
    assert_eq!(second.build_version, first.build_version);
    let record = |outcome: &StageOutcome| -> serde_json::Value {
        let path = sandbox
            .root
            .join("bucket/stage")
            .join(&outcome.build_version)
            .join("STAGED.json");
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    assert_eq!(
        record(&second)["tags"],
        record(&first)["tags"],
        "the tag made before the kill is kept"
    );
}

fn problems(dir: &Path, key: &PublicKey) -> Vec<String> {
    match verify_stage(dir, &checker(key), 2) {
        Err(ReleaseError::Verification { problems, .. }) => problems,
        other => panic!("expected a verification failure, got {other:?}"),
    }
}

#[test]
fn a_stage_verifies_and_every_kind_of_tampering_is_caught() {
    let (_dir, stage, key) = staged();
    let record = verify_stage(&stage, &checker(&key), 2).unwrap();
    assert_eq!(record.versions, ["v1.10.0-rc.1".parse().unwrap()]);
    assert_eq!(
        record.release_branch_commit,
        Some(record.tags["v1.10.0-rc.1"])
    );

    let gcs = stage.join("v1.10.0-rc.1/gcs-stage/v1.10.0-rc.1");
    // A changed artifact: the record, the provenance, the checksums and the signature object.
    let tarball = gcs.join("widget-linux-amd64.tar.gz");
    let original = std::fs::read(&tarball).unwrap();
    std::fs::write(&tarball, b"not what was built").unwrap();
    let found = problems(&stage, &key);
    for expected in [
        "widget-linux-amd64.tar.gz: sha256 is",
        "the provenance says",
        "content does not match SHA256SUMS",
        "widget-linux-amd64.tar.gz.sigstore.json: artifact mismatch",
    ] {
        assert!(
            found.iter().any(|p| p.contains(expected)),
            "{expected}: {found:#?}"
        );
    }
    std::fs::write(&tarball, &original).unwrap();
    verify_stage(&stage, &checker(&key), 2).unwrap();

    // The .sig is checked when it is all there is.
    let bundle = gcs.join("widget-linux-amd64.tar.gz.sigstore.json");
    let bundle_bytes = std::fs::read(&bundle).unwrap();
    std::fs::remove_file(&bundle).unwrap();
    std::fs::write(&tarball, b"not what was built").unwrap();
    let found = problems(&stage, &key);
    assert!(
        found
            .iter()
            .any(|p| p.contains("widget-linux-amd64.tar.gz.sig) does not verify")),
        "{found:#?}"
    );
    std::fs::write(&tarball, &original).unwrap();
    std::fs::write(&bundle, &bundle_bytes).unwrap();

    // Attestations: the provenance's must be the provenance, an SBOM's must be about it.
    let provenance = stage.join("v1.10.0-rc.1/provenance.json.intoto.sigstore.json");
    let sbom = gcs.join("widget-release.spdx.json.intoto.sigstore.json");
    let provenance_bytes = std::fs::read(&provenance).unwrap();
    std::fs::copy(&sbom, &provenance).unwrap();
    let found = problems(&stage, &key);
    assert!(
        found
            .iter()
            .any(|p| p
                .contains("provenance.json.intoto.sigstore.json: the attested statement is not")),
        "{found:#?}"
    );
    std::fs::write(&provenance, &provenance_bytes).unwrap();
    let sbom_text = std::fs::read_to_string(&sbom).unwrap();
    std::fs::write(&sbom, sbom_text.replacen("\"sig\":\"", "\"sig\":\"AAAA", 1)).unwrap();
    let found = problems(&stage, &key);
    assert!(
        found
            .iter()
            .any(|p| p.contains("widget-release.spdx.json.intoto.sigstore.json")),
        "{found:#?}"
    );
    std::fs::write(&sbom, sbom_text).unwrap();
    verify_stage(&stage, &checker(&key), 2).unwrap();

    // An extra file and a missing signature.
    std::fs::write(gcs.join("backdoor"), b"x").unwrap();
    for gone in ["SHA512SUMS.sig", "SHA512SUMS.sigstore.json"] {
        std::fs::remove_file(gcs.join(gone)).unwrap();
    }
    let found = problems(&stage, &key);
    assert!(
        found
            .iter()
            .any(|p| p.contains("backdoor: staged but not in STAGED.json")),
        "{found:#?}"
    );
    assert!(
        found.iter().any(|p| p.contains("SHA512SUMS: no signature")),
        "{found:#?}"
    );

    // Another key: the record's signature fails first.
    let other = PublicKey::from_pem(krel_sandbox::SANDBOX_PUB).unwrap();
    assert_eq!(other.fingerprint(), key.fingerprint());
    let pair = krel_sign::generate_key_pair(&Secret::new("")).unwrap();
    let stranger = load_signing_key(pair.private_pem.expose(), &|| Ok(Secret::new(""))).unwrap();
    let found = problems(&stage, &stranger.public_key());
    assert!(
        found.iter().any(|p| p.contains("STAGED.json")),
        "{found:#?}"
    );

    // No record at all: not a stage.
    std::fs::remove_file(stage.join("STAGED.json")).unwrap();
    assert!(matches!(
        verify_stage(&stage, &checker(&key), 2),
        Err(ReleaseError::NotStaged { .. })
    ));
}

fn checker(key: &PublicKey) -> krel_verify::Verifier {
    krel_verify::Verifier::with_key(key).unwrap()
}
