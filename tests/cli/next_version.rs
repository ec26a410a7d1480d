//! `krel next-version` end to end: upstream's version vectors through the binary.

use crate::krel;

fn next(args: &[&str]) -> krel_test_support::Run {
    let krel = krel();
    let mut full = vec!["next-version"];
    full.extend_from_slice(args);
    krel.run_in(krel.home(), &full)
}

#[test]
fn upstream_vectors() {
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "--type",
                "alpha",
                "--build-version",
                "v1.20.0-alpha.2.1273+4e9bdd481e2400",
                "--branch",
                "main",
            ],
            "v1.20.0-alpha.3\n",
        ),
        (
            &[
                "--type",
                "beta",
                "--build-version",
                "v1.18.0-alpha.1.2+3ff09514d162b0",
                "--branch",
                "main",
            ],
            "v1.18.0-beta.0\n",
        ),
        (
            &[
                "--type",
                "beta",
                "--build-version",
                "v1.18.4-beta.1.2+3ff09514d162b0",
                "--branch",
                "master",
            ],
            "v1.18.4-beta.2\n",
        ),
        (
            &[
                "--type",
                "rc",
                "--build-version",
                "v1.18.0-beta.3.2+3ff09514d162b0",
                "--branch",
                "release-1.18",
                "--cut-branch",
            ],
            "v1.18.0-rc.0\nv1.19.0-alpha.0\n",
        ),
        (
            &[
                "--type",
                "rc",
                "--build-version",
                "v1.18.4-beta.0.2+3ff09514d162b0",
                "--branch",
                "release-1.18",
            ],
            "v1.18.4-rc.1\n",
        ),
        (
            &[
                "--type",
                "official",
                "--build-version",
                "v1.18.4-rc.0.3+3ff09514d162b0",
                "--branch",
                "release-1.18",
            ],
            "v1.18.4\n",
        ),
    ];
    for (args, expected) in cases {
        let run = next(args);
        run.assert_exit(0);
        assert_eq!(run.stdout, *expected, "{args:?}");
    }
}

#[test]
fn refusals_and_usage_errors() {
    next(&[
        "--type",
        "alpha",
        "--build-version",
        "v1.18.4-beta.1.2+3ff0",
        "--branch",
        "main",
    ])
    .assert_exit(1)
    .assert_stderr_has("cannot cut an alpha after v1.18.4-beta.1.2+3ff0")
    .assert_stderr_has("hint: cut a beta instead");
    next(&[
        "--type",
        "official",
        "--build-version",
        "v1.18.0-beta.3.2+3ff0",
        "--branch",
        "release-1.18",
        "--cut-branch",
    ])
    .assert_exit(2)
    .assert_stderr_has("cannot be cut at the same time");
    next(&[
        "--type",
        "rc",
        "--build-version",
        "1.18",
        "--branch",
        "release-1.18",
    ])
    .assert_exit(2)
    .assert_stderr_has("`1.18` is not a Kubernetes version: it does not start with `v`");
    next(&[
        "--type",
        "rc",
        "--build-version",
        "v1.18.0-beta.0.1+ab",
        "--branch",
        "feature",
    ])
    .assert_exit(2)
    .assert_stderr_has("`feature` is neither the main branch");
    next(&[
        "--type",
        "gamma",
        "--build-version",
        "v1.18.0",
        "--branch",
        "main",
    ])
    .assert_exit(2)
    .assert_stderr_has("invalid value 'gamma'");
}

#[test]
fn json_output() {
    let run = next(&[
        "--type",
        "rc",
        "--build-version",
        "v1.18.0-beta.3.2+3ff0",
        "--branch",
        "release-1.18",
        "--cut-branch",
        "--output",
        "json",
    ]);
    run.assert_exit(0);
    let json = run.json();
    assert_eq!(json["prime"], "v1.18.0-rc.0");
    assert_eq!(json["rc"], "v1.18.0-rc.0");
    assert_eq!(json["alpha"], "v1.19.0-alpha.0");
    assert_eq!(json["official"], serde_json::Value::Null);
    assert_eq!(
        json["ordered"],
        serde_json::json!(["v1.18.0-rc.0", "v1.19.0-alpha.0"])
    );
}

#[test]
fn describes_a_revision_when_no_build_version_is_given() {
    let krel = krel();
    let s = krel.sandbox();
    let rc_of_the_clone = || {
        krel.run_in(
            &s.root,
            &[
                "next-version",
                "--type",
                "rc",
                "--branch",
                "release-1.10",
                "--repo-path",
                "clone",
                "--rev",
                "origin/release-1.10",
            ],
        )
    };
    let run = rc_of_the_clone();
    run.assert_exit(0)
        .assert_stderr_has("Described origin/release-1.10 as v1.10.0-rc.0.1+");
    assert_eq!(run.stdout, "v1.10.0-rc.1\n");
    assert!(
        !run.stderr.contains("behind"),
        "an up-to-date clone: {}",
        run.stderr
    );
    // The remote moved on (rc.1 tagged) and the clone did not fetch: said, with what to do.
    s.remote_git(&["tag", "v1.10.0-rc.1", "release-1.10"])
        .unwrap();
    let stale = rc_of_the_clone();
    stale
        .assert_exit(0)
        .assert_stderr_has(
            "the clone is behind origin; it has tag v1.10.0-rc.1, which the clone lacks",
        )
        .assert_stderr_has("git fetch --tags origin");
    s.remote_git(&["tag", "-d", "v1.10.0-rc.1"]).unwrap();
    let run = krel.run_in(
        &s.root,
        &[
            "next-version",
            "--type",
            "alpha",
            "--branch",
            "main",
            "--repo-path",
            "clone",
            "--rev",
            "origin/main",
        ],
    );
    run.assert_exit(0)
        .assert_stderr_has("as v1.11.0-alpha.0.3+");
    assert_eq!(run.stdout, "v1.11.0-alpha.1\n");
    krel.run_in(
        &s.root,
        &["next-version", "--type", "beta", "--branch", "main"],
    )
    .assert_exit(2)
    .assert_stderr_has("is not a git repository");
}

#[test]
fn a_dirty_build_version_is_refused_as_stage_refuses_it() {
    let krel = crate::krel();
    krel.run_in(
        krel.home(),
        &[
            "next-version",
            "--type",
            "alpha",
            "--branch",
            "master",
            "--build-version",
            "v1.20.0-alpha.2.1273+4e9bdd481e2400-dirty",
        ],
    )
    .assert_exit(2)
    .assert_stderr_has("is a dirty build version")
    .assert_stderr_has("drop -dirty");
}
