//! Records learnt from other hosts, per link, with TTL expiry, cache-flush, goodbye, POOF
//! and reconfirm handling (RFC 6762 §5.2, §10). Bounded by `Limits::max_cache_records`:
//! the oldest entry is evicted first.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use crate::LinkId;
use crate::rng::Rng;
use crate::time::Instant;
use crate::wire::{Name, RData, Record, RecordType};

/// Key of an RRset on one link.
pub(crate) type RrsetKey = (LinkId, Name, RecordType);

/// One cached record.
#[derive(Clone, Debug)]
pub(crate) struct CacheEntry {
    pub link: LinkId,
    /// As received; `ttl` is the TTL it came with.
    pub record: Record,
    pub received: Instant,
    pub expires: Instant,
    /// Next refresh point (80/85/90/95 % of TTL plus 0-2 %), if any left.
    pub refresh_at: Option<Instant>,
    refresh_stage: u8,
    /// POOF (§10.5): unanswered queries seen since the first one.
    poof_count: u8,
    poof_first: Option<Instant>,
    /// Reconfirm (§10.4) deadline.
    reconfirm_deadline: Option<Instant>,
    /// Key in the timer set.
    timer: Instant,
}

impl CacheEntry {
    /// Remaining TTL in seconds at `now`.
    pub fn remaining_secs(&self, now: Instant) -> u32 {
        u32::try_from(self.expires.saturating_since(now).as_secs()).unwrap_or(u32::MAX)
    }

    /// True while at least half of the TTL is left (§7.1 known-answer rule).
    pub fn more_than_half_left(&self, now: Instant) -> bool {
        let total = self.expires.saturating_since(self.received);
        self.expires.saturating_since(now) * 2 > total && self.record.ttl > 0
    }

    fn deadline(&self) -> Instant {
        let mut t = self.expires;
        if let Some(r) = self.refresh_at {
            t = t.min(r);
        }
        if self.poof_count >= 2 {
            if let Some(first) = self.poof_first {
                t = t.min(first + Duration::from_secs(10));
            }
        }
        if let Some(r) = self.reconfirm_deadline {
            t = t.min(r);
        }
        t
    }
}

/// What a cache change means for queries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CacheChange {
    Added(LinkId, Record),
    Removed(LinkId, Record),
}

/// The cache.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    /// Entries by insertion order (id); the first is the oldest.
    entries: BTreeMap<u64, CacheEntry>,
    by_rrset: HashMap<RrsetKey, BTreeSet<u64>>,
    /// (link, name, rdata) -> entry, so refreshing one member of a large RRset (a PTR set
    /// with thousands of instances) costs no scan.
    by_record: HashMap<(LinkId, Name, RData), u64>,
    /// Types cached per (link, name), so ANY questions cost no full scan.
    by_name: HashMap<(LinkId, Name), Vec<RecordType>>,
    timers: BTreeSet<(Instant, u64)>,
    next_id: u64,
    cap: usize,
    /// Evictions so far.
    pub evictions: u64,
}

fn refresh_point(received: Instant, ttl: u32, stage: u8, rng: &mut Rng) -> Option<Instant> {
    let percent: u64 = match stage {
        0 => 80,
        1 => 85,
        2 => 90,
        3 => 95,
        _ => return None,
    };
    let ttl_ms = u64::from(ttl) * 1000;
    // percent of TTL plus a random 0-2 % of TTL (RFC 6762 §5.2).
    let base = ttl_ms * percent / 100;
    let jitter = rng.range(0, ttl_ms * 2 / 100);
    Some(received + Duration::from_millis(base + jitter))
}

impl Cache {
    pub fn new(cap: usize) -> Cache {
        Cache {
            cap,
            ..Cache::default()
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    fn set_timer(&mut self, id: u64) {
        if let Some(e) = self.entries.get_mut(&id) {
            self.timers.remove(&(e.timer, id));
            e.timer = e.deadline();
            self.timers.insert((e.timer, id));
        }
    }

    fn remove_id(&mut self, id: u64) -> Option<CacheEntry> {
        let e = self.entries.remove(&id)?;
        self.timers.remove(&(e.timer, id));
        let key = (e.link, e.record.name.clone(), e.record.rtype());
        self.by_record
            .remove(&(e.link, e.record.name.clone(), e.record.rdata.clone()));
        if let Some(ids) = self.by_rrset.get_mut(&key) {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_rrset.remove(&key);
                let nk = (key.0, key.1);
                if let Some(types) = self.by_name.get_mut(&nk) {
                    types.retain(|t| *t != key.2);
                    if types.is_empty() {
                        self.by_name.remove(&nk);
                    }
                }
            }
        }
        Some(e)
    }

    /// Entries of one RRset.
    pub fn rrset(
        &self,
        link: LinkId,
        name: &Name,
        rtype: RecordType,
    ) -> impl Iterator<Item = &CacheEntry> {
        self.by_rrset
            .get(&(link, name.clone(), rtype))
            .into_iter()
            .flatten()
            .filter_map(|id| self.entries.get(id))
    }

    /// Entries answering a question (name, type or ANY) on a link.
    pub fn answers(&self, link: LinkId, name: &Name, qtype: RecordType) -> Vec<&CacheEntry> {
        if qtype == RecordType::ANY {
            let types = self
                .by_name
                .get(&(link, name.clone()))
                .cloned()
                .unwrap_or_default();
            types
                .into_iter()
                .flat_map(|t| self.rrset(link, name, t))
                .collect()
        } else {
            self.rrset(link, name, qtype).collect()
        }
    }

    /// All entries (for tests).
    #[cfg(test)]
    pub fn iter(&self) -> impl Iterator<Item = &CacheEntry> {
        self.entries.values()
    }

    fn find(&self, link: LinkId, record: &Record) -> Option<u64> {
        self.by_record
            .get(&(link, record.name.clone(), record.rdata.clone()))
            .copied()
    }

    /// Inserts or refreshes a record from a response. Handles goodbyes (TTL 0: expire in 1 s)
    /// and the cache-flush bit (other members of the RRset older than 1 s expire in 1 s).
    pub fn insert(
        &mut self,
        now: Instant,
        link: LinkId,
        record: &Record,
        rng: &mut Rng,
        out: &mut Vec<CacheChange>,
    ) {
        let one_sec = Duration::from_secs(1);
        if record.cache_flush {
            let ids: Vec<u64> = self
                .by_rrset
                .get(&(link, record.name.clone(), record.rtype()))
                .map(|ids| ids.iter().copied().collect())
                .unwrap_or_default();
            for id in ids {
                let mut changed = false;
                if let Some(e) = self.entries.get_mut(&id) {
                    if e.record.rdata != record.rdata
                        && e.received + one_sec <= now
                        && e.expires > now + one_sec
                    {
                        e.expires = now + one_sec;
                        e.refresh_at = None;
                        changed = true;
                    }
                }
                if changed {
                    self.set_timer(id);
                }
            }
        }
        if let Some(id) = self.find(link, record) {
            if let Some(e) = self.entries.get_mut(&id) {
                if record.ttl == 0 {
                    // Goodbye: delete after one second (§10.1).
                    e.expires = e.expires.min(now + one_sec);
                    e.refresh_at = None;
                } else {
                    e.record.ttl = record.ttl;
                    e.record.cache_flush = record.cache_flush;
                    e.received = now;
                    e.expires = now + Duration::from_secs(u64::from(record.ttl));
                    e.refresh_stage = 0;
                    e.refresh_at = refresh_point(now, record.ttl, 0, rng);
                }
                e.poof_count = 0;
                e.poof_first = None;
                e.reconfirm_deadline = None;
            }
            self.set_timer(id);
            return;
        }
        if record.ttl == 0 {
            return; // goodbye for something we never had
        }
        while self.entries.len() >= self.cap.max(1) {
            let Some((&oldest, _)) = self.entries.first_key_value() else {
                break;
            };
            if let Some(e) = self.remove_id(oldest) {
                self.evictions += 1;
                out.push(CacheChange::Removed(e.link, e.record));
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        let entry = CacheEntry {
            link,
            record: record.clone(),
            received: now,
            expires: now + Duration::from_secs(u64::from(record.ttl)),
            refresh_at: refresh_point(now, record.ttl, 0, rng),
            refresh_stage: 0,
            poof_count: 0,
            poof_first: None,
            reconfirm_deadline: None,
            timer: now,
        };
        self.entries.insert(id, entry);
        self.timers.insert((now, id));
        self.set_timer(id);
        let ids = self
            .by_rrset
            .entry((link, record.name.clone(), record.rtype()))
            .or_default();
        if ids.is_empty() {
            self.by_name
                .entry((link, record.name.clone()))
                .or_default()
                .push(record.rtype());
        }
        ids.insert(id);
        self.by_record
            .insert((link, record.name.clone(), record.rdata.clone()), id);
        out.push(CacheChange::Added(link, record.clone()));
    }

    /// A peer asked a question our cache answers without listing `known` among its known
    /// answers: count it towards POOF (§10.5).
    pub fn note_unanswered_query(
        &mut self,
        now: Instant,
        link: LinkId,
        name: &Name,
        qtype: RecordType,
        known: &[Record],
    ) {
        let ids: Vec<u64> = self
            .answers(link, name, qtype)
            .iter()
            .filter_map(|e| self.find(link, &e.record))
            .collect();
        if ids.is_empty() {
            return;
        }
        let known: std::collections::HashSet<(&Name, &RData)> =
            known.iter().map(|k| (&k.name, &k.rdata)).collect();
        for id in ids {
            let mut changed = false;
            if let Some(e) = self.entries.get_mut(&id) {
                if known.contains(&(&e.record.name, &e.record.rdata)) {
                    continue;
                }
                // A window older than 10 s starts over: only queries close together count.
                if e.poof_first
                    .is_none_or(|f| f + Duration::from_secs(10) < now)
                {
                    e.poof_first = Some(now);
                    e.poof_count = 0;
                }
                e.poof_count = e.poof_count.saturating_add(1);
                changed = e.poof_count == 2;
            }
            if changed {
                self.set_timer(id);
            }
        }
    }

    /// Start reconfirming matching records (§10.4): flushed unless seen again within 10 s.
    /// `rdata: None` matches every record of `name`. Returns the RRsets to query.
    pub fn reconfirm(
        &mut self,
        now: Instant,
        name: &Name,
        rdata: Option<&RData>,
    ) -> Vec<(LinkId, Name, RecordType)> {
        let ids: Vec<u64> = self
            .entries
            .iter()
            .filter(|(_, e)| e.record.name == *name && rdata.is_none_or(|d| e.record.rdata == *d))
            .map(|(id, _)| *id)
            .collect();
        let mut out = Vec::new();
        for id in ids {
            if let Some(e) = self.entries.get_mut(&id) {
                e.reconfirm_deadline = Some(now + Duration::from_secs(10));
                out.push((e.link, e.record.name.clone(), e.record.rtype()));
            }
            self.set_timer(id);
        }
        out
    }

    /// Drops every entry of a link (interface gone).
    pub fn remove_link(&mut self, link: LinkId, out: &mut Vec<CacheChange>) {
        let ids: Vec<u64> = self
            .entries
            .iter()
            .filter(|(_, e)| e.link == link)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(e) = self.remove_id(id) {
                out.push(CacheChange::Removed(e.link, e.record));
            }
        }
    }

    /// Earliest time something needs doing.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.first().map(|(t, _)| *t)
    }

    /// Expires entries and returns RRsets due for a refresh query (the querier decides if
    /// anyone is interested).
    pub fn run(
        &mut self,
        now: Instant,
        rng: &mut Rng,
        out: &mut Vec<CacheChange>,
    ) -> Vec<RrsetKey> {
        let mut refresh = Vec::new();
        while let Some(&(t, id)) = self.timers.first() {
            if t > now {
                break;
            }
            let Some(e) = self.entries.get_mut(&id) else {
                self.timers.remove(&(t, id));
                continue;
            };
            let poof_due = e.poof_count >= 2
                && e.poof_first
                    .is_some_and(|f| f + Duration::from_secs(10) <= now);
            let reconfirm_due = e.reconfirm_deadline.is_some_and(|d| d <= now);
            if e.expires <= now || poof_due || reconfirm_due {
                if let Some(e) = self.remove_id(id) {
                    out.push(CacheChange::Removed(e.link, e.record));
                }
                continue;
            }
            if e.refresh_at.is_some_and(|r| r <= now) {
                refresh.push((e.link, e.record.name.clone(), e.record.rtype()));
                e.refresh_stage += 1;
                e.refresh_at = refresh_point(e.received, e.record.ttl, e.refresh_stage, rng);
            }
            self.set_timer(id);
        }
        refresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Family, InterfaceId};
    use crate::wire::CLASS_IN;
    use std::net::Ipv4Addr;

    fn link() -> LinkId {
        LinkId {
            iface: InterfaceId(1),
            family: Family::V4,
        }
    }

    fn a(name: &str, ip: [u8; 4], ttl: u32, flush: bool) -> Record {
        Record {
            name: Name::from_dotted(name).unwrap(),
            class: CLASS_IN,
            cache_flush: flush,
            ttl,
            rdata: RData::A(Ipv4Addr::from(ip)),
        }
    }

    #[test]
    fn ttl_expiry_and_cap_evicts_oldest() {
        let mut rng = Rng::new(1);
        let mut c = Cache::new(3);
        let mut out = Vec::new();
        for i in 0..4u8 {
            c.insert(
                Instant::ZERO,
                link(),
                &a("h.local", [10, 0, 0, i], 120, false),
                &mut rng,
                &mut out,
            );
        }
        assert_eq!(c.len(), 3);
        assert_eq!(c.evictions, 1);
        assert!(out.contains(&CacheChange::Removed(
            link(),
            a("h.local", [10, 0, 0, 0], 120, false)
        )));
        out.clear();
        let refresh = c.run(Instant::from_millis(95_999), &mut rng, &mut out);
        assert!(refresh.is_empty(), "no refresh before 80 %");
        let refresh = c.run(Instant::from_millis(98_400), &mut rng, &mut out);
        assert!(out.is_empty());
        assert_eq!(refresh.len(), 3, "80 % of 120 s = 96 s, plus up to 2.4 s");
        c.run(Instant::from_millis(120_000), &mut rng, &mut out);
        assert_eq!(c.len(), 0);
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn goodbye_deletes_after_one_second() {
        let mut rng = Rng::new(1);
        let mut c = Cache::new(10);
        let mut out = Vec::new();
        c.insert(
            Instant::ZERO,
            link(),
            &a("h.local", [10, 0, 0, 1], 120, true),
            &mut rng,
            &mut out,
        );
        c.insert(
            Instant::from_millis(5000),
            link(),
            &a("h.local", [10, 0, 0, 1], 0, true),
            &mut rng,
            &mut out,
        );
        out.clear();
        c.run(Instant::from_millis(5999), &mut rng, &mut out);
        assert_eq!(c.len(), 1);
        c.run(Instant::from_millis(6000), &mut rng, &mut out);
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn cache_flush_spares_records_younger_than_one_second() {
        let mut rng = Rng::new(1);
        let mut c = Cache::new(10);
        let mut out = Vec::new();
        c.insert(
            Instant::ZERO,
            link(),
            &a("h.local", [10, 0, 0, 1], 120, true),
            &mut rng,
            &mut out,
        );
        c.insert(
            Instant::from_millis(1500),
            link(),
            &a("h.local", [10, 0, 0, 2], 120, true),
            &mut rng,
            &mut out,
        );
        // Third member arrives 0.5 s after the second: the second must survive.
        c.insert(
            Instant::from_millis(2000),
            link(),
            &a("h.local", [10, 0, 0, 3], 120, true),
            &mut rng,
            &mut out,
        );
        out.clear();
        c.run(Instant::from_millis(3100), &mut rng, &mut out);
        let left: Vec<_> = c.iter().map(|e| e.record.rdata.clone()).collect();
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(!left.contains(&RData::A(Ipv4Addr::new(10, 0, 0, 1))));
    }

    #[test]
    fn poof_needs_two_queries_and_ten_seconds() {
        let mut rng = Rng::new(1);
        let mut c = Cache::new(10);
        let mut out = Vec::new();
        let r = a("h.local", [10, 0, 0, 1], 4500, true);
        c.insert(Instant::ZERO, link(), &r, &mut rng, &mut out);
        let n = r.name.clone();
        c.note_unanswered_query(Instant::from_millis(1000), link(), &n, RecordType::A, &[]);
        c.run(Instant::from_millis(20_000), &mut rng, &mut out);
        assert_eq!(c.len(), 1, "one query is not enough");
        c.note_unanswered_query(Instant::from_millis(21_000), link(), &n, RecordType::A, &[]);
        c.note_unanswered_query(Instant::from_millis(22_000), link(), &n, RecordType::A, &[]);
        c.run(Instant::from_millis(30_999), &mut rng, &mut out);
        assert_eq!(c.len(), 1, "10 s not yet elapsed since the first query");
        c.run(Instant::from_millis(31_000), &mut rng, &mut out);
        assert_eq!(c.len(), 0);
        // A query listing the record as a known answer does not count.
        c.insert(Instant::ZERO, link(), &r, &mut rng, &mut out);
        c.note_unanswered_query(
            Instant::from_millis(1000),
            link(),
            &n,
            RecordType::A,
            std::slice::from_ref(&r),
        );
        c.note_unanswered_query(
            Instant::from_millis(1000),
            link(),
            &n,
            RecordType::A,
            std::slice::from_ref(&r),
        );
        c.run(Instant::from_millis(20_000), &mut rng, &mut out);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn any_question_sees_every_type_of_the_name_and_index_follows_removal() {
        let mut rng = Rng::new(1);
        let mut c = Cache::new(10);
        let mut out = Vec::new();
        let n = Name::from_dotted("h.local").unwrap();
        c.insert(
            Instant::ZERO,
            link(),
            &a("h.local", [10, 0, 0, 1], 120, false),
            &mut rng,
            &mut out,
        );
        let txt = Record {
            name: n.clone(),
            class: CLASS_IN,
            cache_flush: false,
            ttl: 10,
            rdata: RData::Txt(vec![0]),
        };
        c.insert(Instant::ZERO, link(), &txt, &mut rng, &mut out);
        assert_eq!(c.answers(link(), &n, RecordType::ANY).len(), 2);
        c.run(Instant::from_millis(10_000), &mut rng, &mut out);
        assert_eq!(c.answers(link(), &n, RecordType::ANY).len(), 1);
        assert!(
            c.by_name
                .get(&(link(), n))
                .is_some_and(|t| t == &vec![RecordType::A])
        );
    }
}
