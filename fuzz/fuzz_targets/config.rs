//! The plugin configuration: `Config::from_json`, serde then validation.
//!
//! Checks that what is accepted is what the rest of the filter relies on (a
//! local JWKS parses, HS256 only with an `oct` key, header names are lower-case
//! tokens, the JWKS fetch's `:authority` and `:path` are usable header values,
//! limits are in range, durations are not zero), that parsing is deterministic,
//! and that a refusal has a message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use toolguard::config::{BypassRule, Config};
use toolguard::jwt::{Algorithm, JwksSource};

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn lower_token(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| is_tchar(b) && !b.is_ascii_uppercase())
}

/// A header value the fetch can carry: no ASCII spaces or control characters.
fn header_safe(value: &str) -> bool {
    !value.is_empty() && !value.contains(|c: char| c.is_ascii_whitespace() || c.is_ascii_control())
}

fuzz_target!(|data: &[u8]| {
    let config = match Config::from_json(data) {
        Ok(config) => config,
        Err(e) => {
            assert!(!e.problem.is_empty());
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    assert_eq!(Config::from_json(data).as_ref(), Ok(&config));
    assert!(!config.providers.is_empty());
    for (i, p) in config.providers.iter().enumerate() {
        assert!(!p.name.is_empty() && !p.issuer.is_empty());
        assert!(config.providers[..i].iter().all(|o| o.issuer != p.issuer));
        assert!(!p.algorithms.is_empty());
        assert!(p
            .audiences
            .iter()
            .chain(&p.token_use)
            .all(|s| !s.is_empty()));
        assert!(!p.from_headers.is_empty());
        for h in &p.from_headers {
            assert!(lower_token(&h.name), "header name {:?}", h.name);
        }
        if let Some(c) = &p.roles_claim {
            assert!(!c.segments.is_empty() && c.segments.iter().all(|s| !s.is_empty()));
        }
        match &p.jwks {
            JwksSource::Local(set) => {
                assert!(!set.keys().is_empty(), "a local JWKS without usable keys");
                if p.algorithms.contains(&Algorithm::HS256) {
                    assert!(set.supports(Algorithm::HS256));
                }
            }
            JwksSource::Remote(r) => {
                assert!(
                    !p.algorithms.contains(&Algorithm::HS256),
                    "HS256 with a fetched JWKS"
                );
                assert!(header_safe(&r.authority), "authority {:?}", r.authority);
                assert!(
                    header_safe(&r.path) && r.path.starts_with('/'),
                    "path {:?}",
                    r.path
                );
                assert!(!r.cluster.is_empty());
                assert!(!r.timeout.is_zero() && !r.cache_duration.is_zero());
            }
        }
    }
    for rule in &config.bypass {
        let (BypassRule::Path(p) | BypassRule::Prefix(p)) = rule;
        assert!(p.starts_with('/'));
    }
    if let Some(t) = &config.tools {
        assert!((1024..=16 * 1024 * 1024).contains(&t.max_frame_bytes));
        assert!(t.roles.iter().all(|(r, _)| !r.is_empty()));
    }
    if let Some(a) = &config.agentcore {
        assert!(a.forward_headers.iter().all(|(h, _)| lower_token(h)));
        let mut suffixes: Vec<String> = a
            .forward_headers
            .iter()
            .map(|(_, s)| s.clone())
            .chain(a.claims_to_headers.iter().map(|(_, s)| s.clone()))
            .chain(a.allowed_tools_header.clone())
            .collect();
        assert!(suffixes.len() <= 20);
        assert!(suffixes
            .iter()
            .all(|s| !s.is_empty() && s.bytes().all(is_tchar)));
        suffixes.iter_mut().for_each(|s| s.make_ascii_lowercase());
        suffixes.sort();
        let n = suffixes.len();
        suffixes.dedup();
        assert_eq!(n, suffixes.len(), "duplicate custom header suffix");
        if a.allowed_tools_header.is_some() {
            assert!(config.tools.is_some());
        }
    }
});
