//! The system backend against real avahi-daemons: this process talks to host 1's daemon through
//! Avahi's `libdns_sd`; host 2 runs another daemon plus `avahi-browse` / `avahi-publish` as the
//! independent peer. Every test builds its own lab (run inside `scripts/netlab run`).

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a test failure"
)]

mod system_common;

use std::net::IpAddr;
use std::time::Duration;

use dnssd::{
    BrowseEvent, EndpointEvent, Error, InstanceName, Interface, RecordEvent, RecordType, Service,
    ServiceType, ServiceTypeEvent, TxtRecord, TxtValue,
};
use system_common::{NET, added, lab, publish, runtime, system, wait_browse, within};

fn txt(pairs: &[(&str, &str)]) -> TxtRecord {
    TxtRecord::from_pairs(pairs.iter().copied()).unwrap()
}

#[test]
fn registration_is_seen_by_avahi_browse_on_another_host() {
    let (lab, _a1, _a2) = lab();
    runtime().block_on(async {
        let sd = system(true).await;
        let mut t = txt(&[("path", "/index.html"), ("v", "1")]);
        t.insert_flag("secure").unwrap();
        let reg = within(
            NET,
            "register",
            sd.register(
                Service::new(ServiceType::new("_systest._tcp").unwrap(), 4242)
                    .with_name(InstanceName::new("Api Web.1").unwrap())
                    .with_txt(t),
            ),
        )
        .await
        .unwrap();
        assert_eq!(reg.name().as_str(), "Api Web.1");

        let lines = wait_browse(lab.host(2), "_systest._tcp", "our service", |l| {
            l.iter().any(|l| l.name == "Api Web.1")
        });
        let ours: Vec<_> = lines.iter().filter(|l| l.name == "Api Web.1").collect();
        for line in &ours {
            assert_eq!(line.port, 4242, "{line:?}");
            assert_eq!(line.host, lab.host(1).avahi_host_name(), "{line:?}");
            let mut strings = line.txt.clone();
            strings.sort();
            assert_eq!(strings, ["path=/index.html", "secure", "v=1"], "{line:?}");
        }
        assert!(
            ours.iter()
                .any(|l| l.address == lab.host(1).ipv4().unwrap().to_string()),
            "{ours:?}"
        );
        drop(reg);
    });
}

#[test]
fn avahi_published_service_is_browsed_resolved_and_its_host_looked_up() {
    let (lab, _a1, _a2) = lab();
    let _peer = publish(
        lab.host(2),
        "Peer Printer",
        "_systest._tcp",
        631,
        &["rp=queue", "color=T", "dup=first", "dup=second", "flag"],
    );
    runtime().block_on(async {
        let sd = system(true).await;
        let mut browse = sd
            .browse(&ServiceType::new("_systest._tcp").unwrap())
            .unwrap();
        let instance = added(&mut browse, "Peer Printer").await;
        assert_eq!(instance.service_type.to_string(), "_systest._tcp");
        assert_eq!(instance.domain.as_str(), "local.");
        assert_ne!(instance.interface.index(), 0);

        let resolved = within(NET, "resolve", sd.resolve(&instance)).await.unwrap();
        assert_eq!(resolved.port, 631);
        assert_eq!(
            resolved.host_target.trim_end_matches('.'),
            lab.host(2).avahi_host_name()
        );
        assert_eq!(resolved.txt.get_str("rp"), Some("queue"));
        assert_eq!(resolved.txt.get_str("COLOR"), Some("T"));
        // RFC 6763 §6.4: the first occurrence of a key wins. Avahi keeps the wire order.
        assert!(resolved.txt.get("dup").is_some());
        assert_eq!(resolved.txt.get("flag"), Some(&TxtValue::Flag));

        let host = lab.host(2).avahi_host_name();
        let addrs = within(NET, "lookup_host", sd.lookup_host(&host))
            .await
            .unwrap();
        let v4 = IpAddr::from(lab.host(2).ipv4().unwrap());
        assert!(addrs.iter().any(|a| a.addr == v4), "{addrs:?}");
        for a in &addrs {
            if let IpAddr::V6(v6) = a.addr {
                if v6.segments()[0] & 0xffc0 == 0xfe80 {
                    assert_ne!(a.scope_id, 0, "link-local without scope: {a:?}");
                }
            }
        }
    });
}

#[test]
fn browse_reports_each_instance_once_although_avahi_sends_it_per_protocol() {
    let (lab, _a1, _a2) = lab();
    let _peer = publish(lab.host(2), "Only Once", "_systest._tcp", 80, &[]);
    // Avahi reports it for IPv4 and IPv6 (both enabled in the lab): make sure both arrived.
    wait_browse(lab.host(1), "_systest._tcp", "both protocols", |l| {
        let ours = l.iter().filter(|l| l.name == "Only Once");
        ours.map(|l| l.protocol.clone())
            .collect::<std::collections::HashSet<_>>()
            .len()
            == 2
    });
    runtime().block_on(async {
        let sd = system(true).await;
        let mut browse = sd
            .browse(&ServiceType::new("_systest._tcp").unwrap())
            .unwrap();
        added(&mut browse, "Only Once").await;
        // Nothing else may arrive for it within a few seconds (the second protocol's report
        // comes within milliseconds of the first).
        let more = tokio::time::timeout(Duration::from_secs(3), async {
            loop {
                match browse.next_event().await {
                    Some(Ok(BrowseEvent::Added(i))) if i.name.as_str() == "Only Once" => {
                        return i;
                    }
                    Some(Ok(_)) => {}
                    other => panic!("unexpected {other:?}"),
                }
            }
        })
        .await;
        assert!(more.is_err(), "second Added: {more:?}");
    });
}

#[test]
fn query_record_streams_the_txt_record_of_a_peer_service() {
    let (lab, _a1, _a2) = lab();
    let _peer = publish(lab.host(2), "Rec Peer", "_systest._tcp", 9, &["k=v"]);
    runtime().block_on(async {
        let sd = system(true).await;
        // DNSServiceQueryRecord takes the escaped full name (`.` and `\` escaped).
        let full = dnssd::full_name(
            &InstanceName::new("Rec Peer").unwrap(),
            &ServiceType::new("_systest._tcp").unwrap(),
            &dnssd::Domain::local(),
        );
        let mut query = sd.query_record(&full, RecordType::TXT).unwrap();
        let record = within(NET, "TXT record", async {
            loop {
                match query.next_event().await {
                    Some(Ok(RecordEvent::Added(r))) => return r,
                    Some(Ok(RecordEvent::Removed(_))) => {}
                    other => panic!("unexpected {other:?}"),
                }
            }
        })
        .await;
        // The owner name reads as the embedded backend reports it (not Avahi's `\032` form).
        assert_eq!(record.name, "Rec Peer._systest._tcp.local.");
        assert_eq!(record.rtype, dnssd::RecordType::TXT);
        assert_eq!(record.class, 1);
        assert_eq!(record.rdata, b"\x03k=v");
        assert_ne!(record.interface.index(), 0);
    });
}

#[test]
fn endpoints_stream_yields_a_complete_endpoint() {
    let (lab, _a1, _a2) = lab();
    let _peer = publish(
        lab.host(2),
        "Endpoint Peer",
        "_systest._tcp",
        7000,
        &["x=y"],
    );
    runtime().block_on(async {
        let sd = system(true).await;
        let mut endpoints = sd
            .browse(&ServiceType::new("_systest._tcp").unwrap())
            .unwrap()
            .resolved();
        // Avahi answers A and AAAA as two queries: under load the second family can come as a
        // `Changed` after the first `Up`'s settling time, so wait for the endpoint with IPv4.
        let v4 = IpAddr::from(lab.host(2).ipv4().unwrap());
        let endpoint = within(NET, "Up with the IPv4 address", async {
            loop {
                match endpoints.next_event().await {
                    Some(Ok(EndpointEvent::Up(e) | EndpointEvent::Changed(e)))
                        if e.instance.name.as_str() == "Endpoint Peer"
                            && e.addresses.iter().any(|a| a.ip() == v4) =>
                    {
                        return e;
                    }
                    Some(Ok(_)) => {}
                    other => panic!("unexpected {other:?}"),
                }
            }
        })
        .await;
        assert_eq!(endpoint.port, 7000);
        assert_eq!(endpoint.txt.get_str("x"), Some("y"));
        assert_eq!(
            endpoint.host_target.trim_end_matches('.'),
            lab.host(2).avahi_host_name()
        );
        assert!(!endpoint.addresses.is_empty());
        assert!(endpoint.addresses.iter().all(|a| a.port() == 7000));
        assert!(
            endpoint.addresses.iter().any(|a| a.ip() == v4),
            "{endpoint:?}"
        );
    });
}

#[test]
fn txt_update_is_seen_remotely() {
    let (lab, _a1, _a2) = lab();
    runtime().block_on(async {
        let sd = system(true).await;
        let reg = within(
            NET,
            "register",
            sd.register(
                Service::new(ServiceType::new("_systest._tcp").unwrap(), 5000)
                    .with_name(InstanceName::new("Txt Changer").unwrap())
                    .with_txt(txt(&[("state", "old")])),
            ),
        )
        .await
        .unwrap();
        let host2 = lab.host(2).clone();
        tokio::task::spawn_blocking(move || {
            wait_browse(&host2, "_systest._tcp", "state=old", |l| {
                l.iter()
                    .any(|l| l.name == "Txt Changer" && l.txt == ["state=old"])
            })
        })
        .await
        .unwrap();
        within(
            NET,
            "update_txt",
            reg.update_txt(txt(&[("state", "new"), ("n", "2")])),
        )
        .await
        .unwrap();
        let host2 = lab.host(2).clone();
        tokio::task::spawn_blocking(move || {
            wait_browse(&host2, "_systest._tcp", "state=new", |l| {
                let ours: Vec<_> = l.iter().filter(|l| l.name == "Txt Changer").collect();
                !ours.is_empty()
                    && ours.iter().all(|l| {
                        let mut t = l.txt.clone();
                        t.sort();
                        t == ["n=2", "state=new"]
                    })
            })
        })
        .await
        .unwrap();
        drop(reg);
    });
}

#[test]
fn dropping_the_registration_withdraws_it_remotely() {
    let (lab, _a1, _a2) = lab();
    runtime().block_on(async {
        let sd = system(true).await;
        let reg = within(
            NET,
            "register",
            sd.register(
                Service::new(ServiceType::new("_systest._tcp").unwrap(), 5001)
                    .with_name(InstanceName::new("Short Lived").unwrap()),
            ),
        )
        .await
        .unwrap();
        let host2 = lab.host(2).clone();
        tokio::task::spawn_blocking(move || {
            wait_browse(&host2, "_systest._tcp", "the service", |l| {
                l.iter().any(|l| l.name == "Short Lived")
            })
        })
        .await
        .unwrap();
        drop(reg);
        within(NET, "refs released", sd.wait_released()).await;
        let host2 = lab.host(2).clone();
        tokio::task::spawn_blocking(move || {
            wait_browse(&host2, "_systest._tcp", "the service gone", |l| {
                !l.iter().any(|l| l.name == "Short Lived")
            })
        })
        .await
        .unwrap();
    });
}

#[test]
fn peer_going_away_is_reported_removed() {
    let (lab, _a1, _a2) = lab();
    let peer = publish(lab.host(2), "Leaving Peer", "_systest._tcp", 81, &[]);
    runtime().block_on(async {
        let sd = system(true).await;
        let mut browse = sd
            .browse(&ServiceType::new("_systest._tcp").unwrap())
            .unwrap();
        let instance = added(&mut browse, "Leaving Peer").await;
        drop(peer); // SIGKILL: the daemon on host 2 withdraws it (goodbye packets)
        let removed = within(NET, "Removed", async {
            loop {
                match browse.next_event().await {
                    Some(Ok(BrowseEvent::Removed(i))) if i.name.as_str() == "Leaving Peer" => {
                        return i;
                    }
                    Some(Ok(_)) => {}
                    other => panic!("unexpected {other:?}"),
                }
            }
        })
        .await;
        assert_eq!(removed, instance);
    });
}

#[test]
fn name_conflict_with_a_peer_renames_ours_and_reports_the_new_name() {
    let (lab, _a1, _a2) = lab();
    let _peer = publish(lab.host(2), "Clash", "_systest._tcp", 82, &[]);
    // The peer must be established (and known to host 1's daemon) before we probe.
    wait_browse(lab.host(1), "_systest._tcp", "the peer", |l| {
        l.iter().any(|l| l.name == "Clash")
    });
    runtime().block_on(async {
        let sd = system(true).await;
        let reg = within(
            NET,
            "register",
            sd.register(
                Service::new(ServiceType::new("_systest._tcp").unwrap(), 83)
                    .with_name(InstanceName::new("Clash").unwrap()),
            ),
        )
        .await
        .unwrap();
        assert_eq!(reg.name().as_str(), "Clash #2");
        let host2 = lab.host(2).clone();
        let lines = tokio::task::spawn_blocking(move || {
            wait_browse(&host2, "_systest._tcp", "Clash #2", |l| {
                l.iter().any(|l| l.name == "Clash #2")
            })
        })
        .await
        .unwrap();
        assert!(
            lines.iter().any(|l| l.name == "Clash" && l.port == 82),
            "the peer keeps its name: {lines:?}"
        );
        assert!(
            lines.iter().any(|l| l.name == "Clash #2" && l.port == 83),
            "{lines:?}"
        );
    });
}

#[test]
fn invalid_input_is_refused_before_the_call_with_typed_errors() {
    let (_lab, _a1, _a2) = lab();
    runtime().block_on(async {
        let sd = system(true).await;
        assert!(matches!(
            ServiceType::new("_http._xyz"),
            Err(Error::InvalidServiceType { .. })
        ));
        assert!(matches!(
            ServiceType::new("_this-is-too-long._tcp"),
            Err(Error::InvalidServiceType { .. })
        ));
        assert!(matches!(
            InstanceName::new("x".repeat(64)),
            Err(Error::InvalidInstanceName { .. })
        ));
        assert!(matches!(
            InstanceName::new("bad\u{7}"),
            Err(Error::InvalidInstanceName { .. })
        ));
        let mut t = TxtRecord::new();
        assert!(matches!(
            t.insert("a=b", "c"),
            Err(Error::InvalidTxt { .. })
        ));
        assert!(matches!(t.insert("", "c"), Err(Error::InvalidTxt { .. })));
        assert!(matches!(
            t.insert("k", vec![b'x'; 300]),
            Err(Error::InvalidTxt { .. })
        ));

        // What Avahi's library rejects with a warning is refused here, typed, before the call.
        let http = ServiceType::new("_http._tcp").unwrap();
        let e = sd
            .register(Service::new(http.clone(), 1).with_interface(Interface::LocalOnly))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
        let e = sd.browse_on(&http, None, Interface::LocalOnly).unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
        // Avahi answers an ANY query with BadParam: refused up front, and the capability says so.
        assert!(!sd.capabilities().query_any);
        let e = sd.query_record("x.local", RecordType(255)).unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
        let two = http
            .clone()
            .with_subtype("_a")
            .unwrap()
            .with_subtype("_b")
            .unwrap();
        assert!(matches!(
            sd.browse(&two).unwrap_err(),
            Error::Unsupported { .. }
        ));
        // A host name with a NUL byte cannot even be built, so it never reaches the library.
        let e = dnssd::HostName::new("bad\0host.local").unwrap_err();
        assert!(matches!(e, Error::InvalidHostName { .. }), "{e:?}");
        drop(http);
        let e = sd.lookup_host("a\0b.local").await.unwrap_err();
        assert!(matches!(e, Error::InvalidHostName { .. }), "{e:?}");
        assert!(!sd.capabilities().flags);
        assert!(!sd.capabilities().get_addr_info);
    });
}

#[test]
fn browse_types_sees_a_peer_service_type() {
    let (lab, _a1, _a2) = lab();
    let _peer = publish(lab.host(2), "Typed", "_systype._udp", 84, &[]);
    runtime().block_on(async {
        let sd = system(true).await;
        let mut types = sd.browse_types().unwrap();
        within(NET, "_systype._udp", async {
            loop {
                match types.next_event().await {
                    Some(Ok(ServiceTypeEvent::Added(t))) if t.to_string() == "_systype._udp" => {
                        return;
                    }
                    Some(Ok(_)) => {}
                    other => panic!("unexpected {other:?}"),
                }
            }
        })
        .await;
    });
}

#[test]
fn subtype_registration_is_browsable_by_subtype() {
    let (lab, _a1, _a2) = lab();
    runtime().block_on(async {
        let sd = system(true).await;
        let _reg = within(
            NET,
            "register",
            sd.register(
                Service::new(ServiceType::new("_systest._tcp").unwrap(), 85)
                    .with_name(InstanceName::new("Sub Typed").unwrap())
                    .with_subtype("_color")
                    .unwrap(),
            ),
        )
        .await
        .unwrap();
        let host2 = lab.host(2).clone();
        tokio::task::spawn_blocking(move || {
            wait_browse(&host2, "_color._sub._systest._tcp", "the subtype", |l| {
                l.iter().any(|l| l.name == "Sub Typed")
            })
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_name_taken_on_the_same_daemon_is_renamed_and_the_default_name_is_the_hosts() {
    let (lab, _a1, _a2) = lab();
    runtime().block_on(async {
        let sd = system(true).await;
        let service = |port| {
            Service::new(ServiceType::new("_systest._tcp").unwrap(), port)
                .with_name(InstanceName::new("Twin").unwrap())
        };
        let first = within(NET, "first", sd.register(service(86)))
            .await
            .unwrap();
        // Avahi's library answers the second with NameConflict from the call itself; the
        // backend renames the way Avahi does. (With identical records, port included, Avahi
        // accepts the second as the same service and both keep the name.)
        let second = within(NET, "second", sd.register(service(88)))
            .await
            .unwrap();
        assert_eq!(first.name().as_str(), "Twin");
        assert_eq!(second.name().as_str(), "Twin #2");

        let unnamed = within(
            NET,
            "unnamed",
            sd.register(Service::new(ServiceType::new("_systest._tcp").unwrap(), 87)),
        )
        .await
        .unwrap();
        assert_eq!(unnamed.name().as_str(), lab.host(1).name());

        let host2 = lab.host(2).clone();
        let lines = tokio::task::spawn_blocking(move || {
            wait_browse(&host2, "_systest._tcp", "all three", |l| {
                ["Twin", "Twin #2"]
                    .iter()
                    .all(|n| l.iter().any(|l| l.name == *n))
                    && l.iter().any(|l| l.port == 87)
            })
        })
        .await
        .unwrap();
        assert!(lines.iter().any(|l| l.name == "Twin" && l.port == 86));
        assert!(lines.iter().any(|l| l.name == "Twin #2" && l.port == 88));
    });
}
