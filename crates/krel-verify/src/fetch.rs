//! Reading a published version as a downloader does, into a directory [`crate::verify_release`]
//! then checks. The signed provenance says what the version holds: `provenance.json` and its
//! signatures are fetched first, then every file it names (artifacts, checksums, SBOMs,
//! signatures, bundles). A file the server lacks stays absent, and the checks name it.
//! Works the same over HTTPS (plain HTTP only on loopback) and from a bucket (`gs://`, `s3://`,
//! `file://`) through krel's stores.

use std::path::{Path, PathBuf};

use futures_util::{stream, StreamExt};
use krel_storage::{Location, Store, StoreEnv};

use crate::VerifyError;

/// Where a published version is read from.
pub enum Source {
    /// `https://…/release/v1.2.3` (or `http://127.0.0.1:…` for tests).
    Http(krel_storage::http::HttpSource),
    /// A bucket location and its store.
    Bucket {
        /// `gs://bucket/release/v1.2.3`, …
        location: Location,
        /// The store.
        store: Box<Store>,
    },
}

fn usage(location: &str, reason: impl std::fmt::Display) -> VerifyError {
    VerifyError::Location {
        location: location.to_string(),
        reason: reason.to_string(),
    }
}

impl Source {
    /// The source of `location`: an http(s) URL or a bucket URL.
    pub async fn open(location: &str, env: &StoreEnv) -> Result<Source, VerifyError> {
        let trimmed = location.trim_end_matches('/');
        if trimmed.starts_with("https://") || trimmed.starts_with("http://") {
            return krel_storage::http::HttpSource::open(trimmed)
                .map(Source::Http)
                .map_err(|err| usage(location, err));
        }
        let parsed: Location = trimmed.parse().map_err(|err| usage(location, err))?;
        let store = Store::open(&parsed, env)
            .await
            .map_err(|err| usage(location, err))?;
        Ok(Source::Bucket {
            location: parsed,
            store: Box::new(store),
        })
    }

    /// Fetches `relative` to `dest/relative`; false when the source does not have it.
    async fn fetch(&self, relative: &str, dest: &Path) -> Result<bool, String> {
        let target = dest.join(relative);
        match self {
            Source::Bucket { location, store } => store
                .download(&location.key(relative), &target)
                .await
                .map_err(|err| format!("{relative}: {err}")),
            Source::Http(http) => http.download(relative, &target).await,
        }
    }
}

/// The provenance and its signatures: fetched before anything else.
const PROVENANCE_FILES: [&str; 4] = [
    "provenance.json",
    "provenance.json.sig",
    "provenance.json.sigstore.json",
    "provenance.json.intoto.sigstore.json",
];

/// Downloads the version at `source` into `dest`, `jobs` files at a time. Returns how many
/// files were fetched. No provenance is an error: without it nothing says what to fetch.
pub async fn download(
    source: &Source,
    location: &str,
    dest: &Path,
    jobs: usize,
) -> Result<usize, VerifyError> {
    let mut fetched = 0;
    for name in PROVENANCE_FILES {
        if source
            .fetch(name, dest)
            .await
            .map_err(|e| usage(location, e))?
        {
            fetched += 1;
        } else if name == "provenance.json" {
            return Err(usage(
                location,
                "there is no provenance.json: not a version krel published (or the wrong URL: it is the version's directory, such as …/release/v1.2.3)",
            ));
        }
    }
    let bytes =
        std::fs::read(dest.join("provenance.json")).map_err(|source| VerifyError::Read {
            path: dest.join("provenance.json"),
            source,
        })?;
    let statement = krel_attest::Statement::parse(&bytes, "provenance.json")
        .map_err(|err| usage(location, err))?;
    let names: Vec<String> = statement
        .subjects
        .keys()
        .filter(|name| safe_relative(name))
        .cloned()
        .collect();
    let results: Vec<Result<bool, String>> = stream::iter(names.iter())
        .map(|name| source.fetch(name, dest))
        .buffer_unordered(jobs.max(1))
        .collect()
        .await;
    for result in results {
        if result.map_err(|e| usage(location, e))? {
            fetched += 1;
        }
    }
    Ok(fetched)
}

/// A subject name that is a file under the version (not `image:…`, no `..`, not absolute).
fn safe_relative(name: &str) -> bool {
    !name.starts_with("image:")
        && !name.starts_with('/')
        && !name.contains('\\')
        && PathBuf::from(name)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_plain_relative_paths() {
        assert!(safe_relative("bin/linux/amd64/kubectl"));
        for name in ["image:widget", "/etc/passwd", "../x", "a/../../x", "a\\b"] {
            assert!(!safe_relative(name), "{name}");
        }
    }

    #[tokio::test]
    async fn plain_http_elsewhere_is_refused() {
        let env = StoreEnv::from_env(|_| None);
        let err = Source::open("http://127.evil.example/release/v1", &env)
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("plain http is refused"), "{err}");
    }
}
