//! One module per command: its arguments and help, and `exec`, which turns them into a library
//! request and renders the result. Commands never import each other: what they share lives in
//! the [`Context`] (doors to the outside), `args` (shared flags) and `output` (plans and the
//! JSON envelope).

pub mod changelog;
pub mod checksum;
pub mod completion;
pub mod config;
pub mod ff;
pub mod kubepkg;
pub mod man;
pub mod next_version;
pub mod push;
pub mod rehearse;
pub mod release;
pub mod sandbox;
pub mod sign;
pub mod stage;
pub mod verify;
pub mod version;

use crate::cli::{Cli, Command};
use crate::context::Context;
use crate::failure::Failure;
use crate::shell::Shell;

/// Runs the command the user asked for.
pub fn run(cli: &Cli, ctx: &Context, shell: &Shell) -> Result<(), Failure> {
    match &cli.command {
        Command::Ff(args) => ff::exec(ctx, args, shell),
        Command::NextVersion(args) => next_version::exec(ctx, args, shell),
        Command::Checksum(args) => checksum::exec(args, shell),
        Command::Stage(args) => stage::exec(ctx, args, shell),
        Command::Rehearse(args) => rehearse::exec(ctx, args, shell),
        Command::Release(args) => release::exec(ctx, args, shell),
        Command::Changelog(args) => changelog::exec(ctx, args, shell),
        Command::Sandbox(command) => sandbox::exec(command, shell),
        Command::Sign(command) => sign::exec(ctx, command, shell),
        Command::Verify(args) => verify::exec(ctx, args, shell),
        Command::Kubepkg(args) => kubepkg::exec(ctx, args, shell),
        Command::Push(args) => push::exec(ctx, args, shell),
        Command::Config(command) => config::exec(ctx, command, shell),
        Command::Version => version::exec(shell),
        Command::Completion(args) => completion::exec(args, shell),
        Command::Man(args) => man::exec(args, shell),
    }
}
