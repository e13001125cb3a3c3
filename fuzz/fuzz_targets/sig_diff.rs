//! Differential: toolguard's own signature verification (`jwt::ecdsa`,
//! `jwt::rsa`) against the RustCrypto `p256` and `rsa` crates, run natively.
//! Both must give the same verdict on every key and signature, or the input is
//! a crash.
//!
//! The first byte picks the mode; the rest is the input of that mode:
//! - 0: ES256. 32 bytes make a signing key, 32 a digest; the key's point, a
//!   real signature and the digest (x‖y‖r‖s‖digest, 160 bytes) are then
//!   edited by the remaining bytes, pairs (position, xor). Key acceptance and,
//!   when both accept the key, the verdict must agree.
//! - 1: ES256 with everything raw: x‖y‖r‖s‖digest straight from the input.
//! - 2: RSA, the RFC 7515 A.2 2048-bit key. The second byte picks PKCS#1 v1.5
//!   or PSS (SHA-256); the message (up to the first 0xff byte) is signed, then
//!   the signature is edited by the bytes after it, as in mode 0.
//! - 3: RSA with a raw key: 256 bytes of modulus (made odd, top bit set), an
//!   exponent picked by one byte, and a raw signature; verdicts must agree
//!   whenever both sides accept the key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer, Verifier};
use rsa::BigUint;
use sha2::Sha256;
use std::sync::OnceLock;
use toolguard::jwt::base64url;
use toolguard::jwt::ecdsa::P256Key;
use toolguard::jwt::rsa::{Hash, RsaPublicKey};

const RSA_JWK: &str = include_str!("../../fixtures/jose/rfc7515/A2_RS256.jwk.json");

fn edit(blob: &mut [u8], edits: &[u8]) {
    for pair in edits.chunks_exact(2) {
        let len = blob.len();
        blob[usize::from(pair[0]) % len] ^= pair[1];
    }
}

fn es256(blob: &[u8; 160]) {
    let (x, rest) = blob.split_at(32);
    let (y, rest) = rest.split_at(32);
    let (sig, digest) = rest.split_at(64);
    let ours = P256Key::new(x.try_into().unwrap(), y.try_into().unwrap());
    let mut sec1 = vec![4u8];
    sec1.extend_from_slice(&blob[..64]);
    let theirs = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1);
    assert_eq!(
        ours.is_ok(),
        theirs.is_ok(),
        "key acceptance differs: {ours:?}"
    );
    let (Ok(ours), Ok(theirs)) = (ours, theirs) else {
        return;
    };
    let digest: &[u8; 32] = digest.try_into().unwrap();
    let want = p256::ecdsa::Signature::from_slice(sig)
        .is_ok_and(|s| theirs.verify_prehash(digest, &s).is_ok());
    assert_eq!(
        ours.verify_digest(digest, sig),
        want,
        "ES256 verdict differs"
    );
}

struct RsaFixture {
    private: rsa::RsaPrivateKey,
    ours: RsaPublicKey,
}

fn rsa_fixture() -> &'static RsaFixture {
    static FIXTURE: OnceLock<RsaFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let jwk: serde_json::Value = serde_json::from_str(RSA_JWK).unwrap();
        let field = |name: &str| base64url::decode(jwk[name].as_str().unwrap()).unwrap();
        let big = |name: &str| BigUint::from_bytes_be(&field(name));
        let private = rsa::RsaPrivateKey::from_components(
            big("n"),
            big("e"),
            big("d"),
            vec![big("p"), big("q")],
        )
        .unwrap();
        let ours = RsaPublicKey::new(&field("n"), &field("e")).unwrap();
        RsaFixture { private, ours }
    })
}

/// Salt for PSS signing from the input: deterministic, so a crash replays.
struct InputRng<'a>(&'a [u8], usize);
impl rand_core::RngCore for InputRng<'_> {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = self
                .0
                .get(self.1 % self.0.len().max(1))
                .copied()
                .unwrap_or(0x5a);
            self.1 += 1;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl rand_core::CryptoRng for InputRng<'_> {}

/// Our verdict and the rsa crate's, for RS256 (`pss` false) or PS256.
fn rsa_verdicts(
    ours: &RsaPublicKey,
    theirs: &rsa::RsaPublicKey,
    pss: bool,
    msg: &[u8],
    sig: &[u8],
) {
    let (got, want) = if pss {
        let key = rsa::pss::VerifyingKey::<Sha256>::new(theirs.clone());
        let want = rsa::pss::Signature::try_from(sig).is_ok_and(|s| key.verify(msg, &s).is_ok());
        (ours.verify_pss(Hash::Sha256, msg, sig), want)
    } else {
        let key = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(theirs.clone());
        let want =
            rsa::pkcs1v15::Signature::try_from(sig).is_ok_and(|s| key.verify(msg, &s).is_ok());
        (ours.verify_pkcs1v15(Hash::Sha256, msg, sig), want)
    };
    assert_eq!(got, want, "RSA verdict differs (pss: {pss})");
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, data)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            if data.len() < 64 {
                return;
            }
            let (seed, rest) = data.split_at(32);
            let (digest, edits) = rest.split_at(32);
            let Ok(signing) = p256::ecdsa::SigningKey::from_slice(seed) else {
                return;
            };
            let point = signing.verifying_key().to_encoded_point(false);
            let sig: p256::ecdsa::Signature = signing.sign_prehash(digest).unwrap();
            let mut blob = [0u8; 160];
            blob[..64].copy_from_slice(&point.as_bytes()[1..]);
            blob[64..128].copy_from_slice(&sig.to_bytes());
            blob[128..].copy_from_slice(digest);
            edit(&mut blob, edits);
            es256(&blob);
        }
        1 => {
            let mut blob = [0u8; 160];
            let n = data.len().min(160);
            blob[..n].copy_from_slice(&data[..n]);
            es256(&blob);
        }
        2 => {
            let Some((&kind, rest)) = data.split_first() else {
                return;
            };
            let pss = kind & 1 == 1;
            let end = rest.iter().position(|&b| b == 0xff).unwrap_or(rest.len());
            let (msg, edits) = (&rest[..end], rest.get(end + 1..).unwrap_or_default());
            let fixture = rsa_fixture();
            let mut sig = if pss {
                rsa::pss::SigningKey::<Sha256>::new(fixture.private.clone())
                    .sign_with_rng(&mut InputRng(edits, 0), msg)
                    .to_vec()
            } else {
                rsa::pkcs1v15::SigningKey::<Sha256>::new(fixture.private.clone())
                    .sign(msg)
                    .to_vec()
            };
            edit(&mut sig, edits);
            rsa_verdicts(
                &fixture.ours,
                &fixture.private.to_public_key(),
                pss,
                msg,
                &sig,
            );
        }
        _ => {
            if data.len() < 257 {
                return;
            }
            let (n, rest) = data.split_at(256);
            let (&e_pick, sig) = rest.split_first().unwrap();
            let mut n = n.to_vec();
            n[0] |= 0x80;
            n[255] |= 1;
            let e: &[u8] = match e_pick % 4 {
                0 => &[1, 0, 1],
                1 => &[3],
                2 => &[0, 1, 0, 0, 0, 1],
                _ => &[e_pick | 1],
            };
            let ours = RsaPublicKey::new(&n, e);
            let theirs =
                rsa::RsaPublicKey::new(BigUint::from_bytes_be(&n), BigUint::from_bytes_be(e));
            if let (Ok(ours), Ok(theirs)) = (ours, theirs) {
                for pss in [false, true] {
                    rsa_verdicts(&ours, &theirs, pss, b"message", sig);
                }
            }
        }
    }
});
