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

/// What the root context needs besides a stream's calls: the JWKS fetches it
/// sends and the streams it acts for after their own callbacks (a wait for keys
/// or for the rate-limit service ends, a cut stream is reset).
pub trait RootHost: Host {
    /// Later host calls act on stream `context_id`; false when it is gone.
    fn set_effective_context(&self, context_id: u32) -> bool;
    /// Sends an HTTP call (no body) through `cluster`; its answer comes back to
    /// the root with the returned token. `Err` when it could not even be sent.
    fn dispatch_http(
        &self,
        cluster: &str,
        headers: &[(&str, &str)],
        timeout_ms: u64,
    ) -> Result<u32, HttpNotSent>;
    /// A header of the HTTP call answer being delivered.
    fn http_call_header(&self, name: &str) -> Option<String>;
    /// At most `size` bytes of that answer's body.
    fn http_call_body(&self, size: usize) -> Vec<u8>;
    /// At most `size` bytes of the gRPC answer being delivered.
    fn grpc_call_body(&self, size: usize) -> Vec<u8>;
}

/// An HTTP call the proxy refused to send, with the proxy's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpNotSent(pub String);
