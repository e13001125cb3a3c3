//! Tests of the JWT core against published vectors and known attacks. Unit
//! tests of single modules live next to them; these exercise several together.

mod attacks;
mod authenticate;
mod claims;
mod rfc;
pub(crate) mod support;
mod wycheproof;
