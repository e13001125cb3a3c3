//! The event that replaces a denied frame and ends the stream (SPEC "Response policing").
//!
//! `event: error` with `{"type":"error","error":{"type":...,"message":...}}` is what
//! the Anthropic SDKs raise on, and OpenAI's SDKs raise on any `error` member. The
//! JSON is written by serde_json from structs (fields in declaration order; a map
//! would sort the keys), so a name holding `"`, `\`, CR or LF is escaped and can
//! never end the `data:` line or the event early.

use serde::Serialize;

/// The message of a stream whose `content-encoding` the filter cannot read.
pub const CONTENT_ENCODED_MESSAGE: &str = "event stream is content-encoded and cannot be inspected";

#[derive(Serialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool: Option<&'a str>,
}

/// `tool "NAME" is not allowed`: the words of SPEC, shared with the MCP answer.
pub fn not_allowed_message(name: &str) -> String {
    format!("tool \"{name}\" is not allowed")
}

/// The `permission_error` event for a denied tool.
pub fn tool_denied_event(name: &str) -> Vec<u8> {
    event("permission_error", &not_allowed_message(name), Some(name))
}

/// `tool "NAME" is over its rate limit`: shared with the MCP answer.
pub fn over_limit_message(name: &str) -> String {
    format!("tool \"{name}\" is over its rate limit")
}

/// A tool call that could not be charged, with `failure_mode_deny`.
pub fn unavailable_message(name: &str) -> String {
    format!("tool \"{name}\" cannot be charged: the rate-limit service did not answer")
}

/// The `rate_limit_error` event for an allowed tool over its quota.
pub fn over_limit_event(name: &str) -> Vec<u8> {
    event("rate_limit_error", &over_limit_message(name), Some(name))
}

/// A `stream_error` event (no `tool` member): for a frame over `max_frame_bytes`,
/// and for the glue when a stream is content-encoded ([`CONTENT_ENCODED_MESSAGE`]).
pub fn error_event_stream(message: &str) -> Vec<u8> {
    event("stream_error", message, None)
}

/// The message for a frame over the limit.
pub fn frame_too_large_message(limit: usize) -> String {
    format!("event stream frame exceeds max_frame_bytes ({limit} bytes)")
}

fn event(kind: &'static str, message: &str, tool: Option<&str>) -> Vec<u8> {
    let event = Event {
        kind: "error",
        error: Body {
            kind,
            message,
            tool,
        },
    };
    let mut out = b"event: error\ndata: ".to_vec();
    // Serialising strings into a Vec cannot fail; if it ever did, the event would
    // still be well-formed, only without its data.
    let _ = serde_json::to_writer(&mut out, &event);
    out.extend_from_slice(b"\n\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[test]
    #[wasm_bindgen_test]
    fn tool_denied_event_is_byte_exact() {
        assert_eq!(
            String::from_utf8(tool_denied_event("get_weather")).unwrap(),
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"permission_error\",\"message\":\"tool \\\"get_weather\\\" is not allowed\",\"tool\":\"get_weather\"}}\n\n"
        );
    }

    #[test]
    #[wasm_bindgen_test]
    fn names_are_json_escaped_and_cannot_break_the_line() {
        let ev = tool_denied_event("a\"b\\c\r\nevent: x\u{0}");
        let text = String::from_utf8(ev).unwrap();
        assert_eq!(text.matches('\n').count(), 3, "{text}");
        assert!(!text.contains('\r'));
        let data = text
            .strip_prefix("event: error\ndata: ")
            .unwrap()
            .strip_suffix("\n\n")
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(v["error"]["tool"], "a\"b\\c\r\nevent: x\u{0}");
        assert_eq!(
            v["error"]["message"],
            "tool \"a\"b\\c\r\nevent: x\u{0}\" is not allowed"
        );
    }

    #[test]
    #[wasm_bindgen_test]
    fn over_limit_event_is_byte_exact() {
        assert_eq!(
            String::from_utf8(over_limit_event("search")).unwrap(),
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"tool \\\"search\\\" is over its rate limit\",\"tool\":\"search\"}}\n\n"
        );
    }

    #[test]
    #[wasm_bindgen_test]
    fn stream_errors_have_no_tool() {
        assert_eq!(
            String::from_utf8(error_event_stream(&frame_too_large_message(65536))).unwrap(),
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"stream_error\",\"message\":\"event stream frame exceeds max_frame_bytes (65536 bytes)\"}}\n\n"
        );
    }
}
