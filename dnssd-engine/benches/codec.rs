//! Parse and encode of mDNS-shaped packets: our `wire` codec against hickory-proto and
//! simple-dns, on the same bytes, in one run.
//!
//! Like for like: "parse" ends with owned records the engine could cache (hickory's
//! `Message` is owned; simple-dns is zero-copy, so it is measured both borrowed and
//! followed by `into_owned()` on every question and record). "encode" writes the parsed
//! message back with name compression.
//!
//! Run: `cargo bench -p dnssd-engine --bench codec` (add `-- --quick` for a short run).
//! The figures and the decision are in the `dnssd_engine::wire` module docs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmark fixtures are known to be valid"
)]

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use criterion::{Criterion, criterion_group};
use dnssd_engine::wire::{
    CLASS_IN, Header, Message, MessageWriter, Name, Question, RData, Record, RecordType,
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

fn service_records(i: usize, out: &mut Vec<Record>) {
    let instance = format!("Living Room Speaker {i:04}._http._tcp.local");
    let host = format!("speaker-{i:04}.local");
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
            port: 8080,
            target: name(&host),
        },
    ));
    out.push(record(
        &instance,
        4500,
        true,
        RData::Txt(b"\x0bpath=/index\x0emodel=SPK-2000\x04v=42".to_vec()),
    ));
    out.push(record(
        &host,
        120,
        true,
        RData::A(Ipv4Addr::new(192, 168, (i >> 8) as u8, i as u8)),
    ));
}

/// PTR + SRV + TXT + A + AAAA: one service announced.
fn typical_response() -> Vec<u8> {
    let mut answers = Vec::new();
    service_records(1, &mut answers);
    let aaaa = record(
        "speaker-0001.local",
        120,
        true,
        RData::Aaaa("fe80::1c2d:3e4f:5a6b:7c8d".parse::<Ipv6Addr>().unwrap()),
    );
    let additionals = vec![answers.pop().unwrap(), aaaa];
    Message {
        header: Header::response(),
        answers,
        additionals,
        ..Message::default()
    }
    .encode()
    .unwrap()
}

/// As many services (PTR + SRV + TXT + A each) as fit in 9000 bytes.
fn big_response() -> Vec<u8> {
    let mut w = MessageWriter::new(Header::response(), 9000);
    'fill: for i in 0.. {
        let mut records = Vec::new();
        service_records(i, &mut records);
        for r in &records {
            if w.push_answer(r).is_err() {
                break 'fill;
            }
        }
    }
    w.finish()
}

/// A browse query carrying 50 known answers.
fn known_answer_query() -> Vec<u8> {
    let mut w = MessageWriter::new(Header::query(), 9000);
    w.push_question(&Question {
        name: name("_http._tcp.local"),
        qtype: RecordType::PTR,
        qclass: CLASS_IN,
        unicast_response: false,
    })
    .unwrap();
    for i in 0..50 {
        let target = name(&format!("Living Room Speaker {i:04}._http._tcp.local"));
        w.push_answer(&record("_http._tcp.local", 3000, false, RData::Ptr(target)))
            .unwrap();
    }
    w.finish()
}

fn simple_dns_owned(
    bytes: &[u8],
) -> (
    Vec<simple_dns::Question<'static>>,
    Vec<simple_dns::ResourceRecord<'static>>,
) {
    let p = simple_dns::Packet::parse(bytes).unwrap();
    let questions = p
        .questions
        .into_iter()
        .map(simple_dns::Question::into_owned)
        .collect();
    let records = p
        .answers
        .into_iter()
        .chain(p.name_servers)
        .chain(p.additional_records)
        .map(simple_dns::ResourceRecord::into_owned)
        .collect();
    (questions, records)
}

fn packets() -> [(&'static str, Vec<u8>); 3] {
    [
        ("typical_response", typical_response()),
        ("response_9000", big_response()),
        ("query_50_known_answers", known_answer_query()),
    ]
}

/// One measured operation: `(operation, codec)` names and the work on one packet.
type Case = (&'static str, &'static str, Box<dyn Fn()>);

fn cases(bytes: &[u8]) -> Vec<Case> {
    let ours = Message::parse(bytes).unwrap();
    let hickory = hickory_proto::op::Message::from_vec(bytes).unwrap();
    let simple_bytes: &'static [u8] = Box::leak(bytes.to_vec().into_boxed_slice());
    let simple = simple_dns::Packet::parse(simple_bytes).unwrap();
    let b1 = bytes.to_vec();
    let b2 = bytes.to_vec();
    let b3 = bytes.to_vec();
    let b4 = bytes.to_vec();
    vec![
        (
            "parse",
            "ours",
            Box::new(move || drop(black_box(Message::parse(black_box(&b1)).unwrap()))),
        ),
        (
            "parse",
            "hickory",
            Box::new(move || {
                drop(black_box(
                    hickory_proto::op::Message::from_vec(black_box(&b2)).unwrap(),
                ))
            }),
        ),
        (
            "parse",
            "simple_dns_owned",
            Box::new(move || drop(black_box(simple_dns_owned(black_box(&b3))))),
        ),
        (
            "parse",
            "simple_dns_borrowed",
            Box::new(move || {
                drop(black_box(
                    simple_dns::Packet::parse(black_box(&b4)).unwrap(),
                ))
            }),
        ),
        (
            "encode",
            "ours",
            Box::new(move || drop(black_box(black_box(&ours).encode().unwrap()))),
        ),
        (
            "encode",
            "hickory",
            Box::new(move || drop(black_box(black_box(&hickory).to_vec().unwrap()))),
        ),
        (
            "encode",
            "simple_dns",
            Box::new(move || {
                drop(black_box(
                    black_box(&simple).build_bytes_vec_compressed().unwrap(),
                ))
            }),
        ),
    ]
}

fn codec(c: &mut Criterion) {
    for (label, bytes) in &packets() {
        // Every codec must read every record of the packet, or the comparison is void.
        let ours = Message::parse(bytes).unwrap();
        assert_eq!(ours.dropped_records, 0);
        let hickory = hickory_proto::op::Message::from_vec(bytes).unwrap();
        let simple = simple_dns::Packet::parse(bytes).unwrap();
        let n = ours.answers.len() + ours.additionals.len();
        assert_eq!(hickory.answers().len() + hickory.additionals().len(), n);
        assert_eq!(simple.answers.len() + simple.additional_records.len(), n);
        eprintln!(
            "{label}: {} bytes, {} questions, {} records; re-encoded sizes: ours {} hickory {} simple-dns {}",
            bytes.len(),
            ours.questions.len(),
            n,
            ours.encode().unwrap().len(),
            hickory.to_vec().unwrap().len(),
            simple.build_bytes_vec_compressed().unwrap().len()
        );
        let all = cases(bytes);
        for op in ["parse", "encode"] {
            let mut g = c.benchmark_group(format!("{op}/{label}"));
            for (_, codec, work) in all.iter().filter(|(o, _, _)| *o == op) {
                g.bench_function(*codec, |b| b.iter(work));
            }
            g.finish();
        }
    }
}

/// `CODEC_COUNT=op/packet/codec:N` runs that one case N times and exits, for counting
/// instructions under `valgrind --tool=callgrind` (wall-clock figures are noisy on a shared
/// 2-core machine; instruction counts are not). Run with N and with 0 and subtract.
fn count_mode() -> bool {
    let Ok(spec) = std::env::var("CODEC_COUNT") else {
        return false;
    };
    let (case, n) = spec.split_once(':').unwrap();
    let n: usize = n.parse().unwrap();
    let mut parts = case.split('/');
    let (op, packet, codec) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let (_, bytes) = packets().into_iter().find(|(l, _)| *l == packet).unwrap();
    let (_, _, work) = cases(&bytes)
        .into_iter()
        .find(|(o, c, _)| *o == op && *c == codec)
        .unwrap();
    for _ in 0..n {
        work();
    }
    true
}

fn main() {
    if count_mode() {
        return;
    }
    group::benches();
    Criterion::default().configure_from_args().final_summary();
}

// criterion_group! generates an undocumented `fn benches`.
#[allow(missing_docs)]
mod group {
    use super::*;
    criterion_group! {
        name = benches;
        // Two cores shared with other builds: short, many-sample runs; compare ratios, not
        // absolute times.
        config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(30);
        targets = codec
    }
}
