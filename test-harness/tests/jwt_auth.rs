//! JWT authentication through the real Envoy: SPEC "Request answers" for
//! missing and refused tokens, every accepted algorithm, `bypass`, the
//! `toolguard.jwt.*` / `toolguard.jwks.*` counters, and the remote JWKS life
//! cycle (first fetch, rotation, outage at start and during operation, the
//! kid-refetch rate limit) observed through the mock JWKS's fetch count.
//!
//! Timing assertions are upper bounds with generous slack, or orderings; the
//! remote tests use one worker where a fetch count must be exact (each worker
//! fetches on its own).

mod common;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use test_harness::client::{self, Response};
use test_harness::plugin_config::{self, TEST_AUDIENCE, TEST_ISSUER};
use test_harness::tokens::{self, Key};
use test_harness::{Bootstrap, Envoy, MockAgent, MockJwks, Token};

use common::jwt::{
    assert_invalid, assert_json_answer, assert_jwks_unavailable, assert_missing_token, remote,
};
use common::{counter, Stack};

const WAIT: Duration = Duration::from_secs(10);
/// Slack on top of an `http_uri` timeout before a waiting request must be answered.
const SLACK: Duration = Duration::from_secs(3);
/// A few root ticks (100 ms): time for fetches already due to land.
const SETTLE: Duration = Duration::from_millis(500);

const REASONS: [&str; 10] = [
    "malformed",
    "alg_not_allowed",
    "unknown_issuer",
    "unknown_kid",
    "bad_signature",
    "expired",
    "not_yet_valid",
    "missing_exp",
    "bad_audience",
    "bad_token_use",
];

// --- helpers ---------------------------------------------------------------

/// Envoy with `config` in front of a fresh echo agent (local keys only).
fn start_local(config: &Value, tweak: impl FnOnce(Bootstrap) -> Bootstrap) -> (MockAgent, Envoy) {
    let agent = MockAgent::start().unwrap();
    let envoy = common::start_envoy_with(agent.addr(), config, tweak);
    (agent, envoy)
}

fn get(envoy: &Envoy, path: &str, authorization: Option<&str>) -> Response {
    let mut req = client::get(&envoy.url(path));
    if let Some(value) = authorization {
        req = req.header("authorization", value);
    }
    req.send_blocking()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

fn bearer(envoy: &Envoy, token: &str) -> Response {
    get(envoy, "/invocations", Some(&format!("Bearer {token}")))
}

fn assert_ok(resp: &Response, what: &str) {
    assert_eq!(
        resp.status,
        200,
        "{what}: {} {:?}",
        resp.text(),
        resp.headers
    );
}

/// A validly signed `rsa-1` token of exactly `len` bytes (padding claim).
/// Lengths are found with a dummy signature of the right size (RSA-2048
/// signatures are 256 bytes), so only the final token is really signed.
fn token_of_len(len: usize) -> String {
    let shape = |pad: usize, extra: usize| {
        Token::standard(Key::Rsa1)
            .header("x", "y".repeat(extra))
            .claim("pad", "p".repeat(pad))
    };
    for pad in (len * 3 / 4).saturating_sub(1000)..len {
        for extra in 0..4 {
            let t = shape(pad, extra);
            if t.clone().signature_bytes(&[0; 256]).mint().len() == len {
                let token = t.mint();
                assert_eq!(token.len(), len);
                return token;
            }
        }
    }
    panic!("no token of {len} bytes");
}

// --- missing and refused tokens ---------------------------------------------

#[test]
fn no_token_is_401_missing_token_with_a_bearer_challenge() {
    let (agent, envoy) = start_local(
        &json!({"providers": {"test": plugin_config::local_provider()}}),
        |b| b,
    );
    let cases: [(&str, Option<&str>); 5] = [
        ("no authorization header", None),
        ("Basic credentials", Some("Basic dXNlcjpwdw==")),
        ("Bearer and nothing", Some("Bearer ")),
        ("the scheme alone", Some("Bearer")),
        ("another scheme", Some("Token abc.def.ghi")),
    ];
    for (what, auth) in cases {
        assert_missing_token(&get(&envoy, "/invocations", auth), what);
    }
    // A token in a header the provider does not read is no token either.
    let token = Token::standard(Key::Rsa1).mint();
    let resp = client::get(&envoy.url("/invocations"))
        .header("x-jwt", &token)
        .send_blocking()
        .unwrap();
    assert_missing_token(&resp, "token in x-jwt");
    // Over HTTP/2 too.
    let resp = client::post(&envoy.url("/invocations"))
        .h2c()
        .json(&json!({"prompt": "hi"}))
        .send_blocking()
        .unwrap();
    assert_missing_token(&resp, "h2c POST");

    assert_eq!(agent.request_count(), 0, "a refused request went upstream");
    assert_eq!(counter(&envoy, "toolguard.jwt.denied"), 7);
    assert_eq!(counter(&envoy, "toolguard.jwt.allowed"), 0);
    for reason in REASONS {
        assert_eq!(
            counter(&envoy, &format!("toolguard.jwt.denied.{reason}")),
            0,
            "missing_token is not a token rejection reason ({reason})"
        );
    }
}

#[test]
fn each_rejection_reason_is_a_401_with_its_reason_and_counter() {
    let mut provider = plugin_config::local_provider();
    provider["token_use"] = json!(["id"]);
    provider["algorithms"] = json!(["RS256", "PS256", "ES256", "EdDSA"]);
    let (agent, envoy) = start_local(&json!({"providers": {"test": provider}}), |b| b);
    let good = || Token::standard(Key::Rsa1).token_use("id");

    // One valid token first: the setup accepts what it should.
    let valid = good().mint();
    assert_ok(&bearer(&envoy, &valid), "valid token");

    let cases: Vec<(&str, &str, String)> = vec![
        ("malformed", "not a JWT", "not-a-jwt".into()),
        ("malformed", "two parts", "eyJhbGciOiJSUzI1NiJ9.e30".into()),
        (
            "malformed",
            "payload not JSON",
            good().raw_payload("not json").mint(),
        ),
        (
            "alg_not_allowed",
            "RS512 outside the allowlist",
            good().alg("RS512").mint(),
        ),
        (
            "unknown_issuer",
            "another issuer",
            good().iss("https://elsewhere.example").mint(),
        ),
        (
            "unknown_issuer",
            "no issuer",
            good().remove_claim("iss").mint(),
        ),
        (
            "unknown_kid",
            "kid not in the JWKS",
            good().kid("nope").mint(),
        ),
        (
            "bad_signature",
            "one bit flipped",
            good().corrupt_signature().mint(),
        ),
        (
            "bad_signature",
            "signed by another RSA key",
            Token::standard(Key::Rsa2)
                .token_use("id")
                .kid("rsa-1")
                .mint(),
        ),
        ("expired", "exp an hour ago", good().exp_in(-3600).mint()),
        (
            "not_yet_valid",
            "nbf in an hour",
            good().nbf_in(3600).mint(),
        ),
        ("missing_exp", "no exp", good().remove_claim("exp").mint()),
        (
            "bad_audience",
            "another audience",
            good().aud("someone-else").mint(),
        ),
        (
            "bad_token_use",
            "an access token",
            good().token_use("access").mint(),
        ),
        (
            "bad_token_use",
            "no token_use",
            Token::standard(Key::Rsa1).mint(),
        ),
    ];
    for (reason, what, token) in &cases {
        let resp = bearer(&envoy, token);
        assert_invalid(&resp, reason, what);
        assert!(
            !resp.text().contains(token.as_str()),
            "{what}: the answer repeats the token"
        );
    }

    assert_eq!(
        agent.request_count(),
        1,
        "only the valid request goes upstream"
    );
    assert_eq!(counter(&envoy, "toolguard.jwt.allowed"), 1);
    assert_eq!(counter(&envoy, "toolguard.jwt.denied"), cases.len() as u64);
    for reason in REASONS {
        let expected = cases.iter().filter(|(r, _, _)| *r == reason).count() as u64;
        assert_eq!(
            counter(&envoy, &format!("toolguard.jwt.denied.{reason}")),
            expected,
            "toolguard.jwt.denied.{reason}"
        );
    }
    // The Prometheus view has them too.
    let prom = envoy.prometheus().unwrap();
    assert!(
        prom.contains("toolguard") && prom.contains("bad_token_use"),
        "toolguard counters missing from /stats/prometheus"
    );
    // The token is never logged (with wasm debug logs on).
    let log = envoy.log_text();
    for (_, what, token) in cases.iter().filter(|(_, _, t)| t.len() > 40) {
        let signature = token.rsplit('.').next().unwrap_or_default();
        assert!(
            signature.len() < 16 || !log.contains(signature),
            "{what}: the token appears in Envoy's log"
        );
    }
    assert!(
        !log.contains(&valid),
        "the valid token appears in Envoy's log"
    );
}

#[test]
fn a_token_over_8_kib_is_malformed() {
    let (agent, envoy) = start_local(
        &json!({"providers": {"test": plugin_config::local_provider()}}),
        |b| b,
    );
    let at_limit = token_of_len(8 * 1024);
    assert_ok(&bearer(&envoy, &at_limit), "an 8192-byte token");
    let over = token_of_len(8 * 1024 + 1);
    assert_invalid(&bearer(&envoy, &over), "malformed", "an 8193-byte token");
    let huge = Token::standard(Key::Rsa1)
        .claim("pad", "p".repeat(20_000))
        .mint();
    assert_invalid(&bearer(&envoy, &huge), "malformed", "a 27 KB token");
    assert_eq!(agent.request_count(), 1);
    assert_eq!(counter(&envoy, "toolguard.jwt.denied.malformed"), 2);
    assert_eq!(counter(&envoy, "toolguard.jwt.allowed"), 1);
}

#[test]
fn clock_skew_is_honoured_and_a_verified_token_stops_passing_when_it_expires() {
    let mut lenient = plugin_config::local_provider();
    lenient["clock_skew_seconds"] = json!(60);
    let mut strict = plugin_config::local_provider();
    strict["issuer"] = json!("https://strict.toolguard.test");
    strict["clock_skew_seconds"] = json!(0);
    let (agent, envoy) = start_local(
        &json!({"providers": {"lenient": lenient, "strict": strict}}),
        |b| b,
    );
    let t = || Token::standard(Key::Ec1);
    assert_ok(
        &bearer(&envoy, &t().exp_in(-20).mint()),
        "expired 20 s ago, 60 s skew",
    );
    assert_ok(
        &bearer(&envoy, &t().nbf_in(20).mint()),
        "valid in 20 s, 60 s skew",
    );
    assert_ok(
        &bearer(&envoy, &t().iat(tokens::now() + 20).mint()),
        "issued in 20 s, 60 s skew",
    );
    assert_invalid(
        &bearer(&envoy, &t().exp_in(-120).mint()),
        "expired",
        "expired 120 s ago",
    );
    assert_invalid(
        &bearer(&envoy, &t().nbf_in(120).mint()),
        "not_yet_valid",
        "valid in 120 s",
    );

    // Without skew: a token that passes now (and is cached as verified) is
    // refused once its exp has passed.
    let short = t().iss("https://strict.toolguard.test").exp_in(2).mint();
    assert_ok(&bearer(&envoy, &short), "valid for 2 more seconds");
    assert_ok(&bearer(&envoy, &short), "the same token again");
    std::thread::sleep(Duration::from_millis(3500));
    assert_invalid(
        &bearer(&envoy, &short),
        "expired",
        "the same token after its exp",
    );
    assert_eq!(agent.request_count(), 5);
}

// --- algorithms -------------------------------------------------------------

const HS_ISSUER: &str = "https://hs.toolguard.test";

/// The default test keys plus `rsa-1` again as kid `rsa-1-pss` with `alg`
/// `PS256`: a JWK's `alg` binds the key to that one algorithm (RFC 7517
/// §4.4), so the `rsa-1` entry (`RS256`) does not verify PS256 tokens.
fn jwks_for_every_algorithm() -> Value {
    let mut set = tokens::default_jwks();
    let mut pss = Key::Rsa1.public_jwk();
    pss["kid"] = json!("rsa-1-pss");
    pss["alg"] = json!("PS256");
    set["keys"].as_array_mut().unwrap().push(pss);
    set
}

/// Provider `test` (default algorithms, [`jwks_for_every_algorithm`]) and
/// provider `hs` (HS256 only, the `hs-1` oct key), both local.
fn two_local_providers() -> Value {
    let mut test = plugin_config::local_provider();
    test["local_jwks"]["inline_string"] = json!(jwks_for_every_algorithm().to_string());
    json!({"providers": {
        "test": test,
        "hs": {
            "issuer": HS_ISSUER,
            "audiences": [TEST_AUDIENCE],
            "algorithms": ["HS256"],
            "local_jwks": {"inline_string": tokens::jwks(&[Key::Hs1]).to_string()},
        },
    }})
}

fn accepted_tokens() -> Vec<(&'static str, Token)> {
    vec![
        ("RS256", Token::standard(Key::Rsa1)),
        (
            "PS256",
            Token::standard(Key::Rsa1).alg("PS256").kid("rsa-1-pss"),
        ),
        ("ES256", Token::standard(Key::Ec1)),
        ("EdDSA", Token::standard(Key::Ed1)),
    ]
}

#[test]
fn every_algorithm_passes_with_local_jwks_and_the_authorization_header_is_unchanged() {
    let (agent, envoy) = start_local(&two_local_providers(), |b| b);
    let mut tokens = accepted_tokens();
    tokens.push(("HS256", Token::standard(Key::Hs1).iss(HS_ISSUER)));
    for (alg, token) in &tokens {
        let token = token.mint();
        let authorization = format!("Bearer {token}");
        let resp = get(&envoy, "/invocations", Some(&authorization));
        assert_ok(&resp, alg);
        // The echo shows what the upstream got: the header, byte for byte.
        let echo = resp.json().unwrap();
        assert_eq!(echo["headers"]["authorization"], authorization, "{alg}");
        let seen = agent.last_request().unwrap();
        assert_eq!(
            seen.header_values("authorization"),
            [authorization.as_str()],
            "{alg}"
        );
    }
    // A lower-case scheme is accepted and still forwarded as sent.
    let token = Token::standard(Key::Ec1).mint();
    let authorization = format!("bearer {token}");
    assert_ok(
        &get(&envoy, "/x", Some(&authorization)),
        "lower-case bearer",
    );
    assert_eq!(
        agent.last_request().unwrap().header("authorization"),
        Some(authorization.as_str())
    );
    let allowed = tokens.len() as u64 + 1;
    assert_eq!(counter(&envoy, "toolguard.jwt.allowed"), allowed);
    assert_eq!(counter(&envoy, "toolguard.jwt.denied"), 0);

    // Two Authorization headers are ambiguous (which one would the upstream
    // check?): refused, whichever comes first.
    let good = format!("Bearer {}", Token::standard(Key::Rsa1).mint());
    for (first, second) in [
        (good.as_str(), "Bearer junk"),
        ("Bearer junk", good.as_str()),
    ] {
        for h2c in [false, true] {
            let mut req = client::get(&envoy.url("/twice"))
                .header("authorization", first)
                .header("authorization", second);
            if h2c {
                req = req.h2c();
            }
            let resp = req.send_blocking().unwrap();
            assert_json_answer(&resp, 401, "invalid_token", "two authorization headers");
        }
    }

    // A key bound to RS256 by its JWK does not verify a PS256 token.
    let pss_on_rs_key = Token::standard(Key::Rsa1).alg("PS256").mint();
    let resp = bearer(&envoy, &pss_on_rs_key);
    assert_eq!(
        resp.status,
        401,
        "PS256 with the RS256-only JWK: {}",
        resp.text()
    );
    // Nor an algorithm the key type cannot do.
    let es_on_rsa = Token::standard(Key::Ec1).kid("rsa-1").mint();
    assert_eq!(
        bearer(&envoy, &es_on_rsa).status,
        401,
        "ES256 with kid rsa-1"
    );
    assert_eq!(agent.request_count() as u64, allowed);
}

#[test]
fn every_algorithm_passes_with_remote_jwks() {
    let stack = Stack::start(|jwks| {
        jwks.set_keys(jwks_for_every_algorithm());
        json!({"providers": {"test": plugin_config::remote_provider(&jwks.uri(), plugin_config::JWKS_CLUSTER)}})
    });
    for (alg, token) in accepted_tokens() {
        let token = token.mint();
        let resp = bearer(&stack.envoy, &token);
        assert_ok(&resp, alg);
        assert_eq!(
            stack.agent.last_request().unwrap().header("authorization"),
            Some(format!("Bearer {token}").as_str()),
            "{alg}"
        );
    }
    assert_eq!(stack.agent.request_count(), 4);
    assert_eq!(counter(&stack.envoy, "toolguard.jwt.allowed"), 4);
    assert!(counter(&stack.envoy, "toolguard.jwks.fetch_ok") >= 1);
    assert_eq!(counter(&stack.envoy, "toolguard.jwks.fetch_failed"), 0);
}

#[test]
fn hs256_is_refused_without_a_local_oct_key_and_when_keyed_with_a_public_key() {
    let rsa_pem = Key::Rsa1.public_pem().unwrap();
    let confused = |iss: &str, kid: Option<&str>, secret: &str| {
        let t = Token::standard(Key::Rsa1)
            .iss(iss)
            .alg("HS256")
            .hmac_secret(secret.as_bytes());
        match kid {
            Some(kid) => t.kid(kid),
            None => t.no_kid(),
        }
        .mint()
    };

    // A remote JWKS that even serves the oct key: a fetched secret is never used.
    let stack = Stack::start(|jwks| {
        jwks.set_keys(tokens::jwks(&[Key::Rsa1, Key::Ec1, Key::Hs1]));
        json!({"providers": {
            "test": plugin_config::remote_provider(&jwks.uri(), plugin_config::JWKS_CLUSTER),
        }})
    });
    assert_ok(
        &bearer(&stack.envoy, &Token::standard(Key::Rsa1).mint()),
        "RS256 with the remote keys",
    );
    let hs = Token::standard(Key::Hs1).mint();
    assert_invalid(
        &bearer(&stack.envoy, &hs),
        "alg_not_allowed",
        "HS256 with a remote oct key",
    );
    assert_invalid(
        &bearer(
            &stack.envoy,
            &confused(TEST_ISSUER, Some("rsa-1"), &rsa_pem),
        ),
        "alg_not_allowed",
        "HS256 keyed with the RSA public key (remote)",
    );
    assert_eq!(stack.agent.request_count(), 1);
    drop(stack);

    // Local keys: `test` does not allow HS256; `hs` does, with its oct key,
    // and an HMAC made with the RSA public key must still fail there.
    let (agent, envoy) = start_local(&two_local_providers(), |b| b);
    assert_ok(
        &bearer(&envoy, &Token::standard(Key::Hs1).iss(HS_ISSUER).mint()),
        "HS256 with hs-1",
    );
    for secret in [rsa_pem.as_str(), rsa_pem.trim_end()] {
        for kid in [Some("rsa-1"), None] {
            let what = format!("HS256 keyed with the RSA PEM for `test`, kid {kid:?}");
            let resp = bearer(&envoy, &confused(TEST_ISSUER, kid, secret));
            assert_invalid(&resp, "alg_not_allowed", &what);
        }
        for kid in [Some("hs-1"), Some("rsa-1"), None] {
            let what = format!("HS256 keyed with the RSA PEM for `hs`, kid {kid:?}");
            let resp = bearer(&envoy, &confused(HS_ISSUER, kid, secret));
            let body = assert_json_answer(&resp, 401, "invalid_token", &what);
            assert!(
                ["bad_signature", "unknown_kid"].contains(&body["reason"].as_str().unwrap_or("")),
                "{what}: {body}"
            );
        }
    }
    // `hs` takes nothing but HS256.
    assert_invalid(
        &bearer(&envoy, &Token::standard(Key::Rsa1).iss(HS_ISSUER).mint()),
        "alg_not_allowed",
        "RS256 for the HS256-only provider",
    );
    assert_eq!(agent.request_count(), 1, "no forged token went upstream");
}

#[test]
fn hs256_for_a_remote_jwks_provider_is_refused_at_load() {
    let jwks = MockJwks::start(tokens::jwks(&[Key::Hs1])).unwrap();
    let mut provider = remote(&jwks, "1s", "600s");
    provider["algorithms"] = json!(["HS256"]);
    let refusal = match Envoy::start(
        &Bootstrap::new()
            .plugin_config_json(&json!({"providers": {"test": provider}}))
            .jwks_cluster(jwks.addr()),
    ) {
        Ok(envoy) => panic!(
            "Envoy started with HS256 on remote keys:\n{}",
            envoy.log_tail(20)
        ),
        Err(e) => e.to_string(),
    };
    let line = refusal
        .lines()
        .find(|l| l.contains("toolguard: invalid configuration:"))
        .unwrap_or_else(|| panic!("no refusal line:\n{refusal}"));
    assert!(line.contains("providers.test.algorithms"), "{line}");
    assert_eq!(
        jwks.request_count(),
        0,
        "nothing to fetch for a refused config"
    );
}

#[test]
fn alg_none_in_any_casing_is_refused() {
    let mut provider = plugin_config::local_provider();
    // The widest allowlist there is; `none` can never be in it.
    provider["algorithms"] =
        json!(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "EdDSA"]);
    let (agent, envoy) = start_local(&json!({"providers": {"test": provider}}), |b| b);
    let mut count = 0;
    for alg in ["none", "None", "NONE", "nOnE"] {
        let unsigned = Token::standard(Key::Rsa1).alg(alg).unsigned().mint();
        assert!(unsigned.ends_with('.'));
        assert_invalid(&bearer(&envoy, &unsigned), "alg_not_allowed", alg);
        // With a real RS256 signature attached it is still `none`.
        let signed = Token::standard(Key::Rsa1).alg(alg).sign_as("RS256").mint();
        assert_invalid(
            &bearer(&envoy, &signed),
            "alg_not_allowed",
            &format!("{alg} + signature"),
        );
        // And without a kid.
        let no_kid = Token::standard(Key::Rsa1)
            .alg(alg)
            .no_kid()
            .unsigned()
            .mint();
        assert_invalid(
            &bearer(&envoy, &no_kid),
            "alg_not_allowed",
            &format!("{alg}, no kid"),
        );
        count += 3;
    }
    assert_eq!(agent.request_count(), 0);
    assert_eq!(
        counter(&envoy, "toolguard.jwt.denied.alg_not_allowed"),
        count
    );
    assert_eq!(counter(&envoy, "toolguard.jwt.denied"), count);
}

// --- bypass -----------------------------------------------------------------

#[test]
fn bypass_rules_pass_without_a_token() {
    let config = json!({
        "providers": {"test": plugin_config::local_provider()},
        "bypass": [{"path": "/ping"}, {"prefix": "/health"}],
    });
    let (agent, envoy) = start_local(&config, |b| b);
    for path in [
        "/ping",
        "/ping?verbose=1",
        "/health",
        "/health/live",
        "/healthz",
    ] {
        assert_ok(&get(&envoy, path, None), path);
        assert_eq!(agent.last_request().unwrap().path, path);
    }
    // A bypassed path skips authentication altogether: even a junk token passes.
    assert_ok(
        &get(&envoy, "/ping", Some("Bearer junk")),
        "/ping with junk",
    );
    let passed = agent.request_count();
    assert_eq!(passed, 6);
    for path in [
        "/ping/more",
        "/pingx",
        "/pin",
        "/",
        "/invocations",
        "/Health",
    ] {
        assert_missing_token(&get(&envoy, path, None), path);
    }
    assert_eq!(
        agent.request_count(),
        passed,
        "a non-bypassed path went upstream"
    );
    assert_eq!(counter(&envoy, "toolguard.jwt.denied"), 6);
    // And the token still works where one is needed.
    assert_ok(&bearer(&envoy, &Token::standard(Key::Rsa1).mint()), "token");
}

// --- remote JWKS ------------------------------------------------------------

#[test]
fn only_the_workers_fetch_the_jwks() {
    // One worker, keys good for 10 minutes: one VM serves requests, so one
    // fetch is all the identity provider should see. (Envoy also runs the
    // plugin's root context on its main thread, which never handles a
    // request: keys fetched there are never used.)
    let stack = Stack::start_with(
        |jwks| json!({"providers": {"test": remote(jwks, "5s", "600s")}}),
        |b| b.concurrency(1),
    );
    assert_ok(
        &bearer(&stack.envoy, &Token::standard(Key::Rsa1).mint()),
        "rsa-1",
    );
    // Several root ticks (100 ms) later, every VM that fetches has fetched.
    std::thread::sleep(Duration::from_millis(1500));
    // Envoy log lines read `[time][thread id][level][component] ...`.
    let log = stack.envoy.log_text();
    let thread = |line: &str| line.split("][").nth(1).unwrap_or("?").to_string();
    let main_thread = log.lines().find(|l| l.contains("][main]")).map(thread);
    let fetched_on: Vec<String> = log
        .lines()
        .filter(|l| l.contains("JWKS of provider \"test\" fetched"))
        .map(thread)
        .collect();
    assert_eq!(
        stack.jwks.request_count(),
        1,
        "one worker, one fetch; fetched on Envoy threads {fetched_on:?} \
         (the main thread is {main_thread:?})"
    );
}

#[test]
fn a_jwks_slower_than_the_timeout_gives_503_until_it_answers_in_time() {
    let timeout = Duration::from_secs(1);
    let stack = Stack::start_with(
        |jwks| {
            jwks.set_delay(Duration::from_secs(4));
            json!({"providers": {"test": remote(jwks, "1s", "600s")}})
        },
        |b| b.concurrency(1),
    );
    let token = Token::standard(Key::Rsa1).mint();
    let sent = Instant::now();
    let resp = bearer(&stack.envoy, &token);
    let waited = sent.elapsed();
    assert_jwks_unavailable(&resp, "JWKS slower than http_uri.timeout");
    assert!(waited < timeout + SLACK, "503 only after {waited:?}");
    stack
        .envoy
        .wait_counter("toolguard.jwks.fetch_failed", 1, WAIT)
        .unwrap();
    assert_eq!(stack.agent.request_count(), 0);

    stack.jwks.set_delay(Duration::ZERO);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let resp = bearer(&stack.envoy, &token);
        if resp.status == 200 {
            break;
        }
        assert_jwks_unavailable(&resp, "waiting for a fetch in time");
        assert!(Instant::now() < deadline, "no request passed within 20 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(stack.agent.request_count(), 1);
}

#[test]
fn remote_key_rotation_needs_no_restart() {
    let stack = Stack::start_with(
        |jwks| json!({"providers": {"test": remote(jwks, "5s", "600s")}}),
        |b| b.concurrency(1),
    );
    let old = Token::standard(Key::Rsa1).mint();
    assert_ok(&bearer(&stack.envoy, &old), "rsa-1 before the rotation");
    // Let every VM's first fetch land before counting.
    std::thread::sleep(SETTLE);
    let before = stack.jwks.request_count();
    assert!(before >= 1);
    let ok_before = counter(&stack.envoy, "toolguard.jwks.fetch_ok");

    // The identity provider rotates: rsa-2 replaces rsa-1. Several callers
    // with the new kid at once (the JWKS answers slowly, so they overlap):
    // one refetch, and every one of them passes.
    stack
        .jwks
        .set_keys(tokens::jwks(&[Key::Rsa2, Key::Ec1, Key::Ed1]));
    stack.jwks.set_delay(Duration::from_millis(500));
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let stack = &stack;
                s.spawn(move || {
                    let new = Token::standard(Key::Rsa2).sub(&format!("new-{i}")).mint();
                    bearer(&stack.envoy, &new).status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(statuses, [200; 4], "rsa-2 after the rotation");
    assert_eq!(
        stack.jwks.request_count(),
        before + 1,
        "the unknown kid must cause exactly one refetch"
    );
    assert_eq!(
        counter(&stack.envoy, "toolguard.jwks.fetch_ok"),
        ok_before + 1
    );
    assert_ok(
        &bearer(&stack.envoy, &Token::standard(Key::Rsa2).sub("u2").mint()),
        "rsa-2 again",
    );
    // The retired key is gone with the old key set, and within 30 s its kid
    // triggers no further fetch.
    assert_invalid(
        &bearer(&stack.envoy, &old),
        "unknown_kid",
        "rsa-1 after the rotation",
    );
    assert_eq!(stack.jwks.request_count(), before + 1);
    assert_eq!(stack.agent.request_count(), 6);
}

#[test]
fn unknown_kids_refetch_at_most_once_per_30_s() {
    let stack = Stack::start_with(
        |jwks| json!({"providers": {"test": remote(jwks, "5s", "600s")}}),
        |b| b.concurrency(1),
    );
    assert_ok(
        &bearer(&stack.envoy, &Token::standard(Key::Rsa1).mint()),
        "rsa-1",
    );
    std::thread::sleep(SETTLE);
    let before = stack.jwks.request_count();
    for i in 0..20 {
        let token = Token::standard(Key::Rsa1)
            .kid(&format!("unknown-{i}"))
            .mint();
        assert_invalid(
            &bearer(&stack.envoy, &token),
            "unknown_kid",
            &format!("unknown-{i}"),
        );
    }
    assert_eq!(
        stack.jwks.request_count(),
        before + 1,
        "20 unknown kids within 30 s: one refetch"
    );
    // Even a kid the issuer has just published stays unknown until the
    // window is over (the rate limit cannot tell the two apart).
    stack
        .jwks
        .set_keys(tokens::jwks(&[Key::Rsa1, Key::Ec1, Key::Ed1, Key::Rsa2]));
    let rotated = Token::standard(Key::Rsa2).mint();
    assert_invalid(
        &bearer(&stack.envoy, &rotated),
        "unknown_kid",
        "rsa-2 inside the window",
    );
    assert_eq!(stack.jwks.request_count(), before + 1);
    // Known kids are unaffected.
    assert_ok(
        &bearer(&stack.envoy, &Token::standard(Key::Ec1).mint()),
        "ec-1",
    );
    assert_eq!(
        counter(&stack.envoy, "toolguard.jwt.denied.unknown_kid"),
        21
    );
    assert_eq!(stack.agent.request_count(), 2);

    // Once the 30 s are over, the next unknown kid refetches again and the
    // rotated key is found.
    let refetched_at = stack.jwks.fetch_times()[before];
    let window_over = refetched_at + Duration::from_secs(31);
    std::thread::sleep(window_over.saturating_duration_since(Instant::now()));
    assert_ok(&bearer(&stack.envoy, &rotated), "rsa-2 after the window");
    assert_eq!(stack.jwks.request_count(), before + 2);
    assert_eq!(stack.agent.request_count(), 3);
}

#[test]
fn an_unknown_kid_whose_refetch_times_out_is_401_unknown_kid() {
    // The provider has keys; only the refetch for an unknown kid is slower
    // than the http_uri timeout. "A failed refresh keeps the last good keys",
    // so the token is checked against them: 401 unknown_kid. 503
    // jwks_unavailable is for a provider with no keys at all. Several
    // providers (each with its own refetch allowance) give several tries in
    // one Envoy, so a timing-dependent answer shows up.
    const PROVIDERS: usize = 6;
    let issuer = |i: usize| format!("https://issuer-{i}.toolguard.test");
    let stack = Stack::start_with(
        |jwks| {
            let providers: serde_json::Map<String, Value> = (0..PROVIDERS)
                .map(|i| {
                    let mut p = remote(jwks, "1s", "600s");
                    p["issuer"] = json!(issuer(i));
                    (format!("p{i}"), p)
                })
                .collect();
            json!({"providers": providers})
        },
        |b| b.concurrency(1),
    );
    for i in 0..PROVIDERS {
        let token = Token::standard(Key::Rsa1).iss(&issuer(i)).mint();
        assert_ok(&bearer(&stack.envoy, &token), &issuer(i));
    }
    stack.jwks.set_delay(Duration::from_secs(4));
    let answers: Vec<(usize, Response, Duration)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..PROVIDERS)
            .map(|i| {
                let stack = &stack;
                let token = Token::standard(Key::Rsa1)
                    .iss(&issuer(i))
                    .kid("not-published")
                    .mint();
                s.spawn(move || {
                    std::thread::sleep(Duration::from_millis(40 * i as u64));
                    let sent = Instant::now();
                    let resp = bearer(&stack.envoy, &token);
                    (i, resp, sent.elapsed())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let summary: Vec<String> = answers
        .iter()
        .map(|(i, r, t)| format!("p{i}: {} {} after {t:?}", r.status, r.text()))
        .collect();
    for (i, resp, took) in &answers {
        assert!(
            resp.status == 401,
            "p{i}: an unknown kid at a provider that has keys must be 401 unknown_kid \
             whatever its refetch does; answers:\n{}",
            summary.join("\n")
        );
        assert_invalid(resp, "unknown_kid", &format!("p{i}"));
        assert!(*took < Duration::from_secs(1) + SLACK, "p{i} took {took:?}");
    }
    assert_eq!(stack.agent.request_count(), PROVIDERS);
}

#[test]
fn unknown_kids_refetch_at_most_once_per_worker() {
    const WORKERS: usize = 2;
    let stack = Stack::start_with(
        |jwks| json!({"providers": {"test": remote(jwks, "5s", "600s")}}),
        |b| b.concurrency(WORKERS as u32),
    );
    // Every worker fetches its first key set on its own. Valid requests on
    // fresh connections (spread over the workers by the kernel) until every
    // worker has keys, so first fetches are not counted as refetches below.
    for i in 0.. {
        let token = Token::standard(Key::Rsa1).sub(&format!("warm-{i}")).mint();
        assert_ok(&bearer(&stack.envoy, &token), "rsa-1");
        if counter(&stack.envoy, "toolguard.jwks.fetch_ok") >= WORKERS as u64 {
            break;
        }
        assert!(i < 40, "the workers did not all fetch their keys");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(SETTLE);
    let before = stack.jwks.request_count();
    for i in 0..30 {
        let token = Token::standard(Key::Ec1)
            .kid(&format!("unknown-{i}"))
            .mint();
        assert_invalid(
            &bearer(&stack.envoy, &token),
            "unknown_kid",
            &format!("unknown-{i}"),
        );
    }
    let refetches = stack.jwks.request_count() - before;
    assert!(
        (1..=WORKERS).contains(&refetches),
        "30 unknown kids over {WORKERS} workers: {refetches} refetches"
    );
}

#[test]
fn a_request_before_the_first_key_set_waits_for_it() {
    let delay = Duration::from_secs(2);
    let timeout = Duration::from_secs(6);
    let stack = Stack::start_with(
        |jwks| {
            jwks.set_delay(delay);
            json!({"providers": {"test": remote(jwks, "6s", "600s")}})
        },
        |b| b.concurrency(1),
    );
    let sent = Instant::now();
    let answers: Vec<(u16, Instant)> = std::thread::scope(|s| {
        // One client gives up while it waits: the others must not mind.
        s.spawn(|| {
            let gone = client::get(&stack.url("/invocations"))
                .bearer(&Token::standard(Key::Ed1).mint())
                .timeout(Duration::from_millis(300))
                .send_blocking();
            assert!(
                gone.is_err(),
                "answered within 300 ms: {:?}",
                gone.map(|r| r.status)
            );
        });
        let waiting: Vec<_> = [Key::Rsa1, Key::Ec1, Key::Ed1, Key::Rsa1]
            .into_iter()
            .enumerate()
            .map(|(i, key)| {
                let stack = &stack;
                s.spawn(move || {
                    let token = Token::standard(key).sub(&format!("waiter-{i}")).mint();
                    // The last one waits on an HTTP/2 stream.
                    let mut req = client::get(&stack.url("/invocations")).bearer(&token);
                    if i == 3 {
                        req = req.h2c();
                    }
                    let resp = req.send_blocking().unwrap();
                    (resp.status, Instant::now())
                })
            })
            .collect();
        waiting.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let first_fetch = stack.jwks.fetch_times()[0];
    assert!(
        sent < first_fetch + delay,
        "setup: the first key set had already arrived when the requests were sent"
    );
    for (i, (status, answered)) in answers.iter().enumerate() {
        assert_eq!(*status, 200, "waiter {i}");
        assert!(
            *answered >= first_fetch + delay,
            "waiter {i} answered before the keys could have arrived"
        );
        assert!(
            *answered - sent < timeout + SLACK,
            "waiter {i} waited {:?}",
            *answered - sent
        );
    }
    assert_eq!(counter(&stack.envoy, "toolguard.jwt.allowed"), 4);
    assert_eq!(
        stack.agent.request_count(),
        4,
        "the client that left sent nothing upstream"
    );
    // Once the keys are there, nothing waits.
    let t = Instant::now();
    assert_ok(
        &bearer(&stack.envoy, &Token::standard(Key::Ec1).mint()),
        "after the first fetch",
    );
    assert!(t.elapsed() < delay, "waited again: {:?}", t.elapsed());
}

#[test]
fn jwks_down_at_start_gives_503_then_requests_pass_once_it_recovers() {
    let timeout = Duration::from_secs(1);
    let stack = Stack::start_with(
        |jwks| {
            jwks.fail();
            json!({"providers": {"test": remote(jwks, "1s", "600s")}})
        },
        |b| b.concurrency(1),
    );
    let token = Token::standard(Key::Rsa1).mint();
    let sent = Instant::now();
    let resp = bearer(&stack.envoy, &token);
    let waited = sent.elapsed();
    assert_jwks_unavailable(&resp, "JWKS answering 500");
    assert!(waited < timeout + SLACK, "503 only after {waited:?}");
    assert!(
        stack.jwks.request_count() >= 1,
        "the filter never tried to fetch"
    );
    assert!(counter(&stack.envoy, "toolguard.jwks.fetch_failed") >= 1);
    assert_eq!(counter(&stack.envoy, "toolguard.jwks.fetch_ok"), 0);
    assert_eq!(stack.agent.request_count(), 0);
    // No key set is needed to refuse a token that can never pass.
    let none = Token::standard(Key::Rsa1).alg("none").unsigned().mint();
    assert_invalid(
        &bearer(&stack.envoy, &none),
        "alg_not_allowed",
        "alg none while down",
    );
    assert_missing_token(&get(&stack.envoy, "/x", None), "no token while down");

    stack.jwks.recover();
    // Failed fetches are retried with backoff (1 s, 2 s, 4 s, ...).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut answers = Vec::new();
    loop {
        let resp = bearer(&stack.envoy, &token);
        answers.push(resp.status);
        if resp.status == 200 {
            break;
        }
        assert_jwks_unavailable(&resp, "still waiting for the JWKS to come back");
        assert!(
            Instant::now() < deadline,
            "no request passed within 20 s of the JWKS recovering: {answers:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(counter(&stack.envoy, "toolguard.jwks.fetch_ok") >= 1);
    assert_ok(
        &bearer(&stack.envoy, &Token::standard(Key::Ed1).mint()),
        "ed-1 after recovery",
    );
    assert_eq!(stack.agent.request_count(), 2);
}

#[test]
fn jwks_down_during_operation_keeps_the_last_good_keys() {
    let cache_duration = Duration::from_secs(1);
    let stack = Stack::start_with(
        |jwks| json!({"providers": {"test": remote(jwks, "1s", "1s")}}),
        |b| b.concurrency(1),
    );
    assert_ok(
        &bearer(&stack.envoy, &Token::standard(Key::Rsa1).mint()),
        "before the outage",
    );
    // Refreshes run at 80% of cache_duration.
    stack.jwks.wait_requests(2, WAIT).unwrap();
    let ok_before = counter(&stack.envoy, "toolguard.jwks.fetch_ok");
    assert!(ok_before >= 2, "a 1 s cache must be refreshed");
    let failed_before = counter(&stack.envoy, "toolguard.jwks.fetch_failed");

    stack.jwks.fail();
    let down_at = Instant::now();
    stack
        .envoy
        .wait_counter("toolguard.jwks.fetch_failed", failed_before + 2, WAIT)
        .unwrap();
    // Well past cache_duration since the last good fetch.
    let since = down_at.elapsed();
    if since < cache_duration * 2 {
        std::thread::sleep(cache_duration * 2 - since);
    }
    let ok_during = counter(&stack.envoy, "toolguard.jwks.fetch_ok");
    // Each VM may have had one good fetch in flight when the mock started failing.
    assert!(
        ok_during <= ok_before + 2,
        "fetches cannot succeed while the mock fails"
    );
    for (what, key) in [("rsa-1", Key::Rsa1), ("ec-1", Key::Ec1), ("ed-1", Key::Ed1)] {
        // Fresh tokens (new sub), so no earlier verification is reused.
        let token = Token::standard(key).sub(&format!("during-{what}")).mint();
        assert_ok(
            &bearer(&stack.envoy, &token),
            &format!("{what} during the outage"),
        );
    }
    // An unknown kid while the JWKS is down: its refetch fails, the answer
    // is a prompt 401, not a wait for keys that cannot come.
    let t = Instant::now();
    let unknown = Token::standard(Key::Rsa1).kid("rotated-away").mint();
    assert_invalid(
        &bearer(&stack.envoy, &unknown),
        "unknown_kid",
        "unknown kid during the outage",
    );
    assert!(
        t.elapsed() < Duration::from_secs(1) + SLACK,
        "took {:?}",
        t.elapsed()
    );
    // A 200 whose body is no key set is a failed fetch too.
    let failed = counter(&stack.envoy, "toolguard.jwks.fetch_failed");
    assert!(failed >= failed_before + 2);
    stack.jwks.serve_garbage();
    stack
        .envoy
        .wait_counter("toolguard.jwks.fetch_failed", failed + 1, WAIT)
        .unwrap();
    assert_ok(
        &bearer(
            &stack.envoy,
            &Token::standard(Key::Rsa1).sub("garbage").mint(),
        ),
        "while the JWKS serves garbage",
    );
    assert!(counter(&stack.envoy, "toolguard.jwks.fetch_ok") <= ok_before + 2);

    stack.jwks.recover();
    stack
        .envoy
        .wait_counter(
            "toolguard.jwks.fetch_ok",
            ok_during + 1,
            Duration::from_secs(15),
        )
        .unwrap();
    assert_ok(
        &bearer(
            &stack.envoy,
            &Token::standard(Key::Rsa1).sub("after").mint(),
        ),
        "after the outage",
    );
    assert_eq!(stack.agent.request_count(), 6);
}
