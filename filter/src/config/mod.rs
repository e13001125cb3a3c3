//! SPEC "Plugin configuration": parsed with serde, then validated into [`Config`].

mod duration;
mod error;
mod model;
mod raw;
mod validate;

pub use duration::parse_duration;
pub use error::ConfigError;
pub use model::*;

impl Config {
    /// Parses and validates the plugin configuration. The error names the field path.
    pub fn from_json(bytes: &[u8]) -> Result<Config, ConfigError> {
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        let raw: raw::RawConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            ConfigError::new(path, serde_message(e.inner()))
        })?;
        validate::validate(raw)
    }
}

/// serde_json's message, without the line/column suffix when it has one, which is
/// replaced by the field path; a document that is not JSON keeps its position.
fn serde_message(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => format!("not valid JSON: {e}"),
        Category::Data => {
            let text = e.to_string();
            match text.rfind(" at line ") {
                Some(i) => text.get(..i).unwrap_or(&text).to_owned(),
                None => text,
            }
        }
    }
}

#[cfg(test)]
mod tests;
