//! The WebSocket half of SPEC "WebSocket (AgentCore `/ws`)" that touches the
//! stream: what the upgrade request loses, and the guard run over each chunk of
//! the upgraded response.

use super::response::{GuardStep, StepKind};
use crate::host::{Host, LogLevel};
use crate::websocket::{CloseReason, MessageGuard, WsVerdict};

/// Whether the request asks for a WebSocket (RFC 6455 §4.1: `Upgrade: websocket`,
/// a token list compared case-insensitively).
pub fn is_upgrade(request_headers: &[(String, String)]) -> bool {
    super::request::first_value(request_headers, "upgrade").is_some_and(|v| {
        v.split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("websocket"))
    })
}

/// Compressed messages (permessage-deflate) cannot be read, so none may be
/// negotiated: the upstream never sees the client's offer.
pub fn shape_upgrade(host: &dyn Host) {
    host.set_request_header("sec-websocket-extensions", None);
}

/// Whether the upstream accepted the upgrade.
pub fn upgraded(response_headers: &[(String, String)]) -> bool {
    super::request::first_value(response_headers, ":status").is_some_and(|s| s.trim() == "101")
}

/// One chunk of upgraded response bytes through the guard, in the terms the
/// response flow shares with event streams.
pub(super) fn step(guard: &mut MessageGuard, host: &dyn Host, input: &[u8]) -> GuardStep {
    let result = guard.on_chunk(input);
    let unchanged = result.output == input;
    let kind = match result.verdict {
        WsVerdict::Continue | WsVerdict::Closed => StepKind::Go,
        WsVerdict::Charge {
            names,
            message_start,
        } => StepKind::Charge {
            names,
            start: message_start,
        },
        WsVerdict::Close(reason) => {
            let level = match reason {
                CloseReason::ToolDenied { .. } | CloseReason::OverLimit { .. } => LogLevel::Info,
                CloseReason::MessageTooBig { .. }
                | CloseReason::Unavailable { .. }
                | CloseReason::Protocol(_) => LogLevel::Warn,
            };
            host.log(
                level,
                &format!(
                    "toolguard: websocket closed {}: {}",
                    reason.code(),
                    reason.describe()
                ),
            );
            StepKind::Cut
        }
    };
    GuardStep {
        output: result.output,
        unchanged,
        tools_allowed: result.tools_allowed,
        tools_denied: result.tools_denied,
        kind,
    }
}
