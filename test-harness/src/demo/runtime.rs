//! The demo's agent runtime: a stand-in for an AgentCore Runtime container
//! running a Strands agent. It speaks AgentCore's HTTP contract:
//!
//! - `POST /invocations` (the container contract) and
//!   `POST /runtimes/<ARN>/invocations` (the service API path the Envoy
//!   route rewrites `/chat` to): a JSON body `{"prompt": "..."}`, answered
//!   with an SSE stream in the AgentCore/Strands format (`data: <event>`
//!   frames, see fixtures/streams/agentcore_strands_tool_use.sse). The
//!   prompt picks the tool the agent calls (see [`plan`]).
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

use crate::server::{self, Server};
use crate::wait::lock;
use crate::Result;

/// Pauses between frames: between streamed text pieces, and while a tool
/// "runs".
#[derive(Clone, Copy, Debug)]
pub struct Pacing {
    pub token: Duration,
    pub tool: Duration,
}

impl Pacing {
    /// Slow enough to watch.
    pub const NARRATED: Pacing = Pacing {
        token: Duration::from_millis(70),
        tool: Duration::from_millis(700),
    };
    /// Fast, still frame by frame (for `--check`).
    pub const FAST: Pacing = Pacing {
        token: Duration::from_millis(10),
        tool: Duration::from_millis(120),
    };
}

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

struct State {
    pacing: Mutex<Pacing>,
    invocations: Mutex<Vec<Invocation>>,
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

    pub fn set_pacing(&self, pacing: Pacing) {
        *lock(&self.state.pacing) = pacing;
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

/// What the agent does for a prompt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub tool: &'static str,
    pub input: Value,
    pub intro: &'static str,
    pub tool_result: &'static str,
    pub answer: &'static str,
}

/// The prompt picks the tool: "delete"/"remove" → `delete_filing` (admins
/// only), "report"/"summar" → `generate_report`, anything else →
/// `search_filings`.
pub fn plan(prompt: &str) -> Plan {
    let p = prompt.to_lowercase();
    if p.contains("delete") || p.contains("remove") {
        Plan {
            tool: "delete_filing",
            input: json!({"filing_id": "ACME-10-K-2023"}),
            intro: "I'll delete the ACME 2023 10-K filing for you.",
            tool_result: "deleted ACME-10-K-2023",
            answer: "Done: the ACME 2023 10-K filing has been deleted.",
        }
    } else if p.contains("report") || p.contains("summar") {
        Plan {
            tool: "generate_report",
            input: json!({"company": "ACME", "sections": ["revenue", "risks"]}),
            intro: "I'll generate a report on ACME.",
            tool_result: "report-7f3a.pdf (4 pages)",
            answer: "Your ACME report is ready: report-7f3a.pdf, 4 pages on revenue and risks.",
        }
    } else {
        Plan {
            tool: "search_filings",
            input: json!({"company": "ACME", "form": "10-K"}),
            intro: "Let me search the filings for ACME.",
            tool_result: "3 filings: 10-K 2024 (2025-02-14), 10-K 2023, 10-K 2022",
            answer: "ACME's latest annual report is its 10-K for 2024, filed on 2025-02-14; revenue grew 12% year over year.",
        }
    }
}

/// The SSE frames the agent streams for `prompt`, each with the pause before
/// it, and the index of the frame that starts the tool call.
pub struct Script {
    pub frames: Vec<(Duration, String)>,
    pub tool_frame: usize,
    pub plan: Plan,
}

impl Script {
    /// The bytes of the frames before the tool call, as sent.
    pub fn before_tool_call(&self) -> String {
        self.frames[..self.tool_frame]
            .iter()
            .map(|(_, f)| f.as_str())
            .collect()
    }

    /// Sum of the pauses: the least time the stream takes.
    pub fn duration(&self) -> Duration {
        self.frames.iter().map(|(d, _)| *d).sum()
    }
}

fn frame(v: Value) -> String {
    format!("data: {v}\n\n")
}

/// Cuts text into pieces of about three words, as a model streams it.
fn pieces(text: &str) -> Vec<String> {
    let words: Vec<&str> = text.split(' ').collect();
    words
        .chunks(3)
        .enumerate()
        .map(|(i, c)| {
            let s = c.join(" ");
            if i == 0 {
                s
            } else {
                format!(" {s}")
            }
        })
        .collect()
}

/// The frames of one agent turn in the AgentCore/Strands format: a text
/// intro, a tool call (start, a Strands debug event, input deltas, stop), the
/// tool result after the tool "ran", then the streamed answer.
pub fn script(prompt: &str, pacing: Pacing) -> Script {
    let plan = plan(prompt);
    let tool_use_id = format!("tooluse_{}", &hex_id(prompt)[..22]);
    let t = pacing.token;
    let mut frames: Vec<(Duration, String)> = Vec::new();
    let mut push = |pause: Duration, v: Value| frames.push((pause, frame(v)));
    push(Duration::ZERO, json!({"init_event_loop": true}));
    push(t, json!({"start": true}));
    push(t, json!({"start_event_loop": true}));
    push(t, json!({"event": {"messageStart": {"role": "assistant"}}}));
    for piece in pieces(plan.intro) {
        push(
            t,
            json!({"event": {"contentBlockDelta": {"delta": {"text": piece}, "contentBlockIndex": 0}}}),
        );
    }
    push(
        t,
        json!({"event": {"contentBlockStop": {"contentBlockIndex": 0}}}),
    );
    let tool_frame = frames.len();
    frames.push((
        t,
        frame(
            json!({"event": {"contentBlockStart": {"start": {"toolUse": {
            "toolUseId": tool_use_id, "name": plan.tool}}, "contentBlockIndex": 1}}}),
        ),
    ));
    // Strands also streams its raw Python events, as JSON strings.
    frames.push((
        t,
        frame(Value::String(format!(
            "{{'type': 'tool_use_stream', 'delta': {{'toolUse': {{'input': ''}}}}, 'current_tool_use': \
             {{'toolUseId': '{tool_use_id}', 'name': '{}', 'input': {{}}}}, \
             'agent': <strands.agent.agent.Agent object at 0x7f3c5a1e2d10>}}",
            plan.tool
        ))),
    ));
    let input = plan.input.to_string();
    let (a, b) = input.split_at(input.len() / 2);
    let mut push = |pause: Duration, v: Value| frames.push((pause, frame(v)));
    for part in [a, b] {
        push(
            t,
            json!({"event": {"contentBlockDelta": {"delta": {"toolUse": {"input": part}}, "contentBlockIndex": 1}}}),
        );
    }
    push(
        t,
        json!({"event": {"contentBlockStop": {"contentBlockIndex": 1}}}),
    );
    push(
        t,
        json!({"event": {"messageStop": {"stopReason": "tool_use"}}}),
    );
    push(
        t,
        json!({"message": {"role": "assistant", "content": [
            {"text": plan.intro},
            {"toolUse": {"toolUseId": tool_use_id, "name": plan.tool, "input": plan.input}}]}}),
    );
    push(
        pacing.tool,
        json!({"message": {"role": "user", "content": [{"toolResult": {
            "toolUseId": tool_use_id, "status": "success", "content": [{"text": plan.tool_result}]}}]}}),
    );
    push(t, json!({"start": true}));
    push(t, json!({"start_event_loop": true}));
    push(t, json!({"event": {"messageStart": {"role": "assistant"}}}));
    for piece in pieces(plan.answer) {
        push(
            t,
            json!({"event": {"contentBlockDelta": {"delta": {"text": piece}, "contentBlockIndex": 0}}}),
        );
    }
    push(
        t,
        json!({"event": {"contentBlockStop": {"contentBlockIndex": 0}}}),
    );
    push(
        t,
        json!({"event": {"messageStop": {"stopReason": "end_turn"}}}),
    );
    push(
        t,
        json!({"event": {"metadata": {"usage": {"inputTokens": 412, "outputTokens": 57, "totalTokens": 469}, "metrics": {"latencyMs": 1234}}}}),
    );
    push(
        Duration::ZERO,
        json!({"message": {"role": "assistant", "content": [{"text": plan.answer}]}}),
    );
    Script {
        frames,
        tool_frame,
        plan,
    }
}

/// A stable id derived from the prompt (hex of a simple hash).
fn hex_id(seed: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(seed.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The prompt of an invocation body: `{"prompt": "..."}`, else the body text.
pub fn prompt_of(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("prompt").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| body.to_string())
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Response<server::Body> {
    let (parts, incoming) = req.into_parts();
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
            &json!({"status": "Healthy", "time_of_last_update": crate::tokens::now()}),
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
        ("POST", _) if is_invoke => {
            let pacing = *lock(&state.pacing);
            let script = script(&prompt_of(&invocation.body), pacing);
            stream_response(state, index, script)
        }
        _ => json_response(
            404,
            &json!({"error": "not_found", "message": "POST /invocations, GET /ping, GET /whoami"}),
        ),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_pick_tools() {
        assert_eq!(plan("Find ACME's filings").tool, "search_filings");
        assert_eq!(plan("Please DELETE the 2023 10-K").tool, "delete_filing");
        assert_eq!(plan("summarize ACME").tool, "generate_report");
        assert_eq!(prompt_of(r#"{"prompt":"hi"}"#), "hi");
        assert_eq!(prompt_of("plain"), "plain");
    }

    #[test]
    fn script_is_well_formed_sse_with_one_tool_call() {
        let s = script("delete it", Pacing::FAST);
        assert!(s
            .frames
            .iter()
            .all(|(_, f)| f.starts_with("data: ") && f.ends_with("\n\n")));
        assert!(s
            .frames
            .iter()
            .all(|(_, f)| !f[..f.len() - 2].contains('\n')));
        let tool = &s.frames[s.tool_frame].1;
        assert!(tool.contains("contentBlockStart") && tool.contains("\"delete_filing\""));
        assert!(!s.before_tool_call().contains("delete_filing"));
        assert!(s.duration() >= Pacing::FAST.tool);
    }
}
