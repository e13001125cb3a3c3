//! The JWKS parser, as a local (configured) and as a remote (fetched) key set,
//! and what is done with a parsed set: lookups for every algorithm and kid, the
//! fingerprint, and a signature check with each usable key.
//!
//! Checks: a set accepted as local is accepted as remote with the same keys
//! unless it holds `oct` keys (remote sets drop them); parsing is deterministic
//! (same fingerprint twice); a lookup only returns keys that accept the
//! algorithm and carry the kid asked for; the fixed RFC 7515 tokens never
//! verify against a key they were not signed with.
#![no_main]

use libfuzzer_sys::fuzz_target;
use toolguard::jwt::jwks::KeyLookup;
use toolguard::jwt::token::parse_jws;
use toolguard::jwt::verify::verify_jws_signature;
use toolguard::jwt::Algorithm;
use toolguard::jwt::JwkSet;

const RS256_JWS: &str = include_str!("../../fixtures/jose/rfc7515/A2_RS256.jws");
const ES256_JWS: &str = include_str!("../../fixtures/jose/rfc7515/A3_ES256.jws");
const HS256_JWS: &str = include_str!("../../fixtures/jose/rfc7515/A1_HS256.jws");
/// The RFC 7515 keys those three are signed with (their modulus, x and secret).
const RSA_N_START: &str = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddx";
const EC_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
const HS_K: &str =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";

fn check_lookups(set: &JwkSet) {
    let mut kids: Vec<Option<&str>> = vec![None, Some(""), Some("nope")];
    kids.extend(set.keys().iter().map(|k| k.kid.as_deref()));
    for alg in Algorithm::ALL {
        assert_eq!(set.supports(alg), set.keys().iter().any(|k| k.accepts(alg)));
        for kid in &kids {
            match set.lookup(*kid, alg) {
                KeyLookup::Candidates(keys) => {
                    assert!(!keys.is_empty());
                    for k in keys {
                        assert!(k.accepts(alg));
                        if kid.is_some() {
                            assert_eq!(k.kid.as_deref(), *kid);
                        }
                    }
                }
                KeyLookup::KidNotFound => {
                    assert!(kid.is_some());
                    assert!(!set.keys().iter().any(|k| k.kid.as_deref() == *kid));
                }
                KeyLookup::NoKeyForAlg => {}
            }
        }
    }
}

/// Whether any JSON string in the document (escapes decoded) holds `needle`.
fn strings_contain(data: &[u8], needle: &str) -> bool {
    fn walk(v: &serde_json::Value, needle: &str) -> bool {
        match v {
            serde_json::Value::String(s) => s.contains(needle),
            serde_json::Value::Array(a) => a.iter().any(|v| walk(v, needle)),
            serde_json::Value::Object(o) => o.values().any(|v| walk(v, needle)),
            _ => false,
        }
    }
    serde_json::from_slice(data).is_ok_and(|v| walk(&v, needle))
}

fuzz_target!(|data: &[u8]| {
    let local = JwkSet::parse_local(data);
    let remote = JwkSet::parse_remote(data);
    for set in [&local, &remote].into_iter().flatten() {
        assert!(!set.keys().is_empty());
        check_lookups(set);
        // Every key is tried on every fixed token; only its own key may verify it.
        for (jws, material) in [
            (RS256_JWS, RSA_N_START),
            (ES256_JWS, EC_X),
            (HS256_JWS, HS_K),
        ] {
            let jws = parse_jws(jws.trim()).unwrap();
            if verify_jws_signature(&jws, &Algorithm::ALL, set).is_ok() {
                assert!(strings_contain(data, material), "verified by a foreign key");
            }
        }
    }
    if let Ok(local) = &local {
        let again = JwkSet::parse_local(data).unwrap();
        assert_eq!(again.fingerprint(), local.fingerprint());
        let has_oct = local.keys().iter().any(|k| k.key.kty() == "oct");
        if !has_oct {
            let remote = remote.as_ref().expect("local set refused as remote");
            assert_eq!(remote.fingerprint(), local.fingerprint());
            assert_eq!(remote.keys().len(), local.keys().len());
        }
    }
});
