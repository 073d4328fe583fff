//! Hostile datagrams from ../shared/SECURITY.md: compression-pointer abuse, length overruns
//! in every rdata type, degenerate datagrams, odd label types and non-ASCII names. Each must
//! give a typed error (or a dropped record), never a panic.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test helpers build fixtures that are known to be valid"
)]

use std::net::Ipv4Addr;

use dnssd_engine::wire::{MAX_POINTER_HOPS, Message, Name, RData, RecordType, WireError};

/// A response header with the given section counts, followed by `body`.
fn packet(counts: [u16; 4], body: &[u8]) -> Vec<u8> {
    let mut p = vec![0, 0, 0x84, 0];
    for c in counts {
        p.extend_from_slice(&c.to_be_bytes());
    }
    p.extend_from_slice(body);
    p
}

/// A record with an uncompressed owner name, class IN, TTL 120.
fn raw_record(owner: &[u8], rtype: u16, rdlength: u16, rdata: &[u8]) -> Vec<u8> {
    let mut r = owner.to_vec();
    r.extend_from_slice(&rtype.to_be_bytes());
    r.extend_from_slice(&[0, 1, 0, 0, 0, 120]);
    r.extend_from_slice(&rdlength.to_be_bytes());
    r.extend_from_slice(rdata);
    r
}

const OWNER: &[u8] = b"\x01h\x05local\x00";

fn valid_a() -> Vec<u8> {
    raw_record(OWNER, 1, 4, &[10, 0, 0, 7])
}

#[test]
fn degenerate_datagrams() {
    assert!(matches!(
        Message::parse(&[]),
        Err(WireError::Truncated { .. })
    ));
    assert!(matches!(
        Message::parse(&[0]),
        Err(WireError::Truncated { .. })
    ));
    assert!(matches!(
        Message::parse(&[0; 11]),
        Err(WireError::Truncated { .. })
    ));
    // A bare 12-byte header is an empty message, which the engine then ignores.
    let empty = Message::parse(&[0; 12]).unwrap();
    assert!(empty.questions.is_empty() && empty.answers.is_empty() && empty.additionals.is_empty());
    // Counts that promise more than the datagram holds.
    assert!(matches!(
        Message::parse(&packet([1, 0, 0, 0], &[])),
        Err(WireError::Truncated { .. })
    ));
    assert!(matches!(
        Message::parse(&packet([0, 0xFFFF, 0xFFFF, 0xFFFF], &[])),
        Err(WireError::Truncated { .. })
    ));
    assert!(matches!(
        Message::parse(&packet([0xFFFF, 0, 0, 0], &[0, 0, 1, 0, 1])),
        Err(WireError::Truncated { .. })
    ));
}

#[test]
fn self_pointer() {
    let p = packet([1, 0, 0, 0], b"\xc0\x0c\x00\x01\x00\x01");
    assert_eq!(
        Message::parse(&p),
        Err(WireError::BadPointer {
            offset: 12,
            target: 12
        })
    );
}

#[test]
fn forward_pointer() {
    let p = packet([1, 0, 0, 0], b"\xc0\x12\x00\x01\x00\x01\x01a\x00");
    assert_eq!(
        Message::parse(&p),
        Err(WireError::BadPointer {
            offset: 12,
            target: 18
        })
    );
}

#[test]
fn pointer_past_end_and_cut_pointer() {
    let p = packet([1, 0, 0, 0], b"\x01a\xc0\xff");
    assert!(matches!(
        Message::parse(&p),
        Err(WireError::BadPointer { target: 255, .. })
    ));
    let p = packet([1, 0, 0, 0], b"\xff\xff");
    assert_eq!(
        Message::parse(&p),
        Err(WireError::BadPointer {
            offset: 12,
            target: 0x3FFF
        })
    );
    let p = packet([1, 0, 0, 0], b"\x01a\xc0");
    assert!(matches!(
        Message::parse(&p),
        Err(WireError::Truncated { .. })
    ));
}

#[test]
fn pointer_into_header() {
    let p = packet([1, 0, 0, 0], b"\xc0\x04\x00\x01\x00\x01");
    assert_eq!(
        Message::parse(&p),
        Err(WireError::BadPointer {
            offset: 12,
            target: 4
        })
    );
}

#[test]
fn two_node_loop() {
    // Question names X at 12: "a" -> Y (20), Y at 20: "b" -> X (12). X's pointer is forward.
    let body = b"\x01a\xc0\x14\x00\x01\x00\x01\x01b\xc0\x0c\x00\x01\x00\x01";
    let p = packet([2, 0, 0, 0], body);
    assert_eq!(
        Message::parse(&p),
        Err(WireError::BadPointer {
            offset: 14,
            target: 20
        })
    );
    // The same loop hidden in opaque rdata and entered from a later owner name Z -> Y -> X:
    // every hop so far is backwards, the next one (X -> Y) is not.
    let x = 12 + 11;
    let y = x + 4;
    let rdata = [1, b'a', 0xC0, y as u8, 1, b'b', 0xC0, x as u8];
    let mut body = raw_record(b"\x00", 0xFF00, 8, &rdata);
    body.extend_from_slice(&raw_record(&[0xC0, y as u8], 1, 4, &[1, 2, 3, 4]));
    let p = packet([0, 2, 0, 0], &body);
    assert_eq!(
        Message::parse(&p),
        Err(WireError::BadPointer {
            offset: x + 2,
            target: y
        })
    );
}

/// A question for "a.local" at 12, an unknown-type record whose rdata holds a chain of `k`
/// pointers each pointing to the previous one (the first to the question's name), and a
/// second record whose owner points to the last link: decoding it takes `k + 1` hops.
fn chain(k: usize) -> Vec<u8> {
    let question = b"\x01a\x05local\x00\x00\x01\x00\x01";
    let mut body = question.to_vec();
    let chain_start = 12 + body.len() + 11; // after the first record's root owner + header
    let mut rdata = Vec::new();
    for i in 0..k {
        let target = if i == 0 {
            12
        } else {
            chain_start + 2 * (i - 1)
        };
        rdata.extend_from_slice(&(0xC000u16 | target as u16).to_be_bytes());
    }
    body.extend_from_slice(&raw_record(b"\x00", 0xFF00, rdata.len() as u16, &rdata));
    let last = chain_start + 2 * (k - 1);
    body.extend_from_slice(&raw_record(
        &(0xC000u16 | last as u16).to_be_bytes(),
        1,
        4,
        &[1, 2, 3, 4],
    ));
    packet([1, 2, 0, 0], &body)
}

#[test]
fn deep_pointer_chains() {
    // 127 hops is the most a legitimate 255-byte name could need: accepted.
    let ok = Message::parse(&chain(MAX_POINTER_HOPS - 1)).unwrap();
    assert_eq!(ok.answers[1].name, Name::from_dotted("a.local").unwrap());
    // A 128-deep chain is refused.
    assert_eq!(
        Message::parse(&chain(MAX_POINTER_HOPS)),
        Err(WireError::PointerLoop)
    );
    assert_eq!(MAX_POINTER_HOPS + 1, 128);
    // A datagram full of chains costs at most MAX_POINTER_HOPS per name: 300 records
    // whose owners all point at the end of a 126-link chain still parse (bounded work).
    let mut p = chain(MAX_POINTER_HOPS - 1);
    let last_owner = p[p.len() - 16..p.len() - 14].to_vec();
    for _ in 0..300 {
        p.extend_from_slice(&raw_record(&last_owner, 1, 4, &[1, 2, 3, 4]));
    }
    p[7] = 2 + 44; // low byte of ANCOUNT: 302 = 0x012E
    p[6] = 1;
    assert_eq!(Message::parse(&p).unwrap().answers.len(), 302);
}

#[test]
fn bad_label_types_and_lengths() {
    for bad in [0x40u8, 0x80] {
        let p = packet([1, 0, 0, 0], &[bad | 1, b'a', 0, 0, 1, 0, 1]);
        assert_eq!(Message::parse(&p), Err(WireError::BadLabelType(bad)));
    }
    // 4 labels of 63 bytes: 257 bytes uncompressed.
    let mut body = Vec::new();
    for _ in 0..4 {
        body.push(63);
        body.extend_from_slice(&[b'x'; 63]);
    }
    body.extend_from_slice(&[0, 0, 1, 0, 1]);
    assert_eq!(
        Message::parse(&packet([1, 0, 0, 0], &body)),
        Err(WireError::NameTooLong)
    );
    // Too long only once a pointer adds the suffix: still refused.
    let mut body = Vec::new();
    for _ in 0..3 {
        body.push(63);
        body.extend_from_slice(&[b'x'; 63]);
    }
    body.extend_from_slice(&[0, 0, 1, 0, 1]);
    body.extend_from_slice(&[63]);
    body.extend_from_slice(&[b'y'; 63]);
    body.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1]);
    assert_eq!(
        Message::parse(&packet([2, 0, 0, 0], &body)),
        Err(WireError::NameTooLong)
    );
}

#[test]
fn rdlength_beyond_datagram() {
    let mut body = raw_record(OWNER, 1, 4, &[10, 0, 0]);
    body.truncate(body.len());
    assert!(matches!(
        Message::parse(&packet([0, 1, 0, 0], &body)),
        Err(WireError::LengthOverrun {
            field: "rdlength",
            ..
        })
    ));
    let body = raw_record(OWNER, 16, 0xFFFF, b"\x03abc");
    assert!(matches!(
        Message::parse(&packet([0, 1, 0, 0], &body)),
        Err(WireError::LengthOverrun { .. })
    ));
}

/// Each malformed rdata sits between two valid A records: it is dropped and counted, the
/// neighbours survive.
#[test]
fn inner_lengths_beyond_rdlength_drop_only_that_record() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("A too short", raw_record(OWNER, 1, 3, &[1, 2, 3])),
        ("A too long", raw_record(OWNER, 1, 5, &[1, 2, 3, 4, 5])),
        ("AAAA too short", raw_record(OWNER, 28, 15, &[0; 15])),
        (
            "PTR name past rdlength",
            raw_record(OWNER, 12, 5, b"\x05abcd"),
        ),
        (
            "PTR label past rdlength into next record",
            raw_record(OWNER, 12, 3, b"\x03ab"),
        ),
        (
            "PTR trailing bytes",
            raw_record(OWNER, 12, 4, b"\x01a\x00\x00"),
        ),
        ("PTR empty", raw_record(OWNER, 12, 0, b"")),
        ("PTR forward pointer", raw_record(OWNER, 12, 2, b"\xc0\xff")),
        (
            "SRV without target",
            raw_record(OWNER, 33, 6, &[0, 0, 0, 0, 0, 80]),
        ),
        (
            "SRV target past rdlength",
            raw_record(OWNER, 33, 8, &[0, 0, 0, 0, 0, 80, 3, b'a']),
        ),
        (
            "TXT string past rdlength",
            raw_record(OWNER, 16, 4, b"\x04abc"),
        ),
        (
            "TXT second string past rdlength",
            raw_record(OWNER, 16, 5, b"\x01a\x05b\x00"),
        ),
        (
            "NSEC next name past rdlength",
            raw_record(OWNER, 47, 3, b"\x05ab"),
        ),
        (
            "NSEC window length 33",
            raw_record(OWNER, 47, 36, &[&[0u8, 0, 33][..], &[0xFF; 33]].concat()),
        ),
        ("NSEC window length 0", raw_record(OWNER, 47, 3, &[0, 0, 0])),
        (
            "NSEC bitmap past rdlength",
            raw_record(OWNER, 47, 5, &[0, 0, 4, 0x40, 0]),
        ),
        (
            "NSEC window without length",
            raw_record(OWNER, 47, 2, &[0, 0]),
        ),
    ];
    for (what, bad) in cases {
        let mut body = valid_a();
        body.extend_from_slice(&bad);
        body.extend_from_slice(&valid_a());
        let parsed =
            Message::parse(&packet([0, 3, 0, 0], &body)).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(parsed.dropped_records, 1, "{what}");
        assert_eq!(parsed.answers.len(), 2, "{what}");
        for a in &parsed.answers {
            assert_eq!(a.rdata, RData::A(Ipv4Addr::new(10, 0, 0, 7)), "{what}");
        }
    }
}

#[test]
fn malformed_nsec_next_to_valid_a_in_additionals() {
    let mut body = raw_record(OWNER, 47, 36, &[&[0u8, 0, 33][..], &[0xFF; 33]].concat());
    body.extend_from_slice(&valid_a());
    let parsed = Message::parse(&packet([0, 0, 0, 2], &body)).unwrap();
    assert_eq!(parsed.dropped_records, 1);
    assert_eq!(parsed.additionals.len(), 1);
    assert_eq!(parsed.additionals[0].rtype(), RecordType::A);
}

#[test]
fn opt_and_unknown_types_carried() {
    let mut body = raw_record(b"\x00", 41, 4, &[0, 4, 0, 0]);
    body[3] = 0x05; // class = UDP payload size 0x05a0 style
    body.extend_from_slice(&raw_record(OWNER, 13, 6, b"\x02PC\x02OS"));
    let parsed = Message::parse(&packet([0, 0, 0, 2], &body)).unwrap();
    assert_eq!(
        parsed.additionals[0].rdata,
        RData::Unknown {
            rtype: RecordType::OPT,
            data: vec![0, 4, 0, 0]
        }
    );
    assert_eq!(
        parsed.additionals[1].rdata,
        RData::Unknown {
            rtype: RecordType::HINFO,
            data: b"\x02PC\x02OS".to_vec()
        }
    );
    assert_eq!(Message::parse(&parsed.encode().unwrap()).unwrap(), parsed);
}

#[test]
fn high_bytes_in_names() {
    let body = raw_record(b"\x03\x80\xC1\xFF\x05LOCAL\x00", 1, 4, &[10, 0, 0, 7]);
    let parsed = Message::parse(&packet([0, 1, 0, 0], &body)).unwrap();
    let n = &parsed.answers[0].name;
    assert_eq!(n.first_label(), Some(&[0x80u8, 0xC1, 0xFF][..]));
    assert_eq!(
        *n,
        Name::from_labels([&[0x80u8, 0xC1, 0xFF][..], b"local"]).unwrap()
    );
    assert_ne!(
        *n,
        Name::from_labels([&[0x80u8, 0xE1, 0xFF][..], b"local"]).unwrap()
    );
    assert_eq!(n.to_string(), "\\128\\193\\255.LOCAL.");
    assert_eq!(Name::from_dotted(&n.to_string()).unwrap(), *n);
}
