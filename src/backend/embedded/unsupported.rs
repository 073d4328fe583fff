//! The embedded backend on systems it does not support yet: [`EmbeddedBackend::start`] fails
//! with [`Error::Unsupported`], so backend choice falls back to (or reports) the system daemon.

use super::BACKEND_NAME;
use crate::backend::Capabilities;
use crate::backend::operation::{EventStream, RegistrationGuard};
use crate::types::error::{Error, Result};
use crate::types::event::{
    BrowseEvent, HostAddressEvent, Instance, RecordEvent, Resolved, ServiceTypeEvent,
};
use crate::types::name::{InstanceName, ServiceType};
use crate::types::service::{Interface, Service};
use crate::types::txt::TxtRecord;

/// Settings of the embedded backend (none are used on this system).
#[derive(Clone, Debug, Default)]
pub struct EmbeddedConfig {
    /// Host label (without `.local`).
    pub host_name: Option<String>,
    /// Seed of the engine's RNG.
    pub rng_seed: Option<u64>,
}

/// The embedded backend; it cannot be started on this system.
#[derive(Debug)]
pub struct EmbeddedBackend {
    never: std::convert::Infallible,
}

fn unsupported() -> Error {
    Error::unsupported(
        "the embedded backend on this operating system",
        BACKEND_NAME,
    )
}

#[allow(clippy::unused_async, reason = "same signatures as on Linux")]
impl EmbeddedBackend {
    /// Always fails: not supported on this system yet.
    pub fn start(_config: EmbeddedConfig) -> Result<EmbeddedBackend> {
        Err(unsupported())
    }

    /// Never returns (no value of this type exists).
    pub async fn shutdown(&self) {
        match self.never {}
    }

    pub(crate) fn capabilities(&self) -> &Capabilities {
        match self.never {}
    }

    pub(crate) async fn register(&self, _: &Service) -> Result<(InstanceName, RegistrationGuard)> {
        match self.never {}
    }

    pub(crate) async fn update_txt(&self, _: &RegistrationGuard, _: &TxtRecord) -> Result<()> {
        match self.never {}
    }

    pub(crate) fn browse(
        &self,
        _: &ServiceType,
        _: Option<&str>,
        _: Interface,
    ) -> Result<EventStream<BrowseEvent>> {
        match self.never {}
    }

    pub(crate) fn resolve(&self, _: &Instance) -> Result<EventStream<Resolved>> {
        match self.never {}
    }

    pub(crate) fn query_record(
        &self,
        _: &str,
        _: u16,
        _: Interface,
    ) -> Result<EventStream<RecordEvent>> {
        match self.never {}
    }

    pub(crate) fn lookup_host(
        &self,
        _: &str,
        _: Interface,
    ) -> Result<EventStream<HostAddressEvent>> {
        match self.never {}
    }

    pub(crate) fn browse_types(
        &self,
        _: Option<&str>,
        _: Interface,
    ) -> Result<EventStream<ServiceTypeEvent>> {
        match self.never {}
    }
}
