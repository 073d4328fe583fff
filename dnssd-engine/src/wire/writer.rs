//! Encoder: an incremental datagram writer with name compression.
//!
//! Compression uses a table keyed by (offset of the parent suffix, label), so finding the
//! longest already-written suffix of a name walks its labels once from the root side, and
//! each lookup costs one hash of one label: encoding is linear in the size of the message.
//! The table stores only a 64-bit keyed hash and an offset; a hit is confirmed against the
//! bytes already written, so a hash collision costs a missed compression, never a wrong
//! pointer. Pointers only ever point backwards, at offsets below 0x3FFF.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

use super::error::WireError;
use super::message::Header;
use super::name::Name;
use super::record::{Question, RData, Record, write_type_bitmaps};

/// Highest offset a compression pointer can hold.
const MAX_POINTER_TARGET: usize = 0x3FFF;
/// Parent "offset" standing for the root name (offset 0 is in the header, never a name).
const ROOT: u16 = 0;

/// Passes a precomputed 64-bit hash straight through.
#[derive(Default)]
struct PrehashedKey(u64);

impl Hasher for PrehashedKey {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed; fold anything else in for completeness.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type CompressionTable = HashMap<u64, u16, BuildHasherDefault<PrehashedKey>>;

/// Random per-process key for the compression table's hash, so a peer cannot choose names
/// (which we may echo as known answers) that all land in one bucket.
fn process_seed() -> u64 {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SEED.get_or_init(|| std::collections::hash_map::RandomState::new().hash_one(0x6d64_6e73u32))
}

/// Section indexes, in wire order.
const QUESTIONS: usize = 0;
const ANSWERS: usize = 1;
const AUTHORITIES: usize = 2;
const ADDITIONALS: usize = 3;

/// Fills one datagram up to `max_len` bytes (e.g. 9000, or 1460 for a 1500-byte MTU),
/// compressing names.
///
/// Items go in wire order: questions, then answers, authorities, additionals; pushing into an
/// earlier section than the last one used returns [`WireError::SectionOrder`]. When an item
/// does not fit, `push_*` returns [`WireError::Full`] and leaves the writer exactly as it was,
/// so the caller can send what it has and start the next datagram.
pub struct MessageWriter {
    buf: Vec<u8>,
    max_len: usize,
    counts: [u16; 4],
    section: usize,
    table: CompressionTable,
    /// Hash key (see `process_seed`).
    seed: u64,
    /// Lookups and hashed bytes, for tests that check the work is linear.
    work: u64,
}

impl MessageWriter {
    /// A writer for one datagram of at most `max_len` bytes with this header's ID and flags.
    pub fn new(header: Header, max_len: usize) -> MessageWriter {
        let mut buf = Vec::with_capacity(max_len.min(1500));
        buf.extend_from_slice(&header.id.to_be_bytes());
        buf.extend_from_slice(&header.flags.to_be_bytes());
        buf.extend_from_slice(&[0; 8]);
        MessageWriter {
            buf,
            max_len,
            counts: [0; 4],
            section: QUESTIONS,
            table: CompressionTable::with_capacity_and_hasher(32, BuildHasherDefault::default()),
            seed: process_seed(),
            work: 0,
        }
    }

    /// Appends a question.
    pub fn push_question(&mut self, q: &Question) -> Result<(), WireError> {
        self.push(QUESTIONS, |w| {
            w.write_name(&q.name);
            let class = q.qclass & 0x7FFF | if q.unicast_response { 0x8000 } else { 0 };
            w.buf.extend_from_slice(&q.qtype.0.to_be_bytes());
            w.buf.extend_from_slice(&class.to_be_bytes());
            Ok(())
        })
    }

    /// Appends a record to the answer section.
    pub fn push_answer(&mut self, r: &Record) -> Result<(), WireError> {
        self.push(ANSWERS, |w| w.write_record(r))
    }

    /// Appends a record to the authority section.
    pub fn push_authority(&mut self, r: &Record) -> Result<(), WireError> {
        self.push(AUTHORITIES, |w| w.write_record(r))
    }

    /// Appends a record to the additional section.
    pub fn push_additional(&mut self, r: &Record) -> Result<(), WireError> {
        self.push(ADDITIONALS, |w| w.write_record(r))
    }

    /// Sets or clears the TC bit.
    pub fn set_truncated(&mut self, tc: bool) {
        if let Some(flags) = self.buf.get_mut(2) {
            if tc {
                *flags |= 0x02;
            } else {
                *flags &= !0x02;
            }
        }
    }

    /// True when nothing has been pushed.
    pub fn is_empty(&self) -> bool {
        self.counts == [0; 4]
    }

    /// Bytes written so far, header included.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Work done so far (compression lookups plus label bytes hashed). Exposed so tests can
    /// check that encoding is linear without timing anything.
    #[doc(hidden)]
    pub fn compression_work(&self) -> u64 {
        self.work
    }

    /// The finished datagram.
    pub fn finish(mut self) -> Vec<u8> {
        for (i, count) in self.counts.iter().enumerate() {
            if let Some(slot) = self.buf.get_mut(4 + 2 * i..6 + 2 * i) {
                slot.copy_from_slice(&count.to_be_bytes());
            }
        }
        self.buf
    }

    fn push(
        &mut self,
        section: usize,
        write: impl FnOnce(&mut MessageWriter) -> Result<(), WireError>,
    ) -> Result<(), WireError> {
        if section < self.section {
            return Err(WireError::SectionOrder);
        }
        let count = self.counts.get(section).copied().unwrap_or(u16::MAX);
        if count == u16::MAX {
            return Err(WireError::TooLarge("section"));
        }
        let start = self.buf.len();
        let mut result = write(self);
        if result.is_ok() && self.buf.len() > self.max_len {
            result = Err(WireError::Full);
        }
        match result {
            Ok(()) => {
                self.section = section;
                if let Some(c) = self.counts.get_mut(section) {
                    *c = count + 1;
                }
                Ok(())
            }
            Err(e) => {
                self.buf.truncate(start);
                // Forget the suffixes this item wrote (once per datagram, when it fills).
                self.table.retain(|_, offset| usize::from(*offset) < start);
                Err(e)
            }
        }
    }

    fn write_record(&mut self, r: &Record) -> Result<(), WireError> {
        self.write_name(&r.name);
        let class = r.class & 0x7FFF | if r.cache_flush { 0x8000 } else { 0 };
        self.buf.extend_from_slice(&r.rtype().0.to_be_bytes());
        self.buf.extend_from_slice(&class.to_be_bytes());
        self.buf.extend_from_slice(&r.ttl.to_be_bytes());
        let rdlength_at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        match &r.rdata {
            RData::Ptr(name) => self.write_name(name),
            RData::Srv {
                priority,
                weight,
                port,
                target,
            } => {
                self.buf.extend_from_slice(&priority.to_be_bytes());
                self.buf.extend_from_slice(&weight.to_be_bytes());
                self.buf.extend_from_slice(&port.to_be_bytes());
                self.write_name(target);
            }
            RData::Nsec { next, types } => {
                self.write_name(next);
                write_type_bitmaps(types, &mut self.buf);
            }
            other => other.write_uncompressed(&mut self.buf),
        }
        let rdlength = u16::try_from(self.buf.len() - rdlength_at - 2)
            .map_err(|_| WireError::TooLarge("rdata"))?;
        if let Some(slot) = self.buf.get_mut(rdlength_at..rdlength_at + 2) {
            slot.copy_from_slice(&rdlength.to_be_bytes());
        }
        Ok(())
    }

    fn label_key(&mut self, parent: u16, label: &[u8]) -> u64 {
        self.work += 1 + label.len() as u64;
        // Multiply-rotate over 8-byte words, keyed by the process seed, then a murmur3
        // finalizer so the table's bucket and tag bits are well spread.
        const K: u64 = 0x517C_C1B7_2722_0A95;
        let mut h = self.seed
            ^ (u64::from(parent) << 8 | label.len() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut words = label.chunks_exact(8);
        for word in &mut words {
            let word: [u8; 8] = word.try_into().unwrap_or_default();
            h = (h ^ u64::from_le_bytes(word))
                .wrapping_mul(K)
                .rotate_left(23);
        }
        let mut tail = 0u64;
        for (i, &b) in words.remainder().iter().enumerate() {
            tail |= u64::from(b) << (8 * i);
        }
        h = (h ^ tail).wrapping_mul(K);
        h ^= h >> 33;
        h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        h ^= h >> 33;
        h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
        h ^ (h >> 33)
    }

    /// The parent suffix of the label written at `label_at`: the offset of what follows it,
    /// the target of the pointer that follows it, or `ROOT`.
    fn parent_of_label_at(&self, label_at: usize) -> Option<u16> {
        let len = usize::from(*self.buf.get(label_at)?);
        let next_at = label_at + 1 + len;
        let next = *self.buf.get(next_at)?;
        match next {
            0 => Some(ROOT),
            b if b & 0xC0 == 0xC0 => {
                let low = *self.buf.get(next_at + 1)?;
                Some(u16::from(b & 0x3F) << 8 | u16::from(low))
            }
            _ => u16::try_from(next_at).ok(),
        }
    }

    /// True when the label written at `offset` is `label` followed by the suffix at `parent`.
    fn confirms(&self, offset: u16, parent: u16, label: &[u8]) -> bool {
        let at = usize::from(offset);
        self.buf.get(at).map(|&l| usize::from(l)) == Some(label.len())
            && self.buf.get(at + 1..at + 1 + label.len()) == Some(label)
            && self.parent_of_label_at(at) == Some(parent)
    }

    fn write_name(&mut self, name: &Name) {
        let wire = name.wire_labels();
        // Start offset of every label within `wire` (a 255-byte name has at most 127).
        let mut starts = [0u8; 128];
        let mut n = 0usize;
        let mut at = 0usize;
        while let Some(&len) = wire.get(at) {
            if let Some(slot) = starts.get_mut(n) {
                *slot = at as u8;
            }
            n += 1;
            at += 1 + usize::from(len);
        }
        let label = |i: usize| -> &[u8] {
            let s = usize::from(starts.get(i).copied().unwrap_or(0));
            let len = usize::from(wire.get(s).copied().unwrap_or(0));
            wire.get(s + 1..s + 1 + len).unwrap_or_default()
        };

        // Longest suffix already in the datagram, found from the root side.
        let mut parent = ROOT;
        let mut literal = n; // labels [0, literal) are written out, the rest compressed
        // The key that missed is the key under which label `literal - 1` is stored below.
        let mut missed_key = None;
        while literal > 0 {
            let key = self.label_key(parent, label(literal - 1));
            match self.table.get(&key) {
                Some(&offset) if self.confirms(offset, parent, label(literal - 1)) => {
                    parent = offset;
                    literal -= 1;
                }
                _ => {
                    missed_key = Some(key);
                    break;
                }
            }
        }

        // Write the literal labels, then a pointer or the root.
        let base = self.buf.len();
        let literal_len = if literal == n {
            wire.len()
        } else {
            usize::from(starts.get(literal).copied().unwrap_or(0))
        };
        self.buf
            .extend_from_slice(wire.get(..literal_len).unwrap_or_default());
        if literal == n {
            self.buf.push(0);
        } else {
            self.buf.extend_from_slice(&(0xC000 | parent).to_be_bytes());
        }

        // Remember the new suffixes, innermost first so each knows its parent's offset.
        let mut child_parent = parent;
        for i in (0..literal).rev() {
            let offset = base + usize::from(starts.get(i).copied().unwrap_or(0));
            if offset > MAX_POINTER_TARGET {
                // No pointer can reach this suffix, so no lookup can arrive at it as a
                // parent either: the labels to its left could never be found. Stop here.
                break;
            }
            let offset = offset as u16;
            let key = match missed_key.take() {
                Some(key) if i + 1 == literal => key,
                _ => self.label_key(child_parent, label(i)),
            };
            self.table.entry(key).or_insert(offset);
            child_parent = offset;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{CLASS_IN, Message, RecordType};

    fn ptr(owner: &str, target: &str) -> Record {
        Record {
            name: Name::from_dotted(owner).unwrap(),
            class: CLASS_IN,
            cache_flush: false,
            ttl: 4500,
            rdata: RData::Ptr(Name::from_dotted(target).unwrap()),
        }
    }

    #[test]
    fn compresses_shared_suffixes() {
        let mut w = MessageWriter::new(Header::response(), 9000);
        w.push_answer(&ptr("_http._tcp.local", "A._http._tcp.local"))
            .unwrap();
        let bytes = w.finish();
        // header 12 + owner 18 + type/class/ttl/len 10 + "A" label 2 + pointer 2
        assert_eq!(bytes.len(), 12 + 18 + 10 + 4);
        let msg = Message::parse(&bytes).unwrap();
        assert_eq!(
            msg.answers[0],
            ptr("_http._tcp.local", "A._http._tcp.local")
        );
    }

    #[test]
    fn full_leaves_writer_unchanged() {
        let mut w = MessageWriter::new(Header::response(), 60);
        w.push_answer(&ptr("_http._tcp.local", "A._http._tcp.local"))
            .unwrap();
        let before = w.len();
        let table_before = w.table.len();
        assert_eq!(
            w.push_answer(&ptr("_ipp._tcp.local", "Printer._ipp._tcp.local")),
            Err(WireError::Full)
        );
        assert_eq!(w.len(), before);
        assert_eq!(w.table.len(), table_before);
        assert_eq!(
            w.push_question(&Question {
                name: Name::root(),
                qtype: RecordType::A,
                qclass: 1,
                unicast_response: false
            }),
            Err(WireError::SectionOrder)
        );
        let bytes = w.finish();
        assert_eq!(Message::parse(&bytes).unwrap().answers.len(), 1);
    }
}
