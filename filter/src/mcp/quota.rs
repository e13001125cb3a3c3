//! SPEC "Rate limits", `tools`, for MCP: the `tools/call` requests of a body
//! (their verbatim ids and tool names), and the 429 answer when they are over
//! their quota: a JSON-RPC error per call, code -32029.

use super::{batch, call_names, raw_id, request_spans, starts_array, TOOLS_CALL};
use crate::json::Json;
use crate::sse::error_event::over_limit_message;

/// The JSON-RPC error code SPEC gives a tool over its rate limit.
pub const TOOL_OVER_LIMIT_CODE: i32 = -32029;

/// One `tools/call` request of a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolsCall {
    /// The request's `id`, as written (`null` if it has none).
    pub id: Vec<u8>,
    /// The first name it calls (what is charged and shown).
    pub name: String,
}

/// Every `tools/call` of a JSON-RPC request or batch, and whether it was a batch.
pub fn tools_calls(body: &[u8]) -> (Vec<ToolsCall>, bool) {
    let Ok(json) = Json::parse(body) else {
        return (Vec::new(), false);
    };
    let spans = request_spans(body);
    let requests: Vec<&Json> = match &json {
        Json::Array(items) => items.iter().collect(),
        obj @ Json::Object(_) => vec![obj],
        _ => return (Vec::new(), false),
    };
    let calls = requests
        .into_iter()
        .enumerate()
        .filter(|(_, r)| r.get_all("method").any(|m| m.as_str() == Some(TOOLS_CALL)))
        .filter_map(|(i, r)| {
            let name = call_names(r).into_iter().next()?.display().to_owned();
            let id = raw_id(body, spans.as_ref().and_then(|s| s.get(i)), r);
            Some(ToolsCall { id, name })
        })
        .collect();
    (calls, starts_array(body))
}

/// The 429 body: one error per call (an array for a batch).
pub fn over_limit_body(calls: &[ToolsCall], is_batch: bool) -> Vec<u8> {
    let errors: Vec<Vec<u8>> = calls
        .iter()
        .map(|c| {
            let mut out = br#"{"jsonrpc":"2.0","id":"#.to_vec();
            out.extend_from_slice(&c.id);
            out.extend_from_slice(
                format!(r#","error":{{"code":{TOOL_OVER_LIMIT_CODE},"message":"#).as_bytes(),
            );
            // Writing a string into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut out, &over_limit_message(&c.name));
            out.extend_from_slice(b"}}");
            out
        })
        .collect();
    if is_batch {
        batch(errors)
    } else {
        errors.into_iter().next().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[test]
    #[wasm_bindgen_test]
    fn each_tools_call_gets_a_32029_error_with_its_own_id() {
        let body = br#"[{"jsonrpc":"2.0","id":"a-1","method":"tools/call","params":{"name":"search"}},
                        {"jsonrpc":"2.0","method":"notifications/x"},
                        {"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"report"}}]"#;
        let (calls, is_batch) = tools_calls(body);
        assert!(is_batch);
        assert_eq!(
            calls.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["search", "report"]
        );
        assert_eq!(
            String::from_utf8(over_limit_body(&calls, is_batch)).unwrap(),
            r#"[{"jsonrpc":"2.0","id":"a-1","error":{"code":-32029,"message":"tool \"search\" is over its rate limit"}},{"jsonrpc":"2.0","id":7,"error":{"code":-32029,"message":"tool \"report\" is over its rate limit"}}]"#
        );
        let single =
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search"}}"#;
        let (calls, is_batch) = tools_calls(single);
        assert_eq!(
            String::from_utf8(over_limit_body(&calls, is_batch)).unwrap(),
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32029,"message":"tool \"search\" is over its rate limit"}}"#
        );
    }
}
