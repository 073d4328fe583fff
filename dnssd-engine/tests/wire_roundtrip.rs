//! Round trips through the encoder and parser, NSEC bitmaps, the writer's size limit, and
//! linear-time encoding (checked by counting work, never by timing).
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test helpers build fixtures that are known to be valid"
)]

use std::net::{Ipv4Addr, Ipv6Addr};

use dnssd_engine::wire::{
    CLASS_IN, Header, Message, MessageWriter, Name, Question, RData, Record, RecordType, WireError,
};

fn name(s: &str) -> Name {
    Name::from_dotted(s).unwrap()
}

fn record(owner: &str, ttl: u32, cache_flush: bool, rdata: RData) -> Record {
    Record {
        name: name(owner),
        class: CLASS_IN,
        cache_flush,
        ttl,
        rdata,
    }
}

/// PTR + SRV + TXT + A + AAAA + NSEC, as a responder announces one service.
fn service_response() -> Message {
    let instance = "My\\.Web Box._http._tcp.local";
    Message {
        header: Header::response(),
        answers: vec![
            record("_http._tcp.local", 4500, false, RData::Ptr(name(instance))),
            record(
                instance,
                120,
                true,
                RData::Srv {
                    priority: 0,
                    weight: 0,
                    port: 8080,
                    target: name("box.local"),
                },
            ),
            record(
                instance,
                4500,
                true,
                RData::Txt(b"\x0bpath=/index\x04v=42\x04flag".to_vec()),
            ),
        ],
        additionals: vec![
            record(
                "box.local",
                120,
                true,
                RData::A(Ipv4Addr::new(192, 168, 1, 20)),
            ),
            record(
                "box.local",
                120,
                true,
                RData::Aaaa("fe80::1234:5678".parse::<Ipv6Addr>().unwrap()),
            ),
            record(
                "box.local",
                120,
                true,
                RData::Nsec {
                    next: name("box.local"),
                    types: vec![RecordType::A, RecordType::AAAA],
                },
            ),
            Record {
                name: Name::root(),
                class: 1440,
                cache_flush: false,
                ttl: 0,
                rdata: RData::Unknown {
                    rtype: RecordType::OPT,
                    data: vec![0, 4, 0, 2, 0xAB, 0xCD],
                },
            },
        ],
        ..Message::default()
    }
}

#[test]
fn service_response_round_trips() {
    let msg = service_response();
    let bytes = msg.encode().unwrap();
    let parsed = Message::parse(&bytes).unwrap();
    assert_eq!(parsed, msg);
    assert_eq!(parsed.dropped_records, 0);
    // Exact-case names survive even though Eq ignores case.
    assert_eq!(
        parsed.answers[0].rdata,
        RData::Ptr(name("My\\.Web Box._http._tcp.local"))
    );
    let RData::Ptr(target) = &parsed.answers[0].rdata else {
        panic!()
    };
    assert_eq!(target.to_string(), "My\\.Web Box._http._tcp.local.");
    // Re-encoding the parsed message gives the same bytes.
    assert_eq!(parsed.encode().unwrap(), bytes);
    // Compression: "_http._tcp.local" and "box.local" are written once each.
    let count = |needle: &[u8]| bytes.windows(needle.len()).filter(|w| *w == needle).count();
    assert_eq!(count(b"\x05_http\x04_tcp"), 1);
    assert_eq!(count(b"\x03box"), 1);
    assert_eq!(count(b"\x05local\x00"), 1);
}

#[test]
fn mdns_bits_on_the_wire() {
    let msg = Message {
        header: Header::query(),
        questions: vec![Question {
            name: name("a.local"),
            qtype: RecordType::ANY,
            qclass: CLASS_IN,
            unicast_response: true,
        }],
        authorities: vec![record(
            "a.local",
            120,
            true,
            RData::A(Ipv4Addr::new(10, 0, 0, 1)),
        )],
        ..Message::default()
    };
    let bytes = msg.encode().unwrap();
    // question: name (9) + type ANY + class with QU bit
    assert_eq!(&bytes[12..25], b"\x01a\x05local\x00\x00\xff\x80\x01");
    // authority: pointer to 12, type A, class IN with cache-flush bit, TTL 120, rdlength 4
    assert_eq!(
        &bytes[25..37],
        b"\xc0\x0c\x00\x01\x80\x01\x00\x00\x00\x78\x00\x04"
    );
    let parsed = Message::parse(&bytes).unwrap();
    assert!(parsed.questions[0].unicast_response);
    assert_eq!(parsed.questions[0].qclass, CLASS_IN);
    assert!(parsed.authorities[0].cache_flush);
    assert_eq!(parsed.authorities[0].class, CLASS_IN);
    assert_eq!(parsed, msg);
}

#[test]
fn header_flags() {
    let h = Header::response();
    assert!(h.is_response() && h.authoritative() && !h.truncated());
    assert_eq!((h.opcode(), h.rcode()), (0, 0));
    let tc = Header::query().with_truncated(true);
    assert!(tc.truncated() && !tc.is_response());
    assert!(!tc.with_truncated(false).truncated());
    let mut w = MessageWriter::new(Header::query(), 512);
    w.set_truncated(true);
    let bytes = w.finish();
    assert!(Message::parse(&bytes).unwrap().header.truncated());
}

#[test]
fn nsec_bitmap_restricted_and_general_forms() {
    let restricted = record(
        "h.local",
        120,
        true,
        RData::Nsec {
            next: name("h.local"),
            types: vec![RecordType::AAAA, RecordType::A, RecordType::A],
        },
    );
    // RFC 6762 §6.1 restricted form: block 0, 4 bytes (AAAA = 28 is in byte 3).
    let wire = restricted.rdata_wire();
    assert_eq!(&wire[9..], &[0x00, 0x04, 0x40, 0x00, 0x00, 0x08]);
    let general = record(
        "h.local",
        120,
        true,
        RData::Nsec {
            next: name("h.local"),
            types: vec![RecordType(0x1234), RecordType::SRV, RecordType(65535)],
        },
    );
    let wire = general.rdata_wire();
    // window 0: SRV (33) in byte 4; window 0x12: 0x34 = 52 in byte 6; window 0xFF: 255 in byte 31.
    let mut expected = vec![
        0x00, 0x05, 0, 0, 0, 0, 0x40, 0x12, 0x07, 0, 0, 0, 0, 0, 0, 0x08, 0xFF, 0x20,
    ];
    expected.extend_from_slice(&[0; 31]);
    expected.push(0x01);
    assert_eq!(&wire[9..], &expected[..]);
    let msg = Message {
        header: Header::response(),
        answers: vec![restricted, general],
        ..Message::default()
    };
    let parsed = Message::parse(&msg.encode().unwrap()).unwrap();
    let RData::Nsec { types, .. } = &parsed.answers[0].rdata else {
        panic!()
    };
    assert_eq!(types, &[RecordType::A, RecordType::AAAA]);
    let RData::Nsec { types, .. } = &parsed.answers[1].rdata else {
        panic!()
    };
    assert_eq!(
        types,
        &[RecordType::SRV, RecordType(0x1234), RecordType(65535)]
    );
}

#[test]
fn non_ascii_names_round_trip_and_fold_only_ascii() {
    let label: Vec<u8> = (0x80..=0xFFu8).take(60).collect();
    let n = Name::from_labels([label.as_slice(), b"LOCAL"]).unwrap();
    let msg = Message {
        header: Header::response(),
        answers: vec![Record {
            name: n.clone(),
            class: CLASS_IN,
            cache_flush: false,
            ttl: 1,
            rdata: RData::Ptr(n.clone()),
        }],
        ..Message::default()
    };
    let parsed = Message::parse(&msg.encode().unwrap()).unwrap();
    assert_eq!(parsed.answers[0].name.first_label(), Some(label.as_slice()));
    assert_eq!(
        parsed.answers[0].name,
        Name::from_labels([label.as_slice(), b"local"]).unwrap()
    );
    let shifted: Vec<u8> = label.iter().map(|b| b ^ 0x20).collect();
    assert_ne!(
        parsed.answers[0].name,
        Name::from_labels([shifted.as_slice(), b"local"]).unwrap()
    );
}

#[test]
fn rrset_helpers() {
    let a = record("h.local", 120, true, RData::A(Ipv4Addr::new(10, 0, 0, 1)));
    let mut b = a.clone();
    b.ttl = 0;
    b.cache_flush = false;
    b.name = name("H.LOCAL");
    assert!(a.same_rrset_member(&b));
    b.rdata = RData::A(Ipv4Addr::new(10, 0, 0, 2));
    assert!(!a.same_rrset_member(&b));
    assert_eq!(a.rdata_wire(), vec![10, 0, 0, 1]);
    let srv = record(
        "x._http._tcp.local",
        120,
        true,
        RData::Srv {
            priority: 1,
            weight: 2,
            port: 80,
            target: name("h.local"),
        },
    );
    assert_eq!(
        srv.rdata_wire(),
        b"\x00\x01\x00\x02\x00\x50\x01h\x05local\x00"
    );
}

#[test]
fn writer_full_leaves_room_for_the_next_datagram() {
    let records: Vec<Record> = (0..200)
        .map(|i| {
            record(
                "_http._tcp.local",
                4500,
                false,
                RData::Ptr(name(&format!("Service {i:03}._http._tcp.local"))),
            )
        })
        .collect();
    let mut packets = Vec::new();
    let mut w = MessageWriter::new(Header::response(), 1460);
    for r in &records {
        match w.push_answer(r) {
            Ok(()) => {}
            Err(WireError::Full) => {
                let before = w.len();
                assert_eq!(w.push_answer(r), Err(WireError::Full));
                assert_eq!(w.len(), before, "a failed push changed the writer");
                packets.push(
                    std::mem::replace(&mut w, MessageWriter::new(Header::response(), 1460))
                        .finish(),
                );
                w.push_answer(r).unwrap();
            }
            Err(e) => panic!("{e}"),
        }
    }
    packets.push(w.finish());
    let mut seen = Vec::new();
    for p in &packets {
        assert!(p.len() <= 1460);
        let m = Message::parse(p).unwrap();
        seen.extend(m.answers);
    }
    assert_eq!(seen, records);
    // 42 bytes for the first record, 26 for each further one: 55 records per 1460 bytes.
    assert_eq!(packets.len(), 4);
    assert_eq!(packets[0].len(), 12 + 42 + 54 * 26);
}

#[test]
fn writer_refuses_out_of_order_sections() {
    let mut w = MessageWriter::new(Header::query(), 9000);
    let r = record("a.local", 1, false, RData::A(Ipv4Addr::LOCALHOST));
    w.push_additional(&r).unwrap();
    assert_eq!(w.push_answer(&r), Err(WireError::SectionOrder));
    assert!(!w.is_empty());
}

/// Services as an announcement of many of them would carry: PTR, SRV, TXT, A per service.
fn many_services(n: usize) -> Vec<Record> {
    let mut out = Vec::new();
    for i in 0..n {
        let instance = format!("Service {i:04}._http._tcp.local");
        let host = format!("host-{i:04}.local");
        out.push(record(
            "_http._tcp.local",
            4500,
            false,
            RData::Ptr(name(&instance)),
        ));
        out.push(record(
            &instance,
            120,
            true,
            RData::Srv {
                priority: 0,
                weight: 0,
                port: 80,
                target: name(&host),
            },
        ));
        out.push(record(
            &instance,
            4500,
            true,
            RData::Txt(b"\x06path=/".to_vec()),
        ));
        out.push(record(
            &host,
            120,
            true,
            RData::A(Ipv4Addr::new(10, 0, (i >> 8) as u8, i as u8)),
        ));
    }
    out
}

fn encode_all(records: &[Record]) -> (Vec<u8>, u64) {
    let mut w = MessageWriter::new(Header::response(), 65_535);
    for r in records {
        w.push_answer(r).unwrap();
    }
    let work = w.compression_work();
    (w.finish(), work)
}

#[test]
fn encoding_is_linear_and_compresses() {
    // A 9000-byte-class message: 96 services = 384 records, 672 names.
    let small = many_services(96);
    let (bytes, work) = encode_all(&small);
    // Exact size. First service: PTR 18+10+(13+2), SRV 2+10+6+(10+2), TXT 2+10+7, A 2+10+4
    // (its owner points at the SRV target). Each later one: the PTR owner is a pointer too.
    let first = (18 + 10 + 15) + (2 + 10 + 6 + 12) + (2 + 10 + 7) + (2 + 10 + 4);
    let later = (2 + 10 + 15) + (2 + 10 + 6 + 12) + (2 + 10 + 7) + (2 + 10 + 4);
    assert_eq!(bytes.len(), 12 + first + 95 * later);
    assert!(bytes.len() <= 9000, "{}", bytes.len());
    let parsed = Message::parse(&bytes).unwrap();
    assert_eq!(parsed.answers, small);

    // Work is bounded by the uncompressed size of the names written...
    let uncompressed: u64 = small
        .iter()
        .map(|r| {
            r.name.wire_len() as u64
                + match &r.rdata {
                    RData::Ptr(n) | RData::Srv { target: n, .. } => n.wire_len() as u64,
                    _ => 0,
                }
        })
        .sum();
    assert!(
        work <= 2 * uncompressed,
        "work {work} for {uncompressed} bytes of names"
    );
    // ...and doubling the message doubles the work (a quadratic scan would quadruple it).
    let (_, half_work) = encode_all(&many_services(48));
    assert!(
        work <= 2 * half_work + half_work / 10,
        "work {half_work} -> {work}"
    );
    // Past offset 0x3FFF names cannot be pointer targets, so whole-name repeats there cost
    // a lookup per label: more work per byte, still linear.
    let (big_bytes, big_work) = encode_all(&many_services(192));
    assert!(big_bytes.len() > 2 * bytes.len() - 200);
    assert!(big_work <= 2 * work + work / 2, "work {work} -> {big_work}");
}

#[test]
fn names_beyond_pointer_range_are_written_in_full() {
    // ~27 KB: names written past offset 0x3FFF cannot be pointer targets.
    let records = many_services(300);
    let (bytes, _) = encode_all(&records);
    assert!(bytes.len() > 0x3FFF * 3 / 2, "{}", bytes.len());
    assert_eq!(Message::parse(&bytes).unwrap().answers, records);
    // The last service's host name is spelled out, not compressed onto anything late.
    assert!(bytes.windows(11).any(|w| w == b"\x09host-0299\xc0"));
}

/// Random messages over a small pool of labels (so names share suffixes in every way,
/// with ASCII case variants, names longer than the writer's 64-byte name copies, and
/// enough names for its hashed table): whole-message encoding and datagram-by-datagram
/// writing with rollbacks (and more items after a rollback) both round-trip exactly.
#[test]
fn random_messages_round_trip_through_the_compressing_writer() {
    let pool: Vec<Vec<u8>> = [
        "local",
        "LOCAL",
        "_tcp",
        "_udp",
        "_http",
        "_ipp",
        "Living Room",
        "living room",
        "a",
        "b",
        "printer-1",
        "_sub",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .chain([
        vec![b'x'; 63],
        vec![b'y'; 50],
        vec![0xC3, 0xA9, b'.', b'\\'],
    ])
    .collect();
    let mut rng = dnssd_engine::Rng::new(7);
    let random_name = |rng: &mut dnssd_engine::Rng| {
        let n = rng.range(1, 6) as usize;
        let mut labels: Vec<&[u8]> = Vec::new();
        let mut len = 1;
        for _ in 0..n {
            let l = &pool[rng.range(0, pool.len() as u64 - 1) as usize];
            if len + l.len() < 255 {
                len += l.len() + 1;
                labels.push(l);
            }
        }
        Name::from_labels(labels).unwrap()
    };
    for round in 0..60u64 {
        let count = rng.range(1, 400) as usize;
        let records: Vec<Record> = (0..count)
            .map(|i| {
                let owner = random_name(&mut rng);
                let rdata = match rng.range(0, 4) {
                    0 => RData::Ptr(random_name(&mut rng)),
                    1 => RData::Srv {
                        priority: 0,
                        weight: 0,
                        port: i as u16,
                        target: random_name(&mut rng),
                    },
                    2 => RData::Txt(vec![3, b'a', b'=', b'1']),
                    3 => RData::Nsec {
                        next: random_name(&mut rng),
                        types: vec![RecordType::A, RecordType::SRV],
                    },
                    _ => RData::A(Ipv4Addr::from(i as u32)),
                };
                Record {
                    name: owner,
                    class: CLASS_IN,
                    cache_flush: i % 2 == 0,
                    ttl: 120,
                    rdata,
                }
            })
            .collect();
        let msg = Message {
            header: Header::response(),
            answers: records.clone(),
            ..Message::default()
        };
        let bytes = msg.encode().unwrap();
        assert_eq!(Message::parse(&bytes).unwrap(), msg, "round {round}");

        // Datagrams of a random size: every record lands in exactly one, in order.
        let max = rng.range(700, 9000) as usize;
        let mut datagrams = Vec::new();
        let mut expected = Vec::new();
        let mut w = MessageWriter::new(Header::response(), max);
        for r in &records {
            if let Err(WireError::Full) = w.push_answer(r) {
                // After the rollback, a small record reusing the failed one's owner may
                // still fit: it must not point at anything the failed item wrote.
                let small = Record {
                    rdata: RData::A(Ipv4Addr::LOCALHOST),
                    ..r.clone()
                };
                if w.push_answer(&small).is_ok() {
                    expected.push(small);
                }
                datagrams.push(std::mem::replace(
                    &mut w,
                    MessageWriter::new(Header::response(), max),
                ));
                w.push_answer(r).unwrap();
            }
            expected.push(r.clone());
        }
        datagrams.push(w);
        let mut seen = Vec::new();
        for d in datagrams {
            let bytes = d.finish();
            assert!(bytes.len() <= max);
            seen.extend(Message::parse(&bytes).unwrap().answers);
        }
        assert_eq!(seen, expected, "round {round}, max {max}");
    }
}
