//! Output scheduling: multicast answers waiting for their (random) send time, the
//! once-per-second rule, duplicate-answer and known-answer suppression of what is waiting,
//! and per-link pacing of datagrams.
//!
//! Records wait here, not as built datagrams, while a link's pacer holds datagrams back: the
//! engine builds a link's next datagrams only once its paced queue is empty, so a burst of
//! records (1000 deregistrations one by one, a shutdown) goes out packed many to a datagram
//! at the paced rate instead of one small datagram each.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use crate::LinkId;
use crate::api::{Destination, Transmit};
use crate::config::Config;
use crate::ratelimit::{MulticastHistory, Pacer};
use crate::time::Instant;
use crate::wire::{Name, RData, Record};

/// Why a record is waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PendingKind {
    /// Answer to a query: may be suppressed by a peer's identical answer or a known answer.
    Answer,
    /// Announcement (or re-announcement).
    Announce,
    /// TTL 0.
    Goodbye,
}

#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub record: Record,
    pub kind: PendingKind,
    /// May go out with an aggregated datagram from this time on.
    pub earliest: Instant,
    /// Must go out at this time.
    pub due: Instant,
    /// The querier that asked (for known-answer follow-ups of a TC query); `None` if
    /// several asked or none.
    pub asker: Option<IpAddr>,
    seq: u64,
}

/// A datagram waiting behind its link's pacer.
#[derive(Debug)]
struct Queued {
    payload: Vec<u8>,
    /// Goodbyes: also kept `goodbye_interval` apart.
    goodbye: bool,
}

#[derive(Debug)]
struct LinkOut {
    queue: VecDeque<Queued>,
    pacer: Pacer,
    /// When the last goodbye datagram left.
    last_goodbye: Option<Instant>,
}

impl LinkOut {
    /// When the datagram at the head of the queue may leave.
    fn next_slot(&self, burst: u32, interval: Duration, goodbye_interval: Duration) -> Instant {
        let paced = self.pacer.next_send(burst, interval);
        match (self.queue.front(), self.last_goodbye) {
            (Some(q), Some(last)) if q.goodbye => paced.max(last + goodbye_interval),
            _ => paced,
        }
    }
}

/// The scheduler.
#[derive(Debug)]
pub(crate) struct Scheduler {
    pending: BTreeMap<LinkId, HashMap<(Name, RData), Pending>>,
    out: BTreeMap<LinkId, LinkOut>,
    ready: VecDeque<Transmit>,
    pub history: MulticastHistory,
    /// When we last sent a QU question (or probe) per link: unicast responses are accepted
    /// only within 2 s of one (RFC 6762 §6 / CONFORMANCE row 11).
    qu_sent: HashMap<LinkId, Instant>,
    seq: u64,
    /// Copies of our multicast datagrams for local delivery (`Config::local_delivery`).
    self_copies: Option<VecDeque<(LinkId, Vec<u8>)>>,
    max_pending: usize,
    max_queued: usize,
    burst: u32,
    interval: Duration,
    goodbye_interval: Duration,
    /// Evictions so far.
    pub evictions: u64,
}

impl Scheduler {
    pub fn new(cfg: &Config) -> Scheduler {
        Scheduler {
            pending: BTreeMap::new(),
            out: BTreeMap::new(),
            ready: VecDeque::new(),
            history: MulticastHistory::new(cfg.limits.max_multicast_history),
            qu_sent: HashMap::new(),
            seq: 0,
            self_copies: cfg.local_delivery.then(VecDeque::new),
            max_pending: cfg.limits.max_pending_answers,
            max_queued: cfg.limits.max_queued_datagrams,
            burst: cfg.pacing_burst.max(1),
            interval: cfg.pacing_interval,
            goodbye_interval: cfg.goodbye_interval,
            evictions: 0,
        }
    }

    /// Queues a multicast record. Merges with an entry already waiting for the same record.
    pub fn schedule(
        &mut self,
        link: LinkId,
        record: Record,
        kind: PendingKind,
        earliest: Instant,
        due: Instant,
        asker: Option<IpAddr>,
    ) {
        let map = self.pending.entry(link).or_default();
        let key = (record.name.clone(), record.rdata.clone());
        if let Some(p) = map.get_mut(&key) {
            p.earliest = p.earliest.min(earliest);
            p.due = p.due.min(due);
            if p.asker != asker {
                p.asker = None;
            }
            if kind != PendingKind::Answer || p.kind == PendingKind::Answer {
                p.kind = kind;
                p.record = record;
            }
            return;
        }
        if map.len() >= self.max_pending.max(1) {
            if let Some(k) = map
                .iter()
                .min_by_key(|(_, p)| p.seq)
                .map(|(k, _)| k.clone())
            {
                map.remove(&k);
                self.evictions += 1;
            }
        }
        self.seq += 1;
        map.insert(
            key,
            Pending {
                record,
                kind,
                earliest,
                due,
                asker,
                seq: self.seq,
            },
        );
    }

    /// A peer multicast `record`: drop our identical waiting answer if the peer's TTL is at
    /// least half ours (RFC 6762 §7.4). Returns true if something was dropped.
    pub fn suppress_duplicate(&mut self, link: LinkId, record: &Record) -> bool {
        let Some(map) = self.pending.get_mut(&link) else {
            return false;
        };
        let key = (record.name.clone(), record.rdata.clone());
        if map.get(&key).is_some_and(|p| {
            p.kind == PendingKind::Answer && record.ttl.saturating_mul(2) >= p.record.ttl
        }) {
            map.remove(&key);
            return true;
        }
        false
    }

    /// A follow-up of a truncated query from `asker` lists `record` as known: drop our
    /// waiting answer that only this asker wanted (RFC 6762 §7.2).
    pub fn suppress_known(&mut self, link: LinkId, asker: IpAddr, record: &Record) -> bool {
        let Some(map) = self.pending.get_mut(&link) else {
            return false;
        };
        let key = (record.name.clone(), record.rdata.clone());
        if map.get(&key).is_some_and(|p| {
            p.kind == PendingKind::Answer
                && p.asker == Some(asker)
                && record.ttl.saturating_mul(2) >= p.record.ttl
        }) {
            map.remove(&key);
            return true;
        }
        false
    }

    /// Another TC packet from `asker`: its answers wait until 400-500 ms after this one.
    pub fn delay_asker(&mut self, link: LinkId, asker: IpAddr, earliest: Instant, due: Instant) {
        if let Some(map) = self.pending.get_mut(&link) {
            for p in map
                .values_mut()
                .filter(|p| p.asker == Some(asker) && p.kind == PendingKind::Answer)
            {
                p.earliest = p.earliest.max(earliest);
                p.due = p.due.max(due);
            }
        }
    }

    /// Drops waiting records matching `pred` (e.g. of a deregistered service).
    pub fn remove_pending(&mut self, mut pred: impl FnMut(&Record) -> bool) {
        for map in self.pending.values_mut() {
            map.retain(|_, p| !pred(&p.record));
        }
    }

    /// Takes what must go out on `link` at `now` plus everything that may (aggregation).
    pub fn take_due(&mut self, link: LinkId, now: Instant) -> Vec<Pending> {
        let Some(map) = self.pending.get_mut(&link) else {
            return Vec::new();
        };
        if !map.values().any(|p| p.due <= now) {
            return Vec::new();
        }
        let keys: Vec<(Name, RData)> = map
            .iter()
            .filter(|(_, p)| p.earliest <= now)
            .map(|(k, _)| k.clone())
            .collect();
        let mut out: Vec<Pending> = keys.into_iter().filter_map(|k| map.remove(&k)).collect();
        out.sort_by_key(|p| p.seq);
        out
    }

    /// Links with something pending whose paced queue is empty (records for a link with
    /// datagrams still waiting behind its pacer keep waiting too, to be packed together).
    pub fn links_with_pending(&self) -> Vec<LinkId> {
        self.pending
            .iter()
            .filter(|(l, m)| !m.is_empty() && !self.backlogged(**l))
            .map(|(l, _)| *l)
            .collect()
    }

    /// True when datagrams wait behind `link`'s pacer.
    fn backlogged(&self, link: LinkId) -> bool {
        self.out.get(&link).is_some_and(|lo| !lo.queue.is_empty())
    }

    /// True while anything waits to be sent: records not yet built into datagrams, datagrams
    /// behind a pacer, or datagrams ready to be taken.
    pub fn has_output(&self) -> bool {
        !self.ready.is_empty()
            || self.pending.values().any(|m| !m.is_empty())
            || self.out.values().any(|lo| !lo.queue.is_empty())
    }

    /// Queues a multicast datagram behind the link's pacer.
    pub fn send_multicast(&mut self, link: LinkId, payload: Vec<u8>) {
        self.queue_multicast(link, payload, false);
    }

    /// Queues a datagram of goodbyes behind the link's pacer (kept `goodbye_interval` apart).
    pub fn send_goodbyes(&mut self, link: LinkId, payload: Vec<u8>) {
        self.queue_multicast(link, payload, true);
    }

    fn queue_multicast(&mut self, link: LinkId, payload: Vec<u8>, goodbye: bool) {
        let lo = self.out.entry(link).or_insert_with(|| LinkOut {
            queue: VecDeque::new(),
            pacer: Pacer::new(),
            last_goodbye: None,
        });
        if lo.queue.len() >= self.max_queued.max(1) {
            lo.queue.pop_front();
            self.evictions += 1;
        }
        if let Some(copies) = &mut self.self_copies {
            if copies.len() < self.max_queued.max(1) {
                copies.push_back((link, payload.clone()));
            }
        }
        lo.queue.push_back(Queued { payload, goodbye });
    }

    /// Next copy of one of our multicast datagrams to process locally.
    pub fn take_self_copy(&mut self) -> Option<(LinkId, Vec<u8>)> {
        self.self_copies.as_mut()?.pop_front()
    }

    /// Queues a unicast datagram (not paced: it goes to one host).
    pub fn send_unicast(&mut self, transmit: Transmit) {
        if self.ready.len() >= self.max_queued.max(1) {
            self.ready.pop_front();
            self.evictions += 1;
        }
        self.ready.push_back(transmit);
    }

    pub fn note_qu_sent(&mut self, link: LinkId, now: Instant) {
        self.qu_sent.insert(link, now);
    }

    pub fn accepts_unicast_response(&self, link: LinkId, now: Instant) -> bool {
        self.qu_sent
            .get(&link)
            .is_some_and(|t| *t + Duration::from_secs(2) >= now)
    }

    /// Moves paced datagrams whose slot has come to the ready queue.
    pub fn pump(&mut self, now: Instant) {
        for (link, lo) in self.out.iter_mut() {
            while !lo.queue.is_empty()
                && lo.next_slot(self.burst, self.interval, self.goodbye_interval) <= now
            {
                if let Some(q) = lo.queue.pop_front() {
                    lo.pacer.take(now, self.interval);
                    if q.goodbye {
                        lo.last_goodbye = Some(now);
                    }
                    self.ready.push_back(Transmit {
                        iface: link.iface,
                        destination: Destination::Multicast(link.family),
                        payload: q.payload,
                    });
                }
            }
        }
    }

    pub fn pop_ready(&mut self) -> Option<Transmit> {
        self.ready.pop_front()
    }

    /// Earliest time something here needs doing.
    pub fn next_deadline(&self) -> Option<Instant> {
        // A backlogged link's records are due when its queue drains: the paced deadline.
        let pending = self
            .pending
            .iter()
            .filter(|(l, _)| !self.backlogged(**l))
            .flat_map(|(_, m)| m.values().map(|p| p.due))
            .min();
        let paced = self
            .out
            .values()
            .filter(|lo| !lo.queue.is_empty())
            .map(|lo| lo.next_slot(self.burst, self.interval, self.goodbye_interval))
            .min();
        match (pending, paced) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Forgets a link (interface removed).
    pub fn remove_link(&mut self, link: LinkId) {
        self.pending.remove(&link);
        self.out.remove(&link);
        self.qu_sent.remove(&link);
        self.history.forget_link(link);
        self.ready.retain(|t| {
            !(t.iface == link.iface && t.destination == Destination::Multicast(link.family))
        });
    }
}
