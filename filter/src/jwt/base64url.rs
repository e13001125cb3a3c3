//! Strict base64url (RFC 7515 §2, RFC 4648 §5 without padding).
//!
//! A JWS signature covers the *encoded* header and payload, so a lenient decoder
//! that skips junk or ignores stray bits lets one signed token be written many
//! ways, and lets two parsers disagree on what was signed. Only the one canonical
//! encoding of each byte string is accepted here.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Decodes `text`, or `None` if it is not canonical unpadded base64url: padding
/// (`=`), whitespace, characters outside `A-Z a-z 0-9 - _`, a length no encoder
/// produces (4n+1), or non-zero bits after the last whole byte are all refused.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    // base64's URL_SAFE_NO_PAD engine refuses padding (RequireNone), bytes outside
    // the alphabet and non-zero trailing bits (allow_trailing_bits is false).
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// Encodes `bytes` as unpadded base64url.
pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[test]
    #[wasm_bindgen_test]
    fn decodes_canonical_text() {
        assert_eq!(decode("").unwrap(), b"");
        assert_eq!(decode("Zm9v").unwrap(), b"foo");
        assert_eq!(decode("Zm8").unwrap(), b"fo");
        assert_eq!(decode("Zg").unwrap(), b"f");
        assert_eq!(decode("-_8").unwrap(), [0xfb, 0xff]);
        assert_eq!(encode(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    #[wasm_bindgen_test]
    fn refuses_everything_else() {
        for bad in [
            "Zg==",  // padding
            "Zm8=",  // padding
            "Zm 9v", // inner space
            " Zm9v", // leading space
            "Zm9v\n", "Zm9v\r\n", "+/8",   // standard alphabet
            "Zm9v?", // junk
            "Z",     // 4n+1 characters: no encoder writes that
            "Zh",    // "f" is "Zg": the low 4 bits of `h` are not zero
            "Zm9",   // "fo" is "Zm8": the low 2 bits of `9` are not zero
            "AB",    // Wycheproof ModifiedUnusedBitsInPayload
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }
}
