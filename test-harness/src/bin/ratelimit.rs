//! `ratelimit`: the harness's rate-limit service on its own, for the demo
//! and for trying envoy/agentcore-ratelimit.yaml locally. Envoy's RLS gRPC
//! API (h2c) on 127.0.0.1:PORT, limits from a limitador limits file, counters
//! in a private redis-server; runs until Ctrl-C or SIGTERM.
//!
//! ```text
//! ratelimit --limits FILE [--domain NAME] [--port N]
//! ```

use std::process::ExitCode;

use test_harness::ratelimit::RateLimitService;
use test_harness::runtime;

const USAGE: &str = "\
usage: ratelimit --limits FILE [--domain NAME] [--port N]
  Serves envoy.service.ratelimit.v3.RateLimitService (gRPC over h2c) on 127.0.0.1:PORT,
  counting with limitador in a private redis-server (apt-get install redis-server).
  --limits FILE  limitador's limits file (YAML: namespace, max_value, seconds, conditions,
                 variables; a descriptor's entries are descriptors[0]['KEY'])
  --domain NAME  the rate-limit domain, limitador's namespace (default agents)
  --port N       the port (default 8081; 0 picks a free one)";

struct Cli {
    limits: String,
    domain: String,
    port: u16,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Cli, String> {
    let mut limits = None;
    let mut cli = Cli {
        limits: String::new(),
        domain: "agents".into(),
        port: 8081,
    };
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--limits" => limits = Some(value()?),
            "--domain" => cli.domain = value()?,
            "--port" => {
                let v = value()?;
                cli.port = v.parse().map_err(|_| format!("--port: not a port: {v}"))?;
            }
            "-h" | "--help" | "help" => return Err(String::new()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    let path = limits.ok_or("--limits FILE is required")?;
    cli.limits = std::fs::read_to_string(&path).map_err(|e| format!("reading {path}: {e}"))?;
    Ok(cli)
}

fn main() -> ExitCode {
    let cli = match parse(std::env::args().skip(1)) {
        Ok(cli) => cli,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("ratelimit: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let service = match RateLimitService::start_on(cli.port, &cli.domain, &cli.limits) {
        Ok(service) => service,
        Err(e) => {
            eprintln!("ratelimit: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "ratelimit: domain {:?} on {} (gRPC, h2c); Ctrl-C stops",
        cli.domain,
        service.addr()
    );
    runtime::block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
        match term.as_mut() {
            Ok(term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    });
    drop(service);
    ExitCode::SUCCESS
}
