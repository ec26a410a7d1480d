//! The GitHub Actions workflows under `workflows/`: checked by actionlint (with shellcheck on
//! every script) laid out as a project adopting them would (`.github/workflows/`), and held to
//! our rules: remote actions pinned by commit SHA, checkouts without persisted credentials,
//! no permissions by default, a concurrency group on every job that moves a branch, and
//! `--nomock` publishing only behind the krel-release environment.

use std::path::{Path, PathBuf};
use std::process::Command;

use krel_test_support::{repo_root, test_python};
use serde_yaml_ng::Value;

fn workflow_files() -> Vec<PathBuf> {
    let root = repo_root().join("workflows");
    let mut files = Vec::new();
    for dir in [root.clone(), root.join("examples")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yml") {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 7, "{files:?}");
    files
}

/// A project with the workflows in `.github/workflows/`, as docs/workflows.md says to adopt them.
fn adopting_project(files: &[PathBuf]) -> tempfile::TempDir {
    let project = tempfile::tempdir().unwrap();
    let dir = project.path().join(".github/workflows");
    std::fs::create_dir_all(&dir).unwrap();
    for file in files {
        std::fs::copy(file, dir.join(file.file_name().unwrap())).unwrap();
    }
    assert!(Command::new("git")
        .args(["init", "-q"])
        .current_dir(project.path())
        .status()
        .unwrap()
        .success());
    project
}

#[allow(clippy::disallowed_methods)] // the test hands its PATH to actionlint
fn actionlint(project: &Path) -> std::process::Output {
    let bin = test_python().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new(bin.join("actionlint"))
        .args(["-no-color"])
        .env("PATH", path)
        .current_dir(project)
        .output()
        .expect("actionlint in the test virtualenv (scripts/install-test-deps)")
}

#[test]
fn actionlint_and_shellcheck_pass_on_every_workflow() {
    let files = workflow_files();
    let project = adopting_project(&files);
    let out = actionlint(project.path());
    assert!(
        out.status.success(),
        "actionlint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The same check catches a caller that passes an input the workflow does not have.
    let stage = project.path().join(".github/workflows/stage.yml");
    let text = std::fs::read_to_string(&stage).unwrap();
    std::fs::write(&stage, text.replace("branch: ${{", "branches: ${{")).unwrap();
    let out = actionlint(project.path());
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && report.contains("branches"),
        "{report}"
    );
}

fn load(path: &Path) -> Value {
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn steps(job: &Value) -> Vec<&Value> {
    job["steps"]
        .as_sequence()
        .map(|s| s.iter().collect())
        .unwrap_or_default()
}

#[test]
fn workflows_follow_the_security_rules() {
    let mut reusable = 0;
    for path in workflow_files() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let workflow = load(&path);
        assert_eq!(
            workflow["permissions"],
            serde_yaml_ng::from_str::<Value>("{}").unwrap(),
            "{name}: no permissions unless a job asks"
        );
        let on = &workflow["on"];
        if on.get("workflow_call").is_some() {
            reusable += 1;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (job_name, job) in workflow["jobs"].as_mapping().unwrap() {
            let job_name = job_name.as_str().unwrap();
            let at = format!("{name}: job {job_name}");
            assert!(
                job.get("permissions").is_some(),
                "{at}: declares its permissions"
            );
            for step in steps(job) {
                let Some(uses) = step["uses"].as_str() else {
                    continue;
                };
                if uses.starts_with("./") {
                    continue;
                }
                let (_, reference) = uses.split_once('@').unwrap();
                assert!(
                    reference.len() == 40 && reference.chars().all(|c| c.is_ascii_hexdigit()),
                    "{at}: {uses} is pinned by commit SHA"
                );
                if uses.starts_with("actions/checkout@") {
                    assert_eq!(
                        step["with"]["persist-credentials"],
                        Value::Bool(false),
                        "{at}: the checkout keeps no credentials"
                    );
                }
            }
            let writes = job["permissions"]["contents"].as_str() == Some("write");
            let pushes = text.contains("krel ff") || name == "krel-release.yml";
            if writes && pushes && job.get("steps").is_some() {
                assert!(
                    job.get("concurrency").is_some() || workflow.get("concurrency").is_some(),
                    "{at}: moves a branch, so runs one at a time"
                );
            }
            // Inputs reach scripts through the environment, never pasted into the script.
            for step in steps(job) {
                if let Some(run) = step["run"].as_str() {
                    assert!(
                        !run.contains("${{"),
                        "{at}: `run` interpolates an expression: {run}"
                    );
                }
            }
        }
    }
    assert_eq!(reusable, 4, "ff, stage, release and changelog are reusable");

    // `krel release` runs only in the release workflow, behind its environment; elsewhere
    // --nomock is only what a caller asks for, through an input.
    let release = load(&repo_root().join("workflows/krel-release.yml"));
    assert_eq!(release["jobs"]["release"]["environment"], "krel-release");
    for path in workflow_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        if text.contains("(release --type") {
            assert!(path.ends_with("krel-release.yml"), "{}", path.display());
        }
    }
    // The signing key reaches the merge job only, never a build job.
    let stage = load(&repo_root().join("workflows/krel-stage.yml"));
    let build = serde_yaml_ng::to_string(&stage["jobs"]["build"]).unwrap();
    assert!(!build.contains("signing"), "{build}");
    assert_eq!(stage["jobs"]["merge"]["environment"], "krel-stage");
    assert_eq!(stage["jobs"]["build"]["permissions"]["id-token"], "write");
    // Keyless by default: the job that signs has an identity, and no secret is needed.
    assert_eq!(stage["jobs"]["merge"]["permissions"]["id-token"], "write");
    assert_eq!(
        stage["on"]["workflow_call"]["inputs"]["signing"]["default"],
        "keyless"
    );
    assert_eq!(
        stage["on"]["workflow_call"]["secrets"]["KREL_SIGNING_KEY"]["required"],
        false
    );
    let example =
        std::fs::read_to_string(repo_root().join("workflows/examples/stage.yml")).unwrap();
    assert!(!example.contains("secrets.KREL_SIGNING_KEY"), "{example}");
}
