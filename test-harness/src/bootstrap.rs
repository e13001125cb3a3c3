//! What [`crate::Envoy::start`] runs, the one way the harness starts Envoy: either
//! the bootstrap built here (an admin listener, one HTTP listener, HTTP/1.1
//! and h2c, whose filter chain is the toolguard Wasm filter and the router, a
//! catch-all route to the `agent` cluster, and any extra clusters the plugin
//! configuration refers to by name, e.g. `jwks`), or a configuration text
//! written elsewhere ([`Bootstrap::from_file`]: the `envoy/` recipes, the
//! benchmark's contenders); plus the command line both are run with.
//!
//! Ports default to 0: Envoy binds free ports itself and the harness reads
//! them back from the admin API, so parallel tests never race for a port.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::envoy::START_TIMEOUT;
use crate::{paths, plugin_config, Error, Result};

/// The name of the HTTP listener (as shown by `/listeners`).
pub const LISTENER_NAME: &str = "toolguard";
/// The cluster every request is routed to.
pub const AGENT_CLUSTER: &str = "agent";

/// Builder for an Envoy bootstrap plus the command-line options to run it.
#[derive(Clone, Debug)]
pub struct Bootstrap {
    wasm: Option<PathBuf>,
    plugin_config: String,
    upstream: SocketAddr,
    upstream_http2: bool,
    /// Extra clusters: name, endpoint, HTTP/2.
    clusters: Vec<(String, SocketAddr, bool)>,
    listen_port: u16,
    admin_port: u16,
    concurrency: u32,
    log_level: String,
    component_log_levels: Vec<(String, String)>,
    generate_request_id: bool,
    max_request_headers_kb: Option<u32>,
    /// A configuration text run instead of the built bootstrap.
    file: Option<ConfigFile>,
    /// Extra environment for the Envoy process (e.g. AWS credentials).
    env: Vec<(String, String)>,
    start_timeout: Duration,
}

#[derive(Clone, Debug)]
struct ConfigFile {
    text: String,
    /// The listener whose address [`crate::Envoy::addr`] reports.
    listener: String,
}

impl Default for Bootstrap {
    fn default() -> Self {
        Bootstrap::new()
    }
}

impl Bootstrap {
    /// Defaults: the filter from [`paths::wasm_path`], the
    /// [`plugin_config::passthrough`] configuration, upstream `127.0.0.1:1`
    /// (nothing listens: 503) until [`Bootstrap::upstream`] is called,
    /// 2 workers, log level `info`.
    pub fn new() -> Bootstrap {
        Bootstrap {
            wasm: None,
            plugin_config: plugin_config::passthrough().to_string(),
            upstream: SocketAddr::from(([127, 0, 0, 1], 1)),
            upstream_http2: false,
            clusters: Vec::new(),
            listen_port: 0,
            admin_port: 0,
            concurrency: 2,
            log_level: "info".into(),
            component_log_levels: Vec::new(),
            generate_request_id: false,
            max_request_headers_kb: None,
            file: None,
            env: Vec::new(),
            start_timeout: START_TIMEOUT,
        }
    }

    /// A configuration text (YAML or JSON, placeholders already filled, see
    /// [`crate::placeholders`]) instead of the built bootstrap; Envoy is ready
    /// once `listener` is bound. The command-line options (workers, log
    /// levels, environment, start timeout) still apply; the builder's filter,
    /// route, cluster and port options do not.
    pub fn from_file(text: impl Into<String>, listener: &str) -> Bootstrap {
        Bootstrap {
            file: Some(ConfigFile {
                text: text.into(),
                listener: listener.to_string(),
            }),
            ..Bootstrap::new()
        }
    }

    /// The plugin configuration, as JSON.
    pub fn plugin_config_json(mut self, config: &Value) -> Bootstrap {
        self.plugin_config = config.to_string();
        self
    }

    /// The plugin configuration, verbatim (need not be JSON: for rejection
    /// tests).
    pub fn plugin_config_text(mut self, config: impl Into<String>) -> Bootstrap {
        self.plugin_config = config.into();
        self
    }

    /// The filter module to load instead of [`paths::wasm_path`].
    pub fn wasm(mut self, path: impl Into<PathBuf>) -> Bootstrap {
        self.wasm = Some(path.into());
        self
    }

    /// Address of the `agent` cluster (the mock agent).
    pub fn upstream(mut self, addr: SocketAddr) -> Bootstrap {
        self.upstream = addr;
        self
    }

    /// Talk HTTP/2 (h2c) to the `agent` cluster instead of HTTP/1.1.
    pub fn upstream_http2(mut self, on: bool) -> Bootstrap {
        self.upstream_http2 = on;
        self
    }

    /// An extra cluster `name` with one endpoint, for the plugin to call
    /// (e.g. its `remote_jwks.http_uri.cluster`).
    pub fn cluster(mut self, name: &str, addr: SocketAddr) -> Bootstrap {
        self.clusters.push((name.to_string(), addr, false));
        self
    }

    /// An extra HTTP/2 (h2c) cluster `name` with one endpoint, for a gRPC
    /// service such as the rate-limit service (Envoy's gRPC client needs
    /// `http2_protocol_options` on the cluster).
    pub fn grpc_cluster(mut self, name: &str, addr: SocketAddr) -> Bootstrap {
        self.clusters.push((name.to_string(), addr, true));
        self
    }

    /// The cluster [`plugin_config::JWKS_CLUSTER`] (`jwks`) pointing at `addr`.
    pub fn jwks_cluster(self, addr: SocketAddr) -> Bootstrap {
        self.cluster(plugin_config::JWKS_CLUSTER, addr)
    }

    /// Fixed port for the HTTP listener (default 0: any free port).
    pub fn listen_port(mut self, port: u16) -> Bootstrap {
        self.listen_port = port;
        self
    }

    /// Fixed port for the admin listener (default 0: any free port).
    pub fn admin_port(mut self, port: u16) -> Bootstrap {
        self.admin_port = port;
        self
    }

    /// Worker threads (`--concurrency`), default 2.
    pub fn concurrency(mut self, workers: u32) -> Bootstrap {
        self.concurrency = workers;
        self
    }

    /// Envoy's overall log level (`-l`), default `info`.
    pub fn log_level(mut self, level: &str) -> Bootstrap {
        self.log_level = level.to_string();
        self
    }

    /// One component's log level (`--component-log-level wasm:debug`).
    pub fn component_log_level(mut self, component: &str, level: &str) -> Bootstrap {
        self.component_log_levels
            .push((component.to_string(), level.to_string()));
        self
    }

    /// Whether Envoy adds `x-request-id` to requests. Off by default so the
    /// upstream sees exactly the client's headers plus what the filter adds.
    pub fn generate_request_id(mut self, on: bool) -> Bootstrap {
        self.generate_request_id = on;
        self
    }

    /// The HTTP connection manager's `max_request_headers_kb` (Envoy's default
    /// is 60 KiB; larger request headers get a 431 from Envoy itself, before
    /// any filter runs). Envoy accepts up to 8192. Over HTTP/2 each single
    /// header field stays bounded by the HPACK decoder (64 KiB on the wire;
    /// Envoy 1.40 has no option to raise it): a larger one is a protocol error.
    pub fn max_request_headers_kb(mut self, kb: u32) -> Bootstrap {
        self.max_request_headers_kb = Some(kb);
        self
    }

    /// An environment variable for the Envoy process.
    pub fn env(mut self, name: &str, value: &str) -> Bootstrap {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    /// How long Envoy gets to become ready ([`START_TIMEOUT`] by default).
    pub fn start_timeout(mut self, timeout: Duration) -> Bootstrap {
        self.start_timeout = timeout;
        self
    }

    /// The filter module this bootstrap loads; `None` for a configuration
    /// text, which names its own.
    pub fn wasm_path(&self) -> Option<PathBuf> {
        if self.file.is_some() {
            return None;
        }
        Some(self.wasm.clone().unwrap_or_else(paths::wasm_path))
    }

    /// The listener whose address [`crate::Envoy::addr`] reports.
    pub fn listener_name(&self) -> &str {
        self.file.as_ref().map_or(LISTENER_NAME, |f| &f.listener)
    }

    pub(crate) fn env_vars(&self) -> &[(String, String)] {
        &self.env
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.start_timeout
    }

    pub fn plugin_config(&self) -> &str {
        &self.plugin_config
    }

    /// Envoy command-line options besides `-c`.
    pub fn command_line_options(&self) -> Vec<String> {
        let mut args = vec![
            "--concurrency".to_string(),
            self.concurrency.to_string(),
            "--log-level".to_string(),
            self.log_level.clone(),
            // Several Envoys share the machine: no hot-restart shared memory.
            "--disable-hot-restart".to_string(),
        ];
        if !self.component_log_levels.is_empty() {
            args.push("--component-log-level".to_string());
            args.push(
                self.component_log_levels
                    .iter()
                    .map(|(c, l)| format!("{c}:{l}"))
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
        args
    }

    /// Whether the plugin configuration says `allow_on_headers_stop_iteration`:
    /// the Wasm `PluginConfig` then sets it too, as a deployment must.
    fn holds_headers_for_bodies(&self) -> bool {
        serde_json::from_str::<Value>(&self.plugin_config)
            .ok()
            .and_then(|c| c.get("allow_on_headers_stop_iteration")?.as_bool())
            .unwrap_or(false)
    }

    /// The bootstrap document.
    pub fn to_json(&self) -> Value {
        let wasm_filter = json!({
            "name": "envoy.filters.http.wasm",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                "config": {
                    "name": "toolguard",
                    "root_id": "toolguard",
                    "vm_config": {
                        "vm_id": "toolguard",
                        "runtime": "envoy.wasm.runtime.v8",
                        "code": {"local": {"filename": self.wasm.clone().unwrap_or_else(paths::wasm_path).display().to_string()}},
                    },
                    "configuration": {
                        "@type": "type.googleapis.com/google.protobuf.StringValue",
                        "value": self.plugin_config,
                    },
                    "fail_open": false,
                    // Paired with the plugin configuration's field of the same name.
                    "allow_on_headers_stop_iteration": self.holds_headers_for_bodies(),
                },
            },
        });
        let mut hcm = json!({
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": "ingress",
            "codec_type": "AUTO",
            // Agent streams run long and may be quiet for a while.
            "stream_idle_timeout": "0s",
            "request_timeout": "0s",
            "generate_request_id": self.generate_request_id,
            // WebSocket upgrades (AgentCore `/ws`) go through the filter chain; the
            // upgraded bytes reach the filter's body callbacks.
            "upgrade_configs": [{"upgrade_type": "websocket"}],
            "access_log": [{
                "name": "envoy.access_loggers.stdout",
                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"},
            }],
            "route_config": {
                "name": "all",
                "virtual_hosts": [{
                    "name": "all",
                    "domains": ["*"],
                    "routes": [{
                        "match": {"prefix": "/"},
                        "route": {"cluster": AGENT_CLUSTER, "timeout": "0s"},
                    }],
                }],
            },
            "http_filters": [
                wasm_filter,
                {
                    "name": "envoy.filters.http.router",
                    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
                },
            ],
        });
        if let Some(kb) = self.max_request_headers_kb {
            hcm["max_request_headers_kb"] = json!(kb);
        }
        let mut clusters = vec![cluster(AGENT_CLUSTER, self.upstream, self.upstream_http2)];
        for (name, addr, http2) in &self.clusters {
            clusters.push(cluster(name, *addr, *http2));
        }
        json!({
            "admin": {"address": socket_address(self.admin_port)},
            "static_resources": {
                "listeners": [{
                    "name": LISTENER_NAME,
                    "address": socket_address(self.listen_port),
                    "filter_chains": [{"filters": [{
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": hcm,
                    }]}],
                }],
                "clusters": clusters,
            },
        })
    }

    /// Writes the bootstrap as `dir/bootstrap.json` (a configuration text as
    /// `dir/envoy.yaml`); returns its path.
    pub fn write(&self, dir: &Path) -> Result<PathBuf> {
        if let Some(file) = &self.file {
            let path = dir.join("envoy.yaml");
            std::fs::write(&path, &file.text)
                .map_err(|e| Error::new(format!("writing {}: {e}", path.display())))?;
            return Ok(path);
        }
        let path = dir.join("bootstrap.json");
        let text = serde_json::to_string_pretty(&self.to_json())
            .map_err(|e| Error::new(format!("serializing bootstrap: {e}")))?;
        std::fs::write(&path, text)
            .map_err(|e| Error::new(format!("writing {}: {e}", path.display())))?;
        Ok(path)
    }
}

fn socket_address(port: u16) -> Value {
    json!({"socket_address": {"address": "127.0.0.1", "port_value": port}})
}

fn cluster(name: &str, addr: SocketAddr, http2: bool) -> Value {
    let mut c = json!({
        "name": name,
        "type": "STATIC",
        "connect_timeout": "5s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
                "address": addr.ip().to_string(),
                "port_value": addr.port(),
            }}}}]}],
        },
    });
    if http2 {
        c["typed_extension_protocol_options"] = json!({
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            },
        });
    }
    c
}
