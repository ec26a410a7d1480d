//! Progress bars for long transfers, drawn only on a terminal.

use indicatif::{ProgressBar, ProgressStyle};

use crate::shell::Shell;

/// A transfer progress bar for clone and fetch; silent off a terminal or with --quiet.
pub struct TransferBar {
    bar: Option<ProgressBar>,
}

impl TransferBar {
    /// A bar labelled `label` when the shell allows progress.
    pub fn new(shell: &Shell, label: &str) -> TransferBar {
        let bar = shell.progress_allowed().then(|| {
            let bar = ProgressBar::new(0);
            let style =
                ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} objects, {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(label.to_string());
            bar
        });
        TransferBar { bar }
    }
}

impl krel_git::Progress for TransferBar {
    fn transfer(&self, received: usize, total: usize, bytes: usize) {
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
            bar.set_position(received as u64);
            bar.set_message(indicatif::HumanBytes(bytes as u64).to_string());
        }
    }

    fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A byte progress bar for hashing, uploading and similar work; silent off a terminal.
pub struct BytesBar {
    bar: Option<ProgressBar>,
}

impl BytesBar {
    /// A bar labelled `label` when the shell allows progress.
    pub fn new(shell: &Shell, label: &str) -> BytesBar {
        let bar = shell.progress_allowed().then(|| {
            let bar = ProgressBar::new(0);
            let style = ProgressStyle::with_template(
                "{prefix:>12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(label.to_string());
            bar
        });
        BytesBar { bar }
    }
}

impl krel_checksum::Progress for BytesBar {
    fn start(&self, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
        }
    }

    fn advance(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Upload progress: a byte bar on a terminal; otherwise at most about twenty plain lines.
pub struct PushBar<'a> {
    bar: Option<ProgressBar>,
    shell: &'a Shell,
    state: std::sync::Mutex<(usize, usize, u64)>,
}

impl<'a> PushBar<'a> {
    /// A reporter for `shell`.
    pub fn new(shell: &'a Shell) -> PushBar<'a> {
        let bar = shell.progress_allowed().then(|| {
            let bar = ProgressBar::new(0);
            let style = ProgressStyle::with_template(
                "{prefix:>12} [{bar:30}] {bytes}/{total_bytes} {msg} {bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix("Uploading");
            bar
        });
        PushBar {
            bar,
            shell,
            state: std::sync::Mutex::new((0, 0, 0)),
        }
    }
}

impl krel_storage::PushProgress for PushBar<'_> {
    fn started(&self, objects: usize, bytes: u64) {
        if let Ok(mut state) = self.state.lock() {
            state.1 = objects;
        }
        if let Some(bar) = &self.bar {
            bar.set_length(bytes);
        }
    }

    fn uploaded(&self, key: &str, bytes: u64) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        state.0 += 1;
        state.2 += bytes;
        let (done, total, sent) = *state;
        match &self.bar {
            Some(bar) => {
                bar.inc(bytes);
                bar.set_message(format!("{done}/{total}"));
            }
            None => {
                let step = (total / 20).max(1);
                if done % step == 0 || done == total {
                    self.shell.status(
                        "Uploaded",
                        format!(
                            "{done}/{total} objects, {} (last: {key})",
                            indicatif::HumanBytes(sent)
                        ),
                    );
                }
            }
        }
    }

    fn failed(&self, key: &str, error: &str) {
        match &self.bar {
            Some(bar) => bar.println(format!("failed: {key}: {error}")),
            None => self.shell.status("Failed", format!("{key}: {error}")),
        }
    }

    fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
