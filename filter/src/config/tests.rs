use super::*;
use crate::jwt::{Algorithm, ClaimPath, HeaderSource, JwksSource, DEFAULT_CACHE_DURATION};
use crate::policy::ToolPattern;
use wasm_bindgen_test::wasm_bindgen_test;

const JWKS: &str = r#"{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k1\",\"n\":\"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ\",\"e\":\"AQAB\"}]}"#;

fn with_provider(provider_fields: &str, rest: &str) -> String {
    format!(
        r#"{{"providers":{{"p":{{"issuer":"https://issuer.example","local_jwks":{{"inline_string":"{JWKS}"}}{provider_fields}}}}}{rest}}}"#
    )
}

fn err(json: &str) -> String {
    Config::from_json(json.as_bytes()).unwrap_err().to_string()
}

#[test]
#[wasm_bindgen_test]
fn spec_example_loads_with_its_values() {
    let spec = r#"{
  "providers": {
    "cognito": {
      "issuer": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_ExAmPlE",
      "audiences": ["6o7h8i9jexampleclientid"],
      "token_use": ["id"],
      "algorithms": ["RS256"],
      "remote_jwks": {
        "http_uri": {"uri": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_ExAmPlE/.well-known/jwks.json",
                     "cluster": "cognito_jwks", "timeout": "5s"},
        "cache_duration": "600s"
      },
      "from_headers": [{"name": "authorization", "value_prefix": "Bearer "}],
      "clock_skew_seconds": 60,
      "roles_claim": "cognito:groups"
    }
  },
  "bypass": [{"path": "/ping"}, {"prefix": "/health"}],
  "tools": {
    "roles": {"analysts": ["search_filings", "generate_report"], "admins": ["*"]},
    "default": [],
    "max_frame_bytes": 65536
  },
  "agentcore": {
    "forward_headers": {"x-request-id": "Request-Id", "traceparent": "Traceparent", "accept-language": "Accept-Language"},
    "claims_to_headers": {"sub": "User-Sub", "email": "User-Email", "cognito:groups": "User-Groups"},
    "allowed_tools_header": "Allowed-Tools",
    "session": {"bind_to_subject": true},
    "trust_client_custom_headers": false
  }
}"#;
    let c = Config::from_json(spec.as_bytes()).unwrap();
    let p = &c.providers[0];
    assert_eq!(p.name, "cognito");
    assert_eq!(p.algorithms, [Algorithm::RS256]);
    let JwksSource::Remote(r) = &p.jwks else {
        panic!("remote expected")
    };
    assert_eq!(r.authority, "cognito-idp.us-east-1.amazonaws.com");
    assert_eq!(r.path, "/us-east-1_ExAmPlE/.well-known/jwks.json");
    assert_eq!(r.cluster, "cognito_jwks");
    assert_eq!(r.timeout, std::time::Duration::from_secs(5));
    assert_eq!(r.cache_duration, std::time::Duration::from_secs(600));
    assert_eq!(p.roles_claim.as_ref().unwrap().segments, ["cognito:groups"]);
    assert_eq!(
        c.bypass,
        [
            BypassRule::Path("/ping".into()),
            BypassRule::Prefix("/health".into())
        ]
    );
    let tools = c.tools.as_ref().unwrap();
    assert_eq!(
        tools.roles[1],
        ("admins".to_string(), vec![ToolPattern::Any])
    );
    let ac = c.agentcore.as_ref().unwrap();
    // Config order is kept: it decides which headers are dropped first.
    let suffixes: Vec<_> = ac.forward_headers.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(suffixes, ["Request-Id", "Traceparent", "Accept-Language"]);
    assert!(ac.session.bind_to_subject);
}

#[test]
#[wasm_bindgen_test]
fn defaults_follow_the_spec() {
    let c = Config::from_json(with_provider("", "").as_bytes()).unwrap();
    let p = &c.providers[0];
    assert_eq!(p.algorithms, Algorithm::DEFAULT);
    assert_eq!(
        p.from_headers,
        [HeaderSource {
            name: "authorization".into(),
            value_prefix: "Bearer ".into()
        }]
    );
    assert!(p.from_params.is_empty());
    assert_eq!(p.clock_skew_seconds, 60);
    assert!(c.tools.is_none() && c.agentcore.is_none() && c.bypass.is_empty());
    let c = Config::from_json(with_provider("", r#","tools":{}"#).as_bytes()).unwrap();
    assert_eq!(c.tools.unwrap().max_frame_bytes, 65536);
}

#[test]
#[wasm_bindgen_test]
fn unknown_field_names_its_path() {
    let e = err(&with_provider(r#","audience":["x"]"#, ""));
    assert!(
        e.starts_with("providers.p.audience: unknown field `audience`"),
        "{e}"
    );
    let e = err(&with_provider("", r#","tools":{"max_frame_size":1}"#));
    assert!(e.starts_with("tools.max_frame_size: unknown field"), "{e}");
    let e = err(&with_provider("", r#","extra":1"#));
    assert!(e.starts_with("extra: unknown field `extra`"), "{e}");
}

#[test]
#[wasm_bindgen_test]
fn no_providers_is_refused() {
    assert_eq!(
        err(r#"{"providers":{}}"#),
        "providers: at least one provider is required"
    );
    assert_eq!(err(r#"{}"#), "missing field `providers`");
}

#[test]
#[wasm_bindgen_test]
fn both_or_neither_jwks_source_is_refused() {
    let both = with_provider(
        r#","remote_jwks":{"http_uri":{"uri":"https://idp/jwks","cluster":"c"}}"#,
        "",
    );
    assert_eq!(
        err(&both),
        "providers.p: give either remote_jwks or local_jwks, not both"
    );
    let neither = r#"{"providers":{"p":{"issuer":"i"}}}"#;
    assert_eq!(
        err(neither),
        "providers.p: one of remote_jwks or local_jwks is required"
    );
}

#[test]
#[wasm_bindgen_test]
fn none_is_never_accepted_in_any_casing() {
    for none in ["none", "None", "NONE"] {
        let e = err(&with_provider(
            &format!(r#","algorithms":["RS256","{none}"]"#),
            "",
        ));
        assert_eq!(
            e,
            format!("providers.p.algorithms[1]: \"{none}\" is never accepted")
        );
    }
    let e = err(&with_provider(r#","algorithms":["rs256"]"#, ""));
    assert!(
        e.starts_with("providers.p.algorithms[0]: \"rs256\" is not supported"),
        "{e}"
    );
}

#[test]
#[wasm_bindgen_test]
fn hs256_needs_a_local_oct_key() {
    let e = err(&with_provider(r#","algorithms":["HS256"]"#, ""));
    assert!(
        e.starts_with("providers.p.algorithms[0]: \"HS256\" needs a local_jwks"),
        "{e}"
    );
    let oct = r#"{"providers":{"p":{"issuer":"i","algorithms":["HS256"],"local_jwks":{"inline_string":"{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0ISE\"}]}"}}}}"#;
    assert_eq!(
        Config::from_json(oct.as_bytes()).unwrap().providers[0].algorithms,
        [Algorithm::HS256]
    );
}

#[test]
#[wasm_bindgen_test]
fn more_than_twenty_header_mappings_are_refused() {
    let forwards: Vec<String> = (0..15).map(|i| format!(r#""h{i}":"F{i}""#)).collect();
    let claims: Vec<String> = (0..5).map(|i| format!(r#""c{i}":"C{i}""#)).collect();
    let ac = |extra: &str| {
        format!(
            r#","tools":{{}},"agentcore":{{"forward_headers":{{{}}},"claims_to_headers":{{{}}}{extra}}}"#,
            forwards.join(","),
            claims.join(",")
        )
    };
    assert!(Config::from_json(with_provider("", &ac("")).as_bytes()).is_ok());
    let e = err(&with_provider(
        "",
        &ac(r#","allowed_tools_header":"Tools""#),
    ));
    assert!(
        e.starts_with("agentcore: maps 21 custom headers; AgentCore forwards at most 20"),
        "{e}"
    );
}

#[test]
#[wasm_bindgen_test]
fn text_that_is_not_json_is_refused() {
    let e = err("providers: yaml");
    assert!(e.starts_with("not valid JSON: "), "{e}");
    assert!(err("").starts_with("not valid JSON: "));
}

#[test]
#[wasm_bindgen_test]
fn field_rules_name_their_paths() {
    let cases = [
        (with_provider("", r#","bypass":[{"path":"/a","prefix":"/b"}]"#), "bypass[0]: give exactly one of path or prefix"),
        (with_provider("", r#","bypass":[{"prefix":"health"}]"#), "bypass[0].prefix: \"health\" must start with /"),
        (with_provider("", r#","tools":{"roles":{"a":["x*y"]}}"#), "tools.roles.a[0]: \"x*y\": `*` may only end an entry (a prefix like \"search_*\") or stand alone"),
        (with_provider("", r#","tools":{"max_frame_bytes":10}"#), "tools.max_frame_bytes: 10 is out of range (1024 to 16777216)"),
        (with_provider(r#","audiences":[""]"#, ""), "providers.p.audiences[0]: cannot be empty"),
        (with_provider(r#","roles_claim":"a..b""#, ""), "providers.p.roles_claim: \"a..b\" has an empty step between dots"),
        (with_provider(r#","from_headers":[{"name":"x auth"}]"#, ""), "providers.p.from_headers[0].name: \"x auth\" is not a valid header name"),
        (with_provider(r#","from_params":["token","a&b"]"#, ""), "providers.p.from_params[1]: \"a&b\" is not a query parameter name (letters, digits, -._~)"),
        (with_provider("", r#","agentcore":{"allowed_tools_header":"T"}"#), "agentcore.allowed_tools_header: needs `tools`: without it there is no allowlist to send"),
        (with_provider("", r#","agentcore":{"forward_headers":{"a":"X","b":"x"}}"#), "agentcore.forward_headers.b: header suffix \"x\" is already used by agentcore.forward_headers.a"),
        (with_provider("", r#","agentcore":{"claims_to_headers":{"sub":"Bad Name"}}"#), "agentcore.claims_to_headers.sub: \"Bad Name\" is not a valid header name suffix (letters, digits and !#$%&'*+-.^_`|~ only)"),
    ];
    for (json, want) in cases {
        assert_eq!(err(&json), want, "for {json}");
    }
}

#[test]
#[wasm_bindgen_test]
fn remote_jwks_fields_are_checked() {
    let remote = |http_uri: &str, extra: &str| {
        format!(
            r#"{{"providers":{{"p":{{"issuer":"i","remote_jwks":{{"http_uri":{http_uri}{extra}}}}}}}}}"#
        )
    };
    assert_eq!(
        err(&remote(r#"{"uri":"ftp://x/j","cluster":"c"}"#, "")),
        "providers.p.remote_jwks.http_uri.uri: \"ftp://x/j\" must start with https:// or http://"
    );
    assert_eq!(
        err(&remote(r#"{"uri":"https://x/j","cluster":"c","timeout":"5"}"#, "")),
        "providers.p.remote_jwks.http_uri.timeout: \"5\" is not a duration; write it like \"5s\", \"1.5s\" or \"500ms\""
    );
    assert_eq!(
        err(&remote(
            r#"{"uri":"https://x/j","cluster":"c"}"#,
            r#","cache_duration":"0s""#
        )),
        "providers.p.remote_jwks.cache_duration: must be greater than zero"
    );
    let c = Config::from_json(
        remote(r#"{"uri":"http://127.0.0.1:9000?x=1","cluster":"c"}"#, "").as_bytes(),
    )
    .unwrap();
    let JwksSource::Remote(r) = &c.providers[0].jwks else {
        panic!()
    };
    assert_eq!(
        (r.authority.as_str(), r.path.as_str()),
        ("127.0.0.1:9000", "/?x=1")
    );
    assert_eq!(r.cache_duration, DEFAULT_CACHE_DURATION);
}

/// Found by the `config` fuzz target: a DEL in the host was accepted and sent
/// as the JWKS fetch's `:authority` (CR and LF, tab and NUL the same).
#[test]
#[wasm_bindgen_test]
fn control_characters_in_the_jwks_host_are_refused() {
    // JSON escapes, decoded by the parser.
    for host in [
        r"x\u007fy",
        r"x\r\nx-injected: 1",
        r"x\ty",
        r"x\u0000y",
        "x y",
    ] {
        let json = format!(
            r#"{{"providers":{{"p":{{"issuer":"i","remote_jwks":{{"http_uri":{{"uri":"https://{host}/jwks","cluster":"c"}}}}}}}}}}"#
        );
        let e = err(&json);
        assert!(
            e.starts_with("providers.p.remote_jwks.http_uri.uri:")
                && e.ends_with("has no usable host"),
            "{host}: {e}"
        );
    }
}

#[test]
#[wasm_bindgen_test]
fn duplicate_issuers_and_duplicate_names_are_refused() {
    let two = format!(
        r#"{{"providers":{{"a":{{"issuer":"i","local_jwks":{{"inline_string":"{JWKS}"}}}},"b":{{"issuer":"i","local_jwks":{{"inline_string":"{JWKS}"}}}}}}}}"#
    );
    assert!(
        err(&two).starts_with("providers.b.issuer: \"i\" is already the issuer of provider \"a\"")
    );
    let twice = format!(
        r#"{{"providers":{{"a":{{"issuer":"i","local_jwks":{{"inline_string":"{JWKS}"}}}},"a":{{}}}}}}"#
    );
    assert!(
        err(&twice).contains("\"a\" is given twice"),
        "{}",
        err(&twice)
    );
}

#[test]
#[wasm_bindgen_test]
fn claim_paths_split_on_dots_unless_namespaced() {
    assert_eq!(
        ClaimPath::parse("realm_access.roles").unwrap().segments,
        ["realm_access", "roles"]
    );
    assert_eq!(
        ClaimPath::parse("https://example.com/roles")
            .unwrap()
            .segments,
        ["https://example.com/roles"]
    );
    assert_eq!(
        ClaimPath::parse("cognito:groups").unwrap().segments,
        ["cognito:groups"]
    );
}

#[test]
#[wasm_bindgen_test]
fn bypass_matches_path_without_query() {
    assert!(BypassRule::Path("/ping".into()).matches("/ping?x=1"));
    assert!(!BypassRule::Path("/ping".into()).matches("/ping/x"));
    assert!(BypassRule::Prefix("/health".into()).matches("/healthz"));
}

#[test]
#[wasm_bindgen_test]
fn hs256_needs_an_oct_key_usable_for_hs256() {
    let secret = "dG9vbGd1YXJkLWNvbmZpZy10ZXN0LXNlY3JldC0zMi1ieXRlcw";
    let json = format!(
        r#"{{"providers":{{"p":{{"issuer":"i","algorithms":["HS256"],"local_jwks":{{"inline_string":"{{\"keys\":[{{\"kty\":\"oct\",\"alg\":\"HS512\",\"k\":\"{secret}\"}}]}}"}}}}}}}}"#
    );
    // Refused at the key set already: no key of it can verify anything toolguard accepts.
    let e = Config::from_json(json.as_bytes()).unwrap_err().to_string();
    assert!(
        e.starts_with("providers.p.local_jwks.inline_string: ") && e.contains("HS512"),
        "{e}"
    );
}

const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

#[test]
#[wasm_bindgen_test]
fn spec_api_keys_and_rate_limits_load_with_their_values() {
    let json = with_provider(
        "",
        &format!(
            r#","tools":{{"default":[]}},
            "api_keys": {{"header": "X-Api-Key", "keys": {{"{}": {{"subject": "partner-a", "roles": ["analysts"]}}}}}},
            "rate_limits": {{
              "service": {{"cluster": "ratelimit", "domain": "agents", "timeout": "100ms", "failure_mode_deny": false}},
              "requests": [[{{"key": "user", "from": "claim:sub"}}], [{{"key": "role", "from": "role"}}]],
              "tools":    [[{{"key": "user", "from": "claim:sub"}}, {{"key": "tool", "from": "tool"}}]],
              "tokens":   [[{{"key": "user", "from": "claim:sub"}}, {{"key": "budget", "value": "model_tokens"}}],
                           [{{"key": "tenant", "from": "header:X-Tenant"}}, {{"key": "p", "from": "path"}}]]
            }}"#,
            HASH.to_uppercase()
        ),
    );
    let c = Config::from_json(json.as_bytes()).unwrap();
    let keys = c.api_keys.unwrap();
    assert_eq!(keys.header, "x-api-key");
    assert_eq!(keys.keys[0].0[..2], [0x9f, 0x86]);
    assert_eq!(keys.keys[0].1.subject, "partner-a");
    let rl = c.rate_limits.unwrap();
    assert_eq!(rl.service.cluster, "ratelimit");
    assert_eq!(rl.service.domain, "agents");
    assert_eq!(rl.service.timeout, std::time::Duration::from_millis(100));
    assert!(!rl.service.failure_mode_deny);
    assert_eq!(rl.requests[1][0].source, EntrySource::Role);
    assert_eq!(rl.tools[0][1].source, EntrySource::Tool);
    assert_eq!(
        rl.tokens[0][1].source,
        EntrySource::Value("model_tokens".into())
    );
    assert_eq!(
        rl.tokens[1][0].source,
        EntrySource::Header("x-tenant".into())
    );
    assert_eq!(rl.tokens[1][1].source, EntrySource::Path);
}

#[test]
#[wasm_bindgen_test]
fn rate_limits_defaults_are_envoys() {
    let json = with_provider(
        "",
        r#","rate_limits":{"service":{"cluster":"rl","domain":"d"}}"#,
    );
    let rl = Config::from_json(json.as_bytes())
        .unwrap()
        .rate_limits
        .unwrap();
    assert_eq!(rl.service.timeout, std::time::Duration::from_millis(20));
    assert!(!rl.service.failure_mode_deny);
    assert!(rl.requests.is_empty() && rl.tools.is_empty() && rl.tokens.is_empty());
}

#[test]
#[wasm_bindgen_test]
fn rate_limits_rules_name_their_paths() {
    let service = r#""service":{"cluster":"rl","domain":"d"}"#;
    let cases = [
        (
            r#""service":{"cluster":"rl","domain":"d","burst":1}"#.to_owned(),
            "rate_limits.service.burst: unknown field `burst`",
        ),
        (
            r#""service":{"domain":"d"}"#.to_owned(),
            "rate_limits.service: missing field `cluster`",
        ),
        (
            r#""service":{"cluster":"","domain":"d"}"#.to_owned(),
            "rate_limits.service.cluster: cannot be empty",
        ),
        (
            r#""service":{"cluster":"rl","domain":""}"#.to_owned(),
            "rate_limits.service.domain: cannot be empty",
        ),
        (
            r#""service":{"cluster":"rl","domain":"d","timeout":"100"}"#.to_owned(),
            "rate_limits.service.timeout: \"100\" is not a duration",
        ),
        (
            format!(r#"{service},"requests":[[{{"key":"t","from":"tool"}}]]"#),
            "rate_limits.requests[0][0].from: \"tool\" is only known under rate_limits.tools",
        ),
        (
            format!(r#"{service},"tokens":[[{{"key":"u","from":"claims:sub"}}]]"#),
            "rate_limits.tokens[0][0].from: \"claims:sub\" is not a source",
        ),
        (
            format!(r#"{service},"requests":[[{{"key":"u","value":"x","from":"path"}}]]"#),
            "rate_limits.requests[0][0]: give exactly one of value or from",
        ),
        (
            format!(r#"{service},"requests":[[{{"key":"","value":"x"}}]]"#),
            "rate_limits.requests[0][0].key: cannot be empty",
        ),
        (
            format!(r#"{service},"requests":[[]]"#),
            "rate_limits.requests[0]: a descriptor needs at least one entry",
        ),
        (
            format!(
                r#"{service},"requests":[[{{"key":"a","from":"role"}},{{"key":"b","from":"role"}}]]"#
            ),
            "rate_limits.requests[0]: role is used twice",
        ),
        (
            format!(r#"{service},"requests":[[{{"key":"h","from":"header:bad header"}}]]"#),
            "rate_limits.requests[0][0].from: \"bad header\" is not a valid header name",
        ),
        (
            format!(r#"{service},"tools":[[{{"key":"t","from":"tool"}}]]"#),
            "rate_limits.tools: needs `tools`",
        ),
    ];
    for (rate_limits, expected) in cases {
        let json = with_provider("", &format!(r#","rate_limits":{{{rate_limits}}}"#));
        let e = err(&json);
        assert!(e.starts_with(expected), "{e}\n  expected {expected}");
    }
}

#[test]
#[wasm_bindgen_test]
fn api_keys_hold_only_hashes_and_a_header_of_their_own() {
    let cases = [
        (
            r#"{"keys":{"partner-key-in-clear":{"subject":"a"}}}"#.to_owned(),
            "api_keys.keys.partner-key-in-clear: the name must be the SHA-256 of the key in 64 hex digits".to_owned(),
        ),
        (
            format!(r#"{{"keys":{{"{HASH}":{{"subject":""}}}}}}"#),
            format!("api_keys.keys.{HASH}.subject: cannot be empty"),
        ),
        (
            format!(r#"{{"keys":{{"{HASH}":{{"roles":["a"]}}}}}}"#),
            format!("api_keys.keys.{HASH}: missing field `subject`"),
        ),
        (
            format!(r#"{{"keys":{{"{HASH}":{{"subject":"a"}},"{}":{{"subject":"b"}}}}}}"#, HASH.to_uppercase()),
            format!("api_keys.keys.{}: this hash is given twice", HASH.to_uppercase()),
        ),
        (
            format!(r#"{{"header":"authorization","keys":{{"{HASH}":{{"subject":"a"}}}}}}"#),
            "api_keys.header: \"authorization\" is where provider \"p\" reads its tokens".to_owned(),
        ),
        (
            r#"{"keys":{}}"#.to_owned(),
            "api_keys.keys: at least one key hash is required".to_owned(),
        ),
    ];
    for (api_keys, expected) in cases {
        let json = with_provider("", &format!(r#","api_keys":{api_keys}"#));
        let e = err(&json);
        assert!(e.starts_with(&expected), "{e}\n  expected {expected}");
    }
    let json = with_provider(
        "",
        &format!(r#","api_keys":{{"keys":{{"{HASH}":{{"subject":"a"}}}}}}"#),
    );
    let keys = Config::from_json(json.as_bytes())
        .unwrap()
        .api_keys
        .unwrap();
    assert_eq!(keys.header, "x-api-key");
    assert!(keys.keys[0].1.roles.is_empty());
}
