//! One rate-limit address whose behaviour changes while Envoy runs: a TCP
//! forwarder in front of the real service or one of the faulty endpoints, for
//! the soak's fault phases (Envoy's cluster endpoint is fixed at start).
//! Switching closes every forwarded connection, so Envoy's next call opens a
//! new one to whatever is behind the switch now. `Down` accepts and closes at
//! once: to Envoy a connection that fails before any answer.

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::fault::{self, Fault};
use crate::{runtime, Error, Result};

/// Where the switch forwards to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behind {
    /// The real service.
    Service,
    /// A misbehaving endpoint.
    Fault(Fault),
}

pub struct RateLimitSwitch {
    addr: SocketAddr,
    service: SocketAddr,
    state: watch::Sender<Option<SocketAddr>>,
    // Faulty endpoints started so far, kept up while switched to.
    faulty: Mutex<Vec<(Fault, SocketAddr, fault::Running)>>,
    calls: Arc<AtomicU64>,
    /// Dropped with the switch: its accept loop ends.
    _stop: watch::Sender<()>,
}

impl RateLimitSwitch {
    /// A switch on a free loopback port, forwarding to `service` (the
    /// address of a [`super::RateLimitService`]).
    pub fn start(service: SocketAddr) -> Result<RateLimitSwitch> {
        let std_listener = TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| Error::new(format!("binding the rate-limit switch: {e}")))?;
        let addr = std_listener
            .local_addr()
            .map_err(|e| Error::new(format!("reading the switch's address: {e}")))?;
        let listener = {
            let _guard = runtime::handle().enter();
            tokio::net::TcpListener::from_std(std_listener)
                .map_err(|e| Error::new(format!("registering the switch with tokio: {e}")))?
        };
        let (state, target) = watch::channel(Some(service));
        let (stop, mut stopped) = watch::channel(());
        runtime::handle().spawn(async move {
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = stopped.changed() => return,
                };
                let Ok((mut client, _)) = accepted else {
                    continue;
                };
                let mut target = target.clone();
                let Some(backend) = *target.borrow_and_update() else {
                    drop(client);
                    continue;
                };
                let _ = client.set_nodelay(true);
                tokio::spawn(async move {
                    let Ok(mut upstream) = tokio::net::TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = upstream.set_nodelay(true);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
                        _ = target.changed() => {}
                    }
                });
            }
        });
        Ok(RateLimitSwitch {
            addr,
            service,
            state,
            faulty: Mutex::new(Vec::new()),
            calls: Arc::new(AtomicU64::new(0)),
            _stop: stop,
        })
    }

    /// The address Envoy's rate-limit cluster points at.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Forwards new calls to `behind` and closes the forwarded connections.
    pub fn set(&self, behind: Behind) -> Result<()> {
        let target = match behind {
            Behind::Service => Some(self.service),
            Behind::Fault(Fault::Down) => None,
            Behind::Fault(f) => Some(self.faulty_addr(f)?),
        };
        self.state.send_replace(target);
        Ok(())
    }

    /// Calls the faulty endpoints behind the switch have seen.
    pub fn faulty_calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    fn faulty_addr(&self, f: Fault) -> Result<SocketAddr> {
        let mut faulty = crate::wait::lock(&self.faulty);
        if let Some((_, addr, _)) = faulty.iter().find(|(g, _, _)| *g == f) {
            return Ok(*addr);
        }
        let (addr, running) = fault::start(f, self.calls.clone())?;
        faulty.push((f, addr, running));
        Ok(addr)
    }
}
