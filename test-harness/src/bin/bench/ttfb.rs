//! Time to the first frame on a slow stream: the agent sends one frame and
//! then nothing for seconds. A filter that held the frame until more bytes
//! came would add those seconds; one that forwards complete frames at once
//! adds only its processing time.

use std::time::Duration;

use super::configs::Front;
use super::raw;
use super::stats::median;
use test_harness::{runtime, Envoy, Error, Result};

/// Median time to the first complete frame per configuration, over
/// `samples` requests made alternately (one fresh connection each).
pub struct TtfbResult {
    pub labels: Vec<String>,
    /// Per configuration, the samples in milliseconds.
    pub samples_ms: Vec<Vec<f64>>,
}

impl TtfbResult {
    pub fn median_ms(&self, i: usize) -> f64 {
        self.samples_ms.get(i).map_or(f64::NAN, |s| median(s))
    }

    /// Median over requests of (configuration `i` - configuration `j`).
    pub fn paired_added_ms(&self, i: usize, j: usize) -> f64 {
        match (self.samples_ms.get(i), self.samples_ms.get(j)) {
            (Some(a), Some(b)) => median(&a.iter().zip(b).map(|(a, b)| a - b).collect::<Vec<_>>()),
            _ => f64::NAN,
        }
    }
}

pub fn measure(
    configs: &[(String, Front)],
    path: &str,
    bearer: &str,
    samples: usize,
    workers: u32,
) -> Result<TtfbResult> {
    let envoys = configs
        .iter()
        .map(|(label, front)| {
            front
                .start(workers)
                .map_err(|e| Error::new(format!("first byte, {label}: {e}")))
        })
        .collect::<Result<Vec<Envoy>>>()?;
    // Two unrecorded rounds: the first request through a fresh Envoy pays
    // for connection set-up and, through toolguard, the token verification.
    let mut samples_ms = vec![Vec::with_capacity(samples); configs.len()];
    for i in 0..samples + 2 {
        for ((envoy, (label, _)), out) in envoys.iter().zip(configs).zip(&mut samples_ms) {
            let stream = runtime::block_on(raw::open(
                envoy.addr(),
                path,
                Some(bearer),
                Duration::from_secs(10),
            ))
            .map_err(|e| Error::new(format!("first byte, {label}: {e}")))?;
            if i >= 2 {
                out.push(stream.first_frame_after.as_secs_f64() * 1000.0);
            }
        }
    }
    Ok(TtfbResult {
        labels: configs.iter().map(|(l, _)| l.clone()).collect(),
        samples_ms,
    })
}
