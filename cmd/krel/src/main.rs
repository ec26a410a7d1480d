//! The `krel` binary: parses arguments, reads the environment once into the context, runs one
//! command, reports.
//!
//! Everything else lives in the library crates under `crates/`.

mod args;
mod ci;
mod cli;
mod commands;
mod context;
mod env;
mod failure;
mod logging;
mod output;
mod progress;
mod shell;
mod signals;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    signals::watch();
    let env = env::Env::capture();
    let actions = krel_ci::Actions::from_env(env.lookup());
    let shell = shell::Shell::new(
        cli.global.quiet,
        (cli.global.output, cli.global.log_format),
        &env,
    );
    shell.mask_in_workflow();
    logging::init(&cli.global, env.var("KREL_LOG"), context::masker(&env));
    let ctx = context::Context::new(&cli.global, env);
    match commands::run(&cli, &ctx, &shell) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(&shell, cli.command.name(), actions.as_ref()),
    }
}
