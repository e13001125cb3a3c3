//! The command line of `bench` (scripts/bench), the performance benchmark of issue #8.
//!
//! ```text
//! bench [--quick] [--out FILE] [--only NAME,...] [--rounds N] [--strict]
//! ```
//! Writes BENCHMARKS.md at the repository root (a quick run writes to a
//! temporary file unless `--out` says otherwise). Fails on any functional
//! problem; with `--strict` also when a target is missed (never in a quick
//! run: its numbers mean nothing).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::{report, Options, Scenario};
use test_harness::paths;

const USAGE: &str = "\
usage: bench [--quick] [--out FILE] [--only NAME,...] [--rounds N] [--strict]
  --quick        smoke run: one short round, 10/20 streams; no target is judged
  --out FILE     where to write the report (default: BENCHMARKS.md at the
                 repository root, or a temporary file with --quick)
  --only NAMES   scenarios to run, comma-separated: cached, never-seen, sse,
                 memory, first-byte, ratelimit (default: all)
  --rounds N     interleaved rounds per throughput scenario (default 5; quick 1)
  --strict       exit non-zero when a target is missed
environment:
  TOOLGUARD_WASM     the filter module (default target/wasm32-wasip1/release/toolguard.wasm)
  BENCH_EMPTY_WASM   the empty filter module (scripts/bench builds it)";

struct Cli {
    quick: bool,
    out: Option<PathBuf>,
    only: Option<Vec<Scenario>>,
    rounds: Option<usize>,
    strict: bool,
}

/// `Ok(None)`: help was asked for.
fn parse(mut args: VecDeque<String>) -> Result<Option<Cli>, String> {
    let mut cli = Cli {
        quick: false,
        out: None,
        only: None,
        rounds: None,
        strict: false,
    };
    while let Some(arg) = args.pop_front() {
        let mut value = |name: &str| {
            args.pop_front()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--quick" => cli.quick = true,
            "--strict" => cli.strict = true,
            "--out" => cli.out = Some(PathBuf::from(value("--out")?)),
            "--only" => {
                cli.only = Some(
                    value("--only")?
                        .split(',')
                        .map(|n| Scenario::parse(n.trim()).map_err(|e| e.to_string()))
                        .collect::<Result<_, _>>()?,
                )
            }
            "--rounds" => {
                let v = value("--rounds")?;
                cli.rounds = Some(
                    v.parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| format!("--rounds wants a positive number, not {v:?}"))?,
                )
            }
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(Some(cli))
}

pub fn main() -> ExitCode {
    let cli = match parse(std::env::args().skip(1).collect()) {
        Ok(Some(cli)) => cli,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(&cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("bench: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `Ok(false)`: targets missed under `--strict`.
fn run(cli: &Cli) -> test_harness::Result<bool> {
    let wasm = paths::require_wasm()?;
    let empty = std::env::var_os("BENCH_EMPTY_WASM")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            paths::repo_root().join("target/wasm32-wasip1/release/empty_filter.wasm")
        });
    let mut opts = if cli.quick {
        Options::quick(wasm, empty)
    } else {
        Options::full(wasm, empty)
    };
    if let Some(only) = &cli.only {
        opts.scenarios = only.clone();
    }
    if let Some(rounds) = cli.rounds {
        opts.rounds = rounds;
    }
    let out = cli.out.clone().unwrap_or_else(|| {
        if cli.quick {
            std::env::temp_dir().join(format!("toolguard-bench-quick-{}.md", std::process::id()))
        } else {
            paths::repo_root().join("BENCHMARKS.md")
        }
    });
    let results = crate::run(&opts)?;
    let mut command = "scripts/bench".to_string();
    for arg in std::env::args().skip(1) {
        command.push(' ');
        command.push_str(&arg);
    }
    let md = report::markdown(&opts, &results, &command);
    std::fs::write(&out, &md)
        .map_err(|e| test_harness::Error::new(format!("writing {}: {e}", out.display())))?;
    eprintln!(
        "bench: wrote {} ({:.0} s)",
        out.display(),
        results.elapsed.as_secs_f64()
    );
    let targets = report::targets(&opts, &results);
    let mut all_met = true;
    for t in &targets {
        let verdict = match (opts.quick, t.met) {
            (_, None) => "not run",
            (true, Some(_)) => "not judged",
            (false, Some(true)) => "met",
            (false, Some(false)) => {
                all_met = false;
                "MISSED"
            }
        };
        eprintln!("bench:   {:<48} {:>12}  {verdict}", t.name, t.measured);
    }
    Ok(!cli.strict || all_met)
}
