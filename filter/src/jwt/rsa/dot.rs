//! Σ xᵢ·yᵢ over 32-bit numbers, the one inner loop of [`super::montgomery`].
//!
//! The caller keeps every sum below 2⁶⁴ (28-bit limbs, at most 255 products
//! per sum), so no carry is handled here: the loop is a multiply and an add per
//! product. With wasm's `simd128` (`-C target-feature=+simd128`) one
//! `i64x2.extmul_{low,high}_i32x4_u` pair gives four 32×32→64 products; the
//! scalar loop is what every other build runs, and the tests check that both
//! agree with a plain reference.

/// Σ x[i]·y[i] over the shorter of the two lengths.
#[inline(always)]
pub fn dot(x: &[u32], y: &[u32]) -> u64 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        simd::dot(x, y)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        scalar(x, y)
    }
}

#[inline(always)]
fn scalar(x: &[u32], y: &[u32]) -> u64 {
    x.iter()
        .zip(y)
        .fold(0u64, |sum, (&a, &b)| sum + u64::from(a) * u64::from(b))
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd {
    use core::arch::wasm32::{
        i64x2_add, u32x4, u64x2_extmul_high_u32x4, u64x2_extmul_low_u32x4, u64x2_extract_lane,
        u64x2_splat, v128, v128_load,
    };

    /// Four limbs as one vector. `v128_load` is an unaligned load (a `&[u32]`
    /// is only 4-byte aligned; a `read_volatile` of a `v128` would need 16 and
    /// panics under debug assertions).
    fn lanes(chunk: &[u32]) -> v128 {
        match <&[u32; 4]>::try_from(chunk) {
            // SAFETY: the reference is to 16 readable bytes, `v128_load` has no
            // alignment requirement, and v128 has no invalid values.
            Ok(four) => unsafe { v128_load(four.as_ptr().cast::<v128>()) },
            Err(_) => u32x4(0, 0, 0, 0),
        }
    }

    #[inline(always)]
    pub fn dot(x: &[u32], y: &[u32]) -> u64 {
        let len = x.len().min(y.len());
        let whole = len - len % 4;
        let (x4, x_rest) = x.split_at(whole);
        let (y4, y_rest) = y.split_at(whole);
        // Two accumulators: the low and high pairs do not wait on each other.
        let (mut low, mut high) = (u64x2_splat(0), u64x2_splat(0));
        for (a, b) in x4.chunks_exact(4).zip(y4.chunks_exact(4)) {
            let (a, b) = (lanes(a), lanes(b));
            low = i64x2_add(low, u64x2_extmul_low_u32x4(a, b));
            high = i64x2_add(high, u64x2_extmul_high_u32x4(a, b));
        }
        let sum = i64x2_add(low, high);
        u64x2_extract_lane::<0>(sum) + u64x2_extract_lane::<1>(sum) + super::scalar(x_rest, y_rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[test]
    #[wasm_bindgen_test]
    fn matches_a_plain_sum_at_every_length_and_offset() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed as u32) & 0x0fff_ffff
        };
        let x: Vec<u32> = (0..300).map(|_| next()).collect();
        let y: Vec<u32> = (0..300).map(|_| next()).collect();
        for len in 0..160 {
            for offset in [0, 1, 2, 3, 5] {
                let (xs, ys) = (&x[offset..offset + len], &y[3..3 + len + offset]);
                let want: u128 = xs
                    .iter()
                    .zip(ys)
                    .map(|(&a, &b)| u128::from(a) * u128::from(b))
                    .sum();
                assert_eq!(u128::from(dot(xs, ys)), want, "len {len} offset {offset}");
                assert_eq!(scalar(xs, ys), dot(xs, ys));
            }
        }
        // The largest sum the caller makes: 255 products of 28-bit maxima.
        let max = vec![0x0fff_ffffu32; 255];
        assert_eq!(u128::from(dot(&max, &max)), 255 * 0x0fff_ffffu128.pow(2));
    }
}
