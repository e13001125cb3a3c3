//! toolguard: a proxy-wasm HTTP filter for agent APIs.
//!
//! The logic lives in plain modules that know nothing of proxy-wasm and are tested
//! natively and as wasm; `glue` is the thin proxy-wasm layer, built only for the
//! module Envoy loads.
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod agentcore;
pub mod api_keys;
pub mod config;
pub mod flow;
#[cfg(target_os = "wasi")]
mod glue;
pub mod host;
pub mod json;
pub mod jwt;
pub mod mcp;
pub mod metrics;
pub mod policy;
pub mod ratelimit;
pub mod sse;
pub mod text;
pub mod websocket;
