//! Black-box test harness for toolguard: runs the real Envoy with the built
//! filter in front of scriptable mock upstreams, and mints tokens for it.
//!
//! A typical test:
//! ```no_run
//! use test_harness::{client, plugin_config, Bootstrap, Envoy, MockAgent};
//! let agent = MockAgent::start().unwrap();
//! let envoy = Envoy::start(
//!     &Bootstrap::new()
//!         .plugin_config_json(&plugin_config::passthrough())
//!         .upstream(agent.addr()),
//! )
//! .unwrap();
//! let resp = client::get(&envoy.url("/hello")).send_blocking().unwrap();
//! assert_eq!(resp.status, 200);
//! ```
//!
//! Everything asynchronous (mock servers, HTTP client connections) runs on one
//! background tokio runtime owned by the harness (see [`runtime`]), so the API
//! works the same from plain `#[test]` functions and from `#[tokio::test]`.

pub mod bootstrap;
pub mod client;
pub mod envoy;
pub mod error;
pub mod mock_agent;
pub mod mock_jwks;
pub mod paths;
pub mod placeholders;
pub mod plugin_config;
pub mod ratelimit;
pub mod rng;
pub mod runtime;
pub mod server;
pub mod tokens;
pub mod wait;

pub use bootstrap::Bootstrap;
pub use envoy::{validate, Envoy};
pub use error::{Error, Result};
pub use mock_agent::{BodyEnd, Chunking, MockAgent, RecordedRequest, Reply};
pub use mock_jwks::{JwksMode, MockJwks};
pub use tokens::{Key, Token};
