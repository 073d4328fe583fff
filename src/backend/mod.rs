//! Backends: the internal contract every implementation serves, the capabilities each
//! reports, and the choice among them.

#[cfg(target_os = "linux")]
pub(crate) mod avahi;
pub(crate) mod dns_sd;
pub(crate) mod embedded;
pub(crate) mod operation;

#[cfg(target_os = "linux")]
use crate::backend::avahi::AvahiBackend;
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
    /// avahi-daemon through its D-Bus API (Linux; no C library involved).
    Avahi,
}

impl std::str::FromStr for BackendKind {
    type Err = ();

    fn from_str(s: &str) -> std::result::Result<Self, ()> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(BackendKind::Auto),
            "system" => Ok(BackendKind::System),
            "embedded" => Ok(BackendKind::Embedded),
            "avahi" => Ok(BackendKind::Avahi),
            _ => Err(()),
        }
    }
}

/// What [`BackendKind::Auto`] resolves to. `always_system`: the OS's daemon owns mDNS
/// (macOS); `embedded_available`: the embedded engine runs on this OS; `avahi_on_bus`:
/// `org.freedesktop.Avahi` has an owner on the system bus; `probe`: the system daemon's answer
/// through `libdns_sd` (`None`: no library). Each is asked only when it decides something.
pub(crate) fn auto_choice(
    always_system: bool,
    embedded_available: bool,
    avahi_on_bus: impl FnOnce() -> bool,
    probe: impl FnOnce() -> Option<DaemonProbe>,
) -> BackendKind {
    if always_system || !embedded_available {
        return BackendKind::System;
    }
    // avahi-daemon owns its D-Bus name: talk to it directly (no library, no per-process cap).
    if avahi_on_bus() {
        return BackendKind::Avahi;
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
    /// avahi-daemon over D-Bus.
    #[cfg(target_os = "linux")]
    Avahi(AvahiBackend),
}

impl Backend {
    pub(crate) fn kind(&self) -> BackendKind {
        match self {
            Backend::System(_) => BackendKind::System,
            Backend::Embedded(_) => BackendKind::Embedded,
            #[cfg(target_os = "linux")]
            Backend::Avahi(_) => BackendKind::Avahi,
        }
    }

    pub(crate) fn capabilities(&self) -> &Capabilities {
        match self {
            Backend::System(b) => b.capabilities(),
            Backend::Embedded(b) => b.capabilities(),
            #[cfg(target_os = "linux")]
            Backend::Avahi(b) => b.capabilities(),
        }
    }

    pub(crate) async fn register(
        &self,
        service: &Service,
    ) -> Result<(InstanceName, RegistrationGuard)> {
        match self {
            Backend::System(b) => b.register(service).await,
            Backend::Embedded(b) => b.register(service).await,
            #[cfg(target_os = "linux")]
            Backend::Avahi(b) => b.register(service).await,
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
            #[cfg(target_os = "linux")]
            Backend::Avahi(b) => b.update_txt(guard, txt).await,
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
            #[cfg(target_os = "linux")]
            Backend::Avahi(b) => b.browse(service_type, domain, interface),
        }
    }

    pub(crate) fn resolve(&self, instance: &Instance) -> Result<EventStream<Resolved>> {
        match self {
            Backend::System(b) => b.resolve(instance),
            Backend::Embedded(b) => b.resolve(instance),
            #[cfg(target_os = "linux")]
            Backend::Avahi(b) => b.resolve(instance),
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
            #[cfg(target_os = "linux")]
            Backend::Avahi(b) => b.query_record(name, rtype, interface),
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
            #[cfg(target_os = "linux")]
            Backend::Avahi(b) => b.lookup_host(host, interface),
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
            #[cfg(target_os = "linux")]
            Backend::Avahi(b) => b.browse_types(domain, interface),
        }
    }

    pub(crate) async fn wait_released(&self) {
        match self {
            Backend::System(b) => b.idle().await,
            Backend::Embedded(_) => {}
            #[cfg(target_os = "linux")]
            Backend::Avahi(b) => b.idle().await,
        }
    }

    pub(crate) async fn shutdown(&self) {
        match self {
            Backend::System(b) => b.shutdown().await,
            Backend::Embedded(b) => b.shutdown().await,
            #[cfg(target_os = "linux")]
            Backend::Avahi(b) => b.shutdown().await,
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
            auto_choice(false, true, || false, probe(Some(DaemonProbe::Answered))),
            BackendKind::System
        );
        assert_eq!(
            auto_choice(false, true, || false, probe(Some(DaemonProbe::NoAnswer))),
            BackendKind::System
        );
        assert_eq!(
            auto_choice(false, true, || false, probe(Some(DaemonProbe::NotRunning))),
            BackendKind::Embedded
        );
        assert_eq!(
            auto_choice(false, true, || false, probe(None)),
            BackendKind::Embedded
        );
    }

    #[test]
    fn macos_and_systems_without_the_engine_always_use_the_daemon() {
        let never = || -> Option<DaemonProbe> { panic!("no probe needed") };
        let no_bus = || -> bool { panic!("no bus check needed") };
        assert_eq!(auto_choice(true, true, no_bus, never), BackendKind::System);
        assert_eq!(
            auto_choice(false, false, no_bus, never),
            BackendKind::System
        );
    }

    #[test]
    fn auto_prefers_avahi_over_d_bus_when_it_owns_its_name() {
        let never = || -> Option<DaemonProbe> { panic!("no library probe needed") };
        assert_eq!(auto_choice(false, true, || true, never), BackendKind::Avahi);
        assert_eq!(
            auto_choice(false, true, || false, || Some(DaemonProbe::Answered)),
            BackendKind::System
        );
    }

    #[test]
    fn backend_names_parse() {
        assert_eq!(" Embedded ".parse(), Ok(BackendKind::Embedded));
        assert_eq!("system".parse(), Ok(BackendKind::System));
        assert_eq!("auto".parse(), Ok(BackendKind::Auto));
        assert_eq!("Avahi".parse(), Ok(BackendKind::Avahi));
        assert_eq!("daemon".parse::<BackendKind>(), Err(()));
    }
}
