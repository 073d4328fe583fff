//! Stable-toolchain fuzzing of the `message_roundtrip` property (the same function the
//! cargo-fuzz target calls, included from `fuzz/src/lib.rs`): golden packets, their
//! mutations (bit flips, DNS-shaped byte values such as compression pointers and length
//! bytes, truncation, splicing) and random bytes.
//!
//! The quick test runs on every `cargo test`; the long one is ignored by default:
//! `WIRE_FUZZ_SECS=300 cargo test -p dnssd-engine --release --test wire_fuzz -- --ignored --nocapture`
//! (it prints the number of executions).

#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test harness")]

#[path = "../../fuzz/src/lib.rs"]
mod fuzz_check;

use std::path::Path;
use std::time::{Duration, Instant};

use fuzz_check::message_roundtrip;

/// xorshift64*: deterministic, seedable, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    out.sort();
    assert!(!out.is_empty());
    out
}

/// Bytes that mean something in a DNS message: pointers, label lengths, type/len fields.
const INTERESTING: &[u8] = &[
    0x00, 0x01, 0x0C, 0x3F, 0x40, 0x80, 0xC0, 0xC1, 0xFF, 0x20, 0x21, 0x2F, 0x10,
];

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], input: &mut Vec<u8>) {
    for _ in 0..=rng.below(4) {
        let len = input.len();
        match rng.below(9) {
            0 if len > 0 => input[rng.below(len)] ^= 1 << rng.below(8),
            1 if len > 0 => input[rng.below(len)] = INTERESTING[rng.below(INTERESTING.len())],
            2 if len > 1 => {
                // A compression pointer to a random earlier offset.
                let at = rng.below(len - 1);
                let target = rng.below(at.max(1) + 16) as u16;
                input[at] = 0xC0 | (target >> 8) as u8;
                input[at + 1] = target as u8;
            }
            3 if len > 0 => input.truncate(rng.below(len)),
            4 => {
                let at = rng.below(len + 1);
                let extra: Vec<u8> = (0..rng.below(16)).map(|_| rng.next() as u8).collect();
                input.splice(at..at, extra);
            }
            5 if len > 0 => {
                let at = rng.below(len);
                let end = (at + rng.below(16)).min(len);
                input.drain(at..end);
            }
            6 => {
                // Splice the tail of another seed in.
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len());
                let at = rng.below(len + 1);
                input.truncate(at);
                input.extend_from_slice(&other[from..]);
            }
            7 if len > 12 => {
                // Header counts: small, large or off by one.
                let at = 4 + 2 * rng.below(4);
                let v = [0u16, 1, 2, 0xFFFF, 50][rng.below(5)];
                input[at..at + 2].copy_from_slice(&v.to_be_bytes());
            }
            _ if len > 0 => input[rng.below(len)] = rng.next() as u8,
            _ => {}
        }
    }
}

/// Runs the property `iterations` times (or until `deadline`); returns executions done.
fn run(seed: u64, iterations: u64, deadline: Option<Instant>) -> u64 {
    let seeds = seeds();
    let mut rng = Rng(seed | 1);
    let mut execs = 0;
    for seed_input in &seeds {
        message_roundtrip(seed_input);
        execs += 1;
    }
    while execs < iterations && deadline.is_none_or(|d| execs % 1024 != 0 || Instant::now() < d) {
        let input = if rng.below(10) == 0 {
            (0..rng.below(600)).map(|_| rng.next() as u8).collect()
        } else {
            let mut input = seeds[rng.below(seeds.len())].clone();
            mutate(&mut rng, &seeds, &mut input);
            input
        };
        message_roundtrip(&input);
        execs += 1;
    }
    execs
}

#[test]
fn golden_packets_and_a_few_thousand_mutations_round_trip() {
    run(0x5eed, 20_000, None);
}

#[test]
#[ignore = "long run: WIRE_FUZZ_SECS=300 cargo test -p dnssd-engine --release --test wire_fuzz -- --ignored --nocapture"]
fn long_fuzz_run() {
    let secs: u64 = std::env::var("WIRE_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let seed = std::env::var("WIRE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0xD15C_0DE5);
    let start = Instant::now();
    let execs = run(seed, u64::MAX, Some(start + Duration::from_secs(secs)));
    println!(
        "wire fuzz: {execs} executions in {:.1} s (seed {seed:#x})",
        start.elapsed().as_secs_f64()
    );
}
