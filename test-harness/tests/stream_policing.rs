//! SPEC "Response policing", black-box through the real Envoy: each fixture
//! stream passes byte-identical when its tools are allowed and is cut exactly at
//! its first tool-call frame when not; the filter never buffers; a cut ends the
//! client's response and cancels the upstream; oversized frames and encoded
//! streams end with a `stream_error`; other content types pass unchanged; and the
//! official Anthropic and OpenAI SDKs see the tool call, or raise the denial.
//!
//! Where the cut must fall is computed here from the fixture, by the test's own
//! event-stream reader (`common::sse`), and checked against the tool names read
//! off the fixtures by hand.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value};
use test_harness::client::{self, BodyEnding, Response};
use test_harness::{paths, plugin_config, BodyEnd, Chunking, Envoy, Key, MockAgent, Reply, Token};

use common::sse::{self, denied_event};
use common::{
    assert_counter, counter, provider_with_roles, show, start_envoy, stream_fixtures, token,
};

const WAIT: Duration = Duration::from_secs(20);

/// The first tool each fixture calls, read off the files by hand.
const FIRST_TOOL: &[(&str, &str)] = &[
    ("agentcore_strands_tool_use.sse", "calculator"),
    (
        "anthropic_messages_server_tool_use_fixture.sse",
        "web_search",
    ),
    ("anthropic_messages_tool_use.sse", "get_weather"),
    (
        "gemini_stream_function_call_gemini2flash.sse",
        "get_capital",
    ),
    (
        "gemini_stream_function_call_gemini3_thought_signature.sse",
        "get_country",
    ),
    ("openai_chat_non_strict_tool_call.sse", "get_weather"),
    ("openai_chat_parallel_tool_calls.sse", "GetWeatherArgs"),
    ("openai_chat_single_tool_call.sse", "get_weather"),
    ("openai_responses_function_call_gpt4o.sse", "get_capital"),
    (
        "openai_responses_function_call_with_reasoning_seqnum.sse",
        "final_result",
    ),
    ("openai_responses_hosted_mcp_call.sse", "ask_question"),
];

fn fixture(name: &str) -> Vec<u8> {
    paths::fixture(&format!("streams/{name}")).unwrap()
}

/// `tools` with these roles; the test provider reads roles from `cognito:groups`.
fn config(tools: Value) -> Value {
    json!({"providers": {"test": provider_with_roles()}, "tools": tools})
}

/// Where the filter must cut `stream` for a caller allowed only `allowed`: the
/// byte offset of the first frame that starts a call of another tool, and
/// that tool's name.
fn cut_point(stream: &[u8], allowed: &[&str]) -> (usize, String) {
    for f in sse::frames(stream) {
        let names = sse::tool_calls(&f);
        if let Some(denied) = names.iter().find(|n| !allowed.contains(&n.as_str())) {
            return (f.range.start, denied.clone());
        }
    }
    panic!("no denied tool call in the stream");
}

fn expected_cut(stream: &[u8], allowed: &[&str]) -> Vec<u8> {
    let (at, tool) = cut_point(stream, allowed);
    let mut out = stream[..at].to_vec();
    out.extend_from_slice(denied_event(&tool).as_bytes());
    out
}

/// POSTs `{}` with the token (HTTP/1.1 or h2c) and reads the whole answer.
fn fetch(envoy: &Envoy, path: &str, token: &str, h2c: bool) -> Response {
    let mut req = client::post(&envoy.url(path))
        .bearer(token)
        .timeout(WAIT)
        .body("{}");
    if h2c {
        req = req.h2c();
    }
    req.send_blocking().unwrap()
}

#[test]
fn the_tests_own_reader_finds_the_known_first_tool_of_every_fixture() {
    let fixtures = stream_fixtures();
    assert_eq!(
        fixtures.len(),
        FIRST_TOOL.len(),
        "a fixture was added or removed: update FIRST_TOOL"
    );
    for (name, bytes) in &fixtures {
        let want = FIRST_TOOL
            .iter()
            .find(|(f, _)| f == name)
            .unwrap_or_else(|| panic!("{name} missing from FIRST_TOOL"))
            .1;
        let frames = sse::frames(bytes);
        // The frames tile the stream.
        let mut at = 0;
        for f in &frames {
            assert_eq!(f.range.start, at, "{name}");
            at = f.range.end;
        }
        assert_eq!(at, bytes.len(), "{name}");
        let (_, frame, names) = sse::first_tool_frame(bytes).unwrap();
        assert_eq!(names, vec![want.to_string()], "{name}");
        // The frame that holds the call names the tool; nothing before it
        // starts a call.
        let raw = &bytes[frame.range.clone()];
        assert!(
            String::from_utf8_lossy(raw).contains(want),
            "{name}: {}",
            show(raw)
        );
        assert!(frame.terminated, "{name}");
    }
}

/// Routes `/s/<i>` to fixture `i`, cut by `chunking(i)` and paced so Envoy sees
/// the chunks one by one.
fn route_fixtures(
    agent: &MockAgent,
    fixtures: &[(String, Vec<u8>)],
    chunking: impl Fn(usize) -> Chunking,
) {
    for (i, (_, bytes)) in fixtures.iter().enumerate() {
        agent.route(
            &format!("/s/{i}"),
            Reply::sse(bytes.clone())
                .chunking(chunking(i))
                .delay(Duration::from_millis(1)),
        );
    }
}

#[test]
fn every_fixture_arrives_byte_identical_when_its_tools_are_allowed() {
    let fixtures = stream_fixtures();
    let mut all: Vec<String> = Vec::new();
    for (_, bytes) in &fixtures {
        for n in sse::all_tool_names(bytes) {
            if !all.contains(&n) {
                all.push(n);
            }
        }
    }
    let agent = MockAgent::start().unwrap();
    route_fixtures(&agent, &fixtures, |i| Chunking::Random {
        seed: 100 + i as u64,
        max: 97,
    });
    let envoy = start_envoy(
        &agent,
        &config(json!({"roles": {"all": all, "other": ["x"]}, "default": []})),
    );
    let token = token(&["other", "all"]);
    for (i, (name, bytes)) in fixtures.iter().enumerate() {
        let before = counter(&envoy, "toolguard.tools.allowed");
        let resp = fetch(&envoy, &format!("/s/{i}"), &token, i % 2 == 1);
        assert_eq!(resp.status, 200, "{name}: {}", resp.text());
        assert_eq!(resp.ending, BodyEnding::Complete, "{name}");
        assert!(
            resp.body.as_ref() == bytes.as_slice(),
            "{name} changed on the way: sent {}, got {}",
            bytes.len(),
            show(&resp.body)
        );
        assert!(
            counter(&envoy, "toolguard.tools.allowed") > before,
            "{name}: toolguard.tools.allowed did not increase"
        );
        assert_eq!(
            agent.last_request().unwrap().wait_body_end(WAIT),
            Some(BodyEnd::Completed),
            "{name}"
        );
    }
    assert_counter(&envoy, "toolguard.tools.denied", 0);
    assert_counter(&envoy, "toolguard.streams.cut", 0);
}

/// Requests every fixture with a token allowed none of its tools and checks
/// each cut, and the counters after each.
fn check_denied(envoy: &Envoy, agent: &MockAgent, fixtures: &[(String, Vec<u8>)], token: &str) {
    let denied0 = counter(envoy, "toolguard.tools.denied");
    let cut0 = counter(envoy, "toolguard.streams.cut");
    for (i, (name, bytes)) in fixtures.iter().enumerate() {
        let expected = expected_cut(bytes, &[]);
        let started = Instant::now();
        let resp = fetch(envoy, &format!("/s/{i}"), token, i % 2 == 0);
        assert_eq!(resp.status, 200, "{name}: {}", resp.text());
        assert_ne!(
            resp.ending,
            BodyEnding::TimedOut,
            "{name}: the response did not end ({:?})",
            started.elapsed()
        );
        assert!(
            resp.body.as_ref() == expected.as_slice(),
            "{name}: expected {}\n got {}",
            show(&expected),
            show(&resp.body)
        );
        assert_counter(envoy, "toolguard.tools.denied", denied0 + i as u64 + 1);
        assert_counter(envoy, "toolguard.streams.cut", cut0 + i as u64 + 1);
        // Whatever the upstream had left to send was not waited for.
        assert!(
            agent.last_request().unwrap().wait_body_end(WAIT).is_some(),
            "{name}: the upstream response never ended"
        );
    }
}

#[test]
fn every_fixture_is_cut_at_its_first_tool_frame_when_denied() {
    let fixtures = stream_fixtures();
    let agent = MockAgent::start().unwrap();
    route_fixtures(&agent, &fixtures, |i| Chunking::Random {
        seed: 7 + i as u64,
        max: 61,
    });
    let envoy = start_envoy(
        &agent,
        &config(json!({"roles": {"readers": ["read_*"]}, "default": ["time_now"]})),
    );
    check_denied(&envoy, &agent, &fixtures, &token(&["readers"]));
}

#[test]
fn fixtures_sent_one_byte_at_a_time_are_cut_and_passed_exactly() {
    let fixtures: Vec<(String, Vec<u8>)> = [
        "anthropic_messages_tool_use.sse",
        "gemini_stream_function_call_gemini2flash.sse",
        "openai_chat_single_tool_call.sse",
    ]
    .iter()
    .map(|n| (n.to_string(), fixture(n)))
    .collect();
    let agent = MockAgent::start().unwrap();
    route_fixtures(&agent, &fixtures, |_| Chunking::bytewise());
    let envoy = start_envoy(
        &agent,
        &config(json!({"roles": {"weather": ["get_weather", "get_capital"]}})),
    );
    // Denied: cut exactly.
    check_denied(&envoy, &agent, &fixtures, &token(&[]));
    // Allowed: unchanged, although no chunk ever held a whole frame.
    for (i, (name, bytes)) in fixtures.iter().enumerate() {
        let resp = fetch(&envoy, &format!("/s/{i}"), &token(&["weather"]), i == 1);
        assert_eq!(resp.ending, BodyEnding::Complete, "{name}");
        assert!(
            resp.body.as_ref() == bytes.as_slice(),
            "{name}: {}",
            show(&resp.body)
        );
    }
}

#[test]
fn tools_default_applies_to_a_caller_without_roles() {
    let weather = fixture("anthropic_messages_tool_use.sse");
    let parallel = fixture("openai_chat_parallel_tool_calls.sse");
    let agent = MockAgent::start().unwrap();
    for (path, body) in [("/weather", &weather), ("/parallel", &parallel)] {
        agent.route(
            path,
            Reply::sse(body.clone())
                .chunking(Chunking::Random { seed: 3, max: 200 })
                .delay(Duration::from_millis(1)),
        );
    }
    let envoy = start_envoy(
        &agent,
        &config(
            json!({"roles": {"stocks": ["get_stock_*"]}, "default": ["get_weather", "GetWeatherArgs"]}),
        ),
    );
    let nobody = Token::standard(Key::Ec1).mint();
    let resp = fetch(&envoy, "/weather", &nobody, false);
    assert_eq!(resp.body.as_ref(), weather.as_slice());
    // The first of the two parallel calls is allowed by default, the second
    // is not: the cut falls at the second call's first fragment.
    let resp = fetch(&envoy, "/parallel", &nobody, true);
    let expected = expected_cut(&parallel, &["GetWeatherArgs"]);
    assert_eq!(
        cut_point(&parallel, &["GetWeatherArgs"]).1,
        "get_stock_price"
    );
    assert!(
        resp.body.as_ref() == expected.as_slice(),
        "expected {}\n got {}",
        show(&expected),
        show(&resp.body)
    );
    // With the role, both calls pass.
    let resp = fetch(&envoy, "/parallel", &token(&["stocks"]), false);
    assert_eq!(resp.ending, BodyEnding::Complete);
    assert!(resp.body.as_ref() == parallel.as_slice());
    assert_counter(&envoy, "toolguard.tools.denied", 1);
    assert_counter(&envoy, "toolguard.streams.cut", 1);
}

#[test]
fn complete_frames_are_forwarded_before_the_upstream_sends_more() {
    let stream = fixture("openai_chat_single_tool_call.sse");
    let frames = sse::frames(&stream);
    let first = frames[0].range.end;
    // The first chunk is the first frame and a piece of the second; the rest
    // comes 4 s later.
    let first_chunk = first + 10;
    let agent = MockAgent::start().unwrap();
    agent.route(
        "/slow",
        Reply::sse(stream.clone())
            .chunking(Chunking::Sizes(vec![first_chunk]))
            .delay(Duration::from_secs(4)),
    );
    let envoy = start_envoy(
        &agent,
        &config(json!({"roles": {"weather": ["get_weather"]}})),
    );
    for h2c in [false, true] {
        let mut req = client::post(&envoy.url("/slow"))
            .bearer(&token(&["weather"]))
            .body("{}");
        if h2c {
            req = req.h2c();
        }
        let mut resp = req.open_blocking().unwrap();
        assert_eq!(resp.status, 200);
        let mut got = Vec::new();
        while got.len() < first {
            match resp.next_chunk_blocking(WAIT) {
                Ok(Some(c)) => got.extend_from_slice(&c),
                other => panic!("h2c={h2c}: first frame not received: {other:?}"),
            }
        }
        let received_at = Instant::now();
        let upstream = agent.last_request().unwrap();
        // Ordering, not timing: when the first frame reached the client the
        // upstream had sent only its first chunk and was still going.
        assert_eq!(
            upstream.bytes_sent(),
            first_chunk,
            "h2c={h2c}: the upstream already sent more"
        );
        assert_eq!(upstream.body_end(), None, "h2c={h2c}");
        // Exactly the complete frame: the incomplete tail is held back.
        assert_eq!(got, &stream[..first], "h2c={h2c}");
        let rest = resp.read_to_end_blocking(WAIT);
        assert_eq!(rest.ending, BodyEnding::Complete, "h2c={h2c}");
        let ended = upstream.body_ended_at().expect("upstream finished");
        assert!(received_at < ended, "h2c={h2c}");
        let mut all = got.clone();
        all.extend_from_slice(&rest.body);
        assert!(all == stream, "h2c={h2c}: {}", show(&all));
    }
}

/// The stream up to the end of its first tool frame.
fn through_first_tool_frame(stream: &[u8]) -> Vec<u8> {
    let (_, frame, _) = sse::first_tool_frame(stream).unwrap();
    stream[..frame.range.end].to_vec()
}

#[test]
fn a_cut_ends_the_response_and_cancels_an_upstream_that_keeps_streaming() {
    let stream = fixture("anthropic_messages_tool_use.sse");
    let head = through_first_tool_frame(&stream);
    let agent = MockAgent::start().unwrap();
    agent.route(
        "/forever",
        Reply::sse(head.clone())
            .chunking(Chunking::Random { seed: 5, max: 80 })
            .delay(Duration::from_millis(2))
            .then_keep_streaming(Duration::from_millis(100), Duration::from_secs(30)),
    );
    let envoy = start_envoy(&agent, &config(json!({"roles": {}})));
    let expected = expected_cut(&stream, &[]);
    for (n, h2c) in [false, true].into_iter().enumerate() {
        let started = Instant::now();
        let resp = fetch(&envoy, "/forever", &token(&[]), h2c);
        let took = started.elapsed();
        assert_ne!(resp.ending, BodyEnding::TimedOut, "h2c={h2c}");
        assert!(took < Duration::from_secs(10), "h2c={h2c}: took {took:?}");
        assert!(
            resp.body.as_ref() == expected.as_slice(),
            "h2c={h2c}: {}",
            show(&resp.body)
        );
        assert!(
            agent.wait_client_gone(n, Duration::from_secs(10)),
            "h2c={h2c}: the upstream was not cancelled: {:?}",
            agent.requests()[n].body_end()
        );
    }
    assert_counter(&envoy, "toolguard.streams.cut", 2);
}

#[test]
fn a_cut_ends_the_response_and_cancels_an_upstream_that_goes_quiet() {
    let stream = fixture("openai_chat_single_tool_call.sse");
    let head = through_first_tool_frame(&stream);
    let agent = MockAgent::start().unwrap();
    // Everything through the tool frame, then nothing for 60 s: only the
    // filter's own timer can end the stream.
    agent.route(
        "/quiet",
        Reply::sse(stream.clone())
            .chunking(Chunking::Sizes(vec![head.len()]))
            .delay(Duration::from_secs(60)),
    );
    let envoy = start_envoy(&agent, &config(json!({"roles": {}})));
    let expected = expected_cut(&stream, &[]);
    for (n, h2c) in [false, true].into_iter().enumerate() {
        let started = Instant::now();
        let resp = fetch(&envoy, "/quiet", &token(&[]), h2c);
        let took = started.elapsed();
        assert_ne!(resp.ending, BodyEnding::TimedOut, "h2c={h2c}");
        assert!(took < Duration::from_secs(10), "h2c={h2c}: took {took:?}");
        assert!(
            resp.body.as_ref() == expected.as_slice(),
            "h2c={h2c}: {}",
            show(&resp.body)
        );
        assert!(
            agent.wait_client_gone(n, Duration::from_secs(10)),
            "h2c={h2c}: the upstream was not cancelled: {:?}",
            agent.requests()[n].body_end()
        );
    }
}

/// Checks that `body` is `before` followed by exactly one `stream_error` event.
fn assert_stream_error(body: &[u8], before: &[u8]) {
    assert!(body.starts_with(before), "{}", show(body));
    let rest = &body[before.len()..];
    let frames = sse::frames(rest);
    assert_eq!(
        frames.len(),
        1,
        "one event after the forwarded part: {}",
        show(rest)
    );
    assert!(frames[0].terminated);
    assert!(rest.starts_with(b"event: error\ndata: "), "{}", show(rest));
    assert_eq!(frames[0].events, vec!["error"]);
    let data: Value = serde_json::from_str(&frames[0].data).unwrap();
    assert_eq!(data["type"], "error", "{data}");
    assert_eq!(data["error"]["type"], "stream_error", "{data}");
    assert!(data["error"]["message"].is_string(), "{data}");
    assert!(
        String::from_utf8_lossy(rest).contains("\"type\":\"stream_error\""),
        "{}",
        show(rest)
    );
}

#[test]
fn a_frame_over_max_frame_bytes_ends_the_stream_with_a_stream_error() {
    let small = b"event: ping\ndata: {\"type\":\"ping\"}\n\n".to_vec();
    let mut stream = small.clone();
    stream.extend_from_slice(b"data: {\"type\":\"content_block_delta\",\"text\":\"");
    stream.extend(std::iter::repeat_n(b'x', 2000));
    stream.extend_from_slice(b"\"}\n\ndata: {\"type\":\"after\"}\n\n");
    let agent = MockAgent::start().unwrap();
    agent.route(
        "/pieces",
        Reply::sse(stream.clone())
            .chunking(Chunking::Fixed(100))
            .delay(Duration::from_millis(2)),
    );
    agent.route("/whole", Reply::sse(stream.clone()));
    let envoy = start_envoy(
        &agent,
        &config(json!({"roles": {}, "default": ["*"], "max_frame_bytes": 1024})),
    );
    for (n, path) in ["/pieces", "/whole"].into_iter().enumerate() {
        let resp = fetch(&envoy, path, &token(&[]), n == 1);
        assert_eq!(resp.status, 200);
        assert_ne!(resp.ending, BodyEnding::TimedOut, "{path}");
        assert_stream_error(&resp.body, &small);
        assert!(!resp.text().contains("xxxx"), "{path}: {}", resp.text());
        assert_counter(&envoy, "toolguard.streams.cut", n as u64 + 1);
    }
    assert_counter(&envoy, "toolguard.tools.denied", 0);
    // A frame just under the limit passes.
    let mut fits = b"data: ".to_vec();
    fits.extend(std::iter::repeat_n(b'y', 900));
    fits.extend_from_slice(b"\n\n");
    agent.route(
        "/fits",
        Reply::sse(fits.clone()).chunking(Chunking::Fixed(100)),
    );
    let resp = fetch(&envoy, "/fits", &token(&[]), false);
    assert_eq!(resp.body.as_ref(), fits.as_slice());
}

#[test]
fn a_content_encoded_event_stream_ends_with_a_stream_error() {
    let stream = fixture("anthropic_messages_tool_use.sse");
    // What the bytes are does not matter: the filter cannot read them.
    let agent = MockAgent::start().unwrap();
    agent.route(
        "/gzip",
        Reply::sse(stream.clone())
            .header("content-encoding", "gzip")
            .chunking(Chunking::Fixed(500))
            .delay(Duration::from_millis(5)),
    );
    let envoy = start_envoy(&agent, &config(json!({"roles": {}, "default": ["*"]})));
    let resp = fetch(&envoy, "/gzip", &token(&[]), false);
    assert_eq!(resp.status, 200);
    assert_ne!(resp.ending, BodyEnding::TimedOut);
    assert_stream_error(&resp.body, b"");
    assert_eq!(resp.header("content-length"), None);
    assert_counter(&envoy, "toolguard.streams.cut", 1);
}

#[test]
fn the_stream_error_for_an_encoded_stream_is_not_labelled_as_encoded() {
    // The client gets a plain-text error event; if the response still said
    // `content-encoding: gzip`, a real client (httpx in both SDKs, curl
    // --compressed, browsers) would try to gunzip it and never see the event.
    let agent = MockAgent::start().unwrap();
    agent.set_default(
        Reply::sse(Bytes::from_static(b"\x1f\x8b\x08\x00not really gzip"))
            .header("content-encoding", "gzip"),
    );
    let envoy = start_envoy(&agent, &config(json!({"roles": {}, "default": ["*"]})));
    let resp = fetch(&envoy, "/gzip", &token(&[]), false);
    assert_stream_error(&resp.body, b"");
    let encoding = resp.header("content-encoding").unwrap_or("identity");
    assert!(
        encoding.eq_ignore_ascii_case("identity"),
        "the plain-text error event went out as content-encoding: {encoding}"
    );
}

#[test]
fn other_content_types_pass_unchanged_with_their_length() {
    let tool_json = json!({"type": "content_block_start", "index": 1,
        "content_block": {"type": "tool_use", "id": "toolu_1", "name": "delete_everything", "input": {}}});
    let body = tool_json.to_string();
    let sse_like = fixture("anthropic_messages_tool_use.sse");
    let agent = MockAgent::start().unwrap();
    agent.route(
        "/json",
        Reply::json(&tool_json).header("content-length", &body.len().to_string()),
    );
    agent.route(
        "/text",
        Reply::body("text/plain; charset=utf-8", sse_like.clone())
            .header("content-length", &sse_like.len().to_string())
            .chunking(Chunking::Fixed(300))
            .delay(Duration::from_millis(2)),
    );
    // Not an event stream (the media type is what counts).
    agent.route(
        "/ndjson",
        Reply::body("application/x-ndjson", format!("{body}\n")),
    );
    let envoy = start_envoy(&agent, &config(json!({"roles": {}})));
    let t = token(&[]);
    let resp = fetch(&envoy, "/json", &t, false);
    assert_eq!(resp.body.as_ref(), body.as_bytes());
    assert_eq!(
        resp.header("content-length"),
        Some(body.len().to_string().as_str())
    );
    let resp = fetch(&envoy, "/text", &t, true);
    assert!(
        resp.body.as_ref() == sse_like.as_slice(),
        "{}",
        show(&resp.body)
    );
    assert_eq!(
        resp.header("content-length"),
        Some(sse_like.len().to_string().as_str())
    );
    let resp = fetch(&envoy, "/ndjson", &t, false);
    assert_eq!(resp.text(), format!("{body}\n"));
    assert_eq!(counter(&envoy, "toolguard.tools.denied"), 0);
    assert_eq!(counter(&envoy, "toolguard.streams.cut"), 0);
}

#[test]
fn an_event_stream_with_parameters_is_policed_and_loses_its_length() {
    let stream = fixture("openai_chat_single_tool_call.sse");
    let agent = MockAgent::start().unwrap();
    agent.set_default(
        Reply::body("Text/Event-Stream; charset=utf-8", stream.clone())
            .header("content-length", &stream.len().to_string()),
    );
    let envoy = start_envoy(
        &agent,
        &config(json!({"roles": {"weather": ["get_weather"]}})),
    );
    let resp = fetch(&envoy, "/x", &token(&["weather"]), false);
    assert_eq!(resp.body.as_ref(), stream.as_slice());
    assert_eq!(resp.header("content-length"), None);
    let resp = fetch(&envoy, "/x", &token(&[]), false);
    assert!(
        resp.body.as_ref() == expected_cut(&stream, &[]).as_slice(),
        "{}",
        show(&resp.body)
    );
}

#[test]
fn accept_encoding_is_not_forwarded_when_tools_are_configured() {
    let agent = MockAgent::start().unwrap();
    let envoy = start_envoy(&agent, &config(json!({"roles": {}})));
    let resp = client::post(&envoy.url("/echo"))
        .bearer(&token(&[]))
        .header("accept-encoding", "gzip, br")
        .header("x-other", "kept")
        .send_blocking()
        .unwrap();
    assert_eq!(resp.status, 200, "{}", resp.text());
    let seen = agent.last_request().unwrap();
    assert_eq!(seen.header("accept-encoding"), None, "{:?}", seen.headers);
    assert_eq!(seen.header("x-other"), Some("kept"));
    drop(envoy);
    // Without `tools` it goes through as sent.
    let envoy = start_envoy(&agent, &plugin_config::passthrough());
    client::get(&envoy.url("/echo"))
        .header("accept-encoding", "gzip, br")
        .send_blocking()
        .unwrap();
    assert_eq!(
        agent.last_request().unwrap().header("accept-encoding"),
        Some("gzip, br")
    );
}

#[test]
fn json_posts_reach_the_agent_when_tools_are_configured() {
    // What every SDK sends: POST with `content-type: application/json`. The
    // filter reads such bodies (MCP `tools/call`), so it must get them.
    let agent = MockAgent::start().unwrap();
    agent.route(
        "/v1/chat/completions",
        Reply::sse(fixture("openai_chat_single_tool_call.sse")),
    );
    let envoy = start_envoy(
        &agent,
        &config(json!({"roles": {"weather": ["get_weather"]}})),
    );
    let body =
        json!({"model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    for h2c in [false, true] {
        let mut req = client::post(&envoy.url("/v1/chat/completions"))
            .bearer(&token(&["weather"]))
            .json(&body)
            .timeout(Duration::from_secs(10));
        if h2c {
            req = req.h2c();
        }
        let resp = req.send_blocking().unwrap_or_else(|e| {
            panic!(
                "h2c={h2c}: {e}; requests upstream: {}; access log: {}",
                agent.request_count(),
                envoy
                    .log_text()
                    .lines()
                    .filter(|l| l.contains("\"POST "))
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        });
        assert_eq!(resp.status, 200, "h2c={h2c}: {}", resp.text());
        assert_eq!(resp.ending, BodyEnding::Complete, "h2c={h2c}");
        assert_eq!(agent.last_request().unwrap().body_text(), body.to_string());
    }
}

// --- the official SDKs as clients ---

fn sdk_run(python: &std::path::Path, sdk: &str, envoy: &Envoy, token: &str) -> Value {
    let base = envoy.url("");
    let (ok, out, err) = common::run_python(
        python,
        "sdk_stream.py",
        &[sdk, &base, token],
        Duration::from_secs(60),
    );
    assert!(ok, "{sdk}: sdk_stream.py failed: {out}\n{err}");
    let line = out.lines().last().unwrap_or_default();
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    eprintln!("{sdk}: {v}");
    v
}

#[test]
fn the_official_sdks_see_allowed_tool_calls_and_raise_on_denied_ones() {
    let python = common::sdk_python();
    let agent = MockAgent::start().unwrap();
    agent.route(
        "/v1/messages",
        Reply::sse(fixture("anthropic_messages_tool_use.sse"))
            .chunking(Chunking::Random { seed: 11, max: 120 })
            .delay(Duration::from_millis(1)),
    );
    agent.route(
        "/v1/chat/completions",
        Reply::sse(fixture("openai_chat_single_tool_call.sse"))
            .chunking(Chunking::Random { seed: 12, max: 120 })
            .delay(Duration::from_millis(1)),
    );
    let envoy = start_envoy(
        &agent,
        &config(json!({"roles": {"weather": ["get_weather"], "search": ["search_*"]}})),
    );
    let allowed = token(&["weather"]);
    let denied = token(&["search"]);
    // The two SDKs run side by side (each run is mostly Python start-up).
    let results: Vec<(&str, Value, Value)> = std::thread::scope(|scope| {
        let runs: Vec<_> = ["anthropic", "openai"]
            .into_iter()
            .map(|sdk| {
                let (python, envoy, allowed, denied) = (&python, &envoy, &allowed, &denied);
                scope.spawn(move || {
                    let ok = sdk_run(python, sdk, envoy, allowed);
                    let refused = sdk_run(python, sdk, envoy, denied);
                    (sdk, ok, refused)
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    for (sdk, ok, refused) in &results {
        assert_eq!(ok["error"], Value::Null, "{sdk}: {ok}");
        assert_eq!(ok["tool_calls"], json!(["get_weather"]), "{sdk}: {ok}");
        let message = refused["error"]["message"].as_str().unwrap_or_else(|| {
            panic!("{sdk}: the SDK did not raise on the denied tool: {refused}")
        });
        assert!(message.contains("is not allowed"), "{sdk}: {refused}");
        assert!(message.contains("get_weather"), "{sdk}: {refused}");
        assert_eq!(refused["tool_calls"], json!([]), "{sdk}: {refused}");
        // What came before the tool call still reached the SDK.
        assert_eq!(ok["text"], refused["text"], "{sdk}");
    }
    assert_eq!(
        results[0].2["text"], "I'll check the current weather in Paris for you.",
        "the Anthropic stream's text block precedes its tool call"
    );
    let seen = agent.requests();
    assert_eq!(seen.len(), 4);
    for req in &seen {
        assert_eq!(req.method, "POST");
        let auth = req.header("authorization").unwrap_or_default();
        assert!(
            auth == format!("Bearer {allowed}") || auth == format!("Bearer {denied}"),
            "the token goes upstream unchanged: {auth:?}"
        );
    }
    assert_counter(&envoy, "toolguard.tools.denied", 2);
    assert_counter(&envoy, "toolguard.streams.cut", 2);
}
