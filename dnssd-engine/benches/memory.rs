//! Heap held per registered service (a measurement that prints a table, not a test):
//! `cargo bench -p dnssd-engine --bench memory`.
//!
//! A counting global allocator tracks the live heap bytes. For N services (instance names
//! like the benchmark's, a 4-byte TXT, IPv4 and IPv6 on one interface), the engine registers
//! them, runs its virtual clock until every one is established and announced, and the live heap
//! is compared with the engine holding none. Datagrams the engine emits are taken and dropped
//! (nothing is received), so the figure is the engine's own state: records, names, indexes,
//! scheduler and multicast history.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "benchmark"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dnssd_engine::{
    Config, Engine, Event, Instant, InterfaceAddress, InterfaceConfig, InterfaceId, Limits,
    ServiceSpec,
};

/// The system allocator, counting the bytes currently allocated.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`, which upholds `GlobalAlloc`'s
// contract; the counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout contract is passed on to `System` as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with this layout (every allocation goes
        // through `alloc`/`realloc` above).
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as `GlobalAlloc::realloc`, forwarded to `System`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            let live = LIVE.fetch_add(new_size, Ordering::Relaxed) + new_size;
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Which parts of the engine's state are kept, to split the total by where it goes.
#[derive(Clone, Copy)]
struct Parts {
    /// `Config::local_delivery`: our own datagrams are processed as received, so the cache
    /// holds our own records (local browses see local registrations).
    own_records_cached: bool,
    /// `Limits::max_multicast_history` as configured (else 1): when each record was last
    /// multicast, per link (the once-per-second rule).
    multicast_history: bool,
}

fn engine(parts: Parts) -> Engine {
    let defaults = Config::default();
    let mut e = Engine::new(Config {
        host_name: "bench".into(),
        local_delivery: parts.own_records_cached,
        limits: Limits {
            max_multicast_history: if parts.multicast_history {
                defaults.limits.max_multicast_history
            } else {
                1
            },
            ..defaults.limits.clone()
        },
        ..defaults
    });
    e.add_interface(
        Instant::ZERO,
        InterfaceId(2),
        InterfaceConfig {
            name: "nl0".into(),
            addresses: vec![
                InterfaceAddress::new(IpAddr::V4(Ipv4Addr::new(10, 77, 0, 1)), 24),
                InterfaceAddress::new(IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)), 64),
            ],
            v4: true,
            v6: true,
        },
    );
    e
}

/// Runs the engine's clock for `d`, dropping its datagrams; counts established registrations.
fn run(e: &mut Engine, now: &mut Instant, d: Duration) -> usize {
    let end = *now + d;
    let mut established = 0;
    loop {
        while e.poll_transmit(*now).is_some() {}
        while let Some(ev) = e.poll_event() {
            if matches!(ev, Event::RegistrationEstablished { .. }) {
                established += 1;
            }
        }
        match e.poll_timeout() {
            Some(t) if t <= end => {
                *now = (*now).max(t);
                e.handle_timeout(*now);
            }
            _ => break,
        }
    }
    *now = end;
    established
}

/// Live heap bytes of an engine holding `n` established services (minus an empty engine's).
fn heap_for(n: usize, parts: Parts) -> (usize, usize) {
    let mut now = Instant::ZERO;
    let mut e = engine(parts);
    run(&mut e, &mut now, Duration::from_secs(20));
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    for i in 0..n {
        e.register(
            now,
            ServiceSpec {
                instance: format!("emb-1a2b-{i}"),
                service_type: "_bench._tcp".into(),
                subtypes: Vec::new(),
                domain: None,
                host: None,
                port: 4242,
                txt: format!("\u{3}i={}", i % 10).into_bytes(),
                iface: None,
            },
        )
        .unwrap();
    }
    let established = run(&mut e, &mut now, Duration::from_secs(30));
    assert_eq!(established, n, "every registration established");
    let held = LIVE.load(Ordering::Relaxed).saturating_sub(base);
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    drop(e);
    (held, peak)
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let sizes: &[usize] = if quick {
        &[10]
    } else {
        &[1, 10, 100, 1000, 4000]
    };
    let all = Parts {
        own_records_cached: true,
        multicast_history: true,
    };
    println!(
        "| services | heap held (KB) | per service (bytes) | peak while registering (KB) | \
         of which own records in the cache (bytes/service) | of which multicast history \
         (bytes/service) |"
    );
    println!("|---|---|---|---|---|---|");
    for &n in sizes {
        let (held, peak) = heap_for(n, all);
        let (no_cache, _) = heap_for(
            n,
            Parts {
                own_records_cached: false,
                ..all
            },
        );
        let (no_history, _) = heap_for(
            n,
            Parts {
                multicast_history: false,
                ..all
            },
        );
        println!(
            "| {n} | {:.1} | {} | {:.1} | {} | {} |",
            held as f64 / 1024.0,
            held / n,
            peak as f64 / 1024.0,
            held.saturating_sub(no_cache) / n,
            held.saturating_sub(no_history) / n,
        );
    }
}
