//! Release notes from pull requests, as Kubernetes publishes them.
//!
//! - [`pr_number`]: the PR a commit message belongs to (merge, cherry-pick, revert, squash).
//! - [`note_from_pr`]: the release note in a PR's description and labels, cleaned up exactly
//!   as upstream's `pkg/notes` does (with its quirks fixed where they publish the wrong thing).
//! - [`Document`]: the notes grouped into Kubernetes' sections and rendered as the
//!   CHANGELOG section of one release (`# vX.Y.Z`, downloads, urgent notes, changes by kind,
//!   dependencies), or as JSON keyed by PR number.
//! - [`changelog_file`]: `CHANGELOG/CHANGELOG-X.Y.md` with its generated table of contents.
//! - [`maps`]: YAML overrides per PR.
//!
//! ```
//! use krel_notes::pr_number;
//! assert_eq!(pr_number("Merge pull request #76030 from a/b\n\nfix"), Some(76030));
//! assert_eq!(pr_number("Add swapoff to centos so kubelet starts (#504)"), Some(504));
//! ```

pub mod changelog_file;
mod document;
mod gather;
pub mod maps;
mod note;

pub use document::{
    dependencies_section, downloads_section, images_table, Document, DownloadFile, DownloadImage,
};
pub use gather::{notes_from_prs, pr_commits, Gathered};
pub use note::{
    cherry_pick_origin, note_from_pr, note_text, pr_number, Kind, ReleaseNote, Skip,
    CHERRY_PICK_ROBOT,
};
