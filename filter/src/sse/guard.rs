//! The stream guard: polices one `text/event-stream` response as it flows.
//!
//! Each body chunk is replaced by the complete frames it finishes, byte for byte,
//! so the client sees exactly the upstream bytes, only later by at most one frame.
//! A frame that starts a denied tool call is replaced by the error event, and the
//! stream ends there: nothing of it or after it is sent.

use super::dialects::detect;
use super::error_event::{error_event_stream, frame_too_large_message, tool_denied_event};
use super::framer::{FrameTooLarge, Framer};
use super::mcp::filter_tools_list_frame;
use super::tool_name::ToolName;
use crate::policy::Allowlist;
use std::collections::HashSet;

/// Why the guard ended a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CutReason {
    /// A frame started a tool call the caller may not use (shown as in the event;
    /// empty if the name could not be read).
    ToolDenied { name: String },
    /// A frame, or the held part of one, went over `max_frame_bytes`.
    FrameTooLarge { limit: usize },
}

impl CutReason {
    /// One line for the log.
    pub fn describe(&self) -> String {
        match self {
            CutReason::ToolDenied { name } => format!("tool {name:?} is not allowed"),
            CutReason::FrameTooLarge { limit } => frame_too_large_message(*limit),
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
}

/// What to do with one body chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkResult {
    /// The bytes to send downstream in place of the chunk.
    pub output: Vec<u8>,
    /// Tool-call frames forwarded (distinct names in each frame, summed).
    pub tools_allowed: u32,
    /// Tool-call frames refused (0 or 1: the first refusal ends the stream).
    pub tools_denied: u32,
    pub verdict: Verdict,
}

#[derive(Debug)]
pub struct StreamGuard {
    framer: Framer,
    allowlist: Allowlist,
    closed: bool,
}

impl StreamGuard {
    pub fn new(allowlist: Allowlist, max_frame_bytes: usize) -> StreamGuard {
        StreamGuard {
            framer: Framer::new(max_frame_bytes),
            allowlist,
            closed: false,
        }
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
            let calls = detect(&frame.events, &frame.data);
            // Distinct names, in the order found (the first denied one is shown).
            let mut seen: HashSet<&ToolName> = HashSet::with_capacity(calls.len());
            let names: Vec<&ToolName> = calls
                .iter()
                .map(|c| &c.name)
                .filter(|n| seen.insert(*n))
                .collect();
            if let Some(denied) = names.iter().find(|n| !n.is_allowed(&self.allowlist)) {
                let name = denied.display().to_owned();
                result.output.extend_from_slice(&tool_denied_event(&name));
                result.tools_denied = result.tools_denied.saturating_add(1);
                result.verdict = Verdict::Cut(CutReason::ToolDenied { name });
                break;
            }
            let count = u32::try_from(names.len()).unwrap_or(u32::MAX);
            result.tools_allowed = result.tools_allowed.saturating_add(count);
            match filter_tools_list_frame(&frame, &self.allowlist) {
                Some(rewritten) => result.output.extend_from_slice(&rewritten),
                None => result.output.extend_from_slice(frame.raw),
            }
        }
        if matches!(result.verdict, Verdict::Cut(_)) {
            self.closed = true;
            self.framer.clear();
        }
        result
    }
}
