//! Drives the stream guard natively over the bench's 1 MiB Anthropic stream in
//! 16 KiB chunks, for instruction counts under callgrind:
//!
//!   valgrind --tool=callgrind target/release/examples/profile_sse [small|large] [fast|full]
//!
//! `full` runs the guard with every frame parsed (`StreamGuard::full_parser_only`),
//! the behaviour before the fast path; `large` uses 4 KiB text deltas.

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
    let body = stream(if large { 4096 } else { 0 });
    let tools = ToolsConfig {
        roles: vec![],
        default: vec![ToolPattern::parse("search").unwrap_or(ToolPattern::Any)],
        max_frame_bytes: 65536,
    };
    let list = Allowlist::for_roles(&tools, []);
    let mut out = 0usize;
    for _ in 0..4 {
        let mut guard = if full {
            StreamGuard::full_parser_only(list.clone(), 65536)
        } else {
            StreamGuard::new(list.clone(), 65536)
        };
        let chunks: Vec<&[u8]> = body.chunks(16 * 1024).collect();
        for (i, c) in chunks.iter().enumerate() {
            out += guard.on_chunk(c, i + 1 == chunks.len()).output.len();
        }
    }
    assert_eq!(out, 4 * body.len());
    println!("{} bytes x 4", body.len());
}
