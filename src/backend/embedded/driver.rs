//! The driver task: moves datagrams, time and interface changes into the engine, and the
//! engine's datagrams and events out. It holds no protocol logic: every decision about what
//! to send and when is the engine's.
//!
//! One tokio task owns the engine, both sockets, the interface watcher and one timer. It
//! sleeps until the first of: a command from the API, a datagram, an interface change, or
//! the engine's own deadline (`poll_timeout`); with nothing scheduled it does not wake at all.
//!
//! Operations are named by [`OperationKey`]s that the API side allocates itself, so a
//! synchronous call (`browse`) can hand out a cancellable stream at once; the driver maps
//! keys to the engine's ids. Each operation has a [`Sink`] that turns engine events into the
//! operation's stream items; a sink whose receiver is gone cancels its operation.
//!
//! The task ends when every [`DriverHandle`] clone is dropped or on
//! [`DriverHandle::shutdown`]; either way it first deregisters every service and keeps
//! sending until the engine's goodbyes are out: as long as they need at the engine's pacing,
//! never longer than [`GOODBYE_LIMIT`].

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dnssd_engine::wire::{CLASS_IN, Name, RData, Record, RecordType};
use dnssd_engine::{
    CommandError, Config, Destination, Engine, Event, Family as EngineFamily,
    Instant as EngineInstant, InterfaceAddress as EngineAddress, InterfaceConfig, InterfaceId,
    QueryId, RegistrationId, ServiceSpec, Transmit,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::interfaces::{
    InterfaceSelection, InterfaceWatcher, SelectedInterface, SelectionChange, list_interfaces,
};
use super::socket::{
    DatagramDestination, Family, MAX_DATAGRAM, MDNS_GROUP_V4, MDNS_GROUP_V6, MDNS_PORT, MdnsSocket,
    OwnEchoFilter, ReceivedDatagram,
};

/// Upper bound on how long shutdown keeps the driver running for the engine's goodbyes.
///
/// Shutdown ends as soon as every goodbye is on the wire (the engine reports no pending
/// output); this bound only matters if that never happens. Goodbyes are packed many records
/// to a datagram (1000 services: about 47 datagrams of up to 1440 bytes per address family)
/// and paced one datagram per 20 ms per link (the engine's default `goodbye_interval`), so
/// 1000 services take about 1 s and the engine's registration limit (4096 services) about 4 s.
pub const GOODBYE_LIMIT: Duration = Duration::from_secs(10);

/// Most commands handled in one wake-up before the engine's output is flushed: commands that
/// arrive together (every registration guard dropped at once) are applied together, so their
/// goodbyes are packed together.
const COMMAND_BATCH: usize = 4096;

/// Names one operation (registration or query) between the API side and the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OperationKey(u64);

/// Turns the engine's events for one operation into stream items; returns `false` once
/// nobody listens any more (the driver then cancels the operation).
pub type Sink = Box<dyn FnMut(Event) -> bool + Send>;

/// Reports why the engine refused a query (to become the stream's first and last item).
pub type Refusal = Box<dyn FnOnce(CommandError) + Send>;

/// A query the API side asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryRequest {
    /// Browse a service type (or `_sub` subtype), `"_http._tcp"`.
    Browse {
        /// Type, optionally with subtype and domain.
        service_type: String,
        /// Only this interface.
        interface: Option<InterfaceId>,
    },
    /// Resolve an instance's SRV and TXT (full name, escaped).
    Resolve {
        /// `My\.Web._http._tcp.local.`
        instance: String,
        /// Only this interface.
        interface: Option<InterfaceId>,
    },
    /// Any record.
    Record {
        /// Record name.
        name: String,
        /// Record type.
        rtype: RecordType,
        /// Only this interface.
        interface: Option<InterfaceId>,
    },
    /// A and AAAA of a host.
    Host {
        /// `h.local.` (or `h`, meaning `h.local.`)
        host: String,
        /// Only this interface.
        interface: Option<InterfaceId>,
    },
}

enum Command {
    Register {
        key: OperationKey,
        spec: ServiceSpec,
        sink: Sink,
        reply: oneshot::Sender<Result<(), CommandError>>,
    },
    UpdateTxt {
        key: OperationKey,
        txt: Vec<u8>,
        reply: oneshot::Sender<Result<(), CommandError>>,
    },
    Deregister {
        key: OperationKey,
    },
    Query {
        key: OperationKey,
        request: QueryRequest,
        sink: Sink,
        refused: Refusal,
    },
    StopQuery {
        key: OperationKey,
    },
    Reconfirm {
        /// Full instance name (`My\.Web._http._tcp.local.`).
        instance: String,
        /// Its service type's name (`_http._tcp.local.`).
        type_name: String,
        reply: oneshot::Sender<Result<(), CommandError>>,
    },
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

/// What the driver has done, for tests and diagnostics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DriverStats {
    /// Datagrams read from the sockets.
    pub datagrams_received: u64,
    /// Of those, copies of our own sends (dropped).
    pub own_echoes_dropped: u64,
    /// Of those, from interfaces or families we do not run on (dropped).
    pub foreign_interface_dropped: u64,
    /// Of those, larger than [`MAX_DATAGRAM`] (dropped).
    pub oversized_dropped: u64,
    /// Datagrams sent.
    pub datagrams_sent: u64,
    /// Sends that failed (interface gone, no route...).
    pub send_errors: u64,
    /// Receive errors (ICMP reports; a persistent error closes that family's socket).
    pub receive_errors: u64,
    /// Interface list refreshes after a change report.
    pub interface_refreshes: u64,
    /// Interfaces currently in use (OS index and name).
    pub interfaces: Vec<(u32, String)>,
    /// Timer wake-ups (engine deadlines reached).
    pub timer_wakeups: u64,
    /// Resumes from a system suspend noticed (the engine re-probed and re-queried).
    pub resumes_from_sleep: u64,
}

/// Settings of the embedded backend, built with `with_*` methods:
///
/// ```
/// use dnssd::embedded::{EmbeddedConfig, InterfaceRule, InterfaceSelection};
/// let config = EmbeddedConfig::default()
///     .with_host_name("kiosk-7")
///     .with_interfaces(InterfaceSelection::new().include(InterfaceRule::Name("eth0".into())));
/// assert_eq!(config.host_name.as_deref(), Some("kiosk-7"));
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct EmbeddedConfig {
    /// Interfaces and families to run on.
    pub interfaces: InterfaceSelection,
    /// Host label (without `.local`); `None`: this machine's host name, cleaned up, or, when
    /// another mDNS responder runs on this host (avahi-daemon, systemd-resolved, another
    /// program's embedded engine...: [`detect_host_responders`](crate::detect_host_responders)),
    /// `<host>-<program>` (the executable's name), so the host's own name stays the other
    /// responder's. The name is only claimed while a registration needs it.
    pub host_name: Option<String>,
    /// Seed of the engine's RNG; `None`: random.
    pub rng_seed: Option<u64>,
    /// Publish reverse-mapping PTRs (`in-addr.arpa`/`ip6.arpa` names of the host's addresses
    /// pointing at our host name). `None`: only when no other mDNS responder runs on this host
    /// (the machine's reverse mapping belongs to its own responder). Either way they are
    /// probed, and withdrawn rather than contested when another responder holds the name.
    pub reverse_mapping: Option<bool>,
}

/// The host label and reverse-mapping choice for `config`: what it sets, else what suits
/// this host (another responder here: `<host>-<program>` and no reverse mapping).
fn host_identity(config: &EmbeddedConfig) -> (String, bool) {
    let others = if config.host_name.is_none() || config.reverse_mapping.is_none() {
        crate::backend::detect::detect()
    } else {
        Vec::new()
    };
    let shared = !others.is_empty();
    let host_name = config.host_name.clone().unwrap_or_else(|| {
        if shared {
            crate::backend::detect::own_host_label(
                &local_host_label(),
                &crate::backend::detect::program_label(),
            )
        } else {
            local_host_label()
        }
    });
    (host_name, config.reverse_mapping.unwrap_or(!shared))
}

/// Binds the abstract Unix socket `dnssd-engine/PID/N` that tells other processes of this
/// network namespace an embedded engine runs here (see `backend/detect.rs`); `None` if the
/// name cannot be bound (detection then sees an unknown UDP 5353 socket, the safe side).
#[cfg(target_os = "linux")]
fn bind_engine_marker() -> Option<EngineMarker> {
    use std::os::linux::net::SocketAddrExt;
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let name = format!(
        "{}{}/{}",
        crate::backend::detect::ENGINE_MARKER_PREFIX,
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).ok()?;
    std::os::unix::net::UnixDatagram::bind_addr(&address).ok()
}

/// What tells other processes an engine runs here: an abstract Unix socket on Linux.
#[cfg(target_os = "linux")]
type EngineMarker = std::os::unix::net::UnixDatagram;
/// No marker off Linux: detection of other responders reads Linux's `/proc` only.
#[cfg(not(target_os = "linux"))]
type EngineMarker = ();

#[cfg(not(target_os = "linux"))]
fn bind_engine_marker() -> Option<EngineMarker> {
    None
}

impl EmbeddedConfig {
    /// Run on these interfaces and families only.
    #[must_use]
    pub fn with_interfaces(mut self, interfaces: InterfaceSelection) -> Self {
        self.interfaces = interfaces;
        self
    }

    /// Use this host label (without `.local`) instead of the machine's host name.
    #[must_use]
    pub fn with_host_name(mut self, host_name: impl Into<String>) -> Self {
        self.host_name = Some(host_name.into());
        self
    }

    /// Seed the engine's RNG (reproducible timing in tests).
    #[must_use]
    pub fn with_rng_seed(mut self, seed: u64) -> Self {
        self.rng_seed = Some(seed);
        self
    }
    /// Publish reverse-mapping PTRs (`true`) or not (`false`) instead of deciding by whether
    /// another mDNS responder runs on this host.
    #[must_use]
    pub fn with_reverse_mapping(mut self, reverse_mapping: bool) -> Self {
        self.reverse_mapping = Some(reverse_mapping);
        self
    }
}

/// The API side's handle on the driver task. Cloning is cheap; when the last clone is gone,
/// the driver sends goodbyes and stops.
#[derive(Clone, Debug)]
pub struct DriverHandle {
    commands: mpsc::UnboundedSender<Command>,
    next_key: Arc<AtomicU64>,
    stats: Arc<Mutex<DriverStats>>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Register { .. } => "Register",
            Command::UpdateTxt { .. } => "UpdateTxt",
            Command::Deregister { .. } => "Deregister",
            Command::Query { .. } => "Query",
            Command::StopQuery { .. } => "StopQuery",
            Command::Reconfirm { .. } => "Reconfirm",
            Command::Shutdown { .. } => "Shutdown",
        })
    }
}

/// The driver is gone (shut down, or its task panicked).
fn driver_gone() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "embedded mDNS driver has stopped",
    )
}

impl DriverHandle {
    /// Binds the sockets, lists the interfaces and spawns the driver on the current tokio
    /// runtime. Fails if neither an IPv4 nor an IPv6 socket can be bound, or outside a runtime.
    pub fn start(config: EmbeddedConfig) -> io::Result<DriverHandle> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| {
            io::Error::other(format!("the embedded backend needs a tokio runtime: {e}"))
        })?;
        let _guard = runtime.enter();
        let v4 = config.interfaces.ipv4().then(MdnsSocket::bind_v4);
        let v6 = config.interfaces.ipv6().then(MdnsSocket::bind_v6);
        let (v4, v6) = match (v4, v6) {
            (Some(Err(e)), None | Some(Err(_))) | (None, Some(Err(e))) => return Err(e),
            (None, None) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "neither IPv4 nor IPv6 enabled",
                ));
            }
            (v4, v6) => (v4.and_then(Result::ok), v6.and_then(Result::ok)),
        };
        // Without change reports the interface set is fixed at start; still usable.
        let watcher = InterfaceWatcher::new().ok();
        let (host_name, reverse_mapping) = host_identity(&config);
        let engine = Engine::new(Config {
            rng_seed: config.rng_seed.unwrap_or_else(random_seed),
            host_name,
            reverse_mapping,
            ..Config::default()
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(Mutex::new(DriverStats::default()));
        let mut driver = Driver {
            engine,
            epoch: Instant::now(),
            v4,
            v6,
            watcher,
            selection: config.interfaces,
            interfaces: Vec::new(),
            echo: OwnEchoFilter::new(),
            commands: rx,
            registrations: HashMap::new(),
            queries: HashMap::new(),
            registration_keys: HashMap::new(),
            query_keys: HashMap::new(),
            buf_v4: vec![0; MAX_DATAGRAM],
            buf_v6: vec![0; MAX_DATAGRAM],
            stats: DriverStats::default(),
            shared_stats: Arc::clone(&stats),
            goodbyes_sent: false,
            sleep: SleepDetector::new(),
            _marker: bind_engine_marker(),
        };
        driver.refresh_interfaces();
        driver.publish_stats();
        runtime.spawn(driver.run());
        Ok(DriverHandle {
            commands: tx,
            next_key: Arc::new(AtomicU64::new(1)),
            stats,
        })
    }

    /// A fresh operation key.
    pub fn new_key(&self) -> OperationKey {
        OperationKey(self.next_key.fetch_add(1, Ordering::Relaxed))
    }

    /// Registers a service. Returns when the engine accepted it; the sink then receives
    /// `RegistrationEstablished` (or `RegistrationFailed`) and later renames.
    pub async fn register(
        &self,
        key: OperationKey,
        spec: ServiceSpec,
        sink: Sink,
    ) -> io::Result<Result<(), CommandError>> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Register {
            key,
            spec,
            sink,
            reply,
        })?;
        answer.await.map_err(|_| driver_gone())
    }

    /// Replaces a registration's TXT record.
    pub async fn update_txt(
        &self,
        key: OperationKey,
        txt: Vec<u8>,
    ) -> io::Result<Result<(), CommandError>> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::UpdateTxt { key, txt, reply })?;
        answer.await.map_err(|_| driver_gone())
    }

    /// Deregisters (the engine sends goodbyes). Fire and forget: usable from `Drop`.
    pub fn deregister(&self, key: OperationKey) {
        let _ = self.commands.send(Command::Deregister { key });
    }

    /// Starts a query without waiting for the engine's answer; if the engine refuses it,
    /// `refused` gets the reason and the sink is dropped.
    pub fn start_query(
        &self,
        key: OperationKey,
        request: QueryRequest,
        sink: Sink,
        refused: Refusal,
    ) -> io::Result<()> {
        self.send(Command::Query {
            key,
            request,
            sink,
            refused,
        })
    }

    /// Stops a query. Fire and forget: usable from `Drop`.
    pub fn stop_query(&self, key: OperationKey) {
        let _ = self.commands.send(Command::StopQuery { key });
    }

    /// Asks the engine to verify a peer's instance (RFC 6762 §10.4): its PTR, SRV and TXT are
    /// queried and flushed (browses report it removed) unless they are seen again within
    /// 10 s.
    pub async fn reconfirm(
        &self,
        instance: String,
        type_name: String,
    ) -> io::Result<Result<(), CommandError>> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Reconfirm {
            instance,
            type_name,
            reply,
        })?;
        answer.await.map_err(|_| driver_gone())
    }

    /// Deregisters everything, waits until the goodbyes are sent, and stops the driver. Other
    /// handle clones then fail with "driver has stopped".
    pub async fn shutdown(&self) {
        let (done, finished) = oneshot::channel();
        if self.commands.send(Command::Shutdown { done }).is_ok() {
            let _ = finished.await;
        }
    }

    /// A snapshot of the driver's counters.
    pub fn stats(&self) -> DriverStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn send(&self, command: Command) -> io::Result<()> {
        self.commands.send(command).map_err(|_| driver_gone())
    }
}

struct Driver {
    engine: Engine,
    /// The engine's time zero.
    epoch: Instant,
    v4: Option<MdnsSocket>,
    v6: Option<MdnsSocket>,
    watcher: Option<InterfaceWatcher>,
    selection: InterfaceSelection,
    interfaces: Vec<SelectedInterface>,
    echo: OwnEchoFilter,
    commands: mpsc::UnboundedReceiver<Command>,
    registrations: HashMap<RegistrationId, (OperationKey, Sink)>,
    queries: HashMap<QueryId, (OperationKey, Sink)>,
    registration_keys: HashMap<OperationKey, RegistrationId>,
    query_keys: HashMap<OperationKey, QueryId>,
    buf_v4: Vec<u8>,
    buf_v6: Vec<u8>,
    stats: DriverStats,
    shared_stats: Arc<Mutex<DriverStats>>,
    /// Set once the orderly shutdown has sent the goodbyes.
    goodbyes_sent: bool,
    sleep: SleepDetector,
    /// Held for the driver's lifetime: other processes see an engine runs here.
    _marker: Option<EngineMarker>,
}

impl Drop for Driver {
    /// The driver task was dropped before its orderly shutdown: the runtime is going away
    /// (a program returning from `main` without `shutdown()`). Last resort: send the engine's
    /// goodbyes now, synchronously, at the engine's pacing (this thread sleeps between paced
    /// datagrams: the runtime is being torn down anyway), for at most [`LAST_RESORT_LIMIT`].
    fn drop(&mut self) {
        if self.goodbyes_sent {
            return;
        }
        let now = self.now();
        for id in self.queries.keys().copied().collect::<Vec<_>>() {
            let _ = self.engine.stop_query(now, id);
        }
        self.engine.shutdown(now);
        let give_up = std::time::Instant::now() + LAST_RESORT_LIMIT;
        while self.engine.has_pending_output() {
            let now = self.now();
            while let Some(transmit) = self.engine.poll_transmit(now) {
                if let Some((socket, source, dest)) = self.route_transmit(&transmit) {
                    let _ = socket.send_now(&transmit.payload, transmit.iface.0, source, dest);
                }
            }
            let Some(next) = self.engine.poll_timeout() else {
                break;
            };
            let wait = Duration::from_nanos(next.as_nanos().saturating_sub(self.now().as_nanos()));
            if std::time::Instant::now() + wait > give_up {
                break;
            }
            std::thread::sleep(wait);
        }
    }
}

/// How long the last-resort goodbye (driver dropped without shutdown) may block the thread
/// dropping the runtime.
const LAST_RESORT_LIMIT: Duration = Duration::from_secs(2);

/// Why the driver woke up.
enum Wake {
    Command(Option<Command>),
    Timer,
    Datagram(Family, io::Result<ReceivedDatagram>),
    InterfacesChanged(io::Result<()>),
}

impl Driver {
    async fn run(mut self) {
        let done = loop {
            self.flush().await;
            let deadline = self.engine.poll_timeout().map(|t| self.instant_of(t));
            // Unbiased: a flood on one socket must not starve the other, the timer or the
            // API's commands.
            let wake = tokio::select! {
                command = self.commands.recv() => Wake::Command(command),
                () = sleep_until(deadline) => Wake::Timer,
                r = recv_on(self.v4.as_ref(), &mut self.buf_v4) => Wake::Datagram(Family::V4, r),
                r = recv_on(self.v6.as_ref(), &mut self.buf_v6) => Wake::Datagram(Family::V6, r),
                r = changed(self.watcher.as_mut()) => Wake::InterfacesChanged(r),
            };
            if self.sleep.slept_since_last_check() {
                // The machine was suspended: the network may have changed under us.
                self.stats.resumes_from_sleep += 1;
                let now = self.now();
                self.engine.wake(now);
            }
            match wake {
                Wake::Command(None) => break None,
                Wake::Command(Some(Command::Shutdown { done })) => break Some(done),
                Wake::Command(Some(command)) => {
                    self.handle_command(command);
                    if let Some(end) = self.drain_commands() {
                        break end;
                    }
                }
                Wake::Timer => {
                    self.stats.timer_wakeups += 1;
                    let now = self.now();
                    self.engine.handle_timeout(now);
                }
                Wake::Datagram(family, Ok(datagram)) => self.handle_datagram(family, datagram),
                Wake::Datagram(family, Err(e)) => self.handle_receive_error(family, &e),
                Wake::InterfacesChanged(Ok(())) => {
                    self.stats.interface_refreshes += 1;
                    self.refresh_interfaces();
                }
                Wake::InterfacesChanged(Err(_)) => {
                    // The netlink socket failed: keep the interfaces we have.
                    self.watcher = None;
                }
            }
            self.publish_stats();
        };
        self.say_goodbye().await;
        self.goodbyes_sent = true;
        self.publish_stats();
        // Close the command channel before reporting, so other handles see the end at once.
        self.commands.close();
        if let Some(done) = done {
            let _ = done.send(());
        }
    }

    /// Handles the commands already waiting (up to [`COMMAND_BATCH`]) before the engine's
    /// output is flushed. `Some` when the channel closed or a shutdown came: the run ends.
    #[allow(
        clippy::option_option,
        reason = "ends the run loop with its shutdown reply"
    )]
    fn drain_commands(&mut self) -> Option<Option<oneshot::Sender<()>>> {
        for _ in 0..COMMAND_BATCH {
            match self.commands.try_recv() {
                Ok(Command::Shutdown { done }) => return Some(Some(done)),
                Ok(command) => self.handle_command(command),
                Err(mpsc::error::TryRecvError::Empty) => return None,
                Err(mpsc::error::TryRecvError::Disconnected) => return Some(None),
            }
        }
        None
    }

    /// Deregisters everything and runs the engine until its goodbyes are sent.
    async fn say_goodbye(&mut self) {
        let now = self.now();
        for id in self.queries.keys().copied().collect::<Vec<_>>() {
            let _ = self.engine.stop_query(now, id);
        }
        // Goodbyes for every registration and the host records.
        self.engine.shutdown(now);
        self.registrations.clear();
        self.queries.clear();
        self.registration_keys.clear();
        self.query_keys.clear();
        let give_up = Instant::now() + GOODBYE_LIMIT;
        loop {
            self.flush().await;
            if !self.engine.has_pending_output() || Instant::now() >= give_up {
                break;
            }
            let Some(deadline) = self.engine.poll_timeout().map(|t| self.instant_of(t)) else {
                break;
            };
            tokio::time::sleep_until(deadline.min(give_up)).await;
            let now = self.now();
            self.engine.handle_timeout(now);
        }
    }

    /// Engine time for the current instant.
    fn now(&self) -> EngineInstant {
        let nanos = Instant::now()
            .saturating_duration_since(self.epoch)
            .as_nanos();
        EngineInstant::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    fn instant_of(&self, t: EngineInstant) -> Instant {
        self.epoch + Duration::from_nanos(t.as_nanos())
    }

    fn handle_command(&mut self, command: Command) {
        let now = self.now();
        match command {
            Command::Register {
                key,
                spec,
                sink,
                reply,
            } => {
                let result = self.engine.register(now, spec).map(|id| {
                    self.registrations.insert(id, (key, sink));
                    self.registration_keys.insert(key, id);
                });
                let _ = reply.send(result);
            }
            Command::UpdateTxt { key, txt, reply } => {
                let result = match self.registration_keys.get(&key) {
                    Some(id) => self.engine.update_txt(now, *id, &txt),
                    None => Err(CommandError::UnknownId),
                };
                let _ = reply.send(result);
            }
            Command::Deregister { key } => {
                if let Some(id) = self.registration_keys.remove(&key) {
                    self.registrations.remove(&id);
                    let _ = self.engine.deregister(now, id);
                }
            }
            Command::Query {
                key,
                request,
                sink,
                refused,
            } => {
                let started = match request {
                    QueryRequest::Browse {
                        service_type,
                        interface,
                    } => self.engine.browse(now, &service_type, interface),
                    QueryRequest::Resolve {
                        instance,
                        interface,
                    } => parse_name(&instance)
                        .and_then(|name| self.engine.resolve(now, &name, interface)),
                    QueryRequest::Record {
                        name,
                        rtype,
                        interface,
                    } => parse_name(&name)
                        .and_then(|name| self.engine.query(now, &name, rtype, interface)),
                    QueryRequest::Host { host, interface } => {
                        self.engine.lookup_host(now, &host, interface)
                    }
                };
                match started {
                    Ok(id) => {
                        self.queries.insert(id, (key, sink));
                        self.query_keys.insert(key, id);
                    }
                    Err(e) => refused(e),
                }
            }
            Command::StopQuery { key } => {
                if let Some(id) = self.query_keys.remove(&key) {
                    self.queries.remove(&id);
                    let _ = self.engine.stop_query(now, id);
                }
            }
            Command::Reconfirm {
                instance,
                type_name,
                reply,
            } => {
                let result = parse_name(&instance).and_then(|instance| {
                    let type_name = parse_name(&type_name)?;
                    self.engine.reconfirm(
                        now,
                        &Record {
                            name: type_name,
                            class: CLASS_IN,
                            cache_flush: false,
                            ttl: 0,
                            rdata: RData::Ptr(instance.clone()),
                        },
                    );
                    self.engine.reconfirm_name(now, &instance);
                    Ok(())
                });
                let _ = reply.send(result);
            }
            Command::Shutdown { .. } => {}
        }
    }

    fn handle_datagram(&mut self, family: Family, datagram: ReceivedDatagram) {
        self.stats.datagrams_received += 1;
        if datagram.truncated {
            self.stats.oversized_dropped += 1;
            return;
        }
        let buf = match family {
            Family::V4 => &self.buf_v4,
            Family::V6 => &self.buf_v6,
        };
        let Some(payload) = buf.get(..datagram.len) else {
            return;
        };
        let on_link = self.interfaces.iter().any(|s| {
            s.interface.index == datagram.interface_index
                && match family {
                    Family::V4 => s.ipv4,
                    Family::V6 => s.ipv6,
                }
        });
        if !on_link {
            // Another socket on this host joined the group on an interface we do not use.
            self.stats.foreign_interface_dropped += 1;
            return;
        }
        if self.echo.take_echo(
            std::time::Instant::now(),
            family,
            datagram.interface_index,
            payload,
        ) {
            self.stats.own_echoes_dropped += 1;
            return;
        }
        let destination = match datagram.destination {
            DatagramDestination::Multicast => Destination::Multicast(engine_family(family)),
            DatagramDestination::Unicast(addr) => {
                Destination::Unicast(SocketAddr::new(addr, MDNS_PORT))
            }
        };
        let now = self.now();
        self.engine.handle_datagram(
            now,
            InterfaceId(datagram.interface_index),
            datagram.source,
            destination,
            payload,
        );
    }

    /// ICMP errors surface as receive errors on UDP sockets and are harmless; any other error
    /// would repeat on every read, so that socket is given up (its family goes deaf) rather
    /// than spinning.
    fn handle_receive_error(&mut self, family: Family, error: &io::Error) {
        self.stats.receive_errors += 1;
        let transient = matches!(
            error.kind(),
            io::ErrorKind::ConnectionRefused
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::Interrupted
                | io::ErrorKind::WouldBlock
                | io::ErrorKind::HostUnreachable
                | io::ErrorKind::NetworkUnreachable
        );
        if !transient {
            match family {
                Family::V4 => self.v4 = None,
                Family::V6 => self.v6 = None,
            }
        }
    }

    /// Sends everything the engine has queued and routes its events.
    async fn flush(&mut self) {
        let now = self.now();
        while let Some(transmit) = self.engine.poll_transmit(now) {
            self.transmit(transmit).await;
        }
        while let Some(event) = self.engine.poll_event() {
            self.route(event);
        }
    }

    /// Where a transmit goes: the socket of its family, our source address on its
    /// interface, and the destination socket address. `None` if the interface is no longer
    /// in use or the family has no socket.
    fn route_transmit(
        &self,
        transmit: &Transmit,
    ) -> Option<(&MdnsSocket, Option<IpAddr>, SocketAddr)> {
        let selected = self
            .interfaces
            .iter()
            .find(|s| s.interface.index == transmit.iface.0)?;
        let (family, dest) = match transmit.destination {
            Destination::Multicast(EngineFamily::V4) => (
                Family::V4,
                SocketAddr::new(IpAddr::V4(MDNS_GROUP_V4), MDNS_PORT),
            ),
            Destination::Multicast(EngineFamily::V6) => (
                Family::V6,
                SocketAddr::new(IpAddr::V6(MDNS_GROUP_V6), MDNS_PORT),
            ),
            Destination::Unicast(addr) if addr.is_ipv4() => (Family::V4, addr),
            Destination::Unicast(addr) => (Family::V6, addr),
        };
        let (socket, source) = match family {
            Family::V4 => (
                self.v4.as_ref(),
                selected.interface.ipv4_source().map(IpAddr::V4),
            ),
            Family::V6 => (
                self.v6.as_ref(),
                selected.interface.ipv6_link_local().map(IpAddr::V6),
            ),
        };
        Some((socket?, source, dest))
    }

    async fn transmit(&mut self, transmit: Transmit) {
        let Some((socket, source, dest)) = self.route_transmit(&transmit) else {
            self.stats.send_errors += 1;
            return;
        };
        let family = socket.family();
        // Multicast comes back through IP_MULTICAST_LOOP; unicast to one of our own addresses
        // (a QU reply to another stack on this host) comes back too.
        let echoes = dest.ip().is_multicast()
            || self.interfaces.iter().any(|s| {
                s.interface.index == transmit.iface.0
                    && s.interface.addresses.iter().any(|a| a.addr == dest.ip())
            });
        match socket
            .send(&transmit.payload, transmit.iface.0, source, dest)
            .await
        {
            Ok(()) => {
                self.stats.datagrams_sent += 1;
                if echoes {
                    self.echo.record_sent(
                        std::time::Instant::now(),
                        family,
                        transmit.iface.0,
                        &transmit.payload,
                    );
                }
            }
            Err(_) => self.stats.send_errors += 1,
        }
    }

    fn route(&mut self, event: Event) {
        enum Target {
            Registration(RegistrationId),
            Query(QueryId),
            Nobody,
        }
        match &event {
            Event::RegistrationRenamed { name, .. } => {
                tracing::info!(name = %name, "embedded: instance name conflict, probing a new name");
            }
            Event::RegistrationFailed { reason, .. } => {
                tracing::warn!(reason = ?reason, "embedded: registration given up");
            }
            Event::HostRenamed { name } => {
                tracing::warn!(host = %name, "embedded: host name conflict, renamed");
            }
            Event::TxtTooLarge { len, .. } => {
                tracing::warn!(
                    len,
                    "embedded: TXT larger than RFC 6763 recommends (1300 bytes)"
                );
            }
            _ => {}
        }
        let target = match &event {
            Event::RegistrationEstablished { id, .. }
            | Event::RegistrationRenamed { id, .. }
            | Event::RegistrationFailed { id, .. } => Target::Registration(*id),
            Event::BrowseAdded { query, .. }
            | Event::BrowseRemoved { query, .. }
            | Event::Resolved { query, .. }
            | Event::AddressAdded { query, .. }
            | Event::AddressRemoved { query, .. }
            | Event::RecordAdded { query, .. }
            | Event::RecordRemoved { query, .. } => Target::Query(*query),
            _ => Target::Nobody,
        };
        let now = self.now();
        match target {
            Target::Registration(id) => {
                if let Some((_, sink)) = self.registrations.get_mut(&id) {
                    // A registration whose handle is gone was deregistered by its guard;
                    // the sink result does not matter here.
                    let _ = sink(event);
                }
            }
            Target::Query(id) => {
                let listening = match self.queries.get_mut(&id) {
                    Some((_, sink)) => sink(event),
                    None => true,
                };
                if !listening {
                    if let Some((key, _)) = self.queries.remove(&id) {
                        self.query_keys.remove(&key);
                    }
                    let _ = self.engine.stop_query(now, id);
                }
            }
            Target::Nobody => {}
        }
    }

    /// Lists the interfaces again and tells the engine and the sockets what changed.
    fn refresh_interfaces(&mut self) {
        let Ok(list) = list_interfaces() else { return };
        let selected = self.selection.select(&list);
        let change = SelectionChange::between(&self.interfaces, &selected);
        if change.is_empty() {
            return;
        }
        let now = self.now();
        for gone in &change.removed {
            self.engine
                .remove_interface(now, InterfaceId(gone.interface.index));
            self.leave(gone);
        }
        for updated in &change.changed {
            // A family switched off leaves its group; `add_interface` updates the engine's
            // view in place (goodbyes for removed addresses, announcements for new ones).
            if let Some(old) = self
                .interfaces
                .iter()
                .find(|o| o.interface.index == updated.interface.index)
            {
                let dropped = SelectedInterface {
                    ipv4: old.ipv4 && !updated.ipv4,
                    ipv6: old.ipv6 && !updated.ipv6,
                    interface: old.interface.clone(),
                };
                self.leave(&dropped);
            }
        }
        for new in change.added.iter().chain(&change.changed) {
            self.join(new);
            self.engine
                .add_interface(now, InterfaceId(new.interface.index), engine_interface(new));
        }
        self.interfaces = selected;
        self.stats.interfaces = self
            .interfaces
            .iter()
            .map(|s| (s.interface.index, s.interface.name.clone()))
            .collect();
    }

    fn join(&self, iface: &SelectedInterface) {
        // A failed join leaves that family deaf on the interface; the engine still sends.
        if iface.ipv4 {
            if let Some(s) = &self.v4 {
                let _ = s.join_group(iface.interface.index);
            }
        }
        if iface.ipv6 {
            if let Some(s) = &self.v6 {
                let _ = s.join_group(iface.interface.index);
            }
        }
    }

    fn leave(&self, iface: &SelectedInterface) {
        if iface.ipv4 {
            if let Some(s) = &self.v4 {
                let _ = s.leave_group(iface.interface.index);
            }
        }
        if iface.ipv6 {
            if let Some(s) = &self.v6 {
                let _ = s.leave_group(iface.interface.index);
            }
        }
    }

    fn publish_stats(&self) {
        if let Ok(mut shared) = self.shared_stats.lock() {
            shared.clone_from(&self.stats);
        }
    }
}

/// Notices that the machine was suspended: `CLOCK_BOOTTIME` counts suspended time,
/// `CLOCK_MONOTONIC` (tokio's clock) does not. Checked on every wake-up of the driver, so a
/// suspension is noticed at the first datagram, command, timer or interface change after it
/// (resuming usually brings interface changes).
#[derive(Debug)]
struct SleepDetector {
    last: Option<(Duration, std::time::Instant)>,
}

impl SleepDetector {
    /// Suspensions shorter than this are not worth re-probing for.
    const THRESHOLD: Duration = Duration::from_secs(5);

    fn new() -> SleepDetector {
        let mut detector = SleepDetector { last: None };
        detector.slept_since_last_check();
        detector
    }

    fn slept_since_last_check(&mut self) -> bool {
        let Some(boot) = boot_clock() else {
            return false;
        };
        let mono = std::time::Instant::now();
        let slept = self.last.is_some_and(|(last_boot, last_mono)| {
            suspended_for(last_boot, boot, mono.saturating_duration_since(last_mono))
                > Self::THRESHOLD
        });
        self.last = Some((boot, mono));
        slept
    }
}

/// Time since boot including suspension (Linux `CLOCK_BOOTTIME`). `None` on Windows: its
/// `Instant` (`QueryPerformanceCounter`) does not say whether it counts suspension either,
/// so the comparison would mean nothing there; sleep is then only noticed by the engine's
/// own timers.
fn boot_clock() -> Option<Duration> {
    #[cfg(target_os = "linux")]
    {
        nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME)
            .ok()
            .map(Duration::from)
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// This machine's host name as the system reports it (`gethostname`; `COMPUTERNAME` on
/// Windows); empty if unknown.
pub(crate) fn system_host_name() -> String {
    #[cfg(target_os = "linux")]
    {
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default()
    }
    #[cfg(not(target_os = "linux"))]
    {
        std::env::var("COMPUTERNAME").unwrap_or_default()
    }
}

/// Time the boot clock advanced beyond the monotonic clock.
fn suspended_for(last_boot: Duration, boot: Duration, monotonic_elapsed: Duration) -> Duration {
    boot.saturating_sub(last_boot)
        .saturating_sub(monotonic_elapsed)
}

fn parse_name(name: &str) -> Result<Name, CommandError> {
    Name::from_dotted(name).map_err(|_| CommandError::InvalidName(name.to_owned()))
}

fn engine_family(family: Family) -> EngineFamily {
    match family {
        Family::V4 => EngineFamily::V4,
        Family::V6 => EngineFamily::V6,
    }
}

fn engine_interface(selected: &SelectedInterface) -> InterfaceConfig {
    InterfaceConfig {
        name: selected.interface.name.clone(),
        addresses: selected
            .interface
            .addresses
            .iter()
            .filter(|a| {
                if a.addr.is_ipv4() {
                    selected.ipv4
                } else {
                    selected.ipv6
                }
            })
            .map(|a| EngineAddress::new(a.addr, a.prefix_len))
            .collect(),
        v4: selected.ipv4,
        v6: selected.ipv6,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

async fn recv_on(socket: Option<&MdnsSocket>, buf: &mut [u8]) -> io::Result<ReceivedDatagram> {
    match socket {
        Some(socket) => socket.recv(buf).await,
        None => std::future::pending().await,
    }
}

async fn changed(watcher: Option<&mut InterfaceWatcher>) -> io::Result<()> {
    match watcher {
        Some(watcher) => watcher.changed().await,
        None => std::future::pending().await,
    }
}

fn random_seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::process::id())
}

/// This machine's host name as one DNS label: first label of `gethostname`, characters
/// outside `[A-Za-z0-9-]` replaced by `-`, at most 63 bytes; `"dnssd"` if nothing is left.
pub fn local_host_label() -> String {
    clean_host_label(&system_host_name())
}

fn clean_host_label(raw: &str) -> String {
    let first = raw.split('.').next().unwrap_or_default();
    let mut label: String = first
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    label = label.trim_matches('-').to_owned();
    if label.is_empty() {
        "dnssd".to_owned()
    } else {
        label
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suspension_is_the_boot_clock_running_ahead() {
        let s = Duration::from_secs;
        assert_eq!(suspended_for(s(100), s(110), s(10)), s(0));
        assert_eq!(suspended_for(s(100), s(170), s(10)), s(60));
        assert_eq!(
            suspended_for(s(100), s(105), s(10)),
            s(0),
            "no negative sleep"
        );
        let mut detector = SleepDetector::new();
        assert!(
            !detector.slept_since_last_check(),
            "no suspension during a test"
        );
    }

    #[test]
    fn host_labels_are_cleaned() {
        assert_eq!(clean_host_label("my-box.example.org"), "my-box");
        assert_eq!(clean_host_label("Büro PC"), "B-ro-PC");
        assert_eq!(clean_host_label(""), "dnssd");
        assert_eq!(clean_host_label("---"), "dnssd");
        assert_eq!(clean_host_label(&"x".repeat(100)).len(), 63);
    }
}
