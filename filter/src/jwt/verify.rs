//! Deciding whether a parsed token is valid for its provider, at a given time.
//!
//! Order of checks: algorithm allowlist, key selection, signature, then the
//! claims (`iss`, `sub` type, `exp`, `nbf`, `iat`, `aud`, `token_use`). Claims
//! are read only once the signature verified: a forged token is `bad_signature`
//! (or an earlier reason), never `expired` or `bad_audience`, so it cannot be
//! used to probe which claims would pass.

use super::claims::{numeric_date, roles, string_or_strings};
use super::jwks::{JwkSet, KeyLookup};
use super::reason::Reason;
use super::token::{Jws, UnverifiedToken};
use crate::json::Json;
use crate::jwt::{Algorithm, Provider};

/// A token whose signature and claims were checked.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedToken {
    pub claims: Json,
    pub issuer: String,
    /// `sub`, when the token has one (always a string: another type is refused).
    pub subject: Option<String>,
    /// `exp` in seconds since the epoch (fractions dropped).
    pub exp: u64,
    /// From the provider's `roles_claim`; empty without one.
    pub roles: Vec<String>,
}

/// A refusal, and whether it is an unknown `kid` that a refetch of the key set
/// might resolve (key rotation). A `kid` that is known but whose keys do not fit
/// the token's algorithm is `unknown_kid` too, but no refetch would change it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    pub reason: Reason,
    pub kid_not_found: bool,
}

impl From<Reason> for Rejection {
    fn from(reason: Reason) -> Rejection {
        Rejection {
            reason,
            kid_not_found: false,
        }
    }
}

/// Verifies `token` for `provider` with `keys` at `now` (seconds since the epoch,
/// from the proxy's clock). See the module documentation for the order.
pub fn verify(
    token: &UnverifiedToken,
    provider: &Provider,
    keys: &JwkSet,
    now: u64,
) -> Result<VerifiedToken, Reason> {
    verify_detailed(token, provider, keys, now).map_err(|r| r.reason)
}

/// [`verify`], telling an unknown `kid` apart (for the refetch decision).
pub fn verify_detailed(
    token: &UnverifiedToken,
    provider: &Provider,
    keys: &JwkSet,
    now: u64,
) -> Result<VerifiedToken, Rejection> {
    let alg = allowed_algorithm(&token.alg, &provider.algorithms)?;
    check_signature(
        alg,
        token.kid.as_deref(),
        token.signing_input.as_bytes(),
        &token.signature,
        keys,
    )?;
    Ok(check_claims(&token.claims, provider, now)?)
}

/// The signature check alone, for a JWS whose payload need not be JWT claims.
pub fn verify_jws_signature(
    jws: &Jws,
    algorithms: &[Algorithm],
    keys: &JwkSet,
) -> Result<Algorithm, Rejection> {
    let alg = allowed_algorithm(&jws.alg, algorithms)?;
    check_signature(
        alg,
        jws.kid.as_deref(),
        jws.signing_input.as_bytes(),
        &jws.signature,
        keys,
    )?;
    Ok(alg)
}

/// The token's `alg` if the provider accepts it. Names compare case-sensitively
/// (RFC 7515 §4.1.1); `none` in any casing is never an [`Algorithm`], and
/// algorithms toolguard does not implement (ES384, ES512, HS384, ...) are not either.
pub fn allowed_algorithm(name: &str, allowed: &[Algorithm]) -> Result<Algorithm, Reason> {
    Algorithm::from_name(name)
        .filter(|alg| allowed.contains(alg))
        .ok_or(Reason::AlgNotAllowed)
}

/// Checks the signature with the keys [`JwkSet::lookup`] selects; any one
/// verifying is enough.
pub fn check_signature(
    alg: Algorithm,
    kid: Option<&str>,
    signing_input: &[u8],
    signature: &[u8],
    keys: &JwkSet,
) -> Result<(), Rejection> {
    match keys.lookup(kid, alg) {
        KeyLookup::KidNotFound => Err(Rejection {
            reason: Reason::UnknownKid,
            kid_not_found: true,
        }),
        KeyLookup::NoKeyForAlg => Err(Reason::UnknownKid.into()),
        KeyLookup::Candidates(candidates) => {
            if candidates
                .iter()
                .any(|k| k.key.verifies(alg, signing_input, signature))
            {
                Ok(())
            } else {
                Err(Reason::BadSignature.into())
            }
        }
    }
}

/// The claim checks, on claims whose signature verified.
pub fn check_claims(claims: &Json, provider: &Provider, now: u64) -> Result<VerifiedToken, Reason> {
    // Routing already chose the provider by `iss`; checked again so `verify`
    // is safe to call on its own.
    let issuer = match claims.get("iss") {
        Some(Json::String(iss)) if *iss == provider.issuer => iss.clone(),
        _ => return Err(Reason::UnknownIssuer),
    };
    let subject = match claims.get("sub") {
        None => None,
        Some(Json::String(sub)) => Some(sub.clone()),
        Some(_) => return Err(Reason::Malformed),
    };
    let skew = provider.clock_skew_seconds;
    let exp =
        numeric_date(claims.get("exp").ok_or(Reason::MissingExp)?).ok_or(Reason::Malformed)?;
    // RFC 7519 §4.1.4: valid only before `exp`; the skew extends that.
    if now >= exp.saturating_add(skew) {
        return Err(Reason::Expired);
    }
    // `nbf` (RFC 7519 §4.1.5) and `iat` are both "not before" times: a token
    // issued in the future beyond the skew comes from a wrong clock or a forger
    // who holds a key, and is not accepted before its time either.
    for name in ["nbf", "iat"] {
        if let Some(value) = claims.get(name) {
            let not_before = numeric_date(value).ok_or(Reason::Malformed)?;
            if not_before > now.saturating_add(skew) {
                return Err(Reason::NotYetValid);
            }
        }
    }
    if !provider.audiences.is_empty() && !audience_matches(claims, &provider.audiences) {
        return Err(Reason::BadAudience);
    }
    if !provider.token_use.is_empty() {
        let token_use = claims.get("token_use").and_then(Json::as_str);
        if !token_use.is_some_and(|u| provider.token_use.iter().any(|allowed| allowed == u)) {
            return Err(Reason::BadTokenUse);
        }
    }
    let roles = provider
        .roles_claim
        .as_ref()
        .map(|path| roles(claims, path))
        .unwrap_or_default();
    Ok(VerifiedToken {
        claims: claims.clone(),
        issuer,
        subject,
        exp,
        roles,
    })
}

/// `aud` (a string or an array of strings) names one of `audiences`. Cognito
/// access tokens carry no `aud`: for those (`token_use` `access`) the app client
/// id in `client_id` is checked instead, as AWS documents.
fn audience_matches(claims: &Json, audiences: &[String]) -> bool {
    let known = |name: &str| audiences.iter().any(|a| a == name);
    match claims.get("aud") {
        Some(aud) => string_or_strings(aud).is_some_and(|names| names.into_iter().any(known)),
        None => {
            claims.get("token_use").and_then(Json::as_str) == Some("access")
                && claims
                    .get("client_id")
                    .and_then(Json::as_str)
                    .is_some_and(known)
        }
    }
}
