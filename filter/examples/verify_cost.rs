//! Runs one kind of never-seen-token signature check in a loop, for measuring
//! its cost natively: `cargo run --release -p toolguard --example verify_cost
//! -- ALG [COUNT]` prints the time per verification, and under
//! `valgrind --tool=callgrind` the instruction count (repeatable, unlike
//! time on a shared machine). ALG is one of RS256, PS256, ES256, or ES256-p256 for the p256 crate's
//! verification (what toolguard used before `jwt::ecdsa`), for comparison.
// A measuring tool with fixed inputs, not part of the module: it stops at
// the first surprise.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use jwt_compact::alg::{Es256, Rsa, RsaPrivateKey};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{Algorithm as _, AlgorithmSignature as _};
use std::time::Instant;
use toolguard::jwt::Algorithm;
use toolguard::jwt::JwkSet;

fn main() {
    let mut args = std::env::args().skip(1);
    let alg = args.next().unwrap_or_else(|| "ES256".into());
    let count: usize = args.next().and_then(|c| c.parse().ok()).unwrap_or(1000);
    let input = b"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0";
    let alg_name = alg.clone();
    let (jwk, signature, alg) = match alg.as_str() {
        "ES256" | "ES256-p256" => {
            let key = p256::ecdsa::SigningKey::from_bytes(&[7u8; 32].into()).unwrap();
            let public = key.verifying_key().to_encoded_point(false);
            let jwk = format!(
                r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{}"}}"#,
                toolguard::jwt::base64url::encode(public.x().unwrap()),
                toolguard::jwt::base64url::encode(public.y().unwrap())
            );
            let sig = Es256.sign(&key, input).as_bytes().to_vec();
            (jwk, sig, Algorithm::ES256)
        }
        name @ ("RS256" | "PS256") => {
            // RFC 7515 A.2's 2048-bit key, the size of most identity providers' keys.
            let private = include_str!("../../fixtures/jose/rfc7515/A2_RS256.jwk.json");
            let parsed: JsonWebKey<'_> = serde_json::from_str(private).unwrap();
            let key = RsaPrivateKey::try_from(&parsed).unwrap();
            let value: serde_json::Value = serde_json::from_str(private).unwrap();
            let jwk =
                serde_json::json!({"kty": "RSA", "n": value["n"], "e": value["e"]}).to_string();
            let (alg, rsa) = if name == "RS256" {
                (Algorithm::RS256, Rsa::rs256())
            } else {
                (Algorithm::PS256, Rsa::ps256())
            };
            (jwk, rsa.sign(&key, input).as_bytes().to_vec(), alg)
        }
        other => panic!("unknown algorithm {other}"),
    };
    if alg_name == "ES256-p256" {
        let key = p256::ecdsa::SigningKey::from_bytes(&[7u8; 32].into()).unwrap();
        let public = *key.verifying_key();
        let sig = <Es256 as jwt_compact::Algorithm>::Signature::try_from_slice(&signature).unwrap();
        let start = Instant::now();
        for _ in 0..count {
            assert!(Es256.verify_signature(&sig, &public, std::hint::black_box(input)));
        }
        report("ES256 (p256 crate)", start, count);
        return;
    }
    let set = JwkSet::parse_local(format!(r#"{{"keys":[{jwk}]}}"#).as_bytes()).unwrap();
    let key = &set.keys()[0].key;
    assert!(key.verifies(alg, input, &signature));
    let start = Instant::now();
    let mut ok = 0;
    for _ in 0..count {
        ok += usize::from(key.verifies(alg, std::hint::black_box(input), &signature));
    }
    assert_eq!(ok, count);
    report(&format!("{alg:?}"), start, count);
}

fn report(what: &str, start: Instant, count: usize) {
    println!(
        "{what}: {:.1} µs per verification ({count} runs)",
        start.elapsed().as_secs_f64() * 1e6 / count as f64
    );
}
