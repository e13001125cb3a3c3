//! JWT authentication (SPEC "Providers").

pub mod jwks;
mod reason;

pub use reason::Reason;
