//! Byte searches for the per-frame hot path: every byte of a policed stream
//! passes through [`find_either`] (line breaks, escapes) and most frames
//! through [`contains_any`] (the tool-call markers).
//!
//! Why not `str::contains`: it needs UTF-8 (a lossy copy of every frame) and
//! sets up a Two-Way searcher per needle and call; on a stream of small frames
//! those were a third of the filter's cost. The markers are ASCII, and an ASCII
//! run survives lossy decoding unchanged, so searching the raw bytes finds
//! exactly what searching the decoded text found.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// True if some byte of `word` is zero (exact: the classic SWAR test never
/// reports a zero byte where there is none).
fn has_zero_byte(word: u64) -> bool {
    word.wrapping_sub(ONES) & !word & HIGHS != 0
}

/// The position of the first `a` or `b` in `haystack`, eight bytes at a time.
pub fn find_either(haystack: &[u8], a: u8, b: u8) -> Option<usize> {
    let (fill_a, fill_b) = (ONES * u64::from(a), ONES * u64::from(b));
    let mut words = haystack.chunks_exact(8);
    let mut offset = 0;
    for word in &mut words {
        let Ok(bytes) = <[u8; 8]>::try_from(word) else {
            break;
        };
        let x = u64::from_le_bytes(bytes);
        if has_zero_byte(x ^ fill_a) || has_zero_byte(x ^ fill_b) {
            return word
                .iter()
                .position(|&c| c == a || c == b)
                .map(|at| offset + at);
        }
        offset += 8;
    }
    haystack
        .get(offset..)
        .unwrap_or_default()
        .iter()
        .position(|&c| c == a || c == b)
        .map(|at| offset + at)
}

/// A set of ASCII needles with a table of their first bytes, built at compile
/// time, so the scan looks closer only where a needle could start.
pub struct Needles<'a> {
    needles: &'a [&'a str],
    first: [bool; 256],
}

impl<'a> Needles<'a> {
    // A u8 always indexes a 256-entry table; `get` is not usable in const fn.
    #[allow(clippy::indexing_slicing)]
    pub const fn new(needles: &'a [&'a str]) -> Needles<'a> {
        let mut first = [false; 256];
        let mut rest = needles;
        while let [needle, tail @ ..] = rest {
            if let Some(&byte) = needle.as_bytes().first() {
                first[byte as usize] = true;
            }
            rest = tail;
        }
        Needles { needles, first }
    }

    /// True if any needle occurs in `haystack`.
    pub fn in_bytes(&self, haystack: &[u8]) -> bool {
        if self.needles.iter().any(|n| n.is_empty()) {
            return true;
        }
        haystack.iter().enumerate().any(|(at, &byte)| {
            self.first.get(usize::from(byte)) == Some(&true) && {
                let rest = haystack.get(at..).unwrap_or_default();
                self.needles.iter().any(|n| rest.starts_with(n.as_bytes()))
            }
        })
    }
}

/// True if any of `needles` occurs in `haystack` (for sets not known at compile time).
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
                        // Bytes next to the targets' values must not be taken for them.
                        bytes
                            .iter_mut()
                            .step_by(3)
                            .for_each(|c| *c = a.wrapping_add(1));
                        if at < len {
                            bytes[at] = hit;
                        }
                        let want = bytes.iter().position(|&c| c == a || c == b);
                        assert_eq!(find_either(&bytes, a, b), want, "len {len} at {at}");
                    }
                }
            }
        }
        assert_eq!(find_either(&[0x80; 17], 0x00, 0x7f), None);
        assert_eq!(find_either(&[0xff; 17], b'\n', b'\r'), None);
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
