//! The `ratelimit` scenario: request limits on, toolguard's `rate_limits`
//! against Envoy's own pair (`jwt_authn` copying `sub` into a header, then
//! `envoy.filters.http.ratelimit` with a descriptor from that header), both
//! calling the same rate-limit service with the same limits, paired in one
//! run. The limit is generous: nothing is over it during the run, so every
//! request must pass, and both sides must have called the service once per
//! request (the check that the limits were really on).

use std::net::SocketAddr;

use serde_json::{json, Value};

use super::configs::{self, DirectBody, Filter, Front, Route, CLAIM_HEADER};
use super::load::Wrk;
use super::native_ratelimit::{
    grpc_cluster, native_ratelimit_filter, NativeOptions, CLUSTER, DOMAIN, USER_KEY,
};
use super::scenarios::cached_token;
use super::throughput::{self, Contender, Plan, Probe, Requests, Series};
use super::Options;
use test_harness::ratelimit::RateLimitService;
use test_harness::{Error, Result};

/// One generous limit per user: far more than a run sends, so nothing is
/// over limit and the scenario measures the cost of asking, not of refusing.
pub fn limits_yaml() -> String {
    format!(
        "- namespace: {DOMAIN}\n  max_value: 1000000000\n  seconds: 3600\n  \
         conditions: []\n  variables: [\"descriptors[0]['{USER_KEY}']\"]\n"
    )
}

/// toolguard authenticating as in the auth scenarios, with request limits:
/// one descriptor `user` from the `sub` claim.
pub fn toolguard_config() -> Value {
    let mut config = configs::toolguard_auth_config();
    config["rate_limits"] = json!({
        "service": {"cluster": CLUSTER, "domain": DOMAIN, "timeout": "1s", "failure_mode_deny": false},
        "requests": [[{"key": USER_KEY, "from": "claim:sub"}]],
    });
    config
}

/// B and C of the scenario, against the service at `service`, both routed
/// to `upstream` (Envoy's ratelimit filter does nothing on a route without an
/// upstream cluster, such as a direct response).
pub fn contenders(
    opts: &Options,
    bearer: &str,
    service: SocketAddr,
    upstream: SocketAddr,
) -> Vec<Contender> {
    let route = Route::Upstream(upstream);
    let probe = Some(Probe::Claim {
        bearer: bearer.to_string(),
    });
    vec![
        Contender {
            key: "B".into(),
            label: "Envoy jwt_authn + ratelimit".into(),
            front: Front::new(
                Filter::JwtAuthnThen(native_ratelimit_filter(&NativeOptions::default())),
                route.clone(),
            )
            .with_cluster(grpc_cluster(CLUSTER, service)),
            probe: probe.clone(),
            expects: Vec::new(),
            min_response_bytes: 0,
        },
        Contender {
            key: "C".into(),
            label: "toolguard rate_limits".into(),
            front: Front::new(
                Filter::Wasm {
                    module: opts.toolguard_wasm.clone(),
                    config: toolguard_config(),
                },
                route,
            )
            .with_cluster(grpc_cluster(CLUSTER, service)),
            probe,
            expects: vec![throughput::Expect::PerRequest(
                "toolguard.ratelimit.ok".into(),
            )],
            min_response_bytes: 0,
        },
    ]
}

/// Runs the scenario: one service for both sides, interleaved rounds.
///
/// A toolguard module that refuses `rate_limits` (one built before the filter
/// had them) cannot run its side: then the native side runs alone, so its
/// number is still had, and the scenario fails saying why.
pub fn run(wrk: &Wrk, opts: &Options) -> Result<Vec<Series>> {
    let service = RateLimitService::start(DOMAIN, &limits_yaml())?;
    // The fastest upstream there is: a second Envoy answering directly.
    let upstream = Front::new(Filter::None, Route::Direct(DirectBody::Inline("ok".into())))
        .start(opts.workers)
        .map_err(|e| Error::new(format!("starting the upstream Envoy: {e}")))?;
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
    let contenders = contenders(opts, &bearer, service.addr(), upstream.addr());
    if let Err(refused) = contenders[1].front.start(opts.workers) {
        let native = throughput::run(wrk, &plan, &contenders[..1])?;
        return Err(Error::new(format!(
            "ratelimit: the toolguard module ({}) does not run with `rate_limits` (a build \
             without the filter side of rate limits?), so only the native side ran: {} at \
             {:.0} req/s (median). Envoy said:\n{refused}",
            opts.toolguard_wasm.display(),
            contenders[0].label,
            native[0].median_rps()
        )));
    }
    let series = throughput::run(wrk, &plan, &contenders)?;
    // Every request of every run asked the service: fewer calls than
    // measured requests means a side did not ask it at all.
    let requests: u64 = series
        .iter()
        .flat_map(|s| s.runs.iter())
        .map(|r| r.requests)
        .sum();
    if service.calls() < requests {
        return Err(Error::new(format!(
            "the rate-limit service saw {} calls for {requests} requests: a side did not ask it",
            service.calls()
        )));
    }
    match service.remaining(&[(USER_KEY, "test-user")])? {
        Some(left) if left > 0 => Ok(series),
        other => Err(Error::new(format!(
            "the bench user's limit should apply and not be spent; remaining: {other:?}"
        ))),
    }
}

/// The report's heading and method for the scenario (the table follows).
pub fn section(md: &mut String) {
    md.push_str(&format!(
        "## 7. Request limits\n\nThe cached-token requests with a request limit on, routed to a second Envoy \
         answering directly (Envoy's ratelimit filter skips direct-response routes): every request \
         asks the rate-limit service (the harness's: Envoy's RLS gRPC API over limitador, counters \
         in Redis) for one hit on the descriptor `{USER_KEY}=<sub>`, under one limit far above what \
         a run sends (so every answer is OK). B: Envoy's `jwt_authn` copies `sub` into `{CLAIM_HEADER}` \
         and `envoy.filters.http.ratelimit` builds the descriptor from that header \
         (`request_headers` action, x-ratelimit headers on). C: toolguard with \
         `rate_limits.requests` `[[{{\"key\":\"{USER_KEY}\",\"from\":\"claim:sub\"}}]]`. The same \
         service, interleaved rounds; the service must have seen a call per request.\n\n"
    ));
}
