//! Bytes from the network as text, shared by the plain modules and the glue.

/// UTF-8 with U+FFFD for invalid sequences; no copy when the bytes are valid
/// (nearly always: SSE data, header values).
pub fn utf8_lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[test]
    #[wasm_bindgen_test]
    fn valid_text_is_kept_and_invalid_bytes_become_replacement_characters() {
        assert_eq!(utf8_lossy("héllo".as_bytes().to_vec()), "héllo");
        assert_eq!(utf8_lossy(b"a\xffb".to_vec()), "a\u{fffd}b");
        assert_eq!(utf8_lossy(Vec::new()), "");
    }
}
