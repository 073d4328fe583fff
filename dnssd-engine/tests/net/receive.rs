// The engine's whole receive path over one arbitrary input: shared by the cargo-fuzz target
// `fuzz/fuzz_targets/engine_receive.rs` (through `include!`) and the stable-Rust loop test
// `tests/engine_receive_loop.rs`. Byte 0 picks the source (on-link/off-link, port 5353,
// ephemeral or 0) and destination; the rest is the datagram, fed to an engine that has a
// registration and a browse so every branch (answering, caching, conflicts) is live.

/// Runs one fuzz input through a fresh engine; panics only on an engine bug.
pub fn fuzz_receive(data: &[u8]) {
    use dnssd_engine::{
        Config, Destination, Engine, Family, Instant, InterfaceAddress, InterfaceConfig,
        InterfaceId, ServiceSpec,
    };
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    use std::time::Duration;
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let mut e = Engine::new(Config {
        host_name: "fuzz".into(),
        ..Config::default()
    });
    let t0 = Instant::ZERO;
    e.add_interface(
        t0,
        InterfaceId(1),
        InterfaceConfig {
            name: "f".into(),
            addresses: vec![InterfaceAddress::new(
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                24,
            )],
            v4: true,
            v6: false,
        },
    );
    let spec = ServiceSpec {
        instance: "Web".into(),
        service_type: "_http._tcp".into(),
        subtypes: vec!["_p".into()],
        domain: None,
        host: None,
        port: 80,
        txt: vec![],
        iface: None,
    };
    let _ = e.register(t0, spec);
    let _ = e.browse(t0, "_http._tcp", None);
    // Establish (probing + first announcement) before the hostile datagram arrives.
    let mut now = t0;
    for _ in 0..64 {
        while e.poll_transmit(now).is_some() {}
        match e.poll_timeout() {
            Some(t) if t <= Instant::from_millis(2000) => now = t.max(now),
            _ => break,
        }
        e.handle_timeout(now);
    }
    let ip = if sel & 1 == 0 {
        Ipv4Addr::new(10, 0, 0, 9)
    } else {
        Ipv4Addr::new(192, 168, 1, 9)
    };
    let port = match (sel >> 1) & 3 {
        0 | 1 => 5353,
        2 => 40000,
        _ => 0,
    };
    let dest = if sel & 8 == 0 {
        Destination::Multicast(Family::V4)
    } else {
        Destination::Unicast(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            5353,
        ))
    };
    let src = SocketAddr::new(IpAddr::V4(ip), port);
    e.handle_datagram(now, InterfaceId(1), src, dest, rest);
    e.handle_datagram(now, InterfaceId(1), src, dest, rest); // duplicates too
    for step in 0..16u64 {
        let t = now + Duration::from_millis(step * 700);
        e.handle_timeout(t);
        while let Some(tx) = e.poll_transmit(t) {
            assert!(tx.payload.len() <= 9000);
            if matches!(tx.destination, Destination::Unicast(a) if a.ip() == IpAddr::V4(Ipv4Addr::new(192, 168, 1, 9)))
            {
                panic!("answered an off-link source");
            }
        }
        while e.poll_event().is_some() {}
    }
}
