//! Records we own: probing, announcing, answering, goodbyes and conflict handling
//! (RFC 6762 §6, §8, §9, §10; RFC 6763 §§7, 9, 12).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::Duration;

use crate::LinkId;
use crate::api::{CommandError, Event, RegistrationFailure, RegistrationId, ServiceSpec};
use crate::config::InterfaceId;
use crate::engine::Ctx;
use crate::packet;
use crate::ratelimit::WindowLimiter;
use crate::scheduler::PendingKind;
use crate::time::Instant;
use crate::wire::{CLASS_ANY, CLASS_IN, Name, Question, RData, Record, RecordType};

/// TTL of records naming a host (A, AAAA, SRV, reverse PTR): RFC 6762 §10.
pub const HOST_TTL: u32 = 120;
/// TTL of other records (PTR, TXT): RFC 6762 §10.
pub const OTHER_TTL: u32 = 4500;

const PROBE_INTERVAL: Duration = Duration::from_millis(250);
const PROBES: u8 = 3;

/// Where one group of our records (the host's, or one service's) stands on one link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// `sent` probes out; the next step at `next`.
    Probing { sent: u8, next: Instant },
    /// Probing done; `sent` announcements out, the next at `next`.
    Announcing { sent: u8, next: Instant },
    /// Announced; answering and defending.
    Established,
}

impl Phase {
    fn answers(self) -> bool {
        !matches!(self, Phase::Probing { .. })
    }
}

#[derive(Clone, Copy, Debug)]
struct LinkState {
    phase: Phase,
    /// Something of this group was multicast here (so goodbyes are due on removal).
    announced: bool,
}

/// Which of our record groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum GroupId {
    Host,
    Service(RegistrationId),
}

#[derive(Debug)]
struct Host {
    base: String,
    label: String,
    n: u32,
    name: Name,
    links: BTreeMap<LinkId, LinkState>,
    /// Probed and published: some registration's SRV targets our host. An engine that
    /// publishes nothing (or only services naming other hosts) claims no host name.
    claimed: bool,
    /// Reverse-mapping PTRs are published (configured, and not withdrawn after meeting
    /// another responder's record for the same reverse name).
    reverse: bool,
}

#[derive(Debug)]
struct Service {
    base: String,
    label: String,
    n: u32,
    name: Name,
    type_name: Name,
    sub_names: Vec<Name>,
    /// `None`: our host name.
    custom_target: Option<Name>,
    port: u16,
    txt: Vec<u8>,
    iface: Option<InterfaceId>,
    links: BTreeMap<LinkId, LinkState>,
    txt_updates: WindowLimiter,
    /// Re-announcements of the TXT record: (sent, next) per link.
    txt_announce: BTreeMap<LinkId, (u8, Instant)>,
    /// `RegistrationEstablished` sent for the current name.
    reported: bool,
}

/// The responder.
#[derive(Debug)]
pub(crate) struct Responder {
    host: Option<Host>,
    local: Name,
    meta: Name,
    services: BTreeMap<RegistrationId, Service>,
    by_instance: HashMap<Name, RegistrationId>,
    /// Service type and subtype names -> services (PTR answers).
    by_ptr_name: HashMap<Name, BTreeSet<RegistrationId>>,
    /// Base service types -> services (service type enumeration).
    by_type: HashMap<Name, BTreeSet<RegistrationId>>,
    iface_addrs: BTreeMap<InterfaceId, Vec<IpAddr>>,
    links: BTreeSet<LinkId>,
    conflicts: WindowLimiter,
    /// Set when 15 conflicts happened within 10 s; cleared after 10 s without conflict.
    probe_limited: bool,
    last_conflict: Option<Instant>,
    last_probe_attempt: Option<Instant>,
    /// First-probe time of the batch still waiting on each link (new groups join it, so
    /// many registrations probe in few datagrams).
    probe_batch: BTreeMap<LinkId, Instant>,
    next_id: u64,
    /// Groups sent back to probing by a conflict in the response being processed: the
    /// rest of that message does not count as answering the new probe (RFC 6762 §9).
    restarted_by_message: BTreeSet<GroupId>,
    /// Cached result of `next_deadline` (`None`: recompute). Every `&mut` entry point
    /// clears it, so `run` and `poll_timeout` cost O(1) while nothing is due.
    deadline: std::cell::Cell<Option<Option<Instant>>>,
}

/// The reverse-mapping name of an address (RFC 1035 §3.5, RFC 3596 §2.5).
pub(crate) fn reverse_name(addr: &IpAddr) -> Option<Name> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut labels: Vec<Vec<u8>> = Vec::new();
    match addr {
        IpAddr::V4(v4) => {
            labels.extend(v4.octets().iter().rev().map(|o| o.to_string().into_bytes()));
            labels.push(b"in-addr".to_vec());
        }
        IpAddr::V6(v6) => {
            for o in v6.octets().iter().rev() {
                for nibble in [o & 0x0F, o >> 4] {
                    labels.push(vec![HEX.get(usize::from(nibble)).copied().unwrap_or(b'0')]);
                }
            }
            labels.push(b"ip6".to_vec());
        }
    }
    labels.push(b"arpa".to_vec());
    Name::from_labels(labels).ok()
}

/// Whether `name` is under `arpa.` (a reverse-mapping name).
fn is_reverse_name(name: &Name) -> bool {
    name.labels()
        .last()
        .is_some_and(|l| l.eq_ignore_ascii_case(b"arpa"))
}

/// TXT data longer than this is "not recommended" (RFC 6763 §6.2): registering or updating
/// it raises [`Event::TxtTooLarge`] but publishes it.
pub const TXT_WARN_LEN: usize = 1300;

/// The longest TXT data a service of type `type_name` can carry: its probe (question, SRV
/// with the longest target and TXT, for the longest instance label) must fit in one
/// 9000-byte message (RFC 6762 §17).
fn max_txt_len(type_name: &Name) -> usize {
    let owner = 1 + 63 + type_name.wire_len();
    let probe_overhead = 12 + (owner + 4) + (2 + 10 + 6 + 255) + (2 + 10);
    packet::MAX_MESSAGE.saturating_sub(probe_overhead)
}

fn label_name(label: &str, parent: &Name) -> Result<Name, CommandError> {
    parent
        .prepend(label.as_bytes())
        .map_err(|_| CommandError::InvalidName(label.to_owned()))
}

fn valid_service_label(s: &str, proto: bool) -> bool {
    let Some(rest) = s.strip_prefix('_') else {
        return false;
    };
    if proto {
        return rest == "tcp" || rest == "udp";
    }
    !rest.is_empty()
        && rest.len() <= 15
        && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn valid_subtype(s: &str) -> bool {
    !s.is_empty() && s.len() <= 63 && !s.bytes().any(|b| b < 0x20 || b == 0x7f)
}

fn valid_txt(txt: &[u8]) -> bool {
    let mut rest = txt;
    while let Some((&len, tail)) = rest.split_first() {
        let Some(next) = tail.get(usize::from(len)..) else {
            return false;
        };
        rest = next;
    }
    true
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

/// `Name` -> `Name (2)` -> `Name (3)` (mDNSResponder style), within 63 bytes.
fn service_label(base: &str, n: u32) -> String {
    if n <= 1 {
        return base.to_owned();
    }
    let suffix = format!(" ({n})");
    format!("{}{}", truncate_utf8(base, 63 - suffix.len()), suffix)
}

/// `host` -> `host-2` -> `host-3`.
fn host_label(base: &str, n: u32) -> String {
    if n <= 1 {
        return base.to_owned();
    }
    let suffix = format!("-{n}");
    format!("{}{}", truncate_utf8(base, 63 - suffix.len()), suffix)
}

/// Splits `Name (7)` into (`Name`, 7) so renames continue the count.
fn split_counter(label: &str) -> (String, u32) {
    if let Some(open) = label.rfind(" (") {
        if let Some(num) = label.get(open + 2..label.len().saturating_sub(1)) {
            if label.ends_with(')') {
                if let Ok(n) = num.parse::<u32>() {
                    if n >= 2 {
                        return (label.get(..open).unwrap_or(label).to_owned(), n);
                    }
                }
            }
        }
    }
    (label.to_owned(), 1)
}

fn rec(name: &Name, ttl: u32, unique: bool, rdata: RData) -> Record {
    Record {
        name: name.clone(),
        class: CLASS_IN,
        cache_flush: unique,
        ttl,
        rdata,
    }
}

/// RFC 6762 §8.2: compare (class, type, rdata) of the sorted record sets; `Greater` means
/// `ours` wins.
fn tiebreak(ours: &[Record], theirs: &[&Record]) -> std::cmp::Ordering {
    let key = |r: &Record| (r.class & 0x7fff, r.rtype().0, r.rdata_wire());
    let mut a: Vec<_> = ours.iter().map(key).collect();
    let mut b: Vec<_> = theirs.iter().map(|r| key(r)).collect();
    a.sort();
    b.sort();
    a.cmp(&b)
}

impl Responder {
    pub fn new(host_name: &str, reverse_mapping: bool) -> Responder {
        let local = Name::from_dotted("local.").unwrap_or_else(|_| Name::root());
        let meta =
            Name::from_dotted("_services._dns-sd._udp.local.").unwrap_or_else(|_| Name::root());
        let host = if host_name.is_empty() {
            None
        } else {
            let label = truncate_utf8(host_name, 63).to_owned();
            local.prepend(label.as_bytes()).ok().map(|name| Host {
                base: label.clone(),
                label,
                n: 1,
                name,
                links: BTreeMap::new(),
                claimed: false,
                reverse: reverse_mapping,
            })
        };
        Responder {
            host,
            local,
            meta,
            services: BTreeMap::new(),
            by_instance: HashMap::new(),
            by_ptr_name: HashMap::new(),
            by_type: HashMap::new(),
            iface_addrs: BTreeMap::new(),
            links: BTreeSet::new(),
            conflicts: WindowLimiter::new(15, Duration::from_secs(10)),
            probe_limited: false,
            last_conflict: None,
            last_probe_attempt: None,
            probe_batch: BTreeMap::new(),
            next_id: 1,
            restarted_by_message: BTreeSet::new(),
            deadline: std::cell::Cell::new(None),
        }
    }

    /// Our host's full name, if we publish one.
    pub fn host_name(&self) -> Option<&Name> {
        self.host.as_ref().map(|h| &h.name)
    }

    // ---------------------------------------------------------------- record sets

    fn host_records(&self, iface: InterfaceId) -> Vec<Record> {
        let Some(h) = &self.host else {
            return Vec::new();
        };
        self.iface_addrs
            .get(&iface)
            .into_iter()
            .flatten()
            .map(|a| match a {
                IpAddr::V4(v4) => rec(&h.name, HOST_TTL, true, RData::A(*v4)),
                IpAddr::V6(v6) => rec(&h.name, HOST_TTL, true, RData::Aaaa(*v6)),
            })
            .collect()
    }

    /// Reverse-mapping PTRs for the host's addresses on `iface` (`5.1.168.192.in-addr.arpa`
    /// and nibble `ip6.arpa` names pointing at the host name), unique with the host TTL, as
    /// Avahi publishes them. Probed (each name its own question) and announced, answered and
    /// said goodbye to with the address records; withdrawn for good when another responder
    /// claims one of the names ([`Responder::withdraw_reverse`]).
    fn reverse_records(&self, iface: InterfaceId) -> Vec<Record> {
        let Some(h) = self.host.as_ref().filter(|h| h.reverse) else {
            return Vec::new();
        };
        self.iface_addrs
            .get(&iface)
            .into_iter()
            .flatten()
            .filter_map(reverse_name)
            .map(|n| rec(&n, HOST_TTL, true, RData::Ptr(h.name.clone())))
            .collect()
    }

    fn all_host_rdata(&self) -> impl Iterator<Item = RData> + '_ {
        self.iface_addrs.values().flatten().map(|a| match a {
            IpAddr::V4(v4) => RData::A(*v4),
            IpAddr::V6(v6) => RData::Aaaa(*v6),
        })
    }

    fn target(&self, s: &Service) -> Name {
        match (&s.custom_target, &self.host) {
            (Some(t), _) => t.clone(),
            (None, Some(h)) => h.name.clone(),
            (None, None) => self.local.clone(),
        }
    }

    fn srv(&self, s: &Service) -> Record {
        rec(
            &s.name,
            HOST_TTL,
            true,
            RData::Srv {
                priority: 0,
                weight: 0,
                port: s.port,
                target: self.target(s),
            },
        )
    }

    fn txt(s: &Service) -> Record {
        rec(&s.name, OTHER_TTL, true, RData::Txt(s.txt.clone()))
    }

    /// Unique records of a service (the probe proposals).
    fn service_unique(&self, s: &Service) -> Vec<Record> {
        vec![self.srv(s), Self::txt(s)]
    }

    fn service_shared(&self, s: &Service) -> Vec<Record> {
        let mut v = vec![rec(
            &s.type_name,
            OTHER_TTL,
            false,
            RData::Ptr(s.name.clone()),
        )];
        for sub in &s.sub_names {
            v.push(rec(sub, OTHER_TTL, false, RData::Ptr(s.name.clone())));
        }
        v.push(rec(
            &self.meta,
            OTHER_TTL,
            false,
            RData::Ptr(s.type_name.clone()),
        ));
        v
    }

    fn group_unique(&self, g: GroupId, link: LinkId) -> Vec<Record> {
        match g {
            GroupId::Host => self.host_records(link.iface),
            GroupId::Service(id) => self
                .services
                .get(&id)
                .map(|s| self.service_unique(s))
                .unwrap_or_default(),
        }
    }

    fn group_all(&self, g: GroupId, link: LinkId) -> Vec<Record> {
        match g {
            GroupId::Host => {
                let mut v = self.host_records(link.iface);
                v.extend(self.reverse_records(link.iface));
                v
            }
            GroupId::Service(id) => self
                .services
                .get(&id)
                .map(|s| {
                    let mut v = self.service_shared(s);
                    v.extend(self.service_unique(s));
                    v
                })
                .unwrap_or_default(),
        }
    }

    fn group_name(&self, g: GroupId) -> Option<&Name> {
        match g {
            GroupId::Host => self.host.as_ref().map(|h| &h.name),
            GroupId::Service(id) => self.services.get(&id).map(|s| &s.name),
        }
    }

    fn links_of(&self, g: GroupId) -> Option<&BTreeMap<LinkId, LinkState>> {
        match g {
            GroupId::Host => self.host.as_ref().map(|h| &h.links),
            GroupId::Service(id) => self.services.get(&id).map(|s| &s.links),
        }
    }

    fn links_of_mut(&mut self, g: GroupId) -> Option<&mut BTreeMap<LinkId, LinkState>> {
        match g {
            GroupId::Host => self.host.as_mut().map(|h| &mut h.links),
            GroupId::Service(id) => self.services.get_mut(&id).map(|s| &mut s.links),
        }
    }

    fn groups(&self) -> Vec<GroupId> {
        let mut v: Vec<GroupId> = Vec::with_capacity(self.services.len() + 1);
        if self.host_claimed() {
            v.push(GroupId::Host);
        }
        v.extend(self.services.keys().map(|id| GroupId::Service(*id)));
        v
    }

    // ---------------------------------------------------------------- probing schedule

    /// When a new probe attempt on `link` may start.
    fn probe_start(&mut self, link: LinkId, cx: &mut Ctx<'_>) -> Instant {
        let now = cx.now;
        if self
            .last_conflict
            .is_none_or(|t| t + Duration::from_secs(10) <= now)
        {
            self.probe_limited = false;
        }
        if self.probe_limited {
            // RFC 6762 §8.1: after 15 conflicts in 10 s, 5 s between probe attempts.
            return self
                .last_probe_attempt
                .map_or(now, |l| (l + Duration::from_secs(5)).max(now));
        }
        if let Some(t) = self.probe_batch.get(&link) {
            if *t > now {
                return *t;
            }
        }
        let t = now + cx.rng.duration(Duration::ZERO, Duration::from_millis(250));
        self.probe_batch.insert(link, t);
        t
    }

    fn start_probing(
        &mut self,
        g: GroupId,
        link: LinkId,
        cx: &mut Ctx<'_>,
        delay: Option<Instant>,
    ) {
        let has_unique = !self.group_unique(g, link).is_empty();
        let start = match delay {
            Some(t) => t,
            None => self.probe_start(link, cx),
        };
        if let Some(links) = self.links_of_mut(g) {
            let announced = links.get(&link).is_some_and(|l| l.announced);
            let phase = if has_unique {
                Phase::Probing {
                    sent: 0,
                    next: start,
                }
            } else {
                Phase::Announcing {
                    sent: 0,
                    next: cx.now,
                }
            };
            links.insert(link, LinkState { phase, announced });
        }
    }

    fn restart_group(&mut self, g: GroupId, cx: &mut Ctx<'_>, delay: Option<Instant>) {
        let links: Vec<LinkId> = self
            .links_of(g)
            .map(|l| l.keys().copied().collect())
            .unwrap_or_default();
        for link in links {
            self.start_probing(g, link, cx, delay);
        }
    }

    // ---------------------------------------------------------------- commands

    pub fn register(
        &mut self,
        spec: &ServiceSpec,
        cx: &mut Ctx<'_>,
    ) -> Result<RegistrationId, CommandError> {
        self.deadline.set(None);
        if self.services.len() >= cx.cfg.limits.max_registrations {
            return Err(CommandError::LimitReached("registrations"));
        }
        if spec.instance.is_empty()
            || spec.instance.len() > 63
            || spec.instance.chars().any(char::is_control)
        {
            return Err(CommandError::InvalidInstanceName(spec.instance.clone()));
        }
        let mut parts = spec.service_type.trim_end_matches('.').split('.');
        let (Some(svc), Some(proto), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CommandError::InvalidServiceType(spec.service_type.clone()));
        };
        if !valid_service_label(svc, false)
            || !valid_service_label(&proto.to_ascii_lowercase(), true)
        {
            return Err(CommandError::InvalidServiceType(spec.service_type.clone()));
        }
        let domain = match &spec.domain {
            None => self.local.clone(),
            Some(d) => Name::from_dotted(d).map_err(|_| CommandError::InvalidName(d.clone()))?,
        };
        let type_name = label_name(svc, &label_name(proto, &domain)?)?;
        let mut sub_names = Vec::new();
        for sub in &spec.subtypes {
            if !valid_subtype(sub) {
                return Err(CommandError::InvalidServiceType(sub.clone()));
            }
            let sub_parent = type_name
                .prepend(b"_sub")
                .map_err(|_| CommandError::InvalidServiceType(sub.clone()))?;
            sub_names.push(
                label_name(sub, &sub_parent)
                    .map_err(|_| CommandError::InvalidServiceType(sub.clone()))?,
            );
        }
        let custom_target = match &spec.host {
            None => None,
            Some(h) => {
                let n = Name::from_dotted(h).map_err(|_| CommandError::InvalidName(h.clone()))?;
                let first = n.first_label().map(<[u8]>::to_vec);
                Some(match first {
                    Some(l) if n.label_count() == 1 => self.local.prepend(&l).unwrap_or(n),
                    _ => n,
                })
            }
        };
        let txt = if spec.txt.is_empty() {
            vec![0]
        } else {
            spec.txt.clone()
        };
        if !valid_txt(&txt) {
            return Err(CommandError::InvalidTxt);
        }
        let max = max_txt_len(&type_name);
        if txt.len() > max {
            return Err(CommandError::TxtTooLarge {
                len: txt.len(),
                max,
            });
        }
        let (base, mut n) = split_counter(&spec.instance);
        // Local uniqueness: another of our services may already hold the name.
        let mut name = label_name(&service_label(&base, n), &type_name)
            .map_err(|_| CommandError::InvalidInstanceName(spec.instance.clone()))?;
        while self.by_instance.contains_key(&name) {
            n += 1;
            name = label_name(&service_label(&base, n), &type_name)
                .map_err(|_| CommandError::InvalidInstanceName(spec.instance.clone()))?;
        }
        let id = RegistrationId(self.next_id);
        self.next_id += 1;
        let svc = Service {
            label: service_label(&base, n),
            base,
            n,
            name: name.clone(),
            type_name: type_name.clone(),
            sub_names: sub_names.clone(),
            custom_target,
            port: spec.port,
            txt,
            iface: spec.iface,
            links: BTreeMap::new(),
            txt_updates: WindowLimiter::new(10, Duration::from_secs(60)),
            txt_announce: BTreeMap::new(),
            reported: false,
        };
        self.by_instance.insert(name, id);
        self.by_ptr_name
            .entry(type_name.clone())
            .or_default()
            .insert(id);
        for s in sub_names {
            self.by_ptr_name.entry(s).or_default().insert(id);
        }
        self.by_type.entry(type_name).or_default().insert(id);
        self.services.insert(id, svc);
        let links: Vec<LinkId> = self
            .links
            .iter()
            .copied()
            .filter(|l| spec.iface.is_none_or(|i| i == l.iface))
            .collect();
        for link in links {
            self.start_probing(GroupId::Service(id), link, cx, None);
        }
        if spec.host.is_none() {
            self.claim_host(cx);
        }
        if spec.txt.len() > TXT_WARN_LEN {
            cx.stats.large_txt += 1;
            cx.events.push(Event::TxtTooLarge {
                id,
                len: spec.txt.len(),
            });
        }
        Ok(id)
    }

    pub fn update_txt(
        &mut self,
        id: RegistrationId,
        txt: &[u8],
        cx: &mut Ctx<'_>,
    ) -> Result<(), CommandError> {
        self.deadline.set(None);
        let txt = if txt.is_empty() {
            vec![0]
        } else {
            txt.to_vec()
        };
        if !valid_txt(&txt) {
            return Err(CommandError::InvalidTxt);
        }
        let s = self.services.get_mut(&id).ok_or(CommandError::UnknownId)?;
        let max = max_txt_len(&s.type_name);
        if txt.len() > max {
            return Err(CommandError::TxtTooLarge {
                len: txt.len(),
                max,
            });
        }
        if s.txt == txt {
            return Ok(());
        }
        if txt.len() > TXT_WARN_LEN {
            cx.stats.large_txt += 1;
            cx.events.push(Event::TxtTooLarge { id, len: txt.len() });
        }
        s.txt = txt;
        // RFC 6762 §8.4: at most 10 updates per minute; later ones wait.
        let at = s.txt_updates.next_allowed(cx.now);
        s.txt_updates.record(at);
        for (link, st) in &s.links {
            if st.phase.answers() {
                s.txt_announce.insert(*link, (0, at));
            }
        }
        Ok(())
    }

    /// Removes a registration, queueing goodbyes where it was announced.
    pub fn deregister(&mut self, id: RegistrationId, cx: &mut Ctx<'_>) -> Result<(), CommandError> {
        self.deadline.set(None);
        let s = self.services.get(&id).ok_or(CommandError::UnknownId)?;
        let mut goodbyes: Vec<(LinkId, Record)> = Vec::new();
        let type_in_use = self
            .by_type
            .get(&s.type_name)
            .is_some_and(|set| set.len() > 1);
        for (link, st) in &s.links {
            if !st.announced {
                continue;
            }
            let mut recs = self.service_shared(s);
            if type_in_use {
                recs.retain(|r| r.name != self.meta);
            }
            recs.extend(self.service_unique(s));
            goodbyes.extend(recs.into_iter().map(|r| (*link, r)));
        }
        let name = s.name.clone();
        self.remove_service(id);
        cx.sched
            .remove_pending(|r| r.name == name || matches!(&r.rdata, RData::Ptr(p) if *p == name));
        for (link, mut r) in goodbyes {
            r.ttl = 0;
            cx.sched
                .schedule(link, r, PendingKind::Goodbye, cx.now, cx.now, None);
        }
        if !self.services.values().any(|s| s.custom_target.is_none()) {
            self.release_host(cx);
        }
        Ok(())
    }

    fn host_claimed(&self) -> bool {
        self.host.as_ref().is_some_and(|h| h.claimed)
    }

    /// Starts probing our host name on every link, unless it is claimed already (or we have
    /// none).
    fn claim_host(&mut self, cx: &mut Ctx<'_>) {
        match &mut self.host {
            Some(h) if !h.claimed => h.claimed = true,
            _ => return,
        }
        let links: Vec<LinkId> = self.links.iter().copied().collect();
        for link in links {
            self.start_probing(GroupId::Host, link, cx, None);
        }
    }

    /// Goodbyes for the host's records where they were announced; the name is no longer
    /// ours until a registration claims it again.
    fn release_host(&mut self, cx: &mut Ctx<'_>) {
        self.host_goodbyes(cx);
        if let Some(h) = &mut self.host {
            h.links.clear();
            h.claimed = false;
        }
    }

    /// Queues goodbyes for the host's address and reverse records on every link where they
    /// were announced, replacing anything of them still waiting to be sent.
    fn host_goodbyes(&mut self, cx: &mut Ctx<'_>) {
        let Some(h) = &self.host else { return };
        let host_name = h.name.clone();
        let links: Vec<LinkId> = h
            .links
            .iter()
            .filter(|(_, s)| s.announced)
            .map(|(l, _)| *l)
            .collect();
        cx.sched.remove_pending(|r| {
            r.name == host_name || matches!(&r.rdata, RData::Ptr(p) if *p == host_name)
        });
        for link in links {
            let mut records = self.host_records(link.iface);
            records.extend(self.reverse_records(link.iface));
            for mut r in records {
                r.ttl = 0;
                cx.sched
                    .schedule(link, r, PendingKind::Goodbye, cx.now, cx.now, None);
            }
        }
    }

    /// Whether `r` is another responder's claim (a PTR with other data) on one of the
    /// reverse-mapping names we publish or probe on `link`.
    fn foreign_reverse_claim(&self, link: LinkId, r: &Record) -> bool {
        let Some(h) = self.host.as_ref().filter(|h| h.reverse && h.claimed) else {
            return false;
        };
        // Cheapest tests first: this runs for every record of every response.
        r.ttl != 0
            && matches!(&r.rdata, RData::Ptr(target) if *target != h.name)
            && is_reverse_name(&r.name)
            && r.class & 0x7fff == CLASS_IN
            && h.links.contains_key(&link)
            && self
                .reverse_records(link.iface)
                .iter()
                .any(|ours| ours.name == r.name)
    }

    /// Another responder holds or probes one of our reverse-mapping names (the same address
    /// on another stack of this machine, or an address clash): stop publishing reverse PTRs
    /// (goodbyes where announced) instead of contesting them. A reverse name cannot be
    /// renamed, so defending it would make the other responder rename its host in a loop.
    fn withdraw_reverse(&mut self, cx: &mut Ctx<'_>) {
        let Some(h) = self.host.as_ref().filter(|h| h.reverse) else {
            return;
        };
        let host_name = h.name.clone();
        let goodbyes: Vec<(LinkId, Record)> = h
            .links
            .iter()
            .filter(|(_, s)| s.announced)
            .flat_map(|(l, _)| {
                self.reverse_records(l.iface)
                    .into_iter()
                    .map(move |r| (*l, r))
            })
            .collect();
        cx.sched.remove_pending(|r| {
            matches!(&r.rdata, RData::Ptr(p) if *p == host_name) && is_reverse_name(&r.name)
        });
        for (link, mut r) in goodbyes {
            r.ttl = 0;
            cx.sched
                .schedule(link, r, PendingKind::Goodbye, cx.now, cx.now, None);
        }
        if let Some(h) = &mut self.host {
            h.reverse = false;
        }
        cx.stats.reverse_mapping_withdrawn += 1;
    }

    fn remove_service(&mut self, id: RegistrationId) {
        if let Some(s) = self.services.remove(&id) {
            self.by_instance.remove(&s.name);
            for n in std::iter::once(&s.type_name).chain(s.sub_names.iter()) {
                if let Some(set) = self.by_ptr_name.get_mut(n) {
                    set.remove(&id);
                    if set.is_empty() {
                        self.by_ptr_name.remove(n);
                    }
                }
            }
            if let Some(set) = self.by_type.get_mut(&s.type_name) {
                set.remove(&id);
                if set.is_empty() {
                    self.by_type.remove(&s.type_name);
                }
            }
        }
    }

    /// Probe and announce everything again (wake from sleep, link came back).
    pub fn restart_all(&mut self, cx: &mut Ctx<'_>) {
        self.deadline.set(None);
        for g in self.groups() {
            self.restart_group(g, cx, None);
        }
    }

    /// Goodbyes for everything (engine shutdown).
    pub fn shutdown(&mut self, cx: &mut Ctx<'_>) {
        self.deadline.set(None);
        let ids: Vec<RegistrationId> = self.services.keys().copied().collect();
        for id in ids {
            let _ = self.deregister(id, cx);
        }
        // The last deregistration above released the host (with its goodbyes).
        if self.host_claimed() {
            self.release_host(cx);
        }
    }

    // ---------------------------------------------------------------- interfaces

    pub fn set_interface(
        &mut self,
        iface: InterfaceId,
        addrs: Vec<IpAddr>,
        links: &[LinkId],
        cx: &mut Ctx<'_>,
    ) {
        self.deadline.set(None);
        let old = self
            .iface_addrs
            .insert(iface, addrs.clone())
            .unwrap_or_default();
        // Goodbyes for addresses that went away, where they were announced.
        if let Some(h) = &self.host {
            let removed: Vec<Record> = old
                .iter()
                .filter(|a| !addrs.contains(a))
                .flat_map(|a| {
                    let addr = match a {
                        IpAddr::V4(v4) => rec(&h.name, 0, true, RData::A(*v4)),
                        IpAddr::V6(v6) => rec(&h.name, 0, true, RData::Aaaa(*v6)),
                    };
                    let reverse = reverse_name(a)
                        .filter(|_| h.reverse)
                        .map(|n| rec(&n, 0, true, RData::Ptr(h.name.clone())));
                    std::iter::once(addr).chain(reverse)
                })
                .collect();
            for (link, st) in h.links.iter().filter(|(l, _)| l.iface == iface) {
                if st.announced {
                    for r in &removed {
                        cx.sched.schedule(
                            *link,
                            r.clone(),
                            PendingKind::Goodbye,
                            cx.now,
                            cx.now,
                            None,
                        );
                    }
                }
            }
        }
        let added = addrs.iter().any(|a| !old.contains(a));
        let current: Vec<LinkId> = self
            .links
            .iter()
            .filter(|l| l.iface == iface)
            .copied()
            .collect();
        for link in current.iter().filter(|l| !links.contains(l)) {
            self.remove_link(*link);
        }
        for link in links {
            if self.links.insert(*link) {
                // New link: probe and announce everything (RFC 6762 §8, CONFORMANCE row 24).
                for g in self.groups() {
                    let applies = match g {
                        GroupId::Host => true,
                        GroupId::Service(id) => self
                            .services
                            .get(&id)
                            .is_some_and(|s| s.iface.is_none_or(|i| i == link.iface)),
                    };
                    if applies {
                        self.start_probing(g, *link, cx, None);
                    }
                }
            } else if added && self.host_claimed() {
                self.start_probing(GroupId::Host, *link, cx, None);
            }
        }
    }

    pub fn remove_link(&mut self, link: LinkId) {
        self.deadline.set(None);
        self.links.remove(&link);
        self.probe_batch.remove(&link);
        if let Some(h) = &mut self.host {
            h.links.remove(&link);
        }
        for s in self.services.values_mut() {
            s.links.remove(&link);
            s.txt_announce.remove(&link);
        }
    }

    pub fn remove_interface(&mut self, iface: InterfaceId) {
        self.deadline.set(None);
        let links: Vec<LinkId> = self
            .links
            .iter()
            .filter(|l| l.iface == iface)
            .copied()
            .collect();
        for l in links {
            self.remove_link(l);
        }
        self.iface_addrs.remove(&iface);
    }

    // ---------------------------------------------------------------- timers

    pub fn next_deadline(&self) -> Option<Instant> {
        if let Some(cached) = self.deadline.get() {
            return cached;
        }
        let best = self.compute_deadline();
        self.deadline.set(Some(best));
        best
    }

    fn compute_deadline(&self) -> Option<Instant> {
        let mut best: Option<Instant> = None;
        let mut consider = |t: Instant| best = Some(best.map_or(t, |b: Instant| b.min(t)));
        for g in self.groups() {
            for st in self.links_of(g).into_iter().flat_map(|l| l.values()) {
                match st.phase {
                    Phase::Probing { next, .. } | Phase::Announcing { next, .. } => consider(next),
                    Phase::Established => {}
                }
            }
        }
        for s in self.services.values() {
            for (_, next) in s.txt_announce.values() {
                consider(*next);
            }
        }
        best
    }

    /// Sends due probes, moves finished probing to announcing, queues due announcements.
    pub fn run(&mut self, cx: &mut Ctx<'_>) {
        let now = cx.now;
        if self.next_deadline().is_none_or(|t| t > now) {
            return;
        }
        self.deadline.set(None);
        let mut probes: BTreeMap<LinkId, Vec<(Name, Vec<Record>)>> = BTreeMap::new();
        let mut announce: Vec<(GroupId, LinkId)> = Vec::new();
        let mut finished_probing: BTreeSet<GroupId> = BTreeSet::new();
        for g in self.groups() {
            let Some(name) = self.group_name(g).cloned() else {
                continue;
            };
            let links: Vec<(LinkId, LinkState)> = self
                .links_of(g)
                .map(|l| l.iter().map(|(k, v)| (*k, *v)).collect())
                .unwrap_or_default();
            for (link, st) in links {
                let mut new = st;
                match st.phase {
                    Phase::Probing { sent, next } if next <= now => {
                        let waits_for_host = match g {
                            GroupId::Service(id) => self
                                .services
                                .get(&id)
                                .is_some_and(|s| s.custom_target.is_none()),
                            GroupId::Host => false,
                        };
                        let host_next = if waits_for_host {
                            self.host_probing(link)
                        } else {
                            None
                        };
                        if sent >= PROBES && host_next.is_some() {
                            // Probed, but the SRV names a host name not settled yet.
                            new.phase = Phase::Probing {
                                sent,
                                next: host_next.map_or(now, |t| t.max(now)),
                            };
                        } else if sent < PROBES {
                            let link_probes = probes.entry(link).or_default();
                            link_probes.push((name.clone(), self.group_unique(g, link)));
                            if g == GroupId::Host {
                                // Every unique record is probed, reverse PTRs included, each
                                // reverse name its own question.
                                link_probes.extend(
                                    self.reverse_records(link.iface)
                                        .into_iter()
                                        .map(|r| (r.name.clone(), vec![r])),
                                );
                            }
                            new.phase = Phase::Probing {
                                sent: sent + 1,
                                next: now + PROBE_INTERVAL,
                            };
                        } else {
                            new.phase = Phase::Announcing { sent: 0, next: now };
                            finished_probing.insert(g);
                        }
                    }
                    _ => {}
                }
                if let Phase::Announcing { sent, next } = new.phase {
                    if next <= now {
                        announce.push((g, link));
                        new.announced = true;
                        let sent = sent + 1;
                        new.phase = if sent >= cx.cfg.announcements.max(1) {
                            Phase::Established
                        } else {
                            Phase::Announcing {
                                sent,
                                next: now + Duration::from_secs(1 << (sent - 1).min(8)),
                            }
                        };
                    }
                }
                if let Some(l) = self.links_of_mut(g) {
                    l.insert(link, new);
                }
            }
        }
        for (link, groups) in probes {
            self.last_probe_attempt = Some(now);
            cx.sched.note_qu_sent(link, now);
            for p in packet::build_probes(&groups, cx.cfg.max_datagram) {
                cx.sched.send_multicast(link, p);
            }
        }
        for (g, link) in announce {
            for r in self.group_all(g, link) {
                cx.sched.history.note(link, &r.name, &r.rdata, now);
                cx.sched
                    .schedule(link, r, PendingKind::Announce, now, now, None);
            }
        }
        // TXT re-announcements (RFC 6762 §8.4).
        let mut txt_due: Vec<(LinkId, Record)> = Vec::new();
        for s in self.services.values_mut() {
            let mut done = Vec::new();
            let txt = Self::txt(s);
            for (link, (sent, next)) in s.txt_announce.iter_mut() {
                if *next <= now {
                    txt_due.push((*link, txt.clone()));
                    *sent += 1;
                    *next = now + Duration::from_secs(1);
                    if *sent >= 2 {
                        done.push(*link);
                    }
                }
            }
            for l in done {
                s.txt_announce.remove(&l);
            }
        }
        for (link, r) in txt_due {
            cx.sched.history.note(link, &r.name, &r.rdata, now);
            cx.sched
                .schedule(link, r, PendingKind::Announce, now, now, None);
        }
        for g in finished_probing {
            self.check_established(g, cx);
        }
    }

    fn check_established(&mut self, g: GroupId, cx: &mut Ctx<'_>) {
        let GroupId::Service(id) = g else { return };
        if let Some(s) = self.services.get_mut(&id) {
            if !s.reported && !s.links.is_empty() && s.links.values().all(|st| st.phase.answers()) {
                s.reported = true;
                cx.events.push(Event::RegistrationEstablished {
                    id,
                    name: s.label.clone(),
                });
            }
        }
    }

    // ---------------------------------------------------------------- conflicts

    fn note_conflict(&mut self, cx: &mut Ctx<'_>) {
        cx.stats.conflicts += 1;
        self.conflicts.record(cx.now);
        self.last_conflict = Some(cx.now);
        if self.conflicts.saturated(cx.now) {
            self.probe_limited = true;
        }
    }

    fn rename(&mut self, g: GroupId, cx: &mut Ctx<'_>) {
        self.note_conflict(cx);
        match g {
            GroupId::Host => {
                // Goodbyes for our addresses under the name we give up, where we announced
                // them: peers must not keep pairing that name (now another host's) with them.
                let olds: Vec<(LinkId, Record)> = self
                    .host
                    .iter()
                    .flat_map(|h| h.links.iter())
                    .filter(|(_, st)| st.announced)
                    .flat_map(|(l, _)| self.host_records(l.iface).into_iter().map(|r| (*l, r)))
                    .collect();
                let Some(h) = &mut self.host else { return };
                let old_name = h.name.clone();
                cx.sched.remove_pending(|r| r.name == old_name);
                for (l, mut r) in olds {
                    r.ttl = 0;
                    cx.sched
                        .schedule(l, r, PendingKind::Goodbye, cx.now, cx.now, None);
                }
                for st in h.links.values_mut() {
                    st.announced = false;
                }
                h.n += 1;
                h.label = host_label(&h.base, h.n);
                if let Ok(n) = self.local.prepend(h.label.as_bytes()) {
                    h.name = n;
                }
                cx.events.push(Event::HostRenamed {
                    name: h.label.clone(),
                });
                self.restart_group(GroupId::Host, cx, None);
                // Services naming our host wait for the new name, then announce their new
                // SRV.
                self.hold_dependents(cx);
            }
            GroupId::Service(id) => {
                let Some(s) = self.services.get(&id) else {
                    return;
                };
                // Goodbyes for PTRs to the old name where it was announced.
                let olds: Vec<(LinkId, Record)> = s
                    .links
                    .iter()
                    .filter(|(_, st)| st.announced)
                    .flat_map(|(l, _)| {
                        self.service_shared(s)
                            .into_iter()
                            .filter(|r| r.name != self.meta)
                            .map(move |r| (*l, r))
                    })
                    .collect();
                let old_name = s.name.clone();
                cx.sched.remove_pending(|r| {
                    r.name == old_name || matches!(&r.rdata, RData::Ptr(p) if *p == old_name)
                });
                for (l, mut r) in olds {
                    r.ttl = 0;
                    cx.sched
                        .schedule(l, r, PendingKind::Goodbye, cx.now, cx.now, None);
                }
                let Some(s) = self.services.get_mut(&id) else {
                    return;
                };
                self.by_instance.remove(&s.name);
                loop {
                    s.n += 1;
                    let label = service_label(&s.base, s.n);
                    match s.type_name.prepend(label.as_bytes()) {
                        Ok(n) if !self.by_instance.contains_key(&n) => {
                            s.label = label;
                            s.name = n;
                            break;
                        }
                        Ok(_) => continue,
                        Err(_) => {
                            cx.events.push(Event::RegistrationFailed {
                                id,
                                reason: RegistrationFailure::NameExhausted,
                            });
                            self.remove_service(id);
                            return;
                        }
                    }
                }
                for st in s.links.values_mut() {
                    st.announced = false;
                }
                s.txt_announce.clear();
                s.reported = false;
                self.by_instance.insert(s.name.clone(), id);
                cx.events.push(Event::RegistrationRenamed {
                    id,
                    name: s.label.clone(),
                });
                self.restart_group(g, cx, None);
            }
        }
    }

    /// Services whose SRV names our host stop answering until the host name is settled
    /// again (RFC 6762 §8: nothing that depends on a unique name is announced before it is
    /// probed); `run` announces them when the host's probing ends.
    fn hold_dependents(&mut self, cx: &Ctx<'_>) {
        if self.host.is_none() {
            return;
        }
        for s in self
            .services
            .values_mut()
            .filter(|s| s.custom_target.is_none())
        {
            for st in s.links.values_mut() {
                if st.phase.answers() {
                    st.phase = Phase::Probing {
                        sent: PROBES,
                        next: cx.now,
                    };
                }
            }
        }
    }

    /// When the host name is still being probed on `link`: the time of its next step.
    fn host_probing(&self, link: LinkId) -> Option<Instant> {
        match self.host.as_ref()?.links.get(&link)?.phase {
            Phase::Probing { next, .. } => Some(next),
            _ => None,
        }
    }

    fn group_by_name(&self, name: &Name) -> Option<GroupId> {
        if self.host.as_ref().is_some_and(|h| h.name == *name) {
            return Some(GroupId::Host);
        }
        self.by_instance.get(name).map(|id| GroupId::Service(*id))
    }

    /// Is `r` one of our own records (any link)?
    fn is_ours(&self, g: GroupId, r: &Record) -> bool {
        match g {
            GroupId::Host => self.all_host_rdata().any(|d| d == r.rdata),
            GroupId::Service(id) => self
                .services
                .get(&id)
                .is_some_and(|s| self.service_unique(s).iter().any(|o| o.rdata == r.rdata)),
        }
    }

    /// A response from a peer starts: conflicts it causes are counted once per group.
    pub fn begin_response(&mut self) {
        self.restarted_by_message.clear();
    }

    /// Our record on `link` with the name and data of `r`, if we answer with it there.
    /// Constant work per record for PTRs (a response may list hundreds of them).
    fn our_record(&self, link: LinkId, r: &Record) -> Option<Record> {
        if r.class & 0x7fff != CLASS_IN {
            return None;
        }
        if let RData::Ptr(target) = &r.rdata {
            if let Some(id) = self.by_instance.get(target) {
                let listed = self
                    .by_ptr_name
                    .get(&r.name)
                    .is_some_and(|ids| ids.contains(id));
                return (listed && self.service_active(id, link).is_some())
                    .then(|| rec(&r.name, OTHER_TTL, false, r.rdata.clone()));
            }
            if r.name == self.meta {
                let active = self.by_type.get(target).is_some_and(|ids| {
                    ids.iter().any(|id| self.service_active(id, link).is_some())
                });
                return active.then(|| rec(&self.meta, OTHER_TTL, false, r.rdata.clone()));
            }
            if self.host.as_ref().is_some_and(|h| h.name == *target) && self.host_active(link) {
                return self
                    .reverse_records(link.iface)
                    .into_iter()
                    .find(|o| o.name == r.name);
            }
            return None;
        }
        self.group_by_name(&r.name)?;
        let q = Question {
            name: r.name.clone(),
            qtype: r.rtype(),
            qclass: CLASS_IN,
            unicast_response: false,
        };
        let mut answers = Vec::new();
        self.answer(link, &q, &mut answers);
        answers.into_iter().find(|o| o.rdata == r.rdata)
    }

    /// A record from a peer's response on `link`: conflict detection (§8.1, §9) and
    /// re-announcing our records that a peer reports with a too-low TTL (§6.6, goodbye
    /// spoofing: a goodbye is answered within 250 ms, before browsers' 1 s expiry).
    pub fn check_response_record(&mut self, link: LinkId, r: &Record, cx: &mut Ctx<'_>) {
        self.deadline.set(None);
        if self.foreign_reverse_claim(link, r) {
            self.withdraw_reverse(cx);
            return;
        }
        if let Some(our) = self.our_record(link, r) {
            if u64::from(r.ttl) * 2 < u64::from(our.ttl) {
                let (earliest, due) = self.multicast_slot(link, &our, cx, r.ttl == 0);
                cx.sched
                    .schedule(link, our, PendingKind::Announce, earliest, due, None);
            }
            return;
        }
        let Some(g) = self.group_by_name(&r.name) else {
            return;
        };
        let Some(st) = self.links_of(g).and_then(|l| l.get(&link)).copied() else {
            return;
        };
        let same_class = r.class & 0x7fff == CLASS_IN;
        let ours = same_class && self.is_ours(g, r);
        if ours || r.ttl == 0 {
            // Our own data (a reflection, or another link's copy) never conflicts, and a
            // goodbye (maybe our own, looped back, for an address we just dropped) never
            // claims a name.
            return;
        }
        match st.phase {
            Phase::Probing { .. } => {
                // Any record with our name answering our probe is a conflict unless it is
                // exactly one of ours, or the rest of the message that sent us back to
                // probing.
                if !self.restarted_by_message.contains(&g) {
                    self.rename(g, cx);
                }
            }
            _ => {
                let unique_type = match g {
                    GroupId::Host => matches!(r.rtype(), RecordType::A | RecordType::AAAA),
                    GroupId::Service(_) => matches!(r.rtype(), RecordType::SRV | RecordType::TXT),
                };
                if unique_type && same_class {
                    // §9: back to probing with the same name; a defended probe renames.
                    self.note_conflict(cx);
                    self.restarted_by_message.insert(g);
                    if let GroupId::Service(id) = g {
                        if let Some(s) = self.services.get_mut(&id) {
                            s.reported = false;
                        }
                    }
                    // Services naming the host keep answering while it re-probes the same
                    // name (a spoofed address must not silence them); a rename holds them.
                    self.restart_group(g, cx, None);
                }
            }
        }
    }

    /// Earliest and latest send time respecting the once-per-second rule (250 ms for probe
    /// defence).
    pub fn multicast_slot(
        &self,
        link: LinkId,
        r: &Record,
        cx: &Ctx<'_>,
        probe_defence: bool,
    ) -> (Instant, Instant) {
        let gap = if probe_defence {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(1)
        };
        let t = cx
            .sched
            .history
            .last(link, &r.name, &r.rdata)
            .map_or(cx.now, |last| (last + gap).max(cx.now));
        (t, t)
    }

    /// A probe from a peer (query with Authority records): simultaneous-probe tiebreak
    /// (§8.2) for names we are probing.
    pub fn check_probe(&mut self, link: LinkId, authorities: &[Record], cx: &mut Ctx<'_>) {
        self.deadline.set(None);
        if authorities
            .iter()
            .any(|r| self.foreign_reverse_claim(link, r))
        {
            self.withdraw_reverse(cx);
        }
        let names: BTreeSet<&Name> = authorities.iter().map(|r| &r.name).collect();
        for name in names {
            let Some(g) = self.group_by_name(name) else {
                continue;
            };
            let Some(st) = self.links_of(g).and_then(|l| l.get(&link)).copied() else {
                continue;
            };
            if !matches!(st.phase, Phase::Probing { .. }) {
                continue;
            }
            let theirs: Vec<&Record> = authorities.iter().filter(|r| r.name == *name).collect();
            let ours = self.group_unique(g, link);
            if tiebreak(&ours, &theirs) == std::cmp::Ordering::Less {
                // We lose: wait one second and probe again with the same name.
                let again = cx.now + Duration::from_secs(1);
                if let Some(l) = self.links_of_mut(g) {
                    for st in l.values_mut() {
                        if matches!(st.phase, Phase::Probing { .. }) {
                            st.phase = Phase::Probing {
                                sent: 0,
                                next: again,
                            };
                        }
                    }
                }
            }
        }
    }

    // ---------------------------------------------------------------- answering

    fn service_active(&self, id: &RegistrationId, link: LinkId) -> Option<&Service> {
        self.services
            .get(id)
            .filter(|s| s.links.get(&link).is_some_and(|st| st.phase.answers()))
    }

    fn host_active(&self, link: LinkId) -> bool {
        self.host
            .as_ref()
            .is_some_and(|h| h.links.get(&link).is_some_and(|st| st.phase.answers()))
    }

    /// Our answers to one question on `link` (cache-flush bit set on unique records).
    pub fn answer(&self, link: LinkId, q: &Question, out: &mut Vec<Record>) {
        if q.qclass & 0x7fff != CLASS_IN && q.qclass & 0x7fff != CLASS_ANY {
            return;
        }
        let any = q.qtype == RecordType::ANY;
        if q.name == self.meta && (any || q.qtype == RecordType::PTR) {
            for (t, ids) in &self.by_type {
                if ids.iter().any(|id| self.service_active(id, link).is_some()) {
                    out.push(rec(&self.meta, OTHER_TTL, false, RData::Ptr(t.clone())));
                }
            }
        }
        if any || q.qtype == RecordType::PTR {
            if let Some(ids) = self.by_ptr_name.get(&q.name) {
                for id in ids {
                    if let Some(s) = self.service_active(id, link) {
                        out.push(rec(&q.name, OTHER_TTL, false, RData::Ptr(s.name.clone())));
                    }
                }
            }
        }
        if let Some(s) = self
            .by_instance
            .get(&q.name)
            .and_then(|id| self.service_active(id, link))
        {
            let before = out.len();
            if any || q.qtype == RecordType::SRV {
                out.push(self.srv(s));
            }
            if any || q.qtype == RecordType::TXT {
                out.push(Self::txt(s));
            }
            if out.len() == before {
                out.push(rec(
                    &s.name,
                    OTHER_TTL,
                    true,
                    RData::Nsec {
                        next: s.name.clone(),
                        types: vec![RecordType::TXT, RecordType::SRV],
                    },
                ));
            }
        }
        let reverse_question = q
            .name
            .labels()
            .last()
            .is_some_and(|l| l.eq_ignore_ascii_case(b"arpa"));
        if reverse_question && (any || q.qtype == RecordType::PTR) && self.host_active(link) {
            out.extend(
                self.reverse_records(link.iface)
                    .into_iter()
                    .filter(|r| r.name == q.name),
            );
        }
        if let Some(h) = self
            .host
            .as_ref()
            .filter(|h| h.name == q.name && self.host_active(link))
        {
            let before = out.len();
            let records = self.host_records(link.iface);
            let mut types: Vec<RecordType> = records.iter().map(Record::rtype).collect();
            types.sort();
            types.dedup();
            out.extend(records.into_iter().filter(|r| any || r.rtype() == q.qtype));
            if out.len() == before && !any {
                out.push(rec(
                    &h.name,
                    HOST_TTL,
                    true,
                    RData::Nsec {
                        next: h.name.clone(),
                        types,
                    },
                ));
            }
        }
    }

    /// Is this name one of ours whose every answer is unique (no random delay needed)?
    pub fn additionals(&self, link: LinkId, answer: &Record) -> Vec<Record> {
        let mut v = Vec::new();
        let host_addrs = |target: &Name, v: &mut Vec<Record>| {
            if self.host.as_ref().is_some_and(|h| h.name == *target) && self.host_active(link) {
                v.extend(self.host_records(link.iface));
            }
        };
        match &answer.rdata {
            RData::Ptr(target) => {
                if let Some(s) = self
                    .by_instance
                    .get(target)
                    .and_then(|id| self.service_active(id, link))
                {
                    let srv = self.srv(s);
                    let t = self.target(s);
                    v.push(srv);
                    v.push(Self::txt(s));
                    host_addrs(&t, &mut v);
                }
            }
            RData::Srv { target, .. } => host_addrs(target, &mut v),
            // The other family goes in Additional (RFC 6762 §6.2).
            RData::A(_) | RData::Aaaa(_)
                if self.host.as_ref().is_some_and(|h| h.name == answer.name) =>
            {
                v.extend(
                    self.host_records(link.iface)
                        .into_iter()
                        .filter(|r| r.rtype() != answer.rtype()),
                );
            }
            _ => {}
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_names() {
        let v4: IpAddr = "192.168.1.5".parse().unwrap();
        assert_eq!(
            reverse_name(&v4).unwrap(),
            Name::from_dotted("5.1.168.192.in-addr.arpa").unwrap()
        );
        // RFC 3596 §2.5's example.
        let v6: IpAddr = "4321:0:1:2:3:4:567:89ab".parse().unwrap();
        assert_eq!(
            reverse_name(&v6).unwrap(),
            Name::from_dotted(
                "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa"
            )
            .unwrap()
        );
    }

    #[test]
    fn rename_labels() {
        assert_eq!(service_label("Web", 2), "Web (2)");
        assert_eq!(split_counter("Web (7)"), ("Web".to_owned(), 7));
        assert_eq!(split_counter("Web (x)"), ("Web (x)".to_owned(), 1));
        assert_eq!(host_label("host", 2), "host-2");
        let long = "é".repeat(40);
        assert!(service_label(&long, 12).len() <= 63);
    }

    #[test]
    fn txt_validation() {
        assert!(valid_txt(&[0]));
        assert!(valid_txt(&[3, b'a', b'=', b'b']));
        assert!(!valid_txt(&[4, b'a']));
    }

    #[test]
    fn service_type_validation() {
        assert!(valid_service_label("_http", false));
        assert!(!valid_service_label("_this-name-is-too-long", false));
        assert!(!valid_service_label("http", false));
        assert!(valid_service_label("_udp", true));
    }
}
