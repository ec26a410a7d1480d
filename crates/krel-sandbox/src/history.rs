//! The widget project's history: what `Sandbox::create` replays, commit by commit.

use std::path::Path;

use crate::{Sandbox, SandboxError};

/// The project's files at the first commit, from `testdata/sandbox/widget`.
const INITIAL_FILES: &[(&str, &str)] = &[
    (
        "README.md",
        include_str!("../../../testdata/sandbox/widget/README.md"),
    ),
    (
        "Makefile",
        include_str!("../../../testdata/sandbox/widget/Makefile"),
    ),
    (
        "hack/build.sh",
        include_str!("../../../testdata/sandbox/widget/hack/build.sh"),
    ),
    (
        "cmd/widget/main.sh",
        include_str!("../../../testdata/sandbox/widget/cmd/widget/main.sh"),
    ),
    (
        "CHANGELOG/CHANGELOG-1.9.md",
        include_str!("../../../testdata/sandbox/widget/CHANGELOG/CHANGELOG-1.9.md"),
    ),
    (
        "docs/support.md",
        include_str!("../../../testdata/sandbox/widget/docs/support.md"),
    ),
];

/// Replays the history into `upstream/`, publishes it to `remote.git` and clones `clone/`.
pub(crate) fn make(s: &Sandbox) -> Result<(), SandboxError> {
    let root = &s.root;
    s.git.run(root, &["init", "--quiet", "upstream"])?;
    for (path, content) in INITIAL_FILES {
        write(&s.upstream.join(path), content)?;
    }
    let git = |args: &[&str]| s.upstream_git(args);
    git(&["add", "--all"])?;
    git(&["commit", "--quiet", "-m", "Initial import of widget"])?;
    tag(s, "v1.9.0-alpha.0")?;

    // v1.9: a merged pull request, a beta, the branch cut and the official release.
    merged_pr(
        s,
        90,
        "alice/list",
        "cmd/widget/list.sh",
        "#!/bin/sh\nls \"$@\"\n",
        "Add widget list",
    )?;
    tag(s, "v1.9.0-beta.0")?;
    cut_branch(s, "release-1.9", "v1.9.0-rc.0", "v1.10.0-alpha.0")?;
    git(&["checkout", "--quiet", "release-1.9"])?;
    release_commit(s, "v1.9.0")?;
    git(&["checkout", "--quiet", "main"])?;

    // v1.10: a squashed pull request, an alpha, a merged pull request, a beta, the branch cut.
    squashed_pr(
        s,
        101,
        "docs/support.md",
        "# Support\n\nSupported release lines: 1.9, 1.10\n",
        "Document the 1.10 release line",
    )?;
    tag(s, "v1.10.0-alpha.1")?;
    merged_pr(
        s,
        102,
        "bob/version",
        "cmd/widget/version.sh",
        "#!/bin/sh\necho \"${WIDGET_VERSION:-dev}\"\n",
        "Add widget version",
    )?;
    tag(s, "v1.10.0-beta.0")?;
    cut_branch(s, "release-1.10", "v1.10.0-rc.0", "v1.11.0-alpha.0")?;

    // Code freeze: the release branch and main both change the support line.
    s.commit_file(
        "release-1.10",
        "docs/support.md",
        Some("# Support\n\nSupported release lines: 1.9, 1.10 (release candidate)\n"),
        "Mark 1.10 as a release candidate in the support docs",
    )?;
    merged_pr(
        s,
        110,
        "carol/support",
        "docs/support.md",
        "# Support\n\nSupported release lines: 1.10, 1.11\n",
        "Support 1.11 on main",
    )?;
    squashed_pr(
        s,
        111,
        "cmd/widget/main.sh",
        "#!/bin/sh\n# The widget command: prints its version, as JSON with --json.\n\
         if [ \"$1\" = --json ]; then echo \"{\\\"version\\\":\\\"${WIDGET_VERSION:-dev}\\\"}\"; exit; fi\n\
         echo \"widget ${WIDGET_VERSION:-dev}\"\n",
        "Add --json output",
    )?;

    // Publish to a bare remote and clone it, as a release manager would.
    s.git
        .run(root, &["init", "--quiet", "--bare", "remote.git"])?;
    let remote = s.remote.display().to_string();
    git(&["remote", "add", "origin", &remote])?;
    s.publish()?;
    s.remote_git(&["symbolic-ref", "HEAD", "refs/heads/main"])?;
    s.git.run(root, &["clone", "--quiet", &remote, "clone"])?;
    s.clone_git(&["config", "user.name", "Sandbox Release Manager"])?;
    s.clone_git(&["config", "user.email", "release-manager@widget.example"])?;
    Ok(())
}

pub(crate) fn commit_file(
    s: &Sandbox,
    branch: &str,
    path: &str,
    content: Option<&str>,
    message: &str,
) -> Result<String, SandboxError> {
    s.upstream_git(&["checkout", "--quiet", branch])?;
    match content {
        Some(content) => {
            write(&s.upstream.join(path), content)?;
            s.upstream_git(&["add", "--", path])?;
        }
        None => {
            s.upstream_git(&["rm", "--quiet", "--", path])?;
        }
    }
    s.upstream_git(&["commit", "--quiet", "-m", message])?;
    let id = s.upstream_git(&["rev-parse", "HEAD"])?;
    s.upstream_git(&["checkout", "--quiet", "main"])?;
    Ok(id)
}

fn tag(s: &Sandbox, name: &str) -> Result<(), SandboxError> {
    let message = format!("Kubernetes-style release {name}");
    s.upstream_git(&["tag", "-a", "-m", &message, name])?;
    Ok(())
}

fn release_commit(s: &Sandbox, version: &str) -> Result<(), SandboxError> {
    let message = format!("Release commit for Kubernetes {version}");
    s.upstream_git(&["commit", "--quiet", "--allow-empty", "-m", &message])?;
    tag(s, version)
}

/// Creates `branch` at main's head, tags main with the next alpha.0 and the branch with rc.0.
fn cut_branch(s: &Sandbox, branch: &str, rc0: &str, next_alpha0: &str) -> Result<(), SandboxError> {
    s.upstream_git(&["branch", branch, "main"])?;
    tag(s, next_alpha0)?;
    s.upstream_git(&["checkout", "--quiet", branch])?;
    release_commit(s, rc0)?;
    s.upstream_git(&["checkout", "--quiet", "main"])?;
    Ok(())
}

/// A pull request merged with a merge commit, as GitHub's "Create a merge commit" does.
fn merged_pr(
    s: &Sandbox,
    number: u32,
    head: &str,
    path: &str,
    content: &str,
    title: &str,
) -> Result<(), SandboxError> {
    s.upstream_git(&["checkout", "--quiet", "-b", head, "main"])?;
    write(&s.upstream.join(path), content)?;
    s.upstream_git(&["add", "--", path])?;
    s.upstream_git(&["commit", "--quiet", "-m", title])?;
    s.upstream_git(&["checkout", "--quiet", "main"])?;
    let message = format!("Merge pull request #{number} from {head}\n\n{title}");
    s.upstream_git(&["merge", "--quiet", "--no-ff", "-m", &message, head])?;
    s.upstream_git(&["branch", "--quiet", "-D", head])?;
    Ok(())
}

/// A pull request squash-merged, as GitHub's "Squash and merge" titles it: `Title (#N)`.
fn squashed_pr(
    s: &Sandbox,
    number: u32,
    path: &str,
    content: &str,
    title: &str,
) -> Result<(), SandboxError> {
    s.commit_file("main", path, Some(content), &format!("{title} (#{number})"))?;
    Ok(())
}

fn write(path: &Path, content: &str) -> Result<(), SandboxError> {
    let io = |source| SandboxError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(path, content).map_err(io)
}

#[cfg(test)]
mod tests {
    use crate::Sandbox;

    #[test]
    fn creates_the_same_history_every_time() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let a = Sandbox::create(a.path()).unwrap();
        let b = Sandbox::create(b.path()).unwrap();
        let refs = |s: &Sandbox| {
            s.remote_git(&["for-each-ref", "--format=%(refname) %(objectname)"])
                .unwrap()
        };
        assert_eq!(refs(&a), refs(&b));
        let listing = refs(&a);
        for name in [
            "refs/heads/main",
            "refs/heads/release-1.9",
            "refs/heads/release-1.10",
            "refs/tags/v1.9.0",
            "refs/tags/v1.10.0-rc.0",
            "refs/tags/v1.11.0-alpha.0",
        ] {
            assert!(listing.contains(name), "{name} missing from\n{listing}");
        }
        let describe = a
            .clone_git(&["describe", "--tags", "--abbrev=0", "origin/main"])
            .unwrap();
        assert_eq!(describe, "v1.11.0-alpha.0");
        assert!(a.config.is_file());
        assert!(a.clone.join("docs/support.md").is_file());
    }

    #[test]
    fn refuses_a_directory_with_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("keep.txt"), "mine").unwrap();
        let err = Sandbox::create(dir.path()).unwrap_err();
        assert!(err.to_string().contains("not empty"), "{err}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("keep.txt")).unwrap(),
            "mine"
        );
    }
}
