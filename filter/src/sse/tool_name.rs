//! The name a tool call or a `tools/call` request carries, as far as it can be read.

use crate::json::Json;
use crate::policy::{Allowlist, ToolPattern};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ToolName {
    /// A JSON string, escapes decoded: compared to the allowlist as it is.
    Named(String),
    /// The shape of a tool call with no usable name: the name is missing, is not a
    /// string, or the text could not be parsed. It cannot be checked, so only an
    /// allowlist holding `*` (which allows everything) lets it through. The string
    /// is what the error event shows: empty, or the compact JSON of the odd value.
    Unreadable(String),
}

impl ToolName {
    /// The name from one JSON value found where a name belongs.
    pub fn from_json(value: &Json) -> ToolName {
        match value {
            Json::String(s) => ToolName::Named(s.clone()),
            other => ToolName::Unreadable(other.to_compact_string()),
        }
    }

    /// Every value of `key` in `object`: a tool call whose shape was recognised
    /// must name its tool, so no value at all is an unreadable name.
    pub fn all_of(object: &Json, key: &str) -> Vec<ToolName> {
        let names: Vec<ToolName> = object.get_all(key).map(ToolName::from_json).collect();
        if names.is_empty() {
            vec![ToolName::Unreadable(String::new())]
        } else {
            names
        }
    }

    pub fn is_allowed(&self, allowlist: &Allowlist) -> bool {
        match self {
            ToolName::Named(name) => allowlist.allows(name),
            ToolName::Unreadable(_) => allowlist.patterns().contains(&ToolPattern::Any),
        }
    }

    /// The name as the error event and the logs show it.
    pub fn display(&self) -> &str {
        match self {
            ToolName::Named(s) | ToolName::Unreadable(s) => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[test]
    #[wasm_bindgen_test]
    fn unreadable_names_pass_only_an_allow_all_list() {
        let odd = ToolName::from_json(&Json::parse(b"42").unwrap());
        assert_eq!(odd, ToolName::Unreadable("42".into()));
        assert!(!odd.is_allowed(&Allowlist::of(&["42", "4*"])));
        assert!(odd.is_allowed(&Allowlist::of(&["*"])));
        let missing = ToolName::all_of(&Json::parse(b"{}").unwrap(), "name");
        assert_eq!(missing, [ToolName::Unreadable(String::new())]);
    }

    #[test]
    #[wasm_bindgen_test]
    fn names_compare_exactly_after_json_decoding() {
        let obj = Json::parse(br#"{"name":"get\u005fweather","name":"x"}"#).unwrap();
        let names = ToolName::all_of(&obj, "name");
        assert_eq!(
            names,
            [
                ToolName::Named("get_weather".into()),
                ToolName::Named("x".into())
            ]
        );
        assert!(names[0].is_allowed(&Allowlist::of(&["get_weather"])));
        assert!(!names[1].is_allowed(&Allowlist::of(&["get_weather"])));
    }
}
