//! Byte searches for the hot path, on the `memchr` crate: it searches many
//! bytes per step (SSE2/AVX2 natively, `simd128` on wasm when the module is
//! built with it, a word-at-a-time fallback otherwise).
//!
//! Why not `str::contains`: it needs UTF-8 (a lossy copy of every frame) and
//! sets up a Two-Way searcher per needle and call. The markers are ASCII, and
//! an ASCII run survives lossy decoding unchanged, so searching the raw bytes
//! finds exactly what searching the decoded text found.

use memchr::memmem;

/// The position of the first `a` or `b` in `haystack`.
pub fn find_either(haystack: &[u8], a: u8, b: u8) -> Option<usize> {
    memchr::memchr2(a, b, haystack)
}

/// The position of the last `a` or `b` in `haystack`.
pub fn rfind_either(haystack: &[u8], a: u8, b: u8) -> Option<usize> {
    memchr::memrchr2(a, b, haystack)
}

/// The first occurrence of `needle` in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memmem::find(haystack, needle)
}

/// A set of ASCII needles, searched one after the other. The sets here are
/// small (at most seven needles) and only searched in frames that already
/// passed the cheaper raw-byte test (`sse::plain`).
pub struct Needles<'a> {
    needles: &'a [&'a str],
}

impl<'a> Needles<'a> {
    pub const fn new(needles: &'a [&'a str]) -> Needles<'a> {
        Needles { needles }
    }

    /// True if any needle occurs in `haystack`.
    pub fn in_bytes(&self, haystack: &[u8]) -> bool {
        self.needles
            .iter()
            .any(|n| memmem::find(haystack, n.as_bytes()).is_some())
    }
}

/// True if any of `needles` occurs in `haystack`.
pub fn contains_any(haystack: &[u8], needles: &[&str]) -> bool {
    Needles::new(needles).in_bytes(haystack)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[test]
    #[wasm_bindgen_test]
    fn find_either_agrees_with_a_plain_scan_at_every_position_and_length() {
        for len in 0..40 {
            for at in 0..=len {
                for (a, b) in [(b'\n', b'\r'), (b'\\', 0u8)] {
                    for hit in [a, b] {
                        let mut bytes: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
                        bytes
                            .iter_mut()
                            .step_by(3)
                            .for_each(|c| *c = a.wrapping_add(1));
                        if at < len {
                            bytes[at] = hit;
                        }
                        let want = bytes.iter().position(|&c| c == a || c == b);
                        assert_eq!(find_either(&bytes, a, b), want, "len {len} at {at}");
                        let want = bytes.iter().rposition(|&c| c == a || c == b);
                        assert_eq!(rfind_either(&bytes, a, b), want, "len {len} at {at}");
                    }
                }
            }
        }
    }

    #[test]
    #[wasm_bindgen_test]
    fn needles_agree_with_str_contains_on_text_and_invalid_utf8() {
        const SET: Needles<'static> = Needles::new(&["_call", "tool_use", "\"tool-"]);
        let cases: [&[u8]; 8] = [
            b"",
            b"_cal",
            b"x_call",
            b"tool_us tool_use",
            b"\"tool-x",
            b"\xff_call\xfe",
            b"tool\xe2_use",
            b"\xe2\x82_call",
        ];
        for case in cases {
            let lossy = String::from_utf8_lossy(case);
            let want = ["_call", "tool_use", "\"tool-"]
                .iter()
                .any(|n| lossy.contains(n));
            assert_eq!(SET.in_bytes(case), want, "{case:?}");
        }
        assert!(contains_any(b"anything", &[""]));
        assert!(!contains_any(b"anything", &[]));
    }
}
