//! Fixed-base tables: for a point P, every d·2^(6i)·P with 1 ≤ d ≤ 32 and
//! 0 ≤ i < 43, in affine form. A scalar k written in signed base-64 digits
//! kᵢ ∈ [−31, 32] is then k·P = Σ kᵢ·2^(6i)·P: 43 table lookups and at most
//! 43 mixed additions, and not one doubling.
//!
//! Building a table costs about as much as 30 verifications; it is done once
//! for the generator (the first time one is needed) and once per key when its
//! JWKS is parsed, and a key is used for months.
//! 43 × 32 points of 64 bytes: 88 KiB per table.

use super::point::{to_affine_batch, Affine, Jacobian};

const WINDOW_BITS: usize = 6;
/// ⌈256 / 6⌉: enough for any scalar below n < 2²⁵⁶, with the carry of the
/// signed recoding (the top window holds at most 4 bits, plus 1).
const WINDOWS: usize = 43;
/// Multiples 1 to 2^(WINDOW_BITS − 1) of each window's base; negative digits
/// use the negated points.
const ENTRIES: usize = 1 << (WINDOW_BITS - 1);

/// The table of one point.
pub struct Table {
    /// Window i's entry d (1-based) at i·ENTRIES + d − 1.
    points: Vec<Affine>,
}

impl Table {
    /// The table of `p`. `None` only if a multiple of p is infinity, which a
    /// point on P-256 (of prime order n, far above every multiple used)
    /// never gives.
    pub fn new(p: &Affine) -> Option<Table> {
        let mut jacobian = Vec::with_capacity(WINDOWS * ENTRIES);
        let mut base = Jacobian::from(p);
        for _ in 0..WINDOWS {
            let mut multiple = base;
            for _ in 0..ENTRIES {
                jacobian.push(multiple);
                multiple = multiple.add(&base);
            }
            // The next window's base is 2^6 times this one's: twice its
            // last entry, 32·base.
            base = jacobian.last().copied()?.double();
        }
        Some(Table {
            points: to_affine_batch(&jacobian)?,
        })
    }

    /// digit·2^(6·window)·P, for a digit in [−32, 32] other than 0.
    fn get(&self, window: usize, digit: i8) -> Option<Affine> {
        let magnitude = usize::from(digit.unsigned_abs());
        let point = self
            .points
            .get(window * ENTRIES + magnitude.checked_sub(1)?)?;
        Some(if digit < 0 { point.neg() } else { *point })
    }
}

/// a·P + b·Q from the tables of P and Q, for scalars (little-endian 32-bit
/// limbs) below 2²⁵⁶. Variable time: each digit decides whether and what is
/// added (a verification's scalars are public).
pub fn double_mul(a: &[u32; 8], p: &Table, b: &[u32; 8], q: &Table) -> Jacobian {
    let (a, b) = (recode(a), recode(b));
    let mut acc = Jacobian::INFINITY;
    for (window, (&da, &db)) in a.iter().zip(&b).enumerate() {
        for (digit, table) in [(da, p), (db, q)] {
            if let Some(point) = table.get(window, digit) {
                acc = acc.add_affine(&point);
            }
        }
    }
    acc
}

/// The signed base-64 digits of k, least significant first: each in
/// [−31, 32], with Σ dᵢ·64ⁱ = k.
fn recode(k: &[u32; 8]) -> [i8; WINDOWS] {
    let mut digits = [0i8; WINDOWS];
    let mut carry = 0u32;
    for (i, digit) in digits.iter_mut().enumerate() {
        let value = window(k, i * WINDOW_BITS) + carry;
        // value ≤ 64; above 32 it becomes value − 64 with a carry into the
        // next window. The top window's value is at most 16, so no carry is
        // left over.
        let (d, c) = if value > 32 {
            (value as i8 - 64, 1)
        } else {
            (value as i8, 0)
        };
        *digit = d;
        carry = c;
    }
    digits
}

/// The 6 bits of k starting at bit `start` (bits past 255 are 0).
fn window(k: &[u32; 8], start: usize) -> u32 {
    let (limb, shift) = (start / 32, start % 32);
    let low = k.get(limb).map_or(0, |l| l >> shift);
    let high = match (shift, k.get(limb + 1)) {
        (0, _) | (_, None) => 0,
        (s, Some(h)) => h << (32 - s),
    };
    (low | high) & ((1 << WINDOW_BITS) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[test]
    #[wasm_bindgen_test]
    fn recoding_gives_back_the_scalar() {
        let samples: [[u32; 8]; 4] = [
            [0; 8],
            [u32::MAX; 8],
            [
                0xfc63_2550,
                0xf3b9_cac2,
                0xa717_9e84,
                0xbce6_faad,
                0xffff_ffff,
                0xffff_ffff,
                0,
                0xffff_ffff,
            ],
            [
                0x2082_0820,
                0x8208_2082,
                0x0820_8208,
                0x2082_0820,
                0x8208_2082,
                0x0820_8208,
                0x2082_0820,
                0x8208_2082,
            ],
        ];
        for k in samples {
            let digits = recode(&k);
            assert!(digits.iter().all(|d| (-31..=32).contains(d)), "{digits:?}");
            // Σ dᵢ·64ⁱ, evaluated in 8 limbs plus a signed top, from the top digit down.
            let mut acc = [0i64; 9];
            for &d in digits.iter().rev() {
                // acc = acc·64 + d
                let mut carry = i64::from(d);
                for limb in acc.iter_mut() {
                    let v = *limb * 64 + carry;
                    *limb = v & 0xffff_ffff;
                    carry = v >> 32;
                }
            }
            let got: Vec<u32> = acc[..8].iter().map(|&l| l as u32).collect();
            assert_eq!(got, k, "{digits:?}");
            assert_eq!(acc[8], 0);
        }
    }
}
