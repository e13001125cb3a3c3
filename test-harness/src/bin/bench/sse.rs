//! The SSE bodies the streaming scenarios send: Anthropic Messages frames as a
//! model streams them, mostly small `content_block_delta` text frames.

/// One text delta frame (about 130 bytes, like a real token-by-token stream).
pub fn delta_frame(n: usize) -> String {
    format!(
        "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"chunk {n:06} of the answer, \"}}}}\n\n"
    )
}

/// The first frame of a message.
pub fn message_start() -> String {
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_bench\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-bench\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n".to_string()
}

/// One text delta frame carrying `text_bytes` of text (4 KiB for the stream of
/// few large frames: a model writing a long paragraph per event).
pub fn large_delta_frame(n: usize, text_bytes: usize) -> String {
    let text = "lorem ipsum ".repeat(text_bytes / 12 + 1);
    let text = text.get(..text_bytes).unwrap_or(&text);
    format!(
        "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"{n:06} {text}\"}}}}\n\n"
    )
}

/// A complete Anthropic stream of at least `size` bytes: a text block of
/// delta frames, one `tool_use` block for `search` halfway (so the policing
/// filter counts one allowed tool call per stream), and the closing frames.
pub fn stream_of(size: usize) -> String {
    stream_with(size, delta_frame)
}

/// [`stream_of`] with text deltas of 4 KiB.
pub fn large_frame_stream_of(size: usize) -> String {
    stream_with(size, |n| large_delta_frame(n, 4096))
}

fn stream_with(size: usize, delta_frame: impl Fn(usize) -> String) -> String {
    let mut out = message_start();
    out.push_str("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
    let mut n = 0;
    let mut tool_done = false;
    while out.len() < size {
        if !tool_done && out.len() >= size / 2 {
            out.push_str("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n");
            out.push_str("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_bench\",\"name\":\"search\",\"input\":{}}}\n\n");
            out.push_str("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"q\\\":\\\"bench\\\"}\"}}\n\n");
            out.push_str("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n");
            out.push_str("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
            tool_done = true;
        }
        out.push_str(&delta_frame(n));
        n += 1;
    }
    out.push_str(
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n",
    );
    out.push_str("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":4096}}\n\n");
    out.push_str("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    out
}

/// The start of a frame `len` bytes long that never ends (no blank line):
/// what a filter holding one incomplete frame per stream must keep.
pub fn unfinished_frame(len: usize) -> String {
    let prefix = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"";
    let mut out = prefix.to_string();
    out.push_str(&"x".repeat(len.saturating_sub(prefix.len())));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_has_the_size_and_one_tool_call() {
        let s = stream_of(64 * 1024);
        assert!(s.len() >= 64 * 1024 && s.len() < 65 * 1024, "{}", s.len());
        assert_eq!(s.matches("\"tool_use\"").count(), 1);
        assert!(s.ends_with("\n\n"));
        assert_eq!(unfinished_frame(1000).len(), 1000);
        assert!(!unfinished_frame(1000).contains("\n\n"));
        let l = large_frame_stream_of(64 * 1024);
        assert_eq!(l.matches("\"tool_use\"").count(), 1);
        assert!(
            l.matches("\n\n").count() < 30,
            "{}",
            l.matches("\n\n").count()
        );
    }
}
