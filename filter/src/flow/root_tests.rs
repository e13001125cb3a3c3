//! The root through the fake host: JWKS answers of every kind, the requests
//! that wait for keys or for the rate-limit service, and cut streams.

use super::fake_host::{FakeHost, HTTP_TOKENS};
use super::*;
use crate::config::Config;
use crate::jwt::jwks::MAX_JWKS_BYTES;
use crate::metrics::Metric;
use crate::ratelimit::proto::{Code, RateLimitResponse};
use prost::Message;
use std::rc::Rc;
use wasm_bindgen_test::wasm_bindgen_test;

/// RFC 7515 A.2: a real RS256 token from issuer "joe", valid until 1300819380.
const A2_TOKEN: &str = include_str!("../../../fixtures/jose/rfc7515/A2_RS256.jws");
const A2_JWK: &str = include_str!("../../../fixtures/jose/rfc7515/A2_RS256.jwk.json");
const NOW: u64 = 1_300_819_000_000;
/// The remote provider's fetch timeout, which is also how long a request waits.
const WAIT_MS: u64 = 3000;
const REMOTE: &str = r#""idp":{"issuer":"joe","remote_jwks":{"http_uri":{"uri":"https://idp.example/jwks","cluster":"idp","timeout":"3s"}}}"#;
/// One descriptor for every request, through a service that answers within 100 ms.
const LIMITS: &str = r#","rate_limits":{"service":{"cluster":"ratelimit","domain":"agents","timeout":"100ms"},"requests":[[{"key":"route","value":"all"}]]}"#;

/// The A.2 key without its private members, as an issuer would publish it.
fn a2_jwks() -> String {
    let jwk: serde_json::Value = serde_json::from_str(A2_JWK).unwrap();
    serde_json::json!({ "keys": [{ "kty": "RSA", "n": jwk["n"], "e": jwk["e"] }] }).to_string()
}

fn local() -> String {
    format!(
        r#""joe":{{"issuer":"joe","local_jwks":{{"inline_string":{}}}}}"#,
        serde_json::Value::String(a2_jwks())
    )
}

fn root(provider: &str, extra: &str) -> Root {
    let json = format!(r#"{{"providers":{{{provider}}}{extra}}}"#);
    Root::new(Rc::new(Config::from_json(json.as_bytes()).unwrap()))
}

fn host() -> FakeHost {
    let auth = format!("Bearer {}", A2_TOKEN.trim());
    let host = FakeHost::with_request(&[(":path", "/x"), ("authorization", &auth)]);
    host.now_ms.set(NOW);
    host
}

/// A root whose stream 7 waits for the remote provider's keys, and whose
/// first tick sent the fetch.
fn waiting_for_keys(extra: &str) -> (FakeHost, Root) {
    let host = host();
    let mut root = root(REMOTE, extra);
    assert_eq!(
        root.on_request_headers(&host, 7, true),
        RequestStep::WaitForKeys {
            provider: 0,
            deadline_ms: NOW + WAIT_MS
        }
    );
    root.on_tick(&host, true);
    assert_eq!(host.http.borrow().len(), 1);
    (host, root)
}

/// The fetch `HTTP_TOKENS + i` answered with `status` and `body`.
fn answer_fetch(host: &FakeHost, root: &mut Root, i: u32, status: &str, body: &[u8]) {
    *host.call_headers.borrow_mut() = vec![(":status".into(), status.into())];
    *host.call_body.borrow_mut() = body.to_vec();
    root.on_http_call_answer(host, HTTP_TOKENS + i, 1, body.len());
}

fn logged(host: &FakeHost, text: &str) -> bool {
    host.logs.borrow().iter().any(|l| l.contains(text))
}

fn tick_at(host: &FakeHost, root: &mut Root, now_ms: u64) {
    host.now_ms.set(now_ms);
    root.on_tick(host, true);
}

#[test]
#[wasm_bindgen_test]
fn the_fetch_is_a_get_of_the_jwks_uri_through_its_cluster() {
    let (host, _root) = waiting_for_keys("");
    let call = host.http.borrow()[0].clone();
    assert_eq!((call.cluster.as_str(), call.timeout_ms), ("idp", WAIT_MS));
    let header = |name: &str| {
        call.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header(":method").as_deref(), Some("GET"));
    assert_eq!(header(":path").as_deref(), Some("/jwks"));
    assert_eq!(header(":authority").as_deref(), Some("idp.example"));
    assert_eq!(header("accept").as_deref(), Some("application/json"));
}

#[test]
#[wasm_bindgen_test]
fn envoys_main_thread_never_fetches() {
    let host = host();
    let mut root = root(REMOTE, "");
    root.on_tick(&host, false);
    assert!(host.http.borrow().is_empty());
    root.on_tick(&host, true);
    assert_eq!(host.http.borrow().len(), 1);
}

#[test]
#[wasm_bindgen_test]
fn keys_arriving_wake_the_waiting_request_on_its_own_context() {
    let (host, mut root) = waiting_for_keys("");
    answer_fetch(&host, &mut root, 0, "200", a2_jwks().as_bytes());
    assert_eq!(host.counter(Metric::JwksFetchOk), 1);
    assert!(logged(&host, r#"JWKS of provider "idp" fetched"#));
    assert_eq!(*host.resumed_in.borrow(), [Some(7)]);
    assert_eq!(host.counter(Metric::JwtAllowed), 1);
    // It no longer waits: its deadline passes without an answer.
    tick_at(&host, &mut root, NOW + WAIT_MS);
    assert!(host.sent_in.borrow().is_empty());
    assert_eq!(host.resumed_in.borrow().len(), 1);
}

#[test]
#[wasm_bindgen_test]
fn a_failed_fetch_keeps_the_request_waiting_until_its_deadline_then_503() {
    let (host, mut root) = waiting_for_keys("");
    answer_fetch(&host, &mut root, 0, "500", b"oops");
    assert_eq!(host.counter(Metric::JwksFetchFailed), 1);
    assert!(logged(
        &host,
        r#"JWKS fetch for provider "idp" failed: the JWKS endpoint answered HTTP 500; keeping the last good keys"#
    ));
    assert!(host.sent_in.borrow().is_empty());
    assert!(host.resumed_in.borrow().is_empty());
    tick_at(&host, &mut root, NOW + WAIT_MS - 1);
    assert!(host.sent_in.borrow().is_empty(), "not yet");
    tick_at(&host, &mut root, NOW + WAIT_MS);
    assert_eq!(*host.sent_in.borrow(), [(Some(7), 503)]);
    assert_eq!(host.sent_json()["error"], "jwks_unavailable");
    tick_at(&host, &mut root, NOW + WAIT_MS + 100);
    assert_eq!(host.sent_in.borrow().len(), 1, "answered once");
}

#[test]
#[wasm_bindgen_test]
fn a_fetch_never_answered_fails_the_request_at_its_deadline() {
    let (host, mut root) = waiting_for_keys("");
    tick_at(&host, &mut root, NOW + WAIT_MS);
    assert_eq!(*host.sent_in.borrow(), [(Some(7), 503)]);
    assert!(host.resumed_in.borrow().is_empty());
}

#[test]
#[wasm_bindgen_test]
fn an_oversized_jwks_is_refused_unread_and_its_size_logged() {
    let (host, mut root) = waiting_for_keys("");
    let size = MAX_JWKS_BYTES + 1;
    *host.call_headers.borrow_mut() = vec![(":status".into(), "200".into())];
    *host.call_body.borrow_mut() = a2_jwks().into_bytes();
    root.on_http_call_answer(&host, HTTP_TOKENS, 1, size);
    assert!(
        host.call_body_reads.borrow().is_empty(),
        "not a byte copied"
    );
    assert_eq!(host.counter(Metric::JwksFetchFailed), 1);
    assert_eq!(host.counter(Metric::JwksFetchOk), 0);
    assert!(logged(&host, &format!("the JWKS is {size} bytes")));
    // No keys came: the request waits on, then gets 503.
    assert!(host.resumed_in.borrow().is_empty());
    tick_at(&host, &mut root, NOW + WAIT_MS);
    assert_eq!(*host.sent_in.borrow(), [(Some(7), 503)]);
}

#[test]
#[wasm_bindgen_test]
fn a_jwks_body_is_never_read_more_than_one_byte_past_the_limit() {
    let (host, mut root) = waiting_for_keys("");
    *host.call_headers.borrow_mut() = vec![(":status".into(), "200".into())];
    root.on_http_call_answer(&host, HTTP_TOKENS, 1, MAX_JWKS_BYTES);
    assert_eq!(
        *host.call_body_reads.borrow(),
        [MAX_JWKS_BYTES],
        "at the limit it is read"
    );
    // Not a 200, so not refused unread; still not copied whole.
    let (host, mut root) = waiting_for_keys("");
    *host.call_headers.borrow_mut() = vec![(":status".into(), "500".into())];
    root.on_http_call_answer(&host, HTTP_TOKENS, 1, 50 << 20);
    assert_eq!(*host.call_body_reads.borrow(), [MAX_JWKS_BYTES + 1]);
    assert_eq!(host.counter(Metric::JwksFetchFailed), 1);
}

#[test]
#[wasm_bindgen_test]
fn an_answer_without_headers_is_a_failed_fetch_and_nothing_is_read() {
    let (host, mut root) = waiting_for_keys("");
    *host.call_headers.borrow_mut() = vec![(":status".into(), "200".into())];
    *host.call_body.borrow_mut() = a2_jwks().into_bytes();
    root.on_http_call_answer(&host, HTTP_TOKENS, 0, 0);
    assert_eq!(
        (
            host.call_header_reads.get(),
            host.call_body_reads.borrow().len()
        ),
        (0, 0),
        "Envoy has no answer to read: asking for one killed the VM"
    );
    assert_eq!(host.counter(Metric::JwksFetchFailed), 1);
    assert!(logged(&host, "the JWKS endpoint did not answer"));
    assert!(host.resumed_in.borrow().is_empty());
}

#[test]
#[wasm_bindgen_test]
fn an_answer_to_no_fetch_of_ours_is_ignored() {
    let (host, mut root) = waiting_for_keys("");
    answer_fetch(&host, &mut root, 5, "200", a2_jwks().as_bytes());
    assert_eq!(host.call_header_reads.get(), 0);
    assert_eq!(host.counter(Metric::JwksFetchOk), 0);
    assert!(host.resumed_in.borrow().is_empty());
}

#[test]
#[wasm_bindgen_test]
fn a_fetch_that_cannot_be_sent_is_logged_and_counted() {
    let host = host();
    *host.http_refused.borrow_mut() = Some("BadArgument".into());
    let mut root = root(REMOTE, "");
    root.on_tick(&host, true);
    assert_eq!(host.counter(Metric::JwksFetchFailed), 1);
    assert!(logged(
        &host,
        r#"cannot fetch the JWKS of provider "idp" through cluster "idp" (BadArgument); is the cluster defined?"#
    ));
}

#[test]
#[wasm_bindgen_test]
fn a_stream_that_ended_or_is_gone_is_not_answered_at_its_deadline() {
    let (host, mut root) = waiting_for_keys("");
    root.on_stream_done(7);
    tick_at(&host, &mut root, NOW + WAIT_MS);
    assert!(host.sent_in.borrow().is_empty());
    let (host, mut root) = waiting_for_keys("");
    host.gone.borrow_mut().push(7);
    tick_at(&host, &mut root, NOW + WAIT_MS);
    assert!(host.sent_in.borrow().is_empty());
}

fn allowed() -> Vec<u8> {
    RateLimitResponse {
        overall_code: Code::Ok as i32,
        statuses: Vec::new(),
    }
    .encode_to_vec()
}

#[test]
#[wasm_bindgen_test]
fn a_grpc_answer_to_a_call_the_root_sent_goes_to_the_stream_that_needed_it() {
    let host = host();
    let mut root = root(REMOTE, LIMITS);
    for id in [7, 8] {
        assert!(matches!(
            root.on_request_headers(&host, id, true),
            RequestStep::WaitForKeys { .. }
        ));
    }
    root.on_tick(&host, true);
    // The keys admit both requests, which then wait for the rate-limit
    // service: stream 7's call is token 1, stream 8's token 2.
    answer_fetch(&host, &mut root, 0, "200", a2_jwks().as_bytes());
    assert_eq!(host.grpc.borrow().len(), 2);
    assert!(host.resumed_in.borrow().is_empty());
    let answer = allowed();
    *host.grpc_answer.borrow_mut() = answer.clone();
    root.on_root_grpc_answer(&host, 2, 0, answer.len());
    assert_eq!(*host.resumed_in.borrow(), [Some(8)]);
    root.on_root_grpc_answer(&host, 1, 0, answer.len());
    assert_eq!(*host.resumed_in.borrow(), [Some(8), Some(7)]);
    // A token answered already, or never sent by the root, reaches no one.
    host.effective.set(None);
    root.on_root_grpc_answer(&host, 1, 0, answer.len());
    root.on_root_grpc_answer(&host, 9, 0, answer.len());
    assert_eq!(host.effective.get(), None);
    assert_eq!(host.resumed_in.borrow().len(), 2);
}

#[test]
#[wasm_bindgen_test]
fn a_call_a_stream_sent_itself_is_answered_on_the_stream_not_the_root() {
    let host = host();
    let mut root = root(&local(), LIMITS);
    assert_eq!(
        root.on_request_headers(&host, 7, true),
        RequestStep::WaitForLimits {
            deadline_ms: NOW + 100
        }
    );
    let answer = allowed();
    *host.grpc_answer.borrow_mut() = answer.clone();
    root.on_root_grpc_answer(&host, 1, 0, answer.len());
    assert!(
        host.resumed_in.borrow().is_empty(),
        "not routed to the root"
    );
    root.on_stream_grpc_answer(&host, 7, 1, 0, answer.len());
    assert_eq!(host.request_resumed.get(), 1);
    // Answered: its deadline no longer acts on it.
    tick_at(&host, &mut root, NOW + 100);
    assert_eq!(host.request_resumed.get(), 1);
    assert!(host.sent_in.borrow().is_empty());
}

#[test]
#[wasm_bindgen_test]
fn a_grpc_answer_is_read_only_when_it_succeeded_and_never_past_its_cap() {
    let host = host();
    let mut root = root(&local(), LIMITS);
    root.on_request_headers(&host, 7, true);
    root.on_stream_grpc_answer(&host, 7, 1, 14, 0);
    root.on_stream_grpc_answer(&host, 7, 1, 0, 10_000_000);
    assert_eq!(*host.grpc_reads.borrow(), [65_537]);
}

#[test]
#[wasm_bindgen_test]
fn a_rate_limit_wait_ends_at_its_deadline_open_or_closed() {
    for (service, status) in [("", None), (r#","failure_mode_deny":true"#, Some(503))] {
        let host = host();
        let limits = LIMITS.replace(
            r#""timeout":"100ms""#,
            &format!(r#""timeout":"100ms"{service}"#),
        );
        let mut root = root(&local(), &limits);
        assert!(matches!(
            root.on_request_headers(&host, 7, true),
            RequestStep::WaitForLimits { .. }
        ));
        tick_at(&host, &mut root, NOW + 99);
        assert!(host.resumed_in.borrow().is_empty() && host.sent_in.borrow().is_empty());
        tick_at(&host, &mut root, NOW + 100);
        match status {
            None => assert_eq!(*host.resumed_in.borrow(), [Some(7)]),
            Some(s) => assert_eq!(*host.sent_in.borrow(), [(Some(7), s)]),
        }
        tick_at(&host, &mut root, NOW + 200);
        assert_eq!(
            host.resumed_in.borrow().len() + host.sent_in.borrow().len(),
            1,
            "decided once"
        );
    }
}

#[test]
#[wasm_bindgen_test]
fn a_cut_stream_is_reset_by_the_tick_after_reset_after_cut_ms() {
    let host = FakeHost::with_request(&[(":path", "/ping")]);
    host.now_ms.set(1000);
    let extra = r#","bypass":[{"path":"/ping"}],"tools":{"default":["get_weather"]}"#;
    let mut root = root(&local(), extra);
    assert_eq!(
        root.on_request_headers(&host, 7, true),
        RequestStep::Continue
    );
    *host.response.borrow_mut() = vec![("content-type".into(), "text/event-stream".into())];
    root.on_response_headers(&host, 7);
    let chunk = b"event: tool_call\ndata: {\"name\":\"rm_rf\"}\n\n";
    let reset_at = 1000 + response::RESET_AFTER_CUT_MS;
    let step = host.chunk(chunk, |h, n| {
        assert_eq!(
            root.on_response_body(h, 7, n, false),
            ResponseBodyStep::CutAt(reset_at)
        );
    });
    assert!(String::from_utf8_lossy(&step).contains("permission_error"));
    tick_at(&host, &mut root, reset_at - 1);
    assert!(
        host.reset_in.borrow().is_empty(),
        "the error event goes out first"
    );
    tick_at(&host, &mut root, reset_at);
    assert_eq!(*host.reset_in.borrow(), [Some(7)]);
    tick_at(&host, &mut root, reset_at + 100);
    assert_eq!(host.reset_in.borrow().len(), 1, "reset once");
}

#[test]
#[wasm_bindgen_test]
fn a_cut_stream_that_ended_is_not_reset() {
    let host = FakeHost::with_request(&[(":path", "/ping")]);
    let extra = r#","bypass":[{"path":"/ping"}],"tools":{"default":["get_weather"]}"#;
    let mut root = root(&local(), extra);
    root.on_request_headers(&host, 7, true);
    *host.response.borrow_mut() = vec![("content-type".into(), "text/event-stream".into())];
    root.on_response_headers(&host, 7);
    let chunk = b"event: tool_call\ndata: {\"name\":\"rm_rf\"}\n\n";
    host.chunk(chunk, |h, n| {
        assert!(matches!(
            root.on_response_body(h, 7, n, false),
            ResponseBodyStep::CutAt(_)
        ));
    });
    root.on_stream_deleted(7);
    tick_at(&host, &mut root, 1_000_000);
    assert!(host.reset_in.borrow().is_empty());
}
