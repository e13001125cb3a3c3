//! Turns the configuration as written into the one the filter runs on, refusing
//! the first rule it breaks with the field path and the problem.

use super::duration::parse_duration;
use super::error::ConfigError;
use super::model::*;
use super::raw::*;
use crate::jwt::{
    Algorithm, ClaimPath, HeaderSource, JwkSet, JwksSource, Provider, RemoteJwks,
    DEFAULT_CACHE_DURATION, DEFAULT_CLOCK_SKEW_SECONDS, DEFAULT_FETCH_TIMEOUT,
};
use crate::policy::{ToolPattern, ToolsConfig, DEFAULT_MAX_FRAME_BYTES};

type Result<T> = std::result::Result<T, ConfigError>;

pub fn validate(raw: RawConfig) -> Result<Config> {
    if raw.providers.is_empty() {
        return Err(ConfigError::new(
            "providers",
            "at least one provider is required",
        ));
    }
    let mut providers = Vec::with_capacity(raw.providers.len());
    for (name, p) in raw.providers {
        let provider = provider(&name, p)?;
        if let Some(other) = providers
            .iter()
            .find(|o: &&Provider| o.issuer == provider.issuer)
        {
            return Err(ConfigError::new(
                format!("providers.{name}.issuer"),
                format!("{:?} is already the issuer of provider {:?}; tokens are routed by issuer, so each needs its own", provider.issuer, other.name),
            ));
        }
        providers.push(provider);
    }
    let bypass = raw
        .bypass
        .into_iter()
        .enumerate()
        .map(|(i, b)| bypass_rule(&format!("bypass[{i}]"), b))
        .collect::<Result<Vec<_>>>()?;
    let tools = raw.tools.map(tools).transpose()?;
    let agentcore = raw
        .agentcore
        .map(|a| agentcore(a, tools.is_some()))
        .transpose()?;
    let api_keys = raw
        .api_keys
        .map(|k| super::limits::api_keys(k, &providers))
        .transpose()?;
    let rate_limits = raw
        .rate_limits
        .map(super::limits::rate_limits)
        .transpose()?;
    if rate_limits.as_ref().is_some_and(|r| !r.tools.is_empty()) && tools.is_none() {
        return Err(ConfigError::new(
            "rate_limits.tools",
            "needs `tools`: tool calls are only seen when streams are policed",
        ));
    }
    Ok(Config {
        providers,
        bypass,
        tools,
        agentcore,
        allow_on_headers_stop_iteration: raw.allow_on_headers_stop_iteration.unwrap_or(false),
        api_keys,
        rate_limits,
    })
}

fn provider(name: &str, p: RawProvider) -> Result<Provider> {
    let at = |field: &str| format!("providers.{name}.{field}");
    if name.is_empty() {
        return Err(ConfigError::new(
            "providers",
            "a provider name cannot be empty",
        ));
    }
    if p.issuer.is_empty() {
        return Err(ConfigError::new(at("issuer"), "cannot be empty"));
    }
    let audiences = non_empty_strings(&at("audiences"), p.audiences)?;
    let token_use = non_empty_strings(&at("token_use"), p.token_use)?;
    let jwks = match (p.remote_jwks, p.local_jwks) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                format!("providers.{name}"),
                "give either remote_jwks or local_jwks, not both",
            ))
        }
        (None, None) => {
            return Err(ConfigError::new(
                format!("providers.{name}"),
                "one of remote_jwks or local_jwks is required",
            ))
        }
        (Some(remote), None) => JwksSource::Remote(remote_jwks(&at("remote_jwks"), remote)?),
        (None, Some(local)) => JwksSource::Local(local_jwks(
            &at("local_jwks.inline_string"),
            &local.inline_string,
        )?),
    };
    let algorithms = match p.algorithms {
        None => Algorithm::DEFAULT.to_vec(),
        Some(names) => algorithms(&at("algorithms"), &names, &jwks)?,
    };
    let from_headers = match p.from_headers {
        None => vec![HeaderSource {
            name: "authorization".into(),
            value_prefix: "Bearer ".into(),
        }],
        Some(list) if list.is_empty() => {
            return Err(ConfigError::new(
                at("from_headers"),
                "cannot be empty; leave it out for the default Authorization: Bearer",
            ))
        }
        Some(list) => list
            .into_iter()
            .enumerate()
            .map(|(i, h)| {
                let path = format!("{}[{i}].name", at("from_headers"));
                Ok(HeaderSource {
                    name: header_name(&path, &h.name)?,
                    value_prefix: h.value_prefix.unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>>>()?,
    };
    let from_params = p
        .from_params
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, name)| param_name(&format!("{}[{i}]", at("from_params")), name))
        .collect::<Result<Vec<_>>>()?;
    let roles_claim = p
        .roles_claim
        .map(|c| ClaimPath::parse(&c).map_err(|e| ConfigError::new(at("roles_claim"), e)))
        .transpose()?;
    Ok(Provider {
        name: name.to_owned(),
        issuer: p.issuer,
        audiences,
        token_use,
        algorithms,
        jwks,
        from_headers,
        from_params,
        clock_skew_seconds: p.clock_skew_seconds.unwrap_or(DEFAULT_CLOCK_SKEW_SECONDS),
        roles_claim,
    })
}

fn non_empty_strings(path: &str, list: Option<Vec<String>>) -> Result<Vec<String>> {
    let list = list.unwrap_or_default();
    for (i, s) in list.iter().enumerate() {
        if s.is_empty() {
            return Err(ConfigError::new(format!("{path}[{i}]"), "cannot be empty"));
        }
    }
    Ok(list)
}

fn algorithms(path: &str, names: &[String], jwks: &JwksSource) -> Result<Vec<Algorithm>> {
    if names.is_empty() {
        return Err(ConfigError::new(
            path,
            "cannot be empty; leave it out for the default list",
        ));
    }
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let at = format!("{path}[{i}]");
        if name.eq_ignore_ascii_case("none") {
            return Err(ConfigError::new(at, format!("{name:?} is never accepted")));
        }
        let alg = Algorithm::from_name(name).ok_or_else(|| {
            let supported: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
            ConfigError::new(
                &at,
                format!(
                    "{name:?} is not supported (supported: {})",
                    supported.join(", ")
                ),
            )
        })?;
        if alg == Algorithm::HS256 && !local_jwks_has_oct_key(jwks) {
            return Err(ConfigError::new(
                at,
                "\"HS256\" needs a local_jwks holding an \"oct\" key; a shared secret is never fetched",
            ));
        }
        if !out.contains(&alg) {
            out.push(alg);
        }
    }
    Ok(out)
}

/// An oct key limited to another `alg` does not count.
fn local_jwks_has_oct_key(jwks: &JwksSource) -> bool {
    matches!(jwks, JwksSource::Local(set) if set.supports(Algorithm::HS256))
}

/// Parsed here, once: the filter verifies with this very set.
fn local_jwks(path: &str, text: &str) -> Result<JwkSet> {
    JwkSet::parse_local(text.as_bytes()).map_err(|e| ConfigError::new(path, e.to_string()))
}

fn remote_jwks(path: &str, r: RawRemoteJwks) -> Result<RemoteJwks> {
    let uri_path = format!("{path}.http_uri.uri");
    let (authority, fetch_path) =
        split_uri(&r.http_uri.uri).map_err(|e| ConfigError::new(&uri_path, e))?;
    if r.http_uri.cluster.is_empty() {
        return Err(ConfigError::new(
            format!("{path}.http_uri.cluster"),
            "cannot be empty: name the Envoy cluster that reaches the JWKS host",
        ));
    }
    let timeout = duration_field(
        &format!("{path}.http_uri.timeout"),
        r.http_uri.timeout.as_deref(),
        DEFAULT_FETCH_TIMEOUT,
    )?;
    let cache_duration = duration_field(
        &format!("{path}.cache_duration"),
        r.cache_duration.as_deref(),
        DEFAULT_CACHE_DURATION,
    )?;
    Ok(RemoteJwks {
        uri: r.http_uri.uri,
        authority,
        path: fetch_path,
        cluster: r.http_uri.cluster,
        timeout,
        cache_duration,
    })
}

pub(super) fn duration_field(
    path: &str,
    text: Option<&str>,
    default: std::time::Duration,
) -> Result<std::time::Duration> {
    let Some(text) = text else { return Ok(default) };
    let d = parse_duration(text).map_err(|e| ConfigError::new(path, e))?;
    if d.is_zero() {
        return Err(ConfigError::new(path, "must be greater than zero"));
    }
    Ok(d)
}

/// `https://host[:port]/path?query` into (`host[:port]`, `/path?query`).
fn split_uri(uri: &str) -> std::result::Result<(String, String), String> {
    let rest = uri
        .strip_prefix("https://")
        .or_else(|| uri.strip_prefix("http://"))
        .ok_or_else(|| format!("{uri:?} must start with https:// or http://"))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    // The authority goes out as the fetch's `:authority`: a control character
    // (CR, LF, DEL, ...) there is refused by Envoy at every fetch, so the keys
    // would never arrive. Refused here, at load, like such a path below.
    if authority.is_empty()
        || authority.contains(['@', '#'])
        || authority.contains(|c: char| c.is_ascii_whitespace() || c.is_ascii_control())
    {
        return Err(format!("{uri:?} has no usable host"));
    }
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    if path.contains(|c: char| c.is_ascii_whitespace() || c.is_ascii_control()) {
        return Err(format!("{uri:?} contains whitespace"));
    }
    Ok((authority.to_owned(), path))
}

fn bypass_rule(path: &str, b: RawBypass) -> Result<BypassRule> {
    let rule = match (b.path, b.prefix) {
        (Some(p), None) => (BypassRule::Path(p.clone()), p, "path"),
        (None, Some(p)) => (BypassRule::Prefix(p.clone()), p, "prefix"),
        _ => return Err(ConfigError::new(path, "give exactly one of path or prefix")),
    };
    if !rule.1.starts_with('/') {
        return Err(ConfigError::new(
            format!("{path}.{}", rule.2),
            format!("{:?} must start with /", rule.1),
        ));
    }
    Ok(rule.0)
}

/// Frames larger than this are refused at load: the filter holds one per stream.
const MAX_MAX_FRAME_BYTES: u64 = 16 * 1024 * 1024;
const MIN_MAX_FRAME_BYTES: u64 = 1024;

fn tools(t: RawTools) -> Result<ToolsConfig> {
    let mut roles = Vec::with_capacity(t.roles.len());
    for (role, entries) in t.roles {
        if role.is_empty() {
            return Err(ConfigError::new(
                "tools.roles",
                "a role name cannot be empty",
            ));
        }
        let patterns = patterns(&format!("tools.roles.{role}"), &entries)?;
        roles.push((role, patterns));
    }
    let default = patterns("tools.default", &t.default)?;
    let max_frame_bytes = match t.max_frame_bytes {
        None => DEFAULT_MAX_FRAME_BYTES,
        Some(n) if (MIN_MAX_FRAME_BYTES..=MAX_MAX_FRAME_BYTES).contains(&n) => usize::try_from(n)
            .map_err(|_| {
            ConfigError::new("tools.max_frame_bytes", "too large for this platform")
        })?,
        Some(n) => {
            return Err(ConfigError::new(
                "tools.max_frame_bytes",
                format!("{n} is out of range ({MIN_MAX_FRAME_BYTES} to {MAX_MAX_FRAME_BYTES})"),
            ))
        }
    };
    Ok(ToolsConfig {
        roles,
        default,
        max_frame_bytes,
    })
}

fn patterns(path: &str, entries: &[String]) -> Result<Vec<ToolPattern>> {
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            ToolPattern::parse(e).map_err(|msg| ConfigError::new(format!("{path}[{i}]"), msg))
        })
        .collect()
}

fn agentcore(a: RawAgentCore, tools_configured: bool) -> Result<AgentCoreConfig> {
    let mut suffixes: Vec<(String, String)> = Vec::new(); // (lower-case suffix, field path)
    let mut claim_suffix = |path: String, suffix: &str| -> Result<()> {
        if suffix.is_empty() || !suffix.bytes().all(is_tchar) {
            return Err(ConfigError::new(
                path,
                format!("{suffix:?} is not a valid header name suffix (letters, digits and !#$%&'*+-.^_`|~ only)"),
            ));
        }
        let lower = suffix.to_ascii_lowercase();
        if let Some((_, other)) = suffixes.iter().find(|(s, _)| *s == lower) {
            return Err(ConfigError::new(
                path,
                format!("header suffix {suffix:?} is already used by {other}"),
            ));
        }
        suffixes.push((lower, path));
        Ok(())
    };
    let mut forward_headers = Vec::new();
    for (header, suffix) in a.forward_headers {
        let path = format!("agentcore.forward_headers.{header}");
        let name = header_name(&path, &header)?;
        claim_suffix(path, &suffix)?;
        forward_headers.push((name, suffix));
    }
    let mut claims_to_headers = Vec::new();
    for (claim, suffix) in a.claims_to_headers {
        let path = format!("agentcore.claims_to_headers.{claim}");
        let claim_path = ClaimPath::parse(&claim).map_err(|e| ConfigError::new(&path, e))?;
        claim_suffix(path, &suffix)?;
        claims_to_headers.push((claim_path, suffix));
    }
    if let Some(suffix) = &a.allowed_tools_header {
        if !tools_configured {
            return Err(ConfigError::new(
                "agentcore.allowed_tools_header",
                "needs `tools`: without it there is no allowlist to send",
            ));
        }
        claim_suffix("agentcore.allowed_tools_header".into(), suffix)?;
    }
    if suffixes.len() > MAX_CUSTOM_HEADERS {
        return Err(ConfigError::new(
            "agentcore",
            format!(
                "maps {} custom headers; AgentCore forwards at most {MAX_CUSTOM_HEADERS} (forward_headers, claims_to_headers and allowed_tools_header together)",
                suffixes.len()
            ),
        ));
    }
    Ok(AgentCoreConfig {
        forward_headers,
        claims_to_headers,
        allowed_tools_header: a.allowed_tools_header,
        session: SessionConfig {
            bind_to_subject: a.session.is_some_and(|s| s.bind_to_subject),
        },
        trust_client_custom_headers: a.trust_client_custom_headers,
    })
}

/// A request header name as Envoy gives it to filters: lower-case token characters.
pub(super) fn header_name(path: &str, name: &str) -> Result<String> {
    if name.is_empty() || !name.bytes().all(is_tchar) {
        return Err(ConfigError::new(
            path,
            format!("{name:?} is not a valid header name"),
        ));
    }
    Ok(name.to_ascii_lowercase())
}

/// A query parameter name, matched as written: RFC 3986 unreserved characters
/// only, so it needs no escaping and cannot hold `&`, `=` or `#`.
fn param_name(path: &str, name: String) -> Result<String> {
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
    if name.is_empty() || !name.bytes().all(unreserved) {
        return Err(ConfigError::new(
            path,
            format!("{name:?} is not a query parameter name (letters, digits, -._~)"),
        ));
    }
    Ok(name)
}

/// RFC 9110 token characters.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
