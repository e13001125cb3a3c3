//! Polling helpers for "wait until the mock saw X" with a deadline.
//!
//! Polling (every 10 ms) instead of condition variables keeps the state plain
//! `Mutex`es and works identically from sync and async callers.

use std::time::{Duration, Instant};

const POLL_EVERY: Duration = Duration::from_millis(10);

/// Calls `check` until it returns `Some`, or `timeout` passes (then `None`).
/// Blocks the calling thread.
pub fn poll_until<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(POLL_EVERY);
    }
}

/// Async twin of [`poll_until`], for use inside `#[tokio::test]`.
pub async fn poll_until_async<T>(
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Locks a mutex, ignoring poisoning: a panicking test thread must not turn
/// every later mock-server request into a second panic.
pub fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
