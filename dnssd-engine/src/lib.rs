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
pub use responder::{HOST_TTL, OTHER_TTL};
pub use rng::Rng;
pub use time::Instant;

/// mDNS on one interface and one address family: the unit of every per-link rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct LinkId {
    pub iface: InterfaceId,
    pub family: Family,
}
