//! The system backend when avahi-daemon dies, comes back, or starts late: open streams and
//! registrations report `DaemonNotRunning` promptly and are re-established by the library.
//! Each test prints the measured error latency (`--no-capture` shows it).

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a test failure"
)]

mod system_common;

use std::process::Command;
use std::time::{Duration, Instant};

use dnssd::{Browse, BrowseEvent, Error, InstanceName, RegistrationEvent, Service, ServiceType};
use dnssd_netlab::Lab;
use system_common::{NET, lab, publish, runtime, system, wait_browse, within};

/// Errors must arrive well within this after the daemon died (the goal is 1 s).
const PROMPT: Duration = Duration::from_secs(5);

fn systest() -> ServiceType {
    ServiceType::new("_systest._tcp").unwrap()
}

/// Next browse event, failing the test after `limit`.
async fn next(
    browse: &mut Browse,
    limit: Duration,
    what: &str,
) -> Option<dnssd::Result<BrowseEvent>> {
    within(limit, what, browse.next_event()).await
}

async fn added(browse: &mut Browse, name: &str) {
    within(NET, &format!("Added({name})"), async {
        loop {
            match browse.next_event().await {
                Some(Ok(BrowseEvent::Added(i))) if i.name.as_str() == name => return,
                Some(Ok(_) | Err(Error::DaemonNotRunning)) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await;
}

/// Run `f` on the blocking pool (netlab calls and avahi-browse block for a while).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// SIGKILL host 1's avahi-daemon now (by the PID netlab recorded for it) and return the
/// moment it was sent; `Avahi::kill` then finishes the harness's bookkeeping in the background
/// (it waits for the process to go, which takes longer than the signal).
fn kill_daemon(
    lab: &Lab,
    avahi: &std::sync::Arc<dnssd_netlab::Avahi>,
) -> (Instant, tokio::task::JoinHandle<()>) {
    let state = std::env::var("NETLAB_STATE").unwrap();
    let pid_file = format!("{state}/{}/h1.avahi.pid", lab.name());
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SAFETY: plain syscall; `pid` is the avahi-daemon this test started through netlab.
    let rc = unsafe { libc::kill(pid, libc::SIGKILL) };
    let killed_at = Instant::now();
    assert_eq!(rc, 0, "kill avahi-daemon {pid}");
    let avahi = std::sync::Arc::clone(avahi);
    (killed_at, tokio::task::spawn_blocking(move || avahi.kill()))
}

#[test]
fn killed_daemon_ends_browse_with_an_error_and_restart_brings_it_back() {
    let (lab, a1, _a2) = lab();
    let _peer = publish(lab.host(2), "Survivor", "_systest._tcp", 90, &[]);
    let a1 = std::sync::Arc::new(a1);
    runtime().block_on(async {
        let sd = system(true).await;
        let mut browse = sd.browse(&systest()).unwrap();
        added(&mut browse, "Survivor").await;

        let (killed_at, cleanup) = kill_daemon(&lab, &a1);
        // The instance goes (Removed), then the error; both promptly.
        let mut removed = false;
        let error_at = loop {
            match next(&mut browse, PROMPT, "DaemonNotRunning").await {
                Some(Ok(BrowseEvent::Removed(i))) if i.name.as_str() == "Survivor" => {
                    removed = true;
                }
                Some(Err(Error::DaemonNotRunning)) => break Instant::now(),
                other => panic!("unexpected {other:?}"),
            }
        };
        assert!(
            removed,
            "the instance was not reported removed before the error"
        );
        println!(
            "browse: DaemonNotRunning {:?} after SIGKILL",
            error_at - killed_at
        );
        assert!(error_at - killed_at < PROMPT);
        cleanup.await.unwrap();

        let restarter = std::sync::Arc::clone(&a1);
        let restart = Instant::now();
        let restarted = tokio::task::spawn_blocking(move || restarter.restart());
        added(&mut browse, "Survivor").await;
        println!(
            "browse: instance back {:?} after restart() began (daemon start ~1 s included)",
            restart.elapsed()
        );
        restarted.await.unwrap();
    });
}

#[test]
fn killed_daemon_reports_registration_error_and_restart_republishes_it() {
    let (lab, a1, a2) = lab();
    let (a1, a2) = (std::sync::Arc::new(a1), std::sync::Arc::new(a2));
    runtime().block_on(async {
        let sd = system(true).await;
        let mut reg = within(
            NET,
            "register",
            sd.register(
                Service::new(systest(), 91).with_name(InstanceName::new("Phoenix").unwrap()),
            ),
        )
        .await
        .unwrap();
        let host2 = lab.host(2).clone();
        blocking(move || {
            wait_browse(&host2, "_systest._tcp", "Phoenix", |l| {
                l.iter().any(|l| l.name == "Phoenix")
            })
        })
        .await;

        let (killed_at, cleanup) = kill_daemon(&lab, &a1);
        let event = within(PROMPT, "registration error", reg.next_event()).await;
        let error_at = Instant::now();
        assert!(
            matches!(event, Some(Err(Error::DaemonNotRunning))),
            "{event:?}"
        );
        println!(
            "registration: DaemonNotRunning {:?} after SIGKILL",
            error_at - killed_at
        );
        assert!(error_at - killed_at < PROMPT);
        cleanup.await.unwrap();

        // Host 2's daemon still caches the record (a SIGKILLed daemon sends no goodbye):
        // restart it too, so that seeing the service again proves host 1 republished it.
        let (h2, host2) = (std::sync::Arc::clone(&a2), lab.host(2).clone());
        blocking(move || {
            h2.stop();
            h2.restart();
            let lines = system_common::avahi_browse(&host2, "_systest._tcp");
            assert!(
                !lines.iter().any(|l| l.name == "Phoenix"),
                "host 2 still lists it with host 1's daemon down: {lines:?}"
            );
        })
        .await;

        let restarter = std::sync::Arc::clone(&a1);
        blocking(move || restarter.restart()).await;
        let event = within(NET, "Registered again", reg.next_event()).await;
        assert!(
            matches!(&event, Some(Ok(RegistrationEvent::Registered(n))) if n.as_str() == "Phoenix"),
            "{event:?}"
        );
        assert_eq!(reg.name().as_str(), "Phoenix");
        let host2 = lab.host(2).clone();
        blocking(move || {
            wait_browse(&host2, "_systest._tcp", "Phoenix again", |l| {
                l.iter().any(|l| l.name == "Phoenix" && l.port == 91)
            })
        })
        .await;
    });
}

#[test]
fn a_daemon_that_starts_after_the_browse_is_picked_up() {
    let lab = Lab::new(2);
    // Point this process at host 1's future bus before anything exists there.
    let bus = Command::new(dnssd_netlab::script())
        .args(["bus", lab.name(), "1"])
        .output()
        .unwrap();
    assert!(bus.status.success());
    let bus = String::from_utf8(bus.stdout).unwrap().trim().to_string();
    // SAFETY: first thing in this test process; no other thread exists yet.
    unsafe {
        std::env::set_var("DBUS_SYSTEM_BUS_ADDRESS", &bus);
        std::env::set_var("AVAHI_COMPAT_NOWARN", "1");
    }
    let _a2 = lab.host(2).start_avahi();
    let _peer = publish(lab.host(2), "Early Bird", "_systest._tcp", 92, &[]);
    let host1 = lab.host(1).clone();
    runtime().block_on(async {
        let sd = system(true).await;
        // No daemon: registering fails at once with the typed error.
        let e = within(
            NET,
            "register without daemon",
            sd.register(Service::new(systest(), 93)),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, Error::DaemonNotRunning), "{e:?}");

        let mut browse = sd.browse(&systest()).unwrap();
        let first = next(&mut browse, PROMPT, "the missing daemon reported").await;
        assert!(
            matches!(first, Some(Err(Error::DaemonNotRunning))),
            "{first:?}"
        );

        let up = Instant::now();
        let avahi = tokio::task::spawn_blocking(move || host1.start_avahi());
        added(&mut browse, "Early Bird").await;
        println!(
            "late daemon: instance seen {:?} after the daemon start began",
            up.elapsed()
        );
        assert_eq!(avahi.await.unwrap().bus_address(), bus);
    });
}

#[test]
fn without_reconnect_a_killed_daemon_ends_the_stream() {
    let (lab, a1, _a2) = lab();
    let _peer = publish(lab.host(2), "Once", "_systest._tcp", 94, &[]);
    runtime().block_on(async {
        let sd = system(false).await;
        let mut browse = sd.browse(&systest()).unwrap();
        added(&mut browse, "Once").await;
        blocking(move || a1.kill()).await;
        let mut saw_error = false;
        loop {
            match next(&mut browse, PROMPT, "the end of the stream").await {
                Some(Ok(BrowseEvent::Removed(_))) => {}
                Some(Err(Error::DaemonNotRunning)) => saw_error = true,
                None => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(saw_error, "the stream ended without saying why");
    });
}

#[test]
fn a_txt_update_made_while_the_daemon_is_down_is_published_when_it_returns() {
    let (lab, a1, a2) = lab();
    let (a1, a2) = (std::sync::Arc::new(a1), std::sync::Arc::new(a2));
    runtime().block_on(async {
        let sd = system(true).await;
        let mut txt = dnssd::TxtRecord::new();
        txt.insert("v", "1").unwrap();
        let mut reg = within(
            NET,
            "register",
            sd.register(
                Service::new(systest(), 95)
                    .with_name(InstanceName::new("Patient").unwrap())
                    .with_txt(txt),
            ),
        )
        .await
        .unwrap();
        let (_, cleanup) = kill_daemon(&lab, &a1);
        let event = within(PROMPT, "registration error", reg.next_event()).await;
        assert!(
            matches!(event, Some(Err(Error::DaemonNotRunning))),
            "{event:?}"
        );
        cleanup.await.unwrap();

        let mut txt = dnssd::TxtRecord::new();
        txt.insert("v", "2").unwrap();
        within(NET, "update_txt while down", reg.update_txt(txt))
            .await
            .unwrap();

        // Clear host 2's cache of the old record (see above), then bring host 1 back.
        let h2 = std::sync::Arc::clone(&a2);
        blocking(move || {
            h2.stop();
            h2.restart();
        })
        .await;
        let restarter = std::sync::Arc::clone(&a1);
        blocking(move || restarter.restart()).await;
        let event = within(NET, "Registered again", reg.next_event()).await;
        assert!(
            matches!(event, Some(Ok(RegistrationEvent::Registered(_)))),
            "{event:?}"
        );
        let host2 = lab.host(2).clone();
        blocking(move || {
            wait_browse(&host2, "_systest._tcp", "v=2", |l| {
                l.iter().any(|l| l.name == "Patient" && l.txt == ["v=2"])
            })
        })
        .await;
    });
}
