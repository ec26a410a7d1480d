//! Every parser krel runs on outside input, as a fuzz target: a function of arbitrary bytes
//! that must return (an `Ok` or a clear `Err`), never panic.
//!
//! The targets: versions and build versions, branch names and patterns, PR bodies (the
//! release-note rules) and `--prs` files, krel.yaml, package specs, package versions and
//! constraints, staged records (`STAGED.json`, `PARTIAL.json`), release-note map files, a
//! `.deb`'s control file, an RPM's header. Each comes with seeds: valid inputs that mutation
//! starts from, so that generated inputs reach deep into each parser.
//!
//! `tests/properties.rs` runs every target under proptest in CI, with round-trip properties
//! for versions; `krel-fuzz --inputs N` (the `bench/fuzz` script) runs millions of generated
//! and mutated inputs across all of them and reports the count.
//!
//! ```
//! for target in krel_fuzz::targets() {
//!     for seed in (target.seeds)() {
//!         (target.run)(&seed);
//!     }
//! }
//! ```

use std::path::Path;

/// One parser under test.
pub struct Target {
    /// Its name.
    pub name: &'static str,
    /// Runs the parser on the input; must not panic.
    pub run: fn(&[u8]),
    /// Valid (or nearly valid) inputs to mutate.
    pub seeds: fn() -> Vec<Vec<u8>>,
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn lines(samples: &[&str]) -> Vec<Vec<u8>> {
    samples.iter().map(|s| s.as_bytes().to_vec()).collect()
}

/// Every target.
pub fn targets() -> Vec<Target> {
    vec![
        Target {
            name: "version",
            run: version,
            seeds: version_seeds,
        },
        Target {
            name: "build-version",
            run: build_version,
            seeds: build_version_seeds,
        },
        Target {
            name: "branch",
            run: branch,
            seeds: branch_seeds,
        },
        Target {
            name: "pr-body",
            run: pr_body,
            seeds: pr_body_seeds,
        },
        Target {
            name: "prs-file",
            run: prs_file,
            seeds: prs_file_seeds,
        },
        Target {
            name: "krel.yaml",
            run: config,
            seeds: config_seeds,
        },
        Target {
            name: "package-spec",
            run: package_spec,
            seeds: package_spec_seeds,
        },
        Target {
            name: "package-version",
            run: package_version,
            seeds: package_version_seeds,
        },
        Target {
            name: "staged-record",
            run: staged_record,
            seeds: staged_record_seeds,
        },
        Target {
            name: "map-file",
            run: map_file,
            seeds: map_file_seeds,
        },
        Target {
            name: "deb-control",
            run: deb_control,
            seeds: deb_seeds,
        },
        Target {
            name: "rpm-header",
            run: rpm_header,
            seeds: rpm_seeds,
        },
    ]
}

fn version(bytes: &[u8]) {
    if let Ok(version) = text(bytes).parse::<krel_version::Version>() {
        // What parses prints back to itself.
        let again: krel_version::Version = version.to_string().parse().expect("round trip");
        assert_eq!(again, version);
    }
}

fn version_seeds() -> Vec<Vec<u8>> {
    lines(&[
        "v1.30.0",
        "v1.30.0-rc.1",
        "v1.31.0-alpha.0",
        "v1.29.10-beta.3",
        "v0.0.1",
    ])
}

fn build_version(bytes: &[u8]) {
    if let Ok(build) = text(bytes).parse::<krel_version::BuildVersion>() {
        let again: krel_version::BuildVersion = build.to_string().parse().expect("round trip");
        assert_eq!(again, build);
        for release_type in krel_version::ReleaseType::ALL {
            for branch in ["master", "release-1.30"] {
                let pattern = krel_version::ReleaseBranchPattern::default();
                if let Ok(branch) = krel_version::Branch::parse(branch, "master", &pattern) {
                    let _ = krel_version::next_versions(release_type, &build, &branch, false);
                    let _ = krel_version::next_versions(release_type, &build, &branch, true);
                }
            }
        }
    }
}

fn build_version_seeds() -> Vec<Vec<u8>> {
    lines(&[
        "v1.30.0-rc.0.12+4e9bdd481e2400",
        "v1.20.0-alpha.2.1273+4e9bdd481e2400-dirty",
        "v1.30.0",
        "v1.30.1-rc.0.4+0123456789abcd",
    ])
}

fn branch(bytes: &[u8]) {
    let text = text(bytes);
    let (pattern, name) = text
        .split_once('\n')
        .unwrap_or(("release-{major}.{minor}", &text));
    if let Ok(pattern) = krel_version::ReleaseBranchPattern::new(pattern) {
        let _ = krel_version::Branch::parse(name, "main", &pattern);
    }
}

fn branch_seeds() -> Vec<Vec<u8>> {
    lines(&[
        "release-{major}.{minor}\nrelease-1.30",
        "v{major}.{minor}.x\nv2.4.x",
        "main",
    ])
}

fn pr_body(bytes: &[u8]) {
    let text = text(bytes);
    let _ = krel_notes::note_text(&text);
    let _ = krel_notes::pr_number(&text);
}

fn pr_body_seeds() -> Vec<Vec<u8>> {
    lines(&[
        "#### What this PR does\nFixes it.\n```release-note\nkubectl: `--json` output\n* more\n```\n",
        "```release-note\nACTION REQUIRED: the flag is gone\n```",
        "```release-note\nNONE\n```",
        "Merge pull request #1234 from alice/fix",
        "Add a thing (#99)",
        "automated-cherry-pick-of-#4321-upstream-release-1.30",
    ])
}

fn prs_file(bytes: &[u8]) {
    if let Ok(prs) = serde_json::from_slice::<Vec<krel_github::PullRequest>>(bytes) {
        for pr in &prs {
            let _ = krel_notes::note_from_pr(pr, "0123456789abcdef", None);
            let _ = krel_notes::cherry_pick_origin(pr);
        }
    }
}

fn prs_file_seeds() -> Vec<Vec<u8>> {
    lines(&[
        r#"[{"number": 7, "title": "Fix (#7)", "body": "```release-note\nFixed.\n```", "user": {"login": "a", "html_url": "https://github.com/a"}, "labels": [{"name": "kind/bug"}, {"name": "sig/cli"}], "html_url": "https://github.com/o/r/pull/7", "head": {"label": "bot:cherry-pick-5-to-release-1.2"}}]"#,
    ])
}

fn config(bytes: &[u8]) {
    let _ = krel_config::Config::from_yaml(&text(bytes), "krel.yaml", |_| None);
}

fn config_seeds() -> Vec<Vec<u8>> {
    lines(&["project: widget\ngithub:\n  org: o\n  repo: r\ngit:\n  main_branch: main\n  release_branch: release-{major}.{minor}\nbuild:\n  command: make\n  platforms: [linux/amd64, darwin/arm64]\n  env: [GOPATH, 'X=1']\n  artifacts:\n    - from: out/{os}/{arch}\n      to: bin/{os}/{arch}\n      files: [a]\nrelease:\n  bucket: gs://b\n  mock_bucket: file:///tmp/m\n  github_release: false\n"])
}

fn package_spec(bytes: &[u8]) {
    let _ = krel_package::Spec::parse(Path::new("spec.yaml"), &text(bytes));
}

fn package_spec_seeds() -> Vec<Vec<u8>> {
    vec![
        krel_kubernetes_spec(),
        include_bytes!("../../../testdata/kubepkg/hello.yaml").to_vec(),
    ]
}

fn krel_kubernetes_spec() -> Vec<u8> {
    b"packages:\n  - name: x\n    summary: s\n    description: d\n    license: MIT\n    maintainer: M <m@x>\n    architectures: [amd64]\n    files:\n      - source: bin/x\n        dest: /usr/bin/x\n    dependencies:\n      - versions: \">= 1.0.0\"\n        deb: [libc6]\n".to_vec()
}

fn package_version(bytes: &[u8]) {
    let text = text(bytes);
    let (version, revision) = text.split_once(' ').unwrap_or((&text, "1.1"));
    let _ = krel_package::PackageVersion::new(version, revision);
    let _ = krel_package::Constraint::parse(&text);
    let _ = krel_package::Dependency::parse(&text);
}

fn package_version_seeds() -> Vec<Vec<u8>> {
    lines(&[
        "1.30.0 1.1",
        "v1.31.0-rc.1 1",
        ">= 1.28.0, < 1.30.0",
        "cri-tools (>= 1.30.0)",
        "kubelet",
    ])
}

fn staged_record(bytes: &[u8]) {
    let _ = krel_release::records::StagedRecord::parse(bytes, "fuzz");
    let _ = serde_json::from_slice::<krel_release::records::PartialRecord>(bytes)
        .map(|record| record.stage.problems());
}

fn staged_record_seeds() -> Vec<Vec<u8>> {
    lines(&[
        r#"{"project":"widget","build_version":"v1.11.0-alpha.0.3+c6f65659808358","release_type":"alpha","branch":"main","cut_branch":false,"versions":["v1.11.0-alpha.1"],"tags":{"v1.11.0-alpha.1":"c6f65659808358445d2b35b21471b95774ad2cdc"},"release_branch_commit":null,"files":{"v1.11.0-alpha.1/gcs-stage/v1.11.0-alpha.1/a.tar.gz":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},"source_date_epoch":1,"platform":"linux/amd64"}"#,
    ])
}

fn map_file(bytes: &[u8]) {
    let _ = krel_notes::maps::parse_maps(&text(bytes), Path::new("maps/pr.yaml"));
}

fn map_file_seeds() -> Vec<Vec<u8>> {
    lines(&["# header\n---\npr: 7\nreleasenote:\n  text: Better.\n  kinds: [feature]\n  sigs: [cli]\n  action_required: true\n---\npr: 8\nreleasenote:\n  do_not_publish: true\n"])
}

fn deb_control(bytes: &[u8]) {
    if let Ok(control) = krel_pkgrepo::apt::read_control(Path::new("x.deb"), bytes) {
        let _ = krel_pkgrepo::apt::field(&control, "Package");
    }
}

fn deb_seeds() -> Vec<Vec<u8>> {
    vec![b"!<arch>\ndebian-binary   0           0     0     100644  4         `\n2.0\n".to_vec()]
}

fn rpm_header(bytes: &[u8]) {
    if let Ok(meta) = krel_pkgrepo::yum::read_metadata(Path::new("x.rpm"), bytes) {
        let _ = meta.get_name();
        let _ = meta.get_requires();
        let _ = meta.get_file_entries();
    }
}

fn rpm_seeds() -> Vec<Vec<u8>> {
    // The lead and the start of a header: enough for mutation to reach the header parser.
    let mut lead = vec![0xed, 0xab, 0xee, 0xdb, 3, 0, 0, 0];
    lead.resize(96, 0);
    lead.extend_from_slice(&[0x8e, 0xad, 0xe8, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 16]);
    vec![lead]
}

/// A small, fast generator (xorshift64*): the fuzz runs need no cryptographic randomness, and
/// a seed makes any run repeatable.
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is replaced).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// An input for `target`: random bytes, random text from the parsers' alphabet, or a seed
/// with a few mutations (flips, inserts, deletes, splices of interesting tokens).
pub fn generate(target: &Target, rng: &mut Rng) -> Vec<u8> {
    const TOKENS: &[&str] = &[
        "v",
        ".",
        "-",
        "+",
        "rc",
        "alpha",
        "beta",
        "dirty",
        "0",
        "1",
        "99999999999999999999",
        ":",
        "\n",
        "  ",
        "- ",
        "---",
        "```",
        "release-note",
        "NONE",
        "{",
        "}",
        "[",
        "]",
        "\"",
        "..",
        "/",
        "\\",
        "{major}",
        "{minor}",
        "\u{feff}",
        "é",
        "\0",
        "#",
        ">=",
        "<",
        ",",
    ];
    match rng.below(4) {
        0 => (0..rng.below(64)).map(|_| rng.next_u64() as u8).collect(),
        1 => (0..rng.below(24))
            .flat_map(|_| TOKENS[rng.below(TOKENS.len())].bytes())
            .collect(),
        _ => {
            let seeds = (target.seeds)();
            let mut input = seeds[rng.below(seeds.len())].clone();
            for _ in 0..=rng.below(4) {
                mutate(&mut input, rng, TOKENS);
            }
            input
        }
    }
}

fn mutate(input: &mut Vec<u8>, rng: &mut Rng, tokens: &[&str]) {
    let at = rng.below(input.len() + 1);
    match rng.below(4) {
        0 if !input.is_empty() => {
            let i = rng.below(input.len());
            input[i] ^= 1 << rng.below(8);
        }
        1 if !input.is_empty() => {
            let end = (at + rng.below(8)).min(input.len());
            input.drain(at.min(end)..end);
        }
        2 => {
            let token = tokens[rng.below(tokens.len())].as_bytes();
            input.splice(at..at, token.iter().copied());
        }
        _ => input.insert(at, rng.next_u64() as u8),
    }
}
