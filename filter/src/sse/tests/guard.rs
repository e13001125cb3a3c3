//! The guard's contract per call: output, counters, verdicts.

use super::*;
use crate::sse::guard::{CutReason, StreamGuard, Verdict};
use wasm_bindgen_test::wasm_bindgen_test;

#[test]
#[wasm_bindgen_test]
fn complete_frames_go_out_as_soon_as_they_are_complete() {
    let mut g = StreamGuard::new(Allowlist::of(&["*"]), 65536);
    let r = g.on_chunk(b"data: a\n\ndata: b", false);
    assert_eq!(r.output, b"data: a\n\n");
    assert_eq!(r.verdict, Verdict::Continue);
    assert_eq!(g.held_bytes(), 7);
    let r = g.on_chunk(b"\n", false);
    assert!(r.output.is_empty());
    let r = g.on_chunk(b"\n", false);
    assert_eq!(r.output, b"data: b\n\n");
    let r = g.on_chunk(b"", true);
    assert!(r.output.is_empty() && r.verdict == Verdict::Continue);
}

#[test]
#[wasm_bindgen_test]
fn a_cut_sends_the_frames_before_then_the_event_then_nothing() {
    let mut g = StreamGuard::new(Allowlist::of(&["good"]), 65536);
    let r = g.on_chunk(
        b"event: tool_call\ndata: {\"name\":\"good\"}\n\nevent: tool_call\ndata: {\"name\":\"bad\"}\n\ndata: later\n\n",
        false,
    );
    let expected = cut_before(b"event: tool_call\ndata: {\"name\":\"good\"}\n\n", "bad");
    assert_eq!(Lossy(&r.output), Lossy(&expected));
    assert_eq!((r.tools_allowed, r.tools_denied), (1, 1));
    assert_eq!(
        r.verdict,
        Verdict::Cut(CutReason::ToolDenied { name: "bad".into() })
    );
    assert!(g.is_closed());
    assert_eq!(g.held_bytes(), 0);
    for eos in [false, true] {
        let r = g.on_chunk(b"data: more\n\n", eos);
        assert_eq!((r.output.len(), r.verdict), (0, Verdict::Closed));
    }
}

#[test]
#[wasm_bindgen_test]
fn the_error_event_is_exactly_the_spec_bytes() {
    let mut g = StreamGuard::new(Allowlist::of(&[]), 65536);
    let r = g.on_chunk(
        b"event: tool_call\ndata: {\"name\":\"get_weather\"}\n\n",
        true,
    );
    assert_eq!(
        String::from_utf8(r.output).unwrap(),
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"permission_error\",\"message\":\"tool \\\"get_weather\\\" is not allowed\",\"tool\":\"get_weather\"}}\n\n"
    );
}

#[test]
#[wasm_bindgen_test]
fn a_hostile_name_cannot_inject_lines_into_the_error_event() {
    let mut g = StreamGuard::new(Allowlist::of(&[]), 65536);
    let r = g.on_chunk(
        b"event: tool_call\ndata: {\"name\":\"x\\r\\n\\nevent: tool_call\\ndata: \\\"\"}\n\n",
        true,
    );
    let text = String::from_utf8(r.output).unwrap();
    assert!(text.starts_with("event: error\ndata: {"));
    assert_eq!(text.matches('\n').count(), 3, "{text}");
    assert!(!text.contains('\r'));
}

#[test]
#[wasm_bindgen_test]
fn counts_distinct_names_per_frame() {
    let mut g = StreamGuard::new(Allowlist::of(&["*"]), 65536);
    let parallel = br#"data: {"choices":[{"delta":{"tool_calls":[{"function":{"name":"a"}},{"function":{"name":"b"}},{"function":{"name":"a"}}]}}]}

"#;
    let r = g.on_chunk(parallel, false);
    assert_eq!((r.tools_allowed, r.tools_denied), (2, 0));
    let r = g.on_chunk(
        b"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n",
        true,
    );
    assert_eq!(r.tools_allowed, 0);
}

#[test]
#[wasm_bindgen_test]
fn restated_calls_are_checked_again_but_counted_once() {
    let mut g = StreamGuard::new(Allowlist::of(&["a"]), 65536);
    let start = br#"data: {"type":"tool-input-start","toolCallId":"c1","toolName":"a"}

"#;
    let available =
        br#"data: {"type":"tool-input-available","toolCallId":"c1","toolName":"a","input":{}}

"#;
    let other =
        br#"data: {"type":"tool-input-available","toolCallId":"c2","toolName":"a","input":{}}

"#;
    assert_eq!(g.on_chunk(start, false).tools_allowed, 1);
    assert_eq!(g.on_chunk(available, false).tools_allowed, 0);
    assert_eq!(g.on_chunk(other, false).tools_allowed, 1);
    // A restatement naming another tool is still checked.
    let renamed = br#"data: {"type":"tool-input-available","toolCallId":"c1","toolName":"b"}

"#;
    let r = g.on_chunk(renamed, true);
    assert_eq!((r.tools_allowed, r.tools_denied), (0, 1));
    assert_eq!(
        r.verdict,
        Verdict::Cut(CutReason::ToolDenied { name: "b".into() })
    );
}

#[test]
#[wasm_bindgen_test]
fn frame_too_large_cut_names_the_limit() {
    let mut g = StreamGuard::new(Allowlist::of(&["*"]), 16);
    let r = g.on_chunk(b"data: ok\n\ndata: 0123456789x", false);
    assert_eq!(
        r.verdict,
        Verdict::Cut(CutReason::FrameTooLarge { limit: 16 })
    );
    assert!(r.output.starts_with(
        b"data: ok\n\nevent: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"stream_error\""
    ));
    assert_eq!(g.on_chunk(b"\n\n", true).verdict, Verdict::Closed);
}
