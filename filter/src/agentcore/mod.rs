//! SPEC "Headers (`agentcore`)": what the agent runtime sees of the caller.
//!
//! Plain Rust, no proxy-wasm: the glue calls [`shape_request`] once per request
//! (after authentication, and for bypassed requests too) and applies the
//! [`HeaderPlan`] it returns; on a response it may call [`unbind_response_session`].
//!
//! AgentCore Runtime forwards to the agent only `Authorization` and headers named
//! `X-Amzn-Bedrock-AgentCore-Runtime-Custom-*`: at most 20 of them, at most 4 KB
//! each. What the filter does, and the choices the SPEC leaves open:
//!
//! - **Spoofed headers.** Unless `trust_client_custom_headers`, every incoming
//!   custom header (any case) is removed. When trusted, the client's custom headers
//!   stay, except under a name the configuration maps (forward, claim or tools
//!   header): those names belong to the filter and a client value under one is
//!   always removed, even when the filter has no value to put there (a missing
//!   claim) or had to drop its own (too long), so a client can never supply a value
//!   the agent would read as a claim.
//! - **Order and the 20-limit.** The filter's own headers come first, in config
//!   order: `forward_headers`, then `claims_to_headers`, then `allowed_tools_header`,
//!   each in the order written. Trusted client headers fill the slots left, in the
//!   order they arrived (by first appearance of the name); the rest are removed.
//!   The configuration already refuses more than 20 mappings, so the filter's own
//!   headers never lose to client ones.
//! - **Values.** A value is trimmed of leading and trailing spaces and tabs (HTTP
//!   does not carry them: receivers strip them, strict HTTP/2 peers refuse them).
//!   A value over 4096 bytes, or holding any control character other than tab
//!   (bytes 0x00-0x1F and 0x7F: CR, LF and NUL included), is dropped, never
//!   truncated or escaped. Non-ASCII UTF-8 passes as is. An empty value (an empty
//!   string claim, an empty array, an empty allowlist) is sent as an empty header:
//!   "no groups" and "no tools" differ from "unknown". Trusted client headers are
//!   checked by the same rules (their values joined with `,` when repeated) and
//!   removed, not rewritten, when they fail. Every header left out for a limit
//!   counts in [`HeaderPlan::dropped`] (for `toolguard.headers.dropped`); headers
//!   removed as spoofed, and absent sources, do not.
//! - **Forwarded headers.** A header sent several times is joined with `,` as
//!   HTTP allows (Envoy joins the same way); `cookie` with `; ` (RFC 9113 8.2.3).
//! - **Claims.** The path walks objects by first member (duplicates were refused
//!   with the token). A string is sent as is; an array of strings joined with `,`
//!   (an empty array gives an empty value); anything else (number, bool, null,
//!   object, mixed array) as compact JSON. A missing claim sends nothing.
//! - **Session**: checked, generated when missing, bound when `bind_to_subject`;
//!   the rules are in the `session` module doc (see [`SessionError`],
//!   [`unbind_response_session`]).
//! - `Authorization` is never removed or set.

mod custom;
mod session;
#[cfg(test)]
mod tests;

pub use session::{binding_prefix, unbind_response_session, SessionError, SessionPlan};

use crate::config::AgentCoreConfig;
use crate::json::Json;
use crate::policy::Allowlist;

/// The prefix of the headers AgentCore forwards to the agent, as AWS spells it.
pub const CUSTOM_PREFIX: &str = "X-Amzn-Bedrock-AgentCore-Runtime-Custom-";
/// The session header, as AWS spells it.
pub const SESSION_HEADER: &str = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id";
/// The largest custom header value AgentCore forwards, in bytes.
pub const MAX_VALUE_BYTES: usize = 4096;

/// The authenticated caller, borrowed from the verified token.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// The token's `iss` (the provider's `issuer`: they are equal by routing).
    pub issuer: &'a str,
    /// The token's `sub`, if it is a string.
    pub subject: Option<&'a str>,
    /// The whole verified claim set, for `claims_to_headers`.
    pub claims: &'a Json,
}

impl<'a> Caller<'a> {
    /// Reads `iss` and `sub` from a verified claim set; `None` if `iss` is not a string.
    pub fn from_claims(claims: &'a Json) -> Option<Caller<'a>> {
        Some(Caller {
            issuer: claims.get("iss")?.as_str()?,
            subject: claims.get("sub").and_then(Json::as_str),
            claims,
        })
    }
}

/// What to do to the request headers.
///
/// Apply `remove` first, then `set`, each entry replacing every value of the name
/// (proxy-wasm `set_http_request_header`). Names in `set` are canonical
/// (`X-Amzn-Bedrock-AgentCore-Runtime-Custom-User-Sub`); Envoy lower-cases them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderPlan {
    /// Lower-case names to remove entirely (spoofed or over-limit custom headers).
    pub remove: Vec<String>,
    /// Headers to set: the custom headers in config order, then the session header.
    pub set: Vec<(String, String)>,
    /// How many custom headers were left out for a limit: add to `toolguard.headers.dropped`.
    pub dropped: u32,
    /// Which, and why, for a debug log. Never holds values.
    pub dropped_headers: Vec<DroppedHeader>,
    /// The session id sent upstream (also in `set`) and the client's own.
    pub session: SessionPlan,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedHeader {
    /// The header name (canonical for the filter's own, lower-case for a client's).
    pub name: String,
    pub reason: DropReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The value is over [`MAX_VALUE_BYTES`].
    TooLong,
    /// The value holds a control character (CR, LF, NUL, ...) other than tab.
    ControlCharacter,
    /// 20 custom headers were already planned.
    TooMany,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::TooLong => "value over 4096 bytes",
            DropReason::ControlCharacter => "value holds a control character",
            DropReason::TooMany => "more than 20 custom headers",
        }
    }
}

/// Shapes one request's headers for AgentCore.
///
/// - `request`: the incoming headers as Envoy gives them (a name may repeat; names
///   are compared case-insensitively).
/// - `caller`: `None` for a bypassed (unauthenticated) request: no claim headers.
/// - `allowlist`: the caller's effective allowlist (for a bypassed request, the
///   `tools.default` one); `None` when `tools` is not configured.
/// - `random`: fills the buffer with cryptographically secure random bytes (the glue
///   backs it with WASI `random_get`); used only to generate a missing session id.
///
/// An error is the SPEC's 400 `invalid_session_id`: nothing goes upstream.
pub fn shape_request(
    cfg: &AgentCoreConfig,
    request: &[(String, String)],
    caller: Option<&Caller<'_>>,
    allowlist: Option<&Allowlist>,
    random: &mut dyn FnMut(&mut [u8]) -> bool,
) -> Result<HeaderPlan, SessionError> {
    let session = session::plan(cfg, request, caller, random)?;
    let custom = custom::plan(cfg, request, caller, allowlist);
    let mut set = custom.set;
    set.push((SESSION_HEADER.to_owned(), session.upstream.clone()));
    Ok(HeaderPlan {
        remove: custom.remove,
        set,
        dropped: u32::try_from(custom.dropped.len()).unwrap_or(u32::MAX),
        dropped_headers: custom.dropped,
        session,
    })
}
