//! Drives the stream guard natively over the bench's 1 MiB Anthropic stream in
//! 16 KiB chunks, for instruction counts under callgrind:
//!
//!   valgrind --tool=callgrind target/release/examples/profile_sse [small|large] [fast|full]
//!
//! `full` runs the guard with every frame parsed (`StreamGuard::full_parser_only`),
//! the behaviour before the fast path; `large` uses 4 KiB text deltas; `aligned`
//! cuts the chunks at frame ends (a stream flushed frame by frame); `time N`
//! runs N passes and prints the time per MiB, e.g. under V8 (node's WASI) for
//! a module built with and without `simd128`.

use toolguard::policy::ToolsConfig;
use toolguard::policy::{Allowlist, ToolPattern};
use toolguard::sse::StreamGuard;

fn stream(text_bytes: usize) -> Vec<u8> {
    let mut out = String::from("event: message_start\ndata: {\"type\":\"message_start\"}\n\n");
    let text = "x".repeat(text_bytes);
    let mut n = 0;
    while out.len() < 1 << 20 {
        if n == 100 {
            out.push_str("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_bench\",\"name\":\"search\",\"input\":{}}}\n\n");
        }
        out.push_str(&format!("event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"chunk {n:06} of the answer, {text}\"}}}}\n\n"));
        n += 1;
    }
    out.into_bytes()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let large = args.iter().any(|a| a == "large");
    let full = args.iter().any(|a| a == "full");
    let aligned = args.iter().any(|a| a == "aligned");
    let passes = args
        .iter()
        .position(|a| a == "time")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse::<usize>().ok());
    let body = stream(if large { 4096 } else { 0 });
    let tools = ToolsConfig {
        roles: vec![],
        default: vec![ToolPattern::parse("search").unwrap_or(ToolPattern::Any)],
        max_frame_bytes: 65536,
    };
    let list = Allowlist::for_roles(&tools, []);
    let chunks: Vec<&[u8]> = if aligned {
        frame_aligned_chunks(&body, 16 * 1024)
    } else {
        body.chunks(16 * 1024).collect()
    };
    let rounds = passes.unwrap_or(4);
    let started = std::time::Instant::now();
    let mut out = 0usize;
    for _ in 0..rounds {
        let mut guard = if full {
            StreamGuard::full_parser_only(list.clone(), 65536)
        } else {
            StreamGuard::new(list.clone(), 65536)
        };
        for (i, c) in chunks.iter().enumerate() {
            out += guard.on_chunk(c, i + 1 == chunks.len()).sent(c).len();
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(out, rounds * body.len());
    println!("{} bytes x {rounds}", body.len());
    if passes.is_some() {
        let mib = (rounds * body.len()) as f64 / f64::from(1u32 << 20);
        println!("{:.1} us per MiB", elapsed.as_secs_f64() * 1e6 / mib);
    }
}

/// Chunks of about `size` bytes, each ending where a frame ends.
fn frame_aligned_chunks(body: &[u8], size: usize) -> Vec<&[u8]> {
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < body.len() {
        let mut end = (start + size).min(body.len());
        while end < body.len() && !body.get(..end).unwrap_or_default().ends_with(b"\n\n") {
            end += 1;
        }
        chunks.push(body.get(start..end).unwrap_or_default());
        start = end;
    }
    chunks
}
