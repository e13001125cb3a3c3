//! Modular exponentiation with a public, odd modulus, in Montgomery form.
//!
//! Only what RSA verification needs: `s^e mod n` for a small public exponent.
//! Nothing here is secret, so nothing needs to run in constant time.
//!
//! Limbs are 32 bits, least significant first: a 32×32→64 product is one
//! `i64.mul` in wasm, where a 64×64→128 one is a call into compiler-rt.
//! Products and squares are computed whole, then reduced (separated operand
//! scanning, SOS): the squaring can then skip half the partial products.
//! The Montgomery constants (−n⁻¹ mod 2³², R² mod n) are computed once per
//! key, when its JWKS is parsed, and kept in the [`Modulus`].
//! Every limb vector of one [`Modulus`] has exactly `len()` limbs (checked when
//! it is built), which is why the indexing below cannot go out of bounds.
#![allow(clippy::indexing_slicing)]

/// An odd modulus of at least two limbs, with its Montgomery constants.
#[derive(Clone, PartialEq, Eq)]
pub struct Modulus {
    n: Vec<u32>,
    /// −n⁻¹ mod 2³².
    n0_inv: u32,
    /// R² mod n, with R = 2^(32·len): brings a number into Montgomery form.
    r_squared: Vec<u32>,
}

impl Modulus {
    /// The modulus whose big-endian bytes are `be` (leading zeros allowed), or
    /// `None` if it is even or shorter than two limbs.
    pub fn from_be_bytes(be: &[u8]) -> Option<Modulus> {
        let n = limbs_from_be(be, limb_count(be))?;
        let n = trim(n);
        if n.len() < 2 || n.first().is_none_or(|low| low & 1 == 0) {
            return None;
        }
        let n0_inv = neg_inverse(n[0]);
        let r_squared = r_squared(&n);
        Some(Modulus {
            n,
            n0_inv,
            r_squared,
        })
    }

    fn len(&self) -> usize {
        self.n.len()
    }

    /// `base^exponent mod n` as `out_len` big-endian bytes, or `None` if `base`
    /// (big-endian) is not below n, or the result does not fit `out_len` bytes.
    pub fn pow(&self, base_be: &[u8], exponent: u32, out_len: usize) -> Option<Vec<u8>> {
        let base = limbs_from_be(base_be, self.len())?;
        if !less_than(&base, &self.n) {
            return None;
        }
        let base_m = self.mul(&base, &self.r_squared);
        let mut acc = base_m.clone();
        // Left to right over the exponent's bits below its top one; an exponent
        // of 0 or 1 is refused when the key is built, but both still give the
        // mathematically right answer here.
        let top = 31 - exponent.max(1).leading_zeros();
        if exponent & 1 == 1 && top > 0 {
            // An odd exponent (every RSA key's) ends with a multiplication by
            // the base: by the base itself rather than its Montgomery form, it
            // also leaves Montgomery form (acc·base·R⁻¹ with acc = b^(e−1)·R),
            // which saves the final multiplication by 1.
            for bit in (1..top).rev() {
                acc = self.square(&acc);
                if exponent >> bit & 1 == 1 {
                    acc = self.mul(&acc, &base_m);
                }
            }
            let result = self.mul(&self.square(&acc), &base);
            return limbs_to_be(&result, out_len);
        }
        for bit in (0..top).rev() {
            acc = self.square(&acc);
            if exponent >> bit & 1 == 1 {
                acc = self.mul(&acc, &base_m);
            }
        }
        if exponent == 0 {
            acc = self.mul(&self.r_squared, &one(self.len()));
        }
        let result = self.mul(&acc, &one(self.len()));
        limbs_to_be(&result, out_len)
    }

    /// a·b·R⁻¹ mod n, for a, b < n: the full product, then Montgomery
    /// reduction (separated operand scanning). Slices of known length keep the
    /// inner loops free of bounds checks, which made them twice as fast.
    fn mul(&self, a: &[u32], b: &[u32]) -> Vec<u32> {
        let len = self.len();
        // a·b + (R−1)·n < 2·R·n < 2·R², so 2·len + 1 limbs hold every step.
        let mut t = vec![0u32; 2 * len + 1];
        for (i, &ai) in a.iter().take(len).enumerate() {
            let ai = u64::from(ai);
            let mut carry = 0u64;
            for (tj, &bj) in t[i..i + len].iter_mut().zip(b) {
                // At most (2³²−1)² + 2·(2³²−1) = 2⁶⁴−1: no overflow.
                let s = u64::from(*tj) + ai * u64::from(bj) + carry;
                *tj = s as u32;
                carry = s >> 32;
            }
            // Rows before this one reached limb i + len − 1 at most.
            t[i + len] = carry as u32;
        }
        self.reduce(t)
    }

    /// a²·R⁻¹ mod n: each cross product aᵢ·aⱼ computed once and doubled, which
    /// saves a quarter of the work of [`Self::mul`]; all but one of the steps
    /// of a verification are squarings.
    fn square(&self, a: &[u32]) -> Vec<u32> {
        let len = self.len();
        let mut t = vec![0u32; 2 * len + 1];
        for i in 0..len {
            let ai = u64::from(a[i]);
            let mut carry = 0u64;
            for (tj, &aj) in t[2 * i + 1..i + len].iter_mut().zip(&a[i + 1..len]) {
                let s = u64::from(*tj) + ai * u64::from(aj) + carry;
                *tj = s as u32;
                carry = s >> 32;
            }
            // Rows before this one reached limb i + len − 1 at most.
            t[i + len] = carry as u32;
        }
        // Double the cross products (a² < R², so nothing leaves 2·len limbs).
        let mut high = 0u32;
        for limb in t.iter_mut() {
            let next = *limb >> 31;
            *limb = *limb << 1 | high;
            high = next;
        }
        let mut carry = 0u64;
        for (pair, &ai) in t.chunks_exact_mut(2).zip(a.iter().take(len)) {
            let square = u64::from(ai) * u64::from(ai);
            let s = u64::from(pair[0]) + (square & 0xffff_ffff) + carry;
            pair[0] = s as u32;
            let s = u64::from(pair[1]) + (square >> 32) + (s >> 32);
            pair[1] = s as u32;
            carry = s >> 32;
        }
        t[2 * len] += carry as u32;
        self.reduce(t)
    }

    /// t·R⁻¹ mod n for t < R·n (Montgomery reduction, separated operand
    /// scanning), t given as 2·len + 1 limbs.
    fn reduce(&self, mut t: Vec<u32>) -> Vec<u32> {
        let len = self.len();
        for i in 0..len {
            // Chosen so that limb i becomes zero: t is then divisible by 2^(32(i+1)).
            let m = u64::from(t[i].wrapping_mul(self.n0_inv));
            let mut carry = 0u64;
            for (tj, &nj) in t[i..i + len].iter_mut().zip(&self.n) {
                let s = u64::from(*tj) + m * u64::from(nj) + carry;
                *tj = s as u32;
                carry = s >> 32;
            }
            for tk in t[i + len..].iter_mut() {
                if carry == 0 {
                    break;
                }
                let s = u64::from(*tk) + carry;
                *tk = s as u32;
                carry = s >> 32;
            }
        }
        // t / R < 2n: one subtraction brings it below n.
        let mut r = t.split_off(len);
        let overflow = r.pop().is_some_and(|top| top != 0);
        if overflow || !less_than(&r, &self.n) {
            sub_in_place(&mut r, &self.n);
        }
        r
    }
}

impl std::fmt::Debug for Modulus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Modulus({} bits)", self.bits())
    }
}

impl Modulus {
    /// The modulus's length in bits.
    pub fn bits(&self) -> usize {
        let top = self.n.last().copied().unwrap_or(0);
        self.n.len() * 32 - top.leading_zeros() as usize
    }
}

fn limb_count(be: &[u8]) -> usize {
    be.len().div_ceil(4)
}

/// Big-endian bytes into exactly `len` little-endian limbs, or `None` if the
/// number needs more.
fn limbs_from_be(be: &[u8], len: usize) -> Option<Vec<u32>> {
    let mut limbs = vec![0u32; len];
    for (i, &byte) in be.iter().rev().enumerate() {
        let (limb, shift) = (i / 4, (i % 4) * 8);
        if limb >= len {
            if byte != 0 {
                return None;
            }
            continue;
        }
        limbs[limb] |= u32::from(byte) << shift;
    }
    Some(limbs)
}

/// Little-endian limbs into exactly `len` big-endian bytes, or `None` if the
/// number does not fit.
fn limbs_to_be(limbs: &[u32], len: usize) -> Option<Vec<u8>> {
    let mut out = vec![0u8; len];
    for (i, &limb) in limbs.iter().enumerate() {
        for (k, byte) in limb.to_le_bytes().into_iter().enumerate() {
            let pos = i * 4 + k;
            if pos >= len {
                if byte != 0 {
                    return None;
                }
                continue;
            }
            out[len - 1 - pos] = byte;
        }
    }
    Some(out)
}

fn trim(mut limbs: Vec<u32>) -> Vec<u32> {
    while limbs.last() == Some(&0) {
        limbs.pop();
    }
    limbs
}

fn one(len: usize) -> Vec<u32> {
    let mut v = vec![0u32; len];
    v[0] = 1;
    v
}

/// a < b, for equal lengths.
fn less_than(a: &[u32], b: &[u32]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// a −= b (mod 2^(32·len)), for equal lengths.
fn sub_in_place(a: &mut [u32], b: &[u32]) {
    let mut borrow = 0u64;
    for (x, &y) in a.iter_mut().zip(b) {
        let d = u64::from(*x)
            .wrapping_sub(u64::from(y))
            .wrapping_sub(borrow);
        *x = d as u32;
        borrow = (d >> 63) & 1;
    }
}

/// −x⁻¹ mod 2³² for odd x, by Newton's iteration (each step doubles the
/// correct low bits: 3 → 6 → 12 → 24 → 48).
fn neg_inverse(x: u32) -> u32 {
    let mut inv = x.wrapping_mul(3) ^ 2;
    for _ in 0..4 {
        inv = inv.wrapping_mul(2u32.wrapping_sub(x.wrapping_mul(inv)));
    }
    inv.wrapping_neg()
}

/// R² mod n by doubling 1 modulo n 2·32·len times: done once per key, when
/// the JWKS is parsed.
fn r_squared(n: &[u32]) -> Vec<u32> {
    let len = n.len();
    let mut x = one(len);
    for _ in 0..64 * len {
        let carry = x[len - 1] >> 31;
        let mut prev = 0u32;
        for limb in x.iter_mut() {
            let next = *limb >> 31;
            *limb = *limb << 1 | prev;
            prev = next;
        }
        if carry == 1 || !less_than(&x, n) {
            sub_in_place(&mut x, n);
        }
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn modulus(be: &[u8]) -> Modulus {
        Modulus::from_be_bytes(be).unwrap()
    }

    /// Plain square-and-multiply on u128, for moduli below 2^126 (so a sum of
    /// two residues never overflows).
    fn reference_pow(base: u128, exp: u32, n: u128) -> u128 {
        let mul = |a: u128, b: u128| -> u128 {
            // Double-and-add keeps every intermediate below 2n < 2^128.
            let (mut acc, mut a, mut b) = (0u128, a % n, b);
            while b > 0 {
                if b & 1 == 1 {
                    acc = (acc + a) % n;
                }
                a = (a << 1) % n;
                b >>= 1;
            }
            acc
        };
        let (mut acc, mut base, mut exp) = (1u128 % n, base % n, exp);
        while exp > 0 {
            if exp & 1 == 1 {
                acc = mul(acc, base);
            }
            base = mul(base, base);
            exp >>= 1;
        }
        acc
    }

    #[test]
    #[wasm_bindgen_test]
    fn powers_match_a_plain_reference_for_small_moduli() {
        let moduli: [u128; 4] = [
            (1u128 << 64) + 13,
            0x3fff_ffff_ffff_ffff_ffff_ffff_ffff_ff61,
            0x2000_0000_0000_0001_0000_0000_0000_0001,
            0x1_0000_0001,
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for n in moduli {
            let m = modulus(&n.to_be_bytes());
            for exp in [0u32, 1, 2, 3, 17, 65537, u32::MAX] {
                for _ in 0..20 {
                    let base = ((u128::from(next()) << 64) | u128::from(next())) % n;
                    let got = m.pow(&base.to_be_bytes(), exp, 16).unwrap();
                    let want = reference_pow(base, exp, n);
                    assert_eq!(
                        u128::from_be_bytes(got.try_into().unwrap()),
                        want,
                        "{base}^{exp} mod {n}"
                    );
                }
            }
        }
    }

    #[test]
    #[wasm_bindgen_test]
    fn a_base_not_below_the_modulus_is_refused() {
        let n: u128 = (1u128 << 64) + 13;
        let m = modulus(&n.to_be_bytes());
        assert!(m.pow(&n.to_be_bytes(), 3, 16).is_none());
        assert!(m.pow(&(n + 1).to_be_bytes(), 3, 16).is_none());
        assert!(m.pow(&[1; 40], 3, 16).is_none());
        assert!(m.pow(&(n - 1).to_be_bytes(), 3, 16).is_some());
    }

    #[test]
    #[wasm_bindgen_test]
    fn even_and_one_limb_moduli_are_refused() {
        assert!(Modulus::from_be_bytes(&((1u128 << 64) + 14).to_be_bytes()).is_none());
        assert!(Modulus::from_be_bytes(&[0, 0, 0xff, 0xff, 0xff, 0xfb]).is_none());
        assert!(Modulus::from_be_bytes(&[]).is_none());
    }

    #[test]
    #[wasm_bindgen_test]
    fn a_result_that_does_not_fit_the_output_length_is_refused() {
        let n: u128 = (1u128 << 64) + 13;
        let m = modulus(&n.to_be_bytes());
        // 2^64 + 12 needs nine bytes.
        assert!(m.pow(&(n - 1).to_be_bytes(), 1, 8).is_none());
        assert_eq!(m.pow(&[5], 1, 9).unwrap(), vec![0, 0, 0, 0, 0, 0, 0, 0, 5]);
    }

    #[test]
    #[wasm_bindgen_test]
    fn neg_inverse_inverts() {
        for x in [1u32, 3, 0xffff_ffff, 0x1234_5677, 65537] {
            assert_eq!(x.wrapping_mul(neg_inverse(x)), u32::MAX, "{x}");
        }
    }
}
