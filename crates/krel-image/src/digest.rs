//! SHA-256 content digests, `sha256:<64 hex>`.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

/// A content digest (only SHA-256, as every registry and OCI layout uses).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(String);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(sha256_hex(bytes))
    }

    /// The digest of a finished SHA-256 hash.
    pub(crate) fn of_hash(hash: &[u8]) -> Digest {
        Digest(hex::encode(hash))
    }

    /// The 64 hex digits.
    pub fn hex(&self) -> &str {
        &self.0
    }

    /// The same digest as oci-spec's type.
    pub fn to_oci(&self) -> Result<oci_spec::image::Digest, crate::ImageError> {
        self.to_string()
            .parse()
            .map_err(|err| crate::ImageError::Corrupt {
                what: self.to_string(),
                reason: format!("not a digest: {err}"),
            })
    }

    /// cosign's signature tag for this digest: `sha256-<hex>.sig`.
    pub fn signature_tag(&self) -> String {
        format!("sha256-{}.sig", self.0)
    }
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl FromStr for Digest {
    type Err = String;

    fn from_str(text: &str) -> Result<Digest, String> {
        let hex = text
            .strip_prefix("sha256:")
            .ok_or_else(|| format!("`{text}` is not a sha256: digest"))?;
        if hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Digest(hex.to_string()))
        } else {
            Err(format!(
                "`{text}` is not sha256: and 64 lower-case hex digits"
            ))
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.0)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Digest, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_sha256() {
        let digest = Digest::of(b"");
        assert_eq!(
            digest.to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(digest.to_string().parse::<Digest>().unwrap(), digest);
        assert!("sha512:00".parse::<Digest>().is_err());
        assert!("sha256:E3B0".parse::<Digest>().is_err());
        assert!(
            digest.signature_tag().starts_with("sha256-e3b0")
                && digest.signature_tag().ends_with(".sig")
        );
    }
}
