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

use bytes::Bytes;
use serde_json::{json, Value};
use test_harness::client::{self, BodyEnding, Response};
use test_harness::plugin_config::{TEST_AUDIENCE, TEST_ISSUER};
use test_harness::ratelimit::{Behind, Fault, RateLimitService, RateLimitSwitch};
use test_harness::tokens::{self, Key, Token};
use test_harness::{paths, BodyEnd, Bootstrap, Chunking, JwksMode, MockAgent, MockJwks, Reply};

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

// --- randomness ----------------------------------------------------------------

use test_harness::rng::SplitMix64 as Rng;

// --- the streams -----------------------------------------------------------------

struct Fixture {
    name: String,
    bytes: Bytes,
    /// What a caller allowed no tool receives.
    denied: Bytes,
    /// Reset variants: (byte where the upstream aborts, frame ends of the
    /// stream cut there, i.e. where a broken stream may stop).
    resets: Vec<(usize, Vec<usize>)>,
}

fn load_fixtures(rng: &mut Rng) -> Vec<Fixture> {
    paths::stream_fixtures()
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|(name, bytes)| {
            let (_, frame, names) =
                sse::first_tool_frame(&bytes).unwrap_or_else(|| panic!("{name}: no tool call"));
            let mut denied = bytes[..frame.range.start].to_vec();
            denied.extend_from_slice(sse::denied_event(&names[0]).as_bytes());
            let frames = sse::frames(&bytes);
            let resets = (0..4)
                .filter_map(|_| {
                    // Strictly inside a frame, after the first one if there
                    // are several.
                    let first = usize::from(frames.len() > 1);
                    let f = &frames[first + rng.below(frames.len() - first)];
                    let len = f.range.len();
                    (len >= 2).then(|| f.range.start + 1 + rng.below(len - 1))
                })
                .map(|at| {
                    let mut ends = vec![0];
                    ends.extend(
                        sse::frames(&bytes[..at])
                            .iter()
                            .filter(|f| f.terminated)
                            .map(|f| f.range.end),
                    );
                    (at, ends)
                })
                .collect();
            Fixture {
                name,
                bytes: Bytes::from(bytes),
                denied: Bytes::from(denied),
                resets,
            }
        })
        .collect()
}

/// How the upstream cuts a body, by variant.
fn chunking(variant: usize, seed: u64) -> (Chunking, Duration) {
    match variant {
        0 => (Chunking::Whole, Duration::ZERO),
        1 => (Chunking::Random { seed, max: 3 }, Duration::ZERO),
        2 => (Chunking::Random { seed, max: 64 }, Duration::from_millis(1)),
        _ => (
            Chunking::Random { seed, max: 400 },
            Duration::from_millis(3),
        ),
    }
}
const VARIANTS: usize = 4;

fn route_all(agent: &MockAgent, fixtures: &[Fixture], rng: &mut Rng) {
    for (i, f) in fixtures.iter().enumerate() {
        for v in 0..VARIANTS {
            let (c, d) = chunking(v, rng.next_u64());
            agent.route(
                &format!("/s/{i}/{v}"),
                Reply::sse(f.bytes.clone()).chunking(c).delay(d),
            );
        }
        for (r, (at, _)) in f.resets.iter().enumerate() {
            let (c, d) = chunking(1 + r % 3, rng.next_u64());
            agent.route(
                &format!("/r/{i}/{r}"),
                Reply::sse(f.bytes.clone())
                    .chunking(c)
                    .delay(d)
                    .reset_after(*at),
            );
        }
        agent.route(
            &format!("/l/{i}"),
            Reply::sse(f.bytes.clone())
                .chunking(Chunking::Random {
                    seed: rng.next_u64(),
                    max: 50,
                })
                .delay(Duration::from_millis(2))
                .then_keep_streaming(Duration::from_millis(30), Duration::from_secs(60)),
        );
    }
}

// --- verdicts --------------------------------------------------------------------

const KINDS: [&str; 7] = [
    "allowed",
    "denied",
    "bad_token",
    "no_keys",
    "reset",
    "disconnect",
    "over_limit",
];
/// Relative weights of [`KINDS`].
const WEIGHTS: [usize; 7] = [30, 25, 10, 3, 14, 18, 6];

#[derive(Default)]
struct Tally {
    /// Requests by kind and protocol.
    sent: BTreeMap<String, u64>,
    /// Wrong verdicts by kind.
    wrong: BTreeMap<String, u64>,
    /// The first few wrong verdicts, described.
    examples: Vec<String>,
}

impl Tally {
    fn record(&mut self, kind: &str, h2c: bool, verdict: Result<(), String>) {
        let proto = if h2c { "h2c" } else { "http1" };
        *self.sent.entry(format!("{kind} {proto}")).or_default() += 1;
        if let Err(why) = verdict {
            self.wrong_verdict(kind, why);
        }
    }

    fn wrong_verdict(&mut self, kind: &str, why: String) {
        *self.wrong.entry(kind.to_string()).or_default() += 1;
        if self.examples.len() < 20 {
            self.examples.push(format!("{kind}: {why}"));
        }
    }
}

struct Tokens {
    allowed: Vec<String>,
    denied: Vec<String>,
    /// (authorization header or none, expected error, expected reason)
    bad: Vec<(Option<String>, &'static str, Option<&'static str>)>,
    down: Vec<String>,
    /// Users whose request limit is 0: every request is over it.
    over_limit: Vec<String>,
}

fn mint_tokens() -> Tokens {
    let subs = |prefix: &str, groups: &[&str], keys: &[Key]| -> Vec<String> {
        (0..8)
            .map(|n| {
                Token::standard(keys[n % keys.len()])
                    .sub(&format!("{prefix}-{n}"))
                    .groups(groups)
                    .mint()
            })
            .collect()
    };
    let keys = [Key::Rsa1, Key::Ec1, Key::Ed1];
    Tokens {
        allowed: subs("allowed", &["all"], &keys),
        denied: subs("denied", &[], &keys),
        bad: vec![
            (None, "missing_token", None),
            (
                Some(format!(
                    "Bearer {}",
                    Token::standard(Key::Rsa1).exp_in(-3600).mint()
                )),
                "invalid_token",
                Some("expired"),
            ),
            (
                Some(format!(
                    "Bearer {}",
                    Token::standard(Key::Ec1).corrupt_signature().mint()
                )),
                "invalid_token",
                Some("bad_signature"),
            ),
            (
                Some("Bearer not.a.jwt".into()),
                "invalid_token",
                Some("malformed"),
            ),
        ],
        down: (0..4)
            .map(|n| {
                Token::standard(Key::Rsa1)
                    .iss(DOWN_ISSUER)
                    .sub(&format!("down-{n}"))
                    .mint()
            })
            .collect(),
        over_limit: (0..4)
            .map(|n| {
                Token::standard(keys[n % keys.len()])
                    .sub(&format!("{OVER_LIMIT_PREFIX}{n}"))
                    .groups(&["all"])
                    .mint()
            })
            .collect(),
    }
}

fn request(envoy_url: &str, path: &str, h2c: bool) -> client::RequestBuilder {
    let req = client::post(&format!("{envoy_url}{path}"))
        .timeout(REQUEST_TIMEOUT)
        .header("content-type", "text/plain")
        .body("{}");
    if h2c {
        req.h2c()
    } else {
        req
    }
}

fn describe(resp: &Response) -> String {
    let text = String::from_utf8_lossy(&resp.body);
    let short: String = text.chars().take(160).collect();
    format!(
        "status {} ending {:?} {} bytes: {short:?}",
        resp.status,
        resp.ending,
        resp.body.len()
    )
}

fn check_json_error(
    resp: &Response,
    status: u16,
    error: &str,
    reason: Option<&str>,
) -> Result<(), String> {
    let body: Value = serde_json::from_slice(&resp.body).map_err(|_| describe(resp))?;
    let ok = resp.status == status
        && resp.header("content-type") == Some("application/json")
        && body["error"] == error
        && body["message"].as_str().is_some_and(|m| !m.is_empty())
        && reason.is_none_or(|r| body["reason"] == r);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "want {status} {error} {reason:?}; got {}",
            describe(resp)
        ))
    }
}

struct World {
    url: String,
    fixtures: Vec<Fixture>,
    tokens: Tokens,
    rl: Arc<RlPhase>,
}

/// One request of `kind`; `Err` describes a wrong verdict.
async fn run_one(world: &World, kind: &str, h2c: bool, rng: &mut Rng) -> Result<(), String> {
    let fi = rng.below(world.fixtures.len());
    let f = &world.fixtures[fi];
    let pick = |list: &Vec<String>, rng: &mut Rng| list[rng.below(list.len())].clone();
    match kind {
        "allowed" | "denied" => {
            let token = if kind == "allowed" {
                pick(&world.tokens.allowed, rng)
            } else {
                pick(&world.tokens.denied, rng)
            };
            let path = format!("/s/{fi}/{}", rng.below(VARIANTS));
            let resp = request(&world.url, &path, h2c)
                .bearer(&token)
                .send()
                .await
                .map_err(|e| format!("{path}: {e}"))?;
            let want = if kind == "allowed" {
                &f.bytes
            } else {
                &f.denied
            };
            let ending_ok = if kind == "allowed" {
                resp.ending == BodyEnding::Complete
            } else {
                resp.ending != BodyEnding::TimedOut
            };
            if resp.status == 200 && ending_ok && resp.body == *want {
                Ok(())
            } else {
                Err(format!("{} {path}: {}", f.name, describe(&resp)))
            }
        }
        "bad_token" => {
            let (auth, error, reason) = &world.tokens.bad[rng.below(world.tokens.bad.len())];
            let mut req = request(&world.url, "/s/0/0", h2c);
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let resp = req.send().await.map_err(|e| e.to_string())?;
            check_json_error(&resp, 401, error, *reason)
        }
        "no_keys" => {
            let resp = request(&world.url, "/s/0/0", h2c)
                .bearer(&pick(&world.tokens.down, rng))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            check_json_error(&resp, 503, "jwks_unavailable", None)?;
            match resp.header("retry-after").map(str::parse::<u64>) {
                Some(Ok(s)) if s >= 1 => Ok(()),
                other => Err(format!("Retry-After {other:?}")),
            }
        }
        "reset" => {
            let r = rng.below(f.resets.len());
            let (at, ends) = &f.resets[r];
            let path = format!("/r/{fi}/{r}");
            let resp = request(&world.url, &path, h2c)
                .bearer(&pick(&world.tokens.allowed, rng))
                .send()
                .await
                .map_err(|e| format!("{path}: {e}"))?;
            let got = resp.body.len();
            let whole_frames = ends.contains(&got) && resp.body[..] == f.bytes[..got];
            if resp.status == 200 && matches!(resp.ending, BodyEnding::Error(_)) && whole_frames {
                Ok(())
            } else {
                Err(format!(
                    "{} {path} (reset at byte {at}; frame ends {ends:?}): {}",
                    f.name,
                    describe(&resp)
                ))
            }
        }
        "disconnect" => {
            let path = format!("/l/{fi}");
            let mut stream = request(&world.url, &path, h2c)
                .bearer(&pick(&world.tokens.allowed, rng))
                .open()
                .await
                .map_err(|e| format!("{path}: {e}"))?;
            if stream.status != 200 {
                return Err(format!("{path}: status {}", stream.status));
            }
            let mut got = Vec::new();
            for _ in 0..1 + rng.below(30) {
                match stream.next_chunk(REQUEST_TIMEOUT).await {
                    Ok(Some(chunk)) => got.extend_from_slice(&chunk),
                    other => return Err(format!("{path}: ended early: {other:?}")),
                }
            }
            drop(stream);
            let n = got.len().min(f.bytes.len());
            if got[..n] == f.bytes[..n] {
                Ok(())
            } else {
                Err(format!(
                    "{} {path}: the first {} bytes differ",
                    f.name,
                    got.len()
                ))
            }
        }
        "over_limit" => {
            let path = format!("/s/{fi}/{}", rng.below(VARIANTS));
            let during = world.rl.now();
            let resp = request(&world.url, &path, h2c)
                .bearer(&pick(&world.tokens.over_limit, rng))
                .send()
                .await
                .map_err(|e| format!("{path}: {e}"))?;
            // The service answered throughout only if no switch happened
            // and it was behind the switch all along.
            let answered = during.1 && world.rl.now() == during;
            if resp.status == 429 {
                check_json_error(&resp, 429, "rate_limited", None)?;
                return match resp.header("retry-after").map(str::parse::<u64>) {
                    Some(Ok(s)) if s >= 1 => Ok(()),
                    other => Err(format!("429 with Retry-After {other:?}")),
                };
            }
            if !answered && resp.status == 200 && resp.body == f.bytes {
                Ok(())
            } else {
                Err(format!(
                    "{} {path} (service answering: {answered}): {}",
                    f.name,
                    describe(&resp)
                ))
            }
        }
        other => Err(format!("unknown kind {other}")),
    }
}

fn pick_kind(rng: &mut Rng) -> &'static str {
    let total: usize = WEIGHTS.iter().sum();
    let mut x = rng.below(total);
    for (kind, w) in KINDS.iter().zip(WEIGHTS) {
        if x < w {
            return kind;
        }
        x -= w;
    }
    KINDS[0]
}

// --- the flapping JWKS -----------------------------------------------------------

/// Phases of the main provider's JWKS, each `PHASE` long, round and round.
const PHASE: Duration = Duration::from_secs(4);

fn flap(jwks: &MockJwks, stop: &AtomicBool, phases: &Mutex<BTreeMap<&'static str, u64>>) {
    let base = tokens::default_jwks();
    let rotated = tokens::jwks(&[Key::Rsa2, Key::Rsa1, Key::Ec1, Key::Ed1]);
    // A JWKS body of `mib` MiB that is no key set.
    let big = |mib: usize| {
        let mut body = br#"{"keys":[],"pad":""#.to_vec();
        body.resize(mib * 1024 * 1024 - 2, b'p');
        body.extend_from_slice(br#""}"#);
        JwksMode::Body {
            content_type: "application/json".into(),
            body: Bytes::from(body),
        }
    };
    // 50 MiB is past Envoy's buffer limit for the answers to the filter's
    // calls: Envoy drains it and hands the filter a call without a response.
    // Envoy's allocator keeps what it buffered, a step of up to ~20 MiB of
    // RSS each time, so it comes in the first cycle only (before the memory
    // baseline); later cycles serve 5 MiB, refused unread by the filter.
    let (first_huge, later_huge) = (big(50), big(5));
    let cycle: [(&str, JwksMode, Duration, Option<&Value>); 12] = [
        ("50 MiB", first_huge, Duration::ZERO, None),
        ("good", JwksMode::Serve, Duration::ZERO, None),
        ("failing", JwksMode::Fail(500), Duration::ZERO, None),
        ("good", JwksMode::Serve, Duration::ZERO, None),
        (
            "good, rotated",
            JwksMode::Serve,
            Duration::ZERO,
            Some(&rotated),
        ),
        ("slow", JwksMode::Serve, Duration::from_millis(2500), None),
        ("good", JwksMode::Serve, Duration::ZERO, None),
        ("garbage", JwksMode::Garbage, Duration::ZERO, None),
        (
            "good, rotated back",
            JwksMode::Serve,
            Duration::ZERO,
            Some(&base),
        ),
        (
            "reset mid-body",
            JwksMode::ResetMidBody,
            Duration::ZERO,
            None,
        ),
        ("good", JwksMode::Serve, Duration::ZERO, None),
        (
            "html",
            JwksMode::Body {
                content_type: "text/html".into(),
                body: Bytes::from_static(b"<html><body>503 Service Unavailable</body></html>"),
            },
            Duration::ZERO,
            None,
        ),
    ];
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let (mut name, mut mode, delay, keys) = cycle[i % cycle.len()].clone();
        if name == "50 MiB" && i >= cycle.len() {
            (name, mode) = ("5 MiB", later_huge.clone());
        }
        if let Some(k) = keys {
            jwks.set_keys(k.clone());
        }
        jwks.set_delay(delay);
        jwks.set_mode(mode);
        *phases.lock().unwrap().entry(name).or_default() += 1;
        let until = Instant::now() + PHASE;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
        i += 1;
    }
    jwks.set_delay(Duration::ZERO);
    jwks.set_mode(JwksMode::Serve);
}

// --- the flapping rate-limit service -----------------------------------------------

/// The users whose request limit is 0.
const OVER_LIMIT_PREFIX: &str = "over-limit-";
const RL_DOMAIN: &str = "soak";
/// Phases of the rate-limit switch, each this long, round and round.
const RL_PHASE: Duration = Duration::from_secs(3);

fn rl_limits() -> String {
    format!(
        "- namespace: {RL_DOMAIN}\n  max_value: 1000000000\n  seconds: 3600\n  conditions: []\n  \
         variables: [\"descriptors[0]['user']\"]\n\
         - namespace: {RL_DOMAIN}\n  max_value: 0\n  seconds: 60\n  \
         conditions: [\"descriptors[0]['user'].startsWith('{OVER_LIMIT_PREFIX}')\"]\n  \
         variables: [\"descriptors[0]['user']\"]\n"
    )
}

/// What is behind the switch: a generation that moves at every switch, and
/// whether the real service is behind it now.
#[derive(Default)]
struct RlPhase(Mutex<(u64, bool)>);

impl RlPhase {
    fn now(&self) -> (u64, bool) {
        *self.0.lock().unwrap()
    }
    fn set(&self, service: bool) {
        let mut p = self.0.lock().unwrap();
        *p = (p.0 + 1, service);
    }
}

fn flap_ratelimit(
    switch: &RateLimitSwitch,
    phase: &RlPhase,
    stop: &AtomicBool,
    phases: &Mutex<BTreeMap<&'static str, u64>>,
) -> Result<(), String> {
    let cycle: [(&str, Behind); 8] = [
        ("service", Behind::Service),
        ("down", Behind::Fault(Fault::Down)),
        ("service", Behind::Service),
        ("slow", Behind::Fault(Fault::Slow(Duration::from_secs(1)))),
        ("service", Behind::Service),
        ("garbage", Behind::Fault(Fault::Garbage)),
        ("service", Behind::Service),
        ("closing mid-call", Behind::Fault(Fault::CloseMidCall)),
    ];
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let (name, behind) = cycle[i % cycle.len()];
        // Mark the switch before it happens (so no request counts on the
        // service across it), and the service as behind only once it is.
        phase.set(false);
        switch.set(behind).map_err(|e| e.to_string())?;
        if behind == Behind::Service {
            phase.set(true);
        }
        *phases.lock().unwrap().entry(name).or_default() += 1;
        let until = Instant::now() + RL_PHASE;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
        i += 1;
    }
    phase.set(false);
    switch.set(Behind::Service).map_err(|e| e.to_string())?;
    phase.set(true);
    Ok(())
}

// --- checks of the upstream side ---------------------------------------------------

/// Checks requests older than `before`: every disconnect's upstream must have
/// seen the client go. Returns the number checked.
fn sweep(agent: &MockAgent, before: Instant, tally: &Mutex<Tally>) -> usize {
    let old = agent.take_requests_received_before(before);
    for r in &old {
        if r.path.starts_with("/l/") {
            let left =
                (r.received_at + CLIENT_GONE_WITHIN).saturating_duration_since(Instant::now());
            let end = r.wait_body_end(left);
            if end != Some(BodyEnd::ClientGone) {
                tally.lock().unwrap().wrong_verdict(
                    "disconnect",
                    format!(
                        "{}: the upstream did not see the client go: {end:?}",
                        r.path
                    ),
                );
            }
        }
    }
    old.len()
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
    let total = Duration::from_secs_f64(opts.minutes * 60.0);
    let mut rng = Rng(opts.seed);
    let fixtures = load_fixtures(&mut rng);
    let agent = MockAgent::start().map_err(|e| e.to_string())?;
    route_all(&agent, &fixtures, &mut rng);
    let jwks = MockJwks::start(tokens::default_jwks()).map_err(|e| e.to_string())?;
    let down = MockJwks::start(tokens::default_jwks()).map_err(|e| e.to_string())?;
    down.set_mode(JwksMode::Fail(503));
    let config = json!({
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
    });
    let limiter = RateLimitService::start(RL_DOMAIN, &rl_limits()).map_err(|e| e.to_string())?;
    let switch = Arc::new(RateLimitSwitch::start(limiter.addr()).map_err(|e| e.to_string())?);
    let rl_phase = Arc::new(RlPhase::default());
    rl_phase.set(true);
    let mut envoy = Bootstrap::new()
        .plugin_config_json(&config)
        .upstream(agent.addr())
        .jwks_cluster(jwks.addr())
        .cluster("jwks_down", down.addr())
        .grpc_cluster("ratelimit", switch.addr())
        .concurrency(opts.envoy_workers)
        .start()
        .map_err(|e| e.to_string())?;
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

    let world = Arc::new(World {
        url: envoy.url(""),
        fixtures,
        tokens: mint_tokens(),
        rl: rl_phase.clone(),
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;

    // Warm-up: every Envoy worker has fetched the main provider's keys (only
    // VMs that serve requests fetch), so flapping cannot find a VM without keys.
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

    let started = Instant::now();
    let deadline = started + total;
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let phases = Arc::new(Mutex::new(BTreeMap::new()));
    let flapper = {
        let (stop, phases) = (stop.clone(), phases.clone());
        std::thread::spawn(move || {
            flap(&jwks, &stop, &phases);
            jwks
        })
    };
    let rl_phases = Arc::new(Mutex::new(BTreeMap::new()));
    let rl_flapper = {
        let (stop, phases, switch, phase) = (
            stop.clone(),
            rl_phases.clone(),
            switch.clone(),
            rl_phase.clone(),
        );
        std::thread::spawn(move || flap_ratelimit(&switch, &phase, &stop, &phases))
    };
    let workers: Vec<_> = (0..opts.workers)
        .map(|w| {
            let (world, tally) = (world.clone(), tally.clone());
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

    // Sample RSS; sweep the upstream's records.
    let sample_every = (total / 20).max(Duration::from_secs(2));
    let mut rss: Vec<(f64, u64)> = vec![(0.0, rss_start)];
    let mut next_sample = started + sample_every;
    let mut swept = 0;
    let mut last_print = Instant::now();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        if Instant::now() >= next_sample {
            let t = started.elapsed().as_secs_f64();
            let r = envoy.rss_kib().unwrap_or(0);
            rss.push((t, r));
            next_sample += sample_every;
            if last_print.elapsed() >= Duration::from_secs(30) || total < Duration::from_secs(120) {
                let t_ = tally.lock().unwrap();
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
            swept += sweep(&agent, before, &tally);
        }
    }
    for w in workers {
        let _ = rt.block_on(w);
    }
    stop.store(true, Ordering::Relaxed);
    let _jwks = flapper.join().map_err(|_| "the JWKS flapper panicked")?;
    rl_flapper
        .join()
        .map_err(|_| "the rate-limit flapper panicked")??;
    let ran = started.elapsed();
    // The disconnects of the last seconds.
    swept += sweep(&agent, Instant::now(), &tally);

    // Every stream must be gone.
    let gauges = [
        "http.ingress.downstream_rq_active",
        "cluster.agent.upstream_rq_active",
    ];
    let settle = Instant::now();
    let mut open: Vec<(String, u64)>;
    loop {
        let stats = envoy.stats().map_err(|e| e.to_string())?;
        open = gauges
            .iter()
            .map(|g| (g.to_string(), stats.get(*g).copied().unwrap_or(0)))
            .filter(|(_, v)| *v > 0)
            .collect();
        if open.is_empty() || settle.elapsed() > Duration::from_secs(20) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let rss_end = envoy.rss_kib().unwrap_or(0);
    rss.push((ran.as_secs_f64(), rss_end));
    let stats = envoy.stats().map_err(|e| e.to_string())?;
    let alive = envoy.is_running();
    let panics = envoy.wasm_panic_lines();

    // Memory: end against the first sample at or after 20% of the run.
    let fifth = ran.as_secs_f64() * 0.2;
    let rss_base = rss
        .iter()
        .find(|(t, _)| *t >= fifth)
        .map_or(rss_start, |(_, r)| *r);
    let growth = rss_end as i64 - rss_base as i64;
    let allowed_growth = (rss_base / 10).max(16 * MIB) as i64;

    // --- summary ---
    let tally = tally.lock().unwrap();
    let sent: u64 = tally.sent.values().sum();
    let wrong: u64 = tally.wrong.values().sum();
    println!(
        "\n=== soak summary ({:.1} min, seed {}) ===",
        ran.as_secs_f64() / 60.0,
        opts.seed
    );
    println!(
        "requests: {sent} ({:.1}/s), upstream requests checked: {swept}",
        sent as f64 / ran.as_secs_f64()
    );
    for kind in KINDS {
        let h1 = tally
            .sent
            .get(&format!("{kind} http1"))
            .copied()
            .unwrap_or(0);
        let h2 = tally.sent.get(&format!("{kind} h2c")).copied().unwrap_or(0);
        let bad = tally.wrong.get(kind).copied().unwrap_or(0);
        println!(
            "  {kind:<11} {:>7}  (http1 {h1:>6}, h2c {h2:>6})  wrong {bad}",
            h1 + h2
        );
    }
    println!("wrong verdicts: {wrong}");
    for e in &tally.examples {
        println!("  - {e}");
    }
    println!("JWKS phases: {:?}", phases.lock().unwrap());
    println!(
        "rate-limit phases: {:?}; calls: service {}, faulty endpoints {}",
        rl_phases.lock().unwrap(),
        limiter.calls(),
        switch.faulty_calls()
    );
    let stat = |n: &str| {
        stats
            .get(n)
            .or_else(|| stats.get(&format!("wasmcustom.{n}")))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "filter counters: jwt.allowed {} jwt.denied {} jwks.fetch_ok {} jwks.fetch_failed {} tools.allowed {} tools.denied {} streams.cut {}",
        stat("toolguard.jwt.allowed"),
        stat("toolguard.jwt.denied"),
        stat("toolguard.jwks.fetch_ok"),
        stat("toolguard.jwks.fetch_failed"),
        stat("toolguard.tools.allowed"),
        stat("toolguard.tools.denied"),
        stat("toolguard.streams.cut"),
    );
    let (rl_ok, rl_over, rl_error) = (
        stat("toolguard.ratelimit.ok"),
        stat("toolguard.ratelimit.over_limit"),
        stat("toolguard.ratelimit.error"),
    );
    println!("rate-limit counters: ratelimit.ok {rl_ok} ratelimit.over_limit {rl_over} ratelimit.error {rl_error}");
    println!("streams left open: {open:?}; Envoy alive: {alive}");
    println!("wasm panics in the Envoy log: {}", panics.len());
    for l in panics.iter().take(5) {
        println!("  {l}");
    }
    let series: Vec<String> = rss
        .iter()
        .map(|(t, r)| format!("{t:.0}s:{:.1}", *r as f64 / 1024.0))
        .collect();
    println!(
        "Envoy RSS (MiB) start {:.1}, series [{}]",
        rss_start as f64 / 1024.0,
        series.join(" ")
    );
    println!(
        "Envoy RSS growth after 20% of the run: {:+.1} MiB (from {:.1} to {:.1}; limit {:.1} MiB)",
        growth as f64 / 1024.0,
        rss_base as f64 / 1024.0,
        rss_end as f64 / 1024.0,
        allowed_growth as f64 / 1024.0
    );
    let mut failures = Vec::new();
    if wrong > 0 {
        failures.push(format!("{wrong} wrong verdicts"));
    }
    if !panics.is_empty() {
        failures.push(format!("{} wasm panics", panics.len()));
    }
    // Answers and faults were both met (a run shorter than one round of the
    // switch, 24 s, may not meet every fault).
    if rl_ok == 0 || rl_over == 0 {
        failures.push("the filter counted no rate-limit answers (ok / over_limit)".to_string());
    }
    if rl_error == 0 && ran >= RL_PHASE * 2 {
        failures.push("the filter counted no rate-limit errors during the faults".to_string());
    }
    if !alive {
        failures.push("Envoy died".to_string());
    }
    if !open.is_empty() {
        failures.push(format!("streams left open: {open:?}"));
    }
    if rss_end == 0 {
        failures.push("Envoy's RSS could not be read".to_string());
    } else if growth > allowed_growth {
        failures.push(format!("Envoy RSS grew {:.1} MiB", growth as f64 / 1024.0));
    }
    if sent == 0 {
        failures.push("no requests were made".to_string());
    }
    if failures.is_empty() {
        println!("soak: PASS");
        Ok(true)
    } else {
        envoy.keep_logs();
        println!(
            "soak: FAIL: {} (Envoy log kept at {})",
            failures.join("; "),
            envoy.log_path().display()
        );
        Ok(false)
    }
}
