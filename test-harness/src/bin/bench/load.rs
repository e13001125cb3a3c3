//! The load tool: `wrk` (Debian's package), driven with a Lua script that
//! either sends one fixed request or rotates through a file of tokens, and
//! reports its summary as one JSON line so nothing depends on wrk's human
//! output format.
//!
//! Why wrk: it is in Debian (no build step), keeps connections alive, costs
//! little CPU per request (one event-loop thread), and its Lua hook can give
//! every request a different `Authorization` header, which the never-seen
//! token scenario needs. h2load cannot vary a header per request, and oha
//! would have to be compiled from crates.io.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use test_harness::error::Context;
use test_harness::{Error, Result};

/// The marker before the JSON line the script prints in `done`.
const MARKER: &str = "BENCH_JSON ";

/// Sends the static request given with `-H`, unless a token file is passed
/// as the script argument: then every request carries the next token of the
/// file (`used` counts them, so the caller can tell whether any repeated).
const SCRIPT: &str = r#"
used = 0
local tokens = {}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  if args[1] == nil then
    return
  end
  for line in io.lines(args[1]) do
    if #line > 0 then
      tokens[#tokens + 1] = line
    end
  end
  if #tokens == 0 then
    error("no tokens in " .. args[1])
  end
  -- Defined only here, so the fixed-request runs keep wrk's static fast path.
  request = function()
    used = used + 1
    local token = tokens[((used - 1) % #tokens) + 1]
    return wrk.format(nil, nil, {["Authorization"] = "Bearer " .. token})
  end
end

function done(summary, latency, requests)
  local used_total = 0
  for _, t in ipairs(threads) do
    used_total = used_total + (t:get("used") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"tokens_used":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(99), used_total))
end
"#;

/// One load run.
#[derive(Clone, Debug)]
pub struct LoadSpec {
    pub url: String,
    /// Whole seconds (wrk's `-d` granularity); at least 1.
    pub secs: u32,
    pub connections: u32,
    /// `Authorization: Bearer` value sent on every request (static mode).
    pub bearer: Option<String>,
    /// A file of tokens, one per line: each request takes the next one.
    pub token_file: Option<PathBuf>,
}

/// wrk's summary of one run.
#[derive(Clone, Debug, Deserialize)]
pub struct LoadResult {
    pub requests: u64,
    pub duration_us: u64,
    pub bytes: u64,
    pub connect: u64,
    pub read: u64,
    pub write: u64,
    /// Responses with a status of 400 or more.
    pub status: u64,
    pub timeout: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    /// Requests that took a token from the token file.
    pub tokens_used: u64,
    /// Envoy's CPU time over the run, in ms (0 when it could not be read);
    /// not from wrk: the bench fills it in.
    #[serde(default)]
    pub envoy_cpu_ms: u64,
}

impl LoadResult {
    pub fn rps(&self) -> f64 {
        if self.duration_us == 0 {
            0.0
        } else {
            self.requests as f64 * 1e6 / self.duration_us as f64
        }
    }

    /// Envoy's CPU time per request in µs, or `None` if it was not measured.
    pub fn cpu_us_per_request(&self) -> Option<f64> {
        (self.envoy_cpu_ms > 0 && self.requests > 0)
            .then(|| self.envoy_cpu_ms as f64 * 1e3 / self.requests as f64)
    }

    /// Socket errors, error statuses and timeouts (5 s: far beyond any
    /// healthy answer here) together.
    pub fn errors(&self) -> u64 {
        self.connect + self.read + self.write + self.status + self.timeout
    }
}

/// The wrk binary and its Lua script on disk.
pub struct Wrk {
    program: PathBuf,
    script: PathBuf,
}

impl Wrk {
    /// Finds `wrk` on PATH and writes the script into `dir`.
    pub fn new(dir: &Path) -> Result<Wrk> {
        let program = which("wrk").ok_or_else(|| {
            Error::new(
                "wrk is not installed: run scripts/bench (it installs it) or `apt-get install -y wrk`",
            )
        })?;
        let script = dir.join("bench.lua");
        std::fs::write(&script, SCRIPT).context(|| format!("writing {}", script.display()))?;
        Ok(Wrk { program, script })
    }

    /// `wrk debian/4.1.0-3+b2 [epoll]` or similar.
    pub fn version(&self) -> String {
        version_of(&self.program)
    }
}

fn version_of(program: &Path) -> String {
    // wrk prints its version in the usage text and exits non-zero.
    Command::new(program)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(|l| l.split(" Copyright").next().unwrap_or(l).trim().to_string())
        })
        .unwrap_or_else(|| "wrk (version unknown)".into())
}

impl Wrk {
    /// Runs one load with one wrk thread (the load gets one core, Envoy's
    /// worker the other) and keep-alive connections.
    pub fn run(&self, spec: &LoadSpec) -> Result<LoadResult> {
        let mut cmd = Command::new(&self.program);
        cmd.arg("-t1")
            .arg(format!("-c{}", spec.connections.max(1)))
            .arg(format!("-d{}s", spec.secs.max(1)))
            .arg("--timeout")
            .arg("5s")
            .arg("-s")
            .arg(&self.script);
        if let Some(bearer) = &spec.bearer {
            cmd.arg("-H").arg(format!("Authorization: Bearer {bearer}"));
        }
        cmd.arg(&spec.url);
        if let Some(file) = &spec.token_file {
            cmd.arg("--").arg(file);
        }
        let out = cmd
            .output()
            .context(|| format!("running {}", self.program.display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(Error::new(format!(
                "wrk against {} failed ({}):\n{stdout}{stderr}",
                spec.url, out.status
            )));
        }
        parse(&stdout).map_err(|why| {
            Error::new(format!(
                "wrk against {}: {why}; its output was:\n{stdout}{stderr}",
                spec.url
            ))
        })
    }
}

fn parse(stdout: &str) -> std::result::Result<LoadResult, String> {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(MARKER))
        .ok_or("no summary line (did the Lua script fail?)")?;
    serde_json::from_str(line).map_err(|e| format!("bad summary line {line:?}: {e}"))
}

pub(crate) fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_line_is_found_among_wrk_output() {
        let out = "Running 1s test @ http://x\n  1 threads\nBENCH_JSON {\"requests\":10,\"duration_us\":2000000,\"bytes\":5,\"connect\":0,\"read\":1,\"write\":0,\"status\":2,\"timeout\":3,\"p50_us\":7,\"p99_us\":9,\"tokens_used\":10}\n";
        let r = parse(out).unwrap();
        assert_eq!(r.requests, 10);
        assert_eq!(r.rps(), 5.0);
        assert_eq!(r.errors(), 6);
        assert!(parse("Running 1s test").is_err());
    }
}
