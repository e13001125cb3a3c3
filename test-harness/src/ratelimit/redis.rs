//! A private `redis-server` for one rate-limit service: a free loopback port,
//! nothing saved to disk, killed when dropped (and with the test process, as
//! Envoy is: it is forked by the harness spawner with `PR_SET_PDEATHSIG`).
//!
//! Redis is Debian's `redis-server`; `scripts/lib/common.sh` (`ensure_redis`)
//! installs it. Nothing runs as a system service: each service starts its own.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::envoy::spawn;
use crate::{Error, Result};

/// How long a fresh `redis-server` may take to answer `PING`.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct RedisServer {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl RedisServer {
    /// Starts `redis-server` on a free loopback port and waits until it
    /// answers `PING`.
    pub(crate) fn start() -> Result<RedisServer> {
        let binary = redis_binary()?;
        // The port is chosen here and released before Redis binds it; another
        // process may take it in between, so a failed start tries a new one.
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = free_port()?;
            let log = std::env::temp_dir()
                .join(format!("toolguard-redis-{}-{port}.log", std::process::id()));
            let mut command = Command::new(&binary);
            command
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .args(["--daemonize", "no", "--loglevel", "warning"])
                .arg("--dir")
                .arg(std::env::temp_dir())
                .arg("--logfile")
                .arg(&log)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let child = spawn(command)
                .map_err(|e| Error::new(format!("starting {}: {e}", binary.display())))?;
            let mut server = RedisServer {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                log,
            };
            match server.wait_ready() {
                Ok(()) => return Ok(server),
                Err(e) => last_error = e.to_string(),
            }
        }
        Err(Error::new(format!(
            "redis-server did not start: {last_error}"
        )))
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let output = std::fs::read_to_string(&self.log).unwrap_or_default();
                return Err(Error::new(format!(
                    "redis-server on {} exited ({status}): {}",
                    self.addr,
                    output.trim()
                )));
            }
            if ping(self.addr) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::new(format!(
                    "redis-server on {} did not answer PING within {READY_TIMEOUT:?}",
                    self.addr
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

fn ping(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

fn free_port() -> Result<u16> {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Error::new(format!("finding a free loopback port: {e}")))
}

/// `$REDIS_SERVER`, else `redis-server` on `PATH`.
fn redis_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("REDIS_SERVER") {
        return Ok(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            Error::new(
                "redis-server is not installed: the rate-limit service counts in Redis. \
                 Install it with `apt-get install -y redis-server` (scripts/test, demo, \
                 soak and bench do: ensure_redis in scripts/lib/common.sh), or point \
                 $REDIS_SERVER at the binary",
            )
        })
}
