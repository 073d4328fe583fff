//! Golden packets: what python-zeroconf and Avahi put on the wire (captured by
//! `tests/golden/capture.sh` in a private network namespace), read by our parser and
//! checked field by field against tshark's dissection of the same bytes; and our encoder's
//! output, which tshark must dissect without a malformed-packet or error/warning report.
//!
//! tshark is required (Debian package `tshark`): without it these tests fail, they do not
//! skip. It only reads pcap files here; nothing touches a network.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test code: fixtures and tool output are expected to be well formed"
)]

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

use dnssd_engine::wire::{
    CLASS_IN, Header, Message, MessageWriter, Name, Question, RData, Record, RecordType,
};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// (file name, bytes) of every golden packet, sorted by name.
fn golden_packets() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    assert!(
        out.iter().filter(|(n, _)| n.starts_with("avahi-")).count() >= 5,
        "Avahi captures missing"
    );
    assert!(
        out.iter()
            .filter(|(n, _)| n.starts_with("zeroconf-"))
            .count()
            >= 3,
        "python-zeroconf captures missing"
    );
    out
}

/// Writes `payloads` as UDP datagrams 127.0.0.1:5353 -> 224.0.0.251:5353 into a pcap file
/// with link type RAW (101: each frame is an IPv4 packet).
fn write_pcap(path: &Path, payloads: &[Vec<u8>]) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xA1B2_C3D4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]); // thiszone, sigfigs
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&101u32.to_le_bytes());
    for (i, payload) in payloads.iter().enumerate() {
        let udp_len = 8 + payload.len();
        let ip_len = 20 + udp_len;
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&(ip_len as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 0, 0, 0, 255, 17, 0, 0, 127, 0, 0, 1, 224, 0, 0, 251]);
        let checksum = !ip.chunks(2).fold(0u32, |s, c| {
            let s = s + u32::from(u16::from_be_bytes([c[0], c[1]]));
            (s & 0xFFFF) + (s >> 16)
        }) as u16;
        ip[10..12].copy_from_slice(&checksum.to_be_bytes());
        ip.extend_from_slice(&5353u16.to_be_bytes());
        ip.extend_from_slice(&5353u16.to_be_bytes());
        ip.extend_from_slice(&(udp_len as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 0]); // no UDP checksum
        ip.extend_from_slice(payload);
        out.extend_from_slice(&(i as u32).to_le_bytes()); // one frame per second
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(ip.len() as u32).to_le_bytes());
        out.extend_from_slice(&(ip.len() as u32).to_le_bytes());
        out.extend_from_slice(&ip);
    }
    std::fs::write(path, out).unwrap();
}

/// Whether tshark cannot run here: the Windows build of these tests (run under Wine on the CI
/// machine) cannot start the Linux tshark. Says so on stderr; the caller then skips its
/// tshark part (the same test runs with tshark on Linux).
fn tshark_unavailable(test: &str) -> bool {
    if cfg!(windows) {
        eprintln!(
            "{test}: tshark part skipped: tshark is not run by the Windows build (it runs on Linux)"
        );
        return true;
    }
    false
}

fn tshark(args: &[&str]) -> String {
    let output = Command::new("tshark").args(args).output().unwrap_or_else(|e| {
        panic!("tshark is required for the golden-packet tests (Debian: apt-get install tshark): {e}")
    });
    assert!(
        output.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn temp_pcap(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("dnssd-wire-{tag}-{}.pcap", std::process::id()))
}

const FIELDS: &[&str] = &[
    "dns.flags",
    "dns.count.queries",
    "dns.count.answers",
    "dns.count.auth_rr",
    "dns.count.add_rr",
    "dns.qry.name",
    "dns.qry.type",
    "dns.qry.qu",
    "dns.resp.name",
    "dns.resp.type",
    "dns.resp.cache_flush",
    "dns.resp.ttl",
    "dns.ptr.domain_name",
    "dns.srv.port",
    "dns.srv.target",
    "dns.txt",
    "dns.a",
    "dns.aaaa",
    "dns.nsec.next_domain_name",
];

/// Fields whose repeated values tshark prints once per packet, not always in packet order:
/// compared as sorted sets.
const DEDUPLICATED: &[&str] = &[
    "dns.qry.name",
    "dns.resp.name",
    "dns.ptr.domain_name",
    "dns.srv.target",
    "dns.txt",
    "dns.nsec.next_domain_name",
    "dns.a",
    "dns.aaaa",
];

/// tshark's dissection: per packet, per field, the list of values.
fn dissect(payloads: &[Vec<u8>], tag: &str) -> Vec<Vec<Vec<String>>> {
    let pcap = temp_pcap(tag);
    write_pcap(&pcap, payloads);
    let mut args = vec![
        "-r",
        pcap.to_str().unwrap(),
        "-T",
        "fields",
        "-E",
        "separator=/t",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=|",
    ];
    for f in FIELDS {
        args.push("-e");
        args.push(f);
    }
    let text = tshark(&args);
    std::fs::remove_file(&pcap).ok();
    let rows: Vec<Vec<Vec<String>>> = text
        .lines()
        .map(|line| {
            line.split('\t')
                .zip(FIELDS)
                .map(|(v, f)| {
                    let mut values: Vec<String> = if v.is_empty() {
                        Vec::new()
                    } else {
                        v.split('|').map(str::to_owned).collect()
                    };
                    if DEDUPLICATED.contains(f) {
                        sorted_set(&mut values);
                    }
                    values
                })
                .collect()
        })
        .collect();
    assert_eq!(
        rows.len(),
        payloads.len(),
        "tshark did not dissect every packet"
    );
    rows
}

fn sorted_set(values: &mut Vec<String>) {
    values.sort();
    values.dedup();
}

/// tshark shows names without escapes and without the trailing dot.
fn plain(name: &Name) -> String {
    name.labels()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect::<Vec<_>>()
        .join(".")
}

/// The same fields, from our parse.
fn our_fields(msg: &Message) -> Vec<Vec<String>> {
    let records: Vec<&Record> = msg
        .answers
        .iter()
        .chain(&msg.authorities)
        .chain(&msg.additionals)
        .collect();
    let mut f: Vec<Vec<String>> = vec![Vec::new(); FIELDS.len()];
    f[0].push(format!("0x{:04x}", msg.header.flags));
    f[1].push(msg.questions.len().to_string());
    f[2].push(msg.answers.len().to_string());
    f[3].push(msg.authorities.len().to_string());
    f[4].push(msg.additionals.len().to_string());
    for q in &msg.questions {
        f[5].push(plain(&q.name));
        f[6].push(q.qtype.0.to_string());
        f[7].push(u8::from(q.unicast_response).to_string());
    }
    for r in &records {
        f[8].push(if r.name.is_root() {
            "<Root>".to_owned()
        } else {
            plain(&r.name)
        });
        f[9].push(r.rtype().0.to_string());
        // tshark lists NSEC bitmap types under the same field, after the record's own type.
        if let RData::Nsec { types, .. } = &r.rdata {
            f[9].extend(types.iter().map(|t| t.0.to_string()));
        }
        f[10].push(u8::from(r.cache_flush).to_string());
        // OPT's TTL field holds extended flags, which tshark shows elsewhere.
        if r.rtype() != RecordType::OPT {
            f[11].push(r.ttl.to_string());
        }
        match &r.rdata {
            RData::Ptr(n) => f[12].push(plain(n)),
            RData::Srv { port, target, .. } => {
                f[13].push(port.to_string());
                f[14].push(plain(target));
            }
            RData::Txt(raw) => {
                let mut rest = raw.as_slice();
                while let Some((&len, tail)) = rest.split_first() {
                    let (s, after) = tail.split_at(usize::from(len));
                    f[15].push(String::from_utf8_lossy(s).into_owned());
                    rest = after;
                }
            }
            RData::A(a) => f[16].push(a.to_string()),
            RData::Aaaa(a) => f[17].push(a.to_string()),
            RData::Nsec { next, .. } => f[18].push(plain(next)),
            RData::Unknown { .. } => {}
        }
    }
    for (values, name) in f.iter_mut().zip(FIELDS) {
        if DEDUPLICATED.contains(name) {
            sorted_set(values);
        }
    }
    f
}

#[test]
fn golden_packets_parse_like_tshark_dissects_them() {
    if tshark_unavailable("golden_packets_parse_like_tshark_dissects_them") {
        return;
    }
    let golden = golden_packets();
    let payloads: Vec<Vec<u8>> = golden.iter().map(|(_, b)| b.clone()).collect();
    let theirs = dissect(&payloads, "golden");
    let mut records = 0;
    for ((file, bytes), their_fields) in golden.iter().zip(&theirs) {
        let msg = Message::parse(bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(msg.dropped_records, 0, "{file}");
        records += msg.answers.len() + msg.authorities.len() + msg.additionals.len();
        let ours = our_fields(&msg);
        for ((name, mine), theirs) in FIELDS.iter().zip(&ours).zip(their_fields) {
            assert_eq!(mine, theirs, "{file}: field {name}");
        }
    }
    assert!(
        records >= 40,
        "only {records} records in the golden packets"
    );
}

#[test]
fn golden_packets_hold_what_the_peers_registered() {
    let golden = golden_packets();
    let all: Vec<Message> = golden
        .iter()
        .map(|(_, b)| Message::parse(b).unwrap())
        .collect();
    let records = || {
        all.iter()
            .flat_map(|m| m.answers.iter().chain(&m.authorities).chain(&m.additionals))
    };
    for (instance, port, host) in [
        ("Golden Avahi._http._tcp.local", 8081, "golden-avahi.local"),
        ("Golden Zeroconf._http._tcp.local", 8080, "golden-zc.local"),
    ] {
        let instance = Name::from_dotted(instance).unwrap();
        assert!(
            records().any(|r| r.rdata == RData::Ptr(instance.clone())),
            "{instance}: no PTR"
        );
        assert!(
            records().any(|r| r.name == instance
                && r.rdata
                    == RData::Srv {
                        priority: 0,
                        weight: 0,
                        port,
                        target: Name::from_dotted(host).unwrap()
                    }),
            "{instance}: no SRV"
        );
        let txt = records()
            .find(|r| r.name == instance && r.rtype() == RecordType::TXT)
            .expect("TXT");
        let RData::Txt(raw) = &txt.rdata else {
            unreachable!()
        };
        assert!(
            raw.windows(13).any(|w| w == b"\x0cpath=/golden"),
            "{instance}: TXT {raw:?}"
        );
        assert!(records().any(|r| r.name == Name::from_dotted(host).unwrap()
            && r.rdata == RData::A(Ipv4Addr::LOCALHOST)));
    }
    // python-zeroconf sends NSEC negative answers; Avahi probes with ANY questions; both
    // set the cache-flush bit on unique records and the QU bit on first queries.
    assert!(
        records().any(
            |r| matches!(&r.rdata, RData::Nsec { types, .. } if types.contains(&RecordType::A))
        )
    );
    assert!(all.iter().any(|m| !m.header.is_response()
        && !m.authorities.is_empty()
        && m.questions.iter().any(|q| q.qtype == RecordType::ANY)));
    assert!(records().any(|r| r.cache_flush));
    assert!(
        all.iter()
            .flat_map(|m| &m.questions)
            .any(|q| q.unicast_response)
    );
}

#[test]
fn golden_packets_round_trip_through_our_encoder() {
    let golden = golden_packets();
    let mut reencoded = Vec::new();
    for (file, bytes) in &golden {
        let msg = Message::parse(bytes).unwrap();
        let ours = msg.encode().unwrap();
        assert_eq!(Message::parse(&ours).unwrap(), msg, "{file}");
        // Our compression is at least as good as theirs.
        assert!(
            ours.len() <= bytes.len(),
            "{file}: {} > {}",
            ours.len(),
            bytes.len()
        );
        reencoded.push(ours);
    }
    // tshark sees the same content in our encoding as in theirs.
    if tshark_unavailable("golden_packets_round_trip_through_our_encoder") {
        return;
    }
    let originals: Vec<Vec<u8>> = golden.iter().map(|(_, b)| b.clone()).collect();
    assert_eq!(
        dissect(&reencoded, "reencoded"),
        dissect(&originals, "originals")
    );
}

fn record(owner: &str, ttl: u32, cache_flush: bool, rdata: RData) -> Record {
    Record {
        name: Name::from_dotted(owner).unwrap(),
        class: CLASS_IN,
        cache_flush,
        ttl,
        rdata,
    }
}

/// Messages our engine sends: announcements, probes, known-answer queries, goodbyes, a full
/// 9000-byte response, NSEC in both bitmap forms, opaque types.
fn our_messages() -> Vec<Vec<u8>> {
    let instance = "My\\.Web Box._http._tcp.local";
    let host = "box.local";
    let service = vec![
        record(
            "_http._tcp.local",
            4500,
            false,
            RData::Ptr(Name::from_dotted(instance).unwrap()),
        ),
        record(
            "_services._dns-sd._udp.local",
            4500,
            false,
            RData::Ptr(Name::from_dotted("_http._tcp.local").unwrap()),
        ),
        record(
            "_printer._sub._http._tcp.local",
            4500,
            false,
            RData::Ptr(Name::from_dotted(instance).unwrap()),
        ),
        record(
            instance,
            120,
            true,
            RData::Srv {
                priority: 0,
                weight: 0,
                port: 8080,
                target: Name::from_dotted(host).unwrap(),
            },
        ),
        record(
            instance,
            4500,
            true,
            RData::Txt(b"\x0bpath=/index\x04v=42\x04flag\x00".to_vec()),
        ),
        record(host, 120, true, RData::A(Ipv4Addr::new(192, 168, 1, 20))),
        record(
            host,
            120,
            true,
            RData::Aaaa("fe80::1".parse::<Ipv6Addr>().unwrap()),
        ),
        record(
            host,
            120,
            true,
            RData::Nsec {
                next: Name::from_dotted(host).unwrap(),
                types: vec![RecordType::A, RecordType::AAAA],
            },
        ),
        record(
            instance,
            4500,
            true,
            RData::Nsec {
                next: Name::from_dotted(instance).unwrap(),
                types: vec![RecordType::TXT, RecordType::SRV],
            },
        ),
        record(
            "odd.local",
            120,
            true,
            RData::Nsec {
                next: Name::from_dotted("odd.local").unwrap(),
                types: vec![RecordType(1), RecordType(0x0101), RecordType(65281)],
            },
        ),
        record("odd.local", 120, true, RData::Txt(vec![0])),
        record(
            "odd.local",
            120,
            true,
            RData::Unknown {
                rtype: RecordType::HINFO,
                data: b"\x03X86\x05LINUX".to_vec(),
            },
        ),
        record(
            "\\195\\169t\\195\\169.local",
            120,
            true,
            RData::A(Ipv4Addr::new(10, 0, 0, 1)),
        ),
    ];
    let mut out = Vec::new();
    // Announcement.
    let mut w = MessageWriter::new(Header::response(), 9000);
    for r in &service {
        w.push_answer(r).unwrap();
    }
    w.push_additional(&Record {
        name: Name::root(),
        class: 1440,
        cache_flush: false,
        ttl: 0,
        rdata: RData::Unknown {
            rtype: RecordType::OPT,
            data: vec![],
        },
    })
    .unwrap();
    out.push(w.finish());
    // Probe: ANY QU questions, proposals in Authority.
    let mut w = MessageWriter::new(Header::query(), 9000);
    for name in [instance, host] {
        w.push_question(&Question {
            name: Name::from_dotted(name).unwrap(),
            qtype: RecordType::ANY,
            qclass: CLASS_IN,
            unicast_response: true,
        })
        .unwrap();
    }
    for r in service.iter().filter(|r| r.cache_flush) {
        w.push_authority(&Record {
            cache_flush: false,
            ..r.clone()
        })
        .unwrap();
    }
    out.push(w.finish());
    // Query with 50 known answers, TC set (more follow).
    let mut w = MessageWriter::new(Header::query().with_truncated(true), 9000);
    w.push_question(&Question {
        name: Name::from_dotted("_http._tcp.local").unwrap(),
        qtype: RecordType::PTR,
        qclass: CLASS_IN,
        unicast_response: false,
    })
    .unwrap();
    for i in 0..50 {
        let target = Name::from_dotted(&format!("Known {i:02}._http._tcp.local")).unwrap();
        w.push_answer(&record("_http._tcp.local", 3000, false, RData::Ptr(target)))
            .unwrap();
    }
    out.push(w.finish());
    // Goodbye.
    let mut w = MessageWriter::new(Header::response(), 1460);
    w.push_answer(&record(
        "_http._tcp.local",
        0,
        false,
        RData::Ptr(Name::from_dotted(instance).unwrap()),
    ))
    .unwrap();
    out.push(w.finish());
    // Legacy unicast reply: echoed ID and question, no cache-flush, TTL 10.
    let mut w = MessageWriter::new(
        Header {
            id: 0xBEEF,
            flags: 0x8400,
        },
        9000,
    );
    w.push_question(&Question {
        name: Name::from_dotted(host).unwrap(),
        qtype: RecordType::A,
        qclass: CLASS_IN,
        unicast_response: false,
    })
    .unwrap();
    w.push_answer(&record(
        host,
        10,
        false,
        RData::A(Ipv4Addr::new(192, 168, 1, 20)),
    ))
    .unwrap();
    out.push(w.finish());
    // A response filled to 9000 bytes.
    let mut w = MessageWriter::new(Header::response(), 9000);
    for i in 0.. {
        let instance = Name::from_dotted(&format!("Service {i:04}._http._tcp.local")).unwrap();
        let r = record("_http._tcp.local", 4500, false, RData::Ptr(instance));
        if w.push_answer(&r).is_err() {
            break;
        }
    }
    assert!(w.len() > 8970);
    out.push(w.finish());
    out
}

/// Lines where tshark reports a malformed packet or an error/warning, over all `payloads`.
fn tshark_complaints(payloads: &[Vec<u8>], tag: &str) -> Vec<String> {
    let pcap = temp_pcap(tag);
    write_pcap(&pcap, payloads);
    let text = tshark(&["-r", pcap.to_str().unwrap(), "-V"]);
    std::fs::remove_file(&pcap).ok();
    let frames = text.lines().filter(|l| l.starts_with("Frame ")).count();
    assert_eq!(frames, payloads.len());
    assert_eq!(
        text.matches("Multicast Domain Name System").count(),
        payloads.len()
    );
    text.lines()
        .filter(|l| {
            l.contains("Malformed")
                || l.contains("Expert Info (Error")
                || l.contains("Expert Info (Warning")
        })
        // Every mDNS message has ID 0, which tshark's DNS transaction tracking calls a
        // retransmission: not a complaint about the encoding.
        .filter(|l| !l.contains("retransmission"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn tshark_check_catches_a_malformed_packet() {
    if tshark_unavailable("tshark_check_catches_a_malformed_packet") {
        return;
    }
    // An A record whose rdlength runs past the datagram.
    let mut bad = vec![0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0];
    bad.extend_from_slice(b"\x01h\x05local\x00\x00\x01\x00\x01\x00\x00\x00\x78\x00\x08\x0a\x00");
    let complaints = tshark_complaints(&[bad], "malformed");
    assert!(
        complaints.iter().any(|l| l.contains("Malformed")),
        "{complaints:?}"
    );
}

#[test]
fn tshark_accepts_our_encoder_output() {
    if tshark_unavailable("tshark_accepts_our_encoder_output") {
        return;
    }
    let mut payloads = our_messages();
    for (_, bytes) in golden_packets() {
        payloads.push(Message::parse(&bytes).unwrap().encode().unwrap());
    }
    let complaints = tshark_complaints(&payloads, "ours");
    assert!(
        complaints.is_empty(),
        "tshark complains about our packets: {complaints:#?}"
    );
    // And it reads back what we meant.
    for (bytes, fields) in payloads.iter().zip(dissect(&payloads, "ours-fields")) {
        assert_eq!(our_fields(&Message::parse(bytes).unwrap()), fields);
    }
}
