//! Drives the request and response halves of a cached-token request (the
//! bench's "cached token" scenario: RS256, `claims_to_headers` `sub`) through
//! the flow with a host that only keeps what a real one would, for measuring
//! the filter's own cost per request:
//!
//!   valgrind --tool=callgrind target/release/examples/profile_cached [COUNT]
//!
//! counts instructions natively; `time COUNT` prints the time per request, e.g.
//! under V8 (node's WASI) for the wasm32-wasip1 build. With `root` each request
//! goes through `flow::Root` as the glue drives it (a new context id, the
//! stream's state made and dropped, the callbacks of its whole life), not
//! only the two halves' header callbacks; the difference is that bookkeeping.
//! The host's side (the
//! crossings into Envoy) is not in these numbers: each host call is counted and
//! printed instead.
// A measuring tool with fixed inputs, not part of the module: it stops at
// the first surprise.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Instant;
use toolguard::config::Config;
use toolguard::flow::{RequestState, RequestStep, ResponseState, Root, Vm};
use toolguard::host::{GrpcNotSent, Host, LogLevel};
use toolguard::metrics::Metric;

/// RFC 7515 A.2: an RS256 token from issuer "joe", valid until 1300819380.
const TOKEN: &str = include_str!("../../fixtures/jose/rfc7515/A2_RS256.jws");
const JWK: &str = include_str!("../../fixtures/jose/rfc7515/A2_RS256.jwk.json");
const NOW_MS: u64 = 1_300_819_000_000;

#[derive(Default)]
struct CountingHost {
    request: Vec<(String, String)>,
    response: Vec<(String, String)>,
    calls: Cell<u64>,
    set: RefCell<Vec<(String, Option<String>)>>,
}

impl CountingHost {
    fn call(&self) {
        self.calls.set(self.calls.get() + 1);
    }
}

impl Host for CountingHost {
    fn now_ms(&self) -> u64 {
        self.call();
        NOW_MS
    }
    fn log(&self, _: LogLevel, _: &str) {
        self.call();
    }
    fn count(&self, _: Metric, _: u64) {
        self.call();
    }
    fn fill_random(&self, buf: &mut [u8]) -> bool {
        self.call();
        buf.fill(7);
        true
    }
    fn request_header(&self, name: &str) -> Option<String> {
        self.call();
        let found = self.request.iter().find(|(k, _)| k == name);
        found.map(|(_, v)| v.clone())
    }
    fn request_headers(&self) -> Vec<(String, String)> {
        self.call();
        self.request.clone()
    }
    fn set_request_header(&self, name: &str, value: Option<&str>) {
        self.call();
        self.set
            .borrow_mut()
            .push((name.to_owned(), value.map(str::to_owned)));
    }
    fn request_body(&self, _: usize) -> Vec<u8> {
        self.call();
        Vec::new()
    }
    fn response_header(&self, name: &str) -> Option<String> {
        self.call();
        let found = self.response.iter().find(|(k, _)| k == name);
        found.map(|(_, v)| v.clone())
    }
    fn response_headers(&self) -> Vec<(String, String)> {
        self.call();
        self.response.clone()
    }
    fn set_response_header(&self, _: &str, _: Option<&str>) {
        self.call();
    }
    fn response_body(&self, _: usize) -> Vec<u8> {
        self.call();
        Vec::new()
    }
    fn replace_response_body(&self, _: usize, _: &[u8]) {
        self.call();
    }
    fn replace_request_body(&self, _: usize, _: &[u8]) {
        self.call();
    }
    fn send_response(&self, status: u32, _: &[(&str, &str)], body: &[u8]) {
        panic!("answered {status}: {}", String::from_utf8_lossy(body));
    }
    fn resume_request(&self) {
        self.call();
    }
    fn reset_stream(&self) {
        self.call();
    }
    fn dispatch_grpc(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: &[u8],
        _: u64,
    ) -> Result<u32, GrpcNotSent> {
        Err(GrpcNotSent)
    }
    fn held_response_body(&self) -> Vec<u8> {
        Vec::new()
    }
    fn replace_held_response_body(&self, _: usize, _: &[u8]) {}
    fn resume_response(&self) {}
}

fn config() -> Config {
    let jwk: serde_json::Value = serde_json::from_str(JWK).unwrap();
    let jwks = serde_json::json!({"keys": [{"kty": "RSA", "n": jwk["n"], "e": jwk["e"]}]});
    let json = serde_json::json!({
        "providers": {"joe": {"issuer": "joe", "local_jwks": {"inline_string": jwks.to_string()}}},
        "agentcore": {"claims_to_headers": {"iss": "User-Iss"}},
    });
    Config::from_json(json.to_string().as_bytes()).unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let timed = args.iter().any(|a| a == "time");
    let count: u64 = args
        .iter()
        .filter_map(|a| a.parse().ok())
        .next()
        .unwrap_or(10_000);
    let mut vm = Vm::new(Rc::new(config()));
    // What wrk sends, as Envoy hands it to the filter.
    let host = CountingHost {
        request: [
            (":authority", "127.0.0.1:10000"),
            (":path", "/invocations"),
            (":method", "GET"),
            (":scheme", "http"),
            ("authorization", &format!("Bearer {}", TOKEN.trim())),
            ("x-forwarded-proto", "http"),
            ("x-request-id", "6f1c2a4e-0b7d-4c55-9a57-1d0f3e2b9c11"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect(),
        response: [
            (":status", "200"),
            ("content-length", "2"),
            ("content-type", "text/plain"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect(),
        ..CountingHost::default()
    };
    if args.iter().any(|a| a == "root") {
        let mut root = Root::new(Rc::new(config()));
        let started = Instant::now();
        for id in 2..count as u32 + 2 {
            assert_eq!(
                root.on_request_headers(&host, id, true),
                RequestStep::Continue
            );
            root.on_response_headers(&host, id);
            root.on_response_body(&host, id, 2, true);
            root.on_stream_done(id);
            root.on_stream_deleted(id);
            host.set.borrow_mut().clear();
        }
        report(count, &host, timed.then(|| started.elapsed()));
        return;
    }
    let started = Instant::now();
    for _ in 0..count {
        let mut request = RequestState::default();
        assert_eq!(
            request.on_headers(&host, &mut vm, true),
            RequestStep::Continue
        );
        let mut response = ResponseState::default();
        response.on_headers(&host, &vm.config, &request);
        host.set.borrow_mut().clear();
    }
    report(count, &host, timed.then(|| started.elapsed()));
}

fn report(count: u64, host: &CountingHost, elapsed: Option<std::time::Duration>) {
    println!(
        "{count} cached requests, {:.1} host calls each",
        host.calls.get() as f64 / count as f64
    );
    if let Some(elapsed) = elapsed {
        println!(
            "{:.2} us per request (the filter's side only)",
            elapsed.as_secs_f64() * 1e6 / count as f64
        );
    }
}
