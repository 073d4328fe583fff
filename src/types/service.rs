//! What a caller asks for: a [`Service`] to register, the [`Interface`]s an operation uses and
//! the [`RecordType`] of a record query.

use std::num::NonZeroU32;

use crate::types::error::Result;
use crate::types::name::{InstanceName, ServiceType};
use crate::types::txt::TxtRecord;

/// Which interfaces an operation uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Interface {
    /// Every interface.
    #[default]
    Any,
    /// One interface, by OS index (`if_nametoindex`).
    Index(NonZeroU32),
    /// This machine only, nothing on the network (not supported by Avahi).
    LocalOnly,
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
/// domain and interface.
#[derive(Debug, Clone)]
pub struct Service {
    service_type: ServiceType,
    port: u16,
    name: Option<InstanceName>,
    txt: TxtRecord,
    host: Option<String>,
    domain: Option<String>,
    interface: Interface,
}

impl Service {
    /// A service of `service_type` on `port`; the daemon picks the instance name (the
    /// computer's name) unless [`Service::name`] sets one.
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
    pub fn name(mut self, name: InstanceName) -> Self {
        self.name = Some(name);
        self
    }

    /// Set the TXT record.
    pub fn txt(mut self, txt: TxtRecord) -> Self {
        self.txt = txt;
        self
    }

    /// Add a subtype (`_printer`), validated by RFC 6763 §7.1.
    pub fn subtype(mut self, subtype: &str) -> Result<Self> {
        self.service_type = self.service_type.with_subtype(subtype)?;
        Ok(self)
    }

    /// Advertise on another host name (that host's address records must exist).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Register in this domain instead of the default (`local.`).
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// Register on these interfaces only.
    pub fn interface(mut self, interface: Interface) -> Self {
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
    pub fn instance_name(&self) -> Option<&InstanceName> {
        self.name.as_ref()
    }

    /// The TXT record.
    pub fn txt_record(&self) -> &TxtRecord {
        &self.txt
    }

    /// The host name, if set.
    pub fn host_name(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// The domain, if set.
    pub fn domain_name(&self) -> Option<&str> {
        self.domain.as_deref()
    }

    /// The interface choice.
    pub fn interface_choice(&self) -> Interface {
        self.interface
    }
}
