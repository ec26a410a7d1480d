//! The steps of a stage, derived once from its scope.

use krel_version::Version;

use super::StageScope;

/// One step of a stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A bare clone of the mirror in the workspace.
    Clone,
    /// The release commit (on a release branch) and the tag of a version.
    Tag(Version),
    /// A merge's tags must be the ones its platform jobs built from (checked every run).
    MatchPlatformTags,
    /// The build of a version, collected into the workspace's artifacts.
    Build(Version),
    /// A merge: the files every platform job built for a version, downloaded and checked.
    Gather(Version),
    /// The container images of a version: indexed and signed in the workspace.
    Images(Version),
    /// SBOM, checksums, signatures and provenance of a version.
    Attest(Version),
    /// The source archive with its git objects.
    Source,
    /// `STAGED.json`, signed.
    Record,
    /// A platform job's `PARTIAL.json` (written afresh every run).
    PartialRecord,
}

impl Step {
    /// The step's name in the journal (and for `KREL_TEST_ABORT_AFTER`); `None` for a step
    /// that runs on every run.
    pub fn journal_name(&self) -> Option<String> {
        Some(match self {
            Step::Clone => "clone".into(),
            Step::Tag(version) => format!("tag {version}"),
            Step::Build(version) => format!("build {version}"),
            Step::Gather(version) => format!("gather {version}"),
            Step::Images(version) => format!("images {version}"),
            Step::Attest(version) => format!("attest {version}"),
            Step::Source => "source".into(),
            Step::Record => "record".into(),
            Step::MatchPlatformTags | Step::PartialRecord => return None,
        })
    }
}

/// The steps of a stage of `versions` (prime first) with this scope, in order:
///
/// - the whole release: clone, tags, builds, attestations, source, record;
/// - one platform of a split stage: clone, tags, builds (that platform only), its partial
///   record;
/// - the merge: clone, tags (checked against the platforms'), gathers, then as the whole.
///
/// With images, the whole release and the merge index and sign them after the builds.
pub fn steps(scope: &StageScope, versions: &[Version], with_images: bool) -> Vec<Step> {
    let each = |make: fn(Version) -> Step| versions.iter().cloned().map(make).collect::<Vec<_>>();
    let mut steps = vec![Step::Clone];
    steps.extend(each(Step::Tag));
    match scope {
        StageScope::Whole => steps.extend(each(Step::Build)),
        StageScope::Platform(_) => {
            steps.extend(each(Step::Build));
            steps.push(Step::PartialRecord);
            return steps;
        }
        StageScope::Merge(_) => {
            steps.push(Step::MatchPlatformTags);
            steps.extend(each(Step::Gather));
        }
    }
    if with_images {
        steps.extend(each(Step::Images));
    }
    steps.extend(each(Step::Attest));
    steps.extend([Step::Source, Step::Record]);
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(scope: &StageScope) -> Vec<String> {
        let versions: Vec<Version> = ["v1.11.0-rc.0", "v1.12.0-alpha.0"]
            .iter()
            .map(|v| v.parse().unwrap())
            .collect();
        steps(scope, &versions, false)
            .iter()
            .map(|step| step.journal_name().unwrap_or_else(|| format!("({step:?})")))
            .collect()
    }

    #[test]
    fn a_whole_stage_builds_attests_archives_and_records_each_version() {
        assert_eq!(
            names(&StageScope::Whole),
            [
                "clone",
                "tag v1.11.0-rc.0",
                "tag v1.12.0-alpha.0",
                "build v1.11.0-rc.0",
                "build v1.12.0-alpha.0",
                "attest v1.11.0-rc.0",
                "attest v1.12.0-alpha.0",
                "source",
                "record"
            ]
        );
    }

    #[test]
    fn images_are_indexed_and_signed_after_the_builds_before_the_attestations() {
        let versions: Vec<Version> = vec!["v1.11.0".parse().unwrap()];
        let names: Vec<String> = steps(&StageScope::Whole, &versions, true)
            .iter()
            .filter_map(Step::journal_name)
            .collect();
        assert_eq!(
            names,
            [
                "clone",
                "tag v1.11.0",
                "build v1.11.0",
                "images v1.11.0",
                "attest v1.11.0",
                "source",
                "record"
            ]
        );
    }

    #[test]
    fn a_platform_job_builds_and_records_its_part_only() {
        let platform = krel_config::Platform::parse("linux/arm64").unwrap();
        assert_eq!(
            names(&StageScope::Platform(platform)),
            [
                "clone",
                "tag v1.11.0-rc.0",
                "tag v1.12.0-alpha.0",
                "build v1.11.0-rc.0",
                "build v1.12.0-alpha.0",
                "(PartialRecord)"
            ]
        );
    }

    #[test]
    fn a_merge_checks_the_tags_then_gathers_instead_of_building() {
        assert_eq!(
            names(&StageScope::Merge(Vec::new())),
            [
                "clone",
                "tag v1.11.0-rc.0",
                "tag v1.12.0-alpha.0",
                "(MatchPlatformTags)",
                "gather v1.11.0-rc.0",
                "gather v1.12.0-alpha.0",
                "attest v1.11.0-rc.0",
                "attest v1.12.0-alpha.0",
                "source",
                "record"
            ]
        );
    }
}
