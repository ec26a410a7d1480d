//! `krel kubepkg` end to end: packages checked by dpkg-deb, lintian, rpm and rpmlint, and
//! repositories installed from by apt-get and dnf with signature checking on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use krel_test_support::{copy_tree, repo_root, tree};

use crate::{krel, serve};

/// The fake binaries for all four architectures.
fn source() -> PathBuf {
    repo_root().join("testdata/kubepkg/source")
}

/// A throwaway OpenPGP key made by gpg: (secret key file, public key file).
fn gpg_key(dir: &Path, algorithm: &str) -> (PathBuf, PathBuf) {
    gpg_key_with(dir, algorithm, "")
}

/// [`gpg_key`] protected by `passphrase` (none when empty).
fn gpg_key_with(dir: &Path, algorithm: &str, passphrase: &str) -> (PathBuf, PathBuf) {
    gpg_key_full(dir, algorithm, passphrase, "0", &[])
}

/// An ed25519 key that expires after `expire` (gpg's `10d`, `1y`), made at gpg's clock moved by
/// `extra` arguments (`--faked-system-time`), if any.
fn gpg_key_expiring(dir: &Path, expire: &str, extra: &[&str]) -> (PathBuf, PathBuf) {
    gpg_key_full(dir, "ed25519", "", expire, extra)
}

fn gpg_key_full(
    dir: &Path,
    algorithm: &str,
    passphrase: &str,
    expire: &str,
    extra: &[&str],
) -> (PathBuf, PathBuf) {
    let home = dir.join("gnupg");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let gpg = |args: &[&str]| {
        let out = Command::new("gpg")
            .env("GNUPGHOME", &home)
            .args([
                "--batch",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                passphrase,
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let mut generate = extra.to_vec();
    generate.extend([
        "--quick-gen-key",
        "krel test <krel@example.com>",
        algorithm,
        "sign",
        expire,
    ]);
    gpg(&generate);
    let secret = dir.join("key.asc");
    let public = dir.join("key.pub.asc");
    std::fs::write(&secret, gpg(&["--armor", "--export-secret-keys"])).unwrap();
    std::fs::write(&public, gpg(&["--armor", "--export"])).unwrap();
    (secret, public)
}

fn run(program: &str, args: &[&str]) -> Output {
    // A temporary directory of its own: lintian leaves an `mldbm-elf-*` file behind per run.
    let tmp = tempfile::tempdir().unwrap();
    Command::new(program)
        .args(args)
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap_or_else(|err| {
            panic!("{program} (install it with scripts/install-test-deps): {err}")
        })
}

fn ok(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn s(path: &Path) -> String {
    path.display().to_string()
}

/// Builds the Kubernetes packages 1.29.0 for every architecture into `out`, signed.
fn kubernetes_repo(out: &Path, key: &Path, version: &str, epoch: &str) -> crate::Run {
    krel().run_with_env(
        out.parent().unwrap(),
        &[
            "kubepkg",
            "--kubernetes",
            "--version",
            version,
            "--revision",
            "1.1",
            "--source",
            &s(&source()),
            "--out",
            &s(out),
            "--sign-key",
            &s(key),
            "--repo",
            "--output",
            "json",
        ],
        &[("SOURCE_DATE_EPOCH", epoch)],
    )
}

/// apt-get with its whole state under `root`, reading `sources` and installing into `root`.
fn apt(root: &Path, sources: &str, args: &[&str]) -> Output {
    for dir in [
        "etc/apt/preferences.d",
        "etc/apt/apt.conf.d",
        "etc/apt/trusted.gpg.d",
        "var/lib/apt/lists/partial",
        "var/cache/apt/archives/partial",
        "var/lib/dpkg/updates",
        "var/lib/dpkg/info",
        "var/log",
    ] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    let status = root.join("var/lib/dpkg/status");
    if !status.exists() {
        std::fs::write(&status, "").unwrap();
    }
    std::fs::write(root.join("etc/apt/sources.list"), sources).unwrap();
    let r = s(root);
    let options = [
        format!("Dir={r}"),
        format!("Dir::State::status={r}/var/lib/dpkg/status"),
        "Dir::Etc::trusted=/dev/null".into(),
        format!("Dir::Etc::trustedparts={r}/etc/apt/trusted.gpg.d"),
        format!("Dir::Log={r}/var/log"),
        "APT::Architecture=amd64".into(),
        "Debug::NoLocking=1".into(),
        format!("DPkg::Options::=--root={r}"),
        "DPkg::Options::=--force-not-root".into(),
        "DPkg::Options::=--force-script-chrootless".into(),
        format!("DPkg::Options::=--log={r}/var/log/dpkg.log"),
    ];
    let mut command = Command::new("apt-get");
    for option in &options {
        command.args(["-o", option]);
    }
    command
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .expect("apt-get")
}

/// dnf installing into `root` from the yum repository at `repo`, checking signatures with `key`.
fn dnf(root: &Path, repo: &Path, key: &Path, args: &[&str]) -> Output {
    std::fs::create_dir_all(root).unwrap();
    Command::new("dnf")
        .args(["-y", "--installroot"])
        .arg(root)
        .args([
            "--releasever=1",
            "--setopt=reposdir=/dev/null",
            "--setopt=install_weak_deps=0",
        ])
        .arg(format!("--setopt=cachedir={}/cache", s(root)))
        .arg(format!("--repofrompath=krel,file://{}", s(repo)))
        .args(["--setopt=krel.gpgcheck=1", "--setopt=krel.repo_gpgcheck=1"])
        .arg(format!("--setopt=krel.gpgkey=file://{}", s(key)))
        .args(args)
        .output()
        .expect("dnf")
}

/// An rpm database under `dir` holding `public`, and `--define` arguments that select it.
fn rpm_db(dir: &Path, public: &Path) -> Vec<String> {
    let db = dir.join("rpmdb");
    std::fs::create_dir_all(&db).unwrap();
    let define = vec!["--define".to_string(), format!("_dbpath {}", s(&db))];
    let mut args: Vec<&str> = define.iter().map(String::as_str).collect();
    let public = s(public);
    args.extend(["--import", &public]);
    ok("rpm", &args);
    define
}

#[test]
fn kubernetes_packages_pass_dpkg_lintian_rpm_and_rpmlint() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, public) = gpg_key(dir.path(), "rsa3072");
    let out = dir.path().join("site");
    let result = kubernetes_repo(&out, &secret, "1.29.0", "1700000000");
    result.assert_exit(0);
    let summary = result.json();
    assert_eq!(
        summary["packages"].as_array().unwrap().len(),
        40,
        "5 packages x 4 arches x 2 formats"
    );
    let repo = out.join("core:/stable:/v1.29");

    // deb: fields, names per architecture, files, conffiles, the kubeadm drop-in.
    let kubelet = repo.join("deb/pool/main/k/kubelet/kubelet_1.29.0-1.1_ppc64el.deb");
    let info = ok("dpkg-deb", &["-I", &s(&kubelet)]);
    for field in [
        "Package: kubelet",
        "Version: 1.29.0-1.1",
        "Architecture: ppc64el",
        // Upstream's: no socat, ebtables, conntrack, iproute or ethtool any more.
        "Depends: iptables (>= 1.4.21), mount, kubernetes-cni (>= 1.2.0)\n",
        "Section: net",
        "conffiles",
    ] {
        assert!(info.contains(field), "{field} missing from:\n{info}");
    }
    let contents = ok("dpkg-deb", &["-c", &s(&kubelet)]);
    // Entries named as `dpkg-deb --build` names them, with the directories kubelet owns.
    for path in [
        " ./usr/bin/kubelet\n",
        " ./lib/systemd/system/kubelet.service\n",
        " ./etc/default/kubelet\n",
        " ./var/lib/kubelet/\n",
        " ./etc/kubernetes/\n",
        " ./etc/kubernetes/manifests/\n",
        " ./usr/share/doc/kubelet/copyright\n",
        " ./usr/share/doc/kubelet/README.md\n",
    ] {
        assert!(contents.contains(path), "{path} missing from:\n{contents}");
    }
    assert_eq!(
        ok("dpkg-deb", &["-f", &s(&kubelet), "Version"]).trim(),
        "1.29.0-1.1"
    );
    let kubeadm = repo.join("deb/pool/main/k/kubeadm/kubeadm_1.29.0-1.1_amd64.deb");
    assert!(ok("dpkg-deb", &["-c", &s(&kubeadm)])
        .contains(" ./lib/systemd/system/kubelet.service.d/10-kubeadm.conf"));
    // One EnvironmentFile per format: /etc/default on Debian.
    let dropin = ok("dpkg-deb", &["--fsys-tarfile", &s(&kubeadm)]);
    assert!(dropin.contains("EnvironmentFile=-/etc/default/kubelet"));
    assert!(!dropin.contains("/etc/sysconfig/kubelet"));
    let depends = ok("dpkg-deb", &["-f", &s(&kubeadm), "Depends"]);
    assert_eq!(depends.trim(), "kubelet (>= 1.19.0), kubectl (>= 1.19.0), kubernetes-cni (>= 1.2.0), cri-tools (>= 1.28.0)");
    let cni = repo.join("deb/pool/main/k/kubernetes-cni/kubernetes-cni_1.4.0-1.1_arm64.deb");
    assert!(ok("dpkg-deb", &["-c", &s(&cni)]).contains(" ./opt/cni/bin/bridge"));

    // lintian: no errors on any package.
    let debs: Vec<String> = tree(&repo.join("deb/pool"))
        .keys()
        .filter(|p| p.ends_with("_amd64.deb") || p.ends_with("_s390x.deb"))
        .map(|p| s(&repo.join("deb/pool").join(p)))
        .collect();
    assert_eq!(debs.len(), 10);
    let mut args = vec!["--no-tag-display-limit"];
    args.extend(debs.iter().map(String::as_str));
    let lint = run("lintian", &args);
    let report = String::from_utf8_lossy(&lint.stdout);
    assert!(
        !report.lines().any(|l| l.starts_with("E:")),
        "lintian errors:\n{report}"
    );

    // rpm: fields, arch names, requirements, scripts, signatures checked against the key.
    let rpm_dir = repo.join("rpm");
    let kubelet_rpm = rpm_dir.join("ppc64le/kubelet-1.29.0-1.1.ppc64le.rpm");
    let info = ok("rpm", &["-qpi", &s(&kubelet_rpm)]);
    for field in [
        "Name        : kubelet",
        "Version     : 1.29.0",
        "Release     : 1.1",
        "Architecture: ppc64le",
        "Build Host  : krel",
    ] {
        assert!(info.contains(field), "{field} missing from:\n{info}");
    }
    let files = ok("rpm", &["-qpl", &s(&kubelet_rpm)]);
    for path in [
        "/usr/bin/kubelet",
        "/usr/lib/systemd/system/kubelet.service",
        "/etc/sysconfig/kubelet",
        "/etc/kubernetes/manifests",
        "/etc/kubernetes",
        "/var/lib/kubelet",
        "/usr/share/licenses/kubelet/LICENSE",
        "/usr/share/doc/kubelet/README.md",
    ] {
        assert!(
            files.lines().any(|l| l == path),
            "{path} missing from:\n{files}"
        );
    }
    let requires = ok(
        "rpm",
        &[
            "-qpR",
            &s(&rpm_dir.join("aarch64/kubeadm-1.29.0-1.1.aarch64.rpm")),
        ],
    );
    for dep in ["kubelet >= 1.19.0", "cri-tools >= 1.28.0"] {
        assert!(
            requires.lines().any(|l| l.trim() == dep),
            "{dep} missing from:\n{requires}"
        );
    }
    let kubelet_requires = ok("rpm", &["-qpR", &s(&kubelet_rpm)]);
    for dep in [
        "iptables >= 1.4.21",
        "util-linux",
        "kubernetes-cni >= 1.2.0",
    ] {
        assert!(
            kubelet_requires.lines().any(|l| l.trim() == dep),
            "{dep} missing from:\n{kubelet_requires}"
        );
    }
    for dropped in ["conntrack-tools", "socat", "ebtables", "mount"] {
        assert!(
            !kubelet_requires.lines().any(|l| l.trim() == dropped),
            "{kubelet_requires}"
        );
    }
    // The RPMs own their directories; %license and %doc are marked as such.
    let kubeadm_rpm = s(&rpm_dir.join("x86_64/kubeadm-1.29.0-1.1.x86_64.rpm"));
    let owned = ok("rpm", &["-qpl", &kubeadm_rpm]);
    assert!(
        owned
            .lines()
            .any(|l| l == "/usr/lib/systemd/system/kubelet.service.d"),
        "{owned}"
    );
    assert!(ok("rpm", &["-qpL", &kubeadm_rpm]).contains("/usr/share/licenses/kubeadm/LICENSE"));
    assert!(ok("rpm", &["-qpd", &kubeadm_rpm]).contains("/usr/share/doc/kubeadm/README.md"));
    let cni_owned = ok(
        "rpm",
        &[
            "-qpl",
            &s(&rpm_dir.join("x86_64/kubernetes-cni-1.4.0-1.1.x86_64.rpm")),
        ],
    );
    for dir in ["/opt/cni", "/opt/cni/bin", "/etc/cni", "/etc/cni/net.d"] {
        assert!(
            cni_owned.lines().any(|l| l == dir),
            "{dir} missing from:\n{cni_owned}"
        );
    }
    let define = rpm_db(dir.path(), &public);
    let rpms: Vec<String> = tree(&rpm_dir)
        .keys()
        .filter(|p| p.ends_with(".rpm"))
        .map(|p| s(&rpm_dir.join(p)))
        .collect();
    assert_eq!(rpms.len(), 20);
    for rpm in &rpms {
        let mut args: Vec<&str> = define.iter().map(String::as_str).collect();
        args.extend(["-K", rpm]);
        let checked = ok("rpm", &args);
        assert!(
            checked.trim_end().ends_with("digests signatures OK"),
            "{checked}"
        );
    }

    // rpmlint: no errors (filters only for the fake binaries and the CNI /opt convention).
    let macros = dir.path().join("home");
    std::fs::create_dir_all(&macros).unwrap();
    std::fs::write(
        macros.join(".rpmmacros"),
        format!("%_dbpath {}/rpmdb\n", s(dir.path())),
    )
    .unwrap();
    let rpmlintrc = s(&repo_root().join("testdata/kubepkg/rpmlintrc"));
    let lint = Command::new("rpmlint")
        .env("HOME", &macros)
        .args(["-r", &rpmlintrc])
        .args(
            rpms.iter()
                .filter(|p| p.contains("x86_64") || p.contains("s390x")),
        )
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&lint.stdout);
    assert!(
        report.contains(" 0 errors"),
        "rpmlint:\n{report}{}",
        String::from_utf8_lossy(&lint.stderr)
    );
}

#[test]
fn apt_and_dnf_install_from_the_signed_repositories_and_refuse_a_wrong_key_or_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, public) = gpg_key(dir.path(), "ed25519");
    let (_, other_public) = gpg_key(&dir.path().join("other"), "ed25519");
    let out = dir.path().join("site");
    kubernetes_repo(&out, &secret, "1.29.0", "1700000000").assert_exit(0);
    let deb_repo = out.join("core:/stable:/v1.29/deb");
    assert!(std::fs::read_to_string(deb_repo.join("Release.key"))
        .unwrap()
        .contains("BEGIN PGP PUBLIC KEY BLOCK"));

    // apt, signature checking on: installs and the binary runs.
    let line = |key: &Path| {
        format!(
            "deb [signed-by={}] file:{} stable main\n",
            s(key),
            s(&deb_repo)
        )
    };
    let root = dir.path().join("apt");
    let update = apt(&root, &line(&public), &["update"]);
    assert!(
        update.status.success(),
        "{}",
        String::from_utf8_lossy(&update.stderr)
    );
    let install = apt(
        &root,
        &line(&public),
        &["install", "-y", "kubectl", "cri-tools"],
    );
    assert!(
        install.status.success(),
        "{}{}",
        String::from_utf8_lossy(&install.stdout),
        String::from_utf8_lossy(&install.stderr)
    );
    assert_eq!(
        ok(&s(&root.join("usr/bin/kubectl")), &[]).trim(),
        "kubectl amd64"
    );
    assert!(root.join("usr/bin/crictl").is_file());

    // The Release.key the repository publishes is what apt needs.
    let root = dir.path().join("apt-release-key");
    let published = deb_repo.join("Release.key");
    assert!(apt(&root, &line(&published), &["update"]).status.success());

    // apt with another key: refused.
    let root = dir.path().join("apt-wrong-key");
    let update = apt(&root, &line(&other_public), &["update"]);
    let stderr = String::from_utf8_lossy(&update.stderr);
    assert!(
        stderr.contains("NO_PUBKEY") || stderr.contains("not signed"),
        "{stderr}"
    );
    assert!(
        !apt(&root, &line(&other_public), &["install", "-y", "kubectl"])
            .status
            .success()
    );

    // apt with a tampered index: refused.
    let tampered = dir.path().join("tampered");
    copy_tree(&deb_repo, &tampered);
    let packages = tampered.join("dists/stable/main/binary-amd64/Packages");
    let text = std::fs::read_to_string(&packages).unwrap();
    std::fs::write(
        &packages,
        text.replace("Version: 1.29.0-1.1", "Version: 1.29.9-1.1"),
    )
    .unwrap();
    std::fs::remove_file(tampered.join("dists/stable/main/binary-amd64/Packages.gz")).unwrap();
    let root = dir.path().join("apt-tampered");
    let tampered_line = format!(
        "deb [signed-by={}] file:{} stable main\n",
        s(&public),
        s(&tampered)
    );
    let update = apt(&root, &tampered_line, &["update"]);
    let stderr = String::from_utf8_lossy(&update.stderr);
    assert!(
        !update.status.success()
            || stderr.contains("Hash Sum mismatch")
            || stderr.contains("File has unexpected size"),
        "{stderr}"
    );
    assert!(!apt(&root, &tampered_line, &["install", "-y", "kubectl"])
        .status
        .success());

    // dnf, gpgcheck and repo_gpgcheck on: installs.
    let rpm_repo = out.join("core:/stable:/v1.29/rpm");
    let installed = dnf(
        &dir.path().join("dnf"),
        &rpm_repo,
        &public,
        &["install", "kubectl", "cri-tools"],
    );
    assert!(
        installed.status.success(),
        "{}{}",
        String::from_utf8_lossy(&installed.stdout),
        String::from_utf8_lossy(&installed.stderr)
    );
    assert!(dir.path().join("dnf/usr/bin/kubectl").is_file());
    // dnf with another key: refused.
    let refused = dnf(
        &dir.path().join("dnf-wrong"),
        &rpm_repo,
        &other_public,
        &["install", "kubectl"],
    );
    assert!(!refused.status.success());
    assert!(!dir.path().join("dnf-wrong/usr/bin/kubectl").exists());
}

#[test]
fn same_inputs_and_source_date_epoch_give_identical_packages() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, _) = gpg_key(dir.path(), "ed25519");
    for name in ["one", "two"] {
        krel()
            .run_with_env(
                dir.path(),
                &[
                    "kubepkg",
                    "--kubernetes",
                    "--packages",
                    "kubelet,kubeadm",
                    "--arch",
                    "amd64,s390x",
                    "--version",
                    "1.29.3",
                    "--source",
                    &s(&source()),
                    "--out",
                    name,
                    "--sign-key",
                    &s(&secret),
                ],
                &[("SOURCE_DATE_EPOCH", "1700000000")],
            )
            .assert_exit(0);
    }
    let one = tree(&dir.path().join("one"));
    assert_eq!(one.len(), 8);
    assert_eq!(
        one,
        tree(&dir.path().join("two")),
        "packages differ byte for byte"
    );
}

#[test]
fn a_new_version_joins_the_repository_and_published_packages_never_change() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, public) = gpg_key(dir.path(), "ed25519");
    let out = dir.path().join("site");
    kubernetes_repo(&out, &secret, "1.29.0", "1700000000").assert_exit(0);
    let again = kubernetes_repo(&out, &secret, "1.29.0", "1700000000");
    again
        .assert_exit(0)
        .assert_stderr_has("(0 new, 40 already there)");

    // The same version built at another time has other bytes: refused, nothing changes.
    let before = tree(&out);
    kubernetes_repo(&out, &secret, "1.29.0", "1700000999")
        .assert_exit(1)
        .assert_stderr_has("already in the repository with other content")
        .assert_stderr_has("bump --revision");
    assert_eq!(tree(&out), before);

    // A patch release: the Kubernetes packages only (kubernetes-cni and cri-tools keep their versions).
    krel()
        .run_with_env(
            dir.path(),
            &[
                "kubepkg",
                "--kubernetes",
                "--packages",
                "kubelet,kubeadm,kubectl",
                "--version",
                "1.29.1",
                "--source",
                &s(&source()),
                "--out",
                &s(&out),
                "--sign-key",
                &s(&secret),
                "--repo",
            ],
            &[("SOURCE_DATE_EPOCH", "1700100000")],
        )
        .assert_exit(0);
    let packages = std::fs::read_to_string(
        out.join("core:/stable:/v1.29/deb/dists/stable/main/binary-amd64/Packages"),
    )
    .unwrap();
    assert_eq!(
        packages.matches("Version: 1.29.0-1.1").count(),
        4,
        "kubelet, kubeadm, kubectl, cri-tools:\n{packages}"
    );
    assert_eq!(
        packages.matches("Version: 1.29.1-1.1").count(),
        3,
        "kubelet, kubeadm, kubectl:\n{packages}"
    );
    assert_eq!(packages.matches("Package: kubernetes-cni").count(), 1);
    // apt sees both and installs the newest; the older one can be pinned.
    let line = format!(
        "deb [signed-by={}] file:{} stable main\n",
        s(&public),
        s(&out.join("core:/stable:/v1.29/deb"))
    );
    let root = dir.path().join("apt");
    assert!(apt(&root, &line, &["update"]).status.success());
    let install = apt(&root, &line, &["install", "-y", "kubectl=1.29.0-1.1"]);
    assert!(
        install.status.success(),
        "{}",
        String::from_utf8_lossy(&install.stderr)
    );
    let upgrade = apt(&root, &line, &["install", "-y", "kubectl"]);
    assert!(
        String::from_utf8_lossy(&upgrade.stdout).contains("1.29.1-1.1"),
        "{}",
        String::from_utf8_lossy(&upgrade.stdout)
    );
    // dnf lists both versions.
    let listed = dnf(
        &dir.path().join("dnf"),
        &out.join("core:/stable:/v1.29/rpm"),
        &public,
        &["list", "--showduplicates", "kubectl"],
    );
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains("1.29.0-1.1") && listed.contains("1.29.1-1.1"),
        "{listed}"
    );
}

#[test]
fn prereleases_take_the_tilde_rule_and_sort_before_the_release() {
    let dir = tempfile::tempdir().unwrap();
    krel()
        .run_in(
            dir.path(),
            &[
                "kubepkg",
                "--kubernetes",
                "--packages",
                "kubectl",
                "--arch",
                "amd64",
                "--version",
                "v1.30.0-rc.1",
                "--source",
                &s(&source()),
                "--out",
                "site",
                "--repo",
            ],
        )
        .assert_exit(0)
        .assert_stderr_has("not signed");
    let repo = dir.path().join("site/core:/prerelease:/v1.30");
    let deb = repo.join("deb/pool/main/k/kubectl/kubectl_1.30.0~rc.1-1.1_amd64.deb");
    assert!(
        deb.is_file(),
        "{:?}",
        tree(&dir.path().join("site")).keys().collect::<Vec<_>>()
    );
    assert!(repo
        .join("rpm/x86_64/kubectl-1.30.0~rc.1-1.1.x86_64.rpm")
        .is_file());
    assert!(run(
        "dpkg",
        &["--compare-versions", "1.30.0~rc.1-1.1", "lt", "1.30.0-1.1"]
    )
    .status
    .success());
    let vercmp = ok(
        "rpm",
        &[
            "--eval",
            "%{lua: print(rpm.vercmp('1.30.0~rc.1-1.1', '1.30.0-1.1'))}",
        ],
    );
    assert_eq!(vercmp.trim(), "-1");
    // A pre-release in the release channel is a mistake.
    krel()
        .run_in(
            dir.path(),
            &[
                "kubepkg",
                "--kubernetes",
                "--version",
                "1.30.0-rc.1",
                "--source",
                &s(&source()),
                "--out",
                "x",
                "--repo",
                "--channel",
                "release",
            ],
        )
        .assert_exit(2)
        .assert_stderr_has("pre-release");
}

#[test]
fn a_custom_spec_from_a_bucket_source_carries_scripts_units_and_dependencies() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, public) = gpg_key(dir.path(), "ed25519");
    let spec = repo_root().join("testdata/kubepkg/hello.yaml");
    let bucket = format!("file://{}", s(&source()));
    let result = krel().run_in(
        dir.path(),
        &[
            "kubepkg",
            "--spec",
            &s(&spec),
            "--version",
            "2.1.0",
            "--revision",
            "3",
            "--source",
            &bucket,
            "--out",
            "dist",
            "--sign-key",
            &s(&secret),
            "--output",
            "json",
        ],
    );
    result.assert_exit(0);
    assert_eq!(
        result.json()["packages"].as_array().unwrap().len(),
        4,
        "amd64 and arm64 only, as the spec says"
    );
    let deb = dir.path().join("dist/hello-agent_2.1.0-3_arm64.deb");
    let info = ok("dpkg-deb", &["-I", &s(&deb)]);
    for text in [
        "postinst",
        "postrm",
        "conffiles",
        "Depends: libc6 (>= 2.17), hello-tools (>= 2.0.0)",
        "Section: admin",
        "  It has a unit",
    ] {
        assert!(info.contains(text), "{text} missing from:\n{info}");
    }
    let control = dir.path().join("control");
    ok("dpkg-deb", &["-e", &s(&deb), &s(&control)]);
    assert_eq!(
        std::fs::read_to_string(control.join("conffiles")).unwrap(),
        "/etc/default/hello-agent\n"
    );
    assert!(std::fs::read_to_string(control.join("postrm"))
        .unwrap()
        .contains("removed ($1)"));
    let listing = ok("dpkg-deb", &["-c", &s(&deb)]);
    assert!(
        listing.contains(" ./lib/systemd/system/hello-agent.service.d/10-loud.conf"),
        "{listing}"
    );
    assert!(listing.contains(" ./var/lib/hello-agent/"), "{listing}");

    let rpm = dir.path().join("dist/hello-agent-2.1.0-3.x86_64.rpm");
    let scripts = ok("rpm", &["-qp", "--scripts", &s(&rpm)]);
    assert!(
        scripts.contains("postinstall scriptlet") && scripts.contains("hello-agent installed"),
        "{scripts}"
    );
    assert!(scripts.contains("postuninstall scriptlet"), "{scripts}");
    let requires = ok("rpm", &["-qpR", &s(&rpm)]);
    assert!(
        requires.contains("glibc >= 2.17") && requires.contains("hello-tools >= 2.0.0"),
        "{requires}"
    );
    assert!(ok("rpm", &["-qpc", &s(&rpm)]).contains("/etc/sysconfig/hello-agent"));
    let define = rpm_db(dir.path(), &public);
    let mut args: Vec<&str> = define.iter().map(String::as_str).collect();
    let rpm = s(&rpm);
    args.extend(["-K", &rpm]);
    assert!(ok("rpm", &args).contains("digests signatures OK"));
}

#[test]
fn bad_specs_and_arguments_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let spec = std::fs::read_to_string(repo_root().join("testdata/kubepkg/hello.yaml")).unwrap();
    let cases: Vec<(String, Vec<&str>, &str)> = vec![
        (spec.replace("    license: Apache-2.0\n", ""), vec![], "missing field `license`"),
        (spec.replace("bin/linux/{arch}/kubectl", "bin/linux/{arch}/missing"), vec![], "bad.yaml:16: packages[hello-agent].files[0].source: `bin/linux/amd64/missing` is in no source"),
        (spec.clone(), vec!["--version", "2.1"], "`2.1` is not a version"),
        (spec.clone(), vec!["--arch", "amd64,i386"], "unknown architecture `i386`"),
        (spec.replace("[amd64, arm64]", "[amd64, sparc]"), vec![], "packages[hello-agent].architectures: unknown architecture `sparc`"),
        (spec.replace(">= 3.0.0\"", ">= 2.1.0\""), vec![], "2 entries match version 2.1.0"),
        (spec.replace("mode: \"0755\"", "mode: \"rwx\""), vec![], "packages[hello-agent].files[0].mode"),
        (spec.replace("dest: /usr/bin/hello-agent", "dest: usr/bin/hello-agent"), vec![], "is not an absolute path"),
    ];
    for (index, (text, extra, expected)) in cases.into_iter().enumerate() {
        let spec_path = dir.path().join("bad.yaml");
        std::fs::write(&spec_path, &text).unwrap();
        let out = dir.path().join(format!("out-{index}"));
        let mut args = vec!["kubepkg", "--spec", "bad.yaml", "--source"];
        let src = s(&source());
        args.push(&src);
        let out_arg = s(&out);
        args.extend(["--out", &out_arg]);
        if !extra.contains(&"--version") {
            args.extend(["--version", "2.1.0"]);
        }
        args.extend(extra.iter().copied());
        let run = krel().run_in(dir.path(), &args);
        run.assert_exit(2).assert_stderr_has(expected);
        if expected.contains("is in no source") {
            run.assert_stderr_has("hint: --source takes a release tree");
        }
        assert!(
            !out.exists(),
            "case {index} ({expected}) wrote {}",
            out.display()
        );
    }
    // A key that is not an OpenPGP secret key.
    std::fs::write(dir.path().join("bad.yaml"), &spec).unwrap();
    std::fs::write(dir.path().join("key.asc"), "not a key").unwrap();
    krel()
        .run_in(
            dir.path(),
            &[
                "kubepkg",
                "--spec",
                "bad.yaml",
                "--version",
                "2.1.0",
                "--source",
                &s(&source()),
                "--out",
                "o",
                "--sign-key",
                "key.asc",
            ],
        )
        .assert_exit(2)
        .assert_stderr_has("not an ASCII-armored OpenPGP secret key")
        .assert_stderr_has("gpg --armor --export-secret-keys");
    assert!(!dir.path().join("o").exists());
}

#[test]
fn a_run_stopped_before_its_indexes_is_finished_by_the_next_and_two_runs_never_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, public) = gpg_key(dir.path(), "ed25519");
    let out = dir.path().join("site");
    kubernetes_repo(&out, &secret, "1.29.0", "1700000000").assert_exit(0);

    // What a run killed after moving its packages leaves: kubectl 1.29.5 in the pool and in
    // rpm/, listed in no index.
    let build = |out: &str, epoch: &str, repo: bool| {
        let mut args = vec![
            "kubepkg",
            "--kubernetes",
            "--packages",
            "kubectl",
            "--version",
            "1.29.5",
        ];
        let src = s(&source());
        let key = s(&secret);
        args.extend(["--source", &src, "--sign-key", &key, "--out", out]);
        if repo {
            args.push("--repo");
        }
        krel().run_with_env(dir.path(), &args, &[("SOURCE_DATE_EPOCH", epoch)])
    };
    build("killed", "1700000500", false).assert_exit(0);
    let repo = out.join("core:/stable:/v1.29");
    for (name, dest) in [
        ("kubectl_1.29.5-1.1_amd64.deb", "deb/pool/main/k/kubectl"),
        ("kubectl-1.29.5-1.1.x86_64.rpm", "rpm/x86_64"),
    ] {
        std::fs::copy(
            dir.path().join("killed").join(name),
            repo.join(dest).join(name),
        )
        .unwrap();
    }
    // The rerun builds other bytes (another time): the orphans are replaced, then listed.
    let rerun = build(&s(&out), "1700000900", true);
    rerun
        .assert_exit(0)
        .assert_stderr_has("in no index (left by an interrupted run): replaced");
    let packages =
        std::fs::read_to_string(repo.join("deb/dists/stable/main/binary-amd64/Packages")).unwrap();
    assert!(
        packages.contains("Filename: pool/main/k/kubectl/kubectl_1.29.5-1.1_amd64.deb"),
        "{packages}"
    );
    let listed = dnf(
        &dir.path().join("dnf"),
        &repo.join("rpm"),
        &public,
        &["list", "--showduplicates", "kubectl"],
    );
    assert!(String::from_utf8_lossy(&listed.stdout).contains("1.29.5-1.1"));
    // Once listed, it is published: other bytes are refused.
    build(&s(&out), "1700001000", true)
        .assert_exit(1)
        .assert_stderr_has("already in the repository with other content");

    // A second run while one holds the output's lock: refused, nothing written.
    let lock = std::fs::File::open(&out).unwrap();
    lock.lock().unwrap();
    let before = tree(&out);
    build(&s(&out), "1700000900", true)
        .assert_exit(1)
        .assert_stderr_has("another `krel kubepkg` is writing to this output");
    assert_eq!(tree(&out), before);
}

#[test]
fn a_bucket_source_holding_none_of_the_files_is_named_not_a_scratch_directory() {
    let dir = tempfile::tempdir().unwrap();
    let spec = repo_root().join("testdata/kubepkg/hello.yaml");
    let gcs = krel_test_support::fake_gcs();
    let bucket = format!(
        "gs://{}/release/v2.1.0",
        crate::push::unique("krel-no-bucket")
    );
    let run = krel().env("STORAGE_EMULATOR_HOST", &gcs.host()).run_in(
        dir.path(),
        &[
            "kubepkg",
            "--spec",
            &s(&spec),
            "--version",
            "2.1.0",
            "--source",
            &bucket,
            "--out",
            "dist",
        ],
    );
    run.assert_exit(2)
        .assert_stderr_has(&format!(
            "--source {bucket} holds none of the 2 file(s) asked of it"
        ))
        .assert_stderr_has("check that the bucket exists");
    assert!(
        !run.stderr.contains("krel-kubepkg-sources-"),
        "{}",
        run.stderr
    );
    assert!(!dir.path().join("dist").exists());
}

#[test]
fn a_protected_key_says_whether_the_passphrase_is_missing_or_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, _) = gpg_key_with(dir.path(), "ed25519", "correct horse");
    std::fs::rename(secret, dir.path().join("key.asc")).unwrap();
    let spec = repo_root().join("testdata/kubepkg/hello.yaml");
    let run = |passphrase: Option<&str>| {
        let mut krel = krel();
        if let Some(passphrase) = passphrase {
            krel = krel.env("KREL_PACKAGE_KEY_PASSPHRASE", passphrase);
        }
        krel.run_in(
            dir.path(),
            &[
                "kubepkg",
                "--spec",
                &s(&spec),
                "--version",
                "2.1.0",
                "--arch",
                "amd64",
                "--format",
                "rpm",
                "--source",
                &s(&source()),
                "--sign-key",
                "key.asc",
                "--out",
                "dist",
            ],
        )
    };
    run(Some("wrong horse"))
        .assert_exit(2)
        .assert_stderr_has("the passphrase in KREL_PACKAGE_KEY_PASSPHRASE does not unlock it");
    run(None)
        .assert_exit(2)
        .assert_stderr_has("protected by a passphrase, and KREL_PACKAGE_KEY_PASSPHRASE is not set");
    assert!(!dir.path().join("dist").exists());
    let signed = run(Some("correct horse"));
    signed.assert_exit(0);
    assert!(!signed.stderr.contains("correct horse"));
}

/// A `systemctl` on PATH that records its arguments in `log`, one call per line.
#[allow(clippy::disallowed_methods)] // the test's own PATH, extended
fn stub_systemctl(dir: &Path, log: &Path) -> String {
    let bin = dir.join("stub-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let stub = bin.join("systemctl");
    std::fs::write(&stub, format!("#!/bin/sh\necho \"$*\" >> '{}'\n", s(log))).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!("{}:{}", s(&bin), std::env::var("PATH").unwrap_or_default())
}

#[test]
fn kubelet_is_enabled_on_install_stopped_and_disabled_on_removal_and_owns_its_directories() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, _) = gpg_key(dir.path(), "ed25519");
    let out = dir.path().join("site");
    kubernetes_repo(&out, &secret, "1.29.0", "1700000000").assert_exit(0);
    let repo = out.join("core:/stable:/v1.29");
    let log = dir.path().join("systemctl.log");
    let path = stub_systemctl(dir.path(), &log);
    let calls = || std::fs::read_to_string(&log).unwrap_or_default();

    // deb, installed and removed by dpkg into a root of its own (scripts run, chrootless).
    let deb = repo.join("deb/pool/main/k/kubelet/kubelet_1.29.0-1.1_amd64.deb");
    let root = dir.path().join("root");
    for sub in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "var/log"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    let dpkg = |args: &[&str]| {
        let out = Command::new("dpkg")
            .arg(format!("--root={}", s(&root)))
            .args([
                "--force-not-root",
                "--force-script-chrootless",
                "--force-depends",
            ])
            .arg(format!("--log={}/var/log/dpkg.log", s(&root)))
            .args(args)
            .env("PATH", &path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "dpkg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    dpkg(&["-i", &s(&deb)]);
    let root_arg = format!("--root={}", s(&root));
    assert!(
        calls().contains(&format!("{root_arg} --no-reload preset kubelet.service")),
        "{}",
        calls()
    );
    for owned in [
        "/var/lib/kubelet",
        "/etc/kubernetes",
        "/etc/kubernetes/manifests",
    ] {
        assert!(dpkg(&["-S", owned]).starts_with("kubelet: "), "{owned}");
    }
    dpkg(&["-r", "kubelet"]);
    assert!(
        calls().contains(&format!("{root_arg} --no-reload disable kubelet.service")),
        "{}",
        calls()
    );
    assert!(!root.join("usr/bin/kubelet").exists());

    // The same scripts on a running system (no DPKG_ROOT): stop, then disable.
    std::fs::remove_file(&log).unwrap();
    let control = dir.path().join("control");
    ok("dpkg-deb", &["-e", &s(&deb), &s(&control)]);
    let script = |name: &str, args: &[&str]| {
        let status = Command::new("sh")
            .arg(control.join(name))
            .args(args)
            .env("PATH", &path)
            .env_remove("DPKG_ROOT")
            .status()
            .unwrap();
        assert!(status.success(), "{name}");
    };
    script("postinst", &["configure", ""]);
    script("prerm", &["remove"]);
    script("postrm", &["remove"]);
    let lines: Vec<String> = calls().lines().map(str::to_owned).collect();
    assert_eq!(lines[0], "--no-reload preset kubelet.service", "{lines:?}");
    assert!(
        lines.contains(&"stop kubelet.service".to_string()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"--no-reload disable kubelet.service".to_string()),
        "{lines:?}"
    );
    // An upgrade (configure with the old version) leaves the administrator's choice alone.
    std::fs::remove_file(&log).unwrap();
    script("postinst", &["configure", "1.28.0-1.1"]);
    assert!(!calls().contains("preset"), "{}", calls());

    // rpm: the scriptlets as rpm runs them ($1 = packages left), and ownership by rpm -qf.
    let rpm = repo.join("rpm/x86_64/kubelet-1.29.0-1.1.x86_64.rpm");
    let scriptlet = |tag: &str| ok("rpm", &["-qp", "--qf", &format!("%{{{tag}}}"), &s(&rpm)]);
    let _ = std::fs::remove_file(&log);
    for (tag, count) in [("POSTIN", "1"), ("PREUN", "0"), ("POSTUN", "0")] {
        let status = Command::new("sh")
            .args(["-c", &scriptlet(tag), "sh", count])
            .env("PATH", &path)
            .status()
            .unwrap();
        assert!(status.success(), "{tag}");
    }
    let lines: Vec<String> = calls().lines().map(str::to_owned).collect();
    assert_eq!(lines[0], "--no-reload preset kubelet.service", "{lines:?}");
    assert!(
        lines.contains(&"stop kubelet.service".to_string()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"--no-reload disable kubelet.service".to_string()),
        "{lines:?}"
    );
    let rpm_root = dir.path().join("rpm-root");
    std::fs::create_dir_all(&rpm_root).unwrap();
    let rpm_cmd = |args: &[&str]| {
        let out = Command::new("rpm")
            .arg("--root")
            .arg(&rpm_root)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "rpm {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    rpm_cmd(&["--initdb"]);
    rpm_cmd(&["-i", "--nodeps", "--noscripts", "--nosignature", &s(&rpm)]);
    for owned in [
        "/var/lib/kubelet",
        "/etc/kubernetes",
        "/etc/kubernetes/manifests",
    ] {
        assert!(
            rpm_cmd(&["-qf", owned]).starts_with("kubelet-1.29.0"),
            "{owned}"
        );
    }
}

#[test]
fn every_version_upstream_covers_is_built_and_a_binary_of_another_architecture_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, _) = gpg_key(dir.path(), "ed25519");
    // 1.27: kubeadm takes the dependencies upstream's metadata.yaml has for it.
    let out = dir.path().join("site-127");
    kubernetes_repo(&out, &secret, "1.27.3", "1700000000").assert_exit(0);
    let kubeadm =
        out.join("core:/stable:/v1.27/deb/pool/main/k/kubeadm/kubeadm_1.27.3-1.1_amd64.deb");
    assert_eq!(
        ok("dpkg-deb", &["-f", &s(&kubeadm), "Depends"]).trim(),
        "kubelet (>= 1.19.0), kubectl (>= 1.19.0), kubernetes-cni (>= 1.1.1), cri-tools (>= 1.25.0)"
    );
    let kubeadm_131 = dir.path().join("site-131");
    kubernetes_repo(&kubeadm_131, &secret, "1.31.2", "1700000000").assert_exit(0);
    let deb = kubeadm_131
        .join("core:/stable:/v1.31/deb/pool/main/k/kubeadm/kubeadm_1.31.2-1.1_amd64.deb");
    assert_eq!(
        ok("dpkg-deb", &["-f", &s(&deb), "Depends"]).trim(),
        "cri-tools (>= 1.30.0)"
    );
    // Before 1.24 upstream publishes nothing: refused, naming the ranges.
    let refused = kubernetes_repo(
        &dir.path().join("site-123"),
        &secret,
        "1.23.0",
        "1700000000",
    );
    assert_eq!(refused.code, Some(2), "{}", refused.stderr);
    refused.assert_stderr_has("no entry matches version 1.23.0");

    // An x86-64 program where the arm64 kubelet belongs.
    let source = dir.path().join("source");
    crate::copy_kubepkg_source(&source);
    std::fs::copy("/bin/true", source.join("bin/linux/arm64/kubelet")).unwrap();
    let run = krel().run_in(
        dir.path(),
        &[
            "kubepkg",
            "--kubernetes",
            "--version",
            "1.29.0",
            "--source",
            &s(&source),
            "--out",
            &s(&dir.path().join("wrong")),
        ],
    );
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    run.assert_stderr_has(
        "bin/linux/arm64/kubelet` is built for x86-64, and this package is for arm64 (aarch64)",
    )
    .assert_stderr_has("hint: put each architecture's binaries under bin/linux/<arch>/");
    assert!(
        !dir.path().join("wrong/release").exists(),
        "nothing written"
    );
}

/// `krel kubepkg --kubernetes --version V --repo` into `out`, signed with `keys` (in order),
/// at a fixed SOURCE_DATE_EPOCH, with `extra` arguments.
fn kubepkg_repo(out: &Path, version: &str, keys: &[&Path], extra: &[&str]) -> crate::Run {
    let (source, out_arg) = (s(&source()), s(out));
    let mut args = vec![
        "kubepkg",
        "--kubernetes",
        "--version",
        version,
        "--revision",
        "1.1",
        "--source",
        &source,
        "--out",
        &out_arg,
        "--repo",
    ];
    let keys: Vec<String> = keys.iter().map(|key| s(key)).collect();
    for key in &keys {
        args.extend(["--sign-key", key]);
    }
    args.extend(extra);
    krel().run_with_env(
        out.parent().unwrap(),
        &args,
        &[("SOURCE_DATE_EPOCH", "1700000000")],
    )
}

/// kubectl for amd64 only, signed with `keys`, the summary as JSON.
fn kubepkg_signed(out: &Path, version: &str, keys: &[&Path]) -> crate::Run {
    kubepkg_repo(
        out,
        version,
        keys,
        &[
            "--packages",
            "kubectl",
            "--arch",
            "amd64",
            "--output",
            "json",
        ],
    )
}

#[test]
fn keys_rotate_with_an_overlap_that_apt_and_dnf_accept_and_expiring_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (old, old_public) = gpg_key(&dir.path().join("old"), "ed25519");
    let (new, new_public) = gpg_key(&dir.path().join("new"), "ed25519");
    let out = dir.path().join("site");
    let deb_repo = out.join("core:/stable:/v1.29/deb");
    let rpm_repo = out.join("core:/stable:/v1.29/rpm");
    let apt_accepts = |name: &str, key: &Path| {
        let line = format!(
            "deb [signed-by={}] file:{} stable main\n",
            s(key),
            s(&deb_repo)
        );
        let root = dir.path().join(name);
        let update = apt(&root, &line, &["update"]);
        let stderr = String::from_utf8_lossy(&update.stderr).into_owned();
        update.status.success()
            && !stderr.contains("NO_PUBKEY")
            && !stderr.contains("not signed")
            && apt(
                &root,
                &line,
                &["install", "-y", "--download-only", "kubectl"],
            )
            .status
            .success()
    };
    let dnf_accepts = |name: &str, key: &Path| {
        let listed = dnf(
            &dir.path().join(name),
            &rpm_repo,
            key,
            &[
                "--setopt=krel.gpgcheck=0",
                "--setopt=krel.skip_if_unavailable=0",
                "makecache",
            ],
        );
        listed.status.success()
    };

    // 1. Signed with the old key only.
    kubepkg_signed(&out, "1.29.0", &[&old]).assert_exit(0);
    assert!(apt_accepts("apt-1-old", &old_public));
    assert!(!apt_accepts("apt-1-new", &new_public));
    // 2. The overlap: the new key first (it signs the RPMs), the old one beside it.
    let overlap = kubepkg_signed(&out, "1.29.1", &[&new, &old]);
    overlap.assert_exit(0);
    let fingerprints = overlap.json()["fingerprints"].as_array().unwrap().len();
    assert_eq!(fingerprints, 2, "{}", overlap.stdout);
    let release_key = deb_repo.join("Release.key");
    for (name, key) in [
        ("apt-2-old", &old_public),
        ("apt-2-new", &new_public),
        ("apt-2-both", &release_key),
    ] {
        assert!(apt_accepts(name, key), "apt with {name}");
    }
    for (name, key) in [("dnf-2-old", &old_public), ("dnf-2-new", &new_public)] {
        assert!(dnf_accepts(name, key), "dnf with {name}");
    }
    // Release.gpg (the detached signature apt falls back to) verifies with either key alone.
    for (name, key) in [("old", &old_public), ("new", &new_public)] {
        let keyring = dir.path().join(format!("{name}.gpg"));
        ok(
            "gpg",
            &["--batch", "--yes", "--dearmor", "-o", &s(&keyring), &s(key)],
        );
        let dist = deb_repo.join("dists/stable");
        let verified = run(
            "gpgv",
            &[
                "--keyring",
                &s(&keyring),
                &s(&dist.join("Release.gpg")),
                &s(&dist.join("Release")),
            ],
        );
        // gpgv exits non-zero for the signature whose key it lacks; apt, like this check,
        // needs one good signature by a key it trusts.
        let said = String::from_utf8_lossy(&verified.stderr);
        assert!(
            said.contains("Good signature"),
            "gpgv with the {name} key: {said}"
        );
    }
    // Release.key is one armored block that gpg reads as both keys.
    let shown = ok("gpg", &["--show-keys", "--with-colons", &s(&release_key)]);
    assert_eq!(
        shown.lines().filter(|l| l.starts_with("pub:")).count(),
        2,
        "{shown}"
    );
    // 3. The old key dropped: only the new key is accepted.
    kubepkg_signed(&out, "1.29.2", &[&new]).assert_exit(0);
    assert!(apt_accepts("apt-3-new", &new_public));
    assert!(!apt_accepts("apt-3-old", &old_public));
    assert!(dnf_accepts("dnf-3-new", &new_public));
    assert!(!dnf_accepts("dnf-3-old", &old_public));

    // Expiry: a key that has expired, or expires within the window, is refused before
    // anything is built; one expiring within three windows gets a warning.
    let (expired, _) = gpg_key_expiring(
        &dir.path().join("expired"),
        "1d",
        &["--faked-system-time", "20240101T000000!"],
    );
    let refused = kubepkg_signed(&dir.path().join("x1"), "1.29.0", &[&expired]);
    assert_eq!(refused.code, Some(1), "{}", refused.stderr);
    refused
        .assert_stderr_has("expired on 2024-01-02")
        .assert_stderr_has("rotate it");
    assert!(!dir.path().join("x1").exists(), "nothing written");
    let (soon, _) = gpg_key_expiring(&dir.path().join("soon"), "10d", &[]);
    let refused = kubepkg_signed(&dir.path().join("x2"), "1.29.0", &[&soon]);
    assert_eq!(refused.code, Some(1), "{}", refused.stderr);
    refused.assert_stderr_has("within --key-expiry-window 30");
    let (later, _) = gpg_key_expiring(&dir.path().join("later"), "60d", &[]);
    kubepkg_signed(&dir.path().join("x3"), "1.29.0", &[&later])
        .assert_exit(0)
        .assert_stderr_has("rotate it");
    // Rotating away from the key about to expire is what the hint says: the new key first,
    // the expiring one second, only warned about.
    kubepkg_signed(&dir.path().join("x4"), "1.29.0", &[&later, &soon])
        .assert_exit(0)
        .assert_stderr_has("kept for the rotation");
}

#[test]
fn promotion_copies_the_published_bytes_to_stable_where_apt_and_dnf_install_them() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, public) = gpg_key(dir.path(), "ed25519");
    let out = dir.path().join("site");
    // 1.29.0 first published in the prerelease channel (a candidate under test).
    let built = kubepkg_repo(
        &out,
        "1.29.0",
        &[&secret],
        &[
            "--channel",
            "prerelease",
            "--packages",
            "kubectl,cri-tools",
            "--arch",
            "amd64",
        ],
    );
    built.assert_exit(0);
    let prerelease = out.join("core:/prerelease:/v1.29");
    let stable = out.join("core:/stable:/v1.29");
    // `kubepkg promote` of `version` from prerelease to stable, with the key or without.
    let promote_version = |version: &str, with_key: bool, extra: &[&str]| {
        let (out_arg, key_arg) = (s(&out), s(&secret));
        let mut args = vec![
            "kubepkg",
            "promote",
            "--from",
            "prerelease",
            "--to",
            "stable",
        ];
        args.extend(["--version", version, "--out", &out_arg]);
        if with_key {
            args.extend(["--sign-key", &key_arg]);
        }
        args.extend(extra);
        krel().run_in(dir.path(), &args)
    };
    let promote = |extra: &[&str]| promote_version("1.29.0", true, extra);

    // Mock: the plan, and nothing written.
    promote(&[])
        .assert_exit(0)
        .assert_stdout_has("promote 4 package(s)")
        .assert_stdout_has("write and sign the apt and yum indexes");
    assert!(
        !stable.exists(),
        "a mock promotion wrote {}",
        stable.display()
    );

    // --nomock: the same files, byte for byte, listed and signed in stable.
    promote(&["--nomock"]).assert_exit(0);
    let files = |root: &Path| -> BTreeMap<String, Vec<u8>> {
        tree(root)
            .into_iter()
            .filter(|(path, _)| path.ends_with(".deb") || path.ends_with(".rpm"))
            .collect()
    };
    assert_eq!(files(&stable), files(&prerelease));
    assert_eq!(files(&stable).len(), 4);
    let line = format!(
        "deb [signed-by={}] file:{} stable main\n",
        s(&public),
        s(&stable.join("deb"))
    );
    let root = dir.path().join("apt");
    assert!(apt(&root, &line, &["update"]).status.success());
    let install = apt(&root, &line, &["install", "-y", "kubectl"]);
    assert!(
        install.status.success(),
        "{}",
        String::from_utf8_lossy(&install.stderr)
    );
    assert_eq!(
        ok(&s(&root.join("usr/bin/kubectl")), &[]).trim(),
        "kubectl amd64"
    );
    let installed = dnf(
        &dir.path().join("dnf"),
        &stable.join("rpm"),
        &public,
        &["install", "kubectl"],
    );
    assert!(
        installed.status.success(),
        "{}",
        String::from_utf8_lossy(&installed.stderr)
    );
    assert!(dir.path().join("dnf/usr/bin/kubectl").is_file());
    // Again: nothing to copy.
    promote(&["--nomock"])
        .assert_exit(0)
        .assert_stdout_has("promote 0 package(s)");
    // Without the key, signed repositories are refused before anything changes: rewriting
    // their indexes unsigned would break every client.
    let before = tree(&stable);
    let unsigned = promote_version("1.29.0", false, &["--nomock"]);
    assert_eq!(unsigned.code, Some(2), "{}", unsigned.stderr);
    unsigned
        .assert_stderr_has("is signed, and no signing key was given")
        .assert_stderr_has("hint: give the repository's signing key with --sign-key");
    assert_eq!(tree(&stable), before, "nothing changed");
    // A version of which nothing is published is named.
    let missing = promote(&["--version", "9.9.9"]);
    assert_eq!(missing.code, Some(2), "{}", missing.stderr);
    missing.assert_stderr_has("lists no package of version 9.9.9");
    // A promotion after which users could not install what stable lists is refused: kubelet
    // needs kubernetes-cni, which has a version of its own and must come along.
    kubepkg_repo(
        &out,
        "1.29.1",
        &[&secret],
        &[
            "--channel",
            "prerelease",
            "--packages",
            "kubelet,kubernetes-cni",
            "--arch",
            "amd64",
        ],
    )
    .assert_exit(0);
    let before = tree(&stable);
    let alone = promote(&["--version", "1.29.1", "--nomock"]);
    assert_eq!(alone.code, Some(2), "{}", alone.stderr);
    alone.assert_stderr_has(
        "depends on `kubernetes-cni (>= 1.2.0)`, which the target would not hold",
    );
    assert_eq!(tree(&stable), before, "nothing changed");
    let together = promote_version("1.29.1,1.4.0", true, &["--nomock"]);
    together.assert_exit(0);
    assert!(stable
        .join("deb/pool/main/k/kubernetes-cni/kubernetes-cni_1.4.0-1.1_amd64.deb")
        .is_file());

    // A published file that no longer matches its index is refused, and nothing moves.
    let deb = tree(&prerelease.join("deb/pool"))
        .into_keys()
        .find(|p| p.contains("cri-tools"))
        .unwrap();
    let damaged = prerelease.join("deb/pool").join(&deb);
    std::fs::write(&damaged, b"not the package that was published").unwrap();
    std::fs::remove_dir_all(&stable).unwrap();
    let refused = promote(&["--nomock"]);
    assert_eq!(refused.code, Some(2), "{}", refused.stderr);
    refused.assert_stderr_has("does not match its index");
    assert!(!stable.exists(), "nothing promoted");
}

#[test]
fn verify_passes_a_good_repository_and_names_a_missing_package_a_tampered_index_a_wrong_key_and_a_broken_dependency(
) {
    let dir = tempfile::tempdir().unwrap();
    let (secret, public) = gpg_key(dir.path(), "ed25519");
    let (_, other_public) = gpg_key(&dir.path().join("other"), "ed25519");
    let out = dir.path().join("site");
    kubernetes_repo(&out, &secret, "1.29.0", "1700000000").assert_exit(0);
    let verify = |location: &Path, key: &Path| {
        krel().run_in(
            dir.path(),
            &[
                "kubepkg",
                "verify",
                &s(location),
                "--version",
                "1.29.0",
                "--key",
                &s(key),
            ],
        )
    };
    // The tree above the channels is enough: 1.29.0 is in core:/stable:/v1.29.
    verify(&out, &public)
        .assert_exit(0)
        .assert_stderr_has("Checked");
    // The published Release.key serves as --key.
    let repo = out.join("core:/stable:/v1.29");
    verify(&repo, &repo.join("deb/Release.key")).assert_exit(0);

    let broken = |name: &str, damage: &dyn Fn(&Path)| {
        let copy = dir.path().join(name);
        copy_tree(&repo, &copy);
        damage(&copy);
        let run = verify(&copy, &public);
        assert_eq!(run.code, Some(1), "{name}: {}", run.stderr);
        run
    };
    broken("deleted", &|r| {
        std::fs::remove_file(r.join("deb/pool/main/k/kubelet/kubelet_1.29.0-1.1_arm64.deb"))
            .unwrap();
        std::fs::remove_file(r.join("rpm/aarch64/kubelet-1.29.0-1.1.aarch64.rpm")).unwrap();
    })
    .assert_stderr_has(
        "apt: pool/main/k/kubelet/kubelet_1.29.0-1.1_arm64.deb, listed in the index, is missing",
    )
    .assert_stderr_has(
        "yum: aarch64/kubelet-1.29.0-1.1.aarch64.rpm, listed in the metadata, is missing",
    );
    broken("tampered", &|r| {
        let packages = r.join("deb/dists/stable/main/binary-amd64/Packages");
        let text = std::fs::read_to_string(&packages).unwrap();
        std::fs::write(
            &packages,
            text.replace("Version: 1.29.0-1.1", "Version: 1.29.9-1.1"),
        )
        .unwrap();
    })
    .assert_stderr_has("apt: dists/stable/main/binary-amd64/Packages does not match Release");
    let run = verify(&repo, &other_public);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    run.assert_stderr_has("InRelease is missing or not signed by the expected key")
        .assert_stderr_has("repomd.xml.asc is missing or not signed by the expected key");

    // Without cri-tools, kubeadm's dependency on it is unresolvable.
    let partial = dir.path().join("partial");
    kubepkg_repo(
        &partial,
        "1.29.0",
        &[&secret],
        &[
            "--packages",
            "kubelet,kubeadm,kubectl,kubernetes-cni",
            "--arch",
            "amd64",
        ],
    )
    .assert_exit(0);
    let run = krel().run_in(
        dir.path(),
        &[
            "kubepkg",
            "verify",
            &s(&partial),
            "--version",
            "1.29.0",
            "--key",
            &s(&public),
            "--arch",
            "amd64",
        ],
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    run.assert_stderr_has("apt: cri-tools 1.29.0 for amd64 is missing")
        .assert_stderr_has("apt: kubeadm 1.29.0-1.1 (amd64) depends on `cri-tools (>= 1.28.0)`, which neither the repository nor the base system provides")
        .assert_stderr_has("yum: kubeadm 1.29.0-1.1 (x86_64) depends on `cri-tools (>= 1.28.0)`");
}

#[test]
fn verify_reads_a_repository_over_http_as_apt_and_dnf_would() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, public) = gpg_key(dir.path(), "ed25519");
    let out = dir.path().join("site");
    kubernetes_repo(&out, &secret, "1.29.0", "1700000000").assert_exit(0);
    let server = serve(&out);
    let url = format!("http://127.0.0.1:{}", server.1);
    let verify_at = |location: &Path| {
        krel().run_in(
            dir.path(),
            &[
                "kubepkg",
                "verify",
                &s(location),
                "--version",
                "1.29.0",
                "--key",
                &s(&public),
            ],
        )
    };
    krel()
        .run_in(
            dir.path(),
            &[
                "kubepkg",
                "verify",
                &url,
                "--version",
                "1.29.0",
                "--key",
                &s(&public),
            ],
        )
        .assert_exit(0)
        .assert_stderr_has("Downloaded");
    // What the server does not have is named, as for a directory.
    std::fs::remove_file(out.join("core:/stable:/v1.29/rpm/s390x/kubectl-1.29.0-1.1.s390x.rpm"))
        .unwrap();
    let run = krel().run_in(
        dir.path(),
        &[
            "kubepkg",
            "verify",
            &format!("{url}/core:/stable:/v1.29"),
            "--version",
            "1.29.0",
            "--key",
            &s(&public),
        ],
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    run.assert_stderr_has(
        "yum: s390x/kubectl-1.29.0-1.1.s390x.rpm, listed in the metadata, is missing",
    );
    // Named by its URL, not by the temporary directory it was read into.
    run.assert_stderr_has(&format!("{url}/core:/stable:/v1.29 is not as it should be"));
    // A location that holds no repository at all is a usage error.
    let nowhere = verify_at(&dir.path().join("nowhere"));
    assert_eq!(nowhere.code, Some(2), "{}", nowhere.stderr);
    nowhere.assert_stderr_has("is neither a repository");
    // A repository of another channel than the version's: named by its URL, or by --channel.
    let pre = dir.path().join("pre");
    kubepkg_repo(&pre, "1.29.0", &[&secret], &["--channel", "prerelease"]).assert_exit(0);
    let pre_server = serve(&pre);
    let pre_url = format!("http://127.0.0.1:{}", pre_server.1);
    for location in [
        format!("{pre_url}/core:/prerelease:/v1.29/"),
        pre_url.clone(),
    ] {
        let mut args = vec![
            "kubepkg".to_string(),
            "verify".into(),
            location.clone(),
            "--version".into(),
            "1.29.0".into(),
            "--key".into(),
            s(&public),
        ];
        if location == pre_url {
            args.extend(["--channel".into(), "prerelease".into()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        krel().run_in(dir.path(), &args).assert_exit(0);
    }
    // Plain HTTP is for this machine only.
    let refused = krel().run_in(
        dir.path(),
        &[
            "kubepkg",
            "verify",
            "http://pkgs.example.com",
            "--version",
            "1.29.0",
            "--key",
            &s(&public),
        ],
    );
    assert_eq!(refused.code, Some(2), "{}", refused.stderr);
    refused.assert_stderr_has("is read over https://");
}

/// The xz blocks of a stream, as xz itself lists them: (uncompressed size, header flags, the
/// block's bytes).
fn xz_blocks(stream: &Path) -> Vec<(u64, String, Vec<u8>)> {
    let bytes = std::fs::read(stream).unwrap();
    ok("xz", &["--robot", "--list", "-vv", &s(stream)])
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            (fields.first() == Some(&"block")).then(|| {
                let (offset, size): (usize, usize) =
                    (fields[4].parse().unwrap(), fields[6].parse().unwrap());
                (
                    fields[7].parse().unwrap(),
                    fields[12].to_string(),
                    bytes[offset..offset + size].to_vec(),
                )
            })
        })
        .collect()
}

#[test]
fn a_binary_is_compressed_once_for_its_deb_and_its_rpm_and_both_unpack_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    crate::copy_kubepkg_source(&source);
    // A kubelet larger than the blocks krel shares (64 KiB), compressible like a program.
    let kubelet: Vec<u8> = (0..300_000u32)
        .flat_map(|i| {
            format!(
                "{:08x} kubelet line {}\n",
                i.wrapping_mul(2654435761) % 4096,
                i % 97
            )
            .into_bytes()
        })
        .take(700_000)
        .collect();
    std::fs::write(source.join("bin/linux/amd64/kubelet"), &kubelet).unwrap();
    let out = dir.path().join("out");
    krel()
        .run_in(
            dir.path(),
            &[
                "kubepkg",
                "--kubernetes",
                "--version",
                "1.29.0",
                "--arch",
                "amd64",
                "--source",
                &s(&source),
                "--out",
                &s(&out),
            ],
        )
        .assert_exit(0);
    let deb = out.join("kubelet_1.29.0-1.1_amd64.deb");
    let rpm = out.join("kubelet-1.29.0-1.1.x86_64.rpm");

    // Both unpack to the kubelet: dpkg-deb and rpm2cpio | cpio, rpm checks its digests.
    let unpacked = dir.path().join("deb");
    ok("dpkg-deb", &["-x", &s(&deb), &s(&unpacked)]);
    assert_eq!(
        std::fs::read(unpacked.join("usr/bin/kubelet")).unwrap(),
        kubelet
    );
    ok("rpm", &["-K", &s(&rpm)]);
    let cpio_dir = dir.path().join("rpm");
    std::fs::create_dir_all(&cpio_dir).unwrap();
    let script = format!("rpm2cpio '{}' | cpio -idm --quiet", s(&rpm));
    let status = Command::new("sh")
        .args(["-c", &script])
        .current_dir(&cpio_dir)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        std::fs::read(cpio_dir.join("usr/bin/kubelet")).unwrap(),
        kubelet
    );

    // And the kubelet's block is the same in both streams: compressed once.
    let data = dir.path().join("data.tar.xz");
    std::fs::write(&data, ok_bytes("ar", &["p", &s(&deb), "data.tar.xz"])).unwrap();
    let rpm_bytes = std::fs::read(&rpm).unwrap();
    let start = rpm_bytes
        .windows(6)
        .position(|w| w == b"\xfd7zXZ\0")
        .expect("an xz payload");
    let payload = dir.path().join("payload.xz");
    std::fs::write(&payload, &rpm_bytes[start..]).unwrap();
    let kubelet_block = |blocks: Vec<(u64, String, Vec<u8>)>| {
        let (_, flags, bytes) = blocks
            .into_iter()
            .find(|(size, _, _)| *size == kubelet.len() as u64)
            .unwrap_or_else(|| panic!("no block holds exactly the kubelet"));
        assert_eq!(
            flags, "cu",
            "both sizes in the block header, as xz -T writes them"
        );
        bytes
    };
    assert!(
        kubelet_block(xz_blocks(&data)) == kubelet_block(xz_blocks(&payload)),
        "the same compressed bytes in the deb and the RPM"
    );
    assert_eq!(
        ok(
            "rpm",
            &[
                "-qp",
                "--qf",
                "%{PAYLOADCOMPRESSOR} %{PAYLOADFLAGS}",
                &s(&rpm)
            ]
        ),
        "xz 6"
    );
}

fn ok_bytes(program: &str, args: &[&str]) -> Vec<u8> {
    let out = run(program, args);
    assert!(out.status.success(), "{program} {args:?}");
    out.stdout
}
