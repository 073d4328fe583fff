//! Domain enumeration (RFC 6763 §11), reverse-mapping PTRs for the host's addresses, and
//! TXT size rules (RFC 6763 §6.2) on the simulated link (CONFORMANCE rows 44, 49).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests"
)]
mod net;

use std::time::Duration;

use dnssd_engine::wire::{RData, RecordType};
use dnssd_engine::{CommandError, Event, HOST_TTL, Instant, TXT_WARN_LEN};
use net::*;

/// Responses node 0 sent at or after `t0`.
fn responses_since(net: &Net, t0: Instant) -> Vec<Sent> {
    net.sent_by(0)
        .into_iter()
        .filter(|s| s.at >= t0 && s.is_response())
        .cloned()
        .collect()
}

#[test]
fn domain_enumeration_queries_get_no_answer_like_avahi() {
    // row 49: Avahi publishes `b._dns-sd._udp.local PTR <domain>` only when its domain is
    // not `local` (avahi-core/server.c, register_browse_domain), and never db/lb/r/dr;
    // mDNSResponder keeps its `local` enumeration records local-only. So the engine, whose
    // only domain is `local`, answers none of the five (clients browse `local` anyway).
    let mut net = Net::new(71, 1);
    net.engine(0)
        .register(Instant::ZERO, spec("Web", "_http._tcp", 80))
        .unwrap();
    net.run_for(Duration::from_secs(10));
    for label in ["b", "db", "lb", "r", "dr"] {
        let t0 = net.now;
        for t in [RecordType::PTR, RecordType::ANY] {
            net.inject_msg(0, peer(), &query(&format!("{label}._dns-sd._udp.local"), t));
        }
        net.run_for(Duration::from_secs(2));
        assert!(
            responses_since(&net, t0).is_empty(),
            "answered {label}._dns-sd._udp.local"
        );
    }
    // Control: the same engine does answer service type enumeration (row 48).
    let t0 = net.now;
    net.inject_msg(
        0,
        peer(),
        &query("_services._dns-sd._udp.local", RecordType::PTR),
    );
    net.run_for(Duration::from_secs(1));
    let resp = responses_since(&net, t0);
    assert!(resp.iter().any(|s| has_record(
        s,
        &name("_services._dns-sd._udp.local"),
        RecordType::PTR
    )));
}

#[test]
fn reverse_mapping_ptr_for_host_addresses() {
    // Avahi publishes `<reversed address>.in-addr.arpa PTR <host>.local` (and ip6.arpa) as
    // unique records with the host TTL; so does the engine.
    let mut net = Net::new(72, 2);
    // A registration claims each node's host name (and with it the reverse mapping).
    for i in 0..2 {
        net.engine(i)
            .register(Instant::ZERO, spec(&format!("Web{i}"), "_http._tcp", 80))
            .unwrap();
    }
    net.run_for(Duration::from_secs(10));
    let reverse = name("1.0.0.10.in-addr.arpa");
    // Announced with the address records, cache-flush bit set, TTL 120.
    let announced = net
        .sent_by(0)
        .into_iter()
        .filter(|s| s.is_response())
        .flat_map(|s| s.msg.answers.iter())
        .filter(|r| r.name == reverse)
        .count();
    assert!(announced >= 2, "reverse PTR announced {announced} times");

    // Asked by a peer: answered at once (unique), pointing at our host name.
    let t0 = net.now;
    net.inject_msg(0, peer(), &query("1.0.0.10.in-addr.arpa", RecordType::PTR));
    net.run_for(Duration::from_secs(1));
    let resp = responses_since(&net, t0);
    let (at, r) = resp
        .iter()
        .flat_map(|s| s.msg.answers.iter().map(move |r| (s.at, r)))
        .find(|(_, r)| r.name == reverse)
        .expect("reverse PTR answered");
    assert_eq!(r.rdata, RData::Ptr(name("host0.local")));
    assert!(r.cache_flush);
    assert_eq!(r.ttl, HOST_TTL);
    assert!(at - t0 <= Duration::from_millis(10), "{:?}", at - t0);
    // Node 1 answers only for its own address.
    assert!(
        !net.sent_by(1)
            .into_iter()
            .filter(|s| s.at >= t0)
            .flat_map(|s| s.msg.answers.iter())
            .any(|r| r.name == reverse)
    );
    // And node 1's own reverse name is answered by node 1 only.
    let t1 = net.now;
    net.inject_msg(1, peer(), &query("2.0.0.10.in-addr.arpa", RecordType::ANY));
    net.run_for(Duration::from_secs(1));
    assert!(net.sent_by(1).into_iter().any(|s| {
        s.at >= t1
            && s.msg.answers.iter().any(|r| {
                r.name == name("2.0.0.10.in-addr.arpa")
                    && r.rdata == RData::Ptr(name("host1.local"))
            })
    }));

    // Goodbye on shutdown.
    let t2 = net.now;
    let now = net.now;
    net.engine(0).shutdown(now);
    net.run_for(Duration::from_secs(1));
    assert!(net.sent_by(0).into_iter().any(|s| {
        s.at >= t2
            && s.msg
                .answers
                .iter()
                .any(|r| r.name == reverse && r.ttl == 0)
    }));
}

fn txt_of(len: usize) -> Vec<u8> {
    // Strings of up to 255 bytes: `len` bytes in all.
    let mut out = Vec::new();
    while out.len() < len {
        let n = (len - out.len() - 1).min(255);
        out.push(n as u8);
        out.extend(std::iter::repeat_n(b'x', n));
    }
    out
}

#[test]
fn txt_over_1300_bytes_warns_and_beyond_one_message_is_refused() {
    // row 44 (RFC 6763 §6.2; RFC 6762 §17 for the 9000-byte limit)
    let mut net = Net::new(73, 1);
    let mut small = spec("Small", "_http._tcp", 80);
    small.txt = txt_of(TXT_WARN_LEN);
    let small_id = net.engine(0).register(Instant::ZERO, small).unwrap();
    let mut big = spec("Big", "_http._tcp", 80);
    big.txt = txt_of(1400);
    let big_id = net.engine(0).register(Instant::ZERO, big).unwrap();
    net.run_for(Duration::from_secs(10));
    let warnings: Vec<_> = net
        .events_of(0)
        .into_iter()
        .filter_map(|e| match e {
            Event::TxtTooLarge { id, len } => Some((*id, *len)),
            _ => None,
        })
        .collect();
    assert_eq!(warnings, vec![(big_id, 1400)]);
    assert_eq!(net.engine(0).stats().large_txt, 1);
    // Published anyway.
    assert!(net.sent_by(0).into_iter().any(|s| {
        s.records()
            .any(|r| matches!(&r.rdata, RData::Txt(t) if t.len() == 1400))
    }));

    // An update over 1300 warns again; one at the limit does not.
    let now = net.now;
    net.engine(0)
        .update_txt(now, small_id, &txt_of(2000))
        .unwrap();
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.engine(0).stats().large_txt, 2);

    // Too large for any message: a typed error, and nothing changes.
    let mut huge = spec("Huge", "_http._tcp", 80);
    huge.txt = txt_of(9000);
    let now = net.now;
    match net.engine(0).register(now, huge) {
        Err(CommandError::TxtTooLarge { len: 9000, max }) => {
            assert!((8000..9000).contains(&max), "{max}")
        }
        other => panic!("{other:?}"),
    }
    let now = net.now;
    assert!(matches!(
        net.engine(0).update_txt(now, big_id, &txt_of(8999)),
        Err(CommandError::TxtTooLarge { len: 8999, .. })
    ));
    // The largest accepted TXT is really sent, in probes and answers within 9000 bytes.
    let max = match net.engine(0).update_txt(now, big_id, &txt_of(100_000)) {
        Err(CommandError::TxtTooLarge { max, .. }) => max,
        other => panic!("{other:?}"),
    };
    let mut edge = spec("Edge", "_http._tcp", 80);
    edge.txt = txt_of(max);
    net.engine(0).register(now, edge).unwrap();
    net.run_for(Duration::from_secs(10));
    let carrying: Vec<_> = net
        .sent_by(0)
        .into_iter()
        .filter(|s| {
            s.records()
                .any(|r| matches!(&r.rdata, RData::Txt(t) if t.len() == max))
        })
        .collect();
    assert!(carrying.iter().any(|s| s.is_probe()), "no probe carried it");
    assert!(carrying.iter().any(|s| s.is_response()), "never announced");
    assert!(carrying.iter().all(|s| s.transmit.payload.len() <= 9000));
}
