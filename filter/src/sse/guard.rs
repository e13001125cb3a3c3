//! The stream guard: polices one `text/event-stream` response as it flows.
//!
//! Each body chunk is replaced by the complete frames it finishes, byte for byte,
//! so the client sees exactly the upstream bytes, only later by at most one frame.
//! A frame that starts a denied tool call is replaced by the error event, and the
//! stream ends there: nothing of it or after it is sent. The one rewrite is the
//! caller's [`FrameRewrite`] of allowed frames (the flow passes the MCP
//! `tools/list` filter; `sse` itself knows nothing of MCP).

use super::dialects::{detect, ToolCall};
use super::error_event::{error_event_stream, frame_too_large_message, tool_denied_event};
use super::framer::{Frame, FrameTooLarge, Framer};
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
    /// The bytes to send downstream in place of the chunk.
    pub output: Vec<u8>,
    /// Tool calls forwarded, each counted once (see `count_new_calls`).
    pub tools_allowed: u32,
    /// Tool-call frames refused (0 or 1: the first refusal ends the stream).
    pub tools_denied: u32,
    pub verdict: Verdict,
}

/// Rewrites an allowed frame before it goes out; `None` keeps it as it is.
pub type FrameRewrite = fn(&Frame<'_>, &Allowlist) -> Option<Vec<u8>>;

#[derive(Debug)]
pub struct StreamGuard {
    framer: Framer,
    allowlist: Allowlist,
    rewrite: Option<FrameRewrite>,
    closed: bool,
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

    /// Stops at each allowed tool call so it can be charged (SPEC "Rate limits", `tools`).
    pub fn charging_tools(mut self) -> StreamGuard {
        self.charge_tools = true;
        self
    }

    /// Reads the model usage the stream reports (SPEC "Rate limits", `tokens`).
    pub fn metering_usage(mut self) -> StreamGuard {
        self.usage = Some(UsageMeter::default());
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
    pub fn on_chunk(&mut self, chunk: &[u8], end_of_stream: bool) -> ChunkResult {
        let mut result = ChunkResult {
            output: Vec::new(),
            tools_allowed: 0,
            tools_denied: 0,
            verdict: Verdict::Continue,
        };
        if self.closed {
            result.verdict = Verdict::Closed;
            return result;
        }
        result
            .output
            .reserve(chunk.len().saturating_add(self.framer.held()));
        self.framer.push(chunk);
        loop {
            let frame = match self.framer.next_frame(end_of_stream) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(FrameTooLarge { limit }) => {
                    result
                        .output
                        .extend_from_slice(&error_event_stream(&frame_too_large_message(limit)));
                    result.verdict = Verdict::Cut(CutReason::FrameTooLarge { limit });
                    break;
                }
            };
            if let Some(meter) = &mut self.usage {
                meter.on_frame(&frame.data);
            }
            let calls = detect(&frame.events, &frame.data);
            // Denied if any candidate name is; the first one found is shown.
            let denied = calls
                .iter()
                .map(|c| &c.name)
                .find(|n| !n.is_allowed(&self.allowlist));
            if let Some(denied) = denied {
                let name = denied.display().to_owned();
                result.output.extend_from_slice(&tool_denied_event(&name));
                result.tools_denied = result.tools_denied.saturating_add(1);
                result.verdict = Verdict::Cut(CutReason::ToolDenied { name });
                break;
            }
            let count = count_new_calls(&mut self.counted_ids, &calls);
            result.tools_allowed = result.tools_allowed.saturating_add(count);
            let frame_start = result.output.len();
            match self
                .rewrite
                .and_then(|rewrite| rewrite(&frame, &self.allowlist))
            {
                Some(rewritten) => result.output.extend_from_slice(&rewritten),
                None => result.output.extend_from_slice(frame.raw),
            }
            if self.charge_tools && count > 0 {
                let mut names: Vec<String> = Vec::new();
                for c in &calls {
                    let name = c.name.display().to_owned();
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
                result.verdict = Verdict::Charge { names, frame_start };
                break;
            }
        }
        if matches!(result.verdict, Verdict::Cut(_)) {
            self.closed = true;
            self.framer.clear();
        }
        result
    }
}

/// How many of a frame's (allowed) calls are new: distinct within the frame,
/// and not restating a call whose id an earlier frame counted (Responses sends
/// each call in `.added` and `.done`, Vercel in `tool-input-start` and
/// `tool-input-available`). Calls without an id always count.
fn count_new_calls(counted_ids: &mut VecDeque<String>, calls: &[ToolCall]) -> u32 {
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
