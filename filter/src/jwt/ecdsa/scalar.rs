//! Arithmetic modulo the P-256 group order n, for ECDSA's u₁ = e·s⁻¹ and
//! u₂ = r·s⁻¹: one inversion and two products per signature.
//!
//! Products are Montgomery products (interleaved, CIOS) with R = 2²⁵⁶; the
//! inversion is the binary extended Euclidean algorithm, which branches on its
//! input: s is part of the signature, public, so that is allowed here (it
//! would not be for signing).
//! Loops run over the fixed limb counts of the arrays, which is why the
//! indexing below cannot go out of bounds.
#![allow(clippy::indexing_slicing)]

use super::field::{add_in_place, less_than, limbs_from_be, sub_in_place};

/// n, least significant limb first.
pub const N: [u32; 8] = [
    0xfc63_2551,
    0xf3b9_cac2,
    0xa717_9e84,
    0xbce6_faad,
    0xffff_ffff,
    0xffff_ffff,
    0,
    0xffff_ffff,
];

/// −n⁻¹ mod 2³².
const N0_INV: u32 = neg_inverse(N[0]);
/// R² mod n, which [`Scalar::mul`] uses to leave Montgomery form.
const R_SQUARED: [u32; 8] = r_squared();

/// A number below n.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Scalar(pub(super) [u32; 8]);

impl Scalar {
    /// The scalar with big-endian bytes `be`, or `None` if they are not below n.
    pub fn from_be_bytes(be: &[u8; 32]) -> Option<Scalar> {
        let limbs = limbs_from_be(be);
        less_than(&limbs, &N).then_some(Scalar(limbs))
    }

    /// Any 256-bit number modulo n (one subtraction is enough, as 2²⁵⁶ < 2n):
    /// how ECDSA turns a SHA-256 digest into e.
    pub fn reduce_be_bytes(be: &[u8; 32]) -> Scalar {
        let mut limbs = limbs_from_be(be);
        if !less_than(&limbs, &N) {
            sub_in_place(&mut limbs, &N);
        }
        Scalar(limbs)
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 8]
    }

    /// self·other mod n: a Montgomery product (self·other·R⁻¹), then one with
    /// R² to cancel the R⁻¹.
    pub fn mul(&self, other: &Scalar) -> Scalar {
        Scalar(mont_mul(&mont_mul(&self.0, &other.0), &R_SQUARED))
    }

    /// self⁻¹ mod n, or `None` for zero (n is prime, so every other scalar has one).
    pub fn invert(&self) -> Option<Scalar> {
        if self.is_zero() {
            return None;
        }
        // Invariants: x1·self ≡ u and x2·self ≡ v (mod n); gcd(u, v) = 1
        // throughout, and u + v shrinks every round, so one of them reaches 1.
        let (mut u, mut v) = (self.0, N);
        let (mut x1, mut x2) = ([1, 0, 0, 0, 0, 0, 0, 0], [0u32; 8]);
        let one = [1, 0, 0, 0, 0, 0, 0, 0];
        while u != one && v != one {
            while u[0] & 1 == 0 {
                shift_right(&mut u, false);
                halve_mod_n(&mut x1);
            }
            while v[0] & 1 == 0 {
                shift_right(&mut v, false);
                halve_mod_n(&mut x2);
            }
            if less_than(&u, &v) {
                sub_in_place(&mut v, &u);
                sub_mod_n(&mut x2, &x1);
            } else {
                sub_in_place(&mut u, &v);
                sub_mod_n(&mut x1, &x2);
            }
        }
        Some(Scalar(if u == one { x1 } else { x2 }))
    }
}

/// x/2 mod n for x < n: x itself if even, else (x + n)/2, whose 257th bit is
/// the carry of the addition.
fn halve_mod_n(x: &mut [u32; 8]) {
    let carry = if x[0] & 1 == 1 {
        add_in_place(x, &N)
    } else {
        false
    };
    shift_right(x, carry);
}

/// x >>= 1, shifting `top` in as the new most significant bit.
fn shift_right(x: &mut [u32; 8], top: bool) {
    let mut high = u32::from(top);
    for limb in x.iter_mut().rev() {
        let low = *limb & 1;
        *limb = *limb >> 1 | high << 31;
        high = low;
    }
}

/// a = a − b mod n, for a, b < n.
fn sub_mod_n(a: &mut [u32; 8], b: &[u32; 8]) {
    if sub_in_place(a, b) {
        add_in_place(a, &N);
    }
}

/// a·b·R⁻¹ mod n for a, b < n (coarsely integrated operand scanning).
fn mont_mul(a: &[u32; 8], b: &[u32; 8]) -> [u32; 8] {
    // t < 2n throughout, held in 8 limbs and one extra word.
    let mut t = [0u32; 8];
    let mut t_high = 0u64;
    for &ai in a {
        let ai = u64::from(ai);
        let mut carry = 0u64;
        for j in 0..8 {
            let s = u64::from(t[j]) + ai * u64::from(b[j]) + carry;
            t[j] = s as u32;
            carry = s >> 32;
        }
        let s = t_high + carry;
        let (t8, t9) = (s as u32, s >> 32);
        // Add m·n with m chosen to clear the low limb, then drop that limb.
        let m = u64::from(t[0].wrapping_mul(N0_INV));
        let mut carry = (u64::from(t[0]) + m * u64::from(N[0])) >> 32;
        for j in 1..8 {
            let s = u64::from(t[j]) + m * u64::from(N[j]) + carry;
            t[j - 1] = s as u32;
            carry = s >> 32;
        }
        let s = u64::from(t8) + carry;
        t[7] = s as u32;
        t_high = t9 + (s >> 32);
    }
    if t_high != 0 || !less_than(&t, &N) {
        sub_in_place(&mut t, &N);
    }
    t
}

/// −x⁻¹ mod 2³² for odd x, by Newton's iteration (each step doubles the
/// correct low bits: 3 → 6 → 12 → 24 → 48).
const fn neg_inverse(x: u32) -> u32 {
    let mut inv = x.wrapping_mul(3) ^ 2;
    let mut i = 0;
    while i < 4 {
        inv = inv.wrapping_mul(2u32.wrapping_sub(x.wrapping_mul(inv)));
        i += 1;
    }
    inv.wrapping_neg()
}

/// R² mod n = 2⁵¹² mod n, by doubling 1 modulo n 512 times, at compile time.
const fn r_squared() -> [u32; 8] {
    let mut x = [1u32, 0, 0, 0, 0, 0, 0, 0];
    let mut round = 0;
    while round < 512 {
        // x < n < 2²⁵⁶: the doubled value has at most 257 bits.
        let top = x[7] >> 31;
        let mut i = 7;
        while i > 0 {
            x[i] = x[i] << 1 | x[i - 1] >> 31;
            i -= 1;
        }
        x[0] <<= 1;
        // Subtract n if the doubled value is at least n.
        let mut at_least_n = top == 1;
        if !at_least_n {
            at_least_n = true; // equal counts as at least
            let mut k = 8;
            while k > 0 {
                k -= 1;
                if x[k] != N[k] {
                    at_least_n = x[k] > N[k];
                    break;
                }
            }
        }
        if at_least_n {
            let mut borrow = 0u64;
            let mut j = 0;
            while j < 8 {
                let d = (x[j] as u64).wrapping_sub(N[j] as u64).wrapping_sub(borrow);
                x[j] = d as u32;
                borrow = d >> 63;
                j += 1;
            }
        }
        round += 1;
    }
    x
}
