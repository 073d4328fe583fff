//! The vocabulary shared by the API and every backend: names, TXT records, events, errors and
//! what a caller asks for. It imports nothing above it.

pub(crate) mod error;
pub(crate) mod event;
pub(crate) mod name;
pub(crate) mod responder;
#[cfg(feature = "serde")]
mod serde_impls;
pub(crate) mod service;
pub(crate) mod txt;
