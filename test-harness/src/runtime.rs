//! The harness's own tokio runtime.
//!
//! Mock servers and client connections run here rather than on the test's
//! runtime, so (a) plain `#[test]` functions can use them, (b) a test that
//! blocks its own thread (waiting for Envoy, sleeping) never starves the mock
//! upstream it is talking to, and (c) servers outlive any one test's runtime.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use tokio::runtime::{Handle, Runtime};

/// The shared runtime, started on first use.
pub fn handle() -> &'static Handle {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("harness-rt")
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("cannot start the harness tokio runtime: {e}"))
        })
        .handle()
}

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future to completion on the calling thread, with the harness
/// runtime entered so tokio timers and sockets work.
///
/// Unlike `Runtime::block_on` this may be called from inside another tokio
/// runtime (e.g. in a `#[tokio::test]`): it only parks the calling thread,
/// while the harness runtime's own threads drive the I/O.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let _guard = handle().enter();
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        thread::park();
    }
}
