//! What the operations report: discovered instances, resolved services, addresses, records and
//! ready-to-connect endpoints. Shared by both backends.

use std::net::{IpAddr, SocketAddr};

use crate::types::name::{Domain, InstanceName, ServiceType};
use crate::types::service::{Interface, RecordType};
use crate::types::txt::TxtRecord;

/// One service instance seen by a browse.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Instance {
    /// The instance name (unescaped), e.g. `My Web`.
    pub name: InstanceName,
    /// The service type, e.g. `_http._tcp`.
    pub service_type: ServiceType,
    /// The domain, e.g. `local.`.
    pub domain: Domain,
    /// The interface the instance was seen on.
    pub interface: Interface,
}

impl Instance {
    /// The instance's full DNS name, escaped as RFC 6763 section 4.3 says, e.g.
    /// `My Web._http._tcp.local.` (dots and backslashes inside the instance name are escaped).
    ///
    /// ```
    /// # fn main() -> dnssd::Result<()> {
    /// use dnssd::{Domain, Instance, InstanceName, Interface, ServiceType};
    /// let instance = Instance {
    ///     name: InstanceName::new("My Web")?,
    ///     service_type: ServiceType::new("_http._tcp")?,
    ///     domain: Domain::local(),
    ///     interface: Interface::Any,
    /// };
    /// assert_eq!(instance.full_name(), "My Web._http._tcp.local.");
    /// # Ok(())
    /// # }
    /// ```
    pub fn full_name(&self) -> String {
        crate::types::name::full_name(&self.name, &self.service_type, &self.domain)
    }
}

/// A change in the set of instances a browse sees.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum BrowseEvent {
    /// The instance appeared (reported once, however many IP protocols it is seen on).
    Added(Instance),
    /// The instance went away (on every protocol it was seen on), or the daemon went away.
    Removed(Instance),
}

/// The result of resolving an instance: where it runs and its TXT record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Resolved {
    /// The instance that was resolved.
    pub instance: Instance,
    /// SRV target host, e.g. `host.local.`.
    pub host_target: String,
    /// Port the service listens on.
    pub port: u16,
    /// The parsed TXT record.
    pub txt: TxtRecord,
    /// The interface the answer came from.
    pub interface: Interface,
}

/// One address of a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct HostAddress {
    /// The address.
    pub addr: IpAddr,
    /// IPv6 scope id (the interface index for link-local addresses; 0 otherwise).
    pub scope_id: u32,
    /// The interface the answer came from.
    pub interface: Interface,
}

impl HostAddress {
    /// The socket address for `port`, carrying the scope id for IPv6.
    pub fn socket_addr(&self, port: u16) -> SocketAddr {
        match self.addr {
            IpAddr::V4(v4) => SocketAddr::new(IpAddr::V4(v4), port),
            IpAddr::V6(v6) => {
                SocketAddr::V6(std::net::SocketAddrV6::new(v6, port, 0, self.scope_id))
            }
        }
    }
}

/// A change in a host's addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum HostAddressEvent {
    /// The address appeared.
    Added(HostAddress),
    /// The address went away.
    Removed(HostAddress),
}

/// A DNS record as a record query reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Record {
    /// Owner name.
    pub name: String,
    /// Record type.
    pub rtype: RecordType,
    /// Record class (1 = IN).
    pub class: u16,
    /// Raw rdata as on the wire (names uncompressed).
    pub rdata: Vec<u8>,
    /// TTL in seconds (Avahi's library always reports 0).
    pub ttl: u32,
    /// The interface the answer came from.
    pub interface: Interface,
}

/// A change in the answers to a record query.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum RecordEvent {
    /// The record appeared.
    Added(Record),
    /// The record went away.
    Removed(Record),
}

/// A service type seen by service type enumeration (RFC 6763 §9).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum ServiceTypeEvent {
    /// Some instance of this type is present.
    Added(ServiceType),
    /// No instance of this type is advertised any more.
    Removed(ServiceType),
}

/// A ready-to-connect service: resolved and with at least one address.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Endpoint {
    /// The instance.
    pub instance: Instance,
    /// SRV target host.
    pub host_target: String,
    /// Every known address with the port (IPv6 link-local carries its scope id).
    pub addresses: Vec<SocketAddr>,
    /// Port the service listens on.
    pub port: u16,
    /// The parsed TXT record.
    pub txt: TxtRecord,
    /// The interface the instance was seen on.
    pub interface: Interface,
    /// Registered through the same [`ServiceDiscovery`](crate::ServiceDiscovery) handle.
    own: bool,
}

impl Endpoint {
    /// An endpoint of `resolved` at `addresses` (already ordered by the caller).
    pub(crate) fn new(resolved: &Resolved, addresses: Vec<SocketAddr>, own: bool) -> Endpoint {
        Endpoint {
            instance: resolved.instance.clone(),
            host_target: resolved.host_target.clone(),
            addresses,
            port: resolved.port,
            txt: resolved.txt.clone(),
            interface: resolved.instance.interface,
            own,
        }
    }

    /// True when this is one of this program's own registrations (made through the same
    /// [`ServiceDiscovery`](crate::ServiceDiscovery) handle or a clone of it), so a program
    /// that registers and browses the same type can skip itself.
    pub fn is_own(&self) -> bool {
        self.own
    }
}

/// A change in the set of ready-to-connect endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum EndpointEvent {
    /// The endpoint is complete for the first time.
    Up(Endpoint),
    /// Its host, port, addresses or TXT changed.
    Changed(Endpoint),
    /// The instance went away, or stopped matching the stream's TXT filter; carries the last
    /// endpoint reported for it (only instances that were `Up` are reported `Down`).
    Down(Endpoint),
}

/// What happened to a live registration after it was first confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum RegistrationEvent {
    /// Registered again (after the daemon came back) or renamed after a conflict, under this
    /// name.
    Registered(InstanceName),
}
