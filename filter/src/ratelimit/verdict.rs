//! A `ShouldRateLimit` answer as the filter acts on it: allowed, over the limit
//! (with the seconds to wait), or no usable answer; and the `x-ratelimit-*`
//! headers Envoy's ratelimit filter writes with `DRAFT_VERSION_03`.

use super::proto::{Code, DescriptorStatus, RateLimitResponse, Unit};
use prost::Message;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ok(Option<LimitHeaders>),
    OverLimit {
        headers: Option<LimitHeaders>,
        /// Until the latest over-limit status resets, rounded up, at least 1.
        retry_after_secs: u64,
    },
    Error(CallError),
}

/// Why there is no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The call could not be dispatched (no such cluster, ...).
    NotSent,
    /// No answer within `timeout`.
    Timeout,
    /// The call ended with this gRPC status (14 UNAVAILABLE, 4 DEADLINE_EXCEEDED, ...).
    Status(u32),
    /// The answer is not a `RateLimitResponse`, or has no overall code.
    Garbage(String),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::NotSent => {
                f.write_str("the call could not be sent (is the cluster defined?)")
            }
            CallError::Timeout => f.write_str("no answer within the timeout"),
            CallError::Status(4) => f.write_str("gRPC status 4 (deadline exceeded)"),
            CallError::Status(14) => f.write_str("gRPC status 14 (unavailable)"),
            CallError::Status(s) => write!(f, "gRPC status {s}"),
            CallError::Garbage(e) => write!(f, "the answer is not a RateLimitResponse: {e}"),
        }
    }
}

/// `x-ratelimit-limit`, `-remaining` and `-reset` from the tightest status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitHeaders {
    /// `<limit>` then `, <limit>;w=<window>[;name="<name>"]` for every status.
    pub limit: String,
    pub remaining: u32,
    pub reset: i64,
}

impl LimitHeaders {
    pub fn pairs(&self) -> [(&'static str, String); 3] {
        [
            ("x-ratelimit-limit", self.limit.clone()),
            ("x-ratelimit-remaining", self.remaining.to_string()),
            ("x-ratelimit-reset", self.reset.to_string()),
        ]
    }

    /// Envoy's rule: the status with the least remaining (the first of equals)
    /// names the limit; every status with a known window joins the quota policy.
    fn of(statuses: &[DescriptorStatus]) -> Option<LimitHeaders> {
        let mut tightest: Option<&DescriptorStatus> = None;
        for s in statuses.iter().filter(|s| s.current_limit.is_some()) {
            if tightest.is_none_or(|t| s.limit_remaining < t.limit_remaining) {
                tightest = Some(s);
            }
        }
        let tightest = tightest?;
        let mut limit = tightest
            .current_limit
            .as_ref()
            .map_or(0, |l| l.requests_per_unit)
            .to_string();
        for l in statuses.iter().filter_map(|s| s.current_limit.as_ref()) {
            let window = Unit::try_from(l.unit).map_or(0, Unit::seconds);
            if window == 0 {
                continue;
            }
            limit.push_str(&format!(", {};w={window}", l.requests_per_unit));
            if !l.name.is_empty() {
                limit.push_str(&format!(";name=\"{}\"", l.name));
            }
        }
        Some(LimitHeaders {
            limit,
            remaining: tightest.limit_remaining,
            reset: tightest.duration_until_reset.map_or(0, |d| d.seconds),
        })
    }
}

/// The verdict of a call that ended with gRPC `status` and `body`.
pub fn decide(status: u32, body: &[u8]) -> Verdict {
    if status != 0 {
        return Verdict::Error(CallError::Status(status));
    }
    let response = match RateLimitResponse::decode(body) {
        Ok(r) => r,
        Err(e) => return Verdict::Error(CallError::Garbage(e.to_string())),
    };
    let headers = LimitHeaders::of(&response.statuses);
    match Code::try_from(response.overall_code) {
        Ok(Code::Ok) => Verdict::Ok(headers),
        Ok(Code::OverLimit) => Verdict::OverLimit {
            headers,
            retry_after_secs: retry_after(&response.statuses),
        },
        _ => Verdict::Error(CallError::Garbage("no overall code".into())),
    }
}

fn retry_after(statuses: &[DescriptorStatus]) -> u64 {
    statuses
        .iter()
        .filter(|s| s.code == Code::OverLimit as i32)
        .map(|s| match s.duration_until_reset {
            Some(d) => {
                let secs = u64::try_from(d.seconds).unwrap_or(0);
                secs.saturating_add(u64::from(d.nanos > 0))
            }
            // No reset time: the limit's own window is the longest wait.
            None => s
                .current_limit
                .as_ref()
                .and_then(|l| Unit::try_from(l.unit).ok())
                .map_or(1, Unit::seconds),
        })
        .max()
        .unwrap_or(1)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::proto::{Duration, RateLimit};
    use wasm_bindgen_test::wasm_bindgen_test;

    fn status(
        code: Code,
        per_unit: u32,
        unit: Unit,
        name: &str,
        remaining: u32,
        reset: (i64, i32),
    ) -> DescriptorStatus {
        DescriptorStatus {
            code: code as i32,
            current_limit: Some(RateLimit {
                name: name.into(),
                requests_per_unit: per_unit,
                unit: unit as i32,
            }),
            limit_remaining: remaining,
            duration_until_reset: Some(Duration {
                seconds: reset.0,
                nanos: reset.1,
            }),
        }
    }

    fn answer(overall: Code, statuses: Vec<DescriptorStatus>) -> Vec<u8> {
        RateLimitResponse {
            overall_code: overall as i32,
            statuses,
        }
        .encode_to_vec()
    }

    #[test]
    #[wasm_bindgen_test]
    fn headers_come_from_the_least_remaining_status_with_every_quota_policy() {
        let body = answer(
            Code::Ok,
            vec![
                status(Code::Ok, 100, Unit::Hour, "", 40, (1800, 0)),
                status(Code::Ok, 10, Unit::Minute, "per-user", 3, (42, 500)),
                DescriptorStatus {
                    code: Code::Ok as i32,
                    ..Default::default()
                },
            ],
        );
        let Verdict::Ok(Some(h)) = decide(0, &body) else {
            panic!("ok with headers expected")
        };
        assert_eq!(h.limit, "10, 100;w=3600, 10;w=60;name=\"per-user\"");
        assert_eq!(h.remaining, 3);
        assert_eq!(h.reset, 42);
    }

    #[test]
    #[wasm_bindgen_test]
    fn over_limit_waits_for_the_latest_over_limit_status_rounded_up() {
        let body = answer(
            Code::OverLimit,
            vec![
                status(Code::OverLimit, 5, Unit::Second, "", 0, (0, 200_000_000)),
                status(Code::OverLimit, 10, Unit::Minute, "", 0, (41, 1)),
                status(Code::Ok, 1000, Unit::Day, "", 900, (80_000, 0)),
            ],
        );
        let Verdict::OverLimit {
            headers: Some(h),
            retry_after_secs,
        } = decide(0, &body)
        else {
            panic!("over limit expected")
        };
        assert_eq!(retry_after_secs, 42);
        assert_eq!((h.remaining, h.reset), (0, 0));
        let zero = answer(
            Code::OverLimit,
            vec![status(Code::OverLimit, 1, Unit::Second, "", 0, (0, 0))],
        );
        assert!(matches!(
            decide(0, &zero),
            Verdict::OverLimit {
                retry_after_secs: 1,
                ..
            }
        ));
    }

    #[test]
    #[wasm_bindgen_test]
    fn failed_calls_and_garbage_are_errors() {
        assert_eq!(decide(14, b""), Verdict::Error(CallError::Status(14)));
        assert!(matches!(
            decide(0, b"\xff\xff\xff"),
            Verdict::Error(CallError::Garbage(_))
        ));
        // Decodes (empty message) but says nothing: not an answer.
        assert!(matches!(
            decide(0, b""),
            Verdict::Error(CallError::Garbage(_))
        ));
        assert_eq!(decide(0, &answer(Code::Ok, vec![])), Verdict::Ok(None));
    }
}
