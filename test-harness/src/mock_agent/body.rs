//! The response body of the mock agent: a producer task paces the chunks into
//! a one-slot channel, and the body hyper polls records how far it got and how
//! it ended. hyper drops the body when the downstream (Envoy) goes away, which
//! is how "the client went away before the body finished" is observed.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

use super::reply::{End, Reply};
use crate::wait::lock;

/// How a response body ended, as seen from the mock upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyEnd {
    /// Everything planned was handed to hyper.
    Completed,
    /// The body was dropped before it finished: the peer closed the connection
    /// or reset the stream (a write failed or hyper saw the close).
    ClientGone,
    /// The reply was scripted to abort, and did.
    Reset,
}

#[derive(Debug)]
pub(crate) struct Progress {
    pub(crate) bytes_sent: usize,
    pub(crate) end: Option<(BodyEnd, Instant)>,
}

pub(crate) type SharedProgress = Arc<Mutex<Progress>>;

pub(crate) fn new_progress() -> SharedProgress {
    Arc::new(Mutex::new(Progress {
        bytes_sent: 0,
        end: None,
    }))
}

fn finish(progress: &SharedProgress, end: BodyEnd) {
    let mut p = lock(progress);
    if p.end.is_none() {
        p.end = Some((end, Instant::now()));
    }
}

enum Item {
    /// A chunk; `last` when nothing else will follow and the end is clean
    /// (hyper may stop polling once a `content-length` is satisfied).
    Data(Bytes, bool),
    Abort,
}

pub(crate) struct ReplyBody {
    rx: mpsc::Receiver<Item>,
    progress: SharedProgress,
}

impl Body for ReplyBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.rx.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Item::Data(chunk, last))) => {
                lock(&self.progress).bytes_sent += chunk.len();
                if last {
                    finish(&self.progress, BodyEnd::Completed);
                }
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Poll::Ready(Some(Item::Abort)) => {
                finish(&self.progress, BodyEnd::Reset);
                Poll::Ready(Some(Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "mock agent: scripted reset",
                ))))
            }
            Poll::Ready(None) => {
                finish(&self.progress, BodyEnd::Completed);
                Poll::Ready(None)
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl Drop for ReplyBody {
    fn drop(&mut self) {
        // Only sets an end if none was recorded: a body dropped unfinished.
        finish(&self.progress, BodyEnd::ClientGone);
    }
}

/// Starts the producer for `content` shaped by `reply` and returns the body.
pub(crate) fn start(reply: &Reply, content: Bytes, progress: SharedProgress) -> ReplyBody {
    let (tx, rx) = mpsc::channel(1);
    let reply = reply.clone();
    tokio::spawn(async move {
        let _ = produce(&reply, content, &tx).await;
    });
    ReplyBody { rx, progress }
}

/// Sends the planned items; `Err` means the body was dropped (client gone).
async fn produce(reply: &Reply, content: Bytes, tx: &mpsc::Sender<Item>) -> Result<(), ()> {
    let content = match reply.reset_after {
        Some(n) => content.slice(..n.min(content.len())),
        None => content,
    };
    let chunks = reply.chunking.split(&content);
    let clean_end_after_body = reply.ticks.is_none() && reply.end == End::Finish;
    let count = chunks.len();
    for (i, chunk) in chunks.into_iter().enumerate() {
        if i > 0 && !reply.delay.is_zero() {
            tokio::time::sleep(reply.delay).await;
        }
        let last = clean_end_after_body && i + 1 == count;
        tx.send(Item::Data(chunk, last)).await.map_err(|_| ())?;
    }
    if let Some(ticks) = &reply.ticks {
        let start = Instant::now();
        let every = ticks.every.max(Duration::from_millis(1));
        let mut n: u64 = 0;
        loop {
            tokio::time::sleep(every).await;
            if start.elapsed() > ticks.total {
                break;
            }
            let frame = match &ticks.frame {
                Some(f) => f.clone(),
                None => Bytes::from(format!("data: {{\"type\":\"ping\",\"n\":{n}}}\n\n")),
            };
            tx.send(Item::Data(frame, false)).await.map_err(|_| ())?;
            n += 1;
        }
    }
    if reply.end == End::Reset {
        tx.send(Item::Abort).await.map_err(|_| ())?;
        // Keep the channel open until hyper has acted on the abort, so the
        // body is not seen ending cleanly first.
        tx.closed().await;
    }
    Ok(())
}
