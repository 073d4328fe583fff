//! The embedded backend's socket and interface layer on namespace hosts: group and unicast
//! datagrams carry the right interface index and destination kind, two links on one host
//! are told apart, our own echoes are recognised, port 5353 is shared with avahi-daemon, and
//! interface changes are reported.
#![cfg(target_os = "linux")]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::mpsc as std_mpsc;
use std::thread;
use std::time::{Duration, Instant};

use dnssd::embedded::interfaces::{InterfaceWatcher, NetworkInterface, list_interfaces};
use dnssd::embedded::socket::{
    DatagramDestination, Family, MAX_DATAGRAM, MDNS_GROUP_V4, MDNS_GROUP_V6, MDNS_PORT,
    MdnsSocket, OwnEchoFilter, ReceivedDatagram,
};
use dnssd_netlab::{Host, Lab, require_namespace};

const WAIT: Duration = Duration::from_secs(5);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn interface(name: &str) -> NetworkInterface {
    list_interfaces()
        .unwrap()
        .into_iter()
        .find(|i| i.name == name)
        .unwrap_or_else(|| panic!("no interface {name}"))
}

fn group(family: Family) -> SocketAddr {
    match family {
        Family::V4 => SocketAddr::new(IpAddr::V4(MDNS_GROUP_V4), MDNS_PORT),
        Family::V6 => SocketAddr::new(IpAddr::V6(MDNS_GROUP_V6), MDNS_PORT),
    }
}

/// Reads datagrams until one carries `payload` (other hosts' traffic is ignored).
async fn recv_payload(socket: &MdnsSocket, payload: &[u8]) -> ReceivedDatagram {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let d = tokio::time::timeout(left, socket.recv(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no datagram {:?} within {WAIT:?}", String::from_utf8_lossy(payload)))
            .unwrap();
        if &buf[..d.len] == payload {
            return d;
        }
    }
}

/// Runs `body` on a new thread that has moved into `host`'s network namespace.
fn on_host<T: Send + 'static>(host: &Host, body: impl FnOnce() -> T + Send + 'static) -> thread::JoinHandle<T> {
    let host = host.clone();
    thread::spawn(move || {
        host.enter_netns();
        body()
    })
}

#[test]
fn group_and_unicast_datagrams_carry_interface_and_destination() {
    require_namespace();
    let lab = Lab::new(2);
    let (h1, h2) = (lab.host(1), lab.host(2));
    let h1_v4 = h1.ipv4().unwrap();
    let h2_v4 = h2.ipv4().unwrap();
    let (ready_tx, ready_rx) = std_mpsc::channel();

    let receiver = on_host(&h2, move || {
        runtime().block_on(async move {
            let dlv0 = interface("dlv0");
            let v4 = MdnsSocket::bind_v4().unwrap();
            let v6 = MdnsSocket::bind_v6().unwrap();
            v4.join_group(dlv0.index).unwrap();
            v6.join_group(dlv0.index).unwrap();
            ready_tx.send(()).unwrap();
            let group_v4 = recv_payload(&v4, b"group-v4").await;
            let unicast_v4 = recv_payload(&v4, b"unicast-v4").await;
            let group_v6 = recv_payload(&v6, b"group-v6").await;
            (dlv0, group_v4, unicast_v4, group_v6)
        })
    });
    ready_rx.recv_timeout(WAIT).unwrap();

    let sender = on_host(&h1, move || {
        runtime().block_on(async move {
            let dlv0 = interface("dlv0");
            let v4 = MdnsSocket::bind_v4().unwrap();
            let v6 = MdnsSocket::bind_v6().unwrap();
            v4.join_group(dlv0.index).unwrap();
            v6.join_group(dlv0.index).unwrap();
            let mut echoes = OwnEchoFilter::new();
            let src4 = dlv0.ipv4_source().map(IpAddr::V4);
            let src6 = dlv0.ipv6_link_local().map(IpAddr::V6);
            assert!(src6.is_some(), "dlv0 has an IPv6 link-local address");
            v4.send(b"group-v4", dlv0.index, src4, group(Family::V4)).await.unwrap();
            echoes.record_sent(Instant::now(), Family::V4, dlv0.index, b"group-v4");
            v4.send(b"unicast-v4", dlv0.index, src4, SocketAddr::new(h2_v4.into(), MDNS_PORT))
                .await
                .unwrap();
            v6.send(b"group-v6", dlv0.index, src6, group(Family::V6)).await.unwrap();
            // Multicast loopback hands our own datagram back; the filter recognises it once.
            let echo = recv_payload(&v4, b"group-v4").await;
            assert_eq!(echo.interface_index, dlv0.index);
            assert!(echoes.take_echo(Instant::now(), Family::V4, echo.interface_index, b"group-v4"));
            assert!(!echoes.take_echo(Instant::now(), Family::V4, echo.interface_index, b"group-v4"));
            src6
        })
    });
    let h1_v6 = sender.join().unwrap();
    let (dlv0, group_v4, unicast_v4, group_v6) = receiver.join().unwrap();

    assert_eq!(group_v4.interface_index, dlv0.index);
    assert_eq!(group_v4.destination, DatagramDestination::Multicast);
    assert_eq!(group_v4.source, SocketAddr::new(h1_v4.into(), MDNS_PORT));
    assert!(!group_v4.truncated);

    assert_eq!(unicast_v4.interface_index, dlv0.index);
    assert_eq!(unicast_v4.destination, DatagramDestination::Unicast(h2_v4.into()));

    assert_eq!(group_v6.interface_index, dlv0.index);
    assert_eq!(group_v6.destination, DatagramDestination::Multicast);
    match group_v6.source {
        SocketAddr::V6(src) => {
            assert_eq!(Some(IpAddr::V6(*src.ip())), h1_v6, "sent from the link-local address");
            assert_eq!(src.scope_id(), dlv0.index, "link-local source carries its scope");
            assert_eq!(src.port(), MDNS_PORT);
        }
        other => panic!("IPv6 datagram from {other}"),
    }
}

#[test]
fn two_links_on_one_host_have_distinct_indices_and_sources() {
    require_namespace();
    let lab = Lab::builder().hosts(2).links(2).build();
    let (h1, h2) = (lab.host(1), lab.host(2));
    let (ready_tx, ready_rx) = std_mpsc::channel();

    let receiver = on_host(&h2, move || {
        runtime().block_on(async move {
            let (l0, l1) = (interface("dlv0"), interface("dlv1"));
            let v4 = MdnsSocket::bind_v4().unwrap();
            v4.join_group(l0.index).unwrap();
            v4.join_group(l1.index).unwrap();
            ready_tx.send(()).unwrap();
            let on_l0 = recv_payload(&v4, b"via-link-0").await;
            let on_l1 = recv_payload(&v4, b"via-link-1").await;
            (l0.index, l1.index, on_l0, on_l1)
        })
    });
    ready_rx.recv_timeout(WAIT).unwrap();
    on_host(&h1, move || {
        runtime().block_on(async move {
            let (l0, l1) = (interface("dlv0"), interface("dlv1"));
            let v4 = MdnsSocket::bind_v4().unwrap();
            for (link, payload) in [(&l0, &b"via-link-0"[..]), (&l1, &b"via-link-1"[..])] {
                let src = link.ipv4_source().map(IpAddr::V4);
                v4.send(payload, link.index, src, group(Family::V4)).await.unwrap();
            }
        })
    })
    .join()
    .unwrap();
    let (l0, l1, on_l0, on_l1) = receiver.join().unwrap();

    assert_ne!(l0, l1);
    assert_eq!(on_l0.interface_index, l0);
    assert_eq!(on_l1.interface_index, l1);
    assert_eq!(on_l0.source.ip(), IpAddr::V4(Ipv4Addr::new(10, 77, 0, 1)));
    assert_eq!(on_l1.source.ip(), IpAddr::V4(Ipv4Addr::new(10, 77, 1, 1)), "source is the link's own address");
}

#[test]
fn port_5353_is_shared_with_avahi_daemon_in_either_order() {
    require_namespace();
    let lab = Lab::new(2);
    let h1 = lab.host(1);
    let h1_v4 = h1.ipv4().unwrap();
    // Order 1: we bind first, avahi starts afterwards on the same host.
    let (bound_tx, bound_rx) = std_mpsc::channel();
    let (go_tx, go_rx) = std_mpsc::channel::<()>();
    let ours = on_host(&h1, move || {
        runtime().block_on(async move {
            let dlv0 = interface("dlv0");
            let v4 = MdnsSocket::bind_v4().unwrap();
            v4.join_group(dlv0.index).unwrap();
            bound_tx.send(()).unwrap();
            tokio::task::spawn_blocking(move || go_rx.recv_timeout(WAIT * 4).unwrap()).await.unwrap();
            // Avahi's announcement of the published service reaches our socket too.
            let mut buf = vec![0u8; MAX_DATAGRAM];
            let deadline = Instant::now() + WAIT;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                let d = tokio::time::timeout(left, v4.recv(&mut buf))
                    .await
                    .expect("no datagram from avahi-daemon")
                    .unwrap();
                let payload = &buf[..d.len];
                if payload.windows(11).any(|w| w == b"SharedProbe") {
                    return d;
                }
            }
        })
    });
    bound_rx.recv_timeout(WAIT).unwrap();
    let _avahi = h1.start_avahi();
    go_tx.send(()).unwrap();
    let _publish = h1.spawn(["avahi-publish", "-s", "SharedProbe", "_http._tcp", "8080"]);
    let from_avahi = ours.join().unwrap();
    assert_eq!(from_avahi.source, SocketAddr::new(h1_v4.into(), MDNS_PORT));
    assert_eq!(from_avahi.destination, DatagramDestination::Multicast);

    // Order 2: avahi already holds the port; we can still bind beside it.
    on_host(&h1, || {
        runtime().block_on(async {
            let v4 = MdnsSocket::bind_v4().unwrap();
            let v6 = MdnsSocket::bind_v6().unwrap();
            v4.join_group(interface("dlv0").index).unwrap();
            v6.join_group(interface("dlv0").index).unwrap();
        })
    })
    .join()
    .unwrap();

    // And avahi still works for its peers.
    let h2 = lab.host(2);
    let _avahi2 = h2.start_avahi();
    let mut out = String::new();
    for _ in 0..5 {
        out = h2.run_ok(["avahi-browse", "-rpt", "_http._tcp"]);
        if out.contains("SharedProbe") {
            break;
        }
    }
    assert!(out.contains("SharedProbe"), "avahi-browse on host 2 sees host 1's service:\n{out}");
}

#[test]
fn interface_watcher_reports_address_and_link_changes() {
    require_namespace();
    let lab = Lab::new(1);
    let h1 = lab.host(1);
    let h1_for_thread = h1.clone();
    on_host(&h1, move || {
        runtime().block_on(async move {
            let mut watcher = InterfaceWatcher::new().unwrap();
            let before = interface("dlv0");
            let extra: IpAddr = "10.77.9.1".parse().unwrap();
            assert!(!before.addresses.iter().any(|a| a.addr == extra));

            h1_for_thread.run_ok(["ip", "addr", "add", "10.77.9.1/24", "dev", "dlv0"]);
            tokio::time::timeout(WAIT, watcher.changed()).await.expect("no change report").unwrap();
            let after = interface("dlv0");
            let added = after.addresses.iter().find(|a| a.addr == extra).expect("new address listed");
            assert_eq!(added.prefix_len, 24);

            h1_for_thread.run_ok(["ip", "link", "set", "dlv0", "down"]);
            tokio::time::timeout(WAIT, watcher.changed()).await.expect("no change report").unwrap();
            assert!(!interface("dlv0").flags.up);
        })
    })
    .join()
    .unwrap();
}
