//! The module is built with wasm SIMD (`simd128`, `.cargo/config.toml`) and
//! Envoy's V8 runs it: the module's code holds SIMD instructions (binaryen's
//! validator refuses it with SIMD off), Envoy loads it, and a long stream,
//! searched by memchr's SIMD code on every chunk, is policed exactly: passed
//! byte for byte when its tool is allowed, cut at its tool-call frame when not.
//!
//! The rest of the real-Envoy suite runs the same module, so every policing
//! test is also a test of the SIMD searches in Envoy.

mod common;

use std::process::Command;
use std::time::Duration;

use serde_json::json;
use test_harness::client::{self, BodyEnding};
use test_harness::{paths, Chunking, Key, MockAgent, Reply, Token};

use common::sse::denied_event;
use common::{assert_counter, show, start_envoy};

/// The features scripts/build's wasm-opt enables, SIMD left out.
const FEATURES_BUT_SIMD: &[&str] = &[
    "--mvp-features",
    "--enable-bulk-memory",
    "--enable-sign-ext",
    "--enable-nontrapping-float-to-int",
    "--enable-mutable-globals",
];

/// binaryen's validator on the module, with these features: (valid, its output).
fn validate(features: &[&str]) -> (bool, String) {
    let module = paths::require_wasm().unwrap();
    let out = Command::new("wasm-opt")
        .args(features)
        .arg(&module)
        .args(["-o", "/dev/null"])
        .output()
        .unwrap_or_else(|e| panic!("wasm-opt (binaryen; scripts/build installs it): {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_module_holds_simd_instructions() {
    let (valid, text) = validate(FEATURES_BUT_SIMD);
    assert!(
        !valid && text.contains("SIMD"),
        "the module validates without SIMD, so it was built without simd128: {text}"
    );
    let mut with_simd = FEATURES_BUT_SIMD.to_vec();
    with_simd.push("--enable-simd");
    let (valid, text) = validate(&with_simd);
    assert!(valid, "the module is invalid even with SIMD: {text}");
}

/// About `len` bytes of Anthropic text deltas with one `tool_use` of `tool`
/// after three quarters: (the stream, where the tool-call frame starts).
fn long_stream(len: usize, tool: &str) -> (Vec<u8>, usize) {
    let mut out = String::from("event: message_start\ndata: {\"type\":\"message_start\"}\n\n");
    let mut call_at = None;
    let mut n = 0;
    while out.len() < len {
        if call_at.is_none() && out.len() > len * 3 / 4 {
            call_at = Some(out.len());
            out.push_str(&format!(
                "event: content_block_start\ndata: {{\"type\":\"content_block_start\",\"index\":1,\
                 \"content_block\":{{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"{tool}\",\"input\":{{}}}}}}\n\n"
            ));
        }
        out.push_str(&format!(
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\
             \"delta\":{{\"type\":\"text_delta\",\"text\":\"part {n} of a long answer, \\\"quoted\\\"\\n\"}}}}\n\n"
        ));
        n += 1;
    }
    (out.into_bytes(), call_at.unwrap())
}

#[test]
fn envoys_v8_runs_the_simd_module_and_it_polices_a_long_stream_exactly() {
    let (stream, call_at) = long_stream(512 * 1024, "search");
    let agent = MockAgent::start().unwrap();
    agent.route(
        "/long",
        Reply::sse(stream.clone())
            .chunking(Chunking::Random {
                seed: 7,
                max: 20_000,
            })
            .delay(Duration::from_millis(1)),
    );
    let envoy = start_envoy(
        &agent,
        &json!({
            "providers": {"test": common::provider_with_roles()},
            "tools": {"roles": {"searcher": ["search"]}, "default": []},
        }),
    );
    let fetch = |groups: &[&str]| {
        client::post(&envoy.url("/long"))
            .bearer(&Token::standard(Key::Rsa1).groups(groups).mint())
            .timeout(Duration::from_secs(30))
            .body("{}")
            .send_blocking()
            .unwrap()
    };

    let allowed = fetch(&["searcher"]);
    assert_eq!(allowed.status, 200);
    assert_eq!(allowed.ending, BodyEnding::Complete);
    assert!(
        allowed.body.as_ref() == stream.as_slice(),
        "the allowed stream changed: sent {} bytes, got {}",
        stream.len(),
        show(&allowed.body[..allowed.body.len().min(200)])
    );
    assert_counter(&envoy, "toolguard.tools.allowed", 1);

    let denied = fetch(&[]);
    let mut want = stream[..call_at].to_vec();
    want.extend_from_slice(denied_event("search").as_bytes());
    assert_eq!(denied.status, 200);
    assert!(
        denied.body.as_ref() == want.as_slice(),
        "cut elsewhere than at the tool call: want {} bytes, got {}",
        want.len(),
        denied.body.len()
    );
    assert_counter(&envoy, "toolguard.tools.denied", 1);
}
