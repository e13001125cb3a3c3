//! The response half of one stream: police an event stream frame by frame as it
//! flows, rewriting each chunk in place; everything else passes untouched.

use super::limits::{self, Charge, Decision, RequestFacts, Sent};
use super::request::{first_value, Identity, RequestState};
use crate::agentcore::{self, Caller};
use crate::config::RateLimitsConfig;
use crate::config::{AgentCoreConfig, Config};
use crate::host::{Host, LogLevel};
use crate::mcp;
use crate::metrics::Metric;
use crate::policy::Allowlist;
use crate::ratelimit::PendingCall;
use crate::sse::{self, CutReason, StreamGuard, Verdict};
use crate::websocket::{CloseReason, MessageGuard};

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
    /// With `rate_limits` `tools` or `tokens`: what their calls are built from.
    limits: Option<Box<StreamLimits>>,
    /// A tool-call frame waiting for its charge; Envoy holds the body meanwhile.
    charging: Option<ToolCharge>,
}

#[derive(Debug)]
struct StreamLimits {
    config: RateLimitsConfig,
    identity: Option<Identity>,
    facts: RequestFacts,
}

/// A tool-call frame waiting for its charge (SPEC "Rate limits", `tools`).
///
/// Design, checked in a real Envoy (tests/rate_limits.rs): the chunk that ends
/// with the frame, and every chunk after it until the answer, return `Pause`, so
/// Envoy buffers them (`StopIterationAndBuffer`). While it buffers, Envoy's Wasm
/// host hands the whole buffered body to any callback of this stream and lets it
/// be rewritten, so the gRPC answer (on this stream's context, or the root tick
/// at the deadline) rewrites it and resumes: nothing is lost whether the answer
/// comes between chunks or after `end_of_stream`, and nothing hangs, since the
/// wait is bounded by `timeout`, far below what fills Envoy's buffer limit. Holding
/// the bytes in the filter instead would need a later body callback to send
/// them, which a stream ending at the frame never brings.
///
/// The held body is `prefix_len` bytes already policed (the frame being
/// charged starts at `frame_start`), then raw chunks that came meanwhile.
#[derive(Debug)]
struct ToolCharge {
    call: PendingCall,
    names: Vec<String>,
    frame_start: usize,
    prefix_len: usize,
    end_of_stream: bool,
}

/// How policing some bytes ended.
enum Policed {
    Go,
    Cut,
    /// A tool call waits for its charge (offsets into the output).
    Wait {
        call: PendingCall,
        names: Vec<String>,
        frame_start: usize,
    },
}

/// One pass of a stream's guard (SSE or WebSocket) over some bytes.
pub(super) struct GuardStep {
    pub output: Vec<u8>,
    /// `output` is the input itself, byte for byte.
    pub unchanged: bool,
    pub tools_allowed: u32,
    pub tools_denied: u32,
    pub kind: StepKind,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum StepKind {
    Go,
    /// `output` ends the stream (error event or close frame); logged already.
    Cut,
    /// `output` ends with a tool-call frame or message, from `start` on, to be
    /// charged before it goes out.
    Charge {
        names: Vec<String>,
        start: usize,
    },
}

fn sse_step(guard: &mut StreamGuard, host: &dyn Host, input: &[u8], eos: bool) -> GuardStep {
    let result = guard.on_chunk(input, eos);
    let kind = match result.verdict {
        Verdict::Continue | Verdict::Closed => StepKind::Go,
        Verdict::Charge { names, frame_start } => StepKind::Charge {
            names,
            start: frame_start,
        },
        Verdict::Cut(reason) => {
            let level = match reason {
                CutReason::ToolDenied { .. } | CutReason::OverLimit { .. } => LogLevel::Info,
                CutReason::FrameTooLarge { .. } => LogLevel::Warn,
            };
            host.log(
                level,
                &format!("toolguard: stream cut: {}", reason.describe()),
            );
            StepKind::Cut
        }
    };
    GuardStep {
        output: result.output,
        unchanged: result.unchanged,
        tools_allowed: result.tools_allowed,
        tools_denied: result.tools_denied,
        kind,
    }
}

/// What policing a chunk sends on.
enum Output {
    /// The input itself, byte for byte: nothing need be copied back into Envoy.
    Unchanged,
    Bytes(Vec<u8>),
}

fn count_tools(host: &dyn Host, allowed: u32, denied: u32) {
    if allowed > 0 {
        host.count(Metric::ToolsAllowed, u64::from(allowed));
    }
    if denied > 0 {
        host.count(Metric::ToolsDenied, u64::from(denied));
    }
}

/// The event that takes the place of a tool call refused by its rate limit.
fn refusal_event(decision: &Decision, names: &[String]) -> Vec<u8> {
    let name = names.first().map_or("", String::as_str);
    match decision {
        Decision::Unavailable => {
            sse::error_event_stream(&sse::error_event::unavailable_message(name))
        }
        _ => sse::error_event::over_limit_event(name),
    }
}

/// The client sees its own session id back, never the one bound to its subject.
fn unbind_session(
    host: &dyn Host,
    headers: &[(String, String)],
    ac: &AgentCoreConfig,
    request: &RequestState,
) {
    let name = "x-amzn-bedrock-agentcore-runtime-session-id";
    let Some(value) = first_value(headers, name) else {
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
        // Read in one host call, only when something here looks at them: the
        // session header (bound sessions only) or the content type (policing).
        let binds_sessions = config
            .agentcore
            .as_ref()
            .filter(|ac| ac.session.bind_to_subject);
        let headers = if binds_sessions.is_some() || config.tools.is_some() {
            host.response_headers()
        } else {
            Vec::new()
        };
        if let Some(ac) = binds_sessions {
            unbind_session(host, &headers, ac, request);
        }
        if let Some(h) = &request.limit_headers {
            for (name, value) in h.pairs() {
                host.set_response_header(name, Some(&value));
            }
        }
        if let Some(rl) = &config.rate_limits {
            if !rl.tools.is_empty() || !rl.tokens.is_empty() {
                self.limits = Some(Box::new(StreamLimits {
                    config: rl.clone(),
                    identity: request.identity.clone(),
                    facts: request.limit_facts.clone(),
                }));
            }
        }
        let Some(tools) = &config.tools else { return };
        let Some(allowlist) = request.identity.as_ref().and_then(|i| i.allowlist.clone()) else {
            return;
        };
        if request.websocket && super::websocket::upgraded(&headers) {
            let mut guard = MessageGuard::new(allowlist, tools.max_frame_bytes);
            if self
                .limits
                .as_ref()
                .is_some_and(|l| !l.config.tools.is_empty())
            {
                guard = guard.charging_tools();
            }
            self.mode = Mode::WebSocket(Box::new(guard));
            return;
        }
        let content_type = first_value(&headers, "content-type").unwrap_or_default();
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
        let encoding = first_value(&headers, "content-encoding").unwrap_or_default();
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
        let mut guard = StreamGuard::new(allowlist, tools.max_frame_bytes)
            .rewriting_frames_with(mcp::filter_tools_list_frame);
        if let Some(l) = &self.limits {
            if !l.config.tools.is_empty() {
                guard = guard.charging_tools();
            }
            if !l.config.tokens.is_empty() {
                guard = guard.metering_usage();
            }
        }
        self.mode = Mode::Police(Box::new(guard));
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
            Mode::Police(_) | Mode::WebSocket(_) => {
                if let Some(charge) = &mut self.charging {
                    // Envoy holds this chunk behind the frame being charged.
                    charge.end_of_stream |= end_of_stream;
                    return ResponseBodyStep::Hold;
                }
                let chunk = host.response_body(size);
                let (output, policed) = self.police(host, &chunk, end_of_stream);
                let len = match output {
                    // The common case: the chunk goes out as Envoy holds it.
                    Output::Unchanged => chunk.len(),
                    Output::Bytes(output) => {
                        host.replace_response_body(size, &output);
                        output.len()
                    }
                };
                self.after_policing(host, policed, len, end_of_stream)
            }
        }
    }

    /// Runs the guard over `input`, charging allowed tool calls as it meets
    /// them, until the input is used up, the stream is cut, or a charge waits.
    fn police(&mut self, host: &dyn Host, input: &[u8], end_of_stream: bool) -> (Output, Policed) {
        let mut output = Vec::new();
        let mut input = input;
        let mut first = true;
        loop {
            let step = match &mut self.mode {
                Mode::Police(guard) => sse_step(guard, host, input, end_of_stream),
                Mode::WebSocket(guard) => super::websocket::step(guard, host, input),
                _ => return (Output::Unchanged, Policed::Go),
            };
            let this_input = input;
            input = &[];
            count_tools(host, step.tools_allowed, step.tools_denied);
            if first && step.unchanged && step.kind == StepKind::Go {
                return (Output::Unchanged, Policed::Go);
            }
            first = false;
            let base = output.len();
            if output.is_empty() && !step.unchanged {
                output = step.output;
            } else if step.unchanged {
                // The guard sent its input as it is (and kept no copy of it).
                output.extend_from_slice(this_input);
            } else {
                output.extend_from_slice(&step.output);
            }
            let (names, frame_start) = match step.kind {
                StepKind::Go => return (Output::Bytes(output), Policed::Go),
                StepKind::Cut => return (Output::Bytes(output), Policed::Cut),
                StepKind::Charge { names, start } => (names, base.saturating_add(start)),
            };
            let Some(l) = &self.limits else { continue };
            let charges: Vec<Charge<'_>> = names
                .iter()
                .map(|name| Charge {
                    descriptors: &l.config.tools,
                    tool: Some(name),
                    hits_addend: None,
                })
                .collect();
            let verdict =
                match limits::send(host, &l.config, l.identity.as_ref(), &l.facts, &charges, 1) {
                    Sent::Nothing => continue,
                    Sent::Waiting(call) => {
                        return (
                            Output::Bytes(output),
                            Policed::Wait {
                                call,
                                names,
                                frame_start,
                            },
                        )
                    }
                    Sent::Failed(verdict) => verdict,
                };
            let decision = limits::decide(host, &l.config, verdict, &mut None);
            if decision != Decision::Go {
                output.truncate(frame_start);
                output.extend_from_slice(&self.refuse(host, &decision, &names));
                return (Output::Bytes(output), Policed::Cut);
            }
        }
    }

    /// Ends the stream over a refused charge: the bytes that take the charged
    /// frame's (or message's) place.
    fn refuse(&mut self, host: &dyn Host, decision: &Decision, names: &[String]) -> Vec<u8> {
        host.log(
            LogLevel::Info,
            "toolguard: stream cut: tool call over its rate limit",
        );
        let name = names.first().map_or("", String::as_str).to_owned();
        match &mut self.mode {
            Mode::WebSocket(guard) => guard.refuse_charge(match decision {
                Decision::Unavailable => CloseReason::Unavailable { name },
                _ => CloseReason::OverLimit { name },
            }),
            Mode::Police(guard) => {
                guard.close();
                refusal_event(decision, names)
            }
            _ => Vec::new(),
        }
    }

    fn after_policing(
        &mut self,
        host: &dyn Host,
        policed: Policed,
        output_len: usize,
        end_of_stream: bool,
    ) -> ResponseBodyStep {
        match policed {
            Policed::Go => {
                if end_of_stream {
                    self.charge_tokens(host);
                }
                ResponseBodyStep::Continue
            }
            Policed::Cut => {
                // The model spent what it reported, whether or not the client saw it.
                self.charge_tokens(host);
                self.cut(host, end_of_stream)
            }
            Policed::Wait {
                call,
                names,
                frame_start,
            } => {
                self.charging = Some(ToolCharge {
                    call,
                    names,
                    frame_start,
                    prefix_len: output_len,
                    end_of_stream,
                });
                ResponseBodyStep::Hold
            }
        }
    }

    /// The answer to a tool charge: the held body is rewritten (the rest of it
    /// policed, or the frame replaced by the `rate_limit_error` event) and let
    /// go. `None` if the answer is not this stream's charge.
    pub fn on_grpc_answer(
        &mut self,
        host: &dyn Host,
        token: u32,
        status: u32,
        body: &[u8],
    ) -> Option<ResponseBodyStep> {
        let verdict = self.charging.as_ref()?.call.answer(token, status, body)?;
        Some(self.on_charge_verdict(host, verdict))
    }

    /// The root's tick: the charge's deadline passed without an answer.
    pub fn on_limits_deadline(&mut self, host: &dyn Host) -> Option<ResponseBodyStep> {
        let verdict = self.charging.as_ref()?.call.expired(host.now_ms())?;
        Some(self.on_charge_verdict(host, verdict))
    }

    /// Whether a tool-call frame waits for the rate-limit service.
    pub fn waits_for_limits(&self) -> bool {
        self.charging.is_some()
    }

    fn on_charge_verdict(
        &mut self,
        host: &dyn Host,
        verdict: crate::ratelimit::Verdict,
    ) -> ResponseBodyStep {
        let Some(charge) = self.charging.take() else {
            return ResponseBodyStep::Continue;
        };
        let decision = match &self.limits {
            Some(l) => limits::decide(host, &l.config, verdict, &mut None),
            None => Decision::Go,
        };
        let held = host.held_response_body();
        let prefix_len = charge.prefix_len.min(held.len());
        let (prefix, more) = held.split_at(prefix_len);
        let step = if decision == Decision::Go {
            let (output, policed) = self.police(host, more, charge.end_of_stream);
            let mut body = prefix.to_vec();
            body.extend_from_slice(match &output {
                Output::Unchanged => more,
                Output::Bytes(bytes) => bytes,
            });
            host.replace_held_response_body(held.len(), &body);
            self.after_policing(host, policed, body.len(), charge.end_of_stream)
        } else {
            let mut body = prefix.get(..charge.frame_start).unwrap_or(prefix).to_vec();
            body.extend_from_slice(&self.refuse(host, &decision, &charge.names));
            host.replace_held_response_body(held.len(), &body);
            self.cut(host, charge.end_of_stream)
        };
        if step != ResponseBodyStep::Hold {
            host.resume_response();
        }
        step
    }

    /// SPEC "Rate limits", `tokens`: the usage the stream reported is charged
    /// once it ended; nobody waits for the answer.
    fn charge_tokens(&mut self, host: &dyn Host) {
        let (Some(l), Mode::Police(guard)) = (&self.limits, &self.mode) else {
            return;
        };
        let tokens = guard.tokens().unwrap_or(0);
        if tokens == 0 || l.config.tokens.is_empty() {
            return;
        }
        let charge = [Charge {
            descriptors: &l.config.tokens,
            tool: None,
            hits_addend: None,
        }];
        let hits = u32::try_from(tokens).unwrap_or(u32::MAX);
        match limits::send(
            host,
            &l.config,
            l.identity.as_ref(),
            &l.facts,
            &charge,
            hits,
        ) {
            Sent::Waiting(_) => host.count(Metric::TokensCharged, u64::from(hits)),
            Sent::Nothing => {}
            Sent::Failed(verdict) => {
                limits::decide(host, &l.config, verdict, &mut None);
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
