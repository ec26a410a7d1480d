//! Test images without Docker: `docker save` archives written as Docker writes them
//! (`manifest.json`, the configuration, one `layer.tar` per layer), with the `tar` and `sha2`
//! crates; skopeo, not krel, then judges what krel pushed from them.

use std::path::Path;

use sha2::{Digest, Sha256};

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, bytes) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, name, *bytes)
            .expect("adding a file to a tar");
    }
    builder.into_inner().expect("finishing a tar")
}

/// Writes a `docker save` archive of one image for `linux/<arch>`: one layer per entry of
/// `layers` (each a tar of one file `name` with the given content), tagged `repo_tag`.
pub fn docker_archive(path: &Path, arch: &str, repo_tag: &str, layers: &[(&str, &[u8])]) {
    let layer_tars: Vec<Vec<u8>> = layers
        .iter()
        .map(|(name, bytes)| tar_of(&[(name, bytes)]))
        .collect();
    let diff_ids: Vec<String> = layer_tars
        .iter()
        .map(|t| format!("sha256:{}", sha256(t)))
        .collect();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "config": {"Entrypoint": ["/app"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "krel tests"}],
    }))
    .expect("a configuration");
    let config_name = format!("{}.json", sha256(&config));
    let layer_names: Vec<String> = layer_tars
        .iter()
        .map(|t| format!("{}/layer.tar", sha256(t)))
        .collect();
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": config_name,
        "RepoTags": [repo_tag],
        "Layers": layer_names,
    }]))
    .expect("a manifest");
    let mut files: Vec<(&str, &[u8])> = vec![("manifest.json", &manifest), (&config_name, &config)];
    for (name, tar) in layer_names.iter().zip(&layer_tars) {
        files.push((name, tar));
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("creating the image directory");
    }
    std::fs::write(path, tar_of(&files)).expect("writing a docker save archive");
}

/// An unencrypted ECDSA P-256 key pair made by openssl: `DIR/NAME.key` and `DIR/NAME.pub`.
pub fn openssl_p256_key(dir: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let private = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    let run = |args: &[&str]| {
        let status = std::process::Command::new("openssl")
            .args(args)
            .status()
            .expect("running openssl");
        assert!(status.success(), "openssl {args:?}");
    };
    let (private_text, public_text) = (private.display().to_string(), public.display().to_string());
    run(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        &private_text,
    ]);
    run(&[
        "pkey",
        "-pubout",
        "-in",
        &private_text,
        "-out",
        &public_text,
    ]);
    (private, public)
}

/// The manifest at `reference` (`HOST/REPO:TAG` or `@DIGEST`) exactly as skopeo reads it from
/// the registry (plain HTTP): the bytes, whose SHA-256 is the digest.
pub fn skopeo_raw(reference: &str) -> Vec<u8> {
    let out = std::process::Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{reference}"),
        ])
        .output()
        .expect("running skopeo (scripts/install-test-deps)");
    assert!(
        out.status.success(),
        "skopeo inspect --raw {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
