//! SPEC "MCP (Streamable HTTP)", black-box through the real Envoy: a JSON-RPC
//! `tools/call` is checked on the request (allowed: forwarded byte-identical;
//! denied: 403 with the JSON-RPC error, the body never reaches the upstream),
//! batches, escaped and duplicated names, the 413 bounds, `tools/list` answers
//! filtered (JSON and SSE `event: message`), the spec fixtures, the counters, and
//! the official MCP Python SDK (server and client) through Envoy.
//!
//! Without `allow_on_headers_stop_iteration`, headers of a checked POST do go
//! upstream before its body is read (a paused headers callback would also keep
//! the body from the filter); what must never reach the upstream is the body of a
//! denied call. The mock agent records how far each request body got
//! (`body_complete`), so that is what is asserted. With it, not even a connection
//! is opened for a refused call.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use test_harness::client::{self, Response};
use test_harness::{paths, Chunking, Envoy, MockAgent, Reply};

use common::{assert_counter, mcp_python, provider_with_roles, show, start_envoy, token};

const WAIT: Duration = Duration::from_secs(20);
const DENIED: &str = "toolguard.tools.denied";
const ALLOWED: &str = "toolguard.tools.allowed";

/// `analysts` may use `get_weather` and `search_*`; nobody else gets a tool.
fn config(max_frame_bytes: Option<usize>) -> Value {
    let mut tools = json!({
        "roles": {"analysts": ["get_weather", "search_*"], "admins": ["*"]},
        "default": [],
    });
    if let Some(n) = max_frame_bytes {
        tools["max_frame_bytes"] = json!(n);
    }
    json!({"providers": {"test": provider_with_roles()}, "tools": tools})
}

fn analyst() -> String {
    token(&["analysts"])
}

/// SPEC's JSON-RPC error for a denied tool, `id` written as given.
fn denial(id: &str, tool: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32003,"message":"tool \"{tool}\" is not allowed"}}}}"#
    )
}

fn call(id: &str, tool: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{{"city":"Paris"}}}}}}"#
    )
}

fn post_json(envoy: &Envoy, token: &str, body: impl Into<bytes::Bytes>, h2c: bool) -> Response {
    let mut req = client::post(&envoy.url("/mcp"))
        .bearer(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .timeout(WAIT)
        .body(body);
    if h2c {
        req = req.h2c();
    }
    req.send_blocking().unwrap()
}

fn assert_denied(resp: &Response, expected_body: &str) {
    assert_eq!(resp.status, 403, "body: {}", show(&resp.body));
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(resp.text(), expected_body);
    // What an SDK does with it: it must parse as JSON-RPC.
    resp.json().unwrap();
}

/// The last request the upstream got whole (a denied call's headers may be
/// recorded around it, with an incomplete body).
fn forwarded(agent: &MockAgent) -> test_harness::RecordedRequest {
    agent
        .requests()
        .into_iter()
        .rfind(|r| r.body_complete)
        .expect("no request reached the upstream whole")
}

/// The upstream never got the body of a denied call: every request that
/// reached it (the headers may have) has an incomplete body without `needle`.
/// Returns what the upstream saw, for the report.
fn assert_body_never_reached(agent: &MockAgent, needle: &str) -> String {
    // A request whose headers went upstream is recorded once its body ended
    // (here: broke off); give Envoy's reset a moment to arrive.
    std::thread::sleep(Duration::from_millis(300));
    let seen = agent.requests();
    for r in &seen {
        assert!(
            !r.body_complete,
            "the upstream got a complete body for a denied call: {}",
            show(&r.body)
        );
        assert!(
            !r.body_text().contains(needle),
            "the denied tool reached the upstream: {}",
            show(&r.body)
        );
    }
    let summary = seen
        .iter()
        .map(|r| {
            format!(
                "{} {} body {} bytes (complete: {})",
                r.method,
                r.path,
                r.body.len(),
                r.body_complete
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    eprintln!("upstream saw for a denied call: [{summary}]");
    summary
}

#[test]
fn an_allowed_call_reaches_the_upstream_byte_identical() {
    let agent = MockAgent::start().unwrap();
    let envoy = start_envoy(&agent, &config(None));
    for (i, h2c) in [false, true].into_iter().enumerate() {
        // Odd spacing and an escaped allowed name: forwarded exactly as sent.
        let body = format!(
            "{{ \"jsonrpc\" : \"2.0\",\n  \"method\":\"tools/call\", \"id\": \"c-{i}\",\n  \"params\": {{\"name\": \"get\\u005fweather\", \"arguments\": {{\"city\": \"Z\u{fc}rich\"}}}} }}\n"
        );
        let resp = post_json(&envoy, &analyst(), body.clone(), h2c);
        assert_eq!(resp.status, 200, "{}", show(&resp.body));
        let got = agent.wait_requests(i + 1, WAIT).unwrap().remove(i);
        assert!(got.body_complete);
        assert_eq!(got.body, body.as_bytes(), "h2c: {h2c}");
        assert_eq!(got.header("content-type"), Some("application/json"));
        // The mock echoes what it got: the client sees the upstream's answer.
        assert_eq!(resp.json().unwrap()["body"], json!(body));
    }
    assert_counter(&envoy, ALLOWED, 2);
    assert_counter(&envoy, DENIED, 0);
}

#[test]
fn a_denied_call_is_answered_403_with_the_jsonrpc_error_and_its_body_never_goes_upstream() {
    let agent = MockAgent::start().unwrap();
    let envoy = start_envoy(&agent, &config(None));
    let cases = [
        ("7", "delete_everything", false),
        (r#""req-\"1\"""#, "rm_rf", true),
        ("null", "Get_Weather", false), // names are case-sensitive
        ("1.5e3", "search", false),     // `search_*` is a prefix: `search` is not under it
    ];
    for (id, tool, h2c) in cases {
        let resp = post_json(&envoy, &analyst(), call(id, tool), h2c);
        assert_denied(&resp, &denial(id, tool));
    }
    assert_body_never_reached(&agent, "tools/call");
    // A caller without roles gets `default` (nothing): even the analysts' tool.
    let resp = post_json(&envoy, &token(&[]), call("8", "get_weather"), false);
    assert_denied(&resp, &denial("8", "get_weather"));
    // A charset parameter does not take a body out of the check.
    let resp = client::post(&envoy.url("/mcp"))
        .bearer(&analyst())
        .header("content-type", "Application/JSON; charset=utf-8")
        .body(call("9", "delete_everything"))
        .send_blocking()
        .unwrap();
    assert_denied(&resp, &denial("9", "delete_everything"));
    assert_body_never_reached(&agent, "tools/call");
    assert_counter(&envoy, DENIED, 6);
    assert_counter(&envoy, ALLOWED, 0);
    // Still open for business: an allowed call right after goes through.
    let resp = post_json(&envoy, &analyst(), call("10", "search_docs"), false);
    assert_eq!(resp.status, 200);
    assert_counter(&envoy, ALLOWED, 1);
}

/// SPEC "MCP": with `allow_on_headers_stop_iteration` (the plugin configuration's
/// field, paired by the harness with the Wasm `PluginConfig` field of the same
/// name, as every recipe in envoy/ does), nothing of a denied or oversized call
/// reaches the upstream: no connection, no request, not even its headers.
#[test]
fn with_allow_on_headers_stop_iteration_a_refused_call_never_reaches_the_upstream() {
    const LIMIT: usize = 1024;
    let agent = MockAgent::start().unwrap();
    let mut cfg = config(Some(LIMIT));
    cfg["allow_on_headers_stop_iteration"] = json!(true);
    let envoy = start_envoy(&agent, &cfg);
    for (id, h2c) in [("1", false), ("2", true)] {
        let resp = post_json(&envoy, &analyst(), call(id, "delete_everything"), h2c);
        assert_denied(&resp, &denial(id, "delete_everything"));
    }
    // Over the limit with no content-length: only the body shows it.
    let filler = vec![b' '; LIMIT];
    let (status, body) = post_chunked(
        &envoy,
        &analyst(),
        &[call("3", "get_weather").as_bytes(), &filler],
    );
    assert_eq!(status, 413, "{}", show(&body));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        (agent.connections(), agent.requests_started()),
        (0, 0),
        "the upstream saw a connection or a request for a refused call"
    );
    assert_counter(&envoy, DENIED, 2);
    // Allowed calls still go through byte-identical once their body was read.
    for (i, h2c) in [false, true].into_iter().enumerate() {
        let body = format!("{}\n", call(&(20 + i).to_string(), "get_weather"));
        let resp = post_json(&envoy, &analyst(), body.clone(), h2c);
        assert_eq!(resp.status, 200, "{}", show(&resp.body));
        let got = agent.wait_requests(i + 1, WAIT).unwrap().remove(i);
        assert!(got.body_complete);
        assert_eq!(got.body, body.as_bytes(), "h2c: {h2c}");
    }
    assert_eq!(agent.requests_started(), 2);
    assert_counter(&envoy, ALLOWED, 2);
}

#[test]
fn a_batch_with_denied_calls_is_refused_whole_with_one_error_per_denied_call() {
    let agent = MockAgent::start().unwrap();
    let envoy = start_envoy(&agent, &config(None));
    let batch = format!(
        "[{}, {}, {{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}}, {}, {{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/list\"}}]",
        call("1", "get_weather"),
        call("2", "delete_everything"),
        call(r#""x""#, "rm_rf"),
    );
    let resp = post_json(&envoy, &analyst(), batch, false);
    assert_denied(
        &resp,
        &format!(
            "[{},{}]",
            denial("2", "delete_everything"),
            denial(r#""x""#, "rm_rf")
        ),
    );
    assert_body_never_reached(&agent, "tools/call");
    assert_counter(&envoy, DENIED, 2);

    // A batch of one denied call is still answered with an array.
    let resp = post_json(
        &envoy,
        &analyst(),
        format!("[{}]", call("3", "rm_rf")),
        true,
    );
    assert_denied(&resp, &format!("[{}]", denial("3", "rm_rf")));
    assert_body_never_reached(&agent, "tools/call");
    assert_counter(&envoy, DENIED, 3);
    // The allowed call of a refused batch was not let through, so not counted.
    assert_counter(&envoy, ALLOWED, 0);

    // A batch of allowed calls goes through byte-identical.
    let ok = format!(
        "[{},\n {}]",
        call("4", "get_weather"),
        call("5", "search_web")
    );
    let resp = post_json(&envoy, &analyst(), ok.clone(), false);
    assert_eq!(resp.status, 200, "{}", show(&resp.body));
    let got = forwarded(&agent);
    assert!(got.body_complete);
    assert_eq!(got.body, ok.as_bytes());
    assert_counter(&envoy, ALLOWED, 2);
    assert_counter(&envoy, DENIED, 3);
}

#[test]
fn escaped_and_duplicated_names_cannot_smuggle_a_denied_call() {
    let agent = MockAgent::start().unwrap();
    let envoy = start_envoy(&agent, &config(None));
    let cases: &[(&str, &str)] = &[
        // Escapes in the name decode to the denied tool.
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"rm\u005frf"}}"#,
            "rm_rf",
        ),
        (
            r#"{"jsonrpc":"2.0","id":2,"method":"tools\/call","params":{"name":"\u0064elete_everything","arguments":{}}}"#,
            "delete_everything",
        ),
        // Duplicate `name` keys: parsers keep the first or the last; either
        // way one of them is denied.
        (
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"get_weather","name":"delete_everything"}}"#,
            "delete_everything",
        ),
        (
            r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"delete_everything","name":"get_weather"}}"#,
            "delete_everything",
        ),
        // Duplicate `params`, and a duplicate `method` hiding `tools/call`.
        (
            r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"get_weather"},"params":{"name":"rm_rf"}}"#,
            "rm_rf",
        ),
        (
            r#"{"jsonrpc":"2.0","id":6,"method":"tools/list","method":"tools/call","params":{"name":"rm_rf"}}"#,
            "rm_rf",
        ),
    ];
    for (i, (body, tool)) in cases.iter().enumerate() {
        let resp = post_json(&envoy, &analyst(), body.to_string(), false);
        assert_denied(&resp, &denial(&(i + 1).to_string(), tool));
    }
    assert_body_never_reached(&agent, "call");
    assert_counter(&envoy, DENIED, cases.len() as u64);
    assert_counter(&envoy, ALLOWED, 0);
}

#[test]
fn the_spec_fixture_requests_are_allowed_and_denied() {
    let agent = MockAgent::start().unwrap();
    let envoy = start_envoy(&agent, &config(None));
    let fixtures = [
        "mcp_spec_2025-06-18_tools_call_request.json",
        "mcp_streamable_http_tools_call_request.json",
    ];
    for (i, name) in fixtures.iter().enumerate() {
        let bytes = paths::fixture(&format!("streams/{name}")).unwrap();
        // Both call get_weather with id 2 (read off the files).
        let parsed: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(parsed["params"]["name"], "get_weather", "{name}");
        assert_eq!(parsed["id"], 2, "{name}");

        let resp = post_json(&envoy, &analyst(), bytes.clone(), i == 1);
        assert_eq!(resp.status, 200, "{name}: {}", show(&resp.body));
        let got = forwarded(&agent);
        assert!(got.body_complete, "{name}");
        assert_eq!(got.body, bytes, "{name} not forwarded byte-identical");
        agent.clear_requests();

        let resp = post_json(&envoy, &token(&["viewers"]), bytes, i == 0);
        assert_denied(&resp, &denial("2", "get_weather"));
        assert_body_never_reached(&agent, "get_weather");
        agent.clear_requests();
    }
    assert_counter(&envoy, ALLOWED, 2);
    assert_counter(&envoy, DENIED, 2);
}

#[test]
fn other_requests_pass_unchanged_and_count_nothing() {
    let agent = MockAgent::start().unwrap();
    let envoy = start_envoy(&agent, &config(None));
    let others = [
        // JSON-RPC that is not a tools/call.
        ("application/json", r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#.to_string()),
        ("application/json", r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_string()),
        // A JSON-RPC response the client posts back (to a server request).
        ("application/json", r#"{"jsonrpc":"2.0","id":"s-1","result":{"name":"rm_rf"}}"#.to_string()),
        // Not JSON content: passes, whatever it mentions (SPEC: "everything
        // else passes unchanged"; the MCP SDK server refuses it with a 400).
        ("text/plain", call("2", "rm_rf")),
    ];
    for (i, (ct, body)) in others.iter().enumerate() {
        let resp = client::post(&envoy.url("/mcp"))
            .bearer(&analyst())
            .header("content-type", ct)
            .body(body.clone())
            .send_blocking()
            .unwrap();
        assert_eq!(resp.status, 200, "{body}: {}", show(&resp.body));
        let got = agent.wait_requests(i + 1, WAIT).unwrap().remove(i);
        assert_eq!(got.body, body.as_bytes());
    }
    // The GET that opens an MCP server's event stream.
    let resp = client::get(&envoy.url("/mcp"))
        .bearer(&analyst())
        .header("accept", "text/event-stream")
        .send_blocking()
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_counter(&envoy, ALLOWED, 0);
    assert_counter(&envoy, DENIED, 0);
}

/// A request sent by hand over HTTP/1.1 with a chunked body (no
/// content-length), one write per chunk with a pause between; returns the
/// status and body of the response. Stops writing once a response arrives.
fn post_chunked(envoy: &Envoy, token: &str, chunks: &[&[u8]]) -> (u16, Vec<u8>) {
    let addr = envoy
        .url("")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut tcp = TcpStream::connect(&addr).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).unwrap();
    let mut reader = tcp.try_clone().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(read_response(&mut reader)));
    let mut answer = None;
    for chunk in chunks.iter().chain(std::iter::once(&&b""[..])) {
        std::thread::sleep(Duration::from_millis(30));
        if let Ok(r) = rx.try_recv() {
            answer = Some(r);
            break;
        }
        let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
        framed.extend_from_slice(chunk);
        framed.extend_from_slice(b"\r\n");
        if chunk.is_empty() {
            framed.extend_from_slice(b"\r\n");
        }
        if tcp.write_all(&framed).is_err() {
            break;
        }
    }
    answer.unwrap_or_else(|| rx.recv_timeout(WAIT).expect("no response"))
}

/// Reads one HTTP/1.1 response (content-length or chunked body).
fn read_response(r: &mut impl Read) -> (u16, Vec<u8>) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = r.read(&mut byte).expect("reading the response head");
        assert!(n > 0, "connection closed before a response: {}", show(&buf));
        buf.extend_from_slice(&byte[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let header = |name: &str| {
        head.lines().find_map(|l| {
            l.strip_prefix(&format!("{name}:"))
                .map(|v| v.trim().to_string())
        })
    };
    let mut rest = buf[head_end..].to_vec();
    let mut fill = |rest: &mut Vec<u8>, want: usize| {
        while rest.len() < want {
            let n = r.read(&mut byte).expect("reading the response body");
            assert!(n > 0, "connection closed mid-body");
            rest.extend_from_slice(&byte[..n]);
        }
    };
    if let Some(len) = header("content-length") {
        let len: usize = len.parse().unwrap();
        fill(&mut rest, len);
        rest.truncate(len);
        return (status, rest);
    }
    assert_eq!(
        header("transfer-encoding").as_deref(),
        Some("chunked"),
        "{head}"
    );
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let line_end = loop {
            if let Some(p) = rest[at..].windows(2).position(|w| w == b"\r\n") {
                break at + p;
            }
            let want = rest.len() + 1;
            fill(&mut rest, want);
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&rest[at..line_end]).unwrap(), 16).unwrap();
        let start = line_end + 2;
        fill(&mut rest, start + size + 2);
        body.extend_from_slice(&rest[start..start + size]);
        at = start + size + 2;
        if size == 0 {
            return (status, body);
        }
    }
}

#[test]
fn bodies_over_max_frame_bytes_are_413_and_the_limit_itself_passes() {
    const LIMIT: usize = 1024;
    let agent = MockAgent::start().unwrap();
    let envoy = start_envoy(&agent, &config(Some(LIMIT)));
    let padded = |len: usize| {
        let mut body = call("1", "get_weather").into_bytes();
        body.resize(len, b' ');
        body
    };

    // content-length over the limit: answered on the headers, nothing upstream.
    for h2c in [false, true] {
        let resp = post_json(&envoy, &analyst(), padded(LIMIT + 1), h2c);
        assert_eq!(resp.status, 413, "{}", show(&resp.body));
        assert_eq!(resp.header("content-type"), Some("application/json"));
        assert_eq!(resp.json().unwrap()["error"], "payload_too_large");
    }
    // A huge declared length too (more than the filter could ever hold).
    let resp = post_json(&envoy, &analyst(), padded(200_000), false);
    assert_eq!(resp.status, 413);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        agent.request_count(),
        0,
        "a 413 on the headers sent nothing upstream"
    );

    // Exactly the limit passes, byte-identical.
    let resp = post_json(&envoy, &analyst(), padded(LIMIT), false);
    assert_eq!(resp.status, 200, "{}", show(&resp.body));
    let got = forwarded(&agent);
    assert_eq!(got.body, padded(LIMIT));
    agent.clear_requests();

    // No content-length (chunked): the body itself is counted as it arrives.
    let body = padded(LIMIT + 600);
    let (status, answer) = post_chunked(&envoy, &analyst(), &[&body[..600], &body[600..]]);
    assert_eq!(status, 413, "{}", show(&answer));
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["error"], "payload_too_large");
    assert_body_never_reached(&agent, "get_weather");
    agent.clear_requests();

    // A chunked body under the limit is assembled and checked whole: a name
    // split across chunks is still found, allowed or denied.
    let ok = call("2", "get_weather").into_bytes();
    let (status, answer) = post_chunked(&envoy, &analyst(), &[&ok[..60], &ok[60..70], &ok[70..]]);
    assert_eq!(status, 200, "{}", show(&answer));
    let got = forwarded(&agent);
    assert!(got.body_complete);
    assert_eq!(got.body, ok);
    agent.clear_requests();
    let bad = call("3", "delete_everything").into_bytes();
    let (status, answer) =
        post_chunked(&envoy, &analyst(), &[&bad[..62], &bad[62..66], &bad[66..]]);
    assert_eq!(status, 403);
    assert_eq!(answer, denial("3", "delete_everything").as_bytes());
    assert_body_never_reached(&agent, "delete_everything");

    assert_counter(&envoy, ALLOWED, 2);
    assert_counter(&envoy, DENIED, 1);
}

/// A `tools/list` result with these tools, and the same with only `keep`:
/// entries are written and separated the same way (pretty-printed, or on one
/// line as MCP servers send them in event streams), so the expected answer is
/// the original with the other entries and their separators cut.
fn tools_list_answer(id: &str, names: &[&str], keep: &[&str], pretty: bool) -> (String, String) {
    let entry = |name: &str| {
        let e = format!(
            "{{\n        \"name\": \"{name}\",\n        \"description\": \"Does {name}; see \\\"docs\\\"\",\n        \"inputSchema\": {{\"type\": \"object\", \"properties\": {{\"name\": {{\"type\": \"string\"}}}}}}\n      }}"
        );
        if pretty {
            e
        } else {
            e.replace("\n", "").replace("  ", "")
        }
    };
    let doc = |names: Vec<&str>| {
        let entries: Vec<String> = names.into_iter().map(entry).collect();
        let d = format!(
            "{{\n  \"jsonrpc\": \"2.0\",\n  \"id\": {id},\n  \"result\": {{\n    \"tools\": [\n      {}\n    ],\n    \"nextCursor\": \"tools/2\"\n  }}\n}}\n",
            entries.join(",\n      ")
        );
        if pretty {
            d
        } else {
            d.replace("\n", "").replace("  ", "")
        }
    };
    let kept = names.iter().copied().filter(|n| keep.contains(n)).collect();
    (doc(names.to_vec()), doc(kept))
}

const LISTED: &[&str] = &[
    "delete_everything",
    "get_weather",
    "rm_rf",
    "search_docs",
    "Get_Weather",
];
const ALLOWED_LISTED: &[&str] = &["get_weather", "search_docs"];

#[test]
fn a_tools_list_json_answer_keeps_only_the_callers_tools_and_every_other_byte() {
    let agent = MockAgent::start().unwrap();
    let envoy = start_envoy(&agent, &config(None));
    let (full, filtered) = tools_list_answer("\"list-1\"", LISTED, ALLOWED_LISTED, true);
    agent.route(
        "/mcp",
        Reply::body("application/json", full.clone())
            .header("content-length", &full.len().to_string())
            .header("mcp-session-id", "abc123")
            .chunking(Chunking::Fixed(100))
            .delay(Duration::from_millis(1)),
    );
    let list = r#"{"jsonrpc":"2.0","id":"list-1","method":"tools/list","params":{}}"#;
    for h2c in [false, true] {
        let resp = post_json(&envoy, &analyst(), list, h2c);
        assert_eq!(resp.status, 200);
        assert_eq!(resp.text(), filtered, "h2c: {h2c}");
        if let Some(len) = resp.header("content-length") {
            assert_eq!(
                len,
                filtered.len().to_string(),
                "a stale content-length went out"
            );
        }
        assert_eq!(resp.header("mcp-session-id"), Some("abc123"));
        let names: Vec<Value> = resp.json().unwrap()["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].clone())
            .collect();
        assert_eq!(names, vec![json!("get_weather"), json!("search_docs")]);
    }
    // The upstream got the list request unchanged.
    assert_eq!(agent.last_request().unwrap().body, list.as_bytes());

    // admins (`*`) see everything; a caller with no tools sees an empty list.
    let resp = post_json(&envoy, &token(&["admins"]), list, false);
    assert_eq!(resp.text(), full);
    let (_, empty) = tools_list_answer("\"list-1\"", LISTED, &[], true);
    let resp = post_json(&envoy, &token(&[]), list, false);
    let mut want: Value = serde_json::from_str(&empty).unwrap();
    want["result"]["tools"] = json!([]);
    assert_eq!(resp.json().unwrap(), want, "{}", resp.text());

    // The same bytes answering another method are not a tools/list answer.
    let other = r#"{"jsonrpc":"2.0","id":"list-1","method":"resources/list"}"#;
    let resp = post_json(&envoy, &analyst(), other, false);
    assert_eq!(resp.text(), full);
    assert_counter(&envoy, DENIED, 0);
}

#[test]
fn a_tools_list_answer_in_sse_message_frames_is_rewritten_and_the_rest_passes() {
    let agent = MockAgent::start().unwrap();
    let envoy = start_envoy(&agent, &config(None));
    let (full, filtered) = tools_list_answer("7", LISTED, ALLOWED_LISTED, false);
    assert!(!full.contains('\n'));
    let progress = "event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"progress\":0.5}}\r\n\r\n";
    let priming = "id: 0\r\nretry: 1000\r\ndata:\r\n\r\n";
    let frame = |data: &str| format!("id: ev-2\r\nevent: message\r\ndata: {data}\r\n\r\n");
    let stream = format!("{priming}{progress}{}", frame(&full));
    let expected = format!("{priming}{progress}{}", frame(&filtered));
    agent.route(
        "/mcp",
        Reply::sse(stream.clone())
            .header("mcp-session-id", "abc123")
            .chunking(Chunking::Random { seed: 11, max: 48 })
            .delay(Duration::from_millis(1)),
    );
    let list = r#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#;
    for h2c in [false, true] {
        let resp = post_json(&envoy, &analyst(), list, h2c);
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("content-type"), Some("text/event-stream"));
        assert_eq!(resp.text(), expected, "h2c: {h2c}");
    }
    // admins see the stream byte-identical.
    let resp = post_json(&envoy, &token(&["admins"]), list, false);
    assert_eq!(resp.text(), stream);
    assert_counter(&envoy, DENIED, 0);
    assert_counter(&envoy, "toolguard.streams.cut", 0);
}

// ---------------------------------------------------------------------------
// The official MCP Python SDK through Envoy.

/// `py/mcp_server.py` running: its port, and each line it prints after that
/// (the tools it actually ran). Killed on drop.
struct McpServer {
    child: Child,
    port: u16,
    sdk: String,
    lines: mpsc::Receiver<String>,
    /// Its log (stderr), kept for failure messages rather than printed.
    log: Arc<Mutex<String>>,
}

impl McpServer {
    fn start(python: &std::path::Path, json_response: bool) -> McpServer {
        let script = paths::repo_root().join("test-harness/py/mcp_server.py");
        let mut cmd = Command::new(python);
        cmd.arg(&script);
        if json_response {
            cmd.arg("--json");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", script.display()));
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap_or_else(|e| e.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "mcp_server.py did not report its port; its log:\n{}",
                    log.lock().unwrap_or_else(|e| e.into_inner())
                )
            });
        let hello: Value = serde_json::from_str(&first).unwrap();
        McpServer {
            port: hello["port"].as_u64().unwrap() as u16,
            sdk: hello["sdk"].as_str().unwrap_or_default().to_string(),
            child,
            lines,
            log,
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The tools the server ran so far.
    fn calls(&self) -> Vec<String> {
        self.lines
            .try_iter()
            .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
            .filter_map(|v| v["called"].as_str().map(str::to_string))
            .collect()
    }
}

impl Drop for McpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Envoy with the filter in front of `server`.
fn envoy_for(server: &McpServer) -> Envoy {
    let upstream = std::net::SocketAddr::from(([127, 0, 0, 1], server.port));
    common::start_envoy_with(upstream, &config(None), |b| b)
}

fn sdk_session(json_response: bool) {
    let python = mcp_python();
    let server = McpServer::start(&python, json_response);
    let envoy = envoy_for(&server);
    let url = envoy.url("/mcp");
    let started = Instant::now();
    let (ok, out, err) = common::run_python(
        &python,
        "mcp_client.py",
        &[&url, &analyst(), "get_weather", "delete_everything"],
        Duration::from_secs(90),
    );
    let context = || {
        format!(
            "client: {out}\nclient stderr: {err}\nserver log:\n{}",
            server.log()
        )
    };
    assert!(ok, "mcp_client.py failed\n{}", context());
    let report: Value = serde_json::from_str(out.trim())
        .unwrap_or_else(|e| panic!("mcp_client.py output not JSON ({e})\n{}", context()));
    eprintln!(
        "mcp {} (json_response: {json_response}) in {:?}: {report}",
        server.sdk,
        started.elapsed()
    );
    assert!(report.get("fatal").is_none(), "{}", context());
    // list_tools shows only what the caller may use.
    assert_eq!(report["tools"], json!(["get_weather"]), "{}", context());
    // The allowed tool runs.
    assert_eq!(report["allowed"]["ok"], true, "{}", context());
    assert_eq!(report["allowed"]["is_error"], false, "{}", context());
    assert_eq!(
        report["allowed"]["text"],
        "Sunny in Paris, 21 C",
        "{}",
        context()
    );
    let denied = &report["denied"];
    assert_eq!(
        denied["ok"],
        false,
        "the denied call did not fail\n{}",
        context()
    );
    if server.sdk.starts_with("1.") {
        // mcp 1.x raises any HTTP status >= 400 on a POST (httpx
        // raise_for_status) out of the transport: the user sees the 403, not the
        // JSON-RPC error in its body, and the session ends.
        assert_eq!(denied["error"]["class"], "HTTPStatusError", "{}", context());
        let message = denied["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("403 Forbidden"), "{}", context());
    } else {
        // mcp 2.x reads a JSON-RPC error from a non-2xx JSON answer: the call
        // raises MCPError with the filter's code and message, and the session
        // goes on.
        assert_eq!(denied.get("session_aborted"), None, "{}", context());
        assert_eq!(
            denied["error"]["message"],
            "tool \"delete_everything\" is not allowed",
            "{}",
            context()
        );
        assert_eq!(denied["error"]["code"], -32003, "{}", context());
    }
    // The server ran the allowed tool and never the denied one.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        server.calls(),
        vec!["get_weather".to_string()],
        "{}",
        context()
    );
    assert_counter(&envoy, ALLOWED, 1);
    assert_counter(&envoy, DENIED, 1);
}

#[test]
fn the_mcp_sdk_client_and_server_through_envoy_with_sse_answers() {
    sdk_session(false);
}

#[test]
fn the_mcp_sdk_client_and_server_through_envoy_with_json_answers() {
    sdk_session(true);
}

/// A POST to the SDK server through Envoy, as the analyst, on `session`.
fn sdk_post(envoy: &Envoy, session: Option<&str>, content_types: &[&str], body: &str) -> Response {
    let mut req = client::post(&envoy.url("/mcp"))
        .bearer(&analyst())
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .timeout(WAIT)
        .body(body.to_string());
    for ct in content_types {
        req = req.header("content-type", ct);
    }
    if let Some(id) = session {
        req = req.header("mcp-session-id", id);
    }
    req.send_blocking().unwrap()
}

/// The official Python SDK server takes a POST as JSON when its content-type
/// starts with `application/json` and one of its comma-separated parts is
/// exactly that (`mcp/server/transport_security.py` and
/// `streamable_http.py::_check_content_type`): `application/json, text/plain`,
/// or two content-type headers, which Envoy joins with a comma. Such a
/// `tools/call` must be checked like any other: the server runs it.
#[test]
fn a_tools_call_the_sdk_server_takes_as_json_is_checked_whatever_the_content_type_says() {
    let python = mcp_python();
    let server = McpServer::start(&python, true);
    let envoy = envoy_for(&server);
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"probe","version":"1"}}}"#;
    let resp = sdk_post(&envoy, None, &["application/json"], init);
    assert_eq!(resp.status, 200, "{}\n{}", resp.text(), server.log());
    let session = resp
        .header("mcp-session-id")
        .expect("a session id")
        .to_string();
    let resp = sdk_post(
        &envoy,
        Some(&session),
        &["application/json"],
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    );
    assert_eq!(resp.status, 202, "{}", resp.text());

    let mut outcomes = Vec::new();
    for (i, content_types) in [
        &["application/json, text/plain"][..],
        &["application/json,"][..],
        &["application/json", "text/plain"][..],
    ]
    .iter()
    .enumerate()
    {
        let body = call(&(10 + i).to_string(), "delete_everything");
        let resp = sdk_post(&envoy, Some(&session), content_types, &body);
        std::thread::sleep(Duration::from_millis(100));
        let ran = server.calls();
        outcomes.push(format!(
            "content-type {content_types:?}: {} {} (server ran: {ran:?})",
            resp.status,
            resp.text()
        ));
    }
    // The same content-type on a tools/list: its JSON answer must be filtered.
    let list = r#"{"jsonrpc":"2.0","id":20,"method":"tools/list"}"#;
    let resp = sdk_post(
        &envoy,
        Some(&session),
        &["application/json, text/plain"],
        list,
    );
    let listed: Vec<String> = resp.json().unwrap()["result"]["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let list_ok = listed == ["get_weather"];
    outcomes.push(format!(
        "tools/list with content-type \"application/json, text/plain\": {listed:?}"
    ));
    let report = outcomes.join("\n");
    eprintln!("{report}");
    assert!(
        list_ok
            && outcomes[..3]
                .iter()
                .all(|o| o.contains(": 403 ") && o.contains("server ran: []")),
        "a denied tools/call reached the MCP server and ran, or tools/list was not filtered:\n{report}"
    );
    assert_counter(&envoy, DENIED, 3);
}
