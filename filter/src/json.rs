//! JSON values that keep every member of an object, duplicates included, in order.
//!
//! `serde_json::Value` keeps only the last of two members with the same name, but
//! clients differ on which one they use. Security decisions must see all of them:
//! the JWT code refuses duplicates outright, the stream guard checks every value.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    /// Members in document order; a name may appear more than once.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Parses one JSON document. serde_json's recursion limit (128) bounds nesting.
    pub fn parse(bytes: &[u8]) -> Result<Json, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// Every value of the members called `key`, in document order.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Json> + 'a {
        let members: &[(String, Json)] = match self {
            Json::Object(m) => m,
            _ => &[],
        };
        members
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// The first member called `key`. Use only where duplicates were refused before.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(a) => Some(a),
            _ => None,
        }
    }

    /// True if any object, at any depth, names a member twice. Linear in the
    /// size of the value: it runs on unauthenticated token payloads.
    pub fn has_duplicate_keys(&self) -> bool {
        match self {
            Json::Array(items) => items.iter().any(Json::has_duplicate_keys),
            Json::Object(members) => {
                let mut seen = std::collections::HashSet::with_capacity(members.len());
                members.iter().any(|(k, _)| !seen.insert(k.as_str()))
                    || members.iter().any(|(_, v)| v.has_duplicate_keys())
            }
            _ => false,
        }
    }

    /// Compact JSON text, as `serde_json` would write it (duplicates kept).
    pub fn to_compact_string(&self) -> String {
        let mut out = String::new();
        self.write_compact(&mut out);
        out
    }

    fn write_compact(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(n) => out.push_str(&n.to_string()),
            Json::String(s) => write_json_string(s, out),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_compact(out);
                }
                out.push(']');
            }
            Json::Object(members) => {
                out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_json_string(k, out);
                    out.push(':');
                    v.write_compact(out);
                }
                out.push('}');
            }
        }
    }
}

/// Writes `s` as a JSON string literal.
pub fn write_json_string(s: &str, out: &mut String) {
    // serde_json's escaping of a plain string cannot fail.
    match serde_json::to_string(s) {
        Ok(quoted) => out.push_str(&quoted),
        Err(_) => out.push_str("\"\""),
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        serde_json::Number::from_f64(v)
            .map(Json::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Json>()? {
            members.push((k, v));
        }
        Ok(Json::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[test]
    #[wasm_bindgen_test]
    fn keeps_duplicate_members_in_order() {
        let v = Json::parse(br#"{"name":"a","x":1,"name":"b"}"#).unwrap();
        let names: Vec<_> = v.get_all("name").filter_map(Json::as_str).collect();
        assert_eq!(names, ["a", "b"]);
        assert!(v.has_duplicate_keys());
    }

    #[test]
    #[wasm_bindgen_test]
    fn finds_nested_duplicates_only_where_they_are() {
        assert!(!Json::parse(br#"{"a":{"b":1},"c":{"b":2}}"#)
            .unwrap()
            .has_duplicate_keys());
        assert!(Json::parse(br#"[{"a":{"b":1,"b":2}}]"#)
            .unwrap()
            .has_duplicate_keys());
    }

    /// A JWKS may be 256 KiB: tens of thousands of members, checked in linear time.
    #[test]
    #[wasm_bindgen_test]
    fn finds_one_duplicate_among_twenty_thousand_members() {
        let members: Vec<String> = (0..20_000).map(|i| format!("\"m{i}\":{i}")).collect();
        let unique = format!("{{{}}}", members.join(","));
        assert!(!Json::parse(unique.as_bytes()).unwrap().has_duplicate_keys());
        let repeated = format!("{{{},\"m19999\":0}}", members.join(","));
        assert!(Json::parse(repeated.as_bytes())
            .unwrap()
            .has_duplicate_keys());
    }

    #[test]
    #[wasm_bindgen_test]
    fn decodes_escapes_in_names_and_values() {
        let v = Json::parse(br#"{"n\u0061me":"get\u005fweather"}"#).unwrap();
        assert_eq!(v.get("name").and_then(Json::as_str), Some("get_weather"));
    }

    #[test]
    #[wasm_bindgen_test]
    fn writes_compact_json() {
        let v = Json::parse(br#"{ "a" : [1, 2.5, "x\"y", null, true] }"#).unwrap();
        assert_eq!(v.to_compact_string(), r#"{"a":[1,2.5,"x\"y",null,true]}"#);
    }

    #[test]
    #[wasm_bindgen_test]
    fn refuses_deep_nesting_without_overflowing() {
        let deep = "[".repeat(10_000);
        assert!(Json::parse(deep.as_bytes()).is_err());
    }
}
