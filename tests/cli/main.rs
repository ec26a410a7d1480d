//! End-to-end tests: the real `krel` binary, run as a user would, against real git
//! repositories and bare remotes created in temporary directories.

// In tests a panic is the assertion: unwrap freely.
#![allow(clippy::unwrap_used)]

mod changelog;
mod checksum;
mod cli;
mod ff;
mod next_version;
mod push;
mod sandbox;
mod sign;
mod stage;

use krel_test_support::Krel;

/// The binary under test, with a private HOME and a clean environment.
pub fn krel() -> Krel {
    Krel::new(env!("CARGO_BIN_EXE_krel"))
}
