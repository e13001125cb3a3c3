//! An event-stream reader for the tests, written from the SPEC and the WHATWG
//! rules without looking at the filter's code: it splits a fixture into frames
//! (byte ranges) and says which frames start tool calls, so a test can compute
//! where the filter must cut a stream on its own.

use std::ops::Range;

use serde_json::Value;

/// One frame: the lines up to and including the blank line that ends them
/// (the last frame of a stream may lack it).
#[derive(Clone, Debug)]
pub struct Frame {
    /// Byte range in the stream, terminating blank line included. The stream's
    /// BOM, if any, belongs to the first frame.
    pub range: Range<usize>,
    /// Every `event` value, in order.
    pub events: Vec<String>,
    /// The `data` values joined with `\n`.
    pub data: String,
    /// Whether a blank line ended it (false only for an unterminated tail).
    pub terminated: bool,
}

/// Splits `stream` into frames. Lines end in CRLF, LF or CR; a frame ends at a
/// blank line. Bytes after the last blank line form one unterminated frame.
pub fn frames(stream: &[u8]) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut pos = if stream.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    let mut events = Vec::new();
    let mut data: Option<String> = None;
    while pos < stream.len() {
        let rest = &stream[pos..];
        let (line_len, end_len) = match rest.iter().position(|&b| b == b'\r' || b == b'\n') {
            Some(i) if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') => (i, 2),
            Some(i) => (i, 1),
            None => (rest.len(), 0),
        };
        let line = &rest[..line_len];
        pos += line_len + end_len;
        if end_len == 0 {
            // An unfinished last line: part of the unterminated tail.
            field(line, &mut events, &mut data);
            break;
        }
        if line.is_empty() {
            out.push(Frame {
                range: start..pos,
                events: std::mem::take(&mut events),
                data: data.take().unwrap_or_default(),
                terminated: true,
            });
            start = pos;
        } else {
            field(line, &mut events, &mut data);
        }
    }
    if start < stream.len() {
        out.push(Frame {
            range: start..stream.len(),
            events,
            data: data.unwrap_or_default(),
            terminated: false,
        });
    }
    out
}

fn field(line: &[u8], events: &mut Vec<String>, data: &mut Option<String>) {
    if line.first() == Some(&b':') {
        return;
    }
    let (name, value) = match line.iter().position(|&b| b == b':') {
        Some(c) => {
            let v = &line[c + 1..];
            (&line[..c], v.strip_prefix(b" ").unwrap_or(v))
        }
        None => (line, &b""[..]),
    };
    let value = String::from_utf8_lossy(value).into_owned();
    match name {
        b"event" => events.push(value),
        b"data" => match data {
            Some(d) => {
                d.push('\n');
                d.push_str(&value);
            }
            None => *data = Some(value),
        },
        _ => {}
    }
}

/// The names of the tool calls a frame starts, by the SPEC's dialect table.
/// An empty string stands for a generic `tool_call` without a name.
pub fn tool_calls(frame: &Frame) -> Vec<String> {
    let mut names = Vec::new();
    let json: Option<Value> = serde_json::from_str(&frame.data).ok();
    if frame
        .events
        .iter()
        .any(|e| e == "tool_call" || e == "tool_start")
    {
        let name = json
            .as_ref()
            .and_then(|j| j.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("");
        names.push(name.to_string());
    }
    let Some(d) = json.filter(Value::is_object) else {
        return names;
    };
    let s = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
    let ty = s(&d, "/type").unwrap_or_default();
    // Anthropic Messages.
    if ty == "content_block_start" {
        let block_type = s(&d, "/content_block/type").unwrap_or_default();
        if ["tool_use", "server_tool_use", "mcp_tool_use"].contains(&block_type.as_str()) {
            names.extend(s(&d, "/content_block/name"));
        }
    }
    // OpenAI Chat Completions.
    for choice in d
        .get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for call in choice
            .pointer("/delta/tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            names.extend(s(call, "/function/name"));
        }
        names.extend(s(choice, "/delta/function_call/name"));
    }
    // OpenAI Responses.
    if ty == "response.output_item.added" || ty == "response.output_item.done" {
        let item_type = s(&d, "/item/type").unwrap_or_default();
        if let Some(base) = item_type.strip_suffix("_call") {
            names.push(s(&d, "/item/name").unwrap_or_else(|| base.to_string()));
        }
    }
    // Bedrock ConverseStream / Strands / AgentCore.
    for p in [
        "/event/contentBlockStart/start/toolUse",
        "/contentBlockStart/start/toolUse",
    ] {
        if let Some(tool_use) = d.pointer(p) {
            names.extend(s(tool_use, "/name"));
        }
    }
    // Gemini.
    for cand in d
        .get("candidates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for part in cand
            .pointer("/content/parts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            names.extend(s(part, "/functionCall/name"));
        }
    }
    // Vercel AI SDK UI stream.
    if ["tool-input-start", "tool-input-available", "tool-call"].contains(&ty.as_str()) {
        names.extend(s(&d, "/toolName"));
    }
    names
}

/// The first frame starting a tool call, with its index and names.
pub fn first_tool_frame(stream: &[u8]) -> Option<(usize, Frame, Vec<String>)> {
    frames(stream).into_iter().enumerate().find_map(|(i, f)| {
        let names = tool_calls(&f);
        (!names.is_empty()).then_some((i, f, names))
    })
}

/// Every tool name the stream calls, in order of first appearance.
pub fn all_tool_names(stream: &[u8]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in frames(stream) {
        for n in tool_calls(&f) {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    out
}

/// The exact event the filter sends in place of a denied tool frame (SPEC).
pub fn denied_event(tool: &str) -> String {
    // Written out by hand, in the SPEC's member order.
    format!(
        "event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"permission_error\",\"message\":{},\"tool\":{}}}}}\n\n",
        Value::String(format!("tool \"{tool}\" is not allowed")),
        Value::String(tool.to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_cover_the_stream_and_handle_every_line_end() {
        let s =
            b"\xEF\xBB\xBFdata: a\r\n\r\n: c\revent: x\rdata: b\r\rdata: {\"n\":1}\n\ndata: tail";
        let f = frames(s);
        assert_eq!(f.len(), 4);
        assert_eq!(f[0].data, "a");
        assert_eq!(f[1].events, vec!["x"]);
        assert_eq!(f[1].data, "b");
        assert!(!f[3].terminated);
        assert_eq!(f.last().unwrap().range.end, s.len());
        assert_eq!(denied_event("t"), "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"permission_error\",\"message\":\"tool \\\"t\\\" is not allowed\",\"tool\":\"t\"}}\n\n");
    }
}
