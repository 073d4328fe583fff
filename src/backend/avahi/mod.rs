//! The native Avahi backend: avahi-daemon's D-Bus API (`org.freedesktop.Avahi` on the system
//! bus) from pure Rust, async on the caller's tokio runtime. No C library is needed to build
//! or run it, unlike the `dns_sd` path through Avahi's compatibility library (one D-Bus
//! connection and one thread per reference, refused past ~255 references per process).
//!
//! # Shape
//! - One D-Bus connection per backend, opened on first use ([`bus`]). Every operation creates
//!   its own daemon objects on it: a registration is one `EntryGroup` (service, each subtype
//!   with `AddServiceSubtype`, TXT updates with `UpdateServiceTxt`); a browse one
//!   `ServiceBrowser` per type or subtype; a resolve one `ServiceResolver`; a host lookup two
//!   `RecordBrowser`s (A and AAAA, with interface and removal, like the compat path); a record
//!   query one `RecordBrowser`; service types one `ServiceTypeBrowser`. The daemon limits a
//!   client to 1024 objects, so 1000 registrations fit on the one connection.
//! - Signals: one match rule for every signal the daemon sends, added before any `...New`
//!   call, and a router that hands them out by object path. A signal that arrives before the
//!   `...New` reply told us its path (Avahi emits `ItemNew` right away; issue 9 of Avahi) is
//!   buffered under its path and delivered when the path is claimed, as libavahi-client does.
//!   `Server2`'s `...Prepare`/`Start` are not needed for that (and the resolver started early
//!   until 2023 anyway).
//! - Signals are decoded into the replies the `dns_sd` path reads from the C library and fed
//!   to the same sinks, so events (deduplication of Avahi's per-protocol duplicates, name
//!   presentation, removals on daemon loss) are identical on both paths.
//! - Daemon restart: `NameOwnerChanged` for `org.freedesktop.Avahi`. On loss every stream and
//!   registration reports [`Error::DaemonNotRunning`] once (a browse first reports `Removed`
//!   for what it had); when the name has an owner again, every object is created anew and
//!   every registration re-published under its confirmed name and latest TXT. Server
//!   `StateChanged` to `REGISTERING`/`COLLISION` (host name change): groups are reset and
//!   committed again once the server is `RUNNING`, as avahi-client's users do.
//! - Conflicts: a name taken on this daemon (`CollisionError` from `AddService`) or on the
//!   network (group state `COLLISION`) moves to the daemon's alternative name (`Name #2`),
//!   reported as the confirmed name or as `RegistrationEvent::Registered`.
//!
//! # Why zbus
//! The D-Bus crate had to be pure Rust (no libdbus at build or run time) and async on tokio.
//! zbus 5 with `default-features = false, features = ["tokio"]` is the maintained crate that is
//! both (`dbus`/`dbus-tokio` bind libdbus; `rustbus` is blocking), so the measurement was of its
//! cost rather than a race between candidates. On this 2-core machine: the first debug build of
//! the library after adding it took 48 s of CPU (93 s wall, dnssd and dnssd-engine rebuilt
//! too); in the release `bench_peer` binary, zbus, zvariant, their async helpers and this
//! module are about 1.7 MB of the 4.7 MB of symbols. 1000 registrations (3000 method calls,
//! at most 64 in flight) were confirmed 5.6-7.8 s after start, bound by the daemon; the client
//! then idles at 0 CPU ticks per 10 s with 18.6 MB RSS (`scripts/bench-peers --only native`,
//! `docs/benchmarks.md`).

mod bus;
mod operations;

use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};

use self::operations::{
    ObjectSpec, RegistrationCommand, RegistrationSpec, Shared, avahi_interface, run_registration,
    run_stream, txt_strings,
};
use crate::backend::dns_sd::{
    AddressSink, BrowseSink, RecordSink, ReplySink, ResolveSink, ServiceTypeSink, normalize_domain,
};
use crate::backend::operation::event_channel;
use crate::backend::operation::{EventStream, OperationGuard, RegistrationGuard};
use crate::backend::{Backend, BackendKind, BoxFuture, Capabilities, RegistrationControl};
use crate::types::error::{Error, Result};
use crate::types::event::{
    BrowseEvent, HostAddressEvent, Instance, RecordEvent, Resolved, ServiceTypeEvent,
};
use crate::types::name::{InstanceName, ServiceType};
use crate::types::service::{Interface, Service};
use crate::types::txt::TxtRecord;

pub(crate) use self::bus::avahi_on_system_bus;

/// Start the backend on the current tokio runtime (the bus is connected by the first
/// operation).
pub(crate) fn start(reconnect: bool) -> Result<Arc<dyn Backend>> {
    Ok(Arc::new(AvahiBackend::new(reconnect)?))
}

/// Name used in `Unsupported` errors.
const BACKEND: &str = "avahi";
/// Record type ANY: a pattern to Avahi's record browser, which refuses it.
const RECORD_TYPE_ANY: u16 = 255;

/// What this path can do: more than Avahi's compatibility library (several subtypes per
/// browse, interface indexes everywhere), still no local-only operations, flags, TTLs or
/// type-ANY queries (the daemon has none of those).
pub(crate) fn capabilities() -> Capabilities {
    Capabilities {
        get_addr_info: false,
        extra_records: false,
        local_only: false,
        flags: false,
        max_browse_subtypes: None,
        nat_port_mapping: false,
        record_ttl: false,
        reconfirm: false,
        txt_update: true,
        query_any: false,
    }
}

/// avahi-daemon over D-Bus.
#[derive(Debug)]
pub(crate) struct AvahiBackend {
    shared: Arc<Shared>,
    runtime: Handle,
    capabilities: Capabilities,
}

/// The control half of one registration; dropping it withdraws the service.
struct AvahiRegistration {
    commands: mpsc::UnboundedSender<RegistrationCommand>,
}

impl RegistrationControl for AvahiRegistration {
    fn update_txt<'a>(&'a self, txt: &'a TxtRecord) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let (done_tx, done_rx) = oneshot::channel();
            self.commands
                .send(RegistrationCommand::UpdateTxt(
                    txt_strings(&txt.to_wire()),
                    done_tx,
                ))
                .map_err(|_| Error::DaemonNotRunning)?;
            done_rx.await.map_err(|_| Error::DaemonNotRunning)?
        })
    }
}

impl AvahiBackend {
    /// A backend on the current tokio runtime; the bus is connected by the first operation.
    pub(crate) fn new(reconnect: bool) -> Result<Self> {
        let runtime = Handle::try_current().map_err(|_| {
            Error::Io(std::io::Error::other(
                "the avahi backend must be created inside a tokio runtime",
            ))
        })?;
        Ok(AvahiBackend {
            shared: Shared::new(reconnect),
            runtime,
            capabilities: capabilities(),
        })
    }

    fn spawn_stream<S: ReplySink>(&self, specs: Vec<ObjectSpec>, sink: S) -> EventStream<S::Event> {
        let (tx, rx) = event_channel();
        drop(self.runtime.spawn(run_stream(
            Arc::clone(&self.shared),
            specs,
            sink,
            tx,
            self.shared.tracker.enlist(),
        )));
        EventStream::new(rx, OperationGuard::none())
    }

    async fn register_service(
        &self,
        service: &Service,
    ) -> Result<(InstanceName, RegistrationGuard)> {
        let interface = interface(service.interface(), "register")?;
        let service_type = service.service_type();
        let spec = RegistrationSpec {
            interface,
            name: service.name().map(ToString::to_string),
            service_type: service_type.without_subtypes().to_string(),
            subtypes: service_type.subtype_names(),
            domain: service
                .domain()
                .map(|d| d.as_str().to_owned())
                .unwrap_or_default(),
            host: service
                .host()
                .map(|h| h.as_str().to_owned())
                .unwrap_or_default(),
            port: service.port(),
            txt: txt_strings(&service.txt().to_wire()),
        };
        let (confirm_tx, confirm_rx) = oneshot::channel();
        let (commands_tx, commands_rx) = mpsc::unbounded_channel();
        let (events_tx, events_rx) = event_channel();
        drop(self.runtime.spawn(run_registration(
            Arc::clone(&self.shared),
            spec,
            confirm_tx,
            commands_rx,
            events_tx,
            self.shared.tracker.enlist(),
        )));
        let name = confirm_rx
            .await
            .map_err(|_| Error::Io(std::io::Error::other("registration task ended")))??;
        let name = InstanceName::new(&name)?;
        let guard = RegistrationGuard {
            control: Box::new(AvahiRegistration {
                commands: commands_tx,
            }),
            events: EventStream::new(events_rx, OperationGuard::none()),
        };
        Ok((name, guard))
    }
}

impl Backend for AvahiBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Avahi
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

    /// Wait until every operation whose handle was dropped has ended (its objects freed).
    fn wait_released(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.shared.tracker.idle())
    }

    /// End every operation (streams end, groups are freed so the daemon withdraws them) and
    /// wait for their tasks. Operations started afterwards end at once.
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        self.shared.tracker.cancel_all();
        Box::pin(self.shared.tracker.idle())
    }

    fn browse(
        &self,
        service_type: &ServiceType,
        domain: Option<&str>,
        interface_choice: Interface,
    ) -> Result<EventStream<BrowseEvent>> {
        let interface = interface(interface_choice, "browse")?;
        let domain = domain.unwrap_or_default().to_owned();
        // One browser per subtype; the sink reports an instance once however many see it.
        let mut names = service_type.subtype_names();
        if names.is_empty() {
            names.push(service_type.to_string());
        }
        let specs = names
            .into_iter()
            .map(|service_type| ObjectSpec::ServiceBrowser {
                interface,
                service_type,
                domain: domain.clone(),
            })
            .collect();
        Ok(self.spawn_stream(specs, BrowseSink::new(service_type.clone())))
    }

    fn resolve(&self, instance: &Instance) -> Result<EventStream<Resolved>> {
        let spec = ObjectSpec::ServiceResolver {
            interface: avahi_interface(instance.interface.index()),
            name: instance.name.to_string(),
            service_type: instance.service_type.without_subtypes().to_string(),
            domain: instance.domain.as_str().to_owned(),
        };
        Ok(self.spawn_stream(vec![spec], ResolveSink::new(instance.clone())))
    }

    fn query_record(
        &self,
        name: &str,
        rtype: u16,
        interface_choice: Interface,
    ) -> Result<EventStream<RecordEvent>> {
        let interface = interface(interface_choice, "query_record")?;
        if rtype == RECORD_TYPE_ANY {
            return Err(unsupported("query_record of type ANY"));
        }
        let spec = ObjectSpec::RecordBrowser {
            interface,
            name: name.to_owned(),
            rtype,
        };
        Ok(self.spawn_stream(vec![spec], RecordSink::default()))
    }

    fn lookup_host(
        &self,
        host: &str,
        interface_choice: Interface,
    ) -> Result<EventStream<HostAddressEvent>> {
        let interface = interface(interface_choice, "lookup_host")?;
        let specs = [1, 28]
            .into_iter()
            .map(|rtype| ObjectSpec::RecordBrowser {
                interface,
                name: host.to_owned(),
                rtype,
            })
            .collect();
        Ok(self.spawn_stream(specs, AddressSink::default()))
    }

    fn browse_types(
        &self,
        domain: Option<&str>,
        interface_choice: Interface,
    ) -> Result<EventStream<ServiceTypeEvent>> {
        let interface = interface(interface_choice, "browse_types")?;
        let domain = normalize_domain(domain.unwrap_or("local."));
        let spec = ObjectSpec::ServiceTypeBrowser { interface, domain };
        Ok(self.spawn_stream(vec![spec], ServiceTypeSink::default()))
    }
}

/// Avahi's interface argument; local-only does not exist there.
fn interface(choice: Interface, operation: &'static str) -> Result<i32> {
    match choice {
        Interface::Any => Ok(avahi_interface(0)),
        Interface::Index(index) => Ok(avahi_interface(index.get())),
        Interface::LocalOnly => Err(unsupported(operation)),
    }
}

fn unsupported(operation: &'static str) -> Error {
    Error::unsupported(operation, BACKEND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_say_what_the_daemon_has() {
        let c = capabilities();
        assert_eq!(c.max_browse_subtypes, None);
        assert!(c.txt_update);
        assert!(!c.local_only && !c.flags && !c.query_any && !c.record_ttl);
    }

    #[test]
    fn local_only_is_refused_before_any_call() {
        assert!(matches!(
            interface(Interface::LocalOnly, "browse"),
            Err(Error::Unsupported { .. })
        ));
        assert_eq!(interface(Interface::Any, "browse").ok(), Some(-1));
        let three = std::num::NonZeroU32::new(3).map(Interface::Index);
        assert_eq!(three.and_then(|i| interface(i, "browse").ok()), Some(3));
    }
}
