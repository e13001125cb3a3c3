//! Property test (proptest): generated connections under generated chunkings.
//!
//! A connection is built message by message (tool calls of several dialects with
//! allowed and denied names, plain text, `[DONE]`, binary messages, pings and
//! pongs, fragmentation at any size with pings between fragments, masking, 16-
//! and 64-bit lengths), so what the client must receive is known by construction:
//! every message before the first denied call, the pings inside that one, then
//! the 1008 close. Whatever the chunking, that is what comes out.
//!
//! Native only: proptest is not built for the wasm32 test run.

use super::*;
use proptest::prelude::*;

const ALLOW: &[&str] = &["ok_*", "get_weather"];
const NAMES: &[&str] = &[
    "ok_a",
    "ok_b",
    "get_weather",
    "bad_x",
    "get_weather2",
    "Ok_a",
];

fn allowed(name: &str) -> bool {
    name.starts_with("ok_") || name == "get_weather"
}

const CALLS: &[&str] = &[
    r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"@ID@","name":"@NAME@","input":{}}}"#,
    r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"@ID@","function":{"name":"@NAME@","arguments":""}}]}}]}"#,
    r#"{"type":"response.output_item.added","item":{"type":"function_call","id":"@ID@","name":"@NAME@"}}"#,
    r#"{"event":{"contentBlockStart":{"start":{"toolUse":{"toolUseId":"@ID@","name":"@NAME@"}}}}}"#,
    r#"{"candidates":[{"content":{"parts":[{"functionCall":{"name":"@NAME@","args":{}}}]}}]}"#,
    r#"{"type":"tool-input-start","toolCallId":"@ID@","toolName":"@NAME@"}"#,
];

#[derive(Debug, Clone)]
enum Item {
    Call { template: usize, name: usize },
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        3 => (0..CALLS.len(), 0..NAMES.len()).prop_map(|(template, name)| Item::Call { template, name }),
        2 => prop_oneof![
            Just("[DONE]".to_owned()),
            Just(r#"{"type":"content_block_delta","delta":{"text":"caf\u00e9 tool_use"}}"#.to_owned()),
            "[a-z \u{e9}\u{1F600}]{0,300}",
        ].prop_map(Item::Text),
        1 => prop::collection::vec(any::<u8>(), 0..400).prop_map(Item::Binary),
        1 => prop::collection::vec(any::<u8>(), 0..125).prop_map(Item::Ping),
    ]
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        prop_oneof![Just(0usize), 1usize..40, 100usize..300],
        prop::option::of(any::<[u8; 4]>()),
        any::<bool>(),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(fragment, mask, pings, long_lengths)| Shape {
            fragment,
            mask,
            pings,
            long_lengths,
        })
}

/// The connection, what the client must get, and the allowed calls before the cut.
fn build(items: &[(Item, Shape)]) -> (Vec<u8>, Vec<u8>, u32, bool) {
    let mut wire = Wire::default();
    let mut expected = None;
    let mut allowed_calls = 0;
    for (i, (item, shape)) in items.iter().enumerate() {
        match item {
            Item::Call { template, name } => {
                let name = NAMES[*name];
                let json = CALLS[*template]
                    .replace("@NAME@", name)
                    .replace("@ID@", &format!("id{i}"));
                let before = wire.expected.len();
                let ahead = wire.text(&json, shape);
                if expected.is_none() {
                    if allowed(name) {
                        allowed_calls += 1;
                    } else {
                        let mut e = wire.expected[..before + ahead].to_vec();
                        e.extend_from_slice(&denied_close(name));
                        expected = Some(e);
                    }
                }
            }
            Item::Text(text) => {
                wire.text(text, shape);
            }
            Item::Binary(bytes) => {
                wire.message(2, bytes, shape);
            }
            Item::Ping(bytes) => wire.control(0x9, bytes),
        }
    }
    let denied = expected.is_some();
    let expected = expected.unwrap_or_else(|| wire.expected.clone());
    (wire.bytes, expected, allowed_calls, denied)
}

proptest! {
    #[test]
    fn any_chunking_gives_the_messages_before_the_first_denied_call_then_1008(
        items in prop::collection::vec((item(), shape()), 0..12),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..20),
    ) {
        let (bytes, expected, allowed_calls, denied) = build(&items);
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut at = 0;
        for p in points {
            chunks.push(&bytes[at..p]);
            at = p;
        }
        chunks.push(&bytes[at..]);
        let r = run(&Allowlist::of(ALLOW), 65536, &chunks);
        prop_assert_eq!(Lossy(&r.output), Lossy(&expected));
        prop_assert_eq!(r.allowed, allowed_calls);
        prop_assert_eq!(r.close, denied.then_some(1008));
        prop_assert_eq!(r.denied, u32::from(denied));
    }
}
