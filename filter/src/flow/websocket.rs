//! The WebSocket half of SPEC "WebSocket (AgentCore `/ws`)" that touches the
//! stream: what the upgrade request loses, and the guard run over each chunk of
//! the upgraded response.

use crate::host::{Host, LogLevel};
use crate::metrics::Metric;
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

/// Runs one chunk of upgraded response bytes through the guard and rewrites it;
/// `Some` when the connection was closed now.
pub fn on_chunk(guard: &mut MessageGuard, host: &dyn Host, size: usize) -> Option<CloseReason> {
    let chunk = host.response_body(size);
    let result = guard.on_chunk(&chunk);
    if result.output != chunk {
        host.replace_response_body(size, &result.output);
    }
    if result.tools_allowed > 0 {
        host.count(Metric::ToolsAllowed, u64::from(result.tools_allowed));
    }
    if result.tools_denied > 0 {
        host.count(Metric::ToolsDenied, u64::from(result.tools_denied));
    }
    let WsVerdict::Close(reason) = result.verdict else {
        return None;
    };
    let level = match reason {
        CloseReason::ToolDenied { .. } => LogLevel::Info,
        CloseReason::MessageTooBig { .. } | CloseReason::Protocol(_) => LogLevel::Warn,
    };
    host.log(
        level,
        &format!(
            "toolguard: websocket closed {}: {}",
            reason.code(),
            reason.describe()
        ),
    );
    Some(reason)
}
