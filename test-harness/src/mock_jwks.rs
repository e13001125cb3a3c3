//! The mock identity provider: serves a JWKS document at one path, with
//! handles to rotate the keys, make it fail, serve garbage or answer slowly,
//! and to count the fetches (the filter's caching and refetch rules are
//! observed through that count).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::Value;

use crate::server::{self, Server};
use crate::wait::{lock, poll_until, poll_until_async};
use crate::{Error, Result};

/// The default JWKS path, Cognito's.
pub const DEFAULT_PATH: &str = "/.well-known/jwks.json";

/// What the JWKS endpoint answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwksMode {
    /// 200 with the current key set.
    Serve,
    /// This status with a short text body.
    Fail(u16),
    /// 200 `application/json` whose body is not a JWKS (not even JSON).
    Garbage,
    /// 200 with exactly this content type and body (JSON without `keys`, an
    /// HTML error page, a body of many megabytes, ...).
    Body { content_type: String, body: Bytes },
    /// 200 `application/json`, the first half of the key set, then the
    /// connection is aborted (no end of the chunked body).
    ResetMidBody,
}

struct State {
    path: String,
    keys: Value,
    mode: JwksMode,
    delay: Duration,
    /// Arrival time of each request to the JWKS path.
    fetches: Vec<Instant>,
    /// Paths of requests that were not for the JWKS (answered 404).
    other_requests: Vec<String>,
}

/// A JWKS server on a free loopback port; stops when dropped.
pub struct MockJwks {
    server: Server,
    state: Arc<Mutex<State>>,
}

impl MockJwks {
    /// Serves `jwks` (a `{"keys": [...]}` document) at [`DEFAULT_PATH`].
    pub fn start(jwks: Value) -> Result<MockJwks> {
        MockJwks::start_with(0, DEFAULT_PATH, jwks)
    }

    /// Serves `jwks` at `path` on `127.0.0.1:port` (0: any free port).
    pub fn start_with(port: u16, path: &str, jwks: Value) -> Result<MockJwks> {
        let state = Arc::new(Mutex::new(State {
            path: path.to_string(),
            keys: jwks,
            mode: JwksMode::Serve,
            delay: Duration::ZERO,
            fetches: Vec::new(),
            other_requests: Vec::new(),
        }));
        let handler_state = state.clone();
        let handler: server::Handler = Arc::new(move |req| {
            let state = handler_state.clone();
            Box::pin(async move { handle(&state, req).await })
        });
        let server = Server::start(port, handler)?;
        Ok(MockJwks { server, state })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    pub fn path(&self) -> String {
        lock(&self.state).path.clone()
    }

    /// The full JWKS URI, `http://127.0.0.1:PORT/.well-known/jwks.json`, for
    /// the plugin's `remote_jwks.http_uri.uri`.
    pub fn uri(&self) -> String {
        format!("http://{}{}", self.addr(), self.path())
    }

    /// Replaces the served key set (key rotation).
    pub fn set_keys(&self, jwks: Value) {
        lock(&self.state).keys = jwks;
    }

    pub fn set_mode(&self, mode: JwksMode) {
        lock(&self.state).mode = mode;
    }

    /// Answer 500 from now on.
    pub fn fail(&self) {
        self.set_mode(JwksMode::Fail(500));
    }

    /// Answer 200 with a body that is not JSON.
    pub fn serve_garbage(&self) {
        self.set_mode(JwksMode::Garbage);
    }

    /// Answer 200 with this content type and body.
    pub fn serve_body(&self, content_type: &str, body: impl Into<Bytes>) {
        self.set_mode(JwksMode::Body {
            content_type: content_type.to_string(),
            body: body.into(),
        });
    }

    /// Serve the key set normally again.
    pub fn recover(&self) {
        self.set_mode(JwksMode::Serve);
    }

    /// Wait this long before answering each request.
    pub fn set_delay(&self, delay: Duration) {
        lock(&self.state).delay = delay;
    }

    /// Requests made to the JWKS path so far.
    pub fn request_count(&self) -> usize {
        lock(&self.state).fetches.len()
    }

    /// Arrival times of the JWKS requests so far.
    pub fn fetch_times(&self) -> Vec<Instant> {
        lock(&self.state).fetches.clone()
    }

    /// Paths of requests for anything but the JWKS path (a wrong `uri` in the
    /// plugin config shows up here).
    pub fn other_requests(&self) -> Vec<String> {
        lock(&self.state).other_requests.clone()
    }

    /// Blocks until at least `n` JWKS requests arrived; returns the count.
    pub fn wait_requests(&self, n: usize, timeout: Duration) -> Result<usize> {
        poll_until(timeout, || {
            let c = self.request_count();
            (c >= n).then_some(c)
        })
        .ok_or_else(|| self.too_few(n, timeout))
    }

    pub async fn wait_requests_async(&self, n: usize, timeout: Duration) -> Result<usize> {
        poll_until_async(timeout, || {
            let c = self.request_count();
            (c >= n).then_some(c)
        })
        .await
        .ok_or_else(|| self.too_few(n, timeout))
    }

    fn too_few(&self, n: usize, timeout: Duration) -> Error {
        Error::new(format!(
            "mock JWKS: expected {n} fetch(es) within {timeout:?}, got {} (other paths requested: {:?})",
            self.request_count(),
            self.other_requests()
        ))
    }
}

async fn handle(state: &Mutex<State>, req: Request<Incoming>) -> Response<server::Body> {
    let path = req.uri().path().to_string();
    let (is_jwks, delay) = {
        let mut s = lock(state);
        let is_jwks = path == s.path;
        if is_jwks {
            s.fetches.push(Instant::now());
        } else {
            s.other_requests.push(path.clone());
        }
        (is_jwks, s.delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    // Read mode and keys after the delay, so a test can change them while a
    // slow fetch is in flight.
    let (status, content_type, body) = if !is_jwks {
        (
            404,
            "text/plain".to_string(),
            Bytes::from_static(b"not found"),
        )
    } else {
        let s = lock(state);
        match &s.mode {
            JwksMode::Serve => (
                200,
                "application/json".to_string(),
                Bytes::from(s.keys.to_string()),
            ),
            JwksMode::Fail(code) => (
                *code,
                "text/plain".to_string(),
                Bytes::from_static(b"jwks failure"),
            ),
            JwksMode::Garbage => (
                200,
                "application/json".to_string(),
                Bytes::from_static(b"<html>this is not a key set{"),
            ),
            JwksMode::Body { content_type, body } => (200, content_type.clone(), body.clone()),
            JwksMode::ResetMidBody => (
                200,
                "application/json".to_string(),
                Bytes::from(s.keys.to_string()),
            ),
        }
    };
    let reset = is_jwks && lock(state).mode == JwksMode::ResetMidBody;
    let mut resp = if reset {
        let half = body.slice(..body.len() / 2);
        Response::new(AbortingBody { first: Some(half) }.boxed())
    } else {
        Response::new(Full::new(body).map_err(|never| match never {}).boxed())
    };
    *resp.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_str(&content_type)
            .unwrap_or_else(|_| hyper::header::HeaderValue::from_static("text/plain")),
    );
    resp
}

/// A body that sends one chunk and then fails, which makes hyper abort the
/// connection mid-body.
struct AbortingBody {
    first: Option<Bytes>,
}

impl hyper::body::Body for AbortingBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<std::result::Result<hyper::body::Frame<Bytes>, std::io::Error>>>
    {
        std::task::Poll::Ready(Some(match self.first.take() {
            Some(chunk) => Ok(hyper::body::Frame::data(chunk)),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "mock JWKS: scripted reset",
            )),
        }))
    }
}
