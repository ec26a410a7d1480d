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
    let http = krel_storage::http::HttpSource::open(base).map_err(|err| {
        KubepkgError::Usage(format!(
            "{base}: {err} (a repository is read over https://; plain http only on this machine)"
        ))
    })?;
    let fetcher = Fetcher {
        http: &http,
        base,
        dest,
    };
    let mut fetched = 0;
    // apt: the suite, the indexes Release names, the packages they list.
    let dist = format!("deb/dists/{suite}");
    for file in ["InRelease", "Release", "Release.gpg"] {
        fetched += fetcher.get(&format!("{dist}/{file}")).await? as usize;
    }
    let release = std::fs::read_to_string(dest.join(&dist).join("Release")).unwrap_or_default();
    for (rel, _) in crate::verify::release_sha256(&release) {
        let path = format!("{dist}/{rel}");
        if fetcher.get(&path).await? {
            fetched += 1;
            if rel.ends_with("/Packages") {
                let text = std::fs::read_to_string(dest.join(&path)).unwrap_or_default();
                for stanza in text.split("\n\n") {
                    if let Some(file) = krel_pkgrepo::apt::field(stanza, "Filename") {
                        fetched += fetcher.get(&format!("deb/{file}")).await? as usize;
                    }
                }
            }
        }
    }
    // yum: repomd.xml and its signature, the metadata it names, the packages primary lists.
    for file in ["repodata/repomd.xml", "repodata/repomd.xml.asc"] {
        fetched += fetcher.get(&format!("rpm/{file}")).await? as usize;
    }
    let repomd = std::fs::read_to_string(dest.join("rpm/repodata/repomd.xml")).unwrap_or_default();
    // Unreadable metadata is left for the checks to name.
    for data in krel_pkgrepo::yum::repomd_data(&repomd).unwrap_or_default() {
        fetched += fetcher.get(&format!("rpm/{}", data.href)).await? as usize;
    }
    for rpm in krel_pkgrepo::yum::listed(&dest.join("rpm"))? {
        fetched += fetcher.get(&format!("rpm/{}", rpm.href)).await? as usize;
    }
    Ok(fetched)
}

struct Fetcher<'a> {
    http: &'a krel_storage::http::HttpSource,
    base: &'a str,
    dest: &'a Path,
}

impl Fetcher<'_> {
    /// Downloads `rel` into the mirror (streamed); false when the server does not have it or
    /// the name would leave the mirror.
    async fn get(&self, rel: &str) -> Result<bool, KubepkgError> {
        if rel.split('/').any(|part| part == ".." || part.is_empty()) {
            return Ok(false);
        }
        self.http
            .download(rel, &self.dest.join(rel))
            .await
            .map_err(|err| KubepkgError::Usage(format!("reading {}/{rel}: {err}", self.base)))
    }
}
