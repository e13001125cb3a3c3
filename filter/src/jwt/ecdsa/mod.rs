//! ECDSA verification on P-256 with SHA-256 (the ES256 JWS algorithm, RFC 7518
//! §3.4), tuned for a verifier that sees the same few public keys for months.
//!
//! Why our own instead of the p256 crate (which jwt-compact uses): in Envoy's
//! V8 a never-seen ES256 token cost eight times what Envoy's `jwt_authn`
//! (BoringSSL) takes. The p256 crate is written for signing as much as for
//! verifying, so it is constant time throughout and computes u₁·G + u₂·Q
//! from scratch each time. A verifier handles only public data, so here:
//! - each key gets a table of multiples of Q when its JWKS is parsed, and the
//!   generator one such table for the whole VM ([`table`]): u₁·G + u₂·Q is
//!   then 86 mixed additions and no doublings;
//! - the code branches on its data (variable time, allowed for public data);
//! - the field has 32-bit limbs and NIST's fast reduction ([`field`]);
//! - x(R) is compared in Jacobian form, with no field inversion.
//!
//! Checked against every Wycheproof ECDSA P-256 vector, and differentially
//! against the p256 crate (unit tests and the `sig_diff` fuzz target).

mod field;
mod point;
mod scalar;
mod table;

use field::Fe;
use point::Affine;
use scalar::{Scalar, N};
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::sync::{Arc, OnceLock, Weak};
use table::Table;

pub use point::PointError;

impl std::fmt::Display for PointError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PointError::CoordinateOutOfRange => {
                write!(f, "a coordinate is not below the field prime")
            }
            PointError::NotOnCurve => write!(f, "the point is not on the curve"),
        }
    }
}

/// A P-256 public key, validated, with its table of multiples.
#[derive(Clone)]
pub struct P256Key {
    point: Affine,
    /// Shared, not copied: a table is 88 KiB.
    table: Arc<Table>,
}

impl std::fmt::Debug for P256Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "P256Key({:02x?})", &self.point.x.to_be_bytes()[..4])
    }
}

impl PartialEq for P256Key {
    fn eq(&self, other: &P256Key) -> bool {
        self.point == other.point
    }
}

impl P256Key {
    /// The key with big-endian affine coordinates `x` and `y`, if it is a point
    /// on the curve (every such point is a valid key: the cofactor is 1, and
    /// infinity has no affine coordinates).
    pub fn new(x: &[u8; 32], y: &[u8; 32]) -> Result<P256Key, PointError> {
        let point = Affine::from_coordinates(x, y)?;
        let table = shared_table(&point).ok_or(PointError::NotOnCurve)?;
        Ok(P256Key { point, table })
    }

    /// ECDSA verification (SEC 1 §4.1.4) of `signature`, the 64-byte r‖s of
    /// JWS (RFC 7518 §3.4), over SHA-256(`message`).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(message).into();
        self.verify_digest(&digest, signature)
    }

    /// As [`Self::verify`], for a message already hashed.
    pub fn verify_digest(&self, digest: &[u8; 32], signature: &[u8]) -> bool {
        let Some((r_bytes, s_bytes)) = split_signature(signature) else {
            return false;
        };
        // r and s must be in [1, n − 1].
        let (Some(r), Some(s)) = (
            Scalar::from_be_bytes(&r_bytes),
            Scalar::from_be_bytes(&s_bytes),
        ) else {
            return false;
        };
        if r.is_zero() {
            return false;
        }
        let Some(w) = s.invert() else {
            return false;
        };
        let e = Scalar::reduce_be_bytes(digest);
        let u1 = e.mul(&w);
        let u2 = r.mul(&w);
        let Some(g) = generator_table() else {
            return false;
        };
        let sum = table::double_mul(&u1.0, g, &u2.0, &self.table);
        if sum.is_infinity() {
            return false;
        }
        // x(R) = X/Z² mod p; accept if x(R) mod n = r. As r < n < p, x(R) is
        // r or, when r + n < p, possibly r + n: compare X with r·Z² and
        // (r + n)·Z² instead of dividing.
        let z2 = sum.z.square();
        let r_fe = Fe(r.0); // r < n < p
        if r_fe.mul(&z2) == sum.x {
            return true;
        }
        let mut r_plus_n = r.0;
        let carry = field::add_in_place(&mut r_plus_n, &N);
        if carry || !field::less_than(&r_plus_n, &field::P) {
            return false;
        }
        Fe(r_plus_n).mul(&z2) == sum.x
    }
}

/// r and s, 32 bytes each, or `None` if the signature is not 64 bytes.
fn split_signature(signature: &[u8]) -> Option<([u8; 32], [u8; 32])> {
    let signature: &[u8; 64] = signature.try_into().ok()?;
    let (r, s) = signature.split_at(32);
    Some((r.try_into().ok()?, s.try_into().ok()?))
}

/// The table of `point`: the one a live key of this VM already has, or a new
/// one. A JWKS refresh parses the whole set again while the old set is still
/// held; an unchanged key then costs no new table (about 20 M instructions).
fn shared_table(point: &Affine) -> Option<Arc<Table>> {
    thread_local! {
        // Weak: a table lives as long as the keys that use it, not longer.
        static LIVE: RefCell<Vec<(Affine, Weak<Table>)>> = const { RefCell::new(Vec::new()) };
    }
    LIVE.with(|live| {
        let mut live = live.borrow_mut();
        live.retain(|(_, table)| table.strong_count() > 0);
        if let Some(table) = live
            .iter()
            .find(|(p, _)| p == point)
            .and_then(|(_, table)| table.upgrade())
        {
            return Some(table);
        }
        let table = Arc::new(Table::new(point)?);
        live.push((*point, Arc::downgrade(&table)));
        Some(table)
    })
}

/// The generator's table, built the first time a signature is verified in
/// this VM.
fn generator_table() -> Option<&'static Table> {
    static TABLE: OnceLock<Option<Table>> = OnceLock::new();
    TABLE
        .get_or_init(|| Table::new(&Affine::generator()))
        .as_ref()
}

#[cfg(test)]
mod tests;
