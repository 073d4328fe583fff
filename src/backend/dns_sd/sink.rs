//! Reply-to-event translation for each operation, including the deduplication Avahi needs (it
//! reports every instance, record and address once per IP protocol).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::op::ReplySink;
use super::service_ref::Reply;
use crate::backend::operation::EventSender;
use crate::types::error::Error;
use crate::types::event::{
    BrowseEvent, HostAddress, HostAddressEvent, Instance, Record, RecordEvent, Resolved,
    ServiceTypeEvent,
};
use crate::types::name::{Domain, InstanceName, ServiceType};
use crate::types::service::{Interface, RecordType};
use crate::types::txt::TxtRecord;

type Tx<T> = EventSender<T>;

/// Reference counts of keys the daemon reported as present; a key is "added" when its count
/// leaves zero and "removed" when it returns to zero.
#[derive(Debug)]
pub(crate) struct Presence<K> {
    counts: HashMap<K, usize>,
}

impl<K> Default for Presence<K> {
    fn default() -> Self {
        Presence {
            counts: HashMap::new(),
        }
    }
}

impl<K: Eq + Hash + Clone> Presence<K> {
    /// Count one more report of `key`; true if it was absent before.
    pub(crate) fn add(&mut self, key: K) -> bool {
        let count = self.counts.entry(key).or_insert(0);
        *count += 1;
        *count == 1
    }

    /// Count one removal; true if that was the last report. Removals of unknown keys (a
    /// removal for a protocol never reported as added) are ignored.
    pub(crate) fn remove(&mut self, key: &K) -> bool {
        match self.counts.get_mut(key) {
            Some(count) if *count > 1 => {
                *count -= 1;
                false
            }
            Some(_) => {
                self.counts.remove(key);
                true
            }
            None => false,
        }
    }

    /// Forget everything; returns the keys that were present.
    pub(crate) fn clear(&mut self) -> Vec<K> {
        self.counts.drain().map(|(k, _)| k).collect()
    }

    /// Whether `key` is present.
    #[cfg(test)]
    pub(crate) fn contains(&self, key: &K) -> bool {
        self.counts.contains_key(key)
    }
}

/// `local` -> `local.`; the public `Instance::domain` always has the trailing dot.
pub(crate) fn normalize_domain(domain: &str) -> String {
    if domain.is_empty() {
        "local.".to_owned()
    } else if domain.ends_with('.') {
        domain.to_owned()
    } else {
        format!("{domain}.")
    }
}

/// Browse replies -> deduplicated instance events.
pub(crate) struct BrowseSink {
    /// Type used when the daemon's regtype does not parse (subtype browses report odd forms).
    pub(crate) requested: ServiceType,
    pub(crate) present: Presence<Instance>,
}

impl BrowseSink {
    pub(crate) fn new(requested: ServiceType) -> Self {
        BrowseSink {
            requested,
            present: Presence::default(),
        }
    }

    fn instance(
        &self,
        name: &str,
        regtype: &str,
        domain: &str,
        interface: u32,
    ) -> Option<Instance> {
        let name = InstanceName::new(name).ok()?;
        let service_type = ServiceType::new(regtype.trim_end_matches('.'))
            .ok()
            .filter(|t| t.subtypes().is_empty())
            .unwrap_or_else(|| self.requested.without_subtypes());
        Some(Instance {
            name,
            service_type,
            domain: Domain::new(&normalize_domain(domain)).ok()?,
            interface: Interface::from_index(interface),
        })
    }
}

impl ReplySink for BrowseSink {
    type Event = BrowseEvent;

    fn reply(&mut self, reply: Reply, tx: &Tx<BrowseEvent>) {
        let Reply::Browse {
            add,
            interface,
            name,
            regtype,
            domain,
        } = reply
        else {
            return;
        };
        // A name that is not a valid instance name (control characters) cannot be resolved
        // through this API either; it is skipped.
        let Some(instance) = self.instance(&name, &regtype, &domain, interface) else {
            return;
        };
        if add {
            if self.present.add(instance.clone()) {
                drop(tx.send(Ok(BrowseEvent::Added(instance))));
            }
        } else if self.present.remove(&instance) {
            drop(tx.send(Ok(BrowseEvent::Removed(instance))));
        }
    }

    fn lost(&mut self, tx: &Tx<BrowseEvent>) {
        for instance in self.present.clear() {
            drop(tx.send(Ok(BrowseEvent::Removed(instance))));
        }
    }
}

/// Resolve replies -> `Resolved`, skipping repeats of the same answer.
pub(crate) struct ResolveSink {
    pub(crate) instance: Instance,
    last: Option<Resolved>,
}

impl ResolveSink {
    pub(crate) fn new(instance: Instance) -> Self {
        ResolveSink {
            instance,
            last: None,
        }
    }
}

impl ReplySink for ResolveSink {
    type Event = Resolved;

    /// Avahi's resolver gives up when the instance's host does not answer (~5 s) and its
    /// library reports that as `kDNSServiceErr_Unknown`: with the daemon alive, a timeout.
    fn live_daemon_failure(&self) -> Option<Error> {
        Some(Error::Timeout)
    }

    fn reply(&mut self, reply: Reply, tx: &Tx<Resolved>) {
        let Reply::Resolve {
            interface,
            host_target,
            port,
            txt,
        } = reply
        else {
            return;
        };
        let resolved = Resolved {
            instance: self.instance.clone(),
            host_target,
            port,
            txt: parse_txt(&txt),
            interface: Interface::from_index(interface),
        };
        if self.last.as_ref() != Some(&resolved) {
            self.last = Some(resolved.clone());
            drop(tx.send(Ok(resolved)));
        }
    }

    fn lost(&mut self, _tx: &Tx<Resolved>) {
        self.last = None;
    }
}

/// TXT rdata from the daemon, parsed leniently (bad strings are skipped by the parser).
pub(crate) fn parse_txt(wire: &[u8]) -> TxtRecord {
    TxtRecord::from_wire_lossy(wire)
}

/// A record owner name as the daemon gives it (Avahi: `My\032Box._http._tcp.local`, Apple:
/// with a trailing dot) in the form both backends report: the engine's presentation form,
/// `My Box._http._tcp.local.` (only `.` and `\` escaped inside labels, control bytes as
/// `\DDD`, trailing dot). A name that does not parse is passed on unchanged.
pub(crate) fn presentation_name(daemon_name: &str) -> String {
    dnssd_engine::wire::Name::from_dotted(daemon_name)
        .map(|name| name.to_string())
        .unwrap_or_else(|_| daemon_name.to_owned())
}

/// Record replies -> deduplicated record events.
#[derive(Default)]
pub(crate) struct RecordSink {
    present: Presence<(String, u16, u16, Vec<u8>, u32)>,
}

impl ReplySink for RecordSink {
    type Event = RecordEvent;

    fn reply(&mut self, reply: Reply, tx: &Tx<RecordEvent>) {
        let Reply::Record {
            add,
            interface,
            name,
            rrtype,
            rrclass,
            rdata,
            ttl,
        } = reply
        else {
            return;
        };
        let key = (
            name.to_ascii_lowercase(),
            rrtype,
            rrclass,
            rdata.clone(),
            interface,
        );
        let record = Record {
            name: presentation_name(&name),
            rtype: RecordType(rrtype),
            class: rrclass,
            rdata,
            ttl,
            interface: Interface::from_index(interface),
        };
        if add {
            if self.present.add(key) {
                drop(tx.send(Ok(RecordEvent::Added(record))));
            }
        } else if self.present.remove(&key) {
            drop(tx.send(Ok(RecordEvent::Removed(record))));
        }
    }

    fn lost(&mut self, tx: &Tx<RecordEvent>) {
        for (name, rtype, class, rdata, interface) in self.present.clear() {
            drop(tx.send(Ok(RecordEvent::Removed(Record {
                name,
                rtype: RecordType(rtype),
                class,
                rdata,
                ttl: 0,
                interface: Interface::from_index(interface),
            }))));
        }
    }
}

/// A/AAAA record replies (Avahi) or GetAddrInfo replies (Apple) -> deduplicated addresses.
#[derive(Default)]
pub(crate) struct AddressSink {
    present: Presence<HostAddress>,
}

/// The address in A or AAAA rdata; the scope id is the interface for IPv6 link-local.
pub(crate) fn address_from_rdata(rrtype: u16, rdata: &[u8], interface: u32) -> Option<HostAddress> {
    let addr = match (rrtype, rdata.len()) {
        (1, 4) => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(rdata).ok()?)),
        (28, 16) => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(rdata).ok()?)),
        _ => return None,
    };
    Some(with_scope(addr, 0, interface))
}

/// Attach a scope id to IPv6 link-local addresses (the daemon's, else the interface index).
pub(crate) fn with_scope(addr: IpAddr, scope_id: u32, interface: u32) -> HostAddress {
    let scope_id = match addr {
        IpAddr::V6(v6) if is_link_local_v6(&v6) => {
            if scope_id != 0 {
                scope_id
            } else {
                interface
            }
        }
        _ => 0,
    };
    HostAddress {
        addr,
        scope_id,
        interface: Interface::from_index(interface),
    }
}

fn is_link_local_v6(v6: &Ipv6Addr) -> bool {
    (v6.segments().first().copied().unwrap_or(0) & 0xffc0) == 0xfe80
}

impl ReplySink for AddressSink {
    type Event = HostAddressEvent;

    fn reply(&mut self, reply: Reply, tx: &Tx<HostAddressEvent>) {
        let (add, address) = match reply {
            Reply::Record {
                add,
                interface,
                rrtype,
                rdata,
                ..
            } => match address_from_rdata(rrtype, &rdata, interface) {
                Some(a) => (add, a),
                None => return,
            },
            Reply::Address {
                add,
                interface,
                addr,
                scope_id,
            } => (add, with_scope(addr, scope_id, interface)),
            _ => return,
        };
        if add {
            if self.present.add(address) {
                drop(tx.send(Ok(HostAddressEvent::Added(address))));
            }
        } else if self.present.remove(&address) {
            drop(tx.send(Ok(HostAddressEvent::Removed(address))));
        }
    }

    fn lost(&mut self, tx: &Tx<HostAddressEvent>) {
        for address in self.present.clear() {
            drop(tx.send(Ok(HostAddressEvent::Removed(address))));
        }
    }
}

/// PTR replies for `_services._dns-sd._udp.<domain>` -> service types (RFC 6763 §9).
#[derive(Default)]
pub(crate) struct ServiceTypeSink {
    present: Presence<ServiceType>,
}

/// The service type a `_services._dns-sd._udp` PTR points at: its first two labels
/// (`_http`, `_tcp`) in uncompressed wire form.
pub(crate) fn service_type_from_ptr(rdata: &[u8]) -> Option<ServiceType> {
    let (first, rest) = split_label(rdata)?;
    let (second, _) = split_label(rest)?;
    let first = std::str::from_utf8(first).ok()?;
    let second = std::str::from_utf8(second).ok()?;
    ServiceType::new(&format!("{first}.{second}")).ok()
}

fn split_label(wire: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&len, rest) = wire.split_first()?;
    let len = usize::from(len);
    if len == 0 || len > 63 {
        return None;
    }
    Some((rest.get(..len)?, rest.get(len..)?))
}

impl ReplySink for ServiceTypeSink {
    type Event = ServiceTypeEvent;

    fn reply(&mut self, reply: Reply, tx: &Tx<ServiceTypeEvent>) {
        let Reply::Record { add, rdata, .. } = reply else {
            return;
        };
        let Some(service_type) = service_type_from_ptr(&rdata) else {
            return;
        };
        if add {
            if self.present.add(service_type.clone()) {
                drop(tx.send(Ok(ServiceTypeEvent::Added(service_type))));
            }
        } else if self.present.remove(&service_type) {
            drop(tx.send(Ok(ServiceTypeEvent::Removed(service_type))));
        }
    }

    fn lost(&mut self, tx: &Tx<ServiceTypeEvent>) {
        for service_type in self.present.clear() {
            drop(tx.send(Ok(ServiceTypeEvent::Removed(service_type))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::operation::{EventReceiver, event_channel};

    #[test]
    fn record_names_from_avahi_and_apple_read_like_the_engines() {
        assert_eq!(
            presentation_name("Peer\\032Svc._t._tcp.local"),
            "Peer Svc._t._tcp.local."
        );
        assert_eq!(
            presentation_name("Peer\\032Svc._t._tcp.local."),
            "Peer Svc._t._tcp.local."
        );
        assert_eq!(
            presentation_name("a\\.b._t._tcp.local"),
            "a\\.b._t._tcp.local."
        );
        assert_eq!(presentation_name("bad\\"), "bad\\");
    }

    fn browse(add: bool, name: &str, interface: u32) -> Reply {
        Reply::Browse {
            add,
            interface,
            name: name.into(),
            regtype: "_http._tcp.".into(),
            domain: "local".into(),
        }
    }

    fn drain<T>(rx: &mut EventReceiver<T>) -> Vec<T> {
        let mut out = Vec::new();
        while let Some(item) = rx.try_recv() {
            out.push(item.unwrap());
        }
        out
    }

    #[test]
    fn presence_counts_reports() {
        let mut p = Presence::default();
        assert!(p.add("a"));
        assert!(!p.add("a"));
        assert!(!p.remove(&"a"));
        assert!(p.contains(&"a"));
        assert!(p.remove(&"a"));
        assert!(!p.contains(&"a"));
        assert!(!p.remove(&"a"), "removal of an absent key is ignored");
    }

    #[test]
    fn browse_reports_each_instance_once_across_protocols() {
        let (tx, mut rx) = event_channel();
        let mut sink = BrowseSink::new(ServiceType::new("_http._tcp").unwrap());
        // Avahi with IPv6 on: the same instance on the same interface, once per protocol.
        sink.reply(browse(true, "My Web", 2), &tx);
        sink.reply(browse(true, "My Web", 2), &tx);
        let added = drain(&mut rx);
        assert_eq!(added.len(), 1);
        let BrowseEvent::Added(instance) = &added[0] else {
            panic!("expected Added, got {added:?}");
        };
        assert_eq!(instance.name.to_string(), "My Web");
        assert_eq!(instance.service_type.to_string(), "_http._tcp");
        assert_eq!(instance.domain.as_str(), "local.");
        assert_eq!(instance.interface.index(), 2);
        // One protocol goes away: still present.
        sink.reply(browse(false, "My Web", 2), &tx);
        assert!(drain(&mut rx).is_empty());
        // The other goes away: removed.
        sink.reply(browse(false, "My Web", 2), &tx);
        assert!(matches!(
            drain(&mut rx).as_slice(),
            [BrowseEvent::Removed(_)]
        ));
    }

    #[test]
    fn browse_keeps_interfaces_apart_and_reports_all_removed_when_daemon_lost() {
        let (tx, mut rx) = event_channel();
        let mut sink = BrowseSink::new(ServiceType::new("_http._tcp").unwrap());
        sink.reply(browse(true, "A", 2), &tx);
        sink.reply(browse(true, "A", 3), &tx);
        sink.reply(browse(true, "B", 2), &tx);
        assert_eq!(drain(&mut rx).len(), 3);
        sink.lost(&tx);
        let removed = drain(&mut rx);
        assert_eq!(removed.len(), 3);
        assert!(removed.iter().all(|e| matches!(e, BrowseEvent::Removed(_))));
        // After the daemon is back, the same instance is new again.
        sink.reply(browse(true, "A", 2), &tx);
        assert_eq!(drain(&mut rx).len(), 1);
    }

    #[test]
    fn resolve_skips_repeated_answers_and_parses_txt() {
        let (tx, mut rx) = event_channel();
        let instance = Instance {
            name: InstanceName::new("X").unwrap(),
            service_type: ServiceType::new("_http._tcp").unwrap(),
            domain: Domain::local(),
            interface: Interface::from_index(1),
        };
        let mut sink = ResolveSink::new(instance);
        let reply = Reply::Resolve {
            interface: 1,
            host_target: "h.local.".into(),
            port: 80,
            txt: b"\x03a=1\x01b".to_vec(),
        };
        sink.reply(reply.clone(), &tx);
        sink.reply(reply, &tx);
        let got = drain(&mut rx);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].port, 80);
        assert!(got[0].txt.get("a").is_some());
        assert!(got[0].txt.get("b").is_some());
    }

    #[test]
    fn addresses_from_records_get_scope_for_link_local_only() {
        let v6 = "fe80::1".parse::<Ipv6Addr>().unwrap().octets();
        let a = address_from_rdata(28, &v6, 4).unwrap();
        assert_eq!(a.scope_id, 4);
        assert_eq!(a.socket_addr(80).to_string(), "[fe80::1%4]:80");
        let global = "2001:db8::1".parse::<Ipv6Addr>().unwrap().octets();
        assert_eq!(address_from_rdata(28, &global, 4).unwrap().scope_id, 0);
        let v4 = address_from_rdata(1, &[10, 0, 0, 1], 4).unwrap();
        assert_eq!(v4.addr, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        assert!(
            address_from_rdata(1, &[10, 0, 0], 4).is_none(),
            "short rdata"
        );
        assert!(
            address_from_rdata(16, &[10, 0, 0, 1], 4).is_none(),
            "not an address type"
        );
    }

    #[test]
    fn service_type_ptr_parses_first_two_labels() {
        let wire = b"\x05_http\x04_tcp\x05local\x00";
        assert_eq!(
            service_type_from_ptr(wire).unwrap().to_string(),
            "_http._tcp"
        );
        assert!(service_type_from_ptr(b"\x05_http").is_none());
        assert!(
            service_type_from_ptr(b"\x09_http").is_none(),
            "label past the end"
        );
    }
}
