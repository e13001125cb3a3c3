//! Byte ranges of the parts of a JSON text, for edits that leave every other byte
//! as it was (the MCP `tools/list` filter) and for copying a value verbatim (a
//! JSON-RPC `id`).
//!
//! Callers run this only on text that `Json::parse` accepted, so it does not
//! validate; on anything unexpected it answers `None` and the caller leaves the
//! text alone. Nested values are skipped with a depth counter, not recursion, so
//! no input can exhaust the stack.

use std::ops::Range;

/// One member of an object: its decoded key and the range of its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub key: String,
    pub value: Range<usize>,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn skip_ws(text: &[u8], mut at: usize) -> usize {
    while text.get(at).is_some_and(|&b| is_ws(b)) {
        at = at.saturating_add(1);
    }
    at
}

/// The end of the string that starts at `start` (just past its closing quote).
fn string_end(text: &[u8], start: usize) -> Option<usize> {
    let mut at = start.checked_add(1)?;
    loop {
        match text.get(at)? {
            b'"' => return at.checked_add(1),
            b'\\' => at = at.checked_add(2)?,
            _ => at = at.checked_add(1)?,
        }
    }
}

/// The end of the value that starts at `start`.
pub fn value_end(text: &[u8], start: usize) -> Option<usize> {
    match text.get(start)? {
        b'"' => string_end(text, start),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut at = start;
            loop {
                match text.get(at)? {
                    b'"' => {
                        at = string_end(text, at)?;
                        continue;
                    }
                    b'{' | b'[' => depth = depth.checked_add(1)?,
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return at.checked_add(1);
                        }
                    }
                    _ => {}
                }
                at = at.checked_add(1)?;
            }
        }
        _ => {
            let mut at = start;
            while text
                .get(at)
                .is_some_and(|&b| !is_ws(b) && !matches!(b, b',' | b'}' | b']'))
            {
                at = at.checked_add(1)?;
            }
            (at > start).then_some(at)
        }
    }
}

/// The range of the one top-level value.
pub fn root(text: &[u8]) -> Option<Range<usize>> {
    let start = skip_ws(text, 0);
    let end = value_end(text, start)?;
    Some(start..end)
}

/// The members of the object at `object`.
pub fn members(text: &[u8], object: Range<usize>) -> Option<Vec<Member>> {
    if text.get(object.start) != Some(&b'{') {
        return None;
    }
    let mut out = Vec::new();
    let mut at = skip_ws(text, object.start.checked_add(1)?);
    if text.get(at) == Some(&b'}') {
        return Some(out);
    }
    loop {
        let key_end = string_end(text, at)?;
        let key: String = serde_json::from_slice(text.get(at..key_end)?).ok()?;
        at = skip_ws(text, key_end);
        if text.get(at) != Some(&b':') {
            return None;
        }
        let value_start = skip_ws(text, at.checked_add(1)?);
        let end = value_end(text, value_start)?;
        out.push(Member {
            key,
            value: value_start..end,
        });
        at = skip_ws(text, end);
        match text.get(at)? {
            b',' => at = skip_ws(text, at.checked_add(1)?),
            b'}' => return Some(out),
            _ => return None,
        }
    }
}

/// The elements of the array at `array`.
pub fn elements(text: &[u8], array: Range<usize>) -> Option<Vec<Range<usize>>> {
    if text.get(array.start) != Some(&b'[') {
        return None;
    }
    let mut out = Vec::new();
    let mut at = skip_ws(text, array.start.checked_add(1)?);
    if text.get(at) == Some(&b']') {
        return Some(out);
    }
    loop {
        let end = value_end(text, at)?;
        out.push(at..end);
        at = skip_ws(text, end);
        match text.get(at)? {
            b',' => at = skip_ws(text, at.checked_add(1)?),
            b']' => return Some(out),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[test]
    #[wasm_bindgen_test]
    fn finds_members_and_elements_with_their_exact_ranges() {
        let text = br#" { "a" : [1, "x]\"" , {"b":[]} ] , "c\u0064":null,"e":-1.5e3} "#;
        let obj = root(text).unwrap();
        assert_eq!(&text[obj.clone()], &text[1..text.len() - 1]);
        let m = members(text, obj).unwrap();
        let keys: Vec<(&str, &[u8])> = m
            .iter()
            .map(|m| (m.key.as_str(), &text[m.value.clone()]))
            .collect();
        assert_eq!(
            keys,
            [
                ("a", &br#"[1, "x]\"" , {"b":[]} ]"#[..]),
                ("cd", b"null"),
                ("e", b"-1.5e3")
            ]
        );
        let items: Vec<&[u8]> = elements(text, m[0].value.clone())
            .unwrap()
            .into_iter()
            .map(|r| &text[r])
            .collect();
        assert_eq!(items, [&b"1"[..], br#""x]\"""#, br#"{"b":[]}"#]);
    }

    #[test]
    #[wasm_bindgen_test]
    fn empty_containers_and_bad_input_do_not_panic() {
        assert_eq!(members(b"{}", 0..2), Some(vec![]));
        assert_eq!(elements(b"[ ]", 0..3), Some(vec![]));
        assert_eq!(members(b"{\"a\"", 0..4), None);
        assert_eq!(elements(b"[1", 0..2), None);
        assert_eq!(root(b"\"abc"), None);
        assert_eq!(root(b""), None);
        let deep = "[".repeat(100_000);
        assert_eq!(root(deep.as_bytes()), None);
    }
}
