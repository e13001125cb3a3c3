//! JWT authentication (SPEC "Providers").

pub mod jwks;
