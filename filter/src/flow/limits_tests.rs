//! SPEC "API keys" and "Rate limits", sentence by sentence, through the fake
//! host: the calls the filter sends, and what it does with each answer.

use super::fake_host::FakeHost;
use super::response::ResponseBodyStep;
use super::*;
use crate::config::Config;
use crate::host::Host;
use crate::metrics::Metric;
use crate::ratelimit::proto::{
    Code, DescriptorStatus, Duration, RateLimit, RateLimitRequest, RateLimitResponse, Unit,
};
use prost::Message;
use sha2::{Digest, Sha256};
use std::rc::Rc;
use wasm_bindgen_test::wasm_bindgen_test;

const KEY: &str = "k-alice-0123456789";
const A2_TOKEN: &str = include_str!("../../../fixtures/jose/rfc7515/A2_RS256.jws");
const A2_JWK: &str = include_str!("../../../fixtures/jose/rfc7515/A2_RS256.jwk.json");
const A2_NOW_MS: u64 = 1_300_819_000_000;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A provider nobody uses, an API key for `alice` (role `analysts`), tools for
/// analysts, and `rate_limits` with `service` fields `service`.
fn vm(service: &str) -> Vm {
    vm_with(service, r#"["search","report"]"#)
}

fn vm_with(service: &str, analysts_tools: &str) -> Vm {
    let hash = hex(&Sha256::digest(KEY.as_bytes()));
    let jwk: serde_json::Value = serde_json::from_str(A2_JWK).unwrap();
    let jwks = serde_json::json!({ "keys": [{ "kty": "RSA", "n": jwk["n"], "e": jwk["e"] }] });
    let jwks = serde_json::Value::String(jwks.to_string());
    let json = format!(
        r#"{{"providers":{{"joe":{{"issuer":"joe","roles_claim":"cognito:groups","local_jwks":{{"inline_string":{jwks}}}}}}},
        "tools":{{"roles":{{"analysts":{analysts_tools}}}}},
        "api_keys":{{"header":"x-api-key","keys":{{"{hash}":{{"subject":"alice","roles":["analysts"]}}}}}},
        "rate_limits":{{"service":{{"cluster":"ratelimit","domain":"agents","timeout":"100ms"{service}}},
          "requests":[[{{"key":"user","from":"claim:sub"}}],[{{"key":"role","from":"role"}}]],
          "tools":[[{{"key":"user","from":"claim:sub"}},{{"key":"tool","from":"tool"}},{{"key":"tenant","from":"header:x-tenant"}}]],
          "tokens":[[{{"key":"user","from":"claim:sub"}},{{"key":"budget","value":"model_tokens"}}]]}}}}"#
    );
    let config = Config::from_json(json.as_bytes()).unwrap();
    Vm::new(Rc::new(config))
}

fn request_host() -> FakeHost {
    FakeHost::with_request(&[
        (":path", "/invocations?x=1"),
        ("x-api-key", KEY),
        ("x-tenant", "t1"),
    ])
}

fn sent_request(host: &FakeHost, i: usize) -> RateLimitRequest {
    let calls = host.grpc.borrow();
    let call = &calls[i];
    assert_eq!(
        (
            call.cluster.as_str(),
            call.service.as_str(),
            call.method.as_str()
        ),
        (
            "ratelimit",
            "envoy.service.ratelimit.v3.RateLimitService",
            "ShouldRateLimit"
        )
    );
    assert_eq!(call.timeout_ms, 100);
    RateLimitRequest::decode(&call.message[..]).unwrap()
}

/// A descriptor's (key, value) entries and its own `hits_addend`.
type Sent = (Vec<(String, String)>, Option<u64>);

fn entries(r: &RateLimitRequest) -> Vec<Sent> {
    r.descriptors
        .iter()
        .map(|d| {
            (
                d.entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.clone()))
                    .collect(),
                d.hits_addend.map(|h| h.value),
            )
        })
        .collect()
}

fn status(code: Code, per_minute: u32, remaining: u32, reset_secs: i64) -> DescriptorStatus {
    DescriptorStatus {
        code: code as i32,
        current_limit: Some(RateLimit {
            name: String::new(),
            requests_per_unit: per_minute,
            unit: Unit::Minute as i32,
        }),
        limit_remaining: remaining,
        duration_until_reset: Some(Duration {
            seconds: reset_secs,
            nanos: 0,
        }),
    }
}

fn answer(overall: Code, statuses: Vec<DescriptorStatus>) -> Vec<u8> {
    RateLimitResponse {
        overall_code: overall as i32,
        statuses,
    }
    .encode_to_vec()
}

/// The request sent, waiting for its one call.
fn waiting(vm: &mut Vm) -> (FakeHost, RequestState) {
    let host = request_host();
    host.now_ms.set(5_000);
    let mut request = RequestState::default();
    assert_eq!(
        request.on_headers(&host, vm, true),
        RequestStep::WaitForLimits { deadline_ms: 5_100 }
    );
    (host, request)
}

fn header<'a>(sent: &'a fake_host::Sent, name: &str) -> Option<&'a str> {
    sent.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[test]
#[wasm_bindgen_test]
fn one_call_charges_every_requests_descriptor_and_only_checks_the_token_budget() {
    let mut vm = vm("");
    let (host, _) = waiting(&mut vm);
    let r = sent_request(&host, 0);
    assert_eq!((r.domain.as_str(), r.hits_addend), ("agents", 1));
    let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    assert_eq!(
        entries(&r),
        [
            (vec![pair("user", "alice")], None),
            (vec![pair("role", "analysts")], None),
            (
                vec![pair("user", "alice"), pair("budget", "model_tokens")],
                Some(0)
            ),
        ]
    );
}

#[test]
#[wasm_bindgen_test]
fn an_allowed_request_goes_on_and_its_response_carries_the_tightest_status() {
    let mut vm = vm("");
    let (host, mut request) = waiting(&mut vm);
    let ok = answer(
        Code::Ok,
        vec![status(Code::Ok, 100, 40, 50), status(Code::Ok, 10, 3, 42)],
    );
    assert_eq!(request.on_grpc_answer(&host, &vm, 99, 0, &ok), None);
    assert_eq!(
        request.on_grpc_answer(&host, &vm, 1, 0, &ok),
        Some(RequestStep::Continue)
    );
    assert!(host.sent.borrow().is_none());
    assert_eq!(host.counter(Metric::RateLimitOk), 1);
    let mut response = ResponseState::default();
    response.on_headers(&host, &vm.config, &request);
    assert_eq!(
        host.response_header("x-ratelimit-limit").as_deref(),
        Some("10, 100;w=60, 10;w=60")
    );
    assert_eq!(
        host.response_header("x-ratelimit-remaining").as_deref(),
        Some("3")
    );
    assert_eq!(
        host.response_header("x-ratelimit-reset").as_deref(),
        Some("42")
    );
}

#[test]
#[wasm_bindgen_test]
fn over_the_limit_is_429_with_retry_after_and_the_limit_headers() {
    let mut vm = vm("");
    let (host, mut request) = waiting(&mut vm);
    let over = answer(
        Code::OverLimit,
        vec![
            status(Code::OverLimit, 10, 0, 17),
            status(Code::Ok, 100, 50, 3000),
        ],
    );
    assert_eq!(
        request.on_grpc_answer(&host, &vm, 1, 0, &over),
        Some(RequestStep::Answered)
    );
    let sent = host.sent.borrow().clone().unwrap();
    assert_eq!(sent.status, 429);
    assert_eq!(header(&sent, "content-type"), Some("application/json"));
    assert_eq!(header(&sent, "retry-after"), Some("17"));
    assert_eq!(header(&sent, "x-ratelimit-remaining"), Some("0"));
    assert_eq!(header(&sent, "x-ratelimit-reset"), Some("17"));
    assert_eq!(
        header(&sent, "x-ratelimit-limit"),
        Some("10, 10;w=60, 100;w=60")
    );
    let body = host.sent_json();
    assert_eq!(body["error"], "rate_limited");
    assert_eq!(body["retry_after"], 17);
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(host.counter(Metric::RateLimitOverLimit), 1);
}

/// Every way the service can fail, each with the default (go on) and with
/// `failure_mode_deny` (503).
#[test]
#[wasm_bindgen_test]
fn a_failing_service_lets_requests_through_unless_failure_mode_deny() {
    type Fault = fn(&mut RequestState, &FakeHost, &Vm) -> Option<RequestStep>;
    let faults: [(&str, Fault); 4] = [
        ("unavailable", |r, h, vm| {
            r.on_grpc_answer(h, vm, 1, 14, b"")
        }),
        ("deadline exceeded", |r, h, vm| {
            r.on_grpc_answer(h, vm, 1, 4, b"")
        }),
        ("garbage", |r, h, vm| {
            r.on_grpc_answer(h, vm, 1, 0, b"\x0a\xff\xff\xff\xff")
        }),
        ("slower than timeout", |r, h, vm| {
            assert_eq!(r.on_limits_deadline(h, vm), None, "not yet");
            h.now_ms.set(5_100);
            r.on_limits_deadline(h, vm)
        }),
    ];
    for (name, fault) in faults {
        let mut vm_open = vm("");
        let (host, mut request) = waiting(&mut vm_open);
        assert_eq!(
            fault(&mut request, &host, &vm_open),
            Some(RequestStep::Continue),
            "{name}"
        );
        assert!(host.sent.borrow().is_none(), "{name}");
        assert_eq!(host.counter(Metric::RateLimitError), 1, "{name}");
        // A late answer after the verdict changes nothing.
        assert_eq!(request.on_grpc_answer(&host, &vm_open, 1, 0, b""), None);

        let mut vm_deny = vm(r#","failure_mode_deny":true"#);
        let (host, mut request) = waiting(&mut vm_deny);
        assert_eq!(
            fault(&mut request, &host, &vm_deny),
            Some(RequestStep::Answered),
            "{name}"
        );
        assert_eq!(host.sent.borrow().as_ref().unwrap().status, 503);
        assert_eq!(host.sent_json()["error"], "rate_limit_unavailable");
        assert_eq!(host.counter(Metric::RateLimitError), 1, "{name}");
    }
}

#[test]
#[wasm_bindgen_test]
fn a_call_that_cannot_be_sent_is_an_error_at_once() {
    let mut vm = vm(r#","failure_mode_deny":true"#);
    let host = request_host();
    host.grpc_refused.set(true);
    let mut request = RequestState::default();
    assert_eq!(
        request.on_headers(&host, &mut vm, true),
        RequestStep::Answered
    );
    assert_eq!(host.sent.borrow().as_ref().unwrap().status, 503);
    assert_eq!(host.counter(Metric::RateLimitError), 1);
}

#[test]
#[wasm_bindgen_test]
fn a_body_that_arrives_during_the_call_is_held() {
    let mut vm = vm("");
    let host = request_host();
    let mut request = RequestState::default();
    assert!(matches!(
        request.on_headers(&host, &mut vm, false),
        RequestStep::WaitForLimits { .. }
    ));
    assert_eq!(request.on_body(&host, &vm, 10, true), BodyStep::Hold);
    let ok = answer(Code::Ok, vec![]);
    assert_eq!(
        request.on_grpc_answer(&host, &vm, 1, 0, &ok),
        Some(RequestStep::Continue)
    );
}

#[test]
#[wasm_bindgen_test]
fn a_known_api_key_is_its_subject_and_never_goes_upstream() {
    let mut vm = vm("");
    let (host, request) = waiting(&mut vm);
    assert_eq!(host.request_value("x-api-key"), None);
    let token = request.identity.as_ref().unwrap().token.as_ref().unwrap();
    assert_eq!(token.subject.as_deref(), Some("alice"));
    assert_eq!(token.issuer, "api-key");
    let allowlist = request
        .identity
        .as_ref()
        .unwrap()
        .allowlist
        .as_ref()
        .unwrap();
    assert!(allowlist.allows("search") && !allowlist.allows("delete"));
    assert!(host.logs.borrow().iter().all(|l| !l.contains(KEY)));
}

#[test]
#[wasm_bindgen_test]
fn a_token_wins_over_an_api_key_and_the_key_is_still_removed() {
    let mut vm = vm("");
    let auth = format!("Bearer {}", A2_TOKEN.trim());
    let host =
        FakeHost::with_request(&[(":path", "/"), ("authorization", &auth), ("x-api-key", KEY)]);
    host.now_ms.set(A2_NOW_MS);
    let mut request = RequestState::default();
    // The token has no `sub` and no roles: every descriptor has an absent
    // source, so there is nothing to ask.
    assert_eq!(
        request.on_headers(&host, &mut vm, true),
        RequestStep::Continue
    );
    assert!(host.grpc.borrow().is_empty());
    let token = request.identity.as_ref().unwrap().token.as_ref().unwrap();
    assert_eq!(token.issuer, "joe");
    assert_eq!(host.request_value("x-api-key"), None);
}

#[test]
#[wasm_bindgen_test]
fn an_unknown_api_key_is_401_unknown_api_key() {
    let mut vm = vm("");
    let host = FakeHost::with_request(&[(":path", "/"), ("x-api-key", "k-mallory")]);
    let mut request = RequestState::default();
    assert_eq!(
        request.on_headers(&host, &mut vm, true),
        RequestStep::Answered
    );
    let sent = host.sent.borrow().clone().unwrap();
    assert_eq!(sent.status, 401);
    let body = host.sent_json();
    assert_eq!(
        (body["error"].as_str(), body["reason"].as_str()),
        (Some("invalid_token"), Some("unknown_api_key"))
    );
    assert_eq!(
        host.counter(Metric::JwtDeniedReason(crate::jwt::Reason::UnknownApiKey)),
        1
    );
    assert!(host.grpc.borrow().is_empty());
    assert!(host.logs.borrow().iter().all(|l| !l.contains("k-mallory")));
}

/// An admitted request and its policed event stream.
fn stream(vm: &mut Vm) -> (FakeHost, RequestState, ResponseState) {
    let (host, mut request) = waiting(vm);
    let ok = answer(Code::Ok, vec![]);
    assert_eq!(
        request.on_grpc_answer(&host, vm, 1, 0, &ok),
        Some(RequestStep::Continue)
    );
    // As in Envoy, the request headers cannot be read once the request went on.
    host.request.borrow_mut().clear();
    *host.response.borrow_mut() = vec![("content-type".into(), "text/event-stream".into())];
    let mut response = ResponseState::default();
    response.on_headers(&host, &vm.config, &request);
    (host, request, response)
}

/// One body chunk as Envoy hands it over; a held chunk joins what Envoy buffers.
fn feed(
    host: &FakeHost,
    response: &mut ResponseState,
    bytes: &[u8],
    eos: bool,
) -> ResponseBodyStep {
    let mut step = ResponseBodyStep::Continue;
    let out = host.chunk(bytes, |h, n| step = response.on_body(h, n, eos));
    if step == ResponseBodyStep::Hold {
        host.held.borrow_mut().extend_from_slice(&out);
    }
    step
}

const TEXT: &[u8] = b"data: {\"text\":\"hi\"}\n\n";
const CALL: &[u8] = b"event: tool_call\ndata: {\"name\":\"search\",\"id\":\"c1\"}\n\n";
const AFTER: &[u8] = b"data: {\"text\":\"after\"}\n\n";

#[test]
#[wasm_bindgen_test]
fn an_allowed_tool_call_frame_is_held_until_it_is_charged() {
    let mut vm = vm("");
    let (host, _request, mut response) = stream(&mut vm);
    let first = [TEXT, CALL, &AFTER[..5]].concat();
    assert_eq!(
        feed(&host, &mut response, &first, false),
        ResponseBodyStep::Hold
    );
    // Policed as far as the call; the rest waits behind it, unread.
    assert_eq!(*host.held.borrow(), [TEXT, CALL].concat());
    let charge = sent_request(&host, 1);
    assert_eq!(charge.hits_addend, 1);
    let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    assert_eq!(
        entries(&charge),
        [(
            vec![
                pair("user", "alice"),
                pair("tool", "search"),
                pair("tenant", "t1")
            ],
            None
        )]
    );
    assert_eq!(
        feed(&host, &mut response, &AFTER[5..], false),
        ResponseBodyStep::Hold
    );
    let ok = answer(Code::Ok, vec![status(Code::Ok, 5, 4, 60)]);
    assert_eq!(
        response.on_grpc_answer(&host, 2, 0, &ok),
        Some(ResponseBodyStep::Continue)
    );
    assert_eq!(*host.held.borrow(), [TEXT, CALL, AFTER].concat());
    assert_eq!(host.response_resumed.get(), 1);
    assert_eq!(host.counter(Metric::RateLimitOk), 2);
}

#[test]
#[wasm_bindgen_test]
fn a_tool_over_its_quota_is_cut_with_a_rate_limit_error() {
    let mut vm = vm("");
    let (host, _request, mut response) = stream(&mut vm);
    host.now_ms.set(9_000);
    let chunk = [TEXT, CALL, AFTER].concat();
    assert_eq!(
        feed(&host, &mut response, &chunk, false),
        ResponseBodyStep::Hold
    );
    let over = answer(Code::OverLimit, vec![status(Code::OverLimit, 5, 0, 30)]);
    assert_eq!(
        response.on_grpc_answer(&host, 2, 0, &over),
        Some(ResponseBodyStep::CutAt(
            9_000 + response::RESET_AFTER_CUT_MS
        ))
    );
    let expected = [
        TEXT,
        b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"tool \\\"search\\\" is over its rate limit\",\"tool\":\"search\"}}\n\n",
    ]
    .concat();
    assert_eq!(
        String::from_utf8_lossy(&host.held.borrow()),
        String::from_utf8_lossy(&expected)
    );
    assert_eq!(host.response_resumed.get(), 1);
    assert_eq!(host.counter(Metric::StreamsCut), 1);
    assert_eq!(host.counter(Metric::RateLimitOverLimit), 1);
    // Whatever the upstream sends next is dropped and the stream reset.
    let out = host.chunk(AFTER, |h, n| {
        response.on_body(h, n, false);
    });
    assert!(out.is_empty());
    assert_eq!(host.resets.get(), 1);
}

#[test]
#[wasm_bindgen_test]
fn a_charge_with_no_answer_in_time_lets_the_frame_go_unless_failure_mode_deny() {
    for (service, cut) in [("", false), (r#","failure_mode_deny":true"#, true)] {
        let mut vm = vm(service);
        let (host, _request, mut response) = stream(&mut vm);
        let chunk = [TEXT, CALL].concat();
        assert_eq!(
            feed(&host, &mut response, &chunk, false),
            ResponseBodyStep::Hold
        );
        assert!(response.waits_for_limits());
        assert_eq!(response.on_limits_deadline(&host), None, "not yet");
        host.now_ms.set(host.now_ms() + 100);
        let step = response.on_limits_deadline(&host).unwrap();
        assert!(!response.waits_for_limits());
        assert_eq!(host.response_resumed.get(), 1);
        assert_eq!(host.counter(Metric::RateLimitError), 1);
        let held = String::from_utf8(host.held.borrow().clone()).unwrap();
        if cut {
            assert!(matches!(step, ResponseBodyStep::CutAt(_)));
            assert!(held.ends_with("\"type\":\"stream_error\",\"message\":\"tool \\\"search\\\" cannot be charged: the rate-limit service did not answer\"}}\n\n"), "{held}");
            assert!(!held.contains("tool_call"));
        } else {
            assert_eq!(step, ResponseBodyStep::Continue);
            assert_eq!(held.as_bytes(), chunk);
        }
    }
}

#[test]
#[wasm_bindgen_test]
fn the_end_of_a_stream_that_came_during_a_charge_is_kept() {
    let mut vm = vm("");
    let (host, _request, mut response) = stream(&mut vm);
    assert_eq!(
        feed(&host, &mut response, CALL, false),
        ResponseBodyStep::Hold
    );
    assert_eq!(
        feed(&host, &mut response, AFTER, true),
        ResponseBodyStep::Hold
    );
    let ok = answer(Code::Ok, vec![]);
    assert_eq!(
        response.on_grpc_answer(&host, 2, 0, &ok),
        Some(ResponseBodyStep::Continue)
    );
    assert_eq!(*host.held.borrow(), [CALL, AFTER].concat());
}

macro_rules! fixture {
    ($name:literal) => {
        (
            $name,
            &include_bytes!(concat!("../../../fixtures/streams/", $name))[..],
        )
    };
}

#[test]
#[wasm_bindgen_test]
fn a_streams_reported_tokens_are_charged_when_it_ends() {
    let fixtures = [
        (fixture!("anthropic_messages_tool_use.sse"), 442),
        (fixture!("openai_chat_single_tool_call.sse"), 67),
        (fixture!("openai_responses_function_call_gpt4o.sse"), 271),
        (fixture!("gemini_stream_function_call_gemini2flash.sse"), 57),
        (fixture!("agentcore_strands_tool_use.sse"), 957),
    ];
    for ((name, bytes), tokens) in fixtures {
        // Every tool is allowed; each call is charged and answered OK.
        let mut vm = vm_with("", r#"["*"]"#);
        let (host, _request, mut response) = stream(&mut vm);
        let mut pos = 0;
        let mut token = 1;
        while pos <= bytes.len() {
            let end = (pos + 97).min(bytes.len());
            let eos = end == bytes.len();
            let mut step = feed(&host, &mut response, &bytes[pos..end], eos);
            while step == ResponseBodyStep::Hold && response.waits_for_limits() {
                token += 1;
                step = response
                    .on_grpc_answer(&host, token, 0, &answer(Code::Ok, vec![]))
                    .unwrap();
                host.held.borrow_mut().clear();
            }
            pos = end + usize::from(eos);
        }
        let calls = host.grpc.borrow().len();
        let last = sent_request(&host, calls - 1);
        let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        assert_eq!(
            entries(&last),
            [(
                vec![pair("user", "alice"), pair("budget", "model_tokens")],
                None
            )],
            "{name}"
        );
        assert_eq!(last.hits_addend, tokens, "{name}");
        assert_eq!(
            host.counter(Metric::TokensCharged),
            u64::from(tokens),
            "{name}"
        );
    }
}

#[test]
#[wasm_bindgen_test]
fn a_cut_stream_is_charged_the_tokens_it_reported_so_far() {
    let mut vm = vm("");
    let (host, _request, mut response) = stream(&mut vm);
    let start =
        b"data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":30}}}\n\n";
    let denied = b"event: tool_call\ndata: {\"name\":\"delete\"}\n\n";
    let step = feed(&host, &mut response, &[&start[..], denied].concat(), false);
    assert!(matches!(step, ResponseBodyStep::CutAt(_)));
    let calls = host.grpc.borrow().len();
    assert_eq!(sent_request(&host, calls - 1).hits_addend, 30);
    assert_eq!(host.counter(Metric::TokensCharged), 30);
}

#[test]
#[wasm_bindgen_test]
fn an_mcp_tools_call_over_its_quota_is_429_with_a_json_rpc_error() {
    let mut vm = vm("");
    let host = FakeHost::with_request(&[
        (":path", "/mcp"),
        (":method", "POST"),
        ("content-type", "application/json"),
        ("x-api-key", KEY),
        ("x-tenant", "t1"),
    ]);
    let body = br#"{"jsonrpc":"2.0","id":"q-1","method":"tools/call","params":{"name":"search","arguments":{}}}"#;
    *host.request_body.borrow_mut() = body.to_vec();
    let mut request = RequestState::default();
    assert!(matches!(
        request.on_headers(&host, &mut vm, false),
        RequestStep::WaitForLimits { .. }
    ));
    let ok = answer(Code::Ok, vec![]);
    // The headers go on; the body, which Envoy delivers after that, is held.
    assert_eq!(
        request.on_grpc_answer(&host, &vm, 1, 0, &ok),
        Some(RequestStep::Continue)
    );
    assert_eq!(
        request.on_body(&host, &vm, body.len(), true),
        BodyStep::Hold
    );
    let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    assert_eq!(
        entries(&sent_request(&host, 1)),
        [(
            vec![
                pair("user", "alice"),
                pair("tool", "search"),
                pair("tenant", "t1")
            ],
            None
        )]
    );
    let over = answer(Code::OverLimit, vec![status(Code::OverLimit, 5, 0, 9)]);
    assert_eq!(
        request.on_grpc_answer(&host, &vm, 2, 0, &over),
        Some(RequestStep::Answered)
    );
    let sent = host.sent.borrow().clone().unwrap();
    assert_eq!(sent.status, 429);
    assert_eq!(header(&sent, "retry-after"), Some("9"));
    assert_eq!(
        sent.body,
        r#"{"jsonrpc":"2.0","id":"q-1","error":{"code":-32029,"message":"tool \"search\" is over its rate limit"}}"#
    );
}

#[test]
#[wasm_bindgen_test]
fn an_mcp_tools_call_within_its_quota_goes_upstream() {
    let mut vm = vm("");
    let host = FakeHost::with_request(&[
        (":path", "/mcp"),
        (":method", "POST"),
        ("content-type", "application/json"),
        ("x-api-key", KEY),
        ("x-tenant", "t1"),
    ]);
    let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"report"}}"#;
    *host.request_body.borrow_mut() = body.to_vec();
    let mut request = RequestState::default();
    // The body came whole while the request check was out.
    assert!(matches!(
        request.on_headers(&host, &mut vm, false),
        RequestStep::WaitForLimits { .. }
    ));
    assert_eq!(
        request.on_body(&host, &vm, body.len(), true),
        BodyStep::Hold
    );
    let ok = answer(Code::Ok, vec![]);
    assert_eq!(
        request.on_grpc_answer(&host, &vm, 1, 0, &ok),
        Some(RequestStep::HoldForBody)
    );
    assert!(request.waits_for_limits());
    assert_eq!(
        request.on_grpc_answer(&host, &vm, 2, 0, &ok),
        Some(RequestStep::Continue)
    );
    assert!(host.sent.borrow().is_none());
}

/// An admitted WebSocket upgrade, upgraded: its server-to-client bytes policed.
fn ws_stream(vm: &mut Vm) -> (FakeHost, ResponseState) {
    let host = FakeHost::with_request(&[
        (":path", "/ws"),
        ("x-api-key", KEY),
        ("x-tenant", "t1"),
        ("upgrade", "websocket"),
        ("connection", "Upgrade"),
    ]);
    host.now_ms.set(5_000);
    let mut request = RequestState::default();
    assert!(matches!(
        request.on_headers(&host, vm, true),
        RequestStep::WaitForLimits { .. }
    ));
    let ok = answer(Code::Ok, vec![]);
    assert_eq!(
        request.on_grpc_answer(&host, vm, 1, 0, &ok),
        Some(RequestStep::Continue)
    );
    host.request.borrow_mut().clear();
    *host.response.borrow_mut() = vec![(":status".into(), "101".into())];
    let mut response = ResponseState::default();
    response.on_headers(&host, &vm.config, &request);
    (host, response)
}

/// An unmasked single-frame text message.
fn ws_text(text: &str) -> Vec<u8> {
    let mut out = vec![0x81, u8::try_from(text.len()).unwrap()];
    out.extend_from_slice(text.as_bytes());
    out
}

#[test]
#[wasm_bindgen_test]
fn a_websocket_tool_call_is_charged_and_over_its_quota_closes_1008() {
    let before = ws_text(r#"{"text":"hi"}"#);
    let call = ws_text(
        r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t1","name":"search","input":{}}}"#,
    );
    let after = ws_text(r#"{"text":"after"}"#);
    for over in [false, true] {
        let mut vm = vm("");
        let (host, mut response) = ws_stream(&mut vm);
        let chunk = [&before[..], &call, &after].concat();
        assert_eq!(
            feed(&host, &mut response, &chunk, false),
            ResponseBodyStep::Hold
        );
        assert_eq!(*host.held.borrow(), [&before[..], &call].concat());
        let charge = sent_request(&host, 1);
        let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        assert_eq!(
            entries(&charge),
            [(
                vec![
                    pair("user", "alice"),
                    pair("tool", "search"),
                    pair("tenant", "t1")
                ],
                None
            )]
        );
        let code = if over { Code::OverLimit } else { Code::Ok };
        let step = response.on_grpc_answer(&host, 2, 0, &answer(code, vec![]));
        assert_eq!(host.response_resumed.get(), 1);
        if over {
            assert!(matches!(step, Some(ResponseBodyStep::CutAt(_))));
            let mut expected = before.clone();
            expected.extend_from_slice(&crate::websocket::close::close_frame(
                1008,
                "tool \"search\" is over its rate limit",
            ));
            assert_eq!(*host.held.borrow(), expected);
            assert_eq!(host.counter(Metric::StreamsCut), 1);
        } else {
            assert_eq!(step, Some(ResponseBodyStep::Continue));
            assert_eq!(*host.held.borrow(), chunk);
        }
    }
}
