//! Backends: the internal contract every implementation serves, the capabilities each
//! reports, and the choice among them.

pub(crate) mod choice;
pub(crate) mod detect;
pub(crate) mod dns_sd;
pub(crate) mod embedded;
pub(crate) mod operation;
pub(crate) mod routed;
pub(crate) mod wide_area;

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::backend::operation::{EventStream, RegistrationGuard};
use crate::types::error::{Error, Result};
use crate::types::event::{
    BrowseEvent, HostAddressEvent, Instance, RecordEvent, Resolved, ServiceTypeEvent,
};
use crate::types::name::{InstanceName, ServiceType};
use crate::types::service::{Interface, Service};
use crate::types::txt::TxtRecord;

/// Which implementation serves a [`ServiceDiscovery`](crate::ServiceDiscovery).
///
/// `DNSSD_BACKEND` and the CLI's `--backend` accept each kind's [`name`](Self::name)
/// (`auto`, `system`, `avahi`, `dns-sd`, `embedded`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum BackendKind {
    /// Pick at run time: the host's responder when one runs, else the embedded engine (see
    /// [`ServiceDiscovery`](crate::ServiceDiscovery) for the order).
    #[default]
    Auto,
    /// The OS's responder, whichever path reaches it: avahi-daemon over D-Bus where it runs,
    /// else `libdns_sd` (Apple's mDNSResponder, Bonjour for Windows, Avahi's compatibility
    /// library). Never the embedded engine.
    System,
    /// avahi-daemon over its D-Bus API (Linux), no C library involved.
    Avahi,
    /// The responder behind `libdns_sd`: Apple's mDNSResponder (macOS), Bonjour (Windows), or
    /// avahi-daemon through its compatibility library (Linux).
    DnsSd,
    /// The embedded mDNS engine of this crate.
    Embedded,
}

impl BackendKind {
    /// The name `DNSSD_BACKEND` and the CLI's `--backend` accept for this kind.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Auto => "auto",
            BackendKind::System => "system",
            BackendKind::Avahi => "avahi",
            BackendKind::DnsSd => "dns-sd",
            BackendKind::Embedded => "embedded",
        }
    }

    /// Every kind, in the order of [`name`](Self::name)'s documentation.
    pub const ALL: [BackendKind; 5] = [
        BackendKind::Auto,
        BackendKind::System,
        BackendKind::Avahi,
        BackendKind::DnsSd,
        BackendKind::Embedded,
    ];
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for BackendKind {
    type Err = Error;

    /// Parses a [`name`](Self::name), ignoring case and surrounding blanks (`dns_sd` and
    /// `dnssd` are accepted for `dns-sd`).
    fn from_str(s: &str) -> Result<Self> {
        let name = s.trim().to_ascii_lowercase();
        let name = match name.as_str() {
            "dns_sd" | "dnssd" => "dns-sd",
            other => other,
        };
        BackendKind::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
            .ok_or_else(|| Error::InvalidBackendName {
                value: s.to_owned(),
            })
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

/// A boxed future, the return type of the contract's asynchronous methods (the trait is used
/// as `dyn Backend`, so its methods cannot be `async fn`).
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The contract every backend serves. The API layer holds one `Arc<dyn Backend>` and knows
/// nothing else about the implementation behind it, except through [`Capabilities`].
///
/// Operations validate their input against the backend's capabilities before anything is
/// sent ([`Error::Unsupported`](crate::Error::Unsupported) otherwise). Streams end when the
/// operation ends for good; dropping an [`EventStream`] cancels the operation.
pub(crate) trait Backend: Send + Sync + fmt::Debug {
    /// Which implementation this is (never [`BackendKind::Auto`]).
    fn kind(&self) -> BackendKind;

    /// What this backend can do.
    fn capabilities(&self) -> &Capabilities;

    /// Register `service`; resolves once it is confirmed, with its final name.
    fn register<'a>(
        &'a self,
        service: &'a Service,
    ) -> BoxFuture<'a, Result<(InstanceName, RegistrationGuard)>>;

    /// Instances of `service_type` in `domain` (`None`: the default domain).
    fn browse(
        &self,
        service_type: &ServiceType,
        domain: Option<&str>,
        interface: Interface,
    ) -> Result<EventStream<BrowseEvent>>;

    /// Host, port and TXT of `instance`, and their changes.
    fn resolve(&self, instance: &Instance) -> Result<EventStream<Resolved>>;

    /// Records of `name` and type `rtype`.
    fn query_record(
        &self,
        name: &str,
        rtype: u16,
        interface: Interface,
    ) -> Result<EventStream<RecordEvent>>;

    /// Addresses of `host`.
    fn lookup_host(
        &self,
        host: &str,
        interface: Interface,
    ) -> Result<EventStream<HostAddressEvent>>;

    /// Service types present in `domain` (RFC 6763 section 9).
    fn browse_types(
        &self,
        domain: Option<&str>,
        interface: Interface,
    ) -> Result<EventStream<ServiceTypeEvent>>;

    /// Ask the responder to verify that `instance` still exists (RFC 6762 section 10.4):
    /// a caller whose connection to it failed says so, and a dead instance is reported
    /// removed soon after, long before its records' TTL runs out.
    fn reconfirm<'a>(&'a self, instance: &'a Instance) -> BoxFuture<'a, Result<()>> {
        let _ = instance;
        let backend = self.kind();
        Box::pin(async move { Err(Error::unsupported("reconfirm", backend.name())) })
    }

    /// Wait until every operation whose handle was dropped has released what it held.
    fn wait_released(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    /// End every operation and wait for that (goodbyes sent, references released).
    fn shutdown(&self) -> BoxFuture<'_, ()>;
}

/// What a backend keeps for one live registration and acts on when the [`Registration`]
/// handle asks (the handle itself is backend-independent). Dropping it withdraws the service.
///
/// [`Registration`]: crate::Registration
pub(crate) trait RegistrationControl: Send + Sync {
    /// Replace the TXT record while the service stays registered.
    fn update_txt<'a>(&'a self, txt: &'a TxtRecord) -> BoxFuture<'a, Result<()>>;

    /// Withdraw the service and return once the backend has acted on it (goodbyes queued, or
    /// the daemon's reference released). By default: dropping the control withdraws it.
    fn unregister(self: Box<Self>) -> BoxFuture<'static, ()> {
        drop(self);
        Box::pin(async {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names_parse_and_unknown_names_are_errors() {
        for kind in BackendKind::ALL {
            assert_eq!(kind.name().parse::<BackendKind>().ok(), Some(kind));
        }
        assert_eq!(
            " Embedded ".parse::<BackendKind>().ok(),
            Some(BackendKind::Embedded)
        );
        assert_eq!(
            "dns_sd".parse::<BackendKind>().ok(),
            Some(BackendKind::DnsSd)
        );
        match "daemon".parse::<BackendKind>() {
            Err(Error::InvalidBackendName { value }) => assert_eq!(value, "daemon"),
            other => panic!("expected InvalidBackendName, got {other:?}"),
        }
    }
}
