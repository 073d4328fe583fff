//! Encoder: an incremental datagram writer with name compression.
//!
//! Compression uses a table keyed by (offset of the parent suffix, label), so finding the
//! longest already-written suffix of a name walks its labels once from the root side, and
//! each label costs one lookup: encoding is linear in the size of the message.
//!
//! The table starts as a small inline array (no allocation; a linear scan over at most
//! [`INLINE_ENTRIES`] packed keys of parent offset, label length and first byte) and moves
//! to an open-addressing hash table with a per-process random key once a message holds
//! more names, so lookups stay O(1) however many names a message carries. Every candidate
//! is confirmed against the bytes already written, so a collision costs a probe, never a
//! wrong pointer. Pointers only ever point backwards, at offsets below 0x3FFF.
//!
//! In front of the table, a ring of the most recent whole names (`NameCache`, with copies of
//! names up to 64 bytes) makes a repeated name one compare, and a name whose suffix after
//! its first label is a recent name one compare plus one label lookup. Rolled-back items
//! are forgotten by both.

use std::hash::BuildHasher;

use super::error::WireError;
use super::message::Header;
use super::name::Name;
use super::record::{Question, RData, Record, write_type_bitmaps};

/// Highest offset a compression pointer can hold.
const MAX_POINTER_TARGET: usize = 0x3FFF;
/// Parent "offset" standing for the root name (offset 0 is in the header, never a name).
const ROOT: u16 = 0;
/// Suffixes kept in the inline table before it moves to the hashed one. A typical
/// PTR+SRV+TXT+A+AAAA answer writes 5.
const INLINE_ENTRIES: usize = 16;
/// Initial slot count of the hashed table (a power of two, kept at most half full).
const HASHED_SLOTS: usize = 64;

/// Random per-process key for the hashed table, so a peer cannot choose names (which we may
/// echo as known answers) that all land in one probe sequence.
fn process_seed() -> u64 {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SEED.get_or_init(|| std::collections::hash_map::RandomState::new().hash_one(0x6d64_6e73u32))
}

/// Parent offset, label length and first byte: what a table entry is matched on before its
/// bytes are compared. Exact, not a hash: parents are below 0x4000 and labels 1..=63 bytes.
fn entry_key(parent: u16, label: &[u8]) -> u32 {
    u32::from(parent) << 16
        | (label.len() as u32 & 0xFF) << 8
        | u32::from(label.first().copied().unwrap_or(0))
}

fn read_u64(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|s| <[u8; 8]>::try_from(s).ok())
        .map_or(0, u64::from_le_bytes)
}

fn read_u32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map_or(0, u32::from_le_bytes)
}

/// Equality of two byte strings (labels, or names in wire form up to 255 bytes) by
/// overlapping word reads: cheaper than a `memcmp` call at these lengths.
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n >= 8 {
        let mut i = 0;
        while i + 8 < n {
            if read_u64(a, i) != read_u64(b, i) {
                return false;
            }
            i += 8;
        }
        read_u64(a, n - 8) == read_u64(b, n - 8)
    } else if n >= 4 {
        read_u32(a, 0) == read_u32(b, 0) && read_u32(a, n - 4) == read_u32(b, n - 4)
    } else {
        a == b
    }
}

/// True when the label written at `offset` in `buf` has the bytes of `label` (its length
/// byte was matched through the entry key).
#[inline]
fn label_at(buf: &[u8], offset: u16, label: &[u8]) -> bool {
    let at = usize::from(offset) + 1;
    buf.get(at..at + label.len())
        .is_some_and(|w| bytes_eq(w, label))
}

/// 64x64 -> 128-bit multiply folded to 64 bits.
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// Keyed hash of an entry key and the whole label (every byte counts, so labels that share
/// a prefix do not collide).
fn entry_hash(seed: u64, key: u32, label: &[u8]) -> u32 {
    const K1: u64 = 0x9E37_79B9_7F4A_7C15;
    const K2: u64 = 0xA076_1D64_78BD_642F;
    let n = label.len();
    let mut h = fold_mul(seed ^ u64::from(key), K1);
    if n >= 8 {
        let mut i = 0;
        while i + 8 < n {
            h = fold_mul(h ^ read_u64(label, i), K2);
            i += 8;
        }
        h = fold_mul(h ^ read_u64(label, n - 8), K1);
    } else if n >= 4 {
        let v = u64::from(read_u32(label, 0)) << 32 | u64::from(read_u32(label, n - 4));
        h = fold_mul(h ^ v, K2);
    } else if let (Some(&a), Some(&b), Some(&c)) = (label.first(), label.get(n / 2), label.last()) {
        h = fold_mul(
            h ^ (u64::from(a) << 16 | u64::from(b) << 8 | u64::from(c)),
            K2,
        );
    }
    (h ^ (h >> 32)) as u32
}

/// One remembered suffix: the label written at `offset`, under the parent in `key`.
#[derive(Clone, Copy)]
struct Entry {
    key: u32,
    offset: u16,
    hash: u32,
}

/// Open addressing with linear probing, at most half full. Slots hold entry index + 1
/// (0 = empty). Insertions never move other entries, so removing the newest entries
/// newest-first (a rolled-back item) restores the table exactly.
struct HashedTable {
    entries: Vec<Entry>,
    slots: Vec<u32>,
    seed: u64,
}

impl HashedTable {
    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    fn place(slots: &mut [u32], mask: usize, hash: u32, index: usize) {
        let mut i = hash as usize & mask;
        while let Some(slot) = slots.get_mut(i) {
            if *slot == 0 {
                *slot = index as u32 + 1;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    fn push(&mut self, entry: Entry) {
        if (self.entries.len() + 1) * 2 > self.slots.len() {
            let size = self.slots.len() * 2;
            self.slots = vec![0; size];
            for (index, e) in self.entries.iter().enumerate() {
                HashedTable::place(&mut self.slots, size - 1, e.hash, index);
            }
        }
        let mask = self.mask();
        HashedTable::place(&mut self.slots, mask, entry.hash, self.entries.len());
        self.entries.push(entry);
    }

    #[inline(never)]
    fn find(&self, buf: &[u8], key: u32, label: &[u8]) -> Result<u16, Probe> {
        let hash = entry_hash(self.seed, key, label);
        let mask = self.mask();
        let mut i = hash as usize & mask;
        while let Some(&slot) = self.slots.get(i) {
            let Some(e) = (slot as usize)
                .checked_sub(1)
                .and_then(|x| self.entries.get(x))
            else {
                break;
            };
            if e.key == key && label_at(buf, e.offset, label) {
                return Ok(e.offset);
            }
            i = (i + 1) & mask;
        }
        Err(Probe {
            key,
            hash: Some(hash),
        })
    }

    fn truncate(&mut self, len: usize) {
        let mask = self.mask();
        while self.entries.len() > len {
            let Some(e) = self.entries.pop() else { break };
            let index = self.entries.len() as u32 + 1;
            let mut i = e.hash as usize & mask;
            while let Some(slot) = self.slots.get_mut(i) {
                if *slot == index {
                    *slot = 0;
                    break;
                }
                i = (i + 1) & mask;
            }
        }
    }
}

/// A label being looked up: its key, and its hash once the table is hashed.
#[derive(Clone, Copy)]
struct Probe {
    key: u32,
    hash: Option<u32>,
}

/// Where the writer remembers the suffixes it wrote.
struct CompressionTable {
    /// Inline entries in use (while `hashed` is `None`).
    len: usize,
    keys: [u32; INLINE_ENTRIES],
    offsets: [u16; INLINE_ENTRIES],
    hashed: Option<HashedTable>,
}

impl CompressionTable {
    fn new() -> CompressionTable {
        CompressionTable {
            len: 0,
            keys: [0; INLINE_ENTRIES],
            offsets: [0; INLINE_ENTRIES],
            hashed: None,
        }
    }

    fn len(&self) -> usize {
        match &self.hashed {
            Some(t) => t.entries.len(),
            None => self.len,
        }
    }

    fn clear(&mut self) {
        self.len = 0;
        self.hashed = None;
    }

    /// The offset of `label` under `parent` if written before, else the probe to insert it.
    #[inline]
    fn find(&self, buf: &[u8], parent: u16, label: &[u8]) -> Result<u16, Probe> {
        let key = entry_key(parent, label);
        match &self.hashed {
            None => {
                let keys = self.keys.get(..self.len).unwrap_or_default();
                for (&k, &offset) in keys.iter().zip(&self.offsets) {
                    if k == key && label_at(buf, offset, label) {
                        return Ok(offset);
                    }
                }
                Err(Probe { key, hash: None })
            }
            Some(t) => t.find(buf, key, label),
        }
    }

    /// Remembers `label` (whose probe missed) as written at `offset`. `buf` holds what was
    /// written, to rehash the inline entries when the table moves to hashing.
    #[inline]
    fn insert(&mut self, buf: &[u8], probe: Probe, label: &[u8], offset: u16) {
        if self.hashed.is_none() {
            if let (Some(k), Some(o)) =
                (self.keys.get_mut(self.len), self.offsets.get_mut(self.len))
            {
                *k = probe.key;
                *o = offset;
                self.len += 1;
                return;
            }
        }
        self.insert_hashed(buf, probe, label, offset);
    }

    #[inline(never)]
    fn insert_hashed(&mut self, buf: &[u8], probe: Probe, label: &[u8], offset: u16) {
        if self.hashed.is_none() {
            self.hashed = Some(self.to_hashed(buf));
        }
        if let Some(t) = &mut self.hashed {
            let hash = match probe.hash {
                Some(h) => h,
                None => entry_hash(t.seed, probe.key, label),
            };
            t.push(Entry {
                key: probe.key,
                offset,
                hash,
            });
        }
    }

    fn to_hashed(&self, buf: &[u8]) -> HashedTable {
        let mut t = HashedTable {
            entries: Vec::with_capacity(HASHED_SLOTS / 2),
            slots: vec![0; HASHED_SLOTS],
            seed: process_seed(),
        };
        for (&key, &offset) in self.keys.iter().zip(&self.offsets).take(self.len) {
            let at = usize::from(offset);
            let len = usize::from(buf.get(at).copied().unwrap_or(0));
            let label = buf.get(at + 1..at + 1 + len).unwrap_or_default();
            let hash = entry_hash(t.seed, key, label);
            t.push(Entry { key, offset, hash });
        }
        t
    }

    /// Forgets the entries added after the table had `len` of them.
    fn truncate(&mut self, len: usize) {
        match &mut self.hashed {
            Some(t) => t.truncate(len),
            None => self.len = self.len.min(len),
        }
    }
}

/// Whole names written recently (a ring of [`NAME_CACHE`]): DNS-SD messages repeat the same
/// instance and host names in several records, and a repeat found here costs one hash and
/// one check of the written bytes instead of a lookup per label.
const NAME_CACHE: usize = 8;

/// Cheap hash of a whole name's wire form (length, first, middle and last 8 bytes): only a
/// filter, every hit is checked against the written bytes, and the cache it filters has a
/// fixed size, so even chosen collisions cost a bounded number of checks per name.
fn name_hash(wire: &[u8]) -> u64 {
    let n = wire.len();
    let v = if n >= 8 {
        read_u64(wire, 0)
            ^ read_u64(wire, n - 8).rotate_left(21)
            ^ read_u64(wire, n / 2 - 4).rotate_left(42)
    } else if n >= 4 {
        u64::from(read_u32(wire, 0)) << 32 | u64::from(read_u32(wire, n - 4))
    } else {
        wire.iter().fold(0, |h, &b| h << 8 | u64::from(b))
    };
    v ^ (n as u64) << 56
}

/// True when the name written at `at` in `buf` (labels, then the root or a backward
/// pointer) spells exactly `wire`. Each run of labels up to a pointer is compared in one
/// go. Bounded: every run consumes `wire`, and every pointer must point below itself.
fn spells(buf: &[u8], mut at: usize, wire: &[u8]) -> bool {
    let mut w = 0usize;
    let mut hops = 0u32;
    loop {
        // Walk the label lengths of this run.
        let start = at;
        let end = loop {
            match buf.get(at) {
                Some(0) => break Some(at),
                Some(&len) if len & 0xC0 == 0 => at += 1 + usize::from(len),
                Some(&len) if len & 0xC0 == 0xC0 => break None,
                _ => return false,
            }
        };
        let run = at - start;
        match (buf.get(start..at), wire.get(w..w + run)) {
            (Some(a), Some(b)) if bytes_eq(a, b) => w += run,
            _ => return false,
        }
        if end.is_some() {
            return w == wire.len();
        }
        let (Some(&high), Some(&low)) = (buf.get(at), buf.get(at + 1)) else {
            return false;
        };
        let target = usize::from(high & 0x3F) << 8 | usize::from(low);
        hops += 1;
        if target >= at || hops > 127 || w >= wire.len() {
            return false;
        }
        at = target;
    }
}

/// Names up to this many wire bytes are kept in the ring as a copy, so a hit is one
/// compare; longer ones are checked against the written bytes (`spells`).
const NAME_COPY: usize = 64;
/// `lens` value of a slot whose name was rolled back: never matches.
const DEAD: u8 = u8::MAX;

struct NameCache {
    hashes: [u64; NAME_CACHE],
    offsets: [u16; NAME_CACHE],
    /// Wire length of the copy in `copies` (0: not copied, check the buffer; `DEAD`).
    lens: [u8; NAME_CACHE],
    copies: [[u8; NAME_COPY]; NAME_CACHE],
    /// Slots in use (the first `len`), and the next slot to overwrite.
    len: usize,
    next: usize,
}

impl NameCache {
    fn new() -> NameCache {
        NameCache {
            hashes: [0; NAME_CACHE],
            offsets: [0; NAME_CACHE],
            lens: [0; NAME_CACHE],
            copies: [[0; NAME_COPY]; NAME_CACHE],
            len: 0,
            next: 0,
        }
    }

    /// Where `wire` was written, if it is among the recent names. A hit on an old entry
    /// makes it recent again, so names that recur all through a message (the service
    /// type) stay in the ring.
    #[inline(always)]
    fn find(&mut self, buf: &[u8], hash: u64, wire: &[u8]) -> Option<u16> {
        for slot in 0..self.len {
            if self.hashes.get(slot) != Some(&hash) {
                continue;
            }
            let offset = self.offsets.get(slot).copied().unwrap_or(0);
            let same = match self.lens.get(slot).copied().unwrap_or(DEAD) {
                DEAD => false,
                0 => spells(buf, usize::from(offset), wire),
                n => self
                    .copies
                    .get(slot)
                    .and_then(|c| c.get(..usize::from(n)))
                    .is_some_and(|c| bytes_eq(c, wire)),
            };
            if same {
                let age = (self.next + NAME_CACHE - slot) % NAME_CACHE;
                if age > NAME_CACHE / 2 {
                    self.insert(hash, offset, wire);
                }
                return Some(offset);
            }
        }
        None
    }

    /// Remembers that `wire` was written at `offset`.
    fn insert(&mut self, hash: u64, offset: u16, wire: &[u8]) {
        let slot = self.next;
        if let (Some(h), Some(o), Some(l), Some(c)) = (
            self.hashes.get_mut(slot),
            self.offsets.get_mut(slot),
            self.lens.get_mut(slot),
            self.copies.get_mut(slot),
        ) {
            *h = hash;
            *o = offset;
            *l = match c.get_mut(..wire.len()) {
                Some(dst) if !wire.is_empty() => {
                    dst.copy_from_slice(wire);
                    wire.len() as u8
                }
                _ => 0,
            };
        }
        self.next = (slot + 1) % NAME_CACHE;
        self.len = (self.len + 1).min(NAME_CACHE);
    }

    /// Forgets names written at or after `start` (a rolled-back item).
    fn forget_from(&mut self, start: usize) {
        for (l, o) in self.lens.iter_mut().zip(&self.offsets) {
            if usize::from(*o) >= start {
                *l = DEAD;
            }
        }
    }

    fn clear(&mut self) {
        self.len = 0;
        self.next = 0;
    }
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
///
/// A writer for a small message allocates nothing but its output buffer;
/// [`MessageWriter::with_buffer`] takes that buffer from the caller, so a driver can reuse
/// one allocation for every datagram.
pub struct MessageWriter {
    buf: Vec<u8>,
    max_len: usize,
    counts: [u16; 4],
    section: usize,
    table: CompressionTable,
    names: NameCache,
    /// Lookups and label bytes examined, for tests that check the work is linear.
    work: u64,
}

impl MessageWriter {
    /// A writer for one datagram of at most `max_len` bytes with this header's ID and flags.
    pub fn new(header: Header, max_len: usize) -> MessageWriter {
        MessageWriter::with_buffer(header, max_len, Vec::with_capacity(max_len.min(1500)))
    }

    /// Like [`MessageWriter::new`], writing into `buf` (cleared first; its capacity is kept,
    /// so a buffer returned by [`MessageWriter::finish`] can be passed back in).
    pub fn with_buffer(header: Header, max_len: usize, mut buf: Vec<u8>) -> MessageWriter {
        buf.clear();
        let [id0, id1] = header.id.to_be_bytes();
        let [f0, f1] = header.flags.to_be_bytes();
        buf.extend_from_slice(&[id0, id1, f0, f1, 0, 0, 0, 0, 0, 0, 0, 0]);
        MessageWriter {
            buf,
            max_len,
            counts: [0; 4],
            section: QUESTIONS,
            table: CompressionTable::new(),
            names: NameCache::new(),
            work: 0,
        }
    }

    /// Starts a new datagram with this header in the same writer, keeping the buffer's
    /// capacity (the bytes written so far are discarded).
    pub fn reset(&mut self, header: Header) {
        let buf = std::mem::take(&mut self.buf);
        self.buf = MessageWriter::with_buffer(header, self.max_len, buf).buf;
        self.counts = [0; 4];
        self.section = QUESTIONS;
        self.table.clear();
        self.names.clear();
        self.work = 0;
    }

    /// Appends a question.
    pub fn push_question(&mut self, q: &Question) -> Result<(), WireError> {
        self.push(QUESTIONS, |w| {
            w.write_question(q);
            Ok(())
        })
    }

    fn write_question(&mut self, q: &Question) {
        self.write_name(&q.name);
        let class = q.qclass & 0x7FFF | if q.unicast_response { 0x8000 } else { 0 };
        let [t0, t1] = q.qtype.0.to_be_bytes();
        let [c0, c1] = class.to_be_bytes();
        self.buf.extend_from_slice(&[t0, t1, c0, c1]);
    }

    /// A whole message with no size limit (`Message::encode`): the sections in order,
    /// without the per-item bookkeeping that lets `push_*` undo an item that does not fit.
    pub(crate) fn write_message(
        &mut self,
        questions: &[Question],
        sections: [&[Record]; 3],
    ) -> Result<Vec<u8>, WireError> {
        let count = |n: usize| u16::try_from(n).map_err(|_| WireError::TooLarge("section"));
        self.counts[QUESTIONS] = count(questions.len())?;
        for q in questions {
            self.write_question(q);
        }
        for (i, records) in sections.into_iter().enumerate() {
            if let Some(c) = self.counts.get_mut(ANSWERS + i) {
                *c = count(records.len())?;
            }
            for r in records {
                self.write_record(r)?;
            }
        }
        Ok(self.take_datagram())
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
        self.take_datagram()
    }

    /// Writes the section counts and takes the buffer (without moving the writer).
    fn take_datagram(&mut self) -> Vec<u8> {
        for (i, count) in self.counts.iter().enumerate() {
            if let Some(slot) = self.buf.get_mut(4 + 2 * i..6 + 2 * i) {
                slot.copy_from_slice(&count.to_be_bytes());
            }
        }
        std::mem::take(&mut self.buf)
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
        let entries = self.table.len();
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
                self.table.truncate(entries);
                self.names.forget_from(start);
                Err(e)
            }
        }
    }

    fn write_record(&mut self, r: &Record) -> Result<(), WireError> {
        self.write_name(&r.name);
        let class = r.class & 0x7FFF | if r.cache_flush { 0x8000 } else { 0 };
        let [t0, t1] = r.rtype().0.to_be_bytes();
        let [c0, c1] = class.to_be_bytes();
        let [l0, l1, l2, l3] = r.ttl.to_be_bytes();
        // Fixed-size and opaque rdata: the length is known, write it with the header.
        let opaque: Option<&[u8]> = match &r.rdata {
            RData::Txt(data) | RData::Unknown { data, .. } => Some(data),
            _ => None,
        };
        let known_len = match (&r.rdata, opaque) {
            (RData::A(_), _) => Some(4),
            (RData::Aaaa(_), _) => Some(16),
            (_, Some(data)) => {
                Some(u16::try_from(data.len()).map_err(|_| WireError::TooLarge("rdata"))?)
            }
            _ => None,
        };
        let [r0, r1] = known_len.unwrap_or(0).to_be_bytes();
        self.buf
            .extend_from_slice(&[t0, t1, c0, c1, l0, l1, l2, l3, r0, r1]);
        let rdlength_at = self.buf.len() - 2;
        match &r.rdata {
            RData::A(addr) => {
                self.buf.extend_from_slice(&addr.octets());
                return Ok(());
            }
            RData::Aaaa(addr) => {
                self.buf.extend_from_slice(&addr.octets());
                return Ok(());
            }
            RData::Txt(data) | RData::Unknown { data, .. } => {
                self.buf.extend_from_slice(data);
                return Ok(());
            }
            RData::Ptr(name) => self.write_name(name),
            RData::Srv {
                priority,
                weight,
                port,
                target,
            } => {
                let [p0, p1] = priority.to_be_bytes();
                let [w0, w1] = weight.to_be_bytes();
                let [o0, o1] = port.to_be_bytes();
                self.buf.extend_from_slice(&[p0, p1, w0, w1, o0, o1]);
                self.write_name(target);
            }
            RData::Nsec { next, types } => {
                self.write_name(next);
                write_type_bitmaps(types, &mut self.buf);
            }
        }
        let rdlength = u16::try_from(self.buf.len() - rdlength_at - 2)
            .map_err(|_| WireError::TooLarge("rdata"))?;
        if let Some(slot) = self.buf.get_mut(rdlength_at..rdlength_at + 2) {
            slot.copy_from_slice(&rdlength.to_be_bytes());
        }
        Ok(())
    }

    #[inline]
    fn write_name(&mut self, name: &Name) {
        let wire = name.wire_labels();
        if wire.is_empty() {
            self.buf.push(0);
            return;
        }
        let hash = name_hash(wire);
        self.work += 1;
        if let Some(offset) = self.names.find(&self.buf, hash, wire) {
            self.buf.extend_from_slice(&(0xC000 | offset).to_be_bytes());
            return;
        }
        if !self.write_onto_recent_suffix(wire, hash) {
            self.write_new_name(wire, hash);
        }
    }

    /// Writes `wire` as its first label plus a pointer when the rest of it is among the
    /// recent whole names (an instance name after its service type was written); false
    /// (nothing written) otherwise. The first label is still looked up under that suffix, so
    /// compression is as good as the label-by-label walk.
    fn write_onto_recent_suffix(&mut self, wire: &[u8], hash: u64) -> bool {
        let first = usize::from(wire.first().copied().unwrap_or(0));
        let (Some(head), Some(suffix)) = (wire.get(..1 + first), wire.get(1 + first..)) else {
            return false;
        };
        // A one-label suffix (`local`) is rarely written as a whole name: not worth a try.
        let one_label = suffix
            .first()
            .is_none_or(|&l| usize::from(l) + 1 == suffix.len());
        if one_label || self.names.len == 0 {
            return false;
        }
        self.work += 1;
        let Some(parent) = self.names.find(&self.buf, name_hash(suffix), suffix) else {
            return false;
        };
        let label = head.get(1..).unwrap_or_default();
        self.work += 1 + label.len() as u64;
        match self.table.find(&self.buf, parent, label) {
            Ok(offset) => {
                self.buf.extend_from_slice(&(0xC000 | offset).to_be_bytes());
                self.names.insert(hash, offset, wire);
            }
            Err(probe) => {
                let base = self.buf.len();
                self.buf.extend_from_slice(head);
                self.buf.extend_from_slice(&(0xC000 | parent).to_be_bytes());
                if base <= MAX_POINTER_TARGET {
                    self.table.insert(&self.buf, probe, label, base as u16);
                    self.names.insert(hash, base as u16, wire);
                }
            }
        }
        true
    }

    /// `write_name` for a name not among the recent whole names: label by label.
    #[inline(never)]
    fn write_new_name(&mut self, wire: &[u8], hash: u64) {
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
        // The probe that missed is the one under which label `literal - 1` is stored below.
        let mut missed = None;
        // The first name of a message has nothing to look up.
        while literal > 0 && self.table.len() > 0 {
            let l = label(literal - 1);
            self.work += 1 + l.len() as u64;
            match self.table.find(&self.buf, parent, l) {
                Ok(offset) => {
                    parent = offset;
                    literal -= 1;
                }
                Err(probe) => {
                    missed = Some(probe);
                    break;
                }
            }
        }

        // Write the literal labels, then a pointer or the root.
        let base = self.buf.len();
        if literal == n {
            self.buf.extend_from_slice(wire);
            self.buf.push(0);
        } else {
            let literal_len = usize::from(starts.get(literal).copied().unwrap_or(0));
            self.buf
                .extend_from_slice(wire.get(..literal_len).unwrap_or_default());
            self.buf.extend_from_slice(&(0xC000 | parent).to_be_bytes());
        }

        // Remember the whole name, then the new suffixes, innermost first so each knows its
        // parent's offset.
        let whole = if literal == 0 {
            usize::from(parent)
        } else {
            base
        };
        if whole <= MAX_POINTER_TARGET {
            self.names.insert(hash, whole as u16, wire);
        }
        let mut child_parent = parent;
        for i in (0..literal).rev() {
            let offset = base + usize::from(starts.get(i).copied().unwrap_or(0));
            if offset > MAX_POINTER_TARGET {
                // No pointer can reach this suffix, so no lookup can arrive at it as a
                // parent either: the labels to its left could never be found. Stop here.
                break;
            }
            let offset = offset as u16;
            let l = label(i);
            let probe = match missed.take() {
                Some(probe) if i + 1 == literal => probe,
                _ => Probe {
                    key: entry_key(child_parent, l),
                    hash: None,
                },
            };
            self.table.insert(&self.buf, probe, l, offset);
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

    #[test]
    fn repeated_names_cost_one_check() {
        let mut w = MessageWriter::new(Header::response(), 9000);
        w.push_answer(&ptr("_http._tcp.local", "A._http._tcp.local"))
            .unwrap();
        let before = w.compression_work();
        let len = w.len();
        // The owner repeats the PTR target: one whole-name hit, a 2-byte pointer.
        let mut r = ptr("A._http._tcp.local", "A._http._tcp.local");
        r.rdata = RData::Txt(vec![0]);
        w.push_answer(&r).unwrap();
        assert_eq!(w.compression_work() - before, 1);
        assert_eq!(w.len() - len, 2 + 10 + 1);
        let bytes = w.finish();
        assert_eq!(Message::parse(&bytes).unwrap().answers[1], r);
    }

    #[test]
    fn rollback_is_exact_in_the_hashed_table_and_reset_reuses_the_buffer() {
        // 40 services: past the inline table, so the hashed one is in use.
        let records: Vec<Record> = (0..40)
            .map(|i| ptr("_http._tcp.local", &format!("S{i}._http._tcp.local")))
            .collect();
        let big = ptr(
            "_http._tcp.local",
            &format!("{}._http._tcp.local", "x".repeat(60)),
        );
        let mut w = MessageWriter::new(Header::response(), 2000);
        for r in &records {
            w.push_answer(r).unwrap();
        }
        let room = 2000 - w.len();
        // Fails: too big for what is left (it would add new suffixes to the table).
        let mut filler = records.clone();
        while w.len() + 80 < 2000 {
            let r = ptr(
                "_ipp._tcp.local",
                &format!("P{}._ipp._tcp.local", filler.len()),
            );
            w.push_answer(&r).unwrap();
            filler.push(r);
        }
        let (entries, start) = (w.table.len(), w.len());
        assert!(w.table.hashed.is_some());
        assert_eq!(w.push_answer(&big), Err(WireError::Full));
        // Nothing of the failed item is remembered.
        assert_eq!(w.table.len(), entries);
        for (o, l) in w.names.offsets.iter().zip(&w.names.lens) {
            assert!(usize::from(*o) < start || *l == DEAD);
        }
        let after = ptr("_http._tcp.local", "S3._http._tcp.local");
        w.push_answer(&after).unwrap();
        let bytes = w.finish();
        // Same bytes as a writer that never saw the failed item.
        let mut clean = MessageWriter::new(Header::response(), 2000);
        for r in &filler {
            clean.push_answer(r).unwrap();
        }
        clean.push_answer(&after).unwrap();
        assert_eq!(bytes, clean.finish());
        assert!(room > 0);

        // with_buffer/reset: the same datagram again from a reused buffer.
        let mut again = MessageWriter::with_buffer(Header::response(), 2000, bytes.clone());
        again.push_answer(&records[0]).unwrap();
        again.reset(Header::response());
        for r in &filler {
            again.push_answer(r).unwrap();
        }
        again.push_answer(&after).unwrap();
        assert_eq!(again.finish(), bytes);
    }
}
