//! Storage locations: `gs://bucket/prefix`, `s3://bucket/prefix`, `file:///path`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::StorageError;

/// Where objects go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A directory on this machine; object keys are relative paths under it.
    File {
        /// The directory (absolute): the "bucket".
        root: PathBuf,
        /// A key prefix under it (no leading or trailing `/`; empty from a parsed URL).
        prefix: String,
    },
    /// A Google Cloud Storage bucket and key prefix.
    Gcs {
        /// The bucket.
        bucket: String,
        /// The key prefix (no leading or trailing `/`; may be empty).
        prefix: String,
    },
    /// An S3 bucket and key prefix.
    S3 {
        /// The bucket.
        bucket: String,
        /// The key prefix (no leading or trailing `/`; may be empty).
        prefix: String,
    },
}

impl Location {
    /// The object key for a path relative to the pushed directory.
    pub fn key(&self, relative: &str) -> String {
        match self {
            Location::File { prefix, .. }
            | Location::Gcs { prefix, .. }
            | Location::S3 { prefix, .. }
                if prefix.is_empty() =>
            {
                relative.to_string()
            }
            Location::File { prefix, .. }
            | Location::Gcs { prefix, .. }
            | Location::S3 { prefix, .. } => format!("{prefix}/{relative}"),
        }
    }

    /// The location of `relative` under this one (`gs://b/stage` + `v1` = `gs://b/stage/v1`),
    /// in the same bucket, so one [`crate::Store`] serves both.
    pub fn join(&self, relative: &str) -> Location {
        let relative = relative.trim_matches('/');
        let extend = |prefix: &str| {
            if relative.is_empty() {
                prefix.to_string()
            } else {
                self.key(relative)
            }
        };
        match self {
            Location::File { root, prefix } => Location::File {
                root: root.clone(),
                prefix: extend(prefix),
            },
            Location::Gcs { bucket, prefix } => Location::Gcs {
                bucket: bucket.clone(),
                prefix: extend(prefix),
            },
            Location::S3 { bucket, prefix } => Location::S3 {
                bucket: bucket.clone(),
                prefix: extend(prefix),
            },
        }
    }

    /// The URL of one object.
    pub fn object_url(&self, key: &str) -> String {
        match self {
            Location::File { root, .. } => {
                format!(
                    "file://{}/{key}",
                    root.display().to_string().trim_end_matches('/')
                )
            }
            Location::Gcs { bucket, .. } => format!("gs://{bucket}/{key}"),
            Location::S3 { bucket, .. } => format!("s3://{bucket}/{key}"),
        }
    }
}

fn bucket_and_prefix(url: &str, rest: &str) -> Result<(String, String), StorageError> {
    let bad = |reason: &str| StorageError::BadLocation {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let valid_bucket = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
    if !valid_bucket {
        return Err(bad(
            "the bucket name must be 3-63 characters of a-z, 0-9, '-', '_' and '.'",
        ));
    }
    let prefix = prefix.trim_matches('/');
    if prefix.split('/').any(|part| part == "." || part == "..") || prefix.contains("//") {
        return Err(bad("the prefix must not contain empty, `.` or `..` parts"));
    }
    Ok((bucket.to_string(), prefix.to_string()))
}

impl FromStr for Location {
    type Err = StorageError;

    fn from_str(url: &str) -> Result<Location, StorageError> {
        if let Some(rest) = url.strip_prefix("gs://") {
            let (bucket, prefix) = bucket_and_prefix(url, rest)?;
            return Ok(Location::Gcs { bucket, prefix });
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = bucket_and_prefix(url, rest)?;
            return Ok(Location::S3 { bucket, prefix });
        }
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(StorageError::BadLocation {
                    url: url.to_string(),
                    reason: "a file:// URL needs an absolute path (file:///srv/bucket)".into(),
                });
            }
            let trimmed = path.trim_end_matches('/');
            let root = if trimmed.is_empty() { "/" } else { trimmed };
            return Ok(Location::File {
                root: PathBuf::from(root),
                prefix: String::new(),
            });
        }
        Err(StorageError::BadLocation {
            url: url.to_string(),
            reason: "it does not start with gs://, s3:// or file://".into(),
        })
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File { root, prefix } if prefix.is_empty() => {
                write!(f, "file://{}", root.display())
            }
            Location::File { root, prefix } => write!(
                f,
                "file://{}/{prefix}",
                root.display().to_string().trim_end_matches('/')
            ),
            Location::Gcs { bucket, prefix } => write!(f, "gs://{bucket}/{prefix}"),
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_schemes() {
        assert_eq!(
            "gs://kubernetes-release/release/v1.30.0/"
                .parse::<Location>()
                .unwrap(),
            Location::Gcs {
                bucket: "kubernetes-release".into(),
                prefix: "release/v1.30.0".into()
            }
        );
        assert_eq!(
            "s3://bucket".parse::<Location>().unwrap(),
            Location::S3 {
                bucket: "bucket".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            "file:///srv/bucket/".parse::<Location>().unwrap(),
            Location::File {
                root: "/srv/bucket".into(),
                prefix: String::new(),
            }
        );
        let file: Location = "file:///srv/bucket".parse().unwrap();
        let stage = file.join("stage").join("v1.0.0");
        assert_eq!(stage.to_string(), "file:///srv/bucket/stage/v1.0.0");
        assert_eq!(stage.key("a/b"), "stage/v1.0.0/a/b");
        assert_eq!(stage.object_url("stage/x"), "file:///srv/bucket/stage/x");
        assert_eq!(gs_join(), "gs://b-1/a/b/release/v1");
        let gs: Location = "gs://b-1/a/b".parse().unwrap();
        assert_eq!(gs.key("bin/kubectl"), "a/b/bin/kubectl");
        assert_eq!(gs.object_url("a/b/x"), "gs://b-1/a/b/x");
    }

    fn gs_join() -> String {
        let gs: Location = "gs://b-1/a/b".parse().unwrap();
        gs.join("/release/v1/").to_string()
    }

    #[test]
    fn rejects_what_is_not_a_location() {
        for (url, reason) in [
            ("/tmp/x", "does not start with"),
            ("file://relative/x", "absolute path"),
            ("gs://UPPER/x", "bucket name"),
            ("gs://ab", "bucket name"),
            ("s3://bucket/a/../b", "prefix"),
            ("https://example.com/x", "does not start with"),
        ] {
            let err = url.parse::<Location>().unwrap_err().to_string();
            assert!(err.contains(reason), "{url}: {err}");
        }
    }
}
