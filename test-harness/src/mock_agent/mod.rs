//! The mock agent runtime (Envoy's `agent` upstream): answers each request
//! with a scripted [`Reply`] chosen by path, and records every request it got
//! and how its response body ended, so tests can assert on what reached the
//! upstream and whether the stream was cancelled.

mod body;
mod reply;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::{Map, Value};

pub use body::BodyEnd;
pub use reply::{Chunking, Reply};

use crate::server::{self, Server};
use crate::wait::{lock, poll_until, poll_until_async};
use crate::{Error, Result};
use reply::Content;

/// One request as the upstream received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// 0-based arrival order.
    pub index: usize,
    pub method: String,
    /// Path with query string.
    pub path: String,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub version: String,
    /// Lower-case names, in arrival order; repeated headers appear repeatedly.
    pub headers: Vec<(String, String)>,
    /// The request body as far as it arrived (see [`RecordedRequest::body_complete`]).
    pub body: Bytes,
    /// Whether the request body arrived whole: false when the downstream side
    /// (Envoy) reset the request or closed the connection mid-body.
    pub body_complete: bool,
    pub received_at: Instant,
    progress: body::SharedProgress,
}

impl RecordedRequest {
    /// First value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).into_iter().next()
    }

    /// All values of a header, in order.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Names of headers starting with `prefix` (case-insensitive), e.g. the
    /// `x-amzn-bedrock-agentcore-runtime-custom-` ones.
    pub fn header_names_with_prefix(&self, prefix: &str) -> Vec<&str> {
        let prefix = prefix.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(n, _)| n.starts_with(&prefix))
            .map(|(n, _)| n.as_str())
            .collect()
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// How the response body ended, if it has.
    pub fn body_end(&self) -> Option<BodyEnd> {
        lock(&self.progress).end.map(|(e, _)| e)
    }

    /// When the response body ended, if it has.
    pub fn body_ended_at(&self) -> Option<Instant> {
        lock(&self.progress).end.map(|(_, at)| at)
    }

    /// Response body bytes handed to hyper so far.
    pub fn bytes_sent(&self) -> usize {
        lock(&self.progress).bytes_sent
    }

    /// Blocks until the response body has ended (or `timeout`: `None`).
    pub fn wait_body_end(&self, timeout: Duration) -> Option<BodyEnd> {
        poll_until(timeout, || self.body_end())
    }

    pub async fn wait_body_end_async(&self, timeout: Duration) -> Option<BodyEnd> {
        poll_until_async(timeout, || self.body_end()).await
    }
}

struct Routes {
    exact: Vec<(String, Reply)>,
    prefix: Vec<(String, Reply)>,
    default: Reply,
}

impl Routes {
    fn pick(&self, path: &str) -> Reply {
        let path = path.split('?').next().unwrap_or(path);
        if let Some((_, r)) = self.exact.iter().rev().find(|(p, _)| p == path) {
            return r.clone();
        }
        self.prefix
            .iter()
            .rev()
            .filter(|(p, _)| path.starts_with(p.as_str()))
            .max_by_key(|(p, _)| p.len())
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| self.default.clone())
    }
}

struct State {
    routes: Mutex<Routes>,
    requests: Mutex<Vec<RecordedRequest>>,
    /// Requests whose headers arrived, recorded or not (a request reset before
    /// its body ended is never recorded).
    started: AtomicUsize,
}

/// A scriptable upstream on a free loopback port; stops when dropped.
pub struct MockAgent {
    server: Server,
    state: Arc<State>,
}

impl MockAgent {
    /// Starts on a free port; every path answers [`Reply::echo`] until told
    /// otherwise.
    pub fn start() -> Result<MockAgent> {
        MockAgent::start_on(0)
    }

    /// Starts on `127.0.0.1:port` (0: any free port).
    pub fn start_on(port: u16) -> Result<MockAgent> {
        let state = Arc::new(State {
            routes: Mutex::new(Routes {
                exact: Vec::new(),
                prefix: Vec::new(),
                default: Reply::echo(),
            }),
            requests: Mutex::new(Vec::new()),
            started: AtomicUsize::new(0),
        });
        let handler_state = state.clone();
        let handler: server::Handler = Arc::new(move |req| {
            let state = handler_state.clone();
            Box::pin(async move { handle(&state, req).await })
        });
        let server = Server::start(port, handler)?;
        Ok(MockAgent { server, state })
    }

    /// TCP connections the upstream accepted (Envoy's pool may reuse one).
    pub fn connections(&self) -> usize {
        self.server.connections()
    }

    /// Requests whose headers reached the upstream, whole or not.
    pub fn requests_started(&self) -> usize {
        self.state.started.load(Ordering::SeqCst)
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://127.0.0.1:PORT{path}`, for talking to the mock directly.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    /// The answer for paths no route matches.
    pub fn set_default(&self, reply: Reply) {
        lock(&self.state.routes).default = reply;
    }

    /// The answer for exactly this path (query string ignored); the latest
    /// registration wins.
    pub fn route(&self, path: &str, reply: Reply) {
        lock(&self.state.routes)
            .exact
            .push((path.to_string(), reply));
    }

    /// The answer for paths starting with `prefix` (longest prefix wins; exact
    /// routes first).
    pub fn route_prefix(&self, prefix: &str, reply: Reply) {
        lock(&self.state.routes)
            .prefix
            .push((prefix.to_string(), reply));
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.requests).clone()
    }

    pub fn request_count(&self) -> usize {
        lock(&self.state.requests).len()
    }

    pub fn last_request(&self) -> Option<RecordedRequest> {
        lock(&self.state.requests).last().cloned()
    }

    /// Forgets the requests recorded so far (indices restart at 0).
    pub fn clear_requests(&self) {
        lock(&self.state.requests).clear();
    }

    /// Removes and returns the requests that arrived before `before`, so a
    /// long run (the soak) can check them in batches and keep memory flat.
    /// Positions shift: [`MockAgent::wait_client_gone`] and other lookups by
    /// index no longer match [`RecordedRequest::index`] afterwards.
    pub fn take_requests_received_before(&self, before: Instant) -> Vec<RecordedRequest> {
        let mut requests = lock(&self.state.requests);
        let split = requests
            .iter()
            .position(|r| r.received_at >= before)
            .unwrap_or(requests.len());
        requests.drain(..split).collect()
    }

    /// Blocks until at least `n` requests arrived; returns them all.
    pub fn wait_requests(&self, n: usize, timeout: Duration) -> Result<Vec<RecordedRequest>> {
        poll_until(timeout, || {
            let reqs = self.requests();
            (reqs.len() >= n).then_some(reqs)
        })
        .ok_or_else(|| self.too_few(n, timeout))
    }

    pub async fn wait_requests_async(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<RecordedRequest>> {
        poll_until_async(timeout, || {
            let reqs = self.requests();
            (reqs.len() >= n).then_some(reqs)
        })
        .await
        .ok_or_else(|| self.too_few(n, timeout))
    }

    fn too_few(&self, n: usize, timeout: Duration) -> Error {
        Error::new(format!(
            "mock agent: expected {n} request(s) within {timeout:?}, got {}",
            self.request_count()
        ))
    }

    /// Blocks until request `index` has arrived and its response body ended
    /// because the client went away. False on timeout or any other ending.
    pub fn wait_client_gone(&self, index: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let Some(req) = poll_until(timeout, || lock(&self.state.requests).get(index).cloned())
        else {
            return false;
        };
        let left = deadline.saturating_duration_since(Instant::now());
        req.wait_body_end(left) == Some(BodyEnd::ClientGone)
    }
}

async fn handle(state: &State, req: Request<Incoming>) -> Response<server::Body> {
    state.started.fetch_add(1, Ordering::SeqCst);
    let (parts, incoming) = req.into_parts();
    // A request body that fails mid-way is recorded as far as it got: the
    // mock must still answer.
    let (body, body_complete) = read_body(incoming).await;
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| parts.uri.path().to_string());
    let headers = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let progress = body::new_progress();
    let recorded = {
        let mut requests = lock(&state.requests);
        let recorded = RecordedRequest {
            index: requests.len(),
            method: parts.method.to_string(),
            path,
            version: format!("{:?}", parts.version),
            headers,
            body,
            body_complete,
            received_at: Instant::now(),
            progress: progress.clone(),
        };
        requests.push(recorded.clone());
        recorded
    };
    let reply = lock(&state.routes).pick(&recorded.path);
    let content = match &reply.content {
        Content::Echo => Bytes::from(echo_json(&recorded).to_string()),
        Content::Fixed(b) => b.clone(),
    };
    let mut builder = Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let body = BodyExt::boxed(body::start(&reply, content, progress));
    builder.body(body).unwrap_or_else(|e| {
        let mut resp = Response::new(
            http_body_util::Full::new(Bytes::from(format!("mock agent: bad scripted reply: {e}")))
                .map_err(|never| match never {})
                .boxed(),
        );
        *resp.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        resp
    })
}

/// The request body as far as it arrives, and whether it ended cleanly.
async fn read_body(mut incoming: Incoming) -> (Bytes, bool) {
    let mut body = BytesMut::new();
    loop {
        match incoming.frame().await {
            None => return (body.freeze(), true),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    body.extend_from_slice(&data);
                }
            }
            Some(Err(_)) => return (body.freeze(), false),
        }
    }
}

/// The echo document: a header seen once maps to its value, one seen several
/// times to the array of its values.
fn echo_json(req: &RecordedRequest) -> Value {
    let mut headers = Map::new();
    for (name, value) in &req.headers {
        match headers.get_mut(name) {
            None => {
                headers.insert(name.clone(), Value::String(value.clone()));
            }
            Some(Value::Array(values)) => values.push(Value::String(value.clone())),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, Value::String(value.clone())]);
            }
        }
    }
    serde_json::json!({
        "method": req.method,
        "path": req.path,
        "version": req.version,
        "headers": headers,
        "body": req.body_text(),
    })
}
