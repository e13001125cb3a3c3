//! What the request logic needs from its host. The proxy-wasm glue implements it
//! with host calls; tests implement it with a fake that records what was done.

use crate::metrics::Metric;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
    Critical,
}

/// One HTTP stream as the filter sees it. Header names are lower-case.
pub trait Host {
    /// Milliseconds since the Unix epoch, from the proxy's clock.
    fn now_ms(&self) -> u64;
    fn log(&self, level: LogLevel, message: &str);
    fn count(&self, metric: Metric, by: u64);
    /// Fills `buf` with unpredictable bytes (WASI `random_get` in Envoy); false
    /// when the platform could not, and `buf` must not be used.
    fn fill_random(&self, buf: &mut [u8]) -> bool;

    fn request_header(&self, name: &str) -> Option<String>;
    fn request_headers(&self) -> Vec<(String, String)>;
    /// `None` removes every value of `name`.
    fn set_request_header(&self, name: &str, value: Option<&str>);
    fn request_body(&self, size: usize) -> Vec<u8>;

    fn response_header(&self, name: &str) -> Option<String>;
    fn response_headers(&self) -> Vec<(String, String)>;
    fn set_response_header(&self, name: &str, value: Option<&str>);
    /// The current response body chunk (`size` bytes, as the callback announced).
    fn response_body(&self, size: usize) -> Vec<u8>;
    /// Replaces the current chunk (its `size` bytes) with `bytes`.
    fn replace_response_body(&self, size: usize, bytes: &[u8]);
    fn replace_request_body(&self, size: usize, bytes: &[u8]);

    /// Answers locally; nothing goes upstream.
    fn send_response(&self, status: u32, headers: &[(&str, &str)], body: &[u8]);
    fn resume_request(&self);
    /// Resets the stream: the client's response ends and the upstream request is cancelled.
    fn reset_stream(&self);

    /// Sends one unary gRPC call through `cluster`; its answer comes back to this
    /// stream with the returned token. `Err` when it could not even be sent.
    fn dispatch_grpc(
        &self,
        cluster: &str,
        service: &str,
        method: &str,
        message: &[u8],
        timeout_ms: u64,
    ) -> Result<u32, GrpcNotSent>;
    /// The whole response body Envoy buffered for this stream while it was held.
    fn held_response_body(&self) -> Vec<u8>;
    /// Replaces the first `size` bytes of that held body with `bytes`.
    fn replace_held_response_body(&self, size: usize, bytes: &[u8]);
    /// Lets a held response go on.
    fn resume_response(&self);
}

/// A gRPC call the proxy refused to send (no such cluster, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrpcNotSent;
