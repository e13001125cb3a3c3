//! `scripts/check-config FILE...`: the filter's own configuration check, run natively.
//! Prints the same message `on_configure` logs and exits non-zero on the first bad file.

use std::process::ExitCode;

/// `allow_on_headers_stop_iteration` only works when Envoy's Wasm `PluginConfig`
/// sets the field of the same name too; the check cannot see that part, so it says so.
fn hold_note(config: &toolguard::config::Config) -> &'static str {
    match (config.tools.is_some(), config.allow_on_headers_stop_iteration) {
        (_, true) => "allow_on_headers_stop_iteration: set `allow_on_headers_stop_iteration: true` in the Wasm filter's PluginConfig as well (Envoy 1.35+), or requests whose body is judged will hang",
        (true, false) => "MCP calls: without allow_on_headers_stop_iteration (here and in the Wasm PluginConfig, Envoy 1.35+) the headers of a refused call reach the upstream before it is reset",
        (false, false) => "no request bodies are judged (no tools)",
    }
}

fn main() -> ExitCode {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        eprintln!("usage: check-config FILE [FILE...]");
        return ExitCode::from(2);
    }
    let mut failed = false;
    for file in &files {
        match std::fs::read(file) {
            Err(e) => {
                eprintln!("{file}: cannot read: {e}");
                failed = true;
            }
            Ok(bytes) => match toolguard::config::Config::from_json(&bytes) {
                Ok(config) => {
                    println!(
                        "{file}: ok ({} provider(s), tools {}, agentcore {})",
                        config.providers.len(),
                        if config.tools.is_some() { "on" } else { "off" },
                        if config.agentcore.is_some() {
                            "on"
                        } else {
                            "off"
                        },
                    );
                    println!("{file}: {}", hold_note(&config));
                }
                Err(e) => {
                    eprintln!("{file}: toolguard: invalid configuration: {e}");
                    failed = true;
                }
            },
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
