//! SPEC "Rate limits": descriptors, the `ShouldRateLimit` messages and what an
//! answer means. Counters live in the rate-limit service, never here; `flow`
//! sends the calls through the `Host` and acts on the verdicts.
//!
//! - [`descriptors`]: entries from claims, roles, headers, the tool, the path.
//! - [`proto`]: the protobuf messages (prost).
//! - [`verdict`]: ok / over limit / error, `Retry-After`, `x-ratelimit-*`.
//! - [`call`]: one call's request bytes, token and deadline.

pub mod call;
pub mod descriptors;
pub mod proto;
pub mod verdict;

pub use call::{request, PendingCall};
pub use descriptors::{build, Subject};
pub use verdict::{decide, CallError, LimitHeaders, Verdict};
