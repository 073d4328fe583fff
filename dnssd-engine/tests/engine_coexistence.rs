//! Sharing a machine with another responder: the host name is claimed only when a
//! registration needs it, reverse-mapping PTRs are probed like every unique record, and a
//! reverse name another stack holds is given up instead of contested (a reverse name cannot be
//! renamed, so contesting it makes the other stack rename its host in a loop).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests"
)]
mod net;

use std::net::IpAddr;
use std::time::Duration;

use dnssd_engine::wire::{CLASS_IN, Header, Message, Question, RData, Record, RecordType};
use dnssd_engine::{
    Config, Engine, Event, Instant, InterfaceAddress, InterfaceConfig, ServiceSpec,
};
use net::*;

const REVERSE: &str = "1.0.0.10.in-addr.arpa";

/// Adds an engine named `host` with address `addr` (two stacks of one machine share it).
fn add_node_at(net: &mut Net, seed: u64, host: &str, addr: IpAddr, reverse_mapping: bool) -> usize {
    let mut engine = Engine::new(Config {
        rng_seed: seed,
        host_name: host.into(),
        reverse_mapping,
        ..Config::default()
    });
    engine.add_interface(
        net.now,
        IFACE,
        InterfaceConfig {
            name: "sim0".into(),
            addresses: vec![InterfaceAddress::new(addr, 24)],
            v4: true,
            v6: false,
        },
    );
    net.nodes.push(Node { engine, addr });
    net.nodes.len() - 1
}

fn host_renames(net: &Net, node: usize) -> Vec<String> {
    net.events_of(node)
        .into_iter()
        .filter_map(|e| match e {
            Event::HostRenamed { name } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

/// Records node `i` sent (answers, authorities, additionals) named `n`, from `t0` on.
fn sent_records(net: &Net, i: usize, t0: Instant, n: &str) -> Vec<Record> {
    let n = name(n);
    net.sent_by(i)
        .into_iter()
        .filter(|s| s.at >= t0)
        .flat_map(|s| s.records().cloned().collect::<Vec<_>>())
        .filter(|r| r.name == n)
        .collect()
}

#[test]
fn browse_only_engine_claims_no_host_name_until_a_registration_needs_it() {
    let mut net = Net::new(1, 1);
    net.engine(0)
        .browse(Instant::ZERO, "_http._tcp", None)
        .unwrap();
    // A service on another host's name needs nothing of ours either.
    let mut elsewhere = spec("Printer", "_ipp._tcp", 631);
    elsewhere.host = Some("printer.local".into());
    net.engine(0).register(Instant::ZERO, elsewhere).unwrap();
    net.run_for(Duration::from_secs(10));
    assert!(
        sent_records(&net, 0, Instant::ZERO, "host0.local").is_empty(),
        "host0.local must not be probed or announced by a process that needs no host name"
    );
    assert!(sent_records(&net, 0, Instant::ZERO, REVERSE).is_empty());

    // A registration on our host claims it: probed (address and reverse PTR), announced.
    let t1 = net.now;
    let now = net.now;
    let id = net
        .engine(0)
        .register(now, spec("Web", "_http._tcp", 80))
        .unwrap();
    net.run_for(Duration::from_secs(5));
    let probes: Vec<_> = net
        .sent_by(0)
        .into_iter()
        .filter(|s| s.at >= t1 && s.is_probe())
        .collect();
    assert!(
        probes.iter().any(|s| s
            .msg
            .questions
            .iter()
            .any(|q| q.name == name("host0.local"))),
        "host name probed"
    );
    assert!(
        probes.iter().any(|s| {
            s.msg.questions.iter().any(|q| q.name == name(REVERSE))
                && s.msg
                    .authorities
                    .iter()
                    .any(|r| r.name == name(REVERSE) && r.rdata == RData::Ptr(name("host0.local")))
        }),
        "reverse PTR probed, with its own question"
    );
    assert!(
        sent_records(&net, 0, t1, "host0.local")
            .iter()
            .any(|r| r.ttl > 0 && matches!(r.rdata, RData::A(_))),
        "host address announced"
    );

    // The last registration on our host gone: the host name is released with goodbyes.
    let t2 = net.now;
    let now = net.now;
    net.engine(0).deregister(now, id).unwrap();
    net.run_for(Duration::from_secs(2));
    let after = sent_records(&net, 0, t2, "host0.local");
    assert!(
        after
            .iter()
            .any(|r| r.ttl == 0 && matches!(r.rdata, RData::A(_))),
        "goodbye for the host address: {after:?}"
    );
    // No longer answered.
    let t3 = net.now;
    net.inject_msg(0, peer(), &query("host0.local", RecordType::A));
    net.run_for(Duration::from_secs(1));
    assert!(sent_records(&net, 0, t3, "host0.local").is_empty());
}

#[test]
fn reverse_name_held_by_another_stack_is_given_up_not_contested() {
    // The machine's own responder holds `1.0.0.10.in-addr.arpa PTR machine.local`; our engine
    // (same address, own host name, reverse mapping on as when it detected nothing) registers.
    let mut net = Net::new(2, 1);
    net.engine(0)
        .register(Instant::ZERO, spec("Ours", "_http._tcp", 81))
        .unwrap();
    // Run until our probe for the reverse name is out, then answer it as the other stack does.
    let probed = |net: &Net| {
        net.sent_by(0)
            .into_iter()
            .any(|s| s.is_probe() && s.msg.questions.iter().any(|q| q.name == name(REVERSE)))
    };
    while !probed(&net) {
        assert!(
            net.now < Instant::from_millis(2_000),
            "reverse name never probed"
        );
        net.run_for(Duration::from_millis(10));
    }
    let defence = Message {
        header: Header::response(),
        answers: vec![Record {
            name: name(REVERSE),
            class: CLASS_IN,
            cache_flush: true,
            ttl: 120,
            rdata: RData::Ptr(name("machine.local")),
        }],
        ..Message::default()
    };
    net.inject_msg(0, "10.0.0.1:5353".parse().unwrap(), &defence);
    net.run_for(Duration::from_secs(10));

    assert!(
        host_renames(&net, 0).is_empty(),
        "a reverse name is no reason to rename"
    );
    assert_eq!(net.engine(0).stats().reverse_mapping_withdrawn, 1);
    assert!(
        !net.sent_by(0).into_iter().any(|s| {
            s.is_response()
                && s.msg
                    .answers
                    .iter()
                    .any(|r| r.name == name(REVERSE) && r.ttl > 0)
        }),
        "our reverse PTR never announced beside the other stack's"
    );
    // Our own host name and service are published.
    assert!(
        net.events_of(0)
            .iter()
            .any(|e| matches!(e, Event::RegistrationEstablished { .. }))
    );
    let t1 = net.now;
    net.inject_msg(0, peer(), &query("host0.local", RecordType::A));
    net.run_for(Duration::from_millis(200));
    assert!(
        sent_records(&net, 0, t1, "host0.local")
            .iter()
            .any(|r| r.rdata == RData::A(std::net::Ipv4Addr::new(10, 0, 0, 1)))
    );
}

#[test]
fn another_stack_probing_our_reverse_name_makes_us_withdraw_it() {
    let mut net = Net::new(3, 1);
    net.engine(0)
        .register(Instant::ZERO, spec("Web", "_http._tcp", 80))
        .unwrap();
    net.run_for(Duration::from_secs(5));
    assert!(
        sent_records(&net, 0, Instant::ZERO, REVERSE)
            .iter()
            .any(|r| r.ttl > 0),
        "reverse PTR announced while alone"
    );
    // A responder starting on the same machine probes the reverse name for its own host.
    let t0 = net.now;
    let probe = Message {
        header: Header::query(),
        questions: vec![Question {
            name: name(REVERSE),
            qtype: RecordType::ANY,
            qclass: CLASS_IN,
            unicast_response: true,
        }],
        authorities: vec![Record {
            name: name(REVERSE),
            class: CLASS_IN,
            cache_flush: false,
            ttl: 120,
            rdata: RData::Ptr(name("machine.local")),
        }],
        ..Message::default()
    };
    net.inject_msg(0, "10.0.0.1:5353".parse().unwrap(), &probe);
    net.run_for(Duration::from_secs(2));
    let sent = sent_records(&net, 0, t0, REVERSE);
    assert!(!sent.is_empty(), "goodbye for our reverse PTR");
    assert!(
        sent.iter().all(|r| r.ttl == 0),
        "the probe is not defended: {sent:?}"
    );
    assert_eq!(net.engine(0).stats().reverse_mapping_withdrawn, 1);
    assert!(host_renames(&net, 0).is_empty());
    // The host's address is still ours.
    let t1 = net.now;
    net.inject_msg(0, peer(), &query("host0.local", RecordType::A));
    net.run_for(Duration::from_millis(200));
    assert!(!sent_records(&net, 0, t1, "host0.local").is_empty());
}

#[test]
fn reverse_mapping_off_publishes_no_reverse_names() {
    let mut net = Net::new(4, 0);
    let node = add_node_at(&mut net, 4, "host0-app", node_addr(0), false);
    let now = net.now;
    let spec: ServiceSpec = spec("Web", "_http._tcp", 80);
    net.engine(node).register(now, spec).unwrap();
    net.run_for(Duration::from_secs(5));
    let t0 = net.now;
    net.inject_msg(node, peer(), &query(REVERSE, RecordType::PTR));
    net.run_for(Duration::from_secs(1));
    assert!(
        !net.log
            .iter()
            .filter(|s| s.from == node)
            .flat_map(|s| s.records())
            .any(|r| r
                .name
                .labels()
                .last()
                .is_some_and(|l| l.eq_ignore_ascii_case(b"arpa"))),
        "no in-addr.arpa record probed, announced or answered"
    );
    assert!(net.sent_by(node).into_iter().all(|s| s.at < t0));
    assert!(
        !sent_records(&net, node, Instant::ZERO, "host0-app.local").is_empty(),
        "the host name itself is published"
    );
}
