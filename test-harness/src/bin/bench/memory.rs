//! Memory per stream: Envoy's resident memory with 1, then n, long streams held
//! open (each its own connection), through toolguard and through no filter.
//! Bytes per stream = (RSS_n - RSS_1) / (n - 1), so everything a single stream
//! already brought (the Wasm VM, code pages, pools) cancels out.
//!
//! Two upstream behaviours: frames trickling (memory must not grow with the
//! stream's length) and an unfinished frame of nearly `max_frame_bytes` (the
//! one frame the filter may hold per stream).

use std::time::Duration;

use tokio::task::JoinHandle;

use super::configs::Front;
use super::raw;
use test_harness::{runtime, Envoy, Error, MockAgent, Result};

/// How one configuration is measured.
#[derive(Clone, Debug)]
pub struct MemoryPlan {
    /// Ascending stream counts; the first is the baseline (1).
    pub counts: Vec<usize>,
    /// Pause after opening streams before reading RSS.
    pub settle: Duration,
    /// How long the largest count is held before the last reading.
    pub hold: Duration,
    pub workers: u32,
}

/// The readings of one configuration.
#[derive(Clone, Debug)]
pub struct MemoryRun {
    pub label: String,
    /// `(streams, VmRSS bytes)`, in the plan's order.
    pub rss: Vec<(usize, u64)>,
    /// VmRSS after holding the largest count for the plan's hold time.
    pub rss_after_hold: u64,
}

impl MemoryRun {
    /// Bytes per stream between the baseline and the reading at `n` streams.
    pub fn per_stream(&self, n: usize) -> Option<f64> {
        let (n1, base) = *self.rss.first()?;
        let (_, at) = *self.rss.iter().find(|(k, _)| *k == n)?;
        (n > n1).then(|| (at as f64 - base as f64) / (n - n1) as f64)
    }

    /// Bytes per stream at the largest count after the hold.
    pub fn per_stream_after_hold(&self) -> Option<f64> {
        let (n1, base) = *self.rss.first()?;
        let (n, _) = *self.rss.last()?;
        (n > n1).then(|| (self.rss_after_hold as f64 - base as f64) / (n - n1) as f64)
    }
}

/// Opens the plan's streams to `path` through `front` (upstream `agent`),
/// reading Envoy's RSS at each count. `bytes_per_stream`: what the agent
/// sends before going quiet or trickling; readings wait until it has been
/// handed to every stream.
pub fn measure(
    label: &str,
    front: &Front,
    agent: &MockAgent,
    path: &str,
    bearer: &str,
    bytes_per_stream: usize,
    plan: &MemoryPlan,
) -> Result<MemoryRun> {
    let envoy = front.start(plan.workers)?;
    agent.clear_requests();
    let mut held: Vec<JoinHandle<()>> = Vec::new();
    let result = (|| {
        let mut rss = Vec::new();
        for &n in &plan.counts {
            let more = n.saturating_sub(held.len());
            held.extend(open_many(&envoy, path, bearer, more)?);
            wait_sent(agent, n, bytes_per_stream)?;
            std::thread::sleep(plan.settle);
            let now = read_rss(&envoy)?;
            eprintln!(
                "bench:   {label}: {n} streams, VmRSS {:.1} MiB",
                now as f64 / 1048576.0
            );
            rss.push((n, now));
        }
        std::thread::sleep(plan.hold);
        let rss_after_hold = read_rss(&envoy)?;
        let finished = held.iter().filter(|h| h.is_finished()).count();
        if finished > 0 {
            return Err(Error::new(format!(
                "{finished} of {} streams ended while they should have been held open",
                held.len()
            )));
        }
        Ok(MemoryRun {
            label: label.to_string(),
            rss,
            rss_after_hold,
        })
    })();
    for h in &held {
        h.abort();
    }
    drop(envoy);
    result.map_err(|e| Error::new(format!("memory, {label}: {e}")))
}

/// Opens `count` streams (a hundred at a time), each then drained by a task.
fn open_many(envoy: &Envoy, path: &str, bearer: &str, count: usize) -> Result<Vec<JoinHandle<()>>> {
    let addr = envoy.addr();
    let mut handles = Vec::with_capacity(count);
    let mut left = count;
    while left > 0 {
        let batch = left.min(100);
        left -= batch;
        let opened = runtime::block_on(async {
            let tasks: Vec<_> = (0..batch)
                .map(|_| {
                    let path = path.to_string();
                    let bearer = bearer.to_string();
                    tokio::spawn(async move {
                        raw::open(addr, &path, Some(&bearer), Duration::from_secs(30)).await
                    })
                })
                .collect();
            let mut out = Vec::with_capacity(batch);
            for t in tasks {
                out.push(
                    t.await
                        .map_err(|e| Error::new(format!("stream task failed: {e}")))??,
                );
            }
            Ok::<_, Error>(out)
        })?;
        let _rt = runtime::handle().enter();
        handles.extend(
            opened
                .into_iter()
                .map(|s| tokio::spawn(raw::drain(s.socket))),
        );
    }
    Ok(handles)
}

/// Waits until the agent has handed its opening bytes to `n` streams.
fn wait_sent(agent: &MockAgent, n: usize, bytes: usize) -> Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let reqs = agent.requests();
        let done = reqs.iter().filter(|r| r.bytes_sent() >= bytes).count();
        if done >= n {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(Error::new(format!(
                "only {done} of {n} upstream streams sent their first {bytes} bytes within 60 s"
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Envoy's VmRSS in bytes.
fn read_rss(envoy: &Envoy) -> Result<u64> {
    envoy.rss_kib().map(|kib| kib * 1024).ok_or_else(|| {
        Error::new(format!(
            "cannot read the VmRSS of Envoy (pid {}) from /proc",
            envoy.pid()
        ))
    })
}
