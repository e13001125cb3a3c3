//! RSA signature verification (RFC 8017 RSASSA-PKCS1-v1_5 and RSASSA-PSS), for
//! the RS* and PS* JWS algorithms (RFC 7518 §3.3, §3.5).
//!
//! Why our own, instead of jwt-compact's `Rsa` over the rsa crate: verifying
//! with a public key needs only `s^e mod n` for a small exponent, and the
//! rsa crate's general big-integer code made every never-seen token cost
//! about a millisecond in Envoy's wasm VM and most of the module's size.
//! [`montgomery`] does that one operation with 28-bit limbs; the padding checks
//! build the one encoding a valid signature can have and compare against it.
//! Tested against Wycheproof's RSA vectors, RFC 7515/7520's examples and,
//! differentially, the rsa crate.

mod dot;
mod montgomery;
mod padding;

use montgomery::{Modulus, ModulusError};
use sha2::{Digest, Sha256, Sha384, Sha512};

/// The SHA-2 function an RS*/PS* algorithm hashes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut hasher = D::new();
            for part in parts {
                hasher.update(part);
            }
            hasher.finalize().to_vec()
        }
        match self {
            Hash::Sha256 => run::<Sha256>(parts),
            Hash::Sha384 => run::<Sha384>(parts),
            Hash::Sha512 => run::<Sha512>(parts),
        }
    }

    fn output_len(self) -> usize {
        match self {
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
        }
    }
}

/// Why an RSA public key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RsaKeyError {
    /// An even modulus is never an RSA modulus.
    EvenModulus,
    /// Below 64 bits there is nothing to verify with; real limits are the
    /// JWK rules' (2048 to 4096 bits).
    ModulusTooShort,
    /// Above 4096 bits ([`montgomery::MAX_BITS`]), as the JWK rules refuse too:
    /// the arithmetic's fixed buffers and carry-free sums are sized for it.
    ModulusTooLong,
    /// RSA needs an odd exponent of at least 3; above 2³²−1 is refused as no
    /// real key uses one (the rsa crate stops at 2³³−1).
    BadExponent,
}

impl std::fmt::Display for RsaKeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RsaKeyError::EvenModulus => write!(f, "the modulus is even"),
            RsaKeyError::ModulusTooShort => write!(f, "the modulus is too short"),
            RsaKeyError::ModulusTooLong => write!(f, "the modulus is too long"),
            RsaKeyError::BadExponent => write!(
                f,
                "the public exponent must be odd, at least 3 and below 2^32"
            ),
        }
    }
}

/// An RSA public key, with its Montgomery constants computed once.
#[derive(Clone, PartialEq, Eq)]
pub struct RsaPublicKey {
    modulus: Modulus,
    exponent: u32,
    /// The modulus length in bytes: every signature is exactly this long.
    len: usize,
}

impl std::fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaPublicKey({} bits, e={})", self.bits(), self.exponent)
    }
}

impl RsaPublicKey {
    /// The key with big-endian modulus `n` and exponent `e` (leading zero
    /// bytes allowed in both).
    pub fn new(n: &[u8], e: &[u8]) -> Result<RsaPublicKey, RsaKeyError> {
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        if e.len() > 4 {
            return Err(RsaKeyError::BadExponent);
        }
        let exponent = e.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b));
        if exponent < 3 || exponent & 1 == 0 {
            return Err(RsaKeyError::BadExponent);
        }
        if n.last().is_some_and(|low| low & 1 == 0) {
            return Err(RsaKeyError::EvenModulus);
        }
        let modulus = Modulus::from_be_bytes(n).map_err(|err| match err {
            ModulusError::Even => RsaKeyError::EvenModulus,
            ModulusError::TooShort => RsaKeyError::ModulusTooShort,
            ModulusError::TooLong => RsaKeyError::ModulusTooLong,
        })?;
        Ok(RsaPublicKey {
            len: modulus.bits().div_ceil(8),
            modulus,
            exponent,
        })
    }

    /// The modulus length in bits.
    pub fn bits(&self) -> usize {
        self.modulus.bits()
    }

    /// RSASSA-PKCS1-v1_5-VERIFY (RFC 8017 §8.2.2).
    pub fn verify_pkcs1v15(&self, hash: Hash, message: &[u8], signature: &[u8]) -> bool {
        match self.open(signature) {
            Some(encoded) => padding::is_pkcs1v15(&encoded, hash, &hash.digest(&[message])),
            None => false,
        }
    }

    /// RSASSA-PSS-VERIFY (RFC 8017 §8.1.2) with MGF1 over the same hash and a
    /// salt as long as the hash, the only parameters RFC 7518 §3.5 allows.
    pub fn verify_pss(&self, hash: Hash, message: &[u8], signature: &[u8]) -> bool {
        let em_bits = self.bits() - 1;
        let Some(encoded) = self.open(signature) else {
            return false;
        };
        // EM is ceil(emBits/8) bytes: one byte fewer than the modulus when its
        // length is a multiple of 8 plus 1, and that byte must then be zero.
        let em_len = em_bits.div_ceil(8);
        let Some((excess, em)) = encoded.split_at_checked(self.len - em_len) else {
            return false;
        };
        if excess.iter().any(|&b| b != 0) {
            return false;
        }
        padding::is_pss(em, em_bits, hash, &hash.digest(&[message]))
    }

    /// RSAVP1: the encoded message `s^e mod n` as `len` bytes, or `None` if
    /// the signature has the wrong length or is not below n.
    fn open(&self, signature: &[u8]) -> Option<Vec<u8>> {
        if signature.len() != self.len {
            return None;
        }
        self.modulus.pow(signature, self.exponent, self.len)
    }
}

/// A big-endian number without its leading zero bytes.
pub fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

#[cfg(test)]
mod tests;
