//! Modular exponentiation with a public, odd modulus, in Montgomery form.
//!
//! Only what RSA verification needs: `s^e mod n` for a small public exponent.
//! Nothing here is secret, so nothing needs to run in constant time.
//!
//! Limbs are 28 bits, least significant first, each in a `u32`. A 28×28-bit
//! product is below 2⁵⁶, so a u64 holds the sum of 255 of them: every column of
//! a product is summed with no carry handling (one `i64.mul` and one `i64.add`
//! per partial product in wasm, which has no 64×64→128 multiply), and carried
//! once per column ([`super::dot`], which `simd128` does four products at a
//! time). 2048 bits take 74 limbs instead of 64 of 32 bits, and that still
//! costs less than a carry chain per product.
//!
//! Montgomery multiplication is product scanning (column by column) with the
//! reduction interleaved (Koç's FIPS method); squaring sums each cross product
//! once, against the doubled operand. The second operand and the modulus are
//! read reversed, so each column is a dot product of two ascending runs.
//! The Montgomery constants (−n⁻¹ mod 2²⁸, R² mod n, the reversed modulus) are
//! computed once per key, when its JWKS is parsed, and kept in the [`Modulus`].
//! Working numbers live in fixed arrays on the stack: a verification allocates
//! only its result.
//!
//! Every limb slice of one [`Modulus`] has exactly `len()` ≤ [`MAX_LIMBS`]
//! limbs (checked when it is built), which is why the indexing below cannot go
//! out of bounds.
#![allow(clippy::indexing_slicing)]

use super::dot::dot;

const BITS: u32 = 28;
const MASK: u32 = (1 << BITS) - 1;

/// The largest modulus: RFC 7518 keys are at most 4096 bits in practice (the
/// JWK rules refuse more), and with at most 147 limbs a column sums at most
/// 147 products per accumulator, well inside the 255 a u64 holds.
pub const MAX_BITS: usize = 4096;
const MAX_LIMBS: usize = MAX_BITS.div_ceil(BITS as usize);

type Limbs = [u32; MAX_LIMBS];
const ZERO: Limbs = [0; MAX_LIMBS];

/// An odd modulus of 33 to [`MAX_BITS`] bits, with its Montgomery constants.
#[derive(Clone, PartialEq, Eq)]
pub struct Modulus {
    n: Vec<u32>,
    /// n with its limbs in reverse order: n[k − j] is `n_rev[len − 1 − k + j]`.
    n_rev: Vec<u32>,
    /// −n⁻¹ mod 2²⁸.
    n0_inv: u32,
    /// R² mod n, with R = 2^(28·len): brings a number into Montgomery form.
    r_squared: Vec<u32>,
    bits: usize,
}

/// Why a modulus cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModulusError {
    Even,
    TooShort,
    TooLong,
}

impl Modulus {
    /// The modulus whose big-endian bytes are `be` (leading zeros allowed).
    pub fn from_be_bytes(be: &[u8]) -> Result<Modulus, ModulusError> {
        let be = super::strip_leading_zeros(be);
        let bits = match be.first() {
            Some(top) => be.len() * 8 - top.leading_zeros() as usize,
            None => 0,
        };
        if bits <= 32 {
            return Err(ModulusError::TooShort);
        }
        if bits > MAX_BITS {
            return Err(ModulusError::TooLong);
        }
        if be.last().is_none_or(|low| low & 1 == 0) {
            return Err(ModulusError::Even);
        }
        let len = bits.div_ceil(BITS as usize);
        let mut n = vec![0u32; len];
        if !limbs_from_be(be, &mut n) {
            return Err(ModulusError::TooLong);
        }
        let n0_inv = neg_inverse(n[0]);
        let r_squared = r_squared(&n);
        let n_rev = n.iter().rev().copied().collect();
        Ok(Modulus {
            n,
            n_rev,
            n0_inv,
            r_squared,
            bits,
        })
    }

    fn len(&self) -> usize {
        self.n.len()
    }

    /// The modulus's length in bits.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// `base^exponent mod n` as `out_len` big-endian bytes, or `None` if `base`
    /// (big-endian) is not below n, or the result does not fit `out_len` bytes.
    pub fn pow(&self, base_be: &[u8], exponent: u32, out_len: usize) -> Option<Vec<u8>> {
        let len = self.len();
        let mut base = ZERO;
        if !limbs_from_be(base_be, &mut base[..len]) || !less_than(&base[..len], &self.n) {
            return None;
        }
        let (mut base_m, mut acc, mut tmp) = (ZERO, ZERO, ZERO);
        self.mul(&base[..len], &self.r_squared, &mut base_m[..len]);
        acc[..len].copy_from_slice(&base_m[..len]);
        // Left to right over the exponent's bits below its top one; an exponent
        // of 0 or 1 is refused when the key is built, but both still give the
        // mathematically right answer here.
        let top = 31 - exponent.max(1).leading_zeros();
        let steps = |acc: &mut Limbs, tmp: &mut Limbs, low: u32| {
            for bit in (low..top).rev() {
                self.square(&acc[..len], &mut tmp[..len]);
                if exponent >> bit & 1 == 1 {
                    self.mul(&tmp[..len], &base_m[..len], &mut acc[..len]);
                } else {
                    std::mem::swap(acc, tmp);
                }
            }
        };
        if exponent & 1 == 1 && top > 0 {
            // An odd exponent (every RSA key's) ends with a multiplication by
            // the base: by the base itself rather than its Montgomery form, it
            // also leaves Montgomery form (acc·base·R⁻¹ with acc = b^(e−1)·R),
            // which saves the final multiplication by 1.
            steps(&mut acc, &mut tmp, 1);
            self.square(&acc[..len], &mut tmp[..len]);
            self.mul(&tmp[..len], &base[..len], &mut acc[..len]);
            return limbs_to_be(&acc[..len], out_len);
        }
        steps(&mut acc, &mut tmp, 0);
        let mut one = ZERO;
        one[0] = 1;
        if exponent == 0 {
            self.mul(&self.r_squared, &one[..len], &mut acc[..len]);
        }
        self.mul(&acc[..len], &one[..len], &mut tmp[..len]);
        limbs_to_be(&tmp[..len], out_len)
    }

    /// out = a·b·R⁻¹ mod n, for a, b < n.
    fn mul(&self, a: &[u32], b: &[u32], out: &mut [u32]) {
        let len = self.len();
        let mut b_rev = ZERO;
        for (r, &x) in b_rev[..len].iter_mut().zip(b.iter().rev()) {
            *r = x;
        }
        self.montgomery(out, |k| {
            // Σ a[i]·b[k−i] over the i that exist in column k.
            let (lo, hi) = (k.saturating_sub(len - 1), k.min(len - 1));
            if lo > hi {
                return 0;
            }
            dot(&a[lo..=hi], &b_rev[len - 1 + lo - k..=len - 1 + hi - k])
        });
    }

    /// out = a²·R⁻¹ mod n, for a < n: each cross product aᵢ·aⱼ once, against
    /// 2·aⱼ, which saves a quarter of the products of [`Self::mul`]; all but
    /// one of the steps of a verification are squarings.
    fn square(&self, a: &[u32], out: &mut [u32]) {
        let len = self.len();
        let mut doubled_rev = ZERO;
        for (r, &x) in doubled_rev[..len].iter_mut().zip(a.iter().rev()) {
            *r = x << 1;
        }
        self.montgomery(out, |k| {
            // Pairs i < j = k − i, then the square of a[k/2].
            let lo = k.saturating_sub(len - 1);
            let mut sum = 0;
            if k >= 1 {
                let hi = (k - 1) / 2;
                if lo <= hi {
                    sum = dot(
                        &a[lo..=hi],
                        &doubled_rev[len - 1 + lo - k..=len - 1 + hi - k],
                    );
                }
            }
            if k % 2 == 0 {
                let half = u64::from(a[k / 2]);
                sum += half * half;
            }
            sum
        });
    }

    /// out = (x + m·n)/R mod n, where `column(k)` is column k of x (the sum
    /// of its partial products, < 2⁶⁴ − 2³⁷) and m is chosen column by column
    /// so the low 28·len bits vanish. x < n² makes the quotient below 2n, and
    /// one subtraction brings it below n.
    #[inline(always)]
    fn montgomery(&self, out: &mut [u32], column: impl Fn(usize) -> u64) {
        let len = self.len();
        let mut m = ZERO;
        // The column value is x_sum + mn_sum + carry, kept as two u64s (each
        // below 2⁶⁴) and carried without adding them: their sum may not fit.
        let carry_of = |x: u64, y: u64| {
            (x >> BITS) + (y >> BITS) + (((x & u64::from(MASK)) + (y & u64::from(MASK))) >> BITS)
        };
        let mut carry = 0u64;
        for k in 0..len {
            let x = column(k) + carry;
            let mut y = dot(&m[..k], &self.n_rev[len - 1 - k..len - 1]);
            let low = (x.wrapping_add(y) as u32) & MASK;
            let mk = low.wrapping_mul(self.n0_inv) & MASK;
            m[k] = mk;
            y += u64::from(mk) * u64::from(self.n[0]);
            carry = carry_of(x, y);
        }
        for k in len..2 * len - 1 {
            let x = column(k) + carry;
            let y = dot(&m[k + 1 - len..len], &self.n_rev[..2 * len - 1 - k]);
            out[k - len] = (x.wrapping_add(y) as u32) & MASK;
            carry = carry_of(x, y);
        }
        out[len - 1] = (carry as u32) & MASK;
        let overflow = carry >> BITS != 0;
        if overflow || !less_than(out, &self.n) {
            sub_in_place(out, &self.n);
        }
    }
}

impl std::fmt::Debug for Modulus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Modulus({} bits)", self.bits())
    }
}

/// Big-endian bytes into exactly `out.len()` little-endian 28-bit limbs;
/// false if the number needs more.
fn limbs_from_be(be: &[u8], out: &mut [u32]) -> bool {
    out.fill(0);
    for (i, &byte) in be.iter().rev().enumerate() {
        let bit = i * 8;
        let (limb, shift) = (bit / BITS as usize, (bit % BITS as usize) as u32);
        let byte = u32::from(byte);
        // A byte straddles two limbs when it starts in a limb's top 7 bits.
        let (low, high) = ((byte << shift) & MASK, byte >> (BITS - shift));
        match out.get_mut(limb) {
            Some(l) => *l |= low,
            None if low != 0 => return false,
            None => {}
        }
        match out.get_mut(limb + 1) {
            Some(l) => *l |= high,
            None if high != 0 => return false,
            None => {}
        }
    }
    true
}

/// Little-endian 28-bit limbs into exactly `len` big-endian bytes, or `None`
/// if the number does not fit.
fn limbs_to_be(limbs: &[u32], len: usize) -> Option<Vec<u8>> {
    let total_bits = limbs.len() * BITS as usize;
    let mut out = vec![0u8; len];
    for pos in 0..total_bits.div_ceil(8) {
        let bit = pos * 8;
        let (limb, shift) = (bit / BITS as usize, (bit % BITS as usize) as u32);
        let mut byte = limbs[limb] >> shift;
        if shift > BITS - 8 {
            if let Some(next) = limbs.get(limb + 1) {
                byte |= next << (BITS - shift);
            }
        }
        let byte = (byte & 0xff) as u8;
        if pos >= len {
            if byte != 0 {
                return None;
            }
            continue;
        }
        out[len - 1 - pos] = byte;
    }
    Some(out)
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

/// a −= b (mod 2^(28·len)), for equal lengths of 28-bit limbs.
fn sub_in_place(a: &mut [u32], b: &[u32]) {
    let mut borrow = 0u32;
    for (x, &y) in a.iter_mut().zip(b) {
        let d = x.wrapping_sub(y).wrapping_sub(borrow);
        borrow = d >> 31;
        *x = d & MASK;
    }
}

/// −x⁻¹ mod 2²⁸ for odd x, by Newton's iteration (each step doubles the
/// correct low bits: 3 → 6 → 12 → 24 → 48).
fn neg_inverse(x: u32) -> u32 {
    let mut inv = x.wrapping_mul(3) ^ 2;
    for _ in 0..4 {
        inv = inv.wrapping_mul(2u32.wrapping_sub(x.wrapping_mul(inv)));
    }
    inv.wrapping_neg() & MASK
}

/// R² mod n by doubling 1 modulo n 2·28·len times: done once per key, when
/// the JWKS is parsed.
fn r_squared(n: &[u32]) -> Vec<u32> {
    let len = n.len();
    let mut x = vec![0u32; len];
    x[0] = 1;
    for _ in 0..2 * BITS as usize * len {
        let mut carry = 0u32;
        for limb in x.iter_mut() {
            let v = *limb << 1 | carry;
            *limb = v & MASK;
            carry = v >> BITS;
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
    fn even_short_and_long_moduli_are_refused() {
        assert_eq!(
            Modulus::from_be_bytes(&((1u128 << 64) + 14).to_be_bytes()),
            Err(ModulusError::Even)
        );
        assert_eq!(
            Modulus::from_be_bytes(&[0, 0, 0xff, 0xff, 0xff, 0xfb]),
            Err(ModulusError::TooShort)
        );
        assert_eq!(Modulus::from_be_bytes(&[]), Err(ModulusError::TooShort));
        let mut longest = vec![0xffu8; MAX_BITS / 8];
        assert_eq!(
            Modulus::from_be_bytes(&longest).map(|m| m.bits()),
            Ok(MAX_BITS)
        );
        longest.insert(0, 1);
        assert_eq!(Modulus::from_be_bytes(&longest), Err(ModulusError::TooLong));
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
            assert_eq!(x.wrapping_mul(neg_inverse(x)) & MASK, MASK, "{x}");
        }
    }
}
