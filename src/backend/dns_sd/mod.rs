//! System backend: the OS responder (Apple's mDNSResponder or Avahi) through `libdns_sd`.
//!
//! Each operation runs as one tokio task ([`op`]) that owns its `DNSServiceRef`s
//! ([`service_ref`]) and translates their replies ([`sink`]). Dropping the public handle closes
//! the task's channel; the task then deallocates its refs on the blocking pool.

mod op;
#[cfg(windows)]
mod poller_windows;
mod probe;
mod service_ref;
mod sink;

// Unix only: its fake daemon sockets are Unix socket pairs.
#[cfg(all(test, unix))]
mod fake_library;

use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};

use self::op::{Creator, Flavor, OpConfig, RegistrationCommand, RegistrationSpec, Tracker};
pub(crate) use self::probe::{DaemonProbe, probe_daemon_async};
// The native Avahi backend decodes its signals into the same replies and sinks, so both
// paths report identical events.
pub(crate) use self::op::ReplySink;
#[cfg(target_os = "linux")]
pub(crate) use self::op::alternative_name;
#[cfg(target_os = "linux")]
pub(crate) use self::service_ref::Reply;
use self::service_ref::ServiceRef;
#[cfg(target_os = "linux")]
pub(crate) use self::sink::normalize_domain;
#[cfg(all(test, target_os = "linux"))]
pub(crate) use self::sink::service_type_from_ptr;
pub(crate) use self::sink::{AddressSink, BrowseSink, RecordSink, ResolveSink, ServiceTypeSink};
use crate::backend::operation::event_channel;
use crate::backend::operation::{EventStream, OperationGuard, PanicSlot, RegistrationGuard};
use crate::backend::{Backend, BackendKind, BoxFuture, Capabilities, RegistrationControl};
use crate::types::error::{Error, Result};
use crate::types::event::{
    BrowseEvent, HostAddressEvent, Instance, RecordEvent, Resolved, ServiceTypeEvent,
};
use crate::types::name::{Domain, HostName, InstanceName, ServiceType};
use crate::types::service::{Interface, Service};
use crate::types::txt::TxtRecord;

/// `kDNSServiceInterfaceIndexLocalOnly`.
const INTERFACE_LOCAL_ONLY: u32 = u32::MAX;
const BACKEND: &str = "system";

/// The system backend: a loaded `libdns_sd` and the runtime its operation tasks run on.
#[derive(Debug)]
pub(crate) struct SystemBackend {
    api: &'static dnssd_sys::Api,
    config: OpConfig,
    capabilities: Capabilities,
    runtime: Handle,
    tracker: Arc<Tracker>,
}

/// The control half of a system registration, kept in `RegistrationGuard::control`.
struct SystemRegistration {
    commands: mpsc::UnboundedSender<RegistrationCommand>,
}

impl RegistrationControl for SystemRegistration {
    fn update_txt<'a>(&'a self, txt: &'a TxtRecord) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let (done_tx, done_rx) = oneshot::channel();
            self.commands
                .send(RegistrationCommand::UpdateTxt(txt.to_wire(), done_tx))
                .map_err(|_| Error::DaemonNotRunning)?;
            done_rx.await.map_err(|_| Error::DaemonNotRunning)?
        })
    }
}

/// Load the library and start the backend on the current tokio runtime.
pub(crate) fn start(reconnect: bool) -> Result<Arc<dyn Backend>> {
    Ok(Arc::new(SystemBackend::new(reconnect)?))
}

impl SystemBackend {
    /// Load the library (once per process) and bind to the current tokio runtime.
    pub(crate) fn new(reconnect: bool) -> Result<Self> {
        nowarn::ensure_linked();
        let api = dnssd_sys::Api::get().map_err(|e| Error::LibraryUnavailable(e.to_string()))?;
        Self::with_api(api, reconnect)
    }

    /// The backend over a given table (a fake library in tests); binds to the current tokio
    /// runtime.
    fn with_api(api: &'static dnssd_sys::Api, reconnect: bool) -> Result<Self> {
        let runtime = Handle::try_current().map_err(|_| {
            Error::Io(std::io::Error::other(
                "the system backend must be created inside a tokio runtime",
            ))
        })?;
        let flavor = if api.DNSServiceGetAddrInfo.is_some() {
            Flavor::Apple
        } else {
            Flavor::Avahi
        };
        Ok(SystemBackend {
            api,
            config: OpConfig {
                api,
                flavor,
                reconnect,
            },
            capabilities: capabilities(api, flavor),
            runtime,
            tracker: Tracker::new(flavor),
        })
    }

    fn interface(&self, interface: Interface, operation: &'static str) -> Result<u32> {
        interface_index(&self.capabilities, interface, operation)
    }

    fn spawn_stream<S: ReplySink>(&self, creator: Creator, sink: S) -> EventStream<S::Event> {
        let (tx, rx) = event_channel();
        let panic = Arc::new(PanicSlot::default());
        drop(self.runtime.spawn(op::guarded(
            Arc::clone(&panic),
            tx.clone(),
            op::run_stream(creator, sink, tx, self.config, self.tracker.enlist()),
        )));
        EventStream::new(rx, OperationGuard::none()).resuming_panics_from(panic)
    }

    async fn register_service(
        &self,
        service: &Service,
    ) -> Result<(InstanceName, RegistrationGuard)> {
        let interface = self.interface(service.interface(), "register")?;
        for name in [
            service.host().map(HostName::as_str),
            service.domain().map(Domain::as_str),
        ]
        .into_iter()
        .flatten()
        {
            check_c_name(name)?;
        }
        let spec = RegistrationSpec {
            interface,
            name: service.name().map(ToString::to_string),
            regtype: regtype(service.service_type()),
            domain: service.domain().map(Domain::as_str).map(ToOwned::to_owned),
            host: service.host().map(HostName::as_str).map(ToOwned::to_owned),
            port: service.port(),
            txt: service.txt().to_wire(),
        };
        let (confirm_tx, confirm_rx) = oneshot::channel();
        let (commands_tx, commands_rx) = mpsc::unbounded_channel();
        let (events_tx, events_rx) = event_channel();
        let panic = Arc::new(PanicSlot::default());
        let task = self.runtime.spawn(op::guarded(
            Arc::clone(&panic),
            events_tx.clone(),
            op::run_registration(
                self.api,
                spec,
                confirm_tx,
                commands_rx,
                events_tx,
                self.config,
                self.tracker.enlist(),
            ),
        ));
        // If this future is dropped before the daemon confirms, `commands_tx` drops with it and
        // the task deregisters. A task that panicked (e.g. inside a C callback) makes this
        // future panic too: the confirmation is dropped while it unwinds, and the payload is
        // in the slot once the task has ended.
        let name = match confirm_rx.await {
            Ok(confirmed) => confirmed?,
            Err(_) => {
                drop(task.await);
                panic.resume_if_panicked();
                return Err(Error::Io(std::io::Error::other("registration task ended")));
            }
        };
        let name = InstanceName::new(&name)?;
        let guard = RegistrationGuard {
            control: Box::new(SystemRegistration {
                commands: commands_tx,
            }),
            events: EventStream::new(events_rx, OperationGuard::none()).resuming_panics_from(panic),
        };
        Ok((name, guard))
    }
}

impl Backend for SystemBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::DnsSd
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

    /// Wait until every operation whose handle was dropped has deallocated its refs.
    /// `DNSServiceReconfirmRecord` for the instance's PTR record (`<type>.<domain>` ->
    /// `<instance>.<type>.<domain>`), on the blocking pool (Apple's client opens a connection
    /// to the daemon for it). The SRV record is not reconfirmed: its rdata (target, port) is
    /// not part of an [`Instance`], and a dead PTR takes the instance out of every browse.
    fn reconfirm<'a>(&'a self, instance: &'a Instance) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if !self.capabilities.reconfirm {
                return Err(unsupported("reconfirm"));
            }
            let interface = instance.interface.index();
            let owner = format!("{}.{}", instance.service_type, instance.domain.as_str());
            let rdata = ptr_rdata(instance)?;
            let (api, flavor) = (self.api, self.config.flavor);
            tokio::task::spawn_blocking(move || {
                service_ref::reconfirm_record(api, interface, &owner, RECORD_TYPE_PTR, &rdata)
            })
            .await
            .map_err(|e| Error::Io(std::io::Error::other(e)))?
            .map_err(|e| op::create_error(e, flavor))
        })
    }

    fn wait_released(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.tracker.idle())
    }

    /// End every operation (streams end, registrations are withdrawn) and wait until every
    /// ref is deallocated. Operations started afterwards end at once.
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        self.tracker.cancel_all();
        Box::pin(self.tracker.idle())
    }

    fn browse(
        &self,
        service_type: &ServiceType,
        domain: Option<&str>,
        interface: Interface,
    ) -> Result<EventStream<BrowseEvent>> {
        let interface = self.interface(interface, "browse")?;
        check_browse_subtypes(&self.capabilities, service_type)?;
        let api = self.api;
        let regtype = regtype(service_type);
        let domain = domain.map(ToOwned::to_owned);
        let creator: Creator = Arc::new(move || {
            ServiceRef::browse(api, interface, &regtype, domain.as_deref()).map(|r| vec![r])
        });
        Ok(self.spawn_stream(creator, BrowseSink::new(service_type.clone())))
    }

    fn resolve(&self, instance: &Instance) -> Result<EventStream<Resolved>> {
        let api = self.api;
        let interface = instance.interface.index();
        let name = instance.name.to_string();
        let regtype = instance.service_type.to_string();
        let domain = instance.domain.as_str().to_owned();
        let creator: Creator = Arc::new(move || {
            ServiceRef::resolve(api, interface, &name, &regtype, &domain).map(|r| vec![r])
        });
        Ok(self.spawn_stream(creator, ResolveSink::new(instance.clone())))
    }

    fn query_record(
        &self,
        name: &str,
        rtype: u16,
        interface: Interface,
    ) -> Result<EventStream<RecordEvent>> {
        let interface = self.interface(interface, "query_record")?;
        check_c_name(name)?;
        if rtype == RECORD_TYPE_ANY && !self.capabilities.query_any {
            return Err(unsupported("query_record of type ANY"));
        }
        let api = self.api;
        let name = name.to_owned();
        let creator: Creator = Arc::new(move || {
            ServiceRef::query_record(api, interface, &name, rtype).map(|r| vec![r])
        });
        Ok(self.spawn_stream(creator, RecordSink::default()))
    }

    fn lookup_host(
        &self,
        host: &str,
        interface: Interface,
    ) -> Result<EventStream<HostAddressEvent>> {
        let interface = self.interface(interface, "lookup_host")?;
        check_c_name(host)?;
        let api = self.api;
        let host = host.to_owned();
        let creator: Creator = if self.capabilities.get_addr_info {
            Arc::new(move || ServiceRef::get_addr_info(api, interface, &host).map(|r| vec![r]))
        } else {
            // Avahi has no DNSServiceGetAddrInfo: one A and one AAAA query in the same task.
            Arc::new(move || {
                let a = ServiceRef::query_record(api, interface, &host, 1)?;
                let aaaa = ServiceRef::query_record(api, interface, &host, 28)?;
                Ok(vec![a, aaaa])
            })
        };
        Ok(self.spawn_stream(creator, AddressSink::default()))
    }

    fn browse_types(
        &self,
        domain: Option<&str>,
        interface: Interface,
    ) -> Result<EventStream<ServiceTypeEvent>> {
        let interface = self.interface(interface, "browse_types")?;
        let api = self.api;
        let name = format!(
            "_services._dns-sd._udp.{}",
            sink::normalize_domain(domain.unwrap_or("local."))
        );
        let creator: Creator =
            Arc::new(move || ServiceRef::query_record(api, interface, &name, 12).map(|r| vec![r]));
        Ok(self.spawn_stream(creator, ServiceTypeSink::default()))
    }
}

/// What the loaded library can do. Avahi's compatibility layer is a 2006 snapshot of the API.
fn capabilities(api: &dnssd_sys::Api, flavor: Flavor) -> Capabilities {
    let mut capabilities = capabilities_of(
        flavor,
        api.DNSServiceGetAddrInfo.is_some(),
        api.DNSServiceUpdateRecord.is_some(),
    );
    capabilities.reconfirm &= api.DNSServiceReconfirmRecord.is_some();
    capabilities
}

/// Avahi's `DNSServiceReconfirmRecord` is a stub (compat's `unsupported.c`: a warning and
/// `kDNSServiceErr_Unsupported`), so reconfirm is Apple's only.
fn capabilities_of(flavor: Flavor, get_addr_info: bool, txt_update: bool) -> Capabilities {
    let avahi = flavor == Flavor::Avahi;
    Capabilities {
        get_addr_info,
        extra_records: !avahi,
        local_only: !avahi,
        flags: !avahi,
        max_browse_subtypes: if avahi { Some(1) } else { None },
        nat_port_mapping: !avahi,
        record_ttl: !avahi,
        reconfirm: !avahi,
        txt_update,
        query_any: !avahi,
    }
}

/// The interface index to pass, refusing what the library rejects before calling it (Avahi
/// answers `kDNSServiceInterfaceIndexLocalOnly` with Unsupported and an unsilenceable warning).
fn interface_index(
    capabilities: &Capabilities,
    interface: Interface,
    operation: &'static str,
) -> Result<u32> {
    let index = match interface {
        Interface::Any => 0,
        Interface::Index(index) => index.get(),
        Interface::LocalOnly => INTERFACE_LOCAL_ONLY,
    };
    if index == INTERFACE_LOCAL_ONLY && !capabilities.local_only {
        return Err(unsupported(operation));
    }
    Ok(index)
}

/// Refuse browses for more subtypes than the library handles (Avahi: one).
fn check_browse_subtypes(capabilities: &Capabilities, service_type: &ServiceType) -> Result<()> {
    match capabilities.max_browse_subtypes {
        Some(max) if service_type.subtypes().len() > max => {
            Err(unsupported("browse with more than one subtype"))
        }
        _ => Ok(()),
    }
}

/// Names handed to the C library are NUL-terminated: refuse an embedded NUL up front with a
/// typed error instead of failing inside the operation.
fn check_c_name(name: &str) -> Result<()> {
    if name.contains('\0') {
        return Err(Error::InvalidHostName {
            input: name.escape_default().to_string(),
            reason: "contains a NUL byte",
        });
    }
    Ok(())
}

/// `kDNSServiceType_PTR`.
const RECORD_TYPE_PTR: u16 = 12;

/// The rdata of an instance's PTR record: its full name in DNS wire form (uncompressed).
fn ptr_rdata(instance: &Instance) -> Result<Vec<u8>> {
    let service_type = instance.service_type.to_string();
    let mut labels: Vec<Vec<u8>> = vec![instance.name.as_str().as_bytes().to_vec()];
    labels.extend(service_type.split('.').map(|l| l.as_bytes().to_vec()));
    labels.extend(domain_labels(instance.domain.as_str()));
    let mut wire = Vec::new();
    for label in labels.iter().filter(|l| !l.is_empty()) {
        let len = u8::try_from(label.len())
            .ok()
            .filter(|&len| len <= 63)
            .ok_or_else(|| Error::InvalidDomain {
                input: instance.full_name(),
                reason: "a label is longer than 63 bytes",
            })?;
        wire.push(len);
        wire.extend_from_slice(label);
    }
    wire.push(0);
    Ok(wire)
}

/// The labels of a presentation-form domain (`\.`, `\\` and `\DDD` escapes undone).
fn domain_labels(domain: &str) -> Vec<Vec<u8>> {
    let mut labels = vec![Vec::new()];
    let mut bytes = domain.bytes().peekable();
    while let Some(b) = bytes.next() {
        let current = labels.last_mut();
        match (b, current) {
            (b'.', _) => labels.push(Vec::new()),
            (b'\\', Some(current)) => {
                let mut digits = String::new();
                while digits.len() < 3 {
                    match bytes.peek() {
                        Some(d) if d.is_ascii_digit() => {
                            digits.push(char::from(*d));
                            bytes.next();
                        }
                        _ => break,
                    }
                }
                match digits.parse::<u8>() {
                    Ok(value) if digits.len() == 3 => current.push(value),
                    _ => {
                        current.extend_from_slice(digits.as_bytes());
                        if digits.is_empty() {
                            if let Some(next) = bytes.next() {
                                current.push(next);
                            }
                        }
                    }
                }
            }
            (other, Some(current)) => current.push(other),
            (_, None) => {}
        }
    }
    labels.retain(|l| !l.is_empty());
    labels
}

/// `kDNSServiceType_ANY`.
const RECORD_TYPE_ANY: u16 = 255;

fn unsupported(operation: &'static str) -> Error {
    Error::unsupported(operation, BACKEND)
}

/// The `regtype` argument: `_http._tcp`, with subtypes appended after commas (dns_sd.h).
fn regtype(service_type: &ServiceType) -> String {
    service_type.dns_sd_regtype()
}

/// Silencing Avahi's compatibility warning.
///
/// Avahi's `libdns_sd` prints a three-line warning to stderr and syslog on the first API call
/// unless `AVAHI_COMPAT_NOWARN` is set *in the environment* (it calls `getenv` once, with no
/// other switch; the flag that records "already warned" is a static inside the library).
/// Setting an environment variable in a running multi-threaded process races with C code that
/// reads the environment (`getenv` takes no lock), so this module never does that. Instead a
/// function in `.init_array` runs while the program is loaded, before `main`, and sets the
/// variable only if the process has exactly one thread at that moment (always true for an
/// executable; a library loaded later into a threaded process is skipped, and the warning then
/// shows unless the user set the variable). Child processes inherit the variable.
mod nowarn {
    /// Referenced from `SystemBackend::new` so the linker keeps this object (and with it the
    /// `.init_array` entry) in every program that can use the system backend.
    pub(super) fn ensure_linked() {
        #[cfg(target_os = "linux")]
        std::hint::black_box(&SET_NOWARN);
    }

    #[cfg(target_os = "linux")]
    #[used]
    #[unsafe(link_section = ".init_array")]
    static SET_NOWARN: extern "C" fn() = set_nowarn;

    #[cfg(target_os = "linux")]
    extern "C" fn set_nowarn() {
        // Nothing here may unwind into the loader.
        drop(std::panic::catch_unwind(|| {
            if std::env::var_os("AVAHI_COMPAT_NOWARN").is_some() {
                return;
            }
            let threads = std::fs::read_dir("/proc/self/task").map(Iterator::count);
            if threads.ok() == Some(1) {
                // SAFETY: the process has one thread (checked just above; only this thread
                // could start another), so nothing reads or writes the environment
                // concurrently.
                unsafe { std::env::set_var("AVAHI_COMPAT_NOWARN", "1") };
            }
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regtype_lists_subtypes_after_commas() {
        let t = ServiceType::new("_http._tcp")
            .unwrap()
            .with_subtype("_printer")
            .unwrap();
        assert_eq!(regtype(&t), "_http._tcp,_printer");
        assert_eq!(
            regtype(&ServiceType::new("_ipp._tcp").unwrap()),
            "_ipp._tcp"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn nowarn_is_set_before_main() {
        nowarn::ensure_linked();
        assert!(std::env::var_os("AVAHI_COMPAT_NOWARN").is_some());
    }

    #[test]
    fn avahi_refuses_local_only_and_second_subtype_before_calling() {
        let avahi = capabilities_of(Flavor::Avahi, false, true);
        let e = interface_index(&avahi, Interface::LocalOnly, "browse").unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
        assert_eq!(
            interface_index(&avahi, Interface::Any, "browse").unwrap(),
            0
        );
        let index = std::num::NonZeroU32::new(3).unwrap();
        assert_eq!(
            interface_index(&avahi, Interface::Index(index), "browse").unwrap(),
            3
        );

        let one = ServiceType::new("_http._tcp")
            .unwrap()
            .with_subtype("_a")
            .unwrap();
        assert!(check_browse_subtypes(&avahi, &one).is_ok());
        let two = one.with_subtype("_b").unwrap();
        assert!(matches!(
            check_browse_subtypes(&avahi, &two),
            Err(Error::Unsupported { .. })
        ));

        let apple = capabilities_of(Flavor::Apple, true, true);
        assert_eq!(
            interface_index(&apple, Interface::LocalOnly, "browse").unwrap(),
            u32::MAX
        );
        assert!(check_browse_subtypes(&apple, &two).is_ok());
        assert!(!avahi.get_addr_info && !avahi.flags && !avahi.nat_port_mapping);
    }

    #[test]
    fn ptr_rdata_is_the_instance_name_in_wire_form() {
        let instance = Instance {
            name: InstanceName::new("My Web.1").unwrap(),
            service_type: ServiceType::new("_http._tcp").unwrap(),
            domain: Domain::new("ex\\.a.local").unwrap(),
            interface: Interface::Any,
        };
        assert_eq!(
            ptr_rdata(&instance).unwrap(),
            b"\x08My Web.1\x05_http\x04_tcp\x04ex.a\x05local\x00".to_vec()
        );
        assert_eq!(
            domain_labels("a\\046b.c."),
            vec![b"a.b".to_vec(), b"c".to_vec()]
        );
        // Avahi's library has the symbol, but it is a stub: no reconfirm there.
        assert!(!capabilities_of(Flavor::Avahi, false, true).reconfirm);
        assert!(capabilities_of(Flavor::Apple, true, true).reconfirm);
    }

    #[test]
    fn nul_in_names_is_a_typed_error() {
        assert!(matches!(
            check_c_name("a\0b.local"),
            Err(Error::InvalidHostName { .. })
        ));
        assert!(check_c_name("h.local").is_ok());
    }

    #[test]
    fn alternative_names_follow_avahi() {
        use op::alternative_name;
        assert_eq!(alternative_name("Web"), "Web #2");
        assert_eq!(alternative_name("Web #2"), "Web #3");
        assert_eq!(alternative_name("Web #x"), "Web #x #2");
        assert_eq!(alternative_name("Web #1"), "Web #1 #2");
        let long = "é".repeat(31); // 62 bytes
        let alt = alternative_name(&long);
        assert!(
            alt.len() <= 63 && alt.ends_with(" #2"),
            "{alt} ({} bytes)",
            alt.len()
        );
    }

    #[test]
    fn daemon_codes_map_to_daemon_not_running() {
        use op::code_error;
        assert!(matches!(
            code_error(-65563, Flavor::Apple),
            Error::DaemonNotRunning
        ));
        assert!(matches!(
            code_error(-65537, Flavor::Avahi),
            Error::DaemonNotRunning
        ));
        assert!(!matches!(
            code_error(-65537, Flavor::Apple),
            Error::DaemonNotRunning
        ));
        assert!(!matches!(
            code_error(-65548, Flavor::Avahi),
            Error::DaemonNotRunning
        ));
    }
}
