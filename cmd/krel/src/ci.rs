//! What krel tells GitHub Actions when it runs in a workflow (`GITHUB_ACTIONS=true`): errors as
//! annotations, a step summary of what was staged or released, and step outputs. The format
//! lives in `krel-ci`; this module only picks what to say.

use krel_ci::summary_table;
use krel_plan::Mode;
use krel_release::release::ReleaseSummary;
use krel_release::stage::StageOutcome;

use crate::context::Context;

/// A failed write to the runner's files is worth a warning, not a failed release.
fn warn(result: std::io::Result<()>) {
    if let Err(err) = result {
        tracing::warn!("could not write the GitHub Actions step summary or outputs: {err}");
    }
}

fn mode(ctx: &Context) -> String {
    match ctx.mode {
        Mode::Mock => "mock (nothing written to any remote)".into(),
        Mode::NoMock => "nomock".into(),
    }
}

/// After `krel stage`, a platform job or `krel stage merge`: summary and outputs
/// `version`, `versions`, `build-version`, `release-type`, `branch`, `stage-location`, and
/// `platform` for a platform job.
pub fn stage_summary(ctx: &Context, outcome: &StageOutcome) {
    let Some(actions) = ctx.actions() else {
        return;
    };
    let prime = outcome.versions.first().cloned().unwrap_or_default();
    let title = match &outcome.platform {
        Some(platform) => format!("krel stage: {platform} of {prime} (partial stage)"),
        None => format!("krel stage: {}", outcome.versions.join(" and ")),
    };
    let mut rows = vec![
        ("Build version", format!("`{}`", outcome.build_version)),
        ("Type", outcome.release_type.clone()),
        (
            "Branch",
            format!(
                "`{}`{}",
                outcome.branch,
                if outcome.cut_branch {
                    " (branch cut)"
                } else {
                    ""
                }
            ),
        ),
        ("Mode", mode(ctx)),
        ("Location", format!("`{}`", outcome.location)),
        (
            "Files",
            format!(
                "{} ({} uploaded, {} already there)",
                outcome.files, outcome.uploaded, outcome.unchanged
            ),
        ),
    ];
    if let Some(platform) = &outcome.platform {
        rows.insert(0, ("Platform", platform.clone()));
    }
    warn(actions.append_summary(&summary_table(&title, &rows)));
    let mut outputs = vec![
        ("version", prime),
        ("versions", outcome.versions.join(" ")),
        ("build-version", outcome.build_version.clone()),
        ("release-type", outcome.release_type.clone()),
        ("branch", outcome.branch.clone()),
        ("stage-location", outcome.location.clone()),
    ];
    if let Some(platform) = &outcome.platform {
        outputs.push(("platform", platform.clone()));
    }
    warn(actions.set_outputs(&outputs));
}

/// After `krel release`: summary and outputs `version`, `versions`, `build-version`,
/// `release-location` (`<bucket>/release/<version>`), `published` (`true` when this run
/// published, `false` for a plan).
pub fn release_summary(ctx: &Context, summary: &ReleaseSummary, published: bool) {
    let Some(actions) = ctx.actions() else {
        return;
    };
    let prime = summary.versions.first().cloned().unwrap_or_default();
    let title = if published {
        format!("krel release: {} published", summary.versions.join(" and "))
    } else {
        format!("krel release: plan for {}", summary.versions.join(" and "))
    };
    let mut rows = vec![
        ("Build version", format!("`{}`", summary.build_version)),
        ("Mode", mode(ctx)),
        ("Files", format!("`{}/<version>/`", summary.location)),
        ("Verified", format!("{} staged file(s)", summary.verified)),
        (
            "Tags",
            summary
                .tags
                .iter()
                .map(|(v, c)| format!("`{v}` at `{}`", short(c)))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    ];
    if let Some((branch, commit)) = &summary.branch {
        rows.push(("Branch", format!("`{branch}` at `{}`", short(commit))));
    }
    rows.push(("Actions", summary.actions.to_string()));
    warn(actions.append_summary(&summary_table(&title, &rows)));
    warn(actions.set_outputs(&[
        ("version", prime.clone()),
        ("versions", summary.versions.join(" ")),
        ("build-version", summary.build_version.clone()),
        ("release-location", format!("{}/{prime}", summary.location)),
        ("published", published.to_string()),
    ]));
}

/// After `krel next-version`: outputs `version`, `versions` and `build-version`.
pub fn next_version_outputs(
    ctx: &Context,
    build: &krel_version::BuildVersion,
    versions: &krel_version::ReleaseVersions,
) {
    let Some(actions) = ctx.actions() else {
        return;
    };
    let ordered: Vec<String> = versions.ordered().iter().map(ToString::to_string).collect();
    warn(actions.set_outputs(&[
        ("version", ordered.first().cloned().unwrap_or_default()),
        ("versions", ordered.join(" ")),
        ("build-version", build.to_string()),
    ]));
}

/// The first 12 characters of a commit id.
fn short(commit: &str) -> String {
    commit.chars().take(12).collect()
}

/// An error as an annotation, on stderr (the runner reads workflow commands from both
/// streams; stdout stays clean for `--output json`).
pub fn annotate_error(command: &str, message: &str) {
    use std::io::Write;
    let line = krel_ci::error_command(&format!("krel {command} failed"), message);
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
