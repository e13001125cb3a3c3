//! The counters of SPEC "Metrics". Envoy shows them in `/stats` (with its own
//! `wasmcustom.` prefix) and `/stats/prometheus`.

use crate::jwt::Reason;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    JwtAllowed,
    JwtDenied,
    JwtDeniedReason(Reason),
    JwksFetchOk,
    JwksFetchFailed,
    ToolsAllowed,
    ToolsDenied,
    StreamsCut,
    HeadersDropped,
    /// A session id could not be generated: `random_get` failed (503).
    RandomFailed,
    RateLimitOk,
    RateLimitOverLimit,
    RateLimitError,
    /// Model tokens charged to `tokens` budgets (tokens, not requests).
    TokensCharged,
}

impl Metric {
    /// Every counter, so all are defined (and show as 0) from the start.
    pub fn all() -> Vec<Metric> {
        let mut all = vec![
            Metric::JwtAllowed,
            Metric::JwtDenied,
            Metric::JwksFetchOk,
            Metric::JwksFetchFailed,
            Metric::ToolsAllowed,
            Metric::ToolsDenied,
            Metric::StreamsCut,
            Metric::HeadersDropped,
            Metric::RandomFailed,
            Metric::RateLimitOk,
            Metric::RateLimitOverLimit,
            Metric::RateLimitError,
            Metric::TokensCharged,
        ];
        all.extend(Reason::ALL.iter().map(|r| Metric::JwtDeniedReason(*r)));
        all
    }

    pub fn name(self) -> String {
        match self {
            Metric::JwtAllowed => "toolguard.jwt.allowed".into(),
            Metric::JwtDenied => "toolguard.jwt.denied".into(),
            Metric::JwtDeniedReason(r) => format!("toolguard.jwt.denied.{}", r.as_str()),
            Metric::JwksFetchOk => "toolguard.jwks.fetch_ok".into(),
            Metric::JwksFetchFailed => "toolguard.jwks.fetch_failed".into(),
            Metric::ToolsAllowed => "toolguard.tools.allowed".into(),
            Metric::ToolsDenied => "toolguard.tools.denied".into(),
            Metric::StreamsCut => "toolguard.streams.cut".into(),
            Metric::HeadersDropped => "toolguard.headers.dropped".into(),
            Metric::RandomFailed => "toolguard.random.failed".into(),
            Metric::RateLimitOk => "toolguard.ratelimit.ok".into(),
            Metric::RateLimitOverLimit => "toolguard.ratelimit.over_limit".into(),
            Metric::RateLimitError => "toolguard.ratelimit.error".into(),
            Metric::TokensCharged => "toolguard.tokens.charged".into(),
        }
    }
}
