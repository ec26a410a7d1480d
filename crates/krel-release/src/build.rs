//! Running the project's build in a clean tree and collecting what it made.
//!
//! The build command (`build.command`) runs with `sh -c` at the top of the tree, in an
//! environment of its own: only what the caller hands over (a few basics and `build.env`),
//! plus `KREL_VERSION`, `KREL_BUILD_VERSION`, `KREL_PLATFORMS` and `SOURCE_DATE_EPOCH`; never
//! krel's credentials. Its output goes to a log file beside the tree, in which every known
//! secret value is masked before anyone reads it. [`collect_artifacts`] then copies the files
//! `build.artifacts` names into the staged release directory.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use krel_config::{ArtifactRule, Platform};

use crate::files::{create_parent, io};
use crate::ReleaseError;

/// One run of the build command.
pub struct BuildRun<'a> {
    /// The command, run with `sh -c`.
    pub command: &'a str,
    /// The clean tree to build in.
    pub tree: &'a Path,
    /// The version being built (`KREL_VERSION`).
    pub version: &'a str,
    /// The build version (`KREL_BUILD_VERSION`).
    pub build_version: &'a str,
    /// The platforms (`KREL_PLATFORMS`, comma-separated).
    pub platforms: &'a [Platform],
    /// `SOURCE_DATE_EPOCH` for the build.
    pub source_date_epoch: i64,
    /// Where the build's output goes.
    pub log: &'a Path,
    /// The build's whole environment, besides the KREL_* variables above.
    pub env: &'a [(String, String)],
    /// Secret values to mask in the log (and so in the error that quotes it).
    pub masker: &'a krel_secret::Masker,
}

/// Runs the build; on failure the error carries the end of the log.
pub fn run_build(run: &BuildRun<'_>) -> Result<(), ReleaseError> {
    let log = std::fs::File::create(run.log).map_err(io("creating the build log", run.log))?;
    let log_err = log
        .try_clone()
        .map_err(io("creating the build log", run.log))?;
    let platforms: Vec<String> = run.platforms.iter().map(ToString::to_string).collect();
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(run.command)
        .current_dir(run.tree)
        .env_clear()
        .envs(run.env.iter().map(|(k, v)| (k, v)))
        .env("KREL_VERSION", run.version)
        .env("KREL_BUILD_VERSION", run.build_version)
        .env("KREL_PLATFORMS", platforms.join(","))
        .env("SOURCE_DATE_EPOCH", run.source_date_epoch.to_string())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err);
    // In a process group of its own, which krel stops if it is signalled: a build must never
    // outlive the run that started it (a rerun would build beside it).
    let (_group, mut child) = krel_fs::scratch::spawn_in_group(&mut command)
        .map_err(io("running `sh` for the build in", run.tree))?;
    let status = child
        .wait()
        .map_err(io("waiting for the build in", run.tree))?;
    mask_log(run.log, run.masker)?;
    if status.success() {
        return Ok(());
    }
    let tail = last_lines(run.log, 20);
    Err(ReleaseError::BuildFailed {
        version: run.version.to_string(),
        command: run.command.to_string(),
        status: match status.code() {
            Some(code) => format!("exited with status {code}"),
            None => "was killed by a signal".into(),
        } + &format!("; the end of {}:\n{tail}", run.log.display()),
        dir: run.tree.to_path_buf(),
    })
}

/// Rewrites the log with every secret value masked (only when it holds one).
fn mask_log(log: &Path, masker: &krel_secret::Masker) -> Result<(), ReleaseError> {
    if masker.is_empty() {
        return Ok(());
    }
    let bytes = std::fs::read(log).map_err(io("reading the build log", log))?;
    let text = String::from_utf8_lossy(&bytes);
    let masked = masker.mask(&text);
    if masked != text {
        crate::files::write_file(log, masked.as_bytes())?;
    }
    Ok(())
}

fn last_lines(path: &Path, count: usize) -> String {
    let Ok(file) = std::fs::File::open(path) else {
        return String::new();
    };
    let lines: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
    lines[lines.len().saturating_sub(count)..]
        .iter()
        .map(|line| format!("    {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A build output that cannot be collected safely (a link out of the build tree).
fn unsafe_tree(err: krel_fs::tree::TreeError) -> ReleaseError {
    ReleaseError::Config {
        message: format!("collecting the build's artifacts: {err}"),
        hint: "a staged file must come from the build tree: have the build copy the file in instead of linking to it; nothing was staged".into(),
    }
}

/// Copies the artifacts `rules` name from `tree` into `dest`, expanding per-platform rules
/// for each of `platforms`. Returns the number of files. A rule whose directory or file is
/// missing is an error naming it; two rules writing the same file is an error.
pub fn collect_artifacts(
    version: &str,
    tree: &Path,
    rules: &[ArtifactRule],
    platforms: &[Platform],
    dest: &Path,
) -> Result<usize, ReleaseError> {
    let missing = |what: String| ReleaseError::MissingArtifacts {
        version: version.to_string(),
        what,
    };
    // Destination (relative) → source, decided before anything is copied.
    let mut copies: BTreeMap<String, PathBuf> = BTreeMap::new();
    for rule in rules {
        let expansions: Vec<(String, String)> = if rule.per_platform() {
            platforms
                .iter()
                .map(|p| (p.expand(rule.from.as_str()), p.expand(rule.to.as_str())))
                .collect()
        } else {
            vec![(rule.from.as_str().to_string(), rule.to.as_str().to_string())]
        };
        for (from, to) in expansions {
            let source_dir = tree.join(&from);
            if !source_dir.is_dir() {
                return Err(missing(format!("directory `{from}` (build.artifacts)")));
            }
            let mut found: Vec<(String, PathBuf)> = Vec::new();
            if rule.files.is_empty() {
                found = krel_fs::tree::files_within(&source_dir, tree)
                    .map_err(unsafe_tree)?
                    .into_iter()
                    .map(|f| (f.relative, f.path))
                    .collect();
                if found.is_empty() {
                    return Err(missing(format!("files in `{from}` (it is empty)")));
                }
            } else {
                for name in &rule.files {
                    let path = source_dir.join(name);
                    if !path.is_file() {
                        return Err(missing(format!("file `{from}/{name}` (build.artifacts)")));
                    }
                    krel_fs::tree::inside(tree, &path).map_err(unsafe_tree)?;
                    found.push((name.clone(), path));
                }
            }
            for (relative, path) in found {
                let target = if to.is_empty() {
                    relative
                } else {
                    format!("{to}/{relative}")
                };
                if let Some(previous) = copies.insert(target.clone(), path.clone()) {
                    return Err(ReleaseError::Config {
                        message: format!(
                            "build.artifacts puts two files at `{target}`: {} and {}",
                            previous.display(),
                            path.display()
                        ),
                        hint: "give the rules distinct `to` directories or `files` lists".into(),
                    });
                }
            }
        }
    }
    for (target, source) in &copies {
        let target = dest.join(target);
        create_parent(&target)?;
        std::fs::copy(source, &target).map_err(io("copying an artifact to", &target))?;
    }
    Ok(copies.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(from: &str, to: &str, files: &[&str]) -> ArtifactRule {
        serde_yaml_like(from, to, files)
    }

    fn serde_yaml_like(from: &str, to: &str, files: &[&str]) -> ArtifactRule {
        let json = serde_json::json!({"from": from, "to": to, "files": files});
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn rules_expand_per_platform_and_name_what_is_missing() {
        let tree = tempfile::tempdir().unwrap();
        let dest = tempfile::tempdir().unwrap();
        for arch in ["amd64", "arm64"] {
            let dir = tree.path().join(format!("out/bin/linux/{arch}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("widget"), arch).unwrap();
        }
        std::fs::create_dir_all(tree.path().join("out/tars")).unwrap();
        std::fs::write(tree.path().join("out/tars/widget.tar.gz"), "t").unwrap();
        let platforms = [
            Platform::parse("linux/amd64").unwrap(),
            Platform::parse("linux/arm64").unwrap(),
        ];
        let rules = [
            rule("out/tars", ".", &[]),
            rule("out/bin/{os}/{arch}", "bin/{os}/{arch}", &["widget"]),
        ];
        let n = collect_artifacts("v1", tree.path(), &rules, &platforms, dest.path()).unwrap();
        assert_eq!(n, 3);
        assert_eq!(
            std::fs::read_to_string(dest.path().join("bin/linux/arm64/widget")).unwrap(),
            "arm64"
        );
        assert!(dest.path().join("widget.tar.gz").is_file());

        let more = [Platform::parse("linux/s390x").unwrap()];
        let err = collect_artifacts("v1", tree.path(), &rules, &more, dest.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("out/bin/linux/s390x"), "{err}");
        let clash = [rule("out/tars", ".", &[]), rule("out/tars", "", &[])];
        let err = collect_artifacts("v1", tree.path(), &clash, &platforms, dest.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("two files at `widget.tar.gz`"), "{err}");
    }

    #[test]
    fn a_failing_build_reports_the_end_of_its_log() {
        let tree = tempfile::tempdir().unwrap();
        let log = tree.path().join("build.log");
        let run = BuildRun {
            command: "echo compiling $KREL_VERSION for $KREL_PLATFORMS; echo broken >&2; exit 3",
            tree: tree.path(),
            version: "v1.2.3",
            build_version: "v1.2.3-rc.0.1+abc",
            platforms: &[Platform::parse("linux/amd64").unwrap()],
            source_date_epoch: 1,
            log: &log,
            env: &[("PATH".into(), "/usr/bin:/bin".into())],
            masker: &krel_secret::Masker::default(),
        };
        let err = run_build(&run).unwrap_err().to_string();
        assert!(err.contains("exited with status 3"), "{err}");
        assert!(err.contains("compiling v1.2.3 for linux/amd64"), "{err}");
        assert!(err.contains("broken"), "{err}");
    }

    #[test]
    fn the_build_sees_only_what_it_is_given_and_its_log_holds_no_secret() {
        let tree = tempfile::tempdir().unwrap();
        let log = tree.path().join("build.log");
        let masker = krel_secret::Masker::new([krel_secret::Secret::new("hunter2-token")]);
        let run = BuildRun {
            command:
                "echo home=$HOME token=${GITHUB_TOKEN:-unset}; echo leaked hunter2-token; exit 1",
            tree: tree.path(),
            version: "v1.2.3",
            build_version: "v1.2.3-rc.0.1+abc",
            platforms: &[],
            source_date_epoch: 1,
            log: &log,
            env: &[("HOME".into(), "/home/builder".into())],
            masker: &masker,
        };
        let err = run_build(&run).unwrap_err().to_string();
        assert!(err.contains("home=/home/builder token=unset"), "{err}");
        assert!(err.contains("leaked ***"), "{err}");
        assert!(!std::fs::read_to_string(&log).unwrap().contains("hunter2"));
    }
}
