//! RFC 6455 frame shapes: lengths, masking, fragmentation, interleaved control
//! frames, and what closes the connection.

use super::*;
use crate::websocket::close::close_frame;
use wasm_bindgen_test::wasm_bindgen_test;

const CALL: &str = r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"NAME","input":{}}}"#;

fn call(name: &str) -> String {
    CALL.replace("NAME", name)
}

fn list() -> Allowlist {
    Allowlist::of(&["ok_*"])
}

/// The same expectation at every two-way split and bytewise.
fn check_splits(wire: &Wire, expected: &[u8], close: Option<u16>) {
    for chunks in two_way_splits(&wire.bytes) {
        let r = run(&list(), 65536, &chunks);
        assert_eq!(Lossy(&r.output), Lossy(expected), "{} chunks", chunks.len());
        assert_eq!(r.close, close);
    }
}

#[test]
#[wasm_bindgen_test]
fn allowed_messages_pass_byte_identical_in_every_shape() {
    let shapes = [
        Shape::default(),
        Shape {
            fragment: 7,
            ..Shape::default()
        },
        Shape {
            fragment: 7,
            pings: true,
            ..Shape::default()
        },
        Shape {
            mask: Some([0x12, 0x34, 0x56, 0x78]),
            fragment: 5,
            pings: true,
            ..Shape::default()
        },
        Shape {
            long_lengths: true,
            fragment: 50,
            ..Shape::default()
        },
    ];
    for shape in &shapes {
        let mut wire = Wire::default();
        wire.text(&call("ok_search"), shape);
        wire.text("[DONE]", shape);
        wire.message(2, &[0xFF, 0x00, 0x81, 0x7E], shape);
        wire.control(0xA, b"pong");
        let r = run(&list(), 65536, &[&wire.bytes]);
        assert_eq!(r.allowed, 1, "{shape:?}");
        check_splits(&wire, &wire.expected, None);
        if !shape.pings {
            assert_eq!(wire.expected, wire.bytes, "{shape:?}");
        }
    }
}

#[test]
#[wasm_bindgen_test]
fn a_denied_call_closes_1008_and_nothing_of_its_message_goes_out() {
    for shape in [
        Shape::default(),
        Shape {
            fragment: 3,
            pings: true,
            ..Shape::default()
        },
        Shape {
            mask: Some([1, 2, 3, 4]),
            fragment: 40,
            ..Shape::default()
        },
    ] {
        let mut before = Wire::default();
        before.text(&call("ok_a"), &shape);
        before.text("hello", &shape);
        let mut wire = before.clone();
        wire.text(&call("bad_x"), &shape);
        // The rest of the connection is never read.
        wire.text(&call("ok_b"), &shape);
        wire.control(0x9, b"after");
        let r = run(&list(), 65536, &[&wire.bytes]);
        assert_eq!(r.denied, 1);
        assert_eq!(r.allowed, 1);
        let mut want = before.expected.clone();
        if shape.pings {
            // Each ping of the denied message: the ones the wire put between fragments.
            let frames: Vec<u8> = (1..call("bad_x").len().div_ceil(shape.fragment))
                .flat_map(|i| frame(true, 0x9, format!("p{i}").as_bytes(), &shape))
                .collect();
            want.extend_from_slice(&frames);
        }
        want.extend_from_slice(&denied_close("bad_x"));
        check_splits(&wire, &want, Some(1008));
    }
}

#[test]
#[wasm_bindgen_test]
fn sixteen_and_sixty_four_bit_lengths() {
    for n in [125usize, 126, 127, 0xFFFF, 0x1_0000, 70_000] {
        let text = format!("{{\"pad\":\"{}\"}}", "a".repeat(n - 10));
        let mut wire = Wire::default();
        wire.text(&text, &Shape::default());
        let r = run(&list(), 1 << 20, &[&wire.bytes]);
        assert_eq!(r.output, wire.bytes, "{n}");
        let r = run(
            &list(),
            1 << 20,
            &wire.bytes.chunks(1000).collect::<Vec<_>>(),
        );
        assert_eq!(r.output, wire.bytes, "{n} in 1000-byte chunks");
    }
}

#[test]
#[wasm_bindgen_test]
fn a_message_over_the_limit_closes_1009_before_any_of_it() {
    let limit = 64;
    let mut wire = Wire::default();
    wire.text("small", &Shape::default());
    let first = wire.bytes.len();
    wire.text(
        &"x".repeat(limit + 1),
        &Shape {
            fragment: 10,
            ..Shape::default()
        },
    );
    let mut want = wire.bytes[..first].to_vec();
    want.extend_from_slice(&close_frame(
        1009,
        "message exceeds max_frame_bytes (64 bytes)",
    ));
    for chunks in two_way_splits(&wire.bytes) {
        let r = run(&list(), limit, &chunks);
        assert_eq!(Lossy(&r.output), Lossy(&want));
        assert_eq!(r.close, Some(1009));
    }
    // Exactly at the limit is fine.
    let mut wire = Wire::default();
    wire.text(
        &"x".repeat(limit),
        &Shape {
            fragment: 10,
            ..Shape::default()
        },
    );
    assert_eq!(run(&list(), limit, &[&wire.bytes]).output, wire.bytes);
}

#[test]
#[wasm_bindgen_test]
fn endless_empty_fragments_are_too_big_not_held_forever() {
    let mut bytes = frame(false, 1, b"{", &Shape::default());
    for _ in 0..100 {
        bytes.extend_from_slice(&frame(false, 0, b"", &Shape::default()));
    }
    let r = run(&list(), 64, &[&bytes]);
    assert_eq!(r.close, Some(1009));
    assert_eq!(
        r.output,
        close_frame(1009, "message exceeds max_frame_bytes (64 bytes)")
    );
}

#[test]
#[wasm_bindgen_test]
fn binary_and_control_frames_flow_before_they_are_complete() {
    let payload = vec![7u8; 300];
    let bin = frame(true, 2, &payload, &Shape::default());
    let mut guard = MessageGuard::new(list(), 65536);
    let r = guard.on_chunk(&bin[..100]);
    assert_eq!(r.output, &bin[..100]);
    assert_eq!(guard.held_bytes(), 0);
    // A split header is all that waits.
    let r = guard.on_chunk(&bin[100..]);
    assert_eq!(r.output, &bin[100..]);
    let text = frame(true, 1, b"{}", &Shape::default());
    assert!(guard.on_chunk(&text[..1]).output.is_empty());
    assert_eq!(guard.held_bytes(), 1);
    assert_eq!(guard.on_chunk(&text[1..]).output, text);
}

#[test]
#[wasm_bindgen_test]
fn a_held_text_message_does_not_hold_back_a_ping() {
    let mut guard = MessageGuard::new(list(), 65536);
    let first = frame(false, 1, b"{\"a\":", &Shape::default());
    let ping = frame(true, 9, b"hi", &Shape::default());
    let last = frame(true, 0, b"1}", &Shape::default());
    assert!(guard.on_chunk(&first).output.is_empty());
    assert_eq!(guard.on_chunk(&ping).output, ping);
    assert_eq!(guard.on_chunk(&last).output, [first, last].concat());
}

#[test]
#[wasm_bindgen_test]
fn an_upstream_close_passes_and_the_upstream_may_close_mid_message() {
    let mut wire = Wire::default();
    wire.text("{}", &Shape::default());
    wire.control(8, &[0x03, 0xE8]);
    assert_eq!(run(&list(), 65536, &[&wire.bytes]).output, wire.bytes);
    // A close between fragments: the unfinished message is never forwarded.
    let first = frame(false, 1, &call("ok_a").as_bytes()[..10], &Shape::default());
    let close = frame(true, 8, &[0x03, 0xE8], &Shape::default());
    let r = run(&list(), 65536, &[&first, &close]);
    assert_eq!(r.output, close);
}

#[test]
#[wasm_bindgen_test]
fn broken_framing_closes_1002() {
    let s = Shape::default();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("rsv1 (compressed)", [&[0xC1u8, 0x02][..], b"{}"].concat()),
        ("opcode 3", vec![0x83, 0x00]),
        ("continuation first", frame(true, 0, b"x", &s)),
        (
            "text inside text",
            [frame(false, 1, b"{", &s), frame(true, 1, b"}", &s)].concat(),
        ),
        ("fragmented ping", frame(false, 9, b"", &s)),
        ("long ping", frame(true, 9, &[0; 126], &s)),
        (
            "top length bit",
            [&[0x82u8, 127, 0x80][..], &[0; 7]].concat(),
        ),
    ];
    for (what, bytes) in cases {
        for chunks in two_way_splits(&bytes) {
            let r = run(&list(), 65536, &chunks);
            assert_eq!(r.close, Some(1002), "{what}");
            // Nothing but the close frame: code 1002, a reason, nothing after.
            assert_eq!(
                &r.output[..4],
                &[0x88, r.output.len() as u8 - 2, 0x03, 0xEA],
                "{what}"
            );
        }
    }
}

#[test]
#[wasm_bindgen_test]
fn a_call_inside_a_string_or_plain_text_is_not_a_call() {
    let mut wire = Wire::default();
    wire.text(
        &serde_json::to_string(&call("bad_x")).unwrap(),
        &Shape::default(),
    );
    wire.text("tool_use bad_x", &Shape::default());
    let r = run(&list(), 65536, &[&wire.bytes]);
    assert_eq!(r.output, wire.bytes);
    assert_eq!(r.close, None);
}

#[test]
#[wasm_bindgen_test]
fn a_restated_call_counts_once() {
    let added = r#"{"type":"response.output_item.added","item":{"type":"function_call","id":"fc_1","name":"ok_a"}}"#;
    let done = added.replace(".added", ".done");
    let mut wire = Wire::default();
    wire.text(added, &Shape::default());
    wire.text(&done, &Shape::default());
    assert_eq!(run(&list(), 65536, &[&wire.bytes]).allowed, 1);
}
