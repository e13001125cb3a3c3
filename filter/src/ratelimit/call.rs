//! One `ShouldRateLimit` call: built, sent, then answered, failed or timed out.
//! `flow` drives it through the `Host`; nothing here talks to the network.

use super::proto::{RateLimitDescriptor, RateLimitRequest};
use super::verdict::{decide, CallError, Verdict};
use prost::Message;

/// The encoded request for `domain`; `None` when there is nothing to ask
/// (every descriptor was left out), so no call is made.
pub fn request(domain: &str, descriptors: Vec<RateLimitDescriptor>, hits: u32) -> Option<Vec<u8>> {
    if descriptors.is_empty() {
        return None;
    }
    Some(
        RateLimitRequest {
            domain: domain.to_owned(),
            descriptors,
            hits_addend: hits,
        }
        .encode_to_vec(),
    )
}

/// A call in flight: its host token and when it stops being worth waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingCall {
    pub token: u32,
    pub deadline_ms: u64,
}

impl PendingCall {
    /// The answer to `token`, if it is this call's.
    pub fn answer(&self, token: u32, status: u32, body: &[u8]) -> Option<Verdict> {
        (token == self.token).then(|| decide(status, body))
    }

    /// `Some` once the deadline passed: the call counts as failed.
    pub fn expired(&self, now_ms: u64) -> Option<Verdict> {
        (now_ms >= self.deadline_ms).then_some(Verdict::Error(CallError::Timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::proto::Entry;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[test]
    #[wasm_bindgen_test]
    fn nothing_to_ask_is_no_call() {
        assert_eq!(request("d", vec![], 1), None);
        let one = RateLimitDescriptor {
            entries: vec![Entry {
                key: "k".into(),
                value: "v".into(),
            }],
            hits_addend: None,
        };
        let bytes = request("d", vec![one], 5).unwrap();
        let decoded = RateLimitRequest::decode(&bytes[..]).unwrap();
        assert_eq!((decoded.domain.as_str(), decoded.hits_addend), ("d", 5));
    }

    #[test]
    #[wasm_bindgen_test]
    fn a_call_takes_only_its_own_answer_and_expires_at_its_deadline() {
        let call = PendingCall {
            token: 7,
            deadline_ms: 1000,
        };
        assert_eq!(call.answer(8, 0, b""), None);
        assert_eq!(
            call.answer(7, 14, b""),
            Some(Verdict::Error(CallError::Status(14)))
        );
        assert_eq!(call.expired(999), None);
        assert_eq!(call.expired(1000), Some(Verdict::Error(CallError::Timeout)));
    }
}
