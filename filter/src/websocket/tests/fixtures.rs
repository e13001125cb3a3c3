//! Every recorded stream under `fixtures/streams/`, its frames' `data` replayed as
//! WebSocket text messages (as an AgentCore `/ws` agent sends them): passed
//! byte-identical when allowed, closed 1008 exactly at the message that starts
//! the first denied call, at every split point of every message and under many
//! chunkings of the whole connection.

use super::*;
use crate::sse::framer::Framer;
use crate::sse::tests::Rng;
use wasm_bindgen_test::wasm_bindgen_test;

/// A stream, and per tool the index of the frame (so: the message) that first
/// calls it, known by hand from the file (the SSE fixture tests use the same).
struct Fixture {
    file: &'static str,
    bytes: &'static [u8],
    first_call: &'static [(usize, &'static str)],
}

macro_rules! fixture {
    ($file:literal, $first:expr) => {
        Fixture {
            file: $file,
            bytes: include_bytes!(concat!("../../../../fixtures/streams/", $file)),
            first_call: $first,
        }
    };
}

const FIXTURES: &[Fixture] = &[
    fixture!("agentcore_strands_tool_use.sse", &[(9, "calculator")]),
    fixture!(
        "anthropic_messages_server_tool_use_fixture.sse",
        &[(1, "web_search")]
    ),
    fixture!("anthropic_messages_tool_use.sse", &[(6, "get_weather")]),
    fixture!(
        "gemini_stream_function_call_gemini2flash.sse",
        &[(0, "get_capital")]
    ),
    fixture!(
        "gemini_stream_function_call_gemini3_thought_signature.sse",
        &[(0, "get_country")]
    ),
    fixture!(
        "openai_chat_non_strict_tool_call.sse",
        &[(0, "get_weather")]
    ),
    fixture!(
        "openai_chat_parallel_tool_calls.sse",
        &[(1, "GetWeatherArgs"), (13, "get_stock_price")]
    ),
    fixture!("openai_chat_single_tool_call.sse", &[(0, "get_weather")]),
    fixture!(
        "openai_responses_function_call_gpt4o.sse",
        &[(2, "get_capital")]
    ),
    fixture!(
        "openai_responses_function_call_with_reasoning_seqnum.sse",
        &[(4, "final_result")]
    ),
    fixture!(
        "openai_responses_hosted_mcp_call.sse",
        &[(8, "ask_question")]
    ),
];

/// The frames' `data`, one message each.
fn messages(bytes: &[u8]) -> Vec<String> {
    let mut framer = Framer::new(usize::MAX);
    framer.push(bytes);
    let mut out = Vec::new();
    while let Some(frame) = framer.next_frame(true).unwrap() {
        out.push(frame.data);
    }
    out
}

fn shape(rng: &mut Rng) -> Shape {
    Shape {
        // One-byte fragments of long messages would go over the held-bytes bound
        // (headers count: `endless_empty_fragments_are_too_big_not_held_forever`).
        fragment: *rng.pick(&[0, 0, 7, 64, 300]),
        mask: rng.chance(4).then(|| [rng.next() as u8, 0x5A, 0, 0xFF]),
        pings: rng.chance(2),
        long_lengths: rng.chance(5),
    }
}

/// The connection, and the expected output up to (not into) message `cut`:
/// with the pings inside that message, which went out before it was refused.
fn connection(messages: &[String], seed: u64, cut: Option<usize>) -> (Wire, Vec<u8>) {
    let mut rng = Rng::new(seed);
    let mut wire = Wire::default();
    let mut prefix = None;
    for (i, m) in messages.iter().enumerate() {
        let before = wire.expected.len();
        let ahead = wire.text(m, &shape(&mut rng));
        if Some(i) == cut {
            prefix = Some(wire.expected[..before + ahead].to_vec());
        }
    }
    let expected = prefix.unwrap_or_else(|| wire.expected.clone());
    (wire, expected)
}

fn random_chunks<'a>(bytes: &'a [u8], rng: &mut Rng) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let most = *rng.pick(&[3, 40, 1500]);
        let n = (1 + rng.below(most)).min(rest.len());
        let (a, b) = rest.split_at(n);
        out.push(a);
        rest = b;
    }
    out
}

#[test]
#[wasm_bindgen_test]
fn every_fixture_passes_whole_when_allowed_and_closes_at_the_first_denied_call() {
    let chunkings = if cfg!(target_arch = "wasm32") { 3 } else { 12 };
    for f in FIXTURES {
        let messages = messages(f.bytes);
        let everything = Allowlist::of(&["*"]);
        for seed in 0..chunkings {
            let (wire, expected) = connection(&messages, seed, None);
            let mut rng = Rng::new(seed + 100);
            let r = run(&everything, 65536, &random_chunks(&wire.bytes, &mut rng));
            assert_eq!(Lossy(&r.output), Lossy(&expected), "{} seed {seed}", f.file);
            assert!(r.allowed >= f.first_call.len() as u32, "{}", f.file);
            assert_eq!(r.close, None);
        }
        for (index, tool) in f.first_call {
            // Every other tool of the stream is allowed: the close comes at this one.
            let others: Vec<&str> = f
                .first_call
                .iter()
                .map(|(_, t)| *t)
                .filter(|t| t != tool)
                .collect();
            let list = Allowlist::of(&others);
            let earlier_tools = f.first_call.iter().filter(|(i, _)| i < index).count();
            for seed in 0..chunkings {
                let (wire, mut expected) = connection(&messages, seed, Some(*index));
                expected.extend_from_slice(&denied_close(tool));
                let mut rng = Rng::new(seed + 200);
                let r = run(&list, 65536, &random_chunks(&wire.bytes, &mut rng));
                assert_eq!(
                    Lossy(&r.output),
                    Lossy(&expected),
                    "{} {tool} seed {seed}",
                    f.file
                );
                assert_eq!(r.close, Some(1008));
                assert_eq!(r.denied, 1);
                assert!(r.allowed as usize >= earlier_tools);
            }
        }
    }
}

#[test]
#[wasm_bindgen_test]
fn every_split_point_of_every_fixture_message() {
    // wasm-bindgen runs (a JS engine, several times slower) take every 5th message.
    let step = if cfg!(target_arch = "wasm32") { 5 } else { 1 };
    for f in FIXTURES {
        let messages = messages(f.bytes);
        for (i, m) in messages.iter().enumerate().step_by(step) {
            let tool = f
                .first_call
                .iter()
                .find(|(at, _)| *at == i)
                .map(|(_, t)| *t);
            for shape in [
                Shape::default(),
                Shape {
                    fragment: 16,
                    pings: true,
                    mask: Some([9, 8, 7, 6]),
                    ..Shape::default()
                },
            ] {
                let mut wire = Wire::default();
                wire.control(0x9, b"before");
                wire.text(m, &shape);
                wire.control(0xA, b"after");
                // Allowed: the connection byte for byte (pings first, see Wire).
                for chunks in two_way_splits(&wire.bytes) {
                    let r = run(&Allowlist::of(&["*"]), 65536, &chunks);
                    assert_eq!(
                        Lossy(&r.output),
                        Lossy(&wire.expected),
                        "{} message {i}",
                        f.file
                    );
                }
                let Some(tool) = tool else { continue };
                let list = Allowlist::of(&["none"]);
                let whole = run(&list, 65536, &[&wire.bytes]);
                assert_eq!(whole.close, Some(1008), "{} message {i}", f.file);
                assert!(
                    whole.output.ends_with(&denied_close(tool)),
                    "{} message {i}",
                    f.file
                );
                for chunks in two_way_splits(&wire.bytes) {
                    assert_eq!(run(&list, 65536, &chunks), whole, "{} message {i}", f.file);
                }
            }
        }
    }
}
