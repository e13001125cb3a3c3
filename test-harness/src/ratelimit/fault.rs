//! Rate-limit endpoints that misbehave, for the fault tests: what Envoy (or
//! the filter) meets when the service is down, slow, answers garbage or
//! closes the connection halfway through a call.

use std::collections::VecDeque;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::Code;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_server::RateLimitService;
use envoy_types::pb::envoy::service::ratelimit::v3::{RateLimitRequest, RateLimitResponse};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use hyper::{HeaderMap, Response};
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

use crate::server::{self, Server};
use crate::{runtime, Error, Result};

/// How a faulty service misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Nobody listens on the port: connections are refused.
    Down,
    /// Every call is answered `OK` (no limit), but only after this long.
    Slow(Duration),
    /// Every call is answered HTTP/2 200 `application/grpc` with
    /// `grpc-status: 0` and a message that is not a `RateLimitResponse`.
    Garbage,
    /// The connection is closed once a call has arrived, before any answer.
    CloseMidCall,
}

/// What keeps a faulty endpoint running; dropping it stops the endpoint
/// (held only to be dropped, hence never read).
#[allow(dead_code)]
pub(crate) enum Running {
    Nothing,
    Hyper(Server),
    Stop(watch::Sender<bool>),
}

/// Starts the endpoint; returns its address and the handle that keeps it up.
pub(crate) fn start(fault: Fault, calls: Arc<AtomicU64>) -> Result<(SocketAddr, Running)> {
    match fault {
        Fault::Down => {
            // Bound and released: nothing listens there now.
            let addr = TcpListener::bind(("127.0.0.1", 0))
                .and_then(|l| l.local_addr())
                .map_err(|e| Error::new(format!("finding a free loopback port: {e}")))?;
            Ok((addr, Running::Nothing))
        }
        Fault::Slow(delay) => {
            let (addr, stop) = super::serve_grpc(0, SlowRls { delay, calls })?;
            Ok((addr, Running::Stop(stop)))
        }
        Fault::Garbage => {
            let handler: server::Handler = Arc::new(move |req| {
                calls.fetch_add(1, Ordering::Relaxed);
                Box::pin(async move {
                    // Read the call whole, so the answer is to a complete call.
                    let _ = req.into_body().collect().await;
                    garbage_response()
                })
            });
            let server = Server::start(0, handler)?;
            Ok((server.addr(), Running::Hyper(server)))
        }
        Fault::CloseMidCall => close_mid_call(calls),
    }
}

struct SlowRls {
    delay: Duration,
    calls: Arc<AtomicU64>,
}

#[tonic::async_trait]
impl RateLimitService for SlowRls {
    async fn should_rate_limit(
        &self,
        _request: tonic::Request<RateLimitRequest>,
    ) -> std::result::Result<tonic::Response<RateLimitResponse>, tonic::Status> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(self.delay).await;
        Ok(tonic::Response::new(RateLimitResponse {
            overall_code: Code::Ok as i32,
            ..Default::default()
        }))
    }
}

fn garbage_response() -> Response<server::Body> {
    // A well-framed gRPC message (uncompressed, 6 bytes) whose bytes are not
    // valid protobuf (field 0, then a truncated varint), and an OK status.
    let mut message = vec![0u8, 0, 0, 0, 6];
    message.extend_from_slice(&[0x00, 0xff, 0xff, 0xff, 0xff, 0xff]);
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", hyper::header::HeaderValue::from_static("0"));
    let body = Frames(VecDeque::from([
        Frame::data(Bytes::from(message)),
        Frame::trailers(trailers),
    ]));
    let mut response = Response::new(body.boxed());
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/grpc"),
    );
    response
}

/// A body of fixed frames (data and trailers).
struct Frames(VecDeque<Frame<Bytes>>);

impl Body for Frames {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.0.pop_front().map(Ok))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// Accepts connections, reads the HTTP/2 frames until a call's `HEADERS`
/// has arrived, then closes without a byte back.
fn close_mid_call(calls: Arc<AtomicU64>) -> Result<(SocketAddr, Running)> {
    let std_listener = TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| Error::new(format!("binding the faulty rate-limit endpoint: {e}")))?;
    let addr = std_listener
        .local_addr()
        .map_err(|e| Error::new(format!("reading the endpoint's address: {e}")))?;
    let listener = {
        let _guard = runtime::handle().enter();
        tokio::net::TcpListener::from_std(std_listener)
            .map_err(|e| Error::new(format!("registering the endpoint with tokio: {e}")))?
    };
    let (stop_tx, mut stop) = watch::channel(false);
    runtime::handle().spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = stop.changed() => return,
            };
            let Ok((mut stream, _)) = accepted else {
                continue;
            };
            let calls = calls.clone();
            tokio::spawn(async move {
                if read_until_call(&mut stream).await {
                    calls.fetch_add(1, Ordering::Relaxed);
                }
                drop(stream);
            });
        }
    });
    Ok((addr, Running::Stop(stop_tx)))
}

/// Reads the client's connection preface and frames until a `HEADERS` frame
/// (a call) has come whole; false if the client went away first.
async fn read_until_call(stream: &mut tokio::net::TcpStream) -> bool {
    const PREFACE: usize = 24;
    const FRAME_HEADER: usize = 9;
    const HEADERS: u8 = 0x1;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut at = PREFACE;
    loop {
        // Walk the complete frames read so far.
        while let Some(header) = buf.get(at..at + FRAME_HEADER) {
            let length = (usize::from(header[0]) << 16)
                | (usize::from(header[1]) << 8)
                | usize::from(header[2]);
            let kind = header[3];
            if buf.len() < at + FRAME_HEADER + length {
                break;
            }
            if kind == HEADERS {
                return true;
            }
            at += FRAME_HEADER + length;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}
