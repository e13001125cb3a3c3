//! SPEC "Plugin configuration": read from its JSON tree, then validated into [`Config`].

mod duration;
mod error;
mod limits;
mod model;
mod raw;
mod reader;
mod validate;

pub use duration::parse_duration;
pub use error::ConfigError;
pub use model::*;

use crate::json::Json;

impl Config {
    /// Parses and validates the plugin configuration. The error names the field path.
    pub fn from_json(bytes: &[u8]) -> Result<Config, ConfigError> {
        let json =
            Json::parse(bytes).map_err(|e| ConfigError::new("", format!("not valid JSON: {e}")))?;
        validate::validate(raw::RawConfig::read(&json)?)
    }
}

#[cfg(test)]
mod tests;
