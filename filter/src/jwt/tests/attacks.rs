//! Known ways to get a forged JWT accepted, each refused for the right reason.

use super::support::*;
use crate::jwt::base64url::encode;
use crate::jwt::verify::verify_detailed;
use crate::jwt::{parse, verify, JwkSet, Reason};
use crate::jwt::{Algorithm, Provider};
use serde_json::json;
use wasm_bindgen_test::wasm_bindgen_test;

fn check(token: &str, provider: &Provider, keys: &JwkSet) -> Result<(), Reason> {
    let token = parse(token)?;
    verify(&token, provider, keys, NOW).map(|_| ())
}

/// A token with its signature part replaced.
fn resign(token: &str, signature: &[u8]) -> String {
    let input = token.rsplit_once('.').unwrap().0;
    format!("{input}.{}", encode(signature))
}

fn signing_input(token: &str) -> &str {
    token.rsplit_once('.').unwrap().0
}

/// Wycheproof's P-256 key: an attacker's own key pair.
const ATTACKER_EC_JWK: &str = r#"{"kty":"EC","crv":"P-256","x":"04N0xi21hshyvBp7I167sbE_bXqyqkAPfefdklMO7wY","y":"UI8exy-C06a7DUnjIdENkxeFtHM4-l_41LqEw9nVgmw","d":"yy49oPcINGK2ps0LmtxpB6UTEOiITghHBif6wDqmJ3c"}"#;

#[test]
#[wasm_bindgen_test]
fn alg_none_in_every_casing() {
    let keys = idp_set();
    let genuine = mint(&header("RS256", "rsa"), &claims(json!({})), &rsa_signer());
    assert_eq!(check(&genuine, &provider(), &keys), Ok(()));
    for alg in ["none", "None", "NONE", "nOnE", "none ", " none"] {
        let h = json!({"alg": alg, "kid": "rsa"}).to_string();
        let unsigned = format!(
            "{}.{}.",
            encode(h.as_bytes()),
            encode(claims(json!({})).as_bytes())
        );
        assert_eq!(
            check(&unsigned, &provider(), &keys),
            Err(Reason::AlgNotAllowed),
            "{alg:?}"
        );
        // Keeping a genuine signature does not help either.
        let sig = genuine.rsplit('.').next().unwrap();
        assert_eq!(
            check(&format!("{}{sig}", unsigned), &provider(), &keys),
            Err(Reason::AlgNotAllowed)
        );
    }
}

#[test]
#[wasm_bindgen_test]
fn algorithm_names_are_case_sensitive_and_exact() {
    let keys = idp_set();
    for alg in [
        "rs256", "Rs256", "RS256 ", "RS-256", "ES512", "HS384", "ES256K", "",
    ] {
        let token = mint(
            &json!({"alg": alg, "kid": "rsa"}).to_string(),
            &claims(json!({})),
            &rsa_signer(),
        );
        assert_eq!(
            check(&token, &provider(), &keys),
            Err(Reason::AlgNotAllowed),
            "{alg:?}"
        );
    }
}

#[test]
#[wasm_bindgen_test]
fn hs256_keyed_with_the_rsa_public_key() {
    // The classic confusion: the attacker HMACs with the public key's bytes,
    // hoping the verifier uses "the key" as an HMAC secret.
    let public = rsa_public();
    let n = crate::jwt::base64url::decode(public["n"].as_str().unwrap()).unwrap();
    let secrets: [Vec<u8>; 3] = [
        public.to_string().into_bytes(),
        n.clone(),
        [n, vec![1, 0, 1]].concat(),
    ];
    let both = Provider {
        algorithms: vec![Algorithm::RS256, Algorithm::HS256],
        ..provider()
    };
    let remote = idp_set();
    let local = local_set(&[rsa_public()]);
    for secret in secrets {
        let forger = Signer::Hmac(secret);
        for h in [header("HS256", "rsa"), json!({"alg": "HS256"}).to_string()] {
            let token = mint(&h, &claims(json!({})), &forger);
            // Not allowed by default ...
            let default_algs = Provider {
                algorithms: Algorithm::DEFAULT.to_vec(),
                ..provider()
            };
            assert_eq!(
                check(&token, &default_algs, &remote),
                Err(Reason::AlgNotAllowed)
            );
            // ... and even where HS256 is allowed, no RSA key ever serves as a secret.
            assert_eq!(check(&token, &both, &remote), Err(Reason::UnknownKid));
            assert_eq!(check(&token, &both, &local), Err(Reason::UnknownKid));
        }
    }
}

#[test]
#[wasm_bindgen_test]
fn stripped_and_zero_signatures() {
    let hmac = json!({"kty":"oct","kid":"hs","k": encode(&[5u8; 32])});
    let cases = [
        (header("RS256", "rsa"), rsa_signer(), idp_set()),
        (header("PS256", "rsa"), rsa_signer(), idp_set()),
        (header("ES256", "ec"), ec_signer(), idp_set()),
        (header("EdDSA", "ed"), ed_signer(), idp_set()),
        (
            header("HS256", "hs"),
            Signer::from_jwk(&hmac.to_string()),
            local_set(std::slice::from_ref(&hmac)),
        ),
    ];
    for (h, signer, keys) in cases {
        let token = mint(&h, &claims(json!({})), &signer);
        assert_eq!(check(&token, &provider(), &keys), Ok(()), "{h}");
        let stripped = format!("{}.", signing_input(&token));
        assert_eq!(
            check(&stripped, &provider(), &keys),
            Err(Reason::BadSignature),
            "{h} stripped"
        );
        let len = crate::jwt::base64url::decode(token.rsplit('.').next().unwrap())
            .unwrap()
            .len();
        assert_eq!(
            check(&resign(&token, &vec![0; len]), &provider(), &keys),
            Err(Reason::BadSignature),
            "{h} zeros"
        );
    }
}

#[test]
#[wasm_bindgen_test]
fn ecdsa_edge_values_and_der_signatures() {
    let token = mint(&header("ES256", "ec"), &claims(json!({})), &ec_signer());
    let keys = idp_set();
    let n = "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551";
    let n: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&n[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let one = [[0u8; 31].as_slice(), &[1]].concat();
    for (r, s) in [
        (vec![0; 32], vec![0; 32]),
        (n.clone(), n.clone()),
        (one.clone(), one.clone()),
        (n.clone(), one),
    ] {
        assert_eq!(
            check(&resign(&token, &[r, s].concat()), &provider(), &keys),
            Err(Reason::BadSignature)
        );
    }
    // JWS carries r||s (RFC 7518 §3.4); a DER-encoded signature is not one.
    let raw = crate::jwt::base64url::decode(token.rsplit('.').next().unwrap()).unwrap();
    let der_int = |x: &[u8]| {
        let x = if x[0] & 0x80 != 0 {
            [&[0u8][..], x].concat()
        } else {
            x.to_vec()
        };
        [vec![0x02, x.len() as u8], x].concat()
    };
    let body = [der_int(&raw[..32]), der_int(&raw[32..])].concat();
    let der = [vec![0x30, body.len() as u8], body].concat();
    assert_eq!(
        check(&resign(&token, &der), &provider(), &keys),
        Err(Reason::BadSignature)
    );
    // High-S: (r, n - s) is the other valid signature of the same message under
    // plain ECDSA. JWS does not require low-S, so both are accepted, as
    // Wycheproof's "signature malleability" vector expects.
    let mut high_s = vec![0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(n[i]) - i16::from(raw[32 + i]) - borrow;
        borrow = i16::from(d < 0);
        high_s[i] = (d + 256 * borrow) as u8;
    }
    assert_ne!(high_s, raw[32..]);
    assert_eq!(
        check(
            &resign(&token, &[&raw[..32], &high_s[..]].concat()),
            &provider(),
            &keys
        ),
        Ok(())
    );
    assert_eq!(check(&token, &provider(), &keys), Ok(()));
}

#[test]
#[wasm_bindgen_test]
fn keys_in_the_token_header_are_ignored() {
    let attacker = Signer::from_jwk(ATTACKER_EC_JWK);
    let attacker_public = public_jwk(ATTACKER_EC_JWK);
    let keys = idp_set();
    let headers = [
        json!({"alg":"ES256","kid":"ec","jwk": attacker_public}),
        json!({"alg":"ES256","jwk": attacker_public}),
        json!({"alg":"ES256","kid":"ec","jku":"https://attacker.example/jwks.json"}),
        json!({"alg":"ES256","kid":"ec","x5u":"https://attacker.example/cert.pem","x5c":["MIIB"]}),
    ];
    for h in headers {
        let token = mint(&h.to_string(), &claims(json!({})), &attacker);
        assert_eq!(
            check(&token, &provider(), &keys),
            Err(Reason::BadSignature),
            "{h}"
        );
    }
    // With the attacker's key actually in the set, the same token verifies:
    // the refusals above are about where keys come from, nothing else.
    let with_attacker = remote_set(&[with(attacker_public, "kid", json!("ec"))]);
    let token = mint(&headers_first_as_string(), &claims(json!({})), &attacker);
    assert_eq!(check(&token, &provider(), &with_attacker), Ok(()));
}

fn headers_first_as_string() -> String {
    json!({"alg":"ES256","kid":"ec","jwk": public_jwk(ATTACKER_EC_JWK)}).to_string()
}

#[test]
#[wasm_bindgen_test]
fn kid_selection() {
    let keys = idp_set();
    let claims = claims(json!({}));
    // Unknown kids, including path and query tricks, match nothing.
    for kid in [
        "../../../../dev/null",
        "' OR '1'='1",
        "",
        "RSA",
        "rsa ",
        "rsa\u{0}",
    ] {
        let token = parse(&mint(&header("RS256", kid), &claims, &rsa_signer())).unwrap();
        let r = verify_detailed(&token, &provider(), &keys, NOW).unwrap_err();
        assert_eq!(
            (r.reason, r.kid_not_found),
            (Reason::UnknownKid, true),
            "{kid:?}"
        );
    }
    // A known kid whose key is of another type: unknown_kid, and no refetch would help.
    let token = parse(&mint(&header("RS256", "ec"), &claims, &rsa_signer())).unwrap();
    let r = verify_detailed(&token, &provider(), &keys, NOW).unwrap_err();
    assert_eq!((r.reason, r.kid_not_found), (Reason::UnknownKid, false));
    // The right kid with another key's signature.
    let token = mint(&header("RS256", "rsa"), &claims, &rsa2_signer());
    assert_eq!(check(&token, &provider(), &keys), Err(Reason::BadSignature));
    // Without kid, every key of the right type is tried.
    for (alg, signer) in [
        ("RS256", rsa_signer()),
        ("ES256", ec_signer()),
        ("EdDSA", ed_signer()),
    ] {
        let token = mint(&json!({ "alg": alg }).to_string(), &claims, &signer);
        assert_eq!(check(&token, &provider(), &keys), Ok(()), "{alg}");
    }
    let token = mint(
        &json!({"alg": "RS256"}).to_string(),
        &claims,
        &rsa2_signer(),
    );
    assert_eq!(check(&token, &provider(), &keys), Err(Reason::BadSignature));
    // A key without kid serves only tokens without kid.
    let kidless = remote_set(&[public_jwk(RFC7515_A2_JWK)]);
    let with_kid = mint(&header("RS256", "rsa"), &claims, &rsa_signer());
    assert_eq!(
        check(&with_kid, &provider(), &kidless),
        Err(Reason::UnknownKid)
    );
    let without = mint(&json!({"alg": "RS256"}).to_string(), &claims, &rsa_signer());
    assert_eq!(check(&without, &provider(), &kidless), Ok(()));
}

#[test]
#[wasm_bindgen_test]
fn key_alg_binds_the_key_to_one_algorithm() {
    let keys = remote_set(&[with(rsa_public(), "alg", json!("RS256"))]);
    let rs = mint(&header("RS256", "rsa"), &claims(json!({})), &rsa_signer());
    let ps = mint(&header("PS256", "rsa"), &claims(json!({})), &rsa_signer());
    assert_eq!(check(&rs, &provider(), &keys), Ok(()));
    assert_eq!(check(&ps, &provider(), &keys), Err(Reason::UnknownKid));
}

#[test]
#[wasm_bindgen_test]
fn tampering_breaks_the_signature() {
    let keys = idp_set();
    let token = mint(&header("RS256", "rsa"), &claims(json!({})), &rsa_signer());
    let sig = token.rsplit('.').next().unwrap();
    let (h, _) = signing_input(&token).split_once('.').unwrap();
    let admin = encode(claims(json!({"sub": "admin"})).as_bytes());
    assert_eq!(
        check(&format!("{h}.{admin}.{sig}"), &provider(), &keys),
        Err(Reason::BadSignature)
    );
    // Same claims, header relabelled to a sibling algorithm.
    let relabelled = format!(
        "{}.{}",
        encode(header("PS256", "rsa").as_bytes()),
        token.split_once('.').unwrap().1
    );
    assert_eq!(
        check(&relabelled, &provider(), &keys),
        Err(Reason::BadSignature)
    );
    // A signature moved from another valid token.
    let other = mint(
        &header("RS256", "rsa"),
        &claims(json!({"sub": "someone-else"})),
        &rsa_signer(),
    );
    assert_eq!(
        check(
            &resign(
                &token,
                &crate::jwt::base64url::decode(other.rsplit('.').next().unwrap()).unwrap()
            ),
            &provider(),
            &keys
        ),
        Err(Reason::BadSignature)
    );
}

#[test]
#[wasm_bindgen_test]
fn signed_tokens_with_ambiguous_json_are_malformed() {
    let keys = idp_set();
    let dup_claims = format!(
        r#"{{"iss":"{ISSUER}","sub":"user-1","sub":"admin","exp":{}}}"#,
        NOW + 60
    );
    let token = mint(&header("RS256", "rsa"), &dup_claims, &rsa_signer());
    assert_eq!(check(&token, &provider(), &keys), Err(Reason::Malformed));
    let dup_header = r#"{"alg":"RS256","kid":"rsa","kid":"ec"}"#;
    let token = mint(dup_header, &claims(json!({})), &rsa_signer());
    assert_eq!(check(&token, &provider(), &keys), Err(Reason::Malformed));
    let dup_issuer = format!(
        r#"{{"iss":"https://evil.example","iss":"{ISSUER}","exp":{}}}"#,
        NOW + 60
    );
    let token = mint(&header("RS256", "rsa"), &dup_issuer, &rsa_signer());
    assert_eq!(check(&token, &provider(), &keys), Err(Reason::Malformed));
}

#[test]
#[wasm_bindgen_test]
fn padded_and_oversized_signed_tokens_are_malformed() {
    let keys = idp_set();
    // ES256 signatures are 64 bytes: 86 characters, for which "==" padding exists.
    let token = mint(&header("ES256", "ec"), &claims(json!({})), &ec_signer());
    assert_eq!(check(&token, &provider(), &keys), Ok(()));
    assert_eq!(
        check(&format!("{token}=="), &provider(), &keys),
        Err(Reason::Malformed)
    );
    let big = mint(
        &header("ES256", "ec"),
        &claims(json!({"pad": "x".repeat(8 * 1024)})),
        &ec_signer(),
    );
    assert!(big.len() > crate::jwt::token::MAX_TOKEN_BYTES);
    assert_eq!(check(&big, &provider(), &keys), Err(Reason::Malformed));
}
