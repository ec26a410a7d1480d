//! Reading a published repository over HTTPS for `krel kubepkg verify`: what a client would
//! fetch (the suite's `InRelease`, `Release`, `Release.gpg`, the indexes `Release` names, the
//! packages they list; `repomd.xml` and its signature, the metadata it names, the packages
//! `primary` lists) is downloaded into a directory laid out as the repository, which the
//! local checks then read. A file the server does not have is simply absent there, and the
//! checks name it.

use std::path::Path;

use crate::KubepkgError;

/// Downloads the repository at `base` (the URL of one channel and minor, holding `deb/` and
/// `rpm/`) into `dest`; `suite` is the apt suite (the channel's name). Plain HTTP is used
/// only for a loopback host.
pub async fn mirror(base: &str, suite: &str, dest: &Path) -> Result<usize, KubepkgError> {
    let base = base.trim_end_matches('/');
    let loopback = ["http://127.", "http://localhost", "http://[::1]"]
        .iter()
        .any(|prefix| base.starts_with(prefix));
    if !base.starts_with("https://") && !loopback {
        return Err(KubepkgError::Usage(format!(
            "{base}: a repository is read over https:// (plain http only on this machine)"
        )));
    }
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(300))
        .build()
        .map_err(|err| KubepkgError::Usage(format!("{base}: {err}")))?;
    let fetcher = Fetcher { client, base, dest };
    let mut fetched = 0;
    // apt: the suite, the indexes Release names, the packages they list.
    let dist = format!("deb/dists/{suite}");
    for file in ["InRelease", "Release", "Release.gpg"] {
        fetched += fetcher.get(&format!("{dist}/{file}")).await?.is_some() as usize;
    }
    let release = std::fs::read_to_string(dest.join(&dist).join("Release")).unwrap_or_default();
    for (rel, _) in crate::verify::release_sha256(&release) {
        let path = format!("{dist}/{rel}");
        if let Some(bytes) = fetcher.get(&path).await? {
            fetched += 1;
            if rel.ends_with("/Packages") {
                for stanza in String::from_utf8_lossy(&bytes).split("\n\n") {
                    if let Some(file) = krel_pkgrepo::apt::field(stanza, "Filename") {
                        fetched += fetcher.get(&format!("deb/{file}")).await?.is_some() as usize;
                    }
                }
            }
        }
    }
    // yum: repomd.xml and its signature, the metadata it names, the packages primary lists.
    for file in ["repodata/repomd.xml", "repodata/repomd.xml.asc"] {
        fetched += fetcher.get(&format!("rpm/{file}")).await?.is_some() as usize;
    }
    let repomd = std::fs::read_to_string(dest.join("rpm/repodata/repomd.xml")).unwrap_or_default();
    for data in repomd.split("<location href=\"").skip(1) {
        if let Some(href) = data.split('"').next() {
            fetched += fetcher.get(&format!("rpm/{href}")).await?.is_some() as usize;
        }
    }
    for rpm in krel_pkgrepo::yum::listed(&dest.join("rpm"))? {
        fetched += fetcher.get(&format!("rpm/{}", rpm.href)).await?.is_some() as usize;
    }
    Ok(fetched)
}

struct Fetcher<'a> {
    client: reqwest::Client,
    base: &'a str,
    dest: &'a Path,
}

impl Fetcher<'_> {
    /// Downloads `rel` into the mirror; `None` when the server does not have it.
    async fn get(&self, rel: &str) -> Result<Option<Vec<u8>>, KubepkgError> {
        if rel.split('/').any(|part| part == ".." || part.is_empty()) {
            return Ok(None);
        }
        let url = format!("{}/{rel}", self.base);
        let failed = |err: String| KubepkgError::Usage(format!("reading {url}: {err}"));
        let response = self
            .client
            .get(&url)
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = response
            .error_for_status()
            .map_err(|e| failed(e.to_string()))?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| failed(e.to_string()))?
            .to_vec();
        let path = self.dest.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(KubepkgError::io("creating", parent))?;
        }
        std::fs::write(&path, &bytes).map_err(KubepkgError::io("writing", &path))?;
        Ok(Some(bytes))
    }
}
