//! Validation of `api_keys` and `rate_limits` (SPEC "API keys", "Rate limits").

use super::error::ConfigError;
use super::model::*;
use super::raw::{RawApiKeys, RawEntry, RawRateLimits};
use super::validate::{duration_field, header_name};
use crate::jwt::{ClaimPath, Provider};

type Result<T> = std::result::Result<T, ConfigError>;

pub fn api_keys(raw: RawApiKeys, providers: &[Provider]) -> Result<ApiKeysConfig> {
    let header = header_name(
        "api_keys.header",
        raw.header.as_deref().unwrap_or(DEFAULT_API_KEY_HEADER),
    )?;
    if let Some(p) = providers
        .iter()
        .find(|p| p.from_headers.iter().any(|h| h.name == header))
    {
        return Err(ConfigError::new(
            "api_keys.header",
            format!(
                "{header:?} is where provider {:?} reads its tokens; an API key needs a header of its own",
                p.name
            ),
        ));
    }
    let mut keys: Vec<([u8; 32], ApiKey)> = Vec::with_capacity(raw.keys.len());
    for (hash_hex, key) in raw.keys {
        let at = format!("api_keys.keys.{hash_hex}");
        let hash = sha256_hex(&hash_hex).ok_or_else(|| {
            ConfigError::new(
                &at,
                "the name must be the SHA-256 of the key in 64 hex digits (e.g. `printf %s \"$KEY\" | sha256sum`), never the key itself",
            )
        })?;
        if keys.iter().any(|(h, _)| *h == hash) {
            return Err(ConfigError::new(&at, "this hash is given twice"));
        }
        if key.subject.is_empty() {
            return Err(ConfigError::new(format!("{at}.subject"), "cannot be empty"));
        }
        if let Some(i) = key.roles.iter().position(String::is_empty) {
            return Err(ConfigError::new(
                format!("{at}.roles[{i}]"),
                "cannot be empty",
            ));
        }
        keys.push((
            hash,
            ApiKey {
                subject: key.subject,
                roles: key.roles,
            },
        ));
    }
    if keys.is_empty() {
        return Err(ConfigError::new(
            "api_keys.keys",
            "at least one key hash is required",
        ));
    }
    Ok(ApiKeysConfig { header, keys })
}

fn sha256_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(text.as_bytes().chunks(2)) {
        let digits = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(digits, 16).ok()?;
    }
    Some(out)
}

pub fn rate_limits(raw: RawRateLimits) -> Result<RateLimitsConfig> {
    let s = raw.service;
    if s.cluster.is_empty() {
        return Err(ConfigError::new(
            "rate_limits.service.cluster",
            "cannot be empty: name the Envoy cluster (HTTP/2) of the rate-limit service",
        ));
    }
    if s.domain.is_empty() {
        return Err(ConfigError::new(
            "rate_limits.service.domain",
            "cannot be empty: the service's limits are looked up under this domain",
        ));
    }
    let timeout = duration_field(
        "rate_limits.service.timeout",
        s.timeout.as_deref(),
        DEFAULT_RATE_LIMIT_TIMEOUT,
    )?;
    let requests = descriptors("rate_limits.requests", raw.requests, false)?;
    let tools = descriptors("rate_limits.tools", raw.tools, true)?;
    let tokens = descriptors("rate_limits.tokens", raw.tokens, false)?;
    Ok(RateLimitsConfig {
        service: RateLimitService {
            cluster: s.cluster,
            domain: s.domain,
            timeout,
            failure_mode_deny: s.failure_mode_deny,
        },
        requests,
        tools,
        tokens,
    })
}

fn descriptors(path: &str, raw: Vec<Vec<RawEntry>>, tool_allowed: bool) -> Result<Vec<Descriptor>> {
    raw.into_iter()
        .enumerate()
        .map(|(i, entries)| {
            let at = format!("{path}[{i}]");
            if entries.is_empty() {
                return Err(ConfigError::new(
                    &at,
                    "a descriptor needs at least one entry",
                ));
            }
            let descriptor = entries
                .into_iter()
                .enumerate()
                .map(|(j, e)| entry(&format!("{at}[{j}]"), e, tool_allowed))
                .collect::<Result<Descriptor>>()?;
            // Two `role` entries would multiply descriptors per request; one is the SPEC's.
            for source in [EntrySource::Role, EntrySource::Tool] {
                if descriptor.iter().filter(|e| e.source == source).count() > 1 {
                    return Err(ConfigError::new(
                        &at,
                        format!("{source:?} is used twice; one descriptor takes it once")
                            .to_lowercase(),
                    ));
                }
            }
            Ok(descriptor)
        })
        .collect()
}

fn entry(path: &str, e: RawEntry, tool_allowed: bool) -> Result<DescriptorEntry> {
    if e.key.is_empty() {
        return Err(ConfigError::new(format!("{path}.key"), "cannot be empty"));
    }
    let source = match (e.value, e.from) {
        (Some(value), None) => EntrySource::Value(value),
        (None, Some(from)) => source(&format!("{path}.from"), &from, tool_allowed)?,
        _ => return Err(ConfigError::new(path, "give exactly one of value or from")),
    };
    Ok(DescriptorEntry { key: e.key, source })
}

fn source(path: &str, from: &str, tool_allowed: bool) -> Result<EntrySource> {
    if let Some(claim) = from.strip_prefix("claim:") {
        return ClaimPath::parse(claim)
            .map(EntrySource::Claim)
            .map_err(|e| ConfigError::new(path, e));
    }
    if let Some(name) = from.strip_prefix("header:") {
        return header_name(path, name).map(EntrySource::Header);
    }
    match from {
        "role" => Ok(EntrySource::Role),
        "path" => Ok(EntrySource::Path),
        "tool" if tool_allowed => Ok(EntrySource::Tool),
        "tool" => Err(ConfigError::new(
            path,
            "\"tool\" is only known under rate_limits.tools",
        )),
        other => Err(ConfigError::new(
            path,
            format!(
                "{other:?} is not a source; use claim:<path>, header:<name>, role, tool or path"
            ),
        )),
    }
}
