//! An arbitrary stream cut into arbitrary chunks (layout in `toolguard_fuzz::Layout`),
//! through the framer and through the stream guard.
//!
//! Framer: the frames (bytes, event values, joined data) and the over-limit
//! refusal are the same whatever the chunking; with the whole stream they are
//! the reference splitter's frames and fields.
//!
//! Guard: the output and counters are the same whatever the chunking; after a
//! chunk the output is exactly the forwarded form of the frames complete so far
//! (whole frames, none held back); a cut ends the output with the error event,
//! after which nothing more comes out; without a cut the output is every frame;
//! under `*` the output is the input byte for byte; and the guard gives, chunk
//! by chunk, what `StreamGuard::full_parser_only` (every frame parsed) gives.
//!
//! Dialects are not configured: every frame is checked against all of them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use toolguard::mcp::filter_tools_list_frame;
use toolguard::policy::Allowlist;
use toolguard::sse::error_event::{error_event_stream, frame_too_large_message};
use toolguard::sse::framer::{FrameTooLarge, Framer};
use toolguard::sse::{tool_denied_event, CutReason, StreamGuard, Verdict};
use toolguard_fuzz::{allowlist, reference_fields, reference_frames, Layout, MAX_FRAME_BYTES};

#[derive(Debug, PartialEq)]
struct Owned {
    raw: Vec<u8>,
    events: Vec<String>,
    data: String,
    /// What the guard sends for it if allowed (the `tools/list` rewrite or `raw`).
    forwarded: Vec<u8>,
}

/// Every frame of `chunks`, and the limit if the framer refused one.
fn frames(chunks: &[&[u8]], max: usize, list: &Allowlist) -> (Vec<Owned>, Option<usize>) {
    let mut framer = Framer::new(max);
    let mut out = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let eos = i + 1 == chunks.len();
        framer.push(chunk);
        loop {
            match framer.next_frame(eos) {
                Ok(Some(f)) => {
                    assert!(!f.raw.is_empty());
                    for d in &f.data_lines {
                        assert!(d.line.start <= d.value.start);
                        assert!(d.value.end <= d.line.end && d.line.end <= f.raw.len());
                        let value = &f.raw[d.value.clone()];
                        assert!(!value.contains(&b'\n') && !value.contains(&b'\r'));
                    }
                    let forwarded =
                        filter_tools_list_frame(&f, list).unwrap_or_else(|| f.raw.to_vec());
                    out.push(Owned {
                        raw: f.raw.to_vec(),
                        events: f.events.clone(),
                        data: f.data.clone(),
                        forwarded,
                    });
                }
                Ok(None) => break,
                Err(FrameTooLarge { limit }) => {
                    assert_eq!(limit, max);
                    return (out, Some(limit));
                }
            }
        }
        assert!(framer.held() <= max, "held {} > {max}", framer.held());
    }
    (out, None)
}

#[derive(Debug, PartialEq)]
struct GuardRun {
    output: Vec<u8>,
    allowed: u32,
    denied: u32,
    cut: Option<CutReason>,
}

/// Runs the guard; `after_chunk(consumed, output so far, cut now)` after each chunk.
fn guard(
    chunks: &[&[u8]],
    max: usize,
    list: &Allowlist,
    mut after_chunk: impl FnMut(usize, &[u8], bool, bool),
) -> GuardRun {
    let mut g = StreamGuard::new(list.clone(), max).rewriting_frames_with(filter_tools_list_frame);
    // The fast path (frames without a suspect forwarded unparsed) must give
    // exactly what parsing every frame gives, chunk by chunk.
    let mut reference = StreamGuard::full_parser_only(list.clone(), max)
        .rewriting_frames_with(filter_tools_list_frame);
    let mut run = GuardRun {
        output: Vec::new(),
        allowed: 0,
        denied: 0,
        cut: None,
    };
    let mut consumed = 0;
    for (i, chunk) in chunks.iter().enumerate() {
        let eos = i + 1 == chunks.len();
        consumed += chunk.len();
        let r = g.on_chunk(chunk, eos);
        assert_eq!(r, reference.on_chunk(chunk, eos), "fast path and full parser differ");
        assert_eq!(g.held_bytes(), reference.held_bytes());
        if r.unchanged {
            assert!(r.output.is_empty(), "unchanged, but output of its own");
        }
        if run.cut.is_some() {
            assert_eq!(r.verdict, Verdict::Closed);
            assert!(r.output.is_empty(), "bytes after the cut");
            assert_eq!((r.tools_allowed, r.tools_denied), (0, 0));
            continue;
        }
        run.output.extend_from_slice(r.sent(chunk));
        run.allowed += r.tools_allowed;
        run.denied += r.tools_denied;
        let cut_now = match r.verdict {
            Verdict::Continue => false,
            Verdict::Cut(reason) => {
                run.cut = Some(reason);
                true
            }
            Verdict::Closed => panic!("Closed before any cut"),
            // Only a guard charging tools (rate limits) stops for a charge.
            Verdict::Charge { .. } => panic!("Charge from a guard that charges nothing"),
        };
        assert_eq!(g.is_closed(), cut_now);
        assert!(g.held_bytes() <= max, "held {} > {max}", g.held_bytes());
        after_chunk(consumed, &run.output, cut_now, eos);
    }
    if run.cut.is_some() {
        let r = g.on_chunk(b"event: tool_call\ndata: {}\n\ndata: x\n\n", true);
        assert_eq!(r.verdict, Verdict::Closed);
        assert!(r.output.is_empty(), "bytes after the cut");
    }
    run
}

fuzz_target!(|data: &[u8]| {
    let layout = Layout::parse(data);
    let input = layout.stream;
    let (list, allow_all) = allowlist(layout.flags & 7);
    let max = MAX_FRAME_BYTES[usize::from(layout.flags >> 3) & 3];
    let chunks = layout.chunks(layout.flags & 0x20 != 0);

    // Framer: whole stream against the reference, then the chunking changes nothing.
    let (whole, whole_err) = frames(&[input], max, &list);
    let (reference, open_tail) = reference_frames(input);
    assert!(whole.len() <= reference.len());
    for (i, (f, range)) in whole.iter().zip(&reference).enumerate() {
        assert_eq!(f.raw, input[range.clone()], "frame {i} bytes");
        let (events, data) = reference_fields(&f.raw, i == 0);
        assert_eq!((&f.events, &f.data), (&events, &data), "frame {i} fields");
    }
    match whole_err {
        None => assert_eq!(whole.len(), reference.len()),
        Some(_) => assert!(reference[whole.len()].len() > max),
    }
    let (chunked, chunked_err) = frames(&chunks, max, &list);
    assert_eq!(
        whole_err, chunked_err,
        "over-limit refusal depends on chunking"
    );
    assert_eq!(whole, chunked, "frames depend on chunking");

    // The forwarded bytes of all frames, and where each frame's part ends.
    let full: Vec<u8> = whole
        .iter()
        .flat_map(|f| f.forwarded.iter().copied())
        .collect();
    let mut ends = vec![0];
    for f in &whole {
        ends.push(ends.last().unwrap() + f.forwarded.len());
    }
    let prefix = |k: usize| &full[..ends[k]];
    // Frames complete once `consumed` bytes arrived (before the end of the
    // stream): a frame ended by a CR right at the end waits for the next byte
    // (it may be the LF of a CRLF), and an unterminated tail waits for the end.
    // `consumed` only grows, so the count is carried over (linear, not
    // quadratic, in bytewise chunkings of many small frames).
    let terminated = reference.len() - usize::from(open_tail);
    let mut done = 0;
    let mut complete = |consumed: usize| -> usize {
        while done < terminated && {
            let r = &reference[done];
            r.end < consumed || (r.end == consumed && input[r.end - 1] != b'\r')
        } {
            done += 1;
        }
        done
    };

    let whole_run = guard(&[input], max, &list, |_, _, _, _| {});
    // Only the bytes added since the last chunk are compared: linear in the input.
    let mut checked = 0;
    let run = guard(&chunks, max, &list, |consumed, output, cut_now, eos| {
        if cut_now {
            return;
        }
        let k = if eos {
            reference.len()
        } else {
            complete(consumed)
        };
        assert!(k <= whole.len());
        assert_eq!(
            output.len(),
            ends[k],
            "not the complete frames after {consumed} bytes"
        );
        assert_eq!(
            output[checked..],
            prefix(k)[checked..],
            "after {consumed} bytes"
        );
        checked = output.len();
    });
    assert_eq!(whole_run, run, "guard depends on chunking");

    match &run.cut {
        None => {
            assert_eq!(whole_err, None);
            assert_eq!(run.output, full);
            assert_eq!(run.denied, 0);
            if allow_all {
                assert_eq!(run.output, input, "allow-all changed the stream");
            }
        }
        Some(CutReason::FrameTooLarge { limit }) => {
            assert_eq!(whole_err, Some(*limit));
            let mut expected = full.clone();
            expected.extend_from_slice(&error_event_stream(&frame_too_large_message(*limit)));
            assert_eq!(run.output, expected);
        }
        Some(CutReason::ToolDenied { name }) => {
            assert!(!allow_all, "tool {name:?} denied under *");
            assert_eq!(run.denied, 1);
            let event = tool_denied_event(name);
            assert!(run.output.ends_with(&event));
            let before = &run.output[..run.output.len() - event.len()];
            // Whole frames only, and the denied one is not among them.
            let k = ends
                .iter()
                .position(|&e| e == before.len())
                .expect("output before the cut is not whole frames");
            assert_eq!(before, prefix(k));
            assert!(k < whole.len(), "the denied frame is missing");
        }
        // Only the flow cuts for a rate limit (StreamGuard::close), never the guard.
        Some(CutReason::OverLimit { name }) => panic!("over-limit cut of {name:?} with no limits"),
    }
});
