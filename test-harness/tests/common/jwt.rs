//! SPEC "Request answers" checks and the remote-JWKS provider shape, shared by
//! the JWT tests and the fault tests.

use serde_json::{json, Value};
use test_harness::client::Response;
use test_harness::{plugin_config, MockJwks};

/// A remote provider for the test issuer with these durations.
pub fn remote(jwks: &MockJwks, timeout: &str, cache_duration: &str) -> Value {
    let mut p = plugin_config::remote_provider(&jwks.uri(), plugin_config::JWKS_CLUSTER);
    p["remote_jwks"]["http_uri"]["timeout"] = json!(timeout);
    p["remote_jwks"]["cache_duration"] = json!(cache_duration);
    p
}

pub fn assert_json_answer(resp: &Response, status: u16, error: &str, what: &str) -> Value {
    assert_eq!(resp.status, status, "{what}: {}", resp.text());
    assert_eq!(
        resp.header("content-type"),
        Some("application/json"),
        "{what}: {:?}",
        resp.headers
    );
    let body = resp.json().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(body["error"], error, "{what}: {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: a message is required: {body}"
    );
    body
}

pub fn assert_missing_token(resp: &Response, what: &str) {
    let body = assert_json_answer(resp, 401, "missing_token", what);
    assert_eq!(
        body.as_object().map(|o| o.len()),
        Some(2),
        "{what}: only error and message: {body}"
    );
    assert_eq!(resp.header_values("www-authenticate"), ["Bearer"], "{what}");
}

/// 401 `invalid_token` with `reason`, and the RFC 6750 challenge.
pub fn assert_invalid(resp: &Response, reason: &str, what: &str) {
    let body = assert_json_answer(resp, 401, "invalid_token", what);
    assert_eq!(body["reason"], reason, "{what}: {body}");
    let www = resp.header_values("www-authenticate");
    assert_eq!(www.len(), 1, "{what}: {www:?}");
    let prefix = "Bearer error=\"invalid_token\", error_description=\"";
    assert!(
        www[0].starts_with(prefix) && www[0].ends_with('"') && www[0].len() > prefix.len() + 1,
        "{what}: {www:?}"
    );
    let description = &www[0][prefix.len()..www[0].len() - 1];
    assert!(
        !description.contains(['"', '\\']),
        "{what}: the quoted-string must stay closed: {www:?}"
    );
}

pub fn assert_jwks_unavailable(resp: &Response, what: &str) {
    assert_json_answer(resp, 503, "jwks_unavailable", what);
    let retry_after = resp
        .header("retry-after")
        .unwrap_or_else(|| panic!("{what}: no Retry-After: {:?}", resp.headers));
    assert!(
        retry_after.parse::<u64>().is_ok_and(|s| s >= 1),
        "{what}: Retry-After must be delta-seconds: {retry_after:?}"
    );
}
