//! One VM's streams and what the root does for them, over [`RootHost`]: the
//! JWKS fetches, the streams that wait (for a provider's keys or for the
//! rate-limit service) until an answer or their deadline, and the cut streams
//! to reset. The proxy-wasm contexts only hand their callbacks to this.
//!
//! A call sent from a stream's own callback is answered on that stream; one the
//! root sent while acting for a stream (after a key wait, an answer or a
//! deadline) is answered on the root, which routes it back by token. Deadlines
//! are the tick's backstop: Envoy's own gRPC timeout normally ends a slow call
//! first.

use super::request::{BodyStep, RequestState, RequestStep};
use super::response::{ResponseBodyStep, ResponseState};
use super::routed::Routed;
use super::vm::{Fetch, Vm};
use crate::config::Config;
use crate::host::{Host, HttpNotSent, LogLevel, RootHost};
use crate::jwt::jwks::MAX_JWKS_BYTES;
use crate::jwt::jwks_cache;
use crate::metrics::Metric;
use std::collections::HashMap;
use std::rc::Rc;

/// A `RateLimitResponse` is a few hundred bytes; anything past this is garbage.
const MAX_ANSWER_BYTES: usize = 65536;

/// Both halves of one stream.
#[derive(Debug, Default)]
pub struct Stream {
    pub request: RequestState,
    pub response: ResponseState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// The request waits for this provider's keys until `deadline_ms`.
    Keys { provider: usize, deadline_ms: u64 },
    /// The request or the response waits for the rate-limit service; the
    /// deadline is the pending call's own.
    Limits,
}

#[derive(Debug, Clone, Copy)]
struct Waiter {
    context_id: u32,
    wait: Wait,
}

pub struct Root {
    vm: Vm,
    /// By context id, from the first callback to the context's deletion.
    streams: HashMap<u32, Stream>,
    waiters: Vec<Waiter>,
    /// Streams cut by the guard, to be reset at this time (ms) if no further
    /// chunk comes to do it.
    cut: Vec<(u32, u64)>,
    /// gRPC calls the root sent for a stream: token to context id.
    routes: HashMap<u32, u32>,
    /// JWKS fetches sent: token to fetch.
    fetches: HashMap<u32, Fetch>,
}

impl Root {
    pub fn new(config: Rc<Config>) -> Root {
        Root {
            vm: Vm::new(config),
            streams: HashMap::new(),
            waiters: Vec::new(),
            cut: Vec::new(),
            routes: HashMap::new(),
            fetches: HashMap::new(),
        }
    }

    pub fn on_request_headers(
        &mut self,
        host: &dyn Host,
        context_id: u32,
        end_of_stream: bool,
    ) -> RequestStep {
        let stream = self.streams.entry(context_id).or_default();
        let step = stream.request.on_headers(host, &mut self.vm, end_of_stream);
        self.queue_if_waiting(context_id, &step);
        step
    }

    pub fn on_request_body(
        &mut self,
        host: &dyn Host,
        context_id: u32,
        size: usize,
        end_of_stream: bool,
    ) -> BodyStep {
        let stream = self.streams.entry(context_id).or_default();
        let step = stream.request.on_body(host, &self.vm, size, end_of_stream);
        if stream.request.waits_for_limits() {
            self.queue_limits(context_id);
        }
        step
    }

    pub fn on_request_trailers(&mut self, context_id: u32) -> BodyStep {
        self.streams
            .entry(context_id)
            .or_default()
            .request
            .on_trailers()
    }

    pub fn on_response_headers(&mut self, host: &dyn Host, context_id: u32) {
        let Stream { request, response } = self.streams.entry(context_id).or_default();
        response.on_headers(host, &self.vm.config, request);
    }

    /// A stream is never held here except for a bounded MCP `tools/list` JSON
    /// answer or the body behind a tool-call frame being charged.
    pub fn on_response_body(
        &mut self,
        host: &dyn Host,
        context_id: u32,
        size: usize,
        end_of_stream: bool,
    ) -> ResponseBodyStep {
        let stream = self.streams.entry(context_id).or_default();
        let step = stream.response.on_body(host, size, end_of_stream);
        match step {
            ResponseBodyStep::CutAt(at_ms) => self.cut.push((context_id, at_ms)),
            ResponseBodyStep::Hold if stream.response.waits_for_limits() => {
                self.queue_limits(context_id);
            }
            ResponseBodyStep::Hold | ResponseBodyStep::Continue => {}
        }
        step
    }

    /// A gRPC answer on the stream that sent the call.
    pub fn on_stream_grpc_answer<H: RootHost>(
        &mut self,
        host: &H,
        context_id: u32,
        token: u32,
        status: u32,
        size: usize,
    ) {
        let body = grpc_answer(host, status, size);
        self.deliver(&Routed::new(host, false), context_id, token, status, &body);
    }

    /// The stream ended: it no longer waits, nor is it reset.
    pub fn on_stream_done(&mut self, context_id: u32) {
        self.waiters.retain(|w| w.context_id != context_id);
        self.cut.retain(|(c, _)| *c != context_id);
    }

    /// The stream's context is deleted: nothing can reach it any more.
    pub fn on_stream_deleted(&mut self, context_id: u32) {
        self.on_stream_done(context_id);
        self.streams.remove(&context_id);
    }

    /// `serving` is false on Envoy's main thread, which never serves a request:
    /// fetching there would only add a fetcher.
    pub fn on_tick<H: RootHost>(&mut self, host: &H, serving: bool) {
        let now_ms = host.now_ms();
        if serving {
            self.dispatch_due_fetches(host, now_ms);
        }
        self.run_waiters(host, now_ms, None, true);
        self.reset_cut_streams(host, now_ms);
    }

    /// A gRPC answer on the root: a call the root sent for a stream.
    pub fn on_root_grpc_answer<H: RootHost>(
        &mut self,
        host: &H,
        token: u32,
        status: u32,
        size: usize,
    ) {
        let Some(context_id) = self.routes.remove(&token) else {
            return;
        };
        if !host.set_effective_context(context_id) {
            return; // the stream is gone
        }
        let body = grpc_answer(host, status, size);
        self.deliver(&Routed::new(host, true), context_id, token, status, &body);
    }

    /// A JWKS fetch answered (or given up on); the requests that wait for its
    /// provider are woken either way.
    pub fn on_http_call_answer<H: RootHost>(
        &mut self,
        host: &H,
        token: u32,
        num_headers: usize,
        body_size: usize,
    ) {
        let Some(fetch) = self.fetches.remove(&token) else {
            return;
        };
        let now_ms = host.now_ms();
        // No headers: Envoy's async client gave up on the call without an
        // answer (an answer over its buffer limit, e.g. a 50 MiB JWKS, or a
        // stream reset). Envoy then has no response to read: asking for its
        // headers returns BadArgument (on which the SDK's getters panic and the
        // VM dies). So nothing is read, and the fetch is a failed one.
        let status = if num_headers == 0 {
            None
        } else {
            host.http_call_header(":status")
                .and_then(|s| s.parse::<u32>().ok())
        };
        // A 200 over the JWKS size limit is refused unread: nothing of it is
        // copied into the VM, the fetch counts as failed, and the log names the
        // size the endpoint sent. (Envoy itself has buffered the whole answer by
        // now; the filter cannot bound that.)
        let oversized = match status {
            Some(200) => jwks_cache::refuse_oversized(body_size).err(),
            _ => None,
        };
        let result = match oversized {
            Some(too_large) => {
                // No status: the cache records a failed fetch (backoff, keys kept).
                let _ = self
                    .vm
                    .on_fetch_answer(fetch.provider, fetch.id, None, &[], now_ms);
                Err(too_large.to_string())
            }
            None => {
                let body = if status.is_some() && body_size > 0 {
                    host.http_call_body(body_size.min(MAX_JWKS_BYTES + 1))
                } else {
                    Vec::new()
                };
                self.vm
                    .on_fetch_answer(fetch.provider, fetch.id, status, &body, now_ms)
            }
        };
        let name = self.provider_name(fetch.provider);
        match result {
            Ok(()) => {
                host.count(Metric::JwksFetchOk, 1);
                host.log(
                    LogLevel::Debug,
                    &format!("toolguard: JWKS of provider {name:?} fetched"),
                );
            }
            Err(e) => {
                host.count(Metric::JwksFetchFailed, 1);
                host.log(LogLevel::Warn, &format!("toolguard: JWKS fetch for provider {name:?} failed: {e}; keeping the last good keys"));
            }
        }
        self.run_waiters(host, now_ms, Some(fetch.provider), false);
    }

    fn dispatch_due_fetches<H: RootHost>(&mut self, host: &H, now_ms: u64) {
        for fetch in self.vm.due_fetches(now_ms) {
            let headers = [
                (":method", "GET"),
                (":path", fetch.path.as_str()),
                (":authority", fetch.authority.as_str()),
                ("accept", "application/json"),
            ];
            match host.dispatch_http(&fetch.cluster, &headers, fetch.timeout_ms) {
                Ok(token) => {
                    self.fetches.insert(token, fetch);
                }
                Err(HttpNotSent(why)) => {
                    host.log(
                        LogLevel::Error,
                        &format!(
                            "toolguard: cannot fetch the JWKS of provider {:?} through cluster {:?} ({why}); is the cluster defined?",
                            self.provider_name(fetch.provider),
                            fetch.cluster
                        ),
                    );
                    host.count(Metric::JwksFetchFailed, 1);
                    self.vm.on_fetch_not_sent(fetch.provider, fetch.id, now_ms);
                }
            }
        }
    }

    /// Re-runs authentication for the requests waiting on `fetched` (it has
    /// keys, or its fetch ended) and answers those whose wait is over; with
    /// `deadlines`, also ends the rate-limit waits past their call's deadline.
    fn run_waiters<H: RootHost>(
        &mut self,
        host: &H,
        now_ms: u64,
        fetched: Option<usize>,
        deadlines: bool,
    ) {
        let mut still = Vec::new();
        for w in std::mem::take(&mut self.waiters) {
            let id = w.context_id;
            let due = match w.wait {
                Wait::Keys {
                    provider,
                    deadline_ms,
                } => fetched == Some(provider) || now_ms >= deadline_ms,
                Wait::Limits => deadlines,
            };
            if !due {
                still.push(w);
                continue;
            }
            if !host.set_effective_context(id) {
                continue; // the stream is gone
            }
            let routed = Routed::new(host, true);
            let Some(stream) = self.streams.get_mut(&id) else {
                continue;
            };
            match w.wait {
                Wait::Keys { provider, .. } => {
                    let step = if fetched == Some(provider) {
                        stream.request.on_keys(&routed, &mut self.vm)
                    } else {
                        stream.request.on_keys_timeout(&routed, &self.vm, provider)
                    };
                    match step {
                        RequestStep::WaitForKeys {
                            provider,
                            deadline_ms,
                        } => still.push(Waiter {
                            context_id: id,
                            wait: Wait::Keys {
                                provider,
                                deadline_ms,
                            },
                        }),
                        step => self.apply_request_step(&routed, id, step),
                    }
                }
                Wait::Limits => {
                    if let Some(step) = stream.request.on_limits_deadline(&routed, &self.vm) {
                        self.apply_request_step(&routed, id, step);
                    }
                    let Some(stream) = self.streams.get_mut(&id) else {
                        continue;
                    };
                    if let Some(step) = stream.response.on_limits_deadline(&routed) {
                        self.apply_response_step(&routed, id, step);
                    }
                    let waits = self.streams.get(&id).is_some_and(|s| {
                        s.request.waits_for_limits() || s.response.waits_for_limits()
                    });
                    if waits {
                        still.push(w);
                    }
                }
            }
        }
        for w in still {
            self.queue(w);
        }
    }

    /// A cut stream whose upstream sent nothing more is reset here, so the client
    /// is released and the upstream cancelled without waiting for another chunk.
    fn reset_cut_streams<H: RootHost>(&mut self, host: &H, now_ms: u64) {
        self.cut.retain(|(context_id, at_ms)| {
            if now_ms < *at_ms {
                return true;
            }
            if host.set_effective_context(*context_id) {
                host.reset_stream();
            }
            false
        });
    }

    /// The gRPC answer `token` for stream `context_id`, whose context is current.
    fn deliver(&mut self, host: &Routed, context_id: u32, token: u32, status: u32, body: &[u8]) {
        let Some(stream) = self.streams.get_mut(&context_id) else {
            return;
        };
        if let Some(step) = stream
            .request
            .on_grpc_answer(host, &self.vm, token, status, body)
        {
            self.apply_request_step(host, context_id, step);
            return;
        }
        if let Some(step) = stream.response.on_grpc_answer(host, token, status, body) {
            self.apply_response_step(host, context_id, step);
        }
        // Otherwise: a token charge nobody waits for, or a stream already decided.
    }

    /// A request step taken outside the stream's headers callback.
    fn apply_request_step(&mut self, host: &Routed, context_id: u32, step: RequestStep) {
        self.route(host, context_id);
        if step == RequestStep::Continue {
            host.resume_request();
        }
        self.queue_if_waiting(context_id, &step);
    }

    /// A response step taken outside the stream's body callback.
    fn apply_response_step(&mut self, host: &Routed, context_id: u32, step: ResponseBodyStep) {
        self.route(host, context_id);
        match step {
            ResponseBodyStep::CutAt(at_ms) => self.cut.push((context_id, at_ms)),
            ResponseBodyStep::Hold => self.queue_limits(context_id),
            ResponseBodyStep::Continue => {}
        }
    }

    fn route(&mut self, host: &Routed, context_id: u32) {
        for token in host.take_sent() {
            self.routes.insert(token, context_id);
        }
    }

    /// A step that waits (for keys, or for the rate-limit service) queues
    /// its stream; any other step leaves the queue as it is.
    fn queue_if_waiting(&mut self, context_id: u32, step: &RequestStep) {
        match *step {
            RequestStep::WaitForKeys {
                provider,
                deadline_ms,
            } => self.queue(Waiter {
                context_id,
                wait: Wait::Keys {
                    provider,
                    deadline_ms,
                },
            }),
            RequestStep::WaitForLimits { .. } => self.queue_limits(context_id),
            RequestStep::Continue | RequestStep::Answered | RequestStep::HoldForBody => {}
        }
    }

    fn queue_limits(&mut self, context_id: u32) {
        self.queue(Waiter {
            context_id,
            wait: Wait::Limits,
        });
    }

    /// A stream waits for the rate-limit service once, however many of its
    /// calls are pending.
    fn queue(&mut self, w: Waiter) {
        let queued = w.wait == Wait::Limits
            && self
                .waiters
                .iter()
                .any(|o| o.context_id == w.context_id && o.wait == Wait::Limits);
        if !queued {
            self.waiters.push(w);
        }
    }

    fn provider_name(&self, provider: usize) -> String {
        self.vm
            .config
            .providers
            .get(provider)
            .map_or_else(String::new, |p| p.name.clone())
    }
}

/// What is read of a gRPC answer: nothing of a failed call, and never more
/// than one byte past what a rate-limit answer can be (the decoder refuses it).
fn grpc_answer<H: RootHost>(host: &H, status: u32, size: usize) -> Vec<u8> {
    if status == 0 && size > 0 {
        host.grpc_call_body(size.min(MAX_ANSWER_BYTES + 1))
    } else {
        Vec::new()
    }
}
