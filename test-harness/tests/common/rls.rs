//! A scripted `envoy.service.ratelimit.v3.RateLimitService` for the real-Envoy
//! rate-limit tests: h2c gRPC on a loopback port, answering each
//! `ShouldRateLimit` as the test's script says (a verdict, garbage, a slow
//! answer, a dropped connection) and recording every request, so a test can
//! drive the filter through each answer and fault the SPEC names.
//!
//! It holds no counters: tests that check counting use the real service
//! (`test_harness::ratelimit`, Limitador) once it is in the harness.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Frame;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use prost::Message;
use toolguard::ratelimit::proto::{
    Code, DescriptorStatus, Duration as PbDuration, RateLimit, RateLimitRequest, RateLimitResponse,
    Unit,
};

/// What the service does with one request.
#[derive(Clone, Debug)]
pub enum Answer {
    /// `overall_code` and statuses (requests per minute, remaining, seconds to reset).
    Verdict(Code, Vec<(Code, u32, u32, i64)>),
    /// Bytes that are not a `RateLimitResponse`.
    Garbage,
    /// The answer after this long.
    Slow(Duration),
    /// The connection is closed without an answer.
    Close,
}

pub type Script = Arc<dyn Fn(&RateLimitRequest) -> Answer + Send + Sync>;

pub struct ScriptedRls {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<RateLimitRequest>>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for ScriptedRls {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

fn grpc_frame(message: &[u8]) -> Bytes {
    let mut out = vec![0u8];
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    Bytes::from(out)
}

pub fn encode(code: Code, statuses: &[(Code, u32, u32, i64)]) -> Vec<u8> {
    RateLimitResponse {
        overall_code: code as i32,
        statuses: statuses
            .iter()
            .map(|(c, per_minute, remaining, reset)| DescriptorStatus {
                code: *c as i32,
                current_limit: Some(RateLimit {
                    name: String::new(),
                    requests_per_unit: *per_minute,
                    unit: Unit::Minute as i32,
                }),
                limit_remaining: *remaining,
                duration_until_reset: Some(PbDuration {
                    seconds: *reset,
                    nanos: 0,
                }),
            })
            .collect(),
    }
    .encode_to_vec()
}

type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

fn unary(message: Vec<u8>) -> Response<Body> {
    let mut trailers = hyper::HeaderMap::new();
    trailers.insert("grpc-status", "0".parse().unwrap());
    let frames: Vec<Result<Frame<Bytes>, std::io::Error>> = vec![
        Ok(Frame::data(grpc_frame(&message))),
        Ok(Frame::trailers(trailers)),
    ];
    Response::builder()
        .header("content-type", "application/grpc")
        .body(Ready(frames.into()).boxed())
        .unwrap()
}

/// A body of frames that are all ready: the message, then the trailers.
struct Ready(std::collections::VecDeque<Result<Frame<Bytes>, std::io::Error>>);

impl hyper::body::Body for Ready {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        std::task::Poll::Ready(self.0.pop_front())
    }
}

impl ScriptedRls {
    pub fn start(
        script: impl Fn(&RateLimitRequest) -> Answer + Send + Sync + 'static,
    ) -> ScriptedRls {
        let script: Script = Arc::new(script);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let recorded = requests.clone();
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let script = script.clone();
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    let service =
                        hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                            let script = script.clone();
                            let recorded = recorded.clone();
                            async move {
                                let body = req
                                    .into_body()
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes())
                                    .unwrap_or_default();
                                let message = body.get(5..).unwrap_or_default();
                                let request = RateLimitRequest::decode(message).unwrap_or_default();
                                recorded.lock().unwrap().push(request.clone());
                                let mut answer = script(&request);
                                if let Answer::Slow(delay) = answer {
                                    tokio::time::sleep(delay).await;
                                    answer = Answer::Verdict(Code::Ok, vec![]);
                                }
                                match answer {
                                    Answer::Verdict(code, statuses) => {
                                        Ok(unary(encode(code, &statuses)))
                                    }
                                    Answer::Garbage => {
                                        Ok(unary(b"\xff\xff\xff\xff not protobuf".to_vec()))
                                    }
                                    Answer::Close | Answer::Slow(_) => {
                                        Err(std::io::Error::other("closed"))
                                    }
                                }
                            }
                        });
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        ScriptedRls {
            addr,
            requests,
            runtime: Some(runtime),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn requests(&self) -> Vec<RateLimitRequest> {
        self.requests.lock().unwrap().clone()
    }
}

/// The (key, value) entries of every descriptor of `r`, with its own `hits_addend`.
/// A descriptor as sent: its (key, value) entries and its own `hits_addend`.
pub type Sent = (Vec<(String, String)>, Option<u64>);

pub fn descriptors(r: &RateLimitRequest) -> Vec<Sent> {
    r.descriptors
        .iter()
        .map(|d| {
            (
                d.entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.clone()))
                    .collect(),
                d.hits_addend.map(|h| h.value),
            )
        })
        .collect()
}
