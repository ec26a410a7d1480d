//! One push at a time per destination: a lock object taken with a precondition.
//!
//! `krel push --nomock` takes the lock of its destination before it plans, and releases it when
//! it is done. The lock is an object at the bucket's root, `.krel-locks/push-<prefix>.lock`
//! (outside the destination, so it is never part of what is published), holding who took it and
//! until when. Taking it is a write that only succeeds when the object is absent, free, or
//! expired, with the store's own precondition (absent / generation / ETag / content) on what
//! was read, so of two pushes that race for it exactly one wins; the other is refused
//! ([`StorageError::Locked`]) before it writes anything. Releasing writes it back as free,
//! again only if it is still this run's. A run that dies without releasing holds the lock until
//! it expires; a live run renews it while it works.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::digest::local_digests;
use crate::push::{replace_condition, ObjectUpload};
use crate::{Location, Precondition, StorageError, Store};

/// This run's lock record, held from `now` for `ttl`.
fn held_until(lock: &PushLock, now: i64, ttl: Duration) -> LockRecord {
    LockRecord {
        since: now,
        expires: now + ttl.as_secs() as i64,
        ..lock.record.clone()
    }
}

/// How long a lock holds without being renewed.
pub const LOCK_TTL: Duration = Duration::from_secs(15 * 60);

/// What the lock object holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRecord {
    /// `held` or `free`.
    pub state: String,
    /// The run that wrote it (random).
    pub owner: String,
    /// Who: `user@host pid N`, for messages.
    pub holder: String,
    /// The destination it guards.
    pub destination: String,
    /// When it was taken or renewed (seconds since 1970).
    pub since: i64,
    /// When it stops holding unless renewed.
    pub expires: i64,
    /// The machine it was taken on.
    #[serde(default)]
    pub host: String,
    /// The process that took it.
    #[serde(default)]
    pub pid: u32,
}

impl LockRecord {
    /// True while it holds: taken, not expired, and (when it was taken on this machine) its
    /// process still alive. A push killed outright frees its lock for a rerun on its machine
    /// at once, and for other machines when it expires.
    fn holds(&self, now: i64, host: &str) -> bool {
        let dead_here = self.host == host && self.pid != 0 && !process_alive(self.pid);
        self.state == "held" && self.expires > now && !dead_here
    }
}

/// Whether process `pid` runs on this machine (Linux: `/proc/PID` exists).
fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// This machine's name, for lock records.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|name| name.trim().to_string())
        .unwrap_or_default()
}

/// A lock this run holds.
#[derive(Debug)]
pub struct PushLock {
    key: String,
    url: String,
    record: LockRecord,
}

impl PushLock {
    /// The lock object's URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// The key of the lock guarding `location`.
pub fn lock_key(location: &Location) -> String {
    let prefix = location.key("");
    let prefix = prefix.trim_matches('/');
    let name: String = if prefix.is_empty() {
        "root".into()
    } else {
        prefix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!(".krel-locks/push-{name}.lock")
}

impl Store {
    /// Takes the lock of `location` for `holder` (see the module documentation).
    pub async fn take_lock(
        &self,
        location: &Location,
        holder: &str,
        scratch: &Path,
        now: i64,
    ) -> Result<PushLock, StorageError> {
        let key = lock_key(location);
        let url = location.object_url(&key);
        let record = LockRecord {
            state: "held".into(),
            owner: random_owner()?,
            holder: holder.into(),
            destination: location.to_string(),
            since: now,
            expires: now + LOCK_TTL.as_secs() as i64,
            host: host_name(),
            pid: std::process::id(),
        };
        for _ in 0..3 {
            let precondition = match self.stat(&key).await? {
                None => Precondition::Absent,
                Some(info) => {
                    if let Some(other) = self.read_lock(&key).await? {
                        if other.holds(now, &record.host) {
                            return Err(StorageError::Locked {
                                destination: location.to_string(),
                                holder: other.holder,
                                since: other.since,
                                expires: other.expires,
                            });
                        }
                    }
                    replace_condition(&info)
                }
            };
            match self
                .write_lock(&key, &url, &record, precondition, scratch)
                .await
            {
                Ok(()) => return Ok(PushLock { key, url, record }),
                Err(StorageError::Conflict { .. }) => continue,
                Err(err) => return Err(err),
            }
        }
        Err(StorageError::Conflict { key })
    }

    /// Extends the lock by [`LOCK_TTL`] from `now`, if it is still this run's.
    pub async fn renew_lock(
        &self,
        lock: &mut PushLock,
        scratch: &Path,
        now: i64,
    ) -> Result<(), StorageError> {
        let record = held_until(lock, now, LOCK_TTL);
        self.rewrite_own_lock(lock, &record, scratch).await?;
        lock.record = record;
        Ok(())
    }

    /// Makes the lock expire `within` from `now` (still held until then), if it is still this
    /// run's: what an interrupted run does, so the next push anywhere can start as soon as this
    /// process has surely stopped writing.
    pub async fn expire_lock(
        &self,
        lock: &PushLock,
        scratch: &Path,
        now: i64,
        within: Duration,
    ) -> Result<(), StorageError> {
        self.rewrite_own_lock(lock, &held_until(lock, now, within), scratch)
            .await
    }

    /// Marks the lock free, if it is still this run's.
    pub async fn release_lock(
        &self,
        lock: PushLock,
        scratch: &Path,
        now: i64,
    ) -> Result<(), StorageError> {
        let record = LockRecord {
            state: "free".into(),
            since: now,
            expires: now,
            ..lock.record.clone()
        };
        self.rewrite_own_lock(&lock, &record, scratch).await
    }

    /// Writes `record` over the lock when it still holds this run's record (stat first: a
    /// write in between changes what the precondition names, and the write is refused).
    async fn rewrite_own_lock(
        &self,
        lock: &PushLock,
        record: &LockRecord,
        scratch: &Path,
    ) -> Result<(), StorageError> {
        let lost = || StorageError::LockLost {
            url: lock.url.clone(),
        };
        let info = self.stat(&lock.key).await?.ok_or_else(lost)?;
        match self.read_lock(&lock.key).await? {
            Some(current) if current.owner == lock.record.owner => {}
            _ => return Err(lost()),
        }
        let precondition = replace_condition(&info);
        match self
            .write_lock(&lock.key, &lock.url, record, precondition, scratch)
            .await
        {
            Err(StorageError::Conflict { .. }) => Err(lost()),
            other => other,
        }
    }

    async fn read_lock(&self, key: &str) -> Result<Option<LockRecord>, StorageError> {
        Ok(self
            .read(key)
            .await?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    async fn write_lock(
        &self,
        key: &str,
        url: &str,
        record: &LockRecord,
        precondition: Precondition,
        scratch: &Path,
    ) -> Result<(), StorageError> {
        std::fs::create_dir_all(scratch).map_err(StorageError::io("creating", scratch))?;
        let file = tempfile::NamedTempFile::new_in(scratch)
            .map_err(StorageError::io("creating a temporary file in", scratch))?;
        let mut bytes = serde_json::to_vec_pretty(record).unwrap_or_default();
        bytes.push(b'\n');
        std::fs::write(file.path(), &bytes).map_err(StorageError::io("writing", file.path()))?;
        let digests =
            local_digests(file.path()).map_err(StorageError::io("reading", file.path()))?;
        let upload = ObjectUpload {
            source: file.path().to_path_buf(),
            key: key.into(),
            url: url.into(),
            digests,
            precondition,
        };
        self.put(&upload).await.map(|_| ())
    }
}

fn random_owner() -> Result<String, StorageError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|err| StorageError::Io {
        action: "drawing a random lock id for",
        path: Path::new(".krel-locks").to_path_buf(),
        source: std::io::Error::other(err.to_string()),
    })?;
    Ok(crate::digest::hex(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_until_release_or_expiry() {
        // The store's futures are large in debug builds: run on a heap future, a roomy stack.
        std::thread::Builder::new()
            .stack_size(32 << 20)
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(Box::pin(scenario()))
            })
            .unwrap()
            .join()
            .unwrap();
    }

    async fn scenario() {
        let dir = tempfile::tempdir().unwrap();
        let location: Location = format!("file://{}/bucket/release/v1", dir.path().display())
            .parse()
            .unwrap();
        let store = Store::open(&location, &crate::StoreEnv::default())
            .await
            .unwrap();
        let scratch = dir.path().join("scratch");
        let key = lock_key(&location);
        assert_eq!(key, ".krel-locks/push-root.lock");
        let gcs: Location = "gs://bucket/release/v1.30.0".parse().unwrap();
        assert_eq!(lock_key(&gcs), ".krel-locks/push-release_v1.30.0.lock");

        let first = store
            .take_lock(&location, "a", &scratch, 1000)
            .await
            .unwrap();
        let refused = store
            .take_lock(&location, "b", &scratch, 1001)
            .await
            .unwrap_err();
        assert!(
            matches!(refused, StorageError::Locked { ref holder, .. } if holder == "a"),
            "{refused}"
        );
        assert!(refused.to_string().contains("another push"), "{refused}");
        store.release_lock(first, &scratch, 1002).await.unwrap();

        // A holder on this machine whose process is gone (killed outright) frees it at once.
        let held = store
            .take_lock(&location, "killed", &scratch, 1003)
            .await
            .unwrap();
        let path = dir.path().join("bucket/release/v1").join(&key);
        let mut record: LockRecord =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        record.pid = u32::MAX - 1;
        std::fs::write(&path, serde_json::to_vec(&record).unwrap()).unwrap();
        drop(held);
        let mut second = store
            .take_lock(&location, "b", &scratch, 1004)
            .await
            .unwrap();
        store.renew_lock(&mut second, &scratch, 1005).await.unwrap();

        // A holder elsewhere that died: its lock expires, then another run takes it over, and
        // the dead run's late release does not free the new holder's lock.
        let mut record: LockRecord =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        record.host = "another-machine".into();
        std::fs::write(&path, serde_json::to_vec(&record).unwrap()).unwrap();
        assert!(store
            .take_lock(&location, "c", &scratch, 1006)
            .await
            .is_err());
        let later = 1005 + LOCK_TTL.as_secs() as i64 + 1;
        let third = store
            .take_lock(&location, "c", &scratch, later)
            .await
            .unwrap();
        let lost = store
            .release_lock(second, &scratch, later)
            .await
            .unwrap_err();
        assert!(matches!(lost, StorageError::LockLost { .. }), "{lost}");
        assert!(store
            .take_lock(&location, "d", &scratch, later + 1)
            .await
            .is_err());
        store
            .release_lock(third, &scratch, later + 2)
            .await
            .unwrap();
    }
}
