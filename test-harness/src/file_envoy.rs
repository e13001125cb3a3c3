//! Envoy run from a hand-written config file (`envoy/*.yaml`) rather than a
//! [`crate::Bootstrap`]: filling its `${NAME}` placeholders, starting Envoy
//! on it, and reading the admin API. The demo and the tests of the shipped
//! configs use it.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::envoy::envoy_command;
use crate::{client, paths, Error, Result};

/// Replaces every `${NAME}` in `text` by its value. Placeholders left over
/// (a name `vars` does not have) are an error naming them, so a config with a
/// new placeholder cannot slip through half-filled.
pub fn fill_placeholders(text: &str, vars: &[(&str, String)]) -> Result<String> {
    let mut out = text.to_string();
    for (name, value) in vars {
        out = out.replace(&format!("${{{name}}}"), value);
    }
    let left = placeholders(&out);
    if left.is_empty() {
        Ok(out)
    } else {
        Err(Error::new(format!(
            "placeholders without a value: {}",
            left.join(", ")
        )))
    }
}

/// The distinct `${NAME}` placeholders in `text`, sorted.
pub fn placeholders(text: &str) -> Vec<String> {
    let mut names = std::collections::BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                names.insert(after[..end].to_string());
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    names.into_iter().collect()
}

/// How to run a [`FileEnvoy`].
#[derive(Clone, Debug)]
pub struct FileEnvoyOptions {
    /// The listener whose address [`FileEnvoy::addr`] reports.
    pub listener: String,
    pub concurrency: u32,
    pub log_level: String,
    /// Extra environment for the Envoy process (e.g. AWS credentials).
    pub env: Vec<(String, String)>,
    pub start_timeout: Duration,
}

impl FileEnvoyOptions {
    pub fn listener(name: &str) -> FileEnvoyOptions {
        FileEnvoyOptions {
            listener: name.to_string(),
            concurrency: 2,
            log_level: "info".into(),
            env: Vec::new(),
            start_timeout: crate::envoy::START_TIMEOUT,
        }
    }

    pub fn env(mut self, name: &str, value: &str) -> FileEnvoyOptions {
        self.env.push((name.to_string(), value.to_string()));
        self
    }
}

/// A running Envoy started from a config text; killed (with its process
/// group) when dropped. Its run directory holds `envoy.yaml` and `envoy.log`.
pub struct FileEnvoy {
    child: Child,
    dir: PathBuf,
    log_path: PathBuf,
    admin: SocketAddr,
    listener: SocketAddr,
    keep_dir: bool,
}

impl FileEnvoy {
    /// Writes `config` (YAML or JSON, placeholders already filled) to a fresh
    /// run directory, starts Envoy on it and waits until the admin API says
    /// LIVE and the listener `options.listener` is bound. If Envoy exits
    /// first, the error holds the end of its log.
    pub fn start(config: &str, options: &FileEnvoyOptions) -> Result<FileEnvoy> {
        let envoy = envoy_command()?;
        let dir = paths::new_run_dir("file-envoy")?;
        let config_path = dir.join("envoy.yaml");
        std::fs::write(&config_path, config)
            .map_err(|e| Error::new(format!("writing {}: {e}", config_path.display())))?;
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
            .arg(&config_path)
            .arg("--concurrency")
            .arg(options.concurrency.to_string())
            .arg("--log-level")
            .arg(&options.log_level)
            .arg("--disable-hot-restart")
            .arg("--admin-address-path")
            .arg(&address_file)
            .envs(options.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        let child = spawn_in_own_group(command)
            .map_err(|e| Error::new(format!("starting {}: {e}", envoy.display())))?;
        let mut envoy = FileEnvoy {
            child,
            dir,
            log_path,
            admin: SocketAddr::from(([127, 0, 0, 1], 0)),
            listener: SocketAddr::from(([127, 0, 0, 1], 0)),
            keep_dir: std::env::var_os("TOOLGUARD_KEEP_LOGS").is_some(),
        };
        match envoy.wait_ready(&address_file, options) {
            Ok(()) => Ok(envoy),
            Err(why) => {
                envoy.keep_dir = true;
                let err = Error::new(format!(
                    "Envoy did not start: {why}\nlog: {}\n--- last 60 lines ---\n{}",
                    envoy.log_path.display(),
                    envoy.log_tail(60)
                ));
                envoy.stop();
                Err(err)
            }
        }
    }

    fn wait_ready(
        &mut self,
        address_file: &Path,
        options: &FileEnvoyOptions,
    ) -> std::result::Result<(), String> {
        let deadline = Instant::now() + options.start_timeout;
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
                let live = self
                    .admin_get("/ready")
                    .map(|(status, body)| status == 200 && body.trim() == "LIVE")
                    .unwrap_or(false);
                if live {
                    let (_, listeners) = self
                        .admin_get("/listeners?format=json")
                        .map_err(|e| e.to_string())?;
                    self.listener =
                        listener_address(&listeners, &options.listener).ok_or_else(|| {
                            format!(
                                "no listener {:?} in /listeners: {listeners}",
                                options.listener
                            )
                        })?;
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(format!("not ready after {:?}", options.start_timeout));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.listener
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
    }

    /// `http://ADDR{path}` on the listener.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.listener)
    }

    /// `http://ADDR{path}` on the admin API.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    /// GET on the admin API: `(status, body)`.
    pub fn admin_get(&self, path: &str) -> Result<(u16, String)> {
        let resp = client::get(&self.admin_url(path))
            .timeout(Duration::from_secs(10))
            .send_blocking()?;
        Ok((resp.status, resp.text()))
    }

    /// Every integer stat (counters and gauges) from `/stats`.
    pub fn stats(&self) -> Result<BTreeMap<String, u64>> {
        let (status, body) = self.admin_get("/stats")?;
        if status != 200 {
            return Err(Error::new(format!("/stats answered {status}: {body}")));
        }
        Ok(body
            .lines()
            .filter_map(|line| {
                let (name, value) = line.rsplit_once(": ")?;
                Some((name.trim().to_string(), value.trim().parse().ok()?))
            })
            .collect())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn log_text(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = self.log_text();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Keep the run directory after stopping.
    pub fn keep_dir(&mut self) {
        self.keep_dir = true;
    }

    /// SIGTERM to the process group, SIGKILL after 5 s; then reaps.
    pub fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let group = -(self.child.id() as i32);
        // SAFETY: signalling the process group of our own child.
        unsafe { libc::kill(group, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: as above.
        unsafe { libc::kill(group, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

impl Drop for FileEnvoy {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!(
                "Envoy log kept at {}\n--- last 60 lines ---\n{}",
                self.log_path.display(),
                self.log_tail(60)
            );
        } else if !self.keep_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Starts `command` in its own process group (so `func-e run` and the Envoy it
/// starts are signalled together), dying with the thread that started it.
fn spawn_in_own_group(mut command: Command) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    command.process_group(0);
    #[cfg(target_os = "linux")]
    // SAFETY: prctl is async-signal-safe and touches no parent memory; the
    // closure runs in the child between fork and exec.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    command.spawn()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_and_filled() {
        let text = "a: ${A}\nb: \"x${B}y\" # ${A}\nc: $D {E}";
        assert_eq!(placeholders(text), vec!["A", "B"]);
        let filled = fill_placeholders(text, &[("A", "1".into()), ("B", "2".into())]).unwrap();
        assert_eq!(filled, "a: 1\nb: \"x2y\" # 1\nc: $D {E}");
        let err = fill_placeholders(text, &[("A", "1".into())]).unwrap_err();
        assert!(err.to_string().contains("B"), "{err}");
    }
}
