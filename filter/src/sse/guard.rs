//! The stream guard: polices one `text/event-stream` response as it flows.
//!
//! Each body chunk is replaced by the complete frames it finishes, byte for byte,
//! so the client sees exactly the upstream bytes, only later by at most one frame.
//! A frame that starts a denied tool call is replaced by the error event, and the
//! stream ends there: nothing of it or after it is sent. The one rewrite is the
//! caller's [`FrameRewrite`] of allowed frames (the flow passes the MCP
//! `tools/list` filter; `sse` itself knows nothing of MCP).

use super::dialects::{charged_names, detect, first_denied, ToolCall};
use super::error_event::{error_event_stream, frame_too_large_message, tool_denied_event};
use super::framer::{first_frame_end, last_frame_end, Frame, FrameTooLarge, Framer};
use super::plain::{first_suspect, LOOKBEHIND};
use super::usage::UsageMeter;
use crate::policy::Allowlist;
use std::collections::{HashSet, VecDeque};

/// Why the guard ended a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CutReason {
    /// A frame started a tool call the caller may not use (shown as in the event;
    /// empty if the name could not be read).
    ToolDenied { name: String },
    /// A frame, or the held part of one, went over `max_frame_bytes`.
    FrameTooLarge { limit: usize },
    /// An allowed tool call over its rate limit.
    OverLimit { name: String },
}

impl CutReason {
    /// One line for the log.
    pub fn describe(&self) -> String {
        match self {
            CutReason::ToolDenied { name } => format!("tool {name:?} is not allowed"),
            CutReason::FrameTooLarge { limit } => frame_too_large_message(*limit),
            CutReason::OverLimit { name } => super::error_event::over_limit_message(name),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Send `output` and keep going.
    Continue,
    /// Send `output` (it ends with the error event), end the stream towards the
    /// client and cancel the upstream request.
    Cut(CutReason),
    /// The stream was cut by an earlier chunk: send nothing.
    Closed,
    /// Only with tool quotas: `output` ends with an allowed tool-call frame
    /// (from `frame_start` on) of these new calls, which must be charged before
    /// it goes out; nothing after it was read yet.
    Charge {
        names: Vec<String>,
        frame_start: usize,
    },
}

/// What to do with one body chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkResult {
    /// The bytes to send downstream in place of the chunk; empty when
    /// `unchanged` (see [`ChunkResult::sent`]).
    pub output: Vec<u8>,
    /// True when what goes out is the chunk itself, byte for byte (nothing was
    /// held before or after it, nothing rewritten): the glue need not replace
    /// it, so the guard does not copy it either.
    pub unchanged: bool,
    /// Tool calls forwarded, each counted once (see `count_new_calls`).
    pub tools_allowed: u32,
    /// Tool-call frames refused (0 or 1: the first refusal ends the stream).
    pub tools_denied: u32,
    pub verdict: Verdict,
}

impl ChunkResult {
    /// What goes out in place of `chunk`, the chunk the result is for.
    pub fn sent<'a>(&'a self, chunk: &'a [u8]) -> &'a [u8] {
        if self.unchanged {
            chunk
        } else {
            &self.output
        }
    }
}

/// Rewrites an allowed frame before it goes out; `None` keeps it as it is.
///
/// Only frames that hold a suspect (`sse::plain`) are parsed, so only those reach
/// the rewrite: it may act only on frames whose data holds `"tools"` after JSON
/// unescaping (an MCP `tools/list` answer), which always hold one.
pub type FrameRewrite = fn(&Frame<'_>, &Allowlist) -> Option<Vec<u8>>;

#[derive(Debug)]
pub struct StreamGuard {
    framer: Framer,
    allowlist: Allowlist,
    rewrite: Option<FrameRewrite>,
    closed: bool,
    /// The frame being read goes through the full parser: it holds a suspect
    /// (`plain`), or it is the stream's first (a BOM may start it).
    slow_frame: bool,
    /// Bytes of the held frame that the fast path already searched.
    searched: usize,
    /// False only in [`StreamGuard::full_parser_only`].
    fast_path: bool,
    /// Ids of the calls counted lately, so a restated call is not counted twice.
    /// Bounded: only for the counters, never for a decision.
    counted_ids: VecDeque<String>,
    /// With tool quotas, an allowed call stops the guard until it is charged.
    charge_tools: bool,
    usage: Option<UsageMeter>,
}

/// Restatements follow their call within a few frames; 64 ids is plenty.
const REMEMBERED_IDS: usize = 64;

impl StreamGuard {
    pub fn new(allowlist: Allowlist, max_frame_bytes: usize) -> StreamGuard {
        StreamGuard {
            framer: Framer::new(max_frame_bytes),
            allowlist,
            rewrite: None,
            closed: false,
            slow_frame: true,
            searched: 0,
            fast_path: true,
            counted_ids: VecDeque::new(),
            charge_tools: false,
            usage: None,
        }
    }

    /// Allowed frames go out through `rewrite`.
    pub fn rewriting_frames_with(mut self, rewrite: FrameRewrite) -> StreamGuard {
        self.rewrite = Some(rewrite);
        self
    }

    /// A guard that parses every frame, the reference the fast path is tested
    /// against (`sse::tests::fast_path`, the `sse_stream` fuzz target).
    pub fn full_parser_only(allowlist: Allowlist, max_frame_bytes: usize) -> StreamGuard {
        StreamGuard {
            fast_path: false,
            ..StreamGuard::new(allowlist, max_frame_bytes)
        }
    }

    /// Stops at each allowed tool call so it can be charged (SPEC "Rate limits", `tools`).
    pub fn charging_tools(mut self) -> StreamGuard {
        self.charge_tools = true;
        self
    }

    /// Reads the model usage the stream reports (SPEC "Rate limits", `tokens`).
    /// Usage frames hold no tool-call marker, so the fast path, which hands such
    /// frames out unparsed, is off: every frame goes through the parser.
    pub fn metering_usage(mut self) -> StreamGuard {
        self.usage = Some(UsageMeter::default());
        self.fast_path = false;
        self
    }

    /// The tokens reported so far, when metering.
    pub fn tokens(&self) -> Option<u64> {
        self.usage.as_ref().map(UsageMeter::tokens)
    }

    /// Ends the stream from outside (a [`Verdict::Charge`]d call over its
    /// limit): nothing more is read or sent. Had the call been allowed, the
    /// guard simply takes the next chunk.
    pub fn close(&mut self) {
        self.closed = true;
        self.framer.clear();
    }

    /// True once the stream was cut.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Bytes held for the next chunk (at most `max_frame_bytes`).
    pub fn held_bytes(&self) -> usize {
        self.framer.held()
    }

    /// Takes the next body chunk; `end_of_stream` on the last one (it may be empty).
    ///
    /// Frames without a suspect (`plain`) are handed out as they are, found by
    /// their ends alone; a frame with one goes through the framer and the dialect
    /// checks. Both give the same frames (`tests::fast_path`).
    pub fn on_chunk(&mut self, chunk: &[u8], end_of_stream: bool) -> ChunkResult {
        let mut result = ChunkResult {
            output: Vec::new(),
            unchanged: false,
            tools_allowed: 0,
            tools_denied: 0,
            verdict: Verdict::Continue,
        };
        if self.closed {
            result.verdict = Verdict::Closed;
            return result;
        }
        let held_before = self.framer.held();
        if held_before == 0 && self.fast_path_applies() && self.passes_whole(chunk, end_of_stream) {
            // The common case of a stream flushed frame by frame: the chunk is
            // searched where it lies, never copied.
            result.unchanged = true;
            return result;
        }
        self.framer.push(chunk);
        let mut rewritten = false;
        loop {
            let step = if self.fast_path_applies() {
                self.fast_step(&mut result, end_of_stream)
            } else {
                self.slow_step(&mut result, &mut rewritten, end_of_stream)
            };
            match step {
                Step::More => {}
                Step::Done => break,
                Step::TooLarge(limit) => {
                    result
                        .output
                        .extend_from_slice(&error_event_stream(&frame_too_large_message(limit)));
                    result.verdict = Verdict::Cut(CutReason::FrameTooLarge { limit });
                    break;
                }
            }
        }
        if matches!(result.verdict, Verdict::Cut(_)) {
            self.closed = true;
            self.framer.clear();
        } else {
            self.framer.release();
            result.unchanged = held_before == 0
                && self.framer.held() == 0
                && !rewritten
                && result.verdict == Verdict::Continue;
            if result.unchanged {
                // The same answer whichever path found it (`tests::fast_path`).
                result.output = Vec::new();
            }
        }
        result
    }

    /// The next bytes start a frame that the fast path may hand out unparsed.
    fn fast_path_applies(&self) -> bool {
        self.fast_path && !self.slow_frame && self.framer.at_frame_start()
    }

    /// True if `chunk`, arriving at a frame start with nothing held, is whole
    /// frames without a suspect, none over the limit: what [`Self::fast_step`]
    /// would hand out in one piece, leaving nothing held.
    fn passes_whole(&self, chunk: &[u8], eos: bool) -> bool {
        if first_suspect(chunk, 0).is_some() {
            return false;
        }
        let limit = self.framer.max_frame_bytes();
        let ends_frames = eos || last_frame_end(chunk, 0, chunk.len(), eos) == Some(chunk.len());
        ends_frames
            && (chunk.len() <= limit || longest_run_of_frames_within(chunk, limit, eos).is_none())
    }

    /// One frame through the full parser.
    fn slow_step(&mut self, result: &mut ChunkResult, rewritten: &mut bool, eos: bool) -> Step {
        let frame = match self.framer.next_frame(eos) {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                // The framer keeps its place in the held frame.
                self.slow_frame = true;
                return Step::Done;
            }
            Err(FrameTooLarge { limit }) => return Step::TooLarge(limit),
        };
        if let Some(meter) = &mut self.usage {
            meter.on_frame(&frame.data);
        }
        let calls = detect(&frame.events, &frame.data);
        if let Some(denied) = first_denied(&calls, &self.allowlist) {
            let name = denied.display().to_owned();
            result.output.extend_from_slice(&tool_denied_event(&name));
            result.tools_denied = result.tools_denied.saturating_add(1);
            result.verdict = Verdict::Cut(CutReason::ToolDenied { name });
            return Step::Done;
        }
        let count = count_new_calls(&mut self.counted_ids, &calls);
        result.tools_allowed = result.tools_allowed.saturating_add(count);
        let frame_start = result.output.len();
        match self
            .rewrite
            .and_then(|rewrite| rewrite(&frame, &self.allowlist))
        {
            Some(new) => {
                *rewritten = true;
                result.output.extend_from_slice(&new);
            }
            None => result.output.extend_from_slice(frame.raw),
        }
        self.slow_frame = false;
        self.searched = 0;
        if self.charge_tools && count > 0 {
            // Held here: the frames after this one wait in the framer until the
            // charge is answered (the next `on_chunk`, maybe with no new bytes).
            result.verdict = Verdict::Charge {
                names: charged_names(&calls),
                frame_start,
            };
            return Step::Done;
        }
        Step::More
    }

    /// Every frame up to the next suspect, handed out unparsed.
    fn fast_step(&mut self, result: &mut ChunkResult, eos: bool) -> Step {
        let limit = self.framer.max_frame_bytes();
        let unread = self.framer.unread();
        let suspect = first_suspect(unread, self.searched.saturating_sub(LOOKBEHIND));
        let end = match suspect {
            None if eos => unread.len(),
            // A frame end can only be new where the last search stopped, or
            // one byte before it (a CR that waited for its LF).
            _ => last_frame_end(
                unread,
                self.searched.saturating_sub(1),
                suspect.unwrap_or(unread.len()),
                eos,
            )
            .unwrap_or(0),
        };
        let frames = unread.get(..end).unwrap_or_default();
        if frames.len() > limit {
            if let Some(fits) = longest_run_of_frames_within(frames, limit, eos) {
                result
                    .output
                    .extend_from_slice(frames.get(..fits).unwrap_or_default());
                return Step::TooLarge(limit);
            }
        }
        let rest = unread.len().saturating_sub(end);
        if result.output.is_empty() {
            // Usually the whole output: the framer's bytes are moved out, not copied.
            result.output = self.framer.take(end);
        } else {
            result.output.extend_from_slice(frames);
            self.framer.skip(end);
        }
        if suspect.is_some() {
            self.slow_frame = true;
            self.searched = 0;
            return Step::More;
        }
        self.searched = rest;
        if rest > limit {
            return Step::TooLarge(limit);
        }
        Step::Done
    }
}

enum Step {
    /// Go on with the next frame.
    More,
    /// Everything complete was handed out; the rest is held (or the stream was cut).
    Done,
    /// A frame, or the held part of one, is over the limit.
    TooLarge(usize),
}

/// `Some(len)` of the frames before the first one over `limit` in `frames` (whole
/// frames, the last one ending exactly at its end); `None` if none is over.
fn longest_run_of_frames_within(frames: &[u8], limit: usize, eos: bool) -> Option<usize> {
    let mut start = 0usize;
    while start < frames.len() {
        let rest = frames.get(start..).unwrap_or_default();
        let len = first_frame_end(rest, eos).unwrap_or(rest.len());
        if len > limit {
            return Some(start);
        }
        start = start.saturating_add(len);
    }
    None
}

/// How many of a frame's (allowed) calls are new: distinct within the frame,
/// and not restating a call whose id an earlier frame counted (Responses sends
/// each call in `.added` and `.done`, Vercel in `tool-input-start` and
/// `tool-input-available`). Calls without an id always count.
pub fn count_new_calls(counted_ids: &mut VecDeque<String>, calls: &[ToolCall]) -> u32 {
    let mut in_frame = HashSet::with_capacity(calls.len());
    let mut count = 0u32;
    for call in calls {
        if !in_frame.insert((call.id.as_deref(), &call.name)) {
            continue;
        }
        match &call.id {
            Some(id) if counted_ids.contains(id) => {}
            Some(id) => {
                if counted_ids.len() >= REMEMBERED_IDS {
                    counted_ids.pop_front();
                }
                counted_ids.push_back(id.clone());
                count = count.saturating_add(1);
            }
            None => count = count.saturating_add(1),
        }
    }
    count
}
