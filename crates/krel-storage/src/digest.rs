//! MD5 and CRC32C of local files: what GCS and S3 report, so uploads can be compared and verified.

use std::io::Read;
use std::path::Path;

use md5::{Digest, Md5};

/// A local file's size, MD5 and CRC32C (Castagnoli).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LocalDigests {
    /// Size in bytes.
    pub size: u64,
    /// MD5 (what S3's ETag and GCS's md5Hash hold).
    #[serde(serialize_with = "hex16")]
    pub md5: [u8; 16],
    /// CRC32C (what GCS's crc32c holds).
    pub crc32c: u32,
}

fn hex16<S: serde::Serializer>(bytes: &[u8; 16], s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&hex(bytes))
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads `path` once for both digests.
pub fn local_digests(path: &Path) -> std::io::Result<LocalDigests> {
    let mut file = std::fs::File::open(path)?;
    let mut md5 = Md5::new();
    let mut crc = 0u32;
    let mut size = 0u64;
    let mut buffer = vec![0; 256 * 1024];
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        md5.update(&buffer[..n]);
        crc = crc32c::crc32c_append(crc, &buffer[..n]);
        size += n as u64;
    }
    Ok(LocalDigests {
        size,
        md5: md5.finalize().into(),
        crc32c: crc,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "123456789").unwrap();
        let d = super::local_digests(&path).unwrap();
        assert_eq!(d.crc32c, 0xe306_9283, "the CRC32C check value");
        assert_eq!(super::hex(&d.md5), "25f9e794323b453885f5181f1b624d0b");
        assert_eq!(d.size, 9);
    }
}
