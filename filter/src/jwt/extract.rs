//! Finding the token in the request headers the providers name (`from_headers`).

use crate::jwt::{HeaderSource, Provider};

/// A token and the header it was found in.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundToken {
    pub token: String,
    /// The `from_headers` entry that matched (lower-case name, configured prefix).
    pub source: HeaderSource,
}

/// Looks for a token in every header the providers list, in configuration
/// order (providers, then their `from_headers`); the first header that is
/// present, starts with its prefix and has something after it wins. Which
/// provider the token belongs to is decided afterwards by its `iss`.
///
/// The prefix matches ASCII case-insensitively: HTTP auth schemes are
/// case-insensitive (RFC 9110 §11.1), and clients do send `bearer`. Nothing else
/// is trimmed: a token with stray spaces is malformed, not silently repaired.
/// A header without the prefix (`Authorization: Basic ...`) is not a token and
/// the search goes on; `None` means no token at all (SPEC `missing_token`).
pub fn extract(
    providers: &[Provider],
    get_header: impl Fn(&str) -> Option<String>,
) -> Option<FoundToken> {
    let mut tried: Vec<&HeaderSource> = Vec::new();
    for source in providers.iter().flat_map(|p| &p.from_headers) {
        if tried.iter().any(|t| same_source(t, source)) {
            continue;
        }
        tried.push(source);
        let Some(value) = get_header(&source.name) else {
            continue;
        };
        if let Some(token) = strip_prefix_ignore_case(&value, &source.value_prefix) {
            if !token.is_empty() {
                return Some(FoundToken {
                    token: token.to_owned(),
                    source: source.clone(),
                });
            }
        }
    }
    None
}

/// Whether `provider` takes tokens from the header `source` describes. A token
/// found where its issuer's provider does not look is refused as
/// `unknown_issuer`: that provider is not configured to accept it from there.
pub fn provider_accepts(provider: &Provider, source: &HeaderSource) -> bool {
    provider.from_headers.iter().any(|s| same_source(s, source))
}

fn same_source(a: &HeaderSource, b: &HeaderSource) -> bool {
    a.name == b.name && a.value_prefix.eq_ignore_ascii_case(&b.value_prefix)
}

fn strip_prefix_ignore_case<'a>(value: &'a str, prefix: &str) -> Option<&'a str> {
    let head = value.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        value.get(prefix.len()..)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::{Algorithm, JwksSource};
    use wasm_bindgen_test::wasm_bindgen_test;

    fn provider(issuer: &str, sources: &[(&str, &str)]) -> Provider {
        Provider {
            name: issuer.into(),
            issuer: issuer.into(),
            audiences: vec![],
            token_use: vec![],
            algorithms: Algorithm::DEFAULT.to_vec(),
            jwks: JwksSource::Local(crate::jwt::JwkSet::empty()),
            from_headers: sources
                .iter()
                .map(|(n, p)| HeaderSource {
                    name: (*n).into(),
                    value_prefix: (*p).into(),
                })
                .collect(),
            clock_skew_seconds: 60,
            roles_claim: None,
        }
    }

    fn headers(list: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let owned: Vec<(String, String)> = list
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            owned
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    #[wasm_bindgen_test]
    fn bearer_token_from_authorization() {
        let p = [provider("a", &[("authorization", "Bearer ")])];
        let found = extract(&p, headers(&[("authorization", "Bearer abc.def.ghi")])).unwrap();
        assert_eq!(found.token, "abc.def.ghi");
        assert_eq!(found.source, p[0].from_headers[0]);
        for value in ["bearer abc", "BEARER abc", "BeArEr abc"] {
            assert_eq!(
                extract(&p, headers(&[("authorization", value)]))
                    .unwrap()
                    .token,
                "abc",
                "{value}"
            );
        }
    }

    #[test]
    #[wasm_bindgen_test]
    fn no_token_cases() {
        let p = [provider("a", &[("authorization", "Bearer ")])];
        assert_eq!(extract(&p, headers(&[])), None);
        assert_eq!(
            extract(&p, headers(&[("authorization", "Basic dXNlcjpwdw==")])),
            None
        );
        assert_eq!(extract(&p, headers(&[("authorization", "Bearer ")])), None);
        assert_eq!(extract(&p, headers(&[("authorization", "Bearer")])), None);
        assert_eq!(extract(&p, headers(&[("x-other", "Bearer abc")])), None);
        // A multi-byte character where the prefix would end must not panic.
        assert_eq!(
            extract(&p, headers(&[("authorization", "Beare\u{e9} abc")])),
            None
        );
    }

    #[test]
    #[wasm_bindgen_test]
    fn nothing_but_the_prefix_is_removed() {
        let p = [provider("a", &[("authorization", "Bearer ")])];
        assert_eq!(
            extract(&p, headers(&[("authorization", "Bearer  abc ")]))
                .unwrap()
                .token,
            " abc "
        );
    }

    #[test]
    #[wasm_bindgen_test]
    fn custom_headers_and_config_order() {
        let p = [
            provider("a", &[("x-jwt", ""), ("authorization", "Bearer ")]),
            provider("b", &[("authorization", "Bearer "), ("x-token", "JWT ")]),
        ];
        let both = headers(&[("authorization", "Bearer first"), ("x-jwt", "second")]);
        let found = extract(&p, both).unwrap();
        assert_eq!(
            (found.token.as_str(), found.source.name.as_str()),
            ("second", "x-jwt")
        );
        let found = extract(&p, headers(&[("x-token", "jwt third")])).unwrap();
        assert_eq!(found.token, "third");
        assert!(provider_accepts(&p[1], &found.source));
        assert!(!provider_accepts(&p[0], &found.source));
    }
}
