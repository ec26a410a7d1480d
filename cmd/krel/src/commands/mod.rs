//! One module per subcommand: each turns arguments into a library request and renders the
//! result. [`run_plan`] is the single place where a plan is executed or only shown.

pub mod changelog;
pub mod checksum;
pub mod ff;
pub mod kubepkg;
pub mod next_version;
pub mod push;
pub mod rehearse;
pub mod release;
pub mod sandbox;
pub mod sign;
pub mod stage;

use krel_plan::{execute, Executors, Mode, Outcome, Plan};

use crate::cli::{Cli, Command, SandboxCommand};
use crate::context::Context;
use crate::failure::Failure;
use crate::shell::Shell;

/// Runs the command the user asked for.
pub fn run(cli: &Cli, shell: &Shell) -> Result<(), Failure> {
    match &cli.command {
        Command::Ff(args) => ff::exec(&Context::load(&cli.global)?, args, shell),
        Command::NextVersion(args) => next_version::exec(&Context::load(&cli.global)?, args, shell),
        Command::Checksum(args) => checksum::exec(args, shell),
        Command::Stage(args) => stage::exec(&Context::load(&cli.global)?, args, shell),
        Command::Rehearse(args) => rehearse::exec(args, shell),
        Command::Release(args) => release::exec(&Context::load(&cli.global)?, args, shell),
        Command::Changelog(args) => changelog::exec(&Context::load(&cli.global)?, args, shell),
        Command::Sandbox(SandboxCommand::Create { dir }) => sandbox::create(dir, shell),
        Command::Sign(command) => sign::exec(command, shell),
        Command::Kubepkg(args) => kubepkg::exec(args, shell),
        Command::Push(args) => push::exec(&Context::load(&cli.global)?, args, shell),
    }
}

/// The command's name, for messages (`stage`, `release`, …).
pub fn name(command: &Command) -> &'static str {
    match command {
        Command::Ff(_) => "ff",
        Command::NextVersion(_) => "next-version",
        Command::Checksum(_) => "checksum",
        Command::Stage(_) => "stage",
        Command::Rehearse(_) => "rehearse",
        Command::Release(_) => "release",
        Command::Changelog(_) => "changelog",
        Command::Sandbox(_) => "sandbox",
        Command::Sign(_) => "sign",
        Command::Kubepkg(_) => "kubepkg",
        Command::Push(_) => "push",
    }
}

/// A multi-threaded Tokio runtime for commands that talk to stores or GitHub.
pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| {
            Failure::unexpected(anyhow::Error::new(err).context("starting the async runtime"))
        })
}

/// Whether to ask before changing remotes.
pub enum Confirm<'a> {
    /// `--non-interactive`: go ahead.
    No,
    /// Ask this question; only "yes" (or "y") proceeds.
    Ask(&'a str),
}

/// Executes `plan` with `--nomock` (after confirmation), or says what a mock run did not do.
pub fn run_plan(
    shell: &Shell,
    plan: &Plan,
    mode: Mode,
    confirm: Confirm<'_>,
    executors: &Executors<'_>,
) -> Result<Outcome, Failure> {
    if mode == Mode::NoMock && !plan.is_empty() {
        if let Confirm::Ask(question) = confirm {
            let answer = shell.ask(&format!("{question} Type 'yes' to continue:"));
            let yes = matches!(answer.as_deref(), Some("yes" | "y" | "YES" | "Yes"));
            if !yes {
                return Err(Failure::refused(anyhow::anyhow!(
                    "not confirmed: nothing was changed on any remote"
                ))
                .with_hint(Some(
                    "answer 'yes' at the prompt, or pass --non-interactive to skip it".into(),
                )));
            }
        }
    }
    let outcome = execute(plan, mode, executors).map_err(|err| {
        let hint = err.source.hint();
        if err.source.is_refusal() {
            Failure::refused(err).with_hint(hint)
        } else {
            Failure::unexpected(err).with_hint(hint)
        }
    })?;
    if let Outcome::Planned { actions } = outcome {
        if actions > 0 {
            shell.note(format!(
                "\nMock run: {actions} action(s) planned, nothing changed on any remote. Run again with --nomock to carry them out."
            ));
        }
    }
    Ok(outcome)
}
