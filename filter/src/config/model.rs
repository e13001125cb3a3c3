//! The validated configuration the filter runs on. Every value here has passed `validate`.

use crate::jwt::{ClaimPath, Provider};
use crate::policy::ToolsConfig;

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

/// AgentCore forwards at most 20 custom headers.
pub const MAX_CUSTOM_HEADERS: usize = 20;
