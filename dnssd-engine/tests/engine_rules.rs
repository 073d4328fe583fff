//! Finer RFC 6762 rules on the simulated link (CONFORMANCE rows noted per test).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests"
)]
mod net;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use dnssd_engine::wire::{CLASS_IN, Header, Message, Question, RData, Record, RecordType};
use dnssd_engine::{
    Config, Destination, Engine, Event, Family, Instant, InterfaceAddress, InterfaceConfig,
    InterfaceId,
};
use net::*;

fn ptr(ttl: u32) -> Record {
    Record {
        name: name("_http._tcp.local"),
        class: CLASS_IN,
        cache_flush: false,
        ttl,
        rdata: RData::Ptr(name("Web._http._tcp.local")),
    }
}

#[test]
fn never_answers_from_cache_of_other_hosts() {
    // row 6
    let mut net = Net::new(41, 2);
    net.engine(0)
        .register(Instant::ZERO, spec("Web", "_http._tcp", 80))
        .unwrap();
    net.run_for(Duration::from_secs(5));
    assert!(
        net.engine(1).cache_len() > 0,
        "node 1 cached node 0's announcements"
    );
    net.nodes[0].engine = Engine::new(Config::default()); // node 0 goes silent
    let t0 = net.now;
    net.inject_msg(1, peer(), &query("_http._tcp.local", RecordType::PTR));
    net.inject_msg(1, peer(), &query("Web._http._tcp.local", RecordType::SRV));
    net.run_for(Duration::from_secs(1));
    assert!(
        !net.sent_by(1)
            .into_iter()
            .any(|s| s.at >= t0 && s.is_response())
    );
}

#[test]
fn duplicate_answer_suppression_peer_answers_first() {
    // row 23 (§7.4)
    let mut net = Net::new(42, 1);
    net.engine(0)
        .register(Instant::ZERO, spec("Web", "_http._tcp", 80))
        .unwrap();
    net.run_for(Duration::from_secs(10));
    let t0 = net.now;
    net.inject_msg(0, peer(), &query("_http._tcp.local", RecordType::PTR));
    // Another responder answers the same PTR within the 20 ms minimum delay.
    net.run_for(Duration::from_millis(10));
    let resp = Message {
        header: Header::response(),
        answers: vec![ptr(4500)],
        ..Message::default()
    };
    net.inject_msg(0, "10.0.0.201:5353".parse().unwrap(), &resp);
    net.run_for(Duration::from_millis(500));
    assert!(
        !net.sent_by(0)
            .into_iter()
            .any(|s| s.at >= t0 && s.is_response())
    );
    assert_eq!(net.engine(0).stats().duplicate_answers_suppressed, 1);
}

#[test]
fn duplicate_question_suppression_peer_asks_first() {
    // row 23 (§7.3)
    let mut net = Net::new(43, 1);
    net.run_for(Duration::from_secs(5));
    let t0 = net.now;
    net.engine(0).browse(t0, "_ipp._tcp", None).unwrap();
    net.run_for(Duration::from_millis(500)); // first query out (20-120 ms), next due ~1 s later
    let first = net
        .sent_by(0)
        .into_iter()
        .find(|s| s.at >= t0 && !s.is_response())
        .unwrap()
        .at;
    let mut q = query("_ipp._tcp.local", RecordType::PTR);
    q.questions[0].unicast_response = false;
    net.inject_msg(0, peer(), &q);
    net.run_for(Duration::from_secs(1));
    let second = net
        .sent_by(0)
        .into_iter()
        .filter(|s| s.at > first && !s.is_response())
        .map(|s| s.at)
        .next();
    assert!(
        second.is_none_or(|t| t > first + Duration::from_millis(1500)),
        "our query counted as sent: {second:?}"
    );
}

#[test]
fn multi_packet_aggregation_of_100_answers() {
    // rows 17, 39
    let mut net = Net::new(44, 1);
    for i in 0..100 {
        net.engine(0)
            .register(Instant::ZERO, spec(&format!("S{i}"), "_http._tcp", 80))
            .unwrap();
    }
    net.run_for(Duration::from_secs(10));
    let t0 = net.now;
    net.inject_msg(0, peer(), &query("_http._tcp.local", RecordType::PTR));
    net.run_for(Duration::from_secs(1));
    let resp: Vec<_> = net
        .sent_by(0)
        .into_iter()
        .filter(|s| s.at >= t0)
        .cloned()
        .collect();
    let ptrs: usize = resp
        .iter()
        .map(|s| {
            s.msg
                .answers
                .iter()
                .filter(|r| r.rtype() == RecordType::PTR)
                .count()
        })
        .sum();
    assert_eq!(ptrs, 100);
    assert!(
        resp.len() <= 5,
        "{} packets for 100 PTR answers",
        resp.len()
    );
    assert!(resp.iter().all(|s| s.transmit.payload.len() <= 1440));
}

#[test]
fn large_txt_fits_in_one_datagram_up_to_9000_bytes() {
    // row 39
    let mut net = Net::new(45, 1);
    let mut s = spec("Big", "_http._tcp", 80);
    s.txt = (0..20)
        .flat_map(|_| {
            let mut v = vec![200u8];
            v.extend(std::iter::repeat_n(b'x', 200));
            v
        })
        .collect();
    net.engine(0).register(Instant::ZERO, s).unwrap();
    net.run_for(Duration::from_secs(10));
    let big: Vec<_> = net
        .sent_by(0)
        .into_iter()
        .filter(|s| {
            s.records()
                .any(|r| matches!(&r.rdata, RData::Txt(t) if t.len() > 4000))
        })
        .cloned()
        .collect();
    assert!(!big.is_empty());
    assert!(big.iter().all(|s| s.transmit.payload.len() <= 9000));
}

#[test]
fn case_insensitive_ascii_and_utf8_names() {
    // rows 38, 41
    let mut net = Net::new(46, 1);
    net.engine(0)
        .register(Instant::ZERO, spec("Café A.B \\ C", "_http._tcp", 80))
        .unwrap();
    net.run_for(Duration::from_secs(10));
    assert!(net.events_of(0).iter().any(
        |e| matches!(e, Event::RegistrationEstablished { name, .. } if name == "Café A.B \\ C")
    ));
    let inst = dnssd_engine::wire::Name::from_labels([
        "Café A.B \\ C".as_bytes(),
        b"_HTTP",
        b"_TCP",
        b"LOCAL",
    ])
    .unwrap();
    let t0 = net.now;
    net.inject_msg(
        0,
        peer(),
        &Message {
            header: Header::query(),
            questions: vec![Question {
                name: inst.clone(),
                qtype: RecordType::SRV,
                qclass: CLASS_IN,
                unicast_response: false,
            }],
            ..Message::default()
        },
    );
    net.run_for(Duration::from_millis(50));
    assert!(
        net.sent_by(0)
            .into_iter()
            .any(|s| s.at >= t0 && s.is_response()),
        "A-Z case-insensitive"
    );
    // Non-ASCII bytes are compared exactly: "CAFÉ" (É upper) is another name.
    let other = dnssd_engine::wire::Name::from_labels([
        "CAFÉ A.B \\ C".as_bytes(),
        b"_http",
        b"_tcp",
        b"local",
    ])
    .unwrap();
    let t1 = net.now;
    net.inject_msg(
        0,
        peer(),
        &Message {
            header: Header::query(),
            questions: vec![Question {
                name: other,
                qtype: RecordType::SRV,
                qclass: CLASS_IN,
                unicast_response: false,
            }],
            ..Message::default()
        },
    );
    net.run_for(Duration::from_millis(200));
    assert!(
        !net.sent_by(0)
            .into_iter()
            .any(|s| s.at >= t1 && s.is_response())
    );
}

#[test]
fn registration_without_txt_publishes_single_zero_byte() {
    // row 43
    let mut net = Net::new(47, 1);
    let mut s = spec("Empty", "_http._tcp", 80);
    s.txt = vec![];
    net.engine(0).register(Instant::ZERO, s).unwrap();
    net.run_for(Duration::from_secs(5));
    assert!(
        net.log
            .iter()
            .any(|s| s.records().any(|r| r.rdata == RData::Txt(vec![0])))
    );
}

#[test]
fn interface_flap_probes_and_announces_again() {
    // row 24
    let mut net = Net::new(48, 1);
    net.engine(0)
        .register(Instant::ZERO, spec("Web", "_http._tcp", 80))
        .unwrap();
    net.run_for(Duration::from_secs(10));
    let t0 = net.now;
    net.engine(0).remove_interface(t0, IFACE);
    net.engine(0).add_interface(
        t0,
        IFACE,
        InterfaceConfig {
            name: "sim0".into(),
            addresses: vec![InterfaceAddress::new(node_addr(0), 24)],
            v4: true,
            v6: false,
        },
    );
    net.run_for(Duration::from_secs(10));
    let web = name("Web._http._tcp.local");
    let probes = net
        .sent_by(0)
        .into_iter()
        .filter(|s| s.at >= t0 && s.is_probe() && has_record(s, &web, RecordType::SRV))
        .count();
    let ann = net
        .sent_by(0)
        .into_iter()
        .filter(|s| s.at >= t0 && s.is_response() && has_record(s, &web, RecordType::SRV))
        .count();
    assert_eq!(probes, 3);
    assert!(ann >= 2);
}

#[test]
fn poof_flushes_after_two_unanswered_queries_and_ten_seconds() {
    // row 36
    let mut net = Net::new(49, 2);
    net.engine(0)
        .register(Instant::ZERO, spec("Web", "_http._tcp", 80))
        .unwrap();
    net.run_for(Duration::from_secs(5));
    let now = net.now;
    let b = net.engine(1).browse(now, "_http._tcp", None).unwrap();
    net.run_for(Duration::from_secs(1));
    net.nodes[0].engine = Engine::new(Config::default()); // vanished without goodbye
    let t0 = net.now;
    net.inject_msg(1, peer(), &query("_http._tcp.local", RecordType::PTR));
    net.run_for(Duration::from_secs(1));
    net.inject_msg(1, peer(), &query("_http._tcp.local", RecordType::PTR));
    net.run_for(Duration::from_secs(12));
    let at = net
        .events
        .iter()
        .find_map(|(n, at, e)| {
            matches!(e, Event::BrowseRemoved { query, .. } if *query == b && *n == 1).then_some(*at)
        })
        .expect("POOF flushed");
    assert!(
        at - t0 >= Duration::from_secs(10) && at - t0 <= Duration::from_millis(10_100),
        "{:?}",
        at - t0
    );
}

#[test]
fn malformed_nsec_next_to_valid_a_keeps_the_a() {
    // row 14
    let mut net = Net::new(50, 1);
    let a = Record {
        name: name("x.local"),
        class: CLASS_IN,
        cache_flush: true,
        ttl: 120,
        rdata: RData::A(Ipv4Addr::new(10, 0, 0, 9)),
    };
    let nsec = Record {
        name: name("x.local"),
        class: CLASS_IN,
        cache_flush: true,
        ttl: 120,
        rdata: RData::Nsec {
            next: name("x.local"),
            types: vec![RecordType::A],
        },
    };
    let mut bytes = Message {
        header: Header::response(),
        answers: vec![a, nsec],
        ..Message::default()
    }
    .encode()
    .unwrap();
    let n = bytes.len();
    bytes[n - 2] = 33; // bitmap length beyond 32 and beyond rdlength
    let base = net.engine(0).cache_len();
    net.inject(
        0,
        "10.0.0.9:5353".parse().unwrap(),
        Destination::Multicast(Family::V4),
        &bytes,
    );
    assert_eq!(net.engine(0).cache_len(), base + 1, "the A record survives");
    assert_eq!(net.engine(0).stats().malformed_records, 1);
}

#[test]
fn two_interfaces_addresses_stay_on_their_interface_ipv6_link_local() {
    // rows 15, IPv4/IPv6 per interface
    let mut e = Engine::new(Config {
        host_name: "multi".into(),
        ..Config::default()
    });
    let v4 = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 5));
    let v6 = IpAddr::V6("fe80::5".parse::<Ipv6Addr>().unwrap());
    let other = IpAddr::V4(Ipv4Addr::new(172, 20, 0, 5));
    let now = Instant::ZERO;
    e.add_interface(
        now,
        InterfaceId(1),
        InterfaceConfig {
            name: "a".into(),
            addresses: vec![InterfaceAddress::new(v4, 24), InterfaceAddress::new(v6, 64)],
            v4: true,
            v6: true,
        },
    );
    e.add_interface(
        now,
        InterfaceId(2),
        InterfaceConfig {
            name: "b".into(),
            addresses: vec![InterfaceAddress::new(other, 16)],
            v4: true,
            v6: false,
        },
    );
    // A registration claims the host name.
    e.register(now, spec("Web", "_http._tcp", 80)).unwrap();
    let mut t = now;
    for _ in 0..200 {
        while e.poll_transmit(t).is_some() {}
        match e.poll_timeout() {
            Some(d) if d < Instant::from_millis(10_000) => t = d.max(t),
            _ => break,
        }
        e.handle_timeout(t);
    }
    let t = Instant::from_millis(10_000);
    while e.poll_transmit(t).is_some() {}
    let q = query("multi.local", RecordType::A).encode().unwrap();
    e.handle_datagram(
        t,
        InterfaceId(2),
        "172.20.9.9:5353".parse().unwrap(),
        Destination::Multicast(Family::V4),
        &q,
    );
    let tx = e.poll_transmit(t).expect("answered at once (unique)");
    assert_eq!(tx.iface, InterfaceId(2));
    let m = Message::parse(&tx.payload).unwrap();
    let addrs: Vec<RData> = m
        .answers
        .iter()
        .chain(m.additionals.iter())
        .map(|r| r.rdata.clone())
        .collect();
    assert_eq!(
        addrs,
        vec![RData::A(Ipv4Addr::new(172, 20, 0, 5))],
        "only interface 2's address"
    );
    // IPv6 link-local source on interface 1: AAAA answered over IPv6, A in Additional.
    let q = query("multi.local", RecordType::AAAA).encode().unwrap();
    e.handle_datagram(
        t,
        InterfaceId(1),
        "[fe80::99]:5353".parse().unwrap(),
        Destination::Multicast(Family::V6),
        &q,
    );
    let tx = e.poll_transmit(t).expect("answered");
    assert_eq!(
        (tx.iface, tx.destination),
        (InterfaceId(1), Destination::Multicast(Family::V6))
    );
    let m = Message::parse(&tx.payload).unwrap();
    assert_eq!(m.answers[0].rdata, RData::Aaaa("fe80::5".parse().unwrap()));
    assert!(
        m.additionals
            .iter()
            .any(|r| r.rdata == RData::A(Ipv4Addr::new(192, 168, 1, 5)))
    );
    // A browse on interface 1 only reports what came on interface 1.
    let b = e.browse(t, "_http._tcp", Some(InterfaceId(1))).unwrap();
    let resp = Message {
        header: Header::response(),
        answers: vec![ptr(4500)],
        ..Message::default()
    }
    .encode()
    .unwrap();
    e.handle_datagram(
        t,
        InterfaceId(2),
        "172.20.9.9:5353".parse().unwrap(),
        Destination::Multicast(Family::V4),
        &resp,
    );
    e.handle_datagram(
        t,
        InterfaceId(1),
        "192.168.1.9:5353".parse().unwrap(),
        Destination::Multicast(Family::V4),
        &resp,
    );
    e.handle_datagram(
        t,
        InterfaceId(1),
        "[fe80::99]:5353".parse().unwrap(),
        Destination::Multicast(Family::V6),
        &resp,
    );
    let mut added = Vec::new();
    while let Some(ev) = e.poll_event() {
        if let Event::BrowseAdded {
            query, interface, ..
        } = ev
        {
            if query == b {
                added.push(interface);
            }
        }
    }
    assert_eq!(
        added,
        vec![InterfaceId(1)],
        "once per interface, deduplicated over v4/v6"
    );
}

#[test]
fn multi_question_query_answered_together_with_shared_delay() {
    // row 16
    let mut net = Net::new(51, 1);
    net.engine(0)
        .register(Instant::ZERO, spec("Web", "_http._tcp", 80))
        .unwrap();
    net.run_for(Duration::from_secs(10));
    let t0 = net.now;
    let mut q = query("Web._http._tcp.local", RecordType::SRV);
    q.questions.push(Question {
        name: name("_http._tcp.local"),
        qtype: RecordType::PTR,
        qclass: CLASS_IN,
        unicast_response: false,
    });
    net.inject_msg(0, peer(), &q);
    net.run_for(Duration::from_millis(300));
    let resp: Vec<_> = net
        .sent_by(0)
        .into_iter()
        .filter(|s| s.at >= t0)
        .cloned()
        .collect();
    assert_eq!(resp.len(), 1, "one aggregated response");
    let d = resp[0].at - t0;
    assert!(
        d >= Duration::from_millis(20) && d <= Duration::from_millis(120),
        "{d:?}"
    );
    let types: Vec<RecordType> = resp[0].msg.answers.iter().map(Record::rtype).collect();
    assert!(types.contains(&RecordType::SRV) && types.contains(&RecordType::PTR));
}

#[test]
fn unicast_responses_accepted_only_within_two_seconds_of_our_qu_query() {
    // row 11
    let mut net = Net::new(52, 1);
    net.run_for(Duration::from_secs(5));
    let t0 = net.now;
    net.engine(0).browse(t0, "_http._tcp", None).unwrap();
    net.run_for(Duration::from_millis(200)); // QU query out
    let resp = Message {
        header: Header::response(),
        answers: vec![ptr(4500)],
        ..Message::default()
    }
    .encode()
    .unwrap();
    let base = net.engine(0).cache_len(); // own host records (local delivery)
    let to_us = Destination::Unicast("10.0.0.1:5353".parse().unwrap());
    net.inject(0, "10.0.0.9:5353".parse().unwrap(), to_us, &resp);
    assert_eq!(
        net.engine(0).cache_len(),
        base + 1,
        "reply to our QU query accepted"
    );
    net.run_for(Duration::from_secs(60)); // later queries are QM
    let other = Message {
        header: Header::response(),
        answers: vec![Record {
            name: name("_http._tcp.local"),
            class: CLASS_IN,
            cache_flush: false,
            ttl: 4500,
            rdata: RData::Ptr(name("Other._http._tcp.local")),
        }],
        ..Message::default()
    };
    net.inject(
        0,
        "10.0.0.9:5353".parse().unwrap(),
        to_us,
        &other.encode().unwrap(),
    );
    assert_eq!(
        net.engine(0).cache_len(),
        base + 1,
        "unsolicited unicast response ignored"
    );
    assert_eq!(net.engine(0).stats().dropped_unsolicited_unicast, 1);
}

#[test]
fn probe_defence_multicast_and_limited_to_once_per_250ms() {
    // rows 12, 31 (defending an established name)
    let mut net = Net::new(53, 1);
    net.engine(0)
        .register(Instant::ZERO, spec("Web", "_http._tcp", 80))
        .unwrap();
    net.run_for(Duration::from_secs(10));
    let probe = Message {
        header: Header::query(),
        questions: vec![Question {
            name: name("Web._http._tcp.local"),
            qtype: RecordType::ANY,
            qclass: CLASS_IN,
            unicast_response: true,
        }],
        authorities: vec![Record {
            name: name("Web._http._tcp.local"),
            class: CLASS_IN,
            cache_flush: false,
            ttl: 120,
            rdata: RData::Txt(vec![1, b'q']),
        }],
        ..Message::default()
    };
    let t0 = net.now;
    for _ in 0..4 {
        net.inject_msg(0, peer(), &probe);
        net.run_for(Duration::from_millis(100));
    }
    net.run_for(Duration::from_secs(1));
    let defences: Vec<_> = net
        .sent_by(0)
        .into_iter()
        .filter(|s| s.at >= t0 && s.is_response())
        .cloned()
        .collect();
    assert!(defences.iter().all(|s| s.is_multicast()));
    assert!(
        defences[0].at - t0 <= Duration::from_millis(10),
        "immediate"
    );
    assert!(
        defences.len() >= 2,
        "defended more than once a second: {}",
        defences.len()
    );
    for w in defences.windows(2) {
        assert!(w[1].at - w[0].at >= Duration::from_millis(250));
    }
}

#[test]
fn wake_probes_announces_and_queries_again() {
    // row 24 (wake)
    let mut net = Net::new(54, 1);
    net.engine(0)
        .register(Instant::ZERO, spec("Web", "_http._tcp", 80))
        .unwrap();
    net.engine(0)
        .browse(Instant::ZERO, "_ipp._tcp", None)
        .unwrap();
    net.run_for(Duration::from_secs(100));
    let t0 = net.now;
    net.engine(0).wake(t0);
    net.run_for(Duration::from_secs(5));
    let web = name("Web._http._tcp.local");
    let after: Vec<_> = net
        .sent_by(0)
        .into_iter()
        .filter(|s| s.at >= t0)
        .cloned()
        .collect();
    assert_eq!(
        after
            .iter()
            .filter(|s| s.is_probe() && has_record(s, &web, RecordType::SRV))
            .count(),
        3
    );
    assert!(
        after
            .iter()
            .filter(|s| s.is_response() && has_record(s, &web, RecordType::SRV))
            .count()
            >= 2
    );
    let q = after
        .iter()
        .find(|s| {
            !s.is_response()
                && s.msg
                    .questions
                    .iter()
                    .any(|q| q.name == name("_ipp._tcp.local"))
        })
        .unwrap();
    assert!(q.at - t0 <= Duration::from_millis(120));
    assert!(
        !net.events_of(0)
            .iter()
            .any(|e| matches!(e, Event::RegistrationRenamed { .. }))
    );
}
