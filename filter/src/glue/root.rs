//! The root context: loads the configuration once per VM, makes HTTP contexts,
//! fetches JWKS on its tick and wakes the requests that wait for keys.

use crate::config::Config;
use crate::flow::{Fetch, RequestStep, Vm};
use crate::host::LogLevel;
use crate::jwt::jwks::MAX_JWKS_BYTES;
use crate::jwt::jwks_cache;
use crate::metrics::Metric;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, MetricType};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use super::host_calls::{self, HostCalls};
use super::http::{Http, Stream};
use super::limits::{self, LimitWaiter};

/// Short enough that a request waiting for keys is woken promptly after a fetch
/// is due; each tick is a few comparisons when nothing is due.
const TICK: Duration = Duration::from_millis(100);

/// Counter ids, defined once per VM; Envoy aggregates same-named counters across workers.
#[derive(Default)]
pub struct Metrics {
    ids: RefCell<HashMap<Metric, u32>>,
}

impl Metrics {
    fn define_all(&self) {
        let mut ids = self.ids.borrow_mut();
        for m in Metric::all() {
            if let Ok(id) = hostcalls::define_metric(MetricType::Counter, &m.name()) {
                ids.insert(m, id);
            }
        }
    }

    pub fn increment(&self, metric: Metric, by: u64) {
        if let Some(id) = self.ids.borrow().get(&metric) {
            let _ = hostcalls::increment_metric(*id, i64::try_from(by).unwrap_or(i64::MAX));
        }
    }
}

/// State the root and the HTTP contexts of one VM share.
pub struct Shared {
    pub vm: RefCell<Vm>,
    pub metrics: Rc<Metrics>,
    /// Requests paused for a provider's keys: context id, stream, provider, deadline.
    pub waiting: RefCell<Vec<Waiter>>,
    /// Streams cut by the guard, to be reset if no further chunk comes to do it.
    pub cut: RefCell<Vec<(u32, u64)>>,
    /// Streams waiting for the rate-limit service (deadline backstop).
    pub limit_waits: RefCell<Vec<LimitWaiter>>,
    /// gRPC calls the root sent for a stream: token to (context id, stream).
    pub grpc_routes: RefCell<HashMap<u32, LimitWaiter>>,
    /// True while the root context runs a stream's logic (its calls come back to the root).
    pub root_active: Cell<bool>,
}

pub struct Waiter {
    pub context_id: u32,
    pub stream: Rc<RefCell<Stream>>,
    pub provider: usize,
    pub deadline_ms: u64,
}

pub struct Root {
    shared: Option<Rc<Shared>>,
    /// Set once this VM made an HTTP context. Envoy also runs the plugin on its main
    /// thread, which never serves a request: fetching there would only add a fetcher.
    serving: Cell<bool>,
    metrics: Rc<Metrics>,
    /// Fetches dispatched: callout token to (provider, fetch id).
    fetches: HashMap<u32, Fetch>,
}

impl Root {
    pub fn new(_context_id: u32) -> Self {
        Root {
            shared: None,
            serving: Cell::new(false),
            metrics: Rc::new(Metrics::default()),
            fetches: HashMap::new(),
        }
    }

    fn dispatch_due_fetches(&mut self, shared: &Shared, now_ms: u64) {
        let due = shared.vm.borrow_mut().due_fetches(now_ms);
        for fetch in due {
            let headers = vec![
                (":method", "GET"),
                (":path", fetch.path.as_str()),
                (":authority", fetch.authority.as_str()),
                ("accept", "application/json"),
            ];
            let timeout = Duration::from_millis(fetch.timeout_ms);
            match self.dispatch_http_call(&fetch.cluster, headers, None, vec![], timeout) {
                Ok(token) => {
                    self.fetches.insert(token, fetch);
                }
                Err(status) => {
                    host_calls::log(
                        LogLevel::Error,
                        &format!(
                            "toolguard: cannot fetch the JWKS of provider {:?} through cluster {:?} ({status:?}); is the cluster defined?",
                            provider_name(shared, fetch.provider),
                            fetch.cluster
                        ),
                    );
                    shared.metrics.increment(Metric::JwksFetchFailed, 1);
                    shared
                        .vm
                        .borrow_mut()
                        .on_fetch_not_sent(fetch.provider, fetch.id, now_ms);
                }
            }
        }
    }

    /// Re-runs authentication for requests waiting on `provider` once it has keys,
    /// and answers 503 to those whose wait is over.
    fn wake_waiters(&self, shared: &Shared, now_ms: u64, fetched: Option<usize>) {
        shared.root_active.set(true);
        let waiting: Vec<Waiter> = std::mem::take(&mut *shared.waiting.borrow_mut());
        let mut still = Vec::new();
        for w in waiting {
            let ready = fetched == Some(w.provider);
            let expired = now_ms >= w.deadline_ms;
            if !ready && !expired {
                still.push(w);
                continue;
            }
            if hostcalls::set_effective_context(w.context_id).is_err() {
                continue; // the stream is gone
            }
            let host = HostCalls::new(shared.metrics.clone());
            let mut stream = w.stream.borrow_mut();
            let step = if ready {
                stream.request.on_keys(&host, &mut shared.vm.borrow_mut())
            } else {
                stream
                    .request
                    .on_keys_timeout(&host, &shared.vm.borrow(), w.provider)
            };
            drop(stream);
            match step {
                RequestStep::WaitForKeys {
                    provider,
                    deadline_ms,
                } => {
                    still.push(Waiter {
                        provider,
                        deadline_ms,
                        ..w
                    });
                }
                step => limits::apply_request_step(shared, w.context_id, &w.stream, step, &host),
            }
        }
        shared.waiting.borrow_mut().extend(still);
        shared.root_active.set(false);
    }

    /// A cut stream whose upstream sent nothing more is reset here, so the client
    /// is released and the upstream cancelled without waiting for another chunk.
    fn reset_cut_streams(&self, shared: &Shared, now_ms: u64) {
        let mut cut = shared.cut.borrow_mut();
        cut.retain(|(context_id, at_ms)| {
            if now_ms < *at_ms {
                return true;
            }
            if hostcalls::set_effective_context(*context_id).is_ok() {
                let _ = hostcalls::reset_http_response();
            }
            false
        });
    }
}

fn provider_name(shared: &Shared, provider: usize) -> String {
    shared
        .vm
        .borrow()
        .config
        .providers
        .get(provider)
        .map_or_else(String::new, |p| p.name.clone())
}

impl Context for Root {
    /// A rate-limit call the root sent for a stream.
    fn on_grpc_call_response(&mut self, token_id: u32, status_code: u32, response_size: usize) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        let route = shared.grpc_routes.borrow_mut().remove(&token_id);
        let Some(LimitWaiter { context_id, stream }) = route else {
            return;
        };
        if hostcalls::set_effective_context(context_id).is_err() {
            return; // the stream is gone
        }
        shared.root_active.set(true);
        limits::deliver(
            &shared,
            context_id,
            &stream,
            token_id,
            status_code,
            response_size,
        );
        shared.root_active.set(false);
    }

    fn on_http_call_response(
        &mut self,
        token: u32,
        num_headers: usize,
        body_size: usize,
        _trailers: usize,
    ) {
        let Some(fetch) = self.fetches.remove(&token) else {
            return;
        };
        let Some(shared) = self.shared.clone() else {
            return;
        };
        let now_ms = host_calls::now_ms();
        // No headers: Envoy's async client gave up on the call without an
        // answer (an answer over its buffer limit, e.g. a 50 MiB JWKS, or a
        // stream reset). Envoy then has no response to read: asking for its
        // headers returns BadArgument, on which the SDK panics and the VM dies.
        // So nothing is read, and the fetch is a failed one.
        let status = if num_headers == 0 {
            None
        } else {
            self.get_http_call_response_header(":status")
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
                let _ = shared.vm.borrow_mut().on_fetch_answer(
                    fetch.provider,
                    fetch.id,
                    None,
                    &[],
                    now_ms,
                );
                Err(too_large.to_string())
            }
            None => {
                let body = if status.is_some() && body_size > 0 {
                    self.get_http_call_response_body(0, body_size.min(MAX_JWKS_BYTES + 1))
                        .unwrap_or_default()
                } else {
                    Vec::new()
                };
                shared.vm.borrow_mut().on_fetch_answer(
                    fetch.provider,
                    fetch.id,
                    status,
                    &body,
                    now_ms,
                )
            }
        };
        let name = provider_name(&shared, fetch.provider);
        match result {
            Ok(()) => {
                shared.metrics.increment(Metric::JwksFetchOk, 1);
                host_calls::log(
                    LogLevel::Debug,
                    &format!("toolguard: JWKS of provider {name:?} fetched"),
                );
            }
            Err(e) => {
                shared.metrics.increment(Metric::JwksFetchFailed, 1);
                host_calls::log(LogLevel::Warn, &format!("toolguard: JWKS fetch for provider {name:?} failed: {e}; keeping the last good keys"));
            }
        }
        self.wake_waiters(&shared, now_ms, Some(fetch.provider));
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let bytes = self.get_plugin_configuration().unwrap_or_default();
        let vm = Config::from_json(&bytes).map(|config| Vm::new(Rc::new(config)));
        match vm {
            Ok(vm) => {
                self.metrics.define_all();
                self.shared = Some(Rc::new(Shared {
                    vm: RefCell::new(vm),
                    metrics: self.metrics.clone(),
                    waiting: RefCell::new(Vec::new()),
                    cut: RefCell::new(Vec::new()),
                    limit_waits: RefCell::new(Vec::new()),
                    grpc_routes: RefCell::new(HashMap::new()),
                    root_active: Cell::new(false),
                }));
                self.fetches.clear();
                self.set_tick_period(TICK);
                true
            }
            Err(e) => {
                // One line naming the field path; returning false makes Envoy refuse the config.
                host_calls::log(
                    LogLevel::Critical,
                    &format!("toolguard: invalid configuration: {e}"),
                );
                false
            }
        }
    }

    fn on_tick(&mut self) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        let now_ms = host_calls::now_ms();
        if self.serving.get() {
            self.dispatch_due_fetches(&shared, now_ms);
        }
        self.wake_waiters(&shared, now_ms, None);
        shared.root_active.set(true);
        limits::enforce_deadlines(&shared);
        shared.root_active.set(false);
        self.reset_cut_streams(&shared, now_ms);
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        let shared = self.shared.clone()?;
        self.serving.set(true);
        Some(Box::new(Http::new(context_id, shared)))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
