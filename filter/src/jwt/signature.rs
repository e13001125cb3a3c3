//! Signature verification on keys parsed once: RSA with our own [`super::rsa`],
//! ES256 with our own [`super::ecdsa`], EdDSA and HS256 with jwt-compact's
//! algorithms.
//!
//! jwt-compact's own token type is not used: its parsing is more lenient than
//! [`super::token`] and it checks neither `iss` nor `aud`. Only its
//! `Algorithm::verify_signature` is used, after the signature length is checked
//! here (its HMAC and Ed25519 signature constructors assume the right length).

use super::ecdsa::P256Key;
use super::rsa::{Hash, RsaPublicKey};
use crate::jwt::Algorithm;
use jwt_compact::alg::{Ed25519, Hs256, Hs256Key};
use jwt_compact::{Algorithm as JwtAlgorithm, AlgorithmSignature};

/// The Ed25519 public key type jwt-compact's `Ed25519` verifies with (ed25519-compact's).
pub type Ed25519PublicKey = <Ed25519 as JwtAlgorithm>::VerifyingKey;

/// A key ready to verify: decoded and validated when its JWKS was parsed, not
/// per request.
#[derive(Clone)]
pub enum VerifyingKey {
    /// 2048 to 4096 bits.
    Rsa(Box<RsaPublicKey>),
    /// A point on P-256, with its table of multiples (shared on clone).
    P256(P256Key),
    /// A canonical point of large order.
    Ed25519(Ed25519PublicKey),
    /// A shared secret of at least 32 bytes; only ever from a `local_jwks`.
    Hmac(Hs256Key),
}

impl VerifyingKey {
    /// The JWK `kty` this key came from, for messages.
    pub fn kty(&self) -> &'static str {
        match self {
            VerifyingKey::Rsa(_) => "RSA",
            VerifyingKey::P256(_) => "EC",
            VerifyingKey::Ed25519(_) => "OKP",
            VerifyingKey::Hmac(_) => "oct",
        }
    }

    /// Whether `alg` is an algorithm for this kind of key: RSA for RS*/PS*, P-256
    /// for ES256, Ed25519 for EdDSA, a secret for HS256. This is what stops
    /// algorithm confusion: an RSA public key is never used as an HMAC secret.
    pub fn fits(&self, alg: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            VerifyingKey::Rsa(_) => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            VerifyingKey::P256(_) => alg == ES256,
            VerifyingKey::Ed25519(_) => alg == EdDSA,
            VerifyingKey::Hmac(_) => alg == HS256,
        }
    }

    /// True if `signature` is this key's `alg` signature over `signing_input`.
    /// A key that does not fit `alg` never verifies anything.
    pub fn verifies(&self, alg: Algorithm, signing_input: &[u8], signature: &[u8]) -> bool {
        use Algorithm::*;
        match (self, alg) {
            (VerifyingKey::Rsa(key), RS256) => {
                key.verify_pkcs1v15(Hash::Sha256, signing_input, signature)
            }
            (VerifyingKey::Rsa(key), RS384) => {
                key.verify_pkcs1v15(Hash::Sha384, signing_input, signature)
            }
            (VerifyingKey::Rsa(key), RS512) => {
                key.verify_pkcs1v15(Hash::Sha512, signing_input, signature)
            }
            (VerifyingKey::Rsa(key), PS256) => {
                key.verify_pss(Hash::Sha256, signing_input, signature)
            }
            (VerifyingKey::Rsa(key), PS384) => {
                key.verify_pss(Hash::Sha384, signing_input, signature)
            }
            (VerifyingKey::Rsa(key), PS512) => {
                key.verify_pss(Hash::Sha512, signing_input, signature)
            }
            (VerifyingKey::P256(key), ES256) => key.verify(signing_input, signature),
            (VerifyingKey::Ed25519(key), EdDSA) => check(&Ed25519, key, signing_input, signature),
            (VerifyingKey::Hmac(key), HS256) => check(&Hs256, key, signing_input, signature),
            _ => false,
        }
    }
}

impl std::fmt::Debug for VerifyingKey {
    // Never prints key material: an `oct` key is a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VerifyingKey({})", self.kty())
    }
}

fn check<A: JwtAlgorithm>(
    alg: &A,
    key: &A::VerifyingKey,
    signing_input: &[u8],
    signature: &[u8],
) -> bool {
    // Fixed-length signatures (HMAC, ECDSA r||s, Ed25519) must have that length
    // before jwt-compact builds them: its constructors would panic otherwise.
    if let Some(len) = A::Signature::LENGTH {
        if signature.len() != len.get() {
            return false;
        }
    }
    match A::Signature::try_from_slice(signature) {
        Ok(signature) => alg.verify_signature(&signature, key, signing_input),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Every vector of Wycheproof's ECDSA P-256 SHA-256 IEEE P1363 (raw r||s, as
    /// JWS uses) verify test: r or s of 0, r or s of n, wrong lengths, points
    /// at infinity, signature malleability and so on.
    #[test]
    #[wasm_bindgen_test]
    fn wycheproof_ecdsa_p256_p1363_vectors() {
        let doc: serde_json::Value = serde_json::from_str(include_str!(
            "../../../fixtures/jose/wycheproof/ecdsa_secp256r1_sha256_p1363_test.json"
        ))
        .unwrap();
        let (mut valid, mut invalid, mut zero_rs) = (0, 0, 0);
        for group in doc["testGroups"].as_array().unwrap() {
            let point = hex(group["publicKey"]["uncompressed"].as_str().unwrap());
            let key = VerifyingKey::P256(
                P256Key::new(
                    point[1..33].try_into().unwrap(),
                    point[33..].try_into().unwrap(),
                )
                .unwrap(),
            );
            for case in group["tests"].as_array().unwrap() {
                let id = &case["tcId"];
                let msg = hex(case["msg"].as_str().unwrap());
                let sig = hex(case["sig"].as_str().unwrap());
                let got = key.verifies(Algorithm::ES256, &msg, &sig);
                match case["result"].as_str().unwrap() {
                    "valid" => {
                        assert!(got, "tcId {id} should verify");
                        valid += 1;
                    }
                    "invalid" => {
                        assert!(!got, "tcId {id} should not verify");
                        invalid += 1;
                        if case["comment"].as_str().unwrap().contains("r=0") {
                            zero_rs += 1;
                        }
                    }
                    other => panic!("tcId {id}: unexpected result {other}"),
                }
            }
        }
        assert_eq!(
            valid + invalid,
            doc["numberOfTests"].as_u64().unwrap() as usize
        );
        assert_eq!((valid, invalid), (173, 89));
        assert!(zero_rs >= 7, "r = 0 vectors: {zero_rs}");
    }

    #[test]
    #[wasm_bindgen_test]
    fn a_key_never_verifies_an_algorithm_it_does_not_fit() {
        let secret = [7u8; 32];
        let key = VerifyingKey::Hmac(Hs256Key::new(secret));
        let input = b"header.payload";
        let sig = Hs256.sign(&Hs256Key::new(secret), input);
        let sig = sig.as_bytes();
        assert!(key.verifies(Algorithm::HS256, input, &sig));
        for alg in Algorithm::ALL
            .into_iter()
            .filter(|a| *a != Algorithm::HS256)
        {
            assert!(!key.fits(alg));
            assert!(!key.verifies(alg, input, &sig), "{alg:?}");
        }
    }

    #[test]
    #[wasm_bindgen_test]
    fn wrong_length_signatures_are_refused_without_panicking() {
        let key = VerifyingKey::Hmac(Hs256Key::new([7u8; 32]));
        for len in [0, 1, 31, 33, 64] {
            assert!(!key.verifies(Algorithm::HS256, b"x", &vec![0; len]));
        }
        let ed = VerifyingKey::Ed25519(Ed25519PublicKey::from_slice(&[0x11; 32]).unwrap());
        for len in [0, 63, 65] {
            assert!(!ed.verifies(Algorithm::EdDSA, b"x", &vec![0; len]));
        }
    }

    #[test]
    #[wasm_bindgen_test]
    fn debug_output_holds_no_key_material() {
        let key = VerifyingKey::Hmac(Hs256Key::new(*b"super-secret-super-secret-secret"));
        assert_eq!(format!("{key:?}"), "VerifyingKey(oct)");
    }
}
