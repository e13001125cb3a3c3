//! The filter's behaviour for one stream, over the [`crate::host::Host`] trait:
//! what the proxy-wasm contexts call, and what tests drive with a fake host.

pub mod answers;
pub mod limits;
pub mod request;
pub mod response;
pub mod root;
mod routed;
pub mod vm;
pub mod websocket;

pub use request::{BodyStep, RequestState, RequestStep};
pub use response::{ResponseBodyStep, ResponseState};
pub use root::{Root, Stream};
pub use vm::{Fetch, Vm};

#[cfg(test)]
mod fake_host;
#[cfg(test)]
mod limits_tests;
#[cfg(test)]
mod root_tests;
#[cfg(test)]
mod tests;
