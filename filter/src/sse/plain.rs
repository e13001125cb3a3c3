//! The raw-byte test that lets most frames of a stream through without parsing.
//!
//! The guard acts on a frame only if the frame (a) names a tool (the dialect
//! markers of `markers::PARSE_MARKERS`, after JSON unescaping), (b) is a generic
//! `tool_call` / `tool_start` event, or (c) is an MCP `tools/list` answer (its data
//! holds `"tools"` after unescaping). Every one of those needs, somewhere in the
//! frame's raw bytes, a [suspect](first_suspect):
//!
//! - `_call`, `functionCall`, or `tool` followed by `_u`, `_s`, `U`, `-`, `s"` or
//!   `s\` (`tool_use`, `tool_start`, `toolUse`, `tool-`, `"tools"` and `\"tools\"`);
//! - a NUL byte (unescaping drops it, which can join a marker);
//! - a backslash that is not one of the escapes `\"`, `\\`, `\/`, `\b`, `\f`,
//!   `\n`, `\r`, `\t`: `\u` can spell any letter, and a lax escape (`\_`) decodes
//!   to the character itself.
//!
//! Why that is enough: every `event` and `data` value is a run of the frame's
//! raw bytes; the data lines are joined with LF, which no marker contains; lossy
//! UTF-8 decoding never turns an ASCII byte into another; and the escapes left
//! out above decode to `"`, `\`, `/` or a control character, none of which
//! occurs in a marker letter run. So a marker in the decoded text without a
//! suspect in the raw bytes is impossible. The converse need not hold: a suspect
//! only sends its frame to the full parser, which decides.

use super::scan::{find, find_either};

/// How far back from the end of the bytes already checked a suspect can start
/// and still be unfinished: one less than the longest needle (`functionCall`).
pub const LOOKBEHIND: usize = 11;

/// The first position at or after `from` where a suspect starts, or `None`.
/// `tool` at the very end (or `tool_`, `tools`) counts: the bytes that decide it
/// have not arrived. A needle cut short (`functionCa`) is not found; the caller
/// scans again from [`LOOKBEHIND`] bytes before the end once more bytes came.
pub fn first_suspect(bytes: &[u8], from: usize) -> Option<usize> {
    let rest = bytes.get(from..)?;
    [
        find_all(rest, b"_call", |_| true),
        find_all(rest, b"functionCall", |_| true),
        find_all(rest, b"tool", |after| {
            matches!(
                after,
                [] | [b'_']
                    | [b's']
                    | [b'_', b'u' | b's', ..]
                    | [b'U' | b'-', ..]
                    | [b's', b'"' | b'\\', ..]
            )
        }),
        first_odd_escape(rest),
    ]
    .into_iter()
    .flatten()
    .min()
    .map(|at| at.saturating_add(from))
}

/// The first `needle` whose following bytes pass `confirm`.
fn find_all(bytes: &[u8], needle: &[u8], confirm: impl Fn(&[u8]) -> bool) -> Option<usize> {
    let mut at = 0usize;
    loop {
        let found = at.checked_add(find(bytes.get(at..)?, needle)?)?;
        let end = found.saturating_add(needle.len());
        if confirm(bytes.get(end..).unwrap_or_default()) {
            return Some(found);
        }
        at = found.saturating_add(1);
    }
}

/// The first NUL, or backslash not starting a plain JSON escape. A backslash at
/// the very end is not one yet: its next byte decides, and the caller scans it
/// again with that byte (see [`LOOKBEHIND`]).
fn first_odd_escape(bytes: &[u8]) -> Option<usize> {
    let mut at = 0usize;
    loop {
        let found = at.checked_add(find_either(bytes.get(at..)?, b'\\', 0)?)?;
        match (bytes.get(found), bytes.get(found.saturating_add(1))) {
            (Some(b'\\'), Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't')) => {
                at = found.saturating_add(2);
            }
            (Some(b'\\'), None) => return None,
            _ => return Some(found),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::markers::{may_hold_tool_call, unescaped};
    use wasm_bindgen_test::wasm_bindgen_test;

    #[test]
    #[wasm_bindgen_test]
    fn finds_each_kind_of_suspect() {
        let hit = |s: &[u8]| first_suspect(s, 0);
        assert_eq!(hit(br#"{"type":"tool_use"}"#), Some(9));
        assert_eq!(hit(br#"{"toolUse":{}}"#), Some(2));
        assert_eq!(hit(br#"{"type":"tool-call"}"#), Some(9));
        assert_eq!(hit(b"event: tool_start"), Some(7));
        assert_eq!(hit(br#"{"tools":[]}"#), Some(2));
        assert_eq!(hit(br#"{\"tools\":[]}"#), Some(3));
        assert_eq!(hit(br#"{"functionCall":{}}"#), Some(2));
        assert_eq!(hit(br#"{"type":"web_search_call"}"#), Some(19));
        assert_eq!(hit(br#"x\u0074"#), Some(1));
        assert_eq!(hit(br#"x\_"#), Some(1));
        assert_eq!(hit(b"x\0y"), Some(1));
        // Unfinished at the end: the next bytes decide.
        assert_eq!(hit(b"a too"), None);
        assert_eq!(hit(b"a tool"), Some(2));
        assert_eq!(hit(b"a tool_"), Some(2));
    }

    #[test]
    #[wasm_bindgen_test]
    fn plain_text_and_plain_escapes_are_not_suspects() {
        let plain: &[&[u8]] = &[
            br#"{"type":"content_block_delta","delta":{"type":"text_delta","text":"a\n\"b\"\\ \/ \t\r\b\f"}}"#,
            b"data: the tool is a toolbox, tools are tooling",
            b"a backslash at the end \\",
            b"",
        ];
        for text in plain {
            assert_eq!(
                first_suspect(text, 0),
                None,
                "{}",
                String::from_utf8_lossy(text)
            );
        }
        assert_eq!(first_suspect(b"tool_use", 1), None);
        assert_eq!(first_suspect(b"tool_use", 100), None);
    }

    /// The promise the guard relies on: no suspect, no marker after unescaping.
    #[test]
    #[wasm_bindgen_test]
    fn no_suspect_means_no_marker_in_the_unescaped_text() {
        let alphabet: &[&[u8]] = &[
            b"tool",
            b"_",
            b"use",
            b"U",
            b"s",
            b"-",
            b"\"",
            b"\\",
            b"u00",
            b"5f",
            b"74",
            b"call",
            b"function",
            b"C",
            b"n",
            b"\0",
            b"x",
            b"/",
            b"\n",
        ];
        let mut rng = crate::sse::tests::Rng::new(7);
        for _ in 0..100_000 {
            let mut text = Vec::new();
            for _ in 0..rng.below(8) {
                let part: &&[u8] = rng.pick(alphabet);
                text.extend_from_slice(part);
            }
            let plain = unescaped(&text);
            let tools = crate::sse::scan::find(&plain, b"\"tools\"").is_some();
            if may_hold_tool_call(&text) || tools {
                assert!(
                    first_suspect(&text, 0).is_some(),
                    "{:?}",
                    String::from_utf8_lossy(&text)
                );
            }
        }
    }
}
