//! `bench` (scripts/bench): measures what toolguard costs against Envoy alone,
//! Envoy's native `jwt_authn` and an empty Wasm filter, and writes
//! BENCHMARKS.md with the medians, the ratios and the targets of issue #8.
//!
//! - [`configs`]: the Envoy configurations compared;
//! - [`load`]: the load tool (wrk) and its per-run summary;
//! - [`pool`]: never-seen tokens, minted ahead;
//! - [`throughput`]: interleaved rounds, each run checked for errors;
//! - [`scenarios`]: what each scenario compares;
//! - [`memory`], [`ttfb`]: the streaming measurements;
//! - [`report`]: the Markdown and the targets;
//! - [`cli`]: the command line.

mod cli;
mod configs;
mod load;
mod memory;
mod native_ratelimit;
mod pool;
mod ratelimit;
mod raw;
mod report;
mod scenarios;
mod sse;
mod stats;
mod throughput;
mod ttfb;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use test_harness::tokens::Key;
use test_harness::{Error, Result};

/// The scenarios, by the names `--only` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    Cached,
    NeverSeen,
    Sse,
    Memory,
    FirstByte,
    RateLimit,
}

impl Scenario {
    pub const ALL: [Scenario; 6] = [
        Scenario::Cached,
        Scenario::NeverSeen,
        Scenario::Sse,
        Scenario::Memory,
        Scenario::FirstByte,
        Scenario::RateLimit,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Cached => "cached",
            Scenario::NeverSeen => "never-seen",
            Scenario::Sse => "sse",
            Scenario::Memory => "memory",
            Scenario::FirstByte => "first-byte",
            Scenario::RateLimit => "ratelimit",
        }
    }

    pub fn parse(name: &str) -> Result<Scenario> {
        Scenario::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| {
                Error::new(format!(
                    "unknown scenario {name:?}; known: {}",
                    Scenario::ALL.map(Scenario::name).join(", ")
                ))
            })
    }
}

/// Everything a run is parameterised by; [`Options::full`] and
/// [`Options::quick`] are the two presets.
#[derive(Clone, Debug)]
pub struct Options {
    pub quick: bool,
    pub scenarios: Vec<Scenario>,
    pub rounds: usize,
    /// Seconds per run: cached token, never-seen tokens, SSE.
    pub auth_secs: u32,
    pub fresh_secs: u32,
    pub sse_secs: u32,
    /// Unrecorded load on each fresh Envoy before its first run.
    pub warmup_secs: u32,
    pub auth_connections: u32,
    pub sse_connections: u32,
    /// Envoy worker threads (`--concurrency`).
    pub workers: u32,
    /// Tokens minted per second of a never-seen run, per algorithm: above
    /// what the fastest verifying configuration completes, so no token repeats.
    pub rs256_per_sec: usize,
    pub es256_per_sec: usize,
    pub sse_bytes: usize,
    pub max_frame_bytes: usize,
    pub stream_counts: Vec<usize>,
    pub settle: Duration,
    pub hold: Duration,
    pub ttfb_samples: usize,
    /// How long the slow upstream waits after its first frame.
    pub slow_pause: Duration,
    pub toolguard_wasm: PathBuf,
    pub empty_wasm: PathBuf,
    /// Scratch files (the Lua script, the SSE body).
    pub work_dir: PathBuf,
    /// Where token pools are kept between runs.
    pub token_dir: PathBuf,
}

impl Options {
    /// About 12 minutes on a 2-core machine.
    pub fn full(toolguard_wasm: PathBuf, empty_wasm: PathBuf) -> Options {
        let scratch = std::env::temp_dir().join("toolguard-bench");
        Options {
            quick: false,
            scenarios: Scenario::ALL.to_vec(),
            rounds: 5,
            auth_secs: 10,
            // Short, because every request needs a token minted ahead.
            fresh_secs: 3,
            sse_secs: 8,
            warmup_secs: 1,
            auth_connections: 16,
            sse_connections: 4,
            workers: 1,
            // Native jwt_authn verifies about 9k RS256 and 4.5k ES256 tokens a
            // second here; the margin covers a quieter machine.
            rs256_per_sec: 14_000,
            es256_per_sec: 8_000,
            sse_bytes: 1024 * 1024,
            max_frame_bytes: 65536,
            stream_counts: vec![1, 100, 1000],
            settle: Duration::from_secs(2),
            hold: Duration::from_secs(10),
            ttfb_samples: 50,
            slow_pause: Duration::from_secs(5),
            toolguard_wasm,
            empty_wasm,
            work_dir: scratch.join(format!("run-{}", std::process::id())),
            token_dir: scratch.join("tokens"),
        }
    }

    /// A smoke run: every scenario once, briefly; numbers mean little.
    pub fn quick(toolguard_wasm: PathBuf, empty_wasm: PathBuf) -> Options {
        Options {
            quick: true,
            rounds: 1,
            auth_secs: 1,
            fresh_secs: 1,
            // One 1 MiB stream can take over a second on a loaded machine; a
            // round with none completed fails the smoke run.
            sse_secs: 3,
            warmup_secs: 1,
            stream_counts: vec![1, 10, 20],
            settle: Duration::from_millis(500),
            hold: Duration::from_secs(1),
            ttfb_samples: 5,
            slow_pause: Duration::from_secs(2),
            // A quick run reports reuse rather than mint for a minute.
            rs256_per_sec: 2_000,
            es256_per_sec: 2_000,
            ..Options::full(toolguard_wasm, empty_wasm)
        }
    }

    pub fn pool_size(&self, key: Key) -> usize {
        let per_sec = match key {
            Key::Ec1 => self.es256_per_sec,
            _ => self.rs256_per_sec,
        };
        per_sec * self.fresh_secs.max(1) as usize
    }

    fn wants(&self, s: Scenario) -> bool {
        self.scenarios.contains(&s)
    }
}

/// Everything measured; `None` for a scenario not run.
pub struct Results {
    pub cached: Option<Vec<throughput::Series>>,
    pub never_seen_rs256: Option<(Vec<throughput::Series>, usize)>,
    pub never_seen_es256: Option<(Vec<throughput::Series>, usize)>,
    pub never_seen_ps256: Option<(Vec<throughput::Series>, usize)>,
    pub never_seen_eddsa: Option<(Vec<throughput::Series>, usize)>,
    pub sse: Option<scenarios::SseResult>,
    pub sse_large: Option<scenarios::SseResult>,
    pub memory: Option<Vec<memory::MemoryRun>>,
    pub first_byte: Option<ttfb::TtfbResult>,
    pub ratelimit: Option<Vec<throughput::Series>>,
    pub wasm_bytes: u64,
    pub empty_wasm_bytes: u64,
    /// The load tool, as it names itself.
    pub load_tool: String,
    pub elapsed: Duration,
}

/// Runs the selected scenarios. Any functional failure (errors, non-2xx
/// answers, cut streams, nothing measured) is an error.
pub fn run(opts: &Options) -> Result<Results> {
    let started = Instant::now();
    test_harness::paths::check_wasm(&opts.toolguard_wasm)?;
    if !opts.empty_wasm.is_file() {
        return Err(Error::new(format!(
            "the empty filter module {} does not exist: scripts/bench builds it \
             (cargo build --manifest-path test-harness/empty-filter/Cargo.toml \
             --target wasm32-wasip1 --release)",
            opts.empty_wasm.display()
        )));
    }
    std::fs::create_dir_all(&opts.work_dir)
        .map_err(|e| Error::new(format!("creating {}: {e}", opts.work_dir.display())))?;
    let wrk = load::Wrk::new(&opts.work_dir)?;
    let step = |name: &str| {
        eprintln!(
            "bench: == {name} ({:.0} s in)",
            started.elapsed().as_secs_f64()
        )
    };
    let mut results = Results {
        cached: None,
        never_seen_rs256: None,
        never_seen_es256: None,
        never_seen_ps256: None,
        never_seen_eddsa: None,
        sse: None,
        sse_large: None,
        memory: None,
        first_byte: None,
        ratelimit: None,
        wasm_bytes: scenarios::file_size(&opts.toolguard_wasm)?,
        empty_wasm_bytes: scenarios::file_size(&opts.empty_wasm)?,
        load_tool: wrk.version(),
        elapsed: Duration::ZERO,
    };
    if opts.wants(Scenario::Cached) {
        step("1. cached token (RS256)");
        results.cached = Some(scenarios::cached(&wrk, opts)?);
    }
    if opts.wants(Scenario::NeverSeen) {
        step("2. never-seen tokens, RS256");
        results.never_seen_rs256 = Some(scenarios::never_seen(&wrk, opts, Key::Rsa1, None)?);
        step("2. never-seen tokens, ES256");
        results.never_seen_es256 = Some(scenarios::never_seen(&wrk, opts, Key::Ec1, None)?);
        step("2. never-seen tokens, PS256");
        let ps256 = Some(("PS256", configs::ps256_kid()));
        results.never_seen_ps256 = Some(scenarios::never_seen(&wrk, opts, Key::Rsa1, ps256)?);
        step("2. never-seen tokens, EdDSA");
        results.never_seen_eddsa = Some(scenarios::never_seen(&wrk, opts, Key::Ed1, None)?);
    }
    if opts.wants(Scenario::Sse) {
        step("3. SSE policing");
        results.sse = Some(scenarios::sse_policing(&wrk, opts, false)?);
        step("3. SSE policing, large frames");
        results.sse_large = Some(scenarios::sse_policing(&wrk, opts, true)?);
    }
    if opts.wants(Scenario::Memory) {
        step("4. memory per stream");
        results.memory = Some(scenarios::memory(opts)?);
    }
    if opts.wants(Scenario::FirstByte) {
        step("5. first frame on a slow stream");
        results.first_byte = Some(scenarios::first_frame(opts)?);
    }
    if opts.wants(Scenario::RateLimit) {
        step("7. request limits (rate-limit service)");
        results.ratelimit = Some(ratelimit::run(&wrk, opts)?);
    }
    let _ = std::fs::remove_dir_all(&opts.work_dir);
    results.elapsed = started.elapsed();
    Ok(results)
}

fn main() -> ExitCode {
    cli::main()
}
