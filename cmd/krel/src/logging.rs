//! Diagnostics through `tracing`, on stderr: level from -v/-q or the KREL_LOG filter.

use tracing_subscriber::EnvFilter;

use crate::cli::{GlobalArgs, LogFormat};

/// Installs the subscriber. `KREL_LOG` (an env-filter such as `krel_git=debug`) wins over -v.
pub fn init(global: &GlobalArgs, krel_log: Option<String>) {
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
        .with_writer(std::io::stderr)
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
