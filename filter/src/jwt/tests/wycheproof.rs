//! Every Wycheproof JWS and JWK test vector that concerns what toolguard
//! implements gives Wycheproof's expected result, except where toolguard is
//! stricter on purpose (listed, with the reason, and checked to be refused).

use crate::jwt::jwk::KeyProblem;
use crate::jwt::token::parse_jws;
use crate::jwt::verify::verify_jws_signature;
use crate::jwt::Algorithm;
use crate::jwt::{JwkSet, JwksError};
use serde_json::Value;
use wasm_bindgen_test::wasm_bindgen_test;

const JWS_TESTS: &str =
    include_str!("../../../../fixtures/jose/wycheproof/json_web_signature_test.json");
const JWK_TESTS: &str = include_str!("../../../../fixtures/jose/wycheproof/json_web_key_test.json");

/// Vectors Wycheproof calls valid that toolguard refuses, and why.
const STRICTER: [(u64, &str); 4] = [
    (346, "the key declares alg PS256 and the token is PS384: a JWK's alg is the one algorithm it is for (RFC 7517 §4.4)"),
    (350, "the key declares alg PS256 and the token is PS384: a JWK's alg is the one algorithm it is for (RFC 7517 §4.4)"),
    (372, "a `?` inside the header is not base64url; Wycheproof tolerates decoders that skip it"),
    (373, "a `?` inside the payload is not base64url; Wycheproof tolerates decoders that skip it"),
];

/// Vectors whose text is byte-for-byte that of the valid tcId 357 though
/// Wycheproof expects them invalid: the padding they are named after is not in
/// the file. They verify, as 357 does; other Wycheproof users skip them too.
const DEFECTIVE: [u64; 2] = [367, 370];

/// The outcome of one vector: `Ok` if verified, else why not.
fn outcome(jws: &str, keys: &Value) -> Result<(), String> {
    let text = keys.to_string();
    // Shared secrets come only from local configuration; everything else is
    // treated as fetched, which is the lenient mode (unusable keys skipped).
    let has_secret = text.contains(r#""kty":"oct""#);
    let set = if has_secret {
        JwkSet::parse_local(text.as_bytes())
    } else {
        JwkSet::parse_remote(text.as_bytes())
    };
    let set = set.map_err(|e| format!("keys: {e:?}"))?;
    let jws = parse_jws(jws).map_err(|r| r.as_str().to_owned())?;
    verify_jws_signature(&jws, &Algorithm::ALL, &set).map_err(|r| r.reason.as_str().to_owned())?;
    Ok(())
}

fn check_file(
    doc: &Value,
    group_keys: impl Fn(&Value) -> Value,
    not_applicable: &[u64],
) -> (usize, usize, Vec<(u64, String)>) {
    let (mut valid, mut invalid) = (0, 0);
    let mut refusals = Vec::new();
    for group in doc["testGroups"].as_array().unwrap() {
        let keys = group_keys(group);
        for case in group["tests"].as_array().unwrap() {
            let id = case["tcId"].as_u64().unwrap();
            if not_applicable.contains(&id) {
                continue;
            }
            if DEFECTIVE.contains(&id) {
                let twin = doc["testGroups"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|g| g["tests"].as_array().unwrap())
                    .find(|t| t["tcId"] == 357)
                    .unwrap();
                assert_eq!(case["jws"], twin["jws"], "tcId {id}");
                assert_eq!(
                    outcome(case["jws"].as_str().unwrap(), &keys),
                    Ok(()),
                    "tcId {id}"
                );
                continue;
            }
            let got = outcome(case["jws"].as_str().unwrap(), &keys);
            let expected_valid = case["result"] == "valid";
            let stricter = STRICTER.iter().find(|(s, _)| *s == id);
            match (expected_valid, stricter, &got) {
                (true, None, Ok(())) => valid += 1,
                (false, None, Err(_)) => invalid += 1,
                (true, Some(_), Err(_)) => invalid += 1,
                _ => panic!(
                    "tcId {id} ({}): expected {}, got {got:?}",
                    case["comment"], case["result"]
                ),
            }
            if let Err(why) = got {
                refusals.push((id, why));
            }
        }
    }
    (valid, invalid, refusals)
}

fn reason_of(refusals: &[(u64, String)], id: u64) -> &str {
    &refusals.iter().find(|(i, _)| *i == id).unwrap().1
}

#[test]
#[wasm_bindgen_test]
fn json_web_signature_vectors() {
    let doc: Value = serde_json::from_str(JWS_TESTS).unwrap();
    // ES512 on P-521 (RFC 7520 4.3 as Wycheproof carries it): not implemented.
    let not_applicable = [347, 351];
    for group in doc["testGroups"].as_array().unwrap() {
        for case in group["tests"].as_array().unwrap() {
            if not_applicable.contains(&case["tcId"].as_u64().unwrap()) {
                assert_eq!(group["public"]["crv"], "P-521");
            }
        }
    }
    // A JWS group names one key ("public", or "private" for a shared secret).
    let keys = |group: &Value| {
        let key = if group["public"].is_object() {
            &group["public"]
        } else {
            &group["private"]
        };
        serde_json::json!({ "keys": [key] })
    };
    let (valid, invalid, refusals) = check_file(&doc, keys, &not_applicable);
    assert_eq!(doc["numberOfTests"], 401);
    assert_eq!(
        valid + invalid,
        401 - not_applicable.len() - DEFECTIVE.len()
    );
    assert_eq!((valid, invalid), (40, 357));

    // The refusals say what is wrong.
    let cases: [(u64, &str); 15] = [
        (2, "bad_signature"),     // modified signature
        (4, "malformed"),         // two parts
        (16, "alg_not_allowed"),  // none
        (17, "malformed"),        // JSON serialization
        (31, "unknown_kid"),      // HS256 with the EC key's kid: no HMAC key has it
        (32, "bad_signature"),    // embedded attacker jwk is ignored
        (331, "bad_signature"),   // PS512 header over an RS256 signature
        (332, "unknown_kid"),     // RS256 token, key is PS512-only
        (342, "alg_not_allowed"), // NONE
        (360, "malformed"),       // spaces in the MAC
        (366, "malformed"),       // "####" in the header
        (372, "malformed"),
        (374, "malformed"),     // non-zero unused bits
        (386, "bad_signature"), // ECDSA r = s = 0
        (346, "unknown_kid"),   // PS384 token, key is PS256-only
    ];
    for (id, why) in cases {
        assert_eq!(reason_of(&refusals, id), why, "tcId {id}");
    }
    assert!(
        reason_of(&refusals, 353).starts_with("keys: NoUsableKey"),
        "use enc"
    );
    assert!(
        reason_of(&refusals, 355).starts_with("keys: NoUsableKey"),
        "key_ops encrypt"
    );
}

#[test]
#[wasm_bindgen_test]
fn json_web_key_vectors() {
    let doc: Value = serde_json::from_str(JWK_TESTS).unwrap();
    // HS384 and HS512 keys: not implemented (their "invalid" cases are about
    // key length, their "valid" ones need HS384/HS512).
    let not_applicable = [11, 12, 14, 15];
    for group in doc["testGroups"].as_array().unwrap() {
        for case in group["tests"].as_array().unwrap() {
            if not_applicable.contains(&case["tcId"].as_u64().unwrap()) {
                let alg = group["private"]["keys"][0]["alg"].as_str().unwrap();
                assert!(alg == "HS384" || alg == "HS512", "{alg}");
            }
        }
    }
    let keys = |group: &Value| {
        if group["public"].is_object() {
            group["public"].clone()
        } else {
            group["private"].clone()
        }
    };
    let (valid, invalid, refusals) = check_file(&doc, keys, &not_applicable);
    assert_eq!(
        valid + invalid,
        doc["numberOfTests"].as_u64().unwrap() as usize - not_applicable.len()
    );
    assert_eq!((valid, invalid), (3, 19));

    let key_problem = |id: u64| reason_of(&refusals, id).to_owned();
    assert!(
        key_problem(1).contains("MixedSecretAndPublicKeys"),
        "{}",
        key_problem(1)
    );
    // The duplicate's `k` is not canonical base64url, which refuses the set
    // before the duplicate kid would (that rule is tested in jwks/tests.rs).
    assert!(
        key_problem(4).contains(r#"kid: Some("kid-aes-sign"), problem: BadMember { member: "k""#),
        "{}",
        key_problem(4)
    );
    assert!(
        key_problem(7).contains("RsaRocaVulnerable"),
        "{}",
        key_problem(7)
    );
    assert!(
        key_problem(8).contains("RsaTooSmall { bits: 1024 }"),
        "{}",
        key_problem(8)
    );
    assert!(key_problem(9).contains("RsaInvalid"), "{}", key_problem(9));
    assert!(
        key_problem(10).contains("SecretTooShort { bytes: 31 }"),
        "{}",
        key_problem(10)
    );
    assert!(
        key_problem(16).contains("SecretTooShort { bytes: 0 }"),
        "{}",
        key_problem(16)
    );
    assert!(
        key_problem(22).contains("EcNotOnCurve"),
        "{}",
        key_problem(22)
    );
}

#[test]
#[wasm_bindgen_test]
fn the_roca_key_is_refused_in_local_config_with_a_clear_message() {
    let doc: Value = serde_json::from_str(JWK_TESTS).unwrap();
    let group = doc["testGroups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["comment"] == "jws_rsa_roca_key")
        .unwrap();
    let err = JwkSet::parse_local(group["public"].to_string().as_bytes()).unwrap_err();
    assert!(matches!(&err, JwksError::BadKey(k) if k.problem == KeyProblem::RsaRocaVulnerable));
    assert!(err.to_string().contains("CVE-2017-15361"), "{err}");
}
