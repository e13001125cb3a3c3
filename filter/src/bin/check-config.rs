//! `scripts/check-config FILE...`: the filter's own configuration check, run natively.
//! Prints the same message `on_configure` logs and exits non-zero on the first bad file.

use std::process::ExitCode;

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
                Ok(config) => println!(
                    "{file}: ok ({} provider(s), tools {}, agentcore {})",
                    config.providers.len(),
                    if config.tools.is_some() { "on" } else { "off" },
                    if config.agentcore.is_some() {
                        "on"
                    } else {
                        "off"
                    },
                ),
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
