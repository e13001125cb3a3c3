//! One `providers` entry of the configuration, as `jwt` authenticates with it:
//! who issues the tokens, which claims and algorithms are accepted, where the
//! keys come from and where the token is found.

use super::{Algorithm, ClaimPath, JwkSet};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct Provider {
    /// The key under `providers`.
    pub name: String,
    pub issuer: String,
    /// Empty: `aud` is not checked (as in Envoy's `jwt_authn`).
    pub audiences: Vec<String>,
    /// Empty: `token_use` is not checked.
    pub token_use: Vec<String>,
    pub algorithms: Vec<Algorithm>,
    pub jwks: JwksSource,
    pub from_headers: Vec<HeaderSource>,
    /// Query parameter names a token may come in (browsers' WebSockets).
    pub from_params: Vec<String>,
    pub clock_skew_seconds: u64,
    pub roles_claim: Option<ClaimPath>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum JwksSource {
    /// The `local_jwks` key set, parsed once when the configuration was loaded.
    Local(JwkSet),
    Remote(RemoteJwks),
}

#[derive(Debug, Clone, PartialEq)]
pub struct RemoteJwks {
    pub uri: String,
    /// `:authority` of the fetch: the host (and port) of `uri`.
    pub authority: String,
    /// `:path` of the fetch: path and query of `uri`.
    pub path: String,
    pub cluster: String,
    pub timeout: Duration,
    pub cache_duration: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HeaderSource {
    /// Lower-case, as Envoy hands header names to filters.
    pub name: String,
    pub value_prefix: String,
}

pub const DEFAULT_CLOCK_SKEW_SECONDS: u64 = 60;
/// Envoy's `jwt_authn` keeps a remote JWKS for 5 minutes unless told otherwise.
pub const DEFAULT_CACHE_DURATION: Duration = Duration::from_secs(300);
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
