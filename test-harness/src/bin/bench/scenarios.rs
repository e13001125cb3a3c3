//! The scenarios: which configurations each compares, with what requests, and
//! the checks that make a run count.

use std::path::Path;
use std::time::Duration;

use super::configs::{self, DirectBody, Filter, Front, Route, STAT_PREFIX};
use super::load::Wrk;
use super::memory::{self, MemoryPlan, MemoryRun};
use super::pool::TokenPool;
use super::sse;
use super::throughput::{self, Contender, Expect, Plan, Probe, Requests, Series};
use super::ttfb::{self, TtfbResult};
use super::Options;
use test_harness::tokens::{Key, Token};
use test_harness::{Envoy, Error, MockAgent, Reply, Result};

/// The token every cached-path request carries.
pub fn cached_token() -> String {
    Token::standard(Key::Rsa1).exp_in(24 * 3600).mint()
}

/// A, B and C of the auth scenarios, answering from a direct response.
fn auth_contenders(opts: &Options, bearer: &str) -> Vec<Contender> {
    let direct = Route::Direct(DirectBody::Inline("ok".into()));
    let probe = Some(Probe::Claim {
        bearer: bearer.to_string(),
    });
    vec![
        Contender {
            key: "A".into(),
            label: "no auth filter".into(),
            front: Front::new(Filter::None, direct.clone()),
            probe: None,
            expects: Vec::new(),
            min_response_bytes: 0,
        },
        Contender {
            key: "B".into(),
            label: "Envoy jwt_authn".into(),
            front: Front::new(Filter::JwtAuthn, direct.clone()),
            probe: probe.clone(),
            expects: vec![
                Expect::Unchanged(format!("http.{STAT_PREFIX}.jwt_authn.denied")),
                Expect::PerRequest(format!("http.{STAT_PREFIX}.jwt_authn.allowed")),
            ],
            min_response_bytes: 0,
        },
        Contender {
            key: "C".into(),
            label: "toolguard".into(),
            front: Front::new(
                Filter::Wasm {
                    module: opts.toolguard_wasm.clone(),
                    config: configs::toolguard_auth_config(),
                },
                direct,
            ),
            probe,
            expects: vec![
                Expect::Unchanged("toolguard.jwt.denied".into()),
                Expect::PerRequest("toolguard.jwt.allowed".into()),
            ],
            min_response_bytes: 0,
        },
    ]
}

/// Scenario 1: the same valid RS256 token on every request. Also against the
/// empty Wasm filter (E), so the floor any Wasm filter pays shows, and the
/// same module making the host calls toolguard makes here (F), the floor of
/// doing this work through the proxy-wasm ABI.
pub fn cached(wrk: &Wrk, opts: &Options) -> Result<Vec<Series>> {
    let bearer = cached_token();
    let plan = Plan {
        path: "/bench".into(),
        rounds: opts.rounds,
        secs: opts.auth_secs,
        warmup_secs: opts.warmup_secs,
        connections: opts.auth_connections,
        workers: opts.workers,
        fresh_envoy_per_run: false,
        requests: Requests::Fixed(Some(bearer.clone())),
    };
    let mut contenders = auth_contenders(opts, &bearer);
    contenders.push(Contender {
        key: "E".into(),
        label: "empty Wasm filter".into(),
        front: Front::new(
            Filter::Wasm {
                module: opts.empty_wasm.clone(),
                config: serde_json::json!({}),
            },
            Route::Direct(DirectBody::Inline("ok".into())),
        ),
        probe: None,
        expects: Vec::new(),
        min_response_bytes: 0,
    });
    contenders.push(Contender {
        key: "F".into(),
        label: "Wasm filter making toolguard's 6 host calls, nothing else".into(),
        front: Front::new(
            Filter::Wasm {
                module: opts.empty_wasm.clone(),
                config: serde_json::json!({"host_calls": true}),
            },
            Route::Direct(DirectBody::Inline("ok".into())),
        ),
        probe: Some(Probe::Claim { bearer }),
        expects: vec![Expect::PerRequest("toolguard.jwt.allowed".into())],
        min_response_bytes: 0,
    });
    throughput::run(wrk, &plan, &contenders)
}

/// Scenario 2: a token the Envoy has never seen on every request. Each run
/// gets a fresh Envoy, so one pool serves every round; the pool is sized to
/// outlast a run (what it did not is reported as the reuse fraction).
/// `as_alg`: see [`TokenPool::get`] (PS256 with rsa-1).
pub fn never_seen(
    wrk: &Wrk,
    opts: &Options,
    key: Key,
    as_alg: Option<(&'static str, &'static str)>,
) -> Result<(Vec<Series>, usize)> {
    let count = opts.pool_size(key);
    let pool = TokenPool::get(&opts.token_dir, key, as_alg, count)?;
    let bearer = cached_token();
    let plan = Plan {
        path: "/bench".into(),
        rounds: opts.rounds,
        secs: opts.fresh_secs,
        warmup_secs: opts.warmup_secs,
        connections: opts.auth_connections,
        workers: opts.workers,
        fresh_envoy_per_run: true,
        requests: Requests::Rotating {
            file: pool.path.clone(),
            warm: bearer.clone(),
        },
    };
    Ok((
        throughput::run(wrk, &plan, &auth_contenders(opts, &bearer))?,
        pool.count,
    ))
}

/// How the SSE stream reaches the filter, from the Lua probe.
#[derive(Clone, Debug)]
pub struct Chunking {
    pub label: String,
    pub chunks: u64,
    pub bytes: u64,
}

/// Scenario 3's results.
pub struct SseResult {
    pub series: Vec<Series>,
    pub stream_bytes: usize,
    pub stream_frames: usize,
    pub chunking: Vec<Chunking>,
}

/// Scenario 3: a 1 MiB stream from a second Envoy (a direct response from a
/// file) through no filter, the empty Wasm filter and toolguard; of small
/// frames, or (`large_frames`) of 4 KiB text deltas.
pub fn sse_policing(wrk: &Wrk, opts: &Options, large_frames: bool) -> Result<SseResult> {
    let body = if large_frames {
        sse::large_frame_stream_of(opts.sse_bytes)
    } else {
        sse::stream_of(opts.sse_bytes)
    };
    let file = opts.work_dir.join("stream.sse");
    std::fs::write(&file, &body)
        .map_err(|e| Error::new(format!("writing {}: {e}", file.display())))?;
    let direct = Route::Direct(DirectBody::SseFile(file.clone()));
    let upstream = Front::new(Filter::None, direct.clone())
        .start(opts.workers)
        .map_err(|e| Error::new(format!("starting the SSE upstream Envoy: {e}")))?;
    let via = Route::Upstream(upstream.addr());
    let chunking = vec![
        probe_chunks(
            "second Envoy as upstream, reads of at most 16 KiB (used)",
            via.clone(),
            opts,
        )?,
        probe_chunks("direct response in the same Envoy", direct, opts)?,
    ];
    let toolguard = |tools: &[&str]| Filter::Wasm {
        module: opts.toolguard_wasm.clone(),
        config: configs::toolguard_policing_config(tools, opts.max_frame_bytes),
    };
    let probe = Some(Probe::Sse {
        path: "/sse".into(),
        len: body.len(),
    });
    // One allowed tool call per stream proves the stream was policed.
    let policed = || {
        vec![
            Expect::PerRequest("toolguard.tools.allowed".into()),
            Expect::Unchanged("toolguard.streams.cut".into()),
            Expect::Unchanged("toolguard.tools.denied".into()),
        ]
    };
    let contenders = vec![
        Contender {
            key: "A".into(),
            label: "no filter".into(),
            front: Front::new(Filter::None, via.clone()),
            probe: probe.clone(),
            expects: Vec::new(),
            min_response_bytes: body.len() as u64,
        },
        Contender {
            key: "E".into(),
            label: "empty Wasm filter".into(),
            front: Front::new(
                Filter::Wasm {
                    module: opts.empty_wasm.clone(),
                    config: serde_json::json!({}),
                },
                via.clone(),
            ),
            probe: probe.clone(),
            expects: Vec::new(),
            min_response_bytes: body.len() as u64,
        },
        Contender {
            key: "T".into(),
            label: "toolguard, tools [\"*\"]".into(),
            front: Front::new(toolguard(&["*"]), via.clone()),
            probe: probe.clone(),
            expects: policed(),
            min_response_bytes: body.len() as u64,
        },
        Contender {
            key: "L".into(),
            label: "toolguard, tools [\"search\"]".into(),
            front: Front::new(toolguard(&["search"]), via),
            probe,
            expects: policed(),
            min_response_bytes: body.len() as u64,
        },
    ];
    let plan = Plan {
        path: "/sse".into(),
        rounds: opts.rounds,
        secs: opts.sse_secs,
        warmup_secs: opts.warmup_secs,
        connections: opts.sse_connections,
        workers: opts.workers,
        fresh_envoy_per_run: false,
        requests: Requests::Fixed(None),
    };
    let series = throughput::run(wrk, &plan, &contenders)?;
    drop(upstream);
    Ok(SseResult {
        series,
        stream_bytes: body.len(),
        stream_frames: body.matches("\n\n").count(),
        chunking,
    })
}

/// Counts the body chunks an HTTP filter sees for one `/sse` response, with
/// a Lua filter in the filter's place.
fn probe_chunks(label: &str, route: Route, opts: &Options) -> Result<Chunking> {
    const LUA: &str = r#"
function envoy_on_response(handle)
  local n = 0
  local bytes = 0
  for chunk in handle:bodyChunks() do
    n = n + 1
    bytes = bytes + chunk:length()
  end
  handle:logWarn("bench-chunks " .. n .. " " .. bytes)
end
"#;
    let envoy = Front::new(Filter::Lua(LUA.into()), route).start(opts.workers)?;
    let resp = test_harness::client::get(&envoy.url("/sse")).send_blocking()?;
    if resp.status != 200 {
        return Err(Error::new(format!(
            "chunking probe ({label}): /sse answered {}",
            resp.status
        )));
    }
    let line = wait_log_line(&envoy, "bench-chunks ")?;
    let mut nums = line
        .split("bench-chunks ")
        .nth(1)
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|w| w.parse::<u64>().ok());
    match (nums.next(), nums.next()) {
        (Some(chunks), Some(bytes)) => Ok(Chunking {
            label: label.to_string(),
            chunks,
            bytes,
        }),
        _ => Err(Error::new(format!("chunking probe: bad log line {line:?}"))),
    }
}

fn wait_log_line(envoy: &Envoy, needle: &str) -> Result<String> {
    if envoy.wait_log(needle, Duration::from_secs(10)) {
        if let Some(line) = envoy.log_text().lines().find(|l| l.contains(needle)) {
            return Ok(line.to_string());
        }
    }
    Err(Error::new(format!(
        "the Lua chunk counter logged nothing; log:\n{}",
        envoy.log_tail(20)
    )))
}

/// Scenario 4: the four memory runs (trickle and near-max, each without a
/// filter and through toolguard).
pub fn memory(opts: &Options) -> Result<Vec<MemoryRun>> {
    let agent = MockAgent::start()?;
    let first = sse::message_start();
    // A realistic pace: a delta every 100 ms for longer than the run lasts.
    let long = Duration::from_secs(3600);
    agent.route(
        "/trickle",
        Reply::sse(first.clone())
            .then_keep_streaming(Duration::from_millis(100), long)
            .tick_frame(sse::delta_frame(0)),
    );
    let near = opts.max_frame_bytes - 1024;
    let near_body = format!("{first}{}", sse::unfinished_frame(near));
    agent.route(
        "/nearmax",
        Reply::sse(near_body.clone()).then_keep_streaming(long, long),
    );
    let bearer = cached_token();
    let none = Front::new(Filter::None, Route::Upstream(agent.addr()));
    let guarded = Front::new(
        Filter::Wasm {
            module: opts.toolguard_wasm.clone(),
            config: configs::toolguard_stream_config(opts.max_frame_bytes),
        },
        Route::Upstream(agent.addr()),
    );
    let plan = MemoryPlan {
        counts: opts.stream_counts.clone(),
        settle: opts.settle,
        hold: opts.hold,
        workers: opts.workers,
    };
    let near_label = format!("unfinished {} KiB frame", near / 1024);
    let runs = [
        (
            "no filter, trickling frames".to_string(),
            &none,
            "/trickle",
            first.len(),
        ),
        (
            "toolguard, trickling frames".to_string(),
            &guarded,
            "/trickle",
            first.len(),
        ),
        (
            format!("no filter, {near_label}"),
            &none,
            "/nearmax",
            near_body.len(),
        ),
        (
            format!("toolguard, {near_label}"),
            &guarded,
            "/nearmax",
            near_body.len(),
        ),
    ];
    runs.iter()
        .map(|(label, front, path, bytes)| {
            memory::measure(label, front, &agent, path, &bearer, *bytes, &plan)
        })
        .collect()
}

/// Scenario 5: time to the first frame through no filter and toolguard.
pub fn first_frame(opts: &Options) -> Result<TtfbResult> {
    let agent = MockAgent::start()?;
    agent.route(
        "/slow",
        Reply::sse(sse::message_start())
            .then_keep_streaming(opts.slow_pause, opts.slow_pause)
            .tick_frame(sse::delta_frame(0)),
    );
    let route = Route::Upstream(agent.addr());
    let configs = vec![
        (
            "no filter".to_string(),
            Front::new(Filter::None, route.clone()),
        ),
        (
            "toolguard".to_string(),
            Front::new(
                Filter::Wasm {
                    module: opts.toolguard_wasm.clone(),
                    config: configs::toolguard_stream_config(opts.max_frame_bytes),
                },
                route,
            ),
        ),
    ];
    ttfb::measure(
        &configs,
        "/slow",
        &cached_token(),
        opts.ttfb_samples,
        opts.workers,
    )
}

/// Scenario 6: bytes of a module.
pub fn file_size(path: &Path) -> Result<u64> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| Error::new(format!("{}: {e}", path.display())))
}
