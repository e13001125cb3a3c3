//! The command line of `demo`, the driver behind `scripts/demo` (see the crate's root).
//!
//! ```text
//! demo [--check | --serve-only] [--fast] [--port N] [--admin-port N] [--agent-port N]
//!      [--idp-port N] [--ratelimit-port N] [--wasm FILE] [--config FILE] [--info-file FILE]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use crate::Options;

const USAGE: &str = "\
usage: demo [--check | --serve-only] [--fast] [--port N] [--admin-port N] [--agent-port N]
            [--idp-port N] [--ratelimit-port N] [--wasm FILE] [--config FILE] [--info-file FILE]
  Starts Envoy with the toolguard filter (envoy/demo.yaml), a mock identity provider and a
  mock AgentCore runtime, narrates a session of real HTTP calls, then keeps running with
  curl commands to try until Ctrl-C.
  --check         run the session without pauses and exit: 0 if every step behaved as
                  narrated, 1 if not (free ports, fast stream)
  --serve-only    start everything and wait for Ctrl-C/SIGTERM without the session (for
                  scripts/chat-page-test; 0 for a port picks a free one)
  --info-file F   once everything is up, write the addresses to F as JSON: url, chat,
                  admin, agent, issuer, envoy_log, pid (removed on exit with --serve-only)
  --fast          stream the agent's answers quickly
  --port N        Envoy's listener (default 8080 if free)      --admin-port N (default 9901)
  --agent-port N  the mock runtime (default 18081 if free)      --idp-port N   (default 18082)
  --ratelimit-port N  the rate-limit service (default 18083 if free)
  --wasm FILE     the filter module (default target/wasm32-wasip1/release/toolguard.wasm)
  --config FILE   the Envoy config template (default envoy/demo.yaml)";

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut o = Options::default();
    let port = |v: Option<String>, name: &str| -> Result<Option<u16>, String> {
        let v = v.ok_or_else(|| format!("{name} needs a value"))?;
        v.parse()
            .map(Some)
            .map_err(|_| format!("{name}: not a port: {v}"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--check" => o.check = true,
            "--fast" => o.fast = true,
            "--port" => o.port = port(args.next(), &arg)?,
            "--admin-port" => o.admin_port = port(args.next(), &arg)?,
            "--agent-port" => o.agent_port = port(args.next(), &arg)?,
            "--idp-port" => o.idp_port = port(args.next(), &arg)?,
            "--ratelimit-port" => o.ratelimit_port = port(args.next(), &arg)?,
            "--wasm" => o.wasm = Some(PathBuf::from(args.next().ok_or("--wasm needs a FILE")?)),
            "--config" => {
                o.config = Some(PathBuf::from(args.next().ok_or("--config needs a FILE")?))
            }
            "--serve-only" => o.serve_only = true,
            "--info-file" => {
                o.info_file = Some(PathBuf::from(
                    args.next().ok_or("--info-file needs a FILE")?,
                ))
            }
            "-h" | "--help" | "help" => return Err(String::new()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    if o.check && o.serve_only {
        return Err("--check and --serve-only exclude each other".into());
    }
    Ok(o)
}

pub fn main() -> ExitCode {
    match parse(std::env::args().skip(1)) {
        Ok(options) => ExitCode::from(crate::run(options).clamp(0, 255) as u8),
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("demo: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
