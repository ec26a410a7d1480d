//! Container images end to end: the sandbox's build makes them, `krel stage` pushes them to a
//! real registry (docker-registry on 127.0.0.1), `krel release` promotes them; skopeo reads
//! what krel wrote and openssl checks its signatures (tests/tools/verify_cosign_image.py).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use krel_test_support::{test_tool, tree, DockerRegistry, Krel, Run};

use crate::krel;

const EPOCH: &str = "1700000000";

/// krel with a sandbox whose images go to `registry` under `prefix`.
fn images_krel(registry: &DockerRegistry, prefix: &str) -> (Krel, krel_sandbox::Sandbox) {
    let krel = krel()
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env(
            "KREL_STAGING_REGISTRY",
            &registry.location(&format!("{prefix}/staging")),
        )
        .env(
            "KREL_REGISTRY",
            &registry.location(&format!("{prefix}/release")),
        );
    let sandbox = krel.sandbox();
    (krel, sandbox)
}

fn stage(krel: &Krel, root: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "--output", "json", "stage", "--type", "alpha", "--branch", "main",
    ];
    args.extend(extra);
    krel.run_in(root, &args)
}

/// Stages with --nomock (it must succeed) and returns the build version.
fn staged_build_version(krel: &Krel, root: &Path) -> String {
    let staged = stage(krel, root, &["--nomock"]);
    staged.assert_exit(0);
    staged.json()["result"]["build_version"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `release` of the alpha `bv` on main, then `extra`.
fn release_args<'a>(bv: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "release",
        "--type",
        "alpha",
        "--branch",
        "main",
        "--build-version",
        bv,
    ];
    args.extend(extra);
    args
}

fn release(krel: &Krel, root: &Path, bv: &str, extra: &[&str]) -> Run {
    krel.run_in(root, &release_args(bv, extra))
}

/// skopeo's raw manifest of `reference` (`host/repo:tag`), as JSON.
fn skopeo_raw(reference: &str) -> serde_json::Value {
    serde_json::from_slice(&krel_test_support::images::skopeo_raw(reference)).unwrap()
}

/// The independent check: skopeo reads the signatures, openssl verifies them.
fn signed_by(public: &Path, reference: &str) -> Result<(), String> {
    let out = Command::new("python3")
        .arg(test_tool("verify_cosign_image.py"))
        .arg(public)
        .arg(reference)
        .arg("--all")
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn storage(registry: &DockerRegistry) -> BTreeMap<String, Vec<u8>> {
    if registry.storage().exists() {
        tree(&registry.storage())
    } else {
        BTreeMap::new()
    }
}

#[test]
fn images_are_staged_signed_and_promoted_by_digest_and_mock_runs_write_nothing() {
    let registry = DockerRegistry::start(false);
    let (krel, s) = images_krel(&registry, "k8s");
    let host = registry.host();
    let public = s.root.join("keys/sandbox.pub");

    // A mock stage pushes to the local mock registry only.
    let before = storage(&registry);
    stage(&krel, &s.root, &[]).assert_exit(0);
    assert_eq!(
        storage(&registry),
        before,
        "a mock stage wrote to the registry"
    );
    assert!(s.root.join("mock-registry/widget/index.json").is_file());

    // --nomock, killed right after the images landed, then finished by a rerun.
    let killed = krel.run_with_env(
        &s.root,
        &["stage", "--type", "alpha", "--branch", "main", "--nomock"],
        &[("KREL_TEST_ABORT_AFTER", "upload the images")],
    );
    assert_eq!(killed.code, None, "{}", killed.stderr);
    let bv = staged_build_version(&krel, &s.root);
    let tag = bv.replace('+', "_");
    for name in ["widget", "widget-agent"] {
        let reference = format!("{host}/k8s/staging/{name}:{tag}");
        let index = skopeo_raw(&reference);
        let arches: Vec<&str> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["platform"]["architecture"].as_str().unwrap())
            .collect();
        assert_eq!(arches, ["amd64", "arm64"], "{index}");
        signed_by(&public, &reference).unwrap();
    }
    // Another key is refused by the same independent check.
    let (_, other) = krel_test_support::images::openssl_p256_key(&s.root, "other");
    assert!(signed_by(&other, &format!("{host}/k8s/staging/widget:{tag}")).is_err());

    // A mock release (of the mock stage of the same build, which the mock bucket holds)
    // plans the promotion and writes nothing to any registry.
    let before = storage(&registry);
    release(&krel, &s.root, &bv, &[])
        .assert_exit(0)
        .assert_stdout_has(&format!("to docker://{host}/k8s/release"))
        .assert_stdout_has("tag 2 image(s) v1.11.0-alpha.1");
    assert_eq!(
        storage(&registry),
        before,
        "a mock release wrote to the registry"
    );

    // --nomock: promoted by digest (signatures with them), tagged with the version.
    let run = release(&krel, &s.root, &bv, &["--nomock", "--non-interactive"]);
    run.assert_exit(0)
        .assert_stderr_has("Verified 6 staged image manifest(s)");
    let listed: serde_json::Value = serde_json::from_slice(
        &std::fs::read(s.root.join("bucket/release/v1.11.0-alpha.1/images.json")).unwrap(),
    )
    .unwrap();
    for image in listed.as_array().unwrap() {
        let reference = image["reference"].as_str().unwrap();
        assert!(
            reference.starts_with(&format!("{host}/k8s/release/")),
            "{reference}"
        );
        let raw = krel_test_support::images::skopeo_raw(reference);
        assert_eq!(
            format!("sha256:{}", krel_image::sha256_hex(&raw)),
            image["digest"].as_str().unwrap(),
            "{reference} is the staged index"
        );
        signed_by(&public, reference).unwrap();
    }

    // Again: nothing to do, and the registry is left as it is.
    let before = storage(&registry);
    release(&krel, &s.root, &bv, &["--nomock", "--non-interactive"])
        .assert_exit(0)
        .assert_stderr_has("nothing left to do");
    assert_eq!(storage(&registry), before);
}

#[test]
fn a_registry_that_wants_credentials_gets_them_from_the_environment_and_never_shows_them() {
    let registry = krel_test_support::docker_registry_with_auth();
    let (krel, s) = images_krel(registry, "authed");
    let refused = stage(&krel, &s.root, &["--nomock"]);
    assert_eq!(refused.code, Some(1), "{}", refused.stderr);
    refused.assert_stderr_has("KREL_REGISTRY_USERNAME");
    let creds = [
        ("KREL_REGISTRY_USERNAME", DockerRegistry::USER),
        ("KREL_REGISTRY_PASSWORD", DockerRegistry::PASSWORD),
    ];
    let run = krel.run_with_env(
        &s.root,
        &["stage", "--type", "alpha", "--branch", "main", "--nomock"],
        &creds,
    );
    run.assert_exit(0);
    assert!(
        !run.stdout.contains(DockerRegistry::PASSWORD)
            && !run.stderr.contains(DockerRegistry::PASSWORD)
    );
    let logs: Vec<String> = walk_files(&s.root.join("workspace"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect();
    assert!(logs
        .iter()
        .all(|log| !log.contains(DockerRegistry::PASSWORD)));

    // Published there, then verified as a downloader would: KREL_REGISTRY_* are the
    // publisher's and never sent (images.json could name any host), so the registry refuses,
    // and that is not a problem found in the release but a check that could not run (exit 2).
    let bv = crate::stage::build_version(&s, "main");
    let released = krel.run_with_env(
        &s.root,
        &release_args(&bv, &["--nomock", "--non-interactive"]),
        &creds,
    );
    released.assert_exit(0);
    let verify = [
        "verify",
        "bucket/release/v1.11.0-alpha.1",
        "--key",
        "keys/sandbox.pub",
    ];
    let unreadable = krel.run_with_env(&s.root, &verify, &creds);
    unreadable
        .assert_exit(2)
        .assert_stderr_has("the files verify, and the registry of 2 image(s) could not be read")
        .assert_stderr_has("hint: check the network and the registry's credentials");
    assert!(!unreadable.stderr.contains(DockerRegistry::PASSWORD));
    // A login for that host (docker login's config.json) is used.
    let auth = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            DockerRegistry::USER,
            DockerRegistry::PASSWORD
        ))
    };
    std::fs::create_dir_all(krel.home().join(".docker")).unwrap();
    std::fs::write(
        krel.home().join(".docker/config.json"),
        format!(
            r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#,
            registry.host()
        ),
    )
    .unwrap();
    krel.run_in(&s.root, &verify)
        .assert_exit(0)
        .assert_stdout_has("images: 2 in their registry");
}

fn walk_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                files.extend(walk_files(&path));
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// The sandbox's build script with `change` appended, committed on main and published.
fn change_build(s: &krel_sandbox::Sandbox, change: &str) {
    let script = std::fs::read_to_string(s.upstream.join("hack/build.sh")).unwrap();
    s.commit_file(
        "main",
        "hack/build.sh",
        Some(&format!("{script}{change}\n")),
        "Change the build",
    )
    .unwrap();
    s.publish().unwrap();
}

#[test]
fn images_that_are_not_images_or_miss_a_platform_are_refused_by_name_with_nothing_pushed() {
    let registry = krel_test_support::docker_registry();
    let (krel, s) = images_krel(registry, "bad-input");
    change_build(
        &s,
        "printf 'this is not an image' > \"$out/release-images/amd64/broken.tar\"",
    );
    let run = stage(&krel, &s.root, &["--nomock"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    run.assert_stderr_has("broken.tar")
        .assert_stderr_has("one `docker save` archive");
    assert!(!s.root.join("bucket/stage").exists(), "nothing staged");

    change_build(&s, "rm \"$out/release-images/amd64/broken.tar\" \"$out/release-images/arm64/widget-agent.tar\"");
    let run = stage(&krel, &s.root, &["--nomock"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    run.assert_stderr_has("widget-agent has no image for linux/arm64");
    assert!(!s.root.join("bucket/stage").exists(), "nothing staged");
    let catalog = Command::new("curl")
        .args(["-s", &format!("http://{}/v2/_catalog", registry.host())])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&catalog.stdout).contains("bad-input"),
        "nothing pushed"
    );
}

#[test]
fn a_release_refuses_a_tampered_signature_or_a_tag_that_names_another_image() {
    let registry = krel_test_support::docker_registry();
    let (krel, s) = images_krel(registry, "refusals");
    let host = registry.host();
    let bv = staged_build_version(&krel, &s.root);
    let tag = bv.replace('+', "_");
    let digest_of = |reference: &str| {
        krel_image::sha256_hex(&krel_test_support::images::skopeo_raw(&format!(
            "{host}/refusals/{reference}"
        )))
    };
    let index = |name: &str| digest_of(&format!("staging/{name}:{tag}"));
    let policy = s.root.join("policy.json");
    std::fs::write(
        &policy,
        r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
    )
    .unwrap();
    let copy = |from: &str, to: &str| {
        let out = Command::new("skopeo")
            .args([
                "copy",
                "--all",
                "--policy",
                policy.to_str().unwrap(),
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
            ])
            .arg(format!("docker://{host}/refusals/{from}"))
            .arg(format!("docker://{host}/refusals/{to}"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo copy: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let (widget, agent) = (index("widget"), index("widget-agent"));

    // widget's signature replaced by widget-agent's: refused, every problem listed.
    let original = digest_of(&format!("staging/widget:sha256-{widget}.sig"));
    copy(
        &format!("staging/widget-agent:sha256-{agent}.sig"),
        &format!("staging/widget:sha256-{widget}.sig"),
    );
    let run = release(&krel, &s.root, &bv, &["--nomock", "--non-interactive"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    run.assert_stderr_has("the staged images in").assert_stderr_has(&format!("widget: signature for {host}/refusals/staging/widget: sha256:{widget} has no valid signature"));
    assert!(
        s.remote_git(&["rev-parse", "v1.11.0-alpha.1"]).is_err(),
        "nothing published"
    );
    assert!(!s.root.join("bucket/release").exists(), "nothing published");
    copy(
        &format!("staging/widget@sha256:{original}"),
        &format!("staging/widget:sha256-{widget}.sig"),
    );

    // The release tag already names another image: refused before anything is published.
    copy(
        &format!("staging/widget-agent@sha256:{agent}"),
        "release/widget:v1.11.0-alpha.1",
    );
    let run = release(&krel, &s.root, &bv, &["--nomock", "--non-interactive"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    run.assert_stderr_has("refusals/release/widget:v1.11.0-alpha.1 names sha256:")
        .assert_stderr_has(&format!("not the staged sha256:{widget}"))
        .assert_stderr_has("a published tag is never moved");
    assert!(
        s.remote_git(&["rev-parse", "v1.11.0-alpha.1"]).is_err(),
        "nothing published"
    );
    assert!(!s.root.join("bucket/release").exists(), "nothing published");
}

#[test]
fn two_releases_at_once_end_as_one_release() {
    let registry = krel_test_support::docker_registry();
    let (krel, s) = images_krel(registry, "race");
    let bv = staged_build_version(&krel, &s.root);
    let args = release_args(&bv, &["--nomock", "--non-interactive"]);
    let (a, b) = (s.root.join("ws-a"), s.root.join("ws-b"));
    let runs: Vec<Run> = std::thread::scope(|scope| {
        let handles: Vec<_> = [&a, &b]
            .into_iter()
            .map(|workspace| {
                let (krel, root, args) = (&krel, &s.root, &args);
                scope.spawn(move || {
                    krel.run_with_env(
                        root,
                        args,
                        &[("KREL_WORKSPACE", workspace.to_str().unwrap())],
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Each either published or was refused because the other got there first; never both
    // refused, and never anything else.
    for run in &runs {
        assert!(matches!(run.code, Some(0 | 1)), "{}", run.stderr);
    }
    assert!(
        runs.iter().any(|r| r.code == Some(0)),
        "{}\n{}",
        runs[0].stderr,
        runs[1].stderr
    );
    // The end state is one release: a third run finds nothing to do, and the promoted image
    // is the staged one, signed.
    release(&krel, &s.root, &bv, &["--nomock", "--non-interactive"])
        .assert_exit(0)
        .assert_stderr_has("nothing left to do");
    let listed: serde_json::Value = serde_json::from_slice(
        &std::fs::read(s.root.join("bucket/release/v1.11.0-alpha.1/images.json")).unwrap(),
    )
    .unwrap();
    let public = s.root.join("keys/sandbox.pub");
    for image in listed.as_array().unwrap() {
        signed_by(&public, image["reference"].as_str().unwrap()).unwrap();
    }
}
