//! A minimal HTTP server (HTTP/1.1 and h2c on one loopback port) that the
//! mock upstreams share: it accepts connections on the harness runtime and
//! hands each request to a handler closure. Dropping the [`Server`] stops it
//! and closes its open connections.

use std::future::Future;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::sync::watch;

use crate::error::Context;
use crate::{runtime, Result};

/// Response body type of all mock servers. An `Err` frame aborts the
/// response mid-body (the connection, or the HTTP/2 stream, is reset).
pub type Body = BoxBody<Bytes, std::io::Error>;

pub type HandlerFuture = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;
pub type Handler = Arc<dyn Fn(Request<Incoming>) -> HandlerFuture + Send + Sync>;

pub struct Server {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    /// TCP connections accepted so far.
    connections: Arc<AtomicUsize>,
}

impl Server {
    /// Listens on `127.0.0.1:port` (0 picks a free port).
    pub fn start(port: u16, handler: Handler) -> Result<Server> {
        // Bind synchronously so the port is known (and taken) on return.
        let std_listener = StdListener::bind(("127.0.0.1", port))
            .context(|| format!("binding mock server to 127.0.0.1:{port}"))?;
        std_listener
            .set_nonblocking(true)
            .context(|| "setting listener non-blocking".to_string())?;
        let addr = std_listener
            .local_addr()
            .context(|| "reading listener address".to_string())?;
        let listener = {
            let _guard = runtime::handle().enter();
            tokio::net::TcpListener::from_std(std_listener)
                .context(|| "registering listener with tokio".to_string())?
        };
        let (shutdown, mut stop) = watch::channel(false);
        let connections = Arc::new(AtomicUsize::new(0));
        let accepted_count = connections.clone();
        runtime::handle().spawn(async move {
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = stop.changed() => return,
                };
                let Ok((stream, _)) = accepted else { continue };
                accepted_count.fetch_add(1, Ordering::SeqCst);
                // Streams are replayed chunk by chunk: don't let Nagle merge them.
                let _ = stream.set_nodelay(true);
                let handler = handler.clone();
                let mut stop = stop.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let fut = handler(req);
                        async move { Ok::<_, std::convert::Infallible>(fut.await) }
                    });
                    let builder = auto::Builder::new(TokioExecutor::new());
                    // With upgrades: the demo runtime's `/ws` answers 101 and keeps the
                    // connection; to any other request this is `serve_connection`.
                    let conn =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    tokio::select! {
                        _ = conn => {}
                        _ = stop.changed() => {}
                    }
                });
            }
        });
        Ok(Server {
            addr,
            shutdown,
            connections,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
