//! `Host` backed by proxy-wasm host calls for the stream whose callback is running.

use crate::host::{GrpcNotSent, Host, LogLevel};
use crate::metrics::Metric;
use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, MapType};
use std::rc::Rc;

use super::root::Metrics;

/// Host calls act on the context the proxy is calling into, so this value is only
/// meaningful inside that context's callback (or after `set_effective_context`).
pub struct HostCalls {
    pub metrics: Rc<Metrics>,
    /// gRPC calls sent through this value: when the root sends one for a
    /// stream, the answer comes to the root, which routes it by these tokens.
    pub dispatched: std::cell::RefCell<Vec<u32>>,
}

impl HostCalls {
    pub fn new(metrics: Rc<Metrics>) -> HostCalls {
        HostCalls {
            metrics,
            dispatched: std::cell::RefCell::new(Vec::new()),
        }
    }
}

fn to_wasm_level(level: LogLevel) -> proxy_wasm::types::LogLevel {
    use proxy_wasm::types::LogLevel as L;
    match level {
        LogLevel::Debug => L::Debug,
        LogLevel::Info => L::Info,
        LogLevel::Warn => L::Warn,
        LogLevel::Error => L::Error,
        LogLevel::Critical => L::Critical,
    }
}

pub fn log(level: LogLevel, message: &str) {
    let _ = hostcalls::log(to_wasm_level(level), message);
}

pub fn now_ms() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Header values may hold bytes that are not UTF-8 (obs-text); the SDK's `String`
/// getters panic on those, so values are read as bytes and converted lossily.
/// (Names are tokens Envoy has validated, so the SDK's map getter is safe for them.)
fn header(map: MapType, name: &str) -> Option<String> {
    hostcalls::get_map_value_bytes(map, name)
        .ok()
        .flatten()
        .map(|v| String::from_utf8_lossy(&v).into_owned())
}

impl Host for HostCalls {
    fn now_ms(&self) -> u64 {
        now_ms()
    }
    fn log(&self, level: LogLevel, message: &str) {
        log(level, message);
    }
    fn count(&self, metric: Metric, by: u64) {
        self.metrics.increment(metric, by);
    }
    fn fill_random(&self, buf: &mut [u8]) -> bool {
        getrandom::getrandom(buf).is_ok()
    }
    fn request_header(&self, name: &str) -> Option<String> {
        header(MapType::HttpRequestHeaders, name)
    }
    fn request_headers(&self) -> Vec<(String, String)> {
        hostcalls::get_map_bytes(MapType::HttpRequestHeaders)
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
            .collect()
    }
    fn set_request_header(&self, name: &str, value: Option<&str>) {
        let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, name, value);
    }
    fn request_body(&self, size: usize) -> Vec<u8> {
        hostcalls::get_buffer(BufferType::HttpRequestBody, 0, size)
            .ok()
            .flatten()
            .unwrap_or_default()
    }
    fn response_header(&self, name: &str) -> Option<String> {
        header(MapType::HttpResponseHeaders, name)
    }
    fn response_headers(&self) -> Vec<(String, String)> {
        hostcalls::get_map_bytes(MapType::HttpResponseHeaders)
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
            .collect()
    }
    fn set_response_header(&self, name: &str, value: Option<&str>) {
        let _ = hostcalls::set_map_value(MapType::HttpResponseHeaders, name, value);
    }
    fn response_body(&self, size: usize) -> Vec<u8> {
        hostcalls::get_buffer(BufferType::HttpResponseBody, 0, size)
            .ok()
            .flatten()
            .unwrap_or_default()
    }
    fn replace_response_body(&self, size: usize, bytes: &[u8]) {
        let _ = hostcalls::set_buffer(BufferType::HttpResponseBody, 0, size, bytes);
    }
    fn replace_request_body(&self, size: usize, bytes: &[u8]) {
        let _ = hostcalls::set_buffer(BufferType::HttpRequestBody, 0, size, bytes);
    }
    fn send_response(&self, status: u32, headers: &[(&str, &str)], body: &[u8]) {
        let _ = hostcalls::send_http_response(status, headers.to_vec(), Some(body));
    }
    fn resume_request(&self) {
        let _ = hostcalls::resume_http_request();
    }
    fn reset_stream(&self) {
        let _ = hostcalls::reset_http_response();
    }
    fn dispatch_grpc(
        &self,
        cluster: &str,
        service: &str,
        method: &str,
        message: &[u8],
        timeout_ms: u64,
    ) -> Result<u32, GrpcNotSent> {
        // Envoy registers the call on the root context, so it outlives this
        // stream (a token charge sent as the stream ends is not cancelled); the
        // SDK hands the answer to the context that was active when it was sent.
        let token = hostcalls::dispatch_grpc_call(
            cluster,
            service,
            method,
            Vec::new(),
            Some(message),
            std::time::Duration::from_millis(timeout_ms),
        )
        .map_err(|_| GrpcNotSent)?;
        self.dispatched.borrow_mut().push(token);
        Ok(token)
    }
    fn held_response_body(&self) -> Vec<u8> {
        // While the filter holds the response, Envoy hands out (and lets it
        // modify) the whole buffered body, not just the last chunk.
        hostcalls::get_buffer(BufferType::HttpResponseBody, 0, i32::MAX as usize)
            .ok()
            .flatten()
            .unwrap_or_default()
    }
    fn replace_held_response_body(&self, size: usize, bytes: &[u8]) {
        let _ = hostcalls::set_buffer(BufferType::HttpResponseBody, 0, size, bytes);
    }
    fn resume_response(&self) {
        let _ = hostcalls::resume_http_response();
    }
}
