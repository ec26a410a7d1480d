//! `krel rehearse`: a whole release cycle, for real, on local stand-ins.
//!
//! [`rehearse`] creates a sandbox project (history with merged pull requests and release
//! branches, a bare git remote, `file://` buckets, a signing key), serves a GitHub stand-in on
//! 127.0.0.1, then runs the krel binary as a release manager would, each command with
//! `--nomock` against those stand-ins:
//!
//! 1. an alpha from the main branch (stage, then release);
//! 2. the branch cut: `release-X.Y` with vX.Y.0-rc.0 and the next minor's alpha.0;
//! 3. a commit lands on the main branch during code freeze, and `krel ff` brings it to the
//!    release branch;
//! 4. the official vX.Y.0 from the release branch.
//!
//! Then it checks what was published, independently of the commands that published it: every
//! checksum, every signature and each provenance statement in `release/<version>/`, every
//! image `images.json` lists (in the release registry under the version's tag, an index of the
//! listed platforms, signed for the release repository), the
//! version markers, the tags and the release branch on the remote, and the GitHub releases with
//! their assets. Nothing goes beyond loopback.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use krel_github_standin::{GitHubStandIn, StandInOptions};
use krel_sandbox::Sandbox;
use krel_sign::PublicKey;
use serde::Serialize;

/// Why a rehearsal stopped.
#[derive(Debug, thiserror::Error)]
pub enum RehearseError {
    /// The sandbox could not be made.
    #[error("creating the sandbox")]
    Sandbox(#[from] krel_sandbox::SandboxError),
    /// A krel command failed.
    #[error("`krel {command}` failed ({status}):\n{output}")]
    Command {
        /// The arguments.
        command: String,
        /// How it ended.
        status: String,
        /// The end of what it printed.
        output: String,
    },
    /// A command could not be started.
    #[error("running {}", binary.display())]
    Spawn {
        /// The binary.
        binary: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// What was published is not what the rehearsal expected.
    #[error("the rehearsal's checks failed:\n  - {}", problems.join("\n  - "))]
    Checks {
        /// Each failed check.
        problems: Vec<String>,
    },
}

impl krel_error::Diagnose for RehearseError {
    /// Refused when what was published fails the checks; the sandbox's own kind; else
    /// unexpected.
    fn kind(&self) -> krel_error::ErrorKind {
        match self {
            RehearseError::Checks { .. } => krel_error::ErrorKind::Refused,
            RehearseError::Sandbox(err) => err.kind(),
            _ => krel_error::ErrorKind::Unexpected,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            RehearseError::Sandbox(err) => err.hint(),
            _ => None,
        }
    }
}

/// One step of the rehearsal, for the summary.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    /// What was run (`krel stage --type alpha --branch main --nomock`).
    pub command: String,
    /// What it did, in a few words.
    pub result: String,
}

/// What a rehearsal cut, where it went and what was checked.
#[derive(Clone, Debug, Serialize)]
pub struct Rehearsal {
    /// The sandbox.
    pub root: PathBuf,
    /// Every command run, in order.
    pub steps: Vec<Step>,
    /// Version → the commit its tag points at on the remote.
    pub tags: BTreeMap<String, String>,
    /// Marker name → version.
    pub markers: BTreeMap<String, String>,
    /// GitHub releases published on the stand-in: tag → number of assets.
    pub github_releases: BTreeMap<String, usize>,
    /// Requests the GitHub stand-in answered (all on 127.0.0.1).
    pub github_requests: usize,
    /// Files whose checksum was verified.
    pub checksums_checked: usize,
    /// Signatures verified.
    pub signatures_checked: usize,
    /// Provenance statements whose signature and subjects were verified.
    pub provenance_checked: usize,
    /// Image manifests (indexes and platforms) found in the release registry under their
    /// version's tag, with valid signatures.
    pub images_checked: usize,
    /// Pull requests the official release's notes (`krel changelog`, on its GitHub release)
    /// list, the code-freeze fix among them.
    pub release_notes: Vec<u64>,
    /// With `--keyless`: the identity every signature was checked for.
    pub keyless: Option<String>,
}

/// Where the rehearsal's progress goes.
pub trait Progress {
    /// A command is about to run.
    fn running(&self, command: &str);
    /// It finished with `result`.
    fn finished(&self, command: &str, result: &str);
}

/// Runs the rehearsal in `root` (a new or empty directory) with the krel binary at `krel`.
/// `caller_env` is the caller's environment: the runs are sealed from it (see [`Runner`]).
pub fn rehearse(
    krel: &Path,
    root: &Path,
    caller_env: &[(OsString, OsString)],
    progress: &dyn Progress,
    keyless: bool,
) -> Result<Rehearsal, RehearseError> {
    let sandbox = Sandbox::create(root)?;
    let github = GitHubStandIn::start(sandbox_prs()?, StandInOptions::default());
    let sigstore = if keyless {
        Some(Keyless::start(&sandbox)?)
    } else {
        None
    };
    let runner = Runner {
        krel,
        caller_env,
        sandbox: &sandbox,
        github: &github,
        progress,
        keyless: sigstore.as_ref(),
    };
    let mut steps = Vec::new();

    // 1. An alpha from the main branch.
    let bv = runner.stage(&mut steps, "alpha", "main")?;
    runner.release(&mut steps, ("alpha", "main", &bv), None)?;

    // 2. The branch cut.
    let minor = next_minor(&sandbox)?;
    let branch = format!("release-{minor}");
    let bv = runner.stage(&mut steps, "rc", &branch)?;
    runner.release(&mut steps, ("rc", &branch, &bv), None)?;

    // 3. Code freeze: a fix lands on the main branch and is fast-forwarded to the branch.
    sandbox.clone_git(&["fetch", "--quiet", "origin"])?;
    sandbox.clone_git(&["checkout", "--quiet", "-B", "main", "origin/main"])?;
    std::fs::write(
        sandbox.clone.join("FREEZE.md"),
        format!("Fixed during the {branch} code freeze.\n"),
    )
    .map_err(|source| krel_sandbox::SandboxError::Io {
        path: sandbox.clone.join("FREEZE.md"),
        source,
    })?;
    sandbox.clone_git(&["add", "FREEZE.md"])?;
    sandbox.clone_git(&[
        "commit",
        "--quiet",
        "-m",
        &format!("Fix a bug found in code freeze (#{FREEZE_FIX})"),
    ])?;
    sandbox.clone_git(&["push", "--quiet", "origin", "main"])?;
    steps.push(Step {
        command: "git push origin main".into(),
        result: "a fix lands on main during code freeze".into(),
    });
    progress.finished(
        "git push origin main",
        "a fix lands on main during code freeze",
    );
    let merged = format!("main merged into {branch}");
    runner.run(
        &mut steps,
        &[
            "ff",
            "--repo-path",
            "clone",
            "--branch",
            &branch,
            "--nomock",
            "--non-interactive",
        ],
        &merged,
    )?;
    progress.finished("krel ff", &merged);

    // 4. The official release, with its notes: every PR since the rc, the fix `krel ff` brought
    // in among them.
    let bv = runner.stage(&mut steps, "official", &branch)?;
    let notes = runner.notes(
        &mut steps,
        &format!("v{minor}.0-rc.0"),
        &branch,
        &format!("v{minor}.0"),
    )?;
    runner.release(&mut steps, ("official", &branch, &bv), Some(&notes))?;
    // The clone the sandbox leaves for a look around knows what was released.
    sandbox.clone_git(&["fetch", "--quiet", "--tags", "origin"])?;

    // Independent checks of everything published.
    let verifier = match &sigstore {
        Some(keyless) => keyless.verifier()?,
        None => sandbox_verifier()?,
    };
    let mut summary = check(&sandbox, &github, &minor, &verifier)?;
    summary.keyless = sigstore.as_ref().map(|k| k.identity.clone());
    summary.steps = steps;
    Ok(summary)
}

struct Runner<'a> {
    krel: &'a Path,
    caller_env: &'a [(OsString, OsString)],
    sandbox: &'a Sandbox,
    github: &'a GitHubStandIn,
    progress: &'a dyn Progress,
    keyless: Option<&'a Keyless>,
}

/// A keyless rehearsal's Sigstore: the stand-in (OIDC issuer, Fulcio, Rekor) on loopback, and
/// `trusted_root.json` and `signing_config.json` in the sandbox describing it.
struct Keyless {
    standin: krel_sigstore_standin::SigstoreStandIn,
    trusted_root: PathBuf,
    signing_config: PathBuf,
    identity: String,
}

impl Keyless {
    fn start(sandbox: &Sandbox) -> Result<Keyless, RehearseError> {
        let failed = |problem: String| RehearseError::Checks {
            problems: vec![problem],
        };
        let standin = krel_sigstore_standin::SigstoreStandIn::start().map_err(failed)?;
        let trusted_root = sandbox.root.join("trusted_root.json");
        let signing_config = sandbox.root.join("signing_config.json");
        for (path, text) in [
            (&trusted_root, standin.trusted_root()),
            (&signing_config, standin.signing_config()),
        ] {
            std::fs::write(path, text)
                .map_err(|e| failed(format!("writing {}: {e}", path.display())))?;
        }
        let identity = standin.workflow_identity();
        Ok(Keyless {
            standin,
            trusted_root,
            signing_config,
            identity,
        })
    }

    /// What stage and release are told: sign keylessly with the stand-in's token and
    /// services; trust only the stand-in's workflow identity.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("KREL_SIGNING", "keyless".into()),
            (
                "KREL_SIGNING_CONFIG",
                self.signing_config.display().to_string(),
            ),
            ("KREL_TRUSTED_ROOT", self.trusted_root.display().to_string()),
            ("KREL_SIGNER_IDENTITY", regex::escape(&self.identity)),
            ("KREL_SIGNER_ISSUER", self.standin.issuer()),
            (
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                self.standin.token_request_url(),
            ),
            (
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
                krel_sigstore_standin::REQUEST_TOKEN.into(),
            ),
        ]
    }

    fn verifier(&self) -> Result<krel_verify::Verifier, RehearseError> {
        let failed = |problem: String| RehearseError::Checks {
            problems: vec![problem],
        };
        let trust = krel_sigstore::Trust::from_json(
            &self.standin.trusted_root(),
            "the stand-in's trusted root",
        )
        .map_err(|e| failed(e.to_string()))?;
        let expected = krel_sigstore::Expected::Identity {
            identity: krel_sigstore::Matcher::Exact(self.identity.clone()),
            issuer: krel_sigstore::Matcher::Exact(self.standin.issuer()),
        };
        Ok(krel_verify::Verifier::new(expected, trust, None))
    }
}

/// The pull requests of the sandbox's history, as the GitHub stand-in serves them: those of
/// krel's changelog tests, and the fix the rehearsal lands during code freeze.
fn sandbox_prs() -> Result<Vec<serde_json::Value>, RehearseError> {
    let mut prs: Vec<serde_json::Value> = serde_json::from_str(include_str!(
        "../../../testdata/changelog/in/prs.json"
    ))
    .map_err(|err| RehearseError::Checks {
        problems: vec![format!("the sandbox's pull requests: {err}")],
    })?;
    prs.push(serde_json::json!({
        "number": FREEZE_FIX,
        "title": "Fix a bug found in code freeze",
        "body": "#### What type of PR is this?\n\n/kind bug\n\n#### Does this PR introduce a user-facing change?\n\n```release-note\nWidgets no longer crash when listed during an upgrade.\n```\n",
        "user": {"login": "frank", "html_url": "https://github.com/frank"},
        "labels": [{"name": "kind/bug"}, {"name": "sig/cli"}, {"name": "release-note"}],
        "html_url": format!("https://github.com/krel-sandbox/widget/pull/{FREEZE_FIX}"),
        "merged_at": "2024-02-01T10:00:00Z",
    }));
    Ok(prs)
}

/// The number of the pull request that lands on main during the rehearsal's code freeze.
const FREEZE_FIX: u64 = 120;

/// The sandbox key's verifier.
fn sandbox_verifier() -> Result<krel_verify::Verifier, RehearseError> {
    PublicKey::from_pem(krel_sandbox::SANDBOX_PUB)
        .map_err(|e| e.to_string())
        .and_then(|key| krel_verify::Verifier::with_key(&key).map_err(|e| e.to_string()))
        .map_err(|problem| RehearseError::Checks {
            problems: vec![format!("the sandbox key: {problem}")],
        })
}

impl Runner<'_> {
    /// Runs krel in the sandbox; its stdout on success.
    fn run(
        &self,
        steps: &mut Vec<Step>,
        args: &[&str],
        result: &str,
    ) -> Result<String, RehearseError> {
        let shown = format!("krel {}", args.join(" "));
        self.progress.running(&shown);
        let mut command = Command::new(self.krel);
        command.args(args).current_dir(&self.sandbox.root);
        // Sealed off from the caller's environment: variables that override krel.yaml (a real
        // KREL_GIT_URL or KREL_RELEASE_BUCKET) or reach real services must not leak into
        // `--nomock` runs (every override in `krel_config::ENV_VARS` starts with KREL_).
        // Everything comes from the sandbox's krel.yaml and the stand-ins.
        for (var, _) in self.caller_env {
            let name = var.to_string_lossy();
            if name.starts_with("KREL_")
                || name.starts_with("AWS_")
                || name.starts_with("GOOGLE_")
                || name.starts_with("CLOUDSDK_")
                || matches!(
                    name.as_ref(),
                    "STORAGE_EMULATOR_HOST"
                        | "GITHUB_TOKEN"
                        | "GH_TOKEN"
                        | "SOURCE_DATE_EPOCH"
                        | "SIGSTORE_ID_TOKEN"
                        | "ACTIONS_ID_TOKEN_REQUEST_URL"
                        | "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
                )
            {
                command.env_remove(var);
            }
        }
        command
            .env("KREL_CONFIG", &self.sandbox.config)
            .env("KREL_GITHUB_RELEASE", "true")
            .env("KREL_GITHUB_API_URL", &self.github.url)
            .env("GITHUB_TOKEN", "rehearsal-token-for-the-stand-in");
        if let Some(keyless) = self.keyless {
            command.envs(keyless.env());
        }
        // The rehearsal makes release commits: name a committer when git knows none.
        if !self
            .caller_env
            .iter()
            .any(|(k, _)| k == "GIT_COMMITTER_NAME")
            && krel_git::Identity::from_git_config().is_none()
        {
            command
                .env("GIT_COMMITTER_NAME", "krel rehearsal")
                .env("GIT_COMMITTER_EMAIL", "rehearsal@krel.invalid");
        }
        let output = command.output().map_err(|source| RehearseError::Spawn {
            binary: self.krel.to_path_buf(),
            source,
        })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(40).collect();
            return Err(RehearseError::Command {
                command: args.join(" "),
                status: output.status.to_string(),
                output: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
            });
        }
        steps.push(Step {
            command: shown,
            result: result.to_string(),
        });
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Stages with --nomock; the build version.
    fn stage(
        &self,
        steps: &mut Vec<Step>,
        kind: &str,
        branch: &str,
    ) -> Result<String, RehearseError> {
        let out = self.run(
            steps,
            &[
                "--output", "json", "stage", "--type", kind, "--branch", branch, "--nomock",
            ],
            "staged",
        )?;
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        let bv = parsed["result"]["build_version"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let Some(step) = steps.last_mut() {
            let versions: Vec<&str> = parsed["result"]["versions"]
                .as_array()
                .map(|v| v.iter().filter_map(|v| v.as_str()).collect())
                .unwrap_or_default();
            step.result = format!("staged {} from {bv}", versions.join(" and "));
            self.progress.finished(&step.command, &step.result);
        }
        Ok(bv)
    }

    /// The release notes of `version` since `start` (the PRs on `origin/BRANCH`), written by
    /// `krel changelog` into the sandbox; the file's name.
    fn notes(
        &self,
        steps: &mut Vec<Step>,
        start: &str,
        branch: &str,
        version: &str,
    ) -> Result<String, RehearseError> {
        self.sandbox
            .clone_git(&["fetch", "--quiet", "--tags", "origin"])?;
        let file = format!("notes-{version}.md");
        let end = format!("origin/{branch}");
        let args = [
            "changelog",
            "--repo-path",
            "clone",
            "--start-rev",
            start,
            "--end-rev",
            &end,
            "--release-version",
            version,
            "--output-file",
            &file,
        ];
        self.run(
            steps,
            &args,
            &format!("release notes of {version} in {file}"),
        )?;
        if let Some(step) = steps.last() {
            self.progress.finished(&step.command, &step.result);
        }
        Ok(file)
    }

    fn release(
        &self,
        steps: &mut Vec<Step>,
        (kind, branch, bv): (&str, &str, &str),
        notes: Option<&str>,
    ) -> Result<(), RehearseError> {
        let mut args = vec![
            "--output",
            "json",
            "release",
            "--type",
            kind,
            "--branch",
            branch,
            "--build-version",
            bv,
            "--nomock",
            "--non-interactive",
        ];
        if let Some(notes) = notes {
            args.extend(["--notes", notes]);
        }
        let out = self.run(steps, &args, "released")?;
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        if let Some(step) = steps.last_mut() {
            step.result = format!(
                "verified {} staged files; published {} ({} actions)",
                parsed["result"]["verified"],
                parsed["result"]["versions"]
                    .as_array()
                    .map(|v| v
                        .iter()
                        .filter_map(|v| v.as_str())
                        .collect::<Vec<_>>()
                        .join(" and "))
                    .unwrap_or_default(),
                parsed["result"]["actions"]
            );
            self.progress.finished(&step.command, &step.result);
        }
        Ok(())
    }
}

/// `X.Y` of the release branch the main branch will be cut into: the minor of main's newest
/// alpha tag.
fn next_minor(sandbox: &Sandbox) -> Result<String, RehearseError> {
    let described = sandbox.remote_git(&["describe", "--tags", "--abbrev=0", "main"])?;
    let version = described.trim().trim_start_matches('v');
    let mut parts = version.split('.');
    match (parts.next(), parts.next()) {
        (Some(major), Some(minor)) => Ok(format!("{major}.{minor}")),
        _ => Err(RehearseError::Checks {
            problems: vec![format!("main is described as `{described}`, not a version")],
        }),
    }
}

/// Every image `images.json` lists is in the sandbox's release registry under the version's
/// tag, as an index of the listed platforms, each signed by the sandbox key for the release
/// repository (`krel verify`'s image checks, plus where: the sandbox's release registry, the
/// version's tag). Returns the number of manifests checked, or the problems.
fn check_images(
    sandbox: &Sandbox,
    dir: &Path,
    version: &str,
    key: &dyn krel_image::cosign::PayloadVerifier,
) -> Result<usize, Vec<String>> {
    let mut problems = Vec::new();
    let listed: Vec<serde_json::Value> = std::fs::read(dir.join("images.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    let registry = format!("{}/release/", sandbox.registry);
    for image in &listed {
        let reference = image["reference"].as_str().unwrap_or_default();
        if !reference.starts_with(&registry) || !reference.ends_with(&format!(":{version}")) {
            problems.push(format!(
                "images.json names {reference}, not an image of {registry} tagged {version}"
            ));
        }
    }
    let report = krel_verify::verify_images(dir, key, &krel_image::RegistryEnv::default());
    if report.images == 0 && report.problems.is_empty() {
        problems.push("images.json lists no image".into());
    }
    problems.extend(report.problems);
    problems.extend(report.unreachable);
    if problems.is_empty() {
        Ok(report.manifests)
    } else {
        Err(problems)
    }
}

/// The pull requests a release's notes link (`([#N](…/pull/N)`), in order.
fn listed_prs(body: &str) -> Vec<u64> {
    body.split("([#")
        .skip(1)
        .filter_map(|rest| rest.split(']').next()?.parse().ok())
        .collect()
}

/// Checks what the rehearsal published, with krel's libraries but none of its commands.
fn check(
    sandbox: &Sandbox,
    github: &GitHubStandIn,
    minor: &str,
    verifier: &krel_verify::Verifier,
) -> Result<Rehearsal, RehearseError> {
    let mut problems = Vec::new();
    let release = sandbox.root.join("bucket").join("release");
    let (major, minor_number) = minor.split_once('.').unwrap_or((minor, "0"));
    let next = format!(
        "{major}.{}",
        minor_number.parse::<u64>().unwrap_or(0).saturating_add(1)
    );
    let official = format!("v{minor}.0");
    let expected_versions = [
        format!("v{minor}.0-alpha.1"),
        format!("v{minor}.0-rc.0"),
        format!("v{next}.0-alpha.0"),
        official.clone(),
    ];
    let mut summary = Rehearsal {
        root: sandbox.root.clone(),
        steps: Vec::new(),
        tags: BTreeMap::new(),
        markers: BTreeMap::new(),
        github_releases: BTreeMap::new(),
        github_requests: 0,
        checksums_checked: 0,
        signatures_checked: 0,
        provenance_checked: 0,
        images_checked: 0,
        release_notes: Vec::new(),
        keyless: None,
    };
    for version in &expected_versions {
        let dir = release.join(version);
        if !dir.is_dir() {
            problems.push(format!("{} is missing", dir.display()));
            continue;
        }
        // What a downloader checks: checksums, signatures and bundles, provenance, SBOMs
        // (krel verify's checks).
        let expect = krel_verify::Expect {
            version: Some(version.to_string()),
            sha512: true,
            ..krel_verify::Expect::default()
        };
        match krel_verify::verify_release(&dir, verifier, &expect, 4) {
            Ok(report) => {
                summary.checksums_checked += report.checksums;
                summary.signatures_checked += report.signatures;
                if report.problems.is_empty() {
                    summary.provenance_checked += 1;
                }
                problems.extend(report.problems.iter().map(|p| format!("{version}: {p}")));
            }
            Err(err) => problems.push(format!("{version}: {err}")),
        }
        // The images, in the release registry.
        match check_images(sandbox, &dir, version, verifier) {
            Ok(checked) => summary.images_checked += checked,
            Err(found) => problems.extend(found.into_iter().map(|p| format!("{version}: {p}"))),
        }
        // The tag on the remote.
        match sandbox.remote_git(&["rev-parse", &format!("{version}^{{commit}}")]) {
            Ok(commit) => {
                summary
                    .tags
                    .insert(version.clone(), commit.trim().to_string());
            }
            Err(_) => problems.push(format!("tag {version} is not on the remote")),
        }
    }
    // Markers.
    let expected_markers = [
        ("latest.txt", format!("v{next}.0-alpha.0")),
        (
            &*format!("latest-{major}.txt"),
            format!("v{next}.0-alpha.0"),
        ),
        (&*format!("latest-{minor}.txt"), official.clone()),
        (&*format!("latest-{next}.txt"), format!("v{next}.0-alpha.0")),
        ("stable.txt", official.clone()),
        (&*format!("stable-{major}.txt"), official.clone()),
        (&*format!("stable-{minor}.txt"), official.clone()),
    ]
    .map(|(name, version)| (name.to_string(), version));
    for (name, version) in expected_markers {
        let found = std::fs::read_to_string(release.join(&name))
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        if found != version {
            problems.push(format!("marker {name} holds `{found}`, expected {version}"));
        }
        summary.markers.insert(name, found);
    }
    // The release branch holds the official release commit and the code-freeze fix.
    let branch = format!("release-{minor}");
    let official_commit = summary.tags.get(&official).cloned().unwrap_or_default();
    match sandbox.remote_git(&["merge-base", "--is-ancestor", &official_commit, &branch]) {
        Ok(_) => {}
        Err(_) => problems.push(format!("{branch} does not hold {official}")),
    }
    // GitHub releases: published, with their assets.
    for release in github.releases() {
        let tag = release["tag_name"].as_str().unwrap_or_default().to_string();
        if release["draft"] != false {
            problems.push(format!("the GitHub release {tag} is still a draft"));
        }
        let prerelease = release["prerelease"] == true;
        if prerelease == (tag == official) {
            problems.push(format!(
                "the GitHub release {tag} has prerelease={prerelease}"
            ));
        }
        let assets = release["assets"].as_array().map_or(0, Vec::len);
        if tag == official {
            let body = release["body"].as_str().unwrap_or_default();
            summary.release_notes = listed_prs(body);
            if !summary.release_notes.contains(&FREEZE_FIX) {
                problems.push(format!(
                    "the GitHub release {tag}'s notes lack #{FREEZE_FIX}, which krel ff brought into {branch}"
                ));
            }
        }
        summary.github_releases.insert(tag, assets);
    }
    for version in &expected_versions {
        if !summary.github_releases.contains_key(version) {
            problems.push(format!("no GitHub release {version}"));
        }
    }
    summary.github_requests = github.requests().len();
    if problems.is_empty() {
        Ok(summary)
    } else {
        Err(RehearseError::Checks { problems })
    }
}
