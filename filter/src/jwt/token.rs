//! Strict parsing of a compact JWS (RFC 7515 §7.1) carrying JWT claims (RFC 7519).
//!
//! Nothing here is trusted yet: this only decides whether the text is a token
//! at all. Anything ambiguous is refused rather than guessed at, since two
//! parsers that read one token differently is how signature bypasses happen.

use super::base64url;
use super::reason::Reason;
use crate::json::Json;

/// Longer tokens are refused before any work is done on them. Real ID and access
/// tokens are 1-2 KiB; the bound caps the CPU and memory a request can cost.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// A compact JWS whose header was parsed and whose payload was decoded, but not
/// interpreted: the payload need not be JSON (RFC 7515 and RFC 7520 examples,
/// Wycheproof vectors). JWT code uses [`parse`]; this level exists so the
/// signature check can be tested against those vectors as they are.
#[derive(Debug, Clone, PartialEq)]
pub struct Jws {
    pub header: Json,
    pub alg: String,
    pub kid: Option<String>,
    pub payload: Vec<u8>,
    /// `BASE64URL(header) '.' BASE64URL(payload)`, exactly as received: what was signed.
    pub signing_input: String,
    pub signature: Vec<u8>,
}

/// A JWT whose structure is valid and whose signature is not checked yet.
#[derive(Debug, Clone, PartialEq)]
pub struct UnverifiedToken {
    /// The protected header. Only `alg` and `kid` are used. `jku`, `x5u`, `jwk` and
    /// `x5c` are never read: keys come from the provider's configured JWKS only,
    /// never from the token that wants to be verified with them.
    pub header: Json,
    /// The claims: a JSON object without duplicate member names.
    pub claims: Json,
    pub signing_input: String,
    pub signature: Vec<u8>,
    pub alg: String,
    pub kid: Option<String>,
    /// `iss` if present (always a string: another type is `malformed`); it routes
    /// the token to its provider before anything is verified.
    pub iss: Option<String>,
}

/// Parses a compact JWS: exactly three canonical base64url parts (the signature
/// may be empty, which then simply fails to verify), a header that is a JSON
/// object without duplicate members, a string `alg`, an optional string `kid`,
/// and no `crit` (no extension is understood, so RFC 7515 §4.1.11 requires
/// refusing any token that marks one critical, e.g. RFC 7797 `b64`).
pub fn parse_jws(token: &str) -> Result<Jws, Reason> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Reason::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Reason::Malformed);
    };
    let header_bytes = base64url::decode(header_b64).ok_or(Reason::Malformed)?;
    let payload = base64url::decode(payload_b64).ok_or(Reason::Malformed)?;
    let signature = base64url::decode(signature_b64).ok_or(Reason::Malformed)?;
    let header = json_object(&header_bytes)?;
    if header.get("crit").is_some() {
        return Err(Reason::Malformed);
    }
    let alg = match header.get("alg") {
        Some(Json::String(alg)) => alg.clone(),
        _ => return Err(Reason::Malformed),
    };
    let kid = match header.get("kid") {
        None => None,
        Some(Json::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(Reason::Malformed),
    };
    // The two first parts and the dot between them; both were just decoded, so
    // this is the token's own text, not a re-encoding.
    let signing_input = format!("{header_b64}.{payload_b64}");
    Ok(Jws {
        header,
        alg,
        kid,
        payload,
        signing_input,
        signature,
    })
}

/// Parses a JWT: a [`parse_jws`] whose payload is a JSON object without
/// duplicate members (RFC 7519 §7.2 step 10) and whose `iss`, if any, is a string.
pub fn parse(token: &str) -> Result<UnverifiedToken, Reason> {
    let jws = parse_jws(token)?;
    let claims = json_object(&jws.payload)?;
    let iss = match claims.get("iss") {
        None => None,
        Some(Json::String(iss)) => Some(iss.clone()),
        Some(_) => return Err(Reason::Malformed),
    };
    Ok(UnverifiedToken {
        header: jws.header,
        claims,
        signing_input: jws.signing_input,
        signature: jws.signature,
        alg: jws.alg,
        kid: jws.kid,
        iss,
    })
}

/// A UTF-8 JSON object in which no object, at any depth, names a member twice:
/// RFC 7515 §5.2 lets a parser either refuse duplicates or keep the last one,
/// and parsers that differ there can be made to see different claims.
fn json_object(bytes: &[u8]) -> Result<Json, Reason> {
    let value = Json::parse(bytes).map_err(|_| Reason::Malformed)?;
    if !matches!(value, Json::Object(_)) || value.has_duplicate_keys() {
        return Err(Reason::Malformed);
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::base64url::encode;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn token(header: &str, claims: &str, signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            encode(header.as_bytes()),
            encode(claims.as_bytes()),
            encode(signature)
        )
    }

    const HEADER: &str = r#"{"alg":"RS256","kid":"k1"}"#;
    const CLAIMS: &str = r#"{"iss":"https://issuer.example","sub":"u","exp":2000000000}"#;

    #[test]
    #[wasm_bindgen_test]
    fn parses_a_well_formed_token() {
        let t = parse(&token(HEADER, CLAIMS, b"sig")).unwrap();
        assert_eq!(t.alg, "RS256");
        assert_eq!(t.kid.as_deref(), Some("k1"));
        assert_eq!(t.iss.as_deref(), Some("https://issuer.example"));
        assert_eq!(t.signature, b"sig");
        assert_eq!(t.claims.get("sub").and_then(Json::as_str), Some("u"));
        let (h, c) = (encode(HEADER.as_bytes()), encode(CLAIMS.as_bytes()));
        assert_eq!(t.signing_input, format!("{h}.{c}"));
    }

    #[test]
    #[wasm_bindgen_test]
    fn kid_and_iss_are_optional() {
        let t = parse(&token(r#"{"alg":"ES256"}"#, r#"{"exp":1}"#, b"s")).unwrap();
        assert_eq!((t.kid, t.iss), (None, None));
    }

    #[test]
    #[wasm_bindgen_test]
    fn needs_exactly_three_parts() {
        let good = token(HEADER, CLAIMS, b"sig");
        assert!(parse(&good).is_ok());
        let (h, c) = (encode(HEADER.as_bytes()), encode(CLAIMS.as_bytes()));
        for bad in [
            String::new(),
            h.clone(),
            format!("{h}.{c}"),
            format!("{good}."),
            format!("{good}.x"),
            format!("{h}.{c}.a.b.c"), // a JWE has five parts
            format!(".{good}"),
        ] {
            assert_eq!(parse(&bad), Err(Reason::Malformed), "{bad:?}");
        }
    }

    #[test]
    #[wasm_bindgen_test]
    fn an_empty_signature_is_structurally_fine_and_fails_later() {
        // `alg: none` tokens end in a dot; they must reach the algorithm check so
        // the answer says `alg_not_allowed`, which is what is wrong with them.
        let text = token(r#"{"alg":"none"}"#, CLAIMS, b"");
        assert!(text.ends_with('.'));
        let t = parse(&text);
        assert!(t.is_ok(), "{t:?}");
        assert!(t.unwrap().signature.is_empty());
    }

    #[test]
    #[wasm_bindgen_test]
    fn refuses_padded_or_dirty_base64() {
        let (h, c) = (encode(HEADER.as_bytes()), encode(CLAIMS.as_bytes()));
        let sig = encode(&[0xfb, 0xff]); // "-_8": 3 characters, so a padded form exists
        assert!(parse(&format!("{h}.{c}.{sig}")).is_ok());
        for bad in [
            format!("{h}.{c}.{sig}="),
            format!("{h}=.{c}.{sig}"),
            format!("{h}.{c} .{sig}"),
            format!("{h}.{c}.{sig}\n"),
            format!(" {h}.{c}.{sig}"),
            format!("{h}.{c}.{}", sig.replace('-', "+").replace('_', "/")),
        ] {
            assert_eq!(parse(&bad), Err(Reason::Malformed), "{bad:?}");
        }
    }

    #[test]
    #[wasm_bindgen_test]
    fn header_and_claims_must_be_objects_without_duplicates() {
        let cases = [
            (r#"{"alg":"RS256","alg":"none"}"#, CLAIMS),
            (HEADER, r#"{"iss":"a","iss":"b","exp":1}"#),
            (HEADER, r#"{"exp":1,"x":{"y":1,"y":2}}"#),
            (r#"["alg","RS256"]"#, CLAIMS),
            (HEADER, r#""a string""#),
            (HEADER, "Payload"), // RFC 7515 A.4: fine for a JWS, not a JWT
            (HEADER, r#"{"exp":1} trailing"#),
            (HEADER, ""),
        ];
        for (h, c) in cases {
            assert_eq!(parse(&token(h, c, b"s")), Err(Reason::Malformed), "{h} {c}");
        }
        let bad_utf8 = format!(
            "{}.{}.{}",
            encode(HEADER.as_bytes()),
            encode(b"{\"a\":\"\xff\"}"),
            encode(b"s")
        );
        assert_eq!(parse(&bad_utf8), Err(Reason::Malformed));
    }

    /// The duplicate check runs before any signature is checked, so its cost is
    /// an attacker's to choose: it must stay linear. A token as large as allowed,
    /// filled with as many members as fit (about a thousand).
    #[test]
    #[wasm_bindgen_test]
    fn a_token_full_of_members_is_checked_in_linear_time() {
        let claims = |n: usize, dup: bool| {
            let mut members: Vec<String> = (0..n).map(|i| format!("\"{i:x}\":0")).collect();
            if dup {
                members.push("\"0\":1".into());
            }
            format!("{{\"exp\":1,{}}}", members.join(","))
        };
        let mut n = 1;
        while token(HEADER, &claims(n + 1, true), b"s").len() <= MAX_TOKEN_BYTES {
            n += 1;
        }
        assert!(n > 700, "only {n} members fit");
        assert!(parse(&token(HEADER, &claims(n, false), b"s")).is_ok());
        assert_eq!(
            parse(&token(HEADER, &claims(n, true), b"s")),
            Err(Reason::Malformed)
        );
    }

    #[test]
    #[wasm_bindgen_test]
    fn alg_kid_iss_and_crit_are_checked() {
        let cases = [
            (r#"{"kid":"k"}"#, CLAIMS),
            (r#"{"alg":256}"#, CLAIMS),
            (r#"{"alg":null}"#, CLAIMS),
            (r#"{"alg":"RS256","kid":7}"#, CLAIMS),
            (r#"{"alg":"RS256","crit":["exp"],"exp":1}"#, CLAIMS),
            (r#"{"alg":"RS256","b64":false,"crit":["b64"]}"#, CLAIMS),
            (r#"{"alg":"RS256","crit":[]}"#, CLAIMS),
            (HEADER, r#"{"iss":["a"],"exp":1}"#),
            (HEADER, r#"{"iss":null,"exp":1}"#),
        ];
        for (h, c) in cases {
            assert_eq!(parse(&token(h, c, b"s")), Err(Reason::Malformed), "{h} {c}");
        }
    }

    #[test]
    #[wasm_bindgen_test]
    fn key_bearing_headers_are_parsed_but_never_used() {
        let h = r#"{"alg":"RS256","jku":"https://evil.example/jwks","x5u":"https://evil.example/c","jwk":{"kty":"oct","k":"AAAA"},"x5c":["AAAA"]}"#;
        let t = parse(&token(h, CLAIMS, b"s")).unwrap();
        assert_eq!(t.alg, "RS256");
        assert_eq!(t.kid, None);
    }

    #[test]
    #[wasm_bindgen_test]
    fn eight_kib_is_the_limit() {
        let base = token(HEADER, r#"{"exp":1,"pad":""}"#, b"");
        let pad = MAX_TOKEN_BYTES - base.len();
        // Each 3 bytes of claims are 4 characters; aim just under and just over.
        let fill = |n: usize| {
            token(
                HEADER,
                &format!(r#"{{"exp":1,"pad":"{}"}}"#, "a".repeat(n)),
                b"",
            )
        };
        let mut n = pad * 3 / 4;
        while fill(n + 1).len() <= MAX_TOKEN_BYTES {
            n += 1;
        }
        while fill(n).len() > MAX_TOKEN_BYTES {
            n -= 1;
        }
        assert!(fill(n).len() <= MAX_TOKEN_BYTES && fill(n).len() > MAX_TOKEN_BYTES - 4);
        assert!(parse(&fill(n)).is_ok());
        assert!(fill(n + 3).len() > MAX_TOKEN_BYTES);
        assert_eq!(parse(&fill(n + 3)), Err(Reason::Malformed));
    }

    #[test]
    #[wasm_bindgen_test]
    fn rfc7515_a1_header_with_crlf_parses() {
        let t = parse(include_str!("../../../fixtures/jose/rfc7515/A1_HS256.jws").trim()).unwrap();
        assert_eq!(t.alg, "HS256");
        assert_eq!(t.header.get("typ").and_then(Json::as_str), Some("JWT"));
        assert_eq!(t.iss.as_deref(), Some("joe"));
    }
}
