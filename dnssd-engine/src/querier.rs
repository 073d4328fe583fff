//! Continuous queries (RFC 6762 §5.2), known-answer lists (§7.1), duplicate question
//! suppression (§7.3), refresh of records someone is interested in, and turning cache
//! changes into browse/resolve/lookup events.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::Duration;

use crate::LinkId;
use crate::api::{Event, QueryId};
use crate::cache::{Cache, CacheChange, RrsetKey};
use crate::config::InterfaceId;
use crate::engine::Ctx;
use crate::packet;
use crate::time::Instant;
use crate::wire::{CLASS_IN, Name, Question, RData, Record, RecordType};

/// Counts an item over links; true when it appears (first link) or disappears (last link).
fn count<K: std::hash::Hash + Eq>(map: &mut HashMap<K, u32>, key: K, added: bool) -> bool {
    if added {
        let c = map.entry(key).or_insert(0);
        *c += 1;
        *c == 1
    } else if let Some(c) = map.get_mut(&key) {
        *c = c.saturating_sub(1);
        if *c == 0 {
            map.remove(&key);
            return true;
        }
        false
    } else {
        false
    }
}

const MAX_INTERVAL: Duration = Duration::from_secs(3600);

/// First queries due this soon after a query that is sent anyway go with it.
const AGGREGATE: Duration = Duration::from_millis(100);

/// What a query asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum QueryKind {
    Browse(Name),
    Resolve(Name),
    Record(Name, RecordType),
    Host(Name),
}

impl QueryKind {
    fn questions(&self) -> Vec<(Name, RecordType)> {
        match self {
            QueryKind::Browse(n) => vec![(n.clone(), RecordType::PTR)],
            QueryKind::Resolve(n) => {
                vec![(n.clone(), RecordType::SRV), (n.clone(), RecordType::TXT)]
            }
            QueryKind::Record(n, t) => vec![(n.clone(), *t)],
            QueryKind::Host(n) => vec![(n.clone(), RecordType::A), (n.clone(), RecordType::AAAA)],
        }
    }
}

#[derive(Debug)]
struct Query {
    kind: QueryKind,
    iface: Option<InterfaceId>,
    /// Items reported, counted over the links (v4/v6) where they are cached.
    browse: HashMap<(Name, InterfaceId), u32>,
    records: HashMap<(RData, InterfaceId), u32>,
    addrs: HashMap<(IpAddr, InterfaceId), u32>,
    resolved: HashMap<InterfaceId, (Name, u16, Vec<u8>)>,
}

#[derive(Debug, Clone)]
struct QuestionState {
    next: Instant,
    /// A first query may go out early (from here, 20 ms after the question was made) when
    /// another query is sent anyway, so questions made together share datagrams.
    earliest: Instant,
    interval: Duration,
    users: u32,
    sent: u32,
}

/// The querier.
#[derive(Debug, Default)]
pub(crate) struct Querier {
    queries: BTreeMap<QueryId, Query>,
    questions: HashMap<RrsetKey, QuestionState>,
    /// Reconfirm queries: (time, key).
    oneshots: Vec<(Instant, RrsetKey)>,
    /// Questions to send at the next run (refresh).
    forced: BTreeSet<(LinkId, Name, RecordType)>,
    links: BTreeSet<LinkId>,
    next_id: u64,
}

impl QuestionState {
    /// As a new question: first query 20-120 ms from now (RFC 6762 §5.2), QU, then 1 s
    /// doubling.
    fn start_over(&mut self, cx: &mut Ctx<'_>) {
        self.next = cx.now
            + cx.rng
                .duration(Duration::from_millis(20), Duration::from_millis(120));
        self.earliest = cx.now + Duration::from_millis(20);
        self.interval = Duration::from_secs(1);
        self.sent = 0;
    }
}

impl Querier {
    pub fn question_count(&self) -> usize {
        self.questions.len()
    }

    fn add_questions(
        &mut self,
        kind: &QueryKind,
        iface: Option<InterfaceId>,
        link: LinkId,
        cache: Option<&Cache>,
        cx: &mut Ctx<'_>,
    ) {
        if iface.is_some_and(|i| i != link.iface) {
            return;
        }
        for (name, t) in kind.questions() {
            // A unique record (SRV, TXT, A, AAAA) already in the cache with more than half its
            // TTL left answers the question: asking would only bring known-answer traffic
            // (1000 resolves = thousands of queries). The cache's 80 % refresh asks later, and
            // losing the answer starts the queries (`apply`).
            let fresh = matches!(
                t,
                RecordType::SRV | RecordType::TXT | RecordType::A | RecordType::AAAA
            ) && cache.is_some_and(|c| {
                c.answers(link, &name, t)
                    .iter()
                    .any(|e| e.more_than_half_left(cx.now))
            });
            let st = self.questions.entry((link, name, t)).or_insert_with(|| {
                if fresh {
                    return QuestionState {
                        next: cx.now + MAX_INTERVAL,
                        earliest: cx.now + MAX_INTERVAL,
                        interval: Duration::from_secs(1),
                        users: 0,
                        sent: 1,
                    };
                }
                let mut st = QuestionState {
                    next: cx.now,
                    earliest: cx.now,
                    interval: Duration::from_secs(1),
                    users: 0,
                    sent: 0,
                };
                st.start_over(cx);
                st
            });
            st.users += 1;
        }
    }

    pub fn start(
        &mut self,
        kind: QueryKind,
        iface: Option<InterfaceId>,
        cache: &Cache,
        cx: &mut Ctx<'_>,
    ) -> Result<QueryId, crate::api::CommandError> {
        if self.queries.len() >= cx.cfg.limits.max_queries {
            return Err(crate::api::CommandError::LimitReached("queries"));
        }
        if self.questions.len() + 2 * self.links.len() > cx.cfg.limits.max_questions {
            return Err(crate::api::CommandError::LimitReached("questions"));
        }
        let id = QueryId(self.next_id);
        self.next_id += 1;
        let links: Vec<LinkId> = self.links.iter().copied().collect();
        for link in &links {
            self.add_questions(&kind, iface, *link, Some(cache), cx);
        }
        // Report what the cache already knows: the RRsets this query asks about (not the
        // whole cache, which made N queries on N cached services cost N^2).
        let mut existing: Vec<CacheChange> = Vec::new();
        for link in &links {
            for (name, t) in kind.questions() {
                for e in cache.answers(*link, &name, t) {
                    existing.push(CacheChange::Added(e.link, e.record.clone()));
                }
            }
        }
        let q = Query {
            kind,
            iface,
            browse: HashMap::new(),
            records: HashMap::new(),
            addrs: HashMap::new(),
            resolved: HashMap::new(),
        };
        self.queries.insert(id, q);
        for ch in existing {
            self.apply_one(id, &ch, cache, cx);
        }
        Ok(id)
    }

    pub fn stop(&mut self, id: QueryId) -> bool {
        let Some(q) = self.queries.remove(&id) else {
            return false;
        };
        for link in self.links.clone() {
            if q.iface.is_some_and(|i| i != link.iface) {
                continue;
            }
            for (name, t) in q.kind.questions() {
                let key = (link, name, t);
                if let Some(st) = self.questions.get_mut(&key) {
                    st.users = st.users.saturating_sub(1);
                    if st.users == 0 {
                        self.questions.remove(&key);
                    }
                }
            }
        }
        true
    }

    /// Every question starts over (first query 20-120 ms from now, QU, then 1 s doubling).
    pub fn restart(&mut self, cx: &mut Ctx<'_>) {
        for st in self.questions.values_mut() {
            st.start_over(cx);
        }
    }

    pub fn add_link(&mut self, link: LinkId, cx: &mut Ctx<'_>) {
        if !self.links.insert(link) {
            return;
        }
        let qs: Vec<(QueryKind, Option<InterfaceId>)> = self
            .queries
            .values()
            .map(|q| (q.kind.clone(), q.iface))
            .collect();
        for (kind, iface) in qs {
            self.add_questions(&kind, iface, link, None, cx);
        }
    }

    pub fn remove_link(&mut self, link: LinkId) {
        self.links.remove(&link);
        self.questions.retain(|(l, _, _), _| *l != link);
        self.oneshots.retain(|(_, (l, _, _))| *l != link);
        self.forced.retain(|(l, _, _)| *l != link);
    }

    /// The cache says these records reach 80/85/90/95 % of their TTL.
    pub fn refresh(&mut self, keys: Vec<RrsetKey>) {
        for k in keys {
            if self.questions.contains_key(&k) {
                self.forced.insert(k);
            }
        }
    }

    /// Reconfirm (§10.4): two queries now and 2 s later (the cache flushes after 10 s).
    pub fn reconfirm(&mut self, keys: Vec<RrsetKey>, now: Instant, cap: usize) {
        for k in keys {
            if self.oneshots.len() + 2 > cap {
                break;
            }
            self.oneshots.push((now, k.clone()));
            self.oneshots.push((now + Duration::from_secs(2), k));
        }
    }

    /// A peer's query with a QM question we also ask: if its known answers are all ones we
    /// would list too, count it as our own (§7.3).
    pub fn note_peer_question(
        &mut self,
        link: LinkId,
        q: &Question,
        known: &[Record],
        cache: &Cache,
        now: Instant,
    ) {
        if q.unicast_response {
            return;
        }
        let key = (link, q.name.clone(), q.qtype);
        let Some(st) = self.questions.get_mut(&key) else {
            return;
        };
        if st.sent == 0 || st.next <= now {
            return;
        }
        let ours: std::collections::HashSet<(&Name, &RData)> = cache
            .answers(link, &q.name, q.qtype)
            .into_iter()
            .filter(|e| e.more_than_half_left(now))
            .map(|e| (&e.record.name, &e.record.rdata))
            .collect();
        let theirs_ok = known
            .iter()
            .filter(|k| k.name == q.name && (q.qtype == RecordType::ANY || k.rtype() == q.qtype))
            .all(|k| ours.contains(&(&k.name, &k.rdata)));
        if theirs_ok {
            st.next = now + st.interval;
            st.interval = (st.interval * 2).min(MAX_INTERVAL);
            st.sent += 1;
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        let a = self.questions.values().map(|q| q.next).min();
        let b = self.oneshots.iter().map(|(t, _)| *t).min();
        let forced = if self.forced.is_empty() {
            None
        } else {
            Some(Instant::ZERO)
        };
        [a, b, forced].into_iter().flatten().min()
    }

    /// Sends due questions with their known answers, one query (or TC chain) per link.
    pub fn run(&mut self, cache: &Cache, cx: &mut Ctx<'_>) {
        let now = cx.now;
        let mut per_link: BTreeMap<LinkId, Vec<Question>> = BTreeMap::new();
        for ((link, name, t), st) in self.questions.iter_mut() {
            let forced = self.forced.contains(&(*link, name.clone(), *t));
            // First queries due within the aggregation window go with this one (§5.2 allows
            // any moment 20-120 ms after the start): N resolves started by one browse answer
            // share a few datagrams instead of one each.
            let early = st.sent == 0 && st.earliest <= now && st.next <= now + AGGREGATE;
            if st.next <= now || forced || early {
                // A fresh question asks for a unicast reply first (NETLAB.md).
                let qu = st.sent == 0;
                per_link.entry(*link).or_default().push(Question {
                    name: name.clone(),
                    qtype: *t,
                    qclass: CLASS_IN,
                    unicast_response: qu,
                });
                if st.next <= now || early {
                    st.next = now + st.interval;
                    st.interval = (st.interval * 2).min(MAX_INTERVAL);
                }
                st.sent += 1;
            }
        }
        self.forced.clear();
        let mut i = 0;
        while let Some((t, (link, name, rtype))) = self.oneshots.get(i).cloned() {
            if t <= now {
                self.oneshots.swap_remove(i);
                let qs = per_link.entry(link).or_default();
                if !qs.iter().any(|q| q.name == name && q.qtype == rtype) {
                    qs.push(Question {
                        name,
                        qtype: rtype,
                        qclass: CLASS_IN,
                        unicast_response: false,
                    });
                }
            } else {
                i += 1;
            }
        }
        for (link, mut questions) in per_link {
            questions.sort_by(|a, b| (&a.name, a.qtype).cmp(&(&b.name, b.qtype)));
            let mut known: Vec<Record> = Vec::new();
            for q in &questions {
                for e in cache.answers(link, &q.name, q.qtype) {
                    if e.more_than_half_left(now) {
                        let mut r = e.record.clone();
                        r.ttl = e.remaining_secs(now);
                        r.cache_flush = false;
                        known.push(r);
                    }
                }
            }
            if questions.iter().any(|q| q.unicast_response) {
                cx.sched.note_qu_sent(link, now);
            }
            for p in packet::build_queries(&questions, &known, cx.cfg.max_datagram) {
                cx.sched.send_multicast(link, p);
            }
        }
    }

    /// Turns cache changes into query events.
    pub fn apply(&mut self, changes: &[CacheChange], cache: &Cache, cx: &mut Ctx<'_>) {
        let ids: Vec<QueryId> = self.queries.keys().copied().collect();
        for ch in changes {
            // An answer we stopped asking for (see `add_questions`) went away: ask again.
            if let CacheChange::Removed(link, r) = ch {
                if let Some(st) = self.questions.get_mut(&(*link, r.name.clone(), r.rtype())) {
                    let soon = cx.now + Duration::from_secs(1);
                    if st.next > soon {
                        st.next = soon;
                        st.interval = Duration::from_secs(1);
                    }
                }
            }
            for id in &ids {
                self.apply_one(*id, ch, cache, cx);
            }
        }
    }

    fn apply_one(&mut self, id: QueryId, ch: &CacheChange, cache: &Cache, cx: &mut Ctx<'_>) {
        let Some(q) = self.queries.get_mut(&id) else {
            return;
        };
        let (link, r, added) = match ch {
            CacheChange::Added(l, r) => (*l, r, true),
            CacheChange::Removed(l, r) => (*l, r, false),
        };
        if q.iface.is_some_and(|i| i != link.iface) {
            return;
        }
        let iface = link.iface;
        match &q.kind {
            QueryKind::Browse(t) => {
                if let (true, RData::Ptr(inst)) = (r.name == *t, &r.rdata) {
                    if count(&mut q.browse, (inst.clone(), iface), added) {
                        if added {
                            cx.events.push(Event::BrowseAdded {
                                query: id,
                                instance: inst.clone(),
                                interface: iface,
                            });
                        } else {
                            cx.events.push(Event::BrowseRemoved {
                                query: id,
                                instance: inst.clone(),
                                interface: iface,
                            });
                        }
                    }
                }
            }
            QueryKind::Record(n, t) => {
                if r.name == *n
                    && (*t == RecordType::ANY || r.rtype() == *t)
                    && count(&mut q.records, (r.rdata.clone(), iface), added)
                {
                    {
                        if added {
                            cx.events.push(Event::RecordAdded {
                                query: id,
                                record: r.clone(),
                                interface: iface,
                            });
                        } else {
                            cx.events.push(Event::RecordRemoved {
                                query: id,
                                record: r.clone(),
                                interface: iface,
                            });
                        }
                    }
                }
            }
            QueryKind::Host(n) => {
                let addr = match r.rdata {
                    RData::A(a) => Some(IpAddr::V4(a)),
                    RData::Aaaa(a) => Some(IpAddr::V6(a)),
                    _ => None,
                };
                if let (true, Some(addr)) = (r.name == *n, addr) {
                    if count(&mut q.addrs, (addr, iface), added) {
                        if added {
                            cx.events.push(Event::AddressAdded {
                                query: id,
                                host: n.clone(),
                                addr,
                                interface: iface,
                            });
                        } else {
                            cx.events.push(Event::AddressRemoved {
                                query: id,
                                host: n.clone(),
                                addr,
                                interface: iface,
                            });
                        }
                    }
                }
            }
            QueryKind::Resolve(n) => {
                if r.name != *n || !matches!(r.rtype(), RecordType::SRV | RecordType::TXT) {
                    return;
                }
                let mut srv = None;
                let mut txt = None;
                for l in self.links.iter().filter(|l| l.iface == iface) {
                    if srv.is_none() {
                        srv = cache.rrset(*l, n, RecordType::SRV).find_map(|e| {
                            match &e.record.rdata {
                                RData::Srv { port, target, .. } => Some((target.clone(), *port)),
                                _ => None,
                            }
                        });
                    }
                    if txt.is_none() {
                        txt = cache.rrset(*l, n, RecordType::TXT).find_map(|e| {
                            match &e.record.rdata {
                                RData::Txt(t) => Some(t.clone()),
                                _ => None,
                            }
                        });
                    }
                }
                if let (Some((target, port)), Some(txt)) = (srv, txt) {
                    let now = (target.clone(), port, txt.clone());
                    if q.resolved.get(&iface) != Some(&now) {
                        q.resolved.insert(iface, now);
                        cx.events.push(Event::Resolved {
                            query: id,
                            instance: n.clone(),
                            target,
                            port,
                            txt,
                            interface: iface,
                        });
                    }
                } else {
                    q.resolved.remove(&iface);
                }
            }
        }
    }
}
