//! Sans-IO mDNS / DNS-SD engine (RFC 6762, RFC 6763).
//!
//! No sockets, no clock, no threads: the driver passes time ([`Instant`]) and datagrams in,
//! and takes datagrams ([`Transmit`]), events ([`Event`]) and the next deadline out, in the
//! style of quinn-proto:
//!
//! ```
//! use dnssd_engine::{Config, Engine, Instant, InterfaceConfig, InterfaceId, InterfaceAddress};
//! let mut e = Engine::new(Config { host_name: "box".into(), ..Config::default() });
//! let now = Instant::ZERO;
//! e.add_interface(now, InterfaceId(2), InterfaceConfig {
//!     name: "eth0".into(),
//!     addresses: vec![InterfaceAddress::new("192.168.1.5".parse().unwrap(), 24)],
//!     v4: true, v6: false,
//! });
//! while let Some(t) = e.poll_transmit(now) { let _ = t; /* send it */ }
//! let next = e.poll_timeout(); // sleep until then, or until a datagram arrives
//! # let _ = next;
//! ```
//!
//! Modules: [`wire`] (codec), `responder` (our records: probe, announce, answer, goodbye,
//! conflicts), `querier` (continuous queries, known answers, refresh, events), `cache`,
//! `ratelimit`, `scheduler` (answer delays, aggregation, pacing). Every piece of state the
//! network can grow is capped by [`Limits`].
//!
//! # Behaviour and where it is tested
//! `tests/net/` holds `Net`, a seeded simulated link with a virtual clock; numbers are rows of
//! `CONFORMANCE.md` (RFC 6762/6763 checklist).
//! - Probing (25), tiebreak (28), renaming `Name (2)` / `host-2` (26), 15-in-10 s limit (27),
//!   announcing (29), TTLs (32), goodbyes (33), TXT updates <= 10/min (30), late conflicts
//!   (31, 19), goodbye spoofing: `tests/engine_responder.rs`.
//! - Answer delays (9, 16), aggregation (17, 39), known answers (21, 22), duplicate
//!   suppression (23), QU (4), legacy unicast (20), NSEC (7, 13), 1 record/s and 250 ms probe
//!   defence (12), additionals (50), subtypes and enumeration (47, 48), two interfaces and
//!   IPv6 (15), malformed NSEC (14), case rules (38, 41), empty TXT (43), link flap (24), POOF
//!   (36), unicast-response window (11), never from the cache (6): `tests/engine_rules.rs`.
//! - Continuous queries (2), refresh only while interested (3), reconfirm (35), browse /
//!   resolve / lookup end to end: `tests/engine_querier.rs`; cache-flush and goodbye expiry
//!   (33, 34): unit tests in `cache`.
//! - Off-link, bad ports, OPCODE/RCODE, floods under caps (5, 8, 10, 37, 40, SECURITY.md):
//!   `tests/engine_security.rs`; header and cache-flush audit of every packet (8, 34, 40):
//!   `header_audit_of_every_packet`; arbitrary datagrams: `tests/engine_receive_loop.rs` and
//!   the cargo-fuzz target `engine_receive`.
//! - Domain enumeration (49), reverse-mapping PTRs, TXT size (44):
//!   `tests/engine_enumeration.rs`. `b`/`db`/`lb`/`r`/`dr._dns-sd._udp.local` get no answer,
//!   as from Avahi (it publishes `b._dns-sd._udp.local` only for a domain other than
//!   `local`, and never the others) and mDNSResponder (its `local` enumeration records are
//!   local-only): the engine's only domain is `local`, which every client browses anyway.
//!   The host's addresses get `in-addr.arpa` / nibble `ip6.arpa` PTRs to the host name,
//!   unique with TTL 120 like Avahi's; they are probed (each reverse name its own question),
//!   announced, answered and said goodbye to with the address records. A peer's PTR with other
//!   data on one of those names (another responder of the same machine, or an address clash)
//!   is not a host-name conflict: the engine withdraws its reverse PTRs for good instead of
//!   contesting them (`tests/engine_coexistence.rs`), and [`Config::reverse_mapping`] turns
//!   them off beside another responder. The host name itself is claimed only while a
//!   registration's SRV targets it: a browse-only engine probes nothing.
//!   TXT data over [`TXT_WARN_LEN`] (1300) bytes raises [`Event::TxtTooLarge`] and counts in
//!   [`Stats::large_txt`]; data whose probe could not fit in 9000 bytes is refused with
//!   [`CommandError::TxtTooLarge`].
//! - Ordinary network life (issue 10), several cases also under 20 % loss:
//!   `tests/engine_realnet.rs`. Renumbering (new address probed and announced, goodbye for
//!   the old one, IPv4 and IPv6 kept apart, an interface losing its last IPv4 address and
//!   getting one back, link down/up); services whose SRV names our host are announced only
//!   once the host name is probed, and are held again while a renamed host name is probed
//!   (cloned host names never pair an instance with another host's address), but keep
//!   answering while a conflict re-probes the same name; a host name given up gets
//!   goodbyes for our addresses; one conflicting response re-probes
//!   the same name (RFC 6762 §9) and only a defended probe renames; a foreign goodbye for
//!   any of our records (PTR included) is answered within 250 ms, before browsers' 1 s
//!   expiry; the cache-flush bit on unique records in every response but legacy unicast,
//!   with the §18 header rules checked on every response path; reconfirm of a dead peer
//!   ([`Engine::reconfirm`], [`Engine::reconfirm_name`]).
//! - Not here: sockets, IP TTL 255 and port choice (1, 37: the driver), name/TXT validation of
//!   the public API (42, 45, 46: the `dnssd` crate).
#![forbid(unsafe_code)]

pub mod wire;

mod api;
mod cache;
mod config;
mod engine;
mod packet;
mod querier;
mod ratelimit;
mod responder;
mod rng;
mod scheduler;
mod time;

pub use api::{
    CommandError, Destination, Event, MDNS_PORT, MDNS_V4_GROUP, MDNS_V6_GROUP, QueryId,
    RegistrationFailure, RegistrationId, ServiceSpec, Stats, Transmit,
};
pub use config::{Config, Family, InterfaceAddress, InterfaceConfig, InterfaceId, Limits};
pub use engine::Engine;
pub use responder::{HOST_TTL, OTHER_TTL, TXT_WARN_LEN};
pub use rng::Rng;
pub use time::Instant;

/// mDNS on one interface and one address family: the unit of every per-link rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct LinkId {
    pub iface: InterfaceId,
    pub family: Family,
}

#[cfg(test)]
mod tests {
    #[test]
    fn engine_is_send() {
        fn assert_send<T: Send + 'static>() {}
        assert_send::<crate::Engine>();
    }
}
