//! Domain names in uncompressed wire form.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use super::error::NameError;

/// Longest label, in bytes (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;
/// Longest name in wire form, including the root label's zero byte (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 255;

/// A domain name, held in uncompressed wire form: length-prefixed labels, root label omitted.
///
/// Invariants: every label is 1..=63 bytes, and the wire length including the root's zero
/// byte is at most 255. Labels may hold any byte (RFC 6762 §16: names are UTF-8, and a
/// hostile peer may send anything).
///
/// `Eq`, `Hash` and `Ord` ignore ASCII case only: `A`-`Z` fold to `a`-`z`, bytes 0x80-0xFF
/// compare exactly (RFC 6762 §16).
#[derive(Clone, Default)]
pub struct Name {
    /// Length-prefixed labels without the final zero byte.
    wire: WireBuf,
}

/// Names up to this many wire bytes live inline (most DNS-SD names do: parsing a packet
/// then allocates nothing per name); longer ones on the heap. Keeps `Name` at 64 bytes.
const INLINE_CAP: usize = 62;

/// Byte storage of a `Name`.
#[derive(Clone)]
enum WireBuf {
    Inline { len: u8, bytes: [u8; INLINE_CAP] },
    Heap(Box<[u8]>),
}

impl WireBuf {
    fn from_slice(s: &[u8]) -> WireBuf {
        let mut bytes = [0u8; INLINE_CAP];
        match (bytes.get_mut(..s.len()), u8::try_from(s.len())) {
            (Some(dst), Ok(len)) => {
                dst.copy_from_slice(s);
                WireBuf::Inline { len, bytes }
            }
            _ => WireBuf::Heap(s.into()),
        }
    }
}

impl Default for WireBuf {
    fn default() -> WireBuf {
        WireBuf::Inline {
            len: 0,
            bytes: [0; INLINE_CAP],
        }
    }
}

impl std::ops::Deref for WireBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            WireBuf::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            WireBuf::Heap(b) => b,
        }
    }
}

impl Name {
    /// The root name `.`.
    pub fn root() -> Name {
        Name::default()
    }

    /// Builds a name from its labels, first label first.
    pub fn from_labels<I, L>(labels: I) -> Result<Name, NameError>
    where
        I: IntoIterator<Item = L>,
        L: AsRef<[u8]>,
    {
        let mut wire = Vec::new();
        for label in labels {
            push_label(&mut wire, label.as_ref())?;
        }
        Ok(Name {
            wire: WireBuf::from_slice(&wire),
        })
    }

    /// Parses the presentation form: labels separated by `.`, with `\.`, `\\` and `\DDD`
    /// (decimal) escapes. A trailing dot is optional; `""` and `"."` are the root.
    pub fn from_dotted(s: &str) -> Result<Name, NameError> {
        let bytes = s.as_bytes();
        if bytes.is_empty() || bytes == b"." {
            return Ok(Name::root());
        }
        let mut wire = Vec::with_capacity(bytes.len() + 1);
        let mut label: Vec<u8> = Vec::with_capacity(MAX_LABEL_LEN);
        let mut iter = bytes.iter().copied().peekable();
        let mut ended_with_dot = false;
        while let Some(b) = iter.next() {
            ended_with_dot = false;
            match b {
                b'.' => {
                    push_label(&mut wire, &label)?;
                    label.clear();
                    ended_with_dot = true;
                }
                b'\\' => {
                    let first = iter.next().ok_or(NameError::BadEscape)?;
                    if first.is_ascii_digit() {
                        let d2 = iter
                            .next()
                            .filter(u8::is_ascii_digit)
                            .ok_or(NameError::BadEscape)?;
                        let d3 = iter
                            .next()
                            .filter(u8::is_ascii_digit)
                            .ok_or(NameError::BadEscape)?;
                        let value = u32::from(first - b'0') * 100
                            + u32::from(d2 - b'0') * 10
                            + u32::from(d3 - b'0');
                        label.push(u8::try_from(value).map_err(|_| NameError::BadEscape)?);
                    } else {
                        label.push(first);
                    }
                }
                other => label.push(other),
            }
            if label.len() > MAX_LABEL_LEN {
                return Err(NameError::LabelTooLong);
            }
        }
        if !ended_with_dot {
            push_label(&mut wire, &label)?;
        }
        Ok(Name {
            wire: WireBuf::from_slice(&wire),
        })
    }

    /// Builds a name from wire bytes already checked by the parser.
    pub(crate) fn from_checked_wire(wire: &[u8]) -> Name {
        Name {
            wire: WireBuf::from_slice(wire),
        }
    }

    /// The labels, first label first (`"a.b.local."` gives `a`, `b`, `local`).
    pub fn labels(&self) -> impl Iterator<Item = &[u8]> {
        Labels { rest: &self.wire }
    }

    /// Number of labels (0 for the root).
    pub fn label_count(&self) -> usize {
        self.labels().count()
    }

    /// The first label, `None` for the root.
    pub fn first_label(&self) -> Option<&[u8]> {
        self.labels().next()
    }

    /// The name without its first label, `None` for the root.
    pub fn parent(&self) -> Option<Name> {
        let len = usize::from(*self.wire.first()?);
        let rest = self.wire.get(1 + len..)?;
        Some(Name {
            wire: WireBuf::from_slice(rest),
        })
    }

    /// A new name with `label` in front of this one.
    pub fn prepend(&self, label: &[u8]) -> Result<Name, NameError> {
        let mut wire = Vec::with_capacity(self.wire.len() + label.len() + 1);
        push_label(&mut wire, label)?;
        wire.extend_from_slice(&self.wire);
        if wire.len() + 1 > MAX_NAME_LEN {
            return Err(NameError::NameTooLong);
        }
        Ok(Name {
            wire: WireBuf::from_slice(&wire),
        })
    }

    /// True when `suffix` is this name or one of its ancestors (whole labels, ASCII case
    /// ignored). Every name ends with the root.
    pub fn ends_with(&self, suffix: &Name) -> bool {
        if suffix.wire.len() > self.wire.len() {
            return false;
        }
        // Walk label boundaries so that `xb.local` does not end with `b.local`.
        let mut rest: &[u8] = &self.wire;
        loop {
            if rest.len() == suffix.wire.len() {
                return rest.eq_ignore_ascii_case(&suffix.wire);
            }
            if rest.len() < suffix.wire.len() {
                return false;
            }
            let Some((&len, tail)) = rest.split_first() else {
                return false;
            };
            let Some(next) = tail.get(usize::from(len)..) else {
                return false;
            };
            rest = next;
        }
    }

    /// Length in uncompressed wire form, including the root's zero byte.
    pub fn wire_len(&self) -> usize {
        self.wire.len() + 1
    }

    /// True for the root name.
    pub fn is_root(&self) -> bool {
        self.wire.is_empty()
    }

    /// Length-prefixed labels without the final zero byte.
    pub(crate) fn wire_labels(&self) -> &[u8] {
        &self.wire
    }

    /// Appends the uncompressed wire form (with the root's zero byte) to `out`.
    pub(crate) fn write_uncompressed(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.wire);
        out.push(0);
    }
}

fn push_label(wire: &mut Vec<u8>, label: &[u8]) -> Result<(), NameError> {
    if label.is_empty() {
        return Err(NameError::EmptyLabel);
    }
    let len = u8::try_from(label.len())
        .ok()
        .filter(|&l| usize::from(l) <= MAX_LABEL_LEN)
        .ok_or(NameError::LabelTooLong)?;
    if wire.len() + 1 + label.len() + 1 > MAX_NAME_LEN {
        return Err(NameError::NameTooLong);
    }
    wire.push(len);
    wire.extend_from_slice(label);
    Ok(())
}

/// Iterator over the labels of a checked wire name.
struct Labels<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (&len, tail) = self.rest.split_first()?;
        let len = usize::from(len);
        let label = tail.get(..len)?;
        self.rest = tail.get(len..).unwrap_or_default();
        Some(label)
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.wire.eq_ignore_ascii_case(&other.wire)
    }
}

impl Eq for Name {}

impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.wire.len());
        for chunk in self.wire.chunks(16) {
            let mut folded = [0u8; 16];
            for (dst, src) in folded.iter_mut().zip(chunk) {
                *dst = src.to_ascii_lowercase();
            }
            state.write(folded.get(..chunk.len()).unwrap_or_default());
        }
    }
}

impl Ord for Name {
    /// Orders by the ASCII-lowercased wire form (a total order consistent with `Eq`; not
    /// the DNSSEC canonical order).
    fn cmp(&self, other: &Name) -> Ordering {
        let a = self.wire.iter().map(u8::to_ascii_lowercase);
        let b = other.wire.iter().map(u8::to_ascii_lowercase);
        a.cmp(b)
    }
}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Name {
    /// Dotted form with a trailing dot: `My\.Box._http._tcp.local.`. `.` and `\` are
    /// escaped with a backslash; control bytes, and bytes >= 0x80 in labels that are not
    /// UTF-8, as `\DDD`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            return f.write_str(".");
        }
        for label in self.labels() {
            match std::str::from_utf8(label) {
                Ok(text) => {
                    for c in text.chars() {
                        match c {
                            '.' => f.write_str("\\.")?,
                            '\\' => f.write_str("\\\\")?,
                            c if c.is_ascii_control() => write!(f, "\\{:03}", c as u32)?,
                            c => fmt::Write::write_char(f, c)?,
                        }
                    }
                }
                Err(_) => {
                    for &b in label {
                        match b {
                            b'.' => f.write_str("\\.")?,
                            b'\\' => f.write_str("\\\\")?,
                            0x21..=0x7E | b' ' => fmt::Write::write_char(f, char::from(b))?,
                            other => write!(f, "\\{other:03}")?,
                        }
                    }
                }
            }
            f.write_str(".")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name(\"{self}\")")
    }
}

impl std::str::FromStr for Name {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Name, NameError> {
        Name::from_dotted(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_round_trip_with_escapes() {
        let name = Name::from_dotted("My\\.Box._http._tcp.local.").unwrap();
        assert_eq!(name.label_count(), 4);
        assert_eq!(name.first_label(), Some(&b"My.Box"[..]));
        assert_eq!(name.to_string(), "My\\.Box._http._tcp.local.");
        assert_eq!(Name::from_dotted(&name.to_string()).unwrap(), name);
        let decimal = Name::from_dotted("a\\046b\\092.local").unwrap();
        assert_eq!(decimal.first_label(), Some(&b"a.b\\"[..]));
    }

    #[test]
    fn case_folds_ascii_only() {
        let a = Name::from_dotted("HOST.Local").unwrap();
        let b = Name::from_dotted("host.local.").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.cmp(&b), Ordering::Equal);
        let upper = Name::from_labels([&[0xC3u8, 0x89][..]]).unwrap(); // "É"
        let lower = Name::from_labels([&[0xC3u8, 0xA9][..]]).unwrap(); // "é"
        assert_ne!(upper, lower);
        // 0xC9 and 0xE9 differ by 0x20 but are not ASCII: no folding
        assert_ne!(
            Name::from_labels([[0xC9u8]]).unwrap(),
            Name::from_labels([[0xE9u8]]).unwrap()
        );
        let mut h1 = std::collections::hash_map::DefaultHasher::new();
        let mut h2 = std::collections::hash_map::DefaultHasher::new();
        a.hash(&mut h1);
        b.hash(&mut h2);
        assert_eq!(h1.finish(), h2.finish());
    }

    #[test]
    fn limits() {
        assert_eq!(Name::from_dotted("a..b"), Err(NameError::EmptyLabel));
        let long = "x".repeat(64);
        assert_eq!(Name::from_dotted(&long), Err(NameError::LabelTooLong));
        assert!(Name::from_dotted(&"x".repeat(63)).is_ok());
        // 4 labels of 63 = 4*64 + 1 = 257 > 255
        let too_long = vec!["y".repeat(63); 4].join(".");
        assert_eq!(Name::from_dotted(&too_long), Err(NameError::NameTooLong));
        // 3*64 + 62 + 1 = 255 exactly
        let mut max = vec!["y".repeat(63); 3];
        max.push("z".repeat(61));
        let max = Name::from_dotted(&max.join(".")).unwrap();
        assert_eq!(max.wire_len(), 255);
        assert_eq!(max.prepend(b"a"), Err(NameError::NameTooLong));
        assert_eq!(Name::from_dotted("\\25"), Err(NameError::BadEscape));
        assert_eq!(Name::from_dotted("\\256"), Err(NameError::BadEscape));
    }

    #[test]
    fn structure() {
        let n = Name::from_dotted("a.b.local").unwrap();
        assert_eq!(n.parent().unwrap(), Name::from_dotted("b.local").unwrap());
        assert!(n.ends_with(&Name::from_dotted("B.LOCAL").unwrap()));
        assert!(n.ends_with(&Name::root()));
        assert!(
            !Name::from_dotted("xb.local")
                .unwrap()
                .ends_with(&Name::from_dotted("b.local").unwrap())
        );
        assert_eq!(Name::root().parent(), None);
        assert_eq!(Name::root().to_string(), ".");
        assert_eq!(n.wire_len(), 1 + 1 + 1 + 1 + 1 + 5 + 1);
        assert_eq!(n.prepend(b"_sub").unwrap().to_string(), "_sub.a.b.local.");
    }
}
