//! Arbitrary WebSocket server-to-client bytes cut into arbitrary chunks (layout
//! in `toolguard_fuzz::Layout`), through the message guard, against a
//! whole-buffer reference written here without the guard's incremental parser.
//!
//! Differential: the output, the counters and the close are the same whatever
//! the chunking, and the same as the reference's: every frame forwarded as the
//! reference walks the buffer (binary and control frames as far as they go, text
//! messages whole at their last fragment), and at the first denied call, message
//! over the limit or broken frame, the close frame with the reference's code and
//! nothing after it. Under no chunking is more than one message held.
#![no_main]

use libfuzzer_sys::fuzz_target;
use toolguard::policy::Allowlist;
use toolguard::sse::dialects::detect;
use toolguard::websocket::close::close_frame;
use toolguard::websocket::{CloseReason, MessageGuard, WsVerdict};
use toolguard_fuzz::{allowlist, Layout, MAX_FRAME_BYTES};

#[derive(Debug, PartialEq)]
struct Run {
    output: Vec<u8>,
    allowed: u32,
    denied: u32,
    close: Option<CloseReason>,
}

fn guard(chunks: &[&[u8]], max: usize, list: &Allowlist) -> Run {
    let mut g = MessageGuard::new(list.clone(), max);
    let mut run = Run {
        output: Vec::new(),
        allowed: 0,
        denied: 0,
        close: None,
    };
    for chunk in chunks {
        let r = g.on_chunk(chunk);
        if run.close.is_some() {
            assert_eq!(r.verdict, WsVerdict::Closed);
            assert!(r.output.is_empty(), "bytes after the close");
            continue;
        }
        run.output.extend_from_slice(&r.output);
        run.allowed += r.tools_allowed;
        run.denied += r.tools_denied;
        match r.verdict {
            WsVerdict::Continue => {}
            WsVerdict::Close(reason) => run.close = Some(reason),
            WsVerdict::Closed => panic!("Closed before any close"),
        }
        assert!(
            g.held_bytes() <= 2 * max + 14 + 14,
            "held {}",
            g.held_bytes()
        );
    }
    run
}

/// What the reference decides: the bytes forwarded, and the close code, with the
/// denied tool's name for 1008.
#[derive(Debug, PartialEq)]
struct Reference {
    output: Vec<u8>,
    close: Option<(u16, Option<String>)>,
}

fn reference(buf: &[u8], max: usize, list: &Allowlist) -> Reference {
    let mut out = Vec::new();
    let mut held = Vec::new();
    let mut payload: Vec<u8> = Vec::new();
    // None, Some(true) text, Some(false) binary.
    let mut message: Option<bool> = None;
    let mut i = 0usize;
    let close = |out: Vec<u8>, code: u16, name: Option<String>| Reference {
        output: out,
        close: Some((code, name)),
    };
    loop {
        if buf.len() < i + 2 {
            return Reference {
                output: out,
                close: None,
            };
        }
        let (b0, b1) = (buf[i], buf[i + 1]);
        let ext = match b1 & 0x7F {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let masked = b1 & 0x80 != 0;
        let hl = 2 + ext + if masked { 4 } else { 0 };
        if buf.len() < i + hl {
            return Reference {
                output: out,
                close: None,
            };
        }
        if b0 & 0x70 != 0 {
            return close(out, 1002, None);
        }
        let op = b0 & 0x0F;
        if ![0, 1, 2, 8, 9, 10].contains(&op) {
            return close(out, 1002, None);
        }
        let fin = b0 & 0x80 != 0;
        let len: u64 = match ext {
            0 => u64::from(b1 & 0x7F),
            n => buf[i + 2..i + 2 + n]
                .iter()
                .fold(0, |a, b| (a << 8) | u64::from(*b)),
        };
        if len >> 63 != 0 {
            return close(out, 1002, None);
        }
        let control = op >= 8;
        if control && (!fin || len > 125) {
            return close(out, 1002, None);
        }
        let is_held = if control {
            false
        } else {
            match (op, message) {
                (0, None) | (1 | 2, Some(_)) => return close(out, 1002, None),
                (0, Some(text)) => text,
                (1, None) => {
                    message = Some(true);
                    true
                }
                _ => {
                    message = Some(false);
                    false
                }
            }
        };
        if is_held
            && ((payload.len() as u64).saturating_add(len) > max as u64
                || ((held.len() + hl) as u64).saturating_add(len) > (2 * max + 14) as u64)
        {
            return close(out, 1009, None);
        }
        let start = i + hl;
        let available = ((buf.len() - start) as u64).min(len) as usize;
        let frame = &buf[i..start + available];
        if is_held {
            held.extend_from_slice(frame);
            let key = &buf[i + hl - if masked { 4 } else { 0 }..i + hl];
            payload.extend(
                buf[start..start + available]
                    .iter()
                    .enumerate()
                    .map(|(k, b)| if masked { b ^ key[k % 4] } else { *b }),
            );
        } else {
            out.extend_from_slice(frame);
        }
        if (available as u64) < len {
            return Reference {
                output: out,
                close: None,
            };
        }
        i = start + available;
        if control || !fin {
            continue;
        }
        if message.take() == Some(true) {
            let text = String::from_utf8_lossy(&payload).into_owned();
            let calls = detect(&[], &text);
            if let Some(bad) = calls.iter().find(|c| !c.name.is_allowed(list)) {
                return close(out, 1008, Some(bad.name.display().to_owned()));
            }
            out.append(&mut held);
            payload.clear();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let layout = Layout::parse(data);
    let input = layout.stream;
    let (list, _) = allowlist(layout.flags & 7);
    let max = MAX_FRAME_BYTES[usize::from(layout.flags >> 3) & 3];
    let chunks = layout.chunks(layout.flags & 0x20 != 0);

    let whole = guard(&[input], max, &list);
    let chunked = guard(&chunks, max, &list);
    assert_eq!(whole, chunked, "the chunking changed what the client gets");
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(whole, guard(&bytes, max, &list), "bytewise differs");

    let want = reference(input, max, &list);
    let mut expected = want.output.clone();
    match (&want.close, &whole.close) {
        (None, None) => {}
        (Some((code, name)), Some(reason)) => {
            assert_eq!(*code, reason.code(), "close code");
            if let CloseReason::ToolDenied { name: got } = reason {
                assert_eq!(Some(got), name.as_ref(), "denied name");
            }
            expected.extend_from_slice(&close_frame(*code, &reason.describe()));
        }
        (w, g) => panic!("reference close {w:?}, guard close {g:?}"),
    }
    assert!(
        whole.output == expected,
        "output differs from the reference"
    );
    assert_eq!(
        whole.denied,
        u32::from(matches!(whole.close, Some(CloseReason::ToolDenied { .. })))
    );
});
