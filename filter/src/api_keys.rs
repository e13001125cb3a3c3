//! SPEC "API keys": the usage-plan identity of a caller that holds a key instead
//! of a token. The configuration holds only SHA-256 hashes of the keys; a key
//! found stands for its `subject` and `roles`, shown to the rest of the filter as
//! the claims of a verified token (`iss` `api-key`, `sub`, the roles claim).

use crate::config::{ApiKeysConfig, API_KEY_ISSUER};
use crate::json::Json;
use crate::jwt::ClaimPath;
use crate::jwt::VerifiedToken;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The caller a key stands for, or `None` for an unknown key. `roles_claims`
/// are the providers' `roles_claim` paths: the roles are written under each, so
/// `claims_to_headers` and `claim:` descriptors see them where a token has them.
pub fn identify(
    config: &ApiKeysConfig,
    key: &str,
    roles_claims: &[&ClaimPath],
) -> Option<VerifiedToken> {
    let hash: [u8; 32] = Sha256::digest(key.as_bytes()).into();
    // Every entry is compared, in constant time each, so the time taken says
    // nothing about how close a guess came. `subtle`, not a hand-written XOR
    // fold: built with simd128, LLVM turned that fold into a 32-byte vector
    // compare whose two halves it combined wrongly (`16 << (mask_lo + 16)`
    // where `mask_lo << 16` was meant), so a known key never matched in Envoy.
    // The real-Envoy test `rate_limits::an_api_key_is_the_caller...` caught it.
    let found = config
        .keys
        .iter()
        .filter(|(h, _)| bool::from(h.ct_eq(&hash)))
        .map(|(_, k)| k)
        .next_back()?;
    let roles = Json::Array(found.roles.iter().cloned().map(Json::String).collect());
    let mut claims = vec![
        ("iss".to_owned(), Json::String(API_KEY_ISSUER.to_owned())),
        ("sub".to_owned(), Json::String(found.subject.clone())),
    ];
    for path in roles_claims {
        insert(&mut claims, &path.segments, roles.clone());
    }
    Some(VerifiedToken {
        claims: Json::Object(claims),
        issuer: API_KEY_ISSUER.to_owned(),
        subject: Some(found.subject.clone()),
        exp: u64::MAX,
        roles: found.roles.clone(),
    })
}

/// Writes `value` at `path` (objects created on the way), unless a member is there.
fn insert(members: &mut Vec<(String, Json)>, path: &[String], value: Json) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        if !members.iter().any(|(k, _)| k == first) {
            members.push((first.clone(), value));
        }
        return;
    }
    if !members.iter().any(|(k, _)| k == first) {
        members.push((first.clone(), Json::Object(Vec::new())));
    }
    if let Some((_, Json::Object(inner))) = members.iter_mut().find(|(k, _)| k == first) {
        insert(inner, rest, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ApiKey;
    use crate::jwt::claims;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn config() -> ApiKeysConfig {
        ApiKeysConfig {
            header: "x-api-key".into(),
            keys: vec![(
                Sha256::digest(b"k-partner-a").into(),
                ApiKey {
                    subject: "partner-a".into(),
                    roles: vec!["analysts".into()],
                },
            )],
        }
    }

    #[test]
    #[wasm_bindgen_test]
    fn a_known_key_is_its_subject_with_roles_under_every_roles_claim() {
        let groups = ClaimPath::parse("cognito:groups").unwrap();
        let nested = ClaimPath::parse("realm.roles").unwrap();
        let t = identify(&config(), "k-partner-a", &[&groups, &nested]).unwrap();
        assert_eq!(t.subject.as_deref(), Some("partner-a"));
        assert_eq!(t.issuer, "api-key");
        assert_eq!(t.roles, ["analysts"]);
        assert_eq!(t.claims.get("iss").and_then(Json::as_str), Some("api-key"));
        assert_eq!(claims::roles(&t.claims, &groups), ["analysts"]);
        assert_eq!(claims::roles(&t.claims, &nested), ["analysts"]);
    }

    #[test]
    #[wasm_bindgen_test]
    fn an_unknown_key_is_nobody() {
        assert!(identify(&config(), "k-partner-b", &[]).is_none());
        assert!(identify(&config(), "", &[]).is_none());
    }
}
