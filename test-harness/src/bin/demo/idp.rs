//! The demo's identity provider: a stand-in for a Cognito user pool. It
//! serves the pool's JWKS and OpenID discovery document under
//! `/<pool id>/.well-known/`, as Cognito does, and mints ID tokens for the
//! demo users at `GET /token?user=analyst` (plain text, for `curl`).
//! Tokens are signed with the harness's test key `rsa-1`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use serde_json::{json, Value};

use test_harness::server::{self, Server};
use test_harness::tokens::{self, Key, Token};
use test_harness::Result;

/// The made-up user pool id in the issuer and JWKS paths.
pub const POOL_ID: &str = "us-east-1_DEMO";
/// The app client id: the `aud` of the tokens, as the plugin config expects.
pub const CLIENT_ID: &str = "toolguard-demo-client";
/// The key tokens are signed with.
pub const SIGNING_KEY: Key = Key::Rsa1;

/// A demo user and the claims of their ID token.
#[derive(Clone, Debug)]
pub struct DemoUser {
    pub name: &'static str,
    pub sub: &'static str,
    pub email: &'static str,
    pub groups: &'static [&'static str],
}

pub const ANALYST: DemoUser = DemoUser {
    name: "analyst",
    sub: "8d1e6b2a-3c4f-4a5b-9e7d-1f2a3b4c5d6e",
    email: "ana@filings.example",
    groups: &["analysts"],
};

pub const ADMIN: DemoUser = DemoUser {
    name: "admin",
    sub: "0f9e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e6f",
    email: "adam@filings.example",
    groups: &["admins"],
};

/// An analyst on a trial plan: the demo's rate-limit service gives them 3
/// requests a minute (envoy/ratelimit/demo-limits.yaml).
pub const TRIAL: DemoUser = DemoUser {
    name: "trial",
    sub: "5c4b3a29-1807-4f6e-9d5c-4b3a29180706",
    email: "tina@trial.example",
    groups: &["analysts"],
};

pub const USERS: [DemoUser; 3] = [ANALYST, ADMIN, TRIAL];

pub fn user(name: &str) -> Option<DemoUser> {
    USERS.iter().find(|u| u.name == name).cloned()
}

struct State {
    issuer: String,
    jwks_fetches: AtomicUsize,
}

/// The running identity provider; stops when dropped.
pub struct MockIdp {
    server: Server,
    state: Arc<State>,
}

impl MockIdp {
    /// Starts on `127.0.0.1:port` (0: a free port).
    pub fn start(port: u16) -> Result<MockIdp> {
        // The issuer holds the port, known only once bound: the handler reads
        // it from the state, filled in right after.
        let state = Arc::new(std::sync::OnceLock::<Arc<State>>::new());
        let handler_state = state.clone();
        let handler: server::Handler = Arc::new(move |req| {
            let state = handler_state.get().cloned();
            Box::pin(async move {
                match state {
                    Some(s) => handle(&s, req),
                    None => text(503, "starting"),
                }
            })
        });
        let server = Server::start(port, handler)?;
        let own = Arc::new(State {
            issuer: format!("http://{}/{POOL_ID}", server.addr()),
            jwks_fetches: AtomicUsize::new(0),
        });
        let _ = state.set(own.clone());
        Ok(MockIdp { server, state: own })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://127.0.0.1:PORT/us-east-1_DEMO`, the `iss` of its tokens.
    pub fn issuer(&self) -> &str {
        &self.state.issuer
    }

    pub fn jwks_uri(&self) -> String {
        format!("{}/.well-known/jwks.json", self.issuer())
    }

    /// `http://127.0.0.1:PORT/token?user=NAME`.
    pub fn token_url(&self, user: &str) -> String {
        format!("http://{}/token?user={user}", self.addr())
    }

    /// How often the JWKS was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::Relaxed)
    }

    /// A signed ID token for `user`, expiring `exp_in` seconds from now
    /// (negative: already expired).
    pub fn mint(&self, user: &DemoUser, exp_in: i64) -> String {
        id_token(self.issuer(), user, exp_in).mint()
    }
}

/// The ID token a Cognito user pool would issue for `user` (the claims that
/// matter here), unsigned yet: [`Token::mint`] signs it.
pub fn id_token(issuer: &str, user: &DemoUser, exp_in: i64) -> Token {
    let now = tokens::now();
    Token::new(SIGNING_KEY)
        .iss(issuer)
        .aud(CLIENT_ID)
        .sub(user.sub)
        .token_use("id")
        .groups(user.groups)
        .claim("email", user.email)
        .claim("email_verified", true)
        .claim("cognito:username", user.name)
        .claim("auth_time", now.min(now + exp_in) - 60)
        .iat(now.min(now + exp_in) - 60)
        .exp_in(exp_in)
}

fn handle(state: &State, req: Request<hyper::body::Incoming>) -> Response<server::Body> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let prefix = format!("/{POOL_ID}/.well-known/");
    match path.strip_prefix(&prefix) {
        Some("jwks.json") => {
            state.jwks_fetches.fetch_add(1, Ordering::Relaxed);
            return json_response(&tokens::jwks(&[SIGNING_KEY]));
        }
        Some("openid-configuration") => {
            return json_response(&json!({
                "issuer": state.issuer,
                "jwks_uri": format!("{}/.well-known/jwks.json", state.issuer),
                "response_types_supported": ["code", "token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }));
        }
        _ => {}
    }
    if path == "/token" {
        let param = |name: &str| {
            query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        let name = param("user").unwrap_or_default();
        let exp_in = param("expires_in")
            .and_then(|v| v.parse().ok())
            .unwrap_or(3600);
        return match user(&name) {
            Some(u) => text(200, &id_token(&state.issuer, &u, exp_in).mint()),
            None => text(
                404,
                "unknown user: ask for ?user=analyst or ?user=admin (&expires_in=SECONDS, negative for an expired token)",
            ),
        };
    }
    text(404, "not found")
}

fn json_response(v: &Value) -> Response<server::Body> {
    respond(200, "application/json", v.to_string())
}

fn text(status: u16, body: &str) -> Response<server::Body> {
    respond(status, "text/plain", format!("{body}\n"))
}

fn respond(status: u16, content_type: &str, body: String) -> Response<server::Body> {
    let mut resp = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed(),
    );
    *resp.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}
