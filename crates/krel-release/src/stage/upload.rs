//! The remote writes of a stage: a plan of uploads, planned before anything is written, then
//! executed through `krel_plan::execute` like every other command's plan.

use std::path::PathBuf;

use krel_attest::describe_files;
use krel_plan::{execute, Action, ActionError, Executors, Mode, Plan};
use krel_storage::{
    plan_push, BlockingUploader, Location, NoProgress as NoPushProgress, PushOptions, UploadBatch,
};

use super::{StageOutcome, StageRun, StageScope};
use crate::layout;
use crate::records::join;
use crate::split::partial_location;
use crate::{storage, ReleaseError, StageOverwrite};

/// Where a stage run uploads, and what.
struct Target {
    location: Location,
    /// Directories in upload order, each with what it is for messages.
    dirs: Vec<(PathBuf, &'static str)>,
    overwrite: StageOverwrite,
    /// The journal step recording the upload.
    step: String,
}

fn target(run: &StageRun<'_>) -> Target {
    let record_dir = run.record_dir();
    match &run.request.scope {
        StageScope::Platform(platform) => Target {
            location: partial_location(run.setup.bucket, &run.build_version, platform),
            dirs: vec![
                (run.workspace.join("artifacts"), "the partial stage"),
                (record_dir, "its record"),
            ],
            overwrite: StageOverwrite::Allowed,
            step: format!("upload {platform}"),
        },
        _ => Target {
            location: run
                .setup
                .bucket
                .join(&layout::stage_dir(&run.build_version)),
            dirs: vec![
                (run.out.clone(), "the stage"),
                (record_dir, "the completion record"),
            ],
            overwrite: StageOverwrite::Refused,
            step: "upload".into(),
        },
    }
}

/// Plans the uploads, executes the plan, journals it, and says what the stage did.
pub(super) fn upload(run: &mut StageRun<'_>) -> Result<StageOutcome, ReleaseError> {
    let target = target(run);
    let (plan, labels, unchanged) = plan_uploads(run, &target)?;
    let uploaded = execute_uploads(run, &target, &plan, &labels)?;
    run.journal
        .record(&target.step, target.location.to_string())?;
    let platform = match &run.request.scope {
        StageScope::Platform(platform) => Some(platform.to_string()),
        _ => None,
    };
    let what = match &platform {
        Some(platform) => format!("{platform} of {}", run.build_version),
        None => run.build_version.to_string(),
    };
    run.setup
        .report
        .status("Staged", &format!("{what} at {}", target.location));
    let files = describe_files(&target.dirs[0].0, |_| true)?.len() + 2;
    Ok(StageOutcome {
        build_version: run.build_version.to_string(),
        release_type: run.request.release_type.to_string(),
        versions: run.ordered.iter().map(ToString::to_string).collect(),
        branch: run.request.branch.clone(),
        cut_branch: run.cut_branch,
        location: target.location.to_string(),
        files,
        uploaded,
        unchanged,
        workspace: run.workspace.clone(),
        platform,
        plan,
    })
}

/// One upload action per directory that has objects to send, in order; every directory is
/// planned before anything is uploaded, so an object that would be overwritten (a stage is
/// written once) stops the run with nothing written. Returns the plan, each action's label,
/// and how many objects were already there.
fn plan_uploads(
    run: &StageRun<'_>,
    target: &Target,
) -> Result<(Plan, Vec<&'static str>, usize), ReleaseError> {
    let setup = run.setup;
    let location = &target.location;
    let options = PushOptions {
        allow_overwrite: target.overwrite == StageOverwrite::Allowed,
        jobs: setup.jobs.max(1),
    };
    let mut plan = Plan::new(format!(
        "stage {} of {} from {} at {location}",
        join(&run.ordered, " and "),
        setup.config.project,
        run.build_version
    ));
    let mut labels = Vec::new();
    let mut unchanged = 0;
    for (dir, what) in &target.dirs {
        let push = match setup
            .runtime
            .block_on(plan_push(dir, location, setup.store, &options))
        {
            Ok(push) => push,
            Err(krel_storage::StorageError::WouldOverwrite { keys }) => {
                return Err(ReleaseError::StagedBefore {
                    location: location.to_string(),
                    objects: keys.len(),
                })
            }
            Err(err) => {
                return Err(storage(format!(
                    "planning the upload of {what} to {location}"
                ))(err))
            }
        };
        unchanged += push.unchanged.len();
        if !push.uploads.is_empty() {
            plan.push(Action::Upload(UploadBatch {
                destination: location.to_string(),
                objects: push.uploads,
            }));
            labels.push(*what);
        }
    }
    Ok((plan, labels, unchanged))
}

/// Carries the plan out into the bucket the caller chose (the mock bucket in mock mode: a
/// stage always writes its stage, never a remote the mode protects). Returns the number of
/// objects uploaded.
fn execute_uploads(
    run: &StageRun<'_>,
    target: &Target,
    plan: &Plan,
    labels: &[&str],
) -> Result<usize, ReleaseError> {
    let setup = run.setup;
    for (action, what) in plan.actions.iter().zip(labels) {
        if let Action::Upload(batch) = action {
            setup.report.status(
                "Uploading",
                &format!(
                    "{} object(s) of {what} to {}",
                    batch.objects.len(),
                    target.location
                ),
            );
        }
    }
    let uploader = BlockingUploader {
        runtime: setup.runtime,
        store: setup.store,
        jobs: setup.jobs.max(1),
        progress: &NoPushProgress,
    };
    let after = |index: usize, _: &Action| {
        if let Some(what) = labels.get(index - 1) {
            (setup.after_step)(&format!("upload {what}"));
        }
    };
    let executors = Executors {
        storage: Some(&uploader),
        after_action: Some(&after),
        ..Executors::default()
    };
    execute(plan, Mode::NoMock, &executors).map_err(|err| {
        let what = labels.get(err.step - 1).copied().unwrap_or("the stage");
        match *err.source {
            ActionError::Storage(source) => {
                storage(format!("uploading {what} to {}", target.location))(source)
            }
            other => ReleaseError::Workspace {
                path: run.workspace.clone(),
                reason: other.to_string(),
            },
        }
    })?;
    Ok(plan
        .actions
        .iter()
        .map(|action| match action {
            Action::Upload(batch) => batch.objects.len(),
            _ => 0,
        })
        .sum())
}
