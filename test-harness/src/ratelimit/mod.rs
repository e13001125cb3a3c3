//! A real rate-limit service for the tests, the demo and the bench: Envoy's
//! global rate-limit gRPC API (`envoy.service.ratelimit.v3.RateLimitService/
//! ShouldRateLimit`, the generated server of the `envoy-types` crate) counting
//! with limitador, Kuadrant's engine, in a Redis of its own. Nothing here is a
//! counter written for the tests: limits come from limitador's own limits
//! format and counters live in Redis, as in a deployment of limitador-server.
//!
//! ```no_run
//! use test_harness::ratelimit::RateLimitService;
//! let service = RateLimitService::start("agents", r#"
//! - namespace: agents
//!   max_value: 3
//!   seconds: 60
//!   conditions: []
//!   variables: ["descriptors[0]['user']"]
//! "#).unwrap();
//! // ... Envoy's `ratelimit` cluster points at service.addr() ...
//! assert_eq!(service.remaining(&[("user", "alice")]).unwrap(), Some(3));
//! ```
//!
//! How requests map onto limitador is in [`rls`]; misbehaving endpoints for
//! fault tests are [`RateLimitService::faulty`].

mod fault;
mod redis;
mod rls;
mod switch;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_server::{
    RateLimitService as RlsApi, RateLimitServiceServer,
};
use limitador::limit::{Limit, Namespace};
use limitador::storage::redis::AsyncRedisStorage;
use limitador::AsyncRateLimiter;
use tokio::sync::watch;

pub use fault::Fault;
pub use switch::{Behind, RateLimitSwitch};

use crate::{runtime, Error, Result};

/// A running rate-limit service; stops (and its Redis with it) when dropped.
pub struct RateLimitService {
    addr: SocketAddr,
    domain: String,
    calls: Arc<AtomicU64>,
    // Field order is drop order: the gRPC server goes before its Redis.
    _running: Running,
    limiter: Option<Arc<AsyncRateLimiter>>,
    _redis: Option<redis::RedisServer>,
}

/// Dropping either stops the endpoint (the gRPC server shuts down when its
/// sender goes: it sends GOAWAY and Envoy closes its connections).
#[allow(dead_code)]
enum Running {
    Grpc(watch::Sender<bool>),
    Fault(fault::Running),
}

impl RateLimitService {
    /// Starts Redis and the service for `domain` with the limits in
    /// `limits_yaml`, in limitador's own format (a list of `namespace`,
    /// `max_value`, `seconds`, `conditions`, `variables`, optional `name`;
    /// a descriptor's entries are `descriptors[0]['<key>']`). At least one
    /// limit must be in the namespace `domain`.
    pub fn start(domain: &str, limits_yaml: &str) -> Result<RateLimitService> {
        RateLimitService::start_on(0, domain, limits_yaml)
    }

    /// [`RateLimitService::start`] on `127.0.0.1:port` (0: any free port).
    pub fn start_on(port: u16, domain: &str, limits_yaml: &str) -> Result<RateLimitService> {
        let limits = parse_limits(domain, limits_yaml)?;
        let redis = redis::RedisServer::start()?;
        let url = redis.url();
        let storage = runtime::block_on(AsyncRedisStorage::new(&url))
            .map_err(|e| Error::new(format!("connecting limitador to Redis at {url}: {e}")))?;
        let limiter = Arc::new(AsyncRateLimiter::new_with_storage(Box::new(storage)));
        for limit in limits {
            limiter.add_limit(limit);
        }
        let calls = Arc::new(AtomicU64::new(0));
        let (addr, stop) = serve_grpc(
            port,
            rls::Rls {
                limiter: limiter.clone(),
                calls: calls.clone(),
            },
        )?;
        Ok(RateLimitService {
            addr,
            domain: domain.to_string(),
            calls,
            _running: Running::Grpc(stop),
            limiter: Some(limiter),
            _redis: Some(redis),
        })
    }

    /// A rate-limit endpoint that misbehaves as `fault` says. It counts no
    /// limits: [`RateLimitService::remaining`] is an error.
    pub fn faulty(fault: Fault) -> Result<RateLimitService> {
        let calls = Arc::new(AtomicU64::new(0));
        let (addr, running) = fault::start(fault, calls.clone())?;
        Ok(RateLimitService {
            addr,
            domain: String::new(),
            calls,
            _running: Running::Fault(running),
            limiter: None,
            _redis: None,
        })
    }

    /// Where the gRPC service listens (HTTP/2 without TLS): the endpoint of
    /// Envoy's rate-limit cluster.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ShouldRateLimit` calls received so far (for a faulty endpoint: the
    /// calls it saw arrive).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// What is left of the tightest limit that applies to a descriptor with
    /// these entries, read from the counters in Redis without charging
    /// anything; `None` if no limit applies to it.
    pub fn remaining(&self, descriptor: &[(&str, &str)]) -> Result<Option<u64>> {
        let limiter = self.limiter.as_ref().ok_or_else(|| {
            Error::new("a faulty rate-limit endpoint counts nothing: no remaining to read")
        })?;
        let namespace = Namespace::from(self.domain.as_str());
        let ctx = rls::descriptor_context(
            descriptor
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let result = runtime::block_on(limiter.is_rate_limited(&namespace, &ctx, 0))
            .map_err(|e| Error::new(format!("reading counters from Redis: {e}")))?;
        Ok(rls::tightest(&result.counters).map(|c| c.remaining().unwrap_or(c.max_value())))
    }
}

/// Parses limitador's limits YAML; refuses a file with no limit for `domain`
/// (a misspelt namespace would otherwise limit nothing, silently).
pub fn parse_limits(domain: &str, limits_yaml: &str) -> Result<Vec<Limit>> {
    let limits: Vec<Limit> = serde_yaml::from_str(limits_yaml)
        .map_err(|e| Error::new(format!("limitador limits file: {e}")))?;
    let namespace = Namespace::from(domain);
    if !limits.iter().any(|l| l.namespace() == &namespace) {
        return Err(Error::new(format!(
            "limitador limits file: no limit has namespace {domain:?} (the rate-limit domain)"
        )));
    }
    Ok(limits)
}

/// Serves a `RateLimitService` implementation over h2c on loopback `port`
/// (0: a free one), on the harness runtime, until the returned sender is
/// dropped or set.
fn serve_grpc<T: RlsApi>(port: u16, service: T) -> Result<(SocketAddr, watch::Sender<bool>)> {
    let incoming = {
        let _guard = runtime::handle().enter();
        tonic::transport::server::TcpIncoming::bind(SocketAddr::from(([127, 0, 0, 1], port)))
            .map_err(|e| Error::new(format!("binding the rate-limit service: {e}")))?
            .with_nodelay(Some(true))
    };
    let addr = incoming
        .local_addr()
        .map_err(|e| Error::new(format!("reading the rate-limit service address: {e}")))?;
    let (stop, mut stopped) = watch::channel(false);
    let server = tonic::transport::Server::builder().serve_with_incoming_shutdown(
        RateLimitServiceServer::new(service),
        incoming,
        async move {
            let _ = stopped.changed().await;
        },
    );
    runtime::handle().spawn(async move {
        if let Err(e) = server.await {
            eprintln!("rate-limit service on {addr} stopped: {e}");
        }
    });
    Ok((addr, stop))
}
