//! Reads the configuration's JSON tree field by field, naming the field path of
//! whatever is wrong (`providers.p.algorithms[0]`).
//!
//! Hand-written rather than serde-derived: the derived deserializers and
//! serde_path_to_error were about a sixth of the module Envoy loads, for a
//! document read once per configuration. [`Json`] keeps duplicate members, so
//! a field given twice is refused here instead of one copy silently winning.

use super::error::ConfigError;
use crate::json::Json;

pub type Result<T> = std::result::Result<T, ConfigError>;

/// `parent.name`, or `name` at the top level.
pub fn field_path(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

/// One JSON object whose fields are all known, each given once.
pub struct Object<'a> {
    path: &'a str,
    members: &'a [(String, Json)],
}

impl<'a> Object<'a> {
    /// `value` as an object with no fields but `known`.
    pub fn new(value: &'a Json, path: &'a str, known: &[&str]) -> Result<Object<'a>> {
        let members = as_members(value, path)?;
        for (i, (name, _)) in members.iter().enumerate() {
            if !known.contains(&name.as_str()) {
                let expected = known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(ConfigError::new(
                    field_path(path, name),
                    format!("unknown field `{name}`, expected one of {expected}"),
                ));
            }
            if members.iter().take(i).any(|(earlier, _)| earlier == name) {
                return Err(ConfigError::new(
                    field_path(path, name),
                    format!("duplicate field `{name}`"),
                ));
            }
        }
        Ok(Object { path, members })
    }

    /// The field's value and its path, if given (`null` counts as not given,
    /// as it did for serde's `Option` fields).
    pub fn get(&self, name: &str) -> Option<(&'a Json, String)> {
        self.members
            .iter()
            .find(|(k, _)| k == name)
            .filter(|(_, v)| !matches!(v, Json::Null))
            .map(|(_, v)| (v, field_path(self.path, name)))
    }

    pub fn required<T>(&self, name: &str, read: impl Fn(&Json, &str) -> Result<T>) -> Result<T> {
        match self.get(name) {
            Some((value, path)) => read(value, &path),
            None => Err(ConfigError::new(
                self.path,
                format!("missing field `{name}`"),
            )),
        }
    }

    pub fn optional<T>(
        &self,
        name: &str,
        read: impl Fn(&Json, &str) -> Result<T>,
    ) -> Result<Option<T>> {
        self.get(name)
            .map(|(value, path)| read(value, &path))
            .transpose()
    }
}

fn as_members<'a>(value: &'a Json, path: &str) -> Result<&'a [(String, Json)]> {
    match value {
        Json::Object(members) => Ok(members),
        other => Err(wrong_type(other, path, "an object")),
    }
}

fn wrong_type(value: &Json, path: &str, expected: &str) -> ConfigError {
    let found = match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    };
    ConfigError::new(path, format!("invalid type: {found}, expected {expected}"))
}

pub fn string(value: &Json, path: &str) -> Result<String> {
    match value {
        Json::String(s) => Ok(s.clone()),
        other => Err(wrong_type(other, path, "a string")),
    }
}

pub fn boolean(value: &Json, path: &str) -> Result<bool> {
    match value {
        Json::Bool(b) => Ok(*b),
        other => Err(wrong_type(other, path, "a boolean")),
    }
}

pub fn unsigned(value: &Json, path: &str) -> Result<u64> {
    match value {
        Json::Number(n) => n.as_u64().ok_or_else(|| {
            ConfigError::new(
                path,
                format!("invalid value: {n}, expected a whole number ≥ 0"),
            )
        }),
        other => Err(wrong_type(other, path, "a whole number ≥ 0")),
    }
}

pub fn list<T>(
    value: &Json,
    path: &str,
    read: impl Fn(&Json, &str) -> Result<T>,
) -> Result<Vec<T>> {
    match value {
        Json::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| read(item, &format!("{path}[{i}]")))
            .collect(),
        other => Err(wrong_type(other, path, "an array")),
    }
}

pub fn strings(value: &Json, path: &str) -> Result<Vec<String>> {
    list(value, path, string)
}

/// An object of free-form names, in document order, each name given once.
/// Order matters: header mappings are dropped "in config order" when over the limits.
pub fn ordered_map<T>(
    value: &Json,
    path: &str,
    read: impl Fn(&Json, &str) -> Result<T>,
) -> Result<Vec<(String, T)>> {
    let members = as_members(value, path)?;
    let mut entries: Vec<(String, T)> = Vec::with_capacity(members.len());
    for (name, member) in members {
        let member_path = field_path(path, name);
        if entries.iter().any(|(k, _)| k == name) {
            return Err(ConfigError::new(
                member_path,
                format!("{name:?} is given twice"),
            ));
        }
        entries.push((name.clone(), read(member, &member_path)?));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn json(text: &str) -> Json {
        Json::parse(text.as_bytes()).unwrap()
    }

    #[test]
    #[wasm_bindgen_test]
    fn unknown_and_duplicate_fields_are_refused_at_their_path() {
        let v = json(r#"{"a":1,"b":2}"#);
        let e = Object::new(&v, "top", &["a"]).err().unwrap();
        assert_eq!(
            e.to_string(),
            "top.b: unknown field `b`, expected one of `a`"
        );
        let v = json(r#"{"a":1,"a":2}"#);
        let e = Object::new(&v, "", &["a"]).err().unwrap();
        assert_eq!(e.to_string(), "a: duplicate field `a`");
    }

    #[test]
    #[wasm_bindgen_test]
    fn wrong_types_say_what_was_expected_and_found() {
        let e = string(&json("5"), "x.y").unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.y: invalid type: a number, expected a string"
        );
        let e = unsigned(&json("-1"), "n").unwrap_err();
        assert!(e.to_string().starts_with("n: invalid value: -1"), "{e}");
        let e = unsigned(&json("1.5"), "n").unwrap_err();
        assert!(e.to_string().starts_with("n: invalid value: 1.5"), "{e}");
        let e = strings(&json(r#"["a", 1]"#), "l").unwrap_err();
        assert_eq!(e.path, "l[1]");
    }

    #[test]
    #[wasm_bindgen_test]
    fn null_reads_as_absent_and_missing_required_fields_name_their_object() {
        let v = json(r#"{"a":null}"#);
        let o = Object::new(&v, "top", &["a", "b"]).unwrap();
        assert!(o.optional("a", string).unwrap().is_none());
        let e = o.required("b", string).err().unwrap();
        assert_eq!(e.to_string(), "top: missing field `b`");
    }

    #[test]
    #[wasm_bindgen_test]
    fn ordered_maps_keep_document_order_and_refuse_a_name_twice() {
        let m = ordered_map(&json(r#"{"z":"1","a":"2"}"#), "m", string).unwrap();
        assert_eq!(m, vec![("z".into(), "1".into()), ("a".into(), "2".into())]);
        let e = ordered_map(&json(r#"{"z":"1","z":"2"}"#), "m", string).unwrap_err();
        assert_eq!(e.to_string(), "m.z: \"z\" is given twice");
    }
}
