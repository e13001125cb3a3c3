//! The `X-Amzn-Bedrock-AgentCore-Runtime-Custom-*` headers: spoof removal, mapping
//! and limits. The rules are listed in the module doc of `agentcore`.

use super::{Caller, DropReason, DroppedHeader, CUSTOM_PREFIX, MAX_VALUE_BYTES};
use crate::config::{AgentCoreConfig, MAX_CUSTOM_HEADERS};
use crate::json::Json;
use crate::jwt::ClaimPath;
use crate::policy::Allowlist;

pub(super) struct CustomPlan {
    pub remove: Vec<String>,
    pub set: Vec<(String, String)>,
    pub dropped: Vec<DroppedHeader>,
}

pub(super) fn plan(
    cfg: &AgentCoreConfig,
    request: &[(String, String)],
    caller: Option<&Caller<'_>>,
    allowlist: Option<&Allowlist>,
) -> CustomPlan {
    let mut out = CustomPlan {
        remove: Vec::new(),
        set: Vec::new(),
        dropped: Vec::new(),
    };

    // The filter's own headers, in config order.
    for (header, suffix) in &cfg.forward_headers {
        if let Some(value) = joined_values(request, header) {
            offer(&mut out, suffix, &value);
        }
    }
    if let Some(caller) = caller {
        for (path, suffix) in &cfg.claims_to_headers {
            if let Some(value) = claim(caller.claims, path) {
                offer(&mut out, suffix, &crate::jwt::claims::value_text(value));
            }
        }
    }
    if let (Some(suffix), Some(allowlist)) = (&cfg.allowed_tools_header, allowlist) {
        offer(&mut out, suffix, &allowlist.joined());
    }

    // The client's custom headers.
    let reserved: Vec<String> = mapped_suffixes(cfg).map(lower_name).collect();
    let mut kept = 0usize;
    for (name, value) in client_custom_headers(request) {
        if !cfg.trust_client_custom_headers || reserved.contains(&name) {
            out.remove.push(name);
            continue;
        }
        let reason = match value_problem(&value) {
            Some(reason) => Some(reason),
            None if out.set.len() + kept >= MAX_CUSTOM_HEADERS => Some(DropReason::TooMany),
            None => None,
        };
        match reason {
            Some(reason) => {
                out.dropped.push(DroppedHeader {
                    name: name.clone(),
                    reason,
                });
                out.remove.push(name);
            }
            None => kept += 1,
        }
    }

    // AgentCore acts for the user this header names (its workload identity hands
    // out that user's OAuth tokens) when the caller signs with IAM, and here the
    // proxy signs: a client must never choose it. Not in SPEC; removed on the same
    // terms as the custom headers.
    if !cfg.trust_client_custom_headers
        && request
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(USER_ID_HEADER))
    {
        out.remove.push(USER_ID_HEADER.to_owned());
    }
    out
}

/// AgentCore's user id header, lower-case.
pub(super) const USER_ID_HEADER: &str = "x-amzn-bedrock-agentcore-runtime-user-id";

/// Adds one of the filter's own headers, or records why it cannot go.
fn offer(out: &mut CustomPlan, suffix: &str, value: &str) {
    let name = [CUSTOM_PREFIX, suffix].concat();
    let value = value.trim_matches([' ', '\t']);
    let reason = match value_problem(value) {
        Some(reason) => Some(reason),
        None if out.set.len() >= MAX_CUSTOM_HEADERS => Some(DropReason::TooMany),
        None => None,
    };
    match reason {
        Some(reason) => out.dropped.push(DroppedHeader { name, reason }),
        None => out.set.push((name, value.to_owned())),
    }
}

/// Why a value cannot be a header value AgentCore forwards, if it cannot.
pub(super) fn value_problem(value: &str) -> Option<DropReason> {
    if value.len() > MAX_VALUE_BYTES {
        Some(DropReason::TooLong)
    } else if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        Some(DropReason::ControlCharacter)
    } else {
        None
    }
}

/// Every value of header `name` (any case) joined, or `None` if it is absent.
fn joined_values(request: &[(String, String)], name: &str) -> Option<String> {
    let separator = if name.eq_ignore_ascii_case("cookie") {
        "; "
    } else {
        ","
    };
    let values: Vec<&str> = request
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect();
    (!values.is_empty()).then(|| values.join(separator))
}

/// The client's custom headers: each lower-case name once, in order of first
/// appearance, with its values joined by `,`.
fn client_custom_headers(request: &[(String, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (name, value) in request {
        let lower = name.to_ascii_lowercase();
        if !lower.starts_with(&CUSTOM_PREFIX.to_ascii_lowercase()) {
            continue;
        }
        match out.iter_mut().find(|(n, _)| *n == lower) {
            Some((_, joined)) => {
                joined.push(',');
                joined.push_str(value);
            }
            None => out.push((lower, value.clone())),
        }
    }
    out
}

fn mapped_suffixes(cfg: &AgentCoreConfig) -> impl Iterator<Item = &str> {
    cfg.forward_headers
        .iter()
        .map(|(_, s)| s.as_str())
        .chain(cfg.claims_to_headers.iter().map(|(_, s)| s.as_str()))
        .chain(cfg.allowed_tools_header.as_deref())
}

fn lower_name(suffix: &str) -> String {
    [CUSTOM_PREFIX, suffix].concat().to_ascii_lowercase()
}

/// The claim at `path`: each step takes the first member of that name.
fn claim<'a>(claims: &'a Json, path: &ClaimPath) -> Option<&'a Json> {
    path.segments
        .iter()
        .try_fold(claims, |value, step| value.get(step))
}
