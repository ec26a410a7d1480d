//! [`Repo`]: the reading side of git, plus writing objects and refs in the local repository.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use krel_version::BuildVersion;

use crate::auth::{callbacks, Credentials, Progress};
use crate::error::GitError;

/// A commit id (full SHA-1 hex when printed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommitId(pub(crate) git2::Oid);

impl CommitId {
    /// The first 12 hex digits, for humans.
    pub fn short(&self) -> String {
        let mut s = self.0.to_string();
        s.truncate(12);
        s
    }
}

impl fmt::Display for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::str::FromStr for CommitId {
    type Err = String;

    fn from_str(s: &str) -> Result<CommitId, String> {
        git2::Oid::from_str(s)
            .map(CommitId)
            .map_err(|_| format!("`{s}` is not a commit id"))
    }
}

impl serde::Serialize for CommitId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for CommitId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<CommitId, D::Error> {
        let text = String::deserialize(deserializer)?;
        // Full ids only: an abbreviated id in a record would be ambiguous.
        if text.len() != 40 {
            return Err(serde::de::Error::custom(format!(
                "`{text}` is not a full commit id (40 hex digits)"
            )));
        }
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One commit, as listed in a plan.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CommitSummary {
    /// The commit.
    pub id: CommitId,
    /// The first line of its message.
    pub summary: String,
    /// The author's name.
    pub author: String,
}

/// Who writes a commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Name, as in `user.name`.
    pub name: String,
    /// Email, as in `user.email`.
    pub email: String,
    /// Seconds since the epoch for commits and tags (SOURCE_DATE_EPOCH); `None` means now.
    pub time: Option<i64>,
}

impl Identity {
    /// `user.name` and `user.email` from the git configuration, when both are set.
    pub fn from_git_config() -> Option<Identity> {
        let config = git2::Config::open_default().ok()?;
        let name = config.get_string("user.name").ok()?;
        let email = config.get_string("user.email").ok()?;
        Some(Identity {
            name,
            email,
            time: None,
        })
    }
}

/// A remote's branches and tags, as `git ls-remote` lists them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteRefs {
    /// Branch name (without `refs/heads/`) → commit.
    pub heads: BTreeMap<String, CommitId>,
    /// Tag name (without `refs/tags/`) → the commit it points at (annotated tags peeled).
    pub tags: BTreeMap<String, CommitId>,
}

/// The parts of a raw commit object a first-parent walk needs.
struct RawCommit<'a> {
    first_parent: Option<git2::Oid>,
    time: i64,
    message: &'a [u8],
}

impl<'a> RawCommit<'a> {
    /// Parses `tree …\nparent …\n…committer NAME <EMAIL> TIME TZ\n…\n\nmessage`.
    fn parse(data: &'a [u8]) -> Option<RawCommit<'a>> {
        let split = data.windows(2).position(|w| w == b"\n\n");
        let (headers, message) = match split {
            Some(at) => (&data[..at], &data[at + 2..]),
            None => (data, &data[data.len()..]),
        };
        let mut first_parent = None;
        let mut time = None;
        for line in headers.split(|&b| b == b'\n') {
            if let Some(hex) = line.strip_prefix(b"parent ") {
                if first_parent.is_none() {
                    first_parent = git2::Oid::from_str(std::str::from_utf8(hex).ok()?).ok();
                }
            } else if let Some(rest) = line.strip_prefix(b"committer ") {
                let text = std::str::from_utf8(rest).ok()?;
                let after_email = &text[text.rfind('>')? + 1..];
                time = after_email.split_whitespace().next()?.parse().ok();
            }
        }
        Some(RawCommit {
            first_parent,
            time: time?,
            message,
        })
    }
}

/// Reads objects without re-hashing each one, as `git` itself does: libgit2 verifies every
/// object it reads by default, which costs a fifth of a history walk. Objects are still checked
/// where git checks them: when a fetch indexes a pack.
fn read_objects_like_git() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| git2::opts::strict_hash_verification(false));
}

/// libgit2 reports directories with a trailing `/`; drop it for messages.
fn clean_path(path: &Path) -> PathBuf {
    path.components().collect()
}

/// A local git repository (with or without a work tree).
pub struct Repo {
    inner: git2::Repository,
    path: PathBuf,
}

impl fmt::Debug for Repo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Repo").field("path", &self.path).finish()
    }
}

impl Repo {
    /// Opens the repository at `path` or in a directory above it, as `git` does.
    pub fn open(path: &Path) -> Result<Repo, GitError> {
        read_objects_like_git();
        let inner = git2::Repository::discover(path).map_err(|source| {
            if source.code() == git2::ErrorCode::Owner {
                GitError::NotOwned {
                    path: path.to_path_buf(),
                    source,
                }
            } else {
                GitError::NotARepository {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        let path = clean_path(inner.workdir().unwrap_or_else(|| inner.path()));
        Ok(Repo { inner, path })
    }

    /// Clones `url` (a URL or a local path) into `dest` as a bare repository, naming the remote
    /// `remote`. Bare: release work needs history, not a checkout of every file.
    pub fn clone_bare(
        url: &str,
        dest: &Path,
        remote: &str,
        credentials: &Credentials,
        progress: &dyn Progress,
    ) -> Result<Repo, GitError> {
        let action = || format!("cloning {url} into {}", dest.display());
        let config = git2::Config::open_default().ok();
        let mut fetch = git2::FetchOptions::new();
        fetch.remote_callbacks(callbacks(credentials, config, progress));
        let remote_name = remote.to_string();
        let inner = git2::build::RepoBuilder::new()
            .bare(true)
            .fetch_options(fetch)
            .remote_create(move |repo, _name, url| {
                let fetch = format!("+refs/heads/*:refs/remotes/{remote_name}/*");
                repo.remote_with_fetch(&remote_name, url, &fetch)
            })
            .clone(url, dest)
            .map_err(GitError::op(action()))?;
        progress.done();
        Ok(Repo {
            path: clean_path(inner.path()),
            inner,
        })
    }

    /// The repository's directory (the work tree, or the git directory when bare).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The URL configured for a remote (where it fetches from).
    pub fn remote_url(&self, remote: &str) -> Result<String, GitError> {
        let found = self.find_remote(remote)?;
        Ok(String::from_utf8_lossy(found.url_bytes()).into_owned())
    }

    /// Where pushes to a remote go: its `pushurl` when set, else its URL.
    pub fn push_url(&self, remote: &str) -> Result<String, GitError> {
        let found = self.find_remote(remote)?;
        let url = found.pushurl_bytes().unwrap_or_else(|| found.url_bytes());
        Ok(String::from_utf8_lossy(url).into_owned())
    }

    fn find_remote(&self, remote: &str) -> Result<git2::Remote<'_>, GitError> {
        self.inner
            .find_remote(remote)
            .map_err(|_| GitError::NoSuchRemote {
                path: self.path.clone(),
                remote: remote.to_string(),
            })
    }

    fn config(&self) -> Option<git2::Config> {
        self.inner.config().ok()
    }

    /// Lists the branches and tags of a remote without fetching (`git ls-remote`).
    pub fn list_remote(
        &self,
        remote: &str,
        credentials: &Credentials,
    ) -> Result<RemoteRefs, GitError> {
        self.list_remote_in(remote, credentials, false)
    }

    /// Lists refs of a remote at its URL or, to check a lease where a push will go, at its
    /// push URL. Always over a fetch connection: only that one advertises peeled tags.
    pub(crate) fn list_remote_in(
        &self,
        remote: &str,
        credentials: &Credentials,
        at_push_url: bool,
    ) -> Result<RemoteRefs, GitError> {
        let mut found = if at_push_url {
            let url = self.push_url(remote)?;
            self.inner
                .remote_anonymous(&url)
                .map_err(GitError::op(format!(
                    "opening push URL {url} of remote `{remote}`"
                )))?
        } else {
            self.find_remote(remote)?
        };
        let action = || format!("listing the branches and tags of remote `{remote}`");
        let progress = crate::auth::NoProgress;
        let cb = callbacks(credentials, self.config(), &progress);
        let connection = found
            .connect_auth(git2::Direction::Fetch, Some(cb), None)
            .map_err(GitError::op(action()))?;
        let mut refs = RemoteRefs::default();
        let mut peeled = BTreeMap::new();
        for head in connection.list().map_err(GitError::op(action()))? {
            let name = head.name();
            let id = CommitId(head.oid());
            if let Some(branch) = name.strip_prefix("refs/heads/") {
                refs.heads.insert(branch.to_string(), id);
            } else if let Some(tag) = name.strip_prefix("refs/tags/") {
                match tag.strip_suffix("^{}") {
                    Some(tag) => peeled.insert(tag.to_string(), id),
                    None => refs.tags.insert(tag.to_string(), id),
                };
            }
        }
        // An annotated tag's own id is the tag object; its peeled entry is the commit.
        refs.tags.extend(peeled);
        Ok(refs)
    }

    /// Fetches every branch (into `refs/remotes/<remote>/`) and every tag of a remote.
    /// Local tags are updated to the remote's, so that descriptions match the remote.
    pub fn fetch(
        &self,
        remote: &str,
        credentials: &Credentials,
        progress: &dyn Progress,
    ) -> Result<(), GitError> {
        let mut found = self.find_remote(remote)?;
        let mut options = git2::FetchOptions::new();
        options
            .remote_callbacks(callbacks(credentials, self.config(), progress))
            .download_tags(git2::AutotagOption::None);
        let specs = [
            format!("+refs/heads/*:refs/remotes/{remote}/*"),
            "+refs/tags/*:refs/tags/*".to_string(),
        ];
        tracing::debug!(remote, "fetching branches and tags");
        found
            .fetch(&specs, Some(&mut options), None)
            .map_err(GitError::op(format!("fetching from remote `{remote}`")))?;
        progress.done();
        Ok(())
    }

    /// Resolves a revision (`origin/main`, a tag, a commit id) to a commit.
    pub fn resolve(&self, rev: &str) -> Result<CommitId, GitError> {
        let commit = self
            .inner
            .revparse_single(rev)
            .and_then(|object| object.peel_to_commit())
            .map_err(GitError::op(format!("resolving `{rev}` to a commit")))?;
        Ok(CommitId(commit.id()))
    }

    /// True when the local reference exists.
    pub fn has_reference(&self, name: &str) -> bool {
        self.inner.find_reference(name).is_ok()
    }

    /// The best common ancestor of two commits.
    pub fn merge_base(&self, a: CommitId, b: CommitId) -> Result<CommitId, GitError> {
        self.inner
            .merge_base(a.0, b.0)
            .map(CommitId)
            .map_err(GitError::op(format!(
                "finding the merge base of {a} and {b}"
            )))
    }

    /// True when `ancestor` is `descendant` or in its history.
    pub fn is_ancestor(&self, ancestor: CommitId, descendant: CommitId) -> Result<bool, GitError> {
        if ancestor == descendant {
            return Ok(true);
        }
        self.inner
            .graph_descendant_of(descendant.0, ancestor.0)
            .map_err(GitError::op(format!(
                "checking whether {ancestor} is in the history of {descendant}"
            )))
    }

    fn describe(&self, commit: CommitId, long: bool) -> Result<Option<String>, git2::Error> {
        let object = self.inner.find_object(commit.0, None)?;
        let mut options = git2::DescribeOptions::new();
        options.describe_tags().pattern("v*");
        let description = match object.describe(&options) {
            Ok(description) => description,
            Err(err) if err.code() == git2::ErrorCode::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        let mut format = git2::DescribeFormatOptions::new();
        if long {
            format.abbreviated_size(14).always_use_long_format(true);
        } else {
            format.abbreviated_size(0);
        }
        let described = description.format(Some(&format))?;
        // Several tags on the nearest tagged commit (a branch cut from an alpha's commit tags it
        // vX.Y.0-alpha.N and vX.(Y+1).0-alpha.0): the highest version, as git's newest-tag
        // rule gives when the tags' dates differ, and not a coin toss when they are equal (a
        // split stage dates every tag with the build commit's time).
        let tag = if long {
            described.rsplitn(3, '-').nth(2).unwrap_or(&described)
        } else {
            described.as_str()
        };
        Ok(Some(match self.highest_tag_beside(tag)? {
            Some(highest) => format!("{highest}{}", &described[tag.len()..]),
            None => described,
        }))
    }

    /// The highest `v*` version tag on the commit `tag` points at, when it is not `tag`.
    fn highest_tag_beside(&self, tag: &str) -> Result<Option<String>, git2::Error> {
        let peeled = |name: &str| {
            self.inner
                .find_reference(&format!("refs/tags/{name}"))
                .and_then(|r| r.peel_to_commit())
                .map(|c| c.id())
        };
        let (Ok(target), Ok(own)) = (peeled(tag), tag.parse::<krel_version::Version>()) else {
            return Ok(None);
        };
        let mut highest = (own, tag.to_string());
        let names = self.inner.tag_names(Some("v*"))?;
        for name in names.iter().filter_map(|name| name.ok().flatten()) {
            let Ok(version) = name.parse::<krel_version::Version>() else {
                continue;
            };
            if version > highest.0 && peeled(name).is_ok_and(|id| id == target) {
                highest = (version, name.to_string());
            }
        }
        Ok((highest.1 != tag).then_some(highest.1))
    }

    /// The nearest `v*` tag in the history of `rev` (`git describe --tags --abbrev=0`).
    pub fn nearest_tag(&self, rev: &str) -> Result<String, GitError> {
        let commit = self.resolve(rev)?;
        self.describe(commit, false)
            .map_err(GitError::op(format!("describing `{rev}` with tags")))?
            .ok_or_else(|| GitError::NoTag {
                rev: rev.to_string(),
            })
    }

    /// The Kubernetes build version of `rev`, such as `v1.30.0-rc.0.12+4a7242e481c645`.
    /// For `HEAD` in a work tree with uncommitted changes to tracked files, it ends in
    /// `-dirty`, as `git describe --dirty` does.
    pub fn build_version(&self, rev: &str) -> Result<BuildVersion, GitError> {
        let commit = self.resolve(rev)?;
        let long = self
            .describe(commit, true)
            .map_err(GitError::op(format!("describing `{rev}` with tags")))?
            .ok_or_else(|| GitError::NoTag {
                rev: rev.to_string(),
            })?;
        let mut build =
            BuildVersion::from_git_describe(&long).map_err(|source| GitError::BuildVersion {
                rev: rev.to_string(),
                source,
            })?;
        build.dirty = rev == "HEAD" && self.has_tracked_changes()?;
        Ok(build)
    }

    /// True when tracked files differ from HEAD in the index or work tree.
    fn has_tracked_changes(&self) -> Result<bool, GitError> {
        if self.inner.is_bare() {
            return Ok(false);
        }
        let mut options = git2::StatusOptions::new();
        options.include_untracked(false).include_ignored(false);
        let statuses = self
            .inner
            .statuses(Some(&mut options))
            .map_err(GitError::op(format!(
                "reading the status of {}",
                self.path.display()
            )))?;
        Ok(!statuses.is_empty())
    }

    /// Commits reachable from `tip` but not from `base`, newest first (`git log base..tip`).
    pub fn commits_between(
        &self,
        base: CommitId,
        tip: CommitId,
    ) -> Result<Vec<CommitSummary>, GitError> {
        let action = || {
            format!(
                "listing the commits from {} to {}",
                base.short(),
                tip.short()
            )
        };
        let mut walk = self.inner.revwalk().map_err(GitError::op(action()))?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::TIME)
            .map_err(GitError::op(action()))?;
        walk.push(tip.0).map_err(GitError::op(action()))?;
        walk.hide(base.0).map_err(GitError::op(action()))?;
        let mut commits = Vec::new();
        for oid in walk {
            let oid = oid.map_err(GitError::op(action()))?;
            let commit = self
                .inner
                .find_commit(oid)
                .map_err(GitError::op(action()))?;
            commits.push(CommitSummary {
                id: CommitId(oid),
                summary: String::from_utf8_lossy(commit.summary_bytes().unwrap_or_default())
                    .into_owned(),
                author: String::from_utf8_lossy(commit.author().name_bytes()).into_owned(),
            });
        }
        Ok(commits)
    }

    /// The first-parent history from `tip` back to (not including) `base`, newest first, with
    /// full messages: the commits a branch gained since `base`, as `git log --first-parent
    /// base..tip` lists them.
    pub fn first_parent_history(
        &self,
        base: CommitId,
        tip: CommitId,
    ) -> Result<Vec<(CommitId, String)>, GitError> {
        self.first_parent_history_excluding(&[base], tip)
    }

    /// All best common ancestors of two commits (more than one in criss-cross histories).
    pub fn merge_bases(&self, a: CommitId, b: CommitId) -> Result<Vec<CommitId>, GitError> {
        let bases = self
            .inner
            .merge_bases(a.0, b.0)
            .map_err(GitError::op(format!(
                "finding the merge bases of {a} and {b}"
            )))?;
        Ok(bases.iter().map(|oid| CommitId(*oid)).collect())
    }

    /// The first-parent chain from `tip` down to (not including) `stop`, newest first, with
    /// full messages; `None` when the chain reaches a root commit without meeting `stop`.
    /// Each commit is read once, which makes this as fast as `git log --first-parent`.
    pub fn first_parent_chain_to(
        &self,
        tip: CommitId,
        stop: CommitId,
    ) -> Result<Option<Vec<(CommitId, String)>>, GitError> {
        self.first_parent_chain_to_after(tip, stop, i64::MIN)
    }

    /// The commit time (seconds since the epoch) of a commit.
    pub fn commit_time(&self, commit: CommitId) -> Result<i64, GitError> {
        let found = self
            .inner
            .find_commit(commit.0)
            .map_err(GitError::op(format!("reading commit {commit}")))?;
        Ok(found.time().seconds())
    }

    /// Like [`Repo::first_parent_chain_to`], giving up (`None`) at the first commit older than
    /// `not_before`: `stop` cannot be further down a line ordered by time.
    pub fn first_parent_chain_to_after(
        &self,
        tip: CommitId,
        stop: CommitId,
        not_before: i64,
    ) -> Result<Option<Vec<(CommitId, String)>>, GitError> {
        let action = || {
            format!(
                "walking the first parents of {} down to {}",
                tip.short(),
                stop.short()
            )
        };
        // Raw objects, parsed for the three things needed: it skips libgit2's full commit parse
        // and object cache, which `git log` does not pay either.
        let odb = self.inner.odb().map_err(GitError::op(action()))?;
        let mut commits = Vec::new();
        let mut current = tip.0;
        while current != stop.0 {
            let object = odb.read(current).map_err(GitError::op(action()))?;
            let raw = RawCommit::parse(object.data()).ok_or_else(|| GitError::Operation {
                action: action(),
                source: git2::Error::from_str(&format!("{current} is not a readable commit")),
            })?;
            if raw.time < not_before {
                return Ok(None);
            }
            commits.push((
                CommitId(current),
                String::from_utf8_lossy(raw.message).into_owned(),
            ));
            match raw.first_parent {
                Some(parent) => current = parent,
                None => return Ok(None),
            }
        }
        Ok(Some(commits))
    }

    /// Like [`Repo::first_parent_history`], leaving out everything reachable from any of
    /// `excluded`.
    pub fn first_parent_history_excluding(
        &self,
        excluded: &[CommitId],
        tip: CommitId,
    ) -> Result<Vec<(CommitId, String)>, GitError> {
        let base = excluded.first().copied().unwrap_or(tip);
        let action = || {
            format!(
                "walking the first-parent history from {} to {}",
                tip.short(),
                base.short()
            )
        };
        let mut walk = self.inner.revwalk().map_err(GitError::op(action()))?;
        walk.simplify_first_parent()
            .map_err(GitError::op(action()))?;
        walk.push(tip.0).map_err(GitError::op(action()))?;
        for hidden in excluded {
            walk.hide(hidden.0).map_err(GitError::op(action()))?;
        }
        let mut commits = Vec::new();
        for oid in walk {
            let oid = oid.map_err(GitError::op(action()))?;
            let commit = self
                .inner
                .find_commit(oid)
                .map_err(GitError::op(action()))?;
            commits.push((
                CommitId(oid),
                String::from_utf8_lossy(commit.message_bytes()).into_owned(),
            ));
        }
        Ok(commits)
    }

    /// The content of `path` at `rev`, or `None` when the file does not exist there.
    pub fn read_file(&self, rev: &str, path: &str) -> Result<Option<String>, GitError> {
        let action = || format!("reading {path} at `{rev}`");
        let commit = self.resolve(rev)?;
        let tree = self
            .inner
            .find_commit(commit.0)
            .and_then(|c| c.tree())
            .map_err(GitError::op(action()))?;
        let Ok(entry) = tree.get_path(Path::new(path)) else {
            return Ok(None);
        };
        let blob = self
            .inner
            .find_blob(entry.id())
            .map_err(GitError::op(action()))?;
        Ok(Some(String::from_utf8_lossy(blob.content()).into_owned()))
    }

    /// True when two commits hold the same tree (the same content, whatever their messages,
    /// authors and times).
    pub fn same_tree(&self, a: CommitId, b: CommitId) -> Result<bool, GitError> {
        let tree = |commit: CommitId| {
            self.inner
                .find_commit(commit.0)
                .map(|c| c.tree_id())
                .map_err(GitError::op(format!("reading commit {commit}")))
        };
        Ok(tree(a)? == tree(b)?)
    }

    /// The commit's parents.
    pub fn parents(&self, commit: CommitId) -> Result<Vec<CommitId>, GitError> {
        let found = self
            .inner
            .find_commit(commit.0)
            .map_err(GitError::op(format!("reading commit {commit}")))?;
        Ok(found.parent_ids().map(CommitId).collect())
    }

    /// Who commits: `identity` when given, else `user.name`/`user.email` from git config.
    pub(crate) fn signature(
        &self,
        identity: Option<&Identity>,
        action: &str,
    ) -> Result<git2::Signature<'static>, GitError> {
        let err = |source| GitError::NoIdentity {
            action: action.to_string(),
            source,
        };
        match identity {
            Some(Identity {
                name,
                email,
                time: Some(seconds),
            }) => git2::Signature::new(name, email, &git2::Time::new(*seconds, 0)).map_err(err),
            Some(identity) => git2::Signature::now(&identity.name, &identity.email).map_err(err),
            None => self.inner.signature().map_err(err),
        }
    }

    /// Points a local reference at a commit (creating or moving it).
    pub fn set_reference(&self, name: &str, commit: CommitId, log: &str) -> Result<(), GitError> {
        self.inner
            .reference(name, commit.0, true, log)
            .map_err(GitError::op(format!("pointing `{name}` at {commit}")))?;
        Ok(())
    }

    /// Creates the annotated tag `name` on `commit` in the local repository, or confirms that
    /// it already points at `commit`. A tag of that name on another commit is an error.
    pub fn create_tag(
        &self,
        name: &str,
        commit: CommitId,
        message: &str,
        identity: Option<&Identity>,
    ) -> Result<(), GitError> {
        let reference = format!("refs/tags/{name}");
        if let Ok(existing) = self.resolve(&reference) {
            if existing == commit {
                return Ok(());
            }
            return Err(GitError::TagExists {
                tag: name.to_string(),
                place: self.path.display().to_string(),
                existing: existing.to_string(),
                wanted: commit.to_string(),
            });
        }
        let action = || format!("tagging {} as `{name}`", commit.short());
        let target = self
            .inner
            .find_object(commit.0, Some(git2::ObjectType::Commit))
            .map_err(GitError::op(action()))?;
        let tagger = self.signature(identity, &format!("tag `{name}`"))?;
        self.inner
            .tag(name, &target, &tagger, message, false)
            .map_err(GitError::op(action()))?;
        Ok(())
    }

    /// Creates a commit on top of `parent` with the same tree (an empty commit, as
    /// `git commit --allow-empty`), without moving any reference.
    pub fn commit_empty(
        &self,
        parent: CommitId,
        message: &str,
        identity: Option<&Identity>,
    ) -> Result<CommitId, GitError> {
        let action = || format!("committing on top of {}", parent.short());
        let parent_commit = self
            .inner
            .find_commit(parent.0)
            .map_err(GitError::op(action()))?;
        let tree = parent_commit.tree().map_err(GitError::op(action()))?;
        let signature = self.signature(identity, "the release commit")?;
        let id = self
            .inner
            .commit(
                None,
                &signature,
                &signature,
                message,
                &tree,
                &[&parent_commit],
            )
            .map_err(GitError::op(action()))?;
        Ok(CommitId(id))
    }

    /// Writes the files of `commit` into `dir` (created when missing), without a `.git`: a
    /// clean tree to build in. Files already in `dir` are overwritten.
    pub fn export_tree(&self, commit: CommitId, dir: &Path) -> Result<(), GitError> {
        let action = || {
            format!(
                "writing the tree of {} to {}",
                commit.short(),
                dir.display()
            )
        };
        std::fs::create_dir_all(dir).map_err(|err| GitError::Io {
            action: action(),
            source: err,
        })?;
        let tree = self
            .inner
            .find_commit(commit.0)
            .and_then(|c| c.tree())
            .map_err(GitError::op(action()))?;
        let mut checkout = git2::build::CheckoutBuilder::new();
        checkout.force().target_dir(dir).recreate_missing(true);
        self.inner
            .checkout_tree(tree.as_object(), Some(&mut checkout))
            .map_err(GitError::op(action()))?;
        Ok(())
    }

    /// Points the remote `remote` at `url` (its fetch and push URL).
    pub fn set_remote_url(&self, remote: &str, url: &str) -> Result<(), GitError> {
        let action = || format!("setting the URL of remote `{remote}`");
        self.inner
            .remote_set_url(remote, url)
            .map_err(GitError::op(action()))?;
        match self.inner.remote_set_pushurl(remote, None) {
            Err(err) if err.code() != git2::ErrorCode::NotFound => Err(GitError::op(action())(err)),
            _ => Ok(()),
        }
    }

    /// Deletes a local reference when it exists.
    pub fn delete_reference(&self, name: &str) -> Result<(), GitError> {
        match self.inner.find_reference(name) {
            Ok(mut reference) => reference
                .delete()
                .map_err(GitError::op(format!("deleting `{name}`"))),
            Err(_) => Ok(()),
        }
    }

    pub(crate) fn inner(&self) -> &git2::Repository {
        &self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::RawCommit;

    #[test]
    fn raw_commits_give_first_parent_time_and_message() {
        let merge = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nparent 1111111111111111111111111111111111111111\nparent 2222222222222222222222222222222222222222\nauthor A <a@x> 1700000000 +0000\ncommitter C <c@x> 1700000123 -0700\n\nMerge pull request #1 from a/b\n\nbody\n";
        let raw = RawCommit::parse(merge).unwrap();
        assert_eq!(
            raw.first_parent.unwrap().to_string(),
            "1111111111111111111111111111111111111111"
        );
        assert_eq!(raw.time, 1_700_000_123);
        assert_eq!(raw.message, b"Merge pull request #1 from a/b\n\nbody\n");
        let root = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@x> 1 +0000\ncommitter Odd <name> <c@x> 5 +0000\n\nstart";
        let raw = RawCommit::parse(root).unwrap();
        assert!(raw.first_parent.is_none());
        assert_eq!(raw.time, 5);
        let bare = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\ncommitter C <c@x> 9 +0000";
        assert_eq!(RawCommit::parse(bare).unwrap().message, b"");
        assert!(RawCommit::parse(b"tree x\n\nno committer").is_none());
    }
}
