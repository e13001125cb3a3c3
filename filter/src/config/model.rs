//! The validated configuration the filter runs on. Every value here has passed `validate`.

use crate::policy::ToolPattern;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub providers: Vec<Provider>,
    pub bypass: Vec<BypassRule>,
    /// `None`: no stream policing and no MCP checks.
    pub tools: Option<ToolsConfig>,
    pub agentcore: Option<AgentCoreConfig>,
}

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
    pub clock_skew_seconds: u64,
    pub roles_claim: Option<ClaimPath>,
}

/// The JWS algorithms toolguard verifies. `none` has no variant on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    EdDSA,
    HS256,
}

impl Algorithm {
    pub const ALL: [Algorithm; 9] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::EdDSA,
        Algorithm::HS256,
    ];

    /// The SPEC default allowlist: every asymmetric algorithm.
    pub const DEFAULT: [Algorithm; 8] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::EdDSA,
    ];

    /// The `alg` header value, compared case-sensitively as RFC 7515 requires.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::EdDSA => "EdDSA",
            Algorithm::HS256 => "HS256",
        }
    }

    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.name() == name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum JwksSource {
    /// The JWKS JSON text given inline; it was parsed once at load to refuse a bad one.
    Local {
        inline_string: String,
    },
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

/// Where a claim is: `a.b` walks into objects, a name holding `:` is one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath {
    /// As written in the configuration, for messages and header values.
    pub text: String,
    pub segments: Vec<String>,
}

impl ClaimPath {
    pub fn parse(text: &str) -> Result<ClaimPath, String> {
        if text.is_empty() {
            return Err("a claim name cannot be empty".into());
        }
        // Namespaced claims (`cognito:groups`, `https://example.com/roles`) contain dots
        // that are not object steps: a `:` marks the whole name as one key.
        let segments: Vec<String> = if text.contains(':') {
            vec![text.to_owned()]
        } else {
            text.split('.').map(str::to_owned).collect()
        };
        if segments.iter().any(String::is_empty) {
            return Err(format!("{text:?} has an empty step between dots"));
        }
        Ok(ClaimPath {
            text: text.to_owned(),
            segments,
        })
    }
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
pub struct ToolsConfig {
    pub roles: Vec<(String, Vec<ToolPattern>)>,
    pub default: Vec<ToolPattern>,
    pub max_frame_bytes: usize,
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

pub const DEFAULT_MAX_FRAME_BYTES: usize = 65536;
pub const DEFAULT_CLOCK_SKEW_SECONDS: u64 = 60;
/// Envoy's `jwt_authn` keeps a remote JWKS for 5 minutes unless told otherwise.
pub const DEFAULT_CACHE_DURATION: Duration = Duration::from_secs(300);
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// AgentCore forwards at most 20 custom headers.
pub const MAX_CUSTOM_HEADERS: usize = 20;
