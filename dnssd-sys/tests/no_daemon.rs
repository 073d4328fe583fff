//! With no daemon reachable, DNSServiceRegister and DNSServiceBrowse fail promptly with an
//! error code and create no ref, through both tables. No network is touched: Avahi's library
//! only tries to reach the system D-Bus, which points at a socket that does not exist.
//!
//! This is a hang check (a generous 5 s bound), not a performance assertion.

#![cfg(all(unix, not(target_vendor = "apple")))]

mod support;

use std::time::{Duration, Instant};

use dnssd_sys::kDNSServiceErr_Unknown;
use support::{Operation, Table, table};

const HANG_BOUND: Duration = Duration::from_secs(5);

#[test]
fn register_and_browse_fail_promptly_without_a_daemon() {
    // SAFETY: the only test of this binary, run before any thread that could read the
    // environment exists.
    unsafe {
        std::env::set_var(
            "DBUS_SYSTEM_BUS_ADDRESS",
            "unix:path=/nonexistent/dnssd-sys-test/bus",
        );
        std::env::set_var("AVAHI_COMPAT_NOWARN", "1");
    }
    // The linked table only exists under `--features link` (its own CI step).
    let tables: &[Table] = if cfg!(feature = "link") {
        &[Table::Linked, Table::Loaded]
    } else {
        &[Table::Loaded]
    };
    for &kind in tables {
        let api = table(kind);

        let started = Instant::now();
        let result = Operation::register(api, "No Daemon", "_dnssdsys._tcp", 4321, &[]);
        let elapsed = started.elapsed();
        // Avahi has no ServiceNotRunning code: a missing daemon is Unknown (-65537).
        assert_eq!(
            result.err(),
            Some(kDNSServiceErr_Unknown),
            "{kind:?} register"
        );
        assert!(elapsed < HANG_BOUND, "{kind:?} register took {elapsed:?}");

        let started = Instant::now();
        let result = Operation::browse(api, "_dnssdsys._tcp");
        let elapsed = started.elapsed();
        assert_eq!(
            result.err(),
            Some(kDNSServiceErr_Unknown),
            "{kind:?} browse"
        );
        assert!(elapsed < HANG_BOUND, "{kind:?} browse took {elapsed:?}");
    }
}
