//! The embedded backend on systems it does not support yet: [`start`](super::start) fails with
//! [`Error::Unsupported`], so backend choice falls back to (or reports) the system daemon.

use std::sync::Arc;

use super::BACKEND_NAME;
use crate::backend::Backend;
use crate::types::error::{Error, Result};

/// Settings of the embedded backend (none are used on this system).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct EmbeddedConfig {
    /// Host label (without `.local`).
    pub host_name: Option<String>,
    /// Seed of the engine's RNG.
    pub rng_seed: Option<u64>,
    /// Publish reverse-mapping PTRs.
    pub reverse_mapping: Option<bool>,
}

impl EmbeddedConfig {
    /// Use this host label (without `.local`) instead of the machine's host name.
    #[must_use]
    pub fn with_host_name(mut self, host_name: impl Into<String>) -> Self {
        self.host_name = Some(host_name.into());
        self
    }

    /// Seed the engine's RNG (reproducible timing in tests).
    #[must_use]
    pub fn with_rng_seed(mut self, seed: u64) -> Self {
        self.rng_seed = Some(seed);
        self
    }
    /// Publish reverse-mapping PTRs (`true`) or not (`false`) instead of deciding by whether
    /// another mDNS responder runs on this host.
    #[must_use]
    pub fn with_reverse_mapping(mut self, reverse_mapping: bool) -> Self {
        self.reverse_mapping = Some(reverse_mapping);
        self
    }
}

/// Always fails: not supported on this system yet.
pub(crate) fn start(_config: EmbeddedConfig) -> Result<Arc<dyn Backend>> {
    Err(Error::unsupported(
        "the embedded backend on this operating system",
        BACKEND_NAME,
    ))
}
