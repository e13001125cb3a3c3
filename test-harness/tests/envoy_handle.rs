//! The Envoy handle itself: clear failures, admin access, stats and logs.

use std::time::Duration;

use serde_json::json;
use test_harness::client;
use test_harness::{plugin_config, Bootstrap, Envoy, MockAgent};

mod common;

use common::Stack;

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn a_missing_filter_module_says_how_to_build_it() {
    let err = Envoy::start(&Bootstrap::new().wasm("/nonexistent/toolguard.wasm"))
        .err()
        .expect("must not start without the module")
        .to_string();
    assert!(err.contains("/nonexistent/toolguard.wasm"), "{err}");
    assert!(err.contains("build it with scripts/build"), "{err}");
}

#[test]
fn admin_stats_and_logs_are_reachable() {
    let agent = MockAgent::start().unwrap();
    let envoy = Envoy::start(
        &Bootstrap::new()
            .upstream(agent.addr())
            .concurrency(1)
            .component_log_level("wasm", "debug"),
    )
    .unwrap();
    assert_eq!(envoy.admin_get("/ready").unwrap(), (200, "LIVE\n".into()));
    assert!(envoy.admin_url("/stats").starts_with("http://127.0.0.1:"));

    let stats = envoy.stats().unwrap();
    assert_eq!(stats.get("server.live"), Some(&1));
    assert_eq!(stats.get("server.concurrency"), Some(&1));
    assert!(envoy.prometheus().unwrap().contains("envoy_server_live"));

    let resp = client::get(&envoy.url("/logged-path"))
        .send_blocking()
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(
        envoy
            .wait_counter("cluster.agent.upstream_rq_completed", 1, WAIT)
            .unwrap(),
        1
    );
    // The access log goes to Envoy's stdout, captured in the same log file.
    assert!(
        envoy.wait_log("/logged-path", WAIT),
        "{}",
        envoy.log_tail(20)
    );
    assert!(envoy.log_text().contains("[wasm]"), "wasm component logs");
    assert!(envoy
        .wait_counter(
            "cluster.agent.upstream_rq_completed",
            5,
            Duration::from_millis(200)
        )
        .is_err());
}

#[test]
fn stack_starts_with_a_remote_jwks_provider() {
    let stack = Stack::start(|jwks| {
        json!({
            "providers": {"test": plugin_config::remote_provider(&jwks.uri(), plugin_config::JWKS_CLUSTER)},
            "bypass": [{"prefix": "/"}],
        })
    });
    let resp = client::get(&stack.url("/through")).send_blocking().unwrap();
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(stack.agent.last_request().unwrap().path, "/through");
    assert!(stack
        .envoy
        .counter("cluster.jwks.upstream_cx_connect_fail")
        .is_some());
}
