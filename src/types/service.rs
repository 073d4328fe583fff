//! What a caller asks for: a [`Service`] to register, the [`Interface`]s an operation uses and
//! the [`RecordType`] of a record query.

use std::num::NonZeroU32;

use crate::types::error::Result;
use crate::types::name::{Domain, HostName, InstanceName, ServiceType};
use crate::types::txt::TxtRecord;

/// Which interfaces an operation uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Interface {
    /// Every interface.
    #[default]
    Any,
    /// One interface, by OS index (`if_nametoindex`).
    Index(NonZeroU32),
    /// This machine only, nothing on the network (not supported by Avahi).
    LocalOnly,
}

impl Interface {
    /// The interface with this OS index (`if_nametoindex`); 0 is [`Interface::Any`] and
    /// `u32::MAX` (`kDNSServiceInterfaceIndexLocalOnly`) is [`Interface::LocalOnly`].
    pub fn from_index(index: u32) -> Interface {
        match index {
            u32::MAX => Interface::LocalOnly,
            other => NonZeroU32::new(other).map_or(Interface::Any, Interface::Index),
        }
    }

    /// The OS index (0 for [`Interface::Any`], `u32::MAX` for [`Interface::LocalOnly`]).
    pub fn index(self) -> u32 {
        match self {
            Interface::Any => 0,
            Interface::Index(index) => index.get(),
            Interface::LocalOnly => u32::MAX,
        }
    }
}

/// DNS record types for [`ServiceDiscovery::query_record`](crate::ServiceDiscovery::query_record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordType(pub u16);

impl RecordType {
    /// IPv4 address.
    pub const A: RecordType = RecordType(1);
    /// Pointer (service instances of a type).
    pub const PTR: RecordType = RecordType(12);
    /// Text strings (service metadata).
    pub const TXT: RecordType = RecordType(16);
    /// IPv6 address.
    pub const AAAA: RecordType = RecordType(28);
    /// Service location.
    pub const SRV: RecordType = RecordType(33);
    /// Any type.
    pub const ANY: RecordType = RecordType(255);
}

/// A service to register: type (with optional subtypes), port, and optional name, TXT, host,
/// domain and interface. Built with `with_*` methods; read back with the plain getters.
///
/// ```
/// use dnssd::{InstanceName, Service, ServiceType, TxtRecord};
/// # fn main() -> dnssd::Result<()> {
/// let mut txt = TxtRecord::new();
/// txt.insert("path", "/")?;
/// let service = Service::new(ServiceType::new("_http._tcp")?, 8080)
///     .with_name(InstanceName::new("My Web")?)
///     .with_txt(txt)
///     .with_subtype("_printer")?;
/// assert_eq!(service.port(), 8080);
/// assert_eq!(service.name().map(InstanceName::as_str), Some("My Web"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    service_type: ServiceType,
    port: u16,
    name: Option<InstanceName>,
    txt: TxtRecord,
    host: Option<HostName>,
    domain: Option<Domain>,
    interface: Interface,
}

impl Service {
    /// A service of `service_type` on `port`; the responder picks the instance name (the
    /// computer's name) unless [`Service::with_name`] sets one.
    pub fn new(service_type: ServiceType, port: u16) -> Self {
        Service {
            service_type,
            port,
            name: None,
            txt: TxtRecord::default(),
            host: None,
            domain: None,
            interface: Interface::Any,
        }
    }

    /// Set the instance name.
    #[must_use]
    pub fn with_name(mut self, name: InstanceName) -> Self {
        self.name = Some(name);
        self
    }

    /// Set the TXT record.
    #[must_use]
    pub fn with_txt(mut self, txt: TxtRecord) -> Self {
        self.txt = txt;
        self
    }

    /// Set the port.
    #[must_use]
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Add a subtype (`_printer`), validated by RFC 6763 section 7.1.
    pub fn with_subtype(mut self, subtype: &str) -> Result<Self> {
        self.service_type = self.service_type.with_subtype(subtype)?;
        Ok(self)
    }

    /// Advertise on another host name (that host's address records must exist).
    #[must_use]
    pub fn with_host(mut self, host: HostName) -> Self {
        self.host = Some(host);
        self
    }

    /// Register in this domain instead of the default (`local.`).
    #[must_use]
    pub fn with_domain(mut self, domain: Domain) -> Self {
        self.domain = Some(domain);
        self
    }

    /// Register on this interface only.
    #[must_use]
    pub fn with_interface(mut self, interface: Interface) -> Self {
        self.interface = interface;
        self
    }

    /// The service type with its subtypes.
    pub fn service_type(&self) -> &ServiceType {
        &self.service_type
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The requested instance name, if any.
    pub fn name(&self) -> Option<&InstanceName> {
        self.name.as_ref()
    }

    /// The TXT record.
    pub fn txt(&self) -> &TxtRecord {
        &self.txt
    }

    /// The host name, if set.
    pub fn host(&self) -> Option<&HostName> {
        self.host.as_ref()
    }

    /// The domain, if set.
    pub fn domain(&self) -> Option<&Domain> {
        self.domain.as_ref()
    }

    /// The interface choice.
    pub fn interface(&self) -> Interface {
        self.interface
    }
}
