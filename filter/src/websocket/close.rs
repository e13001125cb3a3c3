//! The close frame that ends a policed connection (RFC 6455 §5.5.1, §7.4).

use super::header;

/// 1008: the message violates the endpoint's policy (a denied tool call).
pub const POLICY_VIOLATION: u16 = 1008;
/// 1009: a message too big to process (over `max_frame_bytes`).
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// 1011: the server cannot go on (a tool call that could not be charged, with
/// `failure_mode_deny`).
pub const INTERNAL_ERROR: u16 = 1011;
/// 1002: the upstream broke the framing rules; nothing after it can be read.
pub const PROTOCOL_ERROR: u16 = 1002;

/// A control frame's payload is at most 125 bytes, two of them the code.
const MAX_REASON: usize = 123;

/// An unmasked (server-to-client) close frame with `code` and `reason`. A reason
/// longer than a control frame holds is cut at a character boundary, so it stays
/// the valid UTF-8 RFC 6455 requires.
pub fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(MAX_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let reason = reason.get(..end).unwrap_or_default();
    let mut out = header::encode(true, 0x8, 2 + reason.len());
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(reason.as_bytes());
    out
}

/// The reason of a 1009 close.
pub fn too_big_reason(limit: usize) -> String {
    format!("message exceeds max_frame_bytes ({limit} bytes)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[test]
    #[wasm_bindgen_test]
    fn a_close_frame_is_code_then_reason() {
        assert_eq!(
            close_frame(1008, "tool \"x\" is not allowed"),
            [&[0x88, 25, 0x03, 0xF0][..], b"tool \"x\" is not allowed"].concat()
        );
    }

    #[test]
    #[wasm_bindgen_test]
    fn a_long_reason_is_cut_to_125_bytes_on_a_character_boundary() {
        let reason = format!("tool \"{}\" is not allowed", "\u{e9}".repeat(100));
        let frame = close_frame(1008, &reason);
        assert!(frame.len() <= 2 + 125);
        assert_eq!(usize::from(frame[1]), frame.len() - 2);
        assert!(std::str::from_utf8(&frame[4..]).is_ok());
        assert!(reason.starts_with(std::str::from_utf8(&frame[4..]).unwrap()));
    }
}
