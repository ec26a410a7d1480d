//! Ctrl-C (SIGINT) and SIGTERM: krel runs the hooks commands registered (a push makes its
//! bucket lock expire in seconds), stops the process groups of the children it runs (a build
//! and all it started), removes the temporary files it registered
//! (`krel_fs::scratch`: partial uploads, kubepkg's scratch directory, half-written journal
//! files) and exits 130. Everything krel keeps is written atomically (journals, records,
//! uploads), so whatever instant the signal lands on is a consistent point to stop at: the
//! same command run again continues from the journal.

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};

/// The exit status of an interrupted run.
const INTERRUPTED: i32 = 130;

/// How long an interrupted run waits for its hooks (a lock released in a bucket) before it exits.
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(5);

type Hook = Box<dyn FnOnce() + Send>;

/// Work an interrupted run does before it exits, by id.
static HOOKS: Mutex<Vec<(u64, Hook)>> = Mutex::new(Vec::new());

/// A hook registered with [`on_interrupt`]; dropped, it is forgotten.
pub struct HookGuard(u64);

impl Drop for HookGuard {
    fn drop(&mut self) {
        if let Ok(mut hooks) = HOOKS.lock() {
            hooks.retain(|(id, _)| *id != self.0);
        }
    }
}

/// Runs `hook` if the run is interrupted while the guard lives (before temporary files are
/// removed; at most a few seconds are given to all hooks).
pub fn on_interrupt(hook: impl FnOnce() + Send + 'static) -> HookGuard {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if let Ok(mut hooks) = HOOKS.lock() {
        hooks.push((id, Box::new(hook)));
    }
    HookGuard(id)
}

/// Runs every registered hook on a thread of its own, waiting at most [`HOOK_TIMEOUT`].
fn run_hooks() {
    let hooks: Vec<Hook> = match HOOKS.lock() {
        Ok(mut hooks) => hooks.drain(..).map(|(_, hook)| hook).collect(),
        Err(_) => return,
    };
    if hooks.is_empty() {
        return;
    }
    let (done, wait) = std::sync::mpsc::channel();
    let _ = std::thread::Builder::new()
        .name("interrupt-hooks".into())
        .spawn(move || {
            for hook in hooks {
                hook();
            }
            let _ = done.send(());
        });
    let _ = wait.recv_timeout(HOOK_TIMEOUT);
}

/// Starts the thread that waits for SIGINT or SIGTERM.
pub fn watch() {
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        tracing::warn!("cannot watch for Ctrl-C: an interrupted run may leave temporary files");
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let name = if signal == SIGINT { "SIGINT" } else { "SIGTERM" };
                run_hooks();
                krel_fs::scratch::stop_registered_groups();
                let removed = krel_fs::scratch::remove_registered();
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "\ninterrupted ({name}): removed {removed} temporary file(s); nothing half-written is left. Run the same command again to continue."
                );
                std::process::exit(INTERRUPTED);
            }
        });
    if spawned.is_err() {
        tracing::warn!("cannot watch for Ctrl-C: an interrupted run may leave temporary files");
    }
}
