//! `krel-fuzz [--inputs N] [--seed S]`: runs N generated inputs across every parser target,
//! round robin, and reports the count per target. Any panic stops the run with the target and
//! the input (exit 1). `bench/fuzz` runs it with ten million inputs.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::time::Instant;

use krel_fuzz::{generate, targets, Rng};

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.replace('_', "").parse().ok())
            .unwrap_or(default)
    };
    let inputs = flag("--inputs", 1_000_000);
    let mut rng = Rng::new(flag("--seed", 0x6b72_656c));
    let targets = targets();
    // A panic is reported once, with its input, not printed by the default hook.
    std::panic::set_hook(Box::new(|_| {}));
    let started = Instant::now();
    let mut counts = vec![0u64; targets.len()];
    for n in 0..inputs {
        let index = (n % targets.len() as u64) as usize;
        let target = &targets[index];
        let input = generate(target, &mut rng);
        if std::panic::catch_unwind(AssertUnwindSafe(|| (target.run)(&input))).is_err() {
            eprintln!(
                "PANIC in {} after {n} inputs, on {:?}",
                target.name,
                String::from_utf8_lossy(&input)
            );
            return std::process::ExitCode::FAILURE;
        }
        counts[index] += 1;
        if n > 0 && n % 1_000_000 == 0 {
            let _ = writeln!(std::io::stderr(), "{n} inputs, {:.0?}", started.elapsed());
        }
    }
    for (target, count) in targets.iter().zip(&counts) {
        println!("{:<16} {count:>10} inputs", target.name);
    }
    println!(
        "{:<16} {inputs:>10} inputs in {:.1?}, no panic",
        "total",
        started.elapsed()
    );
    std::process::ExitCode::SUCCESS
}
