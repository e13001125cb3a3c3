//! SPEC "WebSocket (AgentCore `/ws`)", black-box through the real Envoy with
//! `upgrade_configs: websocket`: the upgrade is authenticated like any request (a
//! refused one is the SPEC 401, not a socket), a `from_params` token leaves the
//! URL and arrives as `Authorization: Bearer`, the extensions offer is removed,
//! and every fixture stream's frames, replayed by a WebSocket agent as text
//! messages at many TCP chunkings, reach the client byte-identical when allowed
//! and end in a 1008 close, with nothing of the denied message, when not.
//!
//! The agent (`py/ws_agent.py`, raw asyncio) writes the exact bytes it sends and
//! what a client must receive; the client is either the `websockets` library
//! (`py/ws_client.py`) or a raw socket here, for byte-level checks.

mod common;
#[path = "common/rls.rs"]
#[allow(dead_code)] // the parts this file uses of the scripted service
mod rls;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use test_harness::{paths, Envoy};

use common::{
    assert_counter, assert_no_wasm_panic, provider_with_roles, run_python, token, ws_python,
};
use rls::{Answer, ScriptedRls};
use toolguard::ratelimit::proto::Code;

/// The agent process; killed when dropped.
struct Agent {
    child: Child,
    port: u16,
}

impl Agent {
    fn start(python: &Path) -> Agent {
        let script = paths::repo_root().join("test-harness/py/ws_agent.py");
        let mut child = Command::new(python)
            .arg(script)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting ws_agent.py");
        let mut line = Vec::new();
        let mut out = child.stdout.take().unwrap();
        let mut byte = [0u8];
        while out.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
            line.push(byte[0]);
        }
        let port = String::from_utf8_lossy(&line)
            .trim()
            .parse()
            .expect("agent port");
        Agent { child, port }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Callers in group `all` may use every tool; everyone else none.
fn start(python: &Path, max_frame_bytes: u32) -> (Agent, Envoy) {
    start_with(python, max_frame_bytes, None)
}

/// With `rls`: tool calls are charged to it (`rate_limits.tools`, per tool).
fn start_with(
    python: &Path,
    max_frame_bytes: u32,
    rls: Option<std::net::SocketAddr>,
) -> (Agent, Envoy) {
    let agent = Agent::start(python);
    let mut provider = provider_with_roles();
    provider["from_params"] = json!(["access_token"]);
    let mut config = json!({
        "providers": {"test": provider},
        "tools": {"roles": {"all": ["*"]}, "default": [], "max_frame_bytes": max_frame_bytes},
    });
    if rls.is_some() {
        config["rate_limits"] = json!({
            "service": {"cluster": "ratelimit", "domain": "agents", "timeout": "500ms"},
            "tools": [[{"key": "tool", "from": "tool"}]],
        });
    }
    let envoy = common::start_envoy_with(
        ([127, 0, 0, 1], agent.port).into(),
        &config,
        |b| match rls {
            Some(addr) => b.grpc_cluster("ratelimit", addr),
            None => b,
        },
    );
    (agent, envoy)
}

/// A stream fixture's frames' `data`, one message each.
fn messages(stream: &[u8]) -> Vec<String> {
    common::sse::frames(stream)
        .into_iter()
        .map(|f| f.data)
        .collect()
}

/// Writes `messages` as an agent script; returns its path.
fn script(dir: &Path, name: &str, messages: &[String]) -> PathBuf {
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string(messages).unwrap()).unwrap();
    path
}

/// What the agent wrote for `script`: (wire, expected, cut_at).
fn agent_output(script: &Path) -> (Vec<u8>, Vec<u8>, Vec<usize>) {
    let text = std::fs::read_to_string(format!("{}.out.json", script.display())).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let hex = |s: &Value| -> Vec<u8> {
        let s = s.as_str().unwrap();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    };
    let cut_at = v["cut_at"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap() as usize)
        .collect();
    (hex(&v["wire"]), hex(&v["expected"]), cut_at)
}

/// An unmasked close frame, built here from RFC 6455 §5.5.1.
fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let mut f = vec![0x88, (2 + reason.len()) as u8];
    f.extend_from_slice(&code.to_be_bytes());
    f.extend_from_slice(reason.as_bytes());
    f
}

/// A raw upgrade through Envoy; returns the status line and every byte after
/// the response head until Envoy closes the connection.
fn raw_session(envoy: &Envoy, path: &str, bearer: &str) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(envoy.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: agent\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Authorization: Bearer {bearer}\r\n\r\n"
    )
    .unwrap();
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head")
        + 4;
    let head = String::from_utf8_lossy(&all[..end]).into_owned();
    let status = head.lines().next().unwrap_or_default().to_owned();
    (status, all[end..].to_vec())
}

fn client(python: &Path, url: &str, headers: &[String]) -> Value {
    let mut args = vec![url];
    args.extend(headers.iter().map(String::as_str));
    let (ok, out, err) = run_python(python, "ws_client.py", &args, Duration::from_secs(60));
    assert!(ok, "ws_client.py failed: {err}");
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out} {err}"))
}

fn ws_url(envoy: &Envoy, path: &str) -> String {
    format!("ws://{}{path}", envoy.addr())
}

#[test]
fn a_refused_upgrade_gets_the_spec_401_not_a_socket() {
    let python = ws_python();
    let (_agent, envoy) = start(&python, 65536);
    let r = client(&python, &ws_url(&envoy, "/ws"), &[]);
    assert_eq!(r["status"], 401, "{r}");
    assert_eq!(r["headers"]["www-authenticate"], "Bearer");
    let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["error"], "missing_token");
    let r = client(&python, &ws_url(&envoy, "/ws?access_token=not.a.jwt"), &[]);
    assert_eq!(r["status"], 401, "{r}");
    let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        (body["error"].as_str(), body["reason"].as_str()),
        (Some("invalid_token"), Some("malformed"))
    );
    assert_no_wasm_panic(&envoy);
}

#[test]
fn a_query_token_arrives_as_authorization_bearer_and_no_extension_is_offered() {
    let python = ws_python();
    let (_agent, envoy) = start(&python, 65536);
    let t = token(&["all"]);
    let r = client(
        &python,
        &ws_url(&envoy, &format!("/ws?x=1&access_token={t}")),
        &[],
    );
    let seen: Value = serde_json::from_str(r["messages"][0].as_str().unwrap()).unwrap();
    assert_eq!(
        seen["seen"]["path"], "/ws?x=1",
        "the token left the URL: {r}"
    );
    assert_eq!(seen["seen"]["authorization"], format!("Bearer {t}"));
    assert_eq!(
        seen["seen"]["extensions"],
        Value::Null,
        "the deflate offer was removed"
    );
    assert_eq!(r["code"], 1000);
    // From a header, the same.
    let r = client(
        &python,
        &ws_url(&envoy, "/ws"),
        &[format!("Authorization=Bearer {t}")],
    );
    let seen: Value = serde_json::from_str(r["messages"][0].as_str().unwrap()).unwrap();
    assert_eq!(seen["seen"]["authorization"], format!("Bearer {t}"));
    assert_eq!(seen["seen"]["extensions"], Value::Null);
}

#[test]
fn allowed_fixture_messages_pass_byte_identical_at_many_chunkings() {
    let python = ws_python();
    let (_agent, envoy) = start(&python, 65536);
    let dir = envoy.dir().to_path_buf();
    let t = token(&["all"]);
    for (name, stream) in common::stream_fixtures() {
        let script = script(&dir, &name, &messages(&stream));
        let small = stream.len() < 8192;
        for chunk in [0usize, 1, 7, 61, 1000]
            .into_iter()
            .filter(|c| small || *c != 1)
        {
            let path = format!("/ws?script={}&chunk={chunk}", script.display());
            let (status, got) = raw_session(&envoy, &path, &t);
            assert!(status.contains(" 101 "), "{name}: {status}");
            let (_, expected, _) = agent_output(&script);
            let mut want = expected.clone();
            want.extend_from_slice(&close_frame(1000, ""));
            assert!(
                got == want,
                "{name} chunk {chunk}: got {} bytes, want {}",
                got.len(),
                want.len()
            );
        }
    }
    assert_no_wasm_panic(&envoy);
}

#[test]
fn a_denied_tool_call_closes_1008_and_not_one_byte_of_its_message_arrives() {
    let python = ws_python();
    let (_agent, envoy) = start(&python, 65536);
    let dir = envoy.dir().to_path_buf();
    let t = token(&[]);
    let mut denied = 0;
    for (name, stream) in common::stream_fixtures() {
        let Some((index, _, names)) = common::sse::first_tool_frame(&stream) else {
            continue;
        };
        let tool = &names[0];
        let script = script(&dir, &name, &messages(&stream));
        for chunk in [0usize, 7, 1000] {
            let path = format!("/ws?script={}&chunk={chunk}", script.display());
            let (status, got) = raw_session(&envoy, &path, &t);
            assert!(status.contains(" 101 "), "{name}: {status}");
            let (_, expected, cut_at) = agent_output(&script);
            // Message 0 is the agent's `seen`; the fixture's follow.
            let mut want = expected[..cut_at[index + 1]].to_vec();
            want.extend_from_slice(&close_frame(
                1008,
                &format!("tool \"{tool}\" is not allowed"),
            ));
            assert!(
                got == want,
                "{name} chunk {chunk}: got {} bytes ending {:?}, want {} ending {:?}",
                got.len(),
                String::from_utf8_lossy(&got[got.len().saturating_sub(80)..]),
                want.len(),
                String::from_utf8_lossy(&want[want.len().saturating_sub(80)..])
            );
            denied += 1;
        }
        // The library client sees the messages before the call, then 1008.
        let url = ws_url(&envoy, &format!("/ws?script={}&chunk=61", script.display()));
        let r = client(&python, &url, &[format!("Authorization=Bearer {t}")]);
        let msgs: Vec<&str> = r["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        let fixture = messages(&stream);
        assert_eq!(
            msgs[1..],
            fixture[..index]
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()[..],
            "{name}"
        );
        assert_eq!(r["code"], 1008, "{name}: {r}");
        assert_eq!(r["reason"], format!("tool \"{tool}\" is not allowed"));
        denied += 1;
    }
    assert_counter(&envoy, "toolguard.tools.denied", denied);
    assert_counter(&envoy, "toolguard.streams.cut", denied);
    assert_no_wasm_panic(&envoy);
}

#[test]
fn a_message_over_max_frame_bytes_closes_1009() {
    let python = ws_python();
    let (_agent, envoy) = start(&python, 1024);
    let dir = envoy.dir().to_path_buf();
    let big = format!("{{\"text\":\"{}\"}}", "a".repeat(2000));
    let script = script(&dir, "big", &["{\"text\":\"small\"}".to_owned(), big]);
    let url = ws_url(
        &envoy,
        &format!("/ws?script={}&chunk=100", script.display()),
    );
    let r = client(
        &python,
        &url,
        &[format!("Authorization=Bearer {}", token(&["all"]))],
    );
    assert_eq!(
        r["messages"].as_array().unwrap().len(),
        2,
        "seen and the small one: {r}"
    );
    assert_eq!(r["code"], 1009, "{r}");
    assert_eq!(r["reason"], "message exceeds max_frame_bytes (1024 bytes)");
    assert_counter(&envoy, "toolguard.streams.cut", 1);
}

/// SPEC "Rate limits", `tools`, on `/ws`: the message with an allowed tool call
/// is held until the service answers; over the limit, the client gets the
/// messages before it and a 1008 close with the over-limit reason, as for a
/// denied tool.
#[test]
fn a_tool_call_over_its_quota_closes_1008_and_one_within_it_arrives_whole() {
    let python = ws_python();
    let (name, stream) = common::stream_fixtures()
        .into_iter()
        .find(|(_, s)| common::sse::first_tool_frame(s).is_some())
        .expect("a fixture with a tool call");
    let (index, _, names) = common::sse::first_tool_frame(&stream).unwrap();
    let tool = names[0].clone();
    let t = token(&["all"]);
    for over in [false, true] {
        let rls = ScriptedRls::start(move |_| {
            if over {
                Answer::Verdict(Code::OverLimit, vec![(Code::OverLimit, 5, 0, 30)])
            } else {
                Answer::Verdict(Code::Ok, vec![])
            }
        });
        let (_agent, envoy) = start_with(&python, 65536, Some(rls.addr()));
        let script = script(envoy.dir(), &name, &messages(&stream));
        for chunk in [0usize, 7, 1000] {
            let path = format!("/ws?script={}&chunk={chunk}", script.display());
            let (status, got) = raw_session(&envoy, &path, &t);
            assert!(status.contains(" 101 "), "{name}: {status}");
            let (_, expected, cut_at) = agent_output(&script);
            let want = if over {
                let mut w = expected[..cut_at[index + 1]].to_vec();
                w.extend_from_slice(&close_frame(
                    1008,
                    &format!("tool \"{tool}\" is over its rate limit"),
                ));
                w
            } else {
                let mut w = expected.clone();
                w.extend_from_slice(&close_frame(1000, ""));
                w
            };
            assert!(
                got == want,
                "{name} over={over} chunk {chunk}: got {} bytes ending {:?}, want {} ending {:?}",
                got.len(),
                String::from_utf8_lossy(&got[got.len().saturating_sub(80)..]),
                want.len(),
                String::from_utf8_lossy(&want[want.len().saturating_sub(80)..])
            );
        }
        let charged: Vec<String> = rls
            .requests()
            .iter()
            .flat_map(|r| &r.descriptors)
            .flat_map(|d| &d.entries)
            .filter(|e| e.key == "tool")
            .map(|e| e.value.clone())
            .collect();
        assert!(
            !charged.is_empty() && charged.iter().all(|n| names.contains(n)),
            "charged {charged:?}, calls {names:?}"
        );
        if over {
            assert_counter(&envoy, "toolguard.ratelimit.over_limit", 3);
            assert_counter(&envoy, "toolguard.streams.cut", 3);
        }
        assert_no_wasm_panic(&envoy);
    }
}
