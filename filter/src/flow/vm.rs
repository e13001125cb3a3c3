//! What one VM (one Envoy worker) keeps across requests: the configuration, each
//! provider's keys and the verified-token cache.
//!
//! Each worker fetches a remote JWKS on its own, from its first request on: with
//! W workers the issuer sees W fetches per refresh period and at most W
//! kid-triggered refetches per 30 s.
//! Fetches are dispatched by the root only (see `flow::root`), so a
//! request that goes away cannot take a fetch's answer with it.

use crate::config::Config;
use crate::jwt::{
    self, FetchId, FoundToken, JwksCache, JwksSource, KeyState, KidRefetch, Outcome, RemoteJwks,
    TokenCache,
};
use std::rc::Rc;

enum Keys {
    /// The set parsed with the configuration (`config.providers[i].jwks`).
    Local,
    Remote(Box<RemoteKeys>),
}

struct RemoteKeys {
    remote: RemoteJwks,
    cache: JwksCache,
    /// A kid-triggered fetch the root has yet to dispatch.
    kid_fetch: Option<FetchId>,
}

/// A fetch the root must dispatch: `GET http(s)://authority/path` through `cluster`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    pub provider: usize,
    pub id: FetchId,
    pub cluster: String,
    pub authority: String,
    pub path: String,
    pub timeout_ms: u64,
}

pub struct Vm {
    pub config: Rc<Config>,
    keys: Vec<Keys>,
    tokens: TokenCache,
}

impl Vm {
    pub fn new(config: Rc<Config>) -> Vm {
        let keys = config
            .providers
            .iter()
            .map(|p| match &p.jwks {
                JwksSource::Local(_) => Keys::Local,
                JwksSource::Remote(remote) => Keys::Remote(Box::new(RemoteKeys {
                    cache: JwksCache::for_remote(remote),
                    remote: remote.clone(),
                    kid_fetch: None,
                })),
            })
            .collect();
        Vm {
            config,
            keys,
            tokens: TokenCache::default(),
        }
    }

    /// Authenticates a found token; `waiting_since_ms` is when its request arrived.
    pub fn authenticate(
        &mut self,
        found: &FoundToken,
        now_ms: u64,
        waiting_since_ms: u64,
    ) -> Outcome {
        let keys = &self.keys;
        let providers = &self.config.providers;
        let keysets = |i: usize| match keys.get(i) {
            Some(Keys::Local) => match providers.get(i).map(|p| &p.jwks) {
                Some(JwksSource::Local(set)) => KeyState::Ready(set),
                _ => KeyState::Unavailable,
            },
            Some(Keys::Remote(r)) => r.cache.key_state(now_ms, waiting_since_ms),
            None => KeyState::Unavailable,
        };
        jwt::authenticate_with_cache(
            &mut self.tokens,
            &self.config.providers,
            keysets,
            found,
            now_ms / 1000,
        )
    }

    /// An unknown `kid` may trigger one refetch per provider per 30 s: true if the
    /// request should wait for one (started now or already running).
    pub fn request_kid_refetch(&mut self, provider: usize, now_ms: u64) -> bool {
        let Some(Keys::Remote(r)) = self.keys.get_mut(provider) else {
            return false;
        };
        match r.cache.try_kid_refetch(now_ms) {
            KidRefetch::Start(id) => {
                r.kid_fetch = Some(id);
                true
            }
            KidRefetch::Wait => true,
            KidRefetch::Refused => false,
        }
    }

    /// How long a request may wait for a provider's keys.
    pub fn wait_ms(&self, provider: usize) -> u64 {
        match self.keys.get(provider) {
            Some(Keys::Remote(r)) => {
                u64::try_from(r.remote.timeout.as_millis()).unwrap_or(u64::MAX)
            }
            _ => 0,
        }
    }

    /// `Retry-After` for a 503: the fetch timeout, rounded up to whole seconds.
    pub fn retry_after_secs(&self, provider: usize) -> u64 {
        self.wait_ms(provider).div_ceil(1000).max(1)
    }

    /// Whether the provider has keys to verify with.
    pub fn has_keys(&self, provider: usize) -> bool {
        match self.keys.get(provider) {
            Some(Keys::Local) => true,
            Some(Keys::Remote(r)) => r.cache.keys().is_some(),
            None => false,
        }
    }

    /// The fetches due now (first fetch, retries, refreshes, kid refetches).
    pub fn due_fetches(&mut self, now_ms: u64) -> Vec<Fetch> {
        let mut due = Vec::new();
        for (provider, keys) in self.keys.iter_mut().enumerate() {
            let Keys::Remote(r) = keys else { continue };
            let id = r.kid_fetch.take().or_else(|| r.cache.poll(now_ms));
            if let Some(id) = id {
                due.push(Fetch {
                    provider,
                    id,
                    cluster: r.remote.cluster.clone(),
                    authority: r.remote.authority.clone(),
                    path: r.remote.path.clone(),
                    timeout_ms: u64::try_from(r.remote.timeout.as_millis()).unwrap_or(u64::MAX),
                });
            }
        }
        due
    }

    /// A fetch answered. `Ok(true)` when usable keys arrived (new or the same);
    /// `Err` says why the answer was not usable (the last good keys stay).
    pub fn on_fetch_answer(
        &mut self,
        provider: usize,
        id: FetchId,
        status: Option<u32>,
        body: &[u8],
        now_ms: u64,
    ) -> Result<(), String> {
        let Some(Keys::Remote(r)) = self.keys.get_mut(provider) else {
            return Err("not a remote provider".into());
        };
        match status {
            Some(200) => r
                .cache
                .on_fetch_ok(id, body, now_ms)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            other => {
                r.cache.on_fetch_failed(id, now_ms);
                Err(match other {
                    Some(s) => format!("the JWKS endpoint answered HTTP {s}"),
                    None => "the JWKS endpoint did not answer".to_owned(),
                })
            }
        }
    }

    /// A fetch could not even be dispatched (unknown cluster, ...).
    pub fn on_fetch_not_sent(&mut self, provider: usize, id: FetchId, now_ms: u64) {
        if let Some(Keys::Remote(r)) = self.keys.get_mut(provider) {
            r.cache.on_fetch_failed(id, now_ms);
        }
    }
}
