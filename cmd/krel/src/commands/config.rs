//! `krel config check` and `krel config schema`: look before a release.

use krel_config::{ConfigSource, Setting};

use crate::cli::OutputFormat;
use crate::context::Context;
use crate::failure::Failure;
use crate::shell::Shell;

pub const EXAMPLES: &str = "\
Examples:
  krel config check                          # ./krel.yaml, or the defaults
  KREL_RELEASE_BUCKET=gs://test krel config check --config release/krel.yaml
  krel config schema > krel.schema.json      # for editors: see docs/configuration.md";

/// `krel config` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Validate the configuration (errors name file:line and key) and print the effective
    /// value of every key with where it came from: a KREL_* variable, the file (with its
    /// line), or the default. Command flags such as --workspace override these per run.
    Check,
    /// Print the JSON Schema of krel.yaml (made from the types krel reads it with), for
    /// editors that validate and complete YAML.
    Schema,
}

/// Runs `krel config …`.
pub fn exec(ctx: &Context, command: &Command, shell: &Shell) -> Result<(), Failure> {
    match command {
        Command::Schema => {
            shell.json(&krel_config::schema());
            Ok(())
        }
        Command::Check => check(ctx, shell),
    }
}

fn check(ctx: &Context, shell: &Shell) -> Result<(), Failure> {
    let config = ctx.config()?;
    let text = match &config.source {
        ConfigSource::File(path) => std::fs::read_to_string(path).ok(),
        ConfigSource::Defaults => None,
    };
    let settings = config.explain(text.as_deref(), ctx.env.lookup());
    let warnings = warnings(config);
    match shell.output() {
        OutputFormat::Json => shell.json(&serde_json::json!({
            "source": match &config.source {
                ConfigSource::File(path) => path.display().to_string(),
                ConfigSource::Defaults => "defaults".into(),
            },
            "settings": settings,
            "warnings": warnings,
        })),
        OutputFormat::Text => render(shell, config, &settings),
    }
    for warning in &warnings {
        shell.warn(warning);
    }
    shell.status(
        "Valid",
        match &config.source {
            ConfigSource::File(path) => format!("{}", path.display()),
            ConfigSource::Defaults => "no krel.yaml: the defaults (kubernetes/kubernetes)".into(),
        },
    );
    Ok(())
}

fn render(shell: &Shell, config: &krel_config::Config, settings: &[Setting]) {
    let source = match &config.source {
        ConfigSource::File(path) => path.display().to_string(),
        ConfigSource::Defaults => "no file (defaults)".into(),
    };
    shell.data(format!("Configuration: {source}"));
    let width = settings.iter().map(|s| s.key.len()).max().unwrap_or(0);
    for setting in settings {
        shell.data(format!(
            "  {:<width$}  {}  ({})",
            setting.key, setting.value, setting.origin
        ));
    }
}

/// What is valid but will fail later: a signing key that is not there.
fn warnings(config: &krel_config::Config) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(key) = &config.release.signing_key {
        if !key.is_file() {
            warnings.push(format!(
                "release.signing_key {} does not exist: krel stage will refuse to start",
                key.display()
            ));
        }
    }
    warnings
}
