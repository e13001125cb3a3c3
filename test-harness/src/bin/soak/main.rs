//! `soak`: many concurrent streams through one real Envoy with the filter for a
//! while, every answer checked, the Envoy log watched for panics of the filter
//! and Envoy's memory watched for growth (issue #7 "Robustness").
//!
//! ```text
//! soak MINUTES [--workers N] [--seed N] [--envoy-workers N]
//! ```
//!
//! The mix, drawn at random by each of the concurrent client workers (HTTP/1.1
//! or h2c at random, every request on a fresh connection):
//!
//! | kind        | what                                                         | correct answer |
//! |-------------|--------------------------------------------------------------|----------------|
//! | allowed     | a fixture stream, a caller allowed every tool                 | 200, the fixture byte-identical, ended cleanly |
//! | denied      | the same streams, a caller allowed no tool                    | 200, the fixture up to its first tool-call frame, then the SPEC error event, nothing else |
//! | bad_token   | no token, an expired one, one with a bad signature            | 401 with the SPEC body and reason |
//! | no_keys     | a token of a second provider whose JWKS never answers well    | 503 `jwks_unavailable` with `Retry-After` |
//! | reset       | an allowed stream whose upstream aborts inside a frame        | 200, a broken stream holding the stream up to a frame end, never part of a frame |
//! | disconnect  | an allowed long stream the client leaves after a few chunks   | what arrived is the stream's start; the upstream sees the client go |
//! | over_limit  | an allowed stream of a user whose request limit is 0          | 429 `rate_limited` with `Retry-After` while the service answers; during its faults the request goes on (200, the fixture) |
//!
//! Upstream chunkings are drawn from a seeded PRNG (whole, tiny pieces, paced
//! pieces). Meanwhile the main provider's JWKS (`cache_duration` 2 s, so it is
//! refetched all the time) flaps: good, failing (500), slow (past its 1 s
//! timeout), garbage, an HTML page, 50 MiB (more than Envoy buffers for the
//! filter's calls; first cycle only, 5 MiB later), aborted mid-body, and its
//! key set rotates (a key is added
//! and removed; the keys tokens are signed with stay), so verified tokens are
//! dropped from the filter's cache and checked again.
//!
//! Every authenticated request is also rate-limited (`rate_limits.requests`,
//! one descriptor per user, `failure_mode_deny` false, timeout 200 ms) by the
//! harness's rate-limit service (limitador on Redis), generous for everyone
//! but the over_limit users. Its address is a switch that goes round
//! phases of its own: the service, then down, slow (1 s, past the timeout),
//! answering garbage, closing mid-call, with the service between each. During
//! the faults every request must go on as if no limit were configured.
//!
//! Pass criteria (the exit status is non-zero otherwise):
//! - no wrong verdict of any kind;
//! - the filter counted rate-limit answers (`toolguard.ratelimit.ok`,
//!   `.over_limit`) and the faults (`toolguard.ratelimit.error`);
//! - no panic of the filter (or failed Wasm VM) in Envoy's log, and Envoy alive;
//! - no stream left open at the end (`http.ingress.downstream_rq_active` and
//!   `cluster.agent.upstream_rq_active` back to 0);
//! - flat memory: Envoy's RSS at the end minus its RSS once 20% of the run has
//!   passed (warm-up and first allocations done) stays under
//!   max(10% of that RSS, 16 MiB). A leak of one stream's state per request
//!   (a few KiB) over thousands of requests crosses that; allocator noise
//!   does not.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use test_harness::plugin_config::{TEST_AUDIENCE, TEST_ISSUER};
use test_harness::ratelimit::{RateLimitService, RateLimitSwitch};
use test_harness::rng::SplitMix64 as Rng;
use test_harness::{tokens, Bootstrap, Envoy, JwksMode, MockAgent, MockJwks};

mod flap;
mod streams;
mod verdicts;

use flap::{flap, flap_ratelimit, rl_limits, RlPhase, RL_DOMAIN, RL_PHASE};
use streams::{load_fixtures, route_all};
use verdicts::{mint_tokens, pick_kind, request, run_one, sweep, Tally, World, KINDS, WEIGHTS};

/// The event-stream reader of the real-Envoy tests, written from the SPEC
/// without the filter's code: frames and where tool calls start.
#[allow(dead_code)]
#[path = "../../../tests/common/sse.rs"]
mod sse;

const USAGE: &str = "usage: soak MINUTES [--workers N] [--seed N] [--envoy-workers N]
  MINUTES may be fractional (0.5). Defaults: 48 client workers, seed 1, 2 Envoy workers.";

/// The second provider's issuer; its JWKS always fails.
const DOWN_ISSUER: &str = "https://down.toolguard.test";
/// A disconnect's upstream must have seen the client go by this long after
/// the request arrived.
const CLIENT_GONE_WITHIN: Duration = Duration::from_secs(20);
/// Requests older than this are checked and forgotten by the sweeper.
const SWEEP_AGE: Duration = Duration::from_secs(25);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const MIB: u64 = 1024;

struct Options {
    minutes: f64,
    workers: usize,
    seed: u64,
    envoy_workers: u32,
}

fn parse_args() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let mut opts = Options {
        minutes: -1.0,
        workers: 48,
        seed: 1,
        envoy_workers: 2,
    };
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--workers" => {
                opts.workers = value("--workers")?
                    .parse()
                    .map_err(|e| format!("--workers: {e}"))?
            }
            "--seed" => {
                opts.seed = value("--seed")?
                    .parse()
                    .map_err(|e| format!("--seed: {e}"))?
            }
            "--envoy-workers" => {
                opts.envoy_workers = value("--envoy-workers")?
                    .parse()
                    .map_err(|e| format!("--envoy-workers: {e}"))?
            }
            "-h" | "--help" => return Err(String::new()),
            m if opts.minutes < 0.0 => {
                opts.minutes = m.parse().map_err(|e| format!("MINUTES {m:?}: {e}"))?
            }
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    if !opts.minutes.is_finite() || opts.minutes <= 0.0 {
        return Err("MINUTES (> 0) is required".into());
    }
    if opts.workers == 0 {
        return Err("--workers must be at least 1".into());
    }
    Ok(opts)
}

// --- main ------------------------------------------------------------------------

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("soak: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match soak(&opts) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("soak: {e}");
            ExitCode::FAILURE
        }
    }
}

fn soak(opts: &Options) -> Result<bool, String> {
    let mut rng = Rng(opts.seed);
    let fixtures = load_fixtures(&mut rng);
    let mut rig = Rig::start(opts, &fixtures, &mut rng)?;
    let world = Arc::new(World {
        url: rig.envoy.url(""),
        fixtures,
        tokens: mint_tokens(),
        rl: rig.rl_phase.clone(),
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let rss_start = warm_up(&rig.envoy, &world, &rt, opts)?;
    let mut run = run_mix(&rig, &world, &rt, opts, rss_start)?;
    let end = End::read(&mut rig.envoy, &mut run)?;
    print_summary(opts, &rig, &run, &end);
    let failures = failures(&run, &end);
    if failures.is_empty() {
        println!("soak: PASS");
        Ok(true)
    } else {
        rig.envoy.keep_logs();
        println!(
            "soak: FAIL: {} (Envoy log kept at {})",
            failures.join("; "),
            rig.envoy.log_path().display()
        );
        Ok(false)
    }
}

/// What runs for the whole soak: the agent, the two providers' JWKS, the
/// rate-limit service behind its switch, and Envoy in front of them.
struct Rig {
    agent: MockAgent,
    jwks: Arc<MockJwks>,
    _down: MockJwks,
    limiter: RateLimitService,
    switch: Arc<RateLimitSwitch>,
    rl_phase: Arc<RlPhase>,
    envoy: Envoy,
}

impl Rig {
    fn start(opts: &Options, fixtures: &[streams::Fixture], rng: &mut Rng) -> Result<Rig, String> {
        let agent = MockAgent::start().map_err(|e| e.to_string())?;
        route_all(&agent, fixtures, rng);
        let jwks = MockJwks::start(tokens::default_jwks()).map_err(|e| e.to_string())?;
        let down = MockJwks::start(tokens::default_jwks()).map_err(|e| e.to_string())?;
        down.set_mode(JwksMode::Fail(503));
        let limiter =
            RateLimitService::start(RL_DOMAIN, &rl_limits()).map_err(|e| e.to_string())?;
        let switch = Arc::new(RateLimitSwitch::start(limiter.addr()).map_err(|e| e.to_string())?);
        let rl_phase = Arc::new(RlPhase::default());
        rl_phase.set(true);
        let bootstrap = Bootstrap::new()
            .plugin_config_json(&plugin_config(&jwks, &down))
            .upstream(agent.addr())
            .jwks_cluster(jwks.addr())
            .cluster("jwks_down", down.addr())
            .grpc_cluster("ratelimit", switch.addr())
            .concurrency(opts.envoy_workers);
        let envoy = Envoy::start(&bootstrap).map_err(|e| e.to_string())?;
        println!(
            "soak: {:.2} min, {} client workers, seed {}, Envoy pid {:?} ({} workers), log {}",
            opts.minutes,
            opts.workers,
            opts.seed,
            envoy.envoy_pid(),
            opts.envoy_workers,
            envoy.log_path().display()
        );
        println!(
            "soak: {} fixture streams, mix {:?}",
            fixtures.len(),
            KINDS.iter().zip(WEIGHTS).collect::<Vec<_>>()
        );
        Ok(Rig {
            agent,
            jwks: Arc::new(jwks),
            _down: down,
            limiter,
            switch,
            rl_phase,
            envoy,
        })
    }
}

/// The main provider on the flapping JWKS (refetched every 2 s), a second
/// provider whose JWKS never answers well, every tool for group `all`, and a
/// request limit per user that fails open.
fn plugin_config(jwks: &MockJwks, down: &MockJwks) -> Value {
    json!({
        "providers": {
            "main": {
                "issuer": TEST_ISSUER,
                "audiences": [TEST_AUDIENCE],
                "remote_jwks": {
                    "http_uri": {"uri": jwks.uri(), "cluster": "jwks", "timeout": "1s"},
                    "cache_duration": "2s",
                },
                "roles_claim": "cognito:groups",
            },
            "down": {
                "issuer": DOWN_ISSUER,
                "audiences": [TEST_AUDIENCE],
                "remote_jwks": {
                    "http_uri": {"uri": down.uri(), "cluster": "jwks_down", "timeout": "1s"},
                    "cache_duration": "600s",
                },
            },
        },
        "tools": {"roles": {"all": ["*"]}, "default": []},
        "rate_limits": {
            "service": {"cluster": "ratelimit", "domain": RL_DOMAIN, "timeout": "200ms", "failure_mode_deny": false},
            "requests": [[{"key": "user", "from": "claim:sub"}]],
        },
    })
}

/// Until every Envoy worker has fetched the main provider's keys (only VMs
/// that serve requests fetch), so flapping cannot find a VM without keys.
/// Returns Envoy's RSS then.
fn warm_up(
    envoy: &Envoy,
    world: &Arc<World>,
    rt: &tokio::runtime::Runtime,
    opts: &Options,
) -> Result<u64, String> {
    let warm = Instant::now();
    let mut warm_requests = 0;
    while envoy.counter("toolguard.jwks.fetch_ok").unwrap_or(0) < u64::from(opts.envoy_workers)
        || warm_requests < 20
    {
        if warm.elapsed() > Duration::from_secs(60) {
            return Err("warm-up: the Envoy workers did not all fetch keys within 60 s".into());
        }
        let batch: Vec<_> = (0..8)
            .map(|n| {
                let w = world.clone();
                rt.spawn(async move {
                    request(&w.url, "/s/0/0", n % 2 == 1)
                        .bearer(&w.tokens.allowed[0])
                        .send()
                        .await
                        .map(|r| r.status)
                })
            })
            .collect();
        for b in batch {
            let _ = rt.block_on(b);
            warm_requests += 1;
        }
    }
    let rss_start = envoy.rss_kib().unwrap_or(0);
    println!(
        "soak: warm after {:.1} s ({warm_requests} requests); Envoy RSS {:.1} MiB",
        warm.elapsed().as_secs_f64(),
        rss_start as f64 / 1024.0
    );
    Ok(rss_start)
}

type Phases = Arc<Mutex<BTreeMap<&'static str, u64>>>;

/// What the run left to judge.
struct Run {
    ran: Duration,
    rss_start: u64,
    /// Envoy's RSS (KiB) by seconds into the run.
    rss: Vec<(f64, u64)>,
    swept: usize,
    tally: Arc<Mutex<Tally>>,
    phases: Phases,
    rl_phases: Phases,
}

/// The mix for the run's length: the client workers, the two flappers, and
/// meanwhile RSS samples and sweeps of the upstream's records.
fn run_mix(
    rig: &Rig,
    world: &Arc<World>,
    rt: &tokio::runtime::Runtime,
    opts: &Options,
    rss_start: u64,
) -> Result<Run, String> {
    let total = Duration::from_secs_f64(opts.minutes * 60.0);
    let started = Instant::now();
    let deadline = started + total;
    let stop = Arc::new(AtomicBool::new(false));
    let mut run = Run {
        ran: Duration::ZERO,
        rss_start,
        rss: vec![(0.0, rss_start)],
        swept: 0,
        tally: Arc::new(Mutex::new(Tally::default())),
        phases: Arc::default(),
        rl_phases: Arc::default(),
    };
    let flapper = {
        let (stop, phases, jwks) = (stop.clone(), run.phases.clone(), rig.jwks.clone());
        std::thread::spawn(move || flap(&jwks, &stop, &phases))
    };
    let rl_flapper = {
        let (stop, phases) = (stop.clone(), run.rl_phases.clone());
        let (switch, phase) = (rig.switch.clone(), rig.rl_phase.clone());
        std::thread::spawn(move || flap_ratelimit(&switch, &phase, &stop, &phases))
    };
    let workers: Vec<_> = (0..opts.workers)
        .map(|w| {
            let (world, tally) = (world.clone(), run.tally.clone());
            let mut rng = Rng(opts.seed.wrapping_mul(1_000_003).wrapping_add(w as u64 + 1));
            rt.spawn(async move {
                while Instant::now() < deadline {
                    let kind = pick_kind(&mut rng);
                    let h2c = rng.below(2) == 1;
                    let verdict = run_one(&world, kind, h2c, &mut rng).await;
                    tally.lock().unwrap().record(kind, h2c, verdict);
                }
            })
        })
        .collect();
    watch(rig, &mut run, started, total);
    for w in workers {
        let _ = rt.block_on(w);
    }
    stop.store(true, Ordering::Relaxed);
    flapper.join().map_err(|_| "the JWKS flapper panicked")?;
    rl_flapper
        .join()
        .map_err(|_| "the rate-limit flapper panicked")??;
    run.ran = started.elapsed();
    // The disconnects of the last seconds.
    run.swept += sweep(&rig.agent, Instant::now(), &run.tally);
    Ok(run)
}

/// Until `total` has passed: samples Envoy's RSS and sweeps the upstream's
/// records, printing progress now and then.
fn watch(rig: &Rig, run: &mut Run, started: Instant, total: Duration) {
    let deadline = started + total;
    let sample_every = (total / 20).max(Duration::from_secs(2));
    let mut next_sample = started + sample_every;
    let mut last_print = Instant::now();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        if Instant::now() >= next_sample {
            let t = started.elapsed().as_secs_f64();
            let r = rig.envoy.rss_kib().unwrap_or(0);
            run.rss.push((t, r));
            next_sample += sample_every;
            if last_print.elapsed() >= Duration::from_secs(30) || total < Duration::from_secs(120) {
                let t_ = run.tally.lock().unwrap();
                let sent: u64 = t_.sent.values().sum();
                let wrong: u64 = t_.wrong.values().sum();
                println!(
                    "soak: {t:6.1} s  requests {sent:7}  wrong {wrong}  Envoy RSS {:.1} MiB",
                    r as f64 / 1024.0
                );
                last_print = Instant::now();
            }
        }
        if let Some(before) = Instant::now().checked_sub(SWEEP_AGE) {
            run.swept += sweep(&rig.agent, before, &run.tally);
        }
    }
}

/// Envoy at the end of the run.
struct End {
    /// Gauges of streams still open (none, once settled).
    open: Vec<(String, u64)>,
    rss_end: u64,
    /// RSS once 20% of the run had passed, the memory baseline.
    rss_base: u64,
    stats: BTreeMap<String, u64>,
    alive: bool,
    panics: Vec<String>,
}

impl End {
    fn read(envoy: &mut Envoy, run: &mut Run) -> Result<End, String> {
        let open = settled_open_streams(envoy)?;
        let rss_end = envoy.rss_kib().unwrap_or(0);
        run.rss.push((run.ran.as_secs_f64(), rss_end));
        // Memory: end against the first sample at or after 20% of the run.
        let fifth = run.ran.as_secs_f64() * 0.2;
        let rss_base = run
            .rss
            .iter()
            .find(|(t, _)| *t >= fifth)
            .map_or(run.rss_start, |(_, r)| *r);
        Ok(End {
            open,
            rss_end,
            rss_base,
            stats: envoy.stats().map_err(|e| e.to_string())?,
            alive: envoy.is_running(),
            panics: envoy.wasm_panic_lines(),
        })
    }

    /// A filter counter, 0 if Envoy has none.
    fn stat(&self, name: &str) -> u64 {
        self.stats
            .get(name)
            .or_else(|| self.stats.get(&format!("wasmcustom.{name}")))
            .copied()
            .unwrap_or(0)
    }

    fn growth(&self) -> i64 {
        self.rss_end as i64 - self.rss_base as i64
    }

    fn allowed_growth(&self) -> i64 {
        (self.rss_base / 10).max(16 * MIB) as i64
    }
}

/// Every stream must be gone: the open-stream gauges still above 0 after up
/// to 20 s.
fn settled_open_streams(envoy: &Envoy) -> Result<Vec<(String, u64)>, String> {
    let gauges = [
        "http.ingress.downstream_rq_active",
        "cluster.agent.upstream_rq_active",
    ];
    let settle = Instant::now();
    loop {
        let stats = envoy.stats().map_err(|e| e.to_string())?;
        let open: Vec<(String, u64)> = gauges
            .iter()
            .map(|g| (g.to_string(), stats.get(*g).copied().unwrap_or(0)))
            .filter(|(_, v)| *v > 0)
            .collect();
        if open.is_empty() || settle.elapsed() > Duration::from_secs(20) {
            return Ok(open);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn print_summary(opts: &Options, rig: &Rig, run: &Run, end: &End) {
    let tally = run.tally.lock().unwrap();
    let sent: u64 = tally.sent.values().sum();
    let ran = run.ran.as_secs_f64();
    println!(
        "\n=== soak summary ({:.1} min, seed {}) ===",
        ran / 60.0,
        opts.seed
    );
    println!(
        "requests: {sent} ({:.1}/s), upstream requests checked: {}",
        sent as f64 / ran,
        run.swept
    );
    for kind in KINDS {
        let sent = |proto: &str| {
            tally
                .sent
                .get(&format!("{kind} {proto}"))
                .copied()
                .unwrap_or(0)
        };
        let (h1, h2) = (sent("http1"), sent("h2c"));
        let bad = tally.wrong.get(kind).copied().unwrap_or(0);
        println!(
            "  {kind:<11} {:>7}  (http1 {h1:>6}, h2c {h2:>6})  wrong {bad}",
            h1 + h2
        );
    }
    println!("wrong verdicts: {}", tally.wrong.values().sum::<u64>());
    for e in &tally.examples {
        println!("  - {e}");
    }
    println!("JWKS phases: {:?}", run.phases.lock().unwrap());
    println!(
        "rate-limit phases: {:?}; calls: service {}, faulty endpoints {}",
        run.rl_phases.lock().unwrap(),
        rig.limiter.calls(),
        rig.switch.faulty_calls()
    );
    print_envoy_summary(run, end);
}

fn print_envoy_summary(run: &Run, end: &End) {
    let stat = |n: &str| end.stat(&format!("toolguard.{n}"));
    println!(
        "filter counters: jwt.allowed {} jwt.denied {} jwks.fetch_ok {} jwks.fetch_failed {} tools.allowed {} tools.denied {} streams.cut {}",
        stat("jwt.allowed"),
        stat("jwt.denied"),
        stat("jwks.fetch_ok"),
        stat("jwks.fetch_failed"),
        stat("tools.allowed"),
        stat("tools.denied"),
        stat("streams.cut"),
    );
    println!(
        "rate-limit counters: ratelimit.ok {} ratelimit.over_limit {} ratelimit.error {}",
        stat("ratelimit.ok"),
        stat("ratelimit.over_limit"),
        stat("ratelimit.error")
    );
    println!(
        "streams left open: {:?}; Envoy alive: {}",
        end.open, end.alive
    );
    println!("wasm panics in the Envoy log: {}", end.panics.len());
    for l in end.panics.iter().take(5) {
        println!("  {l}");
    }
    let series: Vec<String> = run
        .rss
        .iter()
        .map(|(t, r)| format!("{t:.0}s:{:.1}", *r as f64 / 1024.0))
        .collect();
    println!(
        "Envoy RSS (MiB) start {:.1}, series [{}]",
        run.rss_start as f64 / 1024.0,
        series.join(" ")
    );
    println!(
        "Envoy RSS growth after 20% of the run: {:+.1} MiB (from {:.1} to {:.1}; limit {:.1} MiB)",
        end.growth() as f64 / 1024.0,
        end.rss_base as f64 / 1024.0,
        end.rss_end as f64 / 1024.0,
        end.allowed_growth() as f64 / 1024.0
    );
}

/// The pass criteria of the crate's root, each one not met.
fn failures(run: &Run, end: &End) -> Vec<String> {
    let tally = run.tally.lock().unwrap();
    let sent: u64 = tally.sent.values().sum();
    let wrong: u64 = tally.wrong.values().sum();
    let mut failures = Vec::new();
    if wrong > 0 {
        failures.push(format!("{wrong} wrong verdicts"));
    }
    if !end.panics.is_empty() {
        failures.push(format!("{} wasm panics", end.panics.len()));
    }
    // Answers and faults were both met (a run shorter than one round of the
    // switch, 24 s, may not meet every fault).
    let stat = |n: &str| end.stat(&format!("toolguard.ratelimit.{n}"));
    if stat("ok") == 0 || stat("over_limit") == 0 {
        failures.push("the filter counted no rate-limit answers (ok / over_limit)".to_string());
    }
    if stat("error") == 0 && run.ran >= RL_PHASE * 2 {
        failures.push("the filter counted no rate-limit errors during the faults".to_string());
    }
    if !end.alive {
        failures.push("Envoy died".to_string());
    }
    if !end.open.is_empty() {
        failures.push(format!("streams left open: {:?}", end.open));
    }
    if end.rss_end == 0 {
        failures.push("Envoy's RSS could not be read".to_string());
    } else if end.growth() > end.allowed_growth() {
        failures.push(format!(
            "Envoy RSS grew {:.1} MiB",
            end.growth() as f64 / 1024.0
        ));
    }
    if sent == 0 {
        failures.push("no requests were made".to_string());
    }
    failures
}
