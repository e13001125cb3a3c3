//! Stream-level tests: fixtures, WHATWG edge cases and generated streams, each run
//! through the guard under many chunkings, plus MCP.
//!
//! Expected outputs never come from the code under test: they are built from
//! frame boundaries known by hand or by construction, or from the whole-buffer
//! reference splitter below.

#[cfg(not(target_arch = "wasm32"))]
mod chunking;
mod fast_path;
mod fixtures;
mod guard;
mod property;
mod whatwg;

use super::error_event::tool_denied_event;
use super::guard::{FrameRewrite, StreamGuard, Verdict};
use crate::policy::Allowlist;

/// A tiny deterministic PRNG (xorshift64*), so tests need no crate.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// What the client receives, and the summed counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub output: Vec<u8>,
    pub allowed: u32,
    pub denied: u32,
    pub cut: bool,
}

/// Feeds `chunks` to a fresh guard; the last chunk carries end_of_stream. Also
/// checks that nothing comes out after a cut and that the guard never holds more
/// than `max` bytes between chunks.
pub fn run(list: &Allowlist, max: usize, chunks: &[&[u8]]) -> Run {
    run_rewriting(list, max, None, chunks)
}

/// [`run`] with a guard that rewrites allowed frames through `rewrite`.
pub fn run_rewriting(
    list: &Allowlist,
    max: usize,
    rewrite: Option<FrameRewrite>,
    chunks: &[&[u8]],
) -> Run {
    let mut guard = StreamGuard::new(list.clone(), max);
    if let Some(rewrite) = rewrite {
        guard = guard.rewriting_frames_with(rewrite);
    }
    let mut out = Run {
        output: Vec::new(),
        allowed: 0,
        denied: 0,
        cut: false,
    };
    for (i, chunk) in chunks.iter().enumerate() {
        let r = guard.on_chunk(chunk, i + 1 == chunks.len());
        if out.cut {
            assert_eq!(r.verdict, Verdict::Closed);
            assert!(r.output.is_empty() && !r.unchanged);
        }
        out.output.extend_from_slice(r.sent(chunk));
        out.allowed += r.tools_allowed;
        out.denied += r.tools_denied;
        out.cut |= matches!(r.verdict, Verdict::Cut(_));
        assert!(
            guard.held_bytes() <= max,
            "held {} > {max}",
            guard.held_bytes()
        );
    }
    out
}

/// `input` cut at `points` (sorted, within bounds).
pub fn split_at<'a>(input: &'a [u8], points: &[usize]) -> Vec<&'a [u8]> {
    let mut chunks = Vec::new();
    let mut at = 0;
    for &p in points {
        chunks.push(&input[at..p]);
        at = p;
    }
    chunks.push(&input[at..]);
    chunks
}

/// `count` random chunkings of `input`: chunk sizes from 1 byte to a few KB, and
/// sometimes an empty final chunk carrying end_of_stream (as Envoy often sends).
pub fn random_chunkings(input: &[u8], seed: u64, count: usize) -> Vec<Vec<&[u8]>> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|_| {
            let scale = *rng.pick(&[3usize, 16, 100, 1000, 5000]);
            let mut points = Vec::new();
            let mut at = 0;
            loop {
                at += 1 + rng.below(scale);
                if at >= input.len() {
                    break;
                }
                points.push(at);
            }
            let mut chunks = split_at(input, &points);
            if rng.chance(3) {
                chunks.push(&[]);
            }
            chunks
        })
        .collect()
}

/// Runs `input` whole, at every single split point (2 chunks), byte by byte and
/// under random chunkings, and asserts the output is `expected` every time and
/// the counters agree with the whole-buffer run.
pub fn assert_every_chunking(input: &[u8], list: &Allowlist, max: usize, expected: &[u8]) -> Run {
    assert_every_chunking_rewriting(input, list, max, None, expected)
}

/// [`assert_every_chunking`] with a guard that rewrites allowed frames.
pub fn assert_every_chunking_rewriting(
    input: &[u8],
    list: &Allowlist,
    max: usize,
    rewrite: Option<FrameRewrite>,
    expected: &[u8],
) -> Run {
    let run =
        |list: &Allowlist, max: usize, chunks: &[&[u8]]| run_rewriting(list, max, rewrite, chunks);
    let whole = run(list, max, &[input]);
    assert_eq!(Lossy(&whole.output), Lossy(expected), "whole input");
    let same = |r: &Run, how: &str| {
        assert_eq!(Lossy(&r.output), Lossy(expected), "{how}");
        assert_eq!(
            (r.allowed, r.denied, r.cut),
            (whole.allowed, whole.denied, whole.cut),
            "{how}"
        );
    };
    for cut in 0..=input.len() {
        let (a, b) = input.split_at(cut);
        same(&run(list, max, &[a, b]), &format!("split at {cut}"));
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    same(&run(list, max, &bytes), "1-byte chunks");
    for (i, chunks) in random_chunkings(input, input.len() as u64, 12)
        .iter()
        .enumerate()
    {
        same(&run(list, max, chunks), &format!("random chunking {i}"));
    }
    whole
}

/// Byte strings shown as text in assertion failures.
#[derive(PartialEq, Eq)]
pub struct Lossy<'a>(pub &'a [u8]);

impl std::fmt::Debug for Lossy<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.0))
    }
}

/// The bytes before the denied frame, then the error event for `name`.
pub fn cut_before(prefix: &[u8], name: &str) -> Vec<u8> {
    let mut v = prefix.to_vec();
    v.extend_from_slice(&tool_denied_event(name));
    v
}

/// Reference splitter: the raw frames of a whole buffer, written without any of
/// the framer's incremental state. A line ends at CRLF, CR or LF; a frame ends
/// after an empty line (the stream's first line counts as empty if it is only a
/// BOM); whatever is left at the end is the last frame.
pub fn reference_frames(input: &[u8]) -> Vec<&[u8]> {
    let mut frames = Vec::new();
    let (mut frame_start, mut line_start, mut i) = (0, 0, 0);
    while i < input.len() {
        let len = match (input[i], input.get(i + 1)) {
            (b'\r', Some(b'\n')) => 2,
            (b'\r', _) | (b'\n', _) => 1,
            _ => {
                i += 1;
                continue;
            }
        };
        let mut line = &input[line_start..i];
        if line_start == 0 {
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        i += len;
        line_start = i;
        if line.is_empty() {
            frames.push(&input[frame_start..i]);
            frame_start = i;
        }
    }
    if frame_start < input.len() {
        frames.push(&input[frame_start..]);
    }
    frames
}

/// (event line, data JSON with `@NAME@` and `@ID@`) per dialect of SPEC's table.
pub(super) const TOOL_TEMPLATES: &[(Option<&str>, &str)] = &[
    (
        Some("content_block_start"),
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"@ID@","name":@NAME@,"input":{}}}"#,
    ),
    (
        Some("content_block_start"),
        r#"{"type":"content_block_start","index":1,"content_block":{"type":"mcp_tool_use","id":"@ID@","name":@NAME@,"server_name":"s","input":{}}}"#,
    ),
    (
        None,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"@ID@","type":"function","function":{"name":@NAME@,"arguments":""}}]}}]}"#,
    ),
    (
        Some("response.output_item.added"),
        r#"{"type":"response.output_item.added","output_index":0,"item":{"type":"function_call","id":"@ID@","name":@NAME@}}"#,
    ),
    (
        None,
        r#"{"event":{"contentBlockStart":{"start":{"toolUse":{"toolUseId":"@ID@","name":@NAME@}},"contentBlockIndex":1}}}"#,
    ),
    (
        None,
        r#"{"contentBlockStart":{"start":{"toolUse":{"toolUseId":"@ID@","name":@NAME@}}}}"#,
    ),
    (
        None,
        r#"{"candidates":[{"content":{"parts":[{"functionCall":{"id":"@ID@","name":@NAME@,"args":{}}}]}}]}"#,
    ),
    (
        None,
        r#"{"type":"tool-input-start","toolCallId":"@ID@","toolName":@NAME@}"#,
    ),
    (Some("tool_call"), r#"{"id":"@ID@","name":@NAME@}"#),
    (
        Some("tool_start"),
        r#"{"id":"@ID@","name":@NAME@,"input":{}}"#,
    ),
];
