//! `krel push`: upload a directory tree to a bucket, planned first, executed with --nomock.

use std::path::PathBuf;
use std::sync::Arc;

use krel_plan::{Action, Executors, Mode, Outcome, Plan};
use krel_storage::{
    plan_push, BlockingUploader, Location, PushLock, PushOptions, PushPlan, Store, UploadBatch,
    LOCK_TTL,
};

use crate::args::JobsArg;
use crate::cli::OutputFormat;
use crate::context::Context;
use crate::failure::Failure;
use crate::output::{print_envelope, render_plan, run_plan, Confirm, Heading};
use crate::progress::PushBar;
use crate::shell::Shell;

/// `krel push` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The local directory to upload.
    pub src: PathBuf,

    /// Where to: gs://BUCKET/PREFIX, s3://BUCKET/PREFIX or file:///PATH.
    pub dest: String,

    #[command(flatten)]
    pub jobs: JobsArg,

    /// Replace objects that exist with different content (never done silently otherwise).
    #[arg(long)]
    pub allow_overwrite: bool,

    /// Attempts per request for transient failures (timeouts, resets, 408, 429, 5xx).
    #[arg(long, value_name = "N", default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub attempts: u32,
}

/// The push as `--output json` shows it in the envelope's `result`.
#[derive(serde::Serialize)]
struct PushResult<'a> {
    source: &'a std::path::Path,
    destination: &'a str,
    bytes: u64,
    uploads: &'a [krel_storage::ObjectUpload],
    unchanged: &'a [String],
}

pub const LONG_ABOUT: &str = "\
Upload every file under SRC to DEST (gs://BUCKET/PREFIX, s3://BUCKET/PREFIX or file:///PATH),
keeping relative paths as object keys.

krel first reads everything: the MD5 and CRC32C of each local file and what DEST already holds.
Objects already stored with the same content are skipped (a rerun uploads nothing); objects that
exist with different content stop the push (exit 1) unless --allow-overwrite. In mock mode (the
default) that plan is printed and nothing is uploaded.

With --nomock the uploads run in parallel (--jobs), each with a precondition (object absent, or
still at the generation/ETag seen) so two racing pushes cannot both win, and each is verified
against the local digests. Objects appear whole or not at all (one S3 PUT; a GCS upload is
finalized only when complete; temp file + rename for file://). Transient failures are retried
with backoff and each attempt has a timeout (--attempts). If anything fails, run the same
command again: what arrived is skipped, the rest is uploaded. A lost race exits 1 and names
the objects.

gs:// honours STORAGE_EMULATOR_HOST (anonymous, plain HTTP), else Google's default credentials.
s3:// reads AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.";

pub const EXAMPLES: &str = "\
Examples:
  krel push _output/release gs://my-bucket/release/v1.30.0                  # plan only
  krel push _output/release gs://my-bucket/release/v1.30.0 --nomock --jobs 16
  krel push _output/release file:///srv/bucket/release/v1.30.0 --nomock
  AWS_ENDPOINT_URL=http://127.0.0.1:8333 krel push out s3://bucket/v1 --nomock";

/// Runs `krel push`.
pub fn exec(ctx: &Context, args: &Args, shell: &Shell) -> Result<(), Failure> {
    let location: Location = args.dest.parse()?;
    let runtime = ctx.runtime()?;
    let mut env = ctx.store_env();
    env.retry.attempts = args.attempts;
    let jobs = args.jobs.or(8);
    let options = PushOptions {
        allow_overwrite: args.allow_overwrite,
        jobs,
    };
    // A source that cannot be pushed is refused before anything is written, the lock too.
    krel_storage::check_source(&args.src)?;
    let store = Arc::new(runtime.block_on(Store::open(&location, &env))?);
    // With --nomock, one push at a time per destination: taken before the plan is made.
    let lock = match ctx.mode {
        Mode::NoMock => Some(HeldLock::take(ctx, &runtime, &store, &location)?),
        Mode::Mock => None,
    };
    let result = plan_and_push(ctx, args, shell, &runtime, &store, &location, &options);
    if let Some(lock) = lock {
        lock.release(shell);
    }
    result
}

/// Plans the push (reading the destination), prints the plan, and runs it.
fn plan_and_push(
    ctx: &Context,
    args: &Args,
    shell: &Shell,
    runtime: &tokio::runtime::Runtime,
    store: &Store,
    location: &Location,
    options: &PushOptions,
) -> Result<(), Failure> {
    let jobs = options.jobs;
    shell.status("Planning", format!("{} -> {location}", args.src.display()));
    let push = runtime.block_on(plan_push(&args.src, location, store, options))?;

    let mut plan = Plan::new(format!("push {} to {location}", args.src.display()));
    if !push.uploads.is_empty() {
        plan.push(Action::Upload(UploadBatch {
            destination: push.destination.clone(),
            objects: push.uploads.clone(),
        }));
    }
    if shell.output() == OutputFormat::Text {
        render(shell, &push);
        render_plan(shell, &plan, Heading::of(ctx.mode));
    }

    let progress = PushBar::new(shell);
    let uploader = BlockingUploader {
        runtime,
        store,
        jobs,
        progress: &progress,
    };
    let executors = Executors {
        storage: Some(&uploader),
        ..Executors::default()
    };
    let outcome = run_plan(shell, &plan, ctx.mode, Confirm::No, &executors)?;
    if push.uploads.is_empty() {
        shell.status(
            "Up to date",
            format!(
                "{location} already holds all {} object(s)",
                push.unchanged.len()
            ),
        );
    } else if let Outcome::Executed { .. } = outcome {
        shell.status(
            "Pushed",
            format!(
                "{} object(s), {} to {location}; {} unchanged",
                push.uploads.len(),
                indicatif::HumanBytes(push.bytes),
                push.unchanged.len()
            ),
        );
    }
    print_envelope(
        shell,
        ctx.mode,
        Some(outcome),
        &plan,
        PushResult {
            source: &push.source,
            destination: &push.destination,
            bytes: push.bytes,
            uploads: &push.uploads,
            unchanged: &push.unchanged,
        },
    );
    Ok(())
}

fn render(shell: &Shell, push: &PushPlan) {
    shell.data(format!(
        "Push {} to {}",
        push.source.display(),
        push.destination
    ));
    shell.data(format!(
        "  {} to upload ({}), {} unchanged",
        push.uploads.len(),
        indicatif::HumanBytes(push.bytes),
        push.unchanged.len()
    ));
    for upload in &push.uploads {
        let what = match upload.precondition {
            krel_storage::Precondition::Absent => "new    ",
            _ => "replace",
        };
        shell.data(format!(
            "    {what} {} ({} bytes)",
            upload.url, upload.digests.size
        ));
    }
}

/// The destination's push lock, renewed in the background while this run works.
struct HeldLock {
    runtime_handle: tokio::runtime::Handle,
    store: Arc<Store>,
    lock: Arc<tokio::sync::Mutex<Option<PushLock>>>,
    renewal: tokio::task::JoinHandle<()>,
    scratch: tempfile::TempDir,
    _scratch_registered: krel_fs::scratch::Scratch,
    _on_interrupt: crate::signals::HookGuard,
}

impl HeldLock {
    fn take(
        ctx: &Context,
        runtime: &tokio::runtime::Runtime,
        store: &Arc<Store>,
        location: &Location,
    ) -> Result<HeldLock, Failure> {
        let (scratch_registered, scratch) = krel_fs::scratch::temp_dir(
            &std::env::temp_dir(),
            "krel-push-lock-",
        )
        .map_err(|err| {
            Failure::unexpected(anyhow::Error::new(err).context("making a temporary directory"))
        })?;
        let holder = format!(
            "{}@{} pid {}",
            ctx.env.var("USER").unwrap_or_else(|| "someone".into()),
            krel_storage::host_name(),
            std::process::id()
        );
        // The slot is held while the lock is taken, and the interrupt hook registered first: a
        // signal that lands while the lock is being written waits for the write (within
        // HOOK_TIMEOUT) and makes that lock expire too, instead of leaving it held for LOCK_TTL.
        let lock = Arc::new(tokio::sync::Mutex::new(None));
        let slot = lock.clone().try_lock_owned().map_err(|err| {
            Failure::unexpected(anyhow::anyhow!("the push lock's slot is busy: {err}"))
        })?;
        let on_interrupt = expire_on_interrupt(runtime.handle(), store, &lock, scratch.path());
        runtime.block_on(async {
            let mut slot = slot;
            *slot = Some(
                store
                    .take_lock(location, &holder, scratch.path(), unix_now())
                    .await?,
            );
            Ok::<_, krel_storage::StorageError>(())
        })?;
        let renewal = runtime.spawn(renew(
            store.clone(),
            lock.clone(),
            scratch.path().to_path_buf(),
        ));
        Ok(HeldLock {
            runtime_handle: runtime.handle().clone(),
            store: store.clone(),
            lock,
            renewal,
            scratch,
            _scratch_registered: scratch_registered,
            _on_interrupt: on_interrupt,
        })
    }

    /// Stops renewing and marks the lock free (a failure is a warning: it expires anyway).
    fn release(self, shell: &Shell) {
        self.renewal.abort();
        let released = self.runtime_handle.block_on(async {
            match self.lock.lock().await.take() {
                Some(lock) => {
                    self.store
                        .release_lock(lock, self.scratch.path(), unix_now())
                        .await
                }
                None => Ok(()),
            }
        });
        if let Err(err) = released {
            shell.warn(&format!(
                "could not release the push lock: {err} (it expires by itself)"
            ));
        }
    }
}

/// Interrupted (Ctrl-C, a cancelled CI job's SIGTERM): the lock held in `lock` expires in
/// seconds, once this process has surely stopped writing (uploads in flight run until it exits),
/// instead of holding for LOCK_TTL against the next push wherever it runs.
fn expire_on_interrupt(
    runtime: &tokio::runtime::Handle,
    store: &Arc<Store>,
    lock: &Arc<tokio::sync::Mutex<Option<PushLock>>>,
    scratch: &std::path::Path,
) -> crate::signals::HookGuard {
    let (handle, store, lock) = (runtime.clone(), store.clone(), lock.clone());
    let scratch = scratch.to_path_buf();
    crate::signals::on_interrupt(move || {
        handle.block_on(async {
            if let Some(held) = lock.lock().await.take() {
                let within = crate::signals::HOOK_TIMEOUT * 3;
                let _ = store.expire_lock(&held, &scratch, unix_now(), within).await;
            }
        });
    })
}

/// Renews the lock every third of its lifetime until aborted.
async fn renew(
    store: Arc<Store>,
    lock: Arc<tokio::sync::Mutex<Option<PushLock>>>,
    scratch: std::path::PathBuf,
) {
    loop {
        tokio::time::sleep(LOCK_TTL / 3).await;
        let mut guard = lock.lock().await;
        let Some(held) = guard.as_mut() else { return };
        if let Err(err) = store.renew_lock(held, &scratch, unix_now()).await {
            tracing::warn!("could not renew the push lock: {err}");
        }
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
