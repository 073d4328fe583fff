//! `Net`: N engines on a simulated multicast link with a virtual clock, latency, loss and
//! duplication, all seeded. Every datagram sent is logged (parsed) for assertions.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test support"
)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use dnssd_engine::wire::{CLASS_IN, Header, Message, Name, Question, Record, RecordType};
use dnssd_engine::{
    Config, Destination, Engine, Event, Instant, InterfaceAddress, InterfaceConfig, InterfaceId,
    Rng, ServiceSpec, Transmit,
};

pub const IFACE: InterfaceId = InterfaceId(1);

/// One datagram seen on the link.
#[derive(Clone, Debug)]
pub struct Sent {
    pub at: Instant,
    /// Index of the sending node (`usize::MAX` for injected datagrams).
    pub from: usize,
    pub transmit: Transmit,
    pub msg: Message,
}

impl Sent {
    pub fn is_multicast(&self) -> bool {
        matches!(self.transmit.destination, Destination::Multicast(_))
    }
    pub fn is_probe(&self) -> bool {
        !self.msg.header.is_response() && !self.msg.authorities.is_empty()
    }
    pub fn is_response(&self) -> bool {
        self.msg.header.is_response()
    }
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.msg
            .answers
            .iter()
            .chain(self.msg.authorities.iter())
            .chain(self.msg.additionals.iter())
    }
}

pub struct Node {
    pub engine: Engine,
    pub addr: IpAddr,
}

pub struct Net {
    pub now: Instant,
    pub nodes: Vec<Node>,
    pub log: Vec<Sent>,
    pub events: Vec<(usize, Instant, Event)>,
    rng: Rng,
    /// One-way latency range.
    pub latency: (Duration, Duration),
    /// Per-mille chance of losing / duplicating each delivery.
    pub loss_permille: u64,
    pub dup_permille: u64,
    in_flight: Vec<(Instant, usize, SocketAddr, Destination, Vec<u8>)>,
}

pub fn node_addr(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, u8::try_from(i + 1).unwrap()))
}

/// A query with one question: `qu` asks for a unicast reply (RFC 6762 §5.4).
pub fn query_with(n: &str, t: RecordType, qu: bool) -> Message {
    Message {
        header: Header::query(),
        questions: vec![Question {
            name: name(n),
            qtype: t,
            qclass: CLASS_IN,
            unicast_response: qu,
        }],
        ..Message::default()
    }
}

/// A multicast (QM) query with one question.
pub fn query(n: &str, t: RecordType) -> Message {
    query_with(n, t, false)
}

/// A peer on the link that is none of the nodes.
pub fn peer() -> SocketAddr {
    "10.0.0.200:5353".parse().unwrap()
}

pub fn name(s: &str) -> Name {
    Name::from_dotted(s).unwrap()
}

pub fn spec(instance: &str, ty: &str, port: u16) -> ServiceSpec {
    ServiceSpec {
        instance: instance.into(),
        service_type: ty.into(),
        subtypes: vec![],
        domain: None,
        host: None,
        port,
        txt: vec![3, b'a', b'=', b'1'],
        iface: None,
    }
}

impl Net {
    /// `n` nodes `host0..`, 10.0.0.(i+1)/24 on interface 1, IPv4.
    pub fn new(seed: u64, n: usize) -> Net {
        let mut net = Net {
            now: Instant::ZERO,
            nodes: Vec::new(),
            log: Vec::new(),
            events: Vec::new(),
            rng: Rng::new(seed),
            latency: (Duration::from_micros(100), Duration::from_micros(500)),
            loss_permille: 0,
            dup_permille: 0,
            in_flight: Vec::new(),
        };
        for i in 0..n {
            net.add_node(
                seed.wrapping_mul(31).wrapping_add(i as u64),
                &format!("host{i}"),
            );
        }
        net
    }

    pub fn add_node(&mut self, seed: u64, host: &str) -> usize {
        let i = self.nodes.len();
        let addr = node_addr(i);
        let mut engine = Engine::new(Config {
            rng_seed: seed,
            host_name: host.into(),
            ..Config::default()
        });
        engine.add_interface(
            self.now,
            IFACE,
            InterfaceConfig {
                name: "sim0".into(),
                addresses: vec![InterfaceAddress::new(addr, 24)],
                v4: true,
                v6: false,
            },
        );
        self.nodes.push(Node { engine, addr });
        self.pump_all();
        i
    }

    pub fn engine(&mut self, i: usize) -> &mut Engine {
        &mut self.nodes[i].engine
    }

    /// Sends a raw datagram to node `to` at the current time (logged with from = MAX).
    pub fn inject(&mut self, to: usize, source: SocketAddr, dest: Destination, bytes: &[u8]) {
        if let Ok(msg) = Message::parse(bytes) {
            self.log.push(Sent {
                at: self.now,
                from: usize::MAX,
                transmit: Transmit {
                    iface: IFACE,
                    destination: dest,
                    payload: bytes.to_vec(),
                },
                msg,
            });
        }
        self.nodes[to]
            .engine
            .handle_datagram(self.now, IFACE, source, dest, bytes);
        self.pump(to);
    }

    /// Encodes and injects a message from `source` as multicast.
    pub fn inject_msg(&mut self, to: usize, source: SocketAddr, msg: &Message) {
        let bytes = msg.encode().unwrap();
        self.inject(
            to,
            source,
            Destination::Multicast(dnssd_engine::Family::V4),
            &bytes,
        );
    }

    fn pump_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.pump(i);
        }
    }

    fn pump(&mut self, i: usize) {
        while let Some(t) = self.nodes[i].engine.poll_transmit(self.now) {
            let msg = Message::parse(&t.payload).expect("engine output parses");
            let source = SocketAddr::new(self.nodes[i].addr, 5353);
            let targets: Vec<usize> = match t.destination {
                Destination::Multicast(_) => (0..self.nodes.len()).filter(|j| *j != i).collect(),
                Destination::Unicast(sa) => (0..self.nodes.len())
                    .filter(|j| self.nodes[*j].addr == sa.ip())
                    .collect(),
            };
            for j in targets {
                if self.rng.range(0, 999) < self.loss_permille {
                    continue;
                }
                let copies = if self.rng.range(0, 999) < self.dup_permille {
                    2
                } else {
                    1
                };
                for _ in 0..copies {
                    let at = self.now + self.rng.duration(self.latency.0, self.latency.1);
                    let dest = match t.destination {
                        Destination::Multicast(f) => Destination::Multicast(f),
                        Destination::Unicast(_) => {
                            Destination::Unicast(SocketAddr::new(self.nodes[j].addr, 5353))
                        }
                    };
                    self.in_flight
                        .push((at, j, source, dest, t.payload.clone()));
                }
            }
            self.log.push(Sent {
                at: self.now,
                from: i,
                transmit: t,
                msg,
            });
        }
        while let Some(e) = self.nodes[i].engine.poll_event() {
            self.events.push((i, self.now, e));
        }
    }

    /// Runs the virtual clock up to `end`.
    pub fn run_until(&mut self, end: Instant) {
        let mut guard = 0u64;
        loop {
            guard += 1;
            assert!(guard < 5_000_000, "event loop does not settle");
            let next_timer = self
                .nodes
                .iter()
                .filter_map(|n| n.engine.poll_timeout())
                .min();
            let next_delivery = self.in_flight.iter().map(|f| f.0).min();
            let Some(next) = [next_timer, next_delivery].into_iter().flatten().min() else {
                break;
            };
            if next > end {
                break;
            }
            self.now = self.now.max(next);
            // Deliveries due now.
            let mut due: Vec<_> = Vec::new();
            self.in_flight.retain(|f| {
                if f.0 <= self.now {
                    due.push(f.clone());
                    false
                } else {
                    true
                }
            });
            due.sort_by_key(|f| f.0);
            for (_, to, src, dest, bytes) in due {
                self.nodes[to]
                    .engine
                    .handle_datagram(self.now, IFACE, src, dest, &bytes);
                self.pump(to);
            }
            for i in 0..self.nodes.len() {
                if self.nodes[i]
                    .engine
                    .poll_timeout()
                    .is_some_and(|t| t <= self.now)
                {
                    self.nodes[i].engine.handle_timeout(self.now);
                    self.pump(i);
                    if self.nodes[i]
                        .engine
                        .poll_timeout()
                        .is_some_and(|t| t <= self.now)
                    {
                        // Work due now that produced nothing: move time on by a microsecond.
                        self.now = self.now + Duration::from_micros(1);
                    }
                }
            }
        }
        self.now = self.now.max(end);
        self.pump_all();
    }

    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.run_until(end);
    }

    pub fn sent_by(&self, i: usize) -> Vec<&Sent> {
        self.log.iter().filter(|s| s.from == i).collect()
    }

    pub fn events_of(&self, i: usize) -> Vec<&Event> {
        self.events
            .iter()
            .filter(|(n, _, _)| *n == i)
            .map(|(_, _, e)| e)
            .collect()
    }

    pub fn take_events(&mut self) -> Vec<(usize, Instant, Event)> {
        std::mem::take(&mut self.events)
    }
}

pub fn ms(t: Instant) -> f64 {
    t.as_nanos() as f64 / 1e6
}

pub fn has_record(s: &Sent, n: &Name, t: RecordType) -> bool {
    s.records().any(|r| r.name == *n && r.rtype() == t)
}
