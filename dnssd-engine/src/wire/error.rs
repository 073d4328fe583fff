//! Errors of the wire codec.

/// A datagram could not be parsed, or a message could not be encoded.
///
/// Offsets are byte positions in the datagram.
#[non_exhaustive]
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// The datagram ends before a field that must be there.
    #[error("datagram truncated at offset {offset}: {needed} more byte(s) needed")]
    Truncated {
        /// Where reading stopped.
        offset: usize,
        /// How many bytes were missing.
        needed: usize,
    },
    /// A compression pointer that does not point strictly backwards into the datagram.
    #[error("compression pointer at offset {offset} to {target} does not point backwards")]
    BadPointer {
        /// Offset of the pointer.
        offset: usize,
        /// Where it pointed.
        target: usize,
    },
    /// Too many compression pointers followed for one name.
    #[error("too many compression pointers in one name")]
    PointerLoop,
    /// A name longer than 255 bytes in uncompressed wire form.
    #[error("name longer than 255 bytes")]
    NameTooLong,
    /// A label longer than 63 bytes.
    #[error("label longer than 63 bytes")]
    LabelTooLong,
    /// A label type 0x40 or 0x80 (extended / reserved).
    #[error("unsupported label type {0:#04x} at a name")]
    BadLabelType(u8),
    /// A length field (rdlength, a TXT string length...) runs past its container.
    #[error("{field} at offset {offset} runs past its container")]
    LengthOverrun {
        /// Which length.
        field: &'static str,
        /// Offset of the length field.
        offset: usize,
    },
    /// The item does not fit in the datagram (`MessageWriter`): the writer is unchanged.
    #[error("no room left in the datagram")]
    Full,
    /// rdata longer than 65535 bytes, or a section with more than 65535 entries.
    #[error("{0} too large to encode")]
    TooLarge(&'static str),
    /// An item was pushed into a section before one already written (sections go in order:
    /// questions, answers, authorities, additionals).
    #[error("section written out of order")]
    SectionOrder,
}

/// A domain name given by a program is not valid.
#[non_exhaustive]
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    /// An empty label (`a..b`), other than the root.
    #[error("empty label")]
    EmptyLabel,
    /// A label longer than 63 bytes.
    #[error("label longer than 63 bytes")]
    LabelTooLong,
    /// The whole name is longer than 255 bytes in wire form.
    #[error("name longer than 255 bytes")]
    NameTooLong,
    /// A backslash escape that is not `\X` or `\DDD` with DDD <= 255.
    #[error("bad escape sequence")]
    BadEscape,
}
