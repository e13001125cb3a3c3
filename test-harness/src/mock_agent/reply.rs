//! What the mock agent answers: status, headers and a body plan (bytes cut
//! into chunks, pacing, an optional endless-ish tail of frames, and how the
//! body ends).

use crate::rng::SplitMix64;
use std::time::Duration;

use bytes::Bytes;

/// How a fixed body is cut into the chunks written to the socket (each chunk is
/// one HTTP/1.1 chunk or HTTP/2 DATA frame). With no [`Reply::delay`] the
/// kernel may still merge adjacent chunks; add a small delay to make Envoy,
/// and so the filter, see each chunk separately.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chunking {
    /// The whole body in one write.
    Whole,
    /// Pieces of this many bytes (the last may be shorter). `Fixed(1)` is
    /// byte-at-a-time.
    Fixed(usize),
    /// Pieces of 1..=max bytes, sizes drawn from a PRNG seeded with `seed`, so
    /// a failing cut can be replayed exactly.
    Random { seed: u64, max: usize },
    /// Pieces of exactly these sizes, in order; whatever is left is one last
    /// piece.
    Sizes(Vec<usize>),
}

impl Chunking {
    /// One byte per chunk.
    pub fn bytewise() -> Chunking {
        Chunking::Fixed(1)
    }

    /// Cuts `body` as described. Never yields empty pieces.
    pub fn split(&self, body: &Bytes) -> Vec<Bytes> {
        let mut sizes: Box<dyn Iterator<Item = usize>> = match self {
            Chunking::Whole => Box::new(std::iter::once(body.len().max(1))),
            Chunking::Fixed(n) => Box::new(std::iter::repeat((*n).max(1))),
            Chunking::Random { seed, max } => {
                let mut rng = SplitMix64(*seed);
                let max = (*max).max(1) as u64;
                Box::new(std::iter::from_fn(move || {
                    Some((rng.next_u64() % max) as usize + 1)
                }))
            }
            Chunking::Sizes(list) => Box::new(
                list.clone()
                    .into_iter()
                    .filter(|n| *n > 0)
                    .chain(std::iter::repeat(usize::MAX)),
            ),
        };
        let mut out = Vec::new();
        let mut rest = body.clone();
        while !rest.is_empty() {
            let n = sizes.next().unwrap_or(usize::MAX).min(rest.len());
            out.push(rest.split_to(n));
        }
        out
    }
}

#[derive(Clone, Debug)]
pub(crate) enum Content {
    /// JSON describing the request (method, path, headers, body).
    Echo,
    Fixed(Bytes),
}

/// Frames sent after the fixed body, to model an agent that keeps streaming.
#[derive(Clone, Debug)]
pub(crate) struct Ticks {
    pub(crate) every: Duration,
    pub(crate) total: Duration,
    /// `None`: `data: {"type":"ping","n":N}\n\n`.
    pub(crate) frame: Option<Bytes>,
}

/// How the body ends after everything planned was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    Finish,
    /// Abort: the HTTP/1.1 connection is closed mid-body (no final chunk) or
    /// the HTTP/2 stream is reset, which Envoy reports as an upstream reset.
    Reset,
}

/// A scripted answer. Build with [`Reply::echo`], [`Reply::sse`],
/// [`Reply::keep_streaming`], [`Reply::body`] or [`Reply::json`] and refine
/// with the builder methods.
#[derive(Clone, Debug)]
pub struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) content: Content,
    pub(crate) chunking: Chunking,
    pub(crate) delay: Duration,
    pub(crate) ticks: Option<Ticks>,
    pub(crate) reset_after: Option<usize>,
    pub(crate) end: End,
}

impl Reply {
    fn new(content_type: &str, content: Content) -> Reply {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), content_type.into())],
            content,
            chunking: Chunking::Whole,
            delay: Duration::ZERO,
            ticks: None,
            reset_after: None,
            end: End::Finish,
        }
    }

    /// 200 `application/json` describing the request: `{"method", "path"
    /// (with query), "version", "headers": {name: value, or [values] when
    /// repeated}, "body"}` (body as UTF-8, lossy).
    pub fn echo() -> Reply {
        Reply::new("application/json", Content::Echo)
    }

    /// 200 `text/event-stream` with this body.
    pub fn sse(body: impl Into<Bytes>) -> Reply {
        Reply::new("text/event-stream", Content::Fixed(body.into()))
    }

    /// 200 with this content type and body.
    pub fn body(content_type: &str, body: impl Into<Bytes>) -> Reply {
        Reply::new(content_type, Content::Fixed(body.into()))
    }

    /// 200 `application/json` with this value.
    pub fn json(value: &serde_json::Value) -> Reply {
        Reply::new("application/json", Content::Fixed(value.to_string().into()))
    }

    /// 200 `text/event-stream` that sends a frame every `every` for `total`,
    /// then ends.
    pub fn keep_streaming(every: Duration, total: Duration) -> Reply {
        Reply::sse(Bytes::new()).then_keep_streaming(every, total)
    }

    pub fn status(mut self, status: u16) -> Reply {
        self.status = status;
        self
    }

    /// Adds a response header (repeat for several values). Set
    /// `content-length` to send a fixed-length body instead of chunked.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    /// Replaces the content type (`None` sends no `content-type` at all).
    pub fn content_type(mut self, content_type: Option<&str>) -> Reply {
        self.headers.retain(|(n, _)| n != "content-type");
        if let Some(ct) = content_type {
            self.headers.push(("content-type".into(), ct.into()));
        }
        self
    }

    pub fn chunking(mut self, chunking: Chunking) -> Reply {
        self.chunking = chunking;
        self
    }

    /// Pause between consecutive chunks of the fixed body.
    pub fn delay(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }

    /// After the fixed body, send a frame every `every` until `total` has
    /// passed (see [`Reply::tick_frame`]).
    pub fn then_keep_streaming(mut self, every: Duration, total: Duration) -> Reply {
        self.ticks = Some(Ticks {
            every,
            total,
            frame: self.ticks.and_then(|t| t.frame),
        });
        self
    }

    /// The frame sent on each tick instead of `data: {"type":"ping","n":N}\n\n`.
    pub fn tick_frame(mut self, frame: impl Into<Bytes>) -> Reply {
        let frame = Some(frame.into());
        match &mut self.ticks {
            Some(t) => t.frame = frame,
            None => {
                self.ticks = Some(Ticks {
                    every: Duration::from_millis(100),
                    total: Duration::from_secs(10),
                    frame,
                })
            }
        }
        self
    }

    /// Send only the first `bytes` of the fixed body, then abort.
    pub fn reset_after(mut self, bytes: usize) -> Reply {
        self.reset_after = Some(bytes);
        self.end = End::Reset;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lens(c: Chunking, body: &[u8]) -> Vec<usize> {
        c.split(&Bytes::copy_from_slice(body))
            .iter()
            .map(|b| b.len())
            .collect()
    }

    #[test]
    fn splits_cover_the_body_exactly() {
        let body: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        for c in [
            Chunking::Whole,
            Chunking::Fixed(1),
            Chunking::Fixed(7),
            Chunking::Random { seed: 3, max: 50 },
            Chunking::Sizes(vec![1, 0, 2, 3]),
        ] {
            let parts = c.split(&Bytes::from(body.clone()));
            assert!(parts.iter().all(|p| !p.is_empty()), "{c:?}");
            assert_eq!(parts.concat(), body, "{c:?}");
        }
    }

    #[test]
    fn split_sizes_follow_the_chunking() {
        assert_eq!(lens(Chunking::Whole, b"abcdef"), vec![6]);
        assert_eq!(lens(Chunking::Fixed(4), b"abcdef"), vec![4, 2]);
        assert_eq!(lens(Chunking::Sizes(vec![1, 2]), b"abcdef"), vec![1, 2, 3]);
        assert!(lens(Chunking::Whole, b"").is_empty());
        let a = lens(Chunking::Random { seed: 9, max: 5 }, &[0; 100]);
        let b = lens(Chunking::Random { seed: 9, max: 5 }, &[0; 100]);
        assert_eq!(a, b, "same seed, same cut");
        assert!(a.iter().all(|n| (1..=5).contains(n)));
    }
}
