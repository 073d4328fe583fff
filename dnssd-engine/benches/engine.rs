//! Engine benchmarks: answering a PTR query with 1000 registered services; cache insert and
//! expiry of 10^5 records.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "benchmark"
)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use dnssd_engine::wire::{CLASS_IN, Header, Message, Name, Question, RData, Record, RecordType};
use dnssd_engine::{
    Config, Destination, Engine, Family, Instant, InterfaceAddress, InterfaceConfig, InterfaceId,
    Limits, ServiceSpec,
};

fn engine(limits: Limits) -> Engine {
    let mut e = Engine::new(Config {
        host_name: "bench".into(),
        limits,
        ..Config::default()
    });
    e.add_interface(
        Instant::ZERO,
        InterfaceId(1),
        InterfaceConfig {
            name: "b".into(),
            addresses: vec![InterfaceAddress::new(
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                24,
            )],
            v4: true,
            v6: false,
        },
    );
    e
}

fn drain(e: &mut Engine, until: Instant) -> Instant {
    let mut now = Instant::ZERO;
    loop {
        while e.poll_transmit(now).is_some() {}
        match e.poll_timeout() {
            Some(t) if t <= until => now = t.max(now),
            _ => return until,
        }
        e.handle_timeout(now);
    }
}

fn answer_with_1000_services(c: &mut Criterion) {
    let mut e = engine(Limits::default());
    for i in 0..1000 {
        let spec = ServiceSpec {
            instance: format!("Service {i}"),
            service_type: "_http._tcp".into(),
            subtypes: vec![],
            domain: None,
            host: None,
            port: 8000,
            txt: vec![5, b'p', b'a', b't', b'h', b'='],
            iface: None,
        };
        e.register(Instant::ZERO, spec).unwrap();
    }
    let mut now = drain(&mut e, Instant::from_millis(20_000));
    let q = Message {
        header: Header::query(),
        questions: vec![Question {
            name: Name::from_dotted("_http._tcp.local").unwrap(),
            qtype: RecordType::PTR,
            qclass: CLASS_IN,
            unicast_response: false,
        }],
        ..Message::default()
    }
    .encode()
    .unwrap();
    let src = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 5353);
    c.bench_function(
        "engine/answer PTR query, 1000 services (all packets)",
        |b| {
            b.iter(|| {
                now = now + Duration::from_secs(2);
                e.handle_datagram(
                    now,
                    InterfaceId(1),
                    src,
                    Destination::Multicast(Family::V4),
                    black_box(&q),
                );
                let mut t = now + Duration::from_millis(120);
                e.handle_timeout(t);
                let mut n = 0;
                // Drain paced datagrams.
                loop {
                    while e.poll_transmit(t).is_some() {
                        n += 1;
                    }
                    match e.poll_timeout() {
                        Some(d) if d <= now + Duration::from_secs(1) => t = d.max(t),
                        _ => break,
                    }
                }
                black_box(n)
            })
        },
    );
}

fn cache_insert_expire(c: &mut Criterion) {
    let packets: Vec<Vec<u8>> = (0..100_000u32)
        .map(|i| {
            Message {
                header: Header::response(),
                answers: vec![Record {
                    name: Name::from_dotted(&format!("h{i}.local")).unwrap(),
                    class: CLASS_IN,
                    cache_flush: true,
                    ttl: 120,
                    rdata: RData::A(Ipv4Addr::from(i)),
                }],
                ..Message::default()
            }
            .encode()
            .unwrap()
        })
        .collect();
    let src = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 5353);
    let mut g = c.benchmark_group("engine/cache");
    g.sample_size(10);
    g.bench_function("insert + expire 1e5 records", |b| {
        b.iter(|| {
            let mut e = engine(Limits {
                max_cache_records: 200_000,
                ..Limits::default()
            });
            let now = Instant::from_millis(1000);
            for p in &packets {
                e.handle_datagram(
                    now,
                    InterfaceId(1),
                    src,
                    Destination::Multicast(Family::V4),
                    p,
                );
            }
            assert_eq!(e.cache_len(), 100_000);
            e.handle_timeout(Instant::from_millis(200_000));
            assert_eq!(e.cache_len(), 0);
        })
    });
    g.finish();
}

criterion_group!(benches, answer_with_1000_services, cache_insert_expire);
criterion_main!(benches);
