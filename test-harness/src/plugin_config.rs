//! Plugin configurations (the JSON the filter gets as its `configuration`)
//! that tests start from, matching the tokens [`crate::Token::standard`] mints.

use serde_json::{json, Value};

use crate::tokens;

/// The `iss` of the harness's test provider.
pub const TEST_ISSUER: &str = "https://issuer.toolguard.test";
/// The audience (client id) the test provider accepts.
pub const TEST_AUDIENCE: &str = "toolguard-tests";
/// The Envoy cluster name the bootstrap gives the mock JWKS server when
/// started through [`crate::Bootstrap::jwks_cluster`].
pub const JWKS_CLUSTER: &str = "jwks";

/// A provider for [`TEST_ISSUER`] / [`TEST_AUDIENCE`] with the default test
/// keys inline (`local_jwks`).
pub fn local_provider() -> Value {
    json!({
        "issuer": TEST_ISSUER,
        "audiences": [TEST_AUDIENCE],
        "local_jwks": {"inline_string": tokens::default_jwks().to_string()},
    })
}

/// A provider for [`TEST_ISSUER`] / [`TEST_AUDIENCE`] whose keys come from
/// `jwks_uri` through the Envoy cluster `cluster`.
pub fn remote_provider(jwks_uri: &str, cluster: &str) -> Value {
    json!({
        "issuer": TEST_ISSUER,
        "audiences": [TEST_AUDIENCE],
        "remote_jwks": {
            "http_uri": {"uri": jwks_uri, "cluster": cluster, "timeout": "5s"},
            "cache_duration": "600s",
        },
    })
}

/// One provider `test` (see [`local_provider`]) and every path bypassed: a
/// valid configuration under which every request passes without a token.
pub fn passthrough() -> Value {
    json!({
        "providers": {"test": local_provider()},
        "bypass": [{"prefix": "/"}],
    })
}
