use super::*;
use crate::jwt::tests::support::{RFC7515_A2_JWK, RFC7520_RSA_JWK};
use jwt_compact::alg::{Rsa, RsaPrivateKey, RsaPublicKey as CrateRsaPublicKey};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{Algorithm as _, AlgorithmSignature as _};
use serde_json::Value;
use wasm_bindgen_test::wasm_bindgen_test;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn hash_named(name: &str) -> Hash {
    match name {
        "SHA-256" => Hash::Sha256,
        "SHA-384" => Hash::Sha384,
        "SHA-512" => Hash::Sha512,
        other => panic!("unexpected hash {other}"),
    }
}

/// Runs one Wycheproof file; returns (valid, invalid) counts. "acceptable"
/// vectors (a DigestInfo without its NULL) are refused: RFC 8017 lets a
/// verifier refuse them, and no JWS library signs that way.
fn wycheproof(doc: &str, pss: bool) -> (usize, usize) {
    let doc: Value = serde_json::from_str(doc).unwrap();
    let (mut valid, mut invalid) = (0, 0);
    for group in doc["testGroups"].as_array().unwrap() {
        let hash = hash_named(group["sha"].as_str().unwrap());
        if pss {
            assert_eq!(group["mgf"], "MGF1");
            assert_eq!(group["mgfSha"], group["sha"]);
            assert_eq!(group["sLen"].as_u64().unwrap() as usize, hash.output_len());
        }
        let n = hex(group["publicKey"]["modulus"].as_str().unwrap());
        let e = hex(group["publicKey"]["publicExponent"].as_str().unwrap());
        let key = RsaPublicKey::new(&n, &e).unwrap();
        assert_eq!(key.bits() as u64, group["keySize"].as_u64().unwrap());
        for case in group["tests"].as_array().unwrap() {
            let id = &case["tcId"];
            let msg = hex(case["msg"].as_str().unwrap());
            let sig = hex(case["sig"].as_str().unwrap());
            let got = if pss {
                key.verify_pss(hash, &msg, &sig)
            } else {
                key.verify_pkcs1v15(hash, &msg, &sig)
            };
            match case["result"].as_str().unwrap() {
                "valid" => {
                    assert!(got, "tcId {id} ({}) should verify", case["comment"]);
                    valid += 1;
                }
                "invalid" | "acceptable" => {
                    assert!(!got, "tcId {id} ({}) should not verify", case["comment"]);
                    invalid += 1;
                }
                other => panic!("tcId {id}: unexpected result {other}"),
            }
        }
    }
    assert_eq!(
        (valid + invalid) as u64,
        doc["numberOfTests"].as_u64().unwrap()
    );
    (valid, invalid)
}

#[test]
#[wasm_bindgen_test]
fn wycheproof_pkcs1v15_2048_sha256() {
    let doc = include_str!("../../../../fixtures/jose/wycheproof/rsa_signature_2048_sha256.json");
    assert_eq!(wycheproof(doc, false), (9, 250));
}

#[test]
#[wasm_bindgen_test]
fn wycheproof_pkcs1v15_3072_sha384() {
    let doc = include_str!("../../../../fixtures/jose/wycheproof/rsa_signature_3072_sha384.json");
    assert_eq!(wycheproof(doc, false), (7, 252));
}

#[test]
#[wasm_bindgen_test]
fn wycheproof_pkcs1v15_4096_sha512() {
    let doc = include_str!("../../../../fixtures/jose/wycheproof/rsa_signature_4096_sha512.json");
    assert_eq!(wycheproof(doc, false), (7, 252));
}

#[test]
#[wasm_bindgen_test]
fn wycheproof_pss_2048_sha256() {
    let doc = include_str!("../../../../fixtures/jose/wycheproof/rsa_pss_2048_sha256_mgf1_32.json");
    assert_eq!(wycheproof(doc, true), (63, 45));
}

#[test]
#[wasm_bindgen_test]
fn wycheproof_pss_2048_sha384() {
    let doc = include_str!("../../../../fixtures/jose/wycheproof/rsa_pss_2048_sha384_mgf1_48.json");
    assert_eq!(wycheproof(doc, true), (95, 46));
}

#[test]
#[wasm_bindgen_test]
fn wycheproof_pss_4096_sha512() {
    let doc = include_str!("../../../../fixtures/jose/wycheproof/rsa_pss_4096_sha512_mgf1_64.json");
    assert_eq!(wycheproof(doc, true), (132, 47));
}

#[test]
#[wasm_bindgen_test]
fn keys_that_are_not_rsa_keys_are_refused() {
    let n = [0xc5u8; 256];
    assert_eq!(
        RsaPublicKey::new(&n, &[1, 0, 0]),
        Err(RsaKeyError::BadExponent)
    );
    assert_eq!(RsaPublicKey::new(&n, &[1]), Err(RsaKeyError::BadExponent));
    assert_eq!(RsaPublicKey::new(&n, &[]), Err(RsaKeyError::BadExponent));
    assert_eq!(
        RsaPublicKey::new(&n, &[1, 0, 0, 0, 1]),
        Err(RsaKeyError::BadExponent)
    );
    assert!(RsaPublicKey::new(&n, &[0, 0, 1, 0, 1]).is_ok());
    let mut even = n;
    even[255] = 0xc4;
    assert_eq!(
        RsaPublicKey::new(&even, &[3]),
        Err(RsaKeyError::EvenModulus)
    );
    assert_eq!(
        RsaPublicKey::new(&[0, 0, 7], &[3]),
        Err(RsaKeyError::ModulusTooShort)
    );
}

fn private_key(jwk: &str) -> RsaPrivateKey {
    let jwk: JsonWebKey<'_> = serde_json::from_str(jwk).unwrap();
    RsaPrivateKey::try_from(&jwk).unwrap()
}

fn public_parts(jwk: &str) -> (Vec<u8>, Vec<u8>) {
    let v: Value = serde_json::from_str(jwk).unwrap();
    let decode = |m: &str| crate::jwt::base64url::decode(v[m].as_str().unwrap()).unwrap();
    (decode("n"), decode("e"))
}

/// The rsa crate (through jwt-compact) signs; ours must accept exactly what it
/// accepts, for the signature and for every one-bit change of it.
#[test]
#[wasm_bindgen_test]
fn agrees_with_the_rsa_crate_on_its_signatures_and_their_bit_flips() {
    let algorithms: [(Rsa, Hash, bool); 6] = [
        (Rsa::rs256(), Hash::Sha256, false),
        (Rsa::rs384(), Hash::Sha384, false),
        (Rsa::rs512(), Hash::Sha512, false),
        (Rsa::ps256(), Hash::Sha256, true),
        (Rsa::ps384(), Hash::Sha384, true),
        (Rsa::ps512(), Hash::Sha512, true),
    ];
    for jwk in [RFC7515_A2_JWK, RFC7520_RSA_JWK] {
        let private = private_key(jwk);
        let public = CrateRsaPublicKey::from(&private);
        let (n, e) = public_parts(jwk);
        let ours = RsaPublicKey::new(&n, &e).unwrap();
        for (alg, hash, pss) in &algorithms {
            let verify = |msg: &[u8], sig: &[u8]| {
                if *pss {
                    ours.verify_pss(*hash, msg, sig)
                } else {
                    ours.verify_pkcs1v15(*hash, msg, sig)
                }
            };
            for msg in [&b""[..], b"eyJhbGciOiJSUzI1NiJ9.e30", &[0xa5; 1000]] {
                let sig = alg.sign(&private, msg);
                let sig = sig.as_bytes().to_vec();
                assert!(verify(msg, &sig), "{} over {} bytes", alg.name(), msg.len());
                for bit in (0..sig.len() * 8).step_by(97) {
                    let mut flipped = sig.clone();
                    flipped[bit / 8] ^= 1 << (bit % 8);
                    let theirs = jwt_compact::alg::RsaSignature::try_from_slice(&flipped)
                        .is_ok_and(|s| alg.verify_signature(&s, &public, msg));
                    assert_eq!(verify(msg, &flipped), theirs, "{} bit {bit}", alg.name());
                    assert!(!theirs);
                }
                assert!(!verify(b"other message", &sig));
                assert!(!verify(msg, &sig[1..]));
                let mut longer = vec![0];
                longer.extend_from_slice(&sig);
                assert!(!verify(msg, &longer));
            }
        }
    }
}
