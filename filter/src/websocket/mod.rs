//! SPEC "WebSocket (AgentCore `/ws`)": RFC 6455 frames read as they flow, and the
//! guard that closes a connection before a denied tool call reaches the client.
//!
//! Plain Rust over bytes, no proxy-wasm: the flow feeds the upgraded response
//! bytes to a [`MessageGuard`] and sends what it returns.
//!
//! - [`header`]: frame headers, read from arbitrarily split chunks; masking.
//! - [`guard`]: forward, or close with 1008/1009 ([`close`]).

pub mod close;
pub mod guard;
pub mod header;

#[cfg(test)]
mod tests;

pub use guard::{CloseReason, MessageGuard, WsChunkResult, WsVerdict};
