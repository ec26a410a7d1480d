//! Ctrl-C (SIGINT) and SIGTERM: krel removes the temporary files it registered
//! (`krel_fs::scratch`: partial uploads, kubepkg's scratch directory, half-written journal
//! files) and exits 130. Everything krel keeps is written atomically (journals, records,
//! uploads), so whatever instant the signal lands on is a consistent point to stop at: the
//! same command run again continues from the journal.

use std::io::Write;

use signal_hook::consts::{SIGINT, SIGTERM};

/// The exit status of an interrupted run.
const INTERRUPTED: i32 = 130;

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
