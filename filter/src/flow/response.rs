//! The response half of one stream: police an event stream frame by frame as it
//! flows, rewriting each chunk in place; everything else passes untouched.

use super::request::RequestState;
use crate::agentcore::{self, Caller};
use crate::config::{AgentCoreConfig, Config};
use crate::host::{Host, LogLevel};
use crate::mcp;
use crate::metrics::Metric;
use crate::policy::Allowlist;
use crate::sse::{self, CutReason, StreamGuard, Verdict};
use crate::websocket::MessageGuard;

/// After a cut, the stream is reset on the next body callback; if the upstream
/// sends nothing more, the root resets it after this long instead.
pub const RESET_AFTER_CUT_MS: u64 = 200;

#[derive(Debug, Default)]
enum Mode {
    /// Not policed: another content type, no `tools`, or a local answer.
    #[default]
    Pass,
    Police(Box<StreamGuard>),
    /// An upgraded WebSocket connection: server-to-client messages policed.
    WebSocket(Box<MessageGuard>),
    /// An event stream with a content-encoding: it cannot be read, so it ends.
    Unreadable,
    /// The error event went out: nothing more reaches the client.
    Cut,
    /// The JSON answer to an MCP `tools/list`: held whole (at most `limit` bytes)
    /// and filtered to the caller's tools.
    ToolsList {
        allowlist: Allowlist,
        limit: usize,
    },
}

/// What the glue does after a response body chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseBodyStep {
    Continue,
    /// Keep the chunk: Envoy buffers it (only a `tools/list` answer is held).
    Hold,
    /// Continue; the stream was cut now. The root resets it at this time (ms) if no
    /// further chunk comes to do it.
    CutAt(u64),
}

#[derive(Debug, Default)]
pub struct ResponseState {
    mode: Mode,
}

/// The client sees its own session id back, never the one bound to its subject.
fn unbind_session(host: &dyn Host, ac: &AgentCoreConfig, request: &RequestState) {
    let name = "x-amzn-bedrock-agentcore-runtime-session-id";
    let Some(value) = host.response_header(name) else {
        return;
    };
    let token = request.identity.as_ref().and_then(|i| i.token.as_ref());
    let caller = token.and_then(|t| Caller::from_claims(&t.claims));
    if let Some(own) = agentcore::unbind_response_session(ac, &value, caller.as_ref()) {
        host.set_response_header(name, Some(&own));
    }
}

fn media_type_is(content_type: &str, media: &str) -> bool {
    let actual = content_type.split(';').next().unwrap_or_default().trim();
    actual.eq_ignore_ascii_case(media)
}

impl ResponseState {
    /// `on_http_response_headers`.
    pub fn on_headers(&mut self, host: &dyn Host, config: &Config, request: &RequestState) {
        if let Some(ac) = &config.agentcore {
            unbind_session(host, ac, request);
        }
        let Some(tools) = &config.tools else { return };
        let Some(allowlist) = request.identity.as_ref().and_then(|i| i.allowlist.clone()) else {
            return;
        };
        if request.websocket && super::websocket::upgraded(host) {
            self.mode = Mode::WebSocket(Box::new(MessageGuard::new(
                allowlist,
                tools.max_frame_bytes,
            )));
            return;
        }
        let content_type = host.response_header("content-type").unwrap_or_default();
        if request.lists_tools && media_type_is(&content_type, "application/json") {
            host.set_response_header("content-length", None);
            self.mode = Mode::ToolsList {
                allowlist,
                limit: tools.max_frame_bytes,
            };
            return;
        }
        if !media_type_is(&content_type, "text/event-stream") {
            return;
        }
        let encoding = host.response_header("content-encoding").unwrap_or_default();
        if !encoding.is_empty() && !encoding.trim().eq_ignore_ascii_case("identity") {
            // The error event replaces the body as plain text; a client must not try
            // to decode it as the encoding the upstream announced.
            host.set_response_header("content-length", None);
            host.set_response_header("content-encoding", None);
            self.mode = Mode::Unreadable;
            return;
        }
        // A caller allowed every tool (`*`) is policed all the same: the SPEC's
        // `max_frame_bytes` cut and the `toolguard.tools.allowed` count hold for
        // every policed stream, and the guard's fast path already forwards frames
        // that hold no tool-call marker unparsed.
        // Frames may be rewritten, so the length may change; the stream goes out chunked.
        host.set_response_header("content-length", None);
        self.mode = Mode::Police(Box::new(
            StreamGuard::new(allowlist, tools.max_frame_bytes)
                .rewriting_frames_with(mcp::filter_tools_list_frame),
        ));
    }

    /// `on_http_response_body`.
    pub fn on_body(
        &mut self,
        host: &dyn Host,
        size: usize,
        end_of_stream: bool,
    ) -> ResponseBodyStep {
        match &mut self.mode {
            Mode::Pass => ResponseBodyStep::Continue,
            Mode::ToolsList { allowlist, limit } => {
                if size > *limit {
                    // Too large to hold and filter: end it rather than leak the list.
                    host.log(
                        LogLevel::Warn,
                        "toolguard: tools/list answer over max_frame_bytes; stream reset",
                    );
                    host.count(Metric::StreamsCut, 1);
                    host.reset_stream();
                    self.mode = Mode::Cut;
                    return ResponseBodyStep::Continue;
                }
                if !end_of_stream {
                    return ResponseBodyStep::Hold;
                }
                let body = host.response_body(size);
                if let Some(filtered) = mcp::filter_tools_list(&body, allowlist) {
                    host.replace_response_body(size, &filtered);
                }
                ResponseBodyStep::Continue
            }
            Mode::Cut => {
                host.replace_response_body(size, b"");
                if !end_of_stream {
                    // The error event went out with an earlier callback, so this
                    // reset cannot lose it; it ends the client's stream and cancels
                    // the upstream request.
                    host.reset_stream();
                }
                ResponseBodyStep::Continue
            }
            Mode::Unreadable => {
                let event = sse::error_event_stream(sse::CONTENT_ENCODED_MESSAGE);
                host.replace_response_body(size, &event);
                host.log(
                    LogLevel::Warn,
                    "toolguard: event stream with a content-encoding cut",
                );
                self.cut(host, end_of_stream)
            }
            Mode::WebSocket(guard) => match super::websocket::on_chunk(guard, host, size) {
                Some(_) => self.cut(host, end_of_stream),
                None => ResponseBodyStep::Continue,
            },
            Mode::Police(guard) => {
                let chunk = host.response_body(size);
                let result = guard.on_chunk(&chunk, end_of_stream);
                if !result.unchanged {
                    host.replace_response_body(size, &result.output);
                }
                if result.tools_allowed > 0 {
                    host.count(Metric::ToolsAllowed, u64::from(result.tools_allowed));
                }
                if result.tools_denied > 0 {
                    host.count(Metric::ToolsDenied, u64::from(result.tools_denied));
                }
                match result.verdict {
                    Verdict::Continue | Verdict::Closed => ResponseBodyStep::Continue,
                    Verdict::Cut(reason) => {
                        let level = match reason {
                            CutReason::ToolDenied { .. } => LogLevel::Info,
                            CutReason::FrameTooLarge { .. } => LogLevel::Warn,
                        };
                        host.log(
                            level,
                            &format!("toolguard: stream cut: {}", reason.describe()),
                        );
                        self.cut(host, end_of_stream)
                    }
                }
            }
        }
    }

    fn cut(&mut self, host: &dyn Host, end_of_stream: bool) -> ResponseBodyStep {
        self.mode = Mode::Cut;
        host.count(Metric::StreamsCut, 1);
        if end_of_stream {
            ResponseBodyStep::Continue
        } else {
            ResponseBodyStep::CutAt(host.now_ms().saturating_add(RESET_AFTER_CUT_MS))
        }
    }
}
