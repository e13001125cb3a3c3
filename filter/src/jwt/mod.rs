//! JWT authentication (SPEC "Providers", "Request answers"), as plain Rust: no
//! proxy-wasm calls and no clock of its own, so every path is tested natively and
//! as wasm. The glue feeds it header values, fetched JWKS bodies and the time.
//!
//! How a request is authenticated:
//! 1. [`extract`] finds the token in the headers the providers list;
//! 2. [`authenticate`] parses it strictly ([`token`]), routes it by `iss` to its
//!    provider and asks the glue for that provider's keys ([`KeyState`]);
//! 3. [`verify`] checks the signature with [`jwks`] keys, then the claims;
//! 4. [`cache`] remembers verified tokens until they expire, so the signature
//!    is checked once per token, not once per request.
//!
//! [`jwks_cache`] is the state machine of one provider's remote key set
//! (first fetch, refresh, kid-triggered refetch, failures).
//!
//! Order of checks, and why: structure (`malformed`) → issuer routing
//! (`unknown_issuer`) → algorithm allowlist (`alg_not_allowed`) → key selection
//! (`unknown_kid`) → signature (`bad_signature`) → claims (`exp`, `nbf`, `iat`,
//! `aud`, `token_use`). Every claim-based reason is decided only after the
//! signature verified, so a forged token learns nothing about which claims would
//! pass. The earlier reasons depend only on what the token itself says (its own
//! header and claimed issuer), which the sender knows already.

mod algorithm;
pub mod authenticator;
pub mod base64url;
pub mod cache;
mod claim_path;
pub mod claims;
pub mod ecdsa;
pub mod extract;
pub mod jwk;
pub mod jwks;
pub mod jwks_cache;
mod provider;
pub mod reason;
mod roca;
pub mod rsa;
pub mod signature;
pub mod token;
pub mod verify;

pub use algorithm::Algorithm;
pub use authenticator::{authenticate, authenticate_with_cache, KeyState, Outcome};
pub use cache::{CachedToken, TokenCache};
pub use claim_path::ClaimPath;
pub use extract::{extract, extract_from_params, FoundToken, ParamToken, TokenSource};
pub use jwks::{JwkSet, JwksError};
pub use jwks_cache::{FetchId, JwksCache, KidRefetch};
pub use provider::{
    HeaderSource, JwksSource, Provider, RemoteJwks, DEFAULT_CACHE_DURATION,
    DEFAULT_CLOCK_SKEW_SECONDS, DEFAULT_FETCH_TIMEOUT,
};
pub use reason::Reason;
pub use token::{parse, UnverifiedToken};
pub use verify::{verify, VerifiedToken};

#[cfg(test)]
mod tests;
