//! The tasks behind each operation: create the daemon's objects, turn their signals into the
//! same replies the `dns_sd` path decodes (so both paths report identical events), and
//! re-create everything when the daemon comes back.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OnceCell, mpsc, oneshot, watch};

use super::bus::{Bus, Presence, Signal, Subscription, server_state};
use crate::backend::dns_sd::{Reply, ReplySink, alternative_name};
use crate::backend::operation::EventSender;
use crate::types::error::{Error, Result};
use crate::types::event::RegistrationEvent;
use crate::types::name::InstanceName;

/// Avahi's "any interface" / "any protocol".
pub(crate) const UNSPEC: i32 = -1;
/// `AVAHI_LOOKUP_NO_ADDRESS`: a service resolver that does not look up the host's address
/// (the public `resolve` reports host, port and TXT; addresses are a host lookup).
const LOOKUP_NO_ADDRESS: u32 = 8;
/// First wait before retrying when the bus itself cannot be reached; doubles up to the max.
const BACKOFF_FIRST: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// A resolver that failed (Avahi gives up after 5 s without an answer) is re-created after
/// this long: `resolve` waits until an answer arrives.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);
/// Most renames of one registration before its conflict is reported.
const MAX_RENAMES: u32 = 32;

const ENTRY_GROUP: &str = "org.freedesktop.Avahi.EntryGroup";
const SERVICE_BROWSER: &str = "org.freedesktop.Avahi.ServiceBrowser";
const SERVICE_RESOLVER: &str = "org.freedesktop.Avahi.ServiceResolver";
const RECORD_BROWSER: &str = "org.freedesktop.Avahi.RecordBrowser";
const SERVICE_TYPE_BROWSER: &str = "org.freedesktop.Avahi.ServiceTypeBrowser";

/// Entry group states (`AvahiEntryGroupState`).
mod group_state {
    pub(super) const ESTABLISHED: i32 = 2;
    pub(super) const COLLISION: i32 = 3;
    pub(super) const FAILURE: i32 = 4;
}

/// What every operation of one backend shares: the lazily opened connection, the
/// reconnection choice, and the tracker of live operations.
#[derive(Debug)]
pub(crate) struct Shared {
    bus: OnceCell<Arc<Bus>>,
    pub(crate) reconnect: bool,
    pub(crate) tracker: Tracker,
}

impl Shared {
    pub(crate) fn new(reconnect: bool) -> Arc<Shared> {
        Arc::new(Shared {
            bus: OnceCell::new(),
            reconnect,
            tracker: Tracker::new(),
        })
    }

    /// The connection, opened on first use (a failure is retried on the next use).
    pub(crate) async fn bus(&self) -> Result<Arc<Bus>> {
        self.bus.get_or_try_init(Bus::connect).await.cloned()
    }
}

/// Live operations and the shutdown switch.
#[derive(Debug)]
pub(crate) struct Tracker {
    cancel: watch::Sender<bool>,
    live: watch::Sender<usize>,
}

impl Tracker {
    fn new() -> Tracker {
        Tracker {
            cancel: watch::channel(false).0,
            live: watch::channel(0).0,
        }
    }

    /// Count a new operation; it ends when cancelled.
    pub(crate) fn enlist(&self) -> Ctl {
        self.live.send_modify(|n| *n += 1);
        Ctl {
            cancel: self.cancel.subscribe(),
            live: self.live.clone(),
        }
    }

    /// End every operation, now and later.
    pub(crate) fn cancel_all(&self) {
        self.cancel.send_replace(true);
    }

    /// Wait until no operation is live.
    pub(crate) async fn idle(&self) {
        let mut live = self.live.subscribe();
        drop(live.wait_for(|n| *n == 0).await);
    }
}

/// One operation's share of the [`Tracker`].
pub(crate) struct Ctl {
    cancel: watch::Receiver<bool>,
    live: watch::Sender<usize>,
}

impl Ctl {
    async fn cancelled(&mut self) {
        if self.cancel.wait_for(|c| *c).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for Ctl {
    fn drop(&mut self) {
        self.live.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Error reporting and pacing across one outage: the error is reported once; then wait for
/// the daemon to own its name again (or, when the bus itself failed, back off).
struct Outage {
    delay: Duration,
    reported: bool,
    reconnect: bool,
}

impl Outage {
    fn new(reconnect: bool) -> Self {
        Outage {
            delay: BACKOFF_FIRST,
            reported: false,
            reconnect,
        }
    }

    fn recovered(&mut self) {
        self.delay = BACKOFF_FIRST;
        self.reported = false;
    }

    /// Report `e` once per outage and wait before the next attempt. False when the operation
    /// ends: the error is fatal, reconnection is off, or the consumer went away.
    async fn failed<T>(
        &mut self,
        e: Error,
        tx: &EventSender<T>,
        ctl: &mut Ctl,
        presence: Option<&mut watch::Receiver<Presence>>,
    ) -> bool {
        if !(self.reconnect && e.is_daemon_gone()) {
            drop(tx.send(Err(e)));
            return false;
        }
        if !self.reported {
            if tx.send(Err(e)).is_err() {
                return false;
            }
            self.reported = true;
        }
        match presence {
            Some(presence) => tokio::select! {
                r = presence.wait_for(|p| p.present) => r.is_ok(),
                () = tx.closed() => false,
                () = ctl.cancelled() => false,
            },
            None => {
                let wait = self.delay;
                self.delay = (self.delay * 2).min(BACKOFF_MAX);
                tokio::select! {
                    () = tokio::time::sleep(wait) => true,
                    () = tx.closed() => false,
                    () = ctl.cancelled() => false,
                }
            }
        }
    }
}

/// Avahi interface index from an OS index (0 = any).
pub(crate) fn avahi_interface(index: u32) -> i32 {
    if index == 0 {
        UNSPEC
    } else {
        i32::try_from(index).unwrap_or(UNSPEC)
    }
}

/// OS interface index from Avahi's (negative = unspecified = 0).
fn os_interface(index: i32) -> u32 {
    u32::try_from(index).unwrap_or(0)
}

/// A daemon object an operation creates.
#[derive(Debug, Clone)]
pub(crate) enum ObjectSpec {
    /// `ServiceBrowserNew` (the type may be a `_sub` subtype name).
    ServiceBrowser {
        interface: i32,
        service_type: String,
        domain: String,
    },
    /// `ServiceResolverNew` without address lookup.
    ServiceResolver {
        interface: i32,
        name: String,
        service_type: String,
        domain: String,
    },
    /// `RecordBrowserNew` (class IN).
    RecordBrowser {
        interface: i32,
        name: String,
        rtype: u16,
    },
    /// `ServiceTypeBrowserNew`.
    ServiceTypeBrowser { interface: i32, domain: String },
}

impl ObjectSpec {
    fn interface_name(&self) -> &'static str {
        match self {
            ObjectSpec::ServiceBrowser { .. } => SERVICE_BROWSER,
            ObjectSpec::ServiceResolver { .. } => SERVICE_RESOLVER,
            ObjectSpec::RecordBrowser { .. } => RECORD_BROWSER,
            ObjectSpec::ServiceTypeBrowser { .. } => SERVICE_TYPE_BROWSER,
        }
    }

    async fn create(
        &self,
        bus: &Bus,
        tx: &mpsc::UnboundedSender<Signal>,
    ) -> Result<(String, Subscription)> {
        match self {
            ObjectSpec::ServiceBrowser {
                interface,
                service_type,
                domain,
            } => {
                let body = (
                    *interface,
                    UNSPEC,
                    service_type.as_str(),
                    domain.as_str(),
                    0u32,
                );
                bus.create("ServiceBrowserNew", &body, tx).await
            }
            ObjectSpec::ServiceResolver {
                interface,
                name,
                service_type,
                domain,
            } => {
                let body = (
                    *interface,
                    UNSPEC,
                    name.as_str(),
                    service_type.as_str(),
                    domain.as_str(),
                    UNSPEC,
                    LOOKUP_NO_ADDRESS,
                );
                bus.create("ServiceResolverNew", &body, tx).await
            }
            ObjectSpec::RecordBrowser {
                interface,
                name,
                rtype,
            } => {
                let body = (*interface, UNSPEC, name.as_str(), 1u16, *rtype, 0u32);
                bus.create("RecordBrowserNew", &body, tx).await
            }
            ObjectSpec::ServiceTypeBrowser { interface, domain } => {
                let body = (*interface, UNSPEC, domain.as_str(), 0u32);
                bus.create("ServiceTypeBrowserNew", &body, tx).await
            }
        }
    }
}

/// What one signal of a browser or resolver means.
#[derive(Debug, PartialEq)]
pub(crate) enum Translated {
    /// A reply in the `dns_sd` path's terms.
    Reply(Reply),
    /// The object gave up (`Failure`): re-create it.
    Failure,
    /// Nothing to report (`AllForNow`, `CacheExhausted`, undecodable).
    Nothing,
}

/// TXT strings as Avahi passes them (`aay`) -> TXT rdata.
pub(crate) fn txt_wire(strings: &[Vec<u8>]) -> Vec<u8> {
    let mut wire = Vec::new();
    for s in strings {
        let len = s.len().min(255);
        wire.push(u8::try_from(len).unwrap_or(u8::MAX));
        wire.extend(s.iter().take(len));
    }
    wire
}

/// TXT rdata -> the strings Avahi takes (`aay`).
pub(crate) fn txt_strings(wire: &[u8]) -> Vec<Vec<u8>> {
    let mut strings = Vec::new();
    let mut rest = wire;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        let (s, tail) = tail.split_at(len);
        if !s.is_empty() {
            strings.push(s.to_vec());
        }
        rest = tail;
    }
    strings
}

/// The wire name `_http._tcp.local` as PTR rdata of `_services._dns-sd._udp.local`, the
/// form the service-type sink reads.
fn ptr_rdata(service_type: &str, domain: &str) -> Vec<u8> {
    let mut wire = Vec::new();
    for label in service_type
        .split('.')
        .chain(domain.split('.'))
        .filter(|l| !l.is_empty())
    {
        let len = label.len().min(63);
        wire.push(u8::try_from(len).unwrap_or(63));
        wire.extend(label.bytes().take(len));
    }
    wire.push(0);
    wire
}

/// A signal of one of our browsers or resolvers in `dns_sd` terms.
pub(crate) fn translate(signal: &Signal) -> Translated {
    let header = signal.header();
    let (Some(interface), Some(member)) = (header.interface(), header.member()) else {
        return Translated::Nothing;
    };
    let body = signal.body();
    let member = member.as_str();
    if member == "Failure" {
        return Translated::Failure;
    }
    let add = member == "ItemNew";
    if !add && member != "ItemRemove" && member != "Found" {
        return Translated::Nothing;
    }
    let reply = match interface.as_str() {
        SERVICE_BROWSER => body
            .deserialize::<(i32, i32, String, String, String, u32)>()
            .ok()
            .map(|(interface, _, name, regtype, domain, _)| Reply::Browse {
                add,
                interface: os_interface(interface),
                name,
                regtype,
                domain,
            }),
        SERVICE_RESOLVER => body
            .deserialize::<(
                i32,
                i32,
                String,
                String,
                String,
                String,
                i32,
                String,
                u16,
                Vec<Vec<u8>>,
                u32,
            )>()
            .ok()
            .map(
                |(interface, _, _, _, _, host, _, _, port, txt, _)| Reply::Resolve {
                    interface: os_interface(interface),
                    host_target: if host.ends_with('.') {
                        host
                    } else {
                        format!("{host}.")
                    },
                    port,
                    txt: txt_wire(&txt),
                },
            ),
        RECORD_BROWSER => body
            .deserialize::<(i32, i32, String, u16, u16, Vec<u8>, u32)>()
            .ok()
            .map(
                |(interface, _, name, rrclass, rrtype, rdata, _)| Reply::Record {
                    add,
                    interface: os_interface(interface),
                    name,
                    rrtype,
                    rrclass,
                    rdata,
                    ttl: 0,
                },
            ),
        SERVICE_TYPE_BROWSER => body
            .deserialize::<(i32, i32, String, String, u32)>()
            .ok()
            .map(|(interface, _, service_type, domain, _)| Reply::Record {
                add,
                interface: os_interface(interface),
                name: format!("_services._dns-sd._udp.{domain}"),
                rrtype: 12,
                rrclass: 1,
                rdata: ptr_rdata(&service_type, &domain),
                ttl: 0,
            }),
        _ => None,
    };
    reply.map_or(Translated::Nothing, Translated::Reply)
}

/// Objects of one operation, freed when the operation lets go of them.
struct Objects {
    bus: Arc<Bus>,
    paths: Vec<(String, &'static str, Subscription)>,
}

impl Objects {
    async fn create(
        bus: &Arc<Bus>,
        specs: &[ObjectSpec],
        tx: &mpsc::UnboundedSender<Signal>,
    ) -> Result<Objects> {
        let mut objects = Objects {
            bus: Arc::clone(bus),
            paths: Vec::new(),
        };
        for spec in specs {
            match spec.create(bus, tx).await {
                Ok((path, subscription)) => {
                    objects
                        .paths
                        .push((path, spec.interface_name(), subscription));
                }
                Err(e) => {
                    objects.free();
                    return Err(e);
                }
            }
        }
        Ok(objects)
    }

    /// Free every object in the background (the caller may be gone by then).
    fn free(self) {
        let Objects { bus, paths } = self;
        if paths.is_empty() {
            return;
        }
        drop(tokio::spawn(async move {
            for (path, interface, subscription) in paths {
                drop(subscription);
                bus.free(&path, interface).await;
            }
        }));
    }
}

enum Outcome {
    /// The consumer dropped the stream or the backend shut down.
    Closed,
    /// The daemon went away (or restarted).
    Lost,
    /// An object failed: re-create after a pause.
    Retry,
}

/// Run a stream operation over `specs` until its consumer drops it (or a fatal error).
pub(crate) async fn run_stream<S: ReplySink>(
    shared: Arc<Shared>,
    specs: Vec<ObjectSpec>,
    mut sink: S,
    tx: EventSender<S::Event>,
    mut ctl: Ctl,
) {
    let mut outage = Outage::new(shared.reconnect);
    loop {
        let bus = tokio::select! {
            r = shared.bus() => r,
            () = tx.closed() => return,
            () = ctl.cancelled() => return,
        };
        let bus = match bus {
            Ok(bus) => bus,
            Err(e) => {
                if !outage.failed(e, &tx, &mut ctl, None).await {
                    return;
                }
                continue;
            }
        };
        let mut presence = bus.presence();
        let seen = *presence.borrow_and_update();
        if !seen.present {
            let e = Error::DaemonNotRunning;
            if !outage.failed(e, &tx, &mut ctl, Some(&mut presence)).await {
                return;
            }
            continue;
        }
        let (signal_tx, mut signals) = mpsc::unbounded_channel();
        let created = tokio::select! {
            r = Objects::create(&bus, &specs, &signal_tx) => r,
            () = tx.closed() => return,
            () = ctl.cancelled() => return,
        };
        let objects = match created {
            Ok(objects) => objects,
            Err(e) => {
                if !outage.failed(e, &tx, &mut ctl, Some(&mut presence)).await {
                    return;
                }
                continue;
            }
        };
        outage.recovered();
        let outcome = loop {
            tokio::select! {
                signal = signals.recv() => {
                    let Some(signal) = signal else { break Outcome::Lost };
                    match translate(&signal) {
                        Translated::Reply(reply) => sink.reply(reply, &tx),
                        Translated::Failure => break Outcome::Retry,
                        Translated::Nothing => {}
                    }
                }
                changed = presence.changed() => {
                    let now = *presence.borrow_and_update();
                    if changed.is_err() || !now.present || now.generation != seen.generation {
                        break Outcome::Lost;
                    }
                }
                () = tx.closed() => break Outcome::Closed,
                () = ctl.cancelled() => break Outcome::Closed,
            }
        };
        match outcome {
            Outcome::Closed => {
                objects.free();
                return;
            }
            Outcome::Retry => {
                objects.free();
                tokio::select! {
                    () = tokio::time::sleep(RETRY_AFTER_FAILURE) => {}
                    () = tx.closed() => return,
                    () = ctl.cancelled() => return,
                }
            }
            Outcome::Lost => {
                // The daemon freed them with its state; only the routes go.
                drop(objects.paths);
                sink.lost(&tx);
                let e = Error::DaemonNotRunning;
                if !outage.failed(e, &tx, &mut ctl, Some(&mut presence)).await {
                    return;
                }
            }
        }
    }
}

/// What a registration publishes; kept to re-publish it.
#[derive(Debug, Clone)]
pub(crate) struct RegistrationSpec {
    pub(crate) interface: i32,
    /// `None`: the daemon's host name, asked at the first publication.
    pub(crate) name: Option<String>,
    pub(crate) service_type: String,
    /// Full subtype names, `_printer._sub._http._tcp`.
    pub(crate) subtypes: Vec<String>,
    pub(crate) domain: String,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) txt: Vec<Vec<u8>>,
}

/// A request from the `Registration` handle to its task.
pub(crate) enum RegistrationCommand {
    /// Replace the TXT record; the result goes back on the sender.
    UpdateTxt(Vec<Vec<u8>>, oneshot::Sender<Result<()>>),
}

/// An entry group of ours.
struct Group {
    bus: Arc<Bus>,
    path: String,
    _subscription: Subscription,
}

impl Group {
    async fn call<B>(&self, method: &str, body: &B) -> Result<()>
    where
        B: zbus::export::serde::ser::Serialize + zbus::zvariant::DynamicType,
    {
        self.bus
            .call(&self.path, ENTRY_GROUP, method, body)
            .await
            .map(drop)
    }

    /// Add the service and its subtypes under `name`, then commit. `NameConflict` when the
    /// name is taken on this daemon already (the group is left empty).
    async fn publish(&self, spec: &RegistrationSpec, name: &str) -> Result<()> {
        let service = (
            spec.interface,
            UNSPEC,
            0u32,
            name,
            spec.service_type.as_str(),
            spec.domain.as_str(),
            spec.host.as_str(),
            spec.port,
            spec.txt.clone(),
        );
        self.call("AddService", &service).await?;
        for subtype in &spec.subtypes {
            let body = (
                spec.interface,
                UNSPEC,
                0u32,
                name,
                spec.service_type.as_str(),
                spec.domain.as_str(),
                subtype.as_str(),
            );
            if let Err(e) = self.call("AddServiceSubtype", &body).await {
                drop(self.call("Reset", &()).await);
                return Err(e);
            }
        }
        self.call("Commit", &()).await
    }

    async fn update_txt(&self, spec: &RegistrationSpec, name: &str) -> Result<()> {
        let body = (
            spec.interface,
            UNSPEC,
            0u32,
            name,
            spec.service_type.as_str(),
            spec.domain.as_str(),
            spec.txt.clone(),
        );
        self.call("UpdateServiceTxt", &body).await
    }

    fn free(self) {
        drop(tokio::spawn(async move {
            self.bus.free(&self.path, ENTRY_GROUP).await;
        }));
    }
}

/// Publish under `name`, renaming on local conflicts (`CollisionError` from `AddService`: the
/// name is taken by another group on this daemon) the way Avahi does: `Name #2`, `Name #3`...
async fn publish_renaming(
    group: &Group,
    spec: &RegistrationSpec,
    name: &mut String,
    renames: &mut u32,
) -> Result<()> {
    loop {
        match group.publish(spec, name).await {
            Err(Error::NameConflict) if *renames < MAX_RENAMES => {
                *renames += 1;
                *name = next_name(&group.bus, name).await;
            }
            other => return other,
        }
    }
}

/// The daemon's alternative for `name` (`Name #2`), or the same rule computed here.
async fn next_name(bus: &Bus, name: &str) -> String {
    match bus
        .server_call::<_, String>("GetAlternativeServiceName", &(name,))
        .await
    {
        Ok(next) if !next.is_empty() && next != name => next,
        _ => alternative_name(name),
    }
}

/// Run one registration: confirm (or fail) through `confirm`, then serve TXT updates, report
/// renames and daemon loss on `events`, and re-publish when the daemon comes back or its host
/// name changed. Ends when the command sender is dropped.
pub(crate) async fn run_registration(
    shared: Arc<Shared>,
    mut spec: RegistrationSpec,
    confirm: oneshot::Sender<Result<String>>,
    mut commands: mpsc::UnboundedReceiver<RegistrationCommand>,
    events: EventSender<RegistrationEvent>,
    mut ctl: Ctl,
) {
    let mut confirm = Some(confirm);
    let mut outage = Outage::new(shared.reconnect);
    let mut renames = 0;
    // A fatal error before the first confirmation goes to `register()`.
    macro_rules! fail_or_wait {
        ($e:expr, $presence:expr) => {{
            let e = $e;
            if let Some(confirm) = confirm.take() {
                drop(confirm.send(Err(e)));
                return;
            }
            let wait = outage.failed(e, &events, &mut ctl, $presence);
            if !serve_while(wait, &mut commands, &mut spec).await {
                return;
            }
            continue;
        }};
    }
    loop {
        let bus = tokio::select! {
            r = shared.bus() => r,
            () = events.closed() => return,
        };
        let bus = match bus {
            Ok(bus) => bus,
            Err(e) => fail_or_wait!(e, None),
        };
        let mut presence = bus.presence();
        let seen = *presence.borrow_and_update();
        if !seen.present {
            fail_or_wait!(Error::DaemonNotRunning, Some(&mut presence));
        }
        let mut server = bus.server_state();
        server.borrow_and_update();
        let mut name = match &spec.name {
            Some(name) => name.clone(),
            None => match bus.server_call::<_, String>("GetHostName", &()).await {
                Ok(host) => host,
                Err(e) => fail_or_wait!(e, Some(&mut presence)),
            },
        };
        let (signal_tx, mut signals) = mpsc::unbounded_channel();
        let group = match bus.create("EntryGroupNew", &(), &signal_tx).await {
            Ok((path, subscription)) => Group {
                bus: Arc::clone(&bus),
                path,
                _subscription: subscription,
            },
            Err(e) => fail_or_wait!(e, Some(&mut presence)),
        };
        if let Err(e) = publish_renaming(&group, &spec, &mut name, &mut renames).await {
            group.free();
            fail_or_wait!(e, Some(&mut presence));
        }
        // Whether the records are committed (false while the host name is re-established).
        let mut committed = true;
        let mut established = false;
        let e: Error = loop {
            tokio::select! {
                signal = signals.recv() => {
                    let Some(signal) = signal else { break Error::DaemonNotRunning };
                    let Ok((state, error)) = signal.body().deserialize::<(i32, String)>() else {
                        continue;
                    };
                    match state {
                        group_state::ESTABLISHED => {
                            outage.recovered();
                            let changed = spec.name.as_deref() != Some(name.as_str());
                            spec.name = Some(name.clone());
                            if let Some(confirm) = confirm.take() {
                                drop(confirm.send(Ok(name.clone())));
                            } else if changed || !established {
                                if let Ok(name) = InstanceName::new(&name) {
                                    drop(events.send(Ok(RegistrationEvent::Registered(name))));
                                }
                            }
                            established = true;
                        }
                        group_state::COLLISION => {
                            // Someone on the network has the name: take the next one.
                            if renames >= MAX_RENAMES {
                                break Error::NameConflict;
                            }
                            renames += 1;
                            let previous = std::mem::take(&mut name);
                            name = next_name(&bus, &previous).await;
                            tracing::info!(from = %previous, to = %name, "avahi: name conflict on the network, renaming");
                            drop(group.call("Reset", &()).await);
                            if let Err(e) =
                                publish_renaming(&group, &spec, &mut name, &mut renames).await
                            {
                                break e;
                            }
                        }
                        group_state::FAILURE => {
                            break Error::Io(std::io::Error::other(format!(
                                "avahi-daemon could not publish the service: {error}"
                            )));
                        }
                        _ => {}
                    }
                }
                command = commands.recv() => match command {
                    None => {
                        group.free();
                        return;
                    }
                    Some(RegistrationCommand::UpdateTxt(txt, done)) => {
                        spec.txt = txt;
                        let result = if committed {
                            group.update_txt(&spec, &name).await
                        } else {
                            Ok(())
                        };
                        drop(done.send(result));
                    }
                },
                changed = server.changed() => {
                    if changed.is_err() {
                        continue;
                    }
                    let state = *server.borrow_and_update();
                    // The host name changes: withdraw and publish again once it is
                    // established, as avahi-client's users do.
                    if matches!(state, server_state::REGISTERING | server_state::COLLISION)
                        && committed
                    {
                        drop(group.call("Reset", &()).await);
                        committed = false;
                    } else if state == server_state::RUNNING && !committed {
                        if let Err(e) =
                            publish_renaming(&group, &spec, &mut name, &mut renames).await
                        {
                            break e;
                        }
                        committed = true;
                    }
                }
                changed = presence.changed() => {
                    let now = *presence.borrow_and_update();
                    if changed.is_err() || !now.present || now.generation != seen.generation {
                        break Error::DaemonNotRunning;
                    }
                }
                () = ctl.cancelled() => {
                    group.free();
                    return;
                }
            }
        };
        if e.is_daemon_gone() {
            // Freed by the daemon with the rest of its state.
            drop(group);
        } else {
            group.free();
        }
        fail_or_wait!(e, Some(&mut presence));
    }
}

/// Await `wait` while still answering the handle: a TXT update made while the daemon is away
/// is kept and published when the registration is re-created. False when it should end.
async fn serve_while(
    wait: impl std::future::Future<Output = bool>,
    commands: &mut mpsc::UnboundedReceiver<RegistrationCommand>,
    spec: &mut RegistrationSpec,
) -> bool {
    tokio::pin!(wait);
    loop {
        tokio::select! {
            go_on = &mut wait => return go_on,
            command = commands.recv() => match command {
                None => return false,
                Some(RegistrationCommand::UpdateTxt(txt, done)) => {
                    spec.txt = txt;
                    drop(done.send(Ok(())));
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txt_round_trips_between_rdata_and_avahi_strings() {
        let wire = b"\x03a=1\x01b\x00".to_vec();
        let strings = txt_strings(&wire);
        assert_eq!(strings, vec![b"a=1".to_vec(), b"b".to_vec()]);
        assert_eq!(txt_wire(&strings), b"\x03a=1\x01b");
        assert!(
            txt_strings(b"\x09ab").len() == 1,
            "a short last string is kept"
        );
    }

    #[test]
    fn service_types_become_ptr_rdata() {
        assert_eq!(
            ptr_rdata("_http._tcp", "local"),
            b"\x05_http\x04_tcp\x05local\x00"
        );
        let t = crate::backend::dns_sd::service_type_from_ptr(&ptr_rdata("_ipp._tcp", "local"));
        assert_eq!(t.map(|t| t.to_string()).as_deref(), Some("_ipp._tcp"));
    }

    #[test]
    fn interfaces_map_both_ways() {
        assert_eq!(avahi_interface(0), UNSPEC);
        assert_eq!(avahi_interface(3), 3);
        assert_eq!(os_interface(-1), 0);
        assert_eq!(os_interface(7), 7);
    }
}
