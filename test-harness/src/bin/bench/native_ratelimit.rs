//! Envoy's own rate limiting, as the `ratelimit` scenario runs it against
//! toolguard's: `envoy.filters.http.ratelimit` with a descriptor from the
//! header `jwt_authn` copies `sub` into, and the gRPC cluster of the service.
//! Apart from the scenario so the test of the harness's rate-limit service
//! (tests/ratelimit_service.rs) can run the same configuration.

use std::net::SocketAddr;

use serde_json::{json, Value};

use super::configs::CLAIM_HEADER;

/// The cluster both sides reach the rate-limit service through.
pub const CLUSTER: &str = "ratelimit";
/// The rate-limit domain (limitador's namespace).
pub const DOMAIN: &str = "bench";
/// The descriptor key of the caller.
pub const USER_KEY: &str = "user";

/// An HTTP/2 cluster for a gRPC service, with circuit breakers out of the
/// way (wrk's connections all call the service at once).
pub fn grpc_cluster(name: &str, addr: SocketAddr) -> Value {
    let limit = 1_000_000;
    json!({
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            },
        },
        "circuit_breakers": {"thresholds": [{
            "max_connections": limit, "max_pending_requests": limit,
            "max_requests": limit, "max_retries": limit,
        }]},
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
                "address": addr.ip().to_string(),
                "port_value": addr.port(),
            }}}}]}],
        },
    })
}

/// How Envoy's ratelimit filter calls the service.
#[derive(Clone, Debug)]
pub struct NativeOptions {
    pub domain: String,
    pub cluster: String,
    pub timeout: String,
    pub failure_mode_deny: bool,
}

impl Default for NativeOptions {
    /// The bench's: [`DOMAIN`], [`CLUSTER`], 1 s, failing open.
    fn default() -> Self {
        NativeOptions {
            domain: DOMAIN.into(),
            cluster: CLUSTER.into(),
            timeout: "1s".into(),
            failure_mode_deny: false,
        }
    }
}

/// Envoy's `envoy.filters.http.ratelimit`: one descriptor `user` from the
/// header `jwt_authn` wrote the `sub` claim into, x-ratelimit headers on
/// (toolguard always adds them).
pub fn native_ratelimit_filter(o: &NativeOptions) -> Value {
    json!({
        "name": "envoy.filters.http.ratelimit",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit",
            "domain": o.domain,
            "timeout": o.timeout,
            "failure_mode_deny": o.failure_mode_deny,
            "enable_x_ratelimit_headers": "DRAFT_VERSION_03",
            "rate_limits": [{"actions": [{"request_headers": {
                "header_name": CLAIM_HEADER,
                "descriptor_key": USER_KEY,
            }}]}],
            "rate_limit_service": {
                "transport_api_version": "V3",
                "grpc_service": {"envoy_grpc": {"cluster_name": o.cluster}},
            },
        },
    })
}
