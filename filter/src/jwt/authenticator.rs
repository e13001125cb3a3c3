//! One call for the glue: a found token in, a decision out.
//!
//! The glue's part is only the proxy-wasm side of each [`Outcome`]: pause the
//! request while keys are fetched, answer 401/503, or continue with the claims.

use super::cache::{CachedToken, TokenCache};
use super::extract::{provider_accepts, FoundToken};
use super::jwks::JwkSet;
use super::reason::Reason;
use super::token::{self, UnverifiedToken};
use super::verify::{allowed_algorithm, verify_detailed, VerifiedToken};
use crate::jwt::Provider;
use std::rc::Rc;

/// What the glue knows about one provider's keys right now.
#[derive(Debug, Clone, Copy)]
pub enum KeyState<'a> {
    Ready(&'a JwkSet),
    /// No key set yet, and the request may still wait for the first one.
    Pending,
    /// No key set, and none can be waited for any longer (SPEC: 503 `jwks_unavailable`).
    Unavailable,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Valid. `provider` indexes `Config::providers`.
    Verified {
        provider: usize,
        /// Shared with the token cache: a cache hit hands out the claims
        /// without copying them.
        token: Rc<VerifiedToken>,
    },
    /// 401 `invalid_token` with this reason.
    Rejected(Reason),
    /// The provider's first key set has not arrived: hold the request and call
    /// again when it does (or answer 503 once the wait is over).
    NeedKeys(usize),
    /// 503 `jwks_unavailable`.
    KeysUnavailable(usize),
    /// The token's `kid` is not in the provider's key set. If
    /// `JwksCache::try_kid_refetch` allows a refetch, hold the request and call
    /// again when it completes; otherwise answer `Rejected(UnknownKid)`.
    NeedKidRefetch(usize),
}

/// Authenticates `found` against the providers: parse, route by `iss` (a token
/// found in a header its provider does not list is `unknown_issuer` too), check
/// the algorithm before waiting for any key, then verify with the provider's
/// keys from `keysets(provider index)`. `now` is in seconds since the epoch.
pub fn authenticate<'k>(
    providers: &[Provider],
    keysets: impl Fn(usize) -> KeyState<'k>,
    found: &FoundToken,
    now: u64,
) -> Outcome {
    let token = match token::parse(&found.token) {
        Ok(token) => token,
        Err(reason) => return Outcome::Rejected(reason),
    };
    let (index, provider) = match route(providers, &token, found) {
        Ok(routed) => routed,
        Err(reason) => return Outcome::Rejected(reason),
    };
    // Cheap and final: no key set could make a refused algorithm acceptable,
    // so an `alg: none` token never waits for a fetch.
    if let Err(reason) = allowed_algorithm(&token.alg, &provider.algorithms) {
        return Outcome::Rejected(reason);
    }
    let keys = match keysets(index) {
        KeyState::Ready(keys) => keys,
        KeyState::Pending => return Outcome::NeedKeys(index),
        KeyState::Unavailable => return Outcome::KeysUnavailable(index),
    };
    match verify_detailed(&token, provider, keys, now) {
        Ok(token) => Outcome::Verified {
            provider: index,
            token: Rc::new(token),
        },
        Err(rejection) if rejection.kid_not_found => Outcome::NeedKidRefetch(index),
        Err(rejection) => Outcome::Rejected(rejection.reason),
    }
}

/// [`authenticate`] with the verified-token cache in front: a token verified
/// before, by the same provider with the same key set, and not expired, is
/// accepted without checking its signature again. Only verified tokens are
/// cached; refusals are recomputed (they are cheap or must be, and caching
/// them would let junk tokens evict real ones). The glue should start a new
/// cache when the configuration changes, since entries name providers by index.
pub fn authenticate_with_cache<'k>(
    cache: &mut TokenCache,
    providers: &[Provider],
    keysets: impl Fn(usize) -> KeyState<'k>,
    found: &FoundToken,
    now: u64,
) -> Outcome {
    let key = cache.key_of(&found.token);
    if let Some(hit) = cache.get_key(&key, now) {
        let index = hit.provider;
        if let (Some(provider), KeyState::Ready(keys)) = (providers.get(index), keysets(index)) {
            if keys.fingerprint() == hit.key_set && provider_accepts(provider, &found.source) {
                return Outcome::Verified {
                    provider: index,
                    token: Rc::clone(&hit.token),
                };
            }
        }
    }
    let outcome = authenticate(providers, &keysets, found, now);
    if let Outcome::Verified { provider, token } = &outcome {
        if let KeyState::Ready(keys) = keysets(*provider) {
            let entry = CachedToken {
                provider: *provider,
                key_set: keys.fingerprint(),
                token: Rc::clone(token),
            };
            cache.insert_key(&key, entry, now);
        }
    }
    outcome
}

/// The provider whose `issuer` equals the token's `iss` and that reads tokens
/// from the header this one came from.
fn route<'p>(
    providers: &'p [Provider],
    token: &UnverifiedToken,
    found: &FoundToken,
) -> Result<(usize, &'p Provider), Reason> {
    let iss = token.iss.as_deref().ok_or(Reason::UnknownIssuer)?;
    let (index, provider) = providers
        .iter()
        .enumerate()
        .find(|(_, p)| p.issuer == iss)
        .ok_or(Reason::UnknownIssuer)?;
    if !provider_accepts(provider, &found.source) {
        return Err(Reason::UnknownIssuer);
    }
    Ok((index, provider))
}
