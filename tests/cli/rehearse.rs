//! `krel rehearse`: the whole cycle on local stand-ins, as the README's main job runs it.

use crate::krel;

#[test]
fn a_rehearsal_cuts_four_versions_and_checks_them() {
    let krel = krel();
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("rehearsal");
    let run = krel.run_in(
        scratch.path(),
        &["--output", "json", "rehearse", &dir.display().to_string()],
    );
    run.assert_exit(0)
        .assert_stderr_has("Running krel ff --repo-path clone --branch release-1.11 --nomock");
    let summary = run.json();
    let tags = summary["tags"].as_object().unwrap();
    let versions: Vec<&String> = tags.keys().collect();
    assert_eq!(
        versions,
        [
            "v1.11.0",
            "v1.11.0-alpha.1",
            "v1.11.0-rc.0",
            "v1.12.0-alpha.0"
        ]
    );
    assert_eq!(summary["markers"]["stable.txt"], "v1.11.0");
    assert_eq!(summary["markers"]["latest.txt"], "v1.12.0-alpha.0");
    assert_eq!(summary["github_releases"].as_object().unwrap().len(), 4);
    assert_eq!(summary["provenance_checked"], 4);
    assert!(summary["signatures_checked"].as_u64().unwrap() > 100);
    assert_eq!(summary["steps"].as_array().unwrap().len(), 9);
    // The official release's notes (krel changelog, since the rc) list the fix krel ff brought
    // into the release branch during code freeze.
    assert_eq!(summary["release_notes"], serde_json::json!([120]));
    // The sandbox stays for inspection, and a second rehearsal there is refused.
    assert!(dir.join("bucket/release/v1.11.0/provenance.json").is_file());
    // A downloader's krel verify checks the images where they are published too: a tag moved
    // to another image (the rc's) is named, although every file still verifies.
    let verify = |extra: &[&str]| {
        let mut args = vec![
            "verify",
            "bucket/release/v1.11.0",
            "--key",
            "keys/sandbox.pub",
        ];
        args.extend_from_slice(extra);
        krel.run_in(&dir, &args)
    };
    verify(&[])
        .assert_exit(0)
        .assert_stdout_has("images: 2 in their registry, 6 signed manifests");
    let layout = dir.join("registry/release/widget/index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&layout).unwrap()).unwrap();
    let tagged = |index: &serde_json::Value, tag: &str| {
        index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .position(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
            .unwrap()
    };
    let (rc, official) = (tagged(&index, "v1.11.0-rc.0"), tagged(&index, "v1.11.0"));
    index["manifests"][official] = index["manifests"][rc].clone();
    index["manifests"][official]["annotations"]["org.opencontainers.image.ref.name"] =
        "v1.11.0".into();
    std::fs::write(&layout, serde_json::to_vec(&index).unwrap()).unwrap();
    verify(&[])
        .assert_exit(1)
        .assert_stdout_has("widget:v1.11.0 names sha256:")
        .assert_stdout_has("the published tag is not the released image");
    verify(&["--skip-images"])
        .assert_exit(0)
        .assert_stdout_has("images: not checked (--skip-images)");
    // Files that do not verify leave images.json untrusted: its registries are not contacted.
    let sums = dir.join("bucket/release/v1.11.0/SHA256SUMS");
    let mut text = std::fs::read_to_string(&sums).unwrap();
    text.push_str(&format!("{}  extra.tar.gz\n", "0".repeat(64)));
    std::fs::write(&sums, text).unwrap();
    verify(&[]).assert_exit(1).assert_stdout_has(
        "images: not checked (the files do not verify, so images.json is not trusted)",
    );
    krel.run_in(scratch.path(), &["rehearse", &dir.display().to_string()])
        .assert_exit(2)
        .assert_stderr_has("choose a new or empty directory");
}

/// `krel rehearse --keyless`: the whole cycle signed through the Sigstore stand-in; afterwards
/// (the stand-in gone) sigstore-js, sigstore-python and `krel verify` verify what was published
/// by identity with DIR/trusted_root.json alone, and a key does not verify it.
#[test]
fn a_keyless_rehearsal_verifies_by_identity_with_its_trusted_root() {
    use krel_test_support::sigstore::{sigstore_js, sigstore_python, JsSigner};
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("rehearsal");
    let run = krel().run_in(
        scratch.path(),
        &[
            "--output",
            "json",
            "rehearse",
            "--keyless",
            &dir.display().to_string(),
        ],
    );
    run.assert_exit(0);
    let summary = run.json();
    let identity = summary["keyless"].as_str().unwrap().to_string();
    assert!(
        identity.starts_with("https://github.com/krel-sandbox/widget/"),
        "{identity}"
    );
    assert_eq!(summary["provenance_checked"], 4);
    assert!(summary["images_checked"].as_u64().unwrap() >= 24);
    let trusted_root = dir.join("trusted_root.json");
    let root: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&trusted_root).unwrap()).unwrap();
    let issuer = format!("{}/oidc", root["tlogs"][0]["baseUrl"].as_str().unwrap());
    let release = dir.join("bucket/release/v1.11.0");
    let tarball = release.join("widget-linux-amd64.tar.gz");
    for bundle in [
        "widget-linux-amd64.tar.gz.sigstore.json",
        "provenance.json.intoto.sigstore.json",
        "widget-release.spdx.json.intoto.sigstore.json",
    ] {
        let path = release.join(bundle);
        sigstore_js(
            &path,
            &tarball,
            &JsSigner::Identity {
                identity: &identity,
                issuer: &issuer,
                trusted_root: &trusted_root,
            },
        )
        .unwrap_or_else(|err| panic!("sigstore-js: {bundle}: {err}"));
        sigstore_python(
            &path,
            &tarball,
            &identity,
            &issuer,
            &std::fs::read_to_string(&trusted_root).unwrap(),
            &std::fs::read_to_string(dir.join("signing_config.json")).unwrap(),
        )
        .unwrap_or_else(|err| panic!("sigstore-python: {bundle}: {err}"));
    }
    let release_arg = release.display().to_string();
    let root_arg = trusted_root.display().to_string();
    krel()
        .run_in(
            scratch.path(),
            &[
                "verify",
                &release_arg,
                "--certificate-identity",
                &identity,
                "--certificate-oidc-issuer",
                &issuer,
                "--trusted-root",
                &root_arg,
            ],
        )
        .assert_exit(0);
    krel()
        .run_in(
            scratch.path(),
            &[
                "verify",
                &release_arg,
                "--key",
                &dir.join("keys/sandbox.pub").display().to_string(),
            ],
        )
        .assert_exit(1)
        .assert_stdout_has(
            "bundle contains a certificate but public-key verification was requested",
        );
}
