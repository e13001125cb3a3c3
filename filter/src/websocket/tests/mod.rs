//! The guard over built connections: every frame shape RFC 6455 allows, every
//! fixture stream's `data` replayed as messages at every split point, and
//! generated connections under random chunkings.
//!
//! Expected outputs never come from the code under test: a [`Wire`] is built
//! frame by frame and records, as it goes, what a client must receive.

mod charging;
mod fixtures;
mod frames;
#[cfg(not(target_arch = "wasm32"))]
mod property;

use super::close::close_frame;
use super::guard::{MessageGuard, WsVerdict};
use crate::policy::Allowlist;

/// How a message is put on the wire.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shape {
    /// Payload bytes per fragment (0: one frame).
    pub fragment: usize,
    /// Mask the frames with this key (client-to-server style).
    pub mask: Option<[u8; 4]>,
    /// A ping between each pair of fragments.
    pub pings: bool,
    /// Force the 64-bit length form even for short payloads... never used by
    /// senders, but legal: lengths are the minimal form only "SHOULD".
    pub long_lengths: bool,
}

/// One frame's bytes.
pub fn frame(fin: bool, opcode: u8, payload: &[u8], shape: &Shape) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    let m = if shape.mask.is_some() { 0x80 } else { 0 };
    let n = payload.len();
    if shape.long_lengths && opcode < 8 {
        out.push(m | 127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    } else if n < 126 {
        out.push(m | n as u8);
    } else if n <= 0xFFFF {
        out.push(m | 126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    match shape.mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// A connection's bytes, and what the client receives when nothing is denied.
#[derive(Debug, Default, Clone)]
pub struct Wire {
    pub bytes: Vec<u8>,
    pub expected: Vec<u8>,
}

impl Wire {
    /// A data message (opcode 1 text, 2 binary). Interleaved pings reach the
    /// client before the text message they sit in (they are not held behind it);
    /// returns how many bytes of them went ahead.
    pub fn message(&mut self, opcode: u8, payload: &[u8], shape: &Shape) -> usize {
        let mut ahead = 0;
        let pieces: Vec<&[u8]> = if shape.fragment == 0 || payload.is_empty() {
            vec![payload]
        } else {
            payload.chunks(shape.fragment).collect()
        };
        let mut data = Vec::new();
        for (i, piece) in pieces.iter().enumerate() {
            if i > 0 && shape.pings {
                let ping = frame(true, 0x9, format!("p{i}").as_bytes(), shape);
                self.bytes.extend_from_slice(&ping);
                if opcode == 1 {
                    ahead += ping.len();
                    self.expected.extend_from_slice(&ping);
                } else {
                    data.extend_from_slice(&ping);
                }
            }
            let op = if i == 0 { opcode } else { 0 };
            let f = frame(i + 1 == pieces.len(), op, piece, shape);
            self.bytes.extend_from_slice(&f);
            data.extend_from_slice(&f);
        }
        self.expected.extend_from_slice(&data);
        ahead
    }

    pub fn text(&mut self, text: &str, shape: &Shape) -> usize {
        self.message(1, text.as_bytes(), shape)
    }

    /// A control frame outside any message.
    pub fn control(&mut self, opcode: u8, payload: &[u8]) {
        let f = frame(true, opcode, payload, &Shape::default());
        self.bytes.extend_from_slice(&f);
        self.expected.extend_from_slice(&f);
    }
}

/// What the client receives, and the summed counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub output: Vec<u8>,
    pub allowed: u32,
    pub denied: u32,
    pub close: Option<u16>,
}

/// Feeds `chunks` to a fresh guard; checks that nothing follows a close and that
/// no more than one message (plus a split header) is ever held.
pub fn run(list: &Allowlist, max: usize, chunks: &[&[u8]]) -> Run {
    let mut guard = MessageGuard::new(list.clone(), max);
    let mut out = Run {
        output: Vec::new(),
        allowed: 0,
        denied: 0,
        close: None,
    };
    for chunk in chunks {
        let r = guard.on_chunk(chunk);
        if out.close.is_some() {
            assert_eq!(r.verdict, WsVerdict::Closed);
            assert!(r.output.is_empty());
        }
        out.output.extend_from_slice(&r.output);
        out.allowed += r.tools_allowed;
        out.denied += r.tools_denied;
        if let WsVerdict::Close(reason) = &r.verdict {
            out.close = Some(reason.code());
        }
        // One message's raw frames (bounded at 2 max + 14) and a split header.
        assert!(
            guard.held_bytes() <= 2 * max + 28,
            "held {}",
            guard.held_bytes()
        );
    }
    out
}

/// The close frame a denied tool `name` ends the connection with.
pub fn denied_close(name: &str) -> Vec<u8> {
    close_frame(1008, &format!("tool \"{name}\" is not allowed"))
}

/// Every way to cut `bytes` in two (for more than 2 KB, every few bytes and
/// every cut within a header's reach of the start and end), plus bytewise.
pub fn two_way_splits(bytes: &[u8]) -> Vec<Vec<&[u8]>> {
    let step = (bytes.len() / 2048).max(1);
    let mut all: Vec<Vec<&[u8]>> = (0..=bytes.len())
        .filter(|i| i % step == 0 || *i < 32 || bytes.len() - i < 32)
        .map(|i| {
            let (a, b) = bytes.split_at(i);
            vec![a, b]
        })
        .collect();
    all.push(bytes.chunks(1).collect());
    all
}

/// Shows bytes as text in assertion messages.
pub struct Lossy<'a>(pub &'a [u8]);

impl std::fmt::Debug for Lossy<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The tail: where a close or a missing message shows.
        let tail = &self.0[self.0.len().saturating_sub(160)..];
        write!(
            f,
            "{} bytes ending {:?}",
            self.0.len(),
            String::from_utf8_lossy(tail)
        )
    }
}

impl PartialEq for Lossy<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
