//! Engine configuration, interfaces and the caps on every piece of state.

use std::net::IpAddr;
use std::time::Duration;

/// An interface, identified by the OS interface index (the driver chooses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InterfaceId(pub u32);

/// IP address family. mDNS on IPv4 and on IPv6 of one interface are separate links.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// IPv4, group 224.0.0.251.
    V4,
    /// IPv6, group ff02::fb.
    V6,
}

impl Family {
    /// The family of an address.
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

/// One address of an interface with its prefix length (its on-link subnet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InterfaceAddress {
    /// The address.
    pub addr: IpAddr,
    /// Prefix length of the subnet (e.g. 24, 64).
    pub prefix_len: u8,
}

impl InterfaceAddress {
    /// An address with its prefix length.
    pub fn new(addr: IpAddr, prefix_len: u8) -> InterfaceAddress {
        InterfaceAddress { addr, prefix_len }
    }

    /// True when `other` lies in this address's subnet.
    pub fn contains(&self, other: &IpAddr) -> bool {
        match (self.addr, other) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let bits = u32::from(self.prefix_len.min(32));
                let mask = if bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - bits)
                };
                u32::from(a) & mask == u32::from(*b) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let bits = u32::from(self.prefix_len.min(128));
                let mask = if bits == 0 {
                    0
                } else {
                    u128::MAX << (128 - bits)
                };
                u128::from(a) & mask == u128::from(*b) & mask
            }
            _ => false,
        }
    }
}

/// What the driver knows about one interface.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InterfaceConfig {
    /// OS name (for logs and events).
    pub name: String,
    /// Addresses with prefixes: our A/AAAA records and the on-link check use these.
    pub addresses: Vec<InterfaceAddress>,
    /// Run mDNS over IPv4 on this interface.
    pub v4: bool,
    /// Run mDNS over IPv6 on this interface.
    pub v6: bool,
}

/// Caps on every piece of state the network can make the engine hold. When a cap is reached
/// the oldest entry is evicted (and counted in [`crate::Stats`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Records cached from other hosts, all interfaces together (Avahi's default: 4096).
    pub max_cache_records: usize,
    /// Multicast answers waiting for their send time, per link. The state kept for
    /// truncated (TC) queries lives here too (the asker of each waiting answer), and peers'
    /// known-answer lists are never stored: they are applied to what is waiting and dropped.
    /// POOF and reconfirm state lives in cache entries (bounded by `max_cache_records`).
    pub max_pending_answers: usize,
    /// Entries of "when did we last multicast this record" per engine.
    pub max_multicast_history: usize,
    /// Outgoing multicast datagrams queued behind the pacer, per link.
    pub max_queued_datagrams: usize,
    /// Active questions (browse/resolve/query/lookup) over all links.
    pub max_questions: usize,
    /// Registrations (services) the engine accepts.
    pub max_registrations: usize,
    /// Queries (browse/resolve/...) the engine accepts.
    pub max_queries: usize,
    /// Queued events not yet taken with `poll_event` (oldest dropped beyond this).
    pub max_events: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_cache_records: 4096,
            max_pending_answers: 8192,
            max_multicast_history: 16384,
            max_queued_datagrams: 4096,
            max_questions: 4096,
            max_registrations: 4096,
            max_queries: 1024,
            max_events: 65536,
        }
    }
}

/// Engine configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Seed of the engine's PRNG (probe/answer delays, refresh jitter).
    pub rng_seed: u64,
    /// Our host name without domain (`"myhost"`); `host_name.local` carries our A/AAAA
    /// records and is the default SRV target. Empty: no host records are published.
    ///
    /// The name is claimed (probed, announced, defended) only while a registration needs it
    /// (a service whose SRV targets our host): an engine that only browses, resolves or
    /// queries, or whose services all name another host, never probes it.
    pub host_name: String,
    /// Publish reverse-mapping PTRs (`4.3.2.1.in-addr.arpa` / nibble `ip6.arpa` -> our host
    /// name) beside the host's address records. They are probed like every unique record;
    /// when another responder holds or probes the same reverse name with other data, the
    /// engine withdraws its own rather than contest it (another stack on the same machine owns
    /// the machine's reverse mapping). Turn off when another responder runs on this host.
    pub reverse_mapping: bool,
    /// Caps on state.
    pub limits: Limits,
    /// Largest multicast datagram we build when aggregating records (payload bytes).
    /// The default 1440 fits a 1500-byte Ethernet MTU under IPv6 (40) + UDP (8) headers;
    /// clamped to 512..=9000.
    pub max_datagram: usize,
    /// Announcements after probing (RFC 6762 §8.3: at least 2, at most 8).
    pub announcements: u8,
    /// Pacing of multicast datagrams per link: this many may leave back to back...
    pub pacing_burst: u32,
    /// ...then one per this interval.
    pub pacing_interval: Duration,
    /// Process every multicast datagram we send as if it came back on its link (what
    /// `IP_MULTICAST_LOOP` would do), so browses, resolves and lookups on this engine see
    /// this engine's own registrations. With this on (the default) the driver must drop the
    /// kernel's copies of our own datagrams.
    pub local_delivery: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            rng_seed: 0x5eed,
            host_name: String::new(),
            reverse_mapping: true,
            limits: Limits::default(),
            max_datagram: 1440,
            announcements: 3,
            pacing_burst: 8,
            pacing_interval: Duration::from_millis(5),
            local_delivery: true,
        }
    }
}
