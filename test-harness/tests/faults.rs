//! Faults around the filter, through the real Envoy (issue #7 "Robustness"): a
//! JWKS that goes slow once keys were had, that answers garbage, a body of many
//! megabytes (50 MiB is past the buffer limit of Envoy's async client, which
//! then hands the filter a call without a response: that once panicked the
//! filter and killed its VM), or aborts mid-body; an upstream that resets in
//! the middle of an SSE frame; a client that goes away mid-stream; request
//! headers of 100 KB. Each test checks the exact answers and counters, that the
//! worker still serves afterwards, and that Envoy's log shows no panic of the
//! filter.
//!
//! Not repeated here (jwt_auth.rs covers them the same way): a JWKS slower than
//! its timeout on the first fetch (503 with Retry-After, then 200 once it answers
//! in time), a JWKS answering 500 at start and during operation, and a garbage
//! body during an outage with keys held.
//!
//! One worker where a count must be exact (each worker fetches on its own);
//! timing bounds are generous, the machine may be loaded.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value};
use test_harness::client::{self, BodyEnding, Response};
use test_harness::{paths, Chunking, Envoy, JwksMode, Key, MockAgent, Reply, Token};

use common::jwt::{assert_invalid, assert_jwks_unavailable, assert_missing_token, remote};
use common::sse::{self, denied_event};
use common::{
    assert_counter, assert_no_wasm_panic, counter, provider_with_roles, show, token, user_token,
    Stack,
};

const WAIT: Duration = Duration::from_secs(20);
/// Slack on top of an `http_uri` timeout before a waiting request must be answered.
const SLACK: Duration = Duration::from_secs(5);
/// Failed fetches are retried after 1, 2, 4, 8 ... s: enough for a few retries.
const RECOVERY: Duration = Duration::from_secs(30);

// --- helpers ---------------------------------------------------------------

/// One worker, the test provider on the mock JWKS with these durations, wasm
/// logs at debug.
fn remote_stack(
    timeout: &str,
    cache_duration: &str,
    prepare: impl FnOnce(&test_harness::MockJwks),
) -> Stack {
    Stack::start_with(
        |jwks| {
            prepare(jwks);
            json!({"providers": {"test": remote(jwks, timeout, cache_duration)}})
        },
        |b| b.concurrency(1),
    )
}

fn bearer(envoy: &Envoy, token: &str) -> Response {
    client::get(&envoy.url("/invocations"))
        .bearer(token)
        .send_blocking()
        .unwrap_or_else(|e| panic!("GET /invocations: {e}"))
}

/// A token no earlier request used, so no cached verification answers for it.
fn assert_ok(resp: &Response, what: &str) {
    assert_eq!(
        resp.status,
        200,
        "{what}: {} {:?}",
        resp.text(),
        resp.headers
    );
}

/// Sends fresh tokens until one passes; every answer before must be the SPEC
/// 503. Returns how many 503s came first.
fn wait_until_served(envoy: &Envoy, what: &str) -> usize {
    let deadline = Instant::now() + RECOVERY;
    let mut refused = 0;
    loop {
        let resp = bearer(envoy, &user_token(&format!("{what}-{refused}"), &[]));
        if resp.status == 200 {
            return refused;
        }
        assert_jwks_unavailable(&resp, what);
        refused += 1;
        assert!(
            Instant::now() < deadline,
            "{what}: no request passed within {RECOVERY:?} of the JWKS recovering"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A JSON document of exactly `len` bytes that is no key set (its `keys` is
/// empty and a padding member fills it up).
fn big_json(len: usize) -> Bytes {
    let head = br#"{"keys":[],"pad":""#;
    let tail = br#""}"#;
    let mut body = Vec::with_capacity(len);
    body.extend_from_slice(head);
    body.resize(len - tail.len(), b'p');
    body.extend_from_slice(tail);
    Bytes::from(body)
}

const HTML_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\
                         <body><h1>Bad Gateway</h1><p>The identity provider is down.</p></body></html>\n";

/// Bodies that are answered with 200 but are no usable key set.
fn garbage_bodies() -> Vec<(&'static str, &'static str, Bytes)> {
    vec![
        (
            "not JSON",
            "application/json",
            Bytes::from_static(b"\x00\xff{{ this is not json"),
        ),
        (
            "JSON without keys",
            "application/json",
            Bytes::from_static(br#"{"issuer":"https://issuer.toolguard.test","jwks":[]}"#),
        ),
        (
            "keys that is not an array",
            "application/json",
            Bytes::from_static(br#"{"keys":{"kty":"RSA"}}"#),
        ),
        (
            "an HTML error page",
            "text/html",
            Bytes::from_static(HTML_PAGE.as_bytes()),
        ),
    ]
}

// --- a JWKS that goes slow ---------------------------------------------------

#[test]
fn a_jwks_that_goes_slow_after_keys_were_had_keeps_them() {
    // Refreshes every 0.8 s (80% of 1 s); a fetch times out after 1 s.
    let stack = remote_stack("1s", "1s", |_| {});
    let envoy = &stack.envoy;
    assert_ok(
        &bearer(envoy, &user_token("before", &[])),
        "before the JWKS goes slow",
    );
    let ok_before = counter(envoy, "toolguard.jwks.fetch_ok");
    assert!(ok_before >= 1);
    let failed_before = counter(envoy, "toolguard.jwks.fetch_failed");

    stack.jwks.set_delay(Duration::from_secs(4));
    envoy
        .wait_counter("toolguard.jwks.fetch_failed", failed_before + 2, WAIT)
        .unwrap_or_else(|e| panic!("{e}"));
    // Keys held long past cache_duration still verify, at once: a request
    // never waits for a refresh when keys are there.
    for n in 0..5 {
        let t = Instant::now();
        assert_ok(
            &bearer(envoy, &user_token(&format!("slow-{n}"), &[])),
            "while the JWKS is slow",
        );
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "a request waited {:?} for a slow JWKS although keys were held",
            t.elapsed()
        );
    }
    // At most the fetch in flight when the delay was set came back good.
    let ok_during = counter(envoy, "toolguard.jwks.fetch_ok");
    assert!(ok_during <= ok_before + 1, "{ok_before} -> {ok_during}");

    stack.jwks.set_delay(Duration::ZERO);
    envoy
        .wait_counter("toolguard.jwks.fetch_ok", ok_during + 1, RECOVERY)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ok(
        &bearer(envoy, &user_token("after", &[])),
        "after the JWKS is fast again",
    );
    assert_eq!(stack.agent.request_count(), 7);
    assert_counter(envoy, "toolguard.jwt.allowed", 7);
    assert_counter(envoy, "toolguard.jwt.denied", 0);
    assert!(envoy
        .log_text()
        .contains("JWKS fetch for provider \"test\" failed"));
    assert_no_wasm_panic(envoy);
}

// --- a JWKS that answers garbage ---------------------------------------------

/// At start, before any key set: each garbage answer is a failed fetch, the
/// request gets the SPEC 503, and a good answer later is used.
fn garbage_at_start(what: &str, content_type: &str, body: Bytes) {
    let stack = remote_stack("1s", "600s", |jwks| jwks.serve_body(content_type, body));
    let envoy = &stack.envoy;
    let t = Instant::now();
    let resp = bearer(envoy, &user_token("first", &[]));
    assert_jwks_unavailable(&resp, what);
    assert!(
        t.elapsed() < Duration::from_secs(1) + SLACK,
        "{what}: 503 after {:?}",
        t.elapsed()
    );
    assert!(counter(envoy, "toolguard.jwks.fetch_failed") >= 1, "{what}");
    assert_eq!(counter(envoy, "toolguard.jwks.fetch_ok"), 0, "{what}");
    assert_eq!(stack.agent.request_count(), 0, "{what}");
    assert!(
        envoy.wait_log("JWKS fetch for provider \"test\" failed: not a JWKS", WAIT),
        "{what}: no warning in the log:\n{}",
        envoy.log_tail(20)
    );

    stack.jwks.recover();
    let refused = wait_until_served(envoy, what);
    assert_counter(envoy, "toolguard.jwt.allowed", 1);
    assert_eq!(stack.agent.request_count(), 1, "{what}");
    assert!(counter(envoy, "toolguard.jwks.fetch_ok") >= 1, "{what}");
    // The filter counts each 503 as denied (without a reason); the first
    // request was one.
    assert_eq!(
        counter(envoy, "toolguard.jwt.denied"),
        1 + refused as u64,
        "{what}"
    );
    assert_no_wasm_panic(envoy);
}

#[test]
fn a_jwks_answering_garbage_at_start_gives_503_then_recovers() {
    for (what, content_type, body) in garbage_bodies() {
        garbage_at_start(what, content_type, body);
    }
}

#[test]
fn a_jwks_answering_garbage_during_operation_keeps_the_last_good_keys() {
    let stack = remote_stack("1s", "1s", |_| {});
    let envoy = &stack.envoy;
    assert_ok(&bearer(envoy, &user_token("before", &[])), "before");
    let mut allowed = 1;
    for (what, content_type, body) in garbage_bodies() {
        let failed = counter(envoy, "toolguard.jwks.fetch_failed");
        stack.jwks.serve_body(content_type, body);
        envoy
            .wait_counter("toolguard.jwks.fetch_failed", failed + 1, RECOVERY)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_ok(&bearer(envoy, &user_token(what, &[])), what);
        allowed += 1;
        let ok = counter(envoy, "toolguard.jwks.fetch_ok");
        stack.jwks.recover();
        envoy
            .wait_counter("toolguard.jwks.fetch_ok", ok + 1, RECOVERY)
            .unwrap_or_else(|e| panic!("{what}, recovering: {e}"));
    }
    assert_counter(envoy, "toolguard.jwt.allowed", allowed);
    assert_eq!(stack.agent.request_count(), allowed as usize);
    assert_no_wasm_panic(envoy);
}

#[test]
fn a_jwks_that_resets_mid_body_is_a_failed_fetch_at_start_and_with_keys_held() {
    // Envoy's async client turns the aborted answer into its own 503.
    let stack = remote_stack("1s", "1s", |jwks| jwks.set_mode(JwksMode::ResetMidBody));
    let envoy = &stack.envoy;
    assert_jwks_unavailable(
        &bearer(envoy, &user_token("first", &[])),
        "a JWKS that resets",
    );
    assert!(counter(envoy, "toolguard.jwks.fetch_failed") >= 1);
    assert_eq!(counter(envoy, "toolguard.jwks.fetch_ok"), 0);
    assert!(
        envoy.log_text().contains(
            "JWKS fetch for provider \"test\" failed: the JWKS endpoint answered HTTP 503"
        ),
        "{}",
        envoy.log_tail(20)
    );
    stack.jwks.recover();
    let refused = wait_until_served(envoy, "after resets");
    // With keys held, resets keep them.
    let failed = counter(envoy, "toolguard.jwks.fetch_failed");
    stack.jwks.set_mode(JwksMode::ResetMidBody);
    envoy
        .wait_counter("toolguard.jwks.fetch_failed", failed + 1, RECOVERY)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ok(
        &bearer(envoy, &user_token("held", &[])),
        "resets with keys held",
    );
    assert_counter(envoy, "toolguard.jwt.allowed", 2);
    assert_counter(envoy, "toolguard.jwt.denied", 1 + refused as u64);
    assert_eq!(stack.agent.request_count(), 2);
    assert_no_wasm_panic(envoy);
}

// --- a JWKS body of many megabytes -------------------------------------------

#[test]
fn a_huge_jwks_body_is_refused_without_harm_and_a_good_one_is_used_after() {
    const MIB: usize = 1024 * 1024;
    // Before any key set: 5 MiB, then 50 MiB.
    let stack = remote_stack("2s", "1s", |jwks| {
        jwks.serve_body("application/json", big_json(5 * MIB))
    });
    let envoy = &stack.envoy;
    let resp = bearer(envoy, &user_token("first", &[]));
    assert_jwks_unavailable(&resp, "a 5 MiB JWKS");
    assert!(counter(envoy, "toolguard.jwks.fetch_failed") >= 1);
    assert_eq!(counter(envoy, "toolguard.jwks.fetch_ok"), 0);
    assert!(
        envoy.wait_log("5242880 bytes", WAIT),
        "the log must say how large the refused JWKS was:\n{}",
        envoy.log_tail(20)
    );

    let failed = counter(envoy, "toolguard.jwks.fetch_failed");
    stack
        .jwks
        .serve_body("application/json", big_json(50 * MIB));
    envoy
        .wait_counter("toolguard.jwks.fetch_failed", failed + 1, RECOVERY)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_jwks_unavailable(&bearer(envoy, &user_token("second", &[])), "a 50 MiB JWKS");

    stack.jwks.recover();
    wait_until_served(envoy, "after the huge JWKS");

    // With keys held: a huge answer to a refresh keeps them.
    for size in [5 * MIB, 50 * MIB] {
        let failed = counter(envoy, "toolguard.jwks.fetch_failed");
        stack.jwks.serve_body("application/json", big_json(size));
        envoy
            .wait_counter("toolguard.jwks.fetch_failed", failed + 1, RECOVERY)
            .unwrap_or_else(|e| panic!("{size} bytes with keys held: {e}"));
        assert_ok(
            &bearer(envoy, &user_token(&format!("held-{size}"), &[])),
            &format!("a {size}-byte refresh with keys held"),
        );
        let ok = counter(envoy, "toolguard.jwks.fetch_ok");
        stack.jwks.recover();
        envoy
            .wait_counter("toolguard.jwks.fetch_ok", ok + 1, RECOVERY)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    assert_counter(envoy, "toolguard.jwt.allowed", 3);
    assert_eq!(stack.agent.request_count(), 3);
    assert!(
        !envoy
            .log_text()
            .contains(&format!("{} bytes", 256 * 1024 + 1)),
        "an oversized JWKS must be reported with its own size"
    );
    assert_eq!(
        envoy.admin_get("/ready").unwrap().0,
        200,
        "Envoy is not ready"
    );
    assert_no_wasm_panic(envoy);
}

// --- streams: an upstream that resets mid-frame, a client that goes away ------

const STREAM: &str = "anthropic_messages_tool_use.sse";
/// The only tool [`STREAM`] calls.
const TOOL: &str = "get_weather";

fn stream_fixture() -> Vec<u8> {
    paths::fixture(&format!("streams/{STREAM}")).unwrap()
}

/// Policing on: role `weather` may call [`TOOL`], nobody else may call anything.
fn policed_config() -> Value {
    json!({
        "providers": {"test": provider_with_roles()},
        "tools": {"roles": {"weather": [TOOL]}},
    })
}

/// One worker, so every request of a test runs on the same Wasm VM.
fn start_policed(agent: &MockAgent) -> Envoy {
    common::start_envoy_with(agent.addr(), &policed_config(), |b| b.concurrency(1))
}

fn post(envoy: &Envoy, path: &str, token: &str, h2c: bool) -> Response {
    let mut req = client::post(&envoy.url(path))
        .bearer(token)
        .timeout(WAIT)
        .body("{}");
    if h2c {
        req = req.h2c();
    }
    req.send_blocking()
        .unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

/// Where frames end in `stream` (0 included): the only places a policed
/// stream may stop without a frame being cut in two.
fn frame_ends(stream: &[u8]) -> Vec<usize> {
    let mut ends = vec![0];
    ends.extend(sse::frames(stream).iter().map(|f| f.range.end));
    ends
}

#[test]
fn an_upstream_reset_in_the_middle_of_a_frame_never_forwards_the_partial_frame() {
    let stream = stream_fixture();
    let frames = sse::frames(&stream);
    let (tool_index, tool_frame, names) = sse::first_tool_frame(&stream).unwrap();
    assert_eq!(names, [TOOL]);
    // A frame after the tool call with a few lines, to be broken off.
    let later = frames
        .iter()
        .skip(tool_index + 1)
        .find(|f| f.range.len() > 20)
        .unwrap()
        .clone();
    let agent = MockAgent::start().unwrap();
    // (path, caller's groups, where the upstream aborts, the frame it breaks)
    let cases = [
        // An allowed caller; the reset falls inside a text frame after the call.
        (
            "/mid-line",
            vec!["weather"],
            later.range.start + later.range.len() / 2,
            later.clone(),
        ),
        // Every line of the frame arrived but not the blank line that ends it.
        (
            "/no-blank-line",
            vec!["weather"],
            later.range.end - 1,
            later.clone(),
        ),
        // The tool frame itself, for a caller who may not call it: no byte of
        // it and no error event (the frame never completed: nothing to judge).
        (
            "/mid-tool-frame",
            vec![],
            tool_frame.range.start + tool_frame.range.len() / 2,
            tool_frame.clone(),
        ),
    ];
    for (path, _, reset_at, broken) in &cases {
        // Everything before the broken frame in one chunk, then the part of
        // it, then the abort; paced so Envoy sees the chunks one by one.
        agent.route(
            path,
            Reply::sse(stream.clone())
                .chunking(Chunking::Sizes(vec![
                    broken.range.start,
                    reset_at - broken.range.start,
                ]))
                .delay(Duration::from_millis(100))
                .reset_after(*reset_at),
        );
    }
    agent.route(
        "/whole",
        Reply::sse(stream.clone()).chunking(Chunking::Random { seed: 7, max: 64 }),
    );
    let envoy = start_policed(&agent);
    let ends = frame_ends(&stream);
    let mut requests = 0;
    for (path, groups, _, broken) in &cases {
        for h2c in [false, true] {
            let what = format!("{path} h2c={h2c}");
            let resp = post(&envoy, path, &token(groups), h2c);
            requests += 1;
            assert_eq!(resp.status, 200, "{what}");
            assert!(
                matches!(resp.ending, BodyEnding::Error(_)),
                "{what}: a reset upstream must reach the client as a broken stream, got {:?} after {}",
                resp.ending,
                show(&resp.body)
            );
            // What arrived is the stream up to a frame end before the broken
            // frame: never a piece of a frame (Envoy may not flush everything
            // it had before the reset reaches the client).
            let got = resp.body.len();
            assert!(
                got <= broken.range.start
                    && ends.contains(&got)
                    && resp.body.as_ref() == &stream[..got],
                "{what}: {} is not the stream up to a frame end before byte {}",
                show(&resp.body),
                broken.range.start
            );
            assert!(!resp.text().contains("event: error"), "{what}");
        }
    }
    // The worker serves on: the whole stream for the allowed caller, the cut
    // for the other, on both protocols.
    let mut expected_cut = stream[..tool_frame.range.start].to_vec();
    expected_cut.extend_from_slice(denied_event(TOOL).as_bytes());
    for h2c in [false, true] {
        let resp = post(&envoy, "/whole", &token(&["weather"]), h2c);
        assert_eq!(resp.ending, BodyEnding::Complete, "h2c={h2c}");
        assert!(
            resp.body.as_ref() == stream.as_slice(),
            "h2c={h2c}: {}",
            show(&resp.body)
        );
        let resp = post(&envoy, "/whole", &token(&[]), h2c);
        assert_ne!(resp.ending, BodyEnding::TimedOut, "h2c={h2c}");
        assert!(
            resp.body.as_ref() == expected_cut.as_slice(),
            "h2c={h2c}: {}",
            show(&resp.body)
        );
        requests += 2;
    }
    assert_counter(&envoy, "toolguard.jwt.allowed", requests);
    assert_counter(&envoy, "toolguard.streams.cut", 2);
    assert_counter(&envoy, "toolguard.tools.denied", 2);
    assert_no_wasm_panic(&envoy);
}

/// Waits until every named gauge is 0; panics with their values otherwise.
fn wait_gauges_zero(envoy: &Envoy, names: &[&str], what: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let values: Vec<(&str, u64)> = names.iter().map(|n| (*n, counter(envoy, n))).collect();
        if values.iter().all(|(_, v)| *v == 0) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still active after {WAIT:?}: {values:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn clients_that_go_away_mid_stream_free_the_stream_and_cancel_the_upstream() {
    let stream = stream_fixture();
    let (_, tool_frame, _) = sse::first_tool_frame(&stream).unwrap();
    let agent = MockAgent::start().unwrap();
    // A long stream: the fixture in small paced chunks, then a frame every
    // 50 ms for a minute.
    agent.route(
        "/long",
        Reply::sse(stream.clone())
            .chunking(Chunking::Random { seed: 11, max: 40 })
            .delay(Duration::from_millis(5))
            .then_keep_streaming(Duration::from_millis(50), Duration::from_secs(60)),
    );
    // Everything through the tool frame, then a minute of silence: a denied
    // caller's stream is cut, and the client leaves before the filter's own
    // reset of the quiet upstream is due.
    agent.route(
        "/quiet",
        Reply::sse(stream.clone())
            .chunking(Chunking::Sizes(vec![tool_frame.range.end]))
            .delay(Duration::from_secs(60)),
    );
    agent.route("/whole", Reply::sse(stream.clone()));
    let envoy = start_policed(&agent);
    let active = [
        "http.ingress.downstream_rq_active",
        "cluster.agent.upstream_rq_active",
    ];

    // Eight long streams at once, half over HTTP/2, each left after a few
    // chunks, i.e. at arbitrary points inside frames.
    let mut open = Vec::new();
    for n in 0..8 {
        let mut req = client::post(&envoy.url("/long"))
            .bearer(&token(&["weather"]))
            .timeout(WAIT)
            .body("{}");
        if n % 2 == 1 {
            req = req.h2c();
        }
        let mut s = req.open_blocking().unwrap();
        assert_eq!(s.status, 200);
        let mut got = Vec::new();
        for _ in 0..(1 + n) {
            got.extend_from_slice(&s.next_chunk_blocking(WAIT).unwrap().unwrap());
        }
        assert!(stream.starts_with(&got), "stream {n}: {}", show(&got));
        open.push(s);
    }
    agent.wait_requests(8, WAIT).unwrap();
    assert_eq!(counter(&envoy, "http.ingress.downstream_rq_active"), 8);
    drop(open);
    for n in 0..8 {
        assert!(
            agent.wait_client_gone(n, WAIT),
            "stream {n}: the upstream never saw the client go: {:?}",
            agent.requests()[n].body_end()
        );
    }
    wait_gauges_zero(&envoy, &active, "after the clients left");

    // A cut stream whose client leaves at once, before the reset is due.
    for h2c in [false, true] {
        let mut req = client::post(&envoy.url("/quiet"))
            .bearer(&token(&[]))
            .timeout(WAIT)
            .body("{}");
        if h2c {
            req = req.h2c();
        }
        let mut s = req.open_blocking().unwrap();
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).contains("permission_error") {
            match s.next_chunk_blocking(WAIT) {
                Ok(Some(chunk)) => got.extend_from_slice(&chunk),
                other => panic!(
                    "h2c={h2c}: the stream ended before the error event: {other:?} {}",
                    show(&got)
                ),
            }
        }
        drop(s);
    }
    assert!(agent.wait_client_gone(8, WAIT) && agent.wait_client_gone(9, WAIT));
    wait_gauges_zero(&envoy, &active, "after the cut streams' clients left");
    // Past the filter's reset of cut streams (200 ms after the cut): it finds
    // their contexts gone and must not trip over them.
    std::thread::sleep(Duration::from_millis(500));

    // The worker serves on.
    for h2c in [false, true] {
        let resp = post(&envoy, "/whole", &token(&["weather"]), h2c);
        assert_eq!(resp.ending, BodyEnding::Complete, "h2c={h2c}");
        assert!(
            resp.body.as_ref() == stream.as_slice(),
            "h2c={h2c}: {}",
            show(&resp.body)
        );
    }
    wait_gauges_zero(&envoy, &active, "at the end");
    assert_counter(&envoy, "toolguard.jwt.allowed", 12);
    assert_counter(&envoy, "toolguard.streams.cut", 2);
    assert_no_wasm_panic(&envoy);
}

// --- request headers of 100 KB -----------------------------------------------

/// 100 KB of header value. Made of `e`, which HPACK's Huffman code writes in
/// 5 bits: 62.5 KiB on the wire, under the 64 KiB that Envoy's HTTP/2 decoder
/// allows one header field whatever `max_request_headers_kb` says.
fn big_value() -> String {
    "e".repeat(100 * 1024)
}

/// Envoy with the test provider, forwarding `x-big` to AgentCore, in front
/// of an echo agent; `max_kb` raises Envoy's request header limit.
fn start_header_envoy(agent: &MockAgent, max_kb: Option<u32>) -> Envoy {
    let config = json!({
        "providers": {"test": provider_with_roles()},
        "agentcore": {"forward_headers": {"x-big": "Big"}},
    });
    common::start_envoy_with(agent.addr(), &config, |b| match max_kb {
        Some(kb) => b.max_request_headers_kb(kb),
        None => b,
    })
}

fn get_with(envoy: &Envoy, headers: &[(&str, &str)], h2c: bool) -> test_harness::Result<Response> {
    let mut req = client::get(&envoy.url("/invocations")).timeout(WAIT);
    for (n, v) in headers {
        req = req.header(n, v);
    }
    if h2c {
        req = req.h2c();
    }
    req.send_blocking()
}

#[test]
fn a_100_kb_header_gets_431_from_envoy_under_its_default_limit() {
    let agent = MockAgent::start().unwrap();
    let envoy = start_header_envoy(&agent, None);
    let big = big_value();
    let good = token(&[]);
    let cases = [
        (
            "a 100 KB bearer",
            vec![("authorization", format!("Bearer {big}"))],
        ),
        (
            "a 100 KB custom header",
            vec![
                ("authorization", format!("Bearer {good}")),
                ("x-big", big.clone()),
            ],
        ),
    ];
    for (what, headers) in &cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let resp = get_with(&envoy, &headers, false).unwrap();
        assert_eq!(resp.status, 431, "{what}: {}", resp.text());
        // Over HTTP/2 Envoy refuses the stream too (a 431 or a reset,
        // depending on where the codec notices); it never reaches the filter.
        match get_with(&envoy, &headers, true) {
            Ok(resp) => assert_eq!(resp.status, 431, "{what} h2c: {}", resp.text()),
            Err(e) => eprintln!("{what} h2c: refused before an answer: {e}"),
        }
    }
    assert_eq!(agent.request_count(), 0);
    // The filter never saw them: no decision was counted.
    assert_counter(&envoy, "toolguard.jwt.allowed", 0);
    assert_counter(&envoy, "toolguard.jwt.denied", 0);
    // Envoy still serves.
    let resp = get_with(
        &envoy,
        &[("authorization", &format!("Bearer {good}"))],
        false,
    )
    .unwrap();
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_no_wasm_panic(&envoy);
}

#[test]
fn a_100_kb_header_under_a_raised_limit_is_answered_by_the_filter() {
    let agent = MockAgent::start().unwrap();
    let envoy = start_header_envoy(&agent, Some(1024));
    let big = big_value();
    // A well-formed, validly signed token of about 100 KB.
    let huge_token = Token::standard(Key::Rsa1)
        .claim("pad", "p".repeat(75 * 1024))
        .mint();
    assert!(huge_token.len() > 100_000, "{}", huge_token.len());
    let good = token(&[]);
    let mut passed = 0;
    let mut malformed = 0;
    for h2c in [false, true] {
        // The token is far over the filter's 8 KiB bound: 401 malformed. (Its
        // base64url does not compress: over HTTP/2 it is over the 64 KiB field
        // limit of Envoy's HPACK decoder, and Envoy refuses the stream itself.)
        match get_with(
            &envoy,
            &[("authorization", &format!("Bearer {huge_token}"))],
            h2c,
        ) {
            Ok(resp) => {
                assert_invalid(&resp, "malformed", &format!("100 KB token, h2c={h2c}"));
                malformed += 1;
            }
            Err(e) => assert!(h2c, "100 KB token over HTTP/1.1: {e}"),
        }
        // 100 KB of junk after the scheme: the same.
        let resp = get_with(&envoy, &[("authorization", &format!("Bearer {big}"))], h2c).unwrap();
        assert_invalid(
            &resp,
            "malformed",
            &format!("100 KB junk bearer, h2c={h2c}"),
        );
        malformed += 1;
        // A big custom header and no token: missing_token.
        let resp = get_with(&envoy, &[("x-big", &big)], h2c).unwrap();
        assert_missing_token(&resp, &format!("100 KB custom header, no token, h2c={h2c}"));
        // A big custom header with a good token passes unchanged; copied to
        // AgentCore it would break the 4 KB limit, so that copy is dropped.
        let resp = get_with(
            &envoy,
            &[
                ("authorization", &format!("Bearer {good}")),
                ("x-big", &big),
            ],
            h2c,
        )
        .unwrap();
        assert_eq!(resp.status, 200, "h2c={h2c}: {}", resp.text());
        passed += 1;
        let seen = agent.last_request().unwrap();
        assert_eq!(
            seen.header("x-big").map(str::len),
            Some(big.len()),
            "h2c={h2c}"
        );
        assert_eq!(
            seen.header_names_with_prefix("x-amzn-bedrock-agentcore-runtime-custom-"),
            Vec::<&str>::new(),
            "h2c={h2c}"
        );
    }
    assert_eq!(agent.request_count(), passed);
    assert_counter(&envoy, "toolguard.jwt.allowed", passed as u64);
    assert!(malformed >= 3, "{malformed}");
    assert_counter(&envoy, "toolguard.jwt.denied.malformed", malformed);
    assert_counter(&envoy, "toolguard.jwt.denied", malformed + 2);
    assert_counter(&envoy, "toolguard.headers.dropped", 2);
    // The token is never logged, even a huge one.
    assert!(!envoy.log_text().contains(&huge_token[..200]));
    assert_no_wasm_panic(&envoy);
}
