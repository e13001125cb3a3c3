use super::field::{Fe, P};
use super::point::{Affine, Jacobian, PointError};
use super::scalar::{Scalar, N};
use super::table::{double_mul, Table};
use super::P256Key;
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::{Signature as CrateSignature, SigningKey, VerifyingKey as CrateVerifyingKey};
use serde_json::Value;
use wasm_bindgen_test::wasm_bindgen_test;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// xorshift64: reproducible inputs without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes32(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for chunk in out.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_be_bytes());
        }
        out
    }
    /// A field element, biased towards the values where carries happen.
    fn fe(&mut self) -> Fe {
        let mut limbs = [0u32; 8];
        for limb in limbs.iter_mut() {
            *limb = match self.next() % 4 {
                0 => 0,
                1 => u32::MAX,
                _ => self.next() as u32,
            };
        }
        Fe::from_limbs_reduced(limbs)
    }
}

/// a·b mod p by double-and-add over b's bits, using only `add`: a reference
/// for the multiplication and its fast reduction.
fn slow_mul(a: &Fe, b: &Fe) -> Fe {
    let mut acc = Fe::ZERO;
    for limb in b.0.iter().rev() {
        for bit in (0..32).rev() {
            acc = acc.add(&acc);
            if limb >> bit & 1 == 1 {
                acc = acc.add(a);
            }
        }
    }
    acc
}

fn fe_from_u64(x: u64) -> Fe {
    Fe([x as u32, (x >> 32) as u32, 0, 0, 0, 0, 0, 0])
}

fn p_minus(k: u32) -> Fe {
    let mut limbs = P;
    limbs[0] -= k;
    Fe(limbs)
}

#[test]
#[wasm_bindgen_test]
fn field_addition_wraps_at_p() {
    assert_eq!(p_minus(1).add(&Fe::ONE), Fe::ZERO);
    assert_eq!(p_minus(1).add(&p_minus(1)), p_minus(2));
    assert_eq!(Fe::ZERO.sub(&Fe::ONE), p_minus(1));
    assert_eq!(Fe::ONE.neg().add(&Fe::ONE), Fe::ZERO);
    assert_eq!(Fe::ZERO.neg(), Fe::ZERO);
    assert_eq!(fe_from_u64(5).sub(&fe_from_u64(7)), p_minus(2));
    assert!(Fe::from_be_bytes(&super::field::limbs_to_be(&P)).is_none());
    assert!(Fe::from_be_bytes(&p_minus(1).to_be_bytes()).is_some());
}

#[test]
#[wasm_bindgen_test]
fn field_products_match_the_reference() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let edges = [
        Fe::ZERO,
        Fe::ONE,
        p_minus(1),
        p_minus(2),
        Fe([u32::MAX; 8]).add(&Fe::ZERO),
    ];
    let mut values: Vec<Fe> = edges.to_vec();
    values.extend((0..40).map(|_| rng.fe()));
    for a in &values {
        assert_eq!(a.square(), a.mul(a));
        for b in values.iter().take(12) {
            assert_eq!(a.mul(b), slow_mul(a, b), "{a:?} * {b:?}");
            assert_eq!(a.mul(b), b.mul(a));
        }
    }
    // (p − 1)² = 1
    assert_eq!(p_minus(1).square(), Fe::ONE);
    assert_eq!(
        fe_from_u64(1 << 40).mul(&fe_from_u64(1 << 40)),
        Fe([0, 0, 1 << 16, 0, 0, 0, 0, 0])
    );
}

#[test]
#[wasm_bindgen_test]
fn field_inversion_inverts() {
    let mut rng = Rng(42);
    for _ in 0..10 {
        let a = rng.fe();
        if !a.is_zero() {
            assert_eq!(a.mul(&a.invert()), Fe::ONE);
        }
    }
    assert_eq!(p_minus(1).invert(), p_minus(1));
}

fn n_minus(k: u32) -> Scalar {
    let mut limbs = N;
    limbs[0] -= k;
    Scalar(limbs)
}

#[test]
#[wasm_bindgen_test]
fn scalar_inversion_and_products() {
    let mut rng = Rng(7);
    let one = Scalar([1, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(n_minus(1).mul(&n_minus(1)), one);
    assert_eq!(n_minus(1).invert(), Some(n_minus(1)));
    assert_eq!(one.invert(), Some(one));
    assert_eq!(Scalar([0; 8]).invert(), None);
    let two = Scalar([2, 0, 0, 0, 0, 0, 0, 0]);
    // 2⁻¹ = (n + 1)/2
    let mut half = N;
    half[0] += 1;
    let half = {
        let mut h = [0u32; 8];
        for i in 0..8 {
            h[i] = half[i] >> 1 | half.get(i + 1).map_or(0, |x| x << 31);
        }
        Scalar(h)
    };
    assert_eq!(two.invert(), Some(half));
    for _ in 0..50 {
        let s = Scalar::reduce_be_bytes(&rng.bytes32());
        if s.is_zero() {
            continue;
        }
        let t = Scalar::reduce_be_bytes(&rng.bytes32());
        let inv = s.invert().unwrap();
        assert_eq!(s.mul(&inv), one);
        assert_eq!(s.mul(&t), t.mul(&s));
        // (s·t)·s⁻¹ = t
        assert_eq!(s.mul(&t).mul(&inv), t);
    }
    // Bytes at or above n are refused, and reduced by reduce_be_bytes.
    assert!(Scalar::from_be_bytes(&super::field::limbs_to_be(&N)).is_none());
    assert!(Scalar::reduce_be_bytes(&super::field::limbs_to_be(&N)).is_zero());
    assert_eq!(Scalar::reduce_be_bytes(&[0xff; 32]).0, {
        // 2²⁵⁶ − 1 − n
        let mut v = [u32::MAX; 8];
        super::field::sub_in_place(&mut v, &N);
        v
    });
}

fn affine(p: &Jacobian) -> Affine {
    super::point::to_affine_batch(&[*p]).unwrap()[0]
}

/// k·P by plain double-and-add over Jacobian points.
fn slow_scalar_mul(k: &[u32; 8], p: &Affine) -> Jacobian {
    let mut acc = Jacobian::INFINITY;
    for limb in k.iter().rev() {
        for bit in (0..32).rev() {
            acc = acc.double();
            if limb >> bit & 1 == 1 {
                acc = acc.add_affine(p);
            }
        }
    }
    acc
}

#[test]
#[wasm_bindgen_test]
fn tables_compute_the_same_multiples_as_double_and_add() {
    let g = Affine::generator();
    let gt = Table::new(&g).unwrap();
    let mut rng = Rng(99);
    let q = affine(&slow_scalar_mul(
        &Scalar::reduce_be_bytes(&rng.bytes32()).0,
        &g,
    ));
    let qt = Table::new(&q).unwrap();
    let zero = [0u32; 8];
    let mut scalars = vec![
        [1, 0, 0, 0, 0, 0, 0, 0],
        [2, 0, 0, 0, 0, 0, 0, 0],
        [33, 0, 0, 0, 0, 0, 0, 0],
        n_minus(1).0,
        n_minus(2).0,
    ];
    scalars.extend((0..6).map(|_| Scalar::reduce_be_bytes(&rng.bytes32()).0));
    for k in &scalars {
        let want = affine(&slow_scalar_mul(k, &g));
        assert_eq!(affine(&double_mul(k, &gt, &zero, &qt)), want);
        let want_q = affine(&slow_scalar_mul(k, &q));
        assert_eq!(affine(&double_mul(&zero, &gt, k, &qt)), want_q);
        let both = slow_scalar_mul(k, &g).add(&slow_scalar_mul(&[5, 0, 0, 0, 0, 0, 0, 0], &q));
        assert_eq!(
            affine(&double_mul(k, &gt, &[5, 0, 0, 0, 0, 0, 0, 0], &qt)),
            affine(&both)
        );
    }
    // n·G is infinity; (n − 1)·G + 1·G too, through the P + (−P) case.
    assert!(double_mul(&N, &gt, &zero, &qt).is_infinity());
    assert!(double_mul(&n_minus(1).0, &gt, &[1, 0, 0, 0, 0, 0, 0, 0], &gt).is_infinity());
    // G + G through the doubling case of a mixed addition.
    assert_eq!(
        affine(&double_mul(
            &[1, 0, 0, 0, 0, 0, 0, 0],
            &gt,
            &[1, 0, 0, 0, 0, 0, 0, 0],
            &gt
        )),
        affine(&Jacobian::from(&g).double())
    );
}

#[test]
#[wasm_bindgen_test]
fn public_keys_are_validated() {
    use super::point::{GX, GY};
    assert!(P256Key::new(&GX, &GY).is_ok());
    let mut bad_y = GY;
    bad_y[31] ^= 1;
    assert_eq!(
        P256Key::new(&GX, &bad_y).unwrap_err(),
        PointError::NotOnCurve
    );
    let p = super::field::limbs_to_be(&P);
    assert_eq!(
        P256Key::new(&p, &GY).unwrap_err(),
        PointError::CoordinateOutOfRange
    );
    // (0, 0) is not on the curve (b ≠ 0): the usual stand-in for infinity.
    assert_eq!(
        P256Key::new(&[0; 32], &[0; 32]).unwrap_err(),
        PointError::NotOnCurve
    );
    // x + p for a valid x is refused, not reduced.
    let mut x_plus_p = GX;
    let mut limbs = super::field::limbs_from_be(&x_plus_p);
    let carry = super::field::add_in_place(&mut limbs, &P);
    if !carry {
        x_plus_p = super::field::limbs_to_be(&limbs);
        assert_eq!(
            P256Key::new(&x_plus_p, &GY).unwrap_err(),
            PointError::CoordinateOutOfRange
        );
    }
}

/// Every vector of Wycheproof's ECDSA P-256 SHA-256 file in IEEE P1363 form
/// (r‖s, as JWS has it): valid ones, r or s of 0 or n or more, points at
/// infinity, edge cases of the arithmetic (carries, Shamir's trick) and more.
#[test]
#[wasm_bindgen_test]
fn wycheproof_ecdsa_p256_sha256_p1363() {
    let doc: Value = serde_json::from_str(include_str!(
        "../../../../fixtures/jose/wycheproof/ecdsa_secp256r1_sha256_p1363_test.json"
    ))
    .unwrap();
    let (mut valid, mut invalid) = (0, 0);
    for group in doc["testGroups"].as_array().unwrap() {
        let point = hex(group["publicKey"]["uncompressed"].as_str().unwrap());
        assert_eq!(point[0], 4);
        let key = P256Key::new(
            point[1..33].try_into().unwrap(),
            point[33..].try_into().unwrap(),
        )
        .unwrap();
        for case in group["tests"].as_array().unwrap() {
            let id = &case["tcId"];
            let msg = hex(case["msg"].as_str().unwrap());
            let sig = hex(case["sig"].as_str().unwrap());
            let got = key.verify(&msg, &sig);
            match case["result"].as_str().unwrap() {
                "valid" => {
                    assert!(got, "tcId {id} ({}) should verify", case["comment"]);
                    valid += 1;
                }
                "invalid" => {
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
    assert_eq!((valid, invalid), (173, 89));
}

/// Same verdict as the p256 crate on valid signatures of random keys and
/// messages, and on those signatures, keys and messages with a bit flipped.
#[test]
#[wasm_bindgen_test]
fn agrees_with_the_p256_crate() {
    let mut rng = Rng(0x5eed);
    let mut agreed = (0, 0);
    for round in 0..12 {
        let signing = loop {
            if let Ok(key) = SigningKey::from_bytes(&rng.bytes32().into()) {
                break key;
            }
        };
        let public = signing.verifying_key().to_encoded_point(false);
        let (x, y): (&[u8; 32], &[u8; 32]) = (
            public.x().unwrap()[..].try_into().unwrap(),
            public.y().unwrap()[..].try_into().unwrap(),
        );
        let ours = P256Key::new(x, y).unwrap();
        let theirs = signing.verifying_key();
        let digest = rng.bytes32();
        let sig: CrateSignature = signing.sign_prehash(&digest).unwrap();
        let sig = sig.to_bytes();
        let mut cases = vec![(digest, sig.to_vec())];
        let mut flipped = sig.to_vec();
        let bit = (rng.next() % 512) as usize;
        flipped[bit / 8] ^= 1 << (bit % 8);
        cases.push((digest, flipped));
        let mut other_digest = digest;
        other_digest[round % 32] ^= 0x80;
        cases.push((other_digest, sig.to_vec()));
        // s replaced by n − s: the other valid-looking signature; both verify.
        let s = Scalar::from_be_bytes(sig[32..].try_into().unwrap()).unwrap();
        let mut neg_s = N;
        super::field::sub_in_place(&mut neg_s, &s.0);
        let mut malleated = sig.to_vec();
        malleated[32..].copy_from_slice(&super::field::limbs_to_be(&neg_s));
        cases.push((digest, malleated));
        for (digest, sig) in cases {
            use p256::ecdsa::signature::hazmat::PrehashVerifier;
            let want = CrateSignature::from_slice(&sig)
                .is_ok_and(|s| theirs.verify_prehash(&digest, &s).is_ok());
            assert_eq!(ours.verify_digest(&digest, &sig), want, "round {round}");
            if want {
                agreed.0 += 1;
            } else {
                agreed.1 += 1;
            }
        }
        // A different key's verdict on the same signature.
        let other =
            CrateVerifyingKey::from(&SigningKey::from_bytes(&rng.bytes32().into()).unwrap());
        let point = other.to_encoded_point(false);
        let other_ours = P256Key::new(
            point.x().unwrap()[..].try_into().unwrap(),
            point.y().unwrap()[..].try_into().unwrap(),
        )
        .unwrap();
        assert!(!other_ours.verify_digest(&digest, &sig));
    }
    // Each round: the signature and its malleated twin verify; the others do not.
    assert_eq!(agreed, (24, 24));
}

#[test]
#[wasm_bindgen_test]
fn a_key_parsed_again_shares_the_live_table() {
    use super::point::{GX, GY};
    let first = P256Key::new(&GX, &GY).unwrap();
    let again = P256Key::new(&GX, &GY).unwrap();
    assert!(std::sync::Arc::ptr_eq(&first.table, &again.table));
    let other = {
        let q = affine(&slow_scalar_mul(
            &[3, 0, 0, 0, 0, 0, 0, 0],
            &Affine::generator(),
        ));
        P256Key::new(&q.x.to_be_bytes(), &q.y.to_be_bytes()).unwrap()
    };
    assert!(!std::sync::Arc::ptr_eq(&first.table, &other.table));
    // Once every key holding it is gone, the table goes too.
    let weak = std::sync::Arc::downgrade(&first.table);
    drop((first, again));
    assert_eq!(weak.strong_count(), 0);
}
