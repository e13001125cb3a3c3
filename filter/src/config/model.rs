//! The validated configuration the filter runs on. Every value here has passed `validate`.

use crate::jwt::{ClaimPath, Provider};
use crate::policy::ToolsConfig;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub providers: Vec<Provider>,
    pub bypass: Vec<BypassRule>,
    /// `None`: no stream policing and no MCP checks.
    pub tools: Option<ToolsConfig>,
    pub agentcore: Option<AgentCoreConfig>,
    /// The Wasm filter's Envoy `PluginConfig` sets the field of the same name
    /// (Envoy 1.35+): a request whose body must be judged can have its headers
    /// held with the body, so nothing of a refused request reaches the upstream.
    pub allow_on_headers_stop_iteration: bool,
    pub api_keys: Option<ApiKeysConfig>,
    pub rate_limits: Option<RateLimitsConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BypassRule {
    Path(String),
    Prefix(String),
}

impl BypassRule {
    /// `path` is the request's `:path`; the query string is not part of the match.
    pub fn matches(&self, path: &str) -> bool {
        let path = path.split(['?', '#']).next().unwrap_or(path);
        match self {
            BypassRule::Path(p) => path == p,
            BypassRule::Prefix(p) => path.starts_with(p.as_str()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AgentCoreConfig {
    /// (incoming header name, lower-case; custom header suffix)
    pub forward_headers: Vec<(String, String)>,
    /// (claim, custom header suffix)
    pub claims_to_headers: Vec<(ClaimPath, String)>,
    pub allowed_tools_header: Option<String>,
    /// Session ids are checked (and generated when missing) whenever `agentcore` is
    /// configured, since AgentCore refuses ids under 33 characters; binding is opt-in.
    pub session: SessionConfig,
    pub trust_client_custom_headers: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionConfig {
    pub bind_to_subject: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeysConfig {
    /// Lower-case, as Envoy hands header names to filters.
    pub header: String,
    /// SHA-256 of each key; the keys themselves are never in the configuration.
    pub keys: Vec<([u8; 32], ApiKey)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub subject: String,
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitsConfig {
    pub service: RateLimitService,
    pub requests: Vec<Descriptor>,
    /// Each entry list may use [`EntrySource::Tool`].
    pub tools: Vec<Descriptor>,
    pub tokens: Vec<Descriptor>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitService {
    pub cluster: String,
    pub domain: String,
    pub timeout: Duration,
    pub failure_mode_deny: bool,
}

/// One rate-limit descriptor: its entries, in order (the service matches them so).
pub type Descriptor = Vec<DescriptorEntry>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescriptorEntry {
    pub key: String,
    pub source: EntrySource,
}

/// Where an entry's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntrySource {
    Value(String),
    Claim(ClaimPath),
    /// Lower-case header name.
    Header(String),
    /// One descriptor per role the caller has.
    Role,
    /// The tool being called (only under `tools`).
    Tool,
    /// The request's `:path`, without the query.
    Path,
}

/// The `iss` of a caller identified by an API key.
pub const API_KEY_ISSUER: &str = "api-key";
pub const DEFAULT_API_KEY_HEADER: &str = "x-api-key";
/// Envoy's ratelimit filter waits 20 ms for the service unless told otherwise.
pub const DEFAULT_RATE_LIMIT_TIMEOUT: Duration = Duration::from_millis(20);

/// AgentCore forwards at most 20 custom headers.
pub const MAX_CUSTOM_HEADERS: usize = 20;
