//! `krel man`: roff man pages generated from the same definitions as the parser and `--help`
//! (clap_mangen).

use std::path::{Path, PathBuf};

use clap::CommandFactory;

use crate::cli::Cli;
use crate::failure::Failure;
use crate::shell::Shell;

pub const LONG_ABOUT: &str = "\
Write man pages in roff, made from the same text as --help. Without arguments, krel(1) on
stdout; with COMMAND (`stage`, or `stage merge`), that command's page (krel-stage(1),
krel-stage-merge(1)); with --out DIR, every page, one file per command (krel.1,
krel-stage.1, ...), ready for a man directory.";

pub const EXAMPLES: &str = "\
Examples:
  krel man | man -l -                       # read krel(1) now
  krel man release | man -l -
  krel man --out ~/.local/share/man/man1    # install every page (then: mandb, or man krel)";

/// `krel man` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The command whose page to print (`stage`, `stage merge`, `sign blobs`, …).
    #[arg(value_name = "COMMAND", num_args = 0..)]
    pub command: Vec<String>,

    /// Write every page into this directory instead.
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    pub out: Option<PathBuf>,
}

/// Runs `krel man`.
pub fn exec(args: &Args, shell: &Shell) -> Result<(), Failure> {
    let root = Cli::command();
    if let Some(dir) = &args.out {
        let written = write_all(&root, dir)?;
        shell.status("Wrote", format!("{written} man pages to {}", dir.display()));
        return Ok(());
    }
    let mut command = root.clone();
    let mut name = "krel".to_string();
    for part in &args.command {
        command = command.find_subcommand(part).cloned().ok_or_else(|| {
            Failure::usage(anyhow::anyhow!(
                "`{}` is not a krel command",
                args.command.join(" ")
            ))
            .with_hint(Some("`krel --help` lists the commands".into()))
        })?;
        name.push('-');
        name.push_str(part);
    }
    let page = render(command.name(name))?;
    shell.data(String::from_utf8_lossy(&page).trim_end());
    Ok(())
}

fn render(command: clap::Command) -> Result<Vec<u8>, Failure> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut page)
        .map_err(|err| {
            Failure::unexpected(anyhow::Error::new(err).context("rendering a man page"))
        })?;
    Ok(page)
}

/// Writes the page of `command` and of each of its subcommands (`krel-stage-merge.1`) into
/// `dir`; returns how many.
fn write_all(root: &clap::Command, dir: &Path) -> Result<usize, Failure> {
    std::fs::create_dir_all(dir).map_err(|err| {
        Failure::unexpected(anyhow::Error::new(err).context(format!("creating {}", dir.display())))
    })?;
    let mut pending = vec![(root.clone(), "krel".to_string())];
    let mut written = 0;
    while let Some((command, name)) = pending.pop() {
        for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
            pending.push((sub.clone(), format!("{name}-{}", sub.get_name())));
        }
        let page = render(command.name(name.clone()))?;
        let path = dir.join(format!("{name}.1"));
        krel_fs::write_atomic(&path, &page, 0o644, krel_fs::Replace::Always).map_err(|err| {
            Failure::unexpected(
                anyhow::Error::new(err).context(format!("writing {}", path.display())),
            )
        })?;
        written += 1;
    }
    Ok(written)
}
