//! Where things live: the repository, the built filter, the fixtures and
//! the per-run scratch directories.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::{Error, Result};

/// The repository root: the parent of this crate's manifest directory.
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The filter module Envoy loads: `$TOOLGUARD_WASM`, else the artifact
/// `scripts/build` produces (under `$CARGO_TARGET_DIR` when that is set, as
/// the script honours it).
pub fn wasm_path() -> PathBuf {
    if let Some(p) = std::env::var_os("TOOLGUARD_WASM").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|p| !p.is_empty())
        .map_or_else(|| repo_root().join("target"), PathBuf::from);
    target.join("wasm32-wasip1/release/toolguard.wasm")
}

/// [`wasm_path`], or an error that says how to get the file.
pub fn require_wasm() -> Result<PathBuf> {
    let path = wasm_path();
    check_wasm(&path)?;
    Ok(path)
}

/// Ok if the filter module exists, else an error that says how to build it.
pub fn check_wasm(path: &Path) -> Result<()> {
    if path.is_file() {
        Ok(())
    } else {
        Err(Error::new(format!(
            "the filter module {} does not exist: build it with scripts/build \
             (or set TOOLGUARD_WASM to a built toolguard.wasm)",
            path.display()
        )))
    }
}

/// The fixtures directory: `$TOOLGUARD_FIXTURES`, else `<repo>/fixtures`.
pub fn fixtures_dir() -> Result<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(p) = std::env::var_os("TOOLGUARD_FIXTURES") {
        candidates.push(PathBuf::from(p));
    }
    candidates.push(repo_root().join("fixtures"));
    candidates
        .iter()
        .find(|p| p.join("streams").is_dir())
        .cloned()
        .ok_or_else(|| {
            Error::new(format!(
                "no fixtures directory found (looked in {}); set TOOLGUARD_FIXTURES",
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

/// The bytes of one fixture, by path relative to the fixtures directory,
/// e.g. `streams/anthropic_messages_tool_use.sse`.
pub fn fixture(relative: &str) -> Result<Vec<u8>> {
    let path = fixtures_dir()?.join(relative);
    std::fs::read(&path).map_err(|e| Error::new(format!("reading fixture {}: {e}", path.display())))
}

/// A fresh directory for one Envoy run (bootstrap, logs), under the system
/// temp dir so parallel test binaries never collide.
pub(crate) fn new_run_dir(label: &str) -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir()
        .join("toolguard-harness")
        .join(format!("{label}-{}-{n}-{nanos:08x}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::new(format!("creating {}: {e}", dir.display())))?;
    Ok(dir)
}

/// Every `streams/*.sse` fixture, sorted by name: (file name, bytes).
pub fn stream_fixtures() -> Result<Vec<(String, Vec<u8>)>> {
    let dir = fixtures_dir()?.join("streams");
    let entries =
        std::fs::read_dir(&dir).map_err(|e| Error::new(format!("{}: {e}", dir.display())))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sse"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes =
                std::fs::read(&p).map_err(|e| Error::new(format!("{}: {e}", p.display())))?;
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            Ok((name, bytes))
        })
        .collect()
}
