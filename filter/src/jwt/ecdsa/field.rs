//! Arithmetic modulo the P-256 prime p = 2²⁵⁶ − 2²²⁴ + 2¹⁹² + 2⁹⁶ − 1.
//!
//! Eight 32-bit limbs, least significant first, always fully reduced (below
//! p). A 32×32→64 product is one `i64.mul` in wasm; V8 has no 64×64→128 one,
//! which is why the limbs are not 64 bits wide. Products are reduced with the
//! special form of p (NIST's fast reduction, FIPS 186-4 D.2.3: the high half is
//! folded back as sums and differences of its 32-bit words), not Montgomery:
//! no multiplications in the reduction, and no conversion in or out.
//!
//! Only public data (keys, signatures, messages) is ever computed with, so
//! nothing here runs in constant time: comparisons and carries branch.
//! Loops run over the fixed limb counts of the arrays, which is why the
//! indexing below cannot go out of bounds.
#![allow(clippy::indexing_slicing)]

/// p, least significant limb first.
pub const P: [u32; 8] = [
    0xffff_ffff,
    0xffff_ffff,
    0xffff_ffff,
    0,
    0,
    0,
    1,
    0xffff_ffff,
];

/// An element of the field, below p.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Fe(pub(super) [u32; 8]);

impl Fe {
    pub const ZERO: Fe = Fe([0; 8]);
    pub const ONE: Fe = Fe([1, 0, 0, 0, 0, 0, 0, 0]);

    /// The element with big-endian bytes `be`, or `None` if they are not below p.
    pub fn from_be_bytes(be: &[u8; 32]) -> Option<Fe> {
        let limbs = limbs_from_be(be);
        less_than(&limbs, &P).then_some(Fe(limbs))
    }

    pub fn to_be_bytes(self) -> [u8; 32] {
        limbs_to_be(&self.0)
    }

    /// A number below 2²⁵⁶ taken modulo p (one subtraction is enough, as 2²⁵⁶ < 2p).
    pub fn from_limbs_reduced(mut limbs: [u32; 8]) -> Fe {
        if !less_than(&limbs, &P) {
            sub_in_place(&mut limbs, &P);
        }
        Fe(limbs)
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 8]
    }

    pub fn add(&self, other: &Fe) -> Fe {
        let mut r = self.0;
        let carry = add_in_place(&mut r, &other.0);
        if carry || !less_than(&r, &P) {
            sub_in_place(&mut r, &P);
        }
        Fe(r)
    }

    pub fn sub(&self, other: &Fe) -> Fe {
        let mut r = self.0;
        if sub_in_place(&mut r, &other.0) {
            add_in_place(&mut r, &P);
        }
        Fe(r)
    }

    pub fn neg(&self) -> Fe {
        Fe::ZERO.sub(self)
    }

    pub fn double(&self) -> Fe {
        self.add(self)
    }

    pub fn mul(&self, other: &Fe) -> Fe {
        let (a, b) = (&self.0, &other.0);
        let mut c = [0u32; 16];
        for i in 0..8 {
            let ai = u64::from(a[i]);
            let mut carry = 0u64;
            for j in 0..8 {
                // At most (2³²−1)² + 2·(2³²−1) = 2⁶⁴−1: no overflow.
                let t = u64::from(c[i + j]) + ai * u64::from(b[j]) + carry;
                c[i + j] = t as u32;
                carry = t >> 32;
            }
            c[i + 8] = carry as u32;
        }
        reduce(&c)
    }

    /// self², with each cross product computed once and doubled.
    pub fn square(&self) -> Fe {
        let a = &self.0;
        let mut c = [0u32; 16];
        for i in 0..8 {
            let ai = u64::from(a[i]);
            let mut carry = 0u64;
            for j in i + 1..8 {
                let t = u64::from(c[i + j]) + ai * u64::from(a[j]) + carry;
                c[i + j] = t as u32;
                carry = t >> 32;
            }
            c[i + 8] = carry as u32;
        }
        // Double the cross products: their sum is below 2⁵¹¹, so nothing is lost.
        let mut high = 0u32;
        for limb in c.iter_mut() {
            let next = *limb >> 31;
            *limb = *limb << 1 | high;
            high = next;
        }
        // Add the squares aᵢ² on the diagonal.
        let mut carry = 0u64;
        for i in 0..8 {
            let sq = u64::from(a[i]) * u64::from(a[i]);
            let t = u64::from(c[2 * i]) + (sq & 0xffff_ffff) + carry;
            c[2 * i] = t as u32;
            let t = u64::from(c[2 * i + 1]) + (sq >> 32) + (t >> 32);
            c[2 * i + 1] = t as u32;
            carry = t >> 32;
        }
        reduce(&c)
    }

    /// self^(p−2) = self⁻¹ (Fermat), or zero for zero. Only used when a key's
    /// table is built, never per signature.
    pub fn invert(&self) -> Fe {
        let mut exponent = P;
        exponent[0] -= 2; // p's low limb is 2³²−1: no borrow
        let mut acc = Fe::ONE;
        for limb in exponent.iter().rev() {
            for bit in (0..32).rev() {
                acc = acc.square();
                if limb >> bit & 1 == 1 {
                    acc = acc.mul(self);
                }
            }
        }
        acc
    }
}

/// c mod p for a 512-bit c (16 limbs), by p's special form: with cᵢ the
/// 32-bit words of c and 2²⁵⁶ ≡ 2²²⁴ − 2¹⁹² − 2⁹⁶ + 1, c ≡ s₁ + 2s₂ + 2s₃ + s₄
/// + s₅ − s₆ − s₇ − s₈ − s₉ (FIPS 186-4 D.2.3), summed here column by column.
fn reduce(c: &[u32; 16]) -> Fe {
    let w = |i: usize| i64::from(c[i]);
    // Each column is at most 7·(2³²−1) and at least −4·(2³²−1) before carries.
    let columns = [
        w(0) + w(8) + w(9) - w(11) - w(12) - w(13) - w(14),
        w(1) + w(9) + w(10) - w(12) - w(13) - w(14) - w(15),
        w(2) + w(10) + w(11) - w(13) - w(14) - w(15),
        w(3) + 2 * w(11) + 2 * w(12) + w(13) - w(15) - w(8) - w(9),
        w(4) + 2 * w(12) + 2 * w(13) + w(14) - w(9) - w(10),
        w(5) + 2 * w(13) + 2 * w(14) + w(15) - w(10) - w(11),
        w(6) + 3 * w(14) + 2 * w(15) + w(13) - w(8) - w(9),
        w(7) + 3 * w(15) + w(8) - w(10) - w(11) - w(12) - w(13),
    ];
    let mut r = [0u32; 8];
    let mut acc = 0i64;
    for (limb, column) in r.iter_mut().zip(columns) {
        acc += column;
        *limb = acc as u32;
        acc >>= 32; // arithmetic: the carry may be negative
    }
    // The value is r + top·2²⁵⁶ with |top| ≤ 7. Fold top back in as
    // top·(2²²⁴ − 2¹⁹² − 2⁹⁶ + 1). After one fold |top| ≤ 1; after a fold of
    // ±1 the result lies well inside [0, 2²⁵⁶), so the loop runs at most
    // three times.
    let mut top = acc;
    while top != 0 {
        let mut acc = 0i64;
        for (i, limb) in r.iter_mut().enumerate() {
            acc += i64::from(*limb);
            acc += match i {
                0 | 7 => top,
                3 | 6 => -top,
                _ => 0,
            };
            *limb = acc as u32;
            acc >>= 32;
        }
        top = acc;
    }
    Fe::from_limbs_reduced(r)
}

pub(super) fn limbs_from_be(be: &[u8; 32]) -> [u32; 8] {
    let mut limbs = [0u32; 8];
    for (i, chunk) in be.rchunks_exact(4).enumerate() {
        limbs[i] = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    limbs
}

pub(super) fn limbs_to_be(limbs: &[u32; 8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (chunk, limb) in out.rchunks_exact_mut(4).zip(limbs) {
        chunk.copy_from_slice(&limb.to_be_bytes());
    }
    out
}

/// a < b.
pub(super) fn less_than(a: &[u32; 8], b: &[u32; 8]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// a += b mod 2²⁵⁶; true on carry out.
pub(super) fn add_in_place(a: &mut [u32; 8], b: &[u32; 8]) -> bool {
    let mut carry = 0u64;
    for (x, &y) in a.iter_mut().zip(b) {
        let s = u64::from(*x) + u64::from(y) + carry;
        *x = s as u32;
        carry = s >> 32;
    }
    carry != 0
}

/// a −= b mod 2²⁵⁶; true on borrow out.
pub(super) fn sub_in_place(a: &mut [u32; 8], b: &[u32; 8]) -> bool {
    let mut borrow = 0u64;
    for (x, &y) in a.iter_mut().zip(b) {
        let d = u64::from(*x)
            .wrapping_sub(u64::from(y))
            .wrapping_sub(borrow);
        *x = d as u32;
        borrow = d >> 63;
    }
    borrow != 0
}
