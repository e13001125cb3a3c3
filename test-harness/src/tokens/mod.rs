//! Minting JWTs with the fixed test keys, valid ones and forged ones.
//!
//! Built on the raw RustCrypto primitives (rsa, p256, ed25519-dalek, hmac)
//! rather than a JWT library: tests must produce tokens no JWT library will
//! (header `alg` disagreeing with the key, HS256 keyed with a public key, junk
//! header fields, non-JSON payloads, broken signatures), and minting shares no
//! code with the filter's verifier (jwt-compact), so a bug there cannot be
//! mirrored here.

mod keys;

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};

pub use keys::{default_jwks, hmac_secret, jwks, Key};

use crate::plugin_config::{TEST_AUDIENCE, TEST_ISSUER};

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[derive(Clone, Debug)]
enum Signature {
    /// A correct signature over the token.
    Valid,
    /// Nothing after the last dot (an `alg: none` token).
    Empty,
    /// A correct signature with its first byte flipped.
    Corrupt,
    /// Exactly these bytes.
    Raw(Vec<u8>),
}

/// A JWT under construction. Starts valid for 1 hour (`iat` now, `exp` now +
/// 3600) with header `{"alg": key's default, "typ": "JWT", "kid": key's kid}`;
/// every part can then be changed, removed or broken.
///
/// ```
/// use test_harness::{Key, Token};
/// let good = Token::standard(Key::Rsa1).groups(&["analysts"]).mint();
/// let expired = Token::standard(Key::Ec1).exp_in(-3600).mint();
/// let confused = Token::standard(Key::Rsa1)
///     .alg("HS256")
///     .hmac_secret(Key::Rsa1.public_pem().unwrap().as_bytes())
///     .mint();
/// assert_eq!(good.split('.').count(), 3);
/// # let _ = (expired, confused);
/// ```
#[derive(Clone, Debug)]
pub struct Token {
    key: Key,
    header: Map<String, Value>,
    claims: Map<String, Value>,
    raw_header: Option<Vec<u8>>,
    raw_payload: Option<Vec<u8>>,
    sign_as: Option<String>,
    hmac_secret: Option<Vec<u8>>,
    signature: Signature,
}

impl Token {
    /// Valid for an hour, signed by `key`, with no `iss`, `aud` or `sub`.
    pub fn new(key: Key) -> Token {
        let now = now();
        let mut header = Map::new();
        header.insert("alg".into(), json!(key.default_alg()));
        header.insert("typ".into(), json!("JWT"));
        header.insert("kid".into(), json!(key.kid()));
        let mut claims = Map::new();
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + 3600));
        Token {
            key,
            header,
            claims,
            raw_header: None,
            raw_payload: None,
            sign_as: None,
            hmac_secret: None,
            signature: Signature::Valid,
        }
    }

    /// [`Token::new`] plus `iss` = [`TEST_ISSUER`], `aud` = [`TEST_AUDIENCE`] and
    /// `sub` = `test-user`: what the harness's test provider accepts.
    pub fn standard(key: Key) -> Token {
        Token::new(key)
            .iss(TEST_ISSUER)
            .aud(TEST_AUDIENCE)
            .sub("test-user")
    }

    // --- claims ---

    /// Sets any claim.
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Token {
        self.claims.insert(name.to_string(), value.into());
        self
    }

    pub fn remove_claim(mut self, name: &str) -> Token {
        self.claims.remove(name);
        self
    }

    pub fn iss(self, iss: &str) -> Token {
        self.claim("iss", iss)
    }

    /// `aud` as a single string.
    pub fn aud(self, aud: &str) -> Token {
        self.claim("aud", aud)
    }

    /// `aud` as an array.
    pub fn auds(self, auds: &[&str]) -> Token {
        self.claim("aud", json!(auds))
    }

    // Named after the claim, like `iss` and `aud`; not arithmetic.
    #[allow(clippy::should_implement_trait)]
    pub fn sub(self, sub: &str) -> Token {
        self.claim("sub", sub)
    }

    /// Absolute `exp` (seconds since the epoch).
    pub fn exp(self, exp: i64) -> Token {
        self.claim("exp", exp)
    }

    /// `exp` relative to now (negative: already expired).
    pub fn exp_in(self, seconds: i64) -> Token {
        self.claim("exp", now() + seconds)
    }

    pub fn nbf(self, nbf: i64) -> Token {
        self.claim("nbf", nbf)
    }

    /// `nbf` relative to now (positive: not yet valid).
    pub fn nbf_in(self, seconds: i64) -> Token {
        self.claim("nbf", now() + seconds)
    }

    pub fn iat(self, iat: i64) -> Token {
        self.claim("iat", iat)
    }

    /// Cognito's `token_use` (`id` or `access`).
    pub fn token_use(self, token_use: &str) -> Token {
        self.claim("token_use", token_use)
    }

    /// Cognito's `cognito:groups` (always an array in real tokens).
    pub fn groups(self, groups: &[&str]) -> Token {
        self.claim("cognito:groups", json!(groups))
    }

    /// Replaces the claims with this raw payload (before base64url), e.g. a
    /// payload that is not JSON.
    pub fn raw_payload(mut self, payload: impl Into<Vec<u8>>) -> Token {
        self.raw_payload = Some(payload.into());
        self
    }

    // --- header ---

    /// Sets any header field.
    pub fn header(mut self, name: &str, value: impl Into<Value>) -> Token {
        self.header.insert(name.to_string(), value.into());
        self
    }

    pub fn remove_header(mut self, name: &str) -> Token {
        self.header.remove(name);
        self
    }

    /// Header `alg`. The signature follows it when the key can make it (e.g.
    /// `PS256` with an RSA key); otherwise the key signs with its default
    /// algorithm, which forges an alg/key mismatch.
    pub fn alg(self, alg: &str) -> Token {
        self.header("alg", alg)
    }

    pub fn kid(self, kid: &str) -> Token {
        self.header("kid", kid)
    }

    pub fn no_kid(self) -> Token {
        self.remove_header("kid")
    }

    /// Replaces the header with this raw text (before base64url).
    pub fn raw_header(mut self, header: impl Into<Vec<u8>>) -> Token {
        self.raw_header = Some(header.into());
        self
    }

    // --- signature ---

    /// Sign with this algorithm whatever the header says (the key must
    /// support it, else its default is used).
    pub fn sign_as(mut self, alg: &str) -> Token {
        self.sign_as = Some(alg.to_string());
        self
    }

    /// Sign with HMAC keyed by these bytes (HS384/HS512 if the header says so,
    /// else HS256), whatever the key.
    pub fn hmac_secret(mut self, secret: &[u8]) -> Token {
        self.hmac_secret = Some(secret.to_vec());
        self
    }

    /// No signature at all (`header.payload.`); pair with `.alg("none")`.
    pub fn unsigned(mut self) -> Token {
        self.signature = Signature::Empty;
        self
    }

    /// A valid signature with one bit flipped.
    pub fn corrupt_signature(mut self) -> Token {
        self.signature = Signature::Corrupt;
        self
    }

    /// Exactly these signature bytes.
    pub fn signature_bytes(mut self, sig: &[u8]) -> Token {
        self.signature = Signature::Raw(sig.to_vec());
        self
    }

    /// The compact JWS: `b64(header).b64(payload).b64(signature)`.
    pub fn mint(&self) -> String {
        let header = self
            .raw_header
            .clone()
            .unwrap_or_else(|| Value::Object(self.header.clone()).to_string().into_bytes());
        let payload = self
            .raw_payload
            .clone()
            .unwrap_or_else(|| Value::Object(self.claims.clone()).to_string().into_bytes());
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let signature = match &self.signature {
            Signature::Empty => Vec::new(),
            Signature::Raw(bytes) => bytes.clone(),
            Signature::Valid => self.sign(signing_input.as_bytes()),
            Signature::Corrupt => {
                let mut sig = self.sign(signing_input.as_bytes());
                if let Some(b) = sig.first_mut() {
                    *b ^= 0x01;
                }
                sig
            }
        };
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// `Bearer <token>`, for the `authorization` header.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.mint())
    }

    fn header_alg(&self) -> Option<&str> {
        self.header.get("alg").and_then(Value::as_str)
    }

    fn sign(&self, input: &[u8]) -> Vec<u8> {
        if let Some(secret) = &self.hmac_secret {
            return keys::hmac(self.header_alg().unwrap_or("HS256"), secret, input);
        }
        let wanted = self.sign_as.as_deref().or_else(|| self.header_alg());
        let alg = match wanted {
            Some(alg) if self.key.supports(alg) => alg,
            _ => self.key.default_alg(),
        };
        keys::sign(self.key, alg, input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(token: &str) -> Vec<Vec<u8>> {
        token
            .split('.')
            .map(|p| URL_SAFE_NO_PAD.decode(p).unwrap())
            .collect()
    }

    #[test]
    fn standard_token_has_the_expected_header_and_claims() {
        let t = Token::standard(Key::Ec1).groups(&["a", "b"]).mint();
        let p = parts(&t);
        let header: Value = serde_json::from_slice(&p[0]).unwrap();
        let claims: Value = serde_json::from_slice(&p[1]).unwrap();
        assert_eq!(header, json!({"alg":"ES256","typ":"JWT","kid":"ec-1"}));
        assert_eq!(claims["iss"], TEST_ISSUER);
        assert_eq!(claims["aud"], TEST_AUDIENCE);
        assert_eq!(claims["cognito:groups"], json!(["a", "b"]));
        assert!(claims["exp"].as_i64().unwrap() > now());
        assert_eq!(p[2].len(), 64, "ES256 is raw r||s");
    }

    #[test]
    fn signatures_verify_with_the_public_keys() {
        use rsa::signature::Verifier;
        // RSA PKCS#1 v1.5 and PSS.
        for alg in ["RS256", "PS256", "RS512"] {
            let t = Token::standard(Key::Rsa1).alg(alg).mint();
            let (input, sig) = t.rsplit_once('.').unwrap();
            let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
            let jwk = Key::Rsa1.public_jwk();
            let n = rsa::BigUint::from_bytes_be(
                &URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap(),
            );
            let e = rsa::BigUint::from_bytes_be(
                &URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap(),
            );
            let public = rsa::RsaPublicKey::new(n, e).unwrap();
            let ok = match alg {
                "RS256" => rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(public)
                    .verify(
                        input.as_bytes(),
                        &rsa::pkcs1v15::Signature::try_from(sig.as_slice()).unwrap(),
                    )
                    .is_ok(),
                "RS512" => rsa::pkcs1v15::VerifyingKey::<sha2::Sha512>::new(public)
                    .verify(
                        input.as_bytes(),
                        &rsa::pkcs1v15::Signature::try_from(sig.as_slice()).unwrap(),
                    )
                    .is_ok(),
                _ => rsa::pss::VerifyingKey::<sha2::Sha256>::new(public)
                    .verify(
                        input.as_bytes(),
                        &rsa::pss::Signature::try_from(sig.as_slice()).unwrap(),
                    )
                    .is_ok(),
            };
            assert!(ok, "{alg}");
        }
        // EdDSA from the JWK's x.
        let t = Token::standard(Key::Ed1).mint();
        let (input, sig) = t.rsplit_once('.').unwrap();
        let x = URL_SAFE_NO_PAD
            .decode(Key::Ed1.public_jwk()["x"].as_str().unwrap())
            .unwrap();
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&x.try_into().unwrap()).unwrap();
        let sig =
            ed25519_dalek::Signature::from_slice(&URL_SAFE_NO_PAD.decode(sig).unwrap()).unwrap();
        assert!(vk.verify_strict(input.as_bytes(), &sig).is_ok());
        // HS256 with the oct key.
        let t = Token::standard(Key::Hs1).mint();
        let (input, sig) = t.rsplit_once('.').unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD.decode(sig).unwrap(),
            keys::hmac("HS256", &hmac_secret(), input.as_bytes())
        );
    }

    #[test]
    fn forgeries() {
        let none = Token::standard(Key::Rsa1).alg("none").unsigned().mint();
        assert!(none.ends_with('.'));
        let mismatched = Token::standard(Key::Ec1).alg("RS256").mint();
        assert_eq!(parts(&mismatched)[2].len(), 64, "still an ES256 signature");
        let good = Token::standard(Key::Hs1).mint();
        let bad = Token::standard(Key::Hs1).corrupt_signature();
        assert_eq!(parts(&good)[0], parts(&bad.mint())[0]);
        let raw = Token::standard(Key::Rsa1).raw_payload("not json").mint();
        assert_eq!(parts(&raw)[1], b"not json");
    }

    #[test]
    fn jwks_lists_kids_in_order() {
        let set = jwks(&[Key::Rsa1, Key::Ec1, Key::Ed1, Key::Rsa1024]);
        let kids: Vec<_> = set["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(kids, ["rsa-1", "ec-1", "ed-1", "rsa-1024"]);
        let small = Key::Rsa1024.public_jwk();
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(small["n"].as_str().unwrap())
                .unwrap()
                .len(),
            128
        );
    }
}
