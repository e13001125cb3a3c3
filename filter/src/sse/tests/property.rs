//! Property-style test: generated streams (every line-end style, BOM, comments,
//! unknown fields, multi-byte text, multi-line data, escaped names, every dialect)
//! under random chunkings give exactly the output known by construction.

use super::*;
use wasm_bindgen_test::wasm_bindgen_test;

const NAME: &str = "@NAME@";

const TEXTS: &[&str] = &[
    "hello",
    "caf\u{e9}",
    "\u{1F600}\u{1F680}",
    "\u{4E2D}\u{6587}",
    "tool_use is a word",
    "a:b:c",
    " ",
];

const LINE_ENDS: [&[u8]; 3] = [b"\n", b"\r\n", b"\r"];

const NOISE: &[&str] = &[
    "id: 42",
    "retry: 100",
    "foo: bar",
    ": comment with \"tool-call\"",
    "eventx: tool_call",
    "data",
    "x",
];

struct Frame {
    lines: Vec<String>,
    /// Some(name) if the frame is a tool call (known by construction).
    tool: Option<String>,
}

fn tool_frame(rng: &mut Rng) -> Frame {
    let (event, template) = *rng.pick(TOOL_TEMPLATES);
    let name = *rng.pick(&["ok_a", "ok_b", "bad_x"]);
    // Sometimes escape the name's underscore: compared after JSON decoding.
    let written = if rng.chance(3) {
        name.replace('_', "\\u005f")
    } else {
        name.to_owned()
    };
    // A fresh call id each time: the guard counts a call once per id.
    let id = format!("call{}", rng.next());
    let json = template
        .replace(NAME, &format!("\"{written}\""))
        .replace("@ID@", &id);
    let mut lines = Vec::new();
    if rng.chance(3) {
        lines.push(rng.pick(NOISE).to_string());
    }
    if let Some(e) = event {
        lines.push(format!("event: {e}"));
    }
    // The JSON over one or more data lines (split after a comma: the joined text,
    // with its `\n`, is the same JSON).
    let mut pieces = vec![String::new()];
    for c in json.chars() {
        pieces.last_mut().unwrap().push(c);
        if c == ',' && rng.chance(6) {
            pieces.push(String::new());
        }
    }
    for p in pieces {
        lines.push(if rng.chance(2) {
            format!("data: {p}")
        } else {
            format!("data:{p}")
        });
    }
    Frame {
        lines,
        tool: Some(name.to_owned()),
    }
}

fn other_frame(rng: &mut Rng) -> Frame {
    let lines: Vec<String> = match rng.below(7) {
        0 => vec![],
        1 => vec![": keep-alive".into()],
        2 => vec!["data: [DONE]".into()],
        3 => vec!["data: \"{'type': 'tool_use_stream', 'current_tool_use': {'name': 'bad_x'}}\"".into()],
        4 => vec!["event: content_block_delta".into(), format!(
            "data: {{\"type\":\"content_block_delta\",\"delta\":{{\"type\":\"text_delta\",\"text\":\"{}\"}}}}",
            rng.pick(TEXTS)
        )],
        5 => vec![rng.pick(NOISE).to_string(), format!("data: {}", rng.pick(TEXTS)), format!("data:{}", rng.pick(TEXTS))],
        _ => vec![format!("data: {{\"choices\":[{{\"delta\":{{\"content\":\"{}\"}}}}]}}", rng.pick(TEXTS))],
    };
    Frame { lines, tool: None }
}

/// A frame's raw byte range and the tool it calls, by construction.
type Built = (usize, usize, Option<String>);

/// A stream and its frames.
pub(super) fn generate(rng: &mut Rng) -> (Vec<u8>, Vec<Built>) {
    let mut out: Vec<u8> = Vec::new();
    if rng.chance(4) {
        out.extend_from_slice(b"\xEF\xBB\xBF");
    }
    let mut frames = Vec::new();
    let count = 1 + rng.below(12);
    let mut last_end: &[u8] = b"\n";
    for i in 0..count {
        let frame = if rng.chance(3) {
            tool_frame(rng)
        } else {
            other_frame(rng)
        };
        let start = if i == 0 { 0 } else { out.len() };
        let unterminated = i + 1 == count && !frame.lines.is_empty() && rng.chance(3);
        let mut lines = frame.lines.clone();
        if !unterminated {
            lines.push(String::new());
        }
        let n = lines.len();
        for (j, line) in lines.iter().enumerate() {
            out.extend_from_slice(line.as_bytes());
            if unterminated && j + 1 == n && rng.chance(2) {
                break; // no line end at all at the very end
            }
            let mut end: &[u8] = LINE_ENDS[rng.below(LINE_ENDS.len())];
            // A CR followed by an LF-ended blank line would be one CRLF: the
            // frame boundary would move. Avoid that in the construction.
            if line.is_empty() && last_end == b"\r" && end[0] == b'\n' {
                end = b"\r\n";
            }
            out.extend_from_slice(end);
            last_end = end;
        }
        frames.push((start, out.len(), frame.tool));
    }
    (out, frames)
}

#[test]
#[wasm_bindgen_test]
fn generated_streams_under_random_chunkings() {
    let mut rng = Rng::new(2024);
    let mut denied_streams = 0;
    for case in 0..300 {
        let (input, frames) = generate(&mut rng);
        // The construction and the reference splitter agree on the frames.
        let reference: Vec<(usize, usize)> = {
            let mut at = 0;
            reference_frames(&input)
                .iter()
                .map(|f| {
                    at += f.len();
                    (at - f.len(), at)
                })
                .collect()
        };
        let built: Vec<(usize, usize)> = frames.iter().map(|(s, e, _)| (*s, *e)).collect();
        assert_eq!(reference, built, "case {case}: {:?}", Lossy(&input));

        let list = Allowlist::of(&["ok_*"]);
        let expected = match frames
            .iter()
            .find(|(_, _, t)| t.as_deref() == Some("bad_x"))
        {
            Some((start, _, _)) => {
                denied_streams += 1;
                cut_before(&input[..*start], "bad_x")
            }
            None => input.clone(),
        };
        let tools_before_cut = frames
            .iter()
            .take_while(|(_, _, t)| t.as_deref() != Some("bad_x"))
            .filter(|(_, _, t)| t.is_some())
            .count();
        let whole = run(&list, 65536, &[&input]);
        assert_eq!(Lossy(&whole.output), Lossy(&expected), "case {case}");
        assert_eq!(whole.allowed as usize, tools_before_cut, "case {case}");
        for (i, chunks) in random_chunkings(&input, case, 8).iter().enumerate() {
            let r = run(&list, 65536, chunks);
            assert_eq!(
                Lossy(&r.output),
                Lossy(&expected),
                "case {case} chunking {i}"
            );
            assert_eq!(
                (r.allowed, r.denied),
                (whole.allowed, whole.denied),
                "case {case} chunking {i}"
            );
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(
            Lossy(&run(&list, 65536, &bytes).output),
            Lossy(&expected),
            "case {case} bytewise"
        );
        // Allow-all: the input, byte for byte.
        let chunks = &random_chunkings(&input, case + 1000, 1)[0];
        assert_eq!(
            Lossy(&run(&Allowlist::of(&["*"]), 65536, chunks).output),
            Lossy(&input),
            "case {case} allow-all"
        );
    }
    assert!(
        denied_streams > 50,
        "{denied_streams} streams had a denied call"
    );
}
