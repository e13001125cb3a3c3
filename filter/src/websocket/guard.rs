//! The message guard: polices the server-to-client half of one WebSocket
//! connection as it flows (SPEC "WebSocket").
//!
//! Binary messages and control frames are forwarded as their bytes arrive; only a
//! header split across chunks waits (at most 14 bytes). A text message's frames
//! are held, raw, until its last fragment, then its payload is checked like an SSE
//! frame's `data` (every dialect, `sse::dialects::detect`). Allowed: the held bytes
//! go out as they came. Denied, or over `max_frame_bytes`: none of it goes out,
//! the close frame (1008 or 1009) does, and nothing after it.
//!
//! Control frames may sit between the fragments of a held message (RFC 6455
//! §5.4); they are forwarded at once rather than held behind it, so a ping is
//! never delayed by a message still arriving. The client therefore sees them
//! before the message's first fragment, which is a valid order too.

use super::close::{
    close_frame, too_big_reason, INTERNAL_ERROR, MESSAGE_TOO_BIG, POLICY_VIOLATION, PROTOCOL_ERROR,
};
use super::header::{self, Header, Opcode, ProtocolError};
use crate::policy::Allowlist;
use crate::sse::dialects::{charged_names, detect, first_denied};
use crate::sse::error_event::{not_allowed_message, over_limit_message, unavailable_message};
use crate::sse::guard::count_new_calls;
use std::collections::VecDeque;

/// Why the guard closed the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    ToolDenied {
        name: String,
    },
    /// A tool call refused by its rate limit (SPEC "Rate limits", `tools`: cut as
    /// for a denied tool, with the over-limit message).
    OverLimit {
        name: String,
    },
    /// A tool call that could not be charged, with `failure_mode_deny`.
    Unavailable {
        name: String,
    },
    MessageTooBig {
        limit: usize,
    },
    Protocol(ProtocolError),
}

impl CloseReason {
    pub fn code(&self) -> u16 {
        match self {
            CloseReason::ToolDenied { .. } | CloseReason::OverLimit { .. } => POLICY_VIOLATION,
            CloseReason::MessageTooBig { .. } => MESSAGE_TOO_BIG,
            CloseReason::Unavailable { .. } => INTERNAL_ERROR,
            CloseReason::Protocol(_) => PROTOCOL_ERROR,
        }
    }

    /// The close frame's reason, and the log's.
    pub fn describe(&self) -> String {
        match self {
            CloseReason::ToolDenied { name } => not_allowed_message(name),
            CloseReason::OverLimit { name } => over_limit_message(name),
            CloseReason::Unavailable { name } => unavailable_message(name),
            CloseReason::MessageTooBig { limit } => too_big_reason(*limit),
            CloseReason::Protocol(e) => format!("protocol error: {e}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsVerdict {
    Continue,
    /// `output` ends with the close frame: close the connection both ways.
    Close(CloseReason),
    /// Closed by an earlier chunk: send nothing.
    Closed,
    /// With [`MessageGuard::charging_tools`]: a text message with allowed tool
    /// calls ends `output` from `message_start`, and the guard stopped behind it
    /// until the charge is answered. Allowed: `on_chunk(&[])` goes on with the
    /// bytes that came after it. Refused: [`MessageGuard::refuse_charge`].
    Charge {
        names: Vec<String>,
        message_start: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsChunkResult {
    /// The bytes to send to the client in place of the chunk.
    pub output: Vec<u8>,
    pub tools_allowed: u32,
    pub tools_denied: u32,
    pub verdict: WsVerdict,
}

/// The data message open across frames (RFC 6455 §5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Message {
    None,
    /// Held, checked at its last fragment.
    Text,
    /// Forwarded as it flows.
    Binary,
}

/// The frame whose payload is being read.
#[derive(Debug, Clone, Copy)]
struct InFrame {
    header: Header,
    /// Payload bytes read so far.
    read: u64,
    held: bool,
}

#[derive(Debug)]
pub struct MessageGuard {
    allowlist: Allowlist,
    limit: usize,
    /// A header split across chunks (at most 14 bytes).
    partial_header: Vec<u8>,
    frame: Option<InFrame>,
    message: Message,
    /// The held text message's frames as they came, and its unmasked payload.
    held_raw: Vec<u8>,
    payload: Vec<u8>,
    closed: bool,
    counted_ids: VecDeque<String>,
    /// With tool quotas, an allowed call stops the guard until it is charged.
    charge_tools: bool,
    /// Bytes that came after a message being charged, read on the next chunk.
    after_charge: Vec<u8>,
}

impl MessageGuard {
    pub fn new(allowlist: Allowlist, max_message_bytes: usize) -> MessageGuard {
        MessageGuard {
            allowlist,
            limit: max_message_bytes,
            partial_header: Vec::new(),
            frame: None,
            message: Message::None,
            held_raw: Vec::new(),
            payload: Vec::new(),
            closed: false,
            counted_ids: VecDeque::new(),
            charge_tools: false,
            after_charge: Vec::new(),
        }
    }

    /// Stops at each text message with allowed tool calls so it can be charged.
    pub fn charging_tools(mut self) -> MessageGuard {
        self.charge_tools = true;
        self
    }

    /// A charged message was refused (`OverLimit` or `Unavailable`): closes the
    /// connection and returns the close frame to send in its place.
    pub fn refuse_charge(&mut self, reason: CloseReason) -> Vec<u8> {
        let mut result = WsChunkResult {
            output: Vec::new(),
            tools_allowed: 0,
            tools_denied: 0,
            verdict: WsVerdict::Continue,
        };
        self.close(reason, &mut result);
        self.after_charge = Vec::new();
        result.output
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Bytes held for later chunks: the unfinished text message, or a split header.
    pub fn held_bytes(&self) -> usize {
        self.held_raw
            .len()
            .saturating_add(self.partial_header.len())
            .saturating_add(self.after_charge.len())
    }

    /// Takes the next chunk of server-to-client bytes. A message still unfinished
    /// when the connection ends is never forwarded: it cannot be checked.
    pub fn on_chunk(&mut self, chunk: &[u8]) -> WsChunkResult {
        let mut result = WsChunkResult {
            output: Vec::with_capacity(chunk.len()),
            tools_allowed: 0,
            tools_denied: 0,
            verdict: WsVerdict::Continue,
        };
        if self.closed {
            result.verdict = WsVerdict::Closed;
            return result;
        }
        let mut carried = std::mem::take(&mut self.after_charge);
        let joined;
        let mut rest = if carried.is_empty() {
            chunk
        } else {
            carried.extend_from_slice(chunk);
            joined = carried;
            &joined[..]
        };
        while !rest.is_empty() {
            let step = match self.frame {
                None => self.take_header(rest, &mut result),
                Some(frame) => Ok(self.take_payload(frame, rest, &mut result)),
            };
            match step {
                Ok(used) => rest = rest.get(used..).unwrap_or_default(),
                Err(reason) => {
                    self.close(reason, &mut result);
                    break;
                }
            }
            if self.closed {
                break;
            }
            if matches!(result.verdict, WsVerdict::Charge { .. }) {
                self.after_charge = rest.to_vec();
                break;
            }
        }
        result
    }

    fn close(&mut self, reason: CloseReason, result: &mut WsChunkResult) {
        if matches!(reason, CloseReason::ToolDenied { .. }) {
            result.tools_denied = result.tools_denied.saturating_add(1);
        }
        result
            .output
            .extend_from_slice(&close_frame(reason.code(), &reason.describe()));
        result.verdict = WsVerdict::Close(reason);
        self.closed = true;
        self.partial_header = Vec::new();
        self.held_raw = Vec::new();
        self.payload = Vec::new();
        self.frame = None;
    }

    /// Reads (the rest of) a header from `bytes`; returns how many it used.
    fn take_header(
        &mut self,
        bytes: &[u8],
        result: &mut WsChunkResult,
    ) -> Result<usize, CloseReason> {
        let before = self.partial_header.len();
        // Enough for the longest header; what is past it is put back below.
        let want = 14usize.saturating_sub(before).min(bytes.len());
        self.partial_header
            .extend_from_slice(bytes.get(..want).unwrap_or_default());
        let header = match header::parse(&self.partial_header) {
            Ok(Some(header)) => header,
            Ok(None) => return Ok(want),
            Err(e) => return Err(CloseReason::Protocol(e)),
        };
        let used = header.len.saturating_sub(before);
        self.partial_header.truncate(header.len);
        let held = self.start_frame(header)?;
        let raw = std::mem::take(&mut self.partial_header);
        if held {
            self.held_raw.extend_from_slice(&raw);
        } else {
            result.output.extend_from_slice(&raw);
        }
        self.frame = Some(InFrame {
            header,
            read: 0,
            held,
        });
        if header.payload_len == 0 {
            self.end_frame(header, result);
        }
        Ok(used)
    }

    /// Applies §5.4's rules to a new frame; true if its bytes are held.
    fn start_frame(&mut self, header: Header) -> Result<bool, CloseReason> {
        let bad = CloseReason::Protocol(ProtocolError::BadFragmentation);
        let held = match (header.opcode, self.message) {
            (op, _) if op.is_control() => false,
            (Opcode::Continuation, Message::None) => return Err(bad),
            (Opcode::Continuation, message) => message == Message::Text,
            (_, Message::Text | Message::Binary) => return Err(bad),
            (Opcode::Text, Message::None) => {
                self.message = Message::Text;
                true
            }
            (_, Message::None) => {
                self.message = Message::Binary;
                false
            }
        };
        if held {
            let total = u64::try_from(self.payload.len())
                .unwrap_or(u64::MAX)
                .saturating_add(header.payload_len);
            // The raw frames are held too: a message cut into many tiny (or
            // empty) fragments must not hold unbounded headers.
            let raw = u64::try_from(self.held_raw.len().saturating_add(header.len))
                .unwrap_or(u64::MAX)
                .saturating_add(header.payload_len);
            let limit = u64::try_from(self.limit).unwrap_or(u64::MAX);
            if total > limit || raw > limit.saturating_mul(2).saturating_add(14) {
                return Err(CloseReason::MessageTooBig { limit: self.limit });
            }
        }
        Ok(held)
    }

    fn take_payload(
        &mut self,
        mut frame: InFrame,
        bytes: &[u8],
        result: &mut WsChunkResult,
    ) -> usize {
        let left = frame.header.payload_len.saturating_sub(frame.read);
        let n = usize::try_from(left).map_or(bytes.len(), |left| left.min(bytes.len()));
        let part = bytes.get(..n).unwrap_or_default();
        if frame.held {
            self.held_raw.extend_from_slice(part);
            let start = self.payload.len();
            self.payload.extend_from_slice(part);
            if let (Some(mask), Some(fresh)) = (frame.header.mask, self.payload.get_mut(start..)) {
                header::unmask(fresh, mask, frame.read);
            }
        } else {
            result.output.extend_from_slice(part);
        }
        frame.read = frame.read.saturating_add(n as u64);
        self.frame = Some(frame);
        if frame.read >= frame.header.payload_len {
            self.end_frame(frame.header, result);
        }
        n
    }

    fn end_frame(&mut self, header: Header, result: &mut WsChunkResult) {
        self.frame = None;
        if header.opcode.is_control() || !header.fin {
            return;
        }
        let message = std::mem::replace(&mut self.message, Message::None);
        if message != Message::Text {
            return;
        }
        let payload = std::mem::take(&mut self.payload);
        let raw = std::mem::take(&mut self.held_raw);
        let text = String::from_utf8_lossy(&payload);
        let calls = detect(&[], &text);
        if let Some(denied) = first_denied(&calls, &self.allowlist) {
            let name = denied.display().to_owned();
            self.close(CloseReason::ToolDenied { name }, result);
            return;
        }
        let count = count_new_calls(&mut self.counted_ids, &calls);
        result.tools_allowed = result.tools_allowed.saturating_add(count);
        let message_start = result.output.len();
        result.output.extend_from_slice(&raw);
        if self.charge_tools && count > 0 {
            result.verdict = WsVerdict::Charge {
                names: charged_names(&calls),
                message_start,
            };
        }
    }
}
