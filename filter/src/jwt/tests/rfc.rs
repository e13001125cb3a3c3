//! The worked examples of RFC 7515 (JWS), RFC 7520 (JOSE cookbook) and RFC 8037
//! (EdDSA), verified as published.

use super::support::*;
use crate::json::Json;
use crate::jwt::jwk::KeyProblem;
use crate::jwt::token::{parse_jws, Jws};
use crate::jwt::verify::{verify_jws_signature, Rejection};
use crate::jwt::{parse, verify, JwkSet, JwksError, Reason};
use crate::jwt::{Algorithm, Provider};
use serde_json::json;
use wasm_bindgen_test::wasm_bindgen_test;

/// The RFC 7515 examples' issuer, with every algorithm allowed.
fn joe() -> Provider {
    Provider {
        issuer: "joe".into(),
        ..provider()
    }
}

fn jws(text: &str) -> Jws {
    parse_jws(text.trim()).unwrap()
}

fn signature_check(text: &str, keys: &JwkSet) -> Result<Algorithm, Reason> {
    verify_jws_signature(&jws(text), &Algorithm::ALL, keys).map_err(|r: Rejection| r.reason)
}

#[test]
#[wasm_bindgen_test]
fn rfc7515_a1_hs256_with_a_local_oct_key() {
    let keys = local_set(&[json(RFC7515_A1_JWK)]);
    let token = parse(RFC7515_A1_JWS.trim()).unwrap();
    let v = verify(&token, &joe(), &keys, RFC7515_NOW).unwrap();
    assert_eq!(
        (v.issuer.as_str(), v.exp, v.subject),
        ("joe", 1_300_819_380, None)
    );
    assert_eq!(
        v.claims.get("http://example.com/is_root"),
        Some(&Json::Bool(true))
    );
    // `exp` is 2011: with the default 60 s skew it is valid until exp + 60.
    assert!(verify(&token, &joe(), &keys, 1_300_819_380 + 59).is_ok());
    assert_eq!(
        verify(&token, &joe(), &keys, 1_300_819_380 + 60),
        Err(Reason::Expired)
    );
    // A shared secret is never taken from a fetched key set.
    let remote = JwkSet::parse_remote(jwks_text(&[json(RFC7515_A1_JWK)]).as_bytes()).unwrap_err();
    assert!(
        matches!(&remote, JwksError::NoUsableKey { skipped } if skipped[0].problem == KeyProblem::SecretFromRemote)
    );
}

#[test]
#[wasm_bindgen_test]
fn rfc7515_a2_rs256() {
    let keys = remote_set(&[public_jwk(RFC7515_A2_JWK)]);
    let token = parse(RFC7515_A2_JWS.trim()).unwrap();
    assert_eq!(
        verify(&token, &joe(), &keys, RFC7515_NOW).unwrap().exp,
        1_300_819_380
    );
    assert_eq!(
        verify(&token, &joe(), &keys, RFC7515_NOW + 1_000_000),
        Err(Reason::Expired)
    );
}

#[test]
#[wasm_bindgen_test]
fn rfc7515_a3_es256() {
    let keys = remote_set(&[public_jwk(RFC7515_A3_JWK)]);
    let token = parse(RFC7515_A3_JWS.trim()).unwrap();
    assert_eq!(
        verify(&token, &joe(), &keys, RFC7515_NOW).unwrap().issuer,
        "joe"
    );
    let only_rs256 = Provider {
        algorithms: vec![Algorithm::RS256],
        ..joe()
    };
    assert_eq!(
        verify(&token, &only_rs256, &keys, RFC7515_NOW),
        Err(Reason::AlgNotAllowed)
    );
}

#[test]
#[wasm_bindgen_test]
fn rfc7515_a4_es512_is_not_supported() {
    // Its payload is not JSON: a valid JWS, but not a JWT.
    assert_eq!(parse(RFC7515_A4_JWS.trim()), Err(Reason::Malformed));
    let keys = idp_set();
    assert_eq!(
        signature_check(RFC7515_A4_JWS, &keys),
        Err(Reason::AlgNotAllowed)
    );
    // Nor is its P-521 key.
    let err =
        JwkSet::parse_remote(jwks_text(&[public_jwk(RFC7515_A4_JWK)]).as_bytes()).unwrap_err();
    assert!(
        matches!(&err, JwksError::NoUsableKey { skipped } if skipped[0].problem == KeyProblem::UnsupportedCurve("P-521".into()))
    );
}

#[test]
#[wasm_bindgen_test]
fn rfc7515_a5_none_is_refused() {
    let token = parse(RFC7515_A5_JWS.trim()).unwrap();
    assert_eq!(token.alg, "none");
    let keys = remote_set(&[public_jwk(RFC7515_A2_JWK)]);
    assert_eq!(
        verify(&token, &joe(), &keys, RFC7515_NOW),
        Err(Reason::AlgNotAllowed)
    );
}

#[test]
#[wasm_bindgen_test]
fn rfc7520_signatures() {
    let rsa = remote_set(&[public_jwk(RFC7520_RSA_JWK)]);
    assert_eq!(signature_check(RFC7520_4_1_JWS, &rsa), Ok(Algorithm::RS256));
    let pss = remote_set(&[public_jwk(RFC7520_4_2_JWK)]);
    assert_eq!(signature_check(RFC7520_4_2_JWS, &pss), Ok(Algorithm::PS384));
    let hmac = local_set(&[json(RFC7520_4_4_JWK)]);
    assert_eq!(
        signature_check(RFC7520_4_4_JWS, &hmac),
        Ok(Algorithm::HS256)
    );
    // The payload is the quotation, not claims.
    assert_eq!(parse(RFC7520_4_1_JWS.trim()), Err(Reason::Malformed));
    assert!(String::from_utf8(jws(RFC7520_4_1_JWS).payload)
        .unwrap()
        .starts_with("It\u{2019}s a dangerous business"));
}

#[test]
#[wasm_bindgen_test]
fn rfc7520_es512_and_detached_content_are_refused() {
    assert_eq!(
        signature_check(RFC7520_4_3_JWS, &idp_set()),
        Err(Reason::AlgNotAllowed)
    );
    assert!(JwkSet::parse_remote(jwks_text(&[public_jwk(RFC7520_4_3_JWK)]).as_bytes()).is_err());
    // 4.5 signs content that is not in the token: as a token it does not verify.
    let hmac = local_set(&[json(RFC7520_4_4_JWK)]);
    assert_eq!(
        signature_check(RFC7520_4_5_JWS, &hmac),
        Err(Reason::BadSignature)
    );
}

#[test]
#[wasm_bindgen_test]
fn rfc7520_signatures_fail_with_the_wrong_key_or_kid() {
    // The 4.1 token names kid "bilbo.baggins@hobbiton.example".
    let other_key = remote_set(&[with(
        rsa_public(),
        "kid",
        json!("bilbo.baggins@hobbiton.example"),
    )]);
    assert_eq!(
        signature_check(RFC7520_4_1_JWS, &other_key),
        Err(Reason::BadSignature)
    );
    let other_kid = remote_set(&[with(public_jwk(RFC7520_RSA_JWK), "kid", json!("frodo"))]);
    assert_eq!(
        signature_check(RFC7520_4_1_JWS, &other_kid),
        Err(Reason::UnknownKid)
    );
}

#[test]
#[wasm_bindgen_test]
fn rfc8037_ed25519() {
    let keys = remote_set(&[public_jwk(RFC8037_ED25519_JWK)]);
    assert_eq!(
        signature_check(RFC8037_ED25519_JWS, &keys),
        Ok(Algorithm::EdDSA)
    );
    assert_eq!(
        jws(RFC8037_ED25519_JWS).payload,
        b"Example of Ed25519 signing"
    );
    // Minting with the same key reproduces the published signature (Ed25519 is deterministic).
    let sig = ed_signer().sign("EdDSA", jws(RFC8037_ED25519_JWS).signing_input.as_bytes());
    assert_eq!(
        crate::jwt::base64url::encode(&sig),
        RFC8037_ED25519_JWS.rsplit('.').next().unwrap()
    );
}

#[test]
#[wasm_bindgen_test]
fn every_supported_algorithm_round_trips() {
    let hmac_jwk = json!({"kty":"oct","kid":"hs","k": crate::jwt::base64url::encode(&[9u8; 32])});
    let cases: [(&str, Signer, &str, JwkSet); 9] = [
        ("RS256", rsa_signer(), "rsa", idp_set()),
        ("RS384", rsa_signer(), "rsa", idp_set()),
        ("RS512", rsa_signer(), "rsa", idp_set()),
        ("PS256", rsa_signer(), "rsa", idp_set()),
        ("PS384", rsa_signer(), "rsa", idp_set()),
        ("PS512", rsa_signer(), "rsa", idp_set()),
        ("ES256", ec_signer(), "ec", idp_set()),
        ("EdDSA", ed_signer(), "ed", idp_set()),
        (
            "HS256",
            Signer::from_jwk(&hmac_jwk.to_string()),
            "hs",
            local_set(std::slice::from_ref(&hmac_jwk)),
        ),
    ];
    for (alg, signer, kid, keys) in cases {
        let token = parse(&mint(&header(alg, kid), &claims(json!({})), &signer)).unwrap();
        let v = verify(&token, &provider(), &keys, NOW);
        assert_eq!(v.map(|v| v.subject), Ok(Some("user-1".to_owned())), "{alg}");
    }
}
