//! SPEC "Response policing": SSE framing, tool-call dialects and the stream guard.
//!
//! Plain Rust over bytes, no proxy-wasm: the glue feeds body chunks to a
//! [`StreamGuard`] and sends what it returns.
//!
//! - [`framer`]: WHATWG event-stream frames out of arbitrarily split chunks.
//! - [`plain`]: the raw-byte test that lets most frames through unparsed;
//!   [`markers`]: the test that decides which parsed frames' data is JSON-parsed
//!   ([`scan`]: the byte searches under both and the framer).
//! - [`dialects`]: tool calls per SPEC's table, every candidate name.
//! - [`guard`]: forward, or cut with the error event ([`error_event`]).

pub mod dialects;
pub mod error_event;
pub mod framer;
pub mod guard;
pub mod markers;
pub mod plain;
pub mod scan;
pub mod tool_name;
pub mod usage;

#[cfg(test)]
pub(crate) mod tests;

pub use error_event::{error_event_stream, tool_denied_event, CONTENT_ENCODED_MESSAGE};
pub use guard::{ChunkResult, CutReason, FrameRewrite, StreamGuard, Verdict};
pub use tool_name::ToolName;
