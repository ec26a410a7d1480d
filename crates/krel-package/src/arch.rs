//! Architectures: Go/Kubernetes names (`amd64`, `arm64`, `ppc64le`, `s390x`) and what Debian and
//! RPM call each one.

use std::fmt;
use std::str::FromStr;

/// A Linux architecture krel builds packages for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    /// x86-64.
    Amd64,
    /// 64-bit ARM.
    Arm64,
    /// 64-bit POWER, little-endian.
    Ppc64le,
    /// IBM Z.
    S390x,
}

impl Arch {
    /// Every architecture, in the order Kubernetes lists them.
    pub const ALL: [Arch; 4] = [Arch::Amd64, Arch::Arm64, Arch::Ppc64le, Arch::S390x];

    /// The Go / Kubernetes name, used in release trees (`bin/linux/<go>/kubelet`).
    pub fn go(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
            Arch::Ppc64le => "ppc64le",
            Arch::S390x => "s390x",
        }
    }

    /// What people call it in messages: `x86-64`, `arm64`, `ppc64le`, `s390x`.
    pub fn describe(self) -> &'static str {
        match self {
            Arch::Amd64 => "x86-64",
            Arch::Arm64 => "arm64 (aarch64)",
            Arch::Ppc64le => "ppc64le",
            Arch::S390x => "s390x",
        }
    }

    /// Debian's name (`Architecture:` field, `binary-<deb>` directories).
    pub fn deb(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
            Arch::Ppc64le => "ppc64el",
            Arch::S390x => "s390x",
        }
    }

    /// RPM's name (`Arch` tag, file names, repository directories).
    pub fn rpm(self) -> &'static str {
        match self {
            Arch::Amd64 => "x86_64",
            Arch::Arm64 => "aarch64",
            Arch::Ppc64le => "ppc64le",
            Arch::S390x => "s390x",
        }
    }
}

/// What an ELF file's header says it runs on, when the file is ELF: `Some(Ok(arch))` for an
/// architecture krel builds for, `Some(Err(description))` for another one, `None` for a file
/// that is not ELF (a script, data).
pub fn elf_arch(head: &[u8]) -> Option<Result<Arch, String>> {
    if head.len() < 20 || !head.starts_with(b"\x7fELF") {
        return None;
    }
    let little = head[5] == 1;
    let machine = if little {
        u16::from_le_bytes([head[18], head[19]])
    } else {
        u16::from_be_bytes([head[18], head[19]])
    };
    let bits = if head[4] == 2 { 64 } else { 32 };
    Some(match (machine, little, bits) {
        (62, true, 64) => Ok(Arch::Amd64),
        (183, true, 64) => Ok(Arch::Arm64),
        (21, true, 64) => Ok(Arch::Ppc64le),
        (22, false, 64) => Ok(Arch::S390x),
        (3, _, _) => Err("32-bit x86".into()),
        (40, _, _) => Err("32-bit ARM".into()),
        (21, false, _) => Err("big-endian 64-bit POWER".into()),
        (62 | 183 | 21 | 22, _, 32) => Err(format!("a 32-bit build of machine {machine}")),
        (other, _, _) => Err(format!("ELF machine {other}")),
    })
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.go())
    }
}

/// An architecture name krel does not know.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown architecture `{0}`: use amd64, arm64, ppc64le or s390x (Debian and RPM names are accepted too)")]
pub struct UnknownArch(pub String);

impl FromStr for Arch {
    type Err = UnknownArch;

    /// Accepts the Go, Debian and RPM names of each architecture.
    fn from_str(name: &str) -> Result<Arch, UnknownArch> {
        match name.trim() {
            "amd64" | "x86_64" => Ok(Arch::Amd64),
            "arm64" | "aarch64" => Ok(Arch::Arm64),
            "ppc64le" | "ppc64el" => Ok(Arch::Ppc64le),
            "s390x" => Ok(Arch::S390x),
            other => Err(UnknownArch(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_each_format() {
        let arch: Arch = "ppc64le".parse().expect("known");
        assert_eq!((arch.deb(), arch.rpm()), ("ppc64el", "ppc64le"));
        assert_eq!("x86_64".parse::<Arch>().expect("rpm name"), Arch::Amd64);
        assert_eq!("aarch64".parse::<Arch>().expect("rpm name").deb(), "arm64");
        let err = "i386".parse::<Arch>().expect_err("unknown");
        assert!(err.to_string().contains("`i386`"), "{err}");
    }
}
