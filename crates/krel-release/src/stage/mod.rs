//! `krel stage`: from a branch of the remote to a complete, signed stage in a bucket.
//!
//! A stage runs in three parts:
//!
//! 1. **Resolve** ([`resolve`]): fetch the remote into the mirror, decide whether the branch is
//!    cut, the build version and its commit, the versions, the signer and the time; open the
//!    workspace and its journal. Everything after reads this [`StageRun`].
//! 2. **Steps** ([`steps::steps`]): the list is derived once from the scope, then run through
//!    one journaled loop ([`StageRun::run_step`]): a rerun skips what the journal records.
//!    - `clone`: a bare clone of the mirror in the workspace;
//!    - `tag <version>`: on a release branch, an empty "Release commit for <project>
//!      <version>" on top of the build version's commit, tagged; on the main branch, the build
//!      version's commit is tagged. Local only: stage pushes nothing to git;
//!    - `build <version>` (a merge: `gather <version>`): the tag's tree written to a clean
//!      directory, described in a source SBOM, built (or the platform jobs' files gathered),
//!      and its artifacts collected;
//!    - `attest <version>`: the staged directory assembled afresh: release SBOM, checksums, a
//!      signature for every file, then the provenance statement over all of them, signed;
//!    - `source`: `src.tar.gz` with the git objects, its digest and signature;
//!    - `record`: `STAGED.json`, listing every staged file with its SHA-256, signed (a
//!      platform job writes its `PARTIAL.json` instead, and stops there).
//! 3. **Plan, then execute** ([`upload`]): the uploads to the bucket are a
//!    [`krel_plan::Plan`] of `upload` actions (files first, the record last), planned before
//!    anything is written (an object that would be overwritten stops the run with nothing
//!    written) and executed through [`krel_plan::execute`] and the [`krel_storage::Uploader`],
//!    like every other remote write. Uploads skip what is already there with the same
//!    content, so this part simply runs again on a rerun.
//!
//! A stage writes to the bucket its caller chose: the mock bucket (a local directory) in
//! mock mode, the release bucket with `--nomock`. It never writes to git or GitHub.

pub mod images;
mod resolve;
mod run;
pub mod steps;
mod upload;

use std::path::PathBuf;

use krel_config::Platform;
use krel_sigstore::BundleSigner;
use krel_version::{BuildVersion, ReleaseType};
use serde::Serialize;

use crate::records::PartialRecord;
use crate::{ReleaseError, Shared};

pub use run::StageRun;
pub use upload::PreparedStage;

/// What to stage.
#[derive(Clone, Debug)]
pub struct StageRequest {
    /// alpha, beta, rc or official.
    pub release_type: ReleaseType,
    /// The main branch or a release branch (`release-X.Y`); a release branch missing on the
    /// remote is cut.
    pub branch: String,
    /// The commit to release, as a build version; default: the branch's head (the main
    /// branch's head for a branch cut), described.
    pub build_version: Option<BuildVersion>,
    /// The whole release, one platform of a split stage, or the merge of a split stage.
    pub scope: StageScope,
}

/// How much of a stage one run does.
#[derive(Clone, Debug, Default)]
pub enum StageScope {
    /// Build every platform and stage the whole release.
    #[default]
    Whole,
    /// Build one platform and upload it as a partial stage ([`crate::split`]).
    Platform(Platform),
    /// Stage the whole release from the partial stages of every platform, read and checked
    /// by [`crate::split::read_partials`].
    Merge(Vec<PartialRecord>),
}

/// Everything stage uses from outside: the [`Shared`] doors, and what only stage needs.
pub struct StageSetup<'a> {
    /// Configuration, places and doors shared with release.
    pub shared: Shared<'a>,
    /// SOURCE_DATE_EPOCH, when set.
    pub source_date_epoch: Option<i64>,
    /// Signs every staged file. A platform job of a split stage signs nothing and needs none:
    /// the build jobs, which run the project's build scripts, never hold the signing key.
    pub signer: Option<&'a dyn BundleSigner>,
    /// The build's environment (besides the KREL_* variables stage sets): never krel's own
    /// credentials unless `build.env` names them.
    pub build_env: &'a [(String, String)],
    /// Secret values masked in the build's log and in what stage echoes of it.
    pub masker: &'a krel_secret::Masker,
}

impl<'a> std::ops::Deref for StageSetup<'a> {
    type Target = Shared<'a>;

    fn deref(&self) -> &Shared<'a> {
        &self.shared
    }
}

/// What a stage did.
#[derive(Clone, Debug, Serialize)]
pub struct StageOutcome {
    /// The build version staged.
    pub build_version: String,
    /// alpha, beta, rc or official.
    pub release_type: String,
    /// The versions, prime first.
    pub versions: Vec<String>,
    /// The branch.
    pub branch: String,
    /// True when the branch is cut by this release.
    pub cut_branch: bool,
    /// Where the stage is (`<bucket>/stage/<build-version>`).
    pub location: String,
    /// Files staged.
    pub files: usize,
    /// Objects uploaded by this run.
    pub uploaded: usize,
    /// Objects that were already in the bucket.
    pub unchanged: usize,
    /// The local workspace.
    pub workspace: PathBuf,
    /// The platform, for one platform's job of a split stage (its partial stage is at
    /// `location`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
}

/// Builds a stage (parts 1 and 2 of the module documentation) and plans its uploads (part 3),
/// writing nothing to the bucket: the caller executes [`PreparedStage::plan`], then calls
/// [`PreparedStage::finish`].
pub fn prepare_stage(
    setup: &StageSetup<'_>,
    request: &StageRequest,
) -> Result<PreparedStage, ReleaseError> {
    let mut run = resolve::resolve(setup, request)?;
    let with_images = setup.config.build.images.is_some();
    for step in steps::steps(&request.scope, &run.ordered, with_images) {
        run.run_step(&step)?;
    }
    upload::prepare(run)
}

/// [`prepare_stage`], then the plan executed with the bucket's uploader: the whole stage.
pub fn stage(setup: &StageSetup<'_>, request: &StageRequest) -> Result<StageOutcome, ReleaseError> {
    let prepared = prepare_stage(setup, request)?;
    prepared.execute(setup)?;
    prepared.finish(setup.report)
}

/// `alpha`, `beta`, `rc` or `official`.
pub fn type_name(release_type: ReleaseType) -> &'static str {
    release_type.as_str()
}
