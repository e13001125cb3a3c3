//! The Envoy configurations the benchmark compares. Unlike [`test_harness::Bootstrap`]
//! (always the toolguard filter in front of the `agent` cluster), these vary
//! the HTTP filter (none, Envoy's `jwt_authn`, a Wasm module, a Lua probe) and
//! the route (a direct response, so no upstream skews the auth numbers, or an
//! upstream cluster), with no access log so logging does not dominate.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use test_harness::plugin_config::{TEST_AUDIENCE, TEST_ISSUER};
use test_harness::tokens::{jwks, Key};
use test_harness::{Bootstrap, Envoy, Result};

/// The listener every benchmark Envoy serves on.
pub const LISTENER: &str = "bench";
/// `stat_prefix` of the HTTP connection manager: stats are `http.bench.*`.
pub const STAT_PREFIX: &str = "bench";
/// The header both auth filters copy the `sub` claim into (what toolguard's
/// `agentcore.claims_to_headers` `{"sub": "User-Sub"}` produces).
pub const CLAIM_HEADER: &str = "x-amzn-bedrock-agentcore-runtime-custom-user-sub";
/// A route that answers with the claim header echoed back, so a check request
/// proves the filter really verified the token and copied the claim.
pub const CHECK_PATH: &str = "/check";
/// The response header [`CHECK_PATH`] echoes [`CLAIM_HEADER`] into.
pub const ECHO_HEADER: &str = "x-bench-claim";

/// The most Envoy reads from an upstream connection at once (see
/// `upstream_cluster`).
pub const UPSTREAM_READ_LIMIT: u32 = 16 * 1024;

/// Keys both auth filters trust: the same JWKS text for both. rsa-1 is there
/// twice, the second time with `alg` PS256 under its own kid ([`ps256_kid`]),
/// as both filters hold a key to the one `alg` its JWK names.
pub fn bench_jwks() -> String {
    let mut set = jwks(&[Key::Rsa1, Key::Ec1, Key::Ed1]);
    let mut ps = Key::Rsa1.public_jwk();
    ps["kid"] = ps256_kid().into();
    ps["alg"] = "PS256".into();
    if let Some(keys) = set["keys"].as_array_mut() {
        keys.push(ps);
    }
    set.to_string()
}

/// The kid of rsa-1 as a PS256 key in [`bench_jwks`].
pub fn ps256_kid() -> &'static str {
    "rsa-1-ps256"
}

/// The HTTP filter in front of the router.
#[derive(Clone, Debug)]
pub enum Filter {
    None,
    /// Envoy's `jwt_authn`: local JWKS, its JWT cache on, `sub` copied to
    /// [`CLAIM_HEADER`].
    JwtAuthn,
    /// A proxy-wasm module (toolguard or the empty filter) with this
    /// plugin configuration.
    Wasm {
        module: PathBuf,
        config: Value,
    },
    /// An Envoy Lua filter (used to observe how a body is chunked).
    Lua(String),
    /// [`Filter::JwtAuthn`], then this HTTP filter (e.g. Envoy's ratelimit
    /// filter, [`super::native_ratelimit::native_ratelimit_filter`], whose service
    /// cluster is added with [`Front::with_cluster`]).
    JwtAuthnThen(Value),
}

/// Where requests go after the filter.
#[derive(Clone, Debug)]
pub enum Route {
    /// 200 with this body, answered by Envoy itself.
    Direct(DirectBody),
    /// An upstream HTTP/1.1 endpoint.
    Upstream(SocketAddr),
}

#[derive(Clone, Debug)]
pub enum DirectBody {
    Inline(String),
    /// A file served as `text/event-stream` (the SSE stream).
    SseFile(PathBuf),
}

/// One Envoy configuration under test.
#[derive(Clone, Debug)]
pub struct Front {
    pub filter: Filter,
    pub route: Route,
    /// Clusters the filter calls (e.g. the rate-limit service), as Envoy
    /// cluster JSON.
    pub clusters: Vec<Value>,
}

impl Front {
    pub fn new(filter: Filter, route: Route) -> Front {
        Front {
            filter,
            route,
            clusters: Vec::new(),
        }
    }

    pub fn with_cluster(mut self, cluster: Value) -> Front {
        self.clusters.push(cluster);
        self
    }

    /// Starts it with `workers` worker threads and waits until it is ready.
    pub fn start(&self, workers: u32) -> Result<Envoy> {
        let bootstrap = Bootstrap::from_file(self.to_json().to_string(), LISTENER)
            .concurrency(workers)
            // Logging per request would be measured too; warnings still show.
            .log_level("warn");
        Envoy::start(&bootstrap)
    }

    pub fn to_json(&self) -> Value {
        let mut http_filters = Vec::new();
        match &self.filter {
            Filter::None => {}
            Filter::JwtAuthn => http_filters.push(jwt_authn_filter()),
            Filter::JwtAuthnThen(filter) => {
                http_filters.push(jwt_authn_filter());
                http_filters.push(filter.clone());
            }
            Filter::Wasm { module, config } => http_filters.push(wasm_filter(module, config)),
            Filter::Lua(code) => http_filters.push(json!({
                "name": "envoy.filters.http.lua",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
                    "default_source_code": {"inline_string": code},
                },
            })),
        }
        http_filters.push(json!({
            "name": "envoy.filters.http.router",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
        }));
        let mut clusters = self.clusters.clone();
        let main_route = match &self.route {
            Route::Direct(body) => direct_route("/", body),
            Route::Upstream(addr) => {
                clusters.push(upstream_cluster(*addr));
                json!({"match": {"prefix": "/"}, "route": {"cluster": "upstream", "timeout": "0s"}})
            }
        };
        let check_route = json!({
            "match": {"path": CHECK_PATH},
            "direct_response": {"status": 200, "body": {"inline_string": "ok"}},
            "response_headers_to_add": [{"header": {
                "key": ECHO_HEADER,
                "value": format!("%REQ({CLAIM_HEADER})%"),
            }}],
        });
        let hcm = json!({
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": STAT_PREFIX,
            "codec_type": "AUTO",
            "stream_idle_timeout": "0s",
            "request_timeout": "0s",
            "generate_request_id": false,
            "route_config": {
                "name": "bench",
                // The SSE stream is served whole by a direct response.
                "max_direct_response_body_size_bytes": 4 * 1024 * 1024,
                "virtual_hosts": [{
                    "name": "bench",
                    "domains": ["*"],
                    "routes": [check_route, main_route],
                }],
            },
            "http_filters": http_filters,
        });
        json!({
            "admin": {"address": socket_address(0)},
            "static_resources": {
                "listeners": [{
                    "name": LISTENER,
                    "address": socket_address(0),
                    "filter_chains": [{"filters": [{
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": hcm,
                    }]}],
                }],
                "clusters": clusters,
            },
        })
    }
}

fn direct_route(prefix: &str, body: &DirectBody) -> Value {
    match body {
        DirectBody::Inline(text) => json!({
            "match": {"prefix": prefix},
            "direct_response": {"status": 200, "body": {"inline_string": text}},
        }),
        DirectBody::SseFile(path) => json!({
            "match": {"prefix": prefix},
            "direct_response": {"status": 200, "body": {"filename": path.display().to_string()}},
            "response_headers_to_add": [{
                "header": {"key": "content-type", "value": "text/event-stream"},
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            }],
        }),
    }
}

fn jwt_authn_filter() -> Value {
    json!({
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {"test": {
                "issuer": TEST_ISSUER,
                "audiences": [TEST_AUDIENCE],
                "local_jwks": {"inline_string": bench_jwks()},
                // toolguard keeps Authorization for AgentCore; so must the baseline.
                "forward": true,
                "from_headers": [{"name": "authorization", "value_prefix": "Bearer "}],
                "claim_to_headers": [{"header_name": CLAIM_HEADER, "claim_name": "sub"}],
                // The same capacity as toolguard's verified-token cache.
                "jwt_cache_config": {"jwt_cache_size": 1024},
            }},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "test"}}],
        },
    })
}

fn wasm_filter(module: &Path, config: &Value) -> Value {
    json!({
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "bench",
                "root_id": "toolguard",
                "vm_config": {
                    "vm_id": "bench",
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": module.display().to_string()}},
                },
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": config.to_string(),
                },
                "fail_open": false,
            },
        },
    })
}

fn upstream_cluster(addr: SocketAddr) -> Value {
    // The memory scenario holds 1000 streams open: Envoy's default circuit
    // breakers (1024 connections/requests) must not be what limits it.
    let limit = 1_000_000;
    json!({
        "name": "upstream",
        "type": "STATIC",
        "connect_timeout": "5s",
        // Envoy reads as much as this per socket read and hands each read to
        // the filters as one body chunk. At the default (1 MiB) a fast local
        // upstream's 1 MiB stream arrives in 2 or 3 chunks, unlike an agent's
        // stream that arrives a few frames at a time; 16 KiB keeps the chunks
        // small while the upstream stays fast.
        "per_connection_buffer_limit_bytes": UPSTREAM_READ_LIMIT,
        "circuit_breakers": {"thresholds": [{
            "max_connections": limit, "max_pending_requests": limit,
            "max_requests": limit, "max_retries": limit,
        }]},
        "load_assignment": {
            "cluster_name": "upstream",
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
                "address": addr.ip().to_string(),
                "port_value": addr.port(),
            }}}}]}],
        },
    })
}

fn socket_address(port: u16) -> Value {
    json!({"socket_address": {"address": "127.0.0.1", "port_value": port}})
}

/// toolguard authenticating with the bench JWKS and copying `sub` to
/// [`CLAIM_HEADER`]; no `tools`, so no stream policing (the auth scenarios
/// answer from Envoy anyway).
pub fn toolguard_auth_config() -> Value {
    json!({
        "providers": {"test": {
            "issuer": TEST_ISSUER,
            "audiences": [TEST_AUDIENCE],
            "local_jwks": {"inline_string": bench_jwks()},
        }},
        "agentcore": {"claims_to_headers": {"sub": "User-Sub"}},
    })
}

/// toolguard with no authentication (every path bypassed) and a tools policy:
/// `tools` is the list every caller gets (e.g. `["*"]`).
pub fn toolguard_policing_config(tools: &[&str], max_frame_bytes: usize) -> Value {
    json!({
        "providers": {"test": {
            "issuer": TEST_ISSUER,
            "audiences": [TEST_AUDIENCE],
            "local_jwks": {"inline_string": bench_jwks()},
        }},
        "bypass": [{"prefix": "/"}],
        "tools": {"default": tools, "max_frame_bytes": max_frame_bytes},
    })
}

/// toolguard authenticating (cached token) and policing with an allowlist:
/// the configuration the streaming scenarios (memory, first byte) run.
pub fn toolguard_stream_config(max_frame_bytes: usize) -> Value {
    json!({
        "providers": {"test": {
            "issuer": TEST_ISSUER,
            "audiences": [TEST_AUDIENCE],
            "local_jwks": {"inline_string": bench_jwks()},
        }},
        "tools": {"default": ["search"], "max_frame_bytes": max_frame_bytes},
        "agentcore": {"claims_to_headers": {"sub": "User-Sub"}},
    })
}
