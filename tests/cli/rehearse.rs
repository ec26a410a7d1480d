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
    assert_eq!(summary["steps"].as_array().unwrap().len(), 8);
    // The sandbox stays for inspection, and a second rehearsal there is refused.
    assert!(dir.join("bucket/release/v1.11.0/provenance.json").is_file());
    krel.run_in(scratch.path(), &["rehearse", &dir.display().to_string()])
        .assert_exit(2)
        .assert_stderr_has("choose a new or empty directory");
}
