//! `krel completion SHELL`: shell completions, generated from the same definitions as the
//! parser (clap_complete), so they never drift from the flags.

use clap::CommandFactory;
use clap_complete::Shell as Target;

use crate::cli::Cli;
use crate::failure::Failure;
use crate::shell::Shell;

pub const LONG_ABOUT: &str = "\
Print a completion script for SHELL on stdout: commands, subcommands, flags and their values
(release types, output formats, ...), generated from krel's own argument definitions.";

pub const EXAMPLES: &str = "\
Examples (docs/commands/completion.md says more):
  krel completion bash > ~/.local/share/bash-completion/completions/krel
  krel completion zsh > \"${fpath[1]}/_krel\"          # then: autoload -U compinit && compinit
  krel completion fish > ~/.config/fish/completions/krel.fish
  krel completion powershell >> $PROFILE
  krel completion elvish >> ~/.config/elvish/rc.elv";

/// `krel completion` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell.
    #[arg(value_enum)]
    pub shell: Target,
}

/// Runs `krel completion`.
pub fn exec(args: &Args, shell: &Shell) -> Result<(), Failure> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "krel", &mut script);
    shell.data(String::from_utf8_lossy(&script).trim_end());
    Ok(())
}
