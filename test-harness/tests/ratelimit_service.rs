//! The harness's rate-limit service (limitador on Redis behind Envoy's RLS
//! gRPC API), proved on its own and through Envoy's own
//! `envoy.filters.http.ratelimit` filter in a real Envoy, before the toolguard
//! filter calls it. The Envoy configuration is the bench baseline's: Envoy's
//! `jwt_authn` copies `sub` into a header, the ratelimit filter makes the
//! `user` descriptor from it.
//!
//! - limits are counted in the service, per user, from its own limits file;
//! - over the limit Envoy answers 429 with its x-ratelimit headers, built
//!   from the service's per-descriptor status;
//! - hits: the request's `hits_addend`, a descriptor's own (0 checks only);
//! - the faulty endpoints really fail a call (Envoy with
//!   `failure_mode_deny` answers 500 for each), and without
//!   `failure_mode_deny` requests go on.

use std::time::Duration;

use envoy_types::pb::envoy::extensions::common::ratelimit::v3::rate_limit_descriptor::Entry;
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::rate_limit::Unit;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::Code;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_client::RateLimitServiceClient;
use envoy_types::pb::envoy::service::ratelimit::v3::{RateLimitRequest, RateLimitResponse};
use envoy_types::pb::google::protobuf::UInt64Value;
use test_harness::client;
use test_harness::ratelimit::{Fault, RateLimitService};
use test_harness::{runtime, Envoy, MockAgent, Reply};

mod common;

// The bench's Envoy configurations, from the bench binary's own modules.
#[path = "../src/bin/bench/configs.rs"]
#[allow(dead_code)]
mod configs;
#[path = "../src/bin/bench/native_ratelimit.rs"]
#[allow(dead_code)]
mod native_ratelimit;

use configs::{Filter, Front, Route};
use native_ratelimit::{grpc_cluster, native_ratelimit_filter, NativeOptions};

const DOMAIN: &str = "agents";

/// Three requests a minute per user; a `tier: gold` descriptor has 100 a
/// day (to see two limits side by side).
fn limits() -> String {
    format!(
        r#"
- namespace: {DOMAIN}
  name: per-user
  max_value: 3
  seconds: 60
  conditions: []
  variables: ["descriptors[0]['user']"]
- namespace: {DOMAIN}
  max_value: 100
  seconds: 86400
  conditions: ["descriptors[0]['tier'] == 'gold'"]
  variables: []
"#
    )
}

fn token(sub: &str) -> String {
    common::user_token(sub, &[])
}

/// Envoy's `jwt_authn` + ratelimit filters in front of the echoing mock
/// agent (the ratelimit filter skips routes without an upstream cluster,
/// such as direct responses). The agent is returned to keep it running.
fn envoy_with_native_ratelimit(
    service: &RateLimitService,
    options: NativeOptions,
) -> (Envoy, MockAgent) {
    let agent = MockAgent::start().unwrap();
    agent.set_default(Reply::body("text/plain", "ok"));
    let cluster = options.cluster.clone();
    let envoy = Front::new(
        Filter::JwtAuthnThen(native_ratelimit_filter(&options)),
        Route::Upstream(agent.addr()),
    )
    .with_cluster(grpc_cluster(&cluster, service.addr()))
    .start(1)
    .unwrap_or_else(|e| panic!("{e}"));
    (envoy, agent)
}

fn native(domain: &str) -> NativeOptions {
    NativeOptions {
        domain: domain.into(),
        ..NativeOptions::default()
    }
}

fn get(envoy: &Envoy, bearer: &str) -> client::Response {
    client::get(&envoy.url("/agent"))
        .bearer(bearer)
        .send_blocking()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn call(service: &RateLimitService, request: RateLimitRequest) -> RateLimitResponse {
    let url = format!("http://{}", service.addr());
    runtime::block_on(async move {
        let mut client = RateLimitServiceClient::connect(url).await.unwrap();
        client
            .should_rate_limit(request)
            .await
            .unwrap()
            .into_inner()
    })
}

fn descriptor(entries: &[(&str, &str)], hits: Option<u64>) -> RateLimitDescriptor {
    RateLimitDescriptor {
        entries: entries
            .iter()
            .map(|(k, v)| Entry {
                key: k.to_string(),
                value: v.to_string(),
            })
            .collect(),
        hits_addend: hits.map(|value| UInt64Value { value }),
        ..Default::default()
    }
}

#[test]
fn envoys_ratelimit_filter_counts_per_user_in_the_service_and_answers_429_over_the_limit() {
    let service = RateLimitService::start(DOMAIN, &limits()).unwrap();
    let (envoy, _agent) = envoy_with_native_ratelimit(&service, native(DOMAIN));
    let alice = token("alice");

    for left in [2, 1, 0] {
        let resp = get(&envoy, &alice);
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(
            resp.header("x-ratelimit-remaining"),
            Some(left.to_string().as_str())
        );
        let limit = resp.header("x-ratelimit-limit").unwrap_or_default();
        assert!(limit.starts_with("3, 3;w=60"), "x-ratelimit-limit: {limit}");
        assert_eq!(service.remaining(&[("user", "alice")]).unwrap(), Some(left));
    }

    let over = get(&envoy, &alice);
    assert_eq!(over.status, 429, "{}", over.text());
    assert_eq!(over.header("x-ratelimit-remaining"), Some("0"));
    let reset: u64 = over
        .header("x-ratelimit-reset")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no numeric x-ratelimit-reset: {:?}", over.headers));
    assert!((1..=60).contains(&reset), "x-ratelimit-reset {reset}");
    assert_eq!(service.remaining(&[("user", "alice")]).unwrap(), Some(0));

    // Another user has a counter of their own.
    assert_eq!(service.remaining(&[("user", "bob")]).unwrap(), Some(3));
    assert_eq!(get(&envoy, &token("bob")).status, 200);
    assert_eq!(service.remaining(&[("user", "bob")]).unwrap(), Some(2));
    assert_eq!(service.calls(), 5);
}

#[test]
fn a_descriptor_no_limit_applies_to_is_ok_and_counts_nothing() {
    let service = RateLimitService::start(DOMAIN, &limits()).unwrap();
    let resp = call(
        &service,
        RateLimitRequest {
            domain: DOMAIN.into(),
            descriptors: vec![descriptor(&[("path", "/x")], None)],
            hits_addend: 0,
        },
    );
    assert_eq!(resp.overall_code, Code::Ok as i32);
    assert_eq!(resp.statuses.len(), 1);
    assert_eq!(resp.statuses[0].code, Code::Ok as i32);
    assert_eq!(resp.statuses[0].current_limit, None);
    assert_eq!(service.remaining(&[("path", "/x")]).unwrap(), None);
}

#[test]
fn each_descriptor_is_answered_with_its_own_limit_remaining_and_reset() {
    let service = RateLimitService::start(DOMAIN, &limits()).unwrap();
    let resp = call(
        &service,
        RateLimitRequest {
            domain: DOMAIN.into(),
            descriptors: vec![
                descriptor(&[("user", "carol")], None),
                descriptor(&[("tier", "gold")], None),
            ],
            hits_addend: 0,
        },
    );
    assert_eq!(resp.overall_code, Code::Ok as i32);
    let [user, tier] = &resp.statuses[..] else {
        panic!("two statuses expected: {:?}", resp.statuses)
    };
    let user_limit = user.current_limit.as_ref().unwrap();
    assert_eq!(
        (
            user_limit.requests_per_unit,
            user_limit.unit,
            user_limit.name.as_str()
        ),
        (3, Unit::Minute as i32, "per-user")
    );
    assert_eq!(user.limit_remaining, 2);
    let reset = user.duration_until_reset.as_ref().unwrap();
    assert!((1..=60).contains(&reset.seconds), "{reset:?}");
    let tier_limit = tier.current_limit.as_ref().unwrap();
    assert_eq!(
        (tier_limit.requests_per_unit, tier_limit.unit),
        (100, Unit::Day as i32)
    );
    assert_eq!(tier.limit_remaining, 99);
}

#[test]
fn hits_come_from_the_request_or_the_descriptor_and_zero_only_checks() {
    let service = RateLimitService::start(DOMAIN, &limits()).unwrap();
    let user = [("user", "dave")];
    let request = |hits_addend: u32, own: Option<u64>| RateLimitRequest {
        domain: DOMAIN.into(),
        descriptors: vec![descriptor(&user, own)],
        hits_addend,
    };

    // Check only: nothing counted, remaining reported.
    let checked = call(&service, request(0, Some(0)));
    assert_eq!(checked.overall_code, Code::Ok as i32);
    assert_eq!(checked.statuses[0].limit_remaining, 3);
    assert_eq!(service.remaining(&user).unwrap(), Some(3));

    // The request's hits_addend applies to a descriptor without its own.
    let two = call(&service, request(2, None));
    assert_eq!(two.overall_code, Code::Ok as i32);
    assert_eq!(service.remaining(&user).unwrap(), Some(1));

    // A descriptor's own hits_addend wins; 5 do not fit in the 1 left: over
    // the limit, and counted all the same (as envoyproxy/ratelimit counts).
    let five = call(&service, request(1, Some(5)));
    assert_eq!(five.overall_code, Code::OverLimit as i32);
    assert_eq!(five.statuses[0].code, Code::OverLimit as i32);
    assert_eq!(five.statuses[0].limit_remaining, 0);
    assert_eq!(service.remaining(&user).unwrap(), Some(0));

    // A spent budget: the check-only call now reads over the limit.
    let spent = call(&service, request(0, Some(0)));
    assert_eq!(spent.overall_code, Code::OverLimit as i32);
}

#[test]
fn limits_must_be_limitadors_format_and_name_the_domain() {
    let wrong_namespace = RateLimitService::start("other", &limits());
    let message = wrong_namespace.err().unwrap().to_string();
    assert!(
        message.contains("no limit has namespace \"other\""),
        "{message}"
    );
    let not_limits = RateLimitService::start(DOMAIN, "- max: 3\n");
    assert!(not_limits.is_err());
}

/// Each fault makes Envoy's own client fail the call: with
/// `failure_mode_deny` Envoy answers 500 (an answer it never gives for a
/// service that answered), and without it the request goes on.
#[test]
fn faulty_endpoints_fail_the_call_and_failing_open_lets_requests_through() {
    let faults = [
        Fault::Down,
        Fault::Slow(Duration::from_secs(2)),
        Fault::Garbage,
        Fault::CloseMidCall,
    ];
    let bearer = token("erin");
    for fault in faults {
        let service = RateLimitService::faulty(fault).unwrap();
        let options = |deny| NativeOptions {
            domain: DOMAIN.into(),
            timeout: "0.2s".into(),
            failure_mode_deny: deny,
            ..NativeOptions::default()
        };
        let (deny, _agent) = envoy_with_native_ratelimit(&service, options(true));
        let resp = get(&deny, &bearer);
        assert_eq!(
            resp.status,
            500,
            "{fault:?} with failure_mode_deny: {}",
            resp.text()
        );
        drop(deny);

        let (open, _agent) = envoy_with_native_ratelimit(&service, options(false));
        let resp = get(&open, &bearer);
        assert_eq!(resp.status, 200, "{fault:?} failing open: {}", resp.text());
        assert_eq!(resp.text(), "ok");
        if fault == Fault::Down {
            assert_eq!(service.calls(), 0);
        } else {
            assert_eq!(service.calls(), 2, "{fault:?}: the endpoint saw both calls");
        }
    }
}

/// envoy/ratelimit/limits.yaml, the limits shipped with
/// envoy/agentcore-ratelimit.yaml: the request, tool and token descriptors
/// toolguard sends each meet their own limit and nothing else.
#[test]
fn the_shipped_limits_count_requests_tools_and_tokens_apart() {
    let path = test_harness::paths::repo_root().join("envoy/ratelimit/limits.yaml");
    let limits = std::fs::read_to_string(&path).unwrap();
    let service = RateLimitService::start(DOMAIN, &limits).unwrap();
    let user = ("user", "frank");
    let tool = [user, ("tool", "search_filings")];
    let budget = [user, ("budget", "model_tokens")];
    let resp = call(
        &service,
        RateLimitRequest {
            domain: DOMAIN.into(),
            descriptors: vec![
                descriptor(&[user], None),
                descriptor(&tool, None),
                descriptor(&budget, Some(1500)),
            ],
            hits_addend: 0,
        },
    );
    assert_eq!(resp.overall_code, Code::Ok as i32);
    let names: Vec<&str> = resp
        .statuses
        .iter()
        .map(|s| s.current_limit.as_ref().map_or("", |l| l.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            "requests-per-user",
            "tool-calls-per-user",
            "model-tokens-per-user"
        ]
    );
    assert_eq!(service.remaining(&[user]).unwrap(), Some(59));
    assert_eq!(service.remaining(&tool).unwrap(), Some(29));
    assert_eq!(service.remaining(&budget).unwrap(), Some(198_500));
    // Another tool has its own quota.
    assert_eq!(
        service
            .remaining(&[user, ("tool", "generate_report")])
            .unwrap(),
        Some(30)
    );
}
