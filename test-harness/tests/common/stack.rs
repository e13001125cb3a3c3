//! The usual trio in one call: a mock agent, a mock JWKS server serving the
//! default test keys, and Envoy ([`super::start_envoy_with`]) with the filter
//! in front of the agent and a `jwks` cluster pointing at the JWKS server.

use serde_json::Value;
use test_harness::{tokens, Bootstrap, Envoy, MockAgent, MockJwks};

pub struct Stack {
    pub agent: MockAgent,
    pub jwks: MockJwks,
    pub envoy: Envoy,
}

impl Stack {
    /// `config` gets the started JWKS server (for its [`MockJwks::uri`]) and
    /// returns the plugin configuration, e.g.
    /// `Stack::start(|jwks| json!({"providers": {"p": plugin_config::remote_provider(&jwks.uri(), "jwks")}}))`.
    pub fn start(config: impl FnOnce(&MockJwks) -> Value) -> Stack {
        Stack::start_with(config, |b| b)
    }

    /// Like [`Stack::start`], with a chance to adjust the bootstrap (workers,
    /// HTTP/2 upstream, more clusters).
    pub fn start_with(
        config: impl FnOnce(&MockJwks) -> Value,
        tweak: impl FnOnce(Bootstrap) -> Bootstrap,
    ) -> Stack {
        let agent = MockAgent::start().unwrap();
        let jwks = MockJwks::start(tokens::default_jwks()).unwrap();
        let addr = jwks.addr();
        let envoy = super::start_envoy_with(agent.addr(), &config(&jwks), |b| {
            tweak(b.jwks_cluster(addr))
        });
        Stack { agent, jwks, envoy }
    }

    /// [`Envoy::url`].
    pub fn url(&self, path: &str) -> String {
        self.envoy.url(path)
    }
}
