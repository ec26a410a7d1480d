//! Diagnostics through `tracing`, on stderr: level from -v/-q or the KREL_LOG filter.

use tracing_subscriber::EnvFilter;

use crate::cli::{GlobalArgs, LogFormat};

/// Writes one event to stderr with every secret value and URL credential masked (the event is
/// gathered whole, then masked, then written).
struct Masked {
    masker: std::sync::Arc<krel_secret::Masker>,
    event: Vec<u8>,
}

impl std::io::Write for Masked {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.event.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Masked {
    fn drop(&mut self) {
        let text = self.masker.mask(&String::from_utf8_lossy(&self.event));
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), text.as_bytes());
    }
}

/// Installs the subscriber. `KREL_LOG` (an env-filter such as `krel_git=debug`) wins over -v.
/// Events are masked as the shell's lines are.
pub fn init(global: &GlobalArgs, krel_log: Option<String>, masker: krel_secret::Masker) {
    let level = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = krel_log
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer({
            let masker = std::sync::Arc::new(masker);
            move || Masked {
                masker: masker.clone(),
                event: Vec::new(),
            }
        })
        .with_target(global.verbose > 1);
    let _ = match global.log_format {
        // At the default verbosity only warnings show (a retry, a lock that could not be
        // renewed): short lines among krel's own, without a timestamp.
        LogFormat::Text if global.verbose == 0 => {
            builder.with_ansi(false).without_time().try_init()
        }
        LogFormat::Text => builder.with_ansi(false).try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
