//! `browse(..).resolved()`: browse -> resolve -> address lookup, combined into complete
//! endpoints ([`Endpoints`]). Backend-independent: it only uses the public operations.
//!
//! The stream is its own combiner: polling it polls the browse, one resolve per instance and
//! one address lookup per host (shared by every instance on that host, so 200 services on one
//! machine cost 200 resolves and one lookup). No task is spawned; dropping the stream drops
//! every operation it started.
//!
//! What the caller sees is the difference between what it was last told and what is true now:
//! an instance is `Up` once it is resolved and its host has an address (never half-resolved),
//! `Changed` when any of that changes, `Down` (with the last endpoint) when it goes away or
//! stops matching a TXT filter. A first `Up` whose host has addresses of one family only
//! waits [`UP_SETTLE`] for the other family (A and AAAA answers often arrive a moment apart),
//! so a program that connects on `Up` does not pick an IPv6 link-local address when an IPv4
//! one is on its way.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use tokio::time::{Instant, Sleep};

use std::sync::Arc;

use crate::api::own::OwnRegistrations;
use crate::backend::Backend;
use crate::backend::operation::EventStream;
use crate::types::error::{Error, Result};
use crate::types::event::{
    BrowseEvent, Endpoint, EndpointEvent, HostAddress, HostAddressEvent, Instance, Resolved,
};
use crate::types::service::Interface;
use crate::types::txt::TxtRecord;

/// How long a first `Up` with addresses of one IP family waits for the other family.
pub const UP_SETTLE: Duration = Duration::from_millis(30);

/// A host lookup is shared per (lower-cased host name, interface).
type HostKey = (String, Interface);

/// One instance the browse reported.
#[derive(Default)]
struct TrackedInstance {
    resolved: Option<Resolved>,
    host: Option<HostKey>,
    /// The endpoint the caller was last told about (`None`: not `Up`).
    reported: Option<Endpoint>,
    /// A first `Up` with one address family is held until then.
    hold_until: Option<Instant>,
}

/// One host whose addresses are followed for the instances on it.
struct TrackedHost {
    addresses: Vec<HostAddress>,
    users: HashSet<Instance>,
}

/// A TXT condition of [`Endpoints::with_txt`]: the key is present, with this value if given.
#[derive(Debug, Clone)]
struct TxtCondition {
    key: String,
    value: Option<Vec<u8>>,
}

impl TxtCondition {
    fn holds(&self, txt: &TxtRecord) -> bool {
        match (&self.value, txt.get(&self.key)) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(wanted), Some(value)) => value.as_bytes() == Some(wanted.as_slice()),
        }
    }
}

/// Streams keyed by `K`, polled together.
struct StreamSet<K, S> {
    streams: HashMap<K, S>,
}

impl<K: Eq + Hash + Clone, S: Stream + Unpin> StreamSet<K, S> {
    fn new() -> Self {
        StreamSet {
            streams: HashMap::new(),
        }
    }

    fn insert(&mut self, key: K, stream: S) {
        self.streams.insert(key, stream);
    }

    fn remove(&mut self, key: &K) {
        self.streams.remove(key);
    }

    /// Every item that is ready now, with its key; streams that ended are dropped.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Vec<(K, S::Item)> {
        let mut ready = Vec::new();
        let mut ended = Vec::new();
        for (key, stream) in &mut self.streams {
            loop {
                match Pin::new(&mut *stream).poll_next(cx) {
                    Poll::Ready(Some(item)) => ready.push((key.clone(), item)),
                    Poll::Ready(None) => {
                        ended.push(key.clone());
                        break;
                    }
                    Poll::Pending => break,
                }
            }
        }
        for key in ended {
            self.streams.remove(&key);
        }
        ready
    }
}

/// Ready-to-connect endpoints of a browse (see [`Browse::resolved`](crate::Browse::resolved)):
/// an instance appears as [`EndpointEvent::Up`] once it is resolved and has at least one
/// address, never half-resolved; [`EndpointEvent::Changed`] when its host, port, addresses or
/// TXT change; [`EndpointEvent::Down`] with the last endpoint when it goes away.
///
/// Addresses are ordered by what is most likely to connect: routable IPv4, routable IPv6
/// (global and unique-local), IPv4 link-local, IPv6 link-local (with its scope id).
///
/// ```no_run
/// # async fn demo(sd: dnssd::ServiceDiscovery) -> dnssd::Result<()> {
/// use std::time::Duration;
/// use dnssd::ServiceType;
/// let printers = ServiceType::new("_ipp._tcp")?;
/// // Everything of this type that answers within two seconds, with all its addresses:
/// let all = sd.browse(&printers)?.resolved().collect_for(Duration::from_secs(2)).await?;
/// // The first color printer, or Error::Timeout:
/// let color = sd
///     .browse(&printers)?
///     .resolved()
///     .with_txt("Color", Some("T"))
///     .first_matching(|_| true, Duration::from_secs(5))
///     .await?;
/// # Ok(())
/// # }
/// ```
#[must_use = "streams do nothing unless polled; dropping one cancels the operation"]
pub struct Endpoints {
    backend: Arc<dyn Backend>,
    own: Arc<OwnRegistrations>,
    /// `None` once the browse ended.
    browse: Option<EventStream<BrowseEvent>>,
    instances: HashMap<Instance, TrackedInstance>,
    resolves: StreamSet<Instance, EventStream<Resolved>>,
    hosts: HashMap<HostKey, TrackedHost>,
    lookups: StreamSet<HostKey, EventStream<HostAddressEvent>>,
    /// Held first `Up`s, by the time they are due.
    held: BTreeMap<Instant, Vec<Instance>>,
    timer: Option<Pin<Box<Sleep>>>,
    filter: Vec<TxtCondition>,
    ready: VecDeque<Result<EndpointEvent>>,
}

impl std::fmt::Debug for Endpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoints")
            .field("instances", &self.instances.len())
            .field("hosts", &self.hosts.len())
            .finish_non_exhaustive()
    }
}

impl Endpoints {
    pub(crate) fn new(
        backend: Arc<dyn Backend>,
        own: Arc<OwnRegistrations>,
        browse: EventStream<BrowseEvent>,
    ) -> Self {
        Endpoints {
            backend,
            own,
            browse: Some(browse),
            instances: HashMap::new(),
            resolves: StreamSet::new(),
            hosts: HashMap::new(),
            lookups: StreamSet::new(),
            held: BTreeMap::new(),
            timer: None,
            filter: Vec::new(),
            ready: VecDeque::new(),
        }
    }

    /// Report only endpoints whose TXT record has `key` (case-insensitive), with exactly this
    /// value when `value` is given. An endpoint whose TXT stops matching is reported `Down`,
    /// one that starts matching `Up`. Several calls must all hold.
    pub fn with_txt(mut self, key: &str, value: Option<&str>) -> Self {
        self.filter.push(TxtCondition {
            key: key.to_owned(),
            value: value.map(|v| v.as_bytes().to_vec()),
        });
        self
    }

    /// The next event; `None` once the browse ended.
    pub async fn next_event(&mut self) -> Option<Result<EndpointEvent>> {
        std::future::poll_fn(|cx| self.poll_event(cx)).await
    }

    /// Every endpoint present after watching for `duration`: the settled table, each with all
    /// the addresses that arrived meanwhile (not just those of its first `Up`). Errors of the
    /// browse itself (the daemon went away) end it early with that error.
    pub async fn collect_for(mut self, duration: Duration) -> Result<Vec<Endpoint>> {
        let deadline = Instant::now() + duration;
        let mut table: BTreeMap<String, Endpoint> = BTreeMap::new();
        loop {
            match tokio::time::timeout_at(deadline, self.next_event()).await {
                Err(_) | Ok(None) => break,
                // Dropped events while this loop was busy: keep collecting (what comes later
                // still updates the table).
                Ok(Some(Err(Error::Lagged { .. }))) => {}
                Ok(Some(Err(e))) => return Err(e),
                Ok(Some(Ok(EndpointEvent::Up(e) | EndpointEvent::Changed(e)))) => {
                    table.insert(key_of(&e.instance), e);
                }
                Ok(Some(Ok(EndpointEvent::Down(e)))) => {
                    table.remove(&key_of(&e.instance));
                }
            }
        }
        Ok(table.into_values().collect())
    }

    /// The first endpoint for which `predicate` holds (on `Up` or `Changed`), or
    /// [`Error::Timeout`] when none does within `timeout`.
    pub async fn first_matching(
        &mut self,
        mut predicate: impl FnMut(&Endpoint) -> bool,
        timeout: Duration,
    ) -> Result<Endpoint> {
        let deadline = Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.next_event()).await {
                Err(_elapsed) => return Err(Error::Timeout),
                Ok(None) => return Err(Error::DaemonNotRunning),
                Ok(Some(Err(Error::Lagged { .. }))) => {}
                Ok(Some(Err(e))) => return Err(e),
                Ok(Some(Ok(EndpointEvent::Up(e) | EndpointEvent::Changed(e)))) if predicate(&e) => {
                    return Ok(e);
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<EndpointEvent>>> {
        if let Some(event) = self.ready.pop_front() {
            return Poll::Ready(Some(event));
        }
        self.poll_browse(cx);
        for (instance, item) in self.resolves.poll_ready(cx) {
            // Errors (the daemon went away) reach the caller through the browse.
            if let Ok(resolved) = item {
                self.on_resolved(&instance, resolved);
            }
        }
        for (key, item) in self.lookups.poll_ready(cx) {
            if let Ok(event) = item {
                self.on_address(&key, event);
            }
        }
        self.poll_timer(cx);
        match self.ready.pop_front() {
            Some(event) => Poll::Ready(Some(event)),
            None if self.browse.is_none() => Poll::Ready(None),
            None => Poll::Pending,
        }
    }

    fn poll_browse(&mut self, cx: &mut Context<'_>) {
        while let Some(browse) = &mut self.browse {
            match browse.poll_next_event(cx) {
                Poll::Pending => return,
                Poll::Ready(None) => self.browse = None,
                Poll::Ready(Some(Err(e))) => self.ready.push_back(Err(e)),
                Poll::Ready(Some(Ok(BrowseEvent::Added(instance)))) => self.on_added(instance),
                Poll::Ready(Some(Ok(BrowseEvent::Removed(instance)))) => {
                    self.on_removed(&instance);
                }
            }
        }
    }

    fn poll_timer(&mut self, cx: &mut Context<'_>) {
        loop {
            let Some((&due, _)) = self.held.first_key_value() else {
                self.timer = None;
                return;
            };
            let timer = self
                .timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
            if timer.deadline() != due {
                timer.as_mut().reset(due);
            }
            if timer.as_mut().poll(cx).is_pending() {
                return;
            }
            let due_instances = self.held.pop_first().map(|(_, v)| v).unwrap_or_default();
            for instance in due_instances {
                if let Some(tracked) = self.instances.get_mut(&instance) {
                    tracked.hold_until = Some(due);
                }
                self.refresh(&instance, due);
            }
        }
    }

    fn on_added(&mut self, instance: Instance) {
        if let Some(old) = self.instances.remove(&instance) {
            if let Some(key) = old.host {
                self.detach(&instance, &key);
            }
        }
        match self.backend.resolve(&instance) {
            Ok(events) => {
                self.resolves.insert(instance.clone(), events);
                self.instances.insert(instance, TrackedInstance::default());
            }
            Err(e) => self.ready.push_back(Err(e)),
        }
    }

    fn on_removed(&mut self, instance: &Instance) {
        self.resolves.remove(instance);
        let Some(tracked) = self.instances.remove(instance) else {
            return;
        };
        if let Some(key) = &tracked.host {
            self.detach(instance, key);
        }
        if let Some(last) = tracked.reported {
            self.ready.push_back(Ok(EndpointEvent::Down(last)));
        }
    }

    fn on_resolved(&mut self, instance: &Instance, resolved: Resolved) {
        let key = (
            resolved.host_target.to_ascii_lowercase(),
            resolved.interface,
        );
        let Some(tracked) = self.instances.get_mut(instance) else {
            return;
        };
        let old_key = tracked.host.replace(key.clone());
        tracked.resolved = Some(resolved);
        if old_key.as_ref() != Some(&key) {
            if let Some(old_key) = old_key {
                self.detach(instance, &old_key);
            }
            if !self.hosts.contains_key(&key) {
                match self.backend.lookup_host(&key.0, key.1) {
                    Ok(events) => self.lookups.insert(key.clone(), events),
                    Err(e) => self.ready.push_back(Err(e)),
                }
            }
            self.hosts
                .entry(key)
                .or_insert_with(|| TrackedHost {
                    addresses: Vec::new(),
                    users: HashSet::new(),
                })
                .users
                .insert(instance.clone());
        }
        self.refresh(instance, Instant::now());
    }

    fn on_address(&mut self, key: &HostKey, event: HostAddressEvent) {
        let Some(host) = self.hosts.get_mut(key) else {
            return;
        };
        match event {
            HostAddressEvent::Added(a) => {
                if !host.addresses.contains(&a) {
                    host.addresses.push(a);
                }
            }
            HostAddressEvent::Removed(a) => host.addresses.retain(|x| *x != a),
        }
        let users: Vec<Instance> = host.users.iter().cloned().collect();
        let now = Instant::now();
        for instance in users {
            self.refresh(&instance, now);
        }
    }

    fn detach(&mut self, instance: &Instance, key: &HostKey) {
        if let Some(host) = self.hosts.get_mut(key) {
            host.users.remove(instance);
            if host.users.is_empty() {
                self.hosts.remove(key);
                self.lookups.remove(key);
            }
        }
    }

    /// Queue the event (if any) that the instance's current state calls for.
    fn refresh(&mut self, instance: &Instance, now: Instant) {
        let Some(tracked) = self.instances.get_mut(instance) else {
            return;
        };
        let Some(resolved) = tracked.resolved.as_ref() else {
            return;
        };
        let Some(addresses) = tracked
            .host
            .as_ref()
            .and_then(|key| self.hosts.get(key))
            .map(|host| &host.addresses)
        else {
            return;
        };
        if addresses.is_empty() {
            // Never report a half-resolved endpoint; keep the last complete one.
            return;
        }
        let own = self.own.contains(&OwnRegistrations::key(
            &instance.name,
            &instance.service_type,
            &instance.domain,
        ));
        let endpoint = endpoint(resolved, addresses, own);
        let matches = self.filter.iter().all(|c| c.holds(&endpoint.txt));
        match (&tracked.reported, matches) {
            (None, false) => {}
            (None, true) => {
                let one_family = !has_both_families(&endpoint.addresses);
                match tracked.hold_until {
                    None if one_family => {
                        let due = now + UP_SETTLE;
                        tracked.hold_until = Some(due);
                        self.held.entry(due).or_default().push(instance.clone());
                    }
                    Some(due) if one_family && now < due => {}
                    _ => {
                        tracked.reported = Some(endpoint.clone());
                        self.ready.push_back(Ok(EndpointEvent::Up(endpoint)));
                    }
                }
            }
            (Some(_), false) => {
                if let Some(last) = tracked.reported.take() {
                    tracked.hold_until = None;
                    self.ready.push_back(Ok(EndpointEvent::Down(last)));
                }
            }
            (Some(previous), true) => {
                if *previous != endpoint {
                    tracked.reported = Some(endpoint.clone());
                    self.ready.push_back(Ok(EndpointEvent::Changed(endpoint)));
                }
            }
        }
    }
}

impl Stream for Endpoints {
    type Item = Result<EndpointEvent>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_event(cx)
    }
}

/// A stable key of an instance for tables (name compared case-insensitively, as DNS does).
fn key_of(instance: &Instance) -> String {
    format!(
        "{}\u{0}{}\u{0}{}\u{0}{}",
        instance.full_name().to_ascii_lowercase(),
        instance.service_type,
        instance.domain.as_str(),
        instance.interface.index()
    )
}

fn has_both_families(addresses: &[SocketAddr]) -> bool {
    addresses.iter().any(SocketAddr::is_ipv4) && addresses.iter().any(SocketAddr::is_ipv6)
}

/// Where an address ranks in "most likely to connect": routable IPv4, routable IPv6, IPv4
/// link-local, IPv6 link-local.
fn connect_rank(addr: &SocketAddr) -> u8 {
    match addr.ip() {
        IpAddr::V4(v4) if !v4.is_link_local() => 0,
        IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) != 0xfe80 => 1,
        IpAddr::V4(_) => 2,
        IpAddr::V6(_) => 3,
    }
}

/// A complete endpoint; addresses ordered by [`connect_rank`] (then by value, so equal states
/// compare equal).
fn endpoint(resolved: &Resolved, addresses: &[HostAddress], own: bool) -> Endpoint {
    let mut socket_addrs: Vec<SocketAddr> = addresses
        .iter()
        .map(|a| a.socket_addr(resolved.port))
        .collect();
    socket_addrs.sort_by_key(|a| (connect_rank(a), *a));
    socket_addrs.dedup();
    Endpoint::new(resolved, socket_addrs, own)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn addresses_are_ordered_by_what_connects_first() {
        let mut addrs = vec![
            addr("[fe80::1%2]:80"),
            addr("169.254.3.4:80"),
            addr("[2001:db8::1]:80"),
            addr("[fd00::5]:80"),
            addr("10.0.0.7:80"),
        ];
        addrs.sort_by_key(|a| (connect_rank(a), *a));
        assert_eq!(
            addrs,
            vec![
                addr("10.0.0.7:80"),
                addr("[2001:db8::1]:80"),
                addr("[fd00::5]:80"),
                addr("169.254.3.4:80"),
                addr("[fe80::1%2]:80"),
            ]
        );
    }

    #[test]
    fn txt_conditions_match_presence_and_value() {
        let mut txt = TxtRecord::new();
        txt.insert("Color", "T").unwrap_or_else(|e| panic!("{e}"));
        txt.insert_flag("duplex").unwrap_or_else(|e| panic!("{e}"));
        let has = |key: &str, value: Option<&str>| {
            TxtCondition {
                key: key.to_owned(),
                value: value.map(|v| v.as_bytes().to_vec()),
            }
            .holds(&txt)
        };
        assert!(has("color", None));
        assert!(has("Color", Some("T")));
        assert!(!has("Color", Some("F")));
        assert!(has("duplex", None));
        assert!(!has("duplex", Some("T")));
        assert!(!has("staple", None));
    }
}
