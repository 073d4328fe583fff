//! [`EmbeddedBackend`]: the backend contract (`docs/DESIGN.md`) on top of the driver. Each
//! method turns the API's types into an engine command and builds a [`Sink`] that turns the
//! engine's events for that command into the operation's stream items.

use std::net::IpAddr;

use dnssd_engine::wire::{Name, RecordType as EngineRecordType};
use dnssd_engine::{CommandError, Event, InterfaceId, RegistrationFailure, ServiceSpec};
use tokio::sync::oneshot;

use super::BACKEND_NAME;
use super::driver::{
    DriverHandle, DriverStats, EmbeddedConfig, OperationKey, QueryRequest, Refusal, Sink,
};
use crate::backend::operation::event_channel;
use crate::backend::operation::{EventStream, OperationGuard, RegistrationGuard};
use crate::backend::{Backend, BackendKind, BoxFuture, Capabilities, RegistrationControl};
use crate::types::error::{Error, Result};
use crate::types::event::{
    BrowseEvent, HostAddress, HostAddressEvent, Instance, Record, RecordEvent, RegistrationEvent,
    Resolved, ServiceTypeEvent,
};
use crate::types::name::{Domain, HostName, InstanceName, ServiceType, full_name, parse_full_name};
use crate::types::service::{Interface, RecordType, Service};
use crate::types::txt::TxtRecord;

/// The embedded mDNS backend: one driver task per backend value.
#[derive(Debug)]
pub(crate) struct EmbeddedBackend {
    driver: DriverHandle,
    capabilities: Capabilities,
    default_instance_name: String,
}

/// Stops a query when dropped (held by the stream's [`OperationGuard`]).
struct QueryCancel {
    driver: DriverHandle,
    key: OperationKey,
}

impl Drop for QueryCancel {
    fn drop(&mut self) {
        self.driver.stop_query(self.key);
    }
}

/// The control half of an embedded registration: deregisters (goodbyes) when dropped.
struct EmbeddedRegistration {
    driver: DriverHandle,
    key: OperationKey,
}

impl RegistrationControl for EmbeddedRegistration {
    fn update_txt<'a>(&'a self, txt: &'a TxtRecord) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.driver
                .update_txt(self.key, txt.to_wire())
                .await
                .map_err(driver_error)?
                .map_err(command_error)
        })
    }
}

impl Drop for EmbeddedRegistration {
    fn drop(&mut self) {
        self.driver.deregister(self.key);
    }
}

fn unsupported(operation: &'static str) -> Error {
    Error::unsupported(operation, BACKEND_NAME)
}

fn command_error(e: CommandError) -> Error {
    match e {
        CommandError::InvalidInstanceName(input) => Error::InvalidInstanceName {
            input,
            reason: "rejected by the mDNS engine",
        },
        CommandError::InvalidServiceType(input) => Error::InvalidServiceType {
            input,
            reason: "rejected by the mDNS engine",
        },
        CommandError::InvalidName(input) => Error::InvalidFullName {
            input,
            reason: "not a valid DNS name",
        },
        CommandError::InvalidTxt => Error::InvalidTxt {
            key: String::new(),
            reason: "TXT record data is not a sequence of length-prefixed strings",
        },
        CommandError::TxtTooLarge { .. } => Error::InvalidTxt {
            key: String::new(),
            reason: "the TXT record does not fit in one 9000-byte mDNS message (RFC 6762 §17)",
        },
        CommandError::LimitReached(_) => Error::NoMemory,
        CommandError::UnknownId => Error::BadReference,
        _ => Error::BadParam,
    }
}

fn driver_error(e: std::io::Error) -> Error {
    Error::Io(e)
}

/// The engine's interface for an API interface choice (`None`: all).
fn engine_interface(interface: Interface, operation: &'static str) -> Result<Option<InterfaceId>> {
    match interface {
        Interface::Any => Ok(None),
        Interface::Index(index) => Ok(Some(InterfaceId(index.get()))),
        Interface::LocalOnly => Err(unsupported(operation)),
    }
}

/// Whether an event seen on `seen` passes an operation limited to `wanted`.
fn on_interface(wanted: Option<InterfaceId>, seen: InterfaceId) -> bool {
    wanted.is_none_or(|w| w == seen)
}

/// `My\.Web._http._tcp.local.` (engine name) to an [`Instance`] seen on `interface`.
fn instance_of(name: &Name, interface: InterfaceId) -> Option<Instance> {
    let (name, service_type, domain) = parse_full_name(&name.to_string()).ok()?;
    Some(Instance {
        name,
        service_type,
        domain,
        interface: Interface::from_index(interface.0),
    })
}

/// `_http._tcp.local.` (a PTR target of `_services._dns-sd._udp`) to its service type.
fn service_type_of(name: &Name) -> Option<ServiceType> {
    let mut labels = name.labels();
    let service = std::str::from_utf8(labels.next()?).ok()?;
    let protocol = std::str::from_utf8(labels.next()?).ok()?;
    ServiceType::new(&format!("{service}.{protocol}")).ok()
}

/// Scope id for an address seen on `interface`: the interface for IPv6 link-local, else 0.
fn scope_of(addr: IpAddr, interface: u32) -> u32 {
    match addr {
        IpAddr::V6(v6) if v6.segments().first().is_some_and(|s| s & 0xffc0 == 0xfe80) => interface,
        _ => 0,
    }
}

/// The domain for the engine: `None` for `local.`.
fn engine_domain(domain: Option<&str>) -> Result<Option<String>> {
    match domain {
        None => Ok(None),
        Some(d) => {
            let domain = Domain::new(d)?;
            if domain.is_local() {
                Ok(None)
            } else {
                Err(unsupported(
                    "a domain other than local. (mDNS serves only local.)",
                ))
            }
        }
    }
}

/// Binds port 5353 on the selected interfaces and starts the driver on the current tokio
/// runtime (see [`EmbeddedBackend::start`]).
pub(crate) fn start(config: EmbeddedConfig) -> Result<std::sync::Arc<dyn Backend>> {
    Ok(std::sync::Arc::new(EmbeddedBackend::start(config)?))
}

impl EmbeddedBackend {
    /// Binds port 5353 on the selected interfaces and starts the driver on the current tokio
    /// runtime. The caller (backend choice) must make sure no system daemon owns this host.
    pub(crate) fn start(config: EmbeddedConfig) -> Result<EmbeddedBackend> {
        let default_instance_name = config.host_name.clone().unwrap_or_else(machine_name);
        let driver = DriverHandle::start(config).map_err(driver_error)?;
        Ok(EmbeddedBackend {
            driver,
            capabilities: super::capabilities(),
            default_instance_name,
        })
    }

    /// The driver's counters.
    #[allow(dead_code, reason = "for tests and benchmarks of the driver")]
    pub(crate) fn stats(&self) -> DriverStats {
        self.driver.stats()
    }

    async fn register_service(
        &self,
        service: &Service,
    ) -> Result<(InstanceName, RegistrationGuard)> {
        let iface = engine_interface(service.interface(), "register on LocalOnly")?;
        let domain = engine_domain(service.domain().map(Domain::as_str))?;
        let service_type = service.service_type();
        let instance = match service.name() {
            Some(name) => name.as_str().to_owned(),
            None => self.default_instance_name.clone(),
        };
        let spec = ServiceSpec {
            instance,
            service_type: service_type.without_subtypes().to_string(),
            subtypes: service_type.subtypes().to_vec(),
            domain,
            host: service.host().map(HostName::as_str).map(str::to_owned),
            port: service.port(),
            txt: service.txt().to_wire(),
            iface,
        };
        let key = self.driver.new_key();
        // Deregisters on every early return below, and if this future is dropped.
        let control = EmbeddedRegistration {
            driver: self.driver.clone(),
            key,
        };
        let (first_tx, first_rx) = oneshot::channel();
        let (later_tx, later_rx) = event_channel();
        let mut first = Some(first_tx);
        let sink: Sink = Box::new(move |event| match event {
            Event::RegistrationEstablished { name, .. } => match first.take() {
                Some(first) => first.send(Ok(name)).is_ok(),
                None => {
                    let event = InstanceName::new(name).map(RegistrationEvent::Registered);
                    later_tx.send(event).is_ok()
                }
            },
            Event::RegistrationFailed { reason, .. } => {
                let error = match reason {
                    RegistrationFailure::NameExhausted => Error::NameConflict,
                    _ => Error::Unknown,
                };
                match first.take() {
                    Some(first) => first.send(Err(error)).is_ok(),
                    None => later_tx.send(Err(error)).is_ok(),
                }
            }
            _ => true,
        });
        self.driver
            .register(key, spec, sink)
            .await
            .map_err(driver_error)?
            .map_err(command_error)?;
        let name = first_rx
            .await
            .map_err(|_| driver_error(std::io::Error::other("embedded mDNS driver stopped")))??;
        let name = InstanceName::new(name)?;
        Ok((
            name,
            RegistrationGuard {
                control: Box::new(control),
                events: EventStream::new(later_rx, OperationGuard::none()),
            },
        ))
    }

    /// Starts a query whose events `translate` turns into stream items.
    fn stream<T: Send + 'static>(
        &self,
        request: QueryRequest,
        mut translate: impl FnMut(Event) -> Option<Result<T>> + Send + 'static,
    ) -> Result<EventStream<T>> {
        let (tx, rx) = event_channel();
        let key = self.driver.new_key();
        let refused_tx = tx.clone();
        let refused: Refusal = Box::new(move |e| {
            let _ = refused_tx.send(Err(command_error(e)));
        });
        let sink: Sink = Box::new(move |event| match translate(event) {
            Some(item) => tx.send(item).is_ok(),
            None => !tx.is_closed(),
        });
        self.driver
            .start_query(key, request, sink, refused)
            .map_err(driver_error)?;
        Ok(EventStream::new(
            rx,
            OperationGuard::new(QueryCancel {
                driver: self.driver.clone(),
                key,
            }),
        ))
    }
}

impl Backend for EmbeddedBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Embedded
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    fn register<'a>(
        &'a self,
        service: &'a Service,
    ) -> BoxFuture<'a, Result<(InstanceName, RegistrationGuard)>> {
        Box::pin(self.register_service(service))
    }

    /// Deregisters everything, waits until the goodbyes are on the wire, and stops the
    /// driver. Operations still open afterwards end.
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.driver.shutdown())
    }

    fn reconfirm<'a>(&'a self, instance: &'a Instance) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let service_type = instance.service_type.without_subtypes();
            let name = full_name(&instance.name, &service_type, &instance.domain);
            let type_name = format!("{service_type}.{}", instance.domain);
            self.driver
                .reconfirm(name, type_name)
                .await
                .map_err(driver_error)?
                .map_err(command_error)
        })
    }

    fn browse(
        &self,
        service_type: &ServiceType,
        domain: Option<&str>,
        interface: Interface,
    ) -> Result<EventStream<BrowseEvent>> {
        let iface = engine_interface(interface, "browse on LocalOnly")?;
        engine_domain(domain)?;
        let target = match service_type.subtype_names().as_slice() {
            [] => service_type.to_string(),
            [one] => one.clone(),
            _ => return Err(unsupported("browsing more than one subtype at once")),
        };
        self.stream(
            QueryRequest::Browse {
                service_type: target,
                interface: iface,
            },
            move |event| match event {
                Event::BrowseAdded {
                    instance,
                    interface,
                    ..
                } if on_interface(iface, interface) => {
                    instance_of(&instance, interface).map(|i| Ok(BrowseEvent::Added(i)))
                }
                Event::BrowseRemoved {
                    instance,
                    interface,
                    ..
                } if on_interface(iface, interface) => {
                    instance_of(&instance, interface).map(|i| Ok(BrowseEvent::Removed(i)))
                }
                _ => None,
            },
        )
    }

    fn resolve(&self, instance: &Instance) -> Result<EventStream<Resolved>> {
        let name = full_name(
            &instance.name,
            &instance.service_type.without_subtypes(),
            &instance.domain,
        );
        let wanted = match instance.interface {
            Interface::Index(index) => Some(InterfaceId(index.get())),
            Interface::Any | Interface::LocalOnly => None,
        };
        let instance = instance.clone();
        let request = QueryRequest::Resolve {
            instance: name,
            interface: wanted,
        };
        self.stream(request, move |event| match event {
            Event::Resolved {
                target,
                port,
                txt,
                interface,
                ..
            } if on_interface(wanted, interface) => Some(Ok(Resolved {
                instance: Instance {
                    interface: Interface::from_index(interface.0),
                    ..instance.clone()
                },
                host_target: target.to_string(),
                port,
                txt: TxtRecord::from_wire_lossy(&txt),
                interface: Interface::from_index(interface.0),
            })),
            _ => None,
        })
    }

    fn query_record(
        &self,
        name: &str,
        rtype: u16,
        interface: Interface,
    ) -> Result<EventStream<RecordEvent>> {
        let iface = engine_interface(interface, "query_record on LocalOnly")?;
        self.stream(
            QueryRequest::Record {
                name: name.to_owned(),
                rtype: EngineRecordType(rtype),
                interface: iface,
            },
            move |event| {
                let (record, interface, added) = match event {
                    Event::RecordAdded {
                        record, interface, ..
                    } => (record, interface, true),
                    Event::RecordRemoved {
                        record, interface, ..
                    } => (record, interface, false),
                    _ => return None,
                };
                if !on_interface(iface, interface) {
                    return None;
                }
                let record = Record {
                    name: record.name.to_string(),
                    rtype: RecordType(record.rtype().0),
                    class: record.class,
                    rdata: record.rdata_wire(),
                    ttl: record.ttl,
                    interface: Interface::from_index(interface.0),
                };
                Some(Ok(if added {
                    RecordEvent::Added(record)
                } else {
                    RecordEvent::Removed(record)
                }))
            },
        )
    }

    fn lookup_host(
        &self,
        host: &str,
        interface: Interface,
    ) -> Result<EventStream<HostAddressEvent>> {
        let iface = engine_interface(interface, "lookup_host on LocalOnly")?;
        let request = QueryRequest::Host {
            host: host.to_owned(),
            interface: iface,
        };
        self.stream(request, move |event| {
            let (addr, interface, added) = match event {
                Event::AddressAdded {
                    addr, interface, ..
                } => (addr, interface, true),
                Event::AddressRemoved {
                    addr, interface, ..
                } => (addr, interface, false),
                _ => return None,
            };
            if !on_interface(iface, interface) {
                return None;
            }
            let address = HostAddress {
                addr,
                scope_id: scope_of(addr, interface.0),
                interface: Interface::from_index(interface.0),
            };
            Some(Ok(if added {
                HostAddressEvent::Added(address)
            } else {
                HostAddressEvent::Removed(address)
            }))
        })
    }

    fn browse_types(
        &self,
        domain: Option<&str>,
        interface: Interface,
    ) -> Result<EventStream<ServiceTypeEvent>> {
        let iface = engine_interface(interface, "browse_types on LocalOnly")?;
        engine_domain(domain)?;
        self.stream(
            QueryRequest::Browse {
                service_type: "_services._dns-sd._udp".to_owned(),
                interface: iface,
            },
            move |event| match event {
                Event::BrowseAdded {
                    instance,
                    interface,
                    ..
                } if on_interface(iface, interface) => {
                    service_type_of(&instance).map(|t| Ok(ServiceTypeEvent::Added(t)))
                }
                Event::BrowseRemoved {
                    instance,
                    interface,
                    ..
                } if on_interface(iface, interface) => {
                    service_type_of(&instance).map(|t| Ok(ServiceTypeEvent::Removed(t)))
                }
                _ => None,
            },
        )
    }
}

/// The default instance name: this machine's host name as it is (first label).
fn machine_name() -> String {
    let host = super::driver::system_host_name();
    let first = host.split('.').next().unwrap_or_default();
    if first.is_empty() {
        "dnssd".to_owned()
    } else {
        first.chars().take(63).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_txt_record_too_large_for_a_message_is_an_invalid_txt_error() {
        let e = command_error(CommandError::TxtTooLarge {
            len: 9500,
            max: 8600,
        });
        assert!(matches!(e, Error::InvalidTxt { .. }), "{e:?}");
    }

    #[test]
    fn instance_names_are_unescaped() {
        let name = Name::from_dotted(r"My\.Web\032x._http._tcp.local.").unwrap();
        let instance = instance_of(&name, InterfaceId(3)).unwrap();
        assert_eq!(instance.name.as_str(), "My.Web x");
        assert_eq!(instance.service_type.to_string(), "_http._tcp");
        assert_eq!(instance.domain.as_str(), "local.");
        assert_eq!(instance.interface.index(), 3);
    }

    #[test]
    fn service_types_from_enumeration_answers() {
        let name = Name::from_dotted("_ipp._tcp.local.").unwrap();
        assert_eq!(service_type_of(&name).unwrap().to_string(), "_ipp._tcp");
        assert!(service_type_of(&Name::from_dotted("local.").unwrap()).is_none());
    }

    #[test]
    fn link_local_addresses_get_their_scope() {
        assert_eq!(scope_of("fe80::1".parse().unwrap(), 4), 4);
        assert_eq!(scope_of("2001:db8::1".parse().unwrap(), 4), 0);
        assert_eq!(scope_of("10.0.0.1".parse().unwrap(), 4), 0);
    }

    #[test]
    fn only_local_domain() {
        assert_eq!(engine_domain(None).unwrap(), None);
        assert_eq!(engine_domain(Some("local")).unwrap(), None);
        assert!(matches!(
            engine_domain(Some("example.com.")),
            Err(Error::Unsupported { .. })
        ));
    }

    #[test]
    fn interface_filter() {
        assert!(on_interface(None, InterfaceId(2)));
        assert!(on_interface(Some(InterfaceId(2)), InterfaceId(2)));
        assert!(!on_interface(Some(InterfaceId(3)), InterfaceId(2)));
    }
}
