//! One path-safety rule for every reader of a user's tree: a symbolic link that leads out of
//! the tree is refused (exit 2, naming the link and where it leads) by kubepkg's sources,
//! stage's artifacts, push, sign and checksum, and nothing is written. Links inside the tree
//! are followed.

use std::os::unix::fs::symlink;
use std::path::Path;

use krel_test_support::repo_root;

use crate::krel;

/// A copy of kubepkg's fake binaries, with a secret outside it.
fn tree_with_a_secret_beside(dir: &Path) -> std::path::PathBuf {
    let source = dir.join("source");
    crate::copy_kubepkg_source(&source);
    std::fs::write(dir.join("shadow"), "root:$6$secret:19000:0:99999:7:::\n").unwrap();
    source
}

#[test]
fn kubepkg_refuses_a_source_link_out_of_its_tree_and_follows_one_inside() {
    let dir = tempfile::tempdir().unwrap();
    let source = tree_with_a_secret_beside(dir.path());
    let spec = std::fs::read_to_string(repo_root().join("testdata/kubepkg/hello.yaml")).unwrap();
    std::fs::write(dir.path().join("hello.yaml"), spec).unwrap();
    let kubectl = source.join("bin/linux/amd64/kubectl");
    let run = |out: &str| {
        krel().run_in(
            dir.path(),
            &[
                "kubepkg",
                "--spec",
                "hello.yaml",
                "--version",
                "2.1.0",
                "--arch",
                "amd64",
                "--format",
                "deb",
                "--source",
                source.to_str().unwrap(),
                "--out",
                out,
            ],
        )
    };
    // A link to another file of the tree is fine.
    std::fs::rename(&kubectl, source.join("bin/linux/amd64/kubectl.real")).unwrap();
    symlink("kubectl.real", &kubectl).unwrap();
    run("inside").assert_exit(0);
    // A link out of it is refused, and the .deb that would carry /etc/shadow is not written.
    std::fs::remove_file(&kubectl).unwrap();
    symlink(dir.path().join("shadow"), &kubectl).unwrap();
    run("outside")
        .assert_exit(2)
        .assert_stderr_has("bin/linux/amd64/kubectl is a link to")
        .assert_stderr_has("a package takes files from its sources only");
    assert!(!dir.path().join("outside").exists());
}

#[test]
fn stage_refuses_a_build_that_links_an_artifact_out_of_its_tree() {
    let krel = krel().env("SOURCE_DATE_EPOCH", "1700000000");
    let s = krel.sandbox();
    let secret = s.root.join("secret.txt");
    std::fs::write(&secret, "do not publish\n").unwrap();
    let build = format!(
        "sh hack/build.sh && ln -s {} _output/release-tars/leak.tar.gz",
        secret.display()
    );
    krel.run_with_env(
        &s.root,
        &["stage", "--type", "alpha", "--branch", "main"],
        &[("KREL_BUILD_COMMAND", &build)],
    )
    .assert_exit(2)
    .assert_stderr_has("leak.tar.gz is a link to")
    .assert_stderr_has("copy the file in instead of linking to it");
    assert!(!s.root.join("mock-bucket/stage").exists());
}

#[test]
fn push_sign_and_checksum_refuse_a_link_out_of_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("release");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("widget.tar.gz"), "widget").unwrap();
    std::fs::write(dir.path().join("id_rsa"), "PRIVATE").unwrap();
    symlink(dir.path().join("id_rsa"), tree.join("id_rsa")).unwrap();
    let bucket = format!("file://{}", dir.path().join("bucket").display());
    let krel = krel();
    krel.run_in(dir.path(), &["push", "release", &bucket, "--nomock"])
        .assert_exit(2)
        .assert_stderr_has("outside the directory being pushed")
        .assert_stderr_has("hint: SRC is the local directory to upload");
    assert!(!dir.path().join("bucket").exists());
    krel.run_in(dir.path(), &["checksum", "release"])
        .assert_exit(2)
        .assert_stderr_has("id_rsa is a link to");
    assert!(!tree.join("SHA256SUMS").exists());
    let key = dir.path().join("k.pem");
    let status = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&key)
        .status()
        .unwrap();
    assert!(status.success());
    krel.run_in(dir.path(), &["sign", "blobs", "release", "--key", "k.pem"])
        .assert_exit(2)
        .assert_stderr_has("id_rsa is a link to");
    assert!(!tree.join("widget.tar.gz.sig").exists());
    // A missing source is the source's fault, not the destination's.
    krel.run_in(dir.path(), &["push", "missing", &bucket])
        .assert_exit(2)
        .assert_stderr_has("cannot push missing: it is not a directory")
        .assert_stderr_has("hint: SRC is the local directory");
}

/// Stages an alpha of the sandbox into its mock bucket; the build version.
fn staged_alpha(krel: &krel_test_support::Krel, root: &Path) -> String {
    let run = krel.run_in(
        root,
        &[
            "--output", "json", "stage", "--type", "alpha", "--branch", "main",
        ],
    );
    run.assert_exit(0);
    run.json()["result"]["build_version"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_signed_record_naming_paths_or_refs_outside_the_stage_is_refused_for_what_it_is() {
    let krel = krel().env("SOURCE_DATE_EPOCH", "1700000000");
    let s = krel.sandbox();
    let bv = staged_alpha(&krel, &s.root);
    let stage = s.root.join("mock-bucket/stage").join(&bv);
    let record = std::fs::read_to_string(stage.join("STAGED.json")).unwrap();
    let release = [
        "release",
        "--type",
        "alpha",
        "--branch",
        "main",
        "--build-version",
        &bv,
    ];
    for (what, tampered, expected) in [
        (
            "a version that is a path",
            record.replace(
                "\"versions\": [\n    \"v1.11.0-alpha.1\"",
                "\"versions\": [\n    \"../../../x\"",
            ),
            "is not a stage record",
        ),
        (
            "a tag that is a path",
            record.replace(
                "\"tags\": {\n    \"v1.11.0-alpha.1\"",
                "\"tags\": {\n    \"../../refs/heads/main\"",
            ),
            "tag `../../refs/heads/main` is not one of its versions",
        ),
        (
            "a branch that is a path",
            record.replace("\"branch\": \"main\"", "\"branch\": \"../heads/x\""),
            "`../heads/x` is not a branch name",
        ),
    ] {
        assert_ne!(
            tampered, record,
            "{what}: the test did not change the record"
        );
        std::fs::write(stage.join("STAGED.json"), &tampered).unwrap();
        // Signed with the stage's own key: the signature is good, the content is not.
        krel.run_in(
            &s.root,
            &[
                "sign",
                "blobs",
                stage.join("STAGED.json").to_str().unwrap(),
                "--key",
                "keys/sandbox.key",
            ],
        )
        .assert_exit(0);
        krel.run_in(&s.root, &release)
            .assert_exit(1)
            .assert_stderr_has("failed verification")
            .assert_stderr_has(expected);
        assert!(
            !s.root.join("mock-bucket/release").exists(),
            "{what}: something was published"
        );
    }
}

#[test]
fn a_stage_of_another_build_version_names_both_build_versions() {
    let krel = krel().env("SOURCE_DATE_EPOCH", "1700000000");
    let s = krel.sandbox();
    let bv = staged_alpha(&krel, &s.root);
    let stages = s.root.join("mock-bucket/stage");
    let other = bv.replace(".3+", ".4+");
    std::fs::rename(stages.join(&bv), stages.join(&other)).unwrap();
    krel.run_in(
        &s.root,
        &[
            "release",
            "--type",
            "alpha",
            "--branch",
            "main",
            "--build-version",
            &other,
        ],
    )
    .assert_exit(2)
    .assert_stderr_has(&format!("holds build version {bv} staged as"))
    .assert_stderr_has(&format!("this run asks for build version {other}"))
    .assert_stderr_has(&format!("--build-version {bv}"));
}
