//! Points of P-256 (y² = x³ − 3x + b over the field of [`super::field`]).
//!
//! Affine points for what is stored (tables), Jacobian coordinates
//! (x = X/Z², y = Y/Z³) for sums, so a sum costs no field inversion. The
//! addition formulas are the incomplete, faster ones: they branch on the cases
//! they do not cover (a point plus itself or its negation, the point at
//! infinity). That is variable time, which verification allows: every input is
//! public.

use super::field::Fe;

/// The curve's b, big-endian (FIPS 186-4 D.1.2.3).
const B: [u8; 32] = [
    0x5a, 0xc6, 0x35, 0xd8, 0xaa, 0x3a, 0x93, 0xe7, 0xb3, 0xeb, 0xbd, 0x55, 0x76, 0x98, 0x86, 0xbc,
    0x65, 0x1d, 0x06, 0xb0, 0xcc, 0x53, 0xb0, 0xf6, 0x3b, 0xce, 0x3c, 0x3e, 0x27, 0xd2, 0x60, 0x4b,
];
/// The generator's coordinates, big-endian.
pub const GX: [u8; 32] = [
    0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40, 0xf2,
    0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96,
];
pub const GY: [u8; 32] = [
    0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16,
    0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5,
];

/// A point other than infinity, on the curve (checked when it is built).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Affine {
    pub x: Fe,
    pub y: Fe,
}

/// Why coordinates are not a public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointError {
    /// A coordinate is p or more.
    CoordinateOutOfRange,
    /// y² ≠ x³ − 3x + b.
    NotOnCurve,
}

impl Affine {
    /// The point (x, y) from big-endian coordinates, if it is on the curve.
    /// P-256's cofactor is 1, so every such point generates the whole group.
    pub fn from_coordinates(x: &[u8; 32], y: &[u8; 32]) -> Result<Affine, PointError> {
        let (Some(x), Some(y)) = (Fe::from_be_bytes(x), Fe::from_be_bytes(y)) else {
            return Err(PointError::CoordinateOutOfRange);
        };
        let b = Fe::from_be_bytes(&B).ok_or(PointError::NotOnCurve)?;
        let x3 = x.square().mul(&x);
        let rhs = x3.sub(&x.double().add(&x)).add(&b);
        if y.square() != rhs {
            return Err(PointError::NotOnCurve);
        }
        Ok(Affine { x, y })
    }

    pub fn generator() -> Affine {
        // Both are below p (constants of the standard).
        Affine {
            x: Fe::from_be_bytes(&GX).unwrap_or(Fe::ZERO),
            y: Fe::from_be_bytes(&GY).unwrap_or(Fe::ZERO),
        }
    }

    pub fn neg(&self) -> Affine {
        Affine {
            x: self.x,
            y: self.y.neg(),
        }
    }
}

/// A point in Jacobian coordinates; Z = 0 is the point at infinity.
#[derive(Clone, Copy, Debug)]
pub struct Jacobian {
    pub x: Fe,
    pub y: Fe,
    pub z: Fe,
}

impl From<&Affine> for Jacobian {
    fn from(p: &Affine) -> Jacobian {
        Jacobian {
            x: p.x,
            y: p.y,
            z: Fe::ONE,
        }
    }
}

impl Jacobian {
    pub const INFINITY: Jacobian = Jacobian {
        x: Fe::ONE,
        y: Fe::ONE,
        z: Fe::ZERO,
    };

    pub fn is_infinity(&self) -> bool {
        self.z.is_zero()
    }

    /// 2·self ("dbl-2001-b", for a = −3: 3M + 5S).
    pub fn double(&self) -> Jacobian {
        if self.is_infinity() || self.y.is_zero() {
            return Jacobian::INFINITY;
        }
        let delta = self.z.square();
        let gamma = self.y.square();
        let beta = self.x.mul(&gamma);
        let t = self.x.sub(&delta).mul(&self.x.add(&delta));
        let alpha = t.double().add(&t);
        let beta4 = beta.double().double();
        let x3 = alpha.square().sub(&beta4.double());
        let z3 = self.y.add(&self.z).square().sub(&gamma).sub(&delta);
        let gamma2_8 = gamma.square().double().double().double();
        let y3 = alpha.mul(&beta4.sub(&x3)).sub(&gamma2_8);
        Jacobian {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    /// self + q for an affine q (8M + 3S), the one step of a verification.
    pub fn add_affine(&self, q: &Affine) -> Jacobian {
        if self.is_infinity() {
            return Jacobian::from(q);
        }
        let z1z1 = self.z.square();
        let u2 = q.x.mul(&z1z1);
        let s2 = q.y.mul(&self.z).mul(&z1z1);
        let h = u2.sub(&self.x);
        let r = s2.sub(&self.y);
        if h.is_zero() {
            // Same x: q is self (a doubling) or −self (the sum is infinity).
            return if r.is_zero() {
                self.double()
            } else {
                Jacobian::INFINITY
            };
        }
        let hh = h.square();
        let hhh = h.mul(&hh);
        let v = self.x.mul(&hh);
        let x3 = r.square().sub(&hhh).sub(&v.double());
        let y3 = r.mul(&v.sub(&x3)).sub(&self.y.mul(&hhh));
        let z3 = self.z.mul(&h);
        Jacobian {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    /// self + q for Jacobian q (12M + 4S); used only to build tables.
    pub fn add(&self, q: &Jacobian) -> Jacobian {
        if self.is_infinity() {
            return *q;
        }
        if q.is_infinity() {
            return *self;
        }
        let z1z1 = self.z.square();
        let z2z2 = q.z.square();
        let u1 = self.x.mul(&z2z2);
        let u2 = q.x.mul(&z1z1);
        let s1 = self.y.mul(&q.z).mul(&z2z2);
        let s2 = q.y.mul(&self.z).mul(&z1z1);
        let h = u2.sub(&u1);
        let r = s2.sub(&s1);
        if h.is_zero() {
            return if r.is_zero() {
                self.double()
            } else {
                Jacobian::INFINITY
            };
        }
        let hh = h.square();
        let hhh = h.mul(&hh);
        let v = u1.mul(&hh);
        let x3 = r.square().sub(&hhh).sub(&v.double());
        let y3 = r.mul(&v.sub(&x3)).sub(&s1.mul(&hhh));
        let z3 = self.z.mul(&q.z).mul(&h);
        Jacobian {
            x: x3,
            y: y3,
            z: z3,
        }
    }
}

/// The affine forms of `points` with one field inversion for all of them
/// (Montgomery's trick), or `None` if one of them is infinity.
pub fn to_affine_batch(points: &[Jacobian]) -> Option<Vec<Affine>> {
    if points.iter().any(Jacobian::is_infinity) {
        return None;
    }
    // prefix[i] = z₀·…·z_{i−1}
    let mut prefix = Vec::with_capacity(points.len());
    let mut acc = Fe::ONE;
    for p in points {
        prefix.push(acc);
        acc = acc.mul(&p.z);
    }
    let mut inv = acc.invert(); // (z₀·…·z_last)⁻¹
    let mut out = vec![
        Affine {
            x: Fe::ZERO,
            y: Fe::ZERO
        };
        points.len()
    ];
    for ((p, before), slot) in points.iter().zip(&prefix).zip(out.iter_mut()).rev() {
        let z_inv = inv.mul(before);
        inv = inv.mul(&p.z);
        let z_inv2 = z_inv.square();
        *slot = Affine {
            x: p.x.mul(&z_inv2),
            y: p.y.mul(&z_inv2.mul(&z_inv)),
        };
    }
    Some(out)
}
