//! The local answers of SPEC "Request answers": status, JSON body and headers.

use crate::jwt::Reason;

/// A response the filter sends itself; nothing goes upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAnswer {
    pub status: u32,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

fn json_body(fields: &[(&str, &str)]) -> String {
    let mut map = serde_json::Map::new();
    for (k, v) in fields {
        map.insert((*k).to_owned(), serde_json::Value::String((*v).to_owned()));
    }
    serde_json::Value::Object(map).to_string()
}

fn answer(status: u32, mut headers: Vec<(&'static str, String)>, body: String) -> LocalAnswer {
    headers.insert(0, ("content-type", "application/json".to_owned()));
    LocalAnswer {
        status,
        headers,
        body,
    }
}

/// 401 when no provider's `from_headers` found a token.
pub fn missing_token() -> LocalAnswer {
    answer(
        401,
        vec![("www-authenticate", "Bearer".to_owned())],
        json_body(&[
            ("error", "missing_token"),
            (
                "message",
                "this API needs a JWT: send it as Authorization: Bearer <token>",
            ),
        ]),
    )
}

/// 401 for a token that was found and refused. The message never holds the token.
pub fn invalid_token(reason: Reason) -> LocalAnswer {
    let message = reason.message();
    answer(
        401,
        vec![(
            "www-authenticate",
            // RFC 6750 §3: the description is a quoted-string; the messages hold no quotes.
            format!("Bearer error=\"invalid_token\", error_description=\"{message}\""),
        )],
        json_body(&[
            ("error", "invalid_token"),
            ("reason", reason.as_str()),
            ("message", message),
        ]),
    )
}

/// 503 when a provider's keys could not be had in time.
pub fn jwks_unavailable(provider: &str, retry_after_secs: u64) -> LocalAnswer {
    let message = format!(
        "the signing keys of provider \"{provider}\" could not be fetched; try again shortly"
    );
    answer(
        503,
        vec![("retry-after", retry_after_secs.max(1).to_string())],
        json_body(&[("error", "jwks_unavailable"), ("message", &message)]),
    )
}

/// 503 when a missing session id could not be generated (no random bytes).
pub fn session_id_unavailable() -> LocalAnswer {
    answer(
        503,
        vec![("retry-after", "1".to_owned())],
        json_body(&[
            ("error", "session_id_unavailable"),
            (
                "message",
                "no session id was sent and none could be generated; try again",
            ),
        ]),
    )
}

/// 413 for an MCP JSON-RPC body over `max_frame_bytes`: it cannot be checked.
pub fn payload_too_large(limit: usize) -> LocalAnswer {
    let message = format!("a JSON-RPC request body over {limit} bytes cannot be checked");
    answer(
        413,
        Vec::new(),
        json_body(&[("error", "payload_too_large"), ("message", &message)]),
    )
}

/// 400 for a session id AgentCore would refuse.
pub fn invalid_session_id(message: &str) -> LocalAnswer {
    answer(
        400,
        Vec::new(),
        json_body(&[("error", "invalid_session_id"), ("message", message)]),
    )
}

/// 429 for a request over a rate limit (SPEC "Rate limits"), with `Retry-After`
/// and the `x-ratelimit-*` headers of the answer.
pub fn rate_limited(
    retry_after_secs: u64,
    limit_headers: &[(&'static str, String)],
) -> LocalAnswer {
    let retry = retry_after_secs.max(1);
    let mut body = serde_json::Map::new();
    body.insert("error".into(), "rate_limited".into());
    body.insert("retry_after".into(), retry.into());
    body.insert(
        "message".into(),
        format!("too many requests; retry in {retry} s").into(),
    );
    let mut headers = vec![("retry-after", retry.to_string())];
    headers.extend(limit_headers.iter().cloned());
    answer(429, headers, serde_json::Value::Object(body).to_string())
}

/// 503 when the rate-limit service gave no usable answer and `failure_mode_deny` is set.
pub fn rate_limit_unavailable() -> LocalAnswer {
    answer(
        503,
        Vec::new(),
        json_body(&[
            ("error", "rate_limit_unavailable"),
            (
                "message",
                "the rate-limit service did not answer; try again shortly",
            ),
        ]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn body(a: &LocalAnswer) -> serde_json::Value {
        serde_json::from_str(&a.body).unwrap()
    }

    fn header<'a>(a: &'a LocalAnswer, name: &str) -> Option<&'a str> {
        a.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    #[wasm_bindgen_test]
    fn missing_token_is_401_bearer() {
        let a = missing_token();
        assert_eq!(a.status, 401);
        assert_eq!(header(&a, "www-authenticate"), Some("Bearer"));
        assert_eq!(header(&a, "content-type"), Some("application/json"));
        assert_eq!(body(&a)["error"], "missing_token");
        assert!(body(&a)["message"].as_str().is_some_and(|m| !m.is_empty()));
    }

    #[test]
    #[wasm_bindgen_test]
    fn invalid_token_names_the_reason_everywhere() {
        for reason in Reason::ALL {
            let a = invalid_token(reason);
            assert_eq!(a.status, 401);
            let b = body(&a);
            assert_eq!(b["error"], "invalid_token");
            assert_eq!(b["reason"], reason.as_str());
            let www = header(&a, "www-authenticate").unwrap();
            assert!(
                www.starts_with("Bearer error=\"invalid_token\", error_description=\""),
                "{www}"
            );
            // The quoted-string must stay closed: no quote or backslash inside.
            let desc =
                www.trim_start_matches("Bearer error=\"invalid_token\", error_description=\"");
            assert_eq!(desc.matches(['"', '\\']).count(), 1, "{www}");
        }
    }

    #[test]
    #[wasm_bindgen_test]
    fn jwks_unavailable_is_503_with_retry_after() {
        let a = jwks_unavailable("cognito", 0);
        assert_eq!(a.status, 503);
        assert_eq!(header(&a, "retry-after"), Some("1"));
        assert_eq!(body(&a)["error"], "jwks_unavailable");
        assert_eq!(header(&jwks_unavailable("x", 5), "retry-after"), Some("5"));
    }

    #[test]
    #[wasm_bindgen_test]
    fn rate_limited_is_429_with_retry_after_in_header_and_body() {
        let a = rate_limited(0, &[("x-ratelimit-remaining", "0".to_owned())]);
        assert_eq!(a.status, 429);
        assert_eq!(header(&a, "retry-after"), Some("1"));
        assert_eq!(header(&a, "x-ratelimit-remaining"), Some("0"));
        let b = body(&a);
        assert_eq!(
            (b["error"].as_str(), b["retry_after"].as_u64()),
            (Some("rate_limited"), Some(1))
        );
        assert!(b["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(
            body(&rate_limit_unavailable())["error"],
            "rate_limit_unavailable"
        );
        assert_eq!(rate_limit_unavailable().status, 503);
    }

    #[test]
    #[wasm_bindgen_test]
    fn invalid_session_id_is_400() {
        let a = invalid_session_id("too short");
        assert_eq!(
            (a.status, body(&a)["error"].as_str()),
            (400, Some("invalid_session_id"))
        );
    }
}
