//! Verified tokens remembered per VM, so a client sending the same token on
//! every request pays for one signature check, not one per request.
//!
//! Keyed by a keyed 128-bit hash of the token ([`TokenKey`]; the token itself
//! is never stored). An entry
//! holds the provider and the fingerprint of the key set that verified it; it
//! is used only while the token has not expired and that provider still has
//! that key set, so a key removed from the JWKS stops its tokens at once.
//! Bounded: an expired entry, else the least recently used one, makes room
//! for a new one.

use super::verify::VerifiedToken;
use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{BuildHasher, Hasher};
use std::rc::Rc;

/// Entries per VM when the glue does not choose: a few MB at most (claims are
/// small), and enough for the active users of one worker.
pub const DEFAULT_CAPACITY: usize = 1024;

/// What a cache hit gives back.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedToken {
    /// Index of the provider (in `Config::providers`) that verified the token.
    pub provider: usize,
    /// [`super::JwkSet::fingerprint`] of the key set that verified it.
    pub key_set: u64,
    pub token: Rc<VerifiedToken>,
}

#[derive(Debug)]
struct Entry {
    cached: CachedToken,
    last_used: u64,
}

/// Two orders beside the entries, so that making room is a lookup, not a scan
/// of every entry: a never-seen token on a full cache pays O(log n), as it does
/// in `jwt_authn`'s LRU cache.
#[derive(Debug)]
pub struct TokenCache {
    capacity: usize,
    entries: BTreeMap<u128, Entry>,
    /// `(last_used, key)` of every entry: the first is the least recently used.
    by_use: BTreeSet<(u64, u128)>,
    /// `(exp, key)` of every entry: the first expires soonest.
    by_exp: BTreeSet<(u64, u128)>,
    /// Counts uses; orders entries for LRU eviction without touching the clock.
    uses: u64,
    /// The secret key of [`TokenCache::key_of`], drawn once per cache.
    hasher: RandomState,
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache::new(DEFAULT_CAPACITY)
    }
}

impl TokenCache {
    /// A cache of at most `capacity` tokens; 0 turns caching off.
    pub fn new(capacity: usize) -> TokenCache {
        TokenCache {
            capacity,
            entries: BTreeMap::new(),
            by_use: BTreeSet::new(),
            by_exp: BTreeSet::new(),
            uses: 0,
            hasher: RandomState::new(),
        }
    }

    /// The cache key of `token`: 128 bits of SipHash (std's keyed hash, two
    /// domain-separated 64-bit outputs) under this cache's random key.
    ///
    /// Why this is as safe as the SHA-256 it replaces (and about a tenth of the
    /// cost: SHA-256 of a token was half of a cached request's instructions): a
    /// hit hands out another token's claims only if two tokens share a key. The
    /// key is drawn from the proxy's randomness (WASI `random_get`) and never
    /// leaves the VM, so a client cannot compute keys offline; each token it
    /// sends matches one of the at most `capacity` entries with probability
    /// about `capacity / 2^128`, which no request rate makes reachable. The
    /// token still is never stored, and a memory dump shows keyed hashes that,
    /// like SHA-256 digests of tokens, give no token back.
    pub fn key_of(&self, token: &str) -> TokenKey {
        let half = |domain: u8| {
            let mut h = self.hasher.build_hasher();
            h.write_u8(domain);
            h.write(token.as_bytes());
            h.finish()
        };
        TokenKey((u128::from(half(1)) << 64) | u128::from(half(2)))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// [`Self::get_key`] by the token itself, for tests.
    #[cfg(test)]
    pub fn get(&mut self, token: &str, now: u64) -> Option<&CachedToken> {
        self.get_key(&self.key_of(token), now)
    }

    /// The entry for the token of `key` if it has not expired at `now`
    /// (seconds). An expired entry is dropped. The caller checks `key_set`
    /// against the provider's current keys (see `authenticate_with_cache`).
    /// Taking the key, not the token, lets a miss and the insert after it
    /// hash the token once.
    pub fn get_key(&mut self, key: &TokenKey, now: u64) -> Option<&CachedToken> {
        let key = key.0;
        let (exp, last_used) = self
            .entries
            .get(&key)
            .map(|e| (e.cached.token.exp, e.last_used))?;
        if now >= exp {
            self.remove(key);
            return None;
        }
        self.uses += 1;
        let uses = self.uses;
        self.by_use.remove(&(last_used, key));
        self.by_use.insert((uses, key));
        let entry = self.entries.get_mut(&key)?;
        entry.last_used = uses;
        Some(&entry.cached)
    }

    /// [`Self::insert_key`] by the token itself, for tests.
    #[cfg(test)]
    pub fn insert(&mut self, token: &str, cached: CachedToken, now: u64) {
        self.insert_key(&self.key_of(token), cached, now);
    }

    /// Remembers a verified token until its `exp`. Tokens already expired at
    /// `now` are not stored. When full, an expired entry goes first, else the
    /// least recently used one.
    pub fn insert_key(&mut self, key: &TokenKey, cached: CachedToken, now: u64) {
        if self.capacity == 0 || now >= cached.token.exp {
            return;
        }
        let key = key.0;
        self.remove(key);
        if self.entries.len() >= self.capacity {
            let expired = self
                .by_exp
                .first()
                .filter(|(exp, _)| now >= *exp)
                .map(|(_, k)| *k);
            if let Some(victim) = expired.or_else(|| self.by_use.first().map(|(_, k)| *k)) {
                self.remove(victim);
            }
        }
        self.uses += 1;
        self.by_use.insert((self.uses, key));
        self.by_exp.insert((cached.token.exp, key));
        self.entries.insert(
            key,
            Entry {
                cached,
                last_used: self.uses,
            },
        );
    }

    fn remove(&mut self, key: u128) {
        if let Some(e) = self.entries.remove(&key) {
            self.by_use.remove(&(e.last_used, key));
            self.by_exp.remove(&(e.cached.token.exp, key));
        }
    }

    /// Drops every entry of `provider` (e.g. on reconfiguration).
    pub fn forget_provider(&mut self, provider: usize) {
        let keys: Vec<u128> = self
            .entries
            .iter()
            .filter(|(_, e)| e.cached.provider == provider)
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            self.remove(key);
        }
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.by_use.clear();
        self.by_exp.clear();
    }
}

/// A token's cache key ([`TokenCache::key_of`]), so the token itself is never stored.
pub struct TokenKey(u128);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::Json;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn cached(sub: &str, exp: u64) -> CachedToken {
        CachedToken {
            provider: 0,
            key_set: 42,
            token: Rc::new(VerifiedToken {
                claims: Json::Object(vec![]),
                issuer: "i".into(),
                subject: Some(sub.into()),
                exp,
                roles: vec![],
            }),
        }
    }

    fn sub_of(cache: &mut TokenCache, token: &str, now: u64) -> Option<String> {
        cache.get(token, now).and_then(|c| c.token.subject.clone())
    }

    #[test]
    #[wasm_bindgen_test]
    fn keys_differ_per_token_and_per_cache() {
        let (a, b) = (TokenCache::new(4), TokenCache::new(4));
        assert_eq!(a.key_of("t1").0, a.key_of("t1").0);
        assert_ne!(a.key_of("t1").0, a.key_of("t2").0);
        assert_ne!(
            a.key_of("t1").0 >> 64,
            a.key_of("t1").0 & u128::from(u64::MAX)
        );
        // Each cache draws its own key: nothing computed elsewhere matches.
        assert_ne!(a.key_of("t1").0, b.key_of("t1").0);
    }

    #[test]
    #[wasm_bindgen_test]
    fn hits_until_exp() {
        let mut cache = TokenCache::new(4);
        cache.insert("t1", cached("a", 1000), 100);
        assert_eq!(sub_of(&mut cache, "t1", 999).as_deref(), Some("a"));
        assert_eq!(sub_of(&mut cache, "t2", 999), None);
        assert_eq!(sub_of(&mut cache, "t1", 1000), None);
        assert!(cache.is_empty(), "the expired entry is dropped");
    }

    #[test]
    #[wasm_bindgen_test]
    fn expired_tokens_are_not_stored() {
        let mut cache = TokenCache::new(4);
        cache.insert("t", cached("a", 100), 100);
        assert!(cache.is_empty());
    }

    #[test]
    #[wasm_bindgen_test]
    fn evicts_expired_then_least_recently_used() {
        let mut cache = TokenCache::new(3);
        cache.insert("a", cached("a", 1000), 0);
        cache.insert("b", cached("b", 1000), 0);
        cache.insert("c", cached("c", 1000), 0);
        assert!(cache.get("a", 1).is_some()); // b is now the least recently used
        cache.insert("d", cached("d", 1000), 1);
        assert_eq!(cache.len(), 3);
        assert!(cache.get("b", 1).is_none());
        assert!(
            cache.get("a", 1).is_some()
                && cache.get("c", 1).is_some()
                && cache.get("d", 1).is_some()
        );

        // An expired entry goes before any live one, however recently used.
        let mut cache = TokenCache::new(2);
        cache.insert("short", cached("short", 10), 0);
        cache.insert("long", cached("long", 1000), 0);
        assert!(cache.get("short", 9).is_some());
        cache.insert("new", cached("new", 1000), 20);
        assert!(cache.get("long", 20).is_some() && cache.get("new", 20).is_some());
    }

    #[test]
    #[wasm_bindgen_test]
    fn a_full_cache_makes_room_one_entry_at_a_time_and_its_orders_stay_in_step() {
        let mut cache = TokenCache::new(8);
        for i in 0..200u64 {
            // Every third token expires soon after it arrives.
            let exp = if i % 3 == 0 { i + 5 } else { 10_000 };
            cache.insert(&format!("t{i}"), cached(&format!("s{i}"), exp), i);
            if i % 4 == 0 {
                let _ = cache.get(&format!("t{}", i / 2), i);
            }
            assert_eq!(cache.len(), cache.by_use.len(), "at {i}");
            assert_eq!(cache.len(), cache.by_exp.len(), "at {i}");
            assert!(cache.len() <= 8, "at {i}");
            assert_eq!(
                sub_of(&mut cache, &format!("t{i}"), i),
                Some(format!("s{i}"))
            );
        }
        assert_eq!(cache.len(), 8);
        cache.forget_provider(0);
        assert!(cache.is_empty() && cache.by_use.is_empty() && cache.by_exp.is_empty());
    }

    #[test]
    #[wasm_bindgen_test]
    fn replacing_an_entry_does_not_evict() {
        let mut cache = TokenCache::new(2);
        cache.insert("a", cached("a", 1000), 0);
        cache.insert("b", cached("b", 1000), 0);
        cache.insert("a", cached("a2", 1000), 0);
        assert_eq!(cache.len(), 2);
        assert_eq!(sub_of(&mut cache, "a", 0).as_deref(), Some("a2"));
        assert!(cache.get("b", 0).is_some());
    }

    #[test]
    #[wasm_bindgen_test]
    fn capacity_zero_disables_and_forget_provider_drops() {
        let mut off = TokenCache::new(0);
        off.insert("a", cached("a", 1000), 0);
        assert!(off.is_empty());
        let mut cache = TokenCache::default();
        cache.insert("a", cached("a", 1000), 0);
        let mut other = cached("b", 1000);
        other.provider = 1;
        cache.insert("b", other, 0);
        cache.forget_provider(0);
        assert!(cache.get("a", 0).is_none() && cache.get("b", 0).is_some());
        cache.clear();
        assert!(cache.is_empty());
    }
}
