//! SPEC "Headers (`agentcore`)" and the session row of "Request answers",
//! black-box through the real Envoy: the echo upstream shows what the agent
//! would see.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use test_harness::client::{self, Response};
use test_harness::plugin_config::TEST_ISSUER;
use test_harness::{Envoy, Key, MockAgent, RecordedRequest, Token};

use common::{provider_with_roles, start_envoy};

const PREFIX: &str = "x-amzn-bedrock-agentcore-runtime-custom-";
const SESSION: &str = "x-amzn-bedrock-agentcore-runtime-session-id";

fn custom(suffix: &str) -> String {
    format!("{PREFIX}{}", suffix.to_ascii_lowercase())
}

/// The SPEC's example `agentcore` block plus a few claims of other types.
fn agentcore(bind: bool, trust: bool) -> Value {
    json!({
        "forward_headers": {
            "x-request-id": "Request-Id",
            "traceparent": "Traceparent",
            "accept-language": "Accept-Language",
        },
        "claims_to_headers": {
            "sub": "User-Sub",
            "email": "User-Email",
            "cognito:groups": "User-Groups",
            "custom:tier": "Tier",
            "custom:verified": "Verified",
            "custom:profile": "Profile",
            "custom:note": "Note",
            "custom:missing": "Missing",
        },
        "allowed_tools_header": "Allowed-Tools",
        "session": {"bind_to_subject": bind},
        "trust_client_custom_headers": trust,
    })
}

fn config(agentcore: Value) -> Value {
    json!({
        "providers": {"test": provider_with_roles()},
        "tools": {
            "roles": {"analysts": ["search_filings", "generate_report"], "admins": ["*"]},
            "default": ["time_now"],
        },
        "agentcore": agentcore,
    })
}

fn start(agent: &MockAgent, bind: bool, trust: bool) -> Envoy {
    start_envoy(agent, &config(agentcore(bind, trust)))
}

/// A session id of `n` characters.
fn session_id(n: usize) -> String {
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
        .chars()
        .cycle()
        .take(n)
        .collect()
}

/// Sends a POST with the token and headers, checks it was answered by the
/// echo upstream, and returns what the upstream received.
fn through(
    envoy: &Envoy,
    agent: &MockAgent,
    token: &str,
    headers: &[(&str, &str)],
    h2c: bool,
) -> RecordedRequest {
    let before = agent.request_count();
    let mut req = client::post(&envoy.url("/invocations"))
        .bearer(token)
        .body("{\"prompt\":\"hi\"}");
    for (n, v) in headers {
        req = req.header(n, v);
    }
    if h2c {
        req = req.h2c();
    }
    let resp = req.send_blocking().unwrap();
    assert_eq!(resp.status, 200, "{}", resp.text());
    let seen = agent
        .wait_requests(before + 1, Duration::from_secs(10))
        .unwrap();
    let req = seen[before].clone();
    // The echo body says the same as the mock's record.
    let echo = resp.json().unwrap();
    for (name, value) in &req.headers {
        if req.header_values(name).len() == 1 {
            assert_eq!(echo["headers"][name], json!(value), "{name}");
        }
    }
    req
}

fn customs(req: &RecordedRequest) -> BTreeSet<String> {
    req.header_names_with_prefix(PREFIX)
        .into_iter()
        .map(str::to_string)
        .collect()
}

fn dropped(envoy: &Envoy) -> u64 {
    common::counter(envoy, "toolguard.headers.dropped")
}

#[test]
fn spoofed_custom_headers_are_removed_in_any_case() {
    let agent = MockAgent::start().unwrap();
    let envoy = start(&agent, false, false);
    let token = Token::standard(Key::Rsa1)
        .groups(&["analysts"])
        .claim("email", "alice@example.com")
        .mint();
    for h2c in [false, true] {
        let req = through(
            &envoy,
            &agent,
            &token,
            &[
                ("X-Amzn-Bedrock-AgentCore-Runtime-Custom-User-Sub", "admin"),
                (
                    "x-amzn-bedrock-agentcore-runtime-custom-user-email",
                    "root@example.com",
                ),
                ("X-AMZN-BEDROCK-AGENTCORE-RUNTIME-CUSTOM-ROLE", "superuser"),
                ("x-Amzn-Bedrock-Agentcore-Runtime-Custom-Allowed-Tools", "*"),
                ("x-amzn-bedrock-agentcore-runtime-custom-Missing", "spoofed"),
                (
                    "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Request-Id",
                    "spoofed",
                ),
            ],
            h2c,
        );
        assert_eq!(req.header_values(&custom("User-Sub")), vec!["test-user"]);
        assert_eq!(
            req.header_values(&custom("User-Email")),
            vec!["alice@example.com"]
        );
        assert_eq!(req.header(&custom("Role")), None, "h2c={h2c}");
        assert_eq!(req.header(&custom("Missing")), None, "h2c={h2c}");
        assert_eq!(req.header(&custom("Request-Id")), None, "h2c={h2c}");
        let tools: BTreeSet<&str> = req
            .header(&custom("Allowed-Tools"))
            .unwrap()
            .split(',')
            .collect();
        assert_eq!(
            tools,
            BTreeSet::from(["time_now", "search_filings", "generate_report"])
        );
        assert_eq!(
            customs(&req),
            ["User-Sub", "User-Email", "User-Groups", "Allowed-Tools"]
                .iter()
                .map(|s| custom(s))
                .collect(),
            "h2c={h2c}: {:?}",
            req.headers
        );
    }
    // Removing spoofed headers is not a drop.
    assert_eq!(dropped(&envoy), 0);
}

#[test]
fn forward_headers_claims_and_allowed_tools_reach_the_agent() {
    let agent = MockAgent::start().unwrap();
    let envoy = start(&agent, false, false);
    let token = Token::standard(Key::Ec1)
        .groups(&["analysts", "admins", "unknown-role"])
        .claim("email", "bob@example.com")
        .claim("custom:tier", 3)
        .claim("custom:verified", true)
        .claim("custom:profile", json!({"dept": "r&d", "levels": [1, 2]}))
        .mint();
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let req = through(
        &envoy,
        &agent,
        &token,
        &[
            ("X-Request-Id", "req-42"),
            ("traceparent", traceparent),
            ("Accept-Language", "de-CH, en;q=0.5"),
            ("x-not-mapped", "stays"),
        ],
        false,
    );
    let h = |s: &str| req.header(&custom(s)).map(str::to_string);
    // forward_headers
    assert_eq!(h("Request-Id").as_deref(), Some("req-42"));
    assert_eq!(h("Traceparent").as_deref(), Some(traceparent));
    assert_eq!(h("Accept-Language").as_deref(), Some("de-CH, en;q=0.5"));
    // The originals go on as they were.
    assert_eq!(req.header("x-request-id"), Some("req-42"));
    assert_eq!(req.header("x-not-mapped"), Some("stays"));
    // claims_to_headers: string, array joined with ",", number and bool and
    // object as compact JSON; a missing claim sends nothing.
    assert_eq!(h("User-Sub").as_deref(), Some("test-user"));
    assert_eq!(h("User-Email").as_deref(), Some("bob@example.com"));
    assert_eq!(
        h("User-Groups").as_deref(),
        Some("analysts,admins,unknown-role")
    );
    assert_eq!(h("Tier").as_deref(), Some("3"));
    assert_eq!(h("Verified").as_deref(), Some("true"));
    let profile: Value = serde_json::from_str(&h("Profile").unwrap()).unwrap();
    assert_eq!(profile, json!({"dept": "r&d", "levels": [1, 2]}));
    assert!(
        !h("Profile").unwrap().contains(' '),
        "compact JSON: {:?}",
        h("Profile")
    );
    assert_eq!(h("Missing"), None);
    assert_eq!(h("Note"), None);
    // allowed_tools_header: the union of the roles and the default.
    let tools: BTreeSet<String> = h("Allowed-Tools")
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect();
    assert_eq!(
        tools,
        ["time_now", "search_filings", "generate_report", "*"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    // Authorization goes upstream unchanged.
    assert_eq!(
        req.header_values("authorization"),
        vec![format!("Bearer {token}")]
    );
    assert_eq!(customs(&req).len(), 10, "{:?}", req.headers);
    assert_eq!(dropped(&envoy), 0);

    // A caller with no roles: the default only; no groups claim, no header.
    let req = through(&envoy, &agent, &Token::standard(Key::Ed1).mint(), &[], true);
    assert_eq!(req.header(&custom("Allowed-Tools")), Some("time_now"));
    assert_eq!(req.header(&custom("User-Groups")), None);
    assert_eq!(req.header(&custom("Request-Id")), None);
}

#[test]
fn a_claim_with_cr_lf_or_nul_never_becomes_a_header() {
    let agent = MockAgent::start().unwrap();
    let envoy = start(&agent, false, false);
    for (n, note) in [
        "evil\r\nx-injected: 1",
        "evil\nx-injected: 2",
        "evil\rx-injected: 3",
        "nul\u{0}byte",
    ]
    .into_iter()
    .enumerate()
    {
        let token = Token::standard(Key::Rsa1)
            .claim("custom:note", note)
            .claim("email", "eve@example.com")
            .mint();
        let req = through(&envoy, &agent, &token, &[], n % 2 == 1);
        assert_eq!(req.header(&custom("Note")), None, "{note:?}");
        assert_eq!(req.header("x-injected"), None, "{note:?}");
        assert!(
            req.headers
                .iter()
                .all(|(_, v)| !v.contains(['\r', '\n', '\0'])),
            "{:?}",
            req.headers
        );
        // The rest of the mapping is unaffected.
        assert_eq!(req.header(&custom("User-Email")), Some("eve@example.com"));
        envoy
            .wait_counter(
                "toolguard.headers.dropped",
                n as u64 + 1,
                Duration::from_secs(10),
            )
            .unwrap();
        assert_eq!(dropped(&envoy), n as u64 + 1);
    }
    // A tab is allowed inside a value.
    let token = Token::standard(Key::Rsa1)
        .claim("custom:note", "a\tb")
        .mint();
    let req = through(&envoy, &agent, &token, &[], false);
    assert_eq!(req.header(&custom("Note")), Some("a\tb"));
    assert_eq!(dropped(&envoy), 4);
}

#[test]
fn values_over_4096_bytes_are_dropped_and_counted() {
    let agent = MockAgent::start().unwrap();
    let envoy = start(&agent, false, false);
    let at_limit = "n".repeat(4096);
    let over = "o".repeat(4097);
    // A claim just at the limit goes; one byte more does not. (Two tokens:
    // the filter refuses tokens over 8 KiB.)
    let token = Token::standard(Key::Rsa1)
        .claim("custom:note", at_limit.as_str())
        .mint();
    let req = through(&envoy, &agent, &token, &[], false);
    assert_eq!(req.header(&custom("Note")), Some(at_limit.as_str()));
    assert_eq!(dropped(&envoy), 0);
    let token = Token::standard(Key::Rsa1)
        .claim("email", over.as_str())
        .mint();
    let req = through(&envoy, &agent, &token, &[], false);
    assert_eq!(req.header(&custom("User-Email")), None);
    assert_eq!(req.header(&custom("User-Sub")), Some("test-user"));
    envoy
        .wait_counter("toolguard.headers.dropped", 1, Duration::from_secs(10))
        .unwrap();
    // A forwarded header over the limit is dropped too (the original stays).
    let long_id = "r".repeat(5000);
    let req = through(
        &envoy,
        &agent,
        &Token::standard(Key::Rsa1).mint(),
        &[("x-request-id", long_id.as_str())],
        true,
    );
    assert_eq!(req.header(&custom("Request-Id")), None);
    assert_eq!(req.header("x-request-id"), Some(long_id.as_str()));
    envoy
        .wait_counter("toolguard.headers.dropped", 2, Duration::from_secs(10))
        .unwrap();
    // Multibyte: 4096 bytes is the bound, not 4096 characters.
    let wide = "é".repeat(2049); // 4098 bytes
    let token = Token::standard(Key::Rsa1)
        .claim("custom:note", wide.as_str())
        .mint();
    let req = through(&envoy, &agent, &token, &[], false);
    assert_eq!(req.header(&custom("Note")), None);
    envoy
        .wait_counter("toolguard.headers.dropped", 3, Duration::from_secs(10))
        .unwrap();
    assert_eq!(dropped(&envoy), 3);
}

#[test]
fn trusted_client_custom_headers_stay_within_20() {
    let agent = MockAgent::start().unwrap();
    let envoy = start_envoy(
        &agent,
        &config(json!({
            "claims_to_headers": {"sub": "User-Sub"},
            "allowed_tools_header": "Allowed-Tools",
            "trust_client_custom_headers": true,
        })),
    );
    let names: Vec<String> = (0..25).map(|i| format!("{PREFIX}client-{i:02}")).collect();
    let mut headers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    // A client value under a mapped name is never passed on.
    headers.push(("X-Amzn-Bedrock-AgentCore-Runtime-Custom-User-Sub", "admin"));
    let req = through(
        &envoy,
        &agent,
        &Token::standard(Key::Rsa1).mint(),
        &headers,
        false,
    );
    let seen = customs(&req);
    assert_eq!(seen.len(), 20, "{seen:?}");
    assert_eq!(req.header_values(&custom("User-Sub")), vec!["test-user"]);
    assert_eq!(req.header(&custom("Allowed-Tools")), Some("time_now"));
    // The filter's two, then the client's in the order sent.
    for (i, name) in names.iter().enumerate() {
        assert_eq!(seen.contains(name), i < 18, "{name}");
    }
    envoy
        .wait_counter("toolguard.headers.dropped", 7, Duration::from_secs(10))
        .unwrap();
    assert_eq!(dropped(&envoy), 7);
}

/// SHA-256(iss + " " + sub), first 16 hex digits.
fn binding(iss: &str, sub: &str) -> String {
    let digest = Sha256::digest(format!("{iss} {sub}").as_bytes());
    digest
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()[..16]
        .to_string()
}

fn post_with_session(envoy: &Envoy, token: &str, session: Option<&str>) -> Response {
    let mut req = client::post(&envoy.url("/invocations"))
        .bearer(token)
        .body("{}");
    if let Some(s) = session {
        req = req.header("X-Amzn-Bedrock-AgentCore-Runtime-Session-Id", s);
    }
    req.send_blocking().unwrap()
}

#[test]
fn a_session_id_is_generated_when_missing_and_refused_when_short() {
    let agent = MockAgent::start().unwrap();
    let envoy = start(&agent, false, false);
    let token = Token::standard(Key::Rsa1).mint();
    // Missing: generated, at least 33 characters, a new one each time.
    let mut ids = BTreeSet::new();
    for _ in 0..2 {
        let resp = post_with_session(&envoy, &token, None);
        assert_eq!(resp.status, 200, "{}", resp.text());
        let req = agent.last_request().unwrap();
        let id = req
            .header(SESSION)
            .expect("a generated session id")
            .to_string();
        assert!(id.len() >= 33, "{id:?}");
        assert!(id.bytes().all(|b| b.is_ascii_graphic()), "{id:?}");
        assert_eq!(req.header_values(SESSION).len(), 1);
        ids.insert(id);
    }
    assert_eq!(ids.len(), 2, "generated ids repeat: {ids:?}");
    // 33 characters: accepted and sent as is (no binding configured).
    let ok = session_id(33);
    let resp = post_with_session(&envoy, &token, Some(&ok));
    assert_eq!(resp.status, 200);
    assert_eq!(
        agent.last_request().unwrap().header_values(SESSION),
        vec![ok.as_str()]
    );
    // Shorter than 33: 400, nothing upstream.
    let before = agent.request_count();
    for short in [session_id(32), session_id(1), String::new()] {
        let resp = post_with_session(&envoy, &token, Some(&short));
        assert_eq!(resp.status, 400, "{short:?}: {}", resp.text());
        assert_eq!(resp.header("content-type"), Some("application/json"));
        let body = resp.json().unwrap();
        assert_eq!(body["error"], "invalid_session_id", "{body}");
        assert!(body["message"].is_string(), "{body}");
        if !short.is_empty() {
            assert!(
                !body["message"].as_str().unwrap().contains(&short),
                "the id is not echoed: {body}"
            );
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        agent.request_count(),
        before,
        "a refused request went upstream"
    );
}

#[test]
fn sessions_are_bound_to_the_subject() {
    let agent = MockAgent::start().unwrap();
    let envoy = start(&agent, true, false);
    let alice = Token::standard(Key::Rsa1).sub("alice").mint();
    let bob = Token::standard(Key::Ec1).sub("bob").mint();
    let id = session_id(40);
    let upstream_id = |token: &str, session: Option<&str>| {
        let resp = post_with_session(&envoy, token, session);
        assert_eq!(resp.status, 200, "{}", resp.text());
        let req = agent.last_request().unwrap();
        assert_eq!(req.header_values(SESSION).len(), 1, "{:?}", req.headers);
        req.header(SESSION).unwrap().to_string()
    };
    let a = upstream_id(&alice, Some(&id));
    let b = upstream_id(&bob, Some(&id));
    let pa = binding(TEST_ISSUER, "alice");
    let pb = binding(TEST_ISSUER, "bob");
    assert_eq!(a, format!("{pa}-{id}"));
    assert_eq!(b, format!("{pb}-{id}"));
    assert_ne!(a, b, "two users never share a session");
    // Missing: generated and bound.
    let g = upstream_id(&alice, None);
    let rest = g
        .strip_prefix(&format!("{pa}-"))
        .unwrap_or_else(|| panic!("{g:?}"));
    assert!(rest.len() >= 33, "{g:?}");
    // Bob naming Alice's upstream id does not reach her session.
    let stolen = upstream_id(&bob, Some(&a));
    assert!(stolen.starts_with(&format!("{pb}-")), "{stolen:?}");
    assert_ne!(stolen, a);
    // Short ids are still refused.
    let before = agent.request_count();
    let resp = post_with_session(&envoy, &alice, Some(&session_id(20)));
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json().unwrap()["error"], "invalid_session_id");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(agent.request_count(), before);
}
