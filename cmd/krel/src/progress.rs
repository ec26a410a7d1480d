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
