//! [`StageRun`]: a resolved stage and its one journaled loop over the steps.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use krel_attest::{
    describe_files, provenance_statement, spdx_document, FileEntry, ProvenanceInput, Resource,
    SbomInput,
};
use krel_git::{CommitId, Credentials, Identity, NoProgress, Repo};
use krel_sigstore::BundleSigner;
use krel_version::{Branch, BuildVersion, Version};
use serde_json::json;

use super::steps::Step;
use super::{StageRequest, StageScope, StageSetup};
use crate::build::{collect_artifacts, run_build, BuildRun};
use crate::files::{copy_tree, hex_sha256, relative_files, remove_dir, write_file};
use crate::journal::Journal;
use crate::layout;
use crate::records::{PartialRecord, StagedImage, StagedRecord};
use crate::source::write_source_archive;
use crate::split::gather_version;
use crate::{bundle, git, ReleaseError};

/// A stage, resolved: what every step reads, and what the steps made so far.
pub struct StageRun<'a> {
    pub(super) setup: &'a StageSetup<'a>,
    pub(super) request: &'a StageRequest,
    pub(super) url: String,
    pub(super) mirror_path: PathBuf,
    pub(super) branch: Branch,
    pub(super) cut_branch: bool,
    pub(super) build_version: BuildVersion,
    pub(super) build_commit: CommitId,
    /// The headline version; its tag's tree is the source archive.
    pub(super) prime: Version,
    /// The versions, prime first.
    pub(super) ordered: Vec<Version>,
    pub(super) signer: Option<&'a dyn BundleSigner>,
    /// The committer, dated with the fixed time when there is one.
    pub(super) identity: Identity,
    /// The time every document carries, when fixed (SOURCE_DATE_EPOCH, or a split stage's).
    pub(super) fixed_epoch: Option<i64>,
    /// SOURCE_DATE_EPOCH for the build: the fixed time, else the build commit's.
    pub(super) source_date_epoch: i64,
    pub(super) started: i64,
    pub(super) project_slug: String,
    pub(super) workspace: PathBuf,
    pub(super) journal: Journal,
    /// `stage/<bv>/` as it will be uploaded.
    pub(super) out: PathBuf,
    pub(super) repo: Option<Repo>,
    pub(super) tags: BTreeMap<String, CommitId>,
    pub(super) release_branch_commit: Option<CommitId>,
    /// Version → its images, indexed and signed (step `images <version>`).
    pub(super) images: BTreeMap<String, Vec<StagedImage>>,
}

impl StageRun<'_> {
    /// Runs one step: skipped with "Resumed" when the journal records it (its recorded value
    /// restores what it made), else carried out, journaled, and the step hook called.
    pub fn run_step(&mut self, step: &Step) -> Result<(), ReleaseError> {
        let Some(name) = step.journal_name() else {
            return self.execute(step).map(|_| ());
        };
        if let Some(value) = self.journal.get(&name).map(str::to_owned) {
            self.setup.report.resumed(&name);
            return self.resume(step, &name, &value);
        }
        let value = self.execute(step)?;
        self.journal.record(&name, value)?;
        self.finished(step);
        (self.setup.after_step)(&name);
        Ok(())
    }

    /// Restores what a journaled step made.
    fn resume(&mut self, step: &Step, name: &str, value: &str) -> Result<(), ReleaseError> {
        match step {
            Step::Clone => {
                let repo =
                    Repo::open(&self.src_git()).map_err(git("opening the workspace clone"))?;
                self.repo = Some(repo);
            }
            Step::Tag(version) => {
                let commit = value
                    .parse::<CommitId>()
                    .map_err(|_| ReleaseError::Workspace {
                        path: self.journal.path().to_path_buf(),
                        reason: format!("step `{name}` recorded `{value}`, not a commit"),
                    })?;
                self.tagged(version, commit);
            }
            Step::Images(version) if !self.resume_images(version, value)? => {
                let value = self.images(version)?;
                self.journal.record(name, value)?;
            }
            // Signed by another signer (a dry run's throwaway key, then keyless): sign again.
            Step::Attest(_) | Step::Source | Step::Record if self.signed_by_another(value) => {
                let value = self.execute(step)?;
                self.journal.record(name, value)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// What the journal records of a signing step's signer.
    pub(super) fn signed_by(&self) -> String {
        self.signer
            .map(|s| format!(" signed by {}", s.describe()))
            .unwrap_or_default()
    }

    /// True when a signing step's journal value names another signer than this run's.
    /// (Values from before signers were recorded name none and count as this run's.)
    fn signed_by_another(&self, value: &str) -> bool {
        value
            .split_once(" signed by ")
            .is_some_and(|(_, signer)| format!(" signed by {signer}") != self.signed_by())
    }

    /// Carries out a step; returns what the journal records for it.
    fn execute(&mut self, step: &Step) -> Result<String, ReleaseError> {
        match step {
            Step::Clone => self.clone_mirror(),
            Step::Tag(version) => self.tag(version),
            Step::MatchPlatformTags => self.match_platform_tags().map(|()| String::new()),
            Step::Build(version) | Step::Gather(version) => self.build(version),
            Step::Images(version) => self.images(version),
            Step::Attest(version) => Ok(self.attest(version)? + &self.signed_by()),
            Step::Source => Ok(self.source()? + &self.signed_by()),
            Step::Record => Ok(self.record()? + &self.signed_by()),
            Step::PartialRecord => self.partial_record().map(|()| String::new()),
        }
    }

    /// Says what a step made.
    fn finished(&self, step: &Step) {
        let report = self.setup.report;
        match step {
            Step::Tag(version) => report.status(
                "Tagged",
                &format!("{version} at {}", self.tags[&version.to_string()].short()),
            ),
            Step::Build(version) | Step::Gather(version) => {
                let verb = if matches!(step, Step::Gather(_)) {
                    "Gathered"
                } else {
                    "Built"
                };
                let count = self
                    .journal
                    .get(&step.journal_name().unwrap_or_default())
                    .unwrap_or("0")
                    .to_string();
                report.status(verb, &format!("{version}: {count} artifact(s)"));
            }
            Step::Attest(version) => report.status(
                "Attested",
                &format!("{version}: checksums, SBOMs, signatures and provenance"),
            ),
            Step::Source => report.status(
                "Archived",
                &format!(
                    "the source with its git objects ({})",
                    layout::SOURCE_ARCHIVE
                ),
            ),
            _ => {}
        }
    }

    pub(super) fn src_git(&self) -> PathBuf {
        self.workspace.join("src.git")
    }

    fn repo(&self) -> Result<&Repo, ReleaseError> {
        self.repo.as_ref().ok_or_else(|| ReleaseError::Workspace {
            path: self.src_git(),
            reason: "the workspace clone is not open (the clone step did not run)".into(),
        })
    }

    pub(super) fn signer(&self) -> Result<&dyn BundleSigner, ReleaseError> {
        self.signer.ok_or_else(|| ReleaseError::Config {
            message: "no signing key".into(),
            hint: "set release.signing_key".into(),
        })
    }

    pub(super) fn now(&self) -> i64 {
        self.fixed_epoch.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        })
    }

    fn tagged(&mut self, version: &Version, commit: CommitId) {
        if self.on_release_branch(version) {
            self.release_branch_commit = Some(commit);
        }
        self.tags.insert(version.to_string(), commit);
    }

    fn on_release_branch(&self, version: &Version) -> bool {
        matches!(&self.branch, Branch::Release { .. }) && *version == self.prime
    }

    /// Step 1: the workspace clone, from the mirror.
    fn clone_mirror(&mut self) -> Result<String, ReleaseError> {
        let src_git = self.src_git();
        remove_dir(&src_git)?;
        let repo = Repo::clone_bare(
            &self.mirror_path.display().to_string(),
            &src_git,
            &self.setup.config.git.remote,
            &Credentials::default(),
            &NoProgress,
        )
        .map_err(git("cloning the mirror into the workspace"))?;
        repo.set_remote_url(&self.setup.config.git.remote, &self.url)
            .map_err(git("pointing the workspace clone at the remote"))?;
        self.repo = Some(repo);
        Ok(self.build_commit.to_string())
    }

    /// Step 2: the release commit (on a release branch) and the tag of `version`.
    fn tag(&mut self, version: &Version) -> Result<String, ReleaseError> {
        let on_release_branch = self.on_release_branch(version);
        let target = match self.existing_tag(version)? {
            Some(existing) => existing,
            None if on_release_branch => self
                .repo()?
                .commit_empty(
                    self.build_commit,
                    &format!("Release commit for {} {version}", self.setup.config.project),
                    Some(&self.identity),
                )
                .map_err(git(format!("making the release commit for {version}")))?,
            None => self.build_commit,
        };
        let repo = self.repo()?;
        repo.create_tag(
            &version.to_string(),
            target,
            &format!(
                "{} {} release {version}",
                self.setup.config.project, self.request.release_type
            ),
            Some(&self.identity),
        )
        .map_err(git(format!("tagging {version}")))?;
        if on_release_branch {
            repo.set_reference(
                &format!("refs/heads/{}", self.request.branch),
                target,
                "krel stage: release commit",
            )
            .map_err(git("moving the release branch in the workspace"))?;
        }
        self.tagged(version, target);
        Ok(target.to_string())
    }

    /// A run killed after tagging but before journaling left the tag: it is kept (a new
    /// release commit would have another time, so another id) if it is what the step makes.
    fn existing_tag(&self, version: &Version) -> Result<Option<CommitId>, ReleaseError> {
        let repo = self.repo()?;
        let Ok(existing) = repo.resolve(&format!("refs/tags/{version}^{{commit}}")) else {
            return Ok(None);
        };
        let expected = if self.on_release_branch(version) {
            repo.parents(existing)
                .map_err(git(format!("reading the commit of tag {version}")))?
                == [self.build_commit]
        } else {
            existing == self.build_commit
        };
        if !expected {
            return Err(ReleaseError::Workspace {
                path: self.src_git(),
                reason: format!(
                    "tag {version} there points at {}, which is not on build version {}",
                    existing.short(),
                    self.build_version
                ),
            });
        }
        Ok(Some(existing))
    }

    /// A merge makes the tags itself; they must be the ones its platforms were built from.
    fn match_platform_tags(&self) -> Result<(), ReleaseError> {
        let StageScope::Merge(records) = &self.request.scope else {
            return Ok(());
        };
        // The records agree with each other (read_partials): the first speaks for all.
        let Some(built) = records.first().map(|r| &r.stage) else {
            return Ok(());
        };
        if built.tags == self.tags && built.release_branch_commit == self.release_branch_commit {
            return Ok(());
        }
        let show = |tags: &BTreeMap<String, CommitId>, branch: Option<CommitId>| {
            let tags: BTreeMap<&String, String> =
                tags.iter().map(|(v, c)| (v, c.to_string())).collect();
            format!("{tags:?} (branch at {:?})", branch.map(|c| c.to_string()))
        };
        Err(ReleaseError::Config {
            message: format!(
                "the merge made other release commits or tags than its platform jobs:\n  - the platforms were built from {}\n  - the merge made {}",
                show(&built.tags, built.release_branch_commit),
                show(&self.tags, self.release_branch_commit)
            ),
            hint: "run the merge with the committer the platform jobs used (GIT_COMMITTER_NAME, GIT_COMMITTER_EMAIL) and a fresh --workspace: this one holds the tags it made".into(),
        })
    }

    /// Step 3: the build of `version` (a merge: the platforms' files gathered) into
    /// `artifacts/<version>/`, with the source SBOM; returns the number of artifacts.
    fn build(&mut self, version: &Version) -> Result<String, ReleaseError> {
        let commit = self.tags[&version.to_string()];
        let tree = self.workspace.join("build").join(version.to_string());
        let artifacts = self.workspace.join("artifacts").join(version.to_string());
        remove_dir(&tree)?;
        remove_dir(&artifacts)?;
        self.repo()?
            .export_tree(commit, &tree)
            .map_err(git(format!("writing the tree of {version}")))?;
        // The source SBOM belongs to the whole stage: a platform job leaves it to the merge.
        let source_sbom = match self.request.scope {
            StageScope::Platform(_) => None,
            _ => Some(self.source_sbom(version, &tree)?),
        };
        let count = match &self.request.scope {
            StageScope::Merge(records) => gather_version(
                self.setup,
                records,
                &self.build_version,
                &version.to_string(),
                &artifacts,
            )?,
            _ => self.run_build(version, &tree, &artifacts)?,
        };
        if let Some(source_sbom) = source_sbom {
            let name = format!("{}-source.spdx.json", self.project_slug);
            write_file(&artifacts.join(name), &source_sbom)?;
        }
        remove_dir(&tree)?;
        Ok(count.to_string())
    }

    fn source_sbom(&self, version: &Version, tree: &Path) -> Result<Vec<u8>, ReleaseError> {
        let source_files = describe_files(tree, |_| true)?;
        let source = self.git_source(version);
        Ok(spdx_document(&SbomInput {
            name: &format!("{}-source", self.project_slug),
            version: &version.to_string(),
            download_location: &source.spdx,
            creator: &format!("Organization: {}", self.setup.config.github.org),
            created: self.now(),
            files: &source_files,
        }))
    }

    /// The source of `version`: an absolute URI for provenance, a download location for SPDX
    /// (a relative path in git.url is taken from the current directory).
    fn git_source(&self, version: &Version) -> krel_attest::GitSource {
        let url = &self.url;
        let scp_like = url
            .split_once(':')
            .is_some_and(|(host, _)| !host.contains('/'));
        let is_relative_path = !url.contains("://") && !url.starts_with('/') && !scp_like;
        let absolute = match std::fs::canonicalize(url) {
            Ok(path) if is_relative_path => path.display().to_string(),
            _ => url.clone(),
        };
        krel_attest::git_source(&absolute, &version.to_string())
    }

    fn run_build(
        &self,
        version: &Version,
        tree: &Path,
        artifacts: &Path,
    ) -> Result<usize, ReleaseError> {
        let config = self.setup.config;
        let platforms = match &self.request.scope {
            StageScope::Platform(platform) => std::slice::from_ref(platform),
            _ => config.build.platforms.as_slice(),
        };
        let log = self.workspace.join(format!("build-{version}.log"));
        self.setup.report.status(
            "Building",
            &format!(
                "{version} for {} with `{}` (output: {}; `tail -f` it to follow)",
                platforms
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                config.build.command,
                log.display()
            ),
        );
        run_build(&BuildRun {
            command: &config.build.command,
            tree,
            version: &version.to_string(),
            build_version: &self.build_version.to_string(),
            platforms,
            source_date_epoch: self.source_date_epoch,
            log: &log,
            env: self.setup.build_env,
            masker: self.setup.masker,
        })?;
        let files = collect_artifacts(
            &version.to_string(),
            tree,
            &config.build.artifacts,
            platforms,
            artifacts,
        )?;
        let images = super::images::collect_images(self, version, tree, platforms)?;
        if images > 0 {
            self.setup
                .report
                .status("Read", &format!("{images} image(s) of {version}"));
        }
        Ok(files)
    }

    /// Step 4: the staged directory of `version`, assembled afresh from its artifacts:
    /// release SBOM, checksums, signatures, then the signed provenance over all of them.
    fn attest(&mut self, version: &Version) -> Result<String, ReleaseError> {
        let signer = self.signer()?;
        let version_dir = self.out.join(version.to_string());
        let gcs = self.out.join(layout::gcs_stage(version));
        remove_dir(&version_dir)?;
        copy_tree(
            &self.workspace.join("artifacts").join(version.to_string()),
            &gcs,
        )?;
        let artifacts = describe_files(&gcs, |path| !path.ends_with(".spdx.json"))?;
        let sbom = spdx_document(&SbomInput {
            name: &self.project_slug,
            version: &version.to_string(),
            download_location: "NOASSERTION",
            creator: &format!("Organization: {}", self.setup.config.github.org),
            created: self.now(),
            files: &artifacts,
        });
        write_file(
            &gcs.join(format!("{}-release.spdx.json", self.project_slug)),
            &sbom,
        )?;
        krel_checksum::write_checksums(&gcs, self.setup.jobs, &krel_checksum::NoProgress)?;
        let unsigned: Vec<PathBuf> = relative_files(&gcs)?
            .into_iter()
            .map(|(_, path)| path)
            .collect();
        krel_sigstore::sign_files(signer, &unsigned, self.setup.jobs, self.outputs())
            .map_err(bundle(format!("signing the files of {version}")))?;
        self.attest_sboms(version, &gcs, &artifacts)?;
        let mut subjects = describe_files(&gcs, |_| true)?;
        if let Some(images) = self.images.get(&version.to_string()) {
            subjects.extend(super::images::image_subjects(images));
        }
        let statement = self.provenance(version, subjects);
        let provenance = version_dir.join(layout::PROVENANCE);
        write_file(&provenance, &statement)?;
        krel_sigstore::sign_files(signer, std::slice::from_ref(&provenance), 1, self.outputs())
            .map_err(bundle(format!("signing the provenance of {version}")))?;
        krel_sigstore::write_attestation(signer, &provenance, &statement)
            .map_err(bundle(format!("attesting the provenance of {version}")))?;
        Ok(hex_sha256(&statement))
    }

    /// What signing writes beside each file: a bundle, and `.sig` unless configured off.
    fn outputs(&self) -> krel_sigstore::Outputs {
        krel_sigstore::Outputs {
            bundle: true,
            detached: self.setup.config.release.detached_signatures,
        }
    }

    /// The attestation of each SBOM of `version` (`<sbom>.intoto.sigstore.json`): the release
    /// SBOM is about the version's `artifacts`, an image's SBOM about the image (its index and
    /// platform manifests). The source SBOM, about a git tree rather than a file, is signed as
    /// every file is, not attested.
    fn attest_sboms(
        &self,
        version: &Version,
        gcs: &Path,
        artifacts: &[FileEntry],
    ) -> Result<(), ReleaseError> {
        let digest = |algorithm: &str, value: &str| {
            BTreeMap::from([(algorithm.to_string(), value.to_string())])
        };
        let mut sboms: Vec<(PathBuf, Vec<krel_attest::Subject>)> = vec![(
            gcs.join(format!("{}-release.spdx.json", self.project_slug)),
            artifacts
                .iter()
                .map(|f| (f.path.clone(), digest("sha256", &f.sha256)))
                .collect(),
        )];
        for image in self.images.get(&version.to_string()).into_iter().flatten() {
            let subjects = super::images::image_subjects(std::slice::from_ref(image))
                .into_iter()
                .map(|f| (f.path, digest("sha256", &f.sha256)))
                .collect();
            sboms.push((
                gcs.join(format!("images/{}.spdx.json", image.name)),
                subjects,
            ));
        }
        for (sbom, subjects) in sboms {
            if !sbom.is_file() {
                continue;
            }
            let bytes = std::fs::read(&sbom).map_err(crate::files::io("reading", &sbom))?;
            let statement = krel_attest::sbom_statement(&subjects, &bytes)?;
            krel_sigstore::write_attestation(self.signer()?, &sbom, &statement)
                .map_err(bundle(format!("attesting {}", sbom.display())))?;
        }
        Ok(())
    }

    /// The SLSA v1 provenance statement of `version`, with `subjects`.
    fn provenance(&self, version: &Version, subjects: Vec<FileEntry>) -> Vec<u8> {
        let config = self.setup.config;
        let release_type = self.request.release_type.as_str();
        provenance_statement(&ProvenanceInput {
            subjects,
            build_type: "https://github.com/krel-dev/krel/stage/v1".into(),
            external_parameters: json!({
                "type": release_type,
                "branch": self.request.branch,
                "buildVersion": self.build_version.to_string(),
                "version": version.to_string(),
            }),
            internal_parameters: json!({
                "command": config.build.command,
                "platforms": config.build.platforms.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "sourceDateEpoch": self.source_date_epoch,
            }),
            dependencies: vec![Resource {
                uri: self.git_source(version).uri,
                digest: [(
                    "gitCommit".to_string(),
                    self.tags[&version.to_string()].to_string(),
                )]
                .into(),
            }],
            builder_id: format!(
                "https://github.com/krel-dev/krel@v{}",
                env!("CARGO_PKG_VERSION")
            ),
            invocation_id: format!("{}/{version}", self.build_version),
            started: self.started,
            finished: self.now(),
        })
    }

    /// Step 5: the source archive of the prime version's tag, with its digest and signatures.
    fn source(&mut self) -> Result<String, ReleaseError> {
        let signer = self.signer()?;
        let tree = self.workspace.join("archive-tree");
        remove_dir(&tree)?;
        self.repo()?
            .export_tree(self.tags[&self.prime.to_string()], &tree)
            .map_err(git("writing the source tree"))?;
        let archive = self.out.join(layout::SOURCE_ARCHIVE);
        write_source_archive(&archive, &self.project_slug, &tree, &self.src_git())?;
        remove_dir(&tree)?;
        let digests =
            krel_checksum::hash_file(&archive).map_err(crate::files::io("reading", &archive))?;
        let digest_file = krel_checksum::with_extension(&archive, "sha256");
        write_file(&digest_file, digests.sha256.as_bytes())?;
        krel_sigstore::sign_files(signer, &[archive.clone(), digest_file], 2, self.outputs())
            .map_err(bundle("signing the source archive"))?;
        Ok(digests.sha256)
    }

    /// The record of this release, listing `files`: STAGED.json, or a platform's PARTIAL.json.
    pub(super) fn record_of(&self, files: Vec<FileEntry>) -> StagedRecord {
        StagedRecord {
            project: self.setup.config.project.clone(),
            build_version: self.build_version.clone(),
            release_type: self.request.release_type,
            branch: self.request.branch.clone(),
            cut_branch: self.cut_branch,
            versions: self.ordered.clone(),
            tags: self.tags.clone(),
            release_branch_commit: self.release_branch_commit,
            files: files.into_iter().map(|f| (f.path, f.sha256)).collect(),
            images: self.images.clone(),
        }
    }

    /// The directory holding the record, uploaded after everything else.
    pub(super) fn record_dir(&self) -> PathBuf {
        match self.request.scope {
            StageScope::Platform(_) => self.workspace.join("partial-record"),
            _ => self.workspace.join("record"),
        }
    }

    /// Step 6: the completion record, signed, kept apart so it is uploaded last.
    fn record(&mut self) -> Result<String, ReleaseError> {
        let signer = self.signer()?;
        let record_dir = self.record_dir();
        remove_dir(&record_dir)?;
        let bytes = self
            .record_of(describe_files(&self.out, |_| true)?)
            .to_bytes();
        let path = record_dir.join(layout::STAGED);
        write_file(&path, &bytes)?;
        krel_sigstore::sign_files(signer, &[path], 1, self.outputs())
            .map_err(bundle("signing the completion record"))?;
        Ok(hex_sha256(&bytes))
    }

    /// A platform job's record, `PARTIAL.json`, of what its build collected.
    fn partial_record(&mut self) -> Result<(), ReleaseError> {
        let StageScope::Platform(platform) = &self.request.scope else {
            return Ok(());
        };
        let mut stage =
            self.record_of(describe_files(&self.workspace.join("artifacts"), |_| true)?);
        for version in &self.ordered {
            let images = super::images::listed_images(&self.workspace, version)?;
            if images.is_empty() {
                continue;
            }
            let staged = images
                .into_iter()
                .map(|image| StagedImage {
                    name: image.name,
                    digest: None,
                    platforms: [(image.platform, image.digest)].into(),
                })
                .collect();
            stage.images.insert(version.to_string(), staged);
        }
        let record = PartialRecord {
            stage,
            source_date_epoch: self.source_date_epoch,
            platform: platform.to_string(),
        };
        let record_dir = self.record_dir();
        remove_dir(&record_dir)?;
        record.write(&record_dir)
    }
}
