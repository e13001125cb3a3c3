//! The MCP JSON-RPC reader: the `tools/call` request check, `lists_tools`, the
//! `tools/list` answer filter, and the same filter on an event-stream frame.
//!
//! Input: the `sse_stream` layout (so seeds are shared): a flags byte (the
//! allowlist), the chunk lengths (unused here), then the body. Facts read with serde_json
//! (which keeps the last of duplicate members; the filter looks at all of
//! them, so each fact below is one the filter must at least see):
//!
//! - a `tools/call` naming a denied tool is denied; one of `tools/call` is
//!   never passed as "no tools/call"; under `*` a JSON body is never denied;
//! - a denial is a JSON-RPC error object (or a batch of them, for a batch);
//! - the filtered `tools/list` is JSON, keeps only allowed entries, is made of
//!   the original's bytes in order, and filtering it again changes nothing;
//!   a JSON answer listing a denied tool is always filtered;
//! - the rewritten frame is one frame, with the same events and the filtered
//!   JSON as its data.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use toolguard::mcp::{
    check_request, filter_tools_list, filter_tools_list_frame, lists_tools, McpRequestVerdict,
};
use toolguard::policy::Allowlist;
use toolguard::sse::framer::Framer;
use toolguard_fuzz::{allowlist, Layout};

fn requests(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

/// `b` is `a` with bytes left out (order kept).
fn is_subsequence(b: &[u8], a: &[u8]) -> bool {
    let mut it = a.iter();
    b.iter().all(|x| it.any(|y| y == x))
}

fn check_errors(out: &[u8], batch: bool, denied: usize) {
    let v: Value = serde_json::from_slice(out).expect("denial is not JSON");
    let errors = match (&v, batch) {
        (Value::Array(items), true) => items.iter().collect::<Vec<_>>(),
        (Value::Object(_), false) => vec![&v],
        _ => panic!("denial shape {v}"),
    };
    assert_eq!(errors.len(), if batch { denied } else { 1 });
    for e in errors {
        assert_eq!(e["jsonrpc"], "2.0");
        assert_eq!(e["error"]["code"], -32003);
        assert!(e.get("id").is_some());
    }
}

/// Whether some `result.tools` entry of the answer is one the allowlist refuses
/// (an entry without a string name passes `*` only).
fn lists_denied_tool(v: &Value, list: &Allowlist, allow_all: bool) -> bool {
    requests(v).into_iter().any(|r| {
        r["result"]["tools"].as_array().is_some_and(|tools| {
            tools.iter().any(|t| match t["name"].as_str() {
                Some(name) => !list.allows(name),
                None => !allow_all,
            })
        })
    })
}

fn check_request_side(body: &[u8], list: &Allowlist, allow_all: bool) {
    let verdict = check_request(body, list);
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    if let McpRequestVerdict::Denied {
        body: out,
        allowed,
        denied,
    } = &verdict
    {
        assert!(*denied >= 1);
        let batch = match &parsed {
            Some(v) => v.is_array(),
            None => body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'['),
        };
        check_errors(out, batch, *denied);
        if let Some(Value::Array(items)) = &parsed {
            assert!(allowed + denied <= items.len());
        }
    }
    if let McpRequestVerdict::Allowed { calls } = verdict {
        assert!(calls >= 1);
    }
    let Some(v) = parsed else { return };
    if allow_all && (v.is_object() || v.is_array()) {
        assert!(
            !matches!(verdict, McpRequestVerdict::Denied { .. }),
            "denied under *"
        );
    }
    if !(v.is_object() || v.is_array()) {
        return;
    }
    for r in requests(&v) {
        if r["method"] == "tools/list" {
            assert!(lists_tools(body));
        }
        if r["method"] != "tools/call" {
            continue;
        }
        assert!(
            !matches!(verdict, McpRequestVerdict::Pass),
            "tools/call passed unchecked"
        );
        if let Some(name) = r["params"]["name"].as_str() {
            if !list.allows(name) {
                assert!(
                    matches!(verdict, McpRequestVerdict::Denied { .. }),
                    "denied tool {name:?} allowed"
                );
            }
        }
    }
}

fn check_list_side(body: &[u8], list: &Allowlist, allow_all: bool) {
    let filtered = filter_tools_list(body, list);
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    match &filtered {
        Some(out) => {
            assert!(!allow_all, "filtered under *");
            assert!(parsed.is_some(), "filtered a body that is not JSON");
            let v: Value = serde_json::from_slice(out).expect("filtered answer is not JSON");
            assert!(
                !lists_denied_tool(&v, list, allow_all),
                "a denied tool is still listed"
            );
            assert!(
                is_subsequence(out, body),
                "bytes that were not in the answer"
            );
            assert_eq!(
                filter_tools_list(out, list),
                None,
                "filtering is not idempotent"
            );
        }
        None => {
            if let Some(v) = &parsed {
                assert!(
                    !lists_denied_tool(v, list, allow_all),
                    "a denied tool listed, unfiltered"
                );
            }
        }
    }
}

fn check_frame(body: &[u8], list: &Allowlist) {
    let mut stream = b"event: message\n".to_vec();
    for line in body.split(|&b| b == b'\n') {
        stream.extend_from_slice(b"data: ");
        stream.extend_from_slice(line);
        stream.push(b'\n');
    }
    stream.push(b'\n');
    let mut framer = Framer::new(usize::MAX);
    framer.push(&stream);
    while let Ok(Some(frame)) = framer.next_frame(true) {
        let Some(rewritten) = filter_tools_list_frame(&frame, list) else {
            continue;
        };
        let data =
            filter_tools_list(frame.data.as_bytes(), list).expect("frame rewritten, data not");
        let mut again = Framer::new(usize::MAX);
        again.push(&rewritten);
        let f = again
            .next_frame(true)
            .unwrap()
            .expect("rewritten frame is empty");
        assert_eq!(f.raw, &rewritten[..], "rewrite is more than one frame");
        assert_eq!(f.events, frame.events);
        assert_eq!(f.data.as_bytes(), &data[..], "rewritten frame data");
    }
}

fuzz_target!(|data: &[u8]| {
    let layout = Layout::parse(data);
    let body = layout.stream;
    let (list, allow_all) = allowlist(layout.flags & 7);
    let _ = lists_tools(body);
    check_request_side(body, &list, allow_all);
    check_list_side(body, &list, allow_all);
    check_frame(body, &list);
});
