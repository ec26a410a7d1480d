//! The remote writes of a stage: a plan of uploads, planned before anything is written, then
//! executed through `krel_plan::execute` like every other command's plan.

use std::path::PathBuf;

use krel_attest::describe_files;
use krel_plan::{execute, Action, ActionError, Executors, Mode, Plan};
use krel_storage::{
    plan_push, BlockingUploader, Location, NoProgress as NoPushProgress, PushOptions, UploadBatch,
};

use super::{StageOutcome, StageRun, StageScope, StageSetup};
use crate::journal::Journal;
use crate::layout;
use crate::records::join;
use crate::split::partial_location;
use crate::{storage, ReleaseError, Report, StageOverwrite};

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

/// A stage built and planned: its uploads wait to be executed (by the binary's plan runner,
/// or by [`PreparedStage::execute`]), then [`PreparedStage::finish`] journals them.
pub struct PreparedStage {
    /// The uploads, files first, the record last.
    pub plan: Plan,
    /// What the stage does (`uploaded` counts the plan's objects).
    pub outcome: StageOutcome,
    /// What each action uploads ("the stage", "the completion record"), for messages and the
    /// step hook (`upload <label>` after action N).
    labels: Vec<&'static str>,
    journal: Journal,
    step: String,
}

impl PreparedStage {
    /// The step-hook name of the `index`th action (1-based): `upload the stage`, …
    pub fn action_step(&self, index: usize) -> Option<String> {
        let label = self.labels.get(index.checked_sub(1)?)?;
        Some(format!("upload {label}"))
    }

    /// Executes the plan through `krel_plan::execute` with the bucket's uploader, calling the
    /// step hook after each action: for callers without a plan runner of their own.
    pub fn execute(&self, setup: &StageSetup<'_>) -> Result<(), ReleaseError> {
        let uploader = BlockingUploader {
            runtime: setup.runtime,
            store: setup.store,
            jobs: setup.jobs.max(1),
            progress: &NoPushProgress,
        };
        let after = |index: usize, _: &Action| {
            if let Some(step) = self.action_step(index) {
                (setup.after_step)(&step);
            }
        };
        let executors = Executors {
            storage: Some(&uploader),
            after_action: Some(&after),
            ..Executors::default()
        };
        let images = setup.images.map(|images| krel_image::BlockingImageWriter {
            runtime: setup.runtime,
            env: &images.env,
            jobs: setup.jobs.max(1),
        });
        let executors = Executors {
            images: images.as_ref().map(|w| w as &dyn krel_image::ImageWriter),
            ..executors
        };
        execute(&self.plan, Mode::NoMock, &executors).map_err(|err| {
            let what = self
                .labels
                .get(err.step - 1)
                .copied()
                .unwrap_or("the stage");
            match *err.source {
                ActionError::Storage(source) => {
                    storage(format!("uploading {what} to {}", self.outcome.location))(source)
                }
                ActionError::Image(source) => ReleaseError::Image {
                    what: format!("pushing {what}"),
                    source,
                },
                other => ReleaseError::Workspace {
                    path: self.outcome.workspace.clone(),
                    reason: other.to_string(),
                },
            }
        })?;
        Ok(())
    }

    /// Records the uploads in the journal (after the plan was executed); says what the stage
    /// did.
    pub fn finish(mut self, report: &dyn Report) -> Result<StageOutcome, ReleaseError> {
        self.journal
            .record(&self.step, self.outcome.location.clone())?;
        let what = match &self.outcome.platform {
            Some(platform) => format!("{platform} of {}", self.outcome.build_version),
            None => self.outcome.build_version.clone(),
        };
        report.status("Staged", &format!("{what} at {}", self.outcome.location));
        Ok(self.outcome)
    }
}

/// Plans the uploads (reading the bucket); nothing is written yet.
pub(super) fn prepare(run: StageRun<'_>) -> Result<PreparedStage, ReleaseError> {
    let target = target(&run);
    let (plan, labels, unchanged) = plan_uploads(&run, &target)?;
    let platform = match &run.request.scope {
        StageScope::Platform(platform) => Some(platform.to_string()),
        _ => None,
    };
    let files = describe_files(&target.dirs[0].0, |_| true)?.len() + 2;
    let uploaded = plan
        .actions
        .iter()
        .map(|action| match action {
            Action::Upload(batch) => batch.objects.len(),
            _ => 0,
        })
        .sum();
    let outcome = StageOutcome {
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
    };
    for (action, what) in plan.actions.iter().zip(&labels) {
        if let Action::Upload(batch) = action {
            run.setup.report.status(
                "Planned",
                &format!(
                    "{} object(s) of {what} to {}",
                    batch.objects.len(),
                    target.location
                ),
            );
        }
    }
    Ok(PreparedStage {
        plan,
        outcome,
        labels,
        journal: run.journal,
        step: target.step,
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
    for (position, (dir, what)) in target.dirs.iter().enumerate() {
        // The images land after the files and before the record.
        if position + 1 == target.dirs.len() {
            for action in super::images::image_actions(run)? {
                plan.push(action);
                labels.push("the images");
            }
        }
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
