//! Raw `dnssd-sys` calls against a real avahi-daemon in a netlab lab, through both tables
//! (`Api::load()` always; `Api::linked()` when the tests are built with `--features link`, a
//! CI step of its own, so the default build stays the one users get).
//!
//! Two hosts on one link, each with its own avahi-daemon and system D-Bus. This process talks
//! to host 1's daemon (its `DBUS_SYSTEM_BUS_ADDRESS`); host 2 runs Avahi's own tools.
//! - register through libdns_sd on host 1; `avahi-browse -rpt` on host 2 sees name, port, TXT;
//! - `avahi-publish -s` on host 2; DNSServiceBrowse + DNSServiceResolve on host 1 find it.
//!
//! Nothing is skipped: with no daemon, no lab or no linked library these tests fail.
//! Each test needs a process of its own (libdbus reads the bus address once per process):
//! nextest gives it one, and under `cargo test` [`support::in_own_process`] does.

#![cfg(target_os = "linux")]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test code: a failure is a test failure"
)]

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use dnssd_netlab::{Host, Lab};
use dnssd_sys::{kDNSServiceErr_NoError, kDNSServiceFlagsAdd};
use support::{Event, Operation, Table, table, txt_wire};

/// Generous bound for the daemons to see each other (announcements, probing: ~1-3 s).
const DEADLINE: Duration = Duration::from_secs(20);
const SERVICE_TYPE: &str = "_dnssdsysraw._tcp";

/// A two-host lab with avahi on both; this process uses host 1's daemon.
struct Setup {
    lab: Lab,
    _avahi1: dnssd_netlab::Avahi,
    _avahi2: dnssd_netlab::Avahi,
}

impl Setup {
    fn new() -> Setup {
        let lab = Lab::new(2);
        let avahi1 = lab.host(1).start_avahi();
        let avahi2 = lab.host(2).start_avahi();
        // Before the first libdns_sd call of this process.
        avahi1.use_for_this_process();
        Setup {
            lab,
            _avahi1: avahi1,
            _avahi2: avahi2,
        }
    }
}

/// One resolved line of `avahi-browse -rpt` (`=;if;proto;name;type;domain;host;addr;port;txt`).
#[derive(Debug)]
struct BrowseLine {
    name: String,
    port: u16,
    txt: String,
}

/// Runs `avahi-browse -rpt TYPE` on `host` until it reports a resolved `name` or the deadline.
fn avahi_browse_until(host: &Host, name: &str) -> Option<BrowseLine> {
    let deadline = Instant::now() + DEADLINE;
    let mut last = String::new();
    while Instant::now() < deadline {
        let output = host
            .command("avahi-browse")
            .args(["-rpt", SERVICE_TYPE])
            .stderr(Stdio::piped())
            .output()
            .expect("run avahi-browse");
        last = String::from_utf8_lossy(&output.stdout).into_owned();
        for line in last.lines() {
            let fields: Vec<&str> = line.split(';').collect();
            if fields.len() >= 10 && fields[0] == "=" && fields[3] == name {
                return Some(BrowseLine {
                    name: fields[3].to_owned(),
                    port: fields[8].parse().expect("port"),
                    txt: fields[9..].join(";"),
                });
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    eprintln!("avahi-browse never showed {name}; last output:\n{last}");
    None
}

fn register_is_seen_by_avahi_browse(kind: Table, name: &str) {
    let setup = Setup::new();
    let api = table(kind);
    let txt = txt_wire(&["path=/raw", "via=dnssd-sys"]);
    let registration = Operation::register(api, name, SERVICE_TYPE, 4242, &txt)
        .unwrap_or_else(|e| panic!("{kind:?}: DNSServiceRegister failed with {e}"));
    let confirmed = registration.wait_for(DEADLINE, |event| match event {
        Event::Registered { error, name, .. } => Some((*error, name.clone())),
        _ => None,
    });
    assert_eq!(
        confirmed,
        Some((kDNSServiceErr_NoError, name.to_owned())),
        "{kind:?}: register reply; events {:?}",
        registration.events()
    );

    let seen = avahi_browse_until(setup.lab.host(2), name)
        .unwrap_or_else(|| panic!("{kind:?}: host 2's avahi-browse never resolved {name}"));
    assert_eq!(seen.name, name);
    assert_eq!(seen.port, 4242, "{seen:?}");
    // avahi-browse -p prints each TXT string quoted, separated by spaces (order not fixed).
    assert!(seen.txt.contains("\"path=/raw\""), "{seen:?}");
    assert!(seen.txt.contains("\"via=dnssd-sys\""), "{seen:?}");
    drop(registration);
}

fn avahi_publish_is_found_by_browse_and_resolve(kind: Table, name: &str) {
    let setup = Setup::new();
    let host2 = setup.lab.host(2);
    let mut publish = host2.command("avahi-publish");
    publish
        .args(["-s", name, SERVICE_TYPE, "5353", "k=v", "flag"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _publisher = host2.spawn(publish);

    let api = table(kind);
    let browse = Operation::browse(api, SERVICE_TYPE)
        .unwrap_or_else(|e| panic!("{kind:?}: DNSServiceBrowse failed with {e}"));
    let found = browse.wait_for(DEADLINE, |event| match event {
        Event::Browsed {
            flags,
            interface,
            error,
            name: found,
            regtype,
            domain,
        } if *error == kDNSServiceErr_NoError
            && flags & kDNSServiceFlagsAdd != 0
            && found == name =>
        {
            Some((*interface, regtype.clone(), domain.clone()))
        }
        _ => None,
    });
    let (interface, regtype, domain) = found.unwrap_or_else(|| {
        panic!(
            "{kind:?}: browse never reported {name}; events {:?}",
            browse.events()
        )
    });
    assert_ne!(interface, 0, "an instance comes with its interface index");
    assert!(regtype.starts_with(SERVICE_TYPE), "{regtype}");
    assert!(domain.starts_with("local"), "{domain}");

    let resolve = Operation::resolve(api, interface, name, &regtype, &domain)
        .unwrap_or_else(|e| panic!("{kind:?}: DNSServiceResolve failed with {e}"));
    let resolved = resolve.wait_for(DEADLINE, |event| match event {
        Event::Resolved {
            error,
            host,
            port,
            txt,
            fullname,
            ..
        } => Some((*error, host.clone(), *port, txt.clone(), fullname.clone())),
        _ => None,
    });
    let (error, host, port, txt, fullname) = resolved.unwrap_or_else(|| {
        panic!(
            "{kind:?}: resolve of {name} never answered; events {:?}",
            resolve.events()
        )
    });
    assert_eq!(error, kDNSServiceErr_NoError);
    assert_eq!(port, 5353);
    assert_eq!(txt_sorted(&txt), txt_sorted(&txt_wire(&["k=v", "flag"])));
    assert!(
        host.starts_with(&host2.name()),
        "target host {host} is host 2's ({})",
        host2.avahi_host_name()
    );
    assert!(
        fullname.contains(SERVICE_TYPE),
        "{fullname} names the service type"
    );
}

/// TXT wire strings in a fixed order (Avahi may reorder the strings of a record).
fn txt_sorted(wire: &[u8]) -> Vec<Vec<u8>> {
    let mut strings = Vec::new();
    let mut rest = wire;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len);
        assert!(tail.len() >= len, "truncated TXT {wire:?}");
        strings.push(tail[..len].to_vec());
        rest = &tail[len..];
    }
    strings.sort();
    strings
}

#[cfg(feature = "link")]
#[test]
fn linked_register_is_seen_by_avahi_browse_on_another_host() {
    support::in_own_process(
        "linked_register_is_seen_by_avahi_browse_on_another_host",
        || {
            register_is_seen_by_avahi_browse(Table::Linked, "raw-linked-register");
        },
    );
}

#[test]
fn loaded_register_is_seen_by_avahi_browse_on_another_host() {
    support::in_own_process(
        "loaded_register_is_seen_by_avahi_browse_on_another_host",
        || {
            register_is_seen_by_avahi_browse(Table::Loaded, "raw-loaded-register");
        },
    );
}

#[cfg(feature = "link")]
#[test]
fn linked_browse_and_resolve_find_an_avahi_publish_service() {
    support::in_own_process(
        "linked_browse_and_resolve_find_an_avahi_publish_service",
        || {
            avahi_publish_is_found_by_browse_and_resolve(Table::Linked, "raw-linked-publish");
        },
    );
}

#[test]
fn loaded_browse_and_resolve_find_an_avahi_publish_service() {
    support::in_own_process(
        "loaded_browse_and_resolve_find_an_avahi_publish_service",
        || {
            avahi_publish_is_found_by_browse_and_resolve(Table::Loaded, "raw-loaded-publish");
        },
    );
}
