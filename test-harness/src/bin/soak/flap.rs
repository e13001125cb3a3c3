//! What goes wrong around the filter while the soak runs: the main
//! provider's JWKS flaps through failures and rotations, and the rate-limit
//! service's address switches between the service and its faults.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;
use test_harness::ratelimit::{Behind, Fault, RateLimitSwitch};
use test_harness::tokens::{self, Key};
use test_harness::{JwksMode, MockJwks};

// --- the flapping JWKS -----------------------------------------------------------

/// Phases of the main provider's JWKS, each `PHASE` long, round and round.
pub const PHASE: Duration = Duration::from_secs(4);

/// One phase of the JWKS: its name, how it answers, after what delay, and
/// the key set it switches to, if any.
type JwksPhase = (&'static str, JwksMode, Duration, Option<Value>);

/// The phases of one round, and the huge answer of the later rounds (see
/// below).
fn jwks_phases() -> ([JwksPhase; 12], JwksMode) {
    let base = tokens::default_jwks();
    let rotated = tokens::jwks(&[Key::Rsa2, Key::Rsa1, Key::Ec1, Key::Ed1]);
    // A JWKS body of `mib` MiB that is no key set.
    let big = |mib: usize| {
        let mut body = br#"{"keys":[],"pad":""#.to_vec();
        body.resize(mib * 1024 * 1024 - 2, b'p');
        body.extend_from_slice(br#""}"#);
        JwksMode::Body {
            content_type: "application/json".into(),
            body: Bytes::from(body),
        }
    };
    // 50 MiB is past Envoy's buffer limit for the answers to the filter's
    // calls: Envoy drains it and hands the filter a call without a response.
    // Envoy's allocator keeps what it buffered, a step of up to ~20 MiB of
    // RSS each time, so it comes in the first cycle only (before the memory
    // baseline); later cycles serve 5 MiB, refused unread by the filter.
    let (first_huge, later_huge) = (big(50), big(5));
    let cycle: [JwksPhase; 12] = [
        ("50 MiB", first_huge, Duration::ZERO, None),
        ("good", JwksMode::Serve, Duration::ZERO, None),
        ("failing", JwksMode::Fail(500), Duration::ZERO, None),
        ("good", JwksMode::Serve, Duration::ZERO, None),
        (
            "good, rotated",
            JwksMode::Serve,
            Duration::ZERO,
            Some(rotated),
        ),
        ("slow", JwksMode::Serve, Duration::from_millis(2500), None),
        ("good", JwksMode::Serve, Duration::ZERO, None),
        ("garbage", JwksMode::Garbage, Duration::ZERO, None),
        (
            "good, rotated back",
            JwksMode::Serve,
            Duration::ZERO,
            Some(base),
        ),
        (
            "reset mid-body",
            JwksMode::ResetMidBody,
            Duration::ZERO,
            None,
        ),
        ("good", JwksMode::Serve, Duration::ZERO, None),
        (
            "html",
            JwksMode::Body {
                content_type: "text/html".into(),
                body: Bytes::from_static(b"<html><body>503 Service Unavailable</body></html>"),
            },
            Duration::ZERO,
            None,
        ),
    ];
    (cycle, later_huge)
}

pub fn flap(jwks: &MockJwks, stop: &AtomicBool, phases: &Mutex<BTreeMap<&'static str, u64>>) {
    let (cycle, later_huge) = jwks_phases();
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let (mut name, mut mode, delay, keys) = cycle[i % cycle.len()].clone();
        if name == "50 MiB" && i >= cycle.len() {
            (name, mode) = ("5 MiB", later_huge.clone());
        }
        if let Some(k) = keys {
            jwks.set_keys(k.clone());
        }
        jwks.set_delay(delay);
        jwks.set_mode(mode);
        *phases.lock().unwrap().entry(name).or_default() += 1;
        let until = Instant::now() + PHASE;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
        i += 1;
    }
    jwks.set_delay(Duration::ZERO);
    jwks.set_mode(JwksMode::Serve);
}

// --- the flapping rate-limit service -----------------------------------------------

/// The users whose request limit is 0.
pub const OVER_LIMIT_PREFIX: &str = "over-limit-";
pub const RL_DOMAIN: &str = "soak";
/// Phases of the rate-limit switch, each this long, round and round.
pub const RL_PHASE: Duration = Duration::from_secs(3);

pub fn rl_limits() -> String {
    format!(
        "- namespace: {RL_DOMAIN}\n  max_value: 1000000000\n  seconds: 3600\n  conditions: []\n  \
         variables: [\"descriptors[0]['user']\"]\n\
         - namespace: {RL_DOMAIN}\n  max_value: 0\n  seconds: 60\n  \
         conditions: [\"descriptors[0]['user'].startsWith('{OVER_LIMIT_PREFIX}')\"]\n  \
         variables: [\"descriptors[0]['user']\"]\n"
    )
}

/// What is behind the switch: a generation that moves at every switch, and
/// whether the real service is behind it now.
#[derive(Default)]
pub struct RlPhase(Mutex<(u64, bool)>);

impl RlPhase {
    pub fn now(&self) -> (u64, bool) {
        *self.0.lock().unwrap()
    }
    pub fn set(&self, service: bool) {
        let mut p = self.0.lock().unwrap();
        *p = (p.0 + 1, service);
    }
}

pub fn flap_ratelimit(
    switch: &RateLimitSwitch,
    phase: &RlPhase,
    stop: &AtomicBool,
    phases: &Mutex<BTreeMap<&'static str, u64>>,
) -> Result<(), String> {
    let cycle: [(&str, Behind); 8] = [
        ("service", Behind::Service),
        ("down", Behind::Fault(Fault::Down)),
        ("service", Behind::Service),
        ("slow", Behind::Fault(Fault::Slow(Duration::from_secs(1)))),
        ("service", Behind::Service),
        ("garbage", Behind::Fault(Fault::Garbage)),
        ("service", Behind::Service),
        ("closing mid-call", Behind::Fault(Fault::CloseMidCall)),
    ];
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let (name, behind) = cycle[i % cycle.len()];
        // Mark the switch before it happens (so no request counts on the
        // service across it), and the service as behind only once it is.
        phase.set(false);
        switch.set(behind).map_err(|e| e.to_string())?;
        if behind == Behind::Service {
            phase.set(true);
        }
        *phases.lock().unwrap().entry(name).or_default() += 1;
        let until = Instant::now() + RL_PHASE;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
        i += 1;
    }
    phase.set(false);
    switch.set(Behind::Service).map_err(|e| e.to_string())?;
    phase.set(true);
    Ok(())
}
