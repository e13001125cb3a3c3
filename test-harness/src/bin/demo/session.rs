//! The narrated session: real HTTP calls through Envoy, each step printed as
//! it happens and checked against SPEC.md. The same steps run for the
//! interactive demo and for `--check`.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::idp::{ADMIN, ANALYST, TRIAL};
use super::runtime::{Invocation, StreamEnd};
use super::script::{self, Pacing};
use super::{Demo, Out};
use test_harness::client::{self, BodyEnding};

/// The path `/chat` is rewritten to (envoy/demo.yaml): the AgentCore
/// InvokeAgentRuntime path of the made-up runtime ARN
/// `arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/toolguard_demo-AbCdEf1234`.
pub const INVOKE_PATH: &str = "/runtimes/arn%3Aaws%3Abedrock-agentcore%3Aus-east-1%3A123456789012%3Aruntime%2Ftoolguard_demo-AbCdEf1234/invocations?qualifier=DEFAULT";

const CUSTOM: &str = "x-amzn-bedrock-agentcore-runtime-custom-";
const SESSION_HEADER: &str = "x-amzn-bedrock-agentcore-runtime-session-id";

pub const PROMPT_SEARCH: &str = "Find the latest annual filing for ACME";
pub const PROMPT_DELETE: &str = "Delete the ACME 2023 10-K filing";

/// Time allowed for any one exchange.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);

/// The error event SPEC.md prescribes in place of a denied tool call.
pub fn denied_event(tool: &str) -> String {
    format!(
        "event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"permission_error\",\"message\":\"tool \\\"{tool}\\\" is not allowed\",\"tool\":\"{tool}\"}}}}\n\n"
    )
}

/// The session id the runtime must see for `client_id` sent by `user`
/// (SPEC.md, `session.bind_to_subject`).
pub fn bound_session(issuer: &str, sub: &str, client_id: &str) -> String {
    let digest = Sha256::digest(format!("{issuer} {sub}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{client_id}", &hex[..16])
}

/// Checks made and the ones that failed.
#[derive(Debug, Default)]
pub struct Report {
    pub checks: usize,
    pub failures: Vec<String>,
    step: String,
}

impl Report {
    fn check(&mut self, out: Out, ok: bool, what: impl AsRef<str>) -> bool {
        self.checks += 1;
        let what = what.as_ref();
        if ok {
            println!("    {} {what}", out.green("✓"));
        } else {
            println!("    {} {what}", out.red("✗"));
            self.failures.push(format!("{}: {what}", self.step));
        }
        ok
    }

    fn check_eq(&mut self, out: Out, what: &str, got: Option<&str>, want: &str) -> bool {
        let ok = got == Some(want);
        let text = if ok {
            format!("{what} = {}", short(want, 100))
        } else {
            format!(
                "{what}: expected {}, got {}",
                short(want, 100),
                got.map(|g| short(g, 100))
                    .unwrap_or_else(|| "nothing".into())
            )
        };
        self.check(out, ok, text)
    }
}

fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

fn title(report: &mut Report, out: Out, n: usize, text: &str) {
    report.step = format!("step {n}");
    println!("\n{}", out.bold(&format!("{n}. {text}")));
}

fn say(out: Out, text: &str) {
    println!("  {}", out.dim(text));
}

/// How much of a stream to print.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Show {
    /// Every frame with its arrival time.
    Frames,
    /// Tool calls, errors and the end only.
    Summary,
}

/// A streamed answer as the client got it.
struct Streamed {
    status: u16,
    content_type: Option<String>,
    body: String,
    /// Arrival time (from sending the request) of each complete frame.
    frames: Vec<(Duration, String)>,
    ending: BodyEnding,
    /// When the request was sent, and when the body ended (or broke off).
    started: Instant,
    ended: Duration,
}

impl Streamed {
    fn span(&self) -> Duration {
        match (self.frames.first(), self.frames.last()) {
            (Some((a, _)), Some((b, _))) => b.saturating_sub(*a),
            _ => Duration::ZERO,
        }
    }
}

/// A one-line description of an SSE frame in the AgentCore/Strands format.
fn describe(frame: &str, out: Out) -> String {
    let mut event = None;
    let mut data = Vec::new();
    for line in frame.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            event = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push(v.strip_prefix(' ').unwrap_or(v).to_string());
        }
    }
    let data = data.join("\n");
    if event.as_deref() == Some("error") {
        let v: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
        return out.red(&format!(
            "✂ event: error  {}: {}",
            v["error"]["type"].as_str().unwrap_or("?"),
            v["error"]["message"].as_str().unwrap_or(&data)
        ));
    }
    let v: Value = match serde_json::from_str(&data) {
        Ok(v) => v,
        Err(_) => return format!("data {}", short(&data, 70)),
    };
    if let Some(s) = v.as_str() {
        return out.dim(&format!("strands debug event ({} bytes)", s.len()));
    }
    let e = &v["event"];
    if let Some(t) = e["contentBlockDelta"]["delta"]["text"].as_str() {
        return format!("text        {}", out.cyan(&format!("{t:?}")));
    }
    if let Some(tu) = e["contentBlockStart"]["start"].get("toolUse") {
        return out.yellow(&format!(
            "tool call   {}",
            tu["name"].as_str().unwrap_or("?")
        ));
    }
    if let Some(i) = e["contentBlockDelta"]["delta"]["toolUse"]["input"].as_str() {
        return format!("tool input  {i}");
    }
    if e.get("messageStart").is_some() {
        return out.dim("message start");
    }
    if let Some(r) = e["messageStop"]["stopReason"].as_str() {
        return out.dim(&format!("message stop ({r})"));
    }
    if e.get("contentBlockStop").is_some() {
        return out.dim("block stop");
    }
    if let Some(u) = e["metadata"].get("usage") {
        return out.dim(&format!("usage {u}"));
    }
    if let Some(m) = v.get("message") {
        if let Some(r) = m["content"][0].get("toolResult") {
            return format!(
                "tool result {}",
                r["content"][0]["text"].as_str().unwrap_or("?")
            );
        }
        return out.dim(&format!(
            "{} message ({} parts)",
            m["role"].as_str().unwrap_or("?"),
            m["content"].as_array().map_or(0, |a| a.len())
        ));
    }
    out.dim(&short(&data, 70))
}

/// Prints one frame as `show` says; whether it was shown in a summary.
fn print_frame(out: Out, show: Option<Show>, at: Duration, frame: &str) -> bool {
    let summarized = frame.contains("toolUse\":{\"toolUseId") || frame.starts_with("event: error");
    let shown = match show {
        Some(Show::Frames) => true,
        Some(Show::Summary) => summarized,
        None => false,
    };
    if shown {
        println!(
            "  {}  {}",
            out.dim(&format!("+{:.3}s", at.as_secs_f64())),
            describe(frame, out)
        );
    }
    shown && show == Some(Show::Summary)
}

/// Prints how the stream ended (and, in a summary, how many frames it had).
fn print_end(
    out: Out,
    show: Option<Show>,
    ending: &BodyEnding,
    at: Duration,
    frames: usize,
    shown: usize,
) {
    let how = match ending {
        BodyEnding::Complete => "stream ended",
        BodyEnding::Error(_) => "stream closed by Envoy (reset, no clean end)",
        BodyEnding::TimedOut => "no end in time",
    };
    let extra = if show == Some(Show::Summary) {
        format!(", {frames} frames, {shown} shown")
    } else {
        String::new()
    };
    println!(
        "  {}  {}",
        out.dim(&format!("+{:.3}s", at.as_secs_f64())),
        out.dim(&format!("{how}{extra}"))
    );
}

/// Sends a request and reads the answer frame by frame, printing as told.
fn stream(
    demo: &Demo,
    request: client::RequestBuilder,
    show: Option<Show>,
) -> Result<Streamed, String> {
    let out = demo.out;
    let start = Instant::now();
    let deadline = start + EXCHANGE_TIMEOUT;
    let mut resp = request
        .timeout(EXCHANGE_TIMEOUT)
        .open_blocking()
        .map_err(|e| e.to_string())?;
    let content_type = resp.header("content-type").map(str::to_string);
    if show.is_some() {
        println!(
            "  {} {}  {}",
            out.dim(&format!("+{:.3}s", start.elapsed().as_secs_f64())),
            out.bold(&resp.status.to_string()),
            content_type.as_deref().unwrap_or("")
        );
    }
    let mut body = String::new();
    let mut pending = String::new();
    let mut frames = Vec::new();
    let mut shown_summary = 0usize;
    let ending = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match resp.next_chunk_blocking(left) {
            Ok(Some(chunk)) => {
                let at = start.elapsed();
                let text = String::from_utf8_lossy(&chunk);
                body.push_str(&text);
                pending.push_str(&text);
                while let Some(end) = pending.find("\n\n") {
                    let frame: String = pending.drain(..end + 2).collect();
                    if print_frame(out, show, at, &frame) {
                        shown_summary += 1;
                    }
                    frames.push((at, frame));
                }
            }
            Ok(None) => break BodyEnding::Complete,
            Err(e) => {
                if Instant::now() >= deadline {
                    break BodyEnding::TimedOut;
                }
                break BodyEnding::Error(e.to_string());
            }
        }
    };
    if !pending.is_empty() {
        frames.push((start.elapsed(), pending.clone()));
    }
    if show.is_some() {
        print_end(
            out,
            show,
            &ending,
            start.elapsed(),
            frames.len(),
            shown_summary,
        );
    }
    Ok(Streamed {
        status: resp.status,
        content_type,
        body,
        frames,
        ending,
        started: start,
        ended: start.elapsed(),
    })
}

fn chat(
    demo: &Demo,
    token: Option<&str>,
    prompt: &str,
    session: Option<&str>,
) -> client::RequestBuilder {
    let mut req = client::post(&demo.url("/chat")).json(&json!({ "prompt": prompt }));
    if let Some(t) = token {
        req = req.bearer(t);
    }
    if let Some(s) = session {
        req = req.header(SESSION_HEADER, s);
    }
    req
}

/// Prints what the runtime received: the AgentCore headers and the path.
fn show_seen(demo: &Demo, inv: &Invocation) {
    let out = demo.out;
    say(
        out,
        &format!(
            "the runtime received {} {}",
            inv.method,
            short(&inv.path, 110)
        ),
    );
    for (n, v) in inv.agentcore_headers() {
        println!("      {}: {}", out.cyan(&n), short(&v, 90));
    }
}

fn expect_custom(report: &mut Report, out: Out, inv: &Invocation, suffix: &str, want: &str) {
    report.check_eq(
        out,
        &format!("runtime saw ...-Custom-{suffix}"),
        inv.header(&format!("{CUSTOM}{}", suffix.to_ascii_lowercase())),
        want,
    );
}

/// Checks an error answer (401) against SPEC.md's table.
fn expect_401(
    report: &mut Report,
    demo: &Demo,
    resp: &client::Response,
    error: &str,
    reason: Option<&str>,
    before: usize,
) {
    let out = demo.out;
    println!(
        "  → {}  {}",
        out.bold(&resp.status.to_string()),
        short(&resp.text().replace('\n', " "), 160)
    );
    if let Some(w) = resp.header("www-authenticate") {
        println!("     WWW-Authenticate: {w}");
    }
    report.check(
        out,
        resp.status == 401,
        format!("status 401 (got {})", resp.status),
    );
    report.check_eq(
        out,
        "content-type",
        resp.header("content-type"),
        "application/json",
    );
    let body = resp.json().unwrap_or(Value::Null);
    report.check_eq(out, "error", body["error"].as_str(), error);
    if let Some(reason) = reason {
        report.check_eq(out, "reason", body["reason"].as_str(), reason);
    }
    let www = resp.header("www-authenticate").unwrap_or("");
    let www_ok = if reason.is_some() {
        www.starts_with("Bearer") && www.contains("error=\"invalid_token\"")
    } else {
        www.starts_with("Bearer")
    };
    report.check(
        out,
        www_ok,
        format!(
            "WWW-Authenticate: {}",
            if www.is_empty() { "(none)" } else { www }
        ),
    );
    std::thread::sleep(Duration::from_millis(100));
    report.check(
        out,
        demo.runtime.count() == before,
        "nothing reached the runtime",
    );
}

/// A token whose payload was edited after signing (groups → admins).
fn tampered(token: &str) -> String {
    let mut parts = token.split('.');
    let (h, p, s) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let mut claims: Value = URL_SAFE_NO_PAD
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    claims["cognito:groups"] = json!(["admins"]);
    format!("{h}.{}.{s}", URL_SAFE_NO_PAD.encode(claims.to_string()))
}

/// What the steps share: the demo and the demo users' tokens.
struct Steps<'a> {
    demo: &'a Demo,
    out: Out,
    issuer: String,
    analyst: String,
    admin: String,
    pacing: Pacing,
}

/// Runs every step; returns what was checked.
pub fn run(demo: &Demo) -> Report {
    let c = Steps {
        demo,
        out: demo.out,
        issuer: demo.idp.issuer().to_string(),
        analyst: demo.idp.mint(&ANALYST, 3600),
        admin: demo.idp.mint(&ADMIN, 3600),
        pacing: demo.runtime.pacing(),
    };
    let mut r = Report::default();
    bypassed(&c, &mut r);
    allowed_tool_call(&c, &mut r);
    denied_tool_call(&c, &mut r);
    admin_tool_call(&c, &mut r);
    no_token(&c, &mut r);
    expired_token(&c, &mut r);
    tampered_token(&c, &mut r);
    spoofed_headers(&c, &mut r);
    rate_limited(demo, &mut r);
    counters(&c, &mut r);
    r
}

/// Step 1: `/ping` and the chat page need no token.
fn bypassed(c: &Steps, r: &mut Report) {
    let (demo, out) = (c.demo, c.out);
    title(
        r,
        out,
        1,
        "GET /ping (health check) and / (the chat page) need no token: bypassed",
    );
    match client::get(&demo.url("/ping")).send_blocking() {
        Ok(resp) => {
            println!(
                "  → {}  {}",
                out.bold(&resp.status.to_string()),
                resp.text()
            );
            r.check(
                out,
                resp.status == 200,
                format!("GET /ping: status 200 (got {})", resp.status),
            );
        }
        Err(e) => {
            r.check(out, false, format!("GET /ping: {e}"));
        }
    }
    match client::get(&demo.url("/")).send_blocking() {
        Ok(resp) => {
            println!(
                "  → {}  {} ({} bytes)",
                out.bold(&resp.status.to_string()),
                resp.header("content-type").unwrap_or(""),
                resp.body.len()
            );
            r.check(
                out,
                resp.status == 200
                    && resp
                        .header("content-type")
                        .is_some_and(|c| c.starts_with("text/html"))
                    && resp.text().contains("\"analyst\":\"ey"),
                format!(
                    "GET /: the chat page, with the demo users' tokens (status {})",
                    resp.status
                ),
            );
        }
        Err(e) => {
            r.check(out, false, format!("GET /: {e}"));
        }
    }
}

/// Step 2: the analyst's allowed tool call streams through unchanged, and the runtime sees the identity toolguard derived.
fn allowed_tool_call(c: &Steps, r: &mut Report) {
    let (demo, out) = (c.demo, c.out);
    let analyst = &c.analyst;
    let pacing = c.pacing;
    title(
        r,
        out,
        2,
        &format!(
            "analyst asks {PROMPT_SEARCH:?}: the agent calls search_filings (allowed for analysts)"
        ),
    );
    say(out, &format!(
        "POST /chat as {} (cognito:groups [\"analysts\"]), session id demo-analyst-session-000000000000000001",
        ANALYST.email
    ));
    let session = "demo-analyst-session-000000000000000001";
    let index = demo.runtime.count();
    let script = script::script(PROMPT_SEARCH, pacing);
    match stream(
        demo,
        chat(demo, Some(analyst), PROMPT_SEARCH, Some(session)),
        Some(Show::Frames),
    ) {
        Ok(s) => {
            r.check(
                out,
                s.status == 200,
                format!("status 200 (got {})", s.status),
            );
            r.check_eq(
                out,
                "content-type",
                s.content_type.as_deref(),
                "text/event-stream",
            );
            r.check(
                out,
                s.ending == BodyEnding::Complete,
                format!("the stream ended normally ({:?})", s.ending),
            );
            let full: String = script.frames.iter().map(|(_, f)| f.as_str()).collect();
            r.check(
                out,
                s.body == full,
                format!(
                    "all {} frames arrived byte-identical ({} bytes)",
                    script.frames.len(),
                    full.len()
                ),
            );
            let want = script.duration() / 2;
            r.check(
                out,
                s.span() >= want,
                format!(
                    "frames arrived as they were streamed: over {:.2}s (the agent took {:.2}s; a buffering proxy would deliver them at once)",
                    s.span().as_secs_f64(),
                    script.duration().as_secs_f64()
                ),
            );
            seen_as_analyst(c, r, index, session);
        }
        Err(e) => {
            r.check(out, false, format!("POST /chat: {e}"));
        }
    }
}

/// Step 2, at the runtime: the rewritten path, the identity headers and the
/// session id toolguard derived from the analyst's token.
fn seen_as_analyst(c: &Steps, r: &mut Report, index: usize, session: &str) {
    let (demo, out) = (c.demo, c.out);
    let (issuer, analyst) = (&c.issuer, &c.analyst);
    match demo.runtime.invocation(index) {
        Some(inv) => {
            show_seen(demo, &inv);
            r.check_eq(
                out,
                "path (POST /chat rewritten to InvokeAgentRuntime)",
                Some(&inv.path),
                INVOKE_PATH,
            );
            expect_custom(r, out, &inv, "User-Sub", ANALYST.sub);
            expect_custom(r, out, &inv, "User-Email", ANALYST.email);
            expect_custom(r, out, &inv, "User-Groups", "analysts");
            expect_custom(
                r,
                out,
                &inv,
                "Allowed-Tools",
                "search_filings,generate_report",
            );
            r.check(
                out,
                inv.header(&format!("{CUSTOM}request-id"))
                    .is_some_and(|v| !v.is_empty()),
                "runtime saw ...-Custom-Request-Id (from x-request-id)",
            );
            r.check_eq(
                out,
                "runtime saw the session id bound to the user",
                inv.header(SESSION_HEADER),
                &bound_session(issuer, ANALYST.sub, session),
            );
            r.check_eq(
                out,
                "Authorization passed on unchanged",
                inv.header("authorization"),
                &format!("Bearer {analyst}"),
            );
        }
        None => {
            r.check(out, false, "the request reached the runtime");
        }
    }
}

/// Step 3: the analyst's denied tool call: the stream is cut before it, the upstream cancelled.
fn denied_tool_call(c: &Steps, r: &mut Report) {
    let (demo, out) = (c.demo, c.out);
    let analyst = &c.analyst;
    let pacing = c.pacing;
    title(
        r,
        out,
        3,
        &format!("analyst asks {PROMPT_DELETE:?}: the agent calls delete_filing (admins only)"),
    );
    say(out, "the runtime was told Allowed-Tools: search_filings,generate_report, but this agent tries anyway");
    let index = demo.runtime.count();
    let script = script::script(PROMPT_DELETE, pacing);
    match stream(
        demo,
        chat(demo, Some(analyst), PROMPT_DELETE, None),
        Some(Show::Frames),
    ) {
        Ok(s) => {
            let expected = format!(
                "{}{}",
                script.before_tool_call(),
                denied_event("delete_filing")
            );
            r.check(
                out,
                s.status == 200,
                format!("status 200 (got {})", s.status),
            );
            r.check(
                out,
                s.body.starts_with(&script.before_tool_call()),
                format!(
                    "the {} frames before the tool call arrived unchanged",
                    script.tool_frame
                ),
            );
            r.check(
                out,
                s.body.ends_with(&denied_event("delete_filing")),
                "the stream ends with SPEC's permission_error event for delete_filing",
            );
            r.check(
                out,
                s.body == expected,
                "not one byte of the tool call or anything after it reached the client",
            );
            r.check(
                out,
                s.ending != BodyEnding::TimedOut,
                format!("the stream was closed ({:?})", s.ending),
            );
            cut_promptly_and_cancelled(c, r, &s, index, &script);
        }
        Err(e) => {
            r.check(out, false, format!("POST /chat: {e}"));
        }
    }
}

/// Step 3, the timing: the client's stream ended within a pause of the
/// error event, and the runtime saw Envoy go away (the upstream cancelled).
fn cut_promptly_and_cancelled(
    c: &Steps,
    r: &mut Report,
    s: &Streamed,
    index: usize,
    script: &script::Script,
) {
    let (demo, out, pacing) = (c.demo, c.out, c.pacing);
    // SPEC: the stream ends no later than the next upstream chunk, which
    // the agent sends one pause after the tool call.
    let cut_at = s
        .frames
        .iter()
        .find(|(_, f)| f.starts_with("event: error"))
        .map(|(at, _)| *at);
    if let Some(cut_at) = cut_at {
        let after = s.ended.saturating_sub(cut_at);
        let limit = pacing.token * 2 + Duration::from_millis(500);
        r.check(
            out,
            after <= limit,
            format!(
                "the client's stream ended {:.3}s after the error event (next upstream chunk after {:.3}s; limit {:.3}s)",
                after.as_secs_f64(),
                pacing.token.as_secs_f64(),
                limit.as_secs_f64()
            ),
        );
    }
    let end = demo.runtime.wait_end(index, Duration::from_secs(5));
    let inv = demo.runtime.invocation(index);
    let sent = inv.as_ref().map_or(0, |i| i.frames_sent);
    let gone_after = inv
        .as_ref()
        .and_then(|i| i.end)
        .map(|(_, at)| at.saturating_duration_since(s.started));
    r.check(
        out,
        end == Some(StreamEnd::ClientGone),
        format!(
            "the upstream request was cancelled: the runtime sent {sent} of {} frames, then saw Envoy go away at +{:.3}s ({end:?})",
            script.frames.len(),
            gone_after.unwrap_or_default().as_secs_f64()
        ),
    );
}

/// Step 4: the same call is allowed for the admin.
fn admin_tool_call(c: &Steps, r: &mut Report) {
    let (demo, out) = (c.demo, c.out);
    let admin = &c.admin;
    let script = script::script(PROMPT_DELETE, c.pacing);
    title(
        r,
        out,
        4,
        "admin asks the same: delete_filing is allowed (admins: \"*\")",
    );
    let index = demo.runtime.count();
    match stream(
        demo,
        chat(demo, Some(admin), PROMPT_DELETE, None),
        Some(Show::Summary),
    ) {
        Ok(s) => {
            let full: String = script.frames.iter().map(|(_, f)| f.as_str()).collect();
            r.check(
                out,
                s.status == 200,
                format!("status 200 (got {})", s.status),
            );
            r.check(
                out,
                s.body == full && s.ending == BodyEnding::Complete,
                "the whole answer arrived, tool call included",
            );
            if let Some(inv) = demo.runtime.invocation(index) {
                expect_custom(r, out, &inv, "User-Groups", "admins");
                expect_custom(r, out, &inv, "Allowed-Tools", "*");
            }
        }
        Err(e) => {
            r.check(out, false, format!("POST /chat: {e}"));
        }
    }
}

/// Step 5: no token, 401.
fn no_token(c: &Steps, r: &mut Report) {
    let (demo, out) = (c.demo, c.out);
    title(r, out, 5, "No token: 401, and nothing reaches the runtime");
    let before = demo.runtime.count();
    match chat(demo, None, PROMPT_SEARCH, None).send_blocking() {
        Ok(resp) => expect_401(r, demo, &resp, "missing_token", None, before),
        Err(e) => {
            r.check(out, false, format!("POST /chat: {e}"));
        }
    }
}

/// Step 6: an expired token, 401 `expired`.
fn expired_token(c: &Steps, r: &mut Report) {
    let (demo, out) = (c.demo, c.out);
    title(
        r,
        out,
        6,
        "Expired token: 401 invalid_token, reason expired",
    );
    let expired = demo.idp.mint(&ANALYST, -600);
    say(
        out,
        "an analyst token that expired 10 minutes ago (beyond the 60 s clock skew)",
    );
    let before = demo.runtime.count();
    match chat(demo, Some(&expired), PROMPT_SEARCH, None).send_blocking() {
        Ok(resp) => expect_401(r, demo, &resp, "invalid_token", Some("expired"), before),
        Err(e) => {
            r.check(out, false, format!("POST /chat: {e}"));
        }
    }
}

/// Step 7: a tampered token, 401 `bad_signature`.
fn tampered_token(c: &Steps, r: &mut Report) {
    let (demo, out) = (c.demo, c.out);
    let analyst = &c.analyst;
    title(
        r,
        out,
        7,
        "Tampered token: the analyst edits cognito:groups to [\"admins\"]",
    );
    say(
        out,
        "same header and signature, payload re-encoded: the signature no longer matches",
    );
    let before = demo.runtime.count();
    match chat(demo, Some(&tampered(analyst)), PROMPT_DELETE, None).send_blocking() {
        Ok(resp) => expect_401(
            r,
            demo,
            &resp,
            "invalid_token",
            Some("bad_signature"),
            before,
        ),
        Err(e) => {
            r.check(out, false, format!("POST /chat: {e}"));
        }
    }
}

/// Step 8: identity headers sent by the client are replaced by the token's.
fn spoofed_headers(c: &Steps, r: &mut Report) {
    let (demo, out) = (c.demo, c.out);
    let analyst = &c.analyst;
    title(
        r,
        out,
        8,
        "Spoofed identity headers: the analyst sends custom headers claiming to be the admin",
    );
    let spoof = [
        (
            "X-Amzn-Bedrock-AgentCore-Runtime-Custom-User-Sub",
            ADMIN.sub,
        ),
        (
            "X-Amzn-Bedrock-AgentCore-Runtime-Custom-User-Groups",
            "admins",
        ),
        ("X-Amzn-Bedrock-AgentCore-Runtime-Custom-Allowed-Tools", "*"),
        ("X-Amzn-Bedrock-AgentCore-Runtime-Custom-Debug", "true"),
    ];
    let admin_session = "demo-admin-session-00000000000000000001";
    for (n, v) in spoof {
        say(out, &format!("{n}: {v}"));
    }
    say(out, &format!("and the admin's session id {admin_session}"));
    let mut req = client::get(&demo.url("/whoami"))
        .bearer(analyst)
        .header(SESSION_HEADER, admin_session);
    for (n, v) in spoof {
        req = req.header(n, v);
    }
    let index = demo.runtime.count();
    match req.send_blocking() {
        Ok(resp) => {
            r.check(
                out,
                resp.status == 200,
                format!("GET /whoami: status 200 (got {})", resp.status),
            );
            spoof_replaced(c, r, index, admin_session);
        }
        Err(e) => {
            r.check(out, false, format!("GET /whoami: {e}"));
        }
    }
}

/// Step 8, at the runtime: the analyst's identity, not the spoofed one, and
/// the admin's session id namespaced to the analyst.
fn spoof_replaced(c: &Steps, r: &mut Report, index: usize, admin_session: &str) {
    let (demo, out, issuer) = (c.demo, c.out, &c.issuer);
    match demo.runtime.invocation(index) {
        Some(inv) => {
            show_seen(demo, &inv);
            expect_custom(r, out, &inv, "User-Sub", ANALYST.sub);
            expect_custom(r, out, &inv, "User-Groups", "analysts");
            expect_custom(
                r,
                out,
                &inv,
                "Allowed-Tools",
                "search_filings,generate_report",
            );
            r.check(
                out,
                inv.header(&format!("{CUSTOM}debug")).is_none(),
                "the client's ...-Custom-Debug was removed",
            );
            let subs = inv
                .headers
                .iter()
                .filter(|(n, _)| n == &format!("{CUSTOM}user-sub"))
                .count();
            r.check(
                out,
                subs == 1,
                format!("exactly one ...-Custom-User-Sub (got {subs})"),
            );
            r.check_eq(
                out,
                "session id (namespaced to the analyst, not the admin's session)",
                inv.header(SESSION_HEADER),
                &bound_session(issuer, ANALYST.sub, admin_session),
            );
        }
        None => {
            r.check(out, false, "the request reached the runtime");
        }
    }
}

/// Step 10: toolguard's counters in Envoy's `/stats` agree with the steps.
fn counters(c: &Steps, r: &mut Report) {
    let (demo, out) = (c.demo, c.out);
    title(r, out, 10, "toolguard's counters in Envoy's /stats");
    say(
        out,
        &format!("GET {}", demo.envoy.admin_url("/stats?filter=toolguard")),
    );
    match demo.envoy.stats() {
        Ok(stats) => {
            let ours: Vec<(&String, &u64)> = stats
                .iter()
                .filter(|(k, _)| k.starts_with("wasmcustom.toolguard."))
                .collect();
            for (k, v) in &ours {
                let line = format!("{k}: {v}");
                if **v > 0 {
                    println!("      {line}");
                } else {
                    println!("      {}", out.dim(&line));
                }
            }
            let get = |name: &str| stats.get(&format!("wasmcustom.toolguard.{name}")).copied();
            let mut at_least = |name: &str, n: u64| {
                let v = get(name);
                r.check(
                    out,
                    v.is_some_and(|v| v >= n),
                    format!(
                        "toolguard.{name} ≥ {n} (is {})",
                        v.map_or("missing".into(), |v| v.to_string())
                    ),
                );
            };
            at_least("jwt.allowed", 4);
            at_least("jwt.denied", 2);
            at_least("jwt.denied.expired", 1);
            at_least("jwt.denied.bad_signature", 1);
            at_least("tools.allowed", 2);
            at_least("tools.denied", 1);
            at_least("streams.cut", 1);
            at_least("jwks.fetch_ok", 1);
            at_least("ratelimit.ok", 3);
            at_least("ratelimit.over_limit", 1);
        }
        Err(e) => {
            r.check(out, false, format!("reading /stats: {e}"));
        }
    }
}

/// Step 9: the trial user's fourth request in a minute is refused with 429
/// and `Retry-After`, counted by the rate-limit service, and never reaches
/// the runtime.
fn rate_limited(demo: &Demo, r: &mut Report) {
    let out = demo.out;
    title(
        r,
        out,
        9,
        "Rate limits: the trial user has 3 requests a minute (counted in the rate-limit service)",
    );
    say(
        out,
        &format!(
            "rate_limits.requests: one descriptor {{user: <sub>}} per request, checked in the service at {}",
            demo.ratelimit.addr()
        ),
    );
    let trial = demo.idp.mint(&TRIAL, 3600);
    let user = [("user", TRIAL.sub)];
    for n in 1..=3u64 {
        match client::get(&demo.url("/whoami"))
            .bearer(&trial)
            .send_blocking()
        {
            Ok(resp) => {
                println!(
                    "  → {}  x-ratelimit-limit: {}  x-ratelimit-remaining: {}  x-ratelimit-reset: {}",
                    out.bold(&resp.status.to_string()),
                    resp.header("x-ratelimit-limit").unwrap_or("-"),
                    resp.header("x-ratelimit-remaining").unwrap_or("-"),
                    resp.header("x-ratelimit-reset").unwrap_or("-"),
                );
                r.check(
                    out,
                    resp.status == 200,
                    format!("request {n}: status 200 (got {})", resp.status),
                );
                r.check_eq(
                    out,
                    &format!("request {n}: x-ratelimit-remaining"),
                    resp.header("x-ratelimit-remaining"),
                    &(3 - n).to_string(),
                );
            }
            Err(e) => {
                r.check(out, false, format!("request {n}: {e}"));
            }
        }
    }
    over_the_limit(demo, r, &trial);
    match demo.ratelimit.remaining(&user) {
        Ok(left) => {
            r.check(
                out,
                left == Some(0),
                format!("the service's counter for the trial user: 0 left (got {left:?})"),
            );
        }
        Err(e) => {
            r.check(out, false, format!("reading the service's counter: {e}"));
        }
    }
}

/// Step 9, the fourth request: 429 `rate_limited` with `Retry-After`, and
/// nothing reaches the runtime.
fn over_the_limit(demo: &Demo, r: &mut Report, trial: &str) {
    let out = demo.out;
    let before = demo.runtime.count();
    match client::get(&demo.url("/whoami"))
        .bearer(trial)
        .send_blocking()
    {
        Ok(resp) => {
            let retry_after = resp
                .header("retry-after")
                .and_then(|v| v.parse::<u64>().ok());
            println!(
                "  → {}  Retry-After: {}  {}",
                out.bold(&resp.status.to_string()),
                retry_after.map_or("-".into(), |s| s.to_string()),
                short(&resp.text(), 140)
            );
            r.check(
                out,
                resp.status == 429,
                format!("request 4: status 429 (got {})", resp.status),
            );
            let body: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
            r.check_eq(out, "error", body["error"].as_str(), "rate_limited");
            r.check(
                out,
                retry_after.is_some_and(|s| (1..=60).contains(&s)),
                format!("Retry-After is the seconds until the minute resets, 1..60 (got {retry_after:?})"),
            );
            r.check(
                out,
                body["retry_after"].as_u64() == retry_after,
                format!(
                    "the body's retry_after equals Retry-After (got {})",
                    body["retry_after"]
                ),
            );
            r.check(
                out,
                demo.runtime.count() == before,
                "the refused request never reached the runtime",
            );
        }
        Err(e) => {
            r.check(out, false, format!("request 4: {e}"));
        }
    }
}

/// The curl commands to try by hand, with ready-made tokens (also written
/// to `demo.env` in Envoy's run directory).
pub fn print_try_it(demo: &Demo) {
    let out = demo.out;
    let analyst = demo.idp.mint(&ANALYST, 3600);
    let admin = demo.idp.mint(&ADMIN, 3600);
    let chat = demo.url("/chat");
    let env_file = demo.envoy.dir().join("demo.env");
    let env = format!(
        "export TG={}\nexport ANALYST={analyst}\nexport ADMIN={admin}\n",
        demo.url("")
    );
    let wrote = std::fs::write(&env_file, &env).is_ok();
    println!("\n{}", out.bold("The demo keeps running. Try it yourself:"));
    println!(
        "  {} {}   {}",
        out.bold("open"),
        demo.url("/"),
        out.dim("# a chat page: pick a user, send a prompt, watch it stream")
    );
    if wrote {
        println!(
            "  source {}   # sets TG, ANALYST and ADMIN (tokens valid 1 h)",
            env_file.display()
        );
    } else {
        print!("{env}");
    }
    println!(
        "  {}",
        out.dim(&format!(
            "# new tokens: curl -s '{}'  (user=admin; &expires_in=-600 for an expired one)",
            demo.idp.token_url("analyst")
        ))
    );
    let lines = [
        ("an allowed tool, streamed frame by frame", format!(
            "curl -N $TG/chat -H \"Authorization: Bearer $ANALYST\" -H 'content-type: application/json' -d '{{\"prompt\":\"{PROMPT_SEARCH}\"}}'"
        )),
        ("a tool analysts may not use: cut with an error event", format!(
            "curl -N $TG/chat -H \"Authorization: Bearer $ANALYST\" -H 'content-type: application/json' -d '{{\"prompt\":\"{PROMPT_DELETE}\"}}'"
        )),
        ("the same as admin", format!(
            "curl -N $TG/chat -H \"Authorization: Bearer $ADMIN\" -H 'content-type: application/json' -d '{{\"prompt\":\"{PROMPT_DELETE}\"}}'"
        )),
        ("no token", "curl -i $TG/chat -d '{}'".to_string()),
        ("an expired token", format!(
            "curl -i $TG/chat -H \"Authorization: Bearer $(curl -s '{}&expires_in=-600')\" -d '{{}}'",
            demo.idp.token_url("analyst")
        )),
        ("what the runtime receives (try spoofing)", "curl -s $TG/whoami -H \"Authorization: Bearer $ANALYST\" -H 'X-Amzn-Bedrock-AgentCore-Runtime-Custom-User-Groups: admins'".to_string()),
        ("the trial user's 4th request in a minute: 429 with Retry-After", format!(
            "for i in 1 2 3 4; do curl -s -o /dev/null -D - $TG/whoami -H \"Authorization: Bearer $(curl -s '{}')\" | grep -iE '^HTTP|ratelimit|retry-after'; done",
            demo.idp.token_url("trial")
        )),
        ("toolguard's counters", format!("curl -s {} | grep toolguard", demo.envoy.admin_url("/stats"))),
    ];
    for (what, cmd) in lines {
        println!("  {}", out.dim(&format!("# {what}")));
        println!("  {cmd}");
    }
    let _ = chat;
    println!(
        "\n  {}",
        out.dim(&format!(
            "prompts with \"delete\" call delete_filing, with \"report\" generate_report, anything else search_filings. Envoy log: {}",
            demo.envoy.log_path().display()
        ))
    );
    println!("{}", out.bold("Ctrl-C stops everything."));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idp;

    #[test]
    fn denied_event_is_specs_text() {
        assert_eq!(
            denied_event("delete_filing"),
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"permission_error\",\"message\":\"tool \\\"delete_filing\\\" is not allowed\",\"tool\":\"delete_filing\"}}\n\n"
        );
        let data = denied_event("x");
        let json = data.lines().nth(1).unwrap().strip_prefix("data: ").unwrap();
        let v: Value = serde_json::from_str(json).unwrap();
        assert_eq!(v["error"]["message"], "tool \"x\" is not allowed");
    }

    #[test]
    fn session_binding_is_sha256_of_issuer_and_subject() {
        let s = bound_session("https://i", "u", "c".repeat(33).as_str());
        let (prefix, rest) = s.split_once('-').unwrap();
        assert_eq!(prefix.len(), 16);
        assert!(prefix.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(rest, "c".repeat(33));
    }

    #[test]
    fn tampering_keeps_header_and_signature() {
        let t = idp::id_token("https://i", &ANALYST, 60).mint();
        let x = tampered(&t);
        assert_eq!(t.split('.').next(), x.split('.').next());
        assert_eq!(t.split('.').nth(2), x.split('.').nth(2));
        assert_ne!(t, x);
    }
}
