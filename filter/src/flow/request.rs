//! The request half of one stream: authenticate, decide the caller's tools, shape
//! the headers for AgentCore, or answer locally.

use super::answers::{self, LocalAnswer};
use super::limits::{self, Charge, RequestFacts, Sent};
use super::vm::Vm;
use super::websocket;
use crate::agentcore::{self, Caller, SessionError};
use crate::host::{Host, LogLevel};
use crate::jwt::{self, FoundToken, Outcome, Reason, VerifiedToken};
use crate::mcp::{self, McpRequestVerdict};
use crate::metrics::Metric;
use crate::policy::Allowlist;
use crate::ratelimit::{LimitHeaders, PendingCall, Verdict};
use std::rc::Rc;

/// What the glue does with the request after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestStep {
    /// Let it go upstream (resume it if it was paused).
    Continue,
    /// Hold it until the provider's keys arrive (or the wait is over).
    WaitForKeys { provider: usize, deadline_ms: u64 },
    /// Answered locally; nothing goes upstream.
    Answered,
    /// Keep the headers until the body is judged (only with
    /// `allow_on_headers_stop_iteration`); a body step then releases or answers.
    HoldForBody,
    /// Hold it until the rate-limit service answers (or the deadline passes).
    WaitForLimits { deadline_ms: u64 },
}

/// What the glue does with a request body chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyStep {
    /// Send it on (and the held headers, if any).
    Continue,
    /// Keep it: Envoy buffers it until the request is decided.
    Hold,
    /// Answered locally; nothing goes upstream.
    Answered,
}

/// Who the caller turned out to be; the response half polices with it.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    pub token: Option<Rc<VerifiedToken>>,
    /// `None` when `tools` is not configured.
    pub allowlist: Option<Allowlist>,
}

/// The request-side state of one stream.
#[derive(Debug, Default)]
pub struct RequestState {
    /// Held only while the request waits for keys; never logged.
    found: Option<FoundToken>,
    /// Set once the request may go upstream.
    pub identity: Option<Identity>,
    /// When the request arrived: a wait for keys counts from here.
    arrived_ms: u64,
    /// An MCP JSON-RPC body is read whole and checked before it goes upstream.
    check_body: bool,
    /// The request has no body (headers ended the stream).
    headers_only: bool,
    /// The body buffered so far, and whether it is complete.
    body_size: usize,
    body_done: bool,
    answered: bool,
    /// The request was a `tools/list`: its JSON answer is filtered.
    pub lists_tools: bool,
    /// The request headers, read in one host call when they arrive and dropped
    /// once the request is admitted: every lookup before that (token, path,
    /// method, content type, AgentCore shaping) reads this copy.
    headers: Vec<(String, String)>,
    /// The request asks to upgrade to a WebSocket: a `101` answer is policed.
    pub websocket: bool,
    /// The rate-limit call the request waits for.
    limit_call: Option<PendingCall>,
    /// From the rate-limit answer: added to the response (SPEC "Rate limits").
    pub limit_headers: Option<LimitHeaders>,
    /// What the response's tool and token charges read from the request.
    pub limit_facts: RequestFacts,
    /// An allowed MCP `tools/call` body waiting for its tool charge.
    mcp_charge: Option<McpCharge>,
}

/// The first value of `name` (as the proxy's own lookup gives it).
pub(super) fn first_value(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

#[derive(Debug)]
struct McpCharge {
    call: PendingCall,
    calls: Vec<mcp::quota::ToolsCall>,
    is_batch: bool,
}

impl RequestState {
    /// `on_http_request_headers`.
    pub fn on_headers(&mut self, host: &dyn Host, vm: &mut Vm, end_of_stream: bool) -> RequestStep {
        let config = vm.config.clone();
        self.headers_only = end_of_stream;
        self.body_done = end_of_stream;
        self.headers = host.request_headers();
        if config.tools.is_some() {
            // Upstreams must send plain text: a compressed stream cannot be policed.
            host.set_request_header("accept-encoding", None);
            self.headers
                .retain(|(k, _)| !k.eq_ignore_ascii_case("accept-encoding"));
            self.websocket = websocket::is_upgrade(&self.headers);
            if self.websocket {
                websocket::shape_upgrade(host);
            }
        }
        self.arrived_ms = host.now_ms();
        // The key never goes upstream, whoever the caller turns out to be.
        let api_key = config.api_keys.as_ref().and_then(|k| {
            let value = first_value(&self.headers, &k.header);
            host.set_request_header(&k.header, None);
            self.headers
                .retain(|(name, _)| !name.eq_ignore_ascii_case(&k.header));
            value
        });
        let path = first_value(&self.headers, ":path").unwrap_or_default();
        if config.bypass.iter().any(|rule| rule.matches(&path)) {
            return self.admit(host, vm, None);
        }
        let found = jwt::extract(&config.providers, |name| first_value(&self.headers, name))
            .or_else(|| token_from_params(host, &config.providers, &path));
        let Some(found) = found else {
            if let Some(key) = api_key {
                return self.authenticate_api_key(host, vm, &key);
            }
            host.count(Metric::JwtDenied, 1);
            return self.answer(host, answers::missing_token());
        };
        self.found = Some(found);
        self.authenticate(host, vm, self.arrived_ms, false)
    }

    /// Called again when keys the request waited for arrived (or a kid refetch ended).
    pub fn on_keys(&mut self, host: &dyn Host, vm: &mut Vm) -> RequestStep {
        self.authenticate(host, vm, host.now_ms(), true)
    }

    /// The wait for keys is over. A provider that has keys was being refetched for
    /// an unknown `kid` that did not come in time: that is `unknown_kid`, not 503.
    pub fn on_keys_timeout(&mut self, host: &dyn Host, vm: &Vm, provider: usize) -> RequestStep {
        if vm.has_keys(provider) {
            return self.reject(host, Reason::UnknownKid);
        }
        self.found = None;
        host.count(Metric::JwtDenied, 1);
        let name = vm
            .config
            .providers
            .get(provider)
            .map_or("", |p| p.name.as_str());
        self.answer(
            host,
            answers::jwks_unavailable(name, vm.retry_after_secs(provider)),
        )
    }

    /// `now_ms`: the clock as the caller last read it (each read is a host call).
    fn authenticate(
        &mut self,
        host: &dyn Host,
        vm: &mut Vm,
        now_ms: u64,
        after_refetch: bool,
    ) -> RequestStep {
        let Some(found) = self.found.clone() else {
            return self.answer(host, answers::invalid_token(Reason::Malformed));
        };
        let outcome = vm.authenticate(&found, now_ms, self.arrived_ms);
        match outcome {
            Outcome::Verified { token, .. } => {
                self.found = None;
                host.count(Metric::JwtAllowed, 1);
                self.admit(host, vm, Some(token))
            }
            Outcome::Rejected(reason) => self.reject(host, reason),
            Outcome::NeedKeys(provider) => RequestStep::WaitForKeys {
                provider,
                deadline_ms: self.arrived_ms.saturating_add(vm.wait_ms(provider)),
            },
            Outcome::KeysUnavailable(provider) => self.on_keys_timeout(host, vm, provider),
            Outcome::NeedKidRefetch(provider) => {
                if !after_refetch && vm.request_kid_refetch(provider, now_ms) {
                    RequestStep::WaitForKeys {
                        provider,
                        deadline_ms: now_ms.saturating_add(vm.wait_ms(provider)),
                    }
                } else {
                    self.reject(host, Reason::UnknownKid)
                }
            }
        }
    }

    /// SPEC "API keys": no token, but the key header. The key is never logged.
    fn authenticate_api_key(&mut self, host: &dyn Host, vm: &Vm, key: &str) -> RequestStep {
        let config = vm.config.clone();
        let Some(keys) = &config.api_keys else {
            return self.reject(host, Reason::UnknownApiKey);
        };
        let mut roles_claims = Vec::new();
        for path in config
            .providers
            .iter()
            .filter_map(|p| p.roles_claim.as_ref())
        {
            if !roles_claims.contains(&path) {
                roles_claims.push(path);
            }
        }
        match crate::api_keys::identify(keys, key, &roles_claims) {
            Some(token) => self.admit(host, vm, Some(Rc::new(token))),
            None => self.reject(host, Reason::UnknownApiKey),
        }
    }

    fn reject(&mut self, host: &dyn Host, reason: Reason) -> RequestStep {
        self.found = None;
        host.count(Metric::JwtDenied, 1);
        host.count(Metric::JwtDeniedReason(reason), 1);
        host.log(
            LogLevel::Debug,
            &format!("toolguard: token rejected: {}", reason.as_str()),
        );
        self.answer(host, answers::invalid_token(reason))
    }

    /// The caller may go upstream: resolve its tools and shape the headers.
    fn admit(&mut self, host: &dyn Host, vm: &Vm, token: Option<Rc<VerifiedToken>>) -> RequestStep {
        let config = &vm.config;
        let allowlist = config.tools.as_ref().map(|tools| {
            let roles = token
                .as_ref()
                .map(|t| t.roles.as_slice())
                .unwrap_or_default();
            Allowlist::for_roles(tools, roles.iter().map(String::as_str))
        });
        if let Some(ac) = &config.agentcore {
            let caller = token.as_ref().and_then(|t| Caller::from_claims(&t.claims));
            let request = &self.headers;
            let mut random = |buf: &mut [u8]| host.fill_random(buf);
            match agentcore::shape_request(
                ac,
                request,
                caller.as_ref(),
                allowlist.as_ref(),
                &mut random,
            ) {
                Ok(plan) => {
                    for name in &plan.remove {
                        host.set_request_header(name, None);
                    }
                    for (name, value) in &plan.set {
                        host.set_request_header(&name.to_ascii_lowercase(), Some(value));
                    }
                    if plan.dropped > 0 {
                        host.count(Metric::HeadersDropped, u64::from(plan.dropped));
                        for d in &plan.dropped_headers {
                            host.log(
                                LogLevel::Debug,
                                &format!(
                                    "toolguard: header {} dropped: {}",
                                    d.name,
                                    d.reason.as_str()
                                ),
                            );
                        }
                    }
                }
                Err(SessionError::NoRandomness) => {
                    host.count(Metric::RandomFailed, 1);
                    host.log(
                        LogLevel::Critical,
                        "toolguard: random_get failed; a session id cannot be generated",
                    );
                    return self.answer(host, answers::session_id_unavailable());
                }
                Err(e) => return self.answer(host, answers::invalid_session_id(&e.to_string())),
            }
        }
        self.identity = Some(Identity { token, allowlist });
        self.check_limits(host, vm)
    }

    /// SPEC "Rate limits": one call with every `requests` descriptor (hits 1)
    /// and the `tokens` descriptors as a check only (their `hits_addend` 0).
    fn check_limits(&mut self, host: &dyn Host, vm: &Vm) -> RequestStep {
        let config = vm.config.clone();
        let Some(rl) = &config.rate_limits else {
            return self.after_admit(host, vm);
        };
        let charges = [
            Charge {
                descriptors: &rl.requests,
                tool: None,
                hits_addend: None,
            },
            Charge {
                descriptors: &rl.tokens,
                tool: None,
                hits_addend: Some(0),
            },
        ];
        self.limit_facts = RequestFacts::capture(host, rl);
        match limits::send(
            host,
            rl,
            self.identity.as_ref(),
            &self.limit_facts,
            &charges,
            1,
        ) {
            Sent::Nothing => self.after_admit(host, vm),
            Sent::Waiting(call) => {
                self.limit_call = Some(call);
                RequestStep::WaitForLimits {
                    deadline_ms: call.deadline_ms,
                }
            }
            Sent::Failed(verdict) => self.on_limit_verdict(host, vm, verdict),
        }
    }

    /// A gRPC answer for this stream; `None` if it is not the request's call.
    pub fn on_grpc_answer(
        &mut self,
        host: &dyn Host,
        vm: &Vm,
        token: u32,
        status: u32,
        body: &[u8],
    ) -> Option<RequestStep> {
        if let Some(verdict) = self
            .mcp_charge
            .as_ref()
            .and_then(|c| c.call.answer(token, status, body))
        {
            let charge = self.mcp_charge.take()?;
            return Some(self.on_mcp_verdict(host, vm, charge, verdict));
        }
        let verdict = self.limit_call?.answer(token, status, body)?;
        self.limit_call = None;
        Some(self.on_limit_verdict(host, vm, verdict))
    }

    /// The root's tick: `Some` once the call's deadline passed without an answer.
    pub fn on_limits_deadline(&mut self, host: &dyn Host, vm: &Vm) -> Option<RequestStep> {
        if let Some(verdict) = self
            .mcp_charge
            .as_ref()
            .and_then(|c| c.call.expired(host.now_ms()))
        {
            let charge = self.mcp_charge.take()?;
            return Some(self.on_mcp_verdict(host, vm, charge, verdict));
        }
        let verdict = self.limit_call?.expired(host.now_ms())?;
        self.limit_call = None;
        Some(self.on_limit_verdict(host, vm, verdict))
    }

    /// Whether the request still waits for the rate-limit service.
    pub fn waits_for_limits(&self) -> bool {
        self.limit_call.is_some() || self.mcp_charge.is_some()
    }

    fn on_limit_verdict(&mut self, host: &dyn Host, vm: &Vm, verdict: Verdict) -> RequestStep {
        let config = vm.config.clone();
        let Some(rl) = &config.rate_limits else {
            return self.after_admit(host, vm);
        };
        let decision = limits::decide(host, rl, verdict, &mut self.limit_headers);
        if let Some(a) = limits::answer(&decision, self.limit_headers.as_ref()) {
            return self.answer(host, a);
        }
        match self.after_admit(host, vm) {
            // Without `allow_on_headers_stop_iteration`, Envoy keeps the body from
            // a filter whose headers are paused, so an MCP body usually comes after
            // the resume and is held and checked by its own callbacks; one already
            // complete (held) is checked now. With it, `after_admit` judged it.
            RequestStep::Continue
                if self.check_body
                    && self.body_done
                    && self.body_size > 0
                    && !vm.config.allow_on_headers_stop_iteration =>
            {
                match self.check_mcp_body(host, vm) {
                    BodyStep::Continue => RequestStep::Continue,
                    BodyStep::Hold => RequestStep::HoldForBody,
                    BodyStep::Answered => RequestStep::Answered,
                }
            }
            step => step,
        }
    }

    fn answer(&mut self, host: &dyn Host, a: LocalAnswer) -> RequestStep {
        let headers: Vec<(&str, &str)> = a.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        host.send_response(a.status, &headers, a.body.as_bytes());
        self.answered = true;
        self.headers = Vec::new();
        RequestStep::Answered
    }

    /// `on_http_request_body`. Nothing is let through before the request is
    /// admitted: `Continue` from a body callback would also release held headers.
    pub fn on_body(
        &mut self,
        host: &dyn Host,
        vm: &Vm,
        size: usize,
        end_of_stream: bool,
    ) -> BodyStep {
        if self.answered {
            return BodyStep::Answered;
        }
        self.body_size = size;
        self.body_done = end_of_stream;
        if self.identity.is_none() || self.waits_for_limits() {
            return BodyStep::Hold;
        }
        if !self.check_body {
            return BodyStep::Continue;
        }
        self.check_mcp_body(host, vm)
    }

    /// `on_http_request_trailers`: held like the body until the request is decided.
    pub fn on_trailers(&mut self) -> BodyStep {
        if self.answered {
            BodyStep::Answered
        } else if self.identity.is_none() || self.check_body || self.limit_call.is_some() {
            self.body_done = true;
            BodyStep::Hold
        } else {
            BodyStep::Continue
        }
    }

    /// Reads the held MCP body once it is complete and answers 403 for a denied call.
    fn check_mcp_body(&mut self, host: &dyn Host, vm: &Vm) -> BodyStep {
        let limit = vm.config.tools.as_ref().map_or(0, |t| t.max_frame_bytes);
        if self.body_size > limit {
            return self.body_answer(host, answers::payload_too_large(limit));
        }
        if !self.body_done {
            return BodyStep::Hold;
        }
        let Some(allowlist) = self.identity.as_ref().and_then(|i| i.allowlist.clone()) else {
            return BodyStep::Continue;
        };
        let body = host.request_body(self.body_size);
        self.lists_tools = mcp::lists_tools(&body);
        match mcp::check_request(&body, &allowlist) {
            McpRequestVerdict::Pass => BodyStep::Continue,
            McpRequestVerdict::Allowed { calls } => {
                host.count(
                    Metric::ToolsAllowed,
                    u64::try_from(calls).unwrap_or(u64::MAX),
                );
                self.charge_mcp_calls(host, vm, &body)
            }
            McpRequestVerdict::Denied {
                body,
                allowed,
                denied,
            } => {
                host.count(
                    Metric::ToolsDenied,
                    u64::try_from(denied).unwrap_or(u64::MAX),
                );
                if allowed > 0 {
                    host.log(LogLevel::Debug, &format!("toolguard: MCP batch refused whole: {denied} denied, {allowed} allowed"));
                }
                host.send_response(403, &[("content-type", "application/json")], &body);
                self.answered = true;
                BodyStep::Answered
            }
        }
    }

    /// SPEC "Rate limits", `tools`: an MCP `tools/call` is charged on the request;
    /// its body is held until the answer.
    fn charge_mcp_calls(&mut self, host: &dyn Host, vm: &Vm, body: &[u8]) -> BodyStep {
        let config = vm.config.clone();
        let Some(rl) = config.rate_limits.as_ref().filter(|r| !r.tools.is_empty()) else {
            return BodyStep::Continue;
        };
        let (calls, is_batch) = mcp::quota::tools_calls(body);
        let charges: Vec<Charge<'_>> = calls
            .iter()
            .map(|c| Charge {
                descriptors: &rl.tools,
                tool: Some(&c.name),
                hits_addend: None,
            })
            .collect();
        let sent = limits::send(
            host,
            rl,
            self.identity.as_ref(),
            &self.limit_facts,
            &charges,
            1,
        );
        match sent {
            Sent::Nothing => BodyStep::Continue,
            Sent::Waiting(call) => {
                self.mcp_charge = Some(McpCharge {
                    call,
                    calls,
                    is_batch,
                });
                BodyStep::Hold
            }
            Sent::Failed(verdict) => {
                let charge = McpCharge {
                    call: PendingCall {
                        token: 0,
                        deadline_ms: 0,
                    },
                    calls,
                    is_batch,
                };
                match self.on_mcp_verdict(host, vm, charge, verdict) {
                    RequestStep::Answered => BodyStep::Answered,
                    _ => BodyStep::Continue,
                }
            }
        }
    }

    fn on_mcp_verdict(
        &mut self,
        host: &dyn Host,
        vm: &Vm,
        charge: McpCharge,
        verdict: Verdict,
    ) -> RequestStep {
        let config = vm.config.clone();
        let Some(rl) = &config.rate_limits else {
            return RequestStep::Continue;
        };
        match limits::decide(host, rl, verdict, &mut None) {
            limits::Decision::Go => RequestStep::Continue,
            limits::Decision::OverLimit(retry) => {
                let body = mcp::quota::over_limit_body(&charge.calls, charge.is_batch);
                let retry = retry.max(1).to_string();
                host.send_response(
                    429,
                    &[
                        ("content-type", "application/json"),
                        ("retry-after", &retry),
                    ],
                    &body,
                );
                self.answered = true;
                RequestStep::Answered
            }
            limits::Decision::Unavailable => self.answer(host, answers::rate_limit_unavailable()),
        }
    }

    fn body_answer(&mut self, host: &dyn Host, a: LocalAnswer) -> BodyStep {
        self.answer(host, a);
        BodyStep::Answered
    }

    /// After admission: an MCP JSON-RPC call has its body held and checked.
    fn after_admit(&mut self, host: &dyn Host, vm: &Vm) -> RequestStep {
        let headers = std::mem::take(&mut self.headers);
        let Some(tools) = &vm.config.tools else {
            return RequestStep::Continue;
        };
        let method = first_value(&headers, ":method").unwrap_or_default();
        let content_type = first_value(&headers, "content-type").unwrap_or_default();
        if method != "POST" || !is_json_content_type(&content_type) || self.headers_only {
            return RequestStep::Continue;
        }
        let declared =
            first_value(&headers, "content-length").and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| usize::try_from(n).map_or(true, |n| n > tools.max_frame_bytes))
        {
            return self.answer(host, answers::payload_too_large(tools.max_frame_bytes));
        }
        self.check_body = true;
        if !vm.config.allow_on_headers_stop_iteration {
            // The headers go on: without Envoy's `allow_on_headers_stop_iteration`, a
            // paused headers callback becomes "stop all", which would also keep the
            // body from this filter. The body is held until it is complete and
            // checked; a denied call is answered here and the upstream request, which
            // never got a byte of the body, is reset.
            return RequestStep::Continue;
        }
        // With it, the headers wait with the body: a refused call never opens an
        // upstream request. A body that arrived whole while the request waited for
        // keys is judged now.
        if !self.body_done {
            return RequestStep::HoldForBody;
        }
        match self.check_mcp_body(host, vm) {
            BodyStep::Continue => RequestStep::Continue,
            BodyStep::Answered => RequestStep::Answered,
            BodyStep::Hold => RequestStep::HoldForBody,
        }
    }
}

/// A token in a `from_params` query parameter: taken out of the URL and sent
/// upstream as `Authorization: Bearer` (SPEC "WebSocket"), where AgentCore looks.
fn token_from_params(
    host: &dyn Host,
    providers: &[jwt::Provider],
    path: &str,
) -> Option<FoundToken> {
    let taken = jwt::extract_from_params(providers, path)?;
    host.set_request_header(":path", Some(&taken.path));
    host.set_request_header(
        "authorization",
        Some(&format!("Bearer {}", taken.found.token)),
    );
    Some(taken.found)
}

/// Whether an MCP server could take the body as JSON. Servers are lax (the official
/// Python SDK takes any value starting with `application/json`, or any
/// comma-separated part equal to it, which is also what two `content-type` headers
/// joined by Envoy look like), so the check is at least as lax: a body the server
/// reads as JSON-RPC is never let through unread.
fn is_json_content_type(value: &str) -> bool {
    let lower = value.trim().to_ascii_lowercase();
    lower.starts_with("application/json")
        || lower
            .split(',')
            .any(|part| part.split(';').next().unwrap_or_default().trim() == "application/json")
}

#[cfg(test)]
mod content_type_tests {
    use super::is_json_content_type;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[test]
    #[wasm_bindgen_test]
    fn json_content_types_as_lax_servers_read_them() {
        for yes in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/json, text/plain",
            "application/json,",
            "text/plain, application/json",
            "application/jsonx",
        ] {
            assert!(is_json_content_type(yes), "{yes}");
        }
        for no in [
            "text/plain",
            "",
            "application/x-www-form-urlencoded",
            "text/event-stream",
        ] {
            assert!(!is_json_content_type(no), "{no}");
        }
    }
}
