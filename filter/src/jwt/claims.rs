//! Reading claims: paths into the claims object, roles, and NumericDate values.

use crate::json::Json;
use crate::jwt::ClaimPath;

/// The value at `path` (`a.b` walks into objects; a namespaced name such as
/// `cognito:groups` is one key). `None` if any step is missing or not an object.
/// The claims were checked for duplicate members, so each step is unambiguous.
pub fn claim<'a>(claims: &'a Json, path: &ClaimPath) -> Option<&'a Json> {
    path.segments
        .iter()
        .try_fold(claims, |value, segment| value.get(segment))
}

/// The caller's roles from the `roles_claim`: an array's string items, or a
/// string split on commas and whitespace; empty names are dropped and each role
/// is listed once. Any other value, or no value, gives no roles: roles only
/// ever grant tools, so an unreadable claim must not grant any.
pub fn roles(claims: &Json, path: &ClaimPath) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |role: &str| {
        if !role.is_empty() && !out.iter().any(|r| r == role) {
            out.push(role.to_owned());
        }
    };
    match claim(claims, path) {
        Some(Json::Array(items)) => items.iter().filter_map(Json::as_str).for_each(&mut add),
        Some(Json::String(text)) => text
            .split(|c: char| c == ',' || c.is_ascii_whitespace())
            .for_each(&mut add),
        _ => {}
    }
    out
}

/// A claim as text (a header value, a rate-limit descriptor value): strings as
/// they are, arrays of strings joined with `,`, anything else as compact JSON.
pub fn value_text(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        Json::Array(items) => {
            let strings: Option<Vec<&str>> = items.iter().map(Json::as_str).collect();
            match strings {
                Some(strings) => strings.join(","),
                None => value.to_compact_string(),
            }
        }
        other => other.to_compact_string(),
    }
}

/// A NumericDate (RFC 7519 §2): seconds since the epoch, possibly fractional.
/// Fractions are dropped and times before the epoch read as 0. `None` if the
/// value is not a number.
pub fn numeric_date(value: &Json) -> Option<u64> {
    let Json::Number(n) = value else { return None };
    if let Some(u) = n.as_u64() {
        return Some(u);
    }
    if n.as_i64().is_some() {
        return Some(0); // negative
    }
    let f = n.as_f64()?;
    // `as` saturates (and maps NaN to 0); serde_json never yields NaN anyway.
    Some(if f <= 0.0 { 0 } else { f.floor() as u64 })
}

/// The string values of a claim that is a string or an array of strings (`aud`).
/// `None` for any other shape, including an array holding a non-string.
pub fn string_or_strings(value: &Json) -> Option<Vec<&str>> {
    match value {
        Json::String(s) => Some(vec![s.as_str()]),
        Json::Array(items) => items.iter().map(Json::as_str).collect(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn json(text: &str) -> Json {
        Json::parse(text.as_bytes()).unwrap()
    }

    fn roles_of(claims: &str, path: &str) -> Vec<String> {
        roles(&json(claims), &ClaimPath::parse(path).unwrap())
    }

    #[test]
    #[wasm_bindgen_test]
    fn roles_from_arrays_and_strings() {
        assert_eq!(roles_of(r#"{"roles":["a","b"]}"#, "roles"), ["a", "b"]);
        assert_eq!(
            roles_of(r#"{"scope":"read write  admin"}"#, "scope"),
            ["read", "write", "admin"]
        );
        assert_eq!(
            roles_of(r#"{"groups":"a,b,,c"}"#, "groups"),
            ["a", "b", "c"]
        );
        assert_eq!(
            roles_of(r#"{"groups":"a, b ,c"}"#, "groups"),
            ["a", "b", "c"]
        );
        assert_eq!(
            roles_of(r#"{"groups":["a","",7,null,"a","b"]}"#, "groups"),
            ["a", "b"]
        );
    }

    #[test]
    #[wasm_bindgen_test]
    fn roles_from_paths() {
        let keycloak = r#"{"realm_access":{"roles":["admin","user"]},"resource_access":{"app":{"roles":"x"}}}"#;
        assert_eq!(roles_of(keycloak, "realm_access.roles"), ["admin", "user"]);
        assert_eq!(roles_of(keycloak, "resource_access.app.roles"), ["x"]);
        assert_eq!(
            roles_of(r#"{"cognito:groups":["analysts"]}"#, "cognito:groups"),
            ["analysts"]
        );
        // A namespaced claim name containing dots is one key.
        assert_eq!(
            roles_of(
                r#"{"https://example.com/roles":["r"]}"#,
                "https://example.com/roles"
            ),
            ["r"]
        );
    }

    #[test]
    #[wasm_bindgen_test]
    fn missing_or_odd_values_give_no_roles() {
        for claims in [
            r#"{}"#,
            r#"{"roles":null}"#,
            r#"{"roles":7}"#,
            r#"{"roles":true}"#,
            r#"{"roles":{"a":1}}"#,
            r#"{"roles":""}"#,
            r#"{"roles":" , "}"#,
        ] {
            assert!(roles_of(claims, "roles").is_empty(), "{claims}");
        }
        assert!(roles_of(r#"{"realm_access":"admin"}"#, "realm_access.roles").is_empty());
        assert!(roles_of(r#"{"realm_access":["roles"]}"#, "realm_access.roles").is_empty());
    }

    #[test]
    #[wasm_bindgen_test]
    fn numeric_dates() {
        assert_eq!(numeric_date(&json("1300819380")), Some(1300819380));
        assert_eq!(numeric_date(&json("1300819380.9")), Some(1300819380));
        assert_eq!(numeric_date(&json("-5")), Some(0));
        assert_eq!(numeric_date(&json("-5.5")), Some(0));
        assert_eq!(numeric_date(&json("1e300")), Some(u64::MAX));
        assert_eq!(numeric_date(&json(r#""1300819380""#)), None);
        assert_eq!(numeric_date(&json("null")), None);
    }

    #[test]
    #[wasm_bindgen_test]
    fn audiences() {
        assert_eq!(string_or_strings(&json(r#""a""#)), Some(vec!["a"]));
        assert_eq!(
            string_or_strings(&json(r#"["a","b"]"#)),
            Some(vec!["a", "b"])
        );
        assert_eq!(string_or_strings(&json(r#"[]"#)), Some(vec![]));
        assert_eq!(string_or_strings(&json(r#"["a",1]"#)), None);
        assert_eq!(string_or_strings(&json("1")), None);
    }
}
