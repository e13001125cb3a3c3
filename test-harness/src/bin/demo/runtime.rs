//! The demo's agent runtime: a stand-in for an AgentCore Runtime container
//! running a Strands agent. It speaks AgentCore's HTTP contract:
//!
//! - `POST /invocations` (the container contract) and
//!   `POST /runtimes/<ARN>/invocations` (the service API path the Envoy
//!   route rewrites `/chat` to): a JSON body `{"prompt": "..."}`, answered
//!   with an SSE stream in the AgentCore/Strands format (`data: <event>`
//!   frames, see fixtures/streams/agentcore_strands_tool_use.sse). The
//!   prompt picks the tool the agent calls (see [`plan`]).
//! - `GET /ws`: the same answers over WebSocket, one text message per event
//!   (see [`ws`]), for the chat page's WebSocket mode.
//! - `GET /ping`: `{"status":"Healthy"}`.
//! - `GET /whoami`: the request as the runtime received it (method, path,
//!   headers) as JSON, to show what toolguard passed on.
//! - `GET /`: the demo's chat page (`page.html`), when [`MockRuntime::serve_page`]
//!   gave it tokens to embed.
//!
//! Like a prompt-injected agent would, it calls the tool it picked whatever
//! the `Allowed-Tools` header says: stopping it is toolguard's job.
//! Every request is recorded with how its response stream ended.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::{Request, Response};
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;

use test_harness::server::{self, Server};
use test_harness::wait::lock;
use test_harness::Result;

use crate::script::{prompt_of, script, Pacing, Script};
use crate::ws;

/// How a response stream ended, as the runtime saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamEnd {
    /// Every frame was sent.
    Completed,
    /// The connection went away first: Envoy cancelled the request.
    ClientGone,
}

/// One request as the runtime received it.
#[derive(Clone, Debug)]
pub struct Invocation {
    pub method: String,
    /// Path with query string.
    pub path: String,
    /// Lower-case names, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub received_at: Instant,
    /// For streams: frames handed to the connection so far.
    pub frames_sent: usize,
    pub end: Option<(StreamEnd, Instant)>,
}

impl Invocation {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `x-amzn-bedrock-agentcore-runtime-*` headers (custom ones and the
    /// session id), in arrival order.
    pub fn agentcore_headers(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .filter(|(n, _)| n.starts_with("x-amzn-bedrock-agentcore-runtime-"))
            .cloned()
            .collect()
    }
}

/// Mints the tokens the chat page embeds: `{"analyst": "...", ...}`.
pub type PageTokens = Arc<dyn Fn() -> Value + Send + Sync>;

/// The demo's chat page, served at `GET /` with fresh tokens in place of
/// `/*TOKENS*/{}`.
pub const PAGE: &str = include_str!("page.html");

pub struct State {
    pub pacing: Mutex<Pacing>,
    pub invocations: Mutex<Vec<Invocation>>,
    page_tokens: Mutex<Option<PageTokens>>,
}

/// The running mock runtime; stops when dropped.
pub struct MockRuntime {
    server: Server,
    state: Arc<State>,
}

impl MockRuntime {
    /// Starts on `127.0.0.1:port` (0: a free port).
    pub fn start(port: u16, pacing: Pacing) -> Result<MockRuntime> {
        let state = Arc::new(State {
            pacing: Mutex::new(pacing),
            invocations: Mutex::new(Vec::new()),
            page_tokens: Mutex::new(None),
        });
        let handler_state = state.clone();
        let handler: server::Handler = Arc::new(move |req| {
            let state = handler_state.clone();
            Box::pin(async move { handle(state, req).await })
        });
        let server = Server::start(port, handler)?;
        Ok(MockRuntime { server, state })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Serve the chat page at `GET /`, with tokens from `tokens`.
    pub fn serve_page(&self, tokens: PageTokens) {
        *lock(&self.state.page_tokens) = Some(tokens);
    }

    pub fn pacing(&self) -> Pacing {
        *lock(&self.state.pacing)
    }

    /// Every request so far.
    pub fn invocations(&self) -> Vec<Invocation> {
        lock(&self.state.invocations).clone()
    }

    pub fn count(&self) -> usize {
        lock(&self.state.invocations).len()
    }

    /// Request `index`, if it has arrived.
    pub fn invocation(&self, index: usize) -> Option<Invocation> {
        lock(&self.state.invocations).get(index).cloned()
    }

    /// Waits up to `timeout` for request `index`'s stream to end.
    pub fn wait_end(&self, index: usize, timeout: Duration) -> Option<StreamEnd> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((end, _)) = self.invocation(index).and_then(|i| i.end) {
                return Some(end);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Response<server::Body> {
    let (mut parts, incoming) = req.into_parts();
    let body = incoming
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| parts.uri.path().to_string());
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let invocation = Invocation {
        method: parts.method.to_string(),
        path: path.clone(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        received_at: Instant::now(),
        frames_sent: 0,
        end: None,
    };
    let index = {
        let mut all = lock(&state.invocations);
        all.push(invocation.clone());
        all.len() - 1
    };
    let bare = path.split('?').next().unwrap_or("");
    let is_invoke = bare == "/invocations"
        || (bare.starts_with("/runtimes/") && bare.ends_with("/invocations"));
    let page_tokens = lock(&state.page_tokens).clone();
    match (parts.method.as_str(), bare) {
        ("GET", "/") if page_tokens.is_some() => {
            let tokens = page_tokens.map(|t| t()).unwrap_or(Value::Null);
            let html = PAGE.replace("/*TOKENS*/{}", &tokens.to_string());
            let mut resp = Response::new(
                Full::new(Bytes::from(html))
                    .map_err(|never| match never {})
                    .boxed(),
            );
            resp.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/html; charset=utf-8"),
            );
            resp
        }
        ("GET", "/ping") => json_response(
            200,
            &json!({"status": "Healthy", "time_of_last_update": test_harness::tokens::now()}),
        ),
        ("GET", "/whoami") => {
            let mut h = Map::new();
            for (n, v) in &invocation.headers {
                h.insert(n.clone(), Value::String(v.clone()));
            }
            json_response(
                200,
                &json!({"method": invocation.method, "path": invocation.path, "headers": h}),
            )
        }
        ("GET", "/ws") => match parts.extensions.remove::<hyper::upgrade::OnUpgrade>() {
            Some(upgrade) if is_websocket(&invocation) => {
                let accept = ws::accept_key(invocation.header("sec-websocket-key").unwrap_or(""));
                tokio::spawn(async move {
                    if let Ok(upgraded) = upgrade.await {
                        ws::serve(upgraded, state, index).await;
                    }
                });
                switching_protocols(&accept)
            }
            _ => json_response(
                400,
                &json!({"error": "bad_request", "message": "/ws is a WebSocket endpoint"}),
            ),
        },
        ("POST", _) if is_invoke => {
            let pacing = *lock(&state.pacing);
            let script = script(&prompt_of(&invocation.body), pacing);
            stream_response(state, index, script)
        }
        _ => json_response(
            404,
            &json!({"error": "not_found", "message": "POST /invocations, GET /ws, GET /ping, GET /whoami"}),
        ),
    }
}

fn is_websocket(invocation: &Invocation) -> bool {
    invocation
        .header("upgrade")
        .is_some_and(|u| u.eq_ignore_ascii_case("websocket"))
}

/// 101 to a WebSocket upgrade; the connection is then [`ws::serve`]d.
fn switching_protocols(accept: &str) -> Response<server::Body> {
    let mut resp = Response::new(
        Full::new(Bytes::new())
            .map_err(|never| match never {})
            .boxed(),
    );
    *resp.status_mut() = hyper::StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(
        hyper::header::UPGRADE,
        hyper::header::HeaderValue::from_static("websocket"),
    );
    h.insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("Upgrade"),
    );
    if let Ok(v) = hyper::header::HeaderValue::from_str(accept) {
        h.insert(hyper::header::SEC_WEBSOCKET_ACCEPT, v);
    }
    resp
}

fn json_response(status: u16, v: &Value) -> Response<server::Body> {
    let mut resp = Response::new(
        Full::new(Bytes::from(v.to_string()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

fn stream_response(state: Arc<State>, index: usize, script: Script) -> Response<server::Body> {
    let (tx, rx) = mpsc::channel::<Bytes>(1);
    let producer_state = state.clone();
    tokio::spawn(async move {
        for (pause, frame) in script.frames {
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            if tx.send(Bytes::from(frame)).await.is_err() {
                return;
            }
            if let Some(inv) = lock(&producer_state.invocations).get_mut(index) {
                inv.frames_sent += 1;
            }
        }
    });
    let body = StreamBody {
        rx,
        state,
        index,
        finished: false,
    };
    let mut resp = Response::new(BodyExt::boxed(body));
    let h = resp.headers_mut();
    h.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/event-stream"),
    );
    h.insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-cache"),
    );
    resp
}

/// The response body: frames from the producer task; records how it ended.
struct StreamBody {
    rx: mpsc::Receiver<Bytes>,
    state: Arc<State>,
    index: usize,
    finished: bool,
}

impl StreamBody {
    fn record(&mut self, end: StreamEnd) {
        if let Some(inv) = lock(&self.state.invocations).get_mut(self.index) {
            if inv.end.is_none() {
                inv.end = Some((end, Instant::now()));
            }
        }
    }
}

impl Body for StreamBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, std::io::Error>>> {
        match self.rx.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(chunk)) => Poll::Ready(Some(Ok(Frame::data(chunk)))),
            Poll::Ready(None) => {
                self.finished = true;
                self.record(StreamEnd::Completed);
                Poll::Ready(None)
            }
        }
    }
}

impl Drop for StreamBody {
    fn drop(&mut self) {
        if !self.finished {
            self.record(StreamEnd::ClientGone);
        }
    }
}
