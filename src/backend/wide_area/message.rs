//! Unicast DNS messages of the wide-area client: queries (RFC 1035 with EDNS(0)), UPDATEs
//! (RFC 2136) with the Update Lease option (RFC 9664), and TSIG signing and verification
//! (RFC 8945, HMAC-SHA256). Responses are parsed by the engine's bounded parser
//! (`dnssd_engine::wire::Message::parse`); what is built here is written uncompressed, which
//! keeps the TSIG input byte-exact and the code small.

use dnssd_engine::wire::{Message, Name, RData};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::key::{HMAC_SHA256, TsigKey};
use crate::types::error::{Error, Result};

/// Class IN.
pub(crate) const CLASS_IN: u16 = 1;
/// Class NONE (RFC 2136: "delete this RR" / "RRset does not exist").
pub(crate) const CLASS_NONE: u16 = 254;
/// Class ANY (RFC 2136: "delete this RRset" / "name is in use").
pub(crate) const CLASS_ANY: u16 = 255;
/// Type ANY.
pub(crate) const TYPE_ANY: u16 = 255;
/// Type SOA.
pub(crate) const TYPE_SOA: u16 = 6;
const TYPE_OPT: u16 = 41;
const TYPE_TSIG: u16 = 250;
/// EDNS(0) payload size we advertise (the DNS flag day 2020 value).
pub(crate) const EDNS_PAYLOAD: u16 = 1232;
/// EDNS option code of the Update Lease (RFC 9664).
const OPTION_UPDATE_LEASE: u16 = 2;
/// OPCODE UPDATE.
const OPCODE_UPDATE: u16 = 5;
/// Seconds of clock difference a TSIG accepts (RFC 8945 recommends 300).
const FUDGE: u16 = 300;

const RCODE_NXDOMAIN: u16 = 3;

/// The big-endian u16 at `at`, if the slice holds it.
fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Uncompressed wire form; lower-cased when `canonical` (TSIG variables, RFC 8945 s4.3.3).
pub(crate) fn put_name(out: &mut Vec<u8>, name: &Name, canonical: bool) {
    for label in name.labels() {
        out.push(u8::try_from(label.len()).unwrap_or(63));
        if canonical {
            out.extend(label.iter().map(u8::to_ascii_lowercase));
        } else {
            out.extend_from_slice(label);
        }
    }
    out.push(0);
}

fn header(out: &mut Vec<u8>, id: u16, flags: u16, counts: [u16; 4]) {
    put_u16(out, id);
    put_u16(out, flags);
    for count in counts {
        put_u16(out, count);
    }
}

/// An OPT pseudo-record with the given options.
fn put_opt(out: &mut Vec<u8>, options: &[(u16, Vec<u8>)]) {
    out.push(0);
    put_u16(out, TYPE_OPT);
    put_u16(out, EDNS_PAYLOAD);
    put_u32(out, 0);
    let len: usize = options.iter().map(|(_, data)| 4 + data.len()).sum();
    put_u16(out, u16::try_from(len).unwrap_or(u16::MAX));
    for (code, data) in options {
        put_u16(out, *code);
        put_u16(out, u16::try_from(data.len()).unwrap_or(u16::MAX));
        out.extend_from_slice(data);
    }
}

/// A recursive query (RD set) for `name`/`qtype` with an EDNS(0) OPT record.
pub(crate) fn query(id: u16, name: &Name, qtype: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + name.wire_len());
    header(&mut out, id, 0x0100, [1, 0, 0, 1]);
    put_name(&mut out, name, false);
    put_u16(&mut out, qtype);
    put_u16(&mut out, CLASS_IN);
    put_opt(&mut out, &[]);
    out
}

/// One resource record of an UPDATE (prerequisite or update section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UpdateRecord {
    pub(crate) name: Name,
    pub(crate) rtype: u16,
    pub(crate) class: u16,
    pub(crate) ttl: u32,
    pub(crate) rdata: Vec<u8>,
}

impl UpdateRecord {
    /// Add this record (class IN).
    pub(crate) fn add(name: &Name, rtype: u16, ttl: u32, rdata: Vec<u8>) -> UpdateRecord {
        UpdateRecord {
            name: name.clone(),
            rtype,
            class: CLASS_IN,
            ttl,
            rdata,
        }
    }

    /// Delete this one record (class NONE).
    pub(crate) fn delete_one(name: &Name, rtype: u16, rdata: Vec<u8>) -> UpdateRecord {
        UpdateRecord {
            name: name.clone(),
            rtype,
            class: CLASS_NONE,
            ttl: 0,
            rdata,
        }
    }

    /// Delete the RRset `name`/`rtype` (or every RRset at `name` with type ANY).
    pub(crate) fn delete_rrset(name: &Name, rtype: u16) -> UpdateRecord {
        UpdateRecord {
            name: name.clone(),
            rtype,
            class: CLASS_ANY,
            ttl: 0,
            rdata: Vec::new(),
        }
    }

    /// Prerequisite "name is not in use" (RFC 2136 s2.4.5).
    pub(crate) fn name_not_in_use(name: &Name) -> UpdateRecord {
        UpdateRecord {
            name: name.clone(),
            rtype: TYPE_ANY,
            class: CLASS_NONE,
            ttl: 0,
            rdata: Vec::new(),
        }
    }

    /// Prerequisite "RRset exists (value dependent)" for this record (RFC 2136 s2.4.2).
    pub(crate) fn exists_with_value(name: &Name, rtype: u16, rdata: Vec<u8>) -> UpdateRecord {
        UpdateRecord {
            name: name.clone(),
            rtype,
            class: CLASS_IN,
            ttl: 0,
            rdata,
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        put_name(out, &self.name, false);
        put_u16(out, self.rtype);
        put_u16(out, self.class);
        put_u32(out, self.ttl);
        put_u16(out, u16::try_from(self.rdata.len()).unwrap_or(u16::MAX));
        out.extend_from_slice(&self.rdata);
    }
}

/// An UPDATE message (RFC 2136) for `zone`.
#[derive(Debug, Clone)]
pub(crate) struct Update {
    pub(crate) zone: Name,
    pub(crate) prerequisites: Vec<UpdateRecord>,
    pub(crate) updates: Vec<UpdateRecord>,
    /// Update Lease in seconds (RFC 9664), sent in an OPT record.
    pub(crate) lease: Option<u32>,
}

impl Update {
    /// The unsigned message.
    pub(crate) fn encode(&self, id: u16) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        let count = |n: usize| u16::try_from(n).unwrap_or(u16::MAX);
        header(
            &mut out,
            id,
            OPCODE_UPDATE << 11,
            [
                1,
                count(self.prerequisites.len()),
                count(self.updates.len()),
                u16::from(self.lease.is_some()),
            ],
        );
        put_name(&mut out, &self.zone, false);
        put_u16(&mut out, TYPE_SOA);
        put_u16(&mut out, CLASS_IN);
        for record in self.prerequisites.iter().chain(&self.updates) {
            record.write(&mut out);
        }
        if let Some(lease) = self.lease {
            put_opt(
                &mut out,
                &[(OPTION_UPDATE_LEASE, lease.to_be_bytes().to_vec())],
            );
        }
        out
    }
}

fn algorithm_name() -> Name {
    Name::from_dotted(HMAC_SHA256).unwrap_or_else(|_| Name::root())
}

/// The TSIG variables (RFC 8945 s4.3.3) after the key name, class and TTL.
fn tsig_variables(out: &mut Vec<u8>, key: &TsigKey, time: u64, error: u16, other: &[u8]) {
    put_name(out, key.wire_name(), true);
    put_u16(out, CLASS_ANY);
    put_u32(out, 0);
    put_name(out, &algorithm_name(), true);
    out.extend_from_slice(time.to_be_bytes().get(2..).unwrap_or_default());
    put_u16(out, FUDGE);
    put_u16(out, error);
    put_u16(out, u16::try_from(other.len()).unwrap_or(0));
    out.extend_from_slice(other);
}

fn mac(key: &TsigKey, parts: &[&[u8]]) -> Vec<u8> {
    // HMAC accepts keys of any length; the error branch cannot happen.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.secret()) else {
        return Vec::new();
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Signs `message` (whose ID is `id`) in place: appends a TSIG record and counts it in
/// ARCOUNT. Returns the request MAC, needed to verify the response.
pub(crate) fn sign(message: &mut Vec<u8>, key: &TsigKey, time: u64) -> Vec<u8> {
    let mut variables = Vec::new();
    tsig_variables(&mut variables, key, time, 0, &[]);
    let request_mac = mac(key, &[message, &variables]);
    let id = read_u16(message, 0).unwrap_or(0);
    // The TSIG record itself.
    put_name(message, key.wire_name(), true);
    put_u16(message, TYPE_TSIG);
    put_u16(message, CLASS_ANY);
    put_u32(message, 0);
    let mut rdata = Vec::new();
    put_name(&mut rdata, &algorithm_name(), true);
    rdata.extend_from_slice(time.to_be_bytes().get(2..).unwrap_or_default());
    put_u16(&mut rdata, FUDGE);
    put_u16(&mut rdata, u16::try_from(request_mac.len()).unwrap_or(0));
    rdata.extend_from_slice(&request_mac);
    put_u16(&mut rdata, id);
    put_u16(&mut rdata, 0);
    put_u16(&mut rdata, 0);
    put_u16(message, u16::try_from(rdata.len()).unwrap_or(u16::MAX));
    message.extend_from_slice(&rdata);
    bump_arcount(message, 1);
    request_mac
}

fn bump_arcount(message: &mut [u8], delta: i32) {
    let Some(old) = read_u16(message, 10) else {
        return;
    };
    let new = u16::try_from(i32::from(old) + delta).unwrap_or(0);
    if let Some(count) = message.get_mut(10..12) {
        count.copy_from_slice(&new.to_be_bytes());
    }
}

/// Reads bounded fields of a datagram.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let slice = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(slice)
    }

    fn u16(&mut self) -> Option<u16> {
        read_u16(self.take(2)?, 0)
    }

    /// Skips a (possibly compressed) name.
    fn skip_name(&mut self) -> Option<()> {
        loop {
            let len = *self.take(1)?.first()?;
            match len {
                0 => return Some(()),
                l if l & 0xC0 == 0xC0 => {
                    self.take(1)?;
                    return Some(());
                }
                l if l & 0xC0 == 0 => {
                    self.take(usize::from(l))?;
                }
                _ => return None,
            }
        }
    }

    /// Reads an uncompressed name as lower-cased labels (TSIG owner and algorithm names).
    fn name_lower(&mut self) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let len = *self.take(1)?.first()?;
            if len == 0 {
                out.push(0);
                return Some(out);
            }
            if len & 0xC0 != 0 {
                return None;
            }
            out.push(len);
            out.extend(
                self.take(usize::from(len))?
                    .iter()
                    .map(u8::to_ascii_lowercase),
            );
        }
    }
}

/// What a response's TSIG record says.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TsigCheck {
    /// Signed with our key and the MAC verifies.
    Valid,
    /// No TSIG record.
    Missing,
    /// The server reports a TSIG error (16 BADSIG, 17 BADKEY, 18 BADTIME...).
    ServerError(u16),
    /// A TSIG record whose MAC does not verify (or a malformed one).
    Invalid,
}

/// Verifies the TSIG of `response` to a request whose MAC was `request_mac` (RFC 8945 s5.3).
pub(crate) fn verify(response: &[u8], key: &TsigKey, request_mac: &[u8]) -> TsigCheck {
    verify_inner(response, key, request_mac).unwrap_or(TsigCheck::Invalid)
}

fn verify_inner(response: &[u8], key: &TsigKey, request_mac: &[u8]) -> Option<TsigCheck> {
    let mut c = Cursor {
        bytes: response,
        pos: 12,
    };
    let count = |i: usize| read_u16(response, 4 + 2 * i);
    let (qd, an, ns, ar) = (count(0)?, count(1)?, count(2)?, count(3)?);
    if ar == 0 {
        return Some(TsigCheck::Missing);
    }
    for _ in 0..qd {
        c.skip_name()?;
        c.take(4)?;
    }
    let before_last = u32::from(an) + u32::from(ns) + u32::from(ar) - 1;
    for _ in 0..before_last {
        c.skip_name()?;
        c.take(8)?;
        let len = c.u16()?;
        c.take(usize::from(len))?;
    }
    let tsig_start = c.pos;
    let owner = c.name_lower()?;
    if c.u16()? != TYPE_TSIG {
        return Some(TsigCheck::Missing);
    }
    c.take(6)?; // class, TTL
    let rdlen = usize::from(c.u16()?);
    let rdata_start = c.pos;
    let algorithm = c.name_lower()?;
    let time_fudge = c.take(8)?.to_vec();
    let mac_len = usize::from(c.u16()?);
    let their_mac = c.take(mac_len)?.to_vec();
    let original_id = c.u16()?;
    let error = c.u16()?;
    let other_len = usize::from(c.u16()?);
    let other = c.take(other_len)?.to_vec();
    if c.pos != rdata_start + rdlen {
        return None;
    }
    let mut expected_owner = Vec::new();
    put_name(&mut expected_owner, key.wire_name(), true);
    let mut expected_algorithm = Vec::new();
    put_name(&mut expected_algorithm, &algorithm_name(), true);
    if owner != expected_owner || algorithm != expected_algorithm {
        return Some(TsigCheck::Invalid);
    }
    if error != 0 {
        return Some(TsigCheck::ServerError(error));
    }
    // The digest covers: request MAC (length-prefixed), the response without its TSIG and
    // with the original ID and ARCOUNT - 1, then the TSIG variables.
    let mut unsigned = response.get(..tsig_start)?.to_vec();
    if let Some(id) = unsigned.get_mut(..2) {
        id.copy_from_slice(&original_id.to_be_bytes());
    }
    bump_arcount(&mut unsigned, -1);
    let mut variables = owner;
    put_u16(&mut variables, CLASS_ANY);
    put_u32(&mut variables, 0);
    variables.extend_from_slice(&algorithm);
    variables.extend_from_slice(&time_fudge);
    put_u16(&mut variables, error);
    put_u16(&mut variables, u16::try_from(other.len()).unwrap_or(0));
    variables.extend_from_slice(&other);
    let mut mac_len_prefix = Vec::new();
    put_u16(
        &mut mac_len_prefix,
        u16::try_from(request_mac.len()).unwrap_or(0),
    );
    let expected = mac(key, &[&mac_len_prefix, request_mac, &unsigned, &variables]);
    // Constant-time comparison of the MACs.
    let mut verifier = Hmac::<Sha256>::new_from_slice(b"compare").ok()?;
    verifier.update(&expected);
    let expected_tag = verifier.finalize().into_bytes();
    let mut verifier = Hmac::<Sha256>::new_from_slice(b"compare").ok()?;
    verifier.update(&their_mac);
    if verifier.verify_slice(&expected_tag).is_ok() {
        Some(TsigCheck::Valid)
    } else {
        Some(TsigCheck::Invalid)
    }
}

/// The extended RCODE of a parsed response (the OPT record carries the upper 8 bits).
pub(crate) fn rcode(message: &Message) -> u16 {
    let low = u16::from(message.header.rcode());
    let high = message
        .additionals
        .iter()
        .find_map(|r| match &r.rdata {
            RData::Unknown { rtype, .. } if rtype.0 == TYPE_OPT => {
                Some(u16::from(r.ttl.to_be_bytes()[0]))
            }
            _ => None,
        })
        .unwrap_or(0);
    (high << 4) | low
}

/// True for NXDOMAIN (an empty answer, not an error, for the client).
pub(crate) fn is_nxdomain(rcode: u16) -> bool {
    rcode == RCODE_NXDOMAIN
}

/// The error for an RCODE (and TSIG error) of an update response; `Ok` for NOERROR.
pub(crate) fn update_result(rcode: u16, tsig_error: Option<u16>) -> Result<()> {
    match (rcode, tsig_error) {
        (_, Some(16)) => Err(Error::BadSig),
        (_, Some(17)) => Err(Error::BadKey),
        (_, Some(18)) => Err(Error::BadTime),
        (0, _) => Ok(()),
        (5, _) => Err(Error::Refused),
        (6, _) => Err(Error::NameConflict),
        (9, _) => Err(Error::NoAuth),
        (other, _) => Err(Error::DnsServer { rcode: other }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> TsigKey {
        TsigKey::from_base64("update-key", "c2VjcmV0c2VjcmV0c2VjcmV0").expect("key")
    }

    fn name(s: &str) -> Name {
        Name::from_dotted(s).expect("name")
    }

    #[test]
    fn update_layout_counts_every_section() {
        let update = Update {
            zone: name("example.test"),
            prerequisites: vec![UpdateRecord::name_not_in_use(&name(
                "a._http._tcp.example.test",
            ))],
            updates: vec![UpdateRecord::add(
                &name("_http._tcp.example.test"),
                12,
                60,
                vec![0],
            )],
            lease: Some(3600),
        };
        let bytes = update.encode(0x1234);
        let parsed = Message::parse(&bytes).expect("parses");
        assert_eq!(parsed.header.opcode(), 5);
        assert_eq!(parsed.questions.len(), 1);
        assert_eq!(parsed.answers.len(), 1);
        assert_eq!(parsed.authorities.len(), 1);
        assert_eq!(parsed.additionals.len(), 1);
    }

    #[test]
    fn a_signed_message_verifies_with_the_same_key_only() {
        // Build a "response" the way a server would: sign the message with the request MAC
        // prepended. Reuse `sign` on a message body, then recompute as server-side: here we
        // check that our own verifier accepts what a server computing RFC 8945 s5.3 sends.
        let k = key();
        let mut request = query(7, &name("x.example.test"), 1);
        let request_mac = sign(&mut request, &k, 1_700_000_000);
        assert_eq!(request_mac.len(), 32);
        // Server-side signing of a response.
        let mut response = query(7, &name("x.example.test"), 1);
        if let Some(flags) = response.get_mut(2..4) {
            flags.copy_from_slice(&0x8180u16.to_be_bytes());
        }
        let mut variables = Vec::new();
        tsig_variables(&mut variables, &k, 1_700_000_001, 0, &[]);
        let response_mac = mac(&k, &[&[0, 32], &request_mac, &response, &variables]);
        put_name(&mut response, k.wire_name(), true);
        put_u16(&mut response, TYPE_TSIG);
        put_u16(&mut response, CLASS_ANY);
        put_u32(&mut response, 0);
        let mut rdata = Vec::new();
        put_name(&mut rdata, &algorithm_name(), true);
        rdata.extend_from_slice(&1_700_000_001u64.to_be_bytes()[2..]);
        put_u16(&mut rdata, FUDGE);
        put_u16(&mut rdata, 32);
        rdata.extend_from_slice(&response_mac);
        put_u16(&mut rdata, 7);
        put_u16(&mut rdata, 0);
        put_u16(&mut rdata, 0);
        put_u16(&mut response, rdata.len() as u16);
        response.extend_from_slice(&rdata);
        bump_arcount(&mut response, 1);
        assert_eq!(verify(&response, &k, &request_mac), TsigCheck::Valid);
        let other = TsigKey::from_base64("update-key", "b3RoZXJvdGhlcg==").expect("key");
        assert_eq!(verify(&response, &other, &request_mac), TsigCheck::Invalid);
        // A flipped bit anywhere before the TSIG breaks it.
        let mut tampered = response.clone();
        tampered[20] ^= 1;
        assert_eq!(verify(&tampered, &k, &request_mac), TsigCheck::Invalid);
        // Truncations never panic.
        for cut in 0..response.len() {
            let _ = verify(&response[..cut], &k, &request_mac);
        }
    }

    #[test]
    fn rcodes_map_to_typed_errors() {
        assert!(update_result(0, None).is_ok());
        assert!(matches!(update_result(9, Some(16)), Err(Error::BadSig)));
        assert!(matches!(update_result(9, Some(17)), Err(Error::BadKey)));
        assert!(matches!(update_result(6, None), Err(Error::NameConflict)));
        assert!(matches!(update_result(5, None), Err(Error::Refused)));
        assert!(matches!(
            update_result(2, None),
            Err(Error::DnsServer { rcode: 2 })
        ));
    }
}
