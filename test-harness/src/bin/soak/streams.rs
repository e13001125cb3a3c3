//! The streams the soak's agent serves: every recorded fixture, each under
//! several upstream chunkings, with what a denied caller must receive and
//! where a reset may cut it.

use std::time::Duration;

use bytes::Bytes;
use test_harness::{paths, Chunking, MockAgent, Reply};

use crate::{sse, Rng};

pub struct Fixture {
    pub name: String,
    pub bytes: Bytes,
    /// What a caller allowed no tool receives.
    pub denied: Bytes,
    /// Reset variants: (byte where the upstream aborts, frame ends of the
    /// stream cut there, i.e. where a broken stream may stop).
    pub resets: Vec<(usize, Vec<usize>)>,
}

pub fn load_fixtures(rng: &mut Rng) -> Vec<Fixture> {
    paths::stream_fixtures()
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|(name, bytes)| {
            let (_, frame, names) =
                sse::first_tool_frame(&bytes).unwrap_or_else(|| panic!("{name}: no tool call"));
            let mut denied = bytes[..frame.range.start].to_vec();
            denied.extend_from_slice(sse::denied_event(&names[0]).as_bytes());
            let frames = sse::frames(&bytes);
            let resets = (0..4)
                .filter_map(|_| {
                    // Strictly inside a frame, after the first one if there
                    // are several.
                    let first = usize::from(frames.len() > 1);
                    let f = &frames[first + rng.below(frames.len() - first)];
                    let len = f.range.len();
                    (len >= 2).then(|| f.range.start + 1 + rng.below(len - 1))
                })
                .map(|at| {
                    let mut ends = vec![0];
                    ends.extend(
                        sse::frames(&bytes[..at])
                            .iter()
                            .filter(|f| f.terminated)
                            .map(|f| f.range.end),
                    );
                    (at, ends)
                })
                .collect();
            Fixture {
                name,
                bytes: Bytes::from(bytes),
                denied: Bytes::from(denied),
                resets,
            }
        })
        .collect()
}

/// How the upstream cuts a body, by variant.
pub fn chunking(variant: usize, seed: u64) -> (Chunking, Duration) {
    match variant {
        0 => (Chunking::Whole, Duration::ZERO),
        1 => (Chunking::Random { seed, max: 3 }, Duration::ZERO),
        2 => (Chunking::Random { seed, max: 64 }, Duration::from_millis(1)),
        _ => (
            Chunking::Random { seed, max: 400 },
            Duration::from_millis(3),
        ),
    }
}
pub const VARIANTS: usize = 4;

pub fn route_all(agent: &MockAgent, fixtures: &[Fixture], rng: &mut Rng) {
    for (i, f) in fixtures.iter().enumerate() {
        for v in 0..VARIANTS {
            let (c, d) = chunking(v, rng.next_u64());
            agent.route(
                &format!("/s/{i}/{v}"),
                Reply::sse(f.bytes.clone()).chunking(c).delay(d),
            );
        }
        for (r, (at, _)) in f.resets.iter().enumerate() {
            let (c, d) = chunking(1 + r % 3, rng.next_u64());
            agent.route(
                &format!("/r/{i}/{r}"),
                Reply::sse(f.bytes.clone())
                    .chunking(c)
                    .delay(d)
                    .reset_after(*at),
            );
        }
        agent.route(
            &format!("/l/{i}"),
            Reply::sse(f.bytes.clone())
                .chunking(Chunking::Random {
                    seed: rng.next_u64(),
                    max: 50,
                })
                .delay(Duration::from_millis(2))
                .then_keep_streaming(Duration::from_millis(30), Duration::from_secs(60)),
        );
    }
}
