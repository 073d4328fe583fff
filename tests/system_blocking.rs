//! A wedged avahi-daemon must not stall the caller's tokio runtime.
//!
//! On Avahi, `DNSServiceProcessResult` of a registration runs the entry group's collision
//! callback, which calls `avahi_entry_group_reset`/`add_service`/`commit`: blocking D-Bus
//! calls to the daemon. With the daemon stopped (SIGSTOP) they wait until it continues (or
//! libdbus's 25 s timeout). The test:
//! 1. registers a service through the system backend on host 1 (its avahi-daemon);
//! 2. stops that daemon with SIGSTOP;
//! 3. delivers an `EntryGroup.StateChanged(COLLISION)` signal to our D-Bus connection
//!    (`dbus-send` with our connection as destination, for each candidate group path; avahi's
//!    client library takes any such signal for a path it knows), so the compat library
//!    handles a registration conflict while the daemon cannot answer;
//! 4. checks that timer tasks on the same runtime keep ticking within 100 ms of their
//!    schedule for 1.5 s; on a current-thread runtime and on a 2-worker runtime;
//! 5. continues the daemon and expects the rename (`Name #2`) to be reported.

#![cfg(target_os = "linux")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test code: a failure is a test failure"
)]

mod system_common;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dnssd::{InstanceName, RegistrationEvent, Service, ServiceType};
use dnssd_netlab::Lab;
use system_common::{NET, system, within};

/// How late a tick may be.
const ON_TIME: Duration = Duration::from_millis(100);
/// How long the daemon stays stopped while the ticks are watched.
const STOPPED_FOR: Duration = Duration::from_millis(1500);
const TICK: Duration = Duration::from_millis(20);
/// Highest avahi client number tried (each D-Bus client of the daemon gets the next one; the
/// lab's own tools and the backend's probe use a few before us).
const MAX_CLIENT: usize = 120;
/// Threads sending the signals.
const SENDERS: usize = 8;
/// `AVAHI_ENTRY_GROUP_COLLISION`.
const COLLISION: i32 = 3;

/// Continues the daemon when dropped, so a failing test does not leave it stopped.
struct Stopped(i32);

impl Stopped {
    fn stop(pid: i32) -> Stopped {
        // SAFETY: plain syscall on the avahi-daemon this test started.
        let rc = unsafe { libc::kill(pid, libc::SIGSTOP) };
        assert_eq!(rc, 0, "SIGSTOP {pid}");
        Stopped(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { libc::kill(self.0, libc::SIGCONT) };
    }
}

fn daemon_pid(lab: &Lab) -> i32 {
    let state = std::env::var("NETLAB_STATE").unwrap();
    let pid_file = format!("{state}/{}/h1.avahi.pid", lab.name());
    std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn dbus_send(args: &[&str]) -> String {
    let out = Command::new("dbus-send")
        .arg("--system")
        .args(args)
        .output()
        .expect("run dbus-send");
    if !out.status.success() {
        eprintln!(
            "dbus-send {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The unique bus names of this process's D-Bus connections (one per Avahi ref).
fn our_connections() -> Vec<String> {
    let names = dbus_send(&[
        "--print-reply",
        "--dest=org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus.ListNames",
    ]);
    let me = std::process::id().to_string();
    names
        .split('"')
        .filter(|name| name.starts_with(":1."))
        .filter(|name| {
            let pid = dbus_send(&[
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.GetConnectionUnixProcessID",
                &format!("string:{name}"),
            ]);
            pid.split_whitespace().last() == Some(me.as_str())
        })
        .map(str::to_owned)
        .collect()
}

/// Tell each of our connections that its entry group collided. The daemon does not list its
/// objects, so every path `/ClientN/EntryGroup1` with N up to [`MAX_CLIENT`] is tried (from a
/// few threads at once); avahi's client ignores the paths it does not own.
fn deliver_collision(connections: &[String]) {
    std::thread::scope(|scope| {
        for connection in connections {
            for first in 0..SENDERS {
                scope.spawn(move || {
                    for client in (first..=MAX_CLIENT).step_by(SENDERS) {
                        dbus_send(&[
                            "--type=signal",
                            &format!("--dest={connection}"),
                            &format!("/Client{client}/EntryGroup1"),
                            "org.freedesktop.Avahi.EntryGroup.StateChanged",
                            &format!("int32:{COLLISION}"),
                            "string:org.freedesktop.Avahi.CollisionError",
                        ]);
                    }
                });
            }
        }
    });
}

/// Ticks every `TICK` until `until`; returns the largest lateness seen (in microseconds).
fn spawn_ticker(worst: Arc<AtomicU64>, until: Instant) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut due = Instant::now() + TICK;
        while due < until {
            tokio::time::sleep_until(due.into()).await;
            let late = Instant::now().saturating_duration_since(due);
            worst.fetch_max(u64::try_from(late.as_micros()).unwrap(), Ordering::SeqCst);
            due += TICK;
        }
    })
}

fn collision_with_stopped_daemon_does_not_stall(runtime: tokio::runtime::Runtime, label: &str) {
    let lab = Lab::new(1);
    let avahi = lab.host(1).start_avahi();
    avahi.use_for_this_process();
    let pid = daemon_pid(&lab);
    runtime.block_on(async {
        let sd = system(false).await;
        let service = Service::new(ServiceType::new("_stall._tcp").unwrap(), 4321)
            .with_name(InstanceName::new("Stalled").unwrap());
        let mut registration = within(NET, "registered", sd.register(service)).await.unwrap();
        assert_eq!(registration.name().as_str(), "Stalled");
        let connections = tokio::task::spawn_blocking(our_connections).await.unwrap();
        assert!(!connections.is_empty(), "no D-Bus connection of ours found");

        let stopped = Stopped::stop(pid);
        let until = Instant::now() + STOPPED_FOR;
        let worst = Arc::new(AtomicU64::new(0));
        let tickers: Vec<_> = (0..4)
            .map(|_| spawn_ticker(Arc::clone(&worst), until))
            .collect();
        let sent = tokio::task::spawn_blocking(move || deliver_collision(&connections));
        for ticker in tickers {
            ticker.await.unwrap();
        }
        let worst = Duration::from_micros(worst.load(Ordering::SeqCst));
        println!("{label}: worst tick lateness with the daemon stopped: {worst:?}");
        drop(stopped);
        sent.await.unwrap();
        assert!(
            worst <= ON_TIME,
            "{label}: a timer on the runtime was {worst:?} late while the daemon was stopped"
        );

        // Continued, the daemon answers the pending calls and the library renames.
        let event = within(NET, "renamed", registration.next_event()).await;
        assert!(
            matches!(&event, Some(Ok(RegistrationEvent::Registered(n))) if n.as_str() == "Stalled #2"),
            "{label}: {event:?}"
        );
    });
}

#[test]
fn registration_conflict_with_a_stopped_daemon_leaves_a_current_thread_runtime_ticking() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    collision_with_stopped_daemon_does_not_stall(runtime, "current-thread");
}

#[test]
fn registration_conflict_with_a_stopped_daemon_leaves_a_two_worker_runtime_ticking() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    collision_with_stopped_daemon_does_not_stall(runtime, "2-worker");
}
