//! The two RSA signature encodings, checked without parsing them.
//!
//! PKCS #1 v1.5 is deterministic, so the one valid encoding is built and
//! compared whole: no ASN.1 parser, hence none of the BER-leniency forgeries
//! (CVE-2006-4339 and its kin) Wycheproof tests for.

use super::Hash;

/// `DigestInfo` DER prefixes (RFC 8017 §9.2 note 1), with the NULL parameters:
/// the form without NULL is refused, as the RFC's verifiers may.
fn digest_info_prefix(hash: Hash) -> &'static [u8] {
    match hash {
        Hash::Sha256 => &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ],
        Hash::Sha384 => &[
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x02, 0x05, 0x00, 0x04, 0x30,
        ],
        Hash::Sha512 => &[
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x03, 0x05, 0x00, 0x04, 0x40,
        ],
    }
}

/// EMSA-PKCS1-v1_5 (RFC 8017 §9.2): `00 01 FF…FF 00 DigestInfo(H)`, at least
/// eight `FF`s, exactly as long as `encoded`.
pub fn is_pkcs1v15(encoded: &[u8], hash: Hash, digest: &[u8]) -> bool {
    let prefix = digest_info_prefix(hash);
    let t_len = prefix.len() + digest.len();
    let Some(ps_len) = encoded.len().checked_sub(t_len + 3) else {
        return false;
    };
    if ps_len < 8 {
        return false;
    }
    let mut expected = Vec::with_capacity(encoded.len());
    expected.extend_from_slice(&[0x00, 0x01]);
    expected.resize(2 + ps_len, 0xff);
    expected.push(0x00);
    expected.extend_from_slice(prefix);
    expected.extend_from_slice(digest);
    expected == encoded
}

/// EMSA-PSS-VERIFY (RFC 8017 §9.1.2) with MGF1 over `hash` and a salt of the
/// hash's length. `em` is ceil(em_bits/8) bytes.
pub fn is_pss(em: &[u8], em_bits: usize, hash: Hash, m_hash: &[u8]) -> bool {
    let h_len = hash.output_len();
    let s_len = h_len;
    let em_len = em.len();
    if em_len < h_len + s_len + 2 || em.last() != Some(&0xbc) {
        return false;
    }
    let db_len = em_len - h_len - 1;
    let (Some(masked_db), Some(h)) = (em.get(..db_len), em.get(db_len..em_len - 1)) else {
        return false;
    };
    // The bits above em_bits in the first byte must be zero, before and after
    // unmasking.
    let Some(unused_bits) = (8 * em_len).checked_sub(em_bits) else {
        return false;
    };
    let top_mask = 0xffu8.checked_shr(unused_bits as u32).unwrap_or(0);
    if masked_db.first().is_some_and(|&b| b & !top_mask != 0) {
        return false;
    }
    let mut db = mgf1(hash, h, db_len);
    for (d, m) in db.iter_mut().zip(masked_db) {
        *d ^= m;
    }
    if let Some(first) = db.first_mut() {
        *first &= top_mask;
    }
    // DB = PS (zeros) || 0x01 || salt.
    let ps_len = db_len - s_len - 1;
    let (Some(ps), Some(&separator), Some(salt)) =
        (db.get(..ps_len), db.get(ps_len), db.get(ps_len + 1..))
    else {
        return false;
    };
    if ps.iter().any(|&b| b != 0) || separator != 0x01 {
        return false;
    }
    hash.digest(&[&[0u8; 8], m_hash, salt]) == h
}

/// MGF1 (RFC 8017 §B.2.1): `len` bytes of H(seed || counter) blocks.
fn mgf1(hash: Hash, seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + hash.output_len());
    let mut counter = 0u32;
    while out.len() < len {
        out.extend_from_slice(&hash.digest(&[seed, &counter.to_be_bytes()]));
        counter += 1;
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[test]
    #[wasm_bindgen_test]
    fn pkcs1v15_needs_eight_ff_bytes_and_the_exact_layout() {
        let digest = [0xab; 32];
        let build = |ps_len: usize| {
            let mut em = vec![0x00, 0x01];
            em.extend(std::iter::repeat_n(0xff, ps_len));
            em.push(0x00);
            em.extend_from_slice(digest_info_prefix(Hash::Sha256));
            em.extend_from_slice(&digest);
            em
        };
        assert!(is_pkcs1v15(&build(8), Hash::Sha256, &digest));
        assert!(is_pkcs1v15(&build(200), Hash::Sha256, &digest));
        assert!(!is_pkcs1v15(&build(7), Hash::Sha256, &digest));
        assert!(!is_pkcs1v15(&build(200), Hash::Sha384, &digest));
        assert!(!is_pkcs1v15(&[0x00, 0x01], Hash::Sha256, &digest));
        let mut wrong = build(200);
        wrong[10] = 0xfe;
        assert!(!is_pkcs1v15(&wrong, Hash::Sha256, &digest));
    }

    #[test]
    #[wasm_bindgen_test]
    fn pss_refuses_short_and_badly_terminated_encodings_without_panicking() {
        let m_hash = [0u8; 32];
        for len in 0..80 {
            let mut em = vec![0u8; len];
            if let Some(last) = em.last_mut() {
                *last = 0xbc;
            }
            assert!(!is_pss(&em, len * 8, Hash::Sha256, &m_hash));
            assert!(!is_pss(
                &em,
                (len * 8).saturating_sub(7),
                Hash::Sha256,
                &m_hash
            ));
        }
    }

    #[test]
    #[wasm_bindgen_test]
    fn mgf1_matches_its_definition() {
        let seed = b"seed";
        let out = mgf1(Hash::Sha256, seed, 40);
        let first = Hash::Sha256.digest(&[seed, &[0, 0, 0, 0]]);
        let second = Hash::Sha256.digest(&[seed, &[0, 0, 0, 1]]);
        assert_eq!(&out[..32], &first[..]);
        assert_eq!(&out[32..], &second[..8]);
    }
}
