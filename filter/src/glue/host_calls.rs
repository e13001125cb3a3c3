//! `Host` and `RootHost` backed by proxy-wasm host calls.

use crate::host::{GrpcNotSent, Host, HttpNotSent, LogLevel, RootHost};
use crate::metrics::Metric;
use crate::text::utf8_lossy;
use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, MapType, MetricType};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

/// Host calls act on the context the proxy is calling into, so this value is only
/// meaningful inside that context's callback (or after `set_effective_context`).
#[derive(Clone, Default)]
pub struct HostCalls {
    /// Counter ids, defined once per VM; Envoy aggregates same-named counters across workers.
    metrics: Rc<RefCell<HashMap<Metric, u32>>>,
}

impl HostCalls {
    pub fn define_metrics(&self) {
        let mut ids = self.metrics.borrow_mut();
        for m in Metric::all() {
            if let Ok(id) = hostcalls::define_metric(MetricType::Counter, &m.name()) {
                ids.insert(m, id);
            }
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

/// Header values may hold bytes that are not UTF-8 (obs-text); the SDK's `String`
/// getters panic on those, so values are read as bytes and converted lossily.
/// (Names are tokens Envoy has validated, so the SDK's map getter is safe for them.)
fn header(map: MapType, name: &str) -> Option<String> {
    hostcalls::get_map_value_bytes(map, name)
        .ok()
        .flatten()
        .map(utf8_lossy)
}

fn buffer(buffer: BufferType, size: usize) -> Vec<u8> {
    hostcalls::get_buffer(buffer, 0, size)
        .ok()
        .flatten()
        .unwrap_or_default()
}

impl Host for HostCalls {
    fn now_ms(&self) -> u64 {
        hostcalls::get_current_time()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
    fn log(&self, level: LogLevel, message: &str) {
        let _ = hostcalls::log(to_wasm_level(level), message);
    }
    fn count(&self, metric: Metric, by: u64) {
        if let Some(id) = self.metrics.borrow().get(&metric) {
            let _ = hostcalls::increment_metric(*id, i64::try_from(by).unwrap_or(i64::MAX));
        }
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
            .map(|(k, v)| (k, utf8_lossy(v)))
            .collect()
    }
    fn set_request_header(&self, name: &str, value: Option<&str>) {
        let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, name, value);
    }
    fn request_body(&self, size: usize) -> Vec<u8> {
        buffer(BufferType::HttpRequestBody, size)
    }
    fn response_header(&self, name: &str) -> Option<String> {
        header(MapType::HttpResponseHeaders, name)
    }
    fn response_headers(&self) -> Vec<(String, String)> {
        hostcalls::get_map_bytes(MapType::HttpResponseHeaders)
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, utf8_lossy(v)))
            .collect()
    }
    fn set_response_header(&self, name: &str, value: Option<&str>) {
        let _ = hostcalls::set_map_value(MapType::HttpResponseHeaders, name, value);
    }
    fn response_body(&self, size: usize) -> Vec<u8> {
        buffer(BufferType::HttpResponseBody, size)
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
        hostcalls::dispatch_grpc_call(
            cluster,
            service,
            method,
            Vec::new(),
            Some(message),
            Duration::from_millis(timeout_ms),
        )
        .map_err(|_| GrpcNotSent)
    }
    fn held_response_body(&self) -> Vec<u8> {
        // While the filter holds the response, Envoy hands out (and lets it
        // modify) the whole buffered body, not just the last chunk.
        buffer(BufferType::HttpResponseBody, i32::MAX as usize)
    }
    fn replace_held_response_body(&self, size: usize, bytes: &[u8]) {
        let _ = hostcalls::set_buffer(BufferType::HttpResponseBody, 0, size, bytes);
    }
    fn resume_response(&self) {
        let _ = hostcalls::resume_http_response();
    }
}

impl RootHost for HostCalls {
    fn set_effective_context(&self, context_id: u32) -> bool {
        hostcalls::set_effective_context(context_id).is_ok()
    }
    fn dispatch_http(
        &self,
        cluster: &str,
        headers: &[(&str, &str)],
        timeout_ms: u64,
    ) -> Result<u32, HttpNotSent> {
        hostcalls::dispatch_http_call(
            cluster,
            headers.to_vec(),
            None,
            Vec::new(),
            Duration::from_millis(timeout_ms),
        )
        .map_err(|status| HttpNotSent(format!("{status:?}")))
    }
    fn http_call_header(&self, name: &str) -> Option<String> {
        header(MapType::HttpCallResponseHeaders, name)
    }
    fn http_call_body(&self, size: usize) -> Vec<u8> {
        buffer(BufferType::HttpCallResponseBody, size)
    }
    fn grpc_call_body(&self, size: usize) -> Vec<u8> {
        buffer(BufferType::GrpcReceiveBuffer, size)
    }
}
