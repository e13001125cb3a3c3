//! Every fixture stream through the guard under every chunking: byte-identical when
//! allowed, cut exactly before the tool-call frame when denied.

use super::*;
use crate::sse::framer::Framer;
use wasm_bindgen_test::wasm_bindgen_test;

pub(super) struct Fixture {
    pub(super) file: &'static str,
    pub(super) bytes: &'static [u8],
    /// Every tool the stream calls.
    pub(super) tools: &'static [&'static str],
    /// Frame count (reference splitter) and, known by hand from the file, the
    /// index of the first frame that starts a call of each tool.
    frames: usize,
    first_call: &'static [(usize, &'static str)],
}

macro_rules! fixture {
    ($file:literal, $tools:expr, $frames:expr, $first:expr) => {
        Fixture {
            file: $file,
            bytes: include_bytes!(concat!("../../../../fixtures/streams/", $file)),
            tools: $tools,
            frames: $frames,
            first_call: $first,
        }
    };
}

pub(super) const FIXTURES: &[Fixture] = &[
    // Strands via AgentCore: Bedrock contentBlockStart at frame 9; the Python-repr
    // frames ('name': 'calculator' inside a JSON string) and the final `message`
    // summary are not tool calls.
    fixture!(
        "agentcore_strands_tool_use.sse",
        &["calculator"],
        32,
        &[(9, "calculator")]
    ),
    fixture!(
        "anthropic_messages_server_tool_use_fixture.sse",
        &["web_search"],
        18,
        &[(1, "web_search")]
    ),
    // No final blank line: the last frame is the unterminated tail.
    fixture!(
        "anthropic_messages_tool_use.sse",
        &["get_weather"],
        15,
        &[(6, "get_weather")]
    ),
    fixture!(
        "gemini_stream_function_call_gemini2flash.sse",
        &["get_capital"],
        1,
        &[(0, "get_capital")]
    ),
    fixture!(
        "gemini_stream_function_call_gemini3_thought_signature.sse",
        &["get_country"],
        2,
        &[(0, "get_country")]
    ),
    fixture!(
        "openai_chat_non_strict_tool_call.sse",
        &["get_weather"],
        11,
        &[(0, "get_weather")]
    ),
    fixture!(
        "openai_chat_parallel_tool_calls.sse",
        &["GetWeatherArgs", "get_stock_price"],
        26,
        &[(1, "GetWeatherArgs"), (13, "get_stock_price")]
    ),
    fixture!(
        "openai_chat_single_tool_call.sse",
        &["get_weather"],
        14,
        &[(0, "get_weather")]
    ),
    fixture!(
        "openai_responses_function_call_gpt4o.sse",
        &["get_capital"],
        11,
        &[(2, "get_capital")]
    ),
    fixture!(
        "openai_responses_function_call_with_reasoning_seqnum.sse",
        &["final_result"],
        14,
        &[(4, "final_result")]
    ),
    fixture!(
        "openai_responses_hosted_mcp_call.sse",
        &["ask_question"],
        194,
        &[(8, "ask_question")]
    ),
];

/// Split points where a chunk boundary changes the framer's path: within 2 bytes
/// of a CR, LF or non-ASCII byte (line ends, CRLF pairs, the BOM, multi-byte
/// characters), plus every 61st byte. The guard runs every fixture whole at each
/// of these (a tenth of them for the 77 KB stream). Running it at literally every
/// byte of every fixture takes minutes in a debug build, so that is
/// `every_split_point_of_every_fixture`, ignored by default (run it with
/// `cargo test -p toolguard -- --ignored`). The framer, the one part that sees
/// chunk boundaries, runs at every split point by default
/// (`framer_gives_the_same_frames_at_every_split_point`).
pub(super) fn guard_split_points(bytes: &[u8]) -> Vec<usize> {
    let near = |i: usize| {
        bytes[i.saturating_sub(2)..(i + 2).min(bytes.len())]
            .iter()
            .any(|&b| b == b'\n' || b == b'\r' || b >= 0x80)
    };
    let points = (0..=bytes.len()).filter(|&i| i % 61 == 0 || near(i));
    // Big streams, and wasm-bindgen runs (a JS engine, several times slower),
    // take a sample.
    let step = if bytes.len() > 16 * 1024 { 10 } else { 1 }
        * if cfg!(target_arch = "wasm32") { 7 } else { 1 };
    points.step_by(step).collect()
}

fn check_at(f: &Fixture, list: &Allowlist, expected: &[u8], points: &[usize]) -> Run {
    let whole = run(list, 65536, &[f.bytes]);
    assert_eq!(Lossy(&whole.output), Lossy(expected), "{} whole", f.file);
    let same = |r: Run, how: &str| {
        assert_eq!(Lossy(&r.output), Lossy(expected), "{}: {how}", f.file);
        assert_eq!(
            (r.allowed, r.denied),
            (whole.allowed, whole.denied),
            "{}: {how}",
            f.file
        );
    };
    for &cut in points {
        let (a, b) = f.bytes.split_at(cut);
        same(run(list, 65536, &[a, b]), &format!("split at {cut}"));
    }
    let bytes: Vec<&[u8]> = f.bytes.chunks(1).collect();
    same(run(list, 65536, &bytes), "1-byte chunks");
    for (i, chunks) in random_chunkings(f.bytes, 7 + f.bytes.len() as u64, 16)
        .iter()
        .enumerate()
    {
        same(run(list, 65536, chunks), &format!("random chunking {i}"));
    }
    whole
}

fn check(f: &Fixture, list: &Allowlist, expected: &[u8]) -> Run {
    check_at(f, list, expected, &guard_split_points(f.bytes))
}

/// (raw, events, data) of every frame, pushing `chunks`.
fn framed(chunks: &[&[u8]]) -> Vec<(Vec<u8>, Vec<String>, String)> {
    let mut framer = Framer::new(65536);
    let mut out = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        framer.push(chunk);
        while let Some(f) = framer.next_frame(i + 1 == chunks.len()).unwrap() {
            out.push((f.raw.to_vec(), f.events, f.data));
        }
    }
    out
}

#[test]
#[wasm_bindgen_test]
fn hand_known_tool_frames_match_the_reference_splitter() {
    for f in FIXTURES {
        let frames = reference_frames(f.bytes);
        assert_eq!(frames.len(), f.frames, "{}", f.file);
        assert_eq!(frames.concat(), f.bytes);
        for (index, name) in f.first_call {
            let frame = String::from_utf8_lossy(frames[*index]);
            assert!(
                frame.contains(&format!("\"{name}\"")),
                "{} frame {index}: {frame}",
                f.file
            );
        }
    }
}

#[test]
#[wasm_bindgen_test]
fn allow_all_passes_every_fixture_byte_identical() {
    for f in FIXTURES {
        let r = check(f, &Allowlist::of(&["*"]), f.bytes);
        assert!(!r.cut && r.denied == 0, "{}", f.file);
        // Each fixture calls each of its tools once; restatements (Responses
        // `.done`) are checked but not counted again.
        assert_eq!(r.allowed, f.tools.len() as u32, "{}", f.file);
    }
}

#[test]
#[wasm_bindgen_test]
fn exactly_the_fixture_tools_allowed_passes_byte_identical() {
    for f in FIXTURES {
        // Same path as allow-all but for the name checks: no split points needed
        // beyond the whole, bytewise and random chunkings.
        let r = check_at(f, &Allowlist::of(f.tools), f.bytes, &[]);
        assert!(!r.cut && r.allowed == f.tools.len() as u32, "{}", f.file);
    }
}

#[test]
#[wasm_bindgen_test]
fn denied_tool_cuts_exactly_before_its_first_frame() {
    for f in FIXTURES {
        let frames = reference_frames(f.bytes);
        for (index, name) in f.first_call {
            let others: Vec<&str> = f.tools.iter().copied().filter(|t| t != name).collect();
            let expected = cut_before(&frames[..*index].concat(), name);
            let r = check(f, &Allowlist::of(&others), &expected);
            assert!(r.cut && r.denied == 1, "{}", f.file);
        }
    }
}

#[test]
#[wasm_bindgen_test]
fn prefix_patterns_apply_to_fixture_names() {
    let f = &FIXTURES[6];
    assert_eq!(f.file, "openai_chat_parallel_tool_calls.sse");
    let frames = reference_frames(f.bytes);
    let expected = cut_before(&frames[..13].concat(), "get_stock_price");
    check(
        f,
        &Allowlist::of(&["GetWeather*", "get_weather"]),
        &expected,
    );
    check(f, &Allowlist::of(&["Get*", "get_*"]), f.bytes);
}

#[test]
#[wasm_bindgen_test]
fn framer_gives_the_same_frames_at_every_split_point() {
    for f in FIXTURES {
        let whole = framed(&[f.bytes]);
        let raws: Vec<&[u8]> = whole.iter().map(|x| x.0.as_slice()).collect();
        assert_eq!(raws, reference_frames(f.bytes), "{}", f.file);
        // Streams over 9 KB (the 77 KB one alone is 6·10⁹ byte steps) and wasm
        // runs take the sample.
        let points: Vec<usize> = if f.bytes.len() > 9 * 1024 || cfg!(target_arch = "wasm32") {
            guard_split_points(f.bytes)
        } else {
            (0..=f.bytes.len()).collect()
        };
        for cut in points {
            let (a, b) = f.bytes.split_at(cut);
            assert!(framed(&[a, b]) == whole, "{} split at {cut}", f.file);
        }
    }
}

#[test]
#[ignore = "minutes in a debug build; run with --ignored"]
fn every_split_point_of_every_fixture() {
    for f in FIXTURES {
        let all: Vec<usize> = (0..=f.bytes.len()).collect();
        check_at(f, &Allowlist::of(&["*"]), f.bytes, &all);
        let frames = reference_frames(f.bytes);
        for (index, name) in f.first_call {
            let others: Vec<&str> = f.tools.iter().copied().filter(|t| t != name).collect();
            check_at(
                f,
                &Allowlist::of(&others),
                &cut_before(&frames[..*index].concat(), name),
                &all,
            );
        }
    }
}
