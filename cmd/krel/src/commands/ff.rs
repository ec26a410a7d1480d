//! `krel ff`: fast-forward a release branch with the main branch.

use std::path::{Path, PathBuf};

use krel_fastforward::{FastForwardPlan, FastForwardRequest, MergeKind};
use krel_git::{Git2Pusher, Repo};
use krel_plan::{Executors, Mode, Outcome};

use crate::args::ConfirmArg;
use crate::cli::OutputFormat;
use crate::context::Context;
use crate::failure::Failure;
use crate::output::{print_envelope, render_plan, run_plan, Confirm, Heading};
use crate::progress::TransferBar;
use crate::shell::Shell;

/// `krel ff` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Release branch to fast-forward (default: the newest release-X.Y on the remote).
    #[arg(long, value_name = "BRANCH")]
    pub branch: Option<String>,

    /// Revision to merge (default: <remote>/<main branch>, e.g. origin/master).
    #[arg(long = "ref", value_name = "REF")]
    pub main_ref: Option<String>,

    /// Remote URL to clone when no --repo-path clone exists (default: git.url from krel.yaml).
    #[arg(long, value_name = "URL")]
    pub repo: Option<String>,

    /// A local clone to work in; cloned from --repo when the directory does not exist.
    /// Without it, krel keeps a bare clone per remote in its cache ($XDG_CACHE_HOME/krel/clones
    /// or ~/.cache/krel/clones) and fetches into it on later runs.
    #[arg(long, value_name = "DIR")]
    pub repo_path: Option<PathBuf>,

    #[command(flatten)]
    pub confirm: ConfirmArg,
}

pub const LONG_ABOUT: &str = "\
Merge the main branch into the newest release branch during code freeze (upstream's branchff).

krel picks the newest release-X.Y on the remote by version (or --branch), then refuses when:
  - the official tag vX.Y.0 exists (the release is out: code thaw);
  - the nearest tag of main differs from the nearest tag of the branch point (main has moved on
    to the next alpha, or the branch is not the newest);
  - the merge has conflicts that keeping the release branch's side cannot settle (a file modified
    on one side and deleted on the other); the paths are listed and nothing is written.

Conflicting hunks are settled in favour of the release branch (git merge -X ours). The merge is
made in memory: the clone's work tree, index and branches are not touched. The result is kept
at refs/krel/ff/<branch> for review.

Mock (default): prints the plan (branch, old and new commit, the commits to push) and pushes
nothing. --nomock: asks for confirmation (unless --non-interactive), then pushes with a lease:
if the branch moved on the remote meanwhile, the push is refused.";

pub const EXAMPLES: &str = "\
Examples:
  krel ff --repo-path ~/src/kubernetes                  # plan only
  krel ff --repo-path ~/src/kubernetes --nomock         # push after confirmation
  krel ff --branch release-1.30 --ref origin/master --nomock --non-interactive
  krel ff --repo https://github.com/example/widget.git  # clone into krel's cache, or reuse it
  krel ff --output json                                 # the plan as JSON";

/// Runs `krel ff`.
pub fn exec(ctx: &Context, args: &Args, shell: &Shell) -> Result<(), Failure> {
    let config = ctx.config()?;
    let remote = &config.git.remote;
    let repo = open_or_clone(ctx, args, shell)?;
    let url = repo.remote_url(remote)?;
    let request = FastForwardRequest {
        branch: args.branch.clone(),
        main_branch: config.git.main_branch.clone(),
        main_ref: args.main_ref.clone(),
        remote: remote.clone(),
        pattern: config.git.release_branch.clone(),
        identity: ctx.identity()?,
        credentials: ctx.credentials(),
    };
    shell.status("Fetching", format!("{remote} ({url})"));
    let progress = TransferBar::new(shell, "Fetching");
    let plan = krel_fastforward::plan(&repo, &request, &progress)?;

    let text = shell.output() == OutputFormat::Text;
    if text {
        render(shell, &plan, ctx.mode);
    }
    if plan.merge == MergeKind::UpToDate {
        shell.status(
            "Up to date",
            format!("{} already contains {}", plan.branch, plan.main_ref),
        );
        print_envelope(shell, ctx.mode, None, &plan.plan, &plan);
        return Ok(());
    }
    if text {
        shell.note(review_guide(&plan));
    }

    let pusher = Git2Pusher::new(&repo, ctx.credentials());
    let question = format!(
        "Push {} to {} on {} ({} -> {})?",
        plan.new.short(),
        plan.branch,
        plan.remote,
        plan.old.short(),
        plan.new.short()
    );
    let confirm = if args.confirm.non_interactive {
        Confirm::No
    } else {
        Confirm::Ask(&question)
    };
    let outcome = run_plan(
        shell,
        &plan.plan,
        ctx.mode,
        confirm,
        &Executors {
            git: Some(&pusher),
            ..Executors::default()
        },
    )?;
    if let Outcome::Executed { .. } = outcome {
        if let Err(err) = krel_fastforward::finish(&repo, &plan) {
            shell.warn(&format!(
                "pushed, but could not tidy up the local clone: {err}"
            ));
        }
        shell.status(
            "Pushed",
            format!(
                "{} {} -> {} on {}",
                plan.branch,
                plan.old.short(),
                plan.new.short(),
                plan.remote
            ),
        );
        if let Some(link) = &plan.compare_url {
            shell.note(format!("The fast-forward diff: {link}"));
        }
    }
    print_envelope(shell, ctx.mode, Some(outcome), &plan.plan, &plan);
    Ok(())
}

fn open_or_clone(ctx: &Context, args: &Args, shell: &Shell) -> Result<Repo, Failure> {
    let config = ctx.config()?;
    let remote = &config.git.remote;
    let url = args.repo.clone().unwrap_or_else(|| config.git_url());
    let dest = match &args.repo_path {
        Some(path) if path.exists() => {
            let repo = Repo::open(path)?;
            if let Some(wanted) = &args.repo {
                let actual = repo.remote_url(remote)?;
                if actual != *wanted {
                    return Err(Failure::usage(anyhow::anyhow!(
                        "--repo {wanted} does not match remote `{remote}` of {} ({actual})",
                        path.display()
                    ))
                    .with_hint(Some(
                        "leave out --repo to use the clone's remote, or give a new --repo-path to clone into".into(),
                    )));
                }
            }
            return Ok(repo);
        }
        Some(path) => path.clone(),
        None => {
            let cached = ctx.cache_dir().join("clones").join(cache_name(&url));
            if cached.join("HEAD").is_file() {
                shell.status(
                    "Using",
                    format!("the cached clone of {url} at {}", cached.display()),
                );
                return Ok(Repo::open(&cached)?);
            }
            cached
        }
    };
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(|err| {
            Failure::unexpected(
                anyhow::Error::new(err).context(format!("creating {}", parent.display())),
            )
        })?;
    }
    shell.status("Cloning", format!("{url} into {}", dest.display()));
    let progress = TransferBar::new(shell, "Cloning");
    let cloned = Repo::clone_bare(&url, &dest, remote, &ctx.credentials(), &progress);
    if cloned.is_err() && args.repo_path.is_none() {
        // Never leave a half-made clone in the cache, where the next run would trust it.
        let _ = std::fs::remove_dir_all(&dest);
    }
    Ok(cloned?)
}

/// A directory name for a remote URL: readable, and distinct for distinct URLs.
fn cache_name(url: &str) -> String {
    let trimmed = url.trim_end_matches('/').trim_end_matches(".git");
    let mut tail: Vec<&str> = trimmed.rsplit(['/', ':']).take(2).collect();
    tail.reverse();
    let readable: String = tail
        .join("-")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    // FNV-1a: stable across runs and platforms, unlike the std hasher.
    let hash = url.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{readable}-{:08x}", hash as u32)
}

fn render(shell: &Shell, plan: &FastForwardPlan, mode: Mode) {
    let how = match plan.merge {
        MergeKind::Merge => "merge commit",
        MergeKind::FastForward => "fast-forward",
        MergeKind::UpToDate => "up to date",
    };
    shell.data(format!(
        "Fast-forward {} with {}",
        plan.branch, plan.main_ref
    ));
    shell.data(format!("  repository  {}", plan.repository));
    shell.data(format!("  remote      {} ({})", plan.remote, plan.url));
    shell.data(format!(
        "  tag         {} (main and the branch point agree)",
        plan.tag
    ));
    shell.data(format!(
        "  branch      {}  {} -> {} ({how})",
        plan.branch,
        plan.old.short(),
        plan.new.short()
    ));
    if plan.commits.is_empty() {
        return;
    }
    shell.data(format!("  commits     {} to push:", plan.commits.len()));
    for commit in &plan.commits {
        shell.data(format!("    {} {}", commit.id.short(), commit.summary));
    }
    render_plan(shell, &plan.plan, Heading::of(mode));
}

fn review_guide(plan: &FastForwardPlan) -> String {
    let dir = shell_quote(Path::new(&plan.repository));
    let tracking = format!("{}/{}", plan.remote, plan.branch);
    let review = &plan.review_ref;
    let mut text = format!(
        "\nReview the result before pushing. What the push adds:\n\
         \x20 git -C {dir} log --oneline --graph {tracking}..{review}\n\
         The merge commit, and what changes on the branch:\n\
         \x20 git -C {dir} show --stat {review}\n\
         \x20 git -C {dir} diff --stat {tracking} {review}"
    );
    if let Some(link) = &plan.compare_url {
        text.push_str(&format!("\nAfter the push, the diff is at {link}"));
    }
    text
}

fn shell_quote(path: &Path) -> String {
    let text = path.display().to_string();
    if text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-+".contains(&b))
    {
        text
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}
