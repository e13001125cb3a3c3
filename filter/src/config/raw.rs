//! The configuration exactly as written: the shapes of SPEC "Plugin configuration".
//! Unknown, duplicate and mistyped fields are refused here; every other rule is
//! checked in `validate`.

use super::reader::{boolean, list, ordered_map, string, strings, unsigned, Object, Result};
use crate::json::Json;

#[derive(Debug)]
pub struct RawConfig {
    pub providers: OrderedMap<RawProvider>,
    pub bypass: Vec<RawBypass>,
    pub tools: Option<RawTools>,
    pub allow_on_headers_stop_iteration: Option<bool>,
    pub agentcore: Option<RawAgentCore>,
    pub api_keys: Option<RawApiKeys>,
    pub rate_limits: Option<RawRateLimits>,
}

#[derive(Debug)]
pub struct RawProvider {
    pub issuer: String,
    pub audiences: Option<Vec<String>>,
    pub token_use: Option<Vec<String>>,
    pub algorithms: Option<Vec<String>>,
    pub remote_jwks: Option<RawRemoteJwks>,
    pub local_jwks: Option<RawLocalJwks>,
    pub from_headers: Option<Vec<RawHeaderSource>>,
    pub from_params: Option<Vec<String>>,
    pub clock_skew_seconds: Option<u64>,
    pub roles_claim: Option<String>,
}

#[derive(Debug)]
pub struct RawRemoteJwks {
    pub http_uri: RawHttpUri,
    pub cache_duration: Option<String>,
}

#[derive(Debug)]
pub struct RawHttpUri {
    pub uri: String,
    pub cluster: String,
    pub timeout: Option<String>,
}

#[derive(Debug)]
pub struct RawLocalJwks {
    pub inline_string: String,
}

#[derive(Debug)]
pub struct RawHeaderSource {
    pub name: String,
    pub value_prefix: Option<String>,
}

#[derive(Debug)]
pub struct RawBypass {
    pub path: Option<String>,
    pub prefix: Option<String>,
}

#[derive(Debug)]
pub struct RawTools {
    pub roles: OrderedMap<Vec<String>>,
    pub default: Vec<String>,
    pub max_frame_bytes: Option<u64>,
}

#[derive(Debug)]
pub struct RawAgentCore {
    pub forward_headers: OrderedMap<String>,
    pub claims_to_headers: OrderedMap<String>,
    pub allowed_tools_header: Option<String>,
    pub session: Option<RawSession>,
    pub trust_client_custom_headers: bool,
}

#[derive(Debug)]
pub struct RawSession {
    pub bind_to_subject: bool,
}

#[derive(Debug)]
pub struct RawApiKeys {
    pub header: Option<String>,
    /// SHA-256 of a key, in hex, to the caller it stands for.
    pub keys: OrderedMap<RawApiKey>,
}

#[derive(Debug)]
pub struct RawApiKey {
    pub subject: String,
    pub roles: Vec<String>,
}

#[derive(Debug)]
pub struct RawRateLimits {
    pub service: RawRateLimitService,
    pub requests: Vec<Vec<RawEntry>>,
    pub tools: Vec<Vec<RawEntry>>,
    pub tokens: Vec<Vec<RawEntry>>,
}

#[derive(Debug)]
pub struct RawRateLimitService {
    pub cluster: String,
    pub domain: String,
    pub timeout: Option<String>,
    pub failure_mode_deny: bool,
}

/// One descriptor entry: `key` with a literal `value` or a `from` source.
#[derive(Debug)]
pub struct RawEntry {
    pub key: String,
    pub value: Option<String>,
    pub from: Option<String>,
}

/// A JSON object of free-form names, kept in document order.
pub type OrderedMap<V> = Vec<(String, V)>;

impl RawConfig {
    pub fn read(value: &Json) -> Result<RawConfig> {
        let o = Object::new(
            value,
            "",
            &[
                "providers",
                "bypass",
                "tools",
                "agentcore",
                "allow_on_headers_stop_iteration",
                "api_keys",
                "rate_limits",
            ],
        )?;
        Ok(RawConfig {
            providers: o.required("providers", |v, p| ordered_map(v, p, RawProvider::read))?,
            bypass: o
                .optional("bypass", |v, p| list(v, p, RawBypass::read))?
                .unwrap_or_default(),
            tools: o.optional("tools", RawTools::read)?,
            agentcore: o.optional("agentcore", RawAgentCore::read)?,
            allow_on_headers_stop_iteration: o
                .optional("allow_on_headers_stop_iteration", boolean)?,
            api_keys: o.optional("api_keys", RawApiKeys::read)?,
            rate_limits: o.optional("rate_limits", RawRateLimits::read)?,
        })
    }
}

impl RawProvider {
    fn read(value: &Json, path: &str) -> Result<RawProvider> {
        let o = Object::new(
            value,
            path,
            &[
                "issuer",
                "audiences",
                "token_use",
                "algorithms",
                "remote_jwks",
                "local_jwks",
                "from_headers",
                "from_params",
                "clock_skew_seconds",
                "roles_claim",
            ],
        )?;
        Ok(RawProvider {
            issuer: o.required("issuer", string)?,
            audiences: o.optional("audiences", strings)?,
            token_use: o.optional("token_use", strings)?,
            algorithms: o.optional("algorithms", strings)?,
            remote_jwks: o.optional("remote_jwks", RawRemoteJwks::read)?,
            local_jwks: o.optional("local_jwks", RawLocalJwks::read)?,
            from_headers: o.optional("from_headers", |v, p| list(v, p, RawHeaderSource::read))?,
            from_params: o.optional("from_params", strings)?,
            clock_skew_seconds: o.optional("clock_skew_seconds", unsigned)?,
            roles_claim: o.optional("roles_claim", string)?,
        })
    }
}

impl RawRemoteJwks {
    fn read(value: &Json, path: &str) -> Result<RawRemoteJwks> {
        let o = Object::new(value, path, &["http_uri", "cache_duration"])?;
        Ok(RawRemoteJwks {
            http_uri: o.required("http_uri", RawHttpUri::read)?,
            cache_duration: o.optional("cache_duration", string)?,
        })
    }
}

impl RawHttpUri {
    fn read(value: &Json, path: &str) -> Result<RawHttpUri> {
        let o = Object::new(value, path, &["uri", "cluster", "timeout"])?;
        Ok(RawHttpUri {
            uri: o.required("uri", string)?,
            cluster: o.required("cluster", string)?,
            timeout: o.optional("timeout", string)?,
        })
    }
}

impl RawLocalJwks {
    fn read(value: &Json, path: &str) -> Result<RawLocalJwks> {
        let o = Object::new(value, path, &["inline_string"])?;
        Ok(RawLocalJwks {
            inline_string: o.required("inline_string", string)?,
        })
    }
}

impl RawHeaderSource {
    fn read(value: &Json, path: &str) -> Result<RawHeaderSource> {
        let o = Object::new(value, path, &["name", "value_prefix"])?;
        Ok(RawHeaderSource {
            name: o.required("name", string)?,
            value_prefix: o.optional("value_prefix", string)?,
        })
    }
}

impl RawBypass {
    fn read(value: &Json, path: &str) -> Result<RawBypass> {
        let o = Object::new(value, path, &["path", "prefix"])?;
        Ok(RawBypass {
            path: o.optional("path", string)?,
            prefix: o.optional("prefix", string)?,
        })
    }
}

impl RawTools {
    fn read(value: &Json, path: &str) -> Result<RawTools> {
        let o = Object::new(value, path, &["roles", "default", "max_frame_bytes"])?;
        Ok(RawTools {
            roles: o
                .optional("roles", |v, p| ordered_map(v, p, strings))?
                .unwrap_or_default(),
            default: o.optional("default", strings)?.unwrap_or_default(),
            max_frame_bytes: o.optional("max_frame_bytes", unsigned)?,
        })
    }
}

impl RawAgentCore {
    fn read(value: &Json, path: &str) -> Result<RawAgentCore> {
        let o = Object::new(
            value,
            path,
            &[
                "forward_headers",
                "claims_to_headers",
                "allowed_tools_header",
                "session",
                "trust_client_custom_headers",
            ],
        )?;
        Ok(RawAgentCore {
            forward_headers: o
                .optional("forward_headers", |v, p| ordered_map(v, p, string))?
                .unwrap_or_default(),
            claims_to_headers: o
                .optional("claims_to_headers", |v, p| ordered_map(v, p, string))?
                .unwrap_or_default(),
            allowed_tools_header: o.optional("allowed_tools_header", string)?,
            session: o.optional("session", RawSession::read)?,
            trust_client_custom_headers: o
                .optional("trust_client_custom_headers", boolean)?
                .unwrap_or(false),
        })
    }
}

impl RawSession {
    fn read(value: &Json, path: &str) -> Result<RawSession> {
        let o = Object::new(value, path, &["bind_to_subject"])?;
        Ok(RawSession {
            bind_to_subject: o.optional("bind_to_subject", boolean)?.unwrap_or(false),
        })
    }
}

impl RawApiKeys {
    fn read(value: &Json, path: &str) -> Result<RawApiKeys> {
        let o = Object::new(value, path, &["header", "keys"])?;
        Ok(RawApiKeys {
            header: o.optional("header", string)?,
            keys: o.required("keys", |v, p| ordered_map(v, p, RawApiKey::read))?,
        })
    }
}

impl RawApiKey {
    fn read(value: &Json, path: &str) -> Result<RawApiKey> {
        let o = Object::new(value, path, &["subject", "roles"])?;
        Ok(RawApiKey {
            subject: o.required("subject", string)?,
            roles: o.optional("roles", strings)?.unwrap_or_default(),
        })
    }
}

impl RawRateLimits {
    fn read(value: &Json, path: &str) -> Result<RawRateLimits> {
        let o = Object::new(value, path, &["service", "requests", "tools", "tokens"])?;
        let descriptors = |name: &str| -> Result<Vec<Vec<RawEntry>>> {
            Ok(
                o.optional(name, |v, p| list(v, p, |v, p| list(v, p, RawEntry::read)))?
                    .unwrap_or_default(),
            )
        };
        Ok(RawRateLimits {
            service: o.required("service", RawRateLimitService::read)?,
            requests: descriptors("requests")?,
            tools: descriptors("tools")?,
            tokens: descriptors("tokens")?,
        })
    }
}

impl RawRateLimitService {
    fn read(value: &Json, path: &str) -> Result<RawRateLimitService> {
        let o = Object::new(
            value,
            path,
            &["cluster", "domain", "timeout", "failure_mode_deny"],
        )?;
        Ok(RawRateLimitService {
            cluster: o.required("cluster", string)?,
            domain: o.required("domain", string)?,
            timeout: o.optional("timeout", string)?,
            failure_mode_deny: o.optional("failure_mode_deny", boolean)?.unwrap_or(false),
        })
    }
}

impl RawEntry {
    fn read(value: &Json, path: &str) -> Result<RawEntry> {
        let o = Object::new(value, path, &["key", "value", "from"])?;
        Ok(RawEntry {
            key: o.required("key", string)?,
            value: o.optional("value", string)?,
            from: o.optional("from", string)?,
        })
    }
}
