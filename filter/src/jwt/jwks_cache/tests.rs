use super::*;
use crate::jwt::tests::support::*;
use wasm_bindgen_test::wasm_bindgen_test;

const TIMEOUT_MS: u64 = 5_000;
const CACHE_MS: u64 = 600_000;

fn cache() -> JwksCache {
    JwksCache::new(
        Duration::from_millis(CACHE_MS),
        Duration::from_millis(TIMEOUT_MS),
    )
}

fn good() -> String {
    jwks_text(&[rsa_public(), ec_public()])
}

fn rotated() -> String {
    jwks_text(&[rsa_public(), rsa2_public()])
}

/// Starts a fetch at `now` and answers it with `body`.
fn fetch(c: &mut JwksCache, now: u64, body: &str) -> Result<bool, JwksError> {
    let id = c.poll(now).expect("a fetch is due");
    c.on_fetch_ok(id, body.as_bytes(), now + 10)
}

#[test]
#[wasm_bindgen_test]
fn first_fetch_and_waiting_requests() {
    let mut c = cache();
    assert!(c.keys().is_none());
    assert!(matches!(c.key_state(0, 0), KeyState::Pending));
    let id = c.poll(0).unwrap();
    assert!(
        c.is_fetching(1) && c.poll(1).is_none(),
        "one fetch at a time"
    );
    // A request that arrived at t=100 waits until t=5100.
    assert!(matches!(c.key_state(5_099, 100), KeyState::Pending));
    assert!(matches!(c.key_state(5_100, 100), KeyState::Unavailable));
    assert!(c.wait_expired(5_100, 100) && !c.wait_expired(5_099, 100));
    assert_eq!(c.on_fetch_ok(id, good().as_bytes(), 200), Ok(true));
    assert!(
        matches!(c.key_state(10_000, 100), KeyState::Ready(_)),
        "keys end every wait"
    );
    assert!(!c.wait_expired(10_000, 100));
    assert_eq!(
        (c.fetches_ok(), c.fetches_failed(), c.fetched_at_ms()),
        (1, 0, Some(200))
    );
}

#[test]
#[wasm_bindgen_test]
fn refresh_at_80_percent_and_keep_same_keys() {
    let mut c = cache();
    assert_eq!(fetch(&mut c, 0, &good()), Ok(true));
    let fingerprint = c.keys().unwrap().fingerprint();
    let refresh_at = 10 + CACHE_MS * 8 / 10;
    assert!(!c.fetch_due(refresh_at - 1));
    assert!(c.poll(refresh_at - 1).is_none());
    assert!(c.fetch_due(refresh_at));
    // The same keys again: unchanged set, new fetch time.
    assert_eq!(fetch(&mut c, refresh_at, &good()), Ok(false));
    assert_eq!(c.keys().unwrap().fingerprint(), fingerprint);
    assert_eq!(c.fetched_at_ms(), Some(refresh_at + 10));
    // New keys replace the set.
    let next = refresh_at + 10 + CACHE_MS * 8 / 10;
    assert_eq!(fetch(&mut c, next, &rotated()), Ok(true));
    assert_ne!(c.keys().unwrap().fingerprint(), fingerprint);
}

#[test]
#[wasm_bindgen_test]
fn failures_keep_the_last_good_keys_and_back_off() {
    let mut c = cache();
    assert_eq!(fetch(&mut c, 0, &good()), Ok(true));
    let fingerprint = c.keys().unwrap().fingerprint();
    let t = CACHE_MS; // well past the refresh point, even past cache_duration
    let id = c.poll(t).unwrap();
    c.on_fetch_failed(id, t);
    assert_eq!(c.fetches_failed(), 1);
    assert_eq!(
        c.keys().unwrap().fingerprint(),
        fingerprint,
        "stale keys are still used"
    );
    // Retries 1 s, then 2 s, 4 s ... later.
    assert!(c.poll(t + 999).is_none());
    let id = c.poll(t + 1_000).unwrap();
    // A malformed document is a failure too.
    let err = c
        .on_fetch_ok(id, b"<html>502 Bad Gateway</html>", t + 1_000)
        .unwrap_err();
    assert!(
        err.to_string().starts_with("not a JWKS: not valid JSON"),
        "{err}"
    );
    assert_eq!(c.fetches_failed(), 2);
    assert!(c.poll(t + 2_999).is_none());
    let id = c.poll(t + 3_000).unwrap();
    // So is a set with no usable key.
    assert!(c
        .on_fetch_ok(id, jwks_text(&[]).as_bytes(), t + 3_000)
        .is_err());
    assert!(c.poll(t + 6_999).is_none());
    assert!(c.poll(t + 7_000).is_some());
    assert_eq!(c.keys().unwrap().fingerprint(), fingerprint);
}

#[test]
#[wasm_bindgen_test]
fn backoff_is_capped_and_reset_by_success() {
    let mut c = cache();
    let mut t = 0;
    for _ in 0..10 {
        let id = c.poll(t).unwrap();
        c.on_fetch_failed(id, t);
        t += 30_000;
    }
    assert_eq!(c.fetches_failed(), 10);
    let id = c.poll(t).unwrap();
    c.on_fetch_failed(id, t);
    assert!(c.poll(t + 29_999).is_none());
    let id = c.poll(t + 30_000).unwrap();
    assert_eq!(c.on_fetch_ok(id, good().as_bytes(), t + 30_000), Ok(true));
    // After a success the next failure waits 1 s again.
    let later = t + 30_000 + CACHE_MS;
    let id = c.poll(later).unwrap();
    c.on_fetch_failed(id, later);
    assert!(c.poll(later + 1_000).is_some());
}

#[test]
#[wasm_bindgen_test]
fn unknown_kid_refetch_at_most_every_30_seconds() {
    let mut c = cache();
    assert_eq!(fetch(&mut c, 0, &good()), Ok(true));
    let KidRefetch::Start(id) = c.try_kid_refetch(1_000) else {
        panic!()
    };
    // Another unknown kid while that fetch runs waits for it.
    assert_eq!(c.try_kid_refetch(1_001), KidRefetch::Wait);
    assert_eq!(c.on_fetch_ok(id, rotated().as_bytes(), 1_100), Ok(true));
    assert_eq!(c.try_kid_refetch(1_200), KidRefetch::Refused);
    assert_eq!(c.try_kid_refetch(30_999), KidRefetch::Refused);
    assert!(matches!(c.try_kid_refetch(31_000), KidRefetch::Start(_)));
}

#[test]
#[wasm_bindgen_test]
fn scheduled_refreshes_do_not_use_the_kid_budget() {
    let mut c = cache();
    assert_eq!(fetch(&mut c, 0, &good()), Ok(true));
    let refresh_at = 10 + CACHE_MS * 8 / 10;
    assert_eq!(fetch(&mut c, refresh_at, &good()), Ok(false));
    assert!(matches!(
        c.try_kid_refetch(refresh_at + 100),
        KidRefetch::Start(_)
    ));
    // And a scheduled refresh still runs after a kid refetch.
    let mut c = cache();
    assert_eq!(fetch(&mut c, 0, &good()), Ok(true));
    let KidRefetch::Start(id) = c.try_kid_refetch(100) else {
        panic!()
    };
    assert_eq!(c.on_fetch_ok(id, good().as_bytes(), 200), Ok(false));
    assert!(c.poll(200 + CACHE_MS * 8 / 10).is_some());
}

#[test]
#[wasm_bindgen_test]
fn a_lost_fetch_is_given_up_and_late_answers_handled() {
    let mut c = cache();
    let lost = c.poll(0).unwrap();
    assert!(c.is_fetching(TIMEOUT_MS + 999));
    assert!(!c.is_fetching(TIMEOUT_MS + 1_000));
    // Given up at timeout + 1 s and counted; the retry waits out the backoff.
    assert!(c.poll(TIMEOUT_MS + 1_000).is_none());
    assert_eq!(c.fetches_failed(), 1);
    let retry = c.poll(TIMEOUT_MS + 2_000).unwrap();
    assert_ne!(retry, lost);
    // The lost fetch's failure report is not counted twice, nor does it end the retry.
    c.on_fetch_failed(lost, TIMEOUT_MS + 2_100);
    assert_eq!(c.fetches_failed(), 1);
    assert!(c.is_fetching(TIMEOUT_MS + 2_100));
    // A late good answer to the lost fetch is still used.
    assert_eq!(
        c.on_fetch_ok(lost, good().as_bytes(), TIMEOUT_MS + 2_200),
        Ok(true)
    );
    assert!(c.keys().is_some());
    assert!(
        c.is_fetching(TIMEOUT_MS + 2_200),
        "the retry is still running"
    );
    assert_eq!(
        c.on_fetch_ok(retry, good().as_bytes(), TIMEOUT_MS + 2_300),
        Ok(false)
    );
    assert!(!c.is_fetching(TIMEOUT_MS + 2_300));
}

#[test]
#[wasm_bindgen_test]
fn a_fetch_that_never_brings_keys_ends_the_wait_with_503() {
    let mut c = cache();
    let id = c.poll(0).unwrap();
    c.on_fetch_failed(id, 50);
    // The request that arrived at 0 still waits: a retry may come in time.
    assert!(matches!(c.key_state(1_000, 0), KeyState::Pending));
    let id = c.poll(1_050).unwrap();
    c.on_fetch_failed(id, 1_100);
    assert!(matches!(c.key_state(TIMEOUT_MS, 0), KeyState::Unavailable));
    // A request arriving later gets its own full wait.
    assert!(matches!(c.key_state(TIMEOUT_MS, 4_000), KeyState::Pending));
}

#[test]
#[wasm_bindgen_test]
fn built_from_the_remote_config() {
    let remote = crate::jwt::RemoteJwks {
        uri: "https://idp.example/jwks".into(),
        authority: "idp.example".into(),
        path: "/jwks".into(),
        cluster: "idp".into(),
        timeout: Duration::from_secs(2),
        cache_duration: Duration::from_secs(100),
    };
    let mut c = JwksCache::for_remote(&remote);
    assert!(matches!(c.key_state(1_999, 0), KeyState::Pending));
    assert!(matches!(c.key_state(2_000, 0), KeyState::Unavailable));
    assert_eq!(fetch(&mut c, 0, &good()), Ok(true));
    assert!(c.poll(10 + 79_999).is_none());
    assert!(c.poll(10 + 80_000).is_some());
}

#[test]
#[wasm_bindgen_test]
fn oversized_bodies_are_refused_unread_with_their_real_size() {
    assert_eq!(refuse_oversized(0), Ok(()));
    assert_eq!(refuse_oversized(MAX_JWKS_BYTES), Ok(()));
    let fifty_mib = 50 * 1024 * 1024;
    let refused = refuse_oversized(fifty_mib).unwrap_err();
    assert_eq!(refused, JwksError::TooLarge { bytes: fifty_mib });
    assert!(
        refused.to_string().contains("52428800 bytes"),
        "the message names the size sent: {refused}"
    );
    // A refused body is a failed fetch: the last good keys stay and the
    // fetch is retried with backoff.
    let mut c = cache();
    fetch(&mut c, 0, &good()).unwrap();
    let before = c.keys().unwrap().fingerprint();
    let id = c.poll(CACHE_MS).expect("a refresh is due");
    c.on_fetch_failed(id, CACHE_MS + 10);
    assert_eq!(c.fetches_failed(), 1);
    assert_eq!(c.keys().unwrap().fingerprint(), before);
    assert!(
        c.poll(CACHE_MS + 20).is_none(),
        "retried only after a backoff"
    );
    assert!(c.poll(CACHE_MS + 10 + 1_000).is_some());
}
