//! Interleaved rounds: every round runs each configuration once, in the same
//! order (A, B, C, A, B, C, ...), so slow drift of the shared machine lands on
//! all of them alike and per-round ratios can be paired.
//!
//! Every run is checked, not just timed: a configuration answering errors
//! (a 401 because a token was refused is fast) fails the benchmark.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::configs::{Front, CHECK_PATH, ECHO_HEADER, STAT_PREFIX};
use super::load::{LoadResult, LoadSpec, Wrk};
use super::stats::median;
use test_harness::{client, Envoy, Error, Result};

/// What a configuration must show after each run, besides no errors.
#[derive(Clone, Debug)]
pub enum Expect {
    /// This counter did not move.
    Unchanged(String),
    /// This counter grew by at least the number of requests wrk counted.
    PerRequest(String),
}

/// A functional check made once on each freshly started Envoy.
#[derive(Clone, Debug)]
pub enum Probe {
    /// `GET /check` with this token answers 200, and the auth filter copied
    /// the `sub` claim (`test-user`) into the claim header.
    Claim { bearer: String },
    /// `GET path` answers 200 `text/event-stream` with a body of this length.
    Sse { path: String, len: usize },
}

/// One configuration under test.
#[derive(Clone, Debug)]
pub struct Contender {
    /// Short name used in tables (`A`, `B`, ...).
    pub key: String,
    pub label: String,
    pub front: Front,
    pub probe: Option<Probe>,
    pub expects: Vec<Expect>,
    /// Each response must carry at least this many bytes (the SSE body).
    pub min_response_bytes: u64,
}

/// How the requests of a scenario are made.
#[derive(Clone, Debug)]
pub enum Requests {
    /// The same request every time, with this bearer token if any.
    Fixed(Option<String>),
    /// The next token of this file for every request; `warm` is the token
    /// used for the warm-up.
    Rotating { file: PathBuf, warm: String },
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub path: String,
    pub rounds: usize,
    pub secs: u32,
    pub warmup_secs: u32,
    pub connections: u32,
    pub workers: u32,
    /// A new Envoy for every run (so its caches have seen none of the tokens)
    /// instead of one per configuration for the whole scenario.
    pub fresh_envoy_per_run: bool,
    pub requests: Requests,
}

/// The runs of one configuration, in round order.
#[derive(Clone, Debug)]
pub struct Series {
    pub key: String,
    pub label: String,
    pub runs: Vec<LoadResult>,
}

impl Series {
    pub fn rps(&self) -> Vec<f64> {
        self.runs.iter().map(LoadResult::rps).collect()
    }

    pub fn median_rps(&self) -> f64 {
        median(&self.rps())
    }

    pub fn median_p50_us(&self) -> f64 {
        median(
            &self
                .runs
                .iter()
                .map(|r| r.p50_us as f64)
                .collect::<Vec<_>>(),
        )
    }

    /// Median Envoy CPU per request in µs over the rounds that measured it.
    pub fn median_cpu_us_per_request(&self) -> Option<f64> {
        let cpu: Vec<f64> = self
            .runs
            .iter()
            .filter_map(LoadResult::cpu_us_per_request)
            .collect();
        (!cpu.is_empty()).then(|| median(&cpu))
    }

    /// Share of requests that had to reuse a token of the pool (0 when every
    /// request had its own).
    pub fn reuse_fraction(&self, pool: usize) -> f64 {
        let used: u64 = self.runs.iter().map(|r| r.tokens_used).max().unwrap_or(0);
        if used == 0 {
            0.0
        } else {
            used.saturating_sub(pool as u64) as f64 / used as f64
        }
    }
}

/// Runs the plan; one [`Series`] per contender, in the contenders' order.
pub fn run(wrk: &Wrk, plan: &Plan, contenders: &[Contender]) -> Result<Vec<Series>> {
    let mut series: Vec<Series> = contenders
        .iter()
        .map(|c| Series {
            key: c.key.clone(),
            label: c.label.clone(),
            runs: Vec::new(),
        })
        .collect();
    let mut kept: Vec<Option<Envoy>> = contenders.iter().map(|_| None).collect();
    for round in 0..plan.rounds {
        for ((contender, slot), series) in contenders.iter().zip(&mut kept).zip(&mut series) {
            if plan.fresh_envoy_per_run {
                *slot = None;
            }
            if slot.is_none() {
                *slot = Some(start_checked(wrk, plan, contender)?);
            }
            let envoy = slot
                .as_ref()
                .ok_or_else(|| Error::new("internal: no Envoy for the run"))?;
            let result = measure(wrk, plan, contender, envoy).map_err(|e| {
                Error::new(format!(
                    "{} ({}), round {}: {e}",
                    contender.label,
                    contender.key,
                    round + 1
                ))
            })?;
            eprintln!(
                "bench:   round {} {:<3} {:>10.0} req/s  p50 {} us  Envoy CPU {}",
                round + 1,
                contender.key,
                result.rps(),
                result.p50_us,
                result
                    .cpu_us_per_request()
                    .map_or("?".into(), |us| format!("{us:.1} us/request"))
            );
            series.runs.push(result);
        }
    }
    Ok(series)
}

/// Starts the contender's Envoy, probes it and warms it up.
fn start_checked(wrk: &Wrk, plan: &Plan, contender: &Contender) -> Result<Envoy> {
    let envoy = contender.front.start(plan.workers).map_err(|e| {
        Error::new(format!(
            "starting Envoy for {} ({}): {e}",
            contender.label, contender.key
        ))
    })?;
    if let Some(probe) = &contender.probe {
        run_probe(&envoy, probe).map_err(|e| {
            Error::new(format!(
                "{} ({}) does not work: {e}",
                contender.label, contender.key
            ))
        })?;
    }
    if plan.warmup_secs > 0 {
        let bearer = match &plan.requests {
            Requests::Fixed(b) => b.clone(),
            Requests::Rotating { warm, .. } => Some(warm.clone()),
        };
        let warm = wrk.run(&LoadSpec {
            url: envoy.url(&plan.path),
            secs: plan.warmup_secs,
            connections: plan.connections,
            bearer,
            token_file: None,
        })?;
        if warm.requests == 0 || warm.errors() > 0 {
            return Err(Error::new(format!(
                "{} ({}): the warm-up failed: {warm:?}",
                contender.label, contender.key
            )));
        }
    }
    Ok(envoy)
}

fn run_probe(envoy: &Envoy, probe: &Probe) -> Result<()> {
    match probe {
        Probe::Claim { bearer } => {
            let resp = client::get(&envoy.url(CHECK_PATH))
                .bearer(bearer)
                .send_blocking()?;
            let echoed = resp.header(ECHO_HEADER).unwrap_or("");
            if resp.status != 200 || echoed != "test-user" {
                return Err(Error::new(format!(
                    "GET {CHECK_PATH} with a valid token answered {} with {ECHO_HEADER}: {echoed:?} \
                     (want 200 and \"test-user\", the token's sub copied by the filter); body: {}",
                    resp.status,
                    resp.text()
                )));
            }
        }
        Probe::Sse { path, len } => {
            let resp = client::get(&envoy.url(path)).send_blocking()?;
            let ct = resp.header("content-type").unwrap_or("");
            if resp.status != 200 || !ct.starts_with("text/event-stream") || resp.body.len() != *len
            {
                return Err(Error::new(format!(
                    "GET {path} answered {} ({ct}) with {} bytes ({:?}); want 200 \
                     text/event-stream with {len} bytes",
                    resp.status,
                    resp.body.len(),
                    resp.ending
                )));
            }
        }
    }
    Ok(())
}

fn measure(wrk: &Wrk, plan: &Plan, contender: &Contender, envoy: &Envoy) -> Result<LoadResult> {
    let before = envoy.stats()?;
    let (bearer, token_file) = match &plan.requests {
        Requests::Fixed(b) => (b.clone(), None),
        Requests::Rotating { file, .. } => (None, Some(file.clone())),
    };
    let cpu_before = envoy.cpu_ms();
    let mut result = wrk.run(&LoadSpec {
        url: envoy.url(&plan.path),
        secs: plan.secs,
        connections: plan.connections,
        bearer,
        token_file,
    })?;
    if let (Some(before), Some(after)) = (cpu_before, envoy.cpu_ms()) {
        result.envoy_cpu_ms = after.saturating_sub(before);
    }
    let after = envoy.stats()?;
    check(contender, &result, &before, &after)?;
    Ok(result)
}

fn delta(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>, name: &str) -> u64 {
    let get = |m: &BTreeMap<String, u64>| {
        m.get(name)
            .or_else(|| m.get(&format!("wasmcustom.{name}")))
            .copied()
            .unwrap_or(0)
    };
    get(after).saturating_sub(get(before))
}

fn check(
    contender: &Contender,
    result: &LoadResult,
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> Result<()> {
    let mut problems = Vec::new();
    if result.requests == 0 {
        problems.push("no request completed".to_string());
    }
    if result.errors() > 0 {
        problems.push(format!(
            "wrk counted errors: {} status >= 400, {} connect, {} read, {} write, {} timeout",
            result.status, result.connect, result.read, result.write, result.timeout
        ));
    }
    let http = |class: &str| {
        delta(
            before,
            after,
            &format!("http.{STAT_PREFIX}.downstream_rq_{class}"),
        )
    };
    let non_2xx: u64 = ["1xx", "3xx", "4xx", "5xx"].iter().map(|c| http(c)).sum();
    if non_2xx > 0 {
        problems.push(format!(
            "Envoy answered {non_2xx} non-2xx responses (4xx: {}, 5xx: {})",
            http("4xx"),
            http("5xx")
        ));
    }
    if http("2xx") < result.requests {
        problems.push(format!(
            "Envoy counted {} 2xx responses but wrk {} requests",
            http("2xx"),
            result.requests
        ));
    }
    if contender.min_response_bytes > 0
        && result.requests > 0
        && result.bytes / result.requests < contender.min_response_bytes
    {
        problems.push(format!(
            "responses averaged {} bytes, want at least {} (cut streams?)",
            result.bytes / result.requests,
            contender.min_response_bytes
        ));
    }
    for expect in &contender.expects {
        match expect {
            Expect::Unchanged(name) => {
                let d = delta(before, after, name);
                if d > 0 {
                    problems.push(format!("{name} grew by {d}"));
                }
            }
            Expect::PerRequest(name) => {
                let d = delta(before, after, name);
                if d < result.requests {
                    problems.push(format!(
                        "{name} grew by {d}, fewer than the {} requests",
                        result.requests
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::new(problems.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::super::configs::{DirectBody, Filter, Route};
    use super::*;

    fn result(requests: u64, status: u64) -> LoadResult {
        LoadResult {
            requests,
            duration_us: 1_000_000,
            bytes: requests * 100,
            connect: 0,
            read: 0,
            write: 0,
            status,
            timeout: 0,
            p50_us: 1,
            p99_us: 2,
            tokens_used: 0,
            envoy_cpu_ms: 0,
        }
    }

    fn stats(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn a_run_counts_only_if_everything_was_2xx_and_the_counters_agree() {
        let contender = Contender {
            key: "C".into(),
            label: "toolguard".into(),
            front: Front::new(Filter::None, Route::Direct(DirectBody::Inline("ok".into()))),
            probe: None,
            expects: vec![
                Expect::Unchanged("toolguard.jwt.denied".into()),
                Expect::PerRequest("toolguard.jwt.allowed".into()),
            ],
            min_response_bytes: 0,
        };
        let before = stats(&[]);
        let good = stats(&[
            ("http.bench.downstream_rq_2xx", 10),
            ("wasmcustom.toolguard.jwt.allowed", 10),
        ]);
        assert!(check(&contender, &result(10, 0), &before, &good).is_ok());
        // Fast 401s: wrk's error count and Envoy's 4xx both refuse the run.
        let refused = stats(&[
            ("http.bench.downstream_rq_4xx", 10),
            ("wasmcustom.toolguard.jwt.denied", 10),
        ]);
        let err = check(&contender, &result(10, 10), &before, &refused).unwrap_err();
        assert!(err.message().contains("status >= 400"), "{err}");
        assert!(err.message().contains("non-2xx"), "{err}");
        assert!(
            err.message().contains("toolguard.jwt.denied grew by 10"),
            "{err}"
        );
        assert!(check(&contender, &result(0, 0), &before, &before).is_err());
    }
}
