//! Helpers shared by the fuzz targets: fixed allowlists, how an input is cut
//! into chunks, and a whole-buffer SSE reference written without the framer.
//!
//! The byte layout of `sse_stream` and `mcp` inputs is chosen so that a raw
//! stream with two bytes in front of it (`scripts/fuzz` seeds them that way) is
//! a useful input: the fixtures reach the fuzzer nearly as they are.

use std::ops::Range;
use toolguard::policy::ToolsConfig;
use toolguard::policy::{Allowlist, ToolPattern};

/// The allowlists the targets police with, picked by the input. `*` twice so that
/// pass-through (output must equal input) is checked often; the names are those
/// of the fixtures and the hand-written seeds, so both sides of a check are hit.
pub const ALLOWLISTS: [&[&str]; 8] = [
    &["*"],
    &["get_weather", "calculator", "search_*"],
    &[],
    &["ok_*"],
    &["get_weather", "get_capital", "web_search", "calculator"],
    &["*", "ok_a"],
    &["get_*"],
    &["calculator"],
];

pub fn allowlist(selector: u8) -> (Allowlist, bool) {
    let entries = ALLOWLISTS[usize::from(selector) % ALLOWLISTS.len()];
    let tools = ToolsConfig {
        roles: vec![],
        default: entries
            .iter()
            .map(|e| ToolPattern::parse(e).unwrap())
            .collect(),
        max_frame_bytes: 65536,
    };
    (Allowlist::for_roles(&tools, []), entries.contains(&"*"))
}

/// `max_frame_bytes` values: the default, and small ones so the over-limit path
/// and its chunking-independence are reached with short inputs.
pub const MAX_FRAME_BYTES: [usize; 4] = [65536, 256, 64, 16];

/// An `sse_stream`/`mcp` input: `flags`, `n`, `n` chunk lengths, then the stream.
pub struct Layout<'a> {
    pub flags: u8,
    pub lengths: &'a [u8],
    pub stream: &'a [u8],
}

impl<'a> Layout<'a> {
    pub fn parse(data: &'a [u8]) -> Layout<'a> {
        let flags = data.first().copied().unwrap_or(0);
        let n = usize::from(data.get(1).copied().unwrap_or(0)) % 33;
        let rest = data.get(2..).unwrap_or_default();
        let n = n.min(rest.len());
        Layout {
            flags,
            lengths: &rest[..n],
            stream: &rest[n..],
        }
    }

    /// The stream in chunks of the given lengths, cycled (0 is an empty chunk);
    /// no lengths, or only zeros: one chunk. `empty_last` adds an empty chunk
    /// for end_of_stream, as Envoy often sends.
    pub fn chunks(&self, empty_last: bool) -> Vec<&'a [u8]> {
        let mut chunks = Vec::new();
        if self.lengths.iter().all(|&l| l == 0) {
            chunks.push(self.stream);
        } else {
            let mut at = 0;
            let mut i = 0;
            while at < self.stream.len() {
                let len = usize::from(self.lengths[i % self.lengths.len()]);
                let end = (at + len).min(self.stream.len());
                chunks.push(&self.stream[at..end]);
                at = end;
                i += 1;
            }
            if chunks.is_empty() {
                chunks.push(&[][..]);
            }
        }
        if empty_last {
            chunks.push(&[][..]);
        }
        chunks
    }
}

/// Line ranges (content, and content plus line end) of `input`: a line ends at
/// CRLF, CR or LF; a last line without an end is one too.
fn lines(input: &[u8]) -> Vec<(Range<usize>, usize)> {
    let mut out = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < input.len() {
        let len = match (input[i], input.get(i + 1)) {
            (b'\r', Some(b'\n')) => 2,
            (b'\r', _) | (b'\n', _) => 1,
            _ => {
                i += 1;
                continue;
            }
        };
        out.push((start..i, i + len));
        i += len;
        start = i;
    }
    if start < input.len() {
        out.push((start..input.len(), input.len()));
    }
    out
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The raw ranges of the frames of a whole stream: a frame ends after an empty
/// line (the first line counts as empty if it is only a BOM); what is left at
/// the end is the last frame, complete only at the end of the stream (the bool).
pub fn reference_frames(input: &[u8]) -> (Vec<Range<usize>>, bool) {
    let mut frames = Vec::new();
    let mut frame_start = 0;
    for (content, end) in lines(input) {
        let mut line = &input[content.clone()];
        if content.start == 0 {
            line = line.strip_prefix(BOM).unwrap_or(line);
        }
        if line.is_empty() && end > content.end {
            frames.push(frame_start..end);
            frame_start = end;
        }
    }
    let open_tail = frame_start < input.len();
    if open_tail {
        frames.push(frame_start..input.len());
    }
    (frames, open_tail)
}

/// `(events, data)` of one frame by the WHATWG rules, from its raw bytes alone.
/// `first`: the frame starts the stream (a BOM there is skipped).
pub fn reference_fields(raw: &[u8], first: bool) -> (Vec<String>, String) {
    let mut events = Vec::new();
    let mut data: Vec<u8> = Vec::new();
    let mut any_data = false;
    for (content, _) in lines(raw) {
        let mut line = &raw[content.clone()];
        if first && content.start == 0 {
            line = line.strip_prefix(BOM).unwrap_or(line);
        }
        if line.is_empty() || line[0] == b':' {
            continue;
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            None => (line, &b""[..]),
            Some(c) => {
                let v = &line[c + 1..];
                (&line[..c], v.strip_prefix(b" ").unwrap_or(v))
            }
        };
        match name {
            b"data" => {
                if any_data {
                    data.push(b'\n');
                }
                data.extend_from_slice(value);
                any_data = true;
            }
            b"event" => events.push(String::from_utf8_lossy(value).into_owned()),
            _ => {}
        }
    }
    (events, String::from_utf8_lossy(&data).into_owned())
}
