//! The flow driven through a fake host: what Envoy would see the filter do.

use super::fake_host::FakeHost;
use super::response::ResponseBodyStep;
use super::*;
use crate::config::Config;
use crate::host::Host;
use crate::jwt::Reason;
use crate::metrics::Metric;
use std::rc::Rc;
use wasm_bindgen_test::wasm_bindgen_test;

/// RFC 7515 A.2: a real RS256 token from issuer "joe", valid until 1300819380.
const A2_TOKEN: &str = include_str!("../../../fixtures/jose/rfc7515/A2_RS256.jws");
const A2_JWK: &str = include_str!("../../../fixtures/jose/rfc7515/A2_RS256.jwk.json");
const A2_NOW_MS: u64 = 1_300_819_000_000;

/// The A.2 key without its private members, as an issuer would publish it.
fn a2_jwks() -> String {
    let jwk: serde_json::Value = serde_json::from_str(A2_JWK).unwrap();
    serde_json::json!({ "keys": [{ "kty": "RSA", "n": jwk["n"], "e": jwk["e"] }] }).to_string()
}

fn config(extra: &str) -> Config {
    let jwks = a2_jwks();
    let json = format!(
        r#"{{"providers":{{"joe":{{"issuer":"joe","local_jwks":{{"inline_string":{}}}}}}},"bypass":[{{"path":"/ping"}}]{extra}}}"#,
        serde_json::Value::String(jwks)
    );
    Config::from_json(json.as_bytes()).unwrap()
}

fn vm(extra: &str) -> Vm {
    Vm::new(Rc::new(config(extra)))
}

fn bearer(token: &str) -> String {
    format!("Bearer {}", token.trim())
}

#[test]
#[wasm_bindgen_test]
fn no_token_is_401_missing_token() {
    let mut vm = vm("");
    let host = FakeHost::with_request(&[(":path", "/invocations")]);
    let step = RequestState::default().on_headers(&host, &mut vm, true);
    assert_eq!(step, RequestStep::Answered);
    let sent = host.sent.borrow().clone().unwrap();
    assert_eq!(sent.status, 401);
    assert!(sent
        .headers
        .contains(&("www-authenticate".into(), "Bearer".into())));
    assert_eq!(host.sent_json()["error"], "missing_token");
    assert_eq!(host.counter(Metric::JwtDenied), 1);
}

#[test]
#[wasm_bindgen_test]
fn a_valid_token_goes_upstream_with_authorization_unchanged() {
    let mut vm = vm("");
    let auth = bearer(A2_TOKEN);
    let host = FakeHost::with_request(&[(":path", "/invocations"), ("authorization", &auth)]);
    host.now_ms.set(A2_NOW_MS);
    let mut request = RequestState::default();
    assert_eq!(
        request.on_headers(&host, &mut vm, true),
        RequestStep::Continue
    );
    assert!(host.sent.borrow().is_none());
    assert_eq!(
        host.request_value("authorization").as_deref(),
        Some(auth.as_str())
    );
    assert_eq!(host.counter(Metric::JwtAllowed), 1);
    let token = request.identity.unwrap().token.unwrap();
    assert_eq!(token.issuer, "joe");
}

#[test]
#[wasm_bindgen_test]
fn an_expired_token_is_401_with_reason_and_counters() {
    let mut vm = vm("");
    let auth = bearer(A2_TOKEN);
    let host = FakeHost::with_request(&[(":path", "/x"), ("authorization", &auth)]);
    host.now_ms.set(1_400_000_000_000);
    assert_eq!(
        RequestState::default().on_headers(&host, &mut vm, true),
        RequestStep::Answered
    );
    let body = host.sent_json();
    assert_eq!(
        (body["error"].as_str(), body["reason"].as_str()),
        (Some("invalid_token"), Some("expired"))
    );
    assert_eq!(host.counter(Metric::JwtDenied), 1);
    assert_eq!(host.counter(Metric::JwtDeniedReason(Reason::Expired)), 1);
}

#[test]
#[wasm_bindgen_test]
fn a_mangled_token_is_malformed() {
    let mut vm = vm("");
    let host = FakeHost::with_request(&[(":path", "/x"), ("authorization", "Bearer a.b")]);
    assert_eq!(
        RequestState::default().on_headers(&host, &mut vm, true),
        RequestStep::Answered
    );
    assert_eq!(host.sent_json()["reason"], "malformed");
}

#[test]
#[wasm_bindgen_test]
fn bypassed_paths_skip_authentication_and_get_only_default_tools() {
    let mut vm = vm(r#","tools":{"roles":{"admins":["*"]},"default":["time_now"]}"#);
    let host = FakeHost::with_request(&[(":path", "/ping?x=1"), ("accept-encoding", "gzip")]);
    let mut request = RequestState::default();
    assert_eq!(
        request.on_headers(&host, &mut vm, true),
        RequestStep::Continue
    );
    let allowlist = request.identity.unwrap().allowlist.unwrap();
    assert!(allowlist.allows("time_now") && !allowlist.allows("anything_else"));
    // Upstreams must not compress what the guard has to read.
    assert_eq!(host.request_value("accept-encoding"), None);
}

#[test]
#[wasm_bindgen_test]
fn a_remote_provider_without_keys_holds_the_request_then_answers_503() {
    let json = r#"{"providers":{"idp":{"issuer":"joe","remote_jwks":{"http_uri":{"uri":"https://idp.example/jwks","cluster":"idp","timeout":"3s"}}}}}"#;
    let mut vm = Vm::new(Rc::new(Config::from_json(json.as_bytes()).unwrap()));
    let auth = bearer(A2_TOKEN);
    let host = FakeHost::with_request(&[(":path", "/x"), ("authorization", &auth)]);
    host.now_ms.set(A2_NOW_MS);
    let mut request = RequestState::default();
    let step = request.on_headers(&host, &mut vm, true);
    assert_eq!(
        step,
        RequestStep::WaitForKeys {
            provider: 0,
            deadline_ms: A2_NOW_MS + 3000
        }
    );
    assert!(host.sent.borrow().is_none());
    // The root is asked to fetch.
    let fetches = vm.due_fetches(A2_NOW_MS);
    assert_eq!(fetches.len(), 1);
    assert_eq!(
        (
            fetches[0].cluster.as_str(),
            fetches[0].authority.as_str(),
            fetches[0].path.as_str()
        ),
        ("idp", "idp.example", "/jwks")
    );
    // The fetch fails; the request still waits until its deadline, then gets 503.
    assert!(vm
        .on_fetch_answer(0, fetches[0].id, Some(500), b"", A2_NOW_MS + 10)
        .is_err());
    host.now_ms.set(A2_NOW_MS + 10);
    assert!(matches!(
        request.on_keys(&host, &mut vm),
        RequestStep::WaitForKeys { .. }
    ));
    host.now_ms.set(A2_NOW_MS + 3000);
    assert_eq!(
        request.on_keys_timeout(&host, &vm, 0),
        RequestStep::Answered
    );
    let sent = host.sent.borrow().clone().unwrap();
    assert_eq!(sent.status, 503);
    assert!(sent.headers.contains(&("retry-after".into(), "3".into())));
    assert_eq!(host.sent_json()["error"], "jwks_unavailable");
}

#[test]
#[wasm_bindgen_test]
fn keys_arriving_release_a_waiting_request() {
    let json = r#"{"providers":{"idp":{"issuer":"joe","remote_jwks":{"http_uri":{"uri":"https://idp.example/jwks","cluster":"idp"}}}}}"#;
    let mut vm = Vm::new(Rc::new(Config::from_json(json.as_bytes()).unwrap()));
    let auth = bearer(A2_TOKEN);
    let host = FakeHost::with_request(&[(":path", "/x"), ("authorization", &auth)]);
    host.now_ms.set(A2_NOW_MS);
    let mut request = RequestState::default();
    assert!(matches!(
        request.on_headers(&host, &mut vm, true),
        RequestStep::WaitForKeys { .. }
    ));
    let fetch = vm.due_fetches(A2_NOW_MS).remove(0);
    let body = a2_jwks();
    vm.on_fetch_answer(0, fetch.id, Some(200), body.as_bytes(), A2_NOW_MS + 5)
        .unwrap();
    assert_eq!(request.on_keys(&host, &mut vm), RequestStep::Continue);
    assert_eq!(host.counter(Metric::JwtAllowed), 1);
}

#[test]
#[wasm_bindgen_test]
fn a_short_session_id_is_400() {
    let mut vm = vm(r#","agentcore":{}"#);
    let host = FakeHost::with_request(&[
        (":path", "/ping"),
        ("x-amzn-bedrock-agentcore-runtime-session-id", "short"),
    ]);
    assert_eq!(
        RequestState::default().on_headers(&host, &mut vm, true),
        RequestStep::Answered
    );
    let sent = host.sent.borrow().clone().unwrap();
    assert_eq!(sent.status, 400);
    assert_eq!(host.sent_json()["error"], "invalid_session_id");
}

#[test]
#[wasm_bindgen_test]
fn spoofed_custom_headers_are_removed_and_claims_mapped() {
    let mut vm = vm(r#","agentcore":{"claims_to_headers":{"iss":"User-Iss"}}"#);
    let auth = bearer(A2_TOKEN);
    let host = FakeHost::with_request(&[
        (":path", "/x"),
        ("authorization", &auth),
        ("x-amzn-bedrock-agentcore-runtime-custom-user-iss", "admin"),
        ("x-amzn-bedrock-agentcore-runtime-custom-other", "spoof"),
    ]);
    host.now_ms.set(A2_NOW_MS);
    assert_eq!(
        RequestState::default().on_headers(&host, &mut vm, true),
        RequestStep::Continue
    );
    assert_eq!(
        host.request_value("x-amzn-bedrock-agentcore-runtime-custom-user-iss")
            .as_deref(),
        Some("joe")
    );
    assert_eq!(
        host.request_value("x-amzn-bedrock-agentcore-runtime-custom-other"),
        None
    );
    let session = host
        .request_value("x-amzn-bedrock-agentcore-runtime-session-id")
        .unwrap();
    assert!(session.len() >= 33, "{session}");
}

/// Each read is a host call in Envoy: a request with a cached token reads the
/// request headers and the clock once, its response the headers once, however
/// many of them the configuration looks at.
#[test]
#[wasm_bindgen_test]
fn a_cached_token_request_reads_its_headers_and_the_clock_once() {
    let mut vm =
        vm(r#","tools":{"default":["*"]},"agentcore":{"claims_to_headers":{"iss":"User-Iss"}}"#);
    let auth = bearer(A2_TOKEN);
    let headers = [
        (":path", "/x"),
        (":method", "POST"),
        ("authorization", auth.as_str()),
        ("upgrade", "h2c"),
        ("accept-encoding", "gzip"),
    ];
    for round in ["verified", "cached"] {
        let host = FakeHost::with_request(&headers);
        host.now_ms.set(A2_NOW_MS);
        let mut request = RequestState::default();
        assert_eq!(
            request.on_headers(&host, &mut vm, true),
            RequestStep::Continue,
            "{round}"
        );
        assert_eq!(
            *host.reads.borrow(),
            ["request_headers", "now_ms"],
            "{round}"
        );
        host.reads.borrow_mut().clear();
        *host.response.borrow_mut() = vec![
            (":status".into(), "200".into()),
            ("content-type".into(), "text/event-stream".into()),
            ("content-encoding".into(), "identity".into()),
            (
                "x-amzn-bedrock-agentcore-runtime-session-id".into(),
                host.request_value("x-amzn-bedrock-agentcore-runtime-session-id")
                    .unwrap(),
            ),
        ];
        let mut response = ResponseState::default();
        response.on_headers(&host, &vm.config, &request);
        assert_eq!(*host.reads.borrow(), ["response_headers"], "{round}");
    }
}

/// Each host call crosses from the VM into Envoy: a response nothing here looks
/// at (no policing, no bound session) costs none.
#[test]
#[wasm_bindgen_test]
fn without_policing_or_bound_sessions_the_response_headers_are_not_read() {
    let mut vm = vm(r#","agentcore":{"claims_to_headers":{"iss":"User-Iss"}}"#);
    let auth = bearer(A2_TOKEN);
    let host = FakeHost::with_request(&[
        (":path", "/x"),
        (":method", "GET"),
        ("authorization", auth.as_str()),
    ]);
    host.now_ms.set(A2_NOW_MS);
    let mut request = RequestState::default();
    assert_eq!(
        request.on_headers(&host, &mut vm, true),
        RequestStep::Continue
    );
    assert_eq!(
        host.request_value("x-amzn-bedrock-agentcore-runtime-custom-user-iss")
            .as_deref(),
        Some("joe")
    );
    host.reads.borrow_mut().clear();
    let mut response = ResponseState::default();
    response.on_headers(&host, &vm.config, &request);
    assert!(host.reads.borrow().is_empty(), "{:?}", host.reads.borrow());
}

fn policed(extra: &str, response_headers: &[(&str, &str)]) -> (FakeHost, ResponseState) {
    let mut vm = vm(extra);
    let host = FakeHost::with_request(&[(":path", "/ping")]);
    let mut request = RequestState::default();
    assert_eq!(
        request.on_headers(&host, &mut vm, true),
        RequestStep::Continue
    );
    *host.response.borrow_mut() = response_headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut response = ResponseState::default();
    response.on_headers(&host, &vm.config, &request);
    (host, response)
}

const TOOLS: &str = r#","tools":{"default":["get_weather"]}"#;

#[test]
#[wasm_bindgen_test]
fn an_allowed_stream_passes_byte_identical_without_content_length() {
    let (host, mut response) = policed(
        TOOLS,
        &[
            ("content-type", "text/event-stream; charset=utf-8"),
            ("content-length", "99"),
        ],
    );
    assert_eq!(host.response_header("content-length"), None);
    let frame = b"event: tool_call\ndata: {\"name\":\"get_weather\"}\n\n";
    let out = host.chunk(frame, |h, n| {
        assert_eq!(response.on_body(h, n, false), ResponseBodyStep::Continue)
    });
    assert_eq!(out, frame);
    assert_eq!(host.counter(Metric::ToolsAllowed), 1);
}

/// A caller allowed every tool is policed like any other: its tool calls are
/// counted and a frame over `max_frame_bytes` still ends the stream.
#[test]
#[wasm_bindgen_test]
fn a_caller_allowed_every_tool_is_policed_all_the_same() {
    const ALL: &str = r#","tools":{"default":["*"],"max_frame_bytes":1024}"#;
    let (host, mut response) = policed(ALL, &[("content-type", "text/event-stream")]);
    let call = b"event: tool_call\ndata: {\"name\":\"x\"}\n\n";
    let out = host.chunk(call, |h, n| {
        assert_eq!(response.on_body(h, n, false), ResponseBodyStep::Continue)
    });
    assert_eq!(out, call);
    assert_eq!(host.counter(Metric::ToolsAllowed), 1);
    let big = format!("data: {}\n\n", "x".repeat(4096));
    let out = host.chunk(big.as_bytes(), |h, n| {
        assert!(matches!(
            response.on_body(h, n, false),
            ResponseBodyStep::CutAt(_)
        ))
    });
    assert!(String::from_utf8_lossy(&out).contains("stream_error"));
    assert_eq!(host.counter(Metric::StreamsCut), 1);
}

#[test]
#[wasm_bindgen_test]
fn a_denied_tool_is_replaced_by_the_error_event_and_the_stream_reset() {
    let (host, mut response) = policed(TOOLS, &[("content-type", "text/event-stream")]);
    host.now_ms.set(1000);
    let chunk = b"data: {\"text\":\"hi\"}\n\nevent: tool_call\ndata: {\"name\":\"rm_rf\"}\n\ndata: after\n\n";
    let out = host.chunk(chunk, |h, n| {
        assert_eq!(
            response.on_body(h, n, false),
            ResponseBodyStep::CutAt(1000 + response::RESET_AFTER_CUT_MS)
        )
    });
    let expected = concat!(
        "data: {\"text\":\"hi\"}\n\n",
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"permission_error\",\"message\":\"tool \\\"rm_rf\\\" is not allowed\",\"tool\":\"rm_rf\"}}\n\n"
    );
    assert_eq!(String::from_utf8(out).unwrap(), expected);
    assert_eq!(
        (
            host.counter(Metric::ToolsDenied),
            host.counter(Metric::StreamsCut)
        ),
        (1, 1)
    );
    assert_eq!(
        host.resets.get(),
        0,
        "a reset in the same callback would lose the error event"
    );
    let out = host.chunk(b"data: more\n\n", |h, n| {
        assert_eq!(response.on_body(h, n, false), ResponseBodyStep::Continue)
    });
    assert!(out.is_empty());
    assert_eq!(host.resets.get(), 1);
}

#[test]
#[wasm_bindgen_test]
fn a_compressed_event_stream_ends_with_a_stream_error() {
    let (host, mut response) = policed(
        TOOLS,
        &[
            ("content-type", "text/event-stream"),
            ("content-encoding", "gzip"),
        ],
    );
    let out = host.chunk(b"\x1f\x8b\x08\x00", |h, n| {
        assert!(matches!(
            response.on_body(h, n, false),
            ResponseBodyStep::CutAt(_)
        ))
    });
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.starts_with(
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"stream_error\""
        ),
        "{text}"
    );
    assert_eq!(host.counter(Metric::StreamsCut), 1);
    assert_eq!(host.response_header("content-encoding"), None);
}

#[test]
#[wasm_bindgen_test]
fn other_content_types_pass_untouched() {
    let (host, mut response) = policed(
        TOOLS,
        &[
            ("content-type", "application/json"),
            ("content-length", "10"),
        ],
    );
    assert_eq!(
        host.response_header("content-length").as_deref(),
        Some("10")
    );
    let body = b"event: tool_call\ndata: {\"name\":\"rm_rf\"}\n\n";
    assert_eq!(
        host.chunk(body, |h, n| assert_eq!(
            response.on_body(h, n, true),
            ResponseBodyStep::Continue
        )),
        body
    );
}

/// An HS256 token for `claims` and the local JWKS holding its (test) secret.
fn mint_hs256(claims: &serde_json::Value) -> (String, String) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;
    use jwt_compact::alg::{Hs256, Hs256Key};
    use jwt_compact::{Algorithm as _, AlgorithmSignature as _};
    let secret = b"toolguard-flow-test-secret-32-bytes!";
    let input = format!(
        "{}.{}",
        B64.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
        B64.encode(claims.to_string())
    );
    let signature = Hs256.sign(&Hs256Key::new(secret), input.as_bytes());
    let jwks = serde_json::json!({"keys": [{"kty": "oct", "k": B64.encode(secret)}]});
    (
        format!("{input}.{}", B64.encode(signature.as_bytes())),
        jwks.to_string(),
    )
}

#[test]
#[wasm_bindgen_test]
fn the_client_gets_its_own_session_id_back_not_the_bound_one() {
    let claims = serde_json::json!({"iss": "joe", "sub": "user-1", "exp": A2_NOW_MS / 1000 + 60});
    let (token, jwks) = mint_hs256(&claims);
    let json = format!(
        r#"{{"providers":{{"joe":{{"issuer":"joe","algorithms":["HS256"],"local_jwks":{{"inline_string":{}}}}}}},"agentcore":{{"session":{{"bind_to_subject":true}}}}}}"#,
        serde_json::Value::String(jwks)
    );
    let mut vm = Vm::new(Rc::new(Config::from_json(json.as_bytes()).unwrap()));
    let auth = bearer(&token);
    let sid = "client-session-0123456789abcdef0123456789";
    let host = FakeHost::with_request(&[
        (":path", "/x"),
        ("authorization", &auth),
        ("x-amzn-bedrock-agentcore-runtime-session-id", sid),
    ]);
    host.now_ms.set(A2_NOW_MS);
    let mut request = RequestState::default();
    assert_eq!(
        request.on_headers(&host, &mut vm, true),
        RequestStep::Continue
    );
    let upstream = host
        .request_value("x-amzn-bedrock-agentcore-runtime-session-id")
        .unwrap();
    assert_eq!(upstream.len(), 16 + 1 + sid.len());
    assert!(upstream.ends_with(&format!("-{sid}")), "{upstream}");
    *host.response.borrow_mut() = vec![(
        "x-amzn-bedrock-agentcore-runtime-session-id".into(),
        upstream,
    )];
    ResponseState::default().on_headers(&host, &vm.config, &request);
    assert_eq!(
        host.response_header("x-amzn-bedrock-agentcore-runtime-session-id")
            .as_deref(),
        Some(sid)
    );
}

/// Fail closed: a session id is never made from the clock or anything guessable.
#[test]
#[wasm_bindgen_test]
fn no_random_bytes_for_a_session_id_is_a_503_and_counted() {
    let claims = serde_json::json!({"iss": "joe", "sub": "user-1", "exp": A2_NOW_MS / 1000 + 60});
    let (token, jwks) = mint_hs256(&claims);
    let json = format!(
        r#"{{"providers":{{"joe":{{"issuer":"joe","algorithms":["HS256"],"local_jwks":{{"inline_string":{}}}}}}},"agentcore":{{}}}}"#,
        serde_json::Value::String(jwks)
    );
    let mut vm = Vm::new(Rc::new(Config::from_json(json.as_bytes()).unwrap()));
    let auth = bearer(&token);
    let host = FakeHost::with_request(&[(":path", "/x"), ("authorization", &auth)]);
    host.now_ms.set(A2_NOW_MS);
    host.no_randomness.set(true);
    let mut request = RequestState::default();
    assert_eq!(
        request.on_headers(&host, &mut vm, true),
        RequestStep::Answered
    );
    assert_eq!(host.sent.borrow().as_ref().unwrap().status, 503);
    assert_eq!(host.sent_json()["error"], "session_id_unavailable");
    assert_eq!(host.counter(Metric::RandomFailed), 1);
    assert_eq!(
        host.request_value("x-amzn-bedrock-agentcore-runtime-session-id"),
        None
    );
}

fn mcp_request(body: &str, content_length: bool) -> (FakeHost, Vm, RequestState, RequestStep) {
    mcp_request_with(body, content_length, "")
}

/// `extra`: more top-level configuration fields, each starting with a comma.
fn mcp_request_with(
    body: &str,
    content_length: bool,
    extra: &str,
) -> (FakeHost, Vm, RequestState, RequestStep) {
    let mut vm = vm(&format!(
        r#","tools":{{"default":["get_weather"],"max_frame_bytes":1024}}{extra}"#
    ));
    let len = body.len().to_string();
    let mut headers = vec![
        (":path", "/ping"),
        (":method", "POST"),
        ("content-type", "application/json"),
    ];
    if content_length {
        headers.push(("content-length", &len));
    }
    let host = FakeHost::with_request(&headers);
    *host.request_body.borrow_mut() = body.as_bytes().to_vec();
    let mut request = RequestState::default();
    let step = request.on_headers(&host, &mut vm, false);
    (host, vm, request, step)
}

const HOLD_HEADERS: &str = r#","allow_on_headers_stop_iteration":true"#;

/// SPEC "MCP": with `allow_on_headers_stop_iteration`, the headers wait with the
/// body, so a denied call never opens an upstream request.
#[test]
#[wasm_bindgen_test]
fn with_allow_on_headers_stop_iteration_the_headers_wait_for_the_verdict() {
    let denied = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"rm_rf","arguments":{}}}"#;
    let (host, vm, mut request, step) = mcp_request_with(denied, false, HOLD_HEADERS);
    assert_eq!(step, RequestStep::HoldForBody);
    assert_eq!(request.on_body(&host, &vm, 10, false), BodyStep::Hold);
    assert_eq!(
        request.on_body(&host, &vm, denied.len(), true),
        BodyStep::Answered
    );
    assert_eq!(host.sent.borrow().as_ref().unwrap().status, 403);

    let allowed = r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"get_weather","arguments":{}}}"#;
    let (host, vm, mut request, step) = mcp_request_with(allowed, false, HOLD_HEADERS);
    assert_eq!(step, RequestStep::HoldForBody);
    assert_eq!(
        request.on_body(&host, &vm, allowed.len(), true),
        BodyStep::Continue
    );
    assert!(host.sent.borrow().is_none());

    // Oversized without a content-length: 413 once the body shows it.
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":9,"method":"x","params":"{}"}}"#,
        "a".repeat(2000)
    );
    let (host, vm, mut request, step) = mcp_request_with(&big, false, HOLD_HEADERS);
    assert_eq!(step, RequestStep::HoldForBody);
    assert_eq!(
        request.on_body(&host, &vm, big.len(), false),
        BodyStep::Answered
    );
    assert_eq!(host.sent.borrow().as_ref().unwrap().status, 413);
}

/// A body that arrived whole while the request waited for keys is judged as
/// soon as the keys come.
#[test]
#[wasm_bindgen_test]
fn a_body_buffered_during_the_key_wait_is_judged_when_the_keys_come() {
    let denied = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"rm_rf","arguments":{}}}"#;
    let json = format!(
        r#"{{"providers":{{"idp":{{"issuer":"joe","remote_jwks":{{"http_uri":{{"uri":"https://idp.example/jwks","cluster":"idp"}}}}}}}},"tools":{{"default":["get_weather"]}}{HOLD_HEADERS}}}"#
    );
    let mut vm = Vm::new(Rc::new(Config::from_json(json.as_bytes()).unwrap()));
    let auth = bearer(A2_TOKEN);
    let host = FakeHost::with_request(&[
        (":path", "/mcp"),
        (":method", "POST"),
        ("content-type", "application/json"),
        ("authorization", &auth),
    ]);
    *host.request_body.borrow_mut() = denied.as_bytes().to_vec();
    host.now_ms.set(A2_NOW_MS);
    let mut request = RequestState::default();
    assert!(matches!(
        request.on_headers(&host, &mut vm, false),
        RequestStep::WaitForKeys { .. }
    ));
    assert_eq!(
        request.on_body(&host, &vm, denied.len(), true),
        BodyStep::Hold
    );
    let fetch = vm.due_fetches(A2_NOW_MS).remove(0);
    vm.on_fetch_answer(0, fetch.id, Some(200), a2_jwks().as_bytes(), A2_NOW_MS + 5)
        .unwrap();
    assert_eq!(request.on_keys(&host, &mut vm), RequestStep::Answered);
    assert_eq!(host.sent.borrow().as_ref().unwrap().status, 403);
}

#[test]
#[wasm_bindgen_test]
fn a_denied_mcp_tools_call_is_403_and_its_body_never_goes_upstream() {
    let body = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"rm_rf","arguments":{}}}"#;
    let (host, vm, mut request, step) = mcp_request(body, false);
    // Headers go on (a paused headers callback would stop the body from reaching
    // the filter at all); the body is held until it is whole and checked.
    assert_eq!(step, RequestStep::Continue);
    assert_eq!(request.on_body(&host, &vm, 10, false), BodyStep::Hold);
    assert_eq!(
        request.on_body(&host, &vm, body.len(), true),
        BodyStep::Answered
    );
    let sent = host.sent.borrow().clone().unwrap();
    assert_eq!(sent.status, 403);
    assert!(sent
        .headers
        .contains(&("content-type".into(), "application/json".into())));
    assert_eq!(
        sent.body,
        r#"{"jsonrpc":"2.0","id":7,"error":{"code":-32003,"message":"tool \"rm_rf\" is not allowed"}}"#
    );
    assert_eq!(host.counter(Metric::ToolsDenied), 1);
}

#[test]
#[wasm_bindgen_test]
fn an_allowed_mcp_tools_call_goes_upstream() {
    let body =
        r#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"get_weather"}}"#;
    let (host, vm, mut request, _) = mcp_request(body, true);
    assert_eq!(
        request.on_body(&host, &vm, body.len(), true),
        BodyStep::Continue
    );
    assert!(host.sent.borrow().is_none());
    assert_eq!(host.counter(Metric::ToolsAllowed), 1);
}

#[test]
#[wasm_bindgen_test]
fn an_mcp_body_over_max_frame_bytes_is_413() {
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{}"}}}}"#,
        "x".repeat(2000)
    );
    let (host, _, _, step) = mcp_request(&body, true);
    assert_eq!(step, RequestStep::Answered);
    assert_eq!(host.sent.borrow().as_ref().unwrap().status, 413);
    let (host, vm, mut request, _) = mcp_request(&body, false);
    assert_eq!(
        request.on_body(&host, &vm, body.len(), true),
        BodyStep::Answered
    );
    assert_eq!(host.sent.borrow().as_ref().unwrap().status, 413);
}

#[test]
#[wasm_bindgen_test]
fn a_body_arriving_while_the_request_waits_for_keys_is_held() {
    let json = r#"{"providers":{"idp":{"issuer":"joe","remote_jwks":{"http_uri":{"uri":"https://idp.example/jwks","cluster":"idp"}}}}}"#;
    let mut vm = Vm::new(Rc::new(Config::from_json(json.as_bytes()).unwrap()));
    let auth = bearer(A2_TOKEN);
    let host = FakeHost::with_request(&[
        (":path", "/x"),
        (":method", "POST"),
        ("authorization", &auth),
    ]);
    host.now_ms.set(A2_NOW_MS);
    let mut request = RequestState::default();
    assert!(matches!(
        request.on_headers(&host, &mut vm, false),
        RequestStep::WaitForKeys { .. }
    ));
    // Continue here would make Envoy send the held headers upstream unauthenticated.
    assert_eq!(request.on_body(&host, &vm, 5, false), BodyStep::Hold);
    assert_eq!(request.on_trailers(), BodyStep::Hold);
}

#[test]
#[wasm_bindgen_test]
fn a_tools_list_json_answer_is_filtered_to_the_callers_tools() {
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    let (host, vm, mut request, _) = mcp_request(body, true);
    assert_eq!(
        request.on_body(&host, &vm, body.len(), true),
        BodyStep::Continue
    );
    assert!(request.lists_tools);
    *host.response.borrow_mut() = vec![
        ("content-type".into(), "application/json".into()),
        ("content-length".into(), "999".into()),
    ];
    let mut response = ResponseState::default();
    response.on_headers(&host, &vm.config, &request);
    assert_eq!(host.response_header("content-length"), None);
    let answer =
        br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"get_weather"},{"name":"rm_rf"}]}}"#;
    assert_eq!(
        host.chunk(&answer[..10], |h, _| assert_eq!(
            response.on_body(h, 10, false),
            ResponseBodyStep::Hold
        )),
        &answer[..10]
    );
    let out = host.chunk(answer, |h, n| {
        assert_eq!(response.on_body(h, n, true), ResponseBodyStep::Continue)
    });
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        json["result"]["tools"],
        serde_json::json!([{"name": "get_weather"}])
    );
}

#[test]
#[wasm_bindgen_test]
fn a_kid_refetch_that_does_not_come_in_time_is_unknown_kid_not_503() {
    let json = r#"{"providers":{"idp":{"issuer":"joe","remote_jwks":{"http_uri":{"uri":"https://idp.example/jwks","cluster":"idp","timeout":"1s"}}}}}"#;
    let mut vm = Vm::new(Rc::new(Config::from_json(json.as_bytes()).unwrap()));
    // The provider has keys, but not the token's: an EdDSA key without kid fits nothing RS256.
    let first = vm.due_fetches(A2_NOW_MS).remove(0);
    let other = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"other","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
    vm.on_fetch_answer(0, first.id, Some(200), other.as_bytes(), A2_NOW_MS)
        .unwrap();
    let header = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        br#"{"alg":"RS256","kid":"new"}"#,
    );
    let rest = A2_TOKEN.trim().split_once('.').unwrap().1;
    let auth = bearer(&format!("{header}.{rest}"));
    let host = FakeHost::with_request(&[(":path", "/x"), ("authorization", &auth)]);
    host.now_ms.set(A2_NOW_MS);
    let mut request = RequestState::default();
    assert!(matches!(
        request.on_headers(&host, &mut vm, true),
        RequestStep::WaitForKeys { .. }
    ));
    host.now_ms.set(A2_NOW_MS + 1000);
    assert_eq!(
        request.on_keys_timeout(&host, &vm, 0),
        RequestStep::Answered
    );
    assert_eq!(host.sent.borrow().as_ref().unwrap().status, 401);
    assert_eq!(host.sent_json()["reason"], "unknown_kid");
}

/// An admitted WebSocket upgrade (token in `access_token`), answered `101`.
fn websocket() -> (FakeHost, RequestState, ResponseState) {
    let mut vm = ws_vm();
    let path = format!("/ws?session=1&access_token={}", A2_TOKEN.trim());
    let host = FakeHost::with_request(&[
        (":path", &path),
        ("upgrade", "websocket"),
        ("connection", "Upgrade"),
        (
            "sec-websocket-extensions",
            "permessage-deflate; client_max_window_bits",
        ),
    ]);
    host.now_ms.set(A2_NOW_MS);
    let mut request = RequestState::default();
    assert_eq!(
        request.on_headers(&host, &mut vm, false),
        RequestStep::Continue
    );
    *host.response.borrow_mut() = vec![(":status".into(), "101".into())];
    let mut response = ResponseState::default();
    response.on_headers(&host, &vm.config, &request);
    (host, request, response)
}

/// The A.2 provider, also reading tokens from `access_token`, and `tools`.
fn ws_vm() -> Vm {
    let json = r#"{"providers":{"joe":{"issuer":"joe","from_params":["access_token"],"local_jwks":{"inline_string":@JWKS@}}},"tools":{"default":["get_weather"],"max_frame_bytes":1024}}"#
        .replace("@JWKS@", &serde_json::Value::String(a2_jwks()).to_string());
    Vm::new(Rc::new(Config::from_json(json.as_bytes()).unwrap()))
}

fn text_frame(payload: &str) -> Vec<u8> {
    let mut out = vec![0x81, payload.len() as u8];
    out.extend_from_slice(payload.as_bytes());
    out
}

#[test]
#[wasm_bindgen_test]
fn a_websocket_upgrade_takes_its_token_from_the_query_and_loses_extensions() {
    let (host, request, _) = websocket();
    assert!(request.identity.is_some());
    assert_eq!(
        host.request_value(":path").as_deref(),
        Some("/ws?session=1")
    );
    assert_eq!(host.request_value("authorization"), Some(bearer(A2_TOKEN)));
    assert_eq!(host.request_value("sec-websocket-extensions"), None);
    assert_eq!(host.counter(Metric::JwtAllowed), 1);
}

#[test]
#[wasm_bindgen_test]
fn a_websocket_upgrade_without_a_token_is_401() {
    let mut vm = vm(TOOLS);
    let host = FakeHost::with_request(&[(":path", "/ws"), ("upgrade", "websocket")]);
    assert_eq!(
        RequestState::default().on_headers(&host, &mut vm, false),
        RequestStep::Answered
    );
    assert_eq!(host.sent.borrow().as_ref().unwrap().status, 401);
    assert_eq!(host.sent_json()["error"], "missing_token");
}

#[test]
#[wasm_bindgen_test]
fn a_denied_websocket_tool_call_closes_1008_and_the_stream_is_reset() {
    let (host, _, mut response) = websocket();
    let allowed = text_frame(r#"{"type":"tool-call","toolCallId":"1","toolName":"get_weather"}"#);
    let out = host.chunk(&allowed, |h, n| {
        assert_eq!(response.on_body(h, n, false), ResponseBodyStep::Continue)
    });
    assert_eq!(out, allowed);
    assert_eq!(host.counter(Metric::ToolsAllowed), 1);
    let denied = text_frame(r#"{"type":"tool-call","toolCallId":"2","toolName":"rm_rf"}"#);
    let out = host.chunk(&denied, |h, n| {
        assert_eq!(
            response.on_body(h, n, false),
            ResponseBodyStep::CutAt(A2_NOW_MS + response::RESET_AFTER_CUT_MS)
        )
    });
    let reason = b"tool \"rm_rf\" is not allowed";
    let mut close = vec![0x88, 2 + reason.len() as u8, 0x03, 0xF0];
    close.extend_from_slice(reason);
    assert_eq!(out, close);
    assert_eq!(
        (
            host.counter(Metric::ToolsDenied),
            host.counter(Metric::StreamsCut),
            host.resets.get()
        ),
        (1, 1, 0)
    );
    let out = host.chunk(&allowed, |h, n| {
        assert_eq!(response.on_body(h, n, false), ResponseBodyStep::Continue)
    });
    assert!(out.is_empty());
    assert_eq!(host.resets.get(), 1);
}

#[test]
#[wasm_bindgen_test]
fn a_refused_upgrade_is_not_policed_as_a_websocket() {
    let (host, request, _) = websocket();
    *host.response.borrow_mut() = vec![(":status".into(), "403".into())];
    let mut response = ResponseState::default();
    response.on_headers(&host, &ws_vm().config, &request);
    let body = b"\x81\x05nope!";
    let out = host.chunk(body, |h, n| {
        assert_eq!(response.on_body(h, n, true), ResponseBodyStep::Continue)
    });
    assert_eq!(out, body);
}
