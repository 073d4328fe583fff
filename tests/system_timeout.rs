//! A resolve that gets no answer, on Avahi: its library reports the resolver's timeout as
//! `kDNSServiceErr_Unknown`, the code it also uses for a lost daemon. The backend must report
//! `Error::Timeout` (the daemon is fine) and must not re-create the resolver every second.
//!
//! The stale instance: host 2 (no responder of its own) multicasts one mDNS response with only
//! a PTR record, `_stale._tcp.local -> Ghost._stale._tcp.local`, as a peer that was unplugged
//! right after announcing would leave behind. Host 1's avahi-daemon caches it, so a browse
//! reports `Ghost`, but nobody answers its SRV/TXT queries.

#![cfg(target_os = "linux")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test code: a failure is a test failure"
)]

mod system_common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::Command;
use std::time::{Duration, Instant};

use dnssd::{BrowseEvent, Error, Instance, ServiceDiscovery, ServiceType};
use dnssd_netlab::Lab;
use system_common::{NET, system, within};

const STALE_TYPE: &str = "_stale._tcp";
/// How long `.resolved()` follows the stale instance while avahi clients are counted.
const WATCH: Duration = Duration::from_secs(25);

/// An mDNS response holding one PTR record for `Ghost._stale._tcp.local` (TTL 4500 s).
fn stale_ptr_packet() -> Vec<u8> {
    let mut p = vec![0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0];
    for label in ["_stale", "_tcp", "local"] {
        p.push(u8::try_from(label.len()).unwrap());
        p.extend_from_slice(label.as_bytes());
    }
    p.push(0);
    p.extend_from_slice(&12u16.to_be_bytes()); // PTR
    p.extend_from_slice(&1u16.to_be_bytes()); // IN, shared (no cache-flush bit)
    p.extend_from_slice(&4500u32.to_be_bytes());
    let rdata: Vec<u8> = [&[5u8][..], b"Ghost", &[0xC0, 12]].concat();
    p.extend_from_slice(&u16::try_from(rdata.len()).unwrap().to_be_bytes());
    p.extend_from_slice(&rdata);
    p
}

/// Multicast the stale PTR from host 2 (from port 5353, as mDNS responses must come).
fn announce_stale_instance(lab: &Lab) {
    let host = lab.host(2).clone();
    let ip = host.ipv4().expect("host 2 has IPv4");
    host.run(move || {
        let socket = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::DGRAM,
            Some(socket2::Protocol::UDP),
        )
        .unwrap();
        socket.set_reuse_address(true).unwrap();
        socket
            .bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 5353).into())
            .unwrap();
        socket.set_multicast_if_v4(&ip).unwrap();
        socket.set_multicast_ttl_v4(255).unwrap();
        let to = SocketAddrV4::new(Ipv4Addr::new(224, 0, 0, 251), 5353);
        for _ in 0..3 {
            socket.send_to(&stale_ptr_packet(), &to.into()).unwrap();
            std::thread::sleep(Duration::from_millis(200));
        }
    });
}

/// The stale instance as host 1's browse reports it.
async fn stale_instance(sd: &ServiceDiscovery) -> Instance {
    let mut browse = sd.browse(&ServiceType::new(STALE_TYPE).unwrap()).unwrap();
    within(NET, "Added(Ghost)", async {
        loop {
            match browse.next_event().await {
                Some(Ok(BrowseEvent::Added(i))) if i.name.as_str() == "Ghost" => return i,
                Some(Ok(_)) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await
}

/// The number avahi-daemon gives its next D-Bus client: `EntryGroupNew` answers with the
/// object path `/Client<N>/EntryGroup1` (the group goes with dbus-send's connection).
fn next_avahi_client_number() -> u64 {
    let out = Command::new("dbus-send")
        .args([
            "--system",
            "--print-reply",
            "--dest=org.freedesktop.Avahi",
            "/",
            "org.freedesktop.Avahi.Server.EntryGroupNew",
        ])
        .output()
        .expect("run dbus-send");
    let text = String::from_utf8_lossy(&out.stdout);
    let path = text
        .split('"')
        .find(|s| s.starts_with("/Client"))
        .unwrap_or_else(|| panic!("no object path in {text:?}"));
    path.trim_start_matches("/Client")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn setup() -> (Lab, dnssd_netlab::Avahi, tokio::runtime::Runtime) {
    let lab = Lab::new(2);
    let avahi = lab.host(1).start_avahi();
    avahi.use_for_this_process();
    announce_stale_instance(&lab);
    (lab, avahi, system_common::runtime())
}

#[test]
fn resolving_an_instance_nobody_answers_for_is_a_timeout_not_a_dead_daemon() {
    let (_lab, _avahi, runtime) = setup();
    runtime.block_on(async {
        let sd = system(true).await;
        let ghost = stale_instance(&sd).await;
        let started = Instant::now();
        let result = within(NET, "resolve(Ghost)", sd.resolve(&ghost)).await;
        println!(
            "resolve of the stale instance: {result:?} after {:?}",
            started.elapsed()
        );
        assert!(matches!(result, Err(Error::Timeout)), "{result:?}");
        // The daemon is alive: a new operation works.
        let again = stale_instance(&sd).await;
        assert_eq!(again.name, ghost.name);
    });
}

#[test]
fn following_a_stale_instance_does_not_recreate_its_resolver_every_second() {
    let (_lab, _avahi, runtime) = setup();
    runtime.block_on(async {
        let sd = system(true).await;
        drop(stale_instance(&sd).await);
        let before = tokio::task::spawn_blocking(next_avahi_client_number)
            .await
            .unwrap();
        let endpoints = sd
            .browse(&ServiceType::new(STALE_TYPE).unwrap())
            .unwrap()
            .resolved();
        tokio::time::sleep(WATCH).await;
        let after = tokio::task::spawn_blocking(next_avahi_client_number)
            .await
            .unwrap();
        drop(endpoints);
        // Clients made in between, besides the second dbus-send: the browse, the resolver,
        // and the daemon check after its timeout. A resolver re-created after each timeout
        // with a 1 s back-off makes ~5 more in this time.
        let created = after - before - 1;
        println!("avahi clients created in {WATCH:?} following the stale instance: {created}");
        assert!(created <= 3, "{created} avahi clients in {WATCH:?}");
    });
}
