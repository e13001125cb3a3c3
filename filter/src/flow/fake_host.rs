//! A `Host` that records what the filter did, for the flow tests.

use crate::host::{GrpcNotSent, Host, HttpNotSent, LogLevel, RootHost};
use crate::metrics::Metric;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub status: u32,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

#[derive(Default)]
pub struct FakeHost {
    pub now_ms: Cell<u64>,
    pub request: RefCell<Vec<(String, String)>>,
    pub response: RefCell<Vec<(String, String)>>,
    /// The current response body chunk, as rewritten by the filter.
    pub body: RefCell<Vec<u8>>,
    /// The request body Envoy has buffered.
    pub request_body: RefCell<Vec<u8>>,
    pub sent: RefCell<Option<Sent>>,
    pub counters: RefCell<HashMap<Metric, u64>>,
    pub resets: Cell<u32>,
    pub logs: RefCell<Vec<String>>,
    /// `random_get` fails, as it never should in Envoy.
    pub no_randomness: Cell<bool>,
    /// gRPC calls sent, in order; the token of call `i` is `i + 1`.
    pub grpc: RefCell<Vec<GrpcCall>>,
    /// Refuse to send gRPC calls (no such cluster).
    pub grpc_refused: Cell<bool>,
    /// The response body Envoy would hold while the filter pauses it.
    pub held: RefCell<Vec<u8>>,
    pub response_resumed: Cell<u32>,
    pub request_resumed: Cell<u32>,
    /// The context host calls act on (`RootHost::set_effective_context`).
    pub effective: Cell<Option<u32>>,
    /// Contexts Envoy has deleted.
    pub gone: RefCell<Vec<u32>>,
    /// The context each request resume, reset and local answer acted on.
    pub resumed_in: RefCell<Vec<Option<u32>>>,
    pub reset_in: RefCell<Vec<Option<u32>>>,
    pub sent_in: RefCell<Vec<(Option<u32>, u32)>>,
    /// HTTP calls sent, in order; the token of call `i` is `HTTP_TOKENS + i`.
    pub http: RefCell<Vec<HttpCall>>,
    /// Refuse to send HTTP calls, with this reason.
    pub http_refused: RefCell<Option<String>>,
    /// The HTTP call answer being delivered, and how often each part was read.
    pub call_headers: RefCell<Vec<(String, String)>>,
    pub call_body: RefCell<Vec<u8>>,
    pub call_header_reads: Cell<u32>,
    /// The size asked of each read of the body.
    pub call_body_reads: RefCell<Vec<usize>>,
    /// The gRPC answer being delivered, and the sizes asked of it.
    pub grpc_answer: RefCell<Vec<u8>>,
    pub grpc_reads: RefCell<Vec<usize>>,
    /// Each clock and header read, in order: in Envoy each is a host call.
    pub reads: RefCell<Vec<&'static str>>,
}

/// HTTP call tokens start here, apart from gRPC call tokens.
pub const HTTP_TOKENS: u32 = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCall {
    pub cluster: String,
    pub headers: Vec<(String, String)>,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcCall {
    pub cluster: String,
    pub service: String,
    pub method: String,
    pub message: Vec<u8>,
    pub timeout_ms: u64,
}

impl FakeHost {
    pub fn with_request(headers: &[(&str, &str)]) -> FakeHost {
        let host = FakeHost::default();
        *host.request.borrow_mut() = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        host
    }

    pub fn counter(&self, m: Metric) -> u64 {
        self.counters.borrow().get(&m).copied().unwrap_or(0)
    }

    pub fn request_value(&self, name: &str) -> Option<String> {
        get(&self.request, name)
    }

    fn read(&self, what: &'static str) {
        self.reads.borrow_mut().push(what);
    }

    pub fn sent_json(&self) -> serde_json::Value {
        let sent = self.sent.borrow();
        serde_json::from_str(&sent.as_ref().expect("a local answer").body).expect("JSON body")
    }

    /// Feeds one body chunk through `f` and returns what the client gets.
    pub fn chunk(&self, bytes: &[u8], f: impl FnOnce(&FakeHost, usize)) -> Vec<u8> {
        *self.body.borrow_mut() = bytes.to_vec();
        f(self, bytes.len());
        self.body.borrow().clone()
    }
}

fn get(map: &RefCell<Vec<(String, String)>>, name: &str) -> Option<String> {
    map.borrow()
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

fn set(map: &RefCell<Vec<(String, String)>>, name: &str, value: Option<&str>) {
    let mut map = map.borrow_mut();
    map.retain(|(k, _)| k != name);
    if let Some(v) = value {
        map.push((name.to_owned(), v.to_owned()));
    }
}

impl Host for FakeHost {
    fn now_ms(&self) -> u64 {
        self.read("now_ms");
        self.now_ms.get()
    }
    fn log(&self, _level: LogLevel, message: &str) {
        self.logs.borrow_mut().push(message.to_owned());
    }
    fn count(&self, metric: Metric, by: u64) {
        *self.counters.borrow_mut().entry(metric).or_default() += by;
    }
    fn fill_random(&self, buf: &mut [u8]) -> bool {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(31).wrapping_add(7);
        }
        !self.no_randomness.get()
    }
    fn request_header(&self, name: &str) -> Option<String> {
        self.read("request_header");
        get(&self.request, name)
    }
    fn request_headers(&self) -> Vec<(String, String)> {
        self.read("request_headers");
        self.request.borrow().clone()
    }
    fn set_request_header(&self, name: &str, value: Option<&str>) {
        set(&self.request, name, value);
    }
    fn request_body(&self, size: usize) -> Vec<u8> {
        let body = self.request_body.borrow();
        body.get(..size).unwrap_or(&body).to_vec()
    }
    fn response_header(&self, name: &str) -> Option<String> {
        self.read("response_header");
        get(&self.response, name)
    }
    fn response_headers(&self) -> Vec<(String, String)> {
        self.read("response_headers");
        self.response.borrow().clone()
    }
    fn set_response_header(&self, name: &str, value: Option<&str>) {
        set(&self.response, name, value);
    }
    fn response_body(&self, size: usize) -> Vec<u8> {
        let body = self.body.borrow();
        body.get(..size).unwrap_or(&body).to_vec()
    }
    fn replace_response_body(&self, _size: usize, bytes: &[u8]) {
        *self.body.borrow_mut() = bytes.to_vec();
    }
    fn replace_request_body(&self, _size: usize, _bytes: &[u8]) {}
    fn send_response(&self, status: u32, headers: &[(&str, &str)], body: &[u8]) {
        self.sent_in
            .borrow_mut()
            .push((self.effective.get(), status));
        *self.sent.borrow_mut() = Some(Sent {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: String::from_utf8_lossy(body).into_owned(),
        });
    }
    fn resume_request(&self) {
        self.resumed_in.borrow_mut().push(self.effective.get());
        self.request_resumed.set(self.request_resumed.get() + 1);
    }
    fn reset_stream(&self) {
        self.reset_in.borrow_mut().push(self.effective.get());
        self.resets.set(self.resets.get() + 1);
    }
    fn dispatch_grpc(
        &self,
        cluster: &str,
        service: &str,
        method: &str,
        message: &[u8],
        timeout_ms: u64,
    ) -> Result<u32, GrpcNotSent> {
        if self.grpc_refused.get() {
            return Err(GrpcNotSent);
        }
        let mut calls = self.grpc.borrow_mut();
        calls.push(GrpcCall {
            cluster: cluster.to_owned(),
            service: service.to_owned(),
            method: method.to_owned(),
            message: message.to_vec(),
            timeout_ms,
        });
        Ok(calls.len() as u32)
    }
    fn held_response_body(&self) -> Vec<u8> {
        self.held.borrow().clone()
    }
    fn replace_held_response_body(&self, size: usize, bytes: &[u8]) {
        let mut held = self.held.borrow_mut();
        let at = size.min(held.len());
        let rest = held.split_off(at);
        *held = bytes.to_vec();
        held.extend_from_slice(&rest);
    }
    fn resume_response(&self) {
        self.response_resumed.set(self.response_resumed.get() + 1);
    }
}

impl RootHost for FakeHost {
    fn set_effective_context(&self, context_id: u32) -> bool {
        if self.gone.borrow().contains(&context_id) {
            return false;
        }
        self.effective.set(Some(context_id));
        true
    }
    fn dispatch_http(
        &self,
        cluster: &str,
        headers: &[(&str, &str)],
        timeout_ms: u64,
    ) -> Result<u32, HttpNotSent> {
        if let Some(why) = self.http_refused.borrow().clone() {
            return Err(HttpNotSent(why));
        }
        let mut calls = self.http.borrow_mut();
        calls.push(HttpCall {
            cluster: cluster.to_owned(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            timeout_ms,
        });
        Ok(HTTP_TOKENS + calls.len() as u32 - 1)
    }
    fn http_call_header(&self, name: &str) -> Option<String> {
        self.call_header_reads.set(self.call_header_reads.get() + 1);
        get(&self.call_headers, name)
    }
    fn http_call_body(&self, size: usize) -> Vec<u8> {
        self.call_body_reads.borrow_mut().push(size);
        let body = self.call_body.borrow();
        body.get(..size).unwrap_or(&body).to_vec()
    }
    fn grpc_call_body(&self, size: usize) -> Vec<u8> {
        self.grpc_reads.borrow_mut().push(size);
        let body = self.grpc_answer.borrow();
        body.get(..size).unwrap_or(&body).to_vec()
    }
}
