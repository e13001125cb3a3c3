//! A stream's `Host` while the root acts for it: the gRPC calls sent meanwhile
//! are registered on the root, so their answers come to the root, which must
//! know whose they are.

use crate::host::{GrpcNotSent, Host, LogLevel};
use crate::metrics::Metric;
use std::cell::RefCell;

pub struct Routed<'a> {
    host: &'a dyn Host,
    /// The root acts for the stream: its calls are noted.
    for_root: bool,
    sent: RefCell<Vec<u32>>,
}

impl<'a> Routed<'a> {
    pub fn new(host: &'a dyn Host, for_root: bool) -> Routed<'a> {
        Routed {
            host,
            for_root,
            sent: RefCell::new(Vec::new()),
        }
    }

    /// The tokens of the gRPC calls the root sent since the last take.
    pub fn take_sent(&self) -> Vec<u32> {
        std::mem::take(&mut *self.sent.borrow_mut())
    }
}

impl Host for Routed<'_> {
    fn now_ms(&self) -> u64 {
        self.host.now_ms()
    }
    fn log(&self, level: LogLevel, message: &str) {
        self.host.log(level, message);
    }
    fn count(&self, metric: Metric, by: u64) {
        self.host.count(metric, by);
    }
    fn fill_random(&self, buf: &mut [u8]) -> bool {
        self.host.fill_random(buf)
    }
    fn request_header(&self, name: &str) -> Option<String> {
        self.host.request_header(name)
    }
    fn request_headers(&self) -> Vec<(String, String)> {
        self.host.request_headers()
    }
    fn set_request_header(&self, name: &str, value: Option<&str>) {
        self.host.set_request_header(name, value);
    }
    fn request_body(&self, size: usize) -> Vec<u8> {
        self.host.request_body(size)
    }
    fn response_header(&self, name: &str) -> Option<String> {
        self.host.response_header(name)
    }
    fn response_headers(&self) -> Vec<(String, String)> {
        self.host.response_headers()
    }
    fn set_response_header(&self, name: &str, value: Option<&str>) {
        self.host.set_response_header(name, value);
    }
    fn response_body(&self, size: usize) -> Vec<u8> {
        self.host.response_body(size)
    }
    fn replace_response_body(&self, size: usize, bytes: &[u8]) {
        self.host.replace_response_body(size, bytes);
    }
    fn replace_request_body(&self, size: usize, bytes: &[u8]) {
        self.host.replace_request_body(size, bytes);
    }
    fn send_response(&self, status: u32, headers: &[(&str, &str)], body: &[u8]) {
        self.host.send_response(status, headers, body);
    }
    fn resume_request(&self) {
        self.host.resume_request();
    }
    fn reset_stream(&self) {
        self.host.reset_stream();
    }
    fn dispatch_grpc(
        &self,
        cluster: &str,
        service: &str,
        method: &str,
        message: &[u8],
        timeout_ms: u64,
    ) -> Result<u32, GrpcNotSent> {
        let token = self
            .host
            .dispatch_grpc(cluster, service, method, message, timeout_ms)?;
        if self.for_root {
            self.sent.borrow_mut().push(token);
        }
        Ok(token)
    }
    fn held_response_body(&self) -> Vec<u8> {
        self.host.held_response_body()
    }
    fn replace_held_response_body(&self, size: usize, bytes: &[u8]) {
        self.host.replace_held_response_body(size, bytes);
    }
    fn resume_response(&self) {
        self.host.resume_response();
    }
}
