//! The public handle ([`discovery::ServiceDiscovery`]), its streams, and the endpoint combiner
//! behind `browse(..).resolved()`. It talks to backends only through `crate::backend`.

pub(crate) mod discovery;
pub(crate) mod endpoints;
pub(crate) mod own;
pub(crate) mod stream;
