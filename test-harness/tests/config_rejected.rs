//! A plugin configuration that breaks a rule is refused at load time: Envoy
//! does not start, and its log names the field path and the problem.

use serde_json::{json, Value};
use test_harness::envoy::validate_bootstrap;
use test_harness::{plugin_config, Bootstrap, Envoy};

const PREFIX: &str = "toolguard: invalid configuration:";

/// A valid provider `p`, for configurations that break one thing elsewhere.
fn provider() -> Value {
    plugin_config::local_provider()
}

/// Starts Envoy with `config` (verbatim), expects it to refuse, and returns
/// the refusal (which holds the end of Envoy's log).
fn refused(config: &str) -> String {
    match Envoy::start(&Bootstrap::new().plugin_config_text(config)) {
        Ok(envoy) => panic!(
            "Envoy started with a bad configuration:\n{config}\nlog:\n{}",
            envoy.log_tail(30)
        ),
        Err(e) => e.to_string(),
    }
}

/// The toolguard log line in a refusal.
fn toolguard_line(refusal: &str) -> &str {
    refusal
        .lines()
        .find(|l| l.contains(PREFIX))
        .unwrap_or_else(|| panic!("no {PREFIX:?} line in the Envoy log:\n{refusal}"))
}

fn assert_refused_naming(config: &str, needles: &[&str]) {
    let refusal = refused(config);
    let line = toolguard_line(&refusal);
    for needle in needles {
        assert!(
            line.contains(needle),
            "the refusal should name {needle:?}:\n{line}\n(config: {config})"
        );
    }
    // Exactly one line explains it.
    assert_eq!(
        refusal.matches(PREFIX).count(),
        1,
        "one log line per refusal:\n{refusal}"
    );
}

#[test]
fn unknown_top_level_field() {
    let config = json!({"providers": {"p": provider()}, "bypasss": []});
    assert_refused_naming(&config.to_string(), &["bypasss"]);
}

#[test]
fn unknown_field_inside_a_provider_names_its_path() {
    let mut p = provider();
    p["isuer"] = json!("https://typo.example");
    let config = json!({"providers": {"p": p}});
    assert_refused_naming(&config.to_string(), &["providers.p", "isuer"]);
}

#[test]
fn no_providers() {
    assert_refused_naming(r#"{"providers":{}}"#, &["providers"]);
}

#[test]
fn both_local_and_remote_jwks() {
    let mut p = provider();
    p["remote_jwks"] = json!({
        "http_uri": {"uri": "http://127.0.0.1:9/jwks.json", "cluster": "jwks", "timeout": "5s"}
    });
    let config = json!({"providers": {"p": p}});
    assert_refused_naming(
        &config.to_string(),
        &["providers.p", "remote_jwks", "local_jwks"],
    );
}

#[test]
fn algorithm_none() {
    let mut p = provider();
    p["algorithms"] = json!(["none"]);
    let config = json!({"providers": {"p": p}});
    assert_refused_naming(&config.to_string(), &["providers.p.algorithms[0]", "none"]);
}

#[test]
fn more_than_20_agentcore_header_mappings() {
    // 10 forwarded + 10 claims + the allowed-tools header = 21.
    let forward: serde_json::Map<String, Value> = (0..10)
        .map(|i| (format!("x-in-{i}"), json!(format!("In-{i}"))))
        .collect();
    let claims: serde_json::Map<String, Value> = (0..10)
        .map(|i| (format!("claim{i}"), json!(format!("Claim-{i}"))))
        .collect();
    let config = json!({
        "providers": {"p": provider()},
        "tools": {"roles": {"r": ["*"]}},
        "agentcore": {
            "forward_headers": forward,
            "claims_to_headers": claims,
            "allowed_tools_header": "Allowed-Tools",
        },
    });
    assert_refused_naming(&config.to_string(), &["agentcore", "21"]);
}

#[test]
fn exactly_20_agentcore_header_mappings_are_accepted() {
    // The boundary next to the test above: 20 is allowed.
    let forward: serde_json::Map<String, Value> = (0..10)
        .map(|i| (format!("x-in-{i}"), json!(format!("In-{i}"))))
        .collect();
    let claims: serde_json::Map<String, Value> = (0..9)
        .map(|i| (format!("claim{i}"), json!(format!("Claim-{i}"))))
        .collect();
    let config = json!({
        "providers": {"p": provider()},
        "tools": {"roles": {"r": ["*"]}},
        "agentcore": {
            "forward_headers": forward,
            "claims_to_headers": claims,
            "allowed_tools_header": "Allowed-Tools",
        },
    });
    let envoy = Envoy::start(&Bootstrap::new().plugin_config_json(&config))
        .unwrap_or_else(|e| panic!("20 mappings must be accepted: {e}"));
    assert!(!envoy.log_text().contains(PREFIX));
}

#[test]
fn text_that_is_not_json() {
    let refusal = refused("providers: {p: {}}");
    toolguard_line(&refusal);
}

#[test]
fn envoy_validate_mode_runs_the_same_check() {
    let good = Bootstrap::new().plugin_config_json(&plugin_config::passthrough());
    validate_bootstrap(&good).unwrap_or_else(|e| panic!("a valid config must validate: {e}"));

    let mut p = provider();
    p["algorithms"] = json!(["none"]);
    let bad = Bootstrap::new().plugin_config_json(&json!({"providers": {"p": p}}));
    let err = validate_bootstrap(&bad)
        .expect_err("validate must fail")
        .to_string();
    assert!(
        err.contains("providers.p.algorithms[0]"),
        "validate output should name the field:\n{err}"
    );
}
