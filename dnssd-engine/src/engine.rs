//! The [`Engine`]: validates input, dispatches to the responder, querier and cache, and hands
//! out datagrams, events and deadlines (quinn-proto style; see the crate docs).

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::LinkId;
use crate::api::{
    CommandError, Destination, Event, MDNS_PORT, QueryId, RegistrationId, ServiceSpec, Stats,
    Transmit,
};
use crate::cache::Cache;
use crate::config::{Config, Family, InterfaceConfig, InterfaceId};
use crate::packet;
use crate::querier::{Querier, QueryKind};
use crate::responder::Responder;
use crate::rng::Rng;
use crate::scheduler::{PendingKind, Scheduler};
use crate::time::Instant;
use crate::wire::{Header, Message, Name, Record, RecordType};

/// Bounded event queue.
#[derive(Debug)]
pub(crate) struct Events {
    q: VecDeque<Event>,
    cap: usize,
    dropped: u64,
}

impl Events {
    pub fn push(&mut self, e: Event) {
        if self.q.len() >= self.cap.max(1) {
            self.q.pop_front();
            self.dropped += 1;
        }
        self.q.push_back(e);
    }
}

/// What the parts of the engine share while handling one input.
pub(crate) struct Ctx<'a> {
    pub now: Instant,
    pub rng: &'a mut Rng,
    pub events: &'a mut Events,
    pub sched: &'a mut Scheduler,
    pub stats: &'a mut Stats,
    pub cfg: &'a Config,
}

macro_rules! cx {
    ($s:ident, $now:expr) => {
        Ctx {
            now: $now,
            rng: &mut $s.rng,
            events: &mut $s.events,
            sched: &mut $s.sched,
            stats: &mut $s.stats,
            cfg: &$s.cfg,
        }
    };
}

/// A sans-IO mDNS / DNS-SD responder and querier for any number of interfaces.
///
/// Feed it with [`handle_datagram`](Engine::handle_datagram) and
/// [`handle_timeout`](Engine::handle_timeout); after each input drain
/// [`poll_transmit`](Engine::poll_transmit) and [`poll_event`](Engine::poll_event), then
/// sleep until [`poll_timeout`](Engine::poll_timeout).
#[derive(Debug)]
pub struct Engine {
    cfg: Config,
    rng: Rng,
    interfaces: BTreeMap<InterfaceId, InterfaceConfig>,
    responder: Responder,
    querier: Querier,
    cache: Cache,
    sched: Scheduler,
    events: Events,
    stats: Stats,
}

fn links_of(id: InterfaceId, cfg: &InterfaceConfig) -> Vec<LinkId> {
    let mut v = Vec::new();
    if cfg.v4 {
        v.push(LinkId {
            iface: id,
            family: Family::V4,
        });
    }
    if cfg.v6 {
        v.push(LinkId {
            iface: id,
            family: Family::V6,
        });
    }
    v
}

fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments().first().copied().unwrap_or(0) & 0xffc0) == 0xfe80,
    }
}

impl Engine {
    /// A new engine with no interfaces.
    pub fn new(mut cfg: Config) -> Engine {
        cfg.max_datagram = cfg.max_datagram.clamp(512, packet::MAX_MESSAGE);
        Engine {
            rng: Rng::new(cfg.rng_seed),
            interfaces: BTreeMap::new(),
            responder: Responder::new(&cfg.host_name, cfg.reverse_mapping),
            querier: Querier::default(),
            cache: Cache::new(cfg.limits.max_cache_records),
            sched: Scheduler::new(&cfg),
            events: Events {
                q: VecDeque::new(),
                cap: cfg.limits.max_events,
                dropped: 0,
            },
            stats: Stats::default(),
            cfg,
        }
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats.clone();
        s.cache_evictions = self.cache.evictions;
        s.pending_evictions = self.sched.evictions;
        s.events_dropped = self.events.dropped;
        s
    }

    /// Records cached from other hosts (all links).
    pub fn cache_len(&self) -> usize {
        self.cache.len()
    }

    /// Active questions (all links).
    pub fn question_count(&self) -> usize {
        self.querier.question_count()
    }

    /// Our host's full name (`host.local.`), after any rename. It is probed and published
    /// only while a registration's SRV targets it ([`Config::host_name`]).
    pub fn host_name(&self) -> Option<&Name> {
        self.responder.host_name()
    }

    // ------------------------------------------------------------ interfaces

    /// Adds an interface, or updates its addresses and families. New links probe and
    /// announce everything; removed addresses get goodbyes.
    pub fn add_interface(&mut self, now: Instant, id: InterfaceId, config: InterfaceConfig) {
        let links = links_of(id, &config);
        let old = self.interfaces.insert(id, config.clone());
        for l in old.map(|o| links_of(id, &o)).unwrap_or_default() {
            if !links.contains(&l) {
                self.drop_link(now, l);
            }
        }
        let addrs: Vec<IpAddr> = config.addresses.iter().map(|a| a.addr).collect();
        let mut cx = cx!(self, now);
        self.responder.set_interface(id, addrs, &links, &mut cx);
        for l in links {
            self.querier.add_link(l, &mut cx);
        }
    }

    fn drop_link(&mut self, now: Instant, link: LinkId) {
        self.responder.remove_link(link);
        self.querier.remove_link(link);
        self.sched.remove_link(link);
        let mut changes = Vec::new();
        self.cache.remove_link(link, &mut changes);
        let mut cx = cx!(self, now);
        self.querier.apply(&changes, &self.cache, &mut cx);
    }

    /// Removes an interface (no goodbyes: it is gone); its cached records are removed.
    pub fn remove_interface(&mut self, now: Instant, id: InterfaceId) {
        if let Some(cfg) = self.interfaces.remove(&id) {
            for l in links_of(id, &cfg) {
                self.drop_link(now, l);
            }
            self.responder.remove_interface(id);
        }
    }

    // ------------------------------------------------------------ input

    /// A datagram received on `iface` from `source`, addressed to `destination` (the group,
    /// or one of our unicast addresses). Bad or hostile input is dropped and counted.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        iface: InterfaceId,
        source: SocketAddr,
        destination: Destination,
        bytes: &[u8],
    ) {
        self.stats.received += 1;
        let family = Family::of(&source.ip());
        let link = LinkId { iface, family };
        let Some(icfg) = self.interfaces.get(&iface) else {
            self.stats.dropped_unknown_interface += 1;
            return;
        };
        if !links_of(iface, icfg).contains(&link) {
            self.stats.dropped_unknown_interface += 1;
            return;
        }
        if source.port() == 0 {
            self.stats.dropped_bad_port += 1;
            return;
        }
        let ip = source.ip();
        // RFC 6762 §11 / SECURITY.md: only on-link sources.
        if !is_link_local(&ip) && !icfg.addresses.iter().any(|a| a.contains(&ip)) {
            self.stats.dropped_off_link += 1;
            return;
        }
        let msg = match Message::parse(bytes) {
            Ok(m) => m,
            Err(_) => {
                self.stats.malformed += 1;
                return;
            }
        };
        self.stats.malformed_records += u64::from(msg.dropped_records);
        if msg.header.opcode() != 0 || msg.header.rcode() != 0 {
            self.stats.dropped_opcode_rcode += 1;
            return;
        }
        self.dispatch(now, link, source, destination, &msg, false);
    }

    fn dispatch(
        &mut self,
        now: Instant,
        link: LinkId,
        source: SocketAddr,
        destination: Destination,
        msg: &Message,
        from_self: bool,
    ) {
        if msg.header.is_response() {
            if source.port() != MDNS_PORT {
                self.stats.dropped_bad_port += 1;
                return;
            }
            if matches!(destination, Destination::Unicast(_))
                && !self.sched.accepts_unicast_response(link, now)
            {
                self.stats.dropped_unsolicited_unicast += 1;
                return;
            }
            self.stats.responses += 1;
            self.handle_response(now, link, msg, from_self);
        } else {
            self.stats.queries += 1;
            self.handle_query(now, link, source, destination, msg, from_self);
        }
    }

    fn handle_response(&mut self, now: Instant, link: LinkId, msg: &Message, from_self: bool) {
        let mut changes = Vec::new();
        self.responder.begin_response();
        for r in msg.answers.iter().chain(msg.additionals.iter()) {
            // Our own datagrams (local delivery) are never conflicts, even when they carry
            // data we replaced since they were queued.
            if !from_self {
                let mut cx = cx!(self, now);
                self.responder.check_response_record(link, r, &mut cx);
            }
            if self.sched.suppress_duplicate(link, r) {
                self.stats.duplicate_answers_suppressed += 1;
            }
            self.cache.insert(now, link, r, &mut self.rng, &mut changes);
        }
        let mut cx = cx!(self, now);
        self.querier.apply(&changes, &self.cache, &mut cx);
    }

    fn handle_query(
        &mut self,
        now: Instant,
        link: LinkId,
        source: SocketAddr,
        destination: Destination,
        msg: &Message,
        from_self: bool,
    ) {
        let legacy = source.port() != MDNS_PORT;
        let direct = matches!(destination, Destination::Unicast(_));
        let is_probe = !msg.authorities.is_empty();
        let src_ip = source.ip();
        if is_probe {
            let mut cx = cx!(self, now);
            self.responder.check_probe(link, &msg.authorities, &mut cx);
        }
        if !legacy && !direct {
            for q in &msg.questions {
                if !from_self {
                    self.querier
                        .note_peer_question(link, q, &msg.answers, &self.cache, now);
                }
                if !is_probe {
                    self.cache
                        .note_unanswered_query(now, link, &q.name, q.qtype, &msg.answers);
                }
            }
            // Known answers of a follow-up to a truncated query (RFC 6762 §7.2).
            for k in &msg.answers {
                if self.sched.suppress_known(link, src_ip, k) {
                    self.stats.known_answer_suppressed += 1;
                }
            }
            if msg.header.truncated() {
                let due = now
                    + self
                        .rng
                        .duration(Duration::from_millis(400), Duration::from_millis(500));
                self.sched
                    .delay_asker(link, src_ip, now + Duration::from_millis(400), due);
            }
        }
        // Answers per question, minus known answers (RFC 6762 §7.1).
        let mut per_q: Vec<(bool, Record)> = Vec::new();
        let mut seen: std::collections::HashSet<(Name, crate::wire::RData)> =
            std::collections::HashSet::new();
        // Known answers indexed once (a query may list hundreds): highest TTL per record.
        let mut known_ttl: std::collections::HashMap<(&Name, &crate::wire::RData), u32> =
            std::collections::HashMap::new();
        for k in &msg.answers {
            let t = known_ttl.entry((&k.name, &k.rdata)).or_insert(0);
            *t = (*t).max(k.ttl);
        }
        for q in &msg.questions {
            let mut v = Vec::new();
            self.responder.answer(link, q, &mut v);
            for a in v {
                let known = known_ttl
                    .get(&(&a.name, &a.rdata))
                    .is_some_and(|t| u64::from(*t) * 2 >= u64::from(a.ttl));
                if known {
                    self.stats.known_answer_suppressed += 1;
                } else if seen.insert((a.name.clone(), a.rdata.clone())) {
                    per_q.push((q.unicast_response, a));
                }
            }
        }
        if per_q.is_empty() {
            return;
        }
        if legacy {
            self.legacy_reply(
                link,
                source,
                msg,
                per_q.into_iter().map(|(_, r)| r).collect(),
            );
            return;
        }
        let mut unicast: Vec<Record> = Vec::new();
        let mut multicast: Vec<Record> = Vec::new();
        for (qu, r) in per_q {
            // QU: unicast if we multicast it within the last quarter TTL, else multicast.
            let recent = self
                .sched
                .history
                .last(link, &r.name, &r.rdata)
                .is_some_and(|t| t + Duration::from_secs(u64::from(r.ttl) / 4) > now);
            // Probe defence always goes to the group, so every prober sees it.
            if from_self || direct || (qu && recent && !is_probe) {
                unicast.push(r);
            } else {
                multicast.push(r);
            }
        }
        if !unicast.is_empty() {
            let answers: Vec<(Record, Vec<Record>)> = unicast
                .into_iter()
                .map(|r| {
                    // Unique records keep the cache-flush bit: only legacy unicast replies
                    // (another port, handled above) go without it (RFC 6762 §10.2).
                    let adds = self.responder.additionals(link, &r);
                    (r, adds)
                })
                .collect();
            for p in
                packet::build_responses(Header::response(), &[], &answers, self.cfg.max_datagram)
            {
                if from_self {
                    // Our own query, answered by our own responder: deliver it here.
                    if let Ok(m) = Message::parse(&p) {
                        self.handle_response(now, link, &m, true);
                    }
                    continue;
                }
                self.sched.send_unicast(Transmit {
                    iface: link.iface,
                    destination: Destination::Unicast(source),
                    payload: p,
                });
            }
        }
        if multicast.is_empty() {
            return;
        }
        // Delay (RFC 6762 §6): all unique -> at once; shared -> 20-120 ms; TC -> 400-500 ms.
        let all_unique = multicast.iter().all(|r| r.cache_flush);
        let (lo, hi) = if msg.header.truncated() {
            (Duration::from_millis(400), Duration::from_millis(500))
        } else if all_unique || is_probe {
            (Duration::ZERO, Duration::ZERO)
        } else {
            (Duration::from_millis(20), Duration::from_millis(120))
        };
        let delay = self.rng.duration(lo, hi);
        let gap = if is_probe {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(1)
        };
        for r in multicast {
            let limit = self
                .sched
                .history
                .last(link, &r.name, &r.rdata)
                .map_or(now, |t| (t + gap).max(now));
            let earliest = (now + lo).max(limit);
            let due = (now + delay).max(limit);
            self.sched
                .schedule(link, r, PendingKind::Answer, earliest, due, Some(src_ip));
        }
    }

    /// RFC 6762 §6.7: unicast to the source port, echo ID and questions, no cache-flush
    /// bit, TTL <= 10, at most 512 bytes.
    fn legacy_reply(
        &mut self,
        link: LinkId,
        source: SocketAddr,
        msg: &Message,
        answers: Vec<Record>,
    ) {
        let fix = |mut r: Record| {
            r.cache_flush = false;
            r.ttl = r.ttl.min(10);
            r
        };
        let answers: Vec<(Record, Vec<Record>)> = answers
            .into_iter()
            .map(|r| {
                let adds = self
                    .responder
                    .additionals(link, &r)
                    .into_iter()
                    .map(fix)
                    .collect();
                (fix(r), adds)
            })
            .collect();
        let header = Header {
            id: msg.header.id,
            flags: Header::response().flags,
        };
        if let Some(p) = packet::build_responses(header, &msg.questions, &answers, 512)
            .into_iter()
            .next()
        {
            self.sched.send_unicast(Transmit {
                iface: link.iface,
                destination: Destination::Unicast(source),
                payload: p,
            });
        }
    }

    /// Call when [`poll_timeout`](Engine::poll_timeout)'s instant is reached.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.run(now);
    }

    fn run(&mut self, now: Instant) {
        self.run_once(now);
        // Local delivery: our own datagrams are processed as if received; answers that
        // creates go out in the next round (bounded).
        for _ in 0..4 {
            let mut any = false;
            let mut budget = self.cfg.limits.max_queued_datagrams;
            while let Some((link, bytes)) = self.sched.take_self_copy() {
                any = true;
                budget = budget.saturating_sub(1);
                if budget == 0 {
                    break;
                }
                let Ok(msg) = Message::parse(&bytes) else {
                    continue;
                };
                let source = self.own_source(link);
                self.dispatch(
                    now,
                    link,
                    source,
                    Destination::Multicast(link.family),
                    &msg,
                    true,
                );
            }
            if !any {
                break;
            }
            self.run_once(now);
        }
    }

    /// The address our datagrams on `link` come from.
    fn own_source(&self, link: LinkId) -> SocketAddr {
        let ip = self
            .interfaces
            .get(&link.iface)
            .and_then(|c| {
                c.addresses
                    .iter()
                    .map(|a| a.addr)
                    .find(|a| Family::of(a) == link.family)
            })
            .unwrap_or(match link.family {
                Family::V4 => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                Family::V6 => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
            });
        SocketAddr::new(ip, MDNS_PORT)
    }

    fn run_once(&mut self, now: Instant) {
        {
            let mut cx = cx!(self, now);
            self.responder.run(&mut cx);
        }
        let mut changes = Vec::new();
        let refresh = self.cache.run(now, &mut self.rng, &mut changes);
        self.querier.refresh(refresh);
        {
            let mut cx = cx!(self, now);
            self.querier.apply(&changes, &self.cache, &mut cx);
            self.querier.run(&self.cache, &mut cx);
        }
        for link in self.sched.links_with_pending() {
            let due = self.sched.take_due(link, now);
            if due.is_empty() {
                continue;
            }
            let answers: Vec<(Record, Vec<Record>)> = due
                .into_iter()
                .map(|p| {
                    let adds = if p.kind == PendingKind::Goodbye {
                        Vec::new()
                    } else {
                        self.responder.additionals(link, &p.record)
                    };
                    (p.record, adds)
                })
                .collect();
            for (r, _) in &answers {
                if r.ttl > 0 {
                    self.sched.history.note(link, &r.name, &r.rdata, now);
                }
            }
            for p in
                packet::build_responses(Header::response(), &[], &answers, self.cfg.max_datagram)
            {
                self.sched.send_multicast(link, p);
            }
        }
        self.sched.pump(now);
    }

    /// When to call [`handle_timeout`](Engine::handle_timeout) next (`None`: only input can
    /// create work).
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.responder.next_deadline(),
            self.cache.next_deadline(),
            self.querier.next_deadline(),
            self.sched.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next datagram to send, if any is due at `now`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if !self.sched.has_ready() {
            self.run(now);
        }
        let t = self.sched.pop_ready();
        if t.is_some() {
            self.stats.transmitted += 1;
        }
        t
    }

    /// The next event for the API layer.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.q.pop_front()
    }

    // ------------------------------------------------------------ commands

    /// Registers a service: probing starts on every matching interface; the outcome comes as
    /// [`Event::RegistrationEstablished`] (or renamed/failed).
    pub fn register(
        &mut self,
        now: Instant,
        spec: ServiceSpec,
    ) -> Result<RegistrationId, CommandError> {
        let mut cx = cx!(self, now);
        self.responder.register(&spec, &mut cx)
    }

    /// Replaces a registration's TXT data; re-announced at most 10 times a minute.
    pub fn update_txt(
        &mut self,
        now: Instant,
        id: RegistrationId,
        txt: &[u8],
    ) -> Result<(), CommandError> {
        let mut cx = cx!(self, now);
        self.responder.update_txt(id, txt, &mut cx)
    }

    /// Removes a registration; goodbyes (TTL 0) go out where it was announced.
    pub fn deregister(&mut self, now: Instant, id: RegistrationId) -> Result<(), CommandError> {
        let mut cx = cx!(self, now);
        self.responder.deregister(id, &mut cx)
    }

    /// The network may have changed under us (wake from sleep, link up again): probe and
    /// announce every record again and restart every query (RFC 6762 §8, CONFORMANCE row 24).
    pub fn wake(&mut self, now: Instant) {
        let mut cx = cx!(self, now);
        self.responder.restart_all(&mut cx);
        self.querier.restart(&mut cx);
    }

    /// Goodbyes for every registration and our host records; drain
    /// [`poll_transmit`](Engine::poll_transmit) (until `None` and past
    /// [`poll_timeout`](Engine::poll_timeout)'s pacing) before closing sockets.
    pub fn shutdown(&mut self, now: Instant) {
        let mut cx = cx!(self, now);
        self.responder.shutdown(&mut cx);
    }

    fn service_type_name(service_type: &str) -> Result<Name, CommandError> {
        let n = Name::from_dotted(service_type)
            .map_err(|_| CommandError::InvalidServiceType(service_type.to_owned()))?;
        let last = n.labels().last().map(<[u8]>::to_ascii_lowercase);
        if matches!(last.as_deref(), Some(b"_tcp" | b"_udp")) {
            let local = Name::from_dotted("local.")
                .map_err(|_| CommandError::InvalidName("local".into()))?;
            let mut out = local;
            let labels: Vec<&[u8]> = n.labels().collect();
            for l in labels.iter().rev() {
                out = out
                    .prepend(l)
                    .map_err(|_| CommandError::InvalidServiceType(service_type.to_owned()))?;
            }
            return Ok(out);
        }
        Ok(n)
    }

    /// Browses for a service type (`"_http._tcp"`, `"_printer._sub._http._tcp"`, with or
    /// without `.local`), or `"_services._dns-sd._udp"` for service type enumeration.
    pub fn browse(
        &mut self,
        now: Instant,
        service_type: &str,
        iface: Option<InterfaceId>,
    ) -> Result<QueryId, CommandError> {
        let name = Self::service_type_name(service_type)?;
        let mut cx = cx!(self, now);
        self.querier
            .start(QueryKind::Browse(name), iface, &self.cache, &mut cx)
    }

    /// Resolves an instance (full name as in [`Event::BrowseAdded`]) to SRV and TXT.
    pub fn resolve(
        &mut self,
        now: Instant,
        instance: &Name,
        iface: Option<InterfaceId>,
    ) -> Result<QueryId, CommandError> {
        let mut cx = cx!(self, now);
        self.querier.start(
            QueryKind::Resolve(instance.clone()),
            iface,
            &self.cache,
            &mut cx,
        )
    }

    /// A continuous query for any record type.
    pub fn query(
        &mut self,
        now: Instant,
        name: &Name,
        rtype: RecordType,
        iface: Option<InterfaceId>,
    ) -> Result<QueryId, CommandError> {
        let mut cx = cx!(self, now);
        self.querier.start(
            QueryKind::Record(name.clone(), rtype),
            iface,
            &self.cache,
            &mut cx,
        )
    }

    /// Looks up A and AAAA of a host (`"h.local"`, or `"h"` meaning `h.local`). Stop it with
    /// [`stop_query`](Engine::stop_query) after the first answer for a one-shot lookup.
    pub fn lookup_host(
        &mut self,
        now: Instant,
        host: &str,
        iface: Option<InterfaceId>,
    ) -> Result<QueryId, CommandError> {
        let mut name =
            Name::from_dotted(host).map_err(|_| CommandError::InvalidName(host.to_owned()))?;
        if name.label_count() == 1 {
            let local = Name::from_dotted("local.")
                .map_err(|_| CommandError::InvalidName(host.to_owned()))?;
            let label = name.first_label().map(<[u8]>::to_vec).unwrap_or_default();
            name = local
                .prepend(&label)
                .map_err(|_| CommandError::InvalidName(host.to_owned()))?;
        }
        let mut cx = cx!(self, now);
        self.querier
            .start(QueryKind::Host(name), iface, &self.cache, &mut cx)
    }

    /// Stops a query (no more packets or events for it).
    pub fn stop_query(&mut self, _now: Instant, id: QueryId) -> Result<(), CommandError> {
        if self.querier.stop(id) {
            Ok(())
        } else {
            Err(CommandError::UnknownId)
        }
    }

    /// The API suspects a cached record is stale (RFC 6762 §10.4): it is queried at least
    /// twice and flushed unless seen again within 10 s.
    pub fn reconfirm(&mut self, now: Instant, record: &Record) {
        let keys = self.cache.reconfirm(now, &record.name, Some(&record.rdata));
        self.querier
            .reconfirm(keys, now, self.cfg.limits.max_questions);
    }

    /// Reconfirms every cached record named `name`, of any type (RFC 6762 §10.4): an
    /// instance's SRV and TXT when a connection to it failed.
    pub fn reconfirm_name(&mut self, now: Instant, name: &Name) {
        let keys = self.cache.reconfirm(now, name, None);
        self.querier
            .reconfirm(keys, now, self.cfg.limits.max_questions);
    }
}
