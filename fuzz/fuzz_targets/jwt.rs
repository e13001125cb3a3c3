//! The token path: header extraction, strict parsing, routing by `iss`, the
//! algorithm allowlist, key selection, signature and claim checks, and the
//! verified-token cache, against three providers with fixed local JWKS (the
//! HS256 test key of test-harness/keys; the RFC 7515 RSA and P-256 keys and the
//! RFC 8037 Ed25519 key).
//!
//! The first byte picks how the rest is used:
//! 0. an arbitrary token string (and header value): never verified, since no
//!    input can hold a valid signature by these keys;
//! 1. a valid header, arbitrary payload bytes, a valid HS256/EdDSA signature:
//!    never `bad_signature`; a verified token's claims pass SPEC's checks,
//!    read again here with serde_json;
//! 2. arbitrary header bytes, valid claims, a valid signature: verified only
//!    if the header names the algorithm that signed it;
//! 3. a valid token with bytes edited: verified only if nothing changed.
//!
//! Each outcome is also asked of `authenticate_with_cache` twice: a cache hit
//! must give the same answer as the check it stands for.
#![no_main]

use jwt_compact::alg::{Ed25519, Hs256, Hs256Key};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{Algorithm as _, AlgorithmSignature as _};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use std::sync::OnceLock;
use toolguard::jwt::{
    authenticate, authenticate_with_cache, base64url, extract, parse, token::parse_jws, Algorithm,
    ClaimPath, FoundToken, HeaderSource, JwkSet, JwksSource, KeyState, Outcome, Provider, Reason,
    RemoteJwks, TokenCache,
};

const HS_SECRET_B64: &str = include_str!("../../test-harness/keys/hs-1.secret.b64");
const RSA_JWK: &str = include_str!("../../fixtures/jose/rfc7515/A2_RS256.jwk.json");
const EC_JWK: &str = include_str!("../../fixtures/jose/rfc7515/A3_ES256.jwk.json");
const ED_JWK: &str = r#"{"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;

/// 2030-01-01, inside the validity of the minted claims.
const NOW: u64 = 1_893_456_000;
const HS_ISSUER: &str = "https://hs.example";
const ISSUER: &str = "https://issuer.example";

struct Setup {
    providers: Vec<Provider>,
    keys: Vec<JwkSet>,
    hs_secret: Vec<u8>,
    ed: <Ed25519 as jwt_compact::Algorithm>::SigningKey,
}

fn public(jwk: &str, kid: Option<&str>) -> Value {
    let mut v: Value = serde_json::from_str(jwk).unwrap();
    let obj = v.as_object_mut().unwrap();
    for m in ["d", "p", "q", "dp", "dq", "qi"] {
        obj.remove(m);
    }
    if let Some(kid) = kid {
        obj.insert("kid".into(), json!(kid));
    }
    v
}

fn provider(name: &str, issuer: &str, algorithms: &[Algorithm]) -> Provider {
    Provider {
        name: name.into(),
        issuer: issuer.into(),
        audiences: vec![],
        token_use: vec![],
        algorithms: algorithms.to_vec(),
        // The keys are handed to the verifier directly; where they came from is
        // never read.
        jwks: JwksSource::Remote(RemoteJwks {
            uri: "https://keys.example/jwks.json".into(),
            authority: "keys.example".into(),
            path: "/jwks.json".into(),
            cluster: "jwks".into(),
            timeout: std::time::Duration::from_secs(1),
            cache_duration: std::time::Duration::from_secs(300),
        }),
        from_headers: vec![HeaderSource {
            name: "authorization".into(),
            value_prefix: "Bearer ".into(),
        }],
        clock_skew_seconds: 60,
        roles_claim: None,
    }
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let hs_secret = base64_std_decode(HS_SECRET_B64.trim());
        let hs_jwk = json!({"kty": "oct", "kid": "hs", "k": base64url::encode(&hs_secret)});
        let hs_set = json!({ "keys": [hs_jwk] }).to_string();
        let asym_set = json!({ "keys": [
            public(RSA_JWK, Some("rsa")), public(EC_JWK, Some("ec")), public(ED_JWK, Some("ed"))
        ]})
        .to_string();
        // The RFC 7515 examples carry no kid and `iss` "joe".
        let joe_set = json!({ "keys": [public(RSA_JWK, None), public(EC_JWK, None)] }).to_string();

        let mut hs = provider("hs", HS_ISSUER, &[Algorithm::HS256]);
        hs.audiences = vec!["aud-1".into()];
        hs.roles_claim = Some(ClaimPath::parse("cognito:groups").unwrap());
        let mut asym = provider("asym", ISSUER, &Algorithm::DEFAULT);
        asym.token_use = vec!["id".into(), "access".into()];
        asym.from_headers.push(HeaderSource {
            name: "x-token".into(),
            value_prefix: String::new(),
        });
        let joe = provider("joe", "joe", &Algorithm::ALL);

        let ed_jwk: JsonWebKey<'_> = serde_json::from_str(ED_JWK).unwrap();
        Setup {
            providers: vec![hs, asym, joe],
            keys: vec![
                JwkSet::parse_local(hs_set.as_bytes()).unwrap(),
                JwkSet::parse_local(asym_set.as_bytes()).unwrap(),
                JwkSet::parse_local(joe_set.as_bytes()).unwrap(),
            ],
            hs_secret,
            ed: (&ed_jwk).try_into().unwrap(),
        }
    })
}

/// Standard base64 with padding (the key file's encoding).
fn base64_std_decode(text: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|&c| c != b'=') {
        let v = alphabet.iter().position(|&a| a == c).unwrap() as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Signer {
    Hs,
    Ed,
}

fn mint(setup: &Setup, header: &[u8], payload: &[u8], signer: Signer) -> String {
    let input = format!(
        "{}.{}",
        base64url::encode(header),
        base64url::encode(payload)
    );
    let signature = match signer {
        Signer::Hs => Hs256
            .sign(&Hs256Key::new(&setup.hs_secret), input.as_bytes())
            .as_bytes()
            .to_vec(),
        Signer::Ed => Ed25519
            .sign(&setup.ed, input.as_bytes())
            .as_bytes()
            .to_vec(),
    };
    format!("{input}.{}", base64url::encode(&signature))
}

fn found(token: &str) -> FoundToken {
    FoundToken {
        token: token.to_owned(),
        source: HeaderSource {
            name: "authorization".into(),
            value_prefix: "Bearer ".into(),
        },
    }
}

/// Authenticates with and without the cache; all three answers must agree.
fn check(setup: &Setup, token: &FoundToken) -> Outcome {
    let keysets = |i: usize| KeyState::Ready(&setup.keys[i]);
    let outcome = authenticate(&setup.providers, keysets, token, NOW);
    let mut cache = TokenCache::new(4);
    for _ in 0..2 {
        let cached = authenticate_with_cache(&mut cache, &setup.providers, keysets, token, NOW);
        assert_eq!(cached, outcome, "the cache changed the answer");
    }
    // Parsing is part of the outcome: a token that does not parse is refused
    // with the parser's reason, whatever the providers.
    if let Err(reason) = parse(&token.token) {
        assert_eq!(outcome, Outcome::Rejected(reason));
    }
    outcome
}

/// SPEC's claim rules, read again from the payload with serde_json.
fn assert_claims_pass(setup: &Setup, provider: usize, payload: &[u8]) {
    let p = &setup.providers[provider];
    let claims: Value = serde_json::from_slice(payload).expect("verified claims are JSON");
    assert_eq!(claims["iss"].as_str(), Some(p.issuer.as_str()));
    let skew = p.clock_skew_seconds as f64;
    let exp = claims["exp"]
        .as_f64()
        .expect("verified without a numeric exp");
    assert!((NOW as f64) < exp + skew, "verified after exp");
    for name in ["nbf", "iat"] {
        if let Some(v) = claims.get(name) {
            let t = v.as_f64().expect("non-numeric time claim");
            assert!(t <= NOW as f64 + skew, "verified before {name}");
        }
    }
    if !p.token_use.is_empty() {
        let u = claims["token_use"].as_str().expect("no token_use");
        assert!(p.token_use.iter().any(|t| t == u));
    }
    if !p.audiences.is_empty() {
        let ok = match &claims["aud"] {
            Value::String(a) => p.audiences.contains(a),
            Value::Array(items) => items.iter().any(|a| {
                a.as_str()
                    .is_some_and(|a| p.audiences.iter().any(|x| x == a))
            }),
            Value::Null => {
                claims["token_use"] == "access"
                    && claims["client_id"]
                        .as_str()
                        .is_some_and(|c| p.audiences.iter().any(|x| x == c))
            }
            _ => false,
        };
        assert!(ok, "verified with a wrong audience");
    }
}

const HEADERS: [(&str, Signer); 6] = [
    (r#"{"alg":"HS256","kid":"hs"}"#, Signer::Hs),
    (r#"{"alg":"HS256"}"#, Signer::Hs),
    (r#"{"alg":"EdDSA","kid":"ed"}"#, Signer::Ed),
    (r#"{"alg":"EdDSA"}"#, Signer::Ed),
    (r#"{"typ":"JWT","alg":"HS256","kid":"hs"}"#, Signer::Hs),
    (r#"{"alg":"EdDSA","kid":"ed","typ":"at+jwt"}"#, Signer::Ed),
];

fn valid_claims(signer: Signer) -> String {
    match signer {
        Signer::Hs => json!({"iss": HS_ISSUER, "sub": "u", "aud": "aud-1", "exp": NOW + 600,
            "iat": NOW - 10, "cognito:groups": ["analysts"]})
        .to_string(),
        Signer::Ed => {
            json!({"iss": ISSUER, "sub": "u", "token_use": "id", "exp": NOW + 600}).to_string()
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let setup = setup();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            let text = String::from_utf8_lossy(rest);
            let outcome = check(setup, &found(&text));
            assert!(
                !matches!(outcome, Outcome::Verified { .. }),
                "forged: {text:?}"
            );
            let _ = parse_jws(&text);
            // The same text as header values: whatever is found is a suffix of it.
            let got = extract(&setup.providers, |name| match name {
                "authorization" => Some(text.to_string()),
                "x-token" => Some(text.chars().rev().collect()),
                _ => None,
            });
            if let Some(f) = got {
                assert!(!f.token.is_empty());
                assert!(f.source.name == "x-token" || text.ends_with(&f.token));
                let outcome = check(setup, &f);
                assert!(!matches!(outcome, Outcome::Verified { .. }));
            }
        }
        1 => {
            let (header, signer) = HEADERS[usize::from(mode >> 2) % HEADERS.len()];
            let token = mint(setup, header.as_bytes(), rest, signer);
            match check(setup, &found(&token)) {
                Outcome::Verified { provider, token } => {
                    assert_claims_pass(setup, provider, rest);
                    assert_eq!(token.issuer, setup.providers[provider].issuer);
                }
                Outcome::Rejected(Reason::BadSignature) => panic!("valid signature refused"),
                Outcome::NeedKeys(_) | Outcome::KeysUnavailable(_) => panic!("keys are ready"),
                _ => {}
            }
        }
        2 => {
            let signer = if mode & 4 == 0 {
                Signer::Hs
            } else {
                Signer::Ed
            };
            let token = mint(setup, rest, valid_claims(signer).as_bytes(), signer);
            if let Outcome::Verified { .. } = check(setup, &found(&token)) {
                let header: Value = serde_json::from_slice(rest).unwrap();
                let expected = match signer {
                    Signer::Hs => "HS256",
                    Signer::Ed => "EdDSA",
                };
                assert_eq!(header["alg"], expected, "verified under another alg");
            }
        }
        _ => {
            let (header, signer) = HEADERS[usize::from(mode >> 2) % HEADERS.len()];
            let original = mint(
                setup,
                header.as_bytes(),
                valid_claims(signer).as_bytes(),
                signer,
            );
            let mut bytes = original.clone().into_bytes();
            for edit in rest.chunks(3) {
                let at = match edit {
                    [a, b, _] => usize::from(*a) | usize::from(*b) << 8,
                    _ => break,
                };
                let value = edit[2];
                match value {
                    // A few edits insert or delete rather than overwrite.
                    0 => {
                        if !bytes.is_empty() {
                            bytes.remove(at % bytes.len());
                        }
                    }
                    1..=3 => bytes.insert(at % (bytes.len() + 1), b"=.+"[usize::from(value) - 1]),
                    _ => {
                        let len = bytes.len();
                        if len > 0 {
                            bytes[at % len] = value;
                        }
                    }
                }
            }
            let token = String::from_utf8_lossy(&bytes).into_owned();
            let outcome = check(setup, &found(&token));
            if token == original {
                assert!(matches!(outcome, Outcome::Verified { .. }), "{outcome:?}");
            } else {
                assert!(
                    !matches!(outcome, Outcome::Verified { .. }),
                    "edited token verified: {token}"
                );
            }
        }
    }
});
