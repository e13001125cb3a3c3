use super::*;
use crate::config::{Config, SessionConfig};
use crate::jwt::ClaimPath;
use wasm_bindgen_test::wasm_bindgen_test;

const ISS: &str = "https://issuer.example";
/// `printf '%s' 'https://issuer.example sub-123' | sha256sum`, first 16 hex digits.
const PREFIX_SUB_123: &str = "87d600403e0740c7";
/// `printf '%s' 'toolguard:anonymous' | sha256sum`, first 16 hex digits.
const PREFIX_ANONYMOUS: &str = "dc4cbf0b422aeb91";
/// 40 characters: a valid client session id.
const SID: &str = "client-session-0123456789abcdef0123456789";

fn cfg(forward: &[(&str, &str)], claims: &[(&str, &str)], tools: Option<&str>) -> AgentCoreConfig {
    AgentCoreConfig {
        forward_headers: forward
            .iter()
            .map(|(h, s)| (h.to_string(), s.to_string()))
            .collect(),
        claims_to_headers: claims
            .iter()
            .map(|(c, s)| (ClaimPath::parse(c).unwrap(), s.to_string()))
            .collect(),
        allowed_tools_header: tools.map(str::to_owned),
        session: SessionConfig::default(),
        trust_client_custom_headers: false,
    }
}

fn bound(mut c: AgentCoreConfig) -> AgentCoreConfig {
    c.session.bind_to_subject = true;
    c
}

fn trusted(mut c: AgentCoreConfig) -> AgentCoreConfig {
    c.trust_client_custom_headers = true;
    c
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// A request that carries a valid session id, plus `pairs`.
fn request(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut r = headers(pairs);
    r.push((
        "x-amzn-bedrock-agentcore-runtime-session-id".into(),
        SID.into(),
    ));
    r
}

fn claims(json: &str) -> Json {
    Json::parse(json.as_bytes()).unwrap()
}

/// Deterministic "random" bytes that differ on every call.
fn counter_random() -> impl FnMut(&mut [u8]) -> bool {
    let mut call = 0u8;
    move |buf: &mut [u8]| {
        call = call.wrapping_add(1);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = call.wrapping_mul(31).wrapping_add(i as u8);
        }
        true
    }
}

fn shape(
    c: &AgentCoreConfig,
    req: &[(String, String)],
    caller: Option<&Caller<'_>>,
    allowlist: Option<&Allowlist>,
) -> Result<HeaderPlan, SessionError> {
    shape_request(c, req, caller, allowlist, &mut counter_random())
}

fn get<'p>(plan: &'p HeaderPlan, suffix: &str) -> Option<&'p str> {
    let name = format!("{CUSTOM_PREFIX}{suffix}");
    let mut found = plan
        .set
        .iter()
        .filter(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str());
    let first = found.next();
    assert!(found.next().is_none(), "{name} set twice");
    first
}

fn custom_count(plan: &HeaderPlan) -> usize {
    plan.set
        .iter()
        .filter(|(n, _)| n.starts_with(CUSTOM_PREFIX))
        .count()
}

fn session_sent(plan: &HeaderPlan) -> &str {
    let values: Vec<&str> = plan
        .set
        .iter()
        .filter(|(n, _)| n == SESSION_HEADER)
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(values.len(), 1);
    values[0]
}

#[test]
#[wasm_bindgen_test]
fn spoofed_custom_headers_are_removed_whatever_their_case() {
    let c = cfg(&[], &[("sub", "User-Sub")], None);
    let req = request(&[
        (
            "X-Amzn-Bedrock-AgentCore-Runtime-Custom-User-Sub",
            "someone-else",
        ),
        ("x-amzn-bedrock-agentcore-runtime-custom-role", "admin"),
        ("X-AMZN-BEDROCK-AGENTCORE-RUNTIME-CUSTOM-ROLE", "admin2"),
        ("x-amzn-bedrock-agentcore-runtime-custom-", "empty suffix"),
        ("x-other", "kept"),
    ]);
    let token = claims(r#"{"iss":"https://issuer.example","sub":"sub-123"}"#);
    let caller = Caller::from_claims(&token).unwrap();
    let plan = shape(&c, &req, Some(&caller), None).unwrap();
    assert_eq!(
        plan.remove,
        [
            "x-amzn-bedrock-agentcore-runtime-custom-user-sub",
            "x-amzn-bedrock-agentcore-runtime-custom-role",
            "x-amzn-bedrock-agentcore-runtime-custom-",
        ]
    );
    // The filter's own value replaces the spoofed one; spoof removal is not a drop.
    assert_eq!(get(&plan, "User-Sub"), Some("sub-123"));
    assert_eq!(custom_count(&plan), 1);
    assert_eq!(plan.dropped, 0);
}

#[test]
#[wasm_bindgen_test]
fn forward_headers_are_copied_and_repeats_joined() {
    let c = cfg(
        &[
            ("x-request-id", "Request-Id"),
            ("traceparent", "Traceparent"),
            ("accept-language", "Accept-Language"),
            ("cookie", "Cookie"),
        ],
        &[],
        None,
    );
    let req = request(&[
        ("X-Request-Id", "req-1"),
        ("accept-language", "en"),
        ("accept-language", "fr;q=0.5"),
        ("cookie", "a=1"),
        ("cookie", "b=2"),
    ]);
    let plan = shape(&c, &req, None, None).unwrap();
    assert_eq!(get(&plan, "Request-Id"), Some("req-1"));
    assert_eq!(get(&plan, "Accept-Language"), Some("en,fr;q=0.5"));
    assert_eq!(get(&plan, "Cookie"), Some("a=1; b=2"));
    assert_eq!(
        get(&plan, "Traceparent"),
        None,
        "absent header: no custom header"
    );
    assert_eq!(plan.dropped, 0);
    // Config order.
    let names: Vec<&str> = plan.set.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Request-Id",
            "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Accept-Language",
            "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Cookie",
            SESSION_HEADER,
        ]
    );
}

#[test]
#[wasm_bindgen_test]
fn claims_become_headers_by_type() {
    let c = cfg(
        &[],
        &[
            ("sub", "Sub"),
            ("cognito:groups", "Groups"),
            ("age", "Age"),
            ("ratio", "Ratio"),
            ("email_verified", "Verified"),
            ("address", "Address"),
            ("address.country", "Country"),
            ("mixed", "Mixed"),
            ("none", "None"),
            ("nothing", "Nothing"),
            ("address.missing", "Missing"),
            ("sub.deeper", "Deeper"),
            ("no_groups", "No-Groups"),
            ("https://example.com/roles", "Roles"),
        ],
        None,
    );
    let token = claims(
        r#"{"iss":"https://issuer.example","sub":"sub-123",
            "cognito:groups":["analysts","admins"],"age":42,"ratio":0.5,"email_verified":true,
            "address":{"country":"NL","city":"Delft"},"mixed":["a",1,null],"none":null,
            "no_groups":[],"https://example.com/roles":["r1"]}"#,
    );
    let caller = Caller::from_claims(&token).unwrap();
    let plan = shape(&c, &request(&[]), Some(&caller), None).unwrap();
    assert_eq!(get(&plan, "Sub"), Some("sub-123"));
    assert_eq!(get(&plan, "Groups"), Some("analysts,admins"));
    assert_eq!(get(&plan, "Age"), Some("42"));
    assert_eq!(get(&plan, "Ratio"), Some("0.5"));
    assert_eq!(get(&plan, "Verified"), Some("true"));
    assert_eq!(
        get(&plan, "Address"),
        Some(r#"{"country":"NL","city":"Delft"}"#)
    );
    assert_eq!(get(&plan, "Country"), Some("NL"));
    assert_eq!(get(&plan, "Mixed"), Some(r#"["a",1,null]"#));
    assert_eq!(get(&plan, "None"), Some("null"));
    assert_eq!(
        get(&plan, "No-Groups"),
        Some(""),
        "an empty array is an empty list"
    );
    assert_eq!(get(&plan, "Roles"), Some("r1"));
    assert_eq!(get(&plan, "Nothing"), None);
    assert_eq!(get(&plan, "Missing"), None);
    assert_eq!(get(&plan, "Deeper"), None, "a string has no members");
    assert_eq!(plan.dropped, 0, "a missing claim is not a drop");
}

#[test]
#[wasm_bindgen_test]
fn claim_paths_take_the_first_of_duplicate_members() {
    let c = cfg(&[], &[("a.b", "B")], None);
    let token = claims(r#"{"iss":"i","sub":"s","a":{"b":"first","b":"second"}}"#);
    let caller = Caller::from_claims(&token).unwrap();
    let plan = shape(&c, &request(&[]), Some(&caller), None).unwrap();
    assert_eq!(get(&plan, "B"), Some("first"));
}

#[test]
#[wasm_bindgen_test]
fn allowed_tools_header_carries_the_joined_allowlist() {
    let c = cfg(&[], &[], Some("Allowed-Tools"));
    let list = Allowlist::of(&["search_filings", "report_*"]);
    let plan = shape(&c, &request(&[]), None, Some(&list)).unwrap();
    assert_eq!(get(&plan, "Allowed-Tools"), Some("search_filings,report_*"));

    let plan = shape(&c, &request(&[]), None, Some(&Allowlist::of(&[]))).unwrap();
    assert_eq!(
        get(&plan, "Allowed-Tools"),
        Some(""),
        "no tools is said, not left out"
    );

    let plan = shape(&c, &request(&[]), None, None).unwrap();
    assert_eq!(
        get(&plan, "Allowed-Tools"),
        None,
        "no `tools`, no allowlist to send"
    );
}

#[test]
#[wasm_bindgen_test]
fn bypassed_requests_get_no_claim_headers() {
    let c = cfg(
        &[("x-request-id", "Request-Id")],
        &[("sub", "User-Sub")],
        Some("Tools"),
    );
    let req = request(&[
        ("x-request-id", "r"),
        ("x-amzn-bedrock-agentcore-runtime-custom-user-sub", "x"),
    ]);
    let plan = shape(&c, &req, None, Some(&Allowlist::of(&["time_now"]))).unwrap();
    assert_eq!(get(&plan, "User-Sub"), None);
    assert_eq!(get(&plan, "Request-Id"), Some("r"));
    assert_eq!(get(&plan, "Tools"), Some("time_now"));
    assert_eq!(
        plan.remove,
        ["x-amzn-bedrock-agentcore-runtime-custom-user-sub"]
    );
}

#[test]
#[wasm_bindgen_test]
fn over_twenty_own_headers_drop_in_config_order() {
    // Validation refuses this configuration; the limit holds anyway.
    let forward: Vec<(String, String)> =
        (0..8).map(|i| (format!("h{i}"), format!("F{i}"))).collect();
    let claim_names: Vec<(String, String)> = (0..14)
        .map(|i| (format!("c{i}"), format!("C{i}")))
        .collect();
    let f: Vec<(&str, &str)> = forward
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let cl: Vec<(&str, &str)> = claim_names
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let c = cfg(&f, &cl, Some("Tools"));
    let req = request(&f.iter().map(|(h, _)| (*h, "v")).collect::<Vec<_>>());
    let token_text = format!(
        r#"{{"iss":"i","sub":"s",{}}}"#,
        (0..14)
            .map(|i| format!(r#""c{i}":"v{i}""#))
            .collect::<Vec<_>>()
            .join(",")
    );
    let token = claims(&token_text);
    let caller = Caller::from_claims(&token).unwrap();
    let plan = shape(&c, &req, Some(&caller), Some(&Allowlist::of(&["*"]))).unwrap();
    assert_eq!(custom_count(&plan), 20);
    assert_eq!(get(&plan, "F0"), Some("v"));
    assert_eq!(get(&plan, "C11"), Some("v11"));
    assert_eq!(get(&plan, "C12"), None);
    assert_eq!(get(&plan, "C13"), None);
    assert_eq!(get(&plan, "Tools"), None, "allowed_tools_header comes last");
    assert_eq!(plan.dropped, 3);
    let dropped: Vec<&str> = plan
        .dropped_headers
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(
        dropped,
        [
            "X-Amzn-Bedrock-AgentCore-Runtime-Custom-C12",
            "X-Amzn-Bedrock-AgentCore-Runtime-Custom-C13",
            "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Tools",
        ]
    );
    assert!(plan
        .dropped_headers
        .iter()
        .all(|d| d.reason == DropReason::TooMany));
}

#[test]
#[wasm_bindgen_test]
fn trusted_client_headers_fill_the_slots_left_in_arrival_order() {
    let forward: Vec<(String, String)> = (0..18)
        .map(|i| (format!("h{i}"), format!("F{i}")))
        .collect();
    let f: Vec<(&str, &str)> = forward
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let c = trusted(cfg(&f, &[], None));
    let mut pairs: Vec<(&str, &str)> = f.iter().map(|(h, _)| (*h, "v")).collect();
    pairs.extend([
        ("x-amzn-bedrock-agentcore-runtime-custom-a", "1"),
        ("X-Amzn-Bedrock-AgentCore-Runtime-Custom-B", "2"),
        ("x-amzn-bedrock-agentcore-runtime-custom-a", "1b"), // same name: one header
        ("x-amzn-bedrock-agentcore-runtime-custom-c", "3"),
        ("x-amzn-bedrock-agentcore-runtime-custom-d", "4"),
    ]);
    let plan = shape(&c, &request(&pairs), None, None).unwrap();
    assert_eq!(custom_count(&plan), 18);
    // a and b stay as the client sent them (18 + 2 = 20); c and d go.
    assert_eq!(
        plan.remove,
        [
            "x-amzn-bedrock-agentcore-runtime-custom-c",
            "x-amzn-bedrock-agentcore-runtime-custom-d"
        ]
    );
    assert_eq!(plan.dropped, 2);
    assert!(plan
        .dropped_headers
        .iter()
        .all(|d| d.reason == DropReason::TooMany));
}

#[test]
#[wasm_bindgen_test]
fn trusted_client_headers_never_fill_a_mapped_name() {
    let c = trusted(cfg(
        &[("x-request-id", "Request-Id")],
        &[("email", "User-Email")],
        None,
    ));
    let token = claims(r#"{"iss":"i","sub":"s"}"#); // no email
    let caller = Caller::from_claims(&token).unwrap();
    let req = request(&[
        (
            "x-amzn-bedrock-agentcore-runtime-custom-user-email",
            "spoof@example.com",
        ),
        (
            "x-amzn-bedrock-agentcore-runtime-custom-request-id",
            "spoofed",
        ),
        ("x-amzn-bedrock-agentcore-runtime-custom-tenant", "t1"),
        ("x-amzn-bedrock-agentcore-runtime-custom-bad", "a\u{7f}b"),
        ("x-request-id", "real"),
    ]);
    let plan = shape(&c, &req, Some(&caller), None).unwrap();
    assert_eq!(
        plan.remove,
        [
            "x-amzn-bedrock-agentcore-runtime-custom-user-email",
            "x-amzn-bedrock-agentcore-runtime-custom-request-id",
            "x-amzn-bedrock-agentcore-runtime-custom-bad",
        ]
    );
    assert_eq!(get(&plan, "Request-Id"), Some("real"));
    assert_eq!(get(&plan, "User-Email"), None);
    assert_eq!(
        plan.dropped, 1,
        "only the bad value counts; reserved names are spoofs"
    );
    assert_eq!(plan.dropped_headers[0].reason, DropReason::ControlCharacter);
}

#[test]
#[wasm_bindgen_test]
fn values_over_4096_bytes_are_dropped_not_cut() {
    let c = cfg(&[("x-a", "A"), ("x-b", "B")], &[], None);
    let exact = "a".repeat(MAX_VALUE_BYTES);
    let over = format!("{}é", "a".repeat(MAX_VALUE_BYTES - 1)); // 4097 bytes, 4096 chars
    let plan = shape(&c, &request(&[("x-a", &exact), ("x-b", &over)]), None, None).unwrap();
    assert_eq!(get(&plan, "A").map(str::len), Some(4096));
    assert_eq!(get(&plan, "B"), None);
    assert_eq!(plan.dropped, 1);
    assert_eq!(
        plan.dropped_headers,
        [DroppedHeader {
            name: "X-Amzn-Bedrock-AgentCore-Runtime-Custom-B".into(),
            reason: DropReason::TooLong
        }]
    );
}

#[test]
#[wasm_bindgen_test]
fn control_characters_in_a_claim_never_become_a_header() {
    let c = cfg(
        &[],
        &[
            ("crlf", "Crlf"),
            ("lf", "Lf"),
            ("nul", "Nul"),
            ("del", "Del"),
            ("esc", "Esc"),
            ("tab", "Tab"),
            ("pad", "Pad"),
            ("utf8", "Utf8"),
        ],
        None,
    );
    let token = claims(
        r#"{"iss":"i","sub":"s","crlf":"a\r\nX-Injected: 1","lf":["a","b\nc"],"nul":"a\u0000b",
            "del":"a\u007fb","esc":"\u001b[31m","tab":"a\tb","pad":"  padded\t","utf8":"José"}"#,
    );
    let caller = Caller::from_claims(&token).unwrap();
    let plan = shape(&c, &request(&[]), Some(&caller), None).unwrap();
    for suffix in ["Crlf", "Lf", "Nul", "Del", "Esc"] {
        assert_eq!(get(&plan, suffix), None, "{suffix}");
    }
    assert!(plan
        .set
        .iter()
        .all(|(n, v)| !v.contains(['\r', '\n', '\0']) && !n.contains("Injected")));
    assert_eq!(get(&plan, "Tab"), Some("a\tb"));
    assert_eq!(
        get(&plan, "Pad"),
        Some("padded"),
        "outer whitespace is trimmed"
    );
    assert_eq!(get(&plan, "Utf8"), Some("José"));
    assert_eq!(plan.dropped, 5);
    assert!(plan
        .dropped_headers
        .iter()
        .all(|d| d.reason == DropReason::ControlCharacter));
}

#[test]
#[wasm_bindgen_test]
fn authorization_is_never_touched() {
    let c = trusted(bound(cfg(
        &[("authorization", "Token-Copy")],
        &[("sub", "Sub")],
        None,
    )));
    let token = claims(r#"{"iss":"https://issuer.example","sub":"sub-123"}"#);
    let caller = Caller::from_claims(&token).unwrap();
    let req = request(&[("authorization", "Bearer abc.def.ghi")]);
    let plan = shape(&c, &req, Some(&caller), None).unwrap();
    assert!(plan
        .remove
        .iter()
        .all(|n| !n.eq_ignore_ascii_case("authorization")));
    assert!(plan
        .set
        .iter()
        .all(|(n, _)| !n.eq_ignore_ascii_case("authorization")));
    // Copying it is an explicit mapping; the original still goes as it came.
    assert_eq!(get(&plan, "Token-Copy"), Some("Bearer abc.def.ghi"));
}

#[test]
#[wasm_bindgen_test]
fn a_missing_session_id_is_generated_long_and_unique() {
    let c = cfg(&[], &[], None);
    let mut random = counter_random();
    let mut seen = Vec::new();
    for _ in 0..5 {
        let plan = shape_request(&c, &[], None, None, &mut random).unwrap();
        let id = session_sent(&plan).to_owned();
        assert!(id.len() >= 33);
        assert_eq!(id.len(), 64);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert!(plan.session.generated);
        assert_eq!(plan.session.client, id);
        assert!(!seen.contains(&id));
        seen.push(id);
    }
    // The id is the random bytes, nothing else.
    let plan = shape_request(&c, &[], None, None, &mut |b: &mut [u8]| {
        b.fill(0xab);
        true
    })
    .unwrap();
    assert_eq!(session_sent(&plan), "ab".repeat(32));
}

#[test]
#[wasm_bindgen_test]
fn a_session_id_shorter_than_33_is_refused() {
    let c = cfg(&[], &[], None);
    let sid = |v: &str| headers(&[("X-Amzn-Bedrock-AgentCore-Runtime-Session-Id", v)]);
    let e = shape(&c, &sid(&"a".repeat(32)), None, None).unwrap_err();
    assert_eq!(e, SessionError::TooShort { len: 32 });
    assert_eq!(SessionError::ERROR, "invalid_session_id");
    assert_eq!(SessionError::STATUS, 400);
    assert_eq!(
        e.to_string(),
        "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id is 32 characters long; it must be at least 33"
    );
    assert_eq!(
        shape(&c, &sid(""), None, None).unwrap_err(),
        SessionError::TooShort { len: 0 }
    );
    let ok = shape(&c, &sid(&"a".repeat(33)), None, None).unwrap();
    assert_eq!(session_sent(&ok), "a".repeat(33));
    assert!(!ok.session.generated);
}

#[test]
#[wasm_bindgen_test]
fn session_ids_too_long_odd_or_repeated_are_refused() {
    let c = cfg(&[], &[], None);
    let sid = |v: &str| headers(&[("x-amzn-bedrock-agentcore-runtime-session-id", v)]);
    assert_eq!(
        shape(&c, &sid(&"a".repeat(256)), None, None).map(|_| ()),
        Ok(())
    );
    assert_eq!(
        shape(&c, &sid(&"a".repeat(257)), None, None).unwrap_err(),
        SessionError::TooLong { len: 257, max: 256 }
    );
    let spaced = format!("{} b", "a".repeat(40));
    assert_eq!(
        shape(&c, &sid(&spaced), None, None).unwrap_err(),
        SessionError::BadCharacter
    );
    let accented = format!("{}é", "a".repeat(40));
    assert_eq!(
        shape(&c, &sid(&accented), None, None).unwrap_err(),
        SessionError::BadCharacter
    );
    let twice = headers(&[
        ("x-amzn-bedrock-agentcore-runtime-session-id", SID),
        ("X-Amzn-Bedrock-AgentCore-Runtime-Session-Id", SID),
    ]);
    assert_eq!(
        shape(&c, &twice, None, None).unwrap_err(),
        SessionError::Repeated
    );
    // The message never repeats the id.
    let e = shape(&c, &sid(&format!("{SID}\t")), None, None).unwrap_err();
    assert!(!e.to_string().contains(SID));
}

#[test]
#[wasm_bindgen_test]
fn a_bound_session_id_carries_the_known_sha256_prefix() {
    let c = bound(cfg(&[], &[], None));
    let token = claims(r#"{"iss":"https://issuer.example","sub":"sub-123"}"#);
    let caller = Caller::from_claims(&token).unwrap();
    let plan = shape(&c, &request(&[]), Some(&caller), None).unwrap();
    assert_eq!(session_sent(&plan), format!("{PREFIX_SUB_123}-{SID}"));
    assert_eq!(plan.session.client, SID);
    assert_eq!(binding_prefix(Some(&caller)).unwrap(), PREFIX_SUB_123);

    // Another user with the same client id lands elsewhere.
    let other = claims(r#"{"iss":"https://issuer.example","sub":"sub-124"}"#);
    let other = Caller::from_claims(&other).unwrap();
    let plan2 = shape(&c, &request(&[]), Some(&other), None).unwrap();
    assert_ne!(session_sent(&plan2), session_sent(&plan));
    assert!(session_sent(&plan2).ends_with(&format!("-{SID}")));

    // A generated id is bound too.
    let plan = shape(&c, &[], Some(&caller), None).unwrap();
    let sent = session_sent(&plan);
    assert_eq!(sent, format!("{PREFIX_SUB_123}-{}", plan.session.client));
    assert_eq!(sent.len(), 16 + 1 + 64);
}

#[test]
#[wasm_bindgen_test]
fn binding_is_not_applied_twice_and_keeps_within_256() {
    let c = bound(cfg(&[], &[], None));
    let token = claims(r#"{"iss":"https://issuer.example","sub":"sub-123"}"#);
    let caller = Caller::from_claims(&token).unwrap();
    let sid = |v: &str| headers(&[("x-amzn-bedrock-agentcore-runtime-session-id", v)]);

    let own = format!("{PREFIX_SUB_123}-{SID}");
    let plan = shape(&c, &sid(&own), Some(&caller), None).unwrap();
    assert_eq!(session_sent(&plan), own, "already bound to this caller");

    // Someone else's prefix is just part of this caller's id.
    let foreign = format!("0123456789abcdef-{SID}");
    let plan = shape(&c, &sid(&foreign), Some(&caller), None).unwrap();
    assert_eq!(session_sent(&plan), format!("{PREFIX_SUB_123}-{foreign}"));

    // Own prefix over too short a rest: a plain id, bound.
    let short_rest = format!("{PREFIX_SUB_123}-{}", "x".repeat(16));
    let plan = shape(&c, &sid(&short_rest), Some(&caller), None).unwrap();
    assert_eq!(
        session_sent(&plan),
        format!("{PREFIX_SUB_123}-{short_rest}")
    );

    let plan = shape(&c, &sid(&"a".repeat(239)), Some(&caller), None).unwrap();
    assert_eq!(session_sent(&plan).len(), 256);
    let e = shape(&c, &sid(&"a".repeat(240)), Some(&caller), None).unwrap_err();
    assert_eq!(e, SessionError::TooLong { len: 240, max: 239 });
    assert!(
        e.to_string()
            .contains("at most 239 (the session binding adds 17)"),
        "{e}"
    );
}

#[test]
#[wasm_bindgen_test]
fn binding_needs_a_subject_and_binds_bypassed_requests_apart() {
    let c = bound(cfg(&[], &[], None));
    for token in [
        r#"{"iss":"i"}"#,
        r#"{"iss":"i","sub":""}"#,
        r#"{"iss":"i","sub":7}"#,
    ] {
        let token = claims(token);
        let caller = Caller::from_claims(&token).unwrap();
        let e = shape(&c, &request(&[]), Some(&caller), None).unwrap_err();
        assert_eq!(e, SessionError::NoSubject);
    }
    // Without binding the subject does not matter.
    let token = claims(r#"{"iss":"i"}"#);
    let caller = Caller::from_claims(&token).unwrap();
    let plain = cfg(&[], &[], None);
    assert_eq!(
        session_sent(&shape(&plain, &request(&[]), Some(&caller), None).unwrap()),
        SID
    );

    // No caller: the anonymous namespace, never a user's.
    let plan = shape(&c, &request(&[]), None, None).unwrap();
    assert_eq!(session_sent(&plan), format!("{PREFIX_ANONYMOUS}-{SID}"));
    let users = format!("{PREFIX_SUB_123}-{SID}");
    let plan = shape(
        &c,
        &headers(&[("x-amzn-bedrock-agentcore-runtime-session-id", &users)]),
        None,
        None,
    )
    .unwrap();
    assert_eq!(session_sent(&plan), format!("{PREFIX_ANONYMOUS}-{users}"));
}

#[test]
#[wasm_bindgen_test]
fn without_binding_the_client_id_goes_as_it_came() {
    let c = cfg(&[], &[], None);
    let token = claims(r#"{"iss":"https://issuer.example","sub":"sub-123"}"#);
    let caller = Caller::from_claims(&token).unwrap();
    let plan = shape(&c, &request(&[]), Some(&caller), None).unwrap();
    assert_eq!(session_sent(&plan), SID);
    assert_eq!(
        plan.session,
        SessionPlan {
            client: SID.into(),
            upstream: SID.into(),
            generated: false
        }
    );
    assert_eq!(unbind_response_session(&c, SID, Some(&caller)), None);
}

#[test]
#[wasm_bindgen_test]
fn responses_are_unbound_for_their_own_caller_only() {
    let c = bound(cfg(&[], &[], None));
    let token = claims(r#"{"iss":"https://issuer.example","sub":"sub-123"}"#);
    let caller = Caller::from_claims(&token).unwrap();
    let plan = shape(&c, &request(&[]), Some(&caller), None).unwrap();
    let upstream = session_sent(&plan);
    assert_eq!(
        unbind_response_session(&c, upstream, Some(&caller)).as_deref(),
        Some(SID)
    );
    assert_eq!(
        unbind_response_session(&c, upstream, None),
        None,
        "not the anonymous binding"
    );
    assert_eq!(unbind_response_session(&c, SID, Some(&caller)), None);
    assert_eq!(
        unbind_response_session(&c, &format!("{PREFIX_SUB_123}-"), Some(&caller)),
        None
    );
    let anon = format!("{PREFIX_ANONYMOUS}-{SID}");
    assert_eq!(
        unbind_response_session(&c, &anon, None).as_deref(),
        Some(SID)
    );
}

#[test]
#[wasm_bindgen_test]
fn the_spec_example_shapes_a_request() {
    let spec = r#"{
      "providers": {"cognito": {"issuer": "https://issuer.example",
        "local_jwks": {"inline_string": "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k1\",\"n\":\"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ\",\"e\":\"AQAB\"}]}"},
        "roles_claim": "cognito:groups"}},
      "tools": {"roles": {"analysts": ["search_filings", "generate_report"], "admins": ["*"]}, "default": []},
      "agentcore": {
        "forward_headers": {"x-request-id": "Request-Id", "traceparent": "Traceparent", "accept-language": "Accept-Language"},
        "claims_to_headers": {"sub": "User-Sub", "email": "User-Email", "cognito:groups": "User-Groups"},
        "allowed_tools_header": "Allowed-Tools",
        "session": {"bind_to_subject": true},
        "trust_client_custom_headers": false
      }
    }"#;
    let config = Config::from_json(spec.as_bytes()).unwrap();
    let c = config.agentcore.as_ref().unwrap();
    let tools = config.tools.as_ref().unwrap();
    let token = claims(
        r#"{"iss":"https://issuer.example","sub":"sub-123","email":"ana@example.com","cognito:groups":["analysts"]}"#,
    );
    let caller = Caller::from_claims(&token).unwrap();
    let list = Allowlist::for_roles(tools, ["analysts"]);
    let req = request(&[
        ("authorization", "Bearer t"),
        ("x-request-id", "req-9"),
        (
            "x-amzn-bedrock-agentcore-runtime-custom-user-groups",
            "admins",
        ),
    ]);
    let plan = shape(c, &req, Some(&caller), Some(&list)).unwrap();
    assert_eq!(
        plan.set,
        [
            (
                "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Request-Id".to_owned(),
                "req-9".to_owned()
            ),
            (
                "X-Amzn-Bedrock-AgentCore-Runtime-Custom-User-Sub".into(),
                "sub-123".into()
            ),
            (
                "X-Amzn-Bedrock-AgentCore-Runtime-Custom-User-Email".into(),
                "ana@example.com".into()
            ),
            (
                "X-Amzn-Bedrock-AgentCore-Runtime-Custom-User-Groups".into(),
                "analysts".into()
            ),
            (
                "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Allowed-Tools".into(),
                "search_filings,generate_report".into()
            ),
            (SESSION_HEADER.into(), format!("{PREFIX_SUB_123}-{SID}")),
        ]
    );
    assert_eq!(
        plan.remove,
        ["x-amzn-bedrock-agentcore-runtime-custom-user-groups"]
    );
    assert_eq!(plan.dropped, 0);
}

#[test]
#[wasm_bindgen_test]
fn caller_from_claims_reads_iss_and_sub() {
    let token = claims(r#"{"iss":"https://issuer.example","sub":"sub-123"}"#);
    let caller = Caller::from_claims(&token).unwrap();
    assert_eq!((caller.issuer, caller.subject), (ISS, Some("sub-123")));
    assert!(Caller::from_claims(&claims(r#"{"sub":"s"}"#)).is_none());
    let no_sub = claims(r#"{"iss":"i","sub":["s"]}"#);
    assert_eq!(Caller::from_claims(&no_sub).unwrap().subject, None);
}

#[test]
#[wasm_bindgen_test]
fn a_client_chosen_user_id_is_removed_unless_trusted() {
    let req = request(&[("X-Amzn-Bedrock-AgentCore-Runtime-User-Id", "someone-else")]);
    let plan = shape(&cfg(&[], &[], None), &req, None, None).unwrap();
    assert!(plan
        .remove
        .iter()
        .any(|n| n == "x-amzn-bedrock-agentcore-runtime-user-id"));
    let plan = shape(&trusted(cfg(&[], &[], None)), &req, None, None).unwrap();
    assert!(!plan
        .remove
        .iter()
        .any(|n| n == "x-amzn-bedrock-agentcore-runtime-user-id"));
}
