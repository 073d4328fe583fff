//! DNS / mDNS wire codec: owned messages, a bounded parser and a compressing writer.
//!
//! - [`Message::parse`] reads a datagram into owned records (RFC 1035 with the RFC 6762
//!   QU and cache-flush bits). Nothing on the parse path can panic or index out of bounds.
//! - [`MessageWriter`] fills one datagram up to a size limit with name compression, and
//!   [`Message::encode`] writes a whole message.
//!
//! # Bounds on untrusted input
//! - Compression pointers must point strictly before where the current name (or the last
//!   pointer target) began, never into the header, and at most [`MAX_POINTER_HOPS`] are
//!   followed per name: self pointers, forward pointers and loops are errors, and decoding
//!   is linear in the datagram's length.
//! - Names are at most 255 bytes, labels at most 63; label types 0x40 and 0x80 are refused.
//!   Bytes 0x80-0xFF are allowed in labels; comparisons fold only `A`-`Z`.
//! - rdlength is checked against the datagram (an overrun is an error for the whole
//!   message); inner lengths (names in rdata, SRV targets, TXT strings, NSEC next names and
//!   bitmaps with window lengths 1..=32) are checked against rdlength. A record whose rdata
//!   alone is malformed is dropped and counted in [`Message::dropped_records`]; the rest of
//!   the message is kept.
//! - Section counts never size an allocation beyond what the datagram could hold.
//! - Types other than A, AAAA, PTR, SRV, TXT and NSEC (OPT, HINFO, ...) are carried as
//!   [`RData::Unknown`] bytes.
//!
//! # Encoding
//! Compression remembers, per datagram, where each label was written under which parent
//! suffix (offset of the parent, label), so finding the longest already-written suffix of a
//! name walks its labels once from the root side at one lookup per label: encoding is linear
//! in the message (checked by counting work in `tests/wire_roundtrip.rs`). The table is an
//! inline array scanned linearly up to 16 labels (no allocation for a typical response) and
//! an open-addressing table with a per-process random hash key beyond. In front of it, a
//! ring of the 8 most recent whole names (copies up to 64 bytes) turns a repeated name (an
//! instance's SRV and TXT owners, a host's A and AAAA owners) into one compare, and an
//! instance name after its service type into one compare plus one label lookup. Every
//! candidate is checked against exact bytes, so a hash collision costs a compare, never a
//! wrong pointer. Pointers only point backwards, below offset 0x3FFF. When an item does not
//! fit, [`MessageWriter`] returns [`WireError::Full`] and is unchanged (its remembered
//! names included). [`MessageWriter::with_buffer`] / [`MessageWriter::reset`] reuse a
//! caller's buffer.
//!
//! # Why a hand-written codec: measured against hickory-proto and simple-dns
//! `benches/codec.rs` parses and encodes the same three mDNS packets with each codec:
//! a PTR+SRV+TXT+A+AAAA response (188 bytes), a 9000-byte response (271 records), and a
//! query with 50 known answers (1984 bytes). "Parse" ends with owned records the engine
//! could cache: hickory-proto 0.25.2 (`Message::from_vec`, feature `mdns`) is owned;
//! simple-dns 0.13.0 is zero-copy, so it is measured borrowed and with `into_owned()`.
//! "Encode" writes the parsed message back with compression (`Message::encode`, which
//! allocates its output like the others do).
//!
//! Instructions per operation (callgrind; deterministic, unlike wall time on this shared
//! 2-core machine): `CODEC_COUNT=op/packet/codec:N valgrind --tool=callgrind
//! target/release/deps/codec-*`, for N=100 minus N=0, divided by 100 (simple-dns and the
//! hashed table use randomly keyed hashes, so repeated runs differ by about 1 %).
//!
//! | operation | ours | hickory | simple-dns owned | simple-dns borrowed | ours vs hickory | vs simple-dns owned / borrowed |
//! |---|---:|---:|---:|---:|---:|---:|
//! | parse typical response | 4 664 | 13 230 | 15 079 | 7 330 | 2.8x | 3.2x / 1.6x |
//! | parse 9000-byte response | 247 479 | 817 262 | 1 196 223 | 476 788 | 3.3x | 4.8x / 1.9x |
//! | parse query + 50 known answers | 52 326 | 154 717 | 264 132 | 98 022 | 3.0x | 5.0x / 1.9x |
//! | encode typical response | 2 638 | 14 759 | 5 640 | | 5.6x | **2.1x** |
//! | encode 9000-byte response | 172 831 | 1 246 539 | 515 650 | | 7.2x | **3.0x** |
//! | encode query + 50 known answers | 46 935 | 216 816 | 130 699 | | 4.6x | **2.8x** |
//!
//! The encoder before the inline table and the name ring (a `HashMap` allocated per
//! writer, one keyed hash per label): 6 400 / 346 605 / 85 969 instructions, 0.88x /
//! 1.5x / 1.5x simple-dns.
//!
//! Wall time, criterion medians (`cargo bench -p dnssd-engine --bench codec`, load average
//! 5-8 on 2 shared cores, so +-25 %; compare within a row):
//!
//! | operation | ours | hickory | simple-dns owned | simple-dns borrowed |
//! |---|---:|---:|---:|---:|
//! | parse typical response | 0.87 us | 2.82 us | 3.02 us | 1.39 us |
//! | parse 9000-byte response | 53.6 us | 175 us | 217 us | 86.1 us |
//! | parse query + 50 known answers | 10.0 us | 30.3 us | 55.6 us | 19.3 us |
//! | encode typical response | 0.42 us | 2.97 us | 1.04 us | |
//! | encode 9000-byte response | 33.0 us | 281 us | 92.6 us | |
//! | encode query + 50 known answers | 11.0 us | 44.2 us | 25.7 us | |
//!
//! Re-encoded sizes: typical 188 / 193 / 206 bytes, 9000-byte response 8988 / 9328 / 10199
//! bytes (ours / hickory / simple-dns): simple-dns compresses least.
//!
//! Decision against the rule "a hand-written codec must be at least 2x faster than both":
//! - Parsing (the hot path: every datagram on the link) meets it like for like: 2.8-3.3x
//!   hickory-proto and 3.2-5.0x simple-dns with owned records. Against simple-dns kept
//!   borrowed it is 1.6-1.9x, but borrowed records cannot be cached by the engine.
//! - Encoding meets it on all three packets: 2.1x / 3.0x / 2.8x simple-dns and 4.6-7.2x
//!   hickory-proto in instructions (2.3-2.8x and 4-8.5x in wall time), with output 0-12 %
//!   smaller than simple-dns's. The margin on the small response is the thinnest: about 400
//!   of its 2 600 instructions are fixed per message (output allocation, writer set-up).
//! - Behaviour weighs as much: simple-dns rejects a whole datagram when one record's rdata
//!   is malformed (`tests/wire_peers.rs`: malformed NSEC next to a valid A), where
//!   CONFORMANCE row 14 needs the record dropped and the rest kept; hickory-proto and
//!   simple-dns both accept compression pointers into the header.
//!
//! So the codec stays hand-written.

mod error;
mod message;
mod name;
mod reader;
mod record;
mod writer;

pub use error::{NameError, WireError};
pub use message::{Header, Message};
pub use name::{MAX_LABEL_LEN, MAX_NAME_LEN, Name};
pub use reader::MAX_POINTER_HOPS;
pub use record::{CLASS_ANY, CLASS_IN, Question, RData, Record, RecordType};
pub use writer::MessageWriter;
