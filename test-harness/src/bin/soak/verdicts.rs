//! What the soak's client workers send and how each answer is judged: the
//! kinds of request of the mix (see the crate's root), their tokens, and the
//! check of each verdict, on the client's side and (for disconnects) on the
//! upstream's.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::Value;
use test_harness::client::{self, BodyEnding, Response};
use test_harness::tokens::{Key, Token};
use test_harness::{BodyEnd, MockAgent};

use crate::flap::{RlPhase, OVER_LIMIT_PREFIX};
use crate::streams::{Fixture, VARIANTS};
use crate::{Rng, CLIENT_GONE_WITHIN, DOWN_ISSUER, REQUEST_TIMEOUT};

pub const KINDS: [&str; 7] = [
    "allowed",
    "denied",
    "bad_token",
    "no_keys",
    "reset",
    "disconnect",
    "over_limit",
];
/// Relative weights of [`KINDS`].
pub const WEIGHTS: [usize; 7] = [30, 25, 10, 3, 14, 18, 6];

#[derive(Default)]
pub struct Tally {
    /// Requests by kind and protocol.
    pub sent: BTreeMap<String, u64>,
    /// Wrong verdicts by kind.
    pub wrong: BTreeMap<String, u64>,
    /// The first few wrong verdicts, described.
    pub examples: Vec<String>,
}

impl Tally {
    pub fn record(&mut self, kind: &str, h2c: bool, verdict: Result<(), String>) {
        let proto = if h2c { "h2c" } else { "http1" };
        *self.sent.entry(format!("{kind} {proto}")).or_default() += 1;
        if let Err(why) = verdict {
            self.wrong_verdict(kind, why);
        }
    }

    pub fn wrong_verdict(&mut self, kind: &str, why: String) {
        *self.wrong.entry(kind.to_string()).or_default() += 1;
        if self.examples.len() < 20 {
            self.examples.push(format!("{kind}: {why}"));
        }
    }
}

pub struct Tokens {
    pub allowed: Vec<String>,
    pub denied: Vec<String>,
    /// (authorization header or none, expected error, expected reason)
    pub bad: Vec<(Option<String>, &'static str, Option<&'static str>)>,
    pub down: Vec<String>,
    /// Users whose request limit is 0: every request is over it.
    pub over_limit: Vec<String>,
}

pub fn mint_tokens() -> Tokens {
    let subs = |prefix: &str, groups: &[&str], keys: &[Key]| -> Vec<String> {
        (0..8)
            .map(|n| {
                Token::standard(keys[n % keys.len()])
                    .sub(&format!("{prefix}-{n}"))
                    .groups(groups)
                    .mint()
            })
            .collect()
    };
    let keys = [Key::Rsa1, Key::Ec1, Key::Ed1];
    Tokens {
        allowed: subs("allowed", &["all"], &keys),
        denied: subs("denied", &[], &keys),
        bad: vec![
            (None, "missing_token", None),
            (
                Some(format!(
                    "Bearer {}",
                    Token::standard(Key::Rsa1).exp_in(-3600).mint()
                )),
                "invalid_token",
                Some("expired"),
            ),
            (
                Some(format!(
                    "Bearer {}",
                    Token::standard(Key::Ec1).corrupt_signature().mint()
                )),
                "invalid_token",
                Some("bad_signature"),
            ),
            (
                Some("Bearer not.a.jwt".into()),
                "invalid_token",
                Some("malformed"),
            ),
        ],
        down: (0..4)
            .map(|n| {
                Token::standard(Key::Rsa1)
                    .iss(DOWN_ISSUER)
                    .sub(&format!("down-{n}"))
                    .mint()
            })
            .collect(),
        over_limit: (0..4)
            .map(|n| {
                Token::standard(keys[n % keys.len()])
                    .sub(&format!("{OVER_LIMIT_PREFIX}{n}"))
                    .groups(&["all"])
                    .mint()
            })
            .collect(),
    }
}

pub fn request(envoy_url: &str, path: &str, h2c: bool) -> client::RequestBuilder {
    let req = client::post(&format!("{envoy_url}{path}"))
        .timeout(REQUEST_TIMEOUT)
        .header("content-type", "text/plain")
        .body("{}");
    if h2c {
        req.h2c()
    } else {
        req
    }
}

pub fn describe(resp: &Response) -> String {
    let text = String::from_utf8_lossy(&resp.body);
    let short: String = text.chars().take(160).collect();
    format!(
        "status {} ending {:?} {} bytes: {short:?}",
        resp.status,
        resp.ending,
        resp.body.len()
    )
}

pub fn check_json_error(
    resp: &Response,
    status: u16,
    error: &str,
    reason: Option<&str>,
) -> Result<(), String> {
    let body: Value = serde_json::from_slice(&resp.body).map_err(|_| describe(resp))?;
    let ok = resp.status == status
        && resp.header("content-type") == Some("application/json")
        && body["error"] == error
        && body["message"].as_str().is_some_and(|m| !m.is_empty())
        && reason.is_none_or(|r| body["reason"] == r);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "want {status} {error} {reason:?}; got {}",
            describe(resp)
        ))
    }
}

pub struct World {
    pub url: String,
    pub fixtures: Vec<Fixture>,
    pub tokens: Tokens,
    pub rl: Arc<RlPhase>,
}

/// One request of `kind`; `Err` describes a wrong verdict.
pub async fn run_one(world: &World, kind: &str, h2c: bool, rng: &mut Rng) -> Result<(), String> {
    let fi = rng.below(world.fixtures.len());
    match kind {
        "allowed" | "denied" => streamed(world, fi, kind, h2c, rng).await,
        "bad_token" => bad_token(world, h2c, rng).await,
        "no_keys" => no_keys(world, h2c, rng).await,
        "reset" => reset(world, fi, h2c, rng).await,
        "disconnect" => disconnect(world, fi, h2c, rng).await,
        "over_limit" => over_limit(world, fi, h2c, rng).await,
        other => Err(format!("unknown kind {other}")),
    }
}

pub fn pick(list: &[String], rng: &mut Rng) -> String {
    list[rng.below(list.len())].clone()
}

/// allowed: the fixture byte-identical, ended cleanly; denied: the fixture up
/// to its first tool-call frame, then the SPEC error event.
pub async fn streamed(
    world: &World,
    fi: usize,
    kind: &str,
    h2c: bool,
    rng: &mut Rng,
) -> Result<(), String> {
    let f = &world.fixtures[fi];
    let token = if kind == "allowed" {
        pick(&world.tokens.allowed, rng)
    } else {
        pick(&world.tokens.denied, rng)
    };
    let path = format!("/s/{fi}/{}", rng.below(VARIANTS));
    let resp = request(&world.url, &path, h2c)
        .bearer(&token)
        .send()
        .await
        .map_err(|e| format!("{path}: {e}"))?;
    let want = if kind == "allowed" {
        &f.bytes
    } else {
        &f.denied
    };
    let ending_ok = if kind == "allowed" {
        resp.ending == BodyEnding::Complete
    } else {
        resp.ending != BodyEnding::TimedOut
    };
    if resp.status == 200 && ending_ok && resp.body == *want {
        Ok(())
    } else {
        Err(format!("{} {path}: {}", f.name, describe(&resp)))
    }
}

/// 401 with the SPEC body and reason.
pub async fn bad_token(world: &World, h2c: bool, rng: &mut Rng) -> Result<(), String> {
    let (auth, error, reason) = &world.tokens.bad[rng.below(world.tokens.bad.len())];
    let mut req = request(&world.url, "/s/0/0", h2c);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = req.send().await.map_err(|e| e.to_string())?;
    check_json_error(&resp, 401, error, *reason)
}

/// 503 `jwks_unavailable` with `Retry-After`.
pub async fn no_keys(world: &World, h2c: bool, rng: &mut Rng) -> Result<(), String> {
    let resp = request(&world.url, "/s/0/0", h2c)
        .bearer(&pick(&world.tokens.down, rng))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    check_json_error(&resp, 503, "jwks_unavailable", None)?;
    match resp.header("retry-after").map(str::parse::<u64>) {
        Some(Ok(s)) if s >= 1 => Ok(()),
        other => Err(format!("Retry-After {other:?}")),
    }
}

/// A broken stream holding the fixture up to a frame end, never part of a frame.
pub async fn reset(world: &World, fi: usize, h2c: bool, rng: &mut Rng) -> Result<(), String> {
    let f = &world.fixtures[fi];
    let r = rng.below(f.resets.len());
    let (at, ends) = &f.resets[r];
    let path = format!("/r/{fi}/{r}");
    let resp = request(&world.url, &path, h2c)
        .bearer(&pick(&world.tokens.allowed, rng))
        .send()
        .await
        .map_err(|e| format!("{path}: {e}"))?;
    let got = resp.body.len();
    let whole_frames = ends.contains(&got) && resp.body[..] == f.bytes[..got];
    if resp.status == 200 && matches!(resp.ending, BodyEnding::Error(_)) && whole_frames {
        Ok(())
    } else {
        Err(format!(
            "{} {path} (reset at byte {at}; frame ends {ends:?}): {}",
            f.name,
            describe(&resp)
        ))
    }
}

/// What arrived before the client left is the stream's start (the upstream's
/// side is checked by [`sweep`]).
pub async fn disconnect(world: &World, fi: usize, h2c: bool, rng: &mut Rng) -> Result<(), String> {
    let f = &world.fixtures[fi];
    let path = format!("/l/{fi}");
    let mut stream = request(&world.url, &path, h2c)
        .bearer(&pick(&world.tokens.allowed, rng))
        .open()
        .await
        .map_err(|e| format!("{path}: {e}"))?;
    if stream.status != 200 {
        return Err(format!("{path}: status {}", stream.status));
    }
    let mut got = Vec::new();
    for _ in 0..1 + rng.below(30) {
        match stream.next_chunk(REQUEST_TIMEOUT).await {
            Ok(Some(chunk)) => got.extend_from_slice(&chunk),
            other => return Err(format!("{path}: ended early: {other:?}")),
        }
    }
    drop(stream);
    let n = got.len().min(f.bytes.len());
    if got[..n] == f.bytes[..n] {
        Ok(())
    } else {
        Err(format!(
            "{} {path}: the first {} bytes differ",
            f.name,
            got.len()
        ))
    }
}

/// 429 `rate_limited` while the service answers; during its faults the
/// request goes on.
pub async fn over_limit(world: &World, fi: usize, h2c: bool, rng: &mut Rng) -> Result<(), String> {
    let f = &world.fixtures[fi];
    let path = format!("/s/{fi}/{}", rng.below(VARIANTS));
    let during = world.rl.now();
    let resp = request(&world.url, &path, h2c)
        .bearer(&pick(&world.tokens.over_limit, rng))
        .send()
        .await
        .map_err(|e| format!("{path}: {e}"))?;
    // The service answered throughout only if no switch happened
    // and it was behind the switch all along.
    let answered = during.1 && world.rl.now() == during;
    if resp.status == 429 {
        check_json_error(&resp, 429, "rate_limited", None)?;
        return match resp.header("retry-after").map(str::parse::<u64>) {
            Some(Ok(s)) if s >= 1 => Ok(()),
            other => Err(format!("429 with Retry-After {other:?}")),
        };
    }
    if !answered && resp.status == 200 && resp.body == f.bytes {
        Ok(())
    } else {
        Err(format!(
            "{} {path} (service answering: {answered}): {}",
            f.name,
            describe(&resp)
        ))
    }
}

pub fn pick_kind(rng: &mut Rng) -> &'static str {
    let total: usize = WEIGHTS.iter().sum();
    let mut x = rng.below(total);
    for (kind, w) in KINDS.iter().zip(WEIGHTS) {
        if x < w {
            return kind;
        }
        x -= w;
    }
    KINDS[0]
}

/// Checks requests older than `before`: every disconnect's upstream must have
/// seen the client go. Returns the number checked.
pub fn sweep(agent: &MockAgent, before: Instant, tally: &Mutex<Tally>) -> usize {
    let old = agent.take_requests_received_before(before);
    for r in &old {
        if r.path.starts_with("/l/") {
            let left =
                (r.received_at + CLIENT_GONE_WITHIN).saturating_duration_since(Instant::now());
            let end = r.wait_body_end(left);
            if end != Some(BodyEnd::ClientGone) {
                tally.lock().unwrap().wrong_verdict(
                    "disconnect",
                    format!(
                        "{}: the upstream did not see the client go: {end:?}",
                        r.path
                    ),
                );
            }
        }
    }
    old.len()
}
