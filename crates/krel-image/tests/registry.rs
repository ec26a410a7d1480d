//! krel-image against a real registry (docker-registry on 127.0.0.1), judged by skopeo.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use krel_image::archive::{image_name, read_image};
use krel_image::copy::{copy_manifest, make_index, tag, Side, Tagged};
use krel_image::cosign;
use krel_image::{Digest, ImageError, ImageLocation, ImageStore, Layouts, RegistryEnv};
use krel_test_support::images::docker_archive;
use krel_test_support::{docker_registry, docker_registry_with_auth, DockerRegistry};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn anonymous() -> RegistryEnv {
    RegistryEnv {
        docker_config: false,
        ..RegistryEnv::default()
    }
}

/// An unencrypted P-256 key pair made by openssl: (signer, public key, public key file).
fn openssl_key(dir: &Path, name: &str) -> (krel_sign::KeySigner, krel_sign::PublicKey, PathBuf) {
    let (private, public) = krel_test_support::images::openssl_p256_key(dir, name);
    let signer = krel_sign::load_signing_key(
        &std::fs::read_to_string(&private).unwrap(),
        &|| unreachable!(),
    )
    .unwrap();
    let key = krel_sign::PublicKey::from_file(&public).unwrap();
    (signer, key, public)
}

/// Two platform archives of image `name` in `dir`, read into a workspace layout.
fn two_platforms(
    dir: &Path,
    name: &str,
) -> (Layouts, Vec<(krel_image::Manifest, krel_image::Platform)>) {
    let workspace = Layouts::new(&dir.join("workspace"));
    let mut platforms = Vec::new();
    for arch in ["amd64", "arm64"] {
        let archive = dir.join(format!("images/{arch}/{name}.tar"));
        let content = format!("{name} for {arch}");
        docker_archive(
            &archive,
            arch,
            &format!("registry.k8s.io/{name}-{arch}:v1.0.0"),
            &[("base", b"shared base layer"), ("app", content.as_bytes())],
        );
        let image_name = image_name(&archive, arch).unwrap();
        assert_eq!(image_name, name);
        let image = read_image(&archive, name, &workspace, "linux", arch).unwrap();
        platforms.push((image.manifest, image.platform));
    }
    (workspace, platforms)
}

fn skopeo(args: &[&str]) -> std::process::Output {
    Command::new("skopeo")
        .args(args)
        .output()
        .expect("running skopeo (scripts/install-test-deps)")
}

/// The image (and every manifest of its index) carries a cosign signature by `public`, as
/// skopeo reads the registry and openssl checks the signatures (tests/tools/verify_cosign_image.py).
fn independently_verified(reference: &str, public: &Path) -> std::process::Output {
    Command::new("python3")
        .arg(krel_test_support::test_tool("verify_cosign_image.py"))
        .arg(public)
        .arg(reference)
        .arg("--all")
        .output()
        .unwrap()
}

#[test]
fn pushes_indexes_signs_promotes_and_skopeo_agrees() {
    let registry = docker_registry();
    let dir = tempfile::tempdir().unwrap();
    let (workspace, platforms) = two_platforms(dir.path(), "kube-thing");
    let (signer, key, public) = openssl_key(dir.path(), "project");
    let staging: ImageLocation = registry.location("t-push/staging").parse().unwrap();
    let release: ImageLocation = registry.location("t-push/release").parse().unwrap();
    let local = ImageStore::open(
        &ImageLocation::Layout {
            root: dir.path().join("workspace"),
            prefix: String::new(),
        },
        &anonymous(),
    )
    .unwrap();
    let stage_store = ImageStore::open(&staging, &anonymous()).unwrap();
    let release_store = ImageStore::open(&release, &anonymous()).unwrap();
    let from = Side {
        store: &local,
        repo: "kube-thing",
    };
    let stage_repo = staging.repository("kube-thing");
    let to = Side {
        store: &stage_store,
        repo: &stage_repo,
    };
    let rt = runtime();
    let _ = workspace;

    // Push each platform, then the index, tagged; sign all three.
    let mut sent = 0;
    for (manifest, _) in &platforms {
        let stats = rt
            .block_on(copy_manifest(from, to, &manifest.digest, 4))
            .unwrap();
        sent += stats.blobs_sent;
    }
    assert_eq!(
        sent, 5,
        "config and app layer per platform, and the shared base layer once"
    );
    let index = make_index(&platforms).unwrap();
    rt.block_on(stage_store.put_manifest(&stage_repo, &index, None))
        .unwrap();
    assert_eq!(
        rt.block_on(tag(to, "v1.0.0_build.1", &index.digest))
            .unwrap(),
        Tagged::Created
    );
    let identity = staging.identity("kube-thing");
    for digest in std::iter::once(&index.digest).chain(platforms.iter().map(|(m, _)| &m.digest)) {
        assert_eq!(
            rt.block_on(cosign::sign(
                to,
                &identity,
                digest,
                cosign::sign_payload(&identity, digest, &cosign::KeyPayloadSigner(&signer))
                    .unwrap()
            ))
            .unwrap(),
            cosign::Signed::Added
        );
        assert_eq!(
            rt.block_on(cosign::sign(
                to,
                &identity,
                digest,
                cosign::sign_payload(&identity, digest, &cosign::KeyPayloadSigner(&signer))
                    .unwrap()
            ))
            .unwrap(),
            cosign::Signed::Present
        );
        rt.block_on(cosign::verify(to, &identity, digest, &key))
            .unwrap();
    }

    // skopeo sees an index of both platforms, and accepts the signature under the key only.
    let reference = format!("{}:v1.0.0_build.1", staging.identity("kube-thing"));
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]);
    assert!(
        raw.status.success(),
        "{}",
        String::from_utf8_lossy(&raw.stderr)
    );
    let raw: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    let arches: Vec<&str> = raw["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(arches, ["amd64", "arm64"]);
    let copied = independently_verified(&reference, &public);
    assert!(
        copied.status.success(),
        "krel's signature was refused: {}",
        String::from_utf8_lossy(&copied.stderr)
    );
    let (_, _, other_public) = openssl_key(dir.path(), "other");
    let refused = independently_verified(&reference, &other_public);
    assert!(
        !refused.status.success(),
        "a signature under another key was accepted"
    );

    // Promotion by digest within the registry mounts every blob: no layer bytes are sent.
    let release_repo = release.repository("kube-thing");
    let target = Side {
        store: &release_store,
        repo: &release_repo,
    };
    let stats = rt
        .block_on(copy_manifest(to, target, &index.digest, 4))
        .unwrap();
    assert_eq!(
        (
            stats.bytes_sent,
            stats.blobs_mounted,
            stats.manifests_written
        ),
        (0, 5, 3),
        "{stats:?}"
    );
    let again = rt
        .block_on(copy_manifest(to, target, &index.digest, 4))
        .unwrap();
    assert_eq!(
        (
            again.blobs_sent,
            again.blobs_mounted,
            again.manifests_written
        ),
        (0, 0, 0)
    );
    assert_eq!(
        rt.block_on(tag(target, "v1.0.0", &index.digest)).unwrap(),
        Tagged::Created
    );
    assert_eq!(
        rt.block_on(tag(target, "v1.0.0", &index.digest)).unwrap(),
        Tagged::Present
    );

    // A tag is never moved.
    let err = rt
        .block_on(tag(target, "v1.0.0", &platforms[0].0.digest))
        .unwrap_err();
    assert!(matches!(err, ImageError::TagMoved { .. }), "{err}");
    assert!(err.to_string().contains("a tag is never moved"), "{err}");

    // The staging signature names the staging repository: not valid for the release one.
    let err = rt
        .block_on(cosign::verify(
            target,
            &release.identity("kube-thing"),
            &index.digest,
            &key,
        ))
        .unwrap_err();
    assert!(err.to_string().contains("no signature"), "{err}");
}

#[test]
fn a_registry_with_credentials_refuses_anonymous_pushes_and_takes_basic_auth() {
    let registry: &DockerRegistry = docker_registry_with_auth();
    let dir = tempfile::tempdir().unwrap();
    let (_workspace, platforms) = two_platforms(dir.path(), "authed");
    let location: ImageLocation = registry.location("t-auth").parse().unwrap();
    let local = ImageStore::open(
        &ImageLocation::Layout {
            root: dir.path().join("workspace"),
            prefix: String::new(),
        },
        &anonymous(),
    )
    .unwrap();
    let repo = location.repository("authed");
    let rt = runtime();
    let anonymous_store = ImageStore::open(&location, &anonymous()).unwrap();
    let err = rt
        .block_on(copy_manifest(
            Side {
                store: &local,
                repo: "authed",
            },
            Side {
                store: &anonymous_store,
                repo: &repo,
            },
            &platforms[0].0.digest,
            2,
        ))
        .unwrap_err();
    assert_eq!(
        krel_error::Diagnose::kind(&err),
        krel_error::ErrorKind::Refused,
        "{err}"
    );
    let env = RegistryEnv {
        username: Some(DockerRegistry::USER.into()),
        password: Some(krel_secret::Secret::new(DockerRegistry::PASSWORD)),
        docker_config: false,
    };
    let store = ImageStore::open(&location, &env).unwrap();
    let stats = rt
        .block_on(copy_manifest(
            Side {
                store: &local,
                repo: "authed",
            },
            Side {
                store: &store,
                repo: &repo,
            },
            &platforms[0].0.digest,
            2,
        ))
        .unwrap();
    assert_eq!(stats.manifests_written, 1);
    assert!(rt
        .block_on(store.manifest(&repo, &platforms[0].0.digest.to_string()))
        .unwrap()
        .is_some());
}

#[test]
fn what_is_not_an_image_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let workspace = Layouts::new(&dir.path().join("ws"));
    let text = dir.path().join("notes.tar");
    std::fs::write(
        &text,
        b"this is not a tar archive at all, not even close............",
    )
    .unwrap();
    let err = read_image(&text, "notes", &workspace, "linux", "amd64").unwrap_err();
    assert!(err.to_string().contains("notes.tar"), "{err}");
    let wrong = dir.path().join("amd64/thing.tar");
    docker_archive(&wrong, "arm64", "x:y", &[("a", b"a")]);
    let err = read_image(&wrong, "thing", &workspace, "linux", "amd64").unwrap_err();
    assert!(
        err.to_string()
            .contains("linux/arm64, found among the images for linux/amd64"),
        "{err}"
    );
    let _ = Digest::of(b"");
}

/// An OCI layout written by umoci (not by krel) is read as a build's image, with its platform.
#[test]
fn an_oci_layout_made_by_umoci_is_read_with_its_platform() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("arm64/tool");
    let umoci = |args: &[&str]| {
        let out = Command::new("umoci")
            .args(args)
            .output()
            .expect("umoci (scripts/install-test-deps)");
        assert!(
            out.status.success(),
            "umoci {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let image = format!("{}:latest", layout.display());
    umoci(&["init", "--layout", layout.to_str().unwrap()]);
    umoci(&["new", "--image", &image]);
    umoci(&[
        "config",
        "--image",
        &image,
        "--architecture",
        "arm64",
        "--os",
        "linux",
    ]);
    let content = dir.path().join("content");
    std::fs::create_dir_all(&content).unwrap();
    std::fs::write(content.join("tool"), b"#!/bin/sh\necho tool\n").unwrap();
    umoci(&[
        "insert",
        "--rootless",
        "--image",
        &image,
        content.join("tool").to_str().unwrap(),
        "/usr/bin/tool",
    ]);
    // umoci keeps the superseded manifests in the layout's blobs but lists one in index.json.
    let workspace = Layouts::new(&dir.path().join("ws"));
    let name = image_name(&layout, "arm64").unwrap();
    assert_eq!(name, "tool");
    let read = read_image(&layout, &name, &workspace, "linux", "arm64").unwrap();
    assert_eq!(krel_image::platform_name(&read.platform), "linux/arm64");
    assert_eq!(
        read.manifest.blobs().len(),
        2,
        "the configuration and one layer"
    );
    let err = read_image(&layout, &name, &workspace, "linux", "amd64").unwrap_err();
    assert!(
        err.to_string()
            .contains("linux/arm64, found among the images for linux/amd64"),
        "{err}"
    );
}

/// Through a proxy that answers 503 and 429, and drops requests and responses, a push and a
/// copy still end whole: every request is retried, and repeating one is harmless.
#[test]
fn a_flaky_registry_is_retried_until_the_images_are_whole() {
    let registry = docker_registry();
    let proxy = krel_test_support::FaultyProxy::start(
        registry.port,
        vec![
            None,
            Some(krel_test_support::Fault::Unavailable),
            None,
            Some(krel_test_support::Fault::DropRequest),
            Some(krel_test_support::Fault::TooMany),
            None,
            Some(krel_test_support::Fault::DropResponse),
        ],
        12,
    );
    let dir = tempfile::tempdir().unwrap();
    let (_workspace, platforms) = two_platforms(dir.path(), "flaky");
    let location: ImageLocation = format!("docker://127.0.0.1:{}/t-flaky", proxy.port)
        .parse()
        .unwrap();
    let local = ImageStore::open(
        &ImageLocation::Layout {
            root: dir.path().join("workspace"),
            prefix: String::new(),
        },
        &anonymous(),
    )
    .unwrap();
    let store = ImageStore::open(&location, &anonymous()).unwrap();
    let repo = location.repository("flaky");
    let rt = runtime();
    let index = make_index(&platforms).unwrap();
    Layouts::new(&dir.path().join("workspace"))
        .put_manifest("flaky", &index, None)
        .unwrap();
    let stats = rt
        .block_on(copy_manifest(
            Side {
                store: &local,
                repo: "flaky",
            },
            Side {
                store: &store,
                repo: &repo,
            },
            &index.digest,
            4,
        ))
        .unwrap();
    assert_eq!(stats.manifests_written, 3, "{stats:?}");
    rt.block_on(tag(
        Side {
            store: &store,
            repo: &repo,
        },
        "v1",
        &index.digest,
    ))
    .unwrap();
    assert!(proxy.faults() >= 6, "faults injected: {}", proxy.faults());
    // Straight to the registry, skopeo finds the index and both platforms.
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{}/t-flaky/flaky:v1", registry.host()),
    ]);
    assert!(
        raw.status.success(),
        "{}",
        String::from_utf8_lossy(&raw.stderr)
    );
    assert_eq!(krel_image::sha256_hex(&raw.stdout), index.digest.hex());
    for (manifest, _) in &platforms {
        let raw = skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!(
                "docker://{}/t-flaky/flaky@{}",
                registry.host(),
                manifest.digest
            ),
        ]);
        assert!(
            raw.status.success(),
            "{}",
            String::from_utf8_lossy(&raw.stderr)
        );
    }
}
