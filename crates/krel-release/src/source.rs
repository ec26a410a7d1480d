//! `src.tar.gz`: the source that was built, with its git objects, so that `krel release` can
//! push exactly the commits and tags `krel stage` made (upstream's archive drops `.git` while
//! release still needs its tags).
//!
//! The archive holds `<name>/` (the files of the prime version's commit) and `<name>/.git/`
//! (the workspace repository: objects, refs, tags, the release branch). Entries are sorted and
//! written with fixed owners and times, so the same repository gives the same bytes.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;

use crate::files::io;
use crate::ReleaseError;

/// Files of a git directory that describe a local run rather than the repository.
const SKIPPED: &[&str] = &["FETCH_HEAD", "ORIG_HEAD", "logs", "index", "gc.log"];

/// Writes `archive` from the tree in `tree_dir` and the bare repository in `git_dir`, both
/// under the top directory `name`. The file appears complete or not at all.
pub fn write_source_archive(
    archive: &Path,
    name: &str,
    tree_dir: &Path,
    git_dir: &Path,
) -> Result<(), ReleaseError> {
    let dir = archive.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    let (_registered, temp) = krel_fs::scratch::named_temp_file(dir, ".src.tar.gz.")
        .map_err(io("creating a temporary file in", dir))?;
    {
        let gz = GzEncoder::new(BufWriter::new(temp.as_file()), Compression::default());
        let mut tar = tar::Builder::new(gz);
        tar.mode(tar::HeaderMode::Deterministic);
        tar.follow_symlinks(false);
        append_tree(&mut tar, tree_dir, name, &[".git"])?;
        append_tree(&mut tar, git_dir, &format!("{name}/.git"), SKIPPED)?;
        let gz = tar.into_inner().map_err(io("writing", archive))?;
        let mut writer = gz.finish().map_err(io("writing", archive))?;
        writer.flush().map_err(io("writing", archive))?;
    }
    temp.as_file().sync_all().map_err(io("writing", archive))?;
    temp.persist(archive)
        .map_err(|err| io("writing", archive)(err.error))?;
    Ok(())
}

fn append_tree<W: Write>(
    tar: &mut tar::Builder<W>,
    root: &Path,
    prefix: &str,
    skipped: &[&str],
) -> Result<(), ReleaseError> {
    let walk = walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| {
            entry.depth() != 1 || !skipped.iter().any(|s| entry.file_name() == *s)
        });
    for entry in walk {
        let entry = entry.map_err(|err| {
            let path = err.path().unwrap_or(root).to_path_buf();
            io("reading", &path)(err.into())
        })?;
        let relative = entry.path().strip_prefix(root).unwrap_or(entry.path());
        if relative.as_os_str().is_empty() {
            continue;
        }
        let name = Path::new(prefix).join(relative);
        let failed = || io("archiving", entry.path());
        if prefix.ends_with(".git") && relative == Path::new("config") {
            // The workspace repository is bare; the archive's is a normal checkout.
            let text = std::fs::read_to_string(entry.path()).map_err(failed())?;
            let text = text.replace("bare = true", "bare = false");
            let mut header = tar::Header::new_gnu();
            header.set_size(text.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(1_153_704_088);
            header.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut header, &name, text.as_bytes())
                .map_err(failed())?;
            continue;
        }
        tar.append_path_with_name(entry.path(), &name)
            .map_err(failed())?;
    }
    Ok(())
}

/// Unpacks `archive` into `dir` (which must not exist yet) and returns the top directory.
pub fn restore_source_archive(archive: &Path, dir: &Path) -> Result<PathBuf, ReleaseError> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io("creating", parent))?;
    // Unpack beside the target, then rename: a kill leaves no half-restored tree.
    let (_registered, temp) = krel_fs::scratch::temp_dir(parent, ".restore.")
        .map_err(io("creating a temporary directory in", parent))?;
    let file = File::open(archive).map_err(io("opening", archive))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    tar.set_preserve_permissions(true);
    tar.unpack(temp.path()).map_err(io("unpacking", archive))?;
    let mut tops = std::fs::read_dir(temp.path())
        .map_err(io("reading", temp.path()))?
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect::<Vec<_>>();
    if tops.len() != 1 {
        return Err(ReleaseError::Verification {
            what: archive.display().to_string(),
            problems: vec![format!("expected one top directory, found {}", tops.len())],
        });
    }
    let top = tops.remove(0);
    let temp = temp.keep();
    std::fs::rename(&temp, dir).map_err(io("moving the restored source to", dir))?;
    Ok(dir.join(top))
}
