//! The fixed test keys (committed under `test-harness/keys/`, compiled in so
//! tests need no file lookups), their public JWKs, and raw signing.

use std::sync::OnceLock;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};

/// A test key. Its `kid` is what the JWKS and minted token headers carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    /// RSA 2048, kid `rsa-1`.
    Rsa1,
    /// RSA 2048, kid `rsa-2` (the key a rotation moves to).
    Rsa2,
    /// RSA 1024, kid `rsa-1024`: too small, must be refused.
    Rsa1024,
    /// P-256, kid `ec-1`.
    Ec1,
    /// Ed25519, kid `ed-1`.
    Ed1,
    /// 32-byte HMAC secret (`oct`), kid `hs-1`.
    Hs1,
}

const RSA_1_PEM: &str = include_str!("../../keys/rsa-1.pem");
const RSA_2_PEM: &str = include_str!("../../keys/rsa-2.pem");
const RSA_1024_PEM: &str = include_str!("../../keys/rsa-1024.pem");
const EC_1_PEM: &str = include_str!("../../keys/ec-1.pem");
const ED_1_PEM: &str = include_str!("../../keys/ed-1.pem");
const HS_1_B64: &str = include_str!("../../keys/hs-1.secret.b64");

impl Key {
    pub const ALL: [Key; 6] = [
        Key::Rsa1,
        Key::Rsa2,
        Key::Rsa1024,
        Key::Ec1,
        Key::Ed1,
        Key::Hs1,
    ];

    pub fn kid(self) -> &'static str {
        match self {
            Key::Rsa1 => "rsa-1",
            Key::Rsa2 => "rsa-2",
            Key::Rsa1024 => "rsa-1024",
            Key::Ec1 => "ec-1",
            Key::Ed1 => "ed-1",
            Key::Hs1 => "hs-1",
        }
    }

    /// The algorithm a token signed with this key uses unless told otherwise.
    pub fn default_alg(self) -> &'static str {
        match self {
            Key::Rsa1 | Key::Rsa2 | Key::Rsa1024 => "RS256",
            Key::Ec1 => "ES256",
            Key::Ed1 => "EdDSA",
            Key::Hs1 => "HS256",
        }
    }

    /// Whether this key can produce a signature for `alg`.
    pub fn supports(self, alg: &str) -> bool {
        match self {
            Key::Rsa1 | Key::Rsa2 | Key::Rsa1024 => matches!(
                alg,
                "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512"
            ),
            Key::Ec1 => alg == "ES256",
            Key::Ed1 => alg == "EdDSA" || alg == "Ed25519",
            Key::Hs1 => matches!(alg, "HS256" | "HS384" | "HS512"),
        }
    }

    /// The public JWK (with `kid`, `use: sig` and `alg`); for `Hs1` the `oct`
    /// key including its secret `k`.
    pub fn public_jwk(self) -> Value {
        let kid = self.kid();
        let alg = self.default_alg();
        match self {
            Key::Rsa1 | Key::Rsa2 | Key::Rsa1024 => {
                use rsa::traits::PublicKeyParts;
                let public = rsa_key(self).to_public_key();
                json!({
                    "kty": "RSA", "kid": kid, "use": "sig", "alg": alg,
                    "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
                    "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
                })
            }
            Key::Ec1 => {
                let point = ec_key().verifying_key().to_encoded_point(false);
                json!({
                    "kty": "EC", "kid": kid, "use": "sig", "alg": alg, "crv": "P-256",
                    "x": URL_SAFE_NO_PAD.encode(point.x().map(|x| x[..].to_vec()).unwrap_or_default()),
                    "y": URL_SAFE_NO_PAD.encode(point.y().map(|y| y[..].to_vec()).unwrap_or_default()),
                })
            }
            Key::Ed1 => json!({
                "kty": "OKP", "kid": kid, "use": "sig", "alg": alg, "crv": "Ed25519",
                "x": URL_SAFE_NO_PAD.encode(ed_key().verifying_key().to_bytes()),
            }),
            Key::Hs1 => json!({
                "kty": "oct", "kid": kid, "use": "sig", "alg": alg,
                "k": URL_SAFE_NO_PAD.encode(hmac_secret()),
            }),
        }
    }

    /// The public key as SPKI PEM (RSA and EC keys), e.g. to forge an HS256
    /// token "signed" with the public key (algorithm confusion).
    pub fn public_pem(self) -> Option<String> {
        use rsa::pkcs8::{EncodePublicKey, LineEnding};
        match self {
            Key::Rsa1 | Key::Rsa2 | Key::Rsa1024 => rsa_key(self)
                .to_public_key()
                .to_public_key_pem(LineEnding::LF)
                .ok(),
            Key::Ec1 => p256::PublicKey::from(ec_key().verifying_key())
                .to_public_key_pem(LineEnding::LF)
                .ok(),
            Key::Ed1 | Key::Hs1 => None,
        }
    }
}

/// `{"keys": [...]}` with the public JWKs of `keys`, in order.
pub fn jwks(keys: &[Key]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.public_jwk()).collect::<Vec<_>>() })
}

/// The key set the mock identity provider serves by default: `rsa-1`, `ec-1`
/// and `ed-1` (not `rsa-2`, so rotating to it can be tested, and not the
/// small or symmetric keys).
pub fn default_jwks() -> Value {
    jwks(&[Key::Rsa1, Key::Ec1, Key::Ed1])
}

/// The `hs-1` secret bytes.
pub fn hmac_secret() -> Vec<u8> {
    STANDARD
        .decode(HS_1_B64.trim())
        .unwrap_or_else(|e| panic!("keys/hs-1.secret.b64 is not base64: {e}"))
}

fn rsa_key(key: Key) -> &'static rsa::RsaPrivateKey {
    use rsa::pkcs8::DecodePrivateKey;
    static KEYS: [OnceLock<rsa::RsaPrivateKey>; 3] =
        [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let (slot, pem) = match key {
        Key::Rsa2 => (&KEYS[1], RSA_2_PEM),
        Key::Rsa1024 => (&KEYS[2], RSA_1024_PEM),
        _ => (&KEYS[0], RSA_1_PEM),
    };
    slot.get_or_init(|| {
        rsa::RsaPrivateKey::from_pkcs8_pem(pem)
            .unwrap_or_else(|e| panic!("test key {}: {e}", key.kid()))
    })
}

fn ec_key() -> &'static p256::ecdsa::SigningKey {
    use p256::pkcs8::DecodePrivateKey;
    static KEY: OnceLock<p256::ecdsa::SigningKey> = OnceLock::new();
    KEY.get_or_init(|| {
        p256::ecdsa::SigningKey::from_pkcs8_pem(EC_1_PEM)
            .unwrap_or_else(|e| panic!("test key ec-1: {e}"))
    })
}

fn ed_key() -> &'static ed25519_dalek::SigningKey {
    use ed25519_dalek::pkcs8::DecodePrivateKey;
    static KEY: OnceLock<ed25519_dalek::SigningKey> = OnceLock::new();
    KEY.get_or_init(|| {
        ed25519_dalek::SigningKey::from_pkcs8_pem(ED_1_PEM)
            .unwrap_or_else(|e| panic!("test key ed-1: {e}"))
    })
}

/// Signs `input` with `key` under `alg`. The caller has checked
/// [`Key::supports`].
pub(crate) fn sign(key: Key, alg: &str, input: &[u8]) -> Vec<u8> {
    use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer};
    use sha2::{Sha256, Sha384, Sha512};
    let rng = &mut rand_core::OsRng;
    match (key, alg) {
        (Key::Ec1, _) => {
            let sig: p256::ecdsa::Signature = ec_key().sign(input);
            sig.to_bytes().to_vec()
        }
        (Key::Ed1, _) => ed_key().sign(input).to_bytes().to_vec(),
        (Key::Hs1, _) => hmac(alg, &hmac_secret(), input),
        (_, "RS384") => rsa::pkcs1v15::SigningKey::<Sha384>::new(rsa_key(key).clone())
            .sign(input)
            .to_vec(),
        (_, "RS512") => rsa::pkcs1v15::SigningKey::<Sha512>::new(rsa_key(key).clone())
            .sign(input)
            .to_vec(),
        (_, "PS256") => rsa::pss::BlindedSigningKey::<Sha256>::new(rsa_key(key).clone())
            .sign_with_rng(rng, input)
            .to_vec(),
        (_, "PS384") => rsa::pss::BlindedSigningKey::<Sha384>::new(rsa_key(key).clone())
            .sign_with_rng(rng, input)
            .to_vec(),
        (_, "PS512") => rsa::pss::BlindedSigningKey::<Sha512>::new(rsa_key(key).clone())
            .sign_with_rng(rng, input)
            .to_vec(),
        _ => rsa::pkcs1v15::SigningKey::<Sha256>::new(rsa_key(key).clone())
            .sign(input)
            .to_vec(),
    }
}

/// HMAC under `alg` (HS384, HS512; anything else HS256) with any secret.
pub(crate) fn hmac(alg: &str, secret: &[u8], input: &[u8]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    fn run<M: Mac + hmac::digest::KeyInit>(secret: &[u8], input: &[u8]) -> Vec<u8> {
        let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(secret)
            .unwrap_or_else(|e| panic!("HMAC key: {e}"));
        mac.update(input);
        mac.finalize().into_bytes().to_vec()
    }
    match alg {
        "HS384" => run::<Hmac<sha2::Sha384>>(secret, input),
        "HS512" => run::<Hmac<sha2::Sha512>>(secret, input),
        _ => run::<Hmac<sha2::Sha256>>(secret, input),
    }
}
