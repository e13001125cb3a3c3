//! The session header, `X-Amzn-Bedrock-AgentCore-Runtime-Session-Id`.
//!
//! Checked whenever `agentcore` is configured (AgentCore refuses ids it does not
//! like with an error the client cannot map to its cause):
//!
//! - **Missing**: generated from 32 random bytes, as 64 lower-case hex digits.
//! - **Accepted**: 33 to 256 characters (AgentCore's `runtimeSessionId` bounds), each
//!   visible ASCII (`!` to `~`: no space, no control, no non-ASCII, so characters and
//!   bytes agree). Anything else is a 400 `invalid_session_id`, as is the header
//!   sent twice (which one the runtime would use is not ours to guess). An empty
//!   value is "shorter than 33", not missing.
//! - **`bind_to_subject`**: the id sent upstream is `<p>-<client id>` where `<p>` is
//!   the first 16 lower-case hex digits of SHA-256(`iss` + " " + `sub`), so two users
//!   can never name the same upstream session. Consequences:
//!   - with binding, the client id may be at most 239 characters (256 - 17);
//!   - an id that already carries the caller's own binding (`<p>-` then at least 33
//!     characters) is sent as is, not bound twice: a client that learnt its bound id
//!     (an agent echoing it in a body) and sends it back reaches the same session.
//!     It stays inside the caller's own namespace, so this gives nobody more reach;
//!   - a bypassed (unauthenticated) request is bound too, to a fixed anonymous
//!     namespace (SHA-256 of `toolguard:anonymous`, which holds no space and so is no
//!     `iss sub` pair): without it, an anonymous request naming `<p>-<id>` would
//!     reach a signed-in user's session whenever the id leaked, which is what
//!     binding exists to prevent. Anonymous callers share that namespace, as they
//!     are indistinguishable;
//!   - an authenticated token without a (non-empty string) `sub` is refused
//!     ([`SessionError::NoSubject`], a 400 `invalid_session_id`) rather than bound on
//!     the issuer alone, which would pool every such caller of the issuer in one
//!     namespace. Cognito tokens always carry `sub`;
//!   - on the response, [`unbind_response_session`] strips the binding so the client
//!     only ever sees its own id.

use super::{Caller, SESSION_HEADER};
use crate::config::AgentCoreConfig;
use sha2::{Digest, Sha256};
use std::fmt;

/// AgentCore's `runtimeSessionId` length bounds (botocore model `SessionType`).
pub const MIN_SESSION_ID: usize = 33;
pub const MAX_SESSION_ID: usize = 256;
/// Hex digits of the binding prefix.
const PREFIX_HEX_DIGITS: usize = 16;
/// The longest client id that can be bound: the prefix and `-` take 17 characters.
pub const MAX_BOUND_CLIENT_ID: usize = MAX_SESSION_ID - PREFIX_HEX_DIGITS - 1;
/// Hashed instead of `iss sub` for requests without a caller.
const ANONYMOUS: &str = "toolguard:anonymous";

/// The session ids of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionPlan {
    /// The id the client sent, or the one generated for it.
    pub client: String,
    /// The id sent upstream: `client`, bound when `bind_to_subject`.
    pub upstream: String,
    /// True when the client sent none.
    pub generated: bool,
}

/// A session id the filter refuses: the SPEC's 400 `invalid_session_id`. The
/// `Display` text is the `message`; it never repeats the id (it works like a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionError {
    /// Fewer than 33 characters (the SPEC's case).
    TooShort { len: usize },
    /// More than `max` characters: 256, or 239 with binding.
    TooLong { len: usize, max: usize },
    /// A character outside visible ASCII.
    BadCharacter,
    /// The header was sent more than once.
    Repeated,
    /// `bind_to_subject` is on and the token has no `sub` to bind to.
    NoSubject,
    /// A session id had to be generated and the platform gave no random bytes.
    /// Never made from anything guessable instead: the request is refused (503).
    NoRandomness,
}

impl SessionError {
    /// The `error` member of the answer body.
    pub const ERROR: &'static str = "invalid_session_id";
    /// The HTTP status of the answer.
    pub const STATUS: u32 = 400;
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::TooShort { len } => write!(
                f,
                "{SESSION_HEADER} is {len} characters long; it must be at least {MIN_SESSION_ID}"
            ),
            SessionError::TooLong { len, max } if *max < MAX_SESSION_ID => write!(
                f,
                "{SESSION_HEADER} is {len} characters long; it may be at most {max} (the session binding adds {})",
                MAX_SESSION_ID - max
            ),
            SessionError::TooLong { len, max } => write!(
                f,
                "{SESSION_HEADER} is {len} characters long; it may be at most {max}"
            ),
            SessionError::BadCharacter => write!(
                f,
                "{SESSION_HEADER} may hold only visible ASCII characters (no spaces or control characters)"
            ),
            SessionError::Repeated => write!(f, "{SESSION_HEADER} was sent more than once"),
            SessionError::NoSubject => write!(
                f,
                "sessions are bound to the token's subject, and this token has no `sub` claim"
            ),
            SessionError::NoRandomness => write!(
                f,
                "no session id was sent and none could be generated (no random bytes); try again"
            ),
        }
    }
}

impl std::error::Error for SessionError {}

pub(super) fn plan(
    cfg: &AgentCoreConfig,
    request: &[(String, String)],
    caller: Option<&Caller<'_>>,
    random: &mut dyn FnMut(&mut [u8]) -> bool,
) -> Result<SessionPlan, SessionError> {
    let mut sent = request
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(SESSION_HEADER))
        .map(|(_, v)| v.as_str());
    let first = sent.next();
    if sent.next().is_some() {
        return Err(SessionError::Repeated);
    }
    let (client, generated) = match first {
        Some(id) => {
            check(id)?;
            (id.to_owned(), false)
        }
        None => (generate(random)?, true),
    };
    let upstream = if cfg.session.bind_to_subject {
        bind(&binding_prefix(caller)?, &client)?
    } else {
        client.clone()
    };
    Ok(SessionPlan {
        client,
        upstream,
        generated,
    })
}

fn check(id: &str) -> Result<(), SessionError> {
    let len = id.chars().count();
    if len < MIN_SESSION_ID {
        return Err(SessionError::TooShort { len });
    }
    if len > MAX_SESSION_ID {
        return Err(SessionError::TooLong {
            len,
            max: MAX_SESSION_ID,
        });
    }
    if !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(SessionError::BadCharacter);
    }
    Ok(())
}

/// 32 random bytes as 64 lower-case hex digits.
fn generate(random: &mut dyn FnMut(&mut [u8]) -> bool) -> Result<String, SessionError> {
    let mut bytes = [0u8; 32];
    if !random(&mut bytes) {
        return Err(SessionError::NoRandomness);
    }
    Ok(hex(&bytes))
}

/// `<prefix>-<id>`, unless `id` already carries this prefix over a valid id.
fn bind(prefix: &str, id: &str) -> Result<String, SessionError> {
    if let Some(rest) = strip_binding(prefix, id) {
        if rest.len() >= MIN_SESSION_ID {
            return Ok(id.to_owned());
        }
    }
    if id.len() > MAX_BOUND_CLIENT_ID {
        return Err(SessionError::TooLong {
            len: id.len(),
            max: MAX_BOUND_CLIENT_ID,
        });
    }
    Ok([prefix, "-", id].concat())
}

fn strip_binding<'v>(prefix: &str, value: &'v str) -> Option<&'v str> {
    value.strip_prefix(prefix)?.strip_prefix('-')
}

/// The binding prefix of a caller: the first 16 lower-case hex digits of
/// SHA-256(`iss` + " " + `sub`); for no caller, of SHA-256(`toolguard:anonymous`).
pub fn binding_prefix(caller: Option<&Caller<'_>>) -> Result<String, SessionError> {
    let digest = match caller {
        Some(caller) => {
            let sub = caller
                .subject
                .filter(|s| !s.is_empty())
                .ok_or(SessionError::NoSubject)?;
            Sha256::new()
                .chain_update(caller.issuer.as_bytes())
                .chain_update(b" ")
                .chain_update(sub.as_bytes())
                .finalize()
        }
        None => Sha256::digest(ANONYMOUS.as_bytes()),
    };
    let mut text = hex(&digest);
    text.truncate(PREFIX_HEX_DIGITS);
    Ok(text)
}

/// For a response's session header: the client's own id if `value` carries the
/// caller's binding, so the glue can put that back (`Some`); `None` to leave the
/// header as it is (binding off, no binding on it, or a caller without `sub`).
pub fn unbind_response_session(
    cfg: &AgentCoreConfig,
    value: &str,
    caller: Option<&Caller<'_>>,
) -> Option<String> {
    if !cfg.session.bind_to_subject {
        return None;
    }
    let prefix = binding_prefix(caller).ok()?;
    strip_binding(&prefix, value)
        .filter(|rest| !rest.is_empty())
        .map(str::to_owned)
}

/// Lower-case hex by table: `write!("{:02x}")` per byte was an eighth of a
/// cached request's cost.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        for nibble in [b >> 4, b & 0x0f] {
            out.push(char::from(
                DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0'),
            ));
        }
    }
    out
}
