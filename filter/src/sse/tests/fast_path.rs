//! The fast path (frames without a suspect handed out unparsed, `sse::plain`)
//! against the full parser (`StreamGuard::full_parser_only`): chunk by chunk the
//! same output, counters, verdict and held bytes, on every fixture at every split
//! point, on generated streams, and on line-end and escape edge cases.

use super::fixtures::{guard_split_points, FIXTURES};
use super::property::generate;
use super::*;
use wasm_bindgen_test::wasm_bindgen_test;

fn agree(list: &Allowlist, max: usize, chunks: &[&[u8]], what: &dyn Fn() -> String) {
    let rewrite = crate::mcp::filter_tools_list_frame;
    let mut fast = StreamGuard::new(list.clone(), max).rewriting_frames_with(rewrite);
    let mut full = StreamGuard::full_parser_only(list.clone(), max).rewriting_frames_with(rewrite);
    for (i, chunk) in chunks.iter().enumerate() {
        let eos = i + 1 == chunks.len();
        let a = fast.on_chunk(chunk, eos);
        let b = full.on_chunk(chunk, eos);
        if a != b {
            panic!(
                "{} chunk {i}: fast {:?} / full {:?}",
                what(),
                (Lossy(&a.output), a.unchanged, &a.verdict, a.tools_allowed),
                (Lossy(&b.output), b.unchanged, &b.verdict, b.tools_allowed)
            );
        }
        assert_eq!(fast.held_bytes(), full.held_bytes(), "{} chunk {i}", what());
        if a.unchanged {
            assert!(a.output.is_empty(), "{} chunk {i}", what());
        }
    }
}

fn lists_for(tools: &[&str]) -> Vec<Allowlist> {
    let mut lists = vec![
        Allowlist::of(&["*"]),
        Allowlist::of(tools),
        Allowlist::of(&[]),
    ];
    for t in tools {
        let others: Vec<&str> = tools.iter().copied().filter(|o| o != t).collect();
        lists.push(Allowlist::of(&others));
    }
    lists
}

#[test]
#[wasm_bindgen_test]
fn fast_path_and_full_parser_agree_on_every_fixture_at_every_split_point() {
    for f in FIXTURES {
        let points: Vec<usize> = if f.bytes.len() > 9 * 1024 || cfg!(target_arch = "wasm32") {
            guard_split_points(f.bytes)
        } else {
            (0..=f.bytes.len()).collect()
        };
        for list in lists_for(f.tools) {
            for max in [65536, 300] {
                agree(&list, max, &[f.bytes], &|| format!("{} whole", f.file));
                for &cut in &points {
                    let (a, b) = f.bytes.split_at(cut);
                    agree(&list, max, &[a, b], &|| format!("{} split {cut}", f.file));
                }
                for (i, chunks) in random_chunkings(f.bytes, 7, 4).iter().enumerate() {
                    agree(&list, max, chunks, &|| format!("{} chunking {i}", f.file));
                }
            }
        }
    }
}

#[test]
#[wasm_bindgen_test]
fn fast_path_and_full_parser_agree_on_generated_streams() {
    let mut rng = Rng::new(99);
    let lists = [Allowlist::of(&["ok_*"]), Allowlist::of(&["*"])];
    for case in 0..300 {
        let (input, _) = generate(&mut rng);
        for list in &lists {
            for max in [65536, 40] {
                for (i, chunks) in random_chunkings(&input, case, 6).iter().enumerate() {
                    agree(list, max, chunks, &|| format!("case {case} chunking {i}"));
                }
                let bytes: Vec<&[u8]> = input.chunks(1).collect();
                agree(list, max, &bytes, &|| format!("case {case} bytewise"));
            }
        }
    }
}

/// Line-end runs (where the backward search for the last frame end must read
/// CRLF pairs as the framer does), suspects and escapes cut by chunk ends, a
/// BOM, and frames around the size limit: every split into two and three chunks.
#[test]
#[wasm_bindgen_test]
fn fast_path_and_full_parser_agree_on_edge_cases_at_every_split() {
    let tool =
        r#"data: {"type":"content_block_start","content_block":{"type":"tool_use","name":"bad"}}"#;
    let cases: Vec<Vec<u8>> = vec![
        b"\n\n\n".to_vec(),
        b"\r\r\r\r".to_vec(),
        b"\r\n\r\n\r\n".to_vec(),
        b"\n\r\n\r\n\r".to_vec(),
        b"data: a\r\n\rdata: b\n\r\n\r\ndata: c\r".to_vec(),
        b"data: a\r\rdata: b\r\n\r\n\n\ndata: c".to_vec(),
        b"\xEF\xBB\xBF\n\ndata: a\n\n".to_vec(),
        b"\xEF\xBB\xBFdata: a\r\n\r\ndata: b\r\r".to_vec(),
        b"data: x\n\ndata: tool".to_vec(),
        b"data: x\n\ndata: too\n\ndata: l_use\n\n".to_vec(),
        format!("data: x\n\n{tool}\n\ndata: y\n\n").into_bytes(),
        format!("data: x\r\n\r\n{tool}\r\n\r\n").into_bytes(),
        br#"data: {"a":"\n\\\"\/"}

data: {"b":"\u0074ool_use"}

data: {"type":"tool\_use","name":"bad"}

"#
        .to_vec(),
        b"data: a\\\n\ndata: b\\".to_vec(),
        b"data: a\0b\n\ndata: c\n\n".to_vec(),
        b"event: tool_call\ndata: {}\n\ndata: 1\n\n".to_vec(),
        b"event: tool_start\r\n\r\n".to_vec(),
        br#"data: {"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"bad"},{"name":"ok_a"}]}}

data: z

"#
        .to_vec(),
        [
            b"data: ".as_slice(),
            &[b'x'; 40],
            b"\n\n",
            &[b'y'; 30],
            b"\n\ndata: ",
            &[b'z'; 50],
        ]
        .concat(),
    ];
    let lists = [Allowlist::of(&["ok_*"]), Allowlist::of(&["*"])];
    for input in &cases {
        for list in &lists {
            for max in [65536, 40, 8] {
                for i in 0..=input.len() {
                    for j in i..=input.len() {
                        let chunks = [&input[..i], &input[i..j], &input[j..]];
                        agree(list, max, &chunks, &|| {
                            format!("{:?} split {i} {j} max {max}", Lossy(input))
                        });
                    }
                }
                let bytes: Vec<&[u8]> = input.chunks(1).collect();
                agree(list, max, &bytes, &|| {
                    format!("{:?} bytewise", Lossy(input))
                });
            }
        }
    }
}
