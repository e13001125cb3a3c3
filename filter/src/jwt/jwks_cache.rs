//! The life of one provider's remote JWKS, as a state machine with the time
//! passed in (milliseconds, from the proxy's clock). The glue does the HTTP
//! calls and reports back; this decides when to fetch and which keys hold.
//!
//! - First fetch: requests wait for it, each up to the `http_uri` timeout from
//!   its arrival; then they get 503 (SPEC).
//! - Refresh: once 80% of `cache_duration` has passed since the last good
//!   fetch, in the background; requests keep using the current keys.
//! - A failed or unusable fetch keeps the last good keys, however old (SPEC),
//!   and is retried with backoff: 1 s, 2 s, 4 s ... at most 30 s apart.
//! - Unknown `kid`: one refetch per provider (per VM) per 30 s at most;
//!   scheduled refreshes do not count toward that.
//! - A fetch with no answer after the timeout plus a second is given up
//!   (counted as failed), so a lost callback cannot stall the provider.
//!
//! The glue calls [`JwksCache::poll`] on a tick and whenever a request needs
//! keys; when it returns a [`FetchId`], the glue dispatches the fetch and later
//! reports [`JwksCache::on_fetch_ok`] or [`JwksCache::on_fetch_failed`] with it.

use super::authenticator::KeyState;
use super::jwks::{JwkSet, JwksError, MAX_JWKS_BYTES};
use crate::jwt::RemoteJwks;
use std::time::Duration;

/// SPEC: kid-triggered refetches at most once per provider per 30 s.
pub const KID_REFETCH_INTERVAL_MS: u64 = 30_000;
/// Refresh once this share of `cache_duration` (in percent) has passed.
pub const REFRESH_AT_PERCENT: u64 = 80;
const FIRST_RETRY_MS: u64 = 1_000;
const MAX_RETRY_MS: u64 = 30_000;
/// How long past its timeout a fetch may stay unanswered before it is given up.
const LOST_CALLBACK_GRACE_MS: u64 = 1_000;

/// Names one fetch, so a late answer to an abandoned fetch is recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchId(u64);

/// The answer to an unknown `kid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KidRefetch {
    /// Dispatch this fetch and hold the request until it completes.
    Start(FetchId),
    /// A fetch is already running: hold the request until it completes.
    Wait,
    /// Refetched less than 30 s ago: the `kid` is unknown (`unknown_kid`).
    Refused,
}

#[derive(Debug)]
struct Held {
    set: JwkSet,
    fetched_at_ms: u64,
}

#[derive(Debug, Clone, Copy)]
struct InFlight {
    id: FetchId,
    since_ms: u64,
}

#[derive(Debug)]
pub struct JwksCache {
    cache_duration_ms: u64,
    timeout_ms: u64,
    held: Option<Held>,
    in_flight: Option<InFlight>,
    next_id: u64,
    failures_in_row: u32,
    retry_not_before_ms: u64,
    last_kid_refetch_ms: Option<u64>,
    fetches_ok: u64,
    fetches_failed: u64,
}

impl JwksCache {
    pub fn new(cache_duration: Duration, timeout: Duration) -> JwksCache {
        JwksCache {
            cache_duration_ms: millis(cache_duration),
            timeout_ms: millis(timeout),
            held: None,
            in_flight: None,
            next_id: 0,
            failures_in_row: 0,
            retry_not_before_ms: 0,
            last_kid_refetch_ms: None,
            fetches_ok: 0,
            fetches_failed: 0,
        }
    }

    pub fn for_remote(remote: &RemoteJwks) -> JwksCache {
        JwksCache::new(remote.cache_duration, remote.timeout)
    }

    /// The last good key set, if one ever arrived.
    pub fn keys(&self) -> Option<&JwkSet> {
        self.held.as_ref().map(|h| &h.set)
    }

    /// When the keys in use were last confirmed by a good fetch.
    pub fn fetched_at_ms(&self) -> Option<u64> {
        self.held.as_ref().map(|h| h.fetched_at_ms)
    }

    /// Whether a fetch is running (and not yet given up) at `now_ms`.
    pub fn is_fetching(&self, now_ms: u64) -> bool {
        self.in_flight.is_some_and(|f| !self.given_up(f, now_ms))
    }

    pub fn fetches_ok(&self) -> u64 {
        self.fetches_ok
    }

    /// Failed fetches: HTTP errors, timeouts and unusable documents.
    pub fn fetches_failed(&self) -> u64 {
        self.fetches_failed
    }

    /// Whether a scheduled fetch (first, retry or refresh) should start now.
    pub fn fetch_due(&self, now_ms: u64) -> bool {
        if self.is_fetching(now_ms) || now_ms < self.retry_not_before_ms {
            return false;
        }
        match &self.held {
            None => true,
            Some(held) => {
                let refresh_after = self.cache_duration_ms / 100 * REFRESH_AT_PERCENT
                    + self.cache_duration_ms % 100 * REFRESH_AT_PERCENT / 100;
                now_ms >= held.fetched_at_ms.saturating_add(refresh_after)
            }
        }
    }

    /// Starts the scheduled fetch if one is due (giving up a fetch that has
    /// gone unanswered too long first). `Some`: the glue must dispatch it.
    pub fn poll(&mut self, now_ms: u64) -> Option<FetchId> {
        self.give_up_lost_fetch(now_ms);
        if self.fetch_due(now_ms) {
            Some(self.start(now_ms))
        } else {
            None
        }
    }

    /// An unknown `kid` was seen (see [`KidRefetch`]).
    pub fn try_kid_refetch(&mut self, now_ms: u64) -> KidRefetch {
        self.give_up_lost_fetch(now_ms);
        if self.in_flight.is_some() {
            return KidRefetch::Wait;
        }
        if self
            .last_kid_refetch_ms
            .is_some_and(|last| now_ms < last.saturating_add(KID_REFETCH_INTERVAL_MS))
        {
            return KidRefetch::Refused;
        }
        self.last_kid_refetch_ms = Some(now_ms);
        KidRefetch::Start(self.start(now_ms))
    }

    /// A fetch answered 200 with `body`. A usable key set replaces the current
    /// one (`Ok(true)` if the keys changed); an unusable one is a failed fetch
    /// and the last good keys stay. A late answer to a given-up fetch is still
    /// used if it is good: good keys are good.
    pub fn on_fetch_ok(
        &mut self,
        id: FetchId,
        body: &[u8],
        now_ms: u64,
    ) -> Result<bool, JwksError> {
        let current = self.in_flight.is_some_and(|f| f.id == id);
        if current {
            self.in_flight = None;
        }
        match JwkSet::parse_remote(body) {
            Ok(set) => {
                self.fetches_ok += 1;
                self.failures_in_row = 0;
                self.retry_not_before_ms = 0;
                let changed = self
                    .keys()
                    .is_none_or(|old| old.fingerprint() != set.fingerprint());
                // The same keys keep the same set, so cached verifications stay valid.
                match &mut self.held {
                    Some(held) if !changed => held.fetched_at_ms = now_ms,
                    _ => {
                        self.held = Some(Held {
                            set,
                            fetched_at_ms: now_ms,
                        })
                    }
                }
                Ok(changed)
            }
            Err(e) => {
                if current {
                    self.record_failure(now_ms);
                }
                Err(e)
            }
        }
    }

    /// A fetch failed: no answer, an error status, or a timeout. Reports for a
    /// fetch already given up are ignored (its failure was counted then).
    pub fn on_fetch_failed(&mut self, id: FetchId, now_ms: u64) {
        if self.in_flight.is_some_and(|f| f.id == id) {
            self.in_flight = None;
            self.record_failure(now_ms);
        }
    }

    /// The keys for a request that has waited since `waiting_since_ms`.
    pub fn key_state(&self, now_ms: u64, waiting_since_ms: u64) -> KeyState<'_> {
        match self.keys() {
            Some(set) => KeyState::Ready(set),
            None if self.wait_expired(now_ms, waiting_since_ms) => KeyState::Unavailable,
            None => KeyState::Pending,
        }
    }

    /// True once a request waiting since `waiting_since_ms` for the first key
    /// set has waited the `http_uri` timeout without one (SPEC: then 503).
    pub fn wait_expired(&self, now_ms: u64, waiting_since_ms: u64) -> bool {
        self.held.is_none() && now_ms >= waiting_since_ms.saturating_add(self.timeout_ms)
    }

    fn start(&mut self, now_ms: u64) -> FetchId {
        self.next_id += 1;
        let id = FetchId(self.next_id);
        self.in_flight = Some(InFlight {
            id,
            since_ms: now_ms,
        });
        id
    }

    fn given_up(&self, fetch: InFlight, now_ms: u64) -> bool {
        now_ms
            >= fetch
                .since_ms
                .saturating_add(self.timeout_ms)
                .saturating_add(LOST_CALLBACK_GRACE_MS)
    }

    fn give_up_lost_fetch(&mut self, now_ms: u64) {
        if let Some(fetch) = self.in_flight {
            if self.given_up(fetch, now_ms) {
                self.in_flight = None;
                self.record_failure(now_ms);
            }
        }
    }

    fn record_failure(&mut self, now_ms: u64) {
        self.fetches_failed += 1;
        self.failures_in_row = self.failures_in_row.saturating_add(1);
        let shift = self.failures_in_row.saturating_sub(1).min(16);
        let backoff = (FIRST_RETRY_MS << shift).min(MAX_RETRY_MS);
        self.retry_not_before_ms = now_ms.saturating_add(backoff);
    }
}

/// Whether a fetched JWKS of `body_size` bytes is refused before it is read:
/// over [`MAX_JWKS_BYTES`] the root copies none of it into the VM, reports the
/// fetch as failed, and logs this error, which names the size the endpoint
/// sent (the parser would only ever see the bytes copied).
pub fn refuse_oversized(body_size: usize) -> Result<(), JwksError> {
    if body_size > MAX_JWKS_BYTES {
        Err(JwksError::TooLarge { bytes: body_size })
    } else {
        Ok(())
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
