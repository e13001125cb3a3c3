//! Finding the token in the request headers the providers name (`from_headers`),
//! or else in the query parameters they name (`from_params`).

use crate::jwt::{HeaderSource, Provider};

/// A token and where it was found.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundToken {
    pub token: String,
    pub source: TokenSource,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TokenSource {
    /// The `from_headers` entry that matched (lower-case name, configured prefix).
    Header(HeaderSource),
    /// The `from_params` name whose query parameter held it.
    Param(String),
}

/// A token taken out of the query, and the `:path` without it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamToken {
    pub found: FoundToken,
    pub path: String,
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
                    source: TokenSource::Header(source.clone()),
                });
            }
        }
    }
    None
}

/// Looks for a token in the query parameters the providers list (`from_params`,
/// as in `jwt_authn`: for browsers, which cannot set headers on a WebSocket), in
/// configuration order; the first parameter present with a non-empty value wins.
/// The value is percent-decoded. The returned path is `path` with every
/// parameter of that name removed, so the token never travels in the URL past
/// the filter (the flow sends it upstream as `Authorization: Bearer`).
pub fn extract_from_params(providers: &[Provider], path: &str) -> Option<ParamToken> {
    let (base, query) = path.split_once('?')?;
    let pairs: Vec<(&str, &str)> = query
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .collect();
    for name in providers.iter().flat_map(|p| &p.from_params) {
        let Some((_, value)) = pairs.iter().find(|(k, v)| k == name && !v.is_empty()) else {
            continue;
        };
        let token = percent_decode(value)?;
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| pair.split_once('=').map_or(*pair, |(k, _)| k) != name)
            .collect();
        let path = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return Some(ParamToken {
            found: FoundToken {
                token,
                source: TokenSource::Param(name.clone()),
            },
            path,
        });
    }
    None
}

/// `%XX` escapes decoded; `None` if they do not make UTF-8 (no token has that).
fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |at: usize| bytes.get(at).and_then(|h| char::from(*h).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(u8::try_from(hi * 16 + lo).ok()?);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Whether `provider` takes tokens from where `source` says this one was. A token
/// found where its issuer's provider does not look is refused as
/// `unknown_issuer`: that provider is not configured to accept it from there.
pub fn provider_accepts(provider: &Provider, source: &TokenSource) -> bool {
    match source {
        TokenSource::Header(source) => provider.from_headers.iter().any(|s| same_source(s, source)),
        TokenSource::Param(name) => provider.from_params.contains(name),
    }
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
            from_params: vec![],
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
        assert_eq!(
            found.source,
            TokenSource::Header(p[0].from_headers[0].clone())
        );
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
        assert_eq!(found.token, "second");
        assert!(matches!(&found.source, TokenSource::Header(h) if h.name == "x-jwt"));
        let found = extract(&p, headers(&[("x-token", "jwt third")])).unwrap();
        assert_eq!(found.token, "third");
        assert!(provider_accepts(&p[1], &found.source));
        assert!(!provider_accepts(&p[0], &found.source));
    }

    #[test]
    #[wasm_bindgen_test]
    fn a_query_parameter_token_is_taken_out_of_the_path() {
        let mut a = provider("a", &[("authorization", "Bearer ")]);
        a.from_params = vec!["access_token".into(), "token".into()];
        let p = [a];
        let got = extract_from_params(&p, "/ws?x=1&token=abc.def&y=2").unwrap();
        assert_eq!(got.found.token, "abc.def");
        assert_eq!(got.found.source, TokenSource::Param("token".into()));
        assert_eq!(got.path, "/ws?x=1&y=2");
        assert!(provider_accepts(&p[0], &got.found.source));
        // Configuration order decides; every copy of the parameter goes; escapes decode.
        let got = extract_from_params(&p, "/ws?token=t&access_token=a%2Eb&access_token=c").unwrap();
        assert_eq!(got.found.token, "a.b");
        assert_eq!(got.path, "/ws?token=t");
        assert_eq!(
            extract_from_params(&p, "/ws?token=abc").unwrap().path,
            "/ws"
        );
        for none in [
            "/ws",
            "/ws?",
            "/ws?token=",
            "/ws?tokens=abc",
            "/ws?x=token=abc",
        ] {
            assert_eq!(extract_from_params(&p, none), None, "{none}");
        }
        // A token from a parameter the issuer's provider does not list is not accepted.
        let b = provider("b", &[("authorization", "Bearer ")]);
        assert!(!provider_accepts(&b, &TokenSource::Param("token".into())));
        assert!(!provider_accepts(
            &b,
            &TokenSource::Header(HeaderSource {
                name: "x".into(),
                value_prefix: String::new()
            })
        ));
    }

    #[test]
    #[wasm_bindgen_test]
    fn broken_escapes_never_panic() {
        let mut a = provider("a", &[]);
        a.from_params = vec!["t".into()];
        let p = [a];
        assert_eq!(extract_from_params(&p, "/?t=%").unwrap().found.token, "%");
        assert_eq!(extract_from_params(&p, "/?t=%4").unwrap().found.token, "%4");
        assert_eq!(extract_from_params(&p, "/?t=%ff"), None);
        assert_eq!(extract_from_params(&p, "/?t=%e9%"), None);
    }
}
