//! Run-time backend choice in namespace hosts: `Auto` takes avahi-daemon over D-Bus when it
//! owns its bus name, else the `libdns_sd` daemon when it answers, else the embedded engine;
//! the builder and `DNSSD_BACKEND` override it.
//!
//! Each test sets process environment first (nextest runs every test in its own process), then
//! enters a lab host on a dedicated thread and builds a tokio runtime there.

// Network namespaces, the embedded engine and `nix` are Linux-only.
#![cfg(target_os = "linux")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::future::Future;
use std::time::Duration;

use dnssd::{BACKEND_ENV, BackendKind, Error, Service, ServiceDiscovery, ServiceType};
use dnssd_netlab::{Host, Lab};

/// Runs `body` on a thread inside `host`'s network namespace, on a fresh tokio runtime.
fn on_host<F, Fut, T>(host: &Host, body: F) -> T
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
    T: Send + 'static,
{
    host.run(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(body())
    })
}

/// Sets the process environment for one test (nextest: one process per test, and this runs
/// before any other thread starts).
fn set_env(bus: Option<&str>, backend: Option<&str>) {
    // SAFETY: called first thing in the test process, before any thread that reads the
    // environment exists (nextest runs each test in its own process).
    unsafe {
        std::env::set_var("AVAHI_COMPAT_NOWARN", "1");
        match bus {
            Some(bus) => std::env::set_var("DBUS_SYSTEM_BUS_ADDRESS", bus),
            None => std::env::remove_var("DBUS_SYSTEM_BUS_ADDRESS"),
        }
        match backend {
            Some(b) => std::env::set_var(BACKEND_ENV, b),
            None => std::env::remove_var(BACKEND_ENV),
        }
    }
}

/// A bus address where no D-Bus (and so no avahi-daemon) listens.
const NO_BUS: &str = "unix:path=/nonexistent/dnssd-test-no-bus";

#[test]
fn auto_without_a_daemon_is_embedded() {
    set_env(Some(NO_BUS), None);
    let lab = Lab::new(1);
    let (chosen, kind, local_only, bound) = on_host(lab.host(1), || async {
        let builder = ServiceDiscovery::builder();
        let start = std::time::Instant::now();
        let chosen = builder.chosen_backend().await.unwrap();
        eprintln!("probe without a daemon: {:?}", start.elapsed());
        let sd = builder.build().await.unwrap();
        let kind = sd.backend();
        let local_only = sd.capabilities().local_only;
        let bound = dnssd_netlab::process_binds_mdns_port();
        sd.shutdown().await;
        (chosen, kind, local_only, bound)
    });
    assert_eq!(chosen, BackendKind::Embedded);
    assert!(bound, "the embedded engine listens on port 5353");
    assert_eq!(kind, BackendKind::Embedded);
    assert!(!local_only, "the embedded engine has no LocalOnly");
}

#[test]
fn auto_with_a_running_avahi_is_system_and_never_binds_5353() {
    let lab = Lab::new(1);
    let avahi = lab.host(1).start_avahi();
    set_env(Some(avahi.bus_address()), None);
    let (kind, max_subtypes, bound) = on_host(lab.host(1), || async {
        let start = std::time::Instant::now();
        let sd = ServiceDiscovery::new().await.unwrap();
        eprintln!("probe and build with avahi running: {:?}", start.elapsed());
        let kind = sd.backend();
        let max_subtypes = sd.capabilities().max_browse_subtypes;
        // A registration goes through the daemon: it confirms, and this process holds no
        // socket on port 5353.
        let t = ServiceType::new("_choice._tcp").unwrap();
        let registration =
            tokio::time::timeout(Duration::from_secs(15), sd.register(Service::new(t, 4242)))
                .await
                .expect("registration confirmed within 15 s")
                .unwrap();
        let bound = dnssd_netlab::process_binds_mdns_port();
        drop(registration);
        sd.shutdown().await;
        (kind, max_subtypes, bound)
    });
    // avahi-daemon owns its D-Bus name: served over D-Bus, not through the compat library.
    assert_eq!(kind, BackendKind::Avahi);
    assert_eq!(max_subtypes, None, "one ServiceBrowser per subtype");
    assert!(!bound, "the system backend must not bind port 5353");
}

#[test]
fn a_daemon_that_went_away_is_not_chosen_again() {
    let lab = Lab::new(1);
    let avahi = lab.host(1).start_avahi();
    set_env(Some(avahi.bus_address()), None);
    let host = lab.host(1).clone();
    let (before, after) = on_host(&host, move || async move {
        let before = ServiceDiscovery::builder().chosen_backend().await.unwrap();
        avahi.kill();
        let after = ServiceDiscovery::builder().chosen_backend().await.unwrap();
        (before, after)
    });
    assert_eq!(before, BackendKind::Avahi);
    assert_eq!(after, BackendKind::Embedded);
}

#[test]
fn environment_overrides_auto() {
    let lab = Lab::new(1);
    let avahi = lab.host(1).start_avahi();
    set_env(Some(avahi.bus_address()), Some("embedded"));
    let kind = on_host(lab.host(1), || async {
        let sd = ServiceDiscovery::new().await.unwrap();
        let kind = sd.backend();
        sd.shutdown().await;
        kind
    });
    assert_eq!(kind, BackendKind::Embedded, "DNSSD_BACKEND=embedded wins");
}

#[test]
fn builder_overrides_environment_and_auto() {
    set_env(Some(NO_BUS), Some("embedded"));
    let lab = Lab::new(1);
    let (kind, registered) = on_host(lab.host(1), || async {
        let sd = ServiceDiscovery::builder()
            .backend(BackendKind::System)
            .build()
            .await
            .unwrap();
        let t = ServiceType::new("_choice._tcp").unwrap();
        let registered = sd.register(Service::new(t, 4242)).await.map(drop);
        (sd.backend(), registered)
    });
    assert_eq!(kind, BackendKind::DnsSd);
    assert!(
        matches!(registered, Err(Error::DaemonNotRunning)),
        "{registered:?}"
    );
}
