//! A claim's place in a token's payload, as `roles_claim` and `claims_to_headers` name it.

/// Where a claim is: `a.b` walks into objects, a name holding `:` is one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath {
    /// As written in the configuration, for messages and header values.
    pub text: String,
    pub segments: Vec<String>,
}

impl ClaimPath {
    pub fn parse(text: &str) -> Result<ClaimPath, String> {
        if text.is_empty() {
            return Err("a claim name cannot be empty".into());
        }
        // Namespaced claims (`cognito:groups`, `https://example.com/roles`) contain dots
        // that are not object steps: a `:` marks the whole name as one key.
        let segments: Vec<String> = if text.contains(':') {
            vec![text.to_owned()]
        } else {
            text.split('.').map(str::to_owned).collect()
        };
        if segments.iter().any(String::is_empty) {
            return Err(format!("{text:?} has an empty step between dots"));
        }
        Ok(ClaimPath {
            text: text.to_owned(),
            segments,
        })
    }
}
