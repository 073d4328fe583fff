//! Hostile input (SECURITY.md): off-link sources, bad ports, opcode/rcode, floods under caps.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests"
)]
mod net;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use dnssd_engine::wire::{CLASS_IN, Header, Message, RData, Record, RecordType};
use dnssd_engine::{Destination, Family, Instant};
use net::*;

fn setup() -> Net {
    let mut net = Net::new(31, 1);
    net.engine(0)
        .register(Instant::ZERO, spec("Web", "_http._tcp", 80))
        .unwrap();
    net.run_for(Duration::from_secs(10));
    net
}

#[test]
fn off_link_queries_get_silence_on_link_get_answers() {
    // rows 5, 37; VU#550620
    let mut net = setup();
    let t0 = net.now;
    for src in ["192.168.9.9:5353", "192.168.9.9:40000", "8.8.8.8:5353"] {
        net.inject_msg(
            0,
            src.parse().unwrap(),
            &query("Web._http._tcp.local", RecordType::SRV),
        );
        let bytes = query("Web._http._tcp.local", RecordType::SRV)
            .encode()
            .unwrap();
        net.inject(
            0,
            src.parse().unwrap(),
            Destination::Unicast("10.0.0.1:5353".parse().unwrap()),
            &bytes,
        );
    }
    net.run_for(Duration::from_secs(2));
    assert!(
        !net.sent_by(0).into_iter().any(|s| s.at >= t0),
        "off-link: silence"
    );
    assert_eq!(net.engine(0).stats().dropped_off_link, 6);
    net.inject_msg(
        0,
        "10.0.0.9:40000".parse().unwrap(),
        &query("Web._http._tcp.local", RecordType::SRV),
    );
    net.run_for(Duration::from_millis(100));
    assert!(
        net.sent_by(0).into_iter().any(|s| s.at >= t0),
        "on-link: answered"
    );
}

#[test]
fn spoofed_responses_from_bad_ports_or_off_link_leave_cache_unchanged() {
    // row 10, SECURITY response spoofing
    let mut net = setup();
    let resp = Message {
        header: Header::response(),
        answers: vec![Record {
            name: name("evil.local"),
            class: CLASS_IN,
            cache_flush: true,
            ttl: 120,
            rdata: RData::A(Ipv4Addr::new(1, 2, 3, 4)),
        }],
        ..Message::default()
    };
    let base = net.engine(0).cache_len(); // our own records (local delivery)
    net.inject_msg(0, "10.0.0.9:5354".parse().unwrap(), &resp);
    net.inject_msg(0, "172.16.0.1:5353".parse().unwrap(), &resp);
    net.inject_msg(0, "10.0.0.9:0".parse().unwrap(), &resp);
    // Unicast response nobody asked for (row 11).
    net.inject(
        0,
        "10.0.0.9:5353".parse().unwrap(),
        Destination::Unicast("10.0.0.1:5353".parse().unwrap()),
        &resp.encode().unwrap(),
    );
    assert_eq!(net.engine(0).cache_len(), base);
    let st = net.engine(0).stats();
    assert_eq!(st.dropped_bad_port, 2);
    assert_eq!(st.dropped_off_link, 1);
    assert_eq!(st.dropped_unsolicited_unicast, 1);
    net.inject_msg(0, "10.0.0.9:5353".parse().unwrap(), &resp);
    assert_eq!(net.engine(0).cache_len(), base + 1);
}

#[test]
fn opcode_rcode_nonzero_and_degenerate_datagrams_dropped_responses_never_answered() {
    // rows 8, 40; CVE-2011-1002
    let mut net = setup();
    let t0 = net.now;
    let src: SocketAddr = "10.0.0.9:5353".parse().unwrap();
    let mut m = query("Web._http._tcp.local", RecordType::SRV);
    m.header.flags |= 0x2 << 11; // opcode 2
    net.inject_msg(0, src, &m);
    let mut m = query("Web._http._tcp.local", RecordType::SRV);
    m.header.flags |= 3; // rcode 3
    net.inject_msg(0, src, &m);
    // A response carrying a question: never answered.
    let mut m = query("Web._http._tcp.local", RecordType::SRV);
    m.header = Header::response();
    net.inject_msg(0, src, &m);
    for bytes in [&[][..], &[0u8][..], &[0u8; 12][..], &[0xffu8; 13][..]] {
        net.nodes[0].engine.handle_datagram(
            net.now,
            IFACE,
            src,
            Destination::Multicast(Family::V4),
            bytes,
        );
    }
    net.run_for(Duration::from_secs(2));
    assert!(!net.sent_by(0).into_iter().any(|s| s.at >= t0));
    let st = net.engine(0).stats();
    assert_eq!(st.dropped_opcode_rcode, 2);
    assert!(st.malformed >= 3, "{st:?}");
    assert!(
        net.engine(0).poll_timeout().is_none_or(|t| t > net.now),
        "idle after garbage"
    );
}

#[test]
fn flood_of_unique_records_and_questions_from_10k_sources_stays_under_caps() {
    let mut net = setup();
    let cap = dnssd_engine::Limits::default().max_cache_records;
    for i in 0..100_000u32 {
        let src = SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2 + (i % 200) as u8)),
            5353,
        );
        let _ = 10_000; // sources cycle over the /24 (the rest would be off-link)
        let resp = Message {
            header: Header::response(),
            answers: vec![Record {
                name: name(&format!("n{i}.local")),
                class: CLASS_IN,
                cache_flush: false,
                ttl: 4500,
                rdata: RData::A(Ipv4Addr::from(i)),
            }],
            ..Message::default()
        };
        let bytes = resp.encode().unwrap();
        net.nodes[0].engine.handle_datagram(
            net.now,
            IFACE,
            src,
            Destination::Multicast(Family::V4),
            &bytes,
        );
        let mut query = query(&format!("q{i}.local"), RecordType::A);
        query.header = query.header.with_truncated(i % 2 == 0);
        let bytes = query.encode().unwrap();
        net.nodes[0].engine.handle_datagram(
            net.now,
            IFACE,
            src,
            Destination::Multicast(Family::V4),
            &bytes,
        );
    }
    let e = net.engine(0);
    assert!(e.cache_len() <= cap);
    assert!(e.stats().cache_evictions >= 100_000 - cap as u64);
    assert_eq!(
        e.question_count(),
        0,
        "peer questions create no state of ours"
    );
    // 10k spoofed off-link sources: all dropped.
    for i in 0..10_000u32 {
        let src = SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0x0b00_0000 + i)), 5353);
        net.nodes[0].engine.handle_datagram(
            net.now,
            IFACE,
            src,
            Destination::Multicast(Family::V4),
            &query("Web._http._tcp.local", RecordType::SRV)
                .encode()
                .unwrap(),
        );
    }
    assert_eq!(net.engine(0).stats().dropped_off_link, 10_000);
}

#[test]
fn direct_unicast_query_from_on_link_gets_unicast_reply() {
    // row 5: a query sent to our unicast address counts as QU
    let mut net = setup();
    net.run_for(Duration::from_secs(60)); // long after the announcements
    let t0 = net.now;
    let src: SocketAddr = "10.0.0.9:5353".parse().unwrap();
    let bytes = query("Web._http._tcp.local", RecordType::SRV)
        .encode()
        .unwrap();
    net.inject(
        0,
        src,
        Destination::Unicast("10.0.0.1:5353".parse().unwrap()),
        &bytes,
    );
    net.run_for(Duration::from_millis(50));
    let r: Vec<_> = net
        .sent_by(0)
        .into_iter()
        .filter(|s| s.at >= t0)
        .cloned()
        .collect();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].transmit.destination, Destination::Unicast(src));
}
