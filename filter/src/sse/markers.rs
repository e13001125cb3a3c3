//! Cheap byte tests that decide which `data` needs a JSON parse.
//!
//! Parsing every frame would cost a tree of allocations per text delta. Every
//! dialect of SPEC's table needs a key or a value that contains one of
//! [`PARSE_MARKERS`] after JSON decoding:
//!
//! | dialect | decoded text it needs | marker |
//! |---|---|---|
//! | Anthropic | `tool_use`, `server_tool_use`, `mcp_tool_use` | `tool_use` |
//! | OpenAI Chat | `tool_calls`, `function_call` | `_call` |
//! | OpenAI Responses | an `item.type` ending in `_call` | `_call` |
//! | Bedrock / Strands / AgentCore | `toolUse` | `toolUse` |
//! | Gemini | `functionCall` | `functionCall` |
//! | Vercel AI SDK | `tool-input-start`, `tool-input-available`, `tool-call` | `tool-` |
//!
//! The generic dialect is keyed on the `event` field and is always parsed.
//!
//! The test runs on the JSON text with its escapes decoded ([`unescaped`]), never
//! on the raw bytes alone: `"tool\u005fuse"` or `"\u0074oolUse"` decode to a
//! marker that the raw bytes do not contain, and a bare search would let such a
//! frame through unchecked. Decoding every backslash sequence left to right is what
//! a JSON parser does inside strings, so every decoded key and value appears whole
//! in the unescaped text. Escapes other than `\u` only produce `"`, `\`, `/` and
//! control characters, none of which occur in a marker.

use super::scan::{find_either, Needles};
use std::borrow::Cow;

/// A `data` that contains none of these (after unescaping) cannot be a tool call of
/// any JSON dialect, so it is not parsed.
pub const PARSE_MARKERS: [&str; 5] = ["_call", "tool_use", "toolUse", "functionCall", "tool-"];

/// Text that a JSON parser refused but that holds one of these (after unescaping)
/// is treated as a tool call that cannot be checked. serde_json is stricter than
/// the parsers clients use: Python's `json` takes `NaN` and `Infinity`, JavaScript
/// and Python take lone surrogates (`"\ud800"`), numbers like `1e400` and nesting
/// deeper than serde_json's 128 levels. A tool call wrapped in any of these would
/// otherwise pass unchecked. Every client parser needs keys in double quotes, so
/// the markers are the quoted dialect tokens; text that merely mentions a tool
/// (or Python text with single quotes) does not match.
pub const UNPARSED_TOOL_MARKERS: [&str; 7] = [
    "_call\"",
    "tool_use\"",
    "\"tool_calls\"",
    "\"toolUse\"",
    "\"functionCall\"",
    "\"toolName\"",
    "\"tool-",
];

/// `text` with every JSON backslash escape decoded (a lone surrogate becomes
/// U+FFFD) and NUL bytes dropped (so UTF-16 text of ASCII JSON reads as ASCII).
/// Borrowed when there is nothing to decode.
pub fn unescaped(text: &[u8]) -> Cow<'_, [u8]> {
    if find_either(text, b'\\', 0).is_none() {
        return Cow::Borrowed(text);
    }
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    loop {
        // Copy the run up to the next backslash or NUL in one go.
        let Some(at) = find_either(rest, b'\\', 0) else {
            out.extend_from_slice(rest);
            break;
        };
        out.extend_from_slice(rest.get(..at).unwrap_or_default());
        let (b, tail) = match rest.get(at..).and_then(<[u8]>::split_first) {
            Some((&b, tail)) => (b, tail),
            None => break,
        };
        rest = if b == 0 {
            tail
        } else {
            decode_escape(tail, &mut out)
        };
    }
    Cow::Owned(out)
}

/// Decodes the escape whose backslash was just consumed; returns what follows it.
fn decode_escape<'a>(rest: &'a [u8], out: &mut Vec<u8>) -> &'a [u8] {
    let Some((&kind, tail)) = rest.split_first() else {
        out.push(b'\\');
        return rest;
    };
    let simple = match kind {
        b'b' => Some(0x08),
        b'f' => Some(0x0C),
        b'n' => Some(b'\n'),
        b'r' => Some(b'\r'),
        b't' => Some(b'\t'),
        b'u' => None,
        // `"`, `\`, `/`, and anything a lax parser might accept as itself.
        other => Some(other),
    };
    if let Some(byte) = simple {
        out.push(byte);
        return tail;
    }
    let Some(first) = hex4(tail) else {
        // Not a valid \u escape: keep it as text.
        out.extend_from_slice(b"\\u");
        return tail;
    };
    let mut after = tail.get(4..).unwrap_or_default();
    let c = if (0xD800..0xDC00).contains(&first) {
        match after.strip_prefix(b"\\u").and_then(hex4) {
            Some(second) if (0xDC00..0xE000).contains(&second) => {
                after = after.get(6..).unwrap_or_default();
                char::from_u32(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
            }
            _ => None,
        }
    } else {
        char::from_u32(first)
    };
    let mut utf8 = [0u8; 4];
    out.extend_from_slice(c.unwrap_or('\u{FFFD}').encode_utf8(&mut utf8).as_bytes());
    after
}

fn hex4(bytes: &[u8]) -> Option<u32> {
    let digits = bytes.get(..4)?;
    digits.iter().try_fold(0u32, |acc, &d| {
        let v = (d as char).to_digit(16)?;
        Some(acc * 16 + v)
    })
}

pub use super::scan::contains_any;

const PARSE_SET: Needles<'static> = Needles::new(&PARSE_MARKERS);
const UNPARSED_SET: Needles<'static> = Needles::new(&UNPARSED_TOOL_MARKERS);

/// Could `data` be a tool call of one of the JSON dialects? False means certainly not.
pub fn may_hold_tool_call(data: &[u8]) -> bool {
    PARSE_SET.in_bytes(&unescaped(data))
}

/// Does text that failed to parse look like a tool call to a laxer client?
pub fn looks_like_tool_call(text: &[u8]) -> bool {
    UNPARSED_SET.in_bytes(&unescaped(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[test]
    #[wasm_bindgen_test]
    fn decodes_escapes_left_to_right() {
        assert_eq!(&*unescaped(br#""tool\u005fuse""#), br#""tool_use""#);
        assert_eq!(&*unescaped(br#"\\u0074"#), br#"\u0074"#);
        assert_eq!(&*unescaped(br#"a\"b\/c\n"#), b"a\"b/c\n");
        assert_eq!(
            &*unescaped(br#"\ud83d\ude00 \ud800x \uZZ"#),
            "\u{1F600} \u{FFFD}x \\uZZ".as_bytes()
        );
        assert_eq!(&*unescaped(b"t\0o\0o\0l\0"), b"tool");
        assert!(matches!(unescaped(b"plain"), Cow::Borrowed(_)));
        assert_eq!(&*unescaped(b"end\\"), b"end\\");
    }

    #[test]
    #[wasm_bindgen_test]
    fn escaped_markers_are_found() {
        assert!(may_hold_tool_call(br#"{"type":"\u0074ool_use"}"#));
        assert!(may_hold_tool_call(br#"{"\u0074oolUse":{}}"#));
        assert!(may_hold_tool_call(br#"{"function\u0043all":{}}"#));
        assert!(may_hold_tool_call(br#"{"type":"x\u005fcall"}"#));
        assert!(!may_hold_tool_call(
            br#"{"type":"content_block_delta","delta":{"text":"tool"}}"#
        ));
        assert!(!may_hold_tool_call(b"[DONE]"));
    }

    #[test]
    #[wasm_bindgen_test]
    fn unparsed_markers_need_double_quoted_tokens() {
        assert!(looks_like_tool_call(
            br#"{"type":"tool-call","toolName":"x","n":NaN}"#
        ));
        assert!(looks_like_tool_call(
            br#"{"type":"web_search\u005fcall",x}"#
        ));
        assert!(!looks_like_tool_call(b"{'type': 'tool_use', 'name': 'x'}"));
        assert!(!looks_like_tool_call(b"I will call a tool_use now"));
    }
}
