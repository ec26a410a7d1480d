//! What users expect of a CLI: `krel version`, shell completions, man pages, and
//! `krel config check` / `krel config schema`, each checked by a tool that is not krel.

use std::process::Command;

use krel_test_support::{test_python, test_tool};

use crate::krel;

#[test]
fn version_names_the_build_in_text_and_json() {
    let krel = krel();
    let run = krel.run_in(krel.home(), &["version"]);
    run.assert_exit(0)
        .assert_stdout_has(&format!("krel {}", env!("CARGO_PKG_VERSION")))
        .assert_stdout_has("commit")
        .assert_stdout_has("rustc ");
    let json = krel
        .run_in(krel.home(), &["--output", "json", "version"])
        .json();
    let commit = json["git_commit"].as_str().unwrap();
    assert!(commit == "unknown" || commit.len() == 40, "{commit}");
    assert!(["clean", "dirty", "unknown"].contains(&json["git_tree_state"].as_str().unwrap()));
    assert!(json["build_date"].as_str().unwrap().ends_with('Z'));
    assert!(json["platform"].as_str().unwrap().contains("linux"));
    // --version stays the short form.
    krel.run_in(krel.home(), &["--version"])
        .assert_exit(0)
        .assert_stdout_has("krel 0.");
}

#[test]
fn bash_reads_the_completions_and_they_know_the_commands() {
    let krel = krel();
    let run = krel.run_in(krel.home(), &["completion", "bash"]);
    run.assert_exit(0);
    let script = krel.home().join("krel.bash");
    std::fs::write(&script, &run.stdout).unwrap();
    // bash itself parses the script, then completes `krel st` and `krel stage --ty`.
    // As bash calls a completion function: the command, the word, the word before it.
    let probe = format!(
        "source {}; COMP_WORDS=(krel st); COMP_CWORD=1; _krel krel st krel; echo \"${{COMPREPLY[@]}}\"; \
         COMP_WORDS=(krel stage --ty); COMP_CWORD=2; _krel krel --ty stage; echo \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let out = Command::new("bash").args(["-c", &probe]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.lines().next().unwrap().contains("stage"), "{text}");
    assert!(text.contains("--type"), "{text}");
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let run = krel.run_in(krel.home(), &["completion", shell]);
        run.assert_exit(0).assert_stdout_has("krel");
    }
    krel.run_in(krel.home(), &["completion", "tcsh"])
        .assert_exit(2);
}

/// groff reads the page without a warning (-ww) and renders its title.
fn groff_renders(page: &std::path::Path, title: &str) {
    let out = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww"])
        .arg(page)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "groff failed on {}", page.display());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "groff warnings on {}",
        page.display()
    );
    assert!(text.contains(title), "{}: {text}", page.display());
}

#[test]
fn man_pages_render_with_groff() {
    let krel = krel();
    let dir = krel.home().join("man1");
    krel.run_in(krel.home(), &["man", "--out", dir.to_str().unwrap()])
        .assert_exit(0)
        .assert_stderr_has("man pages");
    for (page, title) in [
        ("krel.1", "krel"),
        ("krel-stage.1", "krel-stage"),
        ("krel-stage-merge.1", "krel-stage-merge"),
        ("krel-sign-blobs.1", "krel-sign-blobs"),
        ("krel-config-check.1", "krel-config-check"),
    ] {
        groff_renders(&dir.join(page), title);
    }
    let run = krel.run_in(krel.home(), &["man", "release"]);
    run.assert_exit(0).assert_stdout_has(".TH krel-release 1");
    assert!(
        run.stdout.contains("\\-\\-build\\-version"),
        "the flags are on the page"
    );
}

#[test]
fn config_check_shows_every_value_and_where_it_came_from() {
    let krel = krel();
    let root = krel.home().join("project");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(
        root.join("krel.yaml"),
        "# a project\ngithub:\n  org: example\n  repo: widget\nrelease:\n  bucket: gs://from-the-file\n",
    )
    .unwrap();
    let run = krel.run_with_env(
        &root,
        &["config", "check"],
        &[("KREL_RELEASE_BUCKET", "gs://from-the-environment")],
    );
    run.assert_exit(0)
        .assert_stdout_has("krel.yaml")
        .assert_stdout_has("gs://from-the-environment  (KREL_RELEASE_BUCKET)")
        .assert_stdout_has("git.remote")
        .assert_stderr_has("Valid");
    let origin_of = |key: &str| {
        run.stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{key} ")))
            .unwrap_or_else(|| panic!("{key} missing:\n{}", run.stdout))
            .to_string()
    };
    assert!(
        origin_of("github.org").ends_with("krel.yaml:3)"),
        "{}",
        origin_of("github.org")
    );
    assert!(
        origin_of("git.remote").ends_with("(default)"),
        "{}",
        origin_of("git.remote")
    );
    assert!(origin_of("git.url").contains("https://github.com/example/widget.git"));
    let json = krel
        .run_in(&root, &["--output", "json", "config", "check"])
        .json();
    assert_eq!(json["settings"].as_array().unwrap().len(), 26);
    assert_eq!(json["settings"][0]["key"], "project");
    assert_eq!(json["settings"][12]["key"], "release.bucket");
    assert_eq!(json["settings"][12]["origin"]["from"], "file");
    assert_eq!(json["settings"][12]["origin"]["line"], 6);
    // A broken file is refused as every command refuses it.
    std::fs::write(root.join("krel.yaml"), "release:\n  buckit: gs://x\n").unwrap();
    krel.run_in(&root, &["config", "check"])
        .assert_exit(2)
        .assert_stderr_has("krel.yaml:2:3")
        .assert_stderr_has("unknown field `buckit`");
}

#[test]
fn the_schema_accepts_real_configurations_and_rejects_wrong_ones() {
    let krel = krel();
    let s = krel.sandbox();
    let run = krel.run_in(&s.root, &["config", "schema"]);
    run.assert_exit(0);
    let dir = krel.home();
    let schema = dir.join("krel.schema.json");
    std::fs::write(&schema, &run.stdout).unwrap();
    let wrong = dir.join("wrong.yaml");
    std::fs::write(
        &wrong,
        "github:\n  org: x\n  colour: blue\nrelease:\n  github_release: maybe\n",
    )
    .unwrap();
    let documented = env!("CARGO_MANIFEST_DIR").to_string() + "/../../docs/krel.schema.json";
    let out = Command::new(test_python())
        .arg(test_tool("check_schema.py"))
        .arg(&schema)
        .arg(s.root.join("krel.yaml"))
        .arg(&wrong)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("krel.yaml: ok"), "{text}");
    assert!(
        text.contains("wrong.yaml: github: Additional properties"),
        "{text}"
    );
    // The schema published in docs/ is the one krel prints.
    assert_eq!(
        std::fs::read_to_string(documented).unwrap().trim(),
        run.stdout.trim(),
        "docs/krel.schema.json is stale: krel config schema > docs/krel.schema.json"
    );
}

#[test]
fn the_readme_says_why_each_dependency_is_here() {
    let root = krel_test_support::repo_root();
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let table = readme
        .split("## Dependencies, and why each is here")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README.md has a dependencies section");
    let section = manifest
        .split("[workspace.dependencies]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .expect("Cargo.toml has [workspace.dependencies]");
    let unexplained: Vec<&str> = section
        .lines()
        .filter_map(|line| line.split_once('=').map(|(name, _)| name.trim()))
        .filter(|name| !name.is_empty() && !name.starts_with('#') && !name.starts_with("krel"))
        .filter(|name| !table.contains(&format!("`{name}`")))
        .collect();
    assert!(
        unexplained.is_empty(),
        "README.md does not say why these are here: {unexplained:?}"
    );
}
