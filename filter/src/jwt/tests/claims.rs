//! Claim checks, each reason at its boundary, on correctly signed tokens.

use super::support::*;
use crate::jwt::Provider;
use crate::jwt::{parse, verify, Reason, VerifiedToken};
use serde_json::{json, Value};
use wasm_bindgen_test::wasm_bindgen_test;

fn verify_claims(claims: &str, provider: &Provider, now: u64) -> Result<VerifiedToken, Reason> {
    let token = parse(&mint(&header("ES256", "ec"), claims, &ec_signer()))?;
    verify(&token, provider, &idp_set(), now)
}

fn with_claims(extra: Value, now: u64) -> Result<VerifiedToken, Reason> {
    verify_claims(&claims(extra), &provider(), now)
}

fn without(member: &str) -> String {
    let mut c: Value = json(&claims(json!({})));
    c.as_object_mut().unwrap().remove(member);
    c.to_string()
}

#[test]
#[wasm_bindgen_test]
fn a_valid_token_gives_its_claims() {
    let v = with_claims(json!({"email": "a@example.com"}), NOW).unwrap();
    assert_eq!(v.issuer, ISSUER);
    assert_eq!(v.subject.as_deref(), Some("user-1"));
    assert_eq!(v.exp, NOW + 3600);
    assert!(v.roles.is_empty());
    assert_eq!(
        v.claims.get("email").and_then(crate::json::Json::as_str),
        Some("a@example.com")
    );
}

#[test]
#[wasm_bindgen_test]
fn exp_is_required_and_checked_with_skew() {
    assert_eq!(
        verify_claims(&without("exp"), &provider(), NOW),
        Err(Reason::MissingExp)
    );
    for bad in [json!("2000000000"), json!(null), json!([1]), json!(true)] {
        assert_eq!(
            with_claims(json!({ "exp": bad }), NOW),
            Err(Reason::Malformed),
            "{bad}"
        );
    }
    let exp = NOW + 10;
    let at = |now| with_claims(json!({ "exp": exp }), now);
    assert!(at(exp - 1).is_ok());
    assert!(at(exp + 59).is_ok(), "within the 60 s skew");
    assert_eq!(at(exp + 60), Err(Reason::Expired));
    let strict = Provider {
        clock_skew_seconds: 0,
        ..provider()
    };
    let token = claims(json!({ "exp": exp }));
    assert!(verify_claims(&token, &strict, exp - 1).is_ok());
    assert_eq!(
        verify_claims(&token, &strict, exp),
        Err(Reason::Expired),
        "exp itself is too late (RFC 7519)"
    );
    // Fractional and negative NumericDates.
    assert_eq!(
        with_claims(json!({ "exp": (exp as f64) + 0.5 }), exp + 59)
            .unwrap()
            .exp,
        exp
    );
    assert_eq!(with_claims(json!({ "exp": -1 }), NOW), Err(Reason::Expired));
    assert!(with_claims(json!({ "exp": 1e300 }), NOW).is_ok());
}

#[test]
#[wasm_bindgen_test]
fn nbf_and_iat_in_the_future() {
    for member in ["nbf", "iat"] {
        let at = |t: u64| with_claims(json!({ member: t }), NOW);
        assert!(at(NOW).is_ok(), "{member}");
        assert!(at(NOW + 60).is_ok(), "{member} within skew");
        assert_eq!(at(NOW + 61), Err(Reason::NotYetValid), "{member}");
        assert_eq!(
            with_claims(json!({ member: "soon" }), NOW),
            Err(Reason::Malformed),
            "{member}"
        );
    }
    assert!(
        verify_claims(&without("iat"), &provider(), NOW).is_ok(),
        "iat is optional"
    );
}

#[test]
#[wasm_bindgen_test]
fn audiences() {
    let p = Provider {
        audiences: vec!["client-a".into(), "client-b".into()],
        ..provider()
    };
    let check = |extra: Value| verify_claims(&claims(extra), &p, NOW).map(|_| ());
    assert_eq!(check(json!({"aud": "client-b"})), Ok(()));
    assert_eq!(check(json!({"aud": ["x", "client-a"]})), Ok(()));
    assert_eq!(check(json!({"aud": "client-c"})), Err(Reason::BadAudience));
    assert_eq!(check(json!({"aud": []})), Err(Reason::BadAudience));
    assert_eq!(
        check(json!({"aud": ["client-a", 7]})),
        Err(Reason::BadAudience)
    );
    assert_eq!(check(json!({"aud": "CLIENT-A"})), Err(Reason::BadAudience));
    assert_eq!(check(json!({})), Err(Reason::BadAudience));
    // Cognito access tokens: no aud, client_id instead.
    assert_eq!(
        check(json!({"token_use": "access", "client_id": "client-a"})),
        Ok(())
    );
    assert_eq!(
        check(json!({"token_use": "access", "client_id": "other"})),
        Err(Reason::BadAudience)
    );
    assert_eq!(
        check(json!({"token_use": "id", "client_id": "client-a"})),
        Err(Reason::BadAudience)
    );
    // When aud is present it decides, client_id notwithstanding.
    assert_eq!(
        check(json!({"token_use": "access", "aud": "other", "client_id": "client-a"})),
        Err(Reason::BadAudience)
    );
    // Without configured audiences, aud is not checked (as Envoy's jwt_authn).
    assert!(with_claims(json!({"aud": "anything"}), NOW).is_ok());
}

#[test]
#[wasm_bindgen_test]
fn token_use() {
    let p = Provider {
        token_use: vec!["id".into()],
        ..provider()
    };
    let check = |extra: Value| verify_claims(&claims(extra), &p, NOW).map(|_| ());
    assert_eq!(check(json!({"token_use": "id"})), Ok(()));
    assert_eq!(
        check(json!({"token_use": "access"})),
        Err(Reason::BadTokenUse)
    );
    assert_eq!(
        check(json!({"token_use": ["id"]})),
        Err(Reason::BadTokenUse)
    );
    assert_eq!(check(json!({})), Err(Reason::BadTokenUse));
}

#[test]
#[wasm_bindgen_test]
fn issuer_and_subject() {
    // `verify` on its own checks the issuer too (routing normally did).
    assert_eq!(
        with_claims(json!({"iss": "https://other.example"}), NOW),
        Err(Reason::UnknownIssuer)
    );
    assert_eq!(
        verify_claims(&without("iss"), &provider(), NOW),
        Err(Reason::UnknownIssuer)
    );
    assert_eq!(with_claims(json!({"sub": 42}), NOW), Err(Reason::Malformed));
    assert_eq!(
        verify_claims(&without("sub"), &provider(), NOW)
            .unwrap()
            .subject,
        None
    );
}

#[test]
#[wasm_bindgen_test]
fn claim_reasons_come_after_the_signature() {
    // An expired, wrong-audience token with a bad signature says bad_signature.
    let p = Provider {
        audiences: vec!["mine".into()],
        token_use: vec!["id".into()],
        ..provider()
    };
    let bad = claims(json!({"exp": 1, "aud": "theirs", "token_use": "access"}));
    let forged = mint(
        &header("ES256", "ec"),
        &bad,
        &Signer::from_jwk(
            r#"{"kty":"EC","crv":"P-256","x":"04N0xi21hshyvBp7I167sbE_bXqyqkAPfefdklMO7wY","y":"UI8exy-C06a7DUnjIdENkxeFtHM4-l_41LqEw9nVgmw","d":"yy49oPcINGK2ps0LmtxpB6UTEOiITghHBif6wDqmJ3c"}"#,
        ),
    );
    assert_eq!(
        verify(&parse(&forged).unwrap(), &p, &idp_set(), NOW),
        Err(Reason::BadSignature)
    );
    let genuine = mint(&header("ES256", "ec"), &bad, &ec_signer());
    assert_eq!(
        verify(&parse(&genuine).unwrap(), &p, &idp_set(), NOW),
        Err(Reason::Expired)
    );
}

#[test]
#[wasm_bindgen_test]
fn roles_claim_variants() {
    let cases = [
        (
            "groups",
            json!({"groups": ["analysts", "admins"]}),
            vec!["analysts", "admins"],
        ),
        (
            "scope",
            json!({"scope": "read write"}),
            vec!["read", "write"],
        ),
        ("roles", json!({"roles": "a,b"}), vec!["a", "b"]),
        (
            "realm_access.roles",
            json!({"realm_access": {"roles": ["x"]}}),
            vec!["x"],
        ),
        (
            "cognito:groups",
            json!({"cognito:groups": ["beta"]}),
            vec!["beta"],
        ),
        ("groups", json!({}), vec![]),
        ("groups", json!({"groups": 5}), vec![]),
    ];
    for (path, extra, want) in cases {
        let p = Provider {
            roles_claim: roles_claim(path),
            ..provider()
        };
        let v = verify_claims(&claims(extra.clone()), &p, NOW).unwrap();
        assert_eq!(v.roles, want, "{path} {extra}");
    }
}

/// The Cognito ID tokens of the AWS documentation, signed with a test key and
/// checked as the SPEC example provider checks them.
#[test]
#[wasm_bindgen_test]
fn cognito_id_tokens() {
    let cognito = Provider {
        issuer: "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_ExAmPlE".into(),
        audiences: vec!["6o7h8i9jexampleclientid".into()],
        token_use: vec!["id".into()],
        algorithms: vec![crate::jwt::Algorithm::RS256],
        roles_claim: roles_claim("cognito:groups"),
        ..provider()
    };
    // Cognito's header: kid "1234example=", alg RS256.
    let keys = remote_set(&[with(
        public_jwk(RFC7515_A2_JWK),
        "kid",
        json!("1234example="),
    )]);
    let iat = 1_759_345_200;
    for (claims, roles) in [
        (COGNITO_BASELINE, vec![]),
        (COGNITO_GROUPS, vec!["admins", "beta-testers"]),
    ] {
        let token = parse(&mint(COGNITO_HEADER, claims, &rsa_signer())).unwrap();
        assert_eq!(token.kid.as_deref(), Some("1234example="));
        let v = verify(&token, &cognito, &keys, iat + 10).unwrap();
        assert_eq!(
            v.subject.as_deref(),
            Some("a1b2c3d4-5678-90ab-cdef-1234567890ab")
        );
        assert_eq!(v.roles, roles);
        assert_eq!(v.exp, iat + 3600);
        assert_eq!(
            verify(&token, &cognito, &keys, iat + 3600 + 60),
            Err(Reason::Expired)
        );
    }
    // The other documented token is from a us-west-2 pool with another client.
    let token = parse(&mint(COGNITO_HEADER, COGNITO_DEFAULT, &rsa_signer())).unwrap();
    assert_eq!(
        verify(&token, &cognito, &keys, 1_676_312_800),
        Err(Reason::UnknownIssuer)
    );
    let west = Provider {
        issuer: "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_example".into(),
        audiences: vec!["xxxxxxxxxxxxexample".into()],
        ..cognito.clone()
    };
    let v = verify(&token, &west, &keys, 1_676_312_800).unwrap();
    assert_eq!(v.roles, ["test-group-a", "test-group-b", "test-group-c"]);
    let wrong_client = Provider {
        audiences: vec!["6o7h8i9jexampleclientid".into()],
        ..west
    };
    assert_eq!(
        verify(&token, &wrong_client, &keys, 1_676_312_800),
        Err(Reason::BadAudience)
    );
}
