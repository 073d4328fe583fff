//! The public handle: [`ServiceDiscovery`] picks a backend once and runs every operation
//! through it.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;

use crate::api::own::{OwnEntry, OwnRegistrations};
use crate::api::stream::{Browse, HostLookup, RecordQuery, ResolveStream, ServiceTypes};
use crate::backend::embedded::EmbeddedConfig;
use crate::backend::operation::RegistrationGuard;
use crate::backend::routed::RoutedBackend;
use crate::backend::wide_area::{BrowseDomains, WideAreaBackend, WideAreaConfig};
use crate::backend::{Backend, BackendKind, Capabilities, choice};
use crate::types::error::{Error, Result};
use crate::types::event::{HostAddress, HostAddressEvent, Instance, RegistrationEvent, Resolved};
use crate::types::name::{InstanceName, ServiceType};
use crate::types::service::{Interface, RecordType, Service};
use crate::types::txt::TxtRecord;

/// Environment variable that overrides [`BackendKind::Auto`]: a [`BackendKind::name`]
/// (`auto`, `system`, `avahi`, `dns-sd`, `embedded`); any other value is an error.
pub const BACKEND_ENV: &str = choice::BACKEND_ENV;

/// How long [`ServiceDiscovery::lookup_host`] keeps collecting addresses after the first one
/// (A and AAAA answers arrive separately).
const LOOKUP_SETTLE: Duration = Duration::from_millis(200);

/// Builder for [`ServiceDiscovery`].
#[derive(Debug, Clone)]
pub struct ServiceDiscoveryBuilder {
    backend: BackendKind,
    reconnect: bool,
    embedded: EmbeddedConfig,
    wide_area: Option<WideAreaConfig>,
    answer_timeout: Duration,
}

/// Default of [`ServiceDiscoveryBuilder::answer_timeout`].
pub const DEFAULT_ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

impl ServiceDiscoveryBuilder {
    /// Choose the backend (default [`BackendKind::Auto`]; see [`ServiceDiscovery`] for how
    /// `Auto` decides).
    pub fn backend(mut self, backend: BackendKind) -> Self {
        self.backend = backend;
        self
    }

    /// Whether registrations and streams are re-established automatically when the system
    /// daemon comes back after it went away (default: true). When false, losing the daemon is a
    /// fatal error for every open operation.
    pub fn reconnect(mut self, reconnect: bool) -> Self {
        self.reconnect = reconnect;
        self
    }

    /// How long the one-shot calls ([`ServiceDiscovery::resolve`],
    /// [`ServiceDiscovery::lookup_host`]) wait for a first answer before they fail with
    /// [`Error::Timeout`] (default [`DEFAULT_ANSWER_TIMEOUT`], 10 s: an mDNS responder that is
    /// there answers within about a second, and a querier retries for a few seconds more).
    pub fn answer_timeout(mut self, timeout: Duration) -> Self {
        self.answer_timeout = timeout;
        self
    }

    /// Settings of the embedded engine (interfaces, host name), used when the embedded backend
    /// is chosen (explicitly or by [`BackendKind::Auto`]); ignored by the system backend.
    pub fn embedded_config(mut self, config: EmbeddedConfig) -> Self {
        self.embedded = config;
        self
    }

    /// Settings of the wide-area (unicast DNS) client that serves every operation whose
    /// domain is not `local.` (see [`WideAreaConfig`]: server, TSIG key, timeouts), on every
    /// backend. Without this call such operations still work with the defaults (the
    /// resolvers of `/etc/resolv.conf`, no key: registration refused), but a browse with no
    /// domain stays in `local.`; with it, such a browse also covers the enumerated browse
    /// domains (RFC 6763 s11) unless [`WideAreaConfig::browse_enumerated_domains`] is off.
    pub fn wide_area(mut self, config: WideAreaConfig) -> Self {
        self.wide_area = Some(config);
        self
    }

    /// The backend [`build`](Self::build) would use now (never `Auto` or `System`): the one
    /// set with [`backend`](Self::backend), else `DNSSD_BACKEND`, else what runs on this host
    /// (see [`ServiceDiscovery`]). With `Auto` this asks the host's responders, waiting at most
    /// about a second for a hung daemon (a few milliseconds otherwise), without blocking the
    /// runtime's worker threads.
    pub async fn chosen_backend(&self) -> Result<BackendKind> {
        let requested = choice::requested_kind(self.backend)?;
        choice::choose(
            requested,
            choice::Platform::CURRENT,
            choice::HostProbes {
                avahi_dbus: async || false,
                dns_sd: async || {
                    crate::backend::dns_sd::probe_daemon_async(choice::DAEMON_PROBE_TIMEOUT)
                        .await
                        .ok()
                },
                // Another program's embedded engine is no reason to refuse: a second engine
                // takes a host name of its own beside it (see `EmbeddedConfig::host_name`).
                other_responder: || {
                    crate::backend::detect::detect()
                        .into_iter()
                        .find(|r| !r.is_embedded_engine())
                        .map(|r| r.to_string())
                },
            },
        )
        .await
    }

    /// Build the handle. Must run inside a tokio runtime (operations spawn tasks on it). With
    /// [`BackendKind::Auto`] this first asks what runs on the host (see
    /// [`chosen_backend`](Self::chosen_backend)).
    pub async fn build(self) -> Result<ServiceDiscovery> {
        let local: Arc<dyn Backend> = match self.chosen_backend().await? {
            BackendKind::Embedded => crate::backend::embedded::start(self.embedded)?,
            _ => crate::backend::dns_sd::start(self.reconnect)?,
        };
        let browse_enumerated = self
            .wide_area
            .as_ref()
            .is_some_and(|c| c.browse_enumerated_domains);
        let wide_area = Arc::new(WideAreaBackend::new(
            self.wide_area.unwrap_or_default(),
            crate::backend::wide_area::machine_name(),
        ));
        let backend = Arc::new(RoutedBackend::new(
            local,
            Arc::clone(&wide_area),
            browse_enumerated,
        ));
        Ok(ServiceDiscovery {
            backend,
            wide_area,
            own: Arc::default(),
            answer_timeout: self.answer_timeout,
        })
    }
}

/// A handle to DNS-SD service discovery. Cheap to clone; every clone uses the same backend.
///
/// Build it inside a tokio runtime: every operation runs as a task on that runtime.
///
/// # Choosing the backend
///
/// [`BackendKind::Auto`] (the default; `DNSSD_BACKEND=system|embedded|auto` or
/// [`ServiceDiscoveryBuilder::backend`] override it) picks the system daemon when it answers,
/// else the embedded engine:
/// - macOS (and any system without the embedded engine): always the system daemon (Bonjour
///   owns port 5353 there).
/// - Linux: `libdns_sd` is loaded and asked for a throwaway reference (a browse for a type
///   nobody uses on Avahi, `DNSServiceCreateConnection` on Apple's library), on a thread of
///   its own, waiting at most about a second. A reference means a daemon runs: system
///   backend, and this process never binds port 5353. "Not running" (Avahi's library says so
///   within ~2 ms), or no library at all: the embedded engine. No answer within the timeout
///   (a hung daemon) counts as a daemon: the system backend, rather than a second responder
///   fighting it.
///
/// # Other responders on this host
///
/// `Auto` never starts the embedded engine beside another mDNS responder of this host (this
/// network namespace) that it cannot use: avahi-daemon unreachable through any backend,
/// systemd-resolved with MulticastDNS, mDNSResponder, or any other process bound to UDP 5353
/// ([`detect_host_responders`](crate::detect_host_responders) lists them, in a few
/// milliseconds). It fails with [`Error::ResponderPresent`] instead, naming the responder and
/// how to force. Another program running this crate's embedded engine is no reason to refuse:
/// each engine holds a marker socket the next one sees.
///
/// An embedded engine that finds another responder at start (forced with
/// [`BackendKind::Embedded`], or beside another embedded engine) publishes under a host name
/// of its own, `<host>-<program>` (the executable's name; [`EmbeddedConfig::host_name`]
/// overrides), and publishes no reverse-mapping PTRs ([`EmbeddedConfig::reverse_mapping`]), so
/// the host's name and address mapping stay the other responder's. In every case it probes
/// each unique record, reverse PTRs included, withdraws a reverse PTR another responder holds
/// or probes instead of contesting it, and claims a host name only while a registration's SRV
/// targets it (a process that only browses claims none). A responder that starts *after* the
/// engine is not detected; if it takes the machine's host name, as the engine did, both
/// stacks publish identical address and reverse records for it (one machine), which is no
/// conflict, and a reverse name it probes with other data is given up.
///
/// The choice is made once, in [`ServiceDiscoveryBuilder::build`];
/// [`ServiceDiscoveryBuilder::chosen_backend`] tells what it would pick.
/// [`ServiceDiscovery::capabilities`] reports what the chosen backend can do.
///
/// **Falling over to the embedded engine.** A handle never switches backend by itself: a
/// daemon that restarts is picked up again (see below), and one that starts after `Auto`
/// chose the embedded engine is not fought (the engine shares the port, it does not take it).
/// To move to the embedded engine when the daemon goes away for good, watch for
/// [`Error::DaemonNotRunning`] items, then build a new handle with `Auto` (its probe now
/// finds no daemon) and re-create the registrations and browses on it:
///
/// ```no_run
/// # async fn demo(service: dnssd::Service) -> dnssd::Result<()> {
/// use dnssd::{BackendKind, Error, ServiceDiscovery};
/// let mut sd = ServiceDiscovery::new().await?;
/// let mut registration = sd.register(service.clone()).await?;
/// while let Some(event) = registration.next_event().await {
///     if let Err(Error::DaemonNotRunning) = event {
///         if ServiceDiscovery::builder().chosen_backend().await? == BackendKind::Embedded {
///             sd.shutdown().await;
///             sd = ServiceDiscovery::builder().backend(BackendKind::Embedded).build().await?;
///             registration = sd.register(service.clone()).await?;
///         }
///     }
/// }
/// # Ok(())
/// # }
/// ```
///
/// # The system backend
///
/// - **Errors.** A missing daemon is [`Error::DaemonNotRunning`], reported at once (Avahi's
///   library answers within milliseconds): one-shot calls (`register`, `resolve`,
///   `lookup_host`) return it; streams yield it as an item.
/// - **Daemon lifecycle.** When the daemon goes away, every open stream and registration
///   reports `DaemonNotRunning` once (a browse first reports every instance it had reported as
///   `Removed`); the backend then recreates its daemon references with backoff (250 ms doubling
///   to 1 s), so when the daemon returns, browses report their instances again and
///   registrations are re-established under their confirmed name and latest TXT (a
///   [`RegistrationEvent::Registered`] says so). A daemon that starts late is picked up by open
///   streams the same way. [`ServiceDiscoveryBuilder::reconnect`]`(false)` makes the loss fatal
///   instead (the item is followed by the end of the stream).
/// - **Blocking.** Calls that can block in the C library (creating and deallocating references,
///   updating a TXT record; Apple's client waits up to 60 s for a hung daemon) run on tokio's
///   blocking pool, never on a worker thread. Dropping a handle returns at once; its reference
///   is deallocated shortly after on the blocking pool ([`ServiceDiscovery::wait_released`]
///   waits for that).
/// - **Avahi's warning.** Avahi's compatibility library prints a warning on first use unless
///   `AVAHI_COMPAT_NOWARN` is set. This crate sets it before `main` runs (from an
///   `.init_array` entry, only while the process has a single thread, so it never races
///   another thread reading the environment). A `cdylib` loaded into an already threaded
///   process cannot do that safely: set the variable yourself there.
/// - **Refused before the call.** What the library would reject with a warning is refused
///   with [`Error::Unsupported`]: with Avahi, [`Interface::LocalOnly`] and browses for more
///   than one subtype. [`ServiceDiscovery::capabilities`] tells what the library supports.
#[derive(Debug, Clone)]
pub struct ServiceDiscovery {
    backend: Arc<dyn Backend>,
    /// Serves every domain other than `local.` (also reachable through `backend`, which
    /// routes); kept for domain enumeration.
    wide_area: Arc<WideAreaBackend>,
    /// Services registered through this handle (and its clones), for [`Endpoint::is_own`].
    ///
    /// [`Endpoint::is_own`]: crate::Endpoint::is_own
    own: Arc<OwnRegistrations>,
    answer_timeout: Duration,
}

impl ServiceDiscovery {
    /// A handle with [`BackendKind::Auto`] (overridden by `DNSSD_BACKEND`).
    pub async fn new() -> Result<Self> {
        Self::builder().build().await
    }

    /// A builder to choose the backend and options.
    pub fn builder() -> ServiceDiscoveryBuilder {
        ServiceDiscoveryBuilder {
            backend: BackendKind::Auto,
            reconnect: true,
            embedded: EmbeddedConfig::default(),
            wide_area: None,
            answer_timeout: DEFAULT_ANSWER_TIMEOUT,
        }
    }

    /// The backend in use (never `Auto`).
    pub fn backend(&self) -> BackendKind {
        self.backend.kind()
    }

    /// What the backend supports.
    pub fn capabilities(&self) -> &Capabilities {
        self.backend.capabilities()
    }

    /// Register a service. Resolves once the daemon confirms it, with the final name (after a
    /// rename on conflict). Dropping the returned handle deregisters it.
    ///
    /// A service whose domain is not `local.` is published in that DNS zone by a signed DNS
    /// UPDATE (see [`WideAreaConfig`]); it needs a TSIG key.
    pub async fn register(&self, service: Service) -> Result<Registration> {
        let (name, guard) = self.backend.register(&service).await?;
        tracing::info!(
            backend = %self.backend.kind(),
            requested = ?service.name().map(InstanceName::as_str),
            name = %name,
            service_type = %service.service_type(),
            port = service.port(),
            "service registered"
        );
        let own = OwnEntry::new(&self.own, &name, &service);
        let service = Mutex::new(service.with_name(name.clone()));
        Ok(Registration {
            name,
            guard,
            own,
            service,
            discovery: self.clone(),
        })
    }

    /// True when `instance` is one of the services registered through this handle (or a
    /// clone of it) and still registered.
    pub fn is_own(&self, instance: &Instance) -> bool {
        self.own.contains(&OwnRegistrations::key(
            &instance.name,
            &instance.service_type,
            &instance.domain,
        ))
    }

    /// Browse for instances of `service_type` (with at most one subtype on Avahi) on every
    /// interface in the default domain.
    pub fn browse(&self, service_type: &ServiceType) -> Result<Browse> {
        self.browse_on(service_type, None, Interface::Any)
    }

    /// Browse in `domain` (default `local.`) on `interface`. A domain other than `local.` is
    /// browsed over unicast DNS (polled within the records' TTLs; `interface` does not
    /// apply). With no domain and a configured [`ServiceDiscoveryBuilder::wide_area`], the
    /// enumerated browse domains are browsed too.
    pub fn browse_on(
        &self,
        service_type: &ServiceType,
        domain: Option<&str>,
        interface: Interface,
    ) -> Result<Browse> {
        let events = self.backend.browse(service_type, domain, interface)?;
        Ok(Browse::new(
            events,
            Arc::clone(&self.backend),
            Arc::clone(&self.own),
        ))
    }

    /// Resolve an instance: its first answer. Fails with [`Error::Timeout`] when none arrives
    /// within the [answer timeout](ServiceDiscoveryBuilder::answer_timeout); a missing daemon is
    /// reported at once.
    pub async fn resolve(&self, instance: &Instance) -> Result<Resolved> {
        let mut stream = self.backend.resolve(instance)?;
        match tokio::time::timeout(self.answer_timeout, stream.next_event()).await {
            Err(_elapsed) => Err(Error::Timeout),
            Ok(Some(result)) => result,
            Ok(None) => Err(Error::DaemonNotRunning),
        }
    }

    /// Tell the responder that `instance` seems to be gone (a connection to it failed): it
    /// verifies the instance's records with the network (RFC 6762 section 10.4) and, when the
    /// instance does not answer, reports it removed within about ten seconds instead of when
    /// its records expire (up to 75 minutes later). Browses then report
    /// [`BrowseEvent::Removed`](crate::BrowseEvent::Removed). [`Capabilities::reconfirm`]
    /// tells whether the backend supports it ([`Error::Unsupported`] otherwise).
    pub async fn reconfirm(&self, instance: &Instance) -> Result<()> {
        self.backend.reconfirm(instance).await
    }

    /// Resolve an instance and keep reporting changes of host, port or TXT.
    pub fn resolve_stream(&self, instance: &Instance) -> Result<ResolveStream> {
        Ok(ResolveStream::from_events(self.backend.resolve(instance)?))
    }

    /// Addresses of `host` (e.g. `h.local`): waits for the first (at most the
    /// [answer timeout](ServiceDiscoveryBuilder::answer_timeout), then [`Error::Timeout`]),
    /// then collects those that follow within a short settling time. IPv6 link-local addresses
    /// carry their scope id.
    pub async fn lookup_host(&self, host: &str) -> Result<Vec<HostAddress>> {
        let mut stream = self.backend.lookup_host(host, Interface::Any)?;
        let mut addresses: Vec<HostAddress> = Vec::new();
        let apply = |event: HostAddressEvent, addresses: &mut Vec<HostAddress>| match event {
            HostAddressEvent::Added(a) => {
                if !addresses.contains(&a) {
                    addresses.push(a);
                }
            }
            HostAddressEvent::Removed(a) => addresses.retain(|x| *x != a),
        };
        let first_deadline = tokio::time::Instant::now() + self.answer_timeout;
        while addresses.is_empty() {
            match tokio::time::timeout_at(first_deadline, stream.next_event()).await {
                Err(_elapsed) => return Err(Error::Timeout),
                Ok(Some(Ok(event))) => apply(event, &mut addresses),
                Ok(Some(Err(e))) => return Err(e),
                Ok(None) => return Err(Error::DaemonNotRunning),
            }
        }
        let deadline = tokio::time::Instant::now() + LOOKUP_SETTLE;
        while let Ok(Some(Ok(event))) = tokio::time::timeout_at(deadline, stream.next_event()).await
        {
            apply(event, &mut addresses);
        }
        Ok(addresses)
    }

    /// Addresses of `host` as they appear and go away.
    pub fn lookup_host_stream(&self, host: &str, interface: Interface) -> Result<HostLookup> {
        Ok(HostLookup::from_events(
            self.backend.lookup_host(host, interface)?,
        ))
    }

    /// Query records of `name` (a full name such as `My\ Web._http._tcp.local.`) and type.
    pub fn query_record(&self, name: &str, rtype: RecordType) -> Result<RecordQuery> {
        self.query_record_on(name, rtype, Interface::Any)
    }

    /// [`query_record`](Self::query_record) on one interface.
    pub fn query_record_on(
        &self,
        name: &str,
        rtype: RecordType,
        interface: Interface,
    ) -> Result<RecordQuery> {
        Ok(RecordQuery::from_events(
            self.backend.query_record(name, rtype.0, interface)?,
        ))
    }

    /// Service types present in `local.` (RFC 6763 §9 enumeration).
    pub fn browse_types(&self) -> Result<ServiceTypes> {
        Ok(ServiceTypes::from_events(
            self.backend.browse_types(None, Interface::Any)?,
        ))
    }

    /// Service types present in `domain` (RFC 6763 s9): `local.` through the local backend,
    /// other domains over unicast DNS.
    pub fn browse_types_in(&self, domain: &str) -> Result<ServiceTypes> {
        Ok(ServiceTypes::from_events(
            self.backend.browse_types(Some(domain), Interface::Any)?,
        ))
    }

    /// Browse and registration domains found by RFC 6763 s11 enumeration (`b`, `db`, `lb`,
    /// `r`, `dr` `._dns-sd._udp` below the resolver's search domains, the configured domains
    /// and the reverse mapping of this host's address), over unicast DNS.
    pub async fn domains(&self) -> Result<BrowseDomains> {
        self.wide_area.domains().await
    }

    /// [`browse_types`](Self::browse_types) on one interface (or [`Interface::Any`]).
    pub fn browse_types_on(&self, interface: Interface) -> Result<ServiceTypes> {
        Ok(ServiceTypes::from_events(
            self.backend.browse_types(None, interface)?,
        ))
    }

    /// Ends this handle's work and waits for it. With the embedded backend: deregisters every
    /// service, returns once their goodbyes are on the wire, and stops the engine (every clone
    /// of this handle and every open stream end). Call it before a program exits: dropping
    /// the runtime would cut the goodbyes short. With the system backend: ends every open
    /// operation (streams end, registrations are withdrawn by the daemon) and returns once all
    /// their `DNSServiceRef`s are deallocated; operations started afterwards end at once.
    pub async fn shutdown(&self) {
        self.backend.shutdown().await;
    }

    /// Wait until every operation whose handle was dropped has released what it held in the
    /// backend (system backend: its `DNSServiceRef`s are deallocated, on the blocking pool,
    /// shortly after the drop). For leak checks: after this, descriptors and threads of dropped
    /// operations are gone. Open operations are not affected, so this returns only once the
    /// handles of every operation started through this backend are dropped.
    pub async fn wait_released(&self) {
        self.backend.wait_released().await;
    }
}

/// A live registration. Dropping it deregisters the service.
///
/// It is also a stream of [`RegistrationEvent`]s and errors that happen after the first
/// confirmation: the daemon going away (an `Err` item), the registration being re-established
/// when it comes back, or a rename after a late conflict.
#[derive(Debug)]
#[must_use = "dropping a Registration withdraws the service at once; keep it for as long as the service should be visible"]
pub struct Registration {
    name: InstanceName,
    guard: RegistrationGuard,
    own: OwnEntry,
    /// What was registered (with the confirmed name and latest TXT), for re-registration.
    service: Mutex<Service>,
    discovery: ServiceDiscovery,
}

impl Registration {
    /// The name the daemon confirmed (after any rename at registration time).
    pub fn name(&self) -> &InstanceName {
        &self.name
    }

    /// Replace the TXT record while the service stays registered.
    pub async fn update_txt(&self, txt: TxtRecord) -> Result<()> {
        self.guard.control.update_txt(&txt).await?;
        let mut service = self.lock_service();
        *service = service.clone().with_txt(txt);
        Ok(())
    }

    /// Move the service to another port. DNS-SD has no "change the port" operation a
    /// responder announces as such, so this withdraws the registration (goodbye) and registers
    /// it again under its confirmed name and current TXT; browsers see it leave and come back
    /// (about a second, the probing of the name). On error the service is no longer
    /// registered.
    pub async fn update_port(&mut self, port: u16) -> Result<()> {
        let service = self.service().with_name(self.name.clone()).with_port(port);
        let (name, guard) = {
            let old = std::mem::replace(&mut self.guard, RegistrationGuard::ended());
            old.control.unregister().await;
            self.discovery.backend.register(&service).await?
        };
        self.own = OwnEntry::new(&self.discovery.own, &name, &service);
        self.name = name;
        self.guard = guard;
        *self.lock_service() = service;
        Ok(())
    }

    /// Withdraw the service and wait until the backend has acted on it: the embedded engine
    /// has queued its goodbye packets, the daemon's reference is released (the daemon then
    /// sends the goodbyes). Dropping a `Registration` withdraws it too, without waiting.
    pub async fn unregister(self) {
        let Registration { guard, own, .. } = self;
        guard.control.unregister().await;
        drop(own);
    }

    /// The service as registered now: its confirmed name, latest TXT and port.
    pub fn service(&self) -> Service {
        self.lock_service().clone()
    }

    fn lock_service(&self) -> std::sync::MutexGuard<'_, Service> {
        self.service
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn renamed(&mut self, name: &InstanceName) {
        if *name != self.name {
            tracing::info!(from = %self.name, to = %name, "registration renamed after a name conflict");
        } else {
            tracing::info!(name = %name, "registration re-established");
        }
        self.name = name.clone();
        let service = self.service().with_name(name.clone());
        self.own = OwnEntry::new(&self.discovery.own, name, &service);
        *self.lock_service() = service;
    }

    /// The next event after confirmation; `None` once the registration ended for good.
    pub async fn next_event(&mut self) -> Option<Result<RegistrationEvent>> {
        let event = self.guard.events.next_event().await;
        if let Some(Ok(RegistrationEvent::Registered(name))) = &event {
            self.renamed(name);
        }
        event
    }
}

impl Stream for Registration {
    type Item = Result<RegistrationEvent>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let event = crate::api::stream::poll_registration_event(&mut this.guard, cx);
        if let Poll::Ready(Some(Ok(RegistrationEvent::Registered(name)))) = &event {
            this.renamed(name);
        }
        event
    }
}
