//! The glue's entry points: extraction, routing, key states, refetch and cache.

use super::support::*;
use crate::jwt::{
    authenticate, authenticate_with_cache, extract, FoundToken, JwkSet, KeyState, Outcome, Reason,
    TokenCache, TokenSource,
};
use crate::jwt::{HeaderSource, Provider};
use serde_json::json;
use wasm_bindgen_test::wasm_bindgen_test;

const OTHER_ISSUER: &str = "https://other.example";

/// Two providers: [`ISSUER`] from `Authorization: Bearer`, and another issuer
/// from `x-jwt` only.
fn providers() -> Vec<Provider> {
    vec![
        provider(),
        Provider {
            name: "other".into(),
            issuer: OTHER_ISSUER.into(),
            from_headers: vec![HeaderSource {
                name: "x-jwt".into(),
                value_prefix: String::new(),
            }],
            ..provider()
        },
    ]
}

fn bearer(token: &str) -> FoundToken {
    FoundToken {
        token: token.into(),
        source: TokenSource::Header(provider().from_headers[0].clone()),
    }
}

fn x_jwt(token: &str) -> FoundToken {
    FoundToken {
        token: token.into(),
        source: TokenSource::Header(HeaderSource {
            name: "x-jwt".into(),
            value_prefix: String::new(),
        }),
    }
}

fn good_token() -> String {
    mint(&header("RS256", "rsa"), &claims(json!({})), &rsa_signer())
}

#[test]
#[wasm_bindgen_test]
fn from_header_to_verified_claims() {
    let providers = providers();
    let token = good_token();
    let value = format!("Bearer {token}");
    let found = extract(&providers, |name| {
        (name == "authorization").then(|| value.clone())
    })
    .unwrap();
    let keys = idp_set();
    match authenticate(&providers, |_| KeyState::Ready(&keys), &found, NOW) {
        Outcome::Verified { provider, token } => {
            assert_eq!(provider, 0);
            assert_eq!(token.subject.as_deref(), Some("user-1"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
#[wasm_bindgen_test]
fn routes_by_issuer_and_header() {
    let providers = providers();
    let keys = idp_set();
    let ready = |_| KeyState::Ready(&keys);
    let other = mint(
        &header("ES256", "ec"),
        &claims(json!({"iss": OTHER_ISSUER})),
        &ec_signer(),
    );
    assert!(matches!(
        authenticate(&providers, ready, &x_jwt(&other), NOW),
        Outcome::Verified { provider: 1, .. }
    ));
    // The right issuer in a header its provider does not read.
    assert_eq!(
        authenticate(&providers, ready, &bearer(&other), NOW),
        Outcome::Rejected(Reason::UnknownIssuer)
    );
    assert_eq!(
        authenticate(&providers, ready, &x_jwt(&good_token()), NOW),
        Outcome::Rejected(Reason::UnknownIssuer)
    );
    // Unknown or missing issuer.
    let stranger = mint(
        &header("RS256", "rsa"),
        &claims(json!({"iss": "https://stranger.example"})),
        &rsa_signer(),
    );
    assert_eq!(
        authenticate(&providers, ready, &bearer(&stranger), NOW),
        Outcome::Rejected(Reason::UnknownIssuer)
    );
    let mut no_iss: serde_json::Value = json(&claims(json!({})));
    no_iss.as_object_mut().unwrap().remove("iss");
    let anonymous = mint(&header("RS256", "rsa"), &no_iss.to_string(), &rsa_signer());
    assert_eq!(
        authenticate(&providers, ready, &bearer(&anonymous), NOW),
        Outcome::Rejected(Reason::UnknownIssuer)
    );
    assert_eq!(
        authenticate(&providers, ready, &bearer("not-a-token"), NOW),
        Outcome::Rejected(Reason::Malformed)
    );
}

#[test]
#[wasm_bindgen_test]
fn key_states() {
    let providers = providers();
    let token = bearer(&good_token());
    assert_eq!(
        authenticate(&providers, |_| KeyState::Pending, &token, NOW),
        Outcome::NeedKeys(0)
    );
    assert_eq!(
        authenticate(&providers, |_| KeyState::Unavailable, &token, NOW),
        Outcome::KeysUnavailable(0)
    );
    // A refused algorithm is refused at once, without waiting for keys.
    let none = format!(
        "{}.{}.",
        crate::jwt::base64url::encode(br#"{"alg":"none"}"#),
        crate::jwt::base64url::encode(claims(json!({})).as_bytes())
    );
    assert_eq!(
        authenticate(&providers, |_| KeyState::Pending, &bearer(&none), NOW),
        Outcome::Rejected(Reason::AlgNotAllowed)
    );
    // So is a malformed or unroutable token.
    assert_eq!(
        authenticate(&providers, |_| KeyState::Pending, &bearer("a.b"), NOW),
        Outcome::Rejected(Reason::Malformed)
    );
}

#[test]
#[wasm_bindgen_test]
fn unknown_kid_asks_for_a_refetch_only_when_it_could_help() {
    let providers = providers();
    let keys = idp_set();
    let ready = |_| KeyState::Ready(&keys);
    let rotated = mint(
        &header("RS256", "rsa-2"),
        &claims(json!({})),
        &rsa2_signer(),
    );
    assert_eq!(
        authenticate(&providers, ready, &bearer(&rotated), NOW),
        Outcome::NeedKidRefetch(0)
    );
    // After the refetch brings the key, the same token verifies.
    let refreshed = remote_set(&[rsa_public(), rsa2_public()]);
    assert!(matches!(
        authenticate(
            &providers,
            |_| KeyState::Ready(&refreshed),
            &bearer(&rotated),
            NOW
        ),
        Outcome::Verified { provider: 0, .. }
    ));
    // A known kid with a key of the wrong type: no refetch.
    let confused = mint(&header("RS256", "ec"), &claims(json!({})), &rsa_signer());
    assert_eq!(
        authenticate(&providers, ready, &bearer(&confused), NOW),
        Outcome::Rejected(Reason::UnknownKid)
    );
    // No kid at all and no fitting key: nothing to refetch for.
    let kidless_hs = mint(
        &json!({"alg": "HS256"}).to_string(),
        &claims(json!({})),
        &Signer::Hmac(vec![1; 32]),
    );
    assert_eq!(
        authenticate(&providers, ready, &bearer(&kidless_hs), NOW),
        Outcome::Rejected(Reason::UnknownKid)
    );
}

#[test]
#[wasm_bindgen_test]
fn the_cache_skips_verification_while_the_keys_stay() {
    let providers = providers();
    let keys = idp_set();
    let token = bearer(&good_token());
    let mut cache = TokenCache::new(16);
    let first = authenticate_with_cache(
        &mut cache,
        &providers,
        |_| KeyState::Ready(&keys),
        &token,
        NOW,
    );
    assert!(matches!(first, Outcome::Verified { provider: 0, .. }));
    assert_eq!(cache.len(), 1);
    // The same keys, parsed again (as after a refresh that changed nothing): a
    // hit. Proven by the set's fingerprint being all that is compared.
    let same = idp_set();
    assert_eq!(same.fingerprint(), keys.fingerprint());
    let hit = authenticate_with_cache(
        &mut cache,
        &providers,
        |_| KeyState::Ready(&same),
        &token,
        NOW + 1,
    );
    assert_eq!(hit, first);
    // Keys rotated away: the cached entry no longer counts; the token is checked again.
    let rotated = remote_set(&[rsa2_public()]);
    assert_ne!(rotated.fingerprint(), keys.fingerprint());
    let again = authenticate_with_cache(
        &mut cache,
        &providers,
        |_| KeyState::Ready(&rotated),
        &token,
        NOW + 2,
    );
    assert_eq!(again, Outcome::NeedKidRefetch(0));
    // Expired tokens leave the cache.
    let late = NOW + 3600;
    let expired = authenticate_with_cache(
        &mut cache,
        &providers,
        |_| KeyState::Ready(&keys),
        &token,
        late + 60,
    );
    assert_eq!(expired, Outcome::Rejected(Reason::Expired));
    // A hit still requires the header the provider reads.
    let mut cache = TokenCache::new(16);
    authenticate_with_cache(
        &mut cache,
        &providers,
        |_| KeyState::Ready(&keys),
        &token,
        NOW,
    );
    let elsewhere = x_jwt(&token.token);
    let outcome = authenticate_with_cache(
        &mut cache,
        &providers,
        |_| KeyState::Ready(&keys),
        &elsewhere,
        NOW,
    );
    assert_eq!(outcome, Outcome::Rejected(Reason::UnknownIssuer));
}

#[test]
#[wasm_bindgen_test]
fn refusals_are_not_cached() {
    let providers = providers();
    let keys = idp_set();
    let mut cache = TokenCache::new(16);
    let forged = mint(&header("RS256", "rsa"), &claims(json!({})), &rsa2_signer());
    let outcome = authenticate_with_cache(
        &mut cache,
        &providers,
        |_| KeyState::Ready(&keys),
        &bearer(&forged),
        NOW,
    );
    assert_eq!(outcome, Outcome::Rejected(Reason::BadSignature));
    assert!(cache.is_empty());
    let pending = authenticate_with_cache(
        &mut cache,
        &providers,
        |_| KeyState::Pending,
        &bearer(&good_token()),
        NOW,
    );
    assert_eq!(pending, Outcome::NeedKeys(0));
    assert!(cache.is_empty());
}

#[test]
#[wasm_bindgen_test]
fn provider_key_sets_are_kept_apart() {
    // A token of provider 1, signed with a key only provider 0 has.
    let providers = providers();
    let first: JwkSet = idp_set();
    let second = remote_set(&[rsa2_public()]);
    let keysets = |i: usize| KeyState::Ready(if i == 0 { &first } else { &second });
    let token = mint(
        &header("ES256", "ec"),
        &claims(json!({"iss": OTHER_ISSUER})),
        &ec_signer(),
    );
    assert_eq!(
        authenticate(&providers, keysets, &x_jwt(&token), NOW),
        Outcome::NeedKidRefetch(1)
    );
}
