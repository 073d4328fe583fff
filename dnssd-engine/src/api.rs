//! Types crossing the engine boundary: transmits, events, command arguments, statistics.

use std::net::{IpAddr, SocketAddr};

use crate::config::{Family, InterfaceId};
use crate::wire::{Name, Record};

/// mDNS port.
pub const MDNS_PORT: u16 = 5353;
/// IPv4 mDNS group.
pub const MDNS_V4_GROUP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(224, 0, 0, 251);
/// IPv6 mDNS group (link-local scope: send with the interface's scope id).
pub const MDNS_V6_GROUP: std::net::Ipv6Addr =
    std::net::Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0xfb);

/// Where a datagram goes (on send) or was addressed (on receive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Destination {
    /// The mDNS group of this family, port 5353, on the transmit's interface.
    Multicast(Family),
    /// A unicast address and port (QU replies, legacy unicast replies; on receive: a
    /// datagram sent to one of our addresses).
    Unicast(SocketAddr),
}

/// A datagram for the driver to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Interface to send on.
    pub iface: InterfaceId,
    /// Group or unicast address.
    pub destination: Destination,
    /// The DNS message.
    pub payload: Vec<u8>,
}

/// Handle of a registration (service) made with [`crate::Engine::register`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegistrationId(pub u64);

/// Handle of a query (browse, resolve, record query, host lookup).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueryId(pub u64);

/// A service to register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Instance name (UTF-8, <= 63 bytes, dots and spaces allowed): `"My Web"`.
    pub instance: String,
    /// Service type without domain: `"_http._tcp"`.
    pub service_type: String,
    /// Subtypes without `._sub`: `["_printer"]`.
    pub subtypes: Vec<String>,
    /// Domain; `None` means `local`.
    pub domain: Option<String>,
    /// SRV target host (`"h.local"`); `None` means our own host name.
    pub host: Option<String>,
    /// Port.
    pub port: u16,
    /// TXT rdata in wire form (length-prefixed strings); empty means one 0x00 byte.
    pub txt: Vec<u8>,
    /// Only on this interface; `None` means all.
    pub iface: Option<InterfaceId>,
}

/// Why a command was refused.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The instance name is empty, too long (> 63 bytes) or has control characters.
    #[error("invalid instance name {0:?}")]
    InvalidInstanceName(String),
    /// The service type or subtype is not `_name._tcp|_udp` (RFC 6763 §7).
    #[error("invalid service type {0:?}")]
    InvalidServiceType(String),
    /// A name does not form a valid DNS name.
    #[error("invalid name {0:?}")]
    InvalidName(String),
    /// TXT rdata is not a sequence of length-prefixed strings.
    #[error("invalid TXT record data")]
    InvalidTxt,
    /// The TXT data cannot be sent: with the probe that carries it, it would not fit in
    /// one 9000-byte mDNS message (RFC 6762 §17). `max` depends on the service type.
    #[error("TXT record data of {len} bytes is larger than {max} bytes")]
    TxtTooLarge {
        /// Bytes given.
        len: usize,
        /// Largest accepted for this service type.
        max: usize,
    },
    /// A cap from [`crate::Limits`] was reached.
    #[error("limit reached: {0}")]
    LimitReached(&'static str),
    /// The id does not name a live registration or query.
    #[error("unknown id")]
    UnknownId,
}

/// Why a registration failed after it was accepted.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistrationFailure {
    /// No more names to try.
    NameExhausted,
}

/// Something for the API layer.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Probing finished on every interface: the name is ours. Sent again after a later
    /// conflict is resolved (possibly with a new name).
    RegistrationEstablished {
        /// Registration.
        id: RegistrationId,
        /// Final instance name (after any renames).
        name: String,
    },
    /// A conflict made us pick a new instance name; probing starts again with it.
    RegistrationRenamed {
        /// Registration.
        id: RegistrationId,
        /// The new instance name.
        name: String,
    },
    /// The registration is given up.
    RegistrationFailed {
        /// Registration.
        id: RegistrationId,
        /// Why.
        reason: RegistrationFailure,
    },
    /// Warning: a registration or TXT update carries more than [`crate::TXT_WARN_LEN`]
    /// (1300) bytes of TXT data, which RFC 6763 §6.2 does not recommend (it may not fit a
    /// 1500-byte Ethernet frame with the other records). It is published anyway; also
    /// counted in [`Stats::large_txt`].
    TxtTooLarge {
        /// Registration.
        id: RegistrationId,
        /// TXT data length in bytes.
        len: usize,
    },
    /// Our host name conflicted and was renamed (`host-2`).
    HostRenamed {
        /// New host label (without `.local`).
        name: String,
    },
    /// A browse found an instance on an interface.
    BrowseAdded {
        /// The browse.
        query: QueryId,
        /// Full instance name (`My\.Web._http._tcp.local.`); first label is the instance.
        instance: Name,
        /// Where it was seen.
        interface: InterfaceId,
    },
    /// An instance went away on an interface (goodbye, TTL expiry, POOF, flush).
    BrowseRemoved {
        /// The browse.
        query: QueryId,
        /// Full instance name.
        instance: Name,
        /// Where.
        interface: InterfaceId,
    },
    /// A resolve has (new) SRV and TXT data for the instance.
    Resolved {
        /// The resolve.
        query: QueryId,
        /// Full instance name.
        instance: Name,
        /// SRV target host.
        target: Name,
        /// SRV port.
        port: u16,
        /// TXT rdata in wire form.
        txt: Vec<u8>,
        /// Where.
        interface: InterfaceId,
    },
    /// A host lookup found an address (only addresses that came on that interface).
    AddressAdded {
        /// The lookup.
        query: QueryId,
        /// Host name.
        host: Name,
        /// Address.
        addr: IpAddr,
        /// Interface it came on (use as the IPv6 scope id).
        interface: InterfaceId,
    },
    /// An address went away.
    AddressRemoved {
        /// The lookup.
        query: QueryId,
        /// Host name.
        host: Name,
        /// Address.
        addr: IpAddr,
        /// Interface.
        interface: InterfaceId,
    },
    /// A record query saw a new record.
    RecordAdded {
        /// The query.
        query: QueryId,
        /// The record (TTL as received).
        record: Record,
        /// Interface.
        interface: InterfaceId,
    },
    /// A record went away.
    RecordRemoved {
        /// The query.
        query: QueryId,
        /// The record.
        record: Record,
        /// Interface.
        interface: InterfaceId,
    },
}

/// Counters (never reset).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams given to `handle_datagram`.
    pub received: u64,
    /// Dropped: could not be parsed.
    pub malformed: u64,
    /// Records inside parsed messages dropped for bad rdata.
    pub malformed_records: u64,
    /// Dropped: unknown interface or family not enabled.
    pub dropped_unknown_interface: u64,
    /// Dropped: source not on the interface's subnets.
    pub dropped_off_link: u64,
    /// Dropped: source port 0, or a response not from port 5353.
    pub dropped_bad_port: u64,
    /// Dropped: OPCODE or RCODE not 0.
    pub dropped_opcode_rcode: u64,
    /// Dropped: unicast response we did not ask for.
    pub dropped_unsolicited_unicast: u64,
    /// Queries processed.
    pub queries: u64,
    /// Responses processed.
    pub responses: u64,
    /// Datagrams handed out by `poll_transmit`.
    pub transmitted: u64,
    /// Answers not sent thanks to known-answer suppression.
    pub known_answer_suppressed: u64,
    /// Answers not sent because a peer sent them first.
    pub duplicate_answers_suppressed: u64,
    /// Conflicts detected for our unique records.
    pub conflicts: u64,
    /// Times our reverse-mapping PTRs were withdrawn because another responder claimed one of
    /// their names (see [`Config::reverse_mapping`](crate::Config::reverse_mapping)).
    pub reverse_mapping_withdrawn: u64,
    /// Cache entries evicted by the cap.
    pub cache_evictions: u64,
    /// Pending answers or queued datagrams evicted by their caps.
    pub pending_evictions: u64,
    /// Registrations or TXT updates with more than 1300 bytes of TXT data (each also
    /// raised [`Event::TxtTooLarge`]).
    pub large_txt: u64,
    /// Events dropped because nobody polled them.
    pub events_dropped: u64,
}
