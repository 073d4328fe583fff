//! Stable-Rust stand-in for the `engine_receive` fuzz target: the same function over seeded
//! random and mutated-valid inputs (nightly cargo-fuzz is not available everywhere).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests"
)]
#[path = "net/receive.rs"]
mod receive;

use dnssd_engine::Rng;
use dnssd_engine::wire::{CLASS_IN, Header, Message, Question, RData, Record, RecordType};

fn seeds() -> Vec<Vec<u8>> {
    let n = |s: &str| dnssd_engine::wire::Name::from_dotted(s).unwrap();
    let q = Message {
        header: Header::query(),
        questions: vec![Question {
            name: n("Web._http._tcp.local"),
            qtype: RecordType::ANY,
            qclass: CLASS_IN,
            unicast_response: true,
        }],
        authorities: vec![Record {
            name: n("Web._http._tcp.local"),
            class: CLASS_IN,
            cache_flush: false,
            ttl: 120,
            rdata: RData::Txt(vec![1, b'z']),
        }],
        ..Message::default()
    };
    let r = Message {
        header: Header::response(),
        answers: vec![
            Record {
                name: n("_http._tcp.local"),
                class: CLASS_IN,
                cache_flush: false,
                ttl: 4500,
                rdata: RData::Ptr(n("X._http._tcp.local")),
            },
            Record {
                name: n("fuzz.local"),
                class: CLASS_IN,
                cache_flush: true,
                ttl: 0,
                rdata: RData::A([10, 0, 0, 1].into()),
            },
        ],
        ..Message::default()
    };
    vec![q.encode().unwrap(), r.encode().unwrap()]
}

#[test]
fn engine_receive_survives_random_and_mutated_datagrams() {
    let mut rng = Rng::new(0xf022);
    let seeds = seeds();
    // ENGINE_RECEIVE_ITERS=200000 for a longer run.
    let iters: u64 = std::env::var("ENGINE_RECEIVE_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    for i in 0..iters {
        let mut data = vec![u8::try_from(rng.range(0, 255)).unwrap()];
        if i % 2 == 0 {
            let len = rng.range(0, 600) as usize;
            data.extend((0..len).map(|_| rng.next_u64() as u8));
        } else {
            let mut s = seeds[(i as usize / 2) % seeds.len()].clone();
            for _ in 0..rng.range(1, 8) {
                let pos = rng.range(0, s.len() as u64 - 1) as usize;
                s[pos] = rng.next_u64() as u8;
            }
            data.extend(s);
        }
        receive::fuzz_receive(&data);
    }
}
