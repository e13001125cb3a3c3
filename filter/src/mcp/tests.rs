//! SPEC "MCP": the `tools/call` request check and the `tools/list` filter.

use super::*;
use crate::policy::Allowlist;
use crate::sse::framer::Framer;
use crate::sse::tests::*;
use wasm_bindgen_test::wasm_bindgen_test;

const SPEC_REQUEST: &[u8] =
    include_bytes!("../../../fixtures/streams/mcp_spec_2025-06-18_tools_call_request.json");
const SDK_REQUEST: &[u8] =
    include_bytes!("../../../fixtures/streams/mcp_streamable_http_tools_call_request.json");

const GET_WEATHER_DENIED: &str = r#"{"jsonrpc":"2.0","id":2,"error":{"code":-32003,"message":"tool \"get_weather\" is not allowed"}}"#;

fn denied_body(verdict: McpRequestVerdict) -> String {
    match verdict {
        McpRequestVerdict::Denied { body, .. } => String::from_utf8(body).unwrap(),
        other => panic!("not denied: {other:?}"),
    }
}

#[test]
#[wasm_bindgen_test]
fn fixture_requests_are_allowed_or_denied_with_the_exact_body() {
    for body in [SPEC_REQUEST, SDK_REQUEST] {
        assert_eq!(
            check_request(body, &Allowlist::of(&["get_weather"])),
            McpRequestVerdict::Allowed { calls: 1 }
        );
        assert_eq!(
            check_request(body, &Allowlist::of(&["get_*"])),
            McpRequestVerdict::Allowed { calls: 1 }
        );
        let verdict = check_request(body, &Allowlist::of(&["search"]));
        assert!(matches!(
            verdict,
            McpRequestVerdict::Denied {
                allowed: 0,
                denied: 1,
                ..
            }
        ));
        assert_eq!(denied_body(verdict), GET_WEATHER_DENIED);
    }
}

#[test]
#[wasm_bindgen_test]
fn ids_are_copied_verbatim() {
    for (id, shown) in [
        ("\"req-1\"", "\"req-1\""),
        ("1.50", "1.50"),
        ("\"a\\u0041\"", "\"a\\u0041\""),
        ("null", "null"),
    ] {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id": {id} ,"method":"tools/call","params":{{"name":"x"}}}}"#
        );
        let expected = format!(
            r#"{{"jsonrpc":"2.0","id":{shown},"error":{{"code":-32003,"message":"tool \"x\" is not allowed"}}}}"#
        );
        assert_eq!(
            denied_body(check_request(body.as_bytes(), &Allowlist::of(&[]))),
            expected
        );
    }
    let no_id = br#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"x"}}"#;
    assert!(denied_body(check_request(no_id, &Allowlist::of(&[])))
        .starts_with(r#"{"jsonrpc":"2.0","id":null,"#));
}

#[test]
#[wasm_bindgen_test]
fn a_batch_gets_an_array_of_errors_for_its_denied_calls() {
    let body = br#"[
      {"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ok"}},
      {"jsonrpc":"2.0","id":"b","method":"tools/call","params":{"name":"bad"}},
      {"jsonrpc":"2.0","method":"notifications/initialized"},
      {"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"wo\"rse"}}
    ]"#;
    let verdict = check_request(body, &Allowlist::of(&["ok"]));
    assert!(matches!(
        verdict,
        McpRequestVerdict::Denied {
            allowed: 1,
            denied: 2,
            ..
        }
    ));
    assert_eq!(
        denied_body(verdict),
        r#"[{"jsonrpc":"2.0","id":"b","error":{"code":-32003,"message":"tool \"bad\" is not allowed"}},{"jsonrpc":"2.0","id":3,"error":{"code":-32003,"message":"tool \"wo\"rse\" is not allowed"}}]"#
    );
    let all_ok = br#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ok"}}]"#;
    assert_eq!(
        check_request(all_ok, &Allowlist::of(&["ok"])),
        McpRequestVerdict::Allowed { calls: 1 }
    );
}

#[test]
#[wasm_bindgen_test]
fn duplicate_keys_escapes_and_missing_names() {
    let deny = |body: &str| check_request(body.as_bytes(), &Allowlist::of(&["ok"]));
    assert!(matches!(
        deny(r#"{"id":1,"method":"tools/call","params":{"name":"ok","name":"bad"}}"#),
        McpRequestVerdict::Denied { .. }
    ));
    assert!(matches!(
        deny(r#"{"id":1,"method":"tools/call","params":{"name":"ok"},"params":{"name":"bad"}}"#),
        McpRequestVerdict::Denied { .. }
    ));
    assert!(matches!(
        deny(r#"{"id":1,"method":"x","method":"tools/call","params":{"name":"bad"}}"#),
        McpRequestVerdict::Denied { .. }
    ));
    assert!(matches!(
        deny(r#"{"id":1,"method":"tools\/call","params":{"n\u0061me":"bad"}}"#),
        McpRequestVerdict::Denied { .. }
    ));
    assert!(matches!(
        deny(r#"{"id":1,"method":"tools/call","params":{}}"#),
        McpRequestVerdict::Denied { .. }
    ));
    assert!(matches!(
        deny(r#"{"id":1,"method":"tools/call"}"#),
        McpRequestVerdict::Denied { .. }
    ));
    assert_eq!(
        deny(r#"{"id":1,"method":"tools/call","params":{"name":"ok\u0020"}}"#),
        McpRequestVerdict::Denied {
            body: br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32003,"message":"tool \"ok \" is not allowed"}}"#.to_vec(),
            allowed: 0,
            denied: 1
        }
    );
    // Under `*` even an unreadable name passes.
    assert_eq!(
        check_request(
            br#"{"id":1,"method":"tools/call","params":{}}"#,
            &Allowlist::of(&["*"])
        ),
        McpRequestVerdict::Allowed { calls: 1 }
    );
}

#[test]
#[wasm_bindgen_test]
fn other_requests_pass() {
    let list = Allowlist::of(&[]);
    assert_eq!(
        check_request(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#, &list),
        McpRequestVerdict::Pass
    );
    assert_eq!(
        check_request(
            br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"name":"x"}}"#,
            &list
        ),
        McpRequestVerdict::Pass
    );
    assert_eq!(check_request(b"not json", &list), McpRequestVerdict::Pass);
    assert_eq!(check_request(b"[1,2]", &list), McpRequestVerdict::Pass);
    assert_eq!(
        check_request(br#"{"prompt":"please use tools/call"}"#, &list),
        McpRequestVerdict::Pass
    );
}

#[test]
#[wasm_bindgen_test]
fn bodies_only_lax_servers_parse_are_denied() {
    let list = Allowlist::of(&["ok"]);
    let nan = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"bad","x":NaN}}"#;
    assert_eq!(
        denied_body(check_request(nan, &list)),
        r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32003,"message":"tool \"\" is not allowed"}}"#
    );
    let batch = br#"[{"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"name":"bad","x":"\ud800"}}]"#;
    assert!(denied_body(check_request(batch, &list)).starts_with('['));
    let utf16: Vec<u8> = r#"{"method":"tools/call","params":{"name":"bad"}}"#
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    assert!(matches!(
        check_request(&utf16, &list),
        McpRequestVerdict::Denied { .. }
    ));
}

#[test]
#[wasm_bindgen_test]
fn recognises_tools_list_requests() {
    assert!(lists_tools(
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#
    ));
    assert!(lists_tools(
        br#"[{"method":"ping"},{"method":"tools/list"}]"#
    ));
    assert!(!lists_tools(SPEC_REQUEST));
}

const PRETTY_LIST: &str = r#"{
  "jsonrpc": "2.0",
  "id": 1,
  "result": {
    "tools": [
      {"name": "get_weather", "description": "Weather [in] \"quotes\"", "inputSchema": {"type": "object"}},
      {"name": "delete_all", "inputSchema": {}},
      {"name": "search_docs", "inputSchema": {}}
    ],
    "nextCursor": "c"
  }
}"#;

fn filtered(body: &str, entries: &[&str]) -> Option<String> {
    filter_tools_list(body.as_bytes(), &Allowlist::of(entries))
        .map(|b| String::from_utf8(b).unwrap())
}

#[test]
#[wasm_bindgen_test]
fn tools_list_keeps_every_other_byte() {
    let entry = |line: usize| PRETTY_LIST.lines().nth(line).unwrap().trim_start();
    let (weather, delete, search) = (entry(5), entry(6), entry(7));
    assert!(
        weather.starts_with("{\"name\": \"get_weather\"")
            && search.starts_with("{\"name\": \"search_docs\"")
    );
    let without = |gone: &str, replacement: &str| PRETTY_LIST.replacen(gone, replacement, 1);
    // The middle entry and the separator after it go.
    assert_eq!(
        filtered(PRETTY_LIST, &["get_weather", "search_*"]).unwrap(),
        without(&format!("{delete}\n      "), "")
    );
    // The first.
    assert_eq!(
        filtered(PRETTY_LIST, &["delete_all", "search_docs"]).unwrap(),
        without(&format!("{weather}\n      "), "")
    );
    // The last: the separator before it goes, the closing layout stays.
    assert_eq!(
        filtered(PRETTY_LIST, &["get_weather", "delete_all"]).unwrap(),
        without(&format!(",\n      {search}"), "")
    );
    assert_eq!(filtered(PRETTY_LIST, &["search_docs"]).unwrap(), {
        let s = without(&format!("{weather}\n      "), "");
        s.replacen(&format!("{delete}\n      "), "", 1)
    });
    // Nothing allowed: an empty array.
    let none = filtered(PRETTY_LIST, &["other"]).unwrap();
    let v: serde_json::Value = serde_json::from_str(&none).unwrap();
    assert_eq!(v["result"]["tools"], serde_json::json!([]));
    assert_eq!(v["result"]["nextCursor"], "c");
    // Everything allowed: untouched.
    assert_eq!(filtered(PRETTY_LIST, &["*"]), None);
    assert_eq!(
        filtered(PRETTY_LIST, &["get_weather", "delete_all", "search_docs"]),
        None
    );
}

#[test]
#[wasm_bindgen_test]
fn tools_list_edge_cases() {
    // Entries without a usable name go (unless `*`); duplicate names must all pass.
    let body = r#"{"result":{"tools":[{"name":"a"},{"title":"x"},{"name":"a","name":"b"},"junk",{"name":7}]}}"#;
    assert_eq!(
        filtered(body, &["a"]).unwrap(),
        r#"{"result":{"tools":[{"name":"a"}]}}"#
    );
    assert_eq!(filtered(body, &["*"]), None);
    // Escaped names are decoded before the check.
    assert_eq!(
        filtered(
            r#"{"result":{"tools":[{"name":"\u0061"},{"name":"b"}]}}"#,
            &["a"]
        )
        .unwrap(),
        r#"{"result":{"tools":[{"name":"\u0061"}]}}"#
    );
    // Batches and repeated members: every result.tools is filtered.
    assert_eq!(
        filtered(r#"[{"result":{"tools":[{"name":"b"}]}},{"result":{"tools":[],"tools":[{"name":"a"},{"name":"b"}]}}]"#, &["a"]).unwrap(),
        r#"[{"result":{"tools":[]}},{"result":{"tools":[],"tools":[{"name":"a"}]}}]"#
    );
    // Not a tools/list answer, or not JSON: untouched.
    assert_eq!(
        filtered(
            r#"{"result":{"content":[{"type":"text","text":"x"}]}}"#,
            &[]
        ),
        None
    );
    assert_eq!(filtered(r#"{"result":{"tools":{"name":"x"}}}"#, &[]), None);
    assert_eq!(filtered("{\"result\":", &[]), None);
}

fn frame_of(raw: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
    let mut framer = Framer::new(1 << 20);
    framer.push(raw);
    let frame = framer.next_frame(true).unwrap().unwrap();
    (
        frame.raw.to_vec(),
        filter_tools_list_frame(&frame, &Allowlist::of(&["a"])),
    )
}

#[test]
#[wasm_bindgen_test]
fn tools_list_sse_frames_are_rewritten_in_place() {
    let (_, out) = frame_of(
        b"event: message\ndata: {\"result\":{\"tools\":[{\"name\":\"a\"},{\"name\":\"b\"}]}}\n\n",
    );
    assert_eq!(
        Lossy(&out.unwrap()),
        Lossy(b"event: message\ndata: {\"result\":{\"tools\":[{\"name\":\"a\"}]}}\n\n")
    );
    // No event line means `message`, too; data without a space; id line kept.
    let (_, out) = frame_of(
        b"data:{\"result\":{\"tools\":[{\"name\":\"b\"},{\"name\":\"a\"}]}}\r\nid: 3\r\n\r\n",
    );
    assert_eq!(
        Lossy(&out.unwrap()),
        Lossy(b"data:{\"result\":{\"tools\":[{\"name\":\"a\"}]}}\r\nid: 3\r\n\r\n")
    );
    // JSON over several data lines: the first line takes it, the others go.
    let (_, out) = frame_of(b"event: message\ndata: {\"result\":{\"tools\":[\ndata: {\"name\":\"a\"},\n: c\ndata: {\"name\":\"b\"}]}}\n\n");
    assert_eq!(
        Lossy(&out.unwrap()),
        Lossy(
            b"event: message\ndata: {\"result\":{\"tools\":[\ndata: {\"name\":\"a\"}]}}\n: c\n\n"
        )
    );
    // Other events, and answers with nothing to remove, are left alone.
    assert_eq!(
        frame_of(b"event: endpoint\ndata: {\"result\":{\"tools\":[{\"name\":\"b\"}]}}\n\n").1,
        None
    );
    assert_eq!(
        frame_of(b"event: message\ndata: {\"result\":{\"tools\":[{\"name\":\"a\"}]}}\n\n").1,
        None
    );
}

#[test]
#[wasm_bindgen_test]
fn mcp_tools_list_frames_are_rewritten_in_the_stream() {
    let list = br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"good","inputSchema":{}},{"name":"bad","inputSchema":{}}]}}"#;
    let kept = br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"good","inputSchema":{}}]}}"#;
    let input = [&b"event: message\r\nid: 7\r\ndata: "[..], list, b"\r\n\r\n"].concat();
    let expected = [&b"event: message\r\nid: 7\r\ndata: "[..], kept, b"\r\n\r\n"].concat();
    let r = assert_every_chunking_rewriting(
        &input,
        &Allowlist::of(&["good"]),
        65536,
        Some(filter_tools_list_frame),
        &expected,
    );
    assert_eq!((r.allowed, r.denied, r.cut), (0, 0, false));
    // Unchanged for a caller who may use both, and for other event types.
    assert_every_chunking_rewriting(
        &input,
        &Allowlist::of(&["good", "bad"]),
        65536,
        Some(filter_tools_list_frame),
        &input,
    );
    let other = [&b"event: other\ndata: "[..], list, b"\n\n"].concat();
    assert_every_chunking_rewriting(
        &other,
        &Allowlist::of(&["good"]),
        65536,
        Some(filter_tools_list_frame),
        &other,
    );
}
