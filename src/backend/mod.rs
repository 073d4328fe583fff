//! Backends: the internal contract every implementation serves, the capabilities each
//! reports, and the choice among them.

pub(crate) mod dns_sd;
pub(crate) mod embedded;
pub(crate) mod operation;
pub(crate) mod wide_area;

use crate::backend::dns_sd::{DaemonProbe, SystemBackend};
use crate::backend::embedded::EmbeddedBackend;
use crate::backend::operation::{EventStream, RegistrationGuard};
use crate::types::error::Result;
use crate::types::event::{
    BrowseEvent, HostAddressEvent, Instance, RecordEvent, Resolved, ServiceTypeEvent,
};
use crate::types::name::{InstanceName, ServiceType};
use crate::types::service::{Interface, Service};
use crate::types::txt::TxtRecord;

/// Which implementation serves a [`ServiceDiscovery`](crate::ServiceDiscovery).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum BackendKind {
    /// Pick at run time: the system daemon when it answers, else the embedded engine (the
    /// environment variable `DNSSD_BACKEND=system|embedded|auto` overrides; see
    /// [`ServiceDiscovery`](crate::ServiceDiscovery) for the rules).
    #[default]
    Auto,
    /// The OS responder (Apple's mDNSResponder or Avahi) through `libdns_sd`.
    System,
    /// The embedded mDNS engine of this crate.
    Embedded,
}

impl std::str::FromStr for BackendKind {
    type Err = ();

    fn from_str(s: &str) -> std::result::Result<Self, ()> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(BackendKind::Auto),
            "system" => Ok(BackendKind::System),
            "embedded" => Ok(BackendKind::Embedded),
            _ => Err(()),
        }
    }
}

/// What [`BackendKind::Auto`] resolves to. `always_system`: the OS's daemon owns mDNS
/// (macOS); `embedded_available`: the embedded engine runs on this OS; `probe`: the system
/// daemon's answer (`None`: no `libdns_sd`), asked only when it decides something.
pub(crate) fn auto_choice(
    always_system: bool,
    embedded_available: bool,
    probe: impl FnOnce() -> Option<DaemonProbe>,
) -> BackendKind {
    if always_system || !embedded_available {
        return BackendKind::System;
    }
    match probe() {
        // A hung daemon still owns the host: never bind 5353 next to it.
        Some(DaemonProbe::Answered | DaemonProbe::NoAnswer) => BackendKind::System,
        Some(DaemonProbe::NotRunning) | None => BackendKind::Embedded,
    }
}

/// What the chosen backend can do. Operations that need a missing capability fail with
/// [`Error::Unsupported`](crate::Error::Unsupported) before anything is sent to the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// Host lookups report addresses with their interface and IPv6 scope from one native
    /// lookup (Apple's `DNSServiceGetAddrInfo`; the embedded engine always). False with Avahi,
    /// whose library has no such call: lookups are A and AAAA record queries there.
    pub get_addr_info: bool,
    /// Extra records can be added to a registration (`DNSServiceAddRecord`).
    pub extra_records: bool,
    /// Local-only registrations and queries (`kDNSServiceInterfaceIndexLocalOnly`).
    pub local_only: bool,
    /// Non-zero `DNSServiceFlags` are accepted (Avahi rejects every non-zero value).
    pub flags: bool,
    /// Most subtypes one browse can select (`None`: no limit).
    pub max_browse_subtypes: Option<usize>,
    /// NAT port mapping (`DNSServiceNATPortMappingCreate`).
    pub nat_port_mapping: bool,
    /// Record answers carry real TTLs (Avahi reports 0).
    pub record_ttl: bool,
    /// Records can be reconfirmed (`DNSServiceReconfirmRecord`).
    pub reconfirm: bool,
    /// A registration's TXT record can be replaced while it is live.
    pub txt_update: bool,
    /// Record queries may ask for type ANY (255); Avahi's library answers `BadParam`, so the
    /// system backend refuses such a query with `Unsupported` there.
    pub query_any: bool,
}

/// The backend a handle was built with.
#[derive(Debug)]
pub(crate) enum Backend {
    /// The system daemon.
    System(SystemBackend),
    /// The embedded mDNS engine.
    Embedded(EmbeddedBackend),
}

impl Backend {
    pub(crate) fn kind(&self) -> BackendKind {
        match self {
            Backend::System(_) => BackendKind::System,
            Backend::Embedded(_) => BackendKind::Embedded,
        }
    }

    pub(crate) fn capabilities(&self) -> &Capabilities {
        match self {
            Backend::System(b) => b.capabilities(),
            Backend::Embedded(b) => b.capabilities(),
        }
    }

    pub(crate) async fn register(
        &self,
        service: &Service,
    ) -> Result<(InstanceName, RegistrationGuard)> {
        match self {
            Backend::System(b) => b.register(service).await,
            Backend::Embedded(b) => b.register(service).await,
        }
    }

    pub(crate) async fn update_txt(
        &self,
        guard: &RegistrationGuard,
        txt: &TxtRecord,
    ) -> Result<()> {
        match self {
            Backend::System(b) => b.update_txt(guard, txt).await,
            Backend::Embedded(b) => b.update_txt(guard, txt).await,
        }
    }

    pub(crate) fn browse(
        &self,
        service_type: &ServiceType,
        domain: Option<&str>,
        interface: Interface,
    ) -> Result<EventStream<BrowseEvent>> {
        match self {
            Backend::System(b) => b.browse(service_type, domain, interface),
            Backend::Embedded(b) => b.browse(service_type, domain, interface),
        }
    }

    pub(crate) fn resolve(&self, instance: &Instance) -> Result<EventStream<Resolved>> {
        match self {
            Backend::System(b) => b.resolve(instance),
            Backend::Embedded(b) => b.resolve(instance),
        }
    }

    pub(crate) fn query_record(
        &self,
        name: &str,
        rtype: u16,
        interface: Interface,
    ) -> Result<EventStream<RecordEvent>> {
        match self {
            Backend::System(b) => b.query_record(name, rtype, interface),
            Backend::Embedded(b) => b.query_record(name, rtype, interface),
        }
    }

    pub(crate) fn lookup_host(
        &self,
        host: &str,
        interface: Interface,
    ) -> Result<EventStream<HostAddressEvent>> {
        match self {
            Backend::System(b) => b.lookup_host(host, interface),
            Backend::Embedded(b) => b.lookup_host(host, interface),
        }
    }

    pub(crate) fn browse_types(
        &self,
        domain: Option<&str>,
        interface: Interface,
    ) -> Result<EventStream<ServiceTypeEvent>> {
        match self {
            Backend::System(b) => b.browse_types(domain, interface),
            Backend::Embedded(b) => b.browse_types(domain, interface),
        }
    }

    pub(crate) async fn wait_released(&self) {
        match self {
            Backend::System(b) => b.idle().await,
            Backend::Embedded(_) => {}
        }
    }

    pub(crate) async fn shutdown(&self) {
        match self {
            Backend::System(b) => b.shutdown().await,
            Backend::Embedded(b) => b.shutdown().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_picks_the_daemon_only_when_it_answers() {
        let probe = |answer| move || answer;
        assert_eq!(
            auto_choice(false, true, probe(Some(DaemonProbe::Answered))),
            BackendKind::System
        );
        assert_eq!(
            auto_choice(false, true, probe(Some(DaemonProbe::NoAnswer))),
            BackendKind::System
        );
        assert_eq!(
            auto_choice(false, true, probe(Some(DaemonProbe::NotRunning))),
            BackendKind::Embedded
        );
        assert_eq!(auto_choice(false, true, probe(None)), BackendKind::Embedded);
    }

    #[test]
    fn macos_and_systems_without_the_engine_always_use_the_daemon() {
        let never = || -> Option<DaemonProbe> { panic!("no probe needed") };
        assert_eq!(auto_choice(true, true, never), BackendKind::System);
        assert_eq!(auto_choice(false, false, never), BackendKind::System);
    }

    #[test]
    fn backend_names_parse() {
        assert_eq!(" Embedded ".parse(), Ok(BackendKind::Embedded));
        assert_eq!("system".parse(), Ok(BackendKind::System));
        assert_eq!("auto".parse(), Ok(BackendKind::Auto));
        assert_eq!("daemon".parse::<BackendKind>(), Err(()));
    }
}
