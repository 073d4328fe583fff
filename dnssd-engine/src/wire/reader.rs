//! Parser: datagram bytes to an owned `Message`.
//!
//! Every read is bounds-checked (`get`, never indexing), every length is checked against its
//! container (rdlength against the datagram, inner lengths against rdlength), and name
//! decoding is bounded: compression pointers must point strictly before the position where
//! the name (or the previous pointer's target) started, and at most `MAX_POINTER_HOPS` of
//! them are followed per name. So decoding a name costs at most 255 label bytes plus
//! `MAX_POINTER_HOPS` jumps, and a whole message costs time linear in its length.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::error::WireError;
use super::message::{Header, Message};
use super::name::{MAX_LABEL_LEN, MAX_NAME_LEN, Name};
use super::record::{Question, RData, Record, RecordType};

/// Length of the fixed header.
pub(crate) const HEADER_LEN: usize = 12;
/// Most compression pointers followed while decoding one name. A 255-byte name has at most
/// 127 labels, so no legitimate name needs more.
pub const MAX_POINTER_HOPS: usize = 127;
/// Smallest question: root name, type, class.
const MIN_QUESTION_LEN: usize = 5;
/// Smallest record: root name, type, class, TTL, rdlength.
const MIN_RECORD_LEN: usize = 11;

fn read_u16(msg: &[u8], pos: usize) -> Result<u16, WireError> {
    match msg.get(pos..pos + 2) {
        Some(&[a, b]) => Ok(u16::from_be_bytes([a, b])),
        _ => Err(WireError::Truncated {
            offset: pos,
            needed: pos + 2 - msg.len().min(pos + 2),
        }),
    }
}

fn read_u32(msg: &[u8], pos: usize) -> Result<u32, WireError> {
    match msg.get(pos..pos + 4) {
        Some(&[a, b, c, d]) => Ok(u32::from_be_bytes([a, b, c, d])),
        _ => Err(WireError::Truncated {
            offset: pos,
            needed: pos + 4 - msg.len().min(pos + 4),
        }),
    }
}

/// Decodes the name starting at `start`. Bytes read in place (before the first pointer) must
/// lie before `limit` (the end of the rdata, or of the datagram); pointer targets may be
/// anywhere earlier in the datagram. Returns the name and the offset just after its
/// in-place part.
pub(crate) fn read_name(
    msg: &[u8],
    start: usize,
    limit: usize,
) -> Result<(Name, usize), WireError> {
    let overrun = |pos: usize| {
        if limit < msg.len() {
            WireError::LengthOverrun {
                field: "name in rdata",
                offset: pos,
            }
        } else {
            WireError::Truncated {
                offset: pos,
                needed: 1,
            }
        }
    };
    // Decoded into a stack buffer: the name is copied once, into its final storage.
    let mut wire = [0u8; MAX_NAME_LEN];
    let mut wire_len = 0usize;
    let mut pos = start;
    // Everything at or after `floor` is off limits for the next pointer.
    let mut floor = start;
    let mut end_in_place: Option<usize> = None;
    let mut hops = 0usize;
    loop {
        let bound = if end_in_place.is_some() {
            msg.len()
        } else {
            limit
        };
        let len = *msg
            .get(pos)
            .filter(|_| pos < bound)
            .ok_or_else(|| overrun(pos))?;
        match len & 0xC0 {
            0x00 if len == 0 => {
                let end = *end_in_place.get_or_insert(pos + 1);
                let wire = wire.get(..wire_len).unwrap_or_default();
                return Ok((Name::from_checked_wire(wire), end));
            }
            0x00 => {
                let len = usize::from(len);
                debug_assert!(len <= MAX_LABEL_LEN);
                let label = msg
                    .get(pos + 1..pos + 1 + len)
                    .filter(|_| pos + 1 + len <= bound)
                    .ok_or_else(|| overrun(pos))?;
                // +1 for this length byte, +1 for the root's zero byte still to come.
                if wire_len + 1 + len + 1 > MAX_NAME_LEN {
                    return Err(WireError::NameTooLong);
                }
                let dst = wire
                    .get_mut(wire_len..wire_len + 1 + len)
                    .ok_or(WireError::NameTooLong)?;
                if let Some((len_byte, label_bytes)) = dst.split_first_mut() {
                    *len_byte = len as u8;
                    label_bytes.copy_from_slice(label);
                }
                wire_len += 1 + len;
                pos += 1 + len;
            }
            0xC0 => {
                let second = *msg
                    .get(pos + 1)
                    .filter(|_| pos + 1 < bound)
                    .ok_or_else(|| overrun(pos))?;
                let target = usize::from(len & 0x3F) << 8 | usize::from(second);
                // RFC 1035 §4.1.4 allows any earlier occurrence; only strictly backwards
                // pointers, past the header, guarantee termination.
                if target >= floor || target < HEADER_LEN {
                    return Err(WireError::BadPointer {
                        offset: pos,
                        target,
                    });
                }
                hops += 1;
                if hops > MAX_POINTER_HOPS {
                    return Err(WireError::PointerLoop);
                }
                end_in_place.get_or_insert(pos + 2);
                floor = target;
                pos = target;
            }
            other => return Err(WireError::BadLabelType(other)),
        }
    }
}

/// Parses a whole datagram.
pub(crate) fn parse_message(msg: &[u8]) -> Result<Message, WireError> {
    if msg.len() < HEADER_LEN {
        return Err(WireError::Truncated {
            offset: 0,
            needed: HEADER_LEN - msg.len(),
        });
    }
    let header = Header {
        id: read_u16(msg, 0)?,
        flags: read_u16(msg, 2)?,
    };
    let counts = [
        read_u16(msg, 4)?,
        read_u16(msg, 6)?,
        read_u16(msg, 8)?,
        read_u16(msg, 10)?,
    ];
    let mut pos = HEADER_LEN;
    let mut message = Message {
        header,
        ..Message::default()
    };

    // Capacity from what could fit, not from what the header claims.
    let room = msg.len() - HEADER_LEN;
    message
        .questions
        .reserve(usize::from(counts[0]).min(room / MIN_QUESTION_LEN));
    for _ in 0..counts[0] {
        let (name, after) = read_name(msg, pos, msg.len())?;
        let qtype = read_u16(msg, after)?;
        let qclass = read_u16(msg, after + 2)?;
        pos = after + 4;
        message.questions.push(Question {
            name,
            qtype: RecordType(qtype),
            qclass: qclass & 0x7FFF,
            unicast_response: qclass & 0x8000 != 0,
        });
    }
    for (section, &count) in counts.iter().enumerate().skip(1) {
        let mut records = Vec::with_capacity(
            usize::from(count).min(msg.len().saturating_sub(pos) / MIN_RECORD_LEN),
        );
        for _ in 0..count {
            let (name, after) = read_name(msg, pos, msg.len())?;
            let rtype = RecordType(read_u16(msg, after)?);
            let class = read_u16(msg, after + 2)?;
            let ttl = read_u32(msg, after + 4)?;
            let rdlength = usize::from(read_u16(msg, after + 8)?);
            let rdata_start = after + 10;
            let rdata_end = rdata_start + rdlength;
            if rdata_end > msg.len() {
                return Err(WireError::LengthOverrun {
                    field: "rdlength",
                    offset: after + 8,
                });
            }
            pos = rdata_end;
            match read_rdata(msg, rtype, rdata_start, rdata_end) {
                Ok(rdata) => records.push(Record {
                    name,
                    class: class & 0x7FFF,
                    cache_flush: class & 0x8000 != 0,
                    ttl,
                    rdata,
                }),
                Err(_) => message.dropped_records = message.dropped_records.saturating_add(1),
            }
        }
        match section {
            1 => message.answers = records,
            2 => message.authorities = records,
            _ => message.additionals = records,
        }
    }
    Ok(message)
}

/// Decodes rdata lying in `msg[start..end]` (`end` already checked against the datagram).
pub(crate) fn read_rdata(
    msg: &[u8],
    rtype: RecordType,
    start: usize,
    end: usize,
) -> Result<RData, WireError> {
    let data = msg.get(start..end).ok_or(WireError::LengthOverrun {
        field: "rdlength",
        offset: start,
    })?;
    let wrong_len = |field| WireError::LengthOverrun {
        field,
        offset: start,
    };
    let name_fills_rdata = |name_start: usize, field| -> Result<Name, WireError> {
        let (name, after) = read_name(msg, name_start, end)?;
        if after != end {
            return Err(wrong_len(field));
        }
        Ok(name)
    };
    match rtype {
        RecordType::A => {
            let octets: [u8; 4] = data.try_into().map_err(|_| wrong_len("A rdata"))?;
            Ok(RData::A(Ipv4Addr::from(octets)))
        }
        RecordType::AAAA => {
            let octets: [u8; 16] = data.try_into().map_err(|_| wrong_len("AAAA rdata"))?;
            Ok(RData::Aaaa(Ipv6Addr::from(octets)))
        }
        RecordType::PTR => Ok(RData::Ptr(name_fills_rdata(start, "PTR rdata")?)),
        RecordType::SRV => {
            if data.len() < 7 {
                return Err(wrong_len("SRV rdata"));
            }
            Ok(RData::Srv {
                priority: read_u16(msg, start)?,
                weight: read_u16(msg, start + 2)?,
                port: read_u16(msg, start + 4)?,
                target: name_fills_rdata(start + 6, "SRV target")?,
            })
        }
        RecordType::TXT => {
            let mut rest = data;
            while let Some((&len, tail)) = rest.split_first() {
                rest = tail
                    .get(usize::from(len)..)
                    .ok_or(wrong_len("TXT string"))?;
            }
            Ok(RData::Txt(data.to_vec()))
        }
        RecordType::NSEC => {
            let (next, after) = read_name(msg, start, end)?;
            let mut bitmaps = msg.get(after..end).ok_or(wrong_len("NSEC rdata"))?;
            let mut types = Vec::new();
            while let Some((&window, tail)) = bitmaps.split_first() {
                let (&len, tail) = tail.split_first().ok_or(wrong_len("NSEC bitmap"))?;
                let len = usize::from(len);
                if !(1..=32).contains(&len) {
                    return Err(wrong_len("NSEC bitmap length"));
                }
                let bitmap = tail.get(..len).ok_or(wrong_len("NSEC bitmap"))?;
                for (byte_index, &byte) in bitmap.iter().enumerate() {
                    for bit in 0..8 {
                        if byte & (0x80 >> bit) != 0 {
                            let low = (byte_index * 8 + bit) as u16;
                            types.push(RecordType(u16::from(window) << 8 | low));
                        }
                    }
                }
                bitmaps = tail.get(len..).unwrap_or_default();
            }
            types.sort_unstable();
            types.dedup();
            Ok(RData::Nsec { next, types })
        }
        other => Ok(RData::Unknown {
            rtype: other,
            data: data.to_vec(),
        }),
    }
}
