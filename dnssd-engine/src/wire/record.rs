//! Questions, resource records and their data.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::name::Name;

/// A resource record type (RFC 1035 §3.2.2 and later registries).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct RecordType(pub u16);

impl RecordType {
    /// IPv4 host address.
    pub const A: RecordType = RecordType(1);
    /// Domain name pointer (DNS-SD browse and enumeration records).
    pub const PTR: RecordType = RecordType(12);
    /// Host information (carried opaquely).
    pub const HINFO: RecordType = RecordType(13);
    /// Text strings (DNS-SD key/value pairs).
    pub const TXT: RecordType = RecordType(16);
    /// IPv6 host address.
    pub const AAAA: RecordType = RecordType(28);
    /// Service location.
    pub const SRV: RecordType = RecordType(33);
    /// EDNS(0) pseudo-record (carried opaquely, otherwise ignored).
    pub const OPT: RecordType = RecordType(41);
    /// Next secure record (mDNS negative answers, RFC 6762 §6.1).
    pub const NSEC: RecordType = RecordType(47);
    /// Query type matching every type.
    pub const ANY: RecordType = RecordType(255);
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RecordType::A => f.write_str("A"),
            RecordType::PTR => f.write_str("PTR"),
            RecordType::HINFO => f.write_str("HINFO"),
            RecordType::TXT => f.write_str("TXT"),
            RecordType::AAAA => f.write_str("AAAA"),
            RecordType::SRV => f.write_str("SRV"),
            RecordType::OPT => f.write_str("OPT"),
            RecordType::NSEC => f.write_str("NSEC"),
            RecordType::ANY => f.write_str("ANY"),
            RecordType(other) => write!(f, "TYPE{other}"),
        }
    }
}

/// The Internet class.
pub const CLASS_IN: u16 = 1;
/// Query class matching every class.
pub const CLASS_ANY: u16 = 255;

/// One entry of the question section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    /// Name asked about.
    pub name: Name,
    /// Type asked for.
    pub qtype: RecordType,
    /// Class asked for (15 bits: the top bit is `unicast_response`).
    pub qclass: u16,
    /// The QU bit (RFC 6762 §5.4): the asker would like a unicast reply.
    pub unicast_response: bool,
}

/// Record data, decoded for the types mDNS/DNS-SD uses and carried opaquely for the rest.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RData {
    /// IPv4 address.
    A(Ipv4Addr),
    /// IPv6 address.
    Aaaa(Ipv6Addr),
    /// Pointer to another name.
    Ptr(Name),
    /// Service location (RFC 2782).
    Srv {
        /// Lower is preferred.
        priority: u16,
        /// Relative weight among equal priorities.
        weight: u16,
        /// Port of the service.
        port: u16,
        /// Host providing the service.
        target: Name,
    },
    /// Raw wire strings, each length-prefixed; an empty TXT record is `[0]`.
    Txt(Vec<u8>),
    /// Next name and the types that exist at the owner name (sorted, deduplicated).
    Nsec {
        /// Next domain name (mDNS: the owner name itself).
        next: Name,
        /// Types present at the owner name.
        types: Vec<RecordType>,
    },
    /// Any other type (HINFO, OPT, ...), as the raw rdata bytes.
    Unknown {
        /// The record type.
        rtype: RecordType,
        /// Raw rdata. Names inside are kept as received (possibly compressed).
        data: Vec<u8>,
    },
}

impl RData {
    /// The record type of this data.
    pub fn rtype(&self) -> RecordType {
        match self {
            RData::A(_) => RecordType::A,
            RData::Aaaa(_) => RecordType::AAAA,
            RData::Ptr(_) => RecordType::PTR,
            RData::Srv { .. } => RecordType::SRV,
            RData::Txt(_) => RecordType::TXT,
            RData::Nsec { .. } => RecordType::NSEC,
            RData::Unknown { rtype, .. } => *rtype,
        }
    }

    /// Appends the canonical uncompressed rdata bytes to `out`.
    pub(crate) fn write_uncompressed(&self, out: &mut Vec<u8>) {
        match self {
            RData::A(addr) => out.extend_from_slice(&addr.octets()),
            RData::Aaaa(addr) => out.extend_from_slice(&addr.octets()),
            RData::Ptr(name) => name.write_uncompressed(out),
            RData::Srv {
                priority,
                weight,
                port,
                target,
            } => {
                out.extend_from_slice(&priority.to_be_bytes());
                out.extend_from_slice(&weight.to_be_bytes());
                out.extend_from_slice(&port.to_be_bytes());
                target.write_uncompressed(out);
            }
            RData::Txt(data) | RData::Unknown { data, .. } => out.extend_from_slice(data),
            RData::Nsec { next, types } => {
                next.write_uncompressed(out);
                write_type_bitmaps(types, out);
            }
        }
    }
}

/// Encodes NSEC type bitmaps (RFC 4034 §4.1.2). `types` need not be sorted. For types below
/// 256 this is also mDNS's restricted form (RFC 6762 §6.1): one block, window 0.
pub(crate) fn write_type_bitmaps(types: &[RecordType], out: &mut Vec<u8>) {
    let mut sorted: Vec<u16> = types.iter().map(|t| t.0).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut rest = sorted.as_slice();
    while let Some(&first) = rest.first() {
        let window = first >> 8;
        let in_window = rest.iter().take_while(|&&t| t >> 8 == window).count();
        let (these, after) = rest.split_at(in_window);
        let mut bitmap = [0u8; 32];
        let mut used = 0usize;
        for &t in these {
            let low = usize::from(t & 0xFF);
            if let Some(byte) = bitmap.get_mut(low / 8) {
                *byte |= 0x80 >> (low % 8);
            }
            used = used.max(low / 8 + 1);
        }
        out.push(window.to_be_bytes()[1]);
        out.push(u8::try_from(used).unwrap_or(32));
        out.extend_from_slice(bitmap.get(..used).unwrap_or_default());
        rest = after;
    }
}

/// One resource record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Owner name.
    pub name: Name,
    /// Class (15 bits: the top bit is `cache_flush`).
    pub class: u16,
    /// The cache-flush bit (RFC 6762 §10.2): this record replaces the whole RRset.
    pub cache_flush: bool,
    /// Time to live in seconds.
    pub ttl: u32,
    /// Type and data.
    pub rdata: RData,
}

impl Record {
    /// The record type.
    pub fn rtype(&self) -> RecordType {
        self.rdata.rtype()
    }

    /// Same name, type, class and rdata (ignores TTL and the cache-flush bit).
    pub fn same_rrset_member(&self, other: &Record) -> bool {
        self.name == other.name && self.class == other.class && self.rdata == other.rdata
    }

    /// Canonical uncompressed rdata bytes (RFC 6762 §8.2 probe tiebreak compares these).
    pub fn rdata_wire(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.rdata.write_uncompressed(&mut out);
        out
    }
}
