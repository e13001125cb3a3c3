//! WHATWG framing edge cases, each with a tool-call frame hidden behind it. The
//! frame boundary is known by construction (`before` | `tool frame` | `after`).

use super::*;
use wasm_bindgen_test::wasm_bindgen_test;

const ANTHROPIC_BAD: &str = r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"bad","input":{}}}"#;

/// Denied: everything before the tool frame, then the error event for `name`.
/// Allowed (`*`): the input unchanged.
fn assert_cut(before: &[u8], tool_frame: &[u8], after: &[u8], name: &str) {
    let input = [before, tool_frame, after].concat();
    let r = assert_every_chunking(
        &input,
        &Allowlist::of(&["good"]),
        65536,
        &cut_before(before, name),
    );
    assert_eq!((r.denied, r.cut), (1, true));
    let r = assert_every_chunking(&input, &Allowlist::of(&["*"]), 65536, &input);
    assert!(r.allowed >= 1 && !r.cut);
}

fn assert_passes(input: &[u8]) {
    let r = assert_every_chunking(input, &Allowlist::of(&["good"]), 65536, input);
    assert_eq!((r.denied, r.cut), (0, false));
}

#[test]
#[wasm_bindgen_test]
fn bom_split_across_chunks() {
    // Every split point covers EF | BB BF and EF BB | BF.
    assert_cut(
        b"\xEF\xBB\xBFdata: {\"type\":\"text\"}\n\n",
        format!("data: {ANTHROPIC_BAD}\n\n").as_bytes(),
        b"data: {}\n\n",
        "bad",
    );
    // The BOM starts the tool frame itself.
    assert_cut(
        b"",
        "\u{FEFF}event: tool_call\ndata: {\"name\":\"bad\"}\n\n".as_bytes(),
        b"",
        "bad",
    );
}

#[test]
#[wasm_bindgen_test]
fn crlf_line_ends_split_between_cr_and_lf() {
    assert_cut(
        b"event: ping\r\ndata: {}\r\n\r\n",
        format!("event: content_block_start\r\ndata: {ANTHROPIC_BAD}\r\n\r\n").as_bytes(),
        b"data: {}\r\n\r\n",
        "bad",
    );
}

#[test]
#[wasm_bindgen_test]
fn cr_only_line_ends() {
    assert_cut(
        b"data: a\r\rdata: b\r\r",
        format!("data: {ANTHROPIC_BAD}\r\r").as_bytes(),
        b"data: c\r\r",
        "bad",
    );
}

#[test]
#[wasm_bindgen_test]
fn mixed_line_ends_and_a_cr_then_blank_lf_line() {
    // Line ends mixed within frames. The tool frame's blank line is a CR and the
    // next byte an LF: one line end, so that LF belongs to the denied frame.
    assert_cut(
        b"data: a\r\n\n",
        format!("data: {ANTHROPIC_BAD}\n\r").as_bytes(),
        b"\ndata: x\n\n",
        "bad",
    );
}

#[test]
#[wasm_bindgen_test]
fn comments_are_ignored_and_do_not_end_frames() {
    assert_cut(
        b": keep-alive\n\n:\n\n",
        format!(": a comment\ndata: {ANTHROPIC_BAD}\n: another\n\n").as_bytes(),
        b"",
        "bad",
    );
    // A comment holding a tool call is no tool call.
    assert_passes(format!(":{ANTHROPIC_BAD}\n\n: event: tool_call\n\n").as_bytes());
}

#[test]
#[wasm_bindgen_test]
fn data_without_a_space_after_the_colon() {
    assert_cut(
        b"data:{}\n\n",
        format!("data:{ANTHROPIC_BAD}\n\n").as_bytes(),
        b"",
        "bad",
    );
}

#[test]
#[wasm_bindgen_test]
fn multi_line_data_joined_into_json() {
    let tool = "data: {\"type\":\"content_block_start\",\ndata: \"content_block\":{\"type\":\"tool_use\",\ndata:\"name\":\"bad\"}}\n\n";
    assert_cut(b"data: {\ndata: }\n\n", tool.as_bytes(), b"", "bad");
}

#[test]
#[wasm_bindgen_test]
fn unknown_fields_and_fields_without_colon() {
    assert_cut(
        b"id: 1\nretry: 10\nfoo: bar\ndata\n\n",
        format!("id\nweird field\ndata: {ANTHROPIC_BAD}\nretry\n\n").as_bytes(),
        b"",
        "bad",
    );
    // Field names are exact: these are not `event` or `data` lines.
    assert_passes(
        format!(
            "eventx: tool_call\nEvent: tool_call\nevent : tool_call\ndata : {ANTHROPIC_BAD}\n\n"
        )
        .as_bytes(),
    );
}

#[test]
#[wasm_bindgen_test]
fn utf8_split_across_chunks() {
    // Every split point cuts the multi-byte characters somewhere.
    assert_cut(
        "data: {\"text\":\"caf\u{e9} \u{1F600} \u{4E2D}\"}\n\n".as_bytes(),
        "event: tool_call\ndata: {\"name\":\"b\u{e9}d\"}\n\n".as_bytes(),
        b"",
        "b\u{e9}d",
    );
}

#[test]
#[wasm_bindgen_test]
fn invalid_utf8_does_not_hide_a_tool_call() {
    // A browser decodes 0xFF as U+FFFD and parses the JSON; so must the guard.
    let tool = [
        br#"data: {"type":"tool-call","toolName":"bad","x":""#.as_slice(),
        b"\xFF",
        br#""}"#,
        b"\n\n",
    ]
    .concat();
    assert_cut(b"", &tool, b"", "bad");
}

#[test]
#[wasm_bindgen_test]
fn unterminated_tool_frame_at_end_of_stream() {
    assert_cut(
        b"data: {}\n\n",
        format!("data: {ANTHROPIC_BAD}").as_bytes(),
        b"",
        "bad",
    );
    assert_cut(
        b"data: {}\n\n",
        format!("data: {ANTHROPIC_BAD}\r").as_bytes(),
        b"",
        "bad",
    );
}

#[test]
#[wasm_bindgen_test]
fn escaped_names_and_keys() {
    assert_cut(
        b"",
        br#"data: {"type":"tool-call","toolName":"get\u005fweather"}

"#,
        b"",
        "get_weather",
    );
    let hidden = br#"data: {"typ\u0065":"content_block_start","content_block":{"type":"\u0074ool\u005fuse","n\u0061me":"bad"}}

"#;
    assert_cut(b"", hidden, b"", "bad");
    // The escaped name of an allowed tool is allowed.
    assert_passes(b"data: {\"type\":\"tool-call\",\"toolName\":\"go\\u006fd\"}\n\n");
}

#[test]
#[wasm_bindgen_test]
fn duplicate_keys_deny_if_any_value_is_denied() {
    assert_cut(
        b"",
        b"event: tool_call\ndata: {\"name\":\"good\",\"name\":\"bad\"}\n\n",
        b"",
        "bad",
    );
    assert_cut(
        b"",
        b"event: tool_call\ndata: {\"name\":\"bad\",\"name\":\"good\"}\n\n",
        b"",
        "bad",
    );
}

#[test]
#[wasm_bindgen_test]
fn generic_tool_call_without_a_readable_name() {
    assert_cut(
        b"data: x\n\n",
        b"event: tool_call\ndata: {\"id\":1}\n\n",
        b"",
        "",
    );
    assert_cut(b"", b"event: tool_start\ndata: not json\n\n", b"", "");
    assert_cut(b"", b"event: tool_call\n\n", b"", "");
    assert_cut(
        b"",
        b"event: tool_call\ndata: {\"name\":null}\n\n",
        b"",
        "null",
    );
}

#[test]
#[wasm_bindgen_test]
fn data_that_is_not_json_is_not_a_tool_call() {
    assert_passes(b"data: [DONE]\n\n");
    assert_passes(
        b"data: \"{'type': 'tool_use_stream', 'current_tool_use': {'name': 'bad'}}\"\n\n",
    );
    assert_passes(b"data: \"{\\\"type\\\":\\\"tool-call\\\",\\\"toolName\\\":\\\"bad\\\"}\"\n\n");
    assert_passes(b"data: the tool_use went fine\n\n");
}

#[test]
#[wasm_bindgen_test]
fn json_only_lax_parsers_accept_is_refused_when_it_looks_like_a_tool_call() {
    assert_cut(
        b"",
        b"data: {\"type\":\"tool-call\",\"toolName\":\"good\",\"n\":NaN}\n\n",
        b"",
        "",
    );
}

#[test]
#[wasm_bindgen_test]
fn a_tool_call_on_one_data_line_of_many() {
    assert_cut(
        b"",
        b"data: {\"type\":\"text\"}\ndata: {\"type\":\"tool-call\",\"toolName\":\"bad\"}\n\n",
        b"",
        "bad",
    );
}

#[test]
#[wasm_bindgen_test]
fn frame_over_max_frame_bytes_is_a_stream_error() {
    use super::super::error_event::{error_event_stream, frame_too_large_message};
    let before = b"data: small\n\n";
    let big = format!("data: {}\n\n", "x".repeat(200));
    let input = [&before[..], big.as_bytes(), b"data: after\n\n"].concat();
    let mut expected = before.to_vec();
    expected.extend_from_slice(&error_event_stream(&frame_too_large_message(100)));
    let r = assert_every_chunking(&input, &Allowlist::of(&["*"]), 100, &expected);
    assert!(r.cut && r.denied == 0);
    // An unterminated tail over the limit at the end of the stream, too.
    let input = [&before[..], format!("data: {}", "x".repeat(200)).as_bytes()].concat();
    assert_every_chunking(&input, &Allowlist::of(&["*"]), 100, &expected);
    // A frame of exactly the limit passes.
    let exact = format!("data: {}\n\n", "x".repeat(92));
    assert_eq!(exact.len(), 100);
    assert_every_chunking(
        exact.as_bytes(),
        &Allowlist::of(&["*"]),
        100,
        exact.as_bytes(),
    );
}
