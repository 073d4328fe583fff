//! DNS / mDNS wire codec: owned messages, a bounded parser and a compressing writer.
//!
//! - [`Message::parse`] reads a datagram into owned records (RFC 1035 with the RFC 6762
//!   QU and cache-flush bits). Nothing on the parse path can panic or index out of bounds;
//!   see [`reader`](self) notes on the bounds below.
//! - [`MessageWriter`] fills one datagram up to a size limit with name compression, and
//!   [`Message::encode`] writes a whole message.
//!
//! # Bounds on untrusted input
//! - Compression pointers must point strictly before where the current name (or the last
//!   pointer target) began, never into the header, and at most [`MAX_POINTER_HOPS`] are
//!   followed per name: self pointers, forward pointers and loops are errors, and decoding
//!   is linear in the datagram's length.
//! - Names are at most 255 bytes, labels at most 63; label types 0x40 and 0x80 are refused.
//! - rdlength is checked against the datagram (an overrun is an error for the whole
//!   message); inner lengths (names in rdata, TXT strings, NSEC bitmaps with window lengths
//!   1..=32) are checked against rdlength. A record whose rdata alone is malformed is
//!   dropped and counted in [`Message::dropped_records`].
//! - Section counts never size an allocation beyond what the datagram could hold.

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
