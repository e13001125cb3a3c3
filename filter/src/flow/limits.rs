//! Rate-limit calls for one stream (SPEC "Rate limits"): what to send, and what
//! an answer means for the request. The calls go out through the `Host`; their
//! answers come back to the same stream (`on_grpc_call_response`).

use super::answers::{self, LocalAnswer};
use super::request::Identity;
use crate::config::{Descriptor, EntrySource, RateLimitsConfig};
use crate::host::{Host, LogLevel};
use crate::metrics::Metric;
use crate::ratelimit::{self, proto, CallError, LimitHeaders, PendingCall, Subject, Verdict};

/// What descriptors read from the request, captured while its headers can be
/// read: Envoy refuses request-header reads once the request went upstream, and
/// tool and token charges are made on the response.
#[derive(Debug, Clone, Default)]
pub struct RequestFacts {
    /// `:path` without the query.
    pub path: String,
    /// The values of the headers the descriptors name.
    pub headers: Vec<(String, String)>,
}

impl RequestFacts {
    pub fn capture(host: &dyn Host, config: &RateLimitsConfig) -> RequestFacts {
        let path = host.request_header(":path").unwrap_or_default();
        let path = path.split(['?', '#']).next().unwrap_or_default().to_owned();
        let mut headers: Vec<(String, String)> = Vec::new();
        let all = config
            .requests
            .iter()
            .chain(&config.tools)
            .chain(&config.tokens);
        for entry in all.flatten() {
            if let EntrySource::Header(name) = &entry.source {
                if headers.iter().any(|(n, _)| n == name) {
                    continue;
                }
                if let Some(value) = host.request_header(name) {
                    headers.push((name.clone(), value));
                }
            }
        }
        RequestFacts { path, headers }
    }
}

/// Which descriptors a call carries, and how much each is charged.
pub struct Charge<'a> {
    pub descriptors: &'a [Descriptor],
    pub tool: Option<&'a str>,
    /// The per-descriptor `hits_addend` (`Some(0)`: check only).
    pub hits_addend: Option<u64>,
}

/// What came of starting a call.
pub enum Sent {
    /// Every descriptor was left out: nothing to ask.
    Nothing,
    Waiting(PendingCall),
    /// Could not be sent: act on this verdict now.
    Failed(Verdict),
}

/// Sends one call with the descriptors of every `charge`; `hits` is the
/// request's own `hits_addend`.
pub fn send(
    host: &dyn Host,
    config: &RateLimitsConfig,
    identity: Option<&Identity>,
    facts: &RequestFacts,
    charges: &[Charge<'_>],
    hits: u32,
) -> Sent {
    let header = |name: &str| {
        facts
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let token = identity.and_then(|i| i.token.as_ref());
    let subject = Subject {
        claims: token.map(|t| &t.claims),
        roles: token.map(|t| t.roles.as_slice()).unwrap_or_default(),
        path: &facts.path,
        header: &header,
    };
    let descriptors = charges
        .iter()
        .flat_map(|c| ratelimit::build(c.descriptors, &subject, c.tool, c.hits_addend))
        .collect();
    let Some(message) = ratelimit::request(&config.service.domain, descriptors, hits) else {
        return Sent::Nothing;
    };
    let timeout_ms = u64::try_from(config.service.timeout.as_millis()).unwrap_or(u64::MAX);
    match host.dispatch_grpc(
        &config.service.cluster,
        proto::SERVICE,
        proto::METHOD,
        &message,
        timeout_ms,
    ) {
        Ok(token) => Sent::Waiting(PendingCall {
            token,
            deadline_ms: host.now_ms().saturating_add(timeout_ms),
        }),
        Err(_) => Sent::Failed(Verdict::Error(CallError::NotSent)),
    }
}

/// What the stream does after a verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Go,
    /// Over the limit: retry after this many seconds.
    OverLimit(u64),
    /// No usable answer and `failure_mode_deny`.
    Unavailable,
}

/// Counts and logs a verdict and decides; the limit headers, if any, go to `headers`.
pub fn decide(
    host: &dyn Host,
    config: &RateLimitsConfig,
    verdict: Verdict,
    headers: &mut Option<LimitHeaders>,
) -> Decision {
    match verdict {
        Verdict::Ok(h) => {
            host.count(Metric::RateLimitOk, 1);
            *headers = h.or(headers.take());
            Decision::Go
        }
        Verdict::OverLimit {
            headers: h,
            retry_after_secs,
        } => {
            host.count(Metric::RateLimitOverLimit, 1);
            *headers = h.or(headers.take());
            Decision::OverLimit(retry_after_secs)
        }
        Verdict::Error(e) => {
            host.count(Metric::RateLimitError, 1);
            let deny = config.service.failure_mode_deny;
            host.log(
                LogLevel::Warn,
                &format!(
                    "toolguard: rate-limit service (cluster {:?}): {e}; {}",
                    config.service.cluster,
                    if deny {
                        "refused (failure_mode_deny)"
                    } else {
                        "let through"
                    }
                ),
            );
            if deny {
                Decision::Unavailable
            } else {
                Decision::Go
            }
        }
    }
}

/// The local answer for a refused request.
pub fn answer(decision: &Decision, headers: Option<&LimitHeaders>) -> Option<LocalAnswer> {
    match decision {
        Decision::Go => None,
        Decision::OverLimit(retry) => {
            let pairs = headers.map(|h| h.pairs().to_vec()).unwrap_or_default();
            Some(answers::rate_limited(*retry, &pairs))
        }
        Decision::Unavailable => Some(answers::rate_limit_unavailable()),
    }
}
