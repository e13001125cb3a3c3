//! Property test (proptest): generated streams under generated chunkings.
//!
//! Streams are built frame by frame (event names, data lines, comments, `id` and
//! unknown fields, CRLF/LF/CR line ends, a BOM, multi-byte text, an unterminated
//! tail, tool calls of every dialect with allowed and denied names), so where each
//! frame starts and which one is the first denied call is known by construction.
//! The properties: whatever the chunking, the client gets the same bytes as from
//! the whole stream, which are exactly the frames before the first denied call
//! and then the error event; a denied call's bytes never reach it.
//!
//! Native only: proptest is not built for the wasm32 test run.

use super::*;
use proptest::prelude::*;
use proptest::sample::{select, Index};

/// Allowed: `ok_*` and exactly `get_weather`.
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

/// Event names that start no tool call on their own.
const EVENTS: &[&str] = &[
    "message",
    "content_block_delta",
    "ping",
    "response.output_text.delta",
    "tool_result",
    "",
];
const TEXTS: &[&str] = &[
    "hello",
    "caf\u{e9}",
    "\u{1F600}\u{1F680}",
    "\u{4E2D}\u{6587}",
    "tool_use is a word",
    "a:b:c",
    " lead",
    "",
];
const NOISE: &[&str] = &[
    "id: 42",
    "retry: 100",
    "foo: bar",
    ": comment with \"tool_call\"",
    ":",
    "eventx: tool_call",
    "data",
    "x",
];
const LINE_ENDS: [&[u8]; 3] = [b"\n", b"\r\n", b"\r"];

/// One frame's lines (without the blank line that ends it) and the tool it calls.
#[derive(Debug, Clone)]
struct GenFrame {
    lines: Vec<String>,
    tool: Option<String>,
}

fn tool_frame() -> impl Strategy<Value = GenFrame> {
    (
        0..TOOL_TEMPLATES.len(),
        select(NAMES),
        any::<bool>(),
        prop::collection::vec(any::<bool>(), 1..6),
        any::<bool>(),
        prop::option::of(select(NOISE)),
    )
        .prop_map(|(t, name, escape, splits, space, noise)| {
            let (event, template) = TOOL_TEMPLATES[t];
            // The names are compared after JSON decoding.
            let written = if escape {
                name.replace('_', "\\u005f")
            } else {
                name.to_owned()
            };
            let json = template.replace("@NAME@", &format!("\"{written}\""));
            let mut lines: Vec<String> = noise.iter().map(|n| n.to_string()).collect();
            if let Some(e) = event {
                lines.push(format!("event: {e}"));
            }
            // Over several data lines, split after commas: joined with `\n`, the
            // same JSON (the id is filled in later: one per call).
            let mut pieces = vec![String::new()];
            let mut commas = 0;
            for c in json.chars() {
                pieces.last_mut().unwrap().push(c);
                if c == ',' {
                    commas += 1;
                    if splits[commas % splits.len()] && commas % 3 == 0 {
                        pieces.push(String::new());
                    }
                }
            }
            let prefix = if space { "data: " } else { "data:" };
            lines.extend(pieces.into_iter().map(|p| format!("{prefix}{p}")));
            GenFrame {
                lines,
                tool: Some(name.to_owned()),
            }
        })
}

fn other_frame() -> impl Strategy<Value = GenFrame> {
    let text = select(TEXTS);
    let lines = prop_oneof![
        Just(vec![]),
        select(NOISE).prop_map(|n| vec![n.to_owned()]),
        Just(vec!["data: [DONE]".to_owned()]),
        // Python text inside a JSON string is not a tool call (SPEC).
        Just(vec![
            "data: \"{'type': 'tool_use_stream', 'current_tool_use': {'name': 'bad_x'}}\""
                .to_owned()
        ]),
        (select(EVENTS), prop::collection::vec(text.clone(), 1..4)).prop_map(|(e, texts)| {
            let mut lines = vec![format!("event: {e}")];
            lines.extend(texts.iter().map(|t| format!("data: {t}")));
            lines
        }),
        (text.clone(), select(NOISE)).prop_map(|(t, n)| vec![
            n.to_owned(),
            format!("data: {{\"choices\":[{{\"delta\":{{\"content\":\"{t}\"}}}}]}}")
        ]),
        "[a-zA-Z0-9 ,.:!?'-]{0,40}".prop_map(|t| vec![format!("data:{t}")]),
    ];
    lines.prop_map(|lines| GenFrame { lines, tool: None })
}

/// A stream, the start offset of each frame and the tool each calls.
#[derive(Debug, Clone)]
struct Stream {
    bytes: Vec<u8>,
    frames: Vec<(usize, Option<String>)>,
}

fn stream() -> impl Strategy<Value = Stream> {
    (
        prop::collection::vec(prop_oneof![2 => other_frame(), 1 => tool_frame()], 1..14),
        prop::collection::vec(0..LINE_ENDS.len(), 1..40),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(frames, ends, bom, open_tail, no_last_end)| {
            let mut bytes = Vec::new();
            if bom {
                bytes.extend_from_slice(b"\xEF\xBB\xBF");
            }
            let mut starts = Vec::new();
            let mut line_no = 0;
            let mut last_end: &[u8] = b"\n";
            let count = frames.len();
            for (i, frame) in frames.into_iter().enumerate() {
                starts.push((if i == 0 { 0 } else { bytes.len() }, frame.tool.clone()));
                let tail = i + 1 == count && open_tail && !frame.lines.is_empty();
                let mut lines = frame.lines;
                if !tail {
                    lines.push(String::new());
                }
                let n = lines.len();
                for (j, line) in lines.iter().enumerate() {
                    // A fresh id per call: the guard counts a call once per id.
                    let line = line.replace("@ID@", &format!("call{i}"));
                    bytes.extend_from_slice(line.as_bytes());
                    if tail && j + 1 == n && no_last_end {
                        break;
                    }
                    let mut end = LINE_ENDS[ends[line_no % ends.len()]];
                    line_no += 1;
                    // CR then an LF-ended blank line would be one CRLF, and the
                    // frame would not end there: keep the construction honest.
                    if line.is_empty() && last_end == b"\r" && end == b"\n" {
                        end = b"\r\n";
                    }
                    bytes.extend_from_slice(end);
                    last_end = end;
                }
            }
            Stream {
                bytes,
                frames: starts,
            }
        })
}

/// Split points (any of them may repeat: an empty chunk) and an empty last chunk.
fn chunking() -> impl Strategy<Value = (Vec<Index>, bool)> {
    (prop::collection::vec(any::<Index>(), 0..24), any::<bool>())
}

proptest! {
    #[test]
    fn any_chunking_gives_the_frames_before_the_first_denied_call_and_nothing_after(
        s in stream(),
        (points, empty_last) in chunking(),
    ) {
        let input = &s.bytes;
        // The construction's frames are the reference splitter's.
        let starts: Vec<usize> = s.frames.iter().map(|(start, _)| *start).collect();
        let mut at = 0;
        let reference: Vec<usize> = reference_frames(input)
            .iter()
            .map(|f| { at += f.len(); at - f.len() })
            .collect();
        prop_assert_eq!(&reference, &starts, "{:?}", Lossy(input));

        let denied = s.frames.iter().enumerate().find_map(|(i, (start, tool))| {
            tool.as_deref().filter(|t| !allowed(t)).map(|t| (i, *start, t))
        });
        let expected = match denied {
            Some((_, start, name)) => cut_before(&input[..start], name),
            None => input.clone(),
        };
        let calls_before = s.frames
            .iter()
            .take(denied.map_or(s.frames.len(), |(i, _, _)| i))
            .filter(|(_, tool)| tool.is_some())
            .count();

        let list = Allowlist::of(ALLOW);
        let whole = run(&list, 65536, &[input]);
        prop_assert_eq!(Lossy(&whole.output), Lossy(&expected));
        prop_assert_eq!(whole.allowed as usize, calls_before);
        prop_assert_eq!(whole.denied, u32::from(denied.is_some()));

        let mut points: Vec<usize> = points.iter().map(|p| p.index(input.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = split_at(input, &points);
        if empty_last {
            chunks.push(&[]);
        }
        let chunked = run(&list, 65536, &chunks);
        prop_assert_eq!(&chunked, &whole);

        // The denied call itself never reaches the client: its id, unique to
        // its frame, is nowhere in the output.
        if let Some((i, _, _)) = denied {
            let id = format!("\"call{i}\"");
            prop_assert!(!chunked.output.windows(id.len()).any(|w| w == id.as_bytes()));
        }
    }
}
