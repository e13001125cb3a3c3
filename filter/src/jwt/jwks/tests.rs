use super::*;

/// Whether a `local_jwks` text could be used, and the reason it cannot.
fn check_local_jwks(text: &str) -> Result<(), String> {
    JwkSet::parse_local(text.as_bytes())
        .map(|_| ())
        .map_err(|e| e.to_string())
}
use crate::jwt::tests::support::*;
use serde_json::json;
use wasm_bindgen_test::wasm_bindgen_test;

fn local(text: &str) -> Result<JwkSet, JwksError> {
    JwkSet::parse_local(text.as_bytes())
}

fn remote(text: &str) -> Result<JwkSet, JwksError> {
    JwkSet::parse_remote(text.as_bytes())
}

fn hmac_jwk(kid: &str) -> serde_json::Value {
    json!({"kty": "oct", "kid": kid, "k": crate::jwt::base64url::encode(&[3u8; 32])})
}

#[test]
#[wasm_bindgen_test]
fn parses_the_rfc_keys() {
    let set = remote(&jwks_text(&[
        rsa_public(),
        ec_public(),
        ed_public(),
        rsa2_public(),
    ]))
    .unwrap();
    let kids: Vec<_> = set
        .keys()
        .iter()
        .map(|k| k.kid.as_deref().unwrap())
        .collect();
    assert_eq!(kids, ["rsa", "ec", "ed", "rsa-2"]);
    assert!(set.skipped().is_empty());
    assert!(
        set.supports(Algorithm::PS512)
            && set.supports(Algorithm::ES256)
            && set.supports(Algorithm::EdDSA)
    );
    assert!(!set.supports(Algorithm::HS256));
}

#[test]
#[wasm_bindgen_test]
fn the_cognito_sample_has_placeholder_keys() {
    // Its `n` values ("1234567890") are placeholders, not keys.
    let err = remote(COGNITO_JWKS).unwrap_err();
    let JwksError::NoUsableKey { skipped } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(skipped.len(), 2);
    assert_eq!(skipped[0].kid.as_deref(), Some("1234example="));
    let msg = err.to_string();
    assert!(
        msg.starts_with("the JWKS holds no usable key: keys[0] (kid \"1234example=\") "),
        "{msg}"
    );
    assert!(msg.contains("\"n\" must be unpadded base64url"), "{msg}");
    // As local configuration the first broken key is reported.
    let msg = check_local_jwks(COGNITO_JWKS).unwrap_err();
    assert_eq!(
        msg,
        "keys[0] (kid \"1234example=\") \"n\" must be unpadded base64url"
    );
}

#[test]
#[wasm_bindgen_test]
fn local_refuses_broken_keys_remote_skips_them() {
    let small = json!({"kty": "RSA", "kid": "small", "n": "AQAB", "e": "AQAB"});
    let text = jwks_text(&[small, rsa_public()]);
    let set = remote(&text).unwrap();
    assert_eq!(set.keys().len(), 1);
    assert_eq!(
        set.skipped()[0].problem,
        KeyProblem::RsaTooSmall { bits: 17 }
    );
    assert_eq!(
        set.skipped()[0].to_string(),
        "keys[0] (kid \"small\") RSA modulus has 17 bits; at least 2048 are required"
    );
    assert_eq!(
        check_local_jwks(&text).unwrap_err(),
        "keys[0] (kid \"small\") RSA modulus has 17 bits; at least 2048 are required"
    );
    // Keys merely not meant for signatures are skipped in both.
    let enc = with(rsa2_public(), "use", json!("enc"));
    let set = local(&jwks_text(&[enc, rsa_public()])).unwrap();
    assert_eq!(set.keys().len(), 1);
    assert_eq!(
        set.skipped()[0].problem,
        KeyProblem::NotForSignatures("enc".into())
    );
    // A private key pasted whole is refused locally.
    let private = json(RFC7515_A2_JWK);
    let msg = check_local_jwks(&jwks_text(&[private])).unwrap_err();
    assert!(msg.contains("private key material"), "{msg}");
}

#[test]
#[wasm_bindgen_test]
fn shared_secrets_only_locally_and_alone() {
    let set = local(&jwks_text(&[hmac_jwk("hs")])).unwrap();
    assert!(set.supports(Algorithm::HS256));
    let err = remote(&jwks_text(&[hmac_jwk("hs")])).unwrap_err();
    assert!(
        matches!(&err, JwksError::NoUsableKey { skipped } if skipped[0].problem == KeyProblem::SecretFromRemote)
    );
    // A fetched set keeps its public keys and drops the secret.
    let set = remote(&jwks_text(&[hmac_jwk("hs"), rsa_public()])).unwrap();
    assert_eq!(set.keys().len(), 1);
    assert!(!set.supports(Algorithm::HS256));
    assert_eq!(
        local(&jwks_text(&[hmac_jwk("hs"), rsa_public()])).unwrap_err(),
        JwksError::MixedSecretAndPublicKeys
    );
}

#[test]
#[wasm_bindgen_test]
fn document_level_errors() {
    assert_eq!(
        check_local_jwks("{")
            .unwrap_err()
            .split(" (")
            .next()
            .unwrap(),
        "not a JWKS: not valid JSON"
    );
    assert_eq!(
        check_local_jwks(r#"{"keys":{}}"#).unwrap_err(),
        "not a JWKS: no \"keys\" array"
    );
    assert_eq!(
        check_local_jwks(r#"[]"#).unwrap_err(),
        "not a JWKS: no \"keys\" array"
    );
    assert_eq!(
        check_local_jwks(r#"{"keys":[]}"#).unwrap_err(),
        "the JWKS holds no keys"
    );
    let dup = format!(r#"{{"keys":[{}],"keys":[]}}"#, rsa_public());
    assert_eq!(remote(&dup).unwrap_err(), JwksError::DuplicateMembers);
    let dup_member = r#"{"keys":[{"kty":"RSA","kty":"EC"}]}"#;
    assert_eq!(remote(dup_member).unwrap_err(), JwksError::DuplicateMembers);
    let two = jwks_text(&[rsa_public(), with(rsa2_public(), "kid", json!("rsa"))]);
    assert_eq!(
        remote(&two).unwrap_err(),
        JwksError::DuplicateKid("rsa".into())
    );
    assert_eq!(
        remote(&two).unwrap_err().to_string(),
        "two usable keys have kid \"rsa\"; each key needs its own kid"
    );
}

#[test]
#[wasm_bindgen_test]
fn size_limit() {
    let key = rsa_public().to_string();
    let mut text = String::from(r#"{"keys":["#);
    text.push_str(&key);
    text.push_str(r#"],"padding":""#);
    let fill = MAX_JWKS_BYTES - text.len() - 2;
    text.push_str(&"x".repeat(fill));
    text.push_str(r#""}"#);
    assert_eq!(text.len(), MAX_JWKS_BYTES);
    assert!(remote(&text).is_ok());
    let over = text.replacen(r#""padding":""#, r#""padding":"x"#, 1);
    assert_eq!(
        remote(&over).unwrap_err(),
        JwksError::TooLarge {
            bytes: MAX_JWKS_BYTES + 1
        }
    );
}

#[test]
#[wasm_bindgen_test]
fn usable_keys_are_capped() {
    let keys: Vec<_> = (0..MAX_USABLE_KEYS + 2)
        .map(|i| with(ec_public(), "kid", json!(format!("k{i}"))))
        .collect();
    let set = remote(&jwks_text(&keys)).unwrap();
    assert_eq!(set.keys().len(), MAX_USABLE_KEYS);
    assert_eq!(set.skipped().len(), 2);
    assert_eq!(set.skipped()[0].problem, KeyProblem::TooManyKeys);
}

#[test]
#[wasm_bindgen_test]
fn lookup_rules() {
    let set = remote(&jwks_text(&[
        rsa_public(),
        ec_public(),
        public_jwk(RFC7515_A2_JWK),
    ]))
    .unwrap();
    let kids = |l: KeyLookup<'_>| match l {
        KeyLookup::Candidates(keys) => keys
            .iter()
            .map(|k| k.kid.clone().unwrap_or_default())
            .collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(kids(set.lookup(Some("rsa"), Algorithm::RS256)), ["rsa"]);
    // Without kid: every fitting key, kid or not.
    assert_eq!(kids(set.lookup(None, Algorithm::PS256)), ["rsa", ""]);
    assert_eq!(kids(set.lookup(None, Algorithm::ES256)), ["ec"]);
    assert!(matches!(
        set.lookup(Some("nope"), Algorithm::RS256),
        KeyLookup::KidNotFound
    ));
    assert!(matches!(
        set.lookup(Some("ec"), Algorithm::RS256),
        KeyLookup::NoKeyForAlg
    ));
    assert!(matches!(
        set.lookup(None, Algorithm::EdDSA),
        KeyLookup::NoKeyForAlg
    ));
    assert!(matches!(
        set.lookup(Some("rsa"), Algorithm::HS256),
        KeyLookup::NoKeyForAlg
    ));
}

#[test]
#[wasm_bindgen_test]
fn fingerprints_follow_the_usable_keys() {
    let a = remote(&jwks_text(&[rsa_public(), ec_public()])).unwrap();
    let same = remote(&jwks_text(&[
        rsa_public(),
        ec_public(),
        json!({"kty": "RSA", "use": "enc"}),
    ]))
    .unwrap();
    let rotated = remote(&jwks_text(&[rsa_public(), rsa2_public()])).unwrap();
    let renamed = remote(&jwks_text(&[
        with(rsa_public(), "kid", json!("rsa-x")),
        ec_public(),
    ]))
    .unwrap();
    assert_eq!(a.fingerprint(), same.fingerprint());
    assert_ne!(a.fingerprint(), rotated.fingerprint());
    assert_ne!(a.fingerprint(), renamed.fingerprint());
}
