//! Running the real Envoy: finding or installing it ([`locate`]), the process
//! handle ([`Envoy`]) and `--mode validate`.

mod admin;
pub mod locate;
mod process;
mod spawner;

use std::path::Path;

pub use locate::{envoy_command, EnvoyCommand};
pub use process::{wasm_panic_lines, Envoy, START_TIMEOUT};
pub(crate) use spawner::spawn;

use crate::{paths, Bootstrap, Error, Result};

/// Runs `envoy --mode validate -c FILE`: Envoy parses the bootstrap and
/// builds every filter, the Wasm plugin included (so its `on_configure` runs
/// and a bad plugin configuration fails here too). `Ok(output)` if valid,
/// `Err(output)` if not.
pub fn validate(config_path: &Path) -> Result<String> {
    let envoy = envoy_command()?;
    let out = envoy
        .command()
        .arg("--mode")
        .arg("validate")
        .arg("-c")
        .arg(config_path)
        .arg("--disable-hot-restart")
        .output()
        .map_err(|e| Error::new(format!("running {}: {e}", envoy.display())))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(Error::new(format!(
            "{} does not validate ({}):\n{text}",
            config_path.display(),
            out.status
        )))
    }
}

/// Writes `bootstrap` to a scratch directory and [`validate`]s it.
pub fn validate_bootstrap(bootstrap: &Bootstrap) -> Result<String> {
    let dir = paths::new_run_dir("validate")?;
    let path = bootstrap.write(&dir)?;
    let result = validate(&path);
    let _ = std::fs::remove_dir_all(&dir);
    result
}
