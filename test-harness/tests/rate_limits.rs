//! SPEC "API keys" and "Rate limits", black-box through the real Envoy, with a
//! scripted rate-limit service (`common/rls.rs`) behind an HTTP/2 cluster: the
//! descriptors the filter sends, the 429 and its headers, the tool quota cut,
//! the token charge at the end of a stream, and every fault of the service.

mod common;
#[path = "common/rls.rs"]
mod rls;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use test_harness::client::{self, Response};
use test_harness::{paths, Envoy, MockAgent, Reply};
use toolguard::ratelimit::proto::{Code, RateLimitRequest};

use common::{assert_counter, assert_no_wasm_panic, provider_with_roles};
use rls::{descriptors, Answer, ScriptedRls};

const WAIT: Duration = Duration::from_secs(20);
const API_KEY: &str = "tg-test-partner-key-0001";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn config(service: Value) -> Value {
    json!({
        "providers": {"test": provider_with_roles()},
        "tools": {"roles": {"analysts": ["get_weather", "search"]}},
        "api_keys": {"keys": {hex(&Sha256::digest(API_KEY)): {"subject": "partner-a", "roles": ["analysts"]}}},
        "rate_limits": {
            "service": service,
            "requests": [[{"key": "user", "from": "claim:sub"}]],
            "tools": [[{"key": "user", "from": "claim:sub"}, {"key": "tool", "from": "tool"}]],
            "tokens": [[{"key": "user", "from": "claim:sub"}, {"key": "budget", "value": "model_tokens"}]],
        },
    })
}

fn service(extra: Value) -> Value {
    let mut s = json!({"cluster": "ratelimit", "domain": "agents", "timeout": "500ms"});
    if let (Some(s), Some(extra)) = (s.as_object_mut(), extra.as_object()) {
        s.extend(extra.clone());
    }
    s
}

fn start(agent: &MockAgent, rls: SocketAddr, service_fields: Value) -> Envoy {
    let config = config(service(service_fields));
    common::start_envoy_with(agent.addr(), &config, |b| b.grpc_cluster("ratelimit", rls))
}

fn token(sub: &str) -> String {
    common::user_token(sub, &["analysts"])
}

fn post(envoy: &Envoy, token: &str) -> Response {
    client::post(&envoy.url("/invocations"))
        .bearer(token)
        .timeout(WAIT)
        .body("{}")
        .send_blocking()
        .unwrap()
}

fn user(r: &RateLimitRequest) -> Option<String> {
    r.descriptors
        .iter()
        .flat_map(|d| &d.entries)
        .find(|e| e.key == "user")
        .map(|e| e.value.clone())
}

fn has_tool(r: &RateLimitRequest) -> bool {
    r.descriptors
        .iter()
        .any(|d| d.entries.iter().any(|e| e.key == "tool"))
}

fn pair(k: &str, v: &str) -> (String, String) {
    (k.to_owned(), v.to_owned())
}

#[test]
fn an_allowed_request_carries_the_tightest_status_and_sent_every_descriptor() {
    let rls = ScriptedRls::start(|_| {
        Answer::Verdict(
            Code::Ok,
            vec![(Code::Ok, 100, 60, 30), (Code::Ok, 10, 7, 42)],
        )
    });
    let agent = MockAgent::start().unwrap();
    let envoy = start(&agent, rls.addr(), json!({}));
    let r = post(&envoy, &token("alice"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-ratelimit-limit"), Some("10, 100;w=60, 10;w=60"));
    assert_eq!(r.header("x-ratelimit-remaining"), Some("7"));
    assert_eq!(r.header("x-ratelimit-reset"), Some("42"));
    let sent = rls.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].domain.as_str(), sent[0].hits_addend),
        ("agents", 1)
    );
    // requests: hits 1; tokens: checked only, with their own hits_addend 0.
    assert_eq!(
        descriptors(&sent[0]),
        [
            (vec![pair("user", "alice")], None),
            (
                vec![pair("user", "alice"), pair("budget", "model_tokens")],
                Some(0)
            ),
        ]
    );
    assert_counter(&envoy, "toolguard.ratelimit.ok", 1);
    assert_no_wasm_panic(&envoy);
}

#[test]
fn a_request_over_its_limit_is_429_with_retry_after_and_never_reaches_the_agent() {
    let rls = ScriptedRls::start(|_| {
        Answer::Verdict(Code::OverLimit, vec![(Code::OverLimit, 10, 0, 17)])
    });
    let agent = MockAgent::start().unwrap();
    let envoy = start(&agent, rls.addr(), json!({}));
    let r = post(&envoy, &token("alice"));
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("retry-after"), Some("17"));
    assert_eq!(r.header("x-ratelimit-limit"), Some("10, 10;w=60"));
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(r.header("x-ratelimit-reset"), Some("17"));
    let body = r.json().unwrap();
    assert_eq!(body["error"], "rate_limited");
    assert_eq!(body["retry_after"], 17);
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(agent.request_count(), 0);
    assert_counter(&envoy, "toolguard.ratelimit.over_limit", 1);
}

/// The service answering garbage, slower than `timeout`, or closing mid-call:
/// the request goes on, and each is counted.
#[test]
fn a_failing_service_lets_requests_through_and_counts_each_failure() {
    let rls = ScriptedRls::start(|r| match user(r).as_deref() {
        Some("garbage") => Answer::Garbage,
        Some("slow") => Answer::Slow(Duration::from_secs(3)),
        Some("close") => Answer::Close,
        _ => Answer::Verdict(Code::Ok, vec![]),
    });
    let agent = MockAgent::start().unwrap();
    let envoy = start(&agent, rls.addr(), json!({}));
    for (i, who) in ["garbage", "slow", "close"].into_iter().enumerate() {
        let started = Instant::now();
        let r = post(&envoy, &token(who));
        assert_eq!(r.status, 200, "{who}: {}", r.text());
        assert!(r.header("x-ratelimit-limit").is_none(), "{who}");
        assert_eq!(agent.request_count(), i + 1, "{who}");
        // Not hung on the slow answer: the 500 ms timeout let it go.
        assert!(started.elapsed() < Duration::from_secs(3), "{who}");
    }
    assert_counter(&envoy, "toolguard.ratelimit.error", 3);
    assert_no_wasm_panic(&envoy);
}

#[test]
fn a_service_that_is_down_fails_open_by_default_and_503_with_failure_mode_deny() {
    // Nothing listens on the cluster's port.
    let down: SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let agent = MockAgent::start().unwrap();
    let open = start(&agent, down, json!({}));
    assert_eq!(post(&open, &token("alice")).status, 200);
    assert_counter(&open, "toolguard.ratelimit.error", 1);
    drop(open);

    let deny = start(&agent, down, json!({"failure_mode_deny": true}));
    let r = post(&deny, &token("alice"));
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json().unwrap()["error"], "rate_limit_unavailable");
    assert_eq!(agent.request_count(), 1);
    assert_counter(&deny, "toolguard.ratelimit.error", 1);
    assert_no_wasm_panic(&deny);
}

fn fixture(name: &str) -> Vec<u8> {
    paths::fixture(&format!("streams/{name}")).unwrap()
}

/// The Anthropic stream calls `get_weather` once and reports 377 + 65 tokens.
const STREAM: &str = "anthropic_messages_tool_use.sse";

fn stream(envoy: &Envoy, token: &str) -> Response {
    client::post(&envoy.url("/invocations"))
        .bearer(token)
        .timeout(WAIT)
        .body("{}")
        .open_blocking()
        .unwrap()
        .read_to_end_blocking(WAIT)
}

#[test]
fn an_allowed_tool_call_is_charged_and_the_stream_arrives_byte_identical() {
    let rls = ScriptedRls::start(|_| Answer::Verdict(Code::Ok, vec![]));
    let agent = MockAgent::start().unwrap();
    let bytes = fixture(STREAM);
    agent.set_default(Reply::sse(bytes.clone()));
    let envoy = start(&agent, rls.addr(), json!({}));
    let r = stream(&envoy, &token("alice"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, bytes, "{}", common::show(&r.body));
    let charges: Vec<RateLimitRequest> = rls.requests().into_iter().filter(has_tool).collect();
    assert_eq!(charges.len(), 1);
    assert_eq!(
        descriptors(&charges[0]),
        [(
            vec![pair("user", "alice"), pair("tool", "get_weather")],
            None
        )]
    );
}

#[test]
fn a_tool_over_its_quota_is_cut_with_a_rate_limit_error_event() {
    let rls = ScriptedRls::start(|r| {
        if has_tool(r) {
            Answer::Verdict(Code::OverLimit, vec![(Code::OverLimit, 5, 0, 30)])
        } else {
            Answer::Verdict(Code::Ok, vec![])
        }
    });
    let agent = MockAgent::start().unwrap();
    let bytes = fixture(STREAM);
    agent.set_default(Reply::sse(bytes.clone()));
    let envoy = start(&agent, rls.addr(), json!({}));
    let r = stream(&envoy, &token("alice"));
    let (_, frame, names) = common::sse::first_tool_frame(&bytes).unwrap();
    assert_eq!(names, ["get_weather"]);
    let mut expected = bytes[..frame.range.start].to_vec();
    expected.extend_from_slice(
        b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"tool \\\"get_weather\\\" is over its rate limit\",\"tool\":\"get_weather\"}}\n\n",
    );
    assert_eq!(r.body, expected, "{}", common::show(&r.body));
    assert_counter(&envoy, "toolguard.streams.cut", 1);
    assert_counter(&envoy, "toolguard.ratelimit.over_limit", 1);
    assert_no_wasm_panic(&envoy);
}

#[test]
fn the_tokens_a_stream_reports_are_charged_when_it_ends() {
    let rls = ScriptedRls::start(|_| Answer::Verdict(Code::Ok, vec![]));
    let agent = MockAgent::start().unwrap();
    agent.set_default(Reply::sse(fixture(STREAM)));
    let envoy = start(&agent, rls.addr(), json!({}));
    assert_eq!(stream(&envoy, &token("alice")).status, 200);
    assert_counter(&envoy, "toolguard.tokens.charged", 442);
    // The filter counts the charge when it sends it; the service sees it a
    // moment later.
    let deadline = Instant::now() + WAIT;
    let charge = loop {
        let found = rls.requests().into_iter().find(|r| r.hits_addend == 442);
        match found {
            Some(charge) => break charge,
            None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            None => panic!("no charge of 442 tokens reached the service"),
        }
    };
    assert_eq!(
        descriptors(&charge),
        [(
            vec![pair("user", "alice"), pair("budget", "model_tokens")],
            None
        )]
    );
}

#[test]
fn an_api_key_is_the_caller_and_never_reaches_the_agent() {
    let rls = ScriptedRls::start(|_| Answer::Verdict(Code::Ok, vec![]));
    let agent = MockAgent::start().unwrap();
    let envoy = start(&agent, rls.addr(), json!({}));
    let r = client::post(&envoy.url("/invocations"))
        .header("x-api-key", API_KEY)
        .timeout(WAIT)
        .body("{}")
        .send_blocking()
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(agent.last_request().unwrap().header("x-api-key"), None);
    assert_eq!(user(&rls.requests()[0]).as_deref(), Some("partner-a"));

    let r = client::post(&envoy.url("/invocations"))
        .header("x-api-key", "tg-not-a-key")
        .timeout(WAIT)
        .body("{}")
        .send_blocking()
        .unwrap();
    assert_eq!(r.status, 401);
    let body = r.json().unwrap();
    assert_eq!(body["error"], "invalid_token");
    assert_eq!(body["reason"], "unknown_api_key");
    assert_eq!(agent.request_count(), 1);
    assert_counter(&envoy, "toolguard.jwt.denied.unknown_api_key", 1);
    let log = envoy.log_text();
    assert!(!log.contains(API_KEY) && !log.contains("tg-not-a-key"));
}

#[test]
fn an_mcp_tools_call_over_its_quota_is_429_and_no_body_byte_goes_upstream() {
    let rls = ScriptedRls::start(|r| {
        if has_tool(r) {
            Answer::Verdict(Code::OverLimit, vec![(Code::OverLimit, 5, 0, 12)])
        } else {
            Answer::Verdict(Code::Ok, vec![])
        }
    });
    let agent = MockAgent::start().unwrap();
    let envoy = start(&agent, rls.addr(), json!({}));
    let call = json!({"jsonrpc": "2.0", "id": 41, "method": "tools/call",
                      "params": {"name": "get_weather", "arguments": {"city": "Paris"}}});
    let r = client::post(&envoy.url("/mcp"))
        .bearer(&token("alice"))
        .timeout(WAIT)
        .json(&call)
        .send_blocking()
        .unwrap();
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.header("retry-after"), Some("12"));
    assert_eq!(
        r.json().unwrap(),
        json!({"jsonrpc": "2.0", "id": 41, "error": {"code": -32029,
               "message": "tool \"get_weather\" is over its rate limit"}})
    );
    assert!(agent
        .requests()
        .iter()
        .all(|req| req.body_text().is_empty()));
    assert_counter(&envoy, "toolguard.ratelimit.over_limit", 1);
    assert_no_wasm_panic(&envoy);
}

/// Against the real service (limitador on Redis): the recorded stream's 442
/// tokens are spent from the budget, and a spent budget refuses the next request.
#[test]
fn a_spent_token_budget_in_the_real_service_refuses_the_next_request() {
    use test_harness::ratelimit::RateLimitService;
    let service = RateLimitService::start(
        "agents",
        r#"
- namespace: agents
  max_value: 500
  seconds: 3600
  conditions: []
  variables: ["descriptors[0]['user']", "descriptors[0]['budget']"]
"#,
    )
    .unwrap();
    let agent = MockAgent::start().unwrap();
    agent.set_default(Reply::sse(fixture(STREAM)));
    let envoy = start(&agent, service.addr(), json!({}));
    let budget = [("user", "alice"), ("budget", "model_tokens")];
    assert_eq!(service.remaining(&budget).unwrap(), Some(500));
    assert_eq!(stream(&envoy, &token("alice")).status, 200);
    assert_counter(&envoy, "toolguard.tokens.charged", 442);
    let deadline = Instant::now() + WAIT;
    while service.remaining(&budget).unwrap() != Some(58) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    // The check before the stream (hits_addend 0) spent nothing.
    assert_eq!(service.remaining(&budget).unwrap(), Some(58));
    // Not spent yet: the second stream goes, and its 442 tokens overspend.
    assert_eq!(stream(&envoy, &token("alice")).status, 200);
    assert_counter(&envoy, "toolguard.tokens.charged", 884);
    while service.remaining(&budget).unwrap() != Some(0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = post(&envoy, &token("alice"));
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.json().unwrap()["error"], "rate_limited");
    assert!(r.header("retry-after").is_some());
    // Another user's budget is untouched.
    assert_eq!(post(&envoy, &token("bob")).status, 200);
    assert_eq!(agent.request_count(), 3);
}
