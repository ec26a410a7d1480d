//! Version markers: small objects (`release/stable-1.30.txt`) naming the newest version of a
//! kind, which only ever move forward.
//!
//! [`plan_marker`] reads a marker and says whether a version would move it; [`Store::set_marker`]
//! writes it with a precondition on what was read (generation, ETag or content), so two
//! releases writing at once cannot move a marker backwards: the loser re-reads and keeps the
//! newer version.

use std::path::Path;

use krel_version::Version;

use crate::digest::local_digests;
use crate::push::ObjectUpload;
use crate::{Location, Precondition, StorageError, Store};

/// One marker to move forward.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MarkerUpdate {
    /// Object key (`release/latest-1.30.txt`).
    pub key: String,
    /// Its URL, for messages and plans.
    pub url: String,
    /// The version it should name.
    pub version: String,
    /// What it named when the plan was made (`None`: absent).
    pub current: Option<String>,
}

/// What setting a marker did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MarkerOutcome {
    /// The marker now names the version.
    Set,
    /// It named this version, or a newer one, already; left alone.
    Kept(String),
}

/// The single door through which krel writes version markers.
pub trait MarkerWriter {
    /// Moves the marker to `update.version` unless it names a newer version by then.
    fn set(&self, update: &MarkerUpdate) -> Result<MarkerOutcome, StorageError>;
}

/// A [`MarkerWriter`] over a [`Store`], blocking on a Tokio runtime.
pub struct BlockingMarkerWriter<'a> {
    /// The runtime the store was opened on.
    pub runtime: &'a tokio::runtime::Runtime,
    /// The store.
    pub store: &'a Store,
    /// Where temporary marker files are written.
    pub scratch: &'a Path,
}

impl MarkerWriter for BlockingMarkerWriter<'_> {
    fn set(&self, update: &MarkerUpdate) -> Result<MarkerOutcome, StorageError> {
        self.runtime
            .block_on(self.store.set_marker(update, self.scratch))
    }
}

/// The marker names of a version: `latest.txt`, `latest-X.txt`, `latest-X.Y.txt` for every
/// release, and `stable.txt`, `stable-X.txt`, `stable-X.Y.txt` too for an official one (as
/// dl.k8s.io/release/ serves them).
pub fn marker_names(version: &Version) -> Vec<String> {
    let mut kinds = vec!["latest"];
    if version.is_official() {
        kinds.push("stable");
    }
    let mut names = Vec::new();
    for kind in kinds {
        names.push(format!("{kind}.txt"));
        names.push(format!("{kind}-{}.txt", version.major));
        names.push(format!("{kind}-{}.{}.txt", version.major, version.minor));
    }
    names
}

/// Reads the marker `name` under `location` and returns the update that moves it to
/// `version`, or `None` when it already names `version` or a newer one. Reads only.
pub async fn plan_marker(
    store: &Store,
    location: &Location,
    name: &str,
    version: &Version,
) -> Result<Option<MarkerUpdate>, StorageError> {
    let key = location.key(name);
    let current = read_marker(store, &key).await?;
    if current.as_ref().is_some_and(|(_, v)| v >= version) {
        return Ok(None);
    }
    Ok(Some(MarkerUpdate {
        url: location.object_url(&key),
        key,
        version: version.to_string(),
        current: current.map(|(text, _)| text),
    }))
}

/// A marker's text and version. A marker that does not hold a version is an error: krel will
/// not replace what it cannot compare.
async fn read_marker(store: &Store, key: &str) -> Result<Option<(String, Version)>, StorageError> {
    let Some(bytes) = store.read(key).await? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&bytes).trim().to_string();
    match text.parse::<Version>() {
        Ok(version) => Ok(Some((text, version))),
        Err(err) => Err(StorageError::BadMarker {
            key: key.to_string(),
            content: text.chars().take(80).collect(),
            reason: err.to_string(),
        }),
    }
}

impl Store {
    /// Moves a marker forward (see the module documentation): re-reads it, writes the version
    /// with a precondition on what was read, and on a lost race reads again.
    pub async fn set_marker(
        &self,
        update: &MarkerUpdate,
        scratch: &Path,
    ) -> Result<MarkerOutcome, StorageError> {
        let version: Version = update
            .version
            .parse()
            .map_err(|err| StorageError::Request {
                action: "setting the version marker",
                key: update.key.clone(),
                reason: format!("`{}` is not a version: {err}", update.version),
                status: None,
                cause: crate::Cause::Other,
            })?;
        std::fs::create_dir_all(scratch).map_err(StorageError::io("creating", scratch))?;
        let mut file = tempfile::NamedTempFile::new_in(scratch)
            .map_err(StorageError::io("creating a temporary file in", scratch))?;
        std::io::Write::write_all(&mut file, format!("{version}\n").as_bytes())
            .map_err(StorageError::io("writing", file.path()))?;
        let digests =
            local_digests(file.path()).map_err(StorageError::io("reading", file.path()))?;
        for _ in 0..5 {
            // The precondition comes from a stat made *before* the read: a marker written in
            // between changes the generation (or content), so the write below is refused and
            // the loop reads again, instead of overwriting a newer version unseen.
            let precondition = match self.stat(&update.key).await? {
                None => Precondition::Absent,
                Some(info) => crate::push::replace_condition(&info),
            };
            if let Some((text, current)) = read_marker(self, &update.key).await? {
                if current >= version {
                    return Ok(MarkerOutcome::Kept(text));
                }
            }
            let upload = ObjectUpload {
                source: file.path().to_path_buf(),
                key: update.key.clone(),
                url: update.url.clone(),
                digests,
                precondition,
            };
            match self.put(&upload).await {
                Ok(_) => return Ok(MarkerOutcome::Set),
                Err(StorageError::Conflict { .. }) => continue,
                Err(err) => return Err(err),
            }
        }
        Err(StorageError::Conflict {
            key: update.key.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_releases_move_stable_and_latest() {
        let rc: Version = "v1.30.1-rc.0".parse().unwrap();
        assert_eq!(
            marker_names(&rc),
            ["latest.txt", "latest-1.txt", "latest-1.30.txt"]
        );
        let official: Version = "v1.30.1".parse().unwrap();
        assert_eq!(marker_names(&official).len(), 6);
        assert!(marker_names(&official).contains(&"stable-1.30.txt".to_string()));
    }

    #[tokio::test]
    async fn markers_only_move_forward() {
        let dir = tempfile::tempdir().unwrap();
        let location: Location = format!("file://{}/bucket/release", dir.path().display())
            .parse()
            .unwrap();
        let store = Store::open(&location, &crate::StoreEnv::default())
            .await
            .unwrap();
        let scratch = dir.path().join("scratch");
        let v = |s: &str| s.parse::<Version>().unwrap();
        let update = plan_marker(&store, &location, "stable.txt", &v("v1.30.2"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(update.current, None);
        assert_eq!(
            store.set_marker(&update, &scratch).await.unwrap(),
            MarkerOutcome::Set
        );
        // An older patch release plans nothing, and a stale plan does not move it back.
        assert!(plan_marker(&store, &location, "stable.txt", &v("v1.30.1"))
            .await
            .unwrap()
            .is_none());
        let stale = MarkerUpdate {
            version: "v1.30.1".into(),
            ..update.clone()
        };
        assert_eq!(
            store.set_marker(&stale, &scratch).await.unwrap(),
            MarkerOutcome::Kept("v1.30.2".into())
        );
        let text = std::fs::read_to_string(dir.path().join("bucket/release/stable.txt")).unwrap();
        assert_eq!(text, "v1.30.2\n");
        // Something that is not a version is not overwritten.
        std::fs::write(dir.path().join("bucket/release/latest.txt"), "garbage").unwrap();
        let err = plan_marker(&store, &location, "latest.txt", &v("v1.30.2"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not a release version"), "{err}");
    }
}
