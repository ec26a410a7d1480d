//! `krel sandbox create` end to end.

use crate::krel;

#[test]
fn creates_a_project_to_rehearse_on() {
    let krel = krel();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("demo");
    let target_arg = target.display().to_string();
    let run = krel.run_in(dir.path(), &["sandbox", "create", &target_arg]);
    run.assert_exit(0)
        .assert_stdout_has("remote")
        .assert_stderr_has("krel ff --repo-path clone");
    for path in ["remote.git", "clone", "upstream", "krel.yaml"] {
        assert!(target.join(path).exists(), "{path} missing");
    }
    // The sandbox's krel.yaml is picked up from its directory.
    krel.run_in(&target, &["ff", "--repo-path", "clone"])
        .assert_exit(0)
        .assert_stdout_has(&target.join("remote.git").display().to_string());
}

#[test]
fn refuses_a_directory_with_files_and_keeps_them() {
    let krel = krel();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let arg = dir.path().display().to_string();
    krel.run_in(dir.path(), &["sandbox", "create", &arg])
        .assert_exit(2)
        .assert_stderr_has("already exists and is not empty");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(),
        "mine"
    );
    // A file is not a directory to make one in, for sandbox create and rehearse alike.
    let file = dir.path().join("notes.txt").display().to_string();
    for args in [&["sandbox", "create", &file][..], &["rehearse", &file]] {
        krel.run_in(dir.path(), args)
            .assert_exit(2)
            .assert_stderr_has("notes.txt exists and is not a directory")
            .assert_stderr_has("hint: choose a new or empty directory");
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");
}
