//! The one output contract of every mutating command.
//!
//! - Text: the plan on stdout, the same way for every command ([`render_plan`]): a heading
//!   with the plan's title, then one numbered line per action. Status lines, prompts and
//!   progress go to stderr.
//! - JSON (`--output json`): one [`Envelope`], `{mode, outcome, plan, result}`, where
//!   `outcome` is `null` when nothing ran, `{"outcome": "planned" | "executed", "actions": N}`
//!   otherwise, and `result` is the command's own summary.
//!
//! [`run_plan`] is the single place a plan is executed or only shown.

use krel_plan::{execute, Executors, Mode, Outcome, Plan};
use serde::Serialize;

use crate::cli::OutputFormat;
use crate::failure::Failure;
use crate::shell::Shell;

/// The JSON document of a mutating command.
#[derive(Debug, Serialize)]
pub struct Envelope<'a, R: Serialize> {
    /// `mock` or `nomock`.
    pub mode: Mode,
    /// What ran: `null` when nothing did (up to date, or stopped before the plan).
    pub outcome: Option<Outcome>,
    /// The plan.
    pub plan: &'a Plan,
    /// The command's summary.
    pub result: R,
}

/// Prints the envelope when `--output json`.
pub fn print_envelope<R: Serialize>(
    shell: &Shell,
    mode: Mode,
    outcome: Option<Outcome>,
    plan: &Plan,
    result: R,
) {
    if shell.output() == OutputFormat::Json {
        shell.json(&Envelope {
            mode,
            outcome,
            plan,
            result,
        });
    }
}

/// How the plan's heading reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heading {
    /// Mock mode: nothing will be changed.
    Mock,
    /// The plan will be carried out.
    Carried,
}

impl Heading {
    /// The heading of a plan that `mode` runs.
    pub fn of(mode: Mode) -> Heading {
        match mode {
            Mode::Mock => Heading::Mock,
            Mode::NoMock => Heading::Carried,
        }
    }
}

/// The plan as text lines (empty for an empty plan).
pub fn plan_lines(plan: &Plan, heading: Heading) -> Vec<String> {
    if plan.is_empty() {
        return Vec::new();
    }
    let label = match heading {
        Heading::Mock => "Plan (mock: nothing will be changed)",
        Heading::Carried => "Plan",
    };
    let mut lines = vec![format!("{label}: {}", plan.title)];
    for (index, action) in plan.actions.iter().enumerate() {
        lines.push(format!("  {}. {action}", index + 1));
    }
    lines
}

/// Prints the plan on stdout in text mode.
pub fn render_plan(shell: &Shell, plan: &Plan, heading: Heading) {
    if shell.output() == OutputFormat::Text {
        for line in plan_lines(plan, heading) {
            shell.data(line);
        }
    }
}

/// Whether to ask before changing remotes.
pub enum Confirm<'a> {
    /// `--non-interactive`: go ahead.
    No,
    /// Ask this question; only "yes" (or "y") proceeds.
    Ask(&'a str),
}

/// Executes `plan` in `mode` (after confirmation with --nomock), or says what a mock run did
/// not do.
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
    let outcome = execute(plan, mode, executors)?;
    if let Outcome::Planned { actions } = outcome {
        if actions > 0 {
            shell.note(format!(
                "\nMock run: {actions} action(s) planned, nothing changed on any remote. Run again with --nomock to carry them out."
            ));
        }
    }
    Ok(outcome)
}
