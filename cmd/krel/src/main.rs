//! The `krel` binary: parses arguments, builds the context, runs one command, reports.
//!
//! Everything else lives in the library crates under `crates/`.

mod ci;
mod cli;
mod commands;
mod context;
mod failure;
mod logging;
mod progress;
mod shell;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let shell = shell::Shell::new(cli.global.quiet, cli.global.output);
    logging::init(&cli.global);
    match commands::run(&cli, &shell) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(&shell, commands::name(&cli.command)),
    }
}
