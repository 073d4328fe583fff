//! Drop handles of the system backend at every point of an operation's life, thousands of
//! times, against a real avahi-daemon; afterwards no descriptor and no thread may be left.
//!
//! Points covered, cycle after cycle with varying delays: register / browse / resolve / query /
//! host lookup / type enumeration / endpoints dropped before the first reply, while the reply is being processed, and during a
//! burst of callbacks (a browse of a type with [`BURST`] instances published on the other host,
//! dropped after 0..=BURST events); and, a few times per run, operations open or created
//! while avahi-daemon is killed, dropped before and after their error arrived, then the daemon
//! is restarted.
//!
//! Every 100 cycles, right after `ServiceDiscovery::wait_released()`, the descriptor count must
//! be back at the warm-up baseline. At the end, after `wait_released()` and a pause longer than the runtime's blocking
//! thread keep-alive, the process must hold no more descriptors (`/proc/self/fd`) and threads
//! (`/proc/self/task`) than after a warm-up, within a small slack.
//!
//! `DNSSD_STRESS_CYCLES` sets the number of cycles (default [`DEFAULT_CYCLES`], ~20 s in all here);
//! `DNSSD_STRESS_KILLS` the number of daemon kills (default 2). `scripts/valgrind-drop-stress`
//! runs this test under valgrind with fewer cycles.

#![cfg(target_os = "linux")]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test code: a failure is a test failure"
)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use dnssd::{
    BackendKind, BrowseEvent, Instance, InstanceName, RecordType, Service, ServiceDiscovery,
    ServiceType, TxtRecord,
};
use dnssd_netlab::{Avahi, Lab, LabChild};

const DEFAULT_CYCLES: usize = 1200;
/// Kinds of cycle (see [`cycle`]).
const KINDS: usize = 9;
/// Instances of the burst type published on host 2.
const BURST: usize = 20;
/// Blocking pool threads go away after this long idle (checked after twice as long).
const KEEP_ALIVE: Duration = Duration::from_millis(200);
/// Descriptors and threads allowed above the warm-up baseline (things the runtime or libdbus
/// may cache lazily); a leak of one ref per cycle exceeds this many times over.
const FD_SLACK: usize = 4;
const THREAD_SLACK: usize = 2;
/// Generous bound for anything the daemon must do.
const DEADLINE: Duration = Duration::from_secs(20);

fn env_number(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value} is not a number")),
        Err(_) => default,
    }
}

fn count_entries(dir: &str) -> usize {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {dir}: {e}"))
        .count()
}

/// (open descriptors, threads) of this process.
fn resources() -> (usize, usize) {
    (
        count_entries("/proc/self/fd"),
        count_entries("/proc/self/task"),
    )
}

/// Waits until every dropped operation released its refs and idle blocking threads exited.
async fn settle(sd: &ServiceDiscovery) -> (usize, usize) {
    tokio::time::timeout(DEADLINE, sd.wait_released())
        .await
        .expect("wait_released() returns once every dropped operation released its refs");
    tokio::time::sleep(KEEP_ALIVE * 3).await;
    resources()
}

/// Blocks the current worker briefly (lab commands) without stalling the runtime.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// A varying delay in 0..3 ms, so drops land before, during and after the first reply.
fn jitter(cycle: usize) -> Duration {
    Duration::from_micros(((cycle * 7919) % 3000) as u64)
}

struct Fixture {
    burst_type: ServiceType,
    plain_type: ServiceType,
    /// One burst instance, for resolve and record queries.
    target: Instance,
    target_txt_name: String,
    /// Host 2's mDNS name, for address lookups.
    host2: String,
}

/// Browses `burst_type` until all [`BURST`] instances are there; returns one of them.
async fn await_burst(sd: &ServiceDiscovery, burst_type: &ServiceType) -> Instance {
    let mut browse = sd.browse(burst_type).expect("browse burst type");
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while seen.len() < BURST {
        match tokio::time::timeout_at(deadline, browse.next_event()).await {
            Ok(Some(Ok(BrowseEvent::Added(instance)))) => seen.push(instance),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => panic!("burst browse failed: {e}"),
            Ok(None) => panic!("burst browse ended"),
            Err(_) => panic!("only {} of {BURST} burst instances seen", seen.len()),
        }
    }
    seen.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
    seen.swap_remove(0)
}

fn service(fixture: &Fixture, cycle: usize) -> Service {
    let mut txt = TxtRecord::new();
    txt.insert("cycle", cycle.to_string()).unwrap();
    // A few names only: re-registering a name whose previous registration is still being
    // withdrawn exercises the conflict-rename path too.
    Service::new(fixture.plain_type.clone(), 4000 + (cycle % 1000) as u16)
        .with_name(InstanceName::new(format!("drop stress {}", cycle % 3)).unwrap())
        .with_txt(txt)
}

/// One cycle: start an operation and drop it at a point chosen by `cycle`.
async fn cycle(sd: &ServiceDiscovery, fixture: &Fixture, cycle: usize) {
    let delay = jitter(cycle);
    match cycle % KINDS {
        // register: dropped before or just after the daemon confirms.
        0 => {
            let _ = tokio::time::timeout(delay, sd.register(service(fixture, cycle))).await;
        }
        // browse of an empty type: dropped after a delay.
        1 => {
            let browse = sd.browse(&fixture.plain_type).unwrap();
            tokio::time::sleep(delay).await;
            drop(browse);
        }
        // browse during a burst of callbacks: dropped after 0..=BURST events.
        2 => {
            let mut browse = sd.browse(&fixture.burst_type).unwrap();
            let wanted = (cycle / KINDS) % (BURST + 1);
            for _ in 0..wanted {
                match tokio::time::timeout(Duration::from_secs(2), browse.next_event()).await {
                    Ok(Some(Ok(_))) => {}
                    _ => break,
                }
            }
            drop(browse);
        }
        // resolve: dropped before or after its answer.
        3 => {
            let _ = tokio::time::timeout(delay, sd.resolve(&fixture.target)).await;
        }
        // record query (TXT of a burst instance): dropped after a delay or its first answer.
        4 => {
            let mut query = sd
                .query_record(&fixture.target_txt_name, RecordType(16))
                .unwrap();
            let _ = tokio::time::timeout(delay, query.next_event()).await;
            drop(query);
        }
        // endpoints (browse + resolve + address lookups per instance) dropped mid-flight.
        5 => {
            let mut endpoints = sd.browse(&fixture.burst_type).unwrap().resolved();
            let _ = tokio::time::timeout(delay * 4, endpoints.next_event()).await;
            drop(endpoints);
        }
        // host lookup (two QueryRecord refs, A and AAAA, with Avahi) dropped mid-flight.
        6 => {
            let _ = tokio::time::timeout(delay, sd.lookup_host(&fixture.host2)).await;
        }
        // service type enumeration dropped after a delay.
        7 => {
            let mut types = sd.browse_types().unwrap();
            let _ = tokio::time::timeout(delay, types.next_event()).await;
            drop(types);
        }
        // several at once, dropped together in varying order.
        _ => {
            let browse = sd.browse(&fixture.burst_type).unwrap();
            let resolve = sd.resolve_stream(&fixture.target).unwrap();
            let register = tokio::time::timeout(delay, sd.register(service(fixture, cycle))).await;
            tokio::task::yield_now().await;
            if cycle % 2 == 0 {
                drop((browse, resolve, register));
            } else {
                drop((register, resolve, browse));
            }
        }
    }
}

/// Operations alive or created while the daemon is dead, dropped before and after their error
/// arrived; then the daemon comes back.
async fn daemon_dies(sd: &ServiceDiscovery, fixture: &Fixture, avahi: &Avahi, round: usize) {
    let mut registration =
        tokio::time::timeout(DEADLINE, sd.register(service(fixture, 100_000 + round)))
            .await
            .expect("register confirmed in time")
            .expect("register");
    let mut browse = sd.browse(&fixture.burst_type).unwrap();
    let first = tokio::time::timeout(DEADLINE, browse.next_event()).await;
    assert!(matches!(first, Ok(Some(Ok(_)))), "{first:?}");
    // A resolve and a record query that have answered, so their refs are live when the
    // daemon dies (Avahi's library used to call an uninitialised callback pointer for these).
    let mut resolve = sd.resolve_stream(&fixture.target).unwrap();
    let answer = tokio::time::timeout(DEADLINE, resolve.next_event()).await;
    assert!(matches!(answer, Ok(Some(Ok(_)))), "{answer:?}");
    let mut query = sd
        .query_record(&fixture.target_txt_name, RecordType(16))
        .unwrap();
    let answer = tokio::time::timeout(DEADLINE, query.next_event()).await;
    assert!(matches!(answer, Ok(Some(Ok(_)))), "{answer:?}");
    let dropped_at_kill = sd.browse(&fixture.plain_type).unwrap();
    // A registration whose task is running but not yet confirmed when the daemon dies.
    let pending_register = {
        let sd = sd.clone();
        let service = service(fixture, 200_000 + round);
        tokio::spawn(async move { sd.register(service).await })
    };
    tokio::task::yield_now().await;

    blocking(|| avahi.kill());
    drop(dropped_at_kill);
    pending_register.abort();
    drop(pending_register);

    // Open operations report the loss, then are dropped.
    let lost = tokio::time::timeout(DEADLINE, registration.next_event()).await;
    assert!(
        matches!(&lost, Ok(Some(Err(e))) if e.is_daemon_gone()),
        "registration reports the daemon gone: {lost:?}"
    );
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        match tokio::time::timeout_at(deadline, browse.next_event()).await {
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) if e.is_daemon_gone() => break,
            other => panic!("browse must report the daemon gone: {other:?}"),
        }
    }
    drop(browse);
    drop(registration);
    let _ = tokio::time::timeout(Duration::from_millis(50), resolve.next_event()).await;
    drop(resolve);
    let _ = tokio::time::timeout(Duration::from_millis(50), query.next_event()).await;
    drop(query);

    // New operations while the daemon is dead: errors, and (reconnecting) retries, dropped.
    let failed = tokio::time::timeout(DEADLINE, sd.register(service(fixture, 300_000 + round)))
        .await
        .expect("register fails promptly without a daemon");
    assert!(
        matches!(&failed, Err(e) if e.is_daemon_gone()),
        "{failed:?}"
    );
    let mut dead_browse = sd.browse(&fixture.plain_type).unwrap();
    let error = tokio::time::timeout(DEADLINE, dead_browse.next_event()).await;
    assert!(
        matches!(&error, Ok(Some(Err(e))) if e.is_daemon_gone()),
        "{error:?}"
    );
    let resolve_dead = tokio::time::timeout(DEADLINE, sd.resolve(&fixture.target))
        .await
        .expect("resolve fails promptly without a daemon");
    assert!(resolve_dead.is_err(), "{resolve_dead:?}");
    // Let it retry (backoff 250 ms) once before the drop.
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(dead_browse);
    let mut late = sd.browse(&fixture.plain_type).unwrap();
    let _ = tokio::time::timeout(Duration::from_millis(5), late.next_event()).await;
    drop(late);

    blocking(|| avahi.restart());
    // Back to the steady state: the burst is visible again through the new daemon.
    let _ = await_burst(sd, &fixture.burst_type).await;
}

#[test]
fn dropping_system_handles_at_every_point_leaks_no_fd_or_thread() {
    let cycles = env_number("DNSSD_STRESS_CYCLES", DEFAULT_CYCLES);
    let kills = env_number("DNSSD_STRESS_KILLS", 2);

    let lab = Lab::new(2);
    let avahi = lab.host(1).start_avahi();
    let _avahi2 = lab.host(2).start_avahi();
    // Before the runtime's threads and the first libdns_sd call.
    avahi.use_for_this_process();

    let burst_type = ServiceType::new("_dropburst._tcp").unwrap();
    let plain_type = ServiceType::new("_dropstress._tcp").unwrap();
    let _publishers: Vec<LabChild> = (0..BURST)
        .map(|i| {
            let mut command = lab.host(2).command("avahi-publish");
            command
                .args(["-s", &format!("burst {i:02}"), "_dropburst._tcp"])
                .arg((5000 + i).to_string())
                .arg(format!("i={i}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            lab.host(2).spawn(command)
        })
        .collect();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_keep_alive(KEEP_ALIVE)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let sd = ServiceDiscovery::builder()
            .backend(BackendKind::DnsSd)
            .build()
            .await
            .expect("system backend");
        let target = await_burst(&sd, &burst_type).await;
        let target_txt_name = format!(
            "{}.{}.local.",
            target.name.escaped(),
            burst_type.dns_sd_regtype()
        );
        let fixture = Fixture {
            burst_type,
            plain_type,
            target,
            target_txt_name,
            host2: lab.host(2).avahi_host_name(),
        };

        // Warm-up: every kind of cycle once, so lazily created state exists in the baseline.
        for i in 0..2 * KINDS {
            cycle(&sd, &fixture, i).await;
        }
        let baseline = settle(&sd).await;
        eprintln!("baseline: {} fds, {} threads", baseline.0, baseline.1);

        let started = Instant::now();
        let kill_at: Vec<usize> = (1..=kills).map(|k| k * cycles / (kills + 1)).collect();
        let mut peak = baseline;
        for i in 0..cycles {
            if let Some(round) = kill_at.iter().position(|&at| at == i) {
                daemon_dies(&sd, &fixture, &avahi, round).await;
            }
            cycle(&sd, &fixture, i).await;
            if i % 100 == 99 {
                let now = resources();
                peak = (peak.0.max(now.0), peak.1.max(now.1));
                // Descriptors must be back right after wait_released (threads of the blocking
                // pool linger until their keep-alive ends, so they are checked at the end).
                tokio::time::timeout(DEADLINE, sd.wait_released())
                    .await
                    .expect("wait_released() returns");
                let fds = resources().0;
                assert!(
                    fds <= baseline.0 + FD_SLACK,
                    "cycle {i}: {fds} descriptors right after wait_released, baseline {}",
                    baseline.0
                );
            }
        }
        let elapsed = started.elapsed();
        let after = settle(&sd).await;
        eprintln!(
            "{cycles} cycles and {kills} daemon kills in {elapsed:.1?}: baseline {} fds / {} \
             threads, peak while running {} / {}, after wait_released {} / {}",
            baseline.0, baseline.1, peak.0, peak.1, after.0, after.1
        );
        assert!(
            after.0 <= baseline.0 + FD_SLACK,
            "descriptors grew from {} to {} over {cycles} cycles",
            baseline.0,
            after.0
        );
        assert!(
            after.1 <= baseline.1 + THREAD_SLACK,
            "threads grew from {} to {} over {cycles} cycles",
            baseline.1,
            after.1
        );
    });
}
