//! `scripts/demo`: a real Envoy with the toolguard filter (`envoy/demo.yaml`)
//! between a client and a mock AgentCore runtime ([`runtime`]), with a mock
//! Cognito-like identity provider ([`idp`]); a narrated session of real HTTP
//! calls ([`session`]) that also checks every step; then, unless `--check`,
//! it keeps running with curl commands to try until Ctrl-C. `--serve-only`
//! skips the session (for scripts/chat-page-test, which drives the chat page
//! in a browser); `--info-file` writes the addresses as JSON once all is up.

mod cli;
mod idp;
mod runtime;
mod script;
mod session;
mod ws;

use std::io::IsTerminal;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use test_harness::placeholders::fill_placeholders;
use test_harness::ratelimit::RateLimitService;
use test_harness::{paths, runtime as harness_runtime, Error, Result};
use test_harness::{Bootstrap, Envoy};

use self::idp::MockIdp;
use self::runtime::MockRuntime;
use self::script::Pacing;

/// The listener name in `envoy/demo.yaml`.
pub const LISTENER: &str = "demo";
/// The rate-limit domain in `envoy/demo.yaml` (the namespace of its limits).
pub const RATELIMIT_DOMAIN: &str = "agents";

/// Command-line choices.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Run the session without pauses, exit non-zero if any step misbehaves.
    pub check: bool,
    /// Fast pacing of the agent's stream (the default with `check`).
    pub fast: bool,
    /// Ports; `None`: the defaults when free (8080, 9901, 18081, 18082), any
    /// free port otherwise; `--check` always takes free ports.
    pub port: Option<u16>,
    pub admin_port: Option<u16>,
    pub agent_port: Option<u16>,
    pub idp_port: Option<u16>,
    pub ratelimit_port: Option<u16>,
    pub wasm: Option<PathBuf>,
    pub config: Option<PathBuf>,
    /// Start everything and wait for Ctrl-C/SIGTERM without running the
    /// session (Envoy's run directory is removed on exit).
    pub serve_only: bool,
    /// Where to write the addresses as JSON once everything is up (see
    /// [`write_info`]).
    pub info_file: Option<PathBuf>,
}

/// Terminal output: bold titles and green/red marks when stdout is a terminal.
#[derive(Clone, Copy, Debug)]
pub struct Out {
    color: bool,
}

impl Out {
    pub fn new() -> Out {
        Out {
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    pub fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }
    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }
    pub fn green(&self, text: &str) -> String {
        self.paint("32", text)
    }
    pub fn red(&self, text: &str) -> String {
        self.paint("31", text)
    }
    pub fn yellow(&self, text: &str) -> String {
        self.paint("33", text)
    }
    pub fn cyan(&self, text: &str) -> String {
        self.paint("36", text)
    }
}

impl Default for Out {
    fn default() -> Self {
        Out::new()
    }
}

/// Everything the demo runs.
pub struct Demo {
    pub idp: MockIdp,
    pub runtime: MockRuntime,
    /// The rate-limit service (limits: envoy/ratelimit/demo-limits.yaml).
    pub ratelimit: RateLimitService,
    pub envoy: Envoy,
    pub out: Out,
    pub check: bool,
}

impl Demo {
    /// `http://127.0.0.1:PORT{path}` on Envoy.
    pub fn url(&self, path: &str) -> String {
        self.envoy.url(path)
    }
}

/// The process group of the running Envoy, for the signal handler.
static ENVOY_GROUP: AtomicI32 = AtomicI32::new(0);

/// Removed by the signal handler after Envoy stopped (`--serve-only`: Envoy's
/// run directory; the info file).
static REMOVE_ON_EXIT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Picks `wanted` if given, else `default` if it is free, else 0 (any).
fn port_for(wanted: Option<u16>, default: u16, check: bool) -> u16 {
    if let Some(p) = wanted {
        return p;
    }
    if check {
        return 0;
    }
    if TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], default))).is_ok() {
        default
    } else {
        0
    }
}

/// Starts the identity provider, the runtime and Envoy on `envoy/demo.yaml`.
pub fn start(options: &Options, out: Out) -> Result<Demo> {
    let pacing = if options.fast || options.check {
        Pacing::FAST
    } else {
        Pacing::NARRATED
    };
    let idp = MockIdp::start(port_for(options.idp_port, 18082, options.check))?;
    let runtime = MockRuntime::start(port_for(options.agent_port, 18081, options.check), pacing)?;
    let limits_path = paths::repo_root().join("envoy/ratelimit/demo-limits.yaml");
    let limits = std::fs::read_to_string(&limits_path)
        .map_err(|e| Error::new(format!("reading {}: {e}", limits_path.display())))?;
    let ratelimit = RateLimitService::start_on(
        port_for(options.ratelimit_port, 18083, options.check),
        RATELIMIT_DOMAIN,
        &limits,
    )
    .map_err(|e| Error::new(format!("{}: {e}", limits_path.display())))?;
    let wasm = match &options.wasm {
        Some(w) => w.clone(),
        None => paths::require_wasm()?,
    };
    paths::check_wasm(&wasm)?;
    let config_path = options
        .config
        .clone()
        .unwrap_or_else(|| paths::repo_root().join("envoy/demo.yaml"));
    let template = std::fs::read_to_string(&config_path)
        .map_err(|e| Error::new(format!("reading {}: {e}", config_path.display())))?;
    let port = port_for(options.port, 8080, options.check);
    let admin_port = port_for(options.admin_port, 9901, options.check);
    let config = fill_placeholders(
        &template,
        &[
            ("LISTEN_PORT", port.to_string()),
            ("ADMIN_PORT", admin_port.to_string()),
            ("TOOLGUARD_WASM", wasm.display().to_string()),
            ("IDP_ADDRESS", idp.addr().ip().to_string()),
            ("IDP_PORT", idp.addr().port().to_string()),
            ("AGENT_ADDRESS", runtime.addr().ip().to_string()),
            ("AGENT_PORT", runtime.addr().port().to_string()),
            ("RATELIMIT_ADDRESS", ratelimit.addr().ip().to_string()),
            ("RATELIMIT_PORT", ratelimit.addr().port().to_string()),
        ],
    )
    .map_err(|e| Error::new(format!("{}: {e}", config_path.display())))?;
    let issuer = idp.issuer().to_string();
    runtime.serve_page(std::sync::Arc::new(move || {
        serde_json::json!({
            "analyst": idp::id_token(&issuer, &idp::ANALYST, 3600).mint(),
            "admin": idp::id_token(&issuer, &idp::ADMIN, 3600).mint(),
            "expired": idp::id_token(&issuer, &idp::ANALYST, -600).mint(),
        })
    }));
    let envoy = Envoy::start(&Bootstrap::from_file(config, LISTENER))?;
    ENVOY_GROUP.store(envoy.pid() as i32, Ordering::SeqCst);
    Ok(Demo {
        idp,
        runtime,
        ratelimit,
        envoy,
        out,
        check: options.check,
    })
}

/// Ctrl-C or SIGTERM at any time: stop Envoy (its whole process group) and
/// exit. The mock servers live in this process and end with it.
fn install_signal_handler() {
    harness_runtime::handle().spawn(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return,
        };
        let mut hup = signal(SignalKind::hangup()).ok();
        let hangup = async {
            match hup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
            _ = hangup => {}
        }
        stop_envoy_group();
        for path in std::mem::take(&mut *test_harness::wait::lock(&REMOVE_ON_EXIT)) {
            let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
        }
        println!("\nstopped: Envoy, the mock runtime and the mock identity provider.");
        std::process::exit(130);
    });
}

fn stop_envoy_group() {
    let group = ENVOY_GROUP.swap(0, Ordering::SeqCst);
    if group > 0 {
        // SAFETY: signalling the process group of our own Envoy child.
        unsafe { libc::kill(-group, libc::SIGTERM) };
        for _ in 0..100 {
            // SAFETY: signal 0 only checks whether the group still exists.
            if unsafe { libc::kill(-group, 0) } != 0 {
                return;
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        // SAFETY: as above.
        unsafe { libc::kill(-group, libc::SIGKILL) };
    }
}

/// Writes `{"url", "chat", "admin", "agent", "issuer", "envoy_log", "pid"}`
/// to `path` (`url`: the chat page, `http://127.0.0.1:PORT/`; `chat`: its
/// POST endpoint; `admin`, `agent`: base URLs; `pid`: this process), through a
/// temporary file and a rename so a reader never sees half of it.
pub fn write_info(demo: &Demo, path: &Path) -> Result<()> {
    let info = serde_json::json!({
        "url": demo.url("/"),
        "chat": demo.url("/chat"),
        "admin": demo.envoy.admin_url(""),
        "agent": format!("http://{}", demo.runtime.addr()),
        "issuer": demo.idp.issuer(),
        "envoy_log": demo.envoy.log_path(),
        "pid": std::process::id(),
    });
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, format!("{info:#}\n"))
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| Error::new(format!("writing {}: {e}", path.display())))
}

/// The whole demo; returns the process exit code.
pub fn run(options: Options) -> i32 {
    let out = Out::new();
    install_signal_handler();
    println!(
        "{}",
        out.bold("toolguard demo: Envoy + toolguard.wasm in front of a mock AgentCore runtime")
    );
    let mut demo = match start(&options, out) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("demo: {e}");
            return 2;
        }
    };
    let envoy_cmd = test_harness::envoy::envoy_command()
        .map(|c| c.display())
        .unwrap_or_default();
    println!(
        "  envoy            {}  (admin {}, {envoy_cmd})",
        demo.envoy.url(""),
        demo.envoy.admin_url("")
    );
    println!(
        "  agent runtime    http://{}  (mock AgentCore runtime, Strands SSE)",
        demo.runtime.addr()
    );
    println!(
        "  identity (IdP)   {}  (mock Cognito user pool; JWKS {})",
        demo.idp.issuer(),
        demo.idp.jwks_uri()
    );
    println!(
        "  rate limits      {}  (Envoy's rate-limit gRPC API over limitador + Redis; envoy/ratelimit/demo-limits.yaml)",
        demo.ratelimit.addr()
    );
    println!("  envoy log        {}", demo.envoy.log_path().display());
    println!(
        "  config           envoy/demo.yaml: roles analysts → search_filings, generate_report; admins → *"
    );
    if let Some(path) = &options.info_file {
        if let Err(e) = write_info(&demo, path) {
            eprintln!("demo: {e}");
            return 2;
        }
    }
    if options.serve_only {
        let mut remove = test_harness::wait::lock(&REMOVE_ON_EXIT);
        remove.push(demo.envoy.dir().to_path_buf());
        remove.extend(options.info_file.iter().cloned());
        drop(remove);
        println!(
            "\n{} {}  {}",
            out.bold("serving (--serve-only): open"),
            demo.url("/"),
            out.dim("Ctrl-C or SIGTERM stops everything.")
        );
        return wait_for_signal(&mut demo);
    }

    let report = session::run(&demo);
    let failed = report.failures.len();
    println!();
    if failed == 0 {
        println!(
            "{}",
            out.green(&format!("all {} checks passed", report.checks))
        );
    } else {
        println!(
            "{}",
            out.red(&format!("{failed} of {} checks failed:", report.checks))
        );
        for f in &report.failures {
            println!("  {} {f}", out.red("✗"));
        }
    }
    if options.check {
        if failed > 0 {
            demo.envoy.keep_logs();
            println!("Envoy log kept: {}", demo.envoy.log_path().display());
        }
        drop(demo);
        ENVOY_GROUP.store(0, Ordering::SeqCst);
        return if failed == 0 { 0 } else { 1 };
    }
    demo.envoy.keep_logs();
    session::print_try_it(&demo);
    wait_for_signal(&mut demo)
}

/// Waits for Ctrl-C or SIGTERM (the signal handler exits), or for Envoy to
/// die (returns 1).
fn wait_for_signal(demo: &mut Demo) -> i32 {
    loop {
        std::thread::sleep(Duration::from_millis(500));
        // A group of 0: the signal handler is stopping Envoy and will exit.
        if !demo.envoy.is_running() && ENVOY_GROUP.load(Ordering::SeqCst) != 0 {
            eprintln!("Envoy exited; last log lines:\n{}", demo.envoy.log_tail(30));
            ENVOY_GROUP.store(0, Ordering::SeqCst);
            return 1;
        }
    }
}

fn main() -> ExitCode {
    cli::main()
}
