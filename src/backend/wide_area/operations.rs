//! [`WideAreaBackend`]: the backend operations over unicast DNS. Queries poll within the
//! records' TTLs and report differences in the same event shapes as mDNS; registrations are
//! UPDATEs kept alive by a task per registration.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dnssd_engine::wire::{Name, RData, Record as WireRecord};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, sleep_until};

use super::client::{Answer, Client};
use super::message::{TYPE_ANY, Update, UpdateRecord};
use super::transport::local_address_towards;
use super::{BrowseDomains, WideAreaConfig};
use crate::backend::operation::{EventSender, event_channel};
use crate::backend::operation::{EventStream, OperationGuard, RegistrationGuard};
use crate::backend::{BoxFuture, RegistrationControl};
use crate::types::error::{Error, Result};
use crate::types::event::{
    BrowseEvent, HostAddress, HostAddressEvent, Instance, Record, RecordEvent, RegistrationEvent,
    Resolved, ServiceTypeEvent,
};
use crate::types::name::{Domain, InstanceName, ServiceType, full_name, parse_full_name};
use crate::types::service::{Interface, RecordType, Service};
use crate::types::txt::TxtRecord;

const TYPE_A: u16 = 1;
const TYPE_PTR: u16 = 12;
const TYPE_TXT: u16 = 16;
const TYPE_AAAA: u16 = 28;
const TYPE_SRV: u16 = 33;

/// Renames tried after the first name (`Name (2)` ... `Name (21)`).
const MAX_RENAMES: u32 = 20;

fn dns_name(text: &str) -> Result<Name> {
    Name::from_dotted(text).map_err(|_| Error::InvalidFullName {
        input: text.to_owned(),
        reason: "not a valid DNS name",
    })
}

/// `Name` -> `Name (n)`, shortened to fit a label.
fn renamed(base: &str, n: u32) -> String {
    let suffix = format!(" ({n})");
    let mut stem: String = base.to_owned();
    while stem.len() + suffix.len() > 63 {
        stem.pop();
    }
    stem + &suffix
}

/// Address records (type, rdata) of a host.
type AddressRecords = Vec<(u16, Vec<u8>)>;

/// What a registration publishes.
#[derive(Debug, Clone)]
struct Plan {
    zone: Name,
    instance: Name,
    ptrs: Vec<(Name, Vec<u8>)>,
    services_ptr: (Name, Vec<u8>),
    srv: Vec<u8>,
    txt: Vec<u8>,
    host: Option<(Name, AddressRecords)>,
    ttl: u32,
}

impl Plan {
    fn adds(&self) -> Vec<UpdateRecord> {
        let mut out = vec![
            UpdateRecord::add(&self.instance, TYPE_SRV, self.ttl, self.srv.clone()),
            UpdateRecord::add(&self.instance, TYPE_TXT, self.ttl, self.txt.clone()),
        ];
        for (owner, rdata) in &self.ptrs {
            out.push(UpdateRecord::add(owner, TYPE_PTR, self.ttl, rdata.clone()));
        }
        out.push(UpdateRecord::add(
            &self.services_ptr.0,
            TYPE_PTR,
            self.ttl,
            self.services_ptr.1.clone(),
        ));
        if let Some((host, addresses)) = &self.host {
            for (rtype, rdata) in addresses {
                out.push(UpdateRecord::add(host, *rtype, self.ttl, rdata.clone()));
            }
        }
        out
    }

    /// Everything this registration added, except the `_services` pointer (other instances of
    /// the type may need it) and, unless `with_host`, the host's addresses.
    fn deletes(&self, with_host: bool) -> Vec<UpdateRecord> {
        let mut out = vec![UpdateRecord::delete_rrset(&self.instance, TYPE_ANY)];
        for (owner, rdata) in &self.ptrs {
            out.push(UpdateRecord::delete_one(owner, TYPE_PTR, rdata.clone()));
        }
        if let (true, Some((host, addresses))) = (with_host, &self.host) {
            for (rtype, rdata) in addresses {
                out.push(UpdateRecord::delete_one(host, *rtype, rdata.clone()));
            }
        }
        out
    }
}

fn name_rdata(name: &Name) -> Vec<u8> {
    let mut out = Vec::new();
    super::message::put_name(&mut out, name, false);
    out
}

/// Commands to a registration's task.
enum Command {
    UpdateTxt(Vec<u8>, oneshot::Sender<Result<()>>),
    /// Delete the records now and say when the server has answered.
    Unregister(oneshot::Sender<()>),
}

/// The control half of a wide-area registration: dropping it deletes the records.
struct WideRegistration {
    commands: mpsc::UnboundedSender<Command>,
}

impl RegistrationControl for WideRegistration {
    fn update_txt<'a>(&'a self, txt: &'a TxtRecord) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            self.commands
                .send(Command::UpdateTxt(txt.to_wire(), reply))
                .map_err(|_| Error::BadReference)?;
            answer.await.map_err(|_| Error::BadReference)?
        })
    }

    fn unregister(self: Box<Self>) -> BoxFuture<'static, ()> {
        let (done, finished) = oneshot::channel();
        let sent = self.commands.send(Command::Unregister(done)).is_ok();
        Box::pin(async move {
            if sent {
                let _ = finished.await;
            }
        })
    }
}

/// The wide-area backend: one client, a shutdown signal, and a count of live tasks.
#[derive(Debug)]
pub(crate) struct WideAreaBackend {
    client: Arc<Client>,
    shutdown: watch::Sender<bool>,
    /// Held (cloned) by every task; `shutdown` waits until every clone is gone.
    alive: Mutex<Option<mpsc::Sender<()>>>,
    finished: tokio::sync::Mutex<mpsc::Receiver<()>>,
    /// Registrations per host name whose addresses this backend published.
    hosts: Arc<Mutex<HashMap<String, usize>>>,
    default_instance_name: String,
}

/// A task's handles: shutdown signal and liveness token.
struct TaskContext {
    client: Arc<Client>,
    shutdown: watch::Receiver<bool>,
    _alive: mpsc::Sender<()>,
}

impl TaskContext {
    /// Sleeps until `deadline`; false when the operation should end instead (shutdown, or
    /// `closed` resolved).
    async fn wait(&mut self, deadline: Instant, closed: impl Future<Output = ()>) -> bool {
        tokio::select! {
            () = sleep_until(deadline) => true,
            () = closed => false,
            () = stopped(&mut self.shutdown) => false,
        }
    }
}

impl WideAreaBackend {
    pub(crate) fn new(config: WideAreaConfig, default_instance_name: String) -> WideAreaBackend {
        let (alive, finished) = mpsc::channel(1);
        WideAreaBackend {
            client: Arc::new(Client::new(config)),
            shutdown: watch::channel(false).0,
            alive: Mutex::new(Some(alive)),
            finished: tokio::sync::Mutex::new(finished),
            hosts: Arc::new(Mutex::new(HashMap::new())),
            default_instance_name,
        }
    }

    fn task(&self) -> Result<TaskContext> {
        let alive = self
            .alive
            .lock()
            .map_err(|_| Error::BadState)?
            .clone()
            .ok_or(Error::BadState)?;
        Ok(TaskContext {
            client: Arc::clone(&self.client),
            shutdown: self.shutdown.subscribe(),
            _alive: alive,
        })
    }

    /// Ends every operation; registrations delete their records first. Returns once all
    /// tasks are done (each bounded by the client's timeouts).
    pub(crate) async fn shutdown(&self) {
        let _ = self.shutdown.send(true);
        if let Ok(mut alive) = self.alive.lock() {
            alive.take();
        }
        let mut finished = self.finished.lock().await;
        while finished.recv().await.is_some() {}
    }

    /// The polling interval for records with `ttl`: half of it, within the configured bounds.
    fn refresh(config: &WideAreaConfig, ttl: Duration) -> Duration {
        (ttl / 2).clamp(config.min_poll, config.max_poll)
    }

    /// Spawns a task that polls `name`/`qtype` and sends what `diff` makes of each answer.
    /// Errors are reported once per run of failures; polling goes on (every `max_poll`).
    fn poll<T, F>(&self, name: Name, qtype: u16, mut diff: F) -> Result<EventStream<T>>
    where
        T: Send + 'static,
        F: FnMut(&Answer) -> Vec<T> + Send + 'static,
    {
        let task = self.task()?;
        let (tx, rx) = event_channel();
        let stream_tx = tx.clone();
        tokio::spawn(async move {
            // The whole context moves in (its liveness token with it), not just the fields used.
            let mut task = task;
            let mut failing = false;
            loop {
                let next = match task.client.query(&name, qtype).await {
                    Ok(answer) => {
                        failing = false;
                        for event in diff(&answer) {
                            if tx.send(Ok(event)).is_err() {
                                return;
                            }
                        }
                        Self::refresh(&task.client.config, answer.ttl)
                    }
                    Err(e) => {
                        if !failing && tx.send(Err(e)).is_err() {
                            return;
                        }
                        failing = true;
                        task.client.config.min_poll.max(Duration::from_secs(1))
                    }
                };
                if !task.wait(Instant::now() + next, tx.closed()).await {
                    return;
                }
            }
        });
        drop(stream_tx);
        Ok(EventStream::new(rx, OperationGuard::none()))
    }

    pub(crate) fn browse(
        &self,
        service_type: &ServiceType,
        domain: &Domain,
    ) -> Result<EventStream<BrowseEvent>> {
        let owner = match service_type.subtype_names().first() {
            Some(sub) => format!("{sub}.{domain}"),
            None => format!("{}.{domain}", service_type.without_subtypes()),
        };
        let owner = dns_name(&owner)?;
        let mut seen: HashSet<Instance> = HashSet::new();
        self.poll(owner, TYPE_PTR, move |answer| {
            let now: HashSet<Instance> = answer
                .records
                .iter()
                .filter_map(|r| match &r.rdata {
                    RData::Ptr(target) => parse_full_name(&target.to_string()).ok(),
                    _ => None,
                })
                .map(|(name, service_type, domain)| Instance {
                    name,
                    service_type,
                    domain,
                    interface: Interface::Any,
                })
                .collect();
            let mut events: Vec<BrowseEvent> = seen
                .difference(&now)
                .cloned()
                .map(BrowseEvent::Removed)
                .collect();
            events.extend(now.difference(&seen).cloned().map(BrowseEvent::Added));
            seen = now;
            events
        })
    }

    pub(crate) fn browse_types(&self, domain: &Domain) -> Result<EventStream<ServiceTypeEvent>> {
        let owner = dns_name(&format!("_services._dns-sd._udp.{domain}"))?;
        let mut seen: HashSet<ServiceType> = HashSet::new();
        self.poll(owner, TYPE_PTR, move |answer| {
            let now: HashSet<ServiceType> = answer
                .records
                .iter()
                .filter_map(|r| match &r.rdata {
                    RData::Ptr(target) => {
                        let mut labels = target.labels();
                        let service = std::str::from_utf8(labels.next()?).ok()?;
                        let proto = std::str::from_utf8(labels.next()?).ok()?;
                        ServiceType::new(&format!("{service}.{proto}")).ok()
                    }
                    _ => None,
                })
                .collect();
            let mut events: Vec<ServiceTypeEvent> = seen
                .difference(&now)
                .cloned()
                .map(ServiceTypeEvent::Removed)
                .collect();
            events.extend(now.difference(&seen).cloned().map(ServiceTypeEvent::Added));
            seen = now;
            events
        })
    }

    pub(crate) fn query_record(&self, name: &str, rtype: u16) -> Result<EventStream<RecordEvent>> {
        let owner = dns_name(name)?;
        let mut seen: Vec<Record> = Vec::new();
        self.poll(owner, rtype, move |answer| {
            let now: Vec<Record> = answer.records.iter().map(api_record).collect();
            let same = |a: &Record, b: &Record| a.rtype == b.rtype && a.rdata == b.rdata;
            let mut events: Vec<RecordEvent> = seen
                .iter()
                .filter(|old| !now.iter().any(|n| same(n, old)))
                .cloned()
                .map(RecordEvent::Removed)
                .collect();
            events.extend(
                now.iter()
                    .filter(|n| !seen.iter().any(|old| same(n, old)))
                    .cloned()
                    .map(RecordEvent::Added),
            );
            seen = now;
            events
        })
    }

    pub(crate) fn lookup_host(&self, host: &str) -> Result<EventStream<HostAddressEvent>> {
        let owner = dns_name(host)?;
        let (tx, rx) = event_channel();
        for rtype in [TYPE_A, TYPE_AAAA] {
            let mut seen: HashSet<HostAddress> = HashSet::new();
            let stream = self.poll(owner.clone(), rtype, move |answer| {
                let now: HashSet<HostAddress> = answer
                    .records
                    .iter()
                    .filter_map(|r| match r.rdata {
                        RData::A(v4) => Some(IpAddr::V4(v4)),
                        RData::Aaaa(v6) => Some(IpAddr::V6(v6)),
                        _ => None,
                    })
                    .map(|addr| HostAddress {
                        addr,
                        scope_id: 0,
                        interface: Interface::Any,
                    })
                    .collect();
                let mut events: Vec<HostAddressEvent> = seen
                    .difference(&now)
                    .copied()
                    .map(HostAddressEvent::Removed)
                    .collect();
                events.extend(now.difference(&seen).copied().map(HostAddressEvent::Added));
                seen = now;
                events
            })?;
            forward(stream, tx.clone());
        }
        Ok(EventStream::new(rx, OperationGuard::none()))
    }

    pub(crate) fn resolve(&self, instance: &Instance) -> Result<EventStream<Resolved>> {
        let owner = dns_name(&instance.full_name())?;
        let task = self.task()?;
        let (tx, rx) = event_channel();
        let instance = instance.clone();
        tokio::spawn(async move {
            // The whole context moves in (its liveness token with it), not just the fields used.
            let mut task = task;
            let mut last: Option<Resolved> = None;
            let mut failing = false;
            loop {
                let srv = task.client.query(&owner, TYPE_SRV).await;
                let txt = match &srv {
                    Ok(_) => task.client.query(&owner, TYPE_TXT).await,
                    Err(_) => Err(Error::Timeout),
                };
                let next = match (srv, txt) {
                    (Ok(srv), Ok(txt)) => {
                        failing = false;
                        let found = srv.records.iter().find_map(|r| match &r.rdata {
                            RData::Srv { port, target, .. } => Some((*port, target.to_string())),
                            _ => None,
                        });
                        if let Some((port, host_target)) = found {
                            let txt_record = txt
                                .records
                                .iter()
                                .find_map(|r| match &r.rdata {
                                    RData::Txt(data) => Some(TxtRecord::from_wire_lossy(data)),
                                    _ => None,
                                })
                                .unwrap_or_default();
                            let resolved = Resolved {
                                instance: instance.clone(),
                                host_target,
                                port,
                                txt: txt_record,
                                interface: Interface::Any,
                            };
                            if last.as_ref() != Some(&resolved) {
                                if tx.send(Ok(resolved.clone())).is_err() {
                                    return;
                                }
                                last = Some(resolved);
                            }
                        }
                        Self::refresh(&task.client.config, srv.ttl.min(txt.ttl))
                    }
                    (Err(e), _) | (_, Err(e)) => {
                        if !failing && tx.send(Err(e)).is_err() {
                            return;
                        }
                        failing = true;
                        task.client.config.min_poll.max(Duration::from_secs(1))
                    }
                };
                if !task.wait(Instant::now() + next, tx.closed()).await {
                    return;
                }
            }
        });
        Ok(EventStream::new(rx, OperationGuard::none()))
    }

    /// RFC 6763 s11 domain enumeration below each base domain: the configured browse domains,
    /// the resolver's search domains and the reverse-mapping (/24) of this host's address
    /// towards its DNS server.
    pub(crate) async fn domains(&self) -> Result<BrowseDomains> {
        let client = &self.client;
        let mut bases: Vec<String> = client
            .config
            .domains
            .iter()
            .map(|d| d.as_str().to_owned())
            .collect();
        bases.extend(client.resolv.search.iter().cloned());
        for server in client.servers() {
            if let Some(IpAddr::V4(v4)) = local_address_towards(server) {
                let [a, b, c, _] = v4.octets();
                bases.push(format!("0.{c}.{b}.{a}.in-addr.arpa."));
            }
        }
        let mut unique = Vec::new();
        for base in bases {
            if !unique
                .iter()
                .any(|b: &String| b.eq_ignore_ascii_case(&base))
            {
                unique.push(base);
            }
        }
        let mut out = BrowseDomains::default();
        let mut last_error = None;
        for base in &unique {
            for (label, list) in [
                ("b", &mut out.browse),
                ("db", &mut out.default_browse),
                ("lb", &mut out.legacy_browse),
                ("r", &mut out.registration),
                ("dr", &mut out.default_registration),
            ] {
                let owner = dns_name(&format!("{label}._dns-sd._udp.{base}"))?;
                match client.query(&owner, TYPE_PTR).await {
                    Ok(answer) => {
                        for record in &answer.records {
                            if let RData::Ptr(target) = &record.rdata {
                                if let Ok(domain) = Domain::new(&target.to_string()) {
                                    if !list.contains(&domain) {
                                        list.push(domain);
                                    }
                                }
                            }
                        }
                    }
                    Err(e) => last_error = Some(e),
                }
            }
        }
        match last_error {
            Some(e) if out.is_empty() => Err(e),
            _ => Ok(out),
        }
    }

    pub(crate) async fn register(
        &self,
        service: &Service,
    ) -> Result<(InstanceName, RegistrationGuard)> {
        let client = &self.client;
        let config = &client.config;
        if config.tsig_key.is_none() && !config.allow_unsigned_updates {
            return Err(Error::NoKey);
        }
        let domain = service.domain().cloned().unwrap_or_default();
        let service_type = service.service_type();
        let base = match service.name() {
            Some(name) => name.as_str().to_owned(),
            None => self.default_instance_name.clone(),
        };
        let zone = client.zone_of(&dns_name(domain.as_str())?).await?;
        let (host, host_records) = match service.host().map(|h| h.as_str()) {
            Some(h) if h.ends_with('.') => (dns_name(h)?, None),
            Some(h) if h.contains('.') => (dns_name(&format!("{h}."))?, None),
            Some(h) => (dns_name(&format!("{h}.{domain}"))?, None),
            None => {
                let host = dns_name(&format!("{}.{domain}", self.default_instance_name))?;
                let records = if config.publish_host_address {
                    let server = client.update_server()?;
                    local_address_towards(server).map(|ip| match ip {
                        IpAddr::V4(v4) => vec![(TYPE_A, v4.octets().to_vec())],
                        IpAddr::V6(v6) => vec![(TYPE_AAAA, v6.octets().to_vec())],
                    })
                } else {
                    None
                };
                (host, records)
            }
        };
        let mut srv = Vec::new();
        srv.extend_from_slice(&0u16.to_be_bytes());
        srv.extend_from_slice(&0u16.to_be_bytes());
        srv.extend_from_slice(&service.port().to_be_bytes());
        super::message::put_name(&mut srv, &host, false);
        let bare_type = service_type.without_subtypes();
        let type_owner = dns_name(&format!("{bare_type}.{domain}"))?;
        let lease = u32::try_from(config.lease.as_secs()).unwrap_or(u32::MAX);

        let mut plan = None;
        for attempt in 1..=MAX_RENAMES + 1 {
            let label = if attempt == 1 {
                base.clone()
            } else {
                renamed(&base, attempt)
            };
            let name = InstanceName::new(label)?;
            let instance = dns_name(&full_name(&name, &bare_type, &domain))?;
            let mut ptrs = vec![(type_owner.clone(), name_rdata(&instance))];
            for sub in service_type.subtype_names() {
                ptrs.push((dns_name(&format!("{sub}.{domain}"))?, name_rdata(&instance)));
            }
            let candidate = Plan {
                zone: zone.clone(),
                instance: instance.clone(),
                ptrs,
                services_ptr: (
                    dns_name(&format!("_services._dns-sd._udp.{domain}"))?,
                    name_rdata(&type_owner),
                ),
                srv: srv.clone(),
                txt: service.txt().to_wire(),
                host: host_records.clone().map(|r| (host.clone(), r)),
                ttl: config.ttl,
            };
            let fresh = Update {
                zone: zone.clone(),
                prerequisites: vec![UpdateRecord::name_not_in_use(&instance)],
                updates: candidate.adds(),
                lease: Some(lease),
            };
            match client.update(&fresh).await {
                Ok(()) => {
                    plan = Some((name, candidate));
                    break;
                }
                Err(Error::NameConflict) => {
                    // Our own records left by a crash (or an answer lost on the way back):
                    // the same SRV (target and port) reclaims the name.
                    let mut updates = vec![UpdateRecord::delete_rrset(&instance, TYPE_TXT)];
                    updates.extend(candidate.adds());
                    let reclaim = Update {
                        zone: zone.clone(),
                        prerequisites: vec![UpdateRecord::exists_with_value(
                            &instance,
                            TYPE_SRV,
                            candidate.srv.clone(),
                        )],
                        updates,
                        lease: Some(lease),
                    };
                    match client.update(&reclaim).await {
                        Ok(()) => {
                            plan = Some((name, candidate));
                            break;
                        }
                        Err(Error::DnsServer { rcode: 8 }) => continue,
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        let (name, plan) = plan.ok_or(Error::NameConflict)?;
        tracing::info!(
            name = %name,
            zone = %plan.zone,
            "wide-area registration published by DNS UPDATE"
        );
        let host_key = plan
            .host
            .as_ref()
            .map(|(h, _)| h.to_string().to_ascii_lowercase());
        if let (Some(key), Ok(mut hosts)) = (&host_key, self.hosts.lock()) {
            *hosts.entry(key.clone()).or_insert(0) += 1;
        }

        let (commands, mut command_rx) = mpsc::unbounded_channel::<Command>();
        let (events_tx, events_rx) = event_channel::<RegistrationEvent>();
        let task = self.task()?;
        let hosts = Arc::clone(&self.hosts);
        tokio::spawn(async move {
            // The whole context moves in (its liveness token with it), not just the fields used.
            let mut task = task;
            let mut plan = plan;
            let refresh_every =
                (Duration::from_secs(u64::from(lease)) * 4 / 5).max(Duration::from_secs(1));
            let mut refresh_at = Instant::now() + refresh_every;
            let mut unregistered: Option<oneshot::Sender<()>> = None;
            loop {
                tokio::select! {
                    command = command_rx.recv() => match command {
                        None => break,
                        Some(Command::Unregister(done)) => {
                            unregistered = Some(done);
                            break;
                        }
                        Some(Command::UpdateTxt(txt, reply)) => {
                            let update = Update {
                                zone: plan.zone.clone(),
                                prerequisites: Vec::new(),
                                updates: vec![
                                    UpdateRecord::delete_rrset(&plan.instance, TYPE_TXT),
                                    UpdateRecord::add(&plan.instance, TYPE_TXT, plan.ttl, txt.clone()),
                                ],
                                lease: Some(lease),
                            };
                            let result = task.client.update(&update).await;
                            if result.is_ok() {
                                plan.txt = txt;
                            }
                            let _ = reply.send(result);
                        }
                    },
                    () = sleep_until(refresh_at) => {
                        let update = Update {
                            zone: plan.zone.clone(),
                            prerequisites: Vec::new(),
                            updates: plan.adds(),
                            lease: Some(lease),
                        };
                        refresh_at = match task.client.update(&update).await {
                            Ok(()) => Instant::now() + refresh_every,
                            Err(e) => {
                                let _ = events_tx.send(Err(e));
                                Instant::now() + refresh_every.min(Duration::from_secs(30))
                            }
                        };
                    }
                    () = stopped(&mut task.shutdown) => break,
                }
            }
            // Withdraw. The host's addresses go with the last registration using them.
            let with_host = match (&host_key, hosts.lock()) {
                (Some(key), Ok(mut hosts)) => {
                    let count = hosts.entry(key.clone()).or_insert(1);
                    *count = count.saturating_sub(1);
                    *count == 0
                }
                _ => false,
            };
            let delete = Update {
                zone: plan.zone.clone(),
                prerequisites: Vec::new(),
                updates: plan.deletes(with_host),
                lease: None,
            };
            let _ = task.client.update(&delete).await;
            if let Some(done) = unregistered {
                let _ = done.send(());
            }
        });
        let guard = RegistrationGuard {
            control: Box::new(WideRegistration { commands }),
            events: EventStream::new(events_rx, OperationGuard::none()),
        };
        Ok((name, guard))
    }

    /// `local` (the local backend's browse in `local.`) merged with a browse of the same type
    /// in every enumerated browse domain. Enumeration runs in the background; its failure
    /// leaves the local browse alone.
    pub(crate) fn browse_enumerated(
        self: &Arc<Self>,
        service_type: &ServiceType,
        local: EventStream<BrowseEvent>,
    ) -> Result<EventStream<BrowseEvent>> {
        let (tx, rx) = event_channel();
        forward(local, tx.clone());
        let backend = Arc::clone(self);
        let service_type = service_type.clone();
        let task = self.task()?;
        tokio::spawn(async move {
            // The whole context moves in (its liveness token with it), not just the fields used.
            let mut task = task;
            let domains = tokio::select! {
                domains = backend.domains() => domains,
                () = tx.closed() => return,
                () = stopped(&mut task.shutdown) => return,
            };
            let Ok(domains) = domains else { return };
            for domain in domains.all_browse() {
                if domain.is_local() {
                    continue;
                }
                match backend.browse(&service_type, &domain) {
                    Ok(stream) => forward(stream, tx.clone()),
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            }
        });
        Ok(EventStream::new(rx, OperationGuard::none()))
    }
}

/// Resolves when the backend shuts down (never, if the backend was dropped without a
/// shutdown: operations outlive the handle that started them).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    if shutdown.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Moves `stream`'s events into `tx` until either side ends.
fn forward<T: Send + 'static>(mut stream: EventStream<T>, tx: EventSender<T>) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                event = stream.next_event() => match event {
                    Some(event) => {
                        if tx.send(event).is_err() {
                            return;
                        }
                    }
                    None => return,
                },
                () = tx.closed() => return,
            }
        }
    });
}

/// This machine's name (first label of the host name), the default instance and host name.
pub(crate) fn machine_name() -> String {
    #[cfg(unix)]
    let host = {
        let mut buffer = [0u8; 256];
        // SAFETY: `buffer` is valid for writes of its full length, which is what we pass;
        // gethostname writes at most that many bytes and does not keep the pointer.
        let rc = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
        let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
        if rc == 0 {
            String::from_utf8_lossy(buffer.get(..end).unwrap_or_default()).into_owned()
        } else {
            String::new()
        }
    };
    // Windows: the NetBIOS computer name, as the embedded backend uses.
    #[cfg(not(unix))]
    let host = std::env::var("COMPUTERNAME").unwrap_or_default();
    let first: String = host
        .split('.')
        .next()
        .unwrap_or_default()
        .chars()
        .take(63)
        .collect();
    if first.is_empty() {
        "dnssd".to_owned()
    } else {
        first
    }
}

/// The API's record for a wire record.
fn api_record(r: &WireRecord) -> Record {
    Record {
        name: r.name.to_string(),
        rtype: RecordType(r.rtype().0),
        class: r.class,
        rdata: r.rdata_wire(),
        ttl: r.ttl,
        interface: Interface::Any,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_fit_a_label() {
        assert_eq!(renamed("Web", 2), "Web (2)");
        let long = "x".repeat(63);
        let r = renamed(&long, 12);
        assert!(r.len() <= 63 && r.ends_with(" (12)"), "{r}");
    }
}
