//! Tool quotas on WebSocket (SPEC "Rate limits", `tools`): a text message with
//! allowed tool calls stops the guard until it is charged, at every split.

use super::*;
use crate::websocket::guard::CloseReason;
use wasm_bindgen_test::wasm_bindgen_test;

const CALL: &str = r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"ok_search","input":{}}}"#;

/// A text before the call, the call in fragments with a ping inside, a text after.
fn wire() -> (Wire, usize) {
    let mut wire = Wire::default();
    wire.text(r#"{"text":"before"}"#, &Shape::default());
    let shape = Shape {
        fragment: 40,
        pings: true,
        ..Shape::default()
    };
    wire.text(CALL, &shape);
    // Where the call message starts in what the client receives (its pings
    // went ahead of it).
    let call_start = wire.expected.len() - frame_bytes(CALL, &shape);
    wire.text(r#"{"text":"after"}"#, &Shape::default());
    (wire, call_start)
}

fn frame_bytes(text: &str, shape: &Shape) -> usize {
    let mut w = Wire::default();
    let ahead = w.text(text, shape);
    w.expected.len() - ahead
}

#[test]
#[wasm_bindgen_test]
fn an_allowed_call_stops_the_guard_once_and_everything_arrives_after_the_charge() {
    let (wire, call_start) = wire();
    for chunks in two_way_splits(&wire.bytes) {
        let mut guard = MessageGuard::new(Allowlist::of(&["ok_*"]), 65536).charging_tools();
        let mut output = Vec::new();
        let mut charges = Vec::new();
        for chunk in &chunks {
            let mut r = guard.on_chunk(chunk);
            while let WsVerdict::Charge {
                names,
                message_start,
            } = &r.verdict
            {
                let start = output.len() + message_start;
                output.extend_from_slice(&r.output);
                // The message being charged ends what was handed out.
                assert_eq!(start, call_start, "{} chunks", chunks.len());
                charges.push(names.clone());
                r = guard.on_chunk(&[]);
            }
            assert_eq!(r.verdict, WsVerdict::Continue);
            output.extend_from_slice(&r.output);
        }
        assert_eq!(charges, [vec!["ok_search".to_owned()]]);
        assert_eq!(Lossy(&output), Lossy(&wire.expected));
    }
}

#[test]
#[wasm_bindgen_test]
fn a_refused_charge_sends_the_close_in_the_place_of_the_message() {
    let (wire, call_start) = wire();
    for chunks in two_way_splits(&wire.bytes) {
        let mut guard = MessageGuard::new(Allowlist::of(&["ok_*"]), 65536).charging_tools();
        let mut output = Vec::new();
        let mut refused = false;
        for chunk in &chunks {
            let r = guard.on_chunk(chunk);
            if refused {
                assert_eq!(r.verdict, WsVerdict::Closed);
                assert!(r.output.is_empty());
                continue;
            }
            if let WsVerdict::Charge { message_start, .. } = r.verdict {
                output.extend_from_slice(&r.output[..message_start]);
                output.extend_from_slice(&guard.refuse_charge(CloseReason::OverLimit {
                    name: "ok_search".into(),
                }));
                refused = true;
                assert!(guard.is_closed());
                assert_eq!(guard.held_bytes(), 0);
                continue;
            }
            output.extend_from_slice(&r.output);
        }
        assert!(refused);
        let mut expected = wire.expected[..call_start].to_vec();
        expected.extend_from_slice(&close_frame(
            1008,
            "tool \"ok_search\" is over its rate limit",
        ));
        assert_eq!(Lossy(&output), Lossy(&expected), "{} chunks", chunks.len());
    }
}

#[test]
#[wasm_bindgen_test]
fn without_tool_quotas_the_guard_never_stops() {
    let (wire, _) = wire();
    let r = run(&Allowlist::of(&["ok_*"]), 65536, &[&wire.bytes]);
    assert_eq!(Lossy(&r.output), Lossy(&wire.expected));
    assert_eq!(r.allowed, 1);
}
