//! DNS message header and the whole message.

use super::error::WireError;
use super::record::{Question, Record};

/// QR: the message is a response.
const FLAG_QR: u16 = 0x8000;
/// AA: authoritative answer (every mDNS response sets it).
const FLAG_AA: u16 = 0x0400;
/// TC: truncated (mDNS queries: more known answers follow).
const FLAG_TC: u16 = 0x0200;

/// Message ID and flags word (RFC 1035 §4.1.1). The section counts live in `Message`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Header {
    /// Message ID (0 for multicast; echoed for legacy unicast replies).
    pub id: u16,
    /// QR, OPCODE, AA, TC, RD, RA, Z, AD, CD, RCODE.
    pub flags: u16,
}

impl Header {
    /// True for a response (QR set).
    pub fn is_response(&self) -> bool {
        self.flags & FLAG_QR != 0
    }

    /// The OPCODE (mDNS only accepts 0).
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0x0F) as u8
    }

    /// True when AA is set.
    pub fn authoritative(&self) -> bool {
        self.flags & FLAG_AA != 0
    }

    /// True when TC is set.
    pub fn truncated(&self) -> bool {
        self.flags & FLAG_TC != 0
    }

    /// The RCODE (mDNS only accepts 0).
    pub fn rcode(&self) -> u8 {
        (self.flags & 0x0F) as u8
    }

    /// A multicast query header: ID 0, all flags clear.
    pub fn query() -> Header {
        Header { id: 0, flags: 0 }
    }

    /// A multicast response header: ID 0, QR and AA set.
    pub fn response() -> Header {
        Header {
            id: 0,
            flags: FLAG_QR | FLAG_AA,
        }
    }

    /// This header with TC set or cleared.
    pub fn with_truncated(self, tc: bool) -> Header {
        let flags = if tc {
            self.flags | FLAG_TC
        } else {
            self.flags & !FLAG_TC
        };
        Header { flags, ..self }
    }
}

/// A whole DNS message with owned records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// ID and flags.
    pub header: Header,
    /// Question section.
    pub questions: Vec<Question>,
    /// Answer section.
    pub answers: Vec<Record>,
    /// Authority section (mDNS probes carry their proposed records here).
    pub authorities: Vec<Record>,
    /// Additional section.
    pub additionals: Vec<Record>,
    /// Records whose rdata was malformed but whose rdlength fit: dropped and counted
    /// (CONFORMANCE row 14). The rest of the message is kept.
    pub dropped_records: u16,
}

impl Message {
    /// Parses a datagram. Damage to the header or to the framing of a section (a name, a
    /// record header, an rdlength past the end) is an error; a record whose rdata alone is
    /// malformed is dropped and counted in `dropped_records`. Bytes after the last record
    /// are ignored.
    pub fn parse(bytes: &[u8]) -> Result<Message, WireError> {
        super::reader::parse_message(bytes)
    }

    /// Encodes with name compression, with no size limit other than the format's own.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut writer = super::writer::MessageWriter::with_buffer(
            self.header,
            usize::MAX,
            Vec::with_capacity(512),
        );
        writer.write_message(
            &self.questions,
            [&self.answers, &self.authorities, &self.additionals],
        )
    }
}
