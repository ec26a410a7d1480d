//! Records what `krel version` reports: the git commit and tree state of the source, the build
//! date (SOURCE_DATE_EPOCH when set, for reproducible builds), the compiler and the target.
//! Without git (a source archive), the commit is `unknown`.
#![allow(clippy::disallowed_methods)] // a build script reads cargo's environment by design

use std::process::Command;

fn main() {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let state = match git(&["status", "--porcelain", "--untracked-files=no"]) {
        Some(changes) if changes.is_empty() => "clean",
        Some(_) => "dirty",
        None => "unknown",
    };
    let date = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|epoch| epoch.trim().parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        });
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rustc_version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=KREL_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=KREL_GIT_TREE_STATE={state}");
    println!("cargo:rustc-env=KREL_BUILD_EPOCH={date}");
    println!("cargo:rustc-env=KREL_RUSTC_VERSION={rustc_version}");
    println!("cargo:rustc-env=KREL_TARGET={target}");
    // Rebuilt when the commit or the index changes, not on every build.
    for path in [
        "../../.git/HEAD",
        "../../.git/index",
        "../../.git/refs/heads",
    ] {
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
}
