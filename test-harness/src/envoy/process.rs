//! A running Envoy: started from a [`Bootstrap`] (built, or a configuration
//! file), its output captured to a log file, ready once the admin API says
//! LIVE; killed when dropped.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{admin, locate, spawner};
use crate::bootstrap::Bootstrap;
use crate::wait::poll_until;
use crate::{paths, Error, Result};

/// How long Envoy gets to become ready by default.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Lines of the log shown when something goes wrong.
const TAIL_LINES: usize = 60;

pub struct Envoy {
    child: Child,
    dir: PathBuf,
    log_path: PathBuf,
    admin: SocketAddr,
    listener: SocketAddr,
    /// The listener whose address `addr`/`url` report.
    listener_name: String,
    keep_logs: bool,
}

impl Envoy {
    /// Starts Envoy on `bootstrap` and waits until it is ready (the
    /// bootstrap's start timeout, [`START_TIMEOUT`] by default). If Envoy
    /// exits first (e.g. it refused the plugin configuration) the error holds
    /// the end of its log.
    pub fn start(bootstrap: &Bootstrap) -> Result<Envoy> {
        if let Some(wasm) = bootstrap.wasm_path() {
            paths::check_wasm(&wasm)?;
        }
        let dir = paths::new_run_dir("envoy")?;
        let config = bootstrap.write(&dir)?;
        let envoy = locate::envoy_command()?;
        let log_path = dir.join("envoy.log");
        let address_file = dir.join("admin-address.txt");
        let log = File::create(&log_path)
            .map_err(|e| Error::new(format!("creating {}: {e}", log_path.display())))?;
        let log_err = log
            .try_clone()
            .map_err(|e| Error::new(format!("cloning log handle: {e}")))?;
        let mut command = envoy.command();
        command
            .arg("-c")
            .arg(&config)
            .args(bootstrap.command_line_options())
            .arg("--admin-address-path")
            .arg(&address_file)
            .envs(bootstrap.env_vars().iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        {
            use std::os::unix::process::CommandExt;
            // Own process group, so Drop can signal a `func-e run` wrapper
            // and the Envoy it starts together.
            command.process_group(0);
        }
        let child = spawner::spawn(command)
            .map_err(|e| Error::new(format!("starting {}: {e}", envoy.display())))?;
        let mut envoy = Envoy {
            child,
            dir,
            log_path,
            admin: SocketAddr::from(([127, 0, 0, 1], 0)),
            listener: SocketAddr::from(([127, 0, 0, 1], 0)),
            listener_name: bootstrap.listener_name().to_string(),
            keep_logs: std::env::var_os("TOOLGUARD_KEEP_LOGS").is_some(),
        };
        match envoy.wait_ready(&address_file, bootstrap.timeout()) {
            Ok(()) => Ok(envoy),
            Err(why) => {
                let err = Error::new(format!(
                    "Envoy did not start: {why}\nlog: {}\n--- last {TAIL_LINES} lines ---\n{}",
                    envoy.log_path.display(),
                    envoy.log_tail(TAIL_LINES)
                ));
                // The error names the log: keep it.
                envoy.keep_logs = true;
                envoy.stop();
                Err(err)
            }
        }
    }

    fn wait_ready(
        &mut self,
        address_file: &Path,
        timeout: Duration,
    ) -> std::result::Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("Envoy exited ({status}) before becoming ready"));
            }
            if self.admin.port() == 0 {
                if let Some(addr) = std::fs::read_to_string(address_file)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                {
                    self.admin = addr;
                }
            }
            if self.admin.port() != 0 {
                let live = admin::request(self.admin, "GET", "/ready")
                    .map(|r| r.status == 200 && r.body.trim() == "LIVE")
                    .unwrap_or(false);
                if live {
                    let listeners = admin::request(self.admin, "GET", "/listeners?format=json")
                        .map_err(|e| e.to_string())?;
                    self.listener = listener_address(&listeners.body, &self.listener_name)
                        .ok_or_else(|| {
                            format!(
                                "no listener {:?} in /listeners: {}",
                                self.listener_name, listeners.body
                            )
                        })?;
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(format!("not ready after {timeout:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The HTTP listener's address.
    pub fn addr(&self) -> SocketAddr {
        self.listener
    }

    pub fn port(&self) -> u16 {
        self.listener.port()
    }

    /// `http://127.0.0.1:PORT{path}` on the HTTP listener.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.listener)
    }

    /// `http://127.0.0.1:PORT{path}` on the admin listener.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    /// GET an admin page; `(status, body)`.
    pub fn admin_get(&self, path: &str) -> Result<(u16, String)> {
        admin::request(self.admin, "GET", path).map(|r| (r.status, r.body))
    }

    /// Every stat with an integer value (counters and gauges) from `/stats`.
    pub fn stats(&self) -> Result<BTreeMap<String, u64>> {
        let (status, body) = self.admin_get("/stats")?;
        if status != 200 {
            return Err(Error::new(format!("/stats answered {status}: {body}")));
        }
        Ok(parse_stats(&body))
    }

    /// `/stats/prometheus`, as text.
    pub fn prometheus(&self) -> Result<String> {
        self.admin_get("/stats/prometheus").map(|(_, body)| body)
    }

    /// A counter's value, or `None` if Envoy has no such stat. Envoy shows
    /// proxy-wasm metrics as `wasmcustom.<name>`, so `toolguard.jwt.allowed`
    /// also finds `wasmcustom.toolguard.jwt.allowed`. Panics if `/stats`
    /// cannot be read (the test cannot go on then).
    pub fn counter(&self, name: &str) -> Option<u64> {
        let stats = self
            .stats()
            .unwrap_or_else(|e| panic!("reading Envoy stats: {e}"));
        lookup_counter(&stats, name)
    }

    /// Waits until the counter is at least `at_least`; returns its value.
    pub fn wait_counter(&self, name: &str, at_least: u64, timeout: Duration) -> Result<u64> {
        let mut last = None;
        poll_until(timeout, || {
            last = self.stats().ok().and_then(|s| lookup_counter(&s, name));
            last.filter(|v| *v >= at_least)
        })
        .ok_or_else(|| {
            Error::new(format!(
                "counter {name} did not reach {at_least} within {timeout:?} (last value: {last:?})"
            ))
        })
    }

    /// Everything Envoy has logged so far (stdout and stderr, access log
    /// included).
    pub fn log_text(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log_text(), lines)
    }

    /// Waits until the log contains `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        poll_until(timeout, || self.log_text().contains(needle).then_some(())).is_some()
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The run directory (bootstrap.json, envoy.log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Keep the run directory (log, bootstrap) after the process stops. It
    /// is kept anyway when the test panics or `TOOLGUARD_KEEP_LOGS` is set.
    pub fn keep_logs(&mut self) {
        self.keep_logs = true;
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The pid of the Envoy process itself: [`Envoy::pid`] unless that is a
    /// wrapper (`func-e run`), in which case the `envoy` process of its
    /// process group. `None` if no such process is running.
    pub fn envoy_pid(&self) -> Option<u32> {
        let pid = self.child.id();
        if proc_comm(pid).is_some_and(|c| c.starts_with("envoy")) {
            return Some(pid);
        }
        std::fs::read_dir("/proc")
            .ok()?
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .find(|&p| {
                proc_pgrp(p) == Some(pid) && proc_comm(p).is_some_and(|c| c.starts_with("envoy"))
            })
    }

    /// Envoy's resident set size in KiB (`VmRSS` of `/proc/<pid>/status`), if
    /// it can be read.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.envoy_pid()?)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// CPU time in ms that Envoy has used so far, all its threads, user and
    /// system (`utime` + `stime`, fields 14 and 15 of `/proc/<pid>/stat`, in
    /// ticks of 10 ms: Linux's USER_HZ is 100 on every architecture Envoy
    /// ships for), if it can be read. Time a busy neighbour steals is not in
    /// it, though its cache effects are.
    pub fn cpu_ms(&self) -> Option<u64> {
        let pid = self.envoy_pid()?;
        let ticks = proc_stat_field(pid, 14)? + proc_stat_field(pid, 15)?;
        Some(ticks * 10)
    }

    /// Lines of the log that show the filter panicked or its Wasm VM failed:
    /// the filter's panic hook logs `toolguard: panic: panicked at ...` at
    /// critical level, and Envoy reports a trapped VM as a failed function
    /// call (`... failed: Uncaught RuntimeError: unreachable`).
    pub fn wasm_panic_lines(&self) -> Vec<String> {
        wasm_panic_lines(&self.log_text())
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM to the process group, SIGKILL after 5 s; then reaps.
    pub fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let group = -(self.child.id() as i32);
        // SAFETY: signalling our own child's process group.
        unsafe { libc::kill(group, libc::SIGTERM) };
        let exited = poll_until(Duration::from_secs(5), || {
            matches!(self.child.try_wait(), Ok(Some(_))).then_some(())
        });
        if exited.is_none() {
            // SAFETY: as above.
            unsafe { libc::kill(group, libc::SIGKILL) };
            let _ = self.child.wait();
        }
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!(
                "Envoy log kept at {}\n--- last {TAIL_LINES} lines ---\n{}",
                self.log_path.display(),
                self.log_tail(TAIL_LINES)
            );
        } else if !self.keep_logs {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// See [`Envoy::wasm_panic_lines`].
pub fn wasm_panic_lines(log: &str) -> Vec<String> {
    const SIGNS: [&str; 5] = [
        "toolguard: panic",
        "panicked",
        "RuntimeError",
        "wasm trap",
        "Wasm VM failed",
    ];
    log.lines()
        .filter(|l| SIGNS.iter().any(|s| l.contains(s)))
        .map(str::to_string)
        .collect()
}

fn proc_comm(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|c| c.trim().to_string())
}

/// The process group of `pid` (field 5 of `/proc/<pid>/stat`).
fn proc_pgrp(pid: u32) -> Option<u32> {
    u32::try_from(proc_stat_field(pid, 5)?).ok()
}

/// Numeric field `n` (counted from 1, as proc(5) does; `n` > 2) of
/// `/proc/<pid>/stat`.
fn proc_stat_field(pid: u32, n: usize) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let after = stat.rsplit_once(')')?.1;
    after
        .split_whitespace()
        .nth(n.checked_sub(3)?)?
        .parse()
        .ok()
}

fn listener_address(listeners_json: &str, name: &str) -> Option<SocketAddr> {
    let doc: Value = serde_json::from_str(listeners_json).ok()?;
    let listener = doc["listener_statuses"]
        .as_array()?
        .iter()
        .find(|l| l["name"] == name)?;
    let sa = &listener["local_address"]["socket_address"];
    let ip = sa["address"].as_str()?.parse().ok()?;
    let port = u16::try_from(sa["port_value"].as_u64()?).ok()?;
    Some(SocketAddr::new(ip, port))
}

/// `name: value` lines with integer values; histogram lines are skipped.
pub(crate) fn parse_stats(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let (name, value) = line.rsplit_once(": ")?;
            Some((name.trim().to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

fn lookup_counter(stats: &BTreeMap<String, u64>, name: &str) -> Option<u64> {
    stats
        .get(name)
        .or_else(|| stats.get(&format!("wasmcustom.{name}")))
        .copied()
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_parsing_keeps_integers_and_finds_wasm_counters() {
        let stats = parse_stats(
            "cluster.agent.upstream_rq_total: 3\n\
             wasmcustom.toolguard.jwt.allowed: 2\n\
             http.ingress.downstream_rq_time: P0(nan,1) P25(nan,2)\n\
             server.live: 1\n",
        );
        assert_eq!(stats.len(), 3);
        assert_eq!(lookup_counter(&stats, "toolguard.jwt.allowed"), Some(2));
        assert_eq!(
            lookup_counter(&stats, "cluster.agent.upstream_rq_total"),
            Some(3)
        );
        assert_eq!(lookup_counter(&stats, "toolguard.jwt.denied"), None);
    }

    #[test]
    fn listener_address_is_read_from_admin_json() {
        let json = r#"{"listener_statuses":[{"name":"other","local_address":{"socket_address":{"address":"127.0.0.1","port_value":1}}},
            {"name":"toolguard","local_address":{"socket_address":{"address":"127.0.0.1","port_value":44533}}}]}"#;
        assert_eq!(
            listener_address(json, crate::bootstrap::LISTENER_NAME),
            Some("127.0.0.1:44533".parse().unwrap())
        );
    }

    #[test]
    fn panic_lines_are_found_in_the_log() {
        let log = "[info][wasm] wasm log toolguard: JWKS fetched\n\
                   [critical][wasm] wasm log toolguard: toolguard: panic: panicked at src/x.rs:1:2:\n\
                   [error][wasm] Function: proxy_on_response_body failed: Uncaught RuntimeError: unreachable\n";
        assert_eq!(wasm_panic_lines(log).len(), 2);
        assert!(wasm_panic_lines("[info] all well\n").is_empty());
    }

    #[test]
    fn this_process_group_is_read_from_proc() {
        let me = std::process::id();
        assert!(proc_pgrp(me).is_some());
        assert!(proc_comm(me).is_some());
    }

    #[test]
    fn tail_takes_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
