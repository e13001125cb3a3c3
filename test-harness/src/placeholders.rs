//! The `${NAME}` placeholders of the hand-written Envoy configs (`envoy/*.yaml`),
//! filled before [`crate::Bootstrap::from_file`] runs one. The demo and the
//! tests of the shipped configs use them.

use crate::{Error, Result};

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
