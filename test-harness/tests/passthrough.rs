//! With a valid configuration that demands no token (every path bypassed, no
//! `tools`), requests and responses cross the real Envoy + filter unchanged.

use std::time::Duration;

use serde_json::{json, Value};
use test_harness::client::{self, BodyEnding};
use test_harness::{paths, plugin_config, BodyEnd, Chunking, Envoy, MockAgent, Reply};

mod common;

const WAIT: Duration = Duration::from_secs(10);

fn start(agent: &MockAgent) -> Envoy {
    common::start_envoy(agent, &plugin_config::passthrough())
}

#[test]
fn get_reaches_the_echo_upstream_with_the_request_headers() {
    let agent = MockAgent::start().unwrap();
    let envoy = start(&agent);
    for h2c in [false, true] {
        let mut req = client::get(&envoy.url("/v1/echo?q=1"))
            .header("x-test", "one")
            .header("accept-language", "de-CH");
        if h2c {
            req = req.h2c();
        }
        let resp = req.send_blocking().unwrap();
        assert_eq!(resp.status, 200, "h2c={h2c}: {}", resp.text());
        assert_eq!(resp.ending, BodyEnding::Complete);
        assert_eq!(resp.header("content-type"), Some("application/json"));
        let echo: Value = resp.json().unwrap();
        assert_eq!(echo["method"], "GET");
        assert_eq!(echo["path"], "/v1/echo?q=1");
        assert_eq!(echo["headers"]["x-test"], "one");
        assert_eq!(echo["headers"]["accept-language"], "de-CH");
        assert_eq!(
            echo["headers"][":authority"],
            Value::Null,
            "pseudo-headers are not headers"
        );
        assert!(echo["headers"]["host"].is_string(), "{echo}");
    }
    // What reached the upstream, as recorded by the mock.
    let seen = agent.wait_requests(2, WAIT).unwrap();
    assert!(seen.iter().all(|r| r.header("x-test") == Some("one")));
    assert_eq!(seen[0].path, "/v1/echo?q=1");
    assert_eq!(envoy.counter("cluster.agent.upstream_rq_200"), Some(2));
    assert_eq!(
        envoy.counter("http.ingress.downstream_rq_http2_total"),
        Some(1)
    );
}

#[test]
fn post_body_and_repeated_headers_reach_the_upstream() {
    let agent = MockAgent::start().unwrap();
    let envoy = start(&agent);
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let resp = client::post(&envoy.url("/mcp"))
        .json(&body)
        .header("x-multi", "a")
        .header("x-multi", "b")
        .send_blocking()
        .unwrap();
    assert_eq!(resp.status, 200, "{}", resp.text());
    let echo = resp.json().unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["body"], body.to_string());
    assert_eq!(echo["headers"]["content-type"], "application/json");
    let req = agent.last_request().unwrap();
    assert_eq!(
        req.header_values("x-multi").join(","),
        "a,b",
        "{:?}",
        req.headers
    );
}

#[test]
fn sse_fixture_sent_one_byte_at_a_time_arrives_byte_identical() {
    let fixture = paths::fixture("streams/anthropic_messages_tool_use.sse").unwrap();
    let agent = MockAgent::start().unwrap();
    agent.route(
        "/stream",
        Reply::sse(fixture.clone()).chunking(Chunking::bytewise()),
    );
    let envoy = start(&agent);
    let resp = client::get(&envoy.url("/stream")).send_blocking().unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("text/event-stream"));
    assert_eq!(resp.ending, BodyEnding::Complete);
    assert_eq!(
        resp.body.as_ref(),
        fixture.as_slice(),
        "body changed on the way"
    );
    let upstream = agent.last_request().unwrap();
    assert_eq!(upstream.wait_body_end(WAIT), Some(BodyEnd::Completed));
    assert_eq!(upstream.bytes_sent(), fixture.len());
}

#[test]
fn every_stream_fixture_passes_unchanged_in_random_chunks() {
    let dir = paths::fixtures_dir().unwrap().join("streams");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sse"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "fixtures missing in {}", dir.display());
    let agent = MockAgent::start().unwrap();
    for (i, file) in files.iter().enumerate() {
        let body = std::fs::read(file).unwrap();
        agent.route(
            &format!("/s/{i}"),
            Reply::sse(body).chunking(Chunking::Random {
                seed: i as u64,
                max: 97,
            }),
        );
    }
    let envoy = start(&agent);
    for (i, file) in files.iter().enumerate() {
        let expected = std::fs::read(file).unwrap();
        // Alternate protocols downstream, so h2c framing is covered too.
        let mut req = client::get(&envoy.url(&format!("/s/{i}")));
        if i % 2 == 1 {
            req = req.h2c();
        }
        let resp = req.send_blocking().unwrap();
        assert_eq!(resp.status, 200, "{}", file.display());
        assert_eq!(resp.ending, BodyEnding::Complete, "{}", file.display());
        assert!(
            resp.body.as_ref() == expected.as_slice(),
            "{} changed on the way ({} bytes in, {} out)",
            file.display(),
            expected.len(),
            resp.body.len()
        );
    }
}

#[test]
fn sse_over_an_http2_upstream_with_paced_chunks_is_unchanged() {
    let fixture = paths::fixture("streams/gemini_stream_function_call_gemini2flash.sse").unwrap();
    let agent = MockAgent::start().unwrap();
    agent.set_default(
        Reply::sse(fixture.clone())
            .chunking(Chunking::Fixed(50))
            .delay(Duration::from_millis(5)),
    );
    let envoy = common::start_envoy_with(agent.addr(), &plugin_config::passthrough(), |b| {
        b.upstream_http2(true)
    });
    let resp = client::get(&envoy.url("/gemini")).send_blocking().unwrap();
    assert_eq!(resp.body.as_ref(), fixture.as_slice());
    assert_eq!(agent.last_request().unwrap().version, "HTTP/2.0");
}

#[test]
fn an_upstream_reset_mid_body_reaches_the_client_as_a_broken_stream() {
    let fixture = paths::fixture("streams/openai_chat_single_tool_call.sse").unwrap();
    let agent = MockAgent::start().unwrap();
    agent.set_default(Reply::sse(fixture.clone()).reset_after(1000));
    let envoy = start(&agent);
    let resp = client::get(&envoy.url("/cut")).send_blocking().unwrap();
    assert_eq!(resp.status, 200);
    assert!(
        matches!(resp.ending, BodyEnding::Error(_)),
        "a reset upstream must not look like a finished stream: {:?}",
        resp.ending
    );
    // Envoy may or may not flush the bytes before the reset reaches the client (it
    // depends on timing); what arrives must be the start of what was sent, no more.
    assert!(
        fixture[..1000].starts_with(resp.body.as_ref()),
        "got {} bytes that are not a prefix of the first 1000 sent",
        resp.body.len()
    );
    assert_eq!(
        agent.last_request().unwrap().wait_body_end(WAIT),
        Some(BodyEnd::Reset)
    );
}

#[test]
fn a_client_that_goes_away_cancels_the_upstream_stream() {
    let agent = MockAgent::start().unwrap();
    agent.set_default(Reply::keep_streaming(
        Duration::from_millis(50),
        Duration::from_secs(30),
    ));
    let envoy = start(&agent);
    let mut stream = client::get(&envoy.url("/forever")).open_blocking().unwrap();
    assert_eq!(stream.status, 200);
    let first = stream.next_chunk_blocking(WAIT).unwrap().unwrap();
    assert!(first.starts_with(b"data: "), "{first:?}");
    assert_eq!(
        agent.last_request().unwrap().body_end(),
        None,
        "still streaming"
    );
    drop(stream);
    assert!(
        agent.wait_client_gone(0, WAIT),
        "the upstream never noticed: {:?}",
        agent.last_request().unwrap().body_end()
    );
}
