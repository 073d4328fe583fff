//! The native Avahi backend (D-Bus) against real avahi-daemons, with Avahi's compat
//! `libdns_sd` hidden from this process (bind mounts in its own mount namespace, made before
//! `main`; see `dnssd_netlab::compat_library`): what a default desktop install looks like.
//! Host 1's daemon serves this process; host 2 runs another daemon plus `avahi-browse` /
//! `avahi-publish` as the independent peer (host 3: python-zeroconf). Every test builds its
//! own lab (run inside `scripts/netlab run`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a panic is a test failure"
)]

mod system_common;

use std::collections::HashSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use dnssd::{
    BackendKind, BrowseEvent, Error, InstanceName, RecordEvent, RecordType, RegistrationEvent,
    Service, ServiceDiscovery, ServiceType, ServiceTypeEvent, TxtRecord,
};
use dnssd_netlab::{Host, Lab};
use system_common::{NET, added, avahi_browse, lab, publish, runtime, wait_browse, within};

dnssd_netlab::hide_libdns_sd_before_main!();

/// The native backend on host 1's daemon; also checks the compat library is out of sight.
async fn native() -> ServiceDiscovery {
    assert!(
        dnssd_netlab::compat_library::libdns_sd_hidden(),
        "libdns_sd is visible to this test process"
    );
    let sd = ServiceDiscovery::builder()
        .backend(BackendKind::Avahi)
        .build()
        .await
        .unwrap();
    assert_eq!(sd.backend(), BackendKind::Avahi);
    sd
}

fn txt(pairs: &[(&str, &str)]) -> TxtRecord {
    TxtRecord::from_pairs(pairs.iter().copied()).unwrap()
}

fn service(name: &str, service_type: &str, port: u16) -> Service {
    Service::new(ServiceType::new(service_type).unwrap(), port)
        .with_name(InstanceName::new(name).unwrap())
}

/// Host `index`'s avahi-daemon log.
fn avahi_log(lab: &Lab, index: usize) -> String {
    let state = std::env::var("NETLAB_STATE").unwrap();
    std::fs::read_to_string(format!("{state}/{}/h{index}.avahi.log", lab.name()))
        .unwrap_or_default()
}

/// The check every test that runs beside avahi-daemon ends with: no host name conflict.
fn assert_no_host_name_conflict(lab: &Lab) {
    for index in [1, 2] {
        let log = avahi_log(lab, index);
        assert!(
            !log.contains("Host name conflict"),
            "avahi-daemon on host {index} saw a host name conflict:\n{log}"
        );
    }
}

#[test]
fn auto_chooses_avahi_over_d_bus_when_the_compat_library_is_missing() {
    let (lab, _a1, _a2) = lab();
    assert!(dnssd_netlab::compat_library::libdns_sd_hidden());
    runtime().block_on(async {
        // Without the library the dns_sd path cannot even start.
        let system = ServiceDiscovery::builder()
            .backend(BackendKind::DnsSd)
            .build()
            .await;
        assert!(
            matches!(system, Err(Error::LibraryUnavailable(_))),
            "{system:?}"
        );
        assert_eq!(
            ServiceDiscovery::builder().chosen_backend().await.unwrap(),
            BackendKind::Avahi
        );
        // `System` means the OS's responder by whichever path: D-Bus here.
        assert_eq!(
            ServiceDiscovery::builder()
                .backend(BackendKind::System)
                .chosen_backend()
                .await
                .unwrap(),
            BackendKind::Avahi
        );
        let sd = ServiceDiscovery::new().await.unwrap();
        assert_eq!(sd.backend(), BackendKind::Avahi);
        let reg = within(
            NET,
            "register",
            sd.register(service("Auto Native", "_autonat._tcp", 4100)),
        )
        .await
        .unwrap();
        assert_eq!(reg.name().as_str(), "Auto Native");
        wait_browse(lab.host(2), "_autonat._tcp", "our service", |l| {
            l.iter().any(|l| {
                l.name == "Auto Native" && l.port == 4100 && l.host == lab.host(1).avahi_host_name()
            })
        });
        drop(reg);
    });
    assert_no_host_name_conflict(&lab);
}

#[test]
fn registration_with_subtypes_and_txt_update_is_seen_by_avahi_browse() {
    let (lab, _a1, _a2) = lab();
    runtime().block_on(async {
        let sd = native().await;
        let reg = within(
            NET,
            "register",
            sd.register(
                service("Native Web.1", "_natweb._tcp", 4242)
                    .with_txt(txt(&[("path", "/index.html"), ("v", "1")]))
                    .with_subtype("_printer")
                    .unwrap()
                    .with_subtype("_scanner")
                    .unwrap(),
            ),
        )
        .await
        .unwrap();
        assert_eq!(reg.name().as_str(), "Native Web.1");
        let lines = wait_browse(lab.host(2), "_natweb._tcp", "our service", |l| {
            l.iter().any(|l| l.name == "Native Web.1")
        });
        for line in lines.iter().filter(|l| l.name == "Native Web.1") {
            assert_eq!(line.port, 4242, "{line:?}");
            assert_eq!(line.host, lab.host(1).avahi_host_name(), "{line:?}");
            let mut strings = line.txt.clone();
            strings.sort();
            assert_eq!(strings, ["path=/index.html", "v=1"], "{line:?}");
        }
        for subtype in ["_printer._sub._natweb._tcp", "_scanner._sub._natweb._tcp"] {
            wait_browse(lab.host(2), subtype, subtype, |l| {
                l.iter().any(|l| l.name == "Native Web.1")
            });
        }
        within(NET, "update_txt", reg.update_txt(txt(&[("v", "2")])))
            .await
            .unwrap();
        wait_browse(lab.host(2), "_natweb._tcp", "the new TXT", |l| {
            l.iter()
                .any(|l| l.name == "Native Web.1" && l.txt == ["v=2"])
        });
        drop(reg);
        // Dropping the registration withdraws it.
        let deadline = Instant::now() + NET;
        while avahi_browse(lab.host(2), "_natweb._tcp")
            .iter()
            .any(|l| l.name == "Native Web.1")
        {
            assert!(Instant::now() < deadline, "still listed after drop");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    assert_no_host_name_conflict(&lab);
}

#[test]
fn browse_resolve_lookup_query_and_types_of_an_avahi_publish_peer() {
    let (lab, _a1, _a2) = lab();
    let _peer = publish(lab.host(2), "Peer Svc", "_natpeer._tcp", 5001, &["a=1"]);
    let mut sub_x = lab.host(2).command("avahi-publish");
    sub_x
        .args([
            "-s",
            "--subtype=_subx._sub._natpeer._tcp",
            "Sub X",
            "_natpeer._tcp",
            "5002",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _sub_x = lab.host(2).spawn(sub_x);
    let mut sub_y = lab.host(2).command("avahi-publish");
    sub_y
        .args([
            "-s",
            "--subtype=_suby._sub._natpeer._tcp",
            "Sub Y",
            "_natpeer._tcp",
            "5003",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _sub_y = lab.host(2).spawn(sub_y);
    runtime().block_on(async {
        let sd = native().await;
        let mut browse = sd
            .browse(&ServiceType::new("_natpeer._tcp").unwrap())
            .unwrap();
        let instance = added(&mut browse, "Peer Svc").await;
        assert_eq!(instance.service_type.to_string(), "_natpeer._tcp");
        assert_eq!(instance.domain.as_str(), "local.");
        assert_ne!(instance.interface, dnssd::Interface::Any);

        let resolved = within(NET, "resolve", sd.resolve(&instance)).await.unwrap();
        assert_eq!(resolved.port, 5001);
        assert_eq!(
            resolved.host_target,
            format!("{}.", lab.host(2).avahi_host_name())
        );
        assert_eq!(
            resolved.txt.get("a"),
            Some(&dnssd::TxtValue::Bytes(b"1".to_vec()))
        );

        let addresses = within(
            NET,
            "lookup_host",
            sd.lookup_host(&lab.host(2).avahi_host_name()),
        )
        .await
        .unwrap();
        let v4 = std::net::IpAddr::V4(lab.host(2).ipv4().unwrap());
        assert!(addresses.iter().any(|a| a.addr == v4), "{addresses:?}");

        let full = dnssd::full_name(
            &InstanceName::new("Peer Svc").unwrap(),
            &ServiceType::new("_natpeer._tcp").unwrap(),
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
        assert_eq!(record.name, "Peer Svc._natpeer._tcp.local.");
        assert_eq!(record.rtype, RecordType::TXT);
        assert_eq!(record.rdata, b"\x03a=1");

        let mut types = sd.browse_types().unwrap();
        within(NET, "service type", async {
            loop {
                match types.next_event().await {
                    Some(Ok(ServiceTypeEvent::Added(t))) if t.to_string() == "_natpeer._tcp" => {
                        return;
                    }
                    Some(Ok(_)) => {}
                    other => panic!("types: {other:?}"),
                }
            }
        })
        .await;

        // Several subtypes in one browse: each instance of either, reported once.
        let both = ServiceType::new("_natpeer._tcp")
            .unwrap()
            .with_subtype("_subx")
            .unwrap()
            .with_subtype("_suby")
            .unwrap();
        let mut sub_browse = sd.browse(&both).unwrap();
        let mut seen = HashSet::new();
        within(NET, "both subtypes", async {
            while seen.len() < 2 {
                match sub_browse.next_event().await {
                    Some(Ok(BrowseEvent::Added(i))) => {
                        assert!(seen.insert(i.name.to_string()), "reported twice: {i:?}");
                    }
                    other => panic!("subtype browse: {other:?}"),
                }
            }
        })
        .await;
        assert_eq!(
            seen,
            HashSet::from(["Sub X".to_string(), "Sub Y".to_string()])
        );

        // IPv4 and IPv6 copies of the same instance are one event: nothing more arrives.
        let more = tokio::time::timeout(Duration::from_millis(1500), async {
            loop {
                match browse.next_event().await {
                    Some(Ok(BrowseEvent::Added(i))) if i.name.as_str() == "Peer Svc" => {
                        return i;
                    }
                    Some(_) => {}
                    None => std::future::pending().await,
                }
            }
        })
        .await;
        assert!(more.is_err(), "duplicate Added: {more:?}");
    });
    assert_no_host_name_conflict(&lab);
}

#[test]
fn name_conflicts_rename_like_avahi_and_report_the_final_name() {
    let (lab, _a1, _a2) = lab();
    let _peer = publish(lab.host(2), "Taken", "_natconf._tcp", 5004, &[]);
    wait_browse(lab.host(2), "_natconf._tcp", "the peer", |l| {
        l.iter().any(|l| l.name == "Taken")
    });
    runtime().block_on(async {
        let sd = native().await;
        // Taken on the network: probing finds the peer.
        let reg = within(
            NET,
            "register",
            sd.register(service("Taken", "_natconf._tcp", 4300)),
        )
        .await
        .unwrap();
        assert_eq!(reg.name().as_str(), "Taken #2");
        wait_browse(lab.host(2), "_natconf._tcp", "the renamed service", |l| {
            l.iter().any(|l| l.name == "Taken #2" && l.port == 4300)
        });
        // Taken on this daemon, by this process.
        let first = within(
            NET,
            "register",
            sd.register(service("Twice", "_natconf._tcp", 4301)),
        )
        .await
        .unwrap();
        let second = within(
            NET,
            "register",
            sd.register(service("Twice", "_natconf._tcp", 4302)),
        )
        .await
        .unwrap();
        assert_eq!(first.name().as_str(), "Twice");
        assert_eq!(second.name().as_str(), "Twice #2");
        drop((reg, first, second));
    });
    assert_no_host_name_conflict(&lab);
}

#[test]
fn daemon_sigkill_and_restart_are_reported_and_recovered() {
    let (lab, a1, _a2) = lab();
    let _peer = publish(lab.host(2), "Peer Stay", "_natsurv._tcp", 5005, &[]);
    runtime().block_on(async {
        let sd = native().await;
        let mut reg = within(
            NET,
            "register",
            sd.register(service("Survivor", "_natsurv._tcp", 4400)),
        )
        .await
        .unwrap();
        let mut browse = sd
            .browse(&ServiceType::new("_natsurv._tcp").unwrap())
            .unwrap();
        let mut present = HashSet::new();
        within(NET, "both instances", async {
            while present.len() < 2 {
                match browse.next_event().await {
                    Some(Ok(BrowseEvent::Added(i))) => {
                        present.insert(i.name.to_string());
                    }
                    other => panic!("browse: {other:?}"),
                }
            }
        })
        .await;
        assert!(
            present.contains("Peer Stay") && present.contains("Survivor"),
            "{present:?}"
        );

        a1.kill();
        let event = within(NET, "registration error", reg.next_event()).await;
        assert!(
            matches!(event, Some(Err(Error::DaemonNotRunning))),
            "{event:?}"
        );
        // The browse reports everything it had as removed, then the error.
        let mut removed = HashSet::new();
        within(NET, "browse loss", async {
            loop {
                match browse.next_event().await {
                    Some(Ok(BrowseEvent::Removed(i))) => {
                        removed.insert(i.name.to_string());
                    }
                    Some(Err(Error::DaemonNotRunning)) => return,
                    other => panic!("browse during outage: {other:?}"),
                }
            }
        })
        .await;
        assert!(
            removed.contains("Peer Stay") && removed.contains("Survivor"),
            "{removed:?}"
        );

        a1.restart();
        let event = within(NET, "re-registration", reg.next_event()).await;
        match event {
            Some(Ok(RegistrationEvent::Registered(name))) => assert_eq!(name.as_str(), "Survivor"),
            other => panic!("after restart: {other:?}"),
        }
        added(&mut browse, "Peer Stay").await;
        wait_browse(lab.host(2), "_natsurv._tcp", "our service again", |l| {
            l.iter().any(|l| l.name == "Survivor" && l.port == 4400)
        });
        drop(reg);
    });
    assert_no_host_name_conflict(&lab);
}

#[test]
fn a_thousand_registrations_from_one_process_are_all_resolved_remotely() {
    const COUNT: usize = 1000;
    let (lab, _a1, _a2) = lab();
    runtime().block_on(async {
        let sd = native().await;
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..COUNT {
            let sd = sd.clone();
            tasks.spawn(async move {
                sd.register(service(&format!("Many {i}"), "_natmany._tcp", 6000))
                    .await
            });
        }
        let mut registrations = Vec::new();
        within(Duration::from_secs(60), "1000 registrations", async {
            while let Some(joined) = tasks.join_next().await {
                registrations.push(joined.unwrap().unwrap());
            }
        })
        .await;
        let names: HashSet<String> = registrations.iter().map(|r| r.name().to_string()).collect();
        assert_eq!(names.len(), COUNT);
        let host2 = lab.host(2).clone();
        let deadline = Instant::now() + Duration::from_secs(90);
        let resolved = tokio::task::spawn_blocking(move || {
            loop {
                let lines = avahi_browse(&host2, "_natmany._tcp");
                let resolved: HashSet<String> = lines
                    .iter()
                    .filter(|l| l.port == 6000)
                    .map(|l| l.name.clone())
                    .collect();
                if resolved.len() >= COUNT || Instant::now() > deadline {
                    return resolved;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        })
        .await
        .unwrap();
        assert_eq!(resolved, names, "resolved {} of {COUNT}", resolved.len());
        drop(registrations);
    });
    assert_no_host_name_conflict(&lab);
}

/// python-zeroconf on a third host (no avahi there) sees a native registration.
#[test]
fn python_zeroconf_on_another_host_sees_a_native_registration() {
    let lab = Lab::new(3);
    let a1 = lab.host(1).start_avahi();
    a1.use_for_this_process();
    runtime().block_on(async {
        let sd = native().await;
        let reg = within(
            NET,
            "register",
            sd.register(service("Zc Sees", "_natzc._tcp", 4500).with_txt(txt(&[("k", "v")]))),
        )
        .await
        .unwrap();
        let host3: Host = lab.host(3).clone();
        let out = tokio::task::spawn_blocking(move || {
            host3
                .command("python3")
                .arg(dnssd_netlab::zc_peer())
                .args(["browse", "_natzc._tcp", "--timeout", "5"])
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout
                .lines()
                .any(|l| l.contains("\"added\"") && l.contains("Zc Sees") && l.contains("4500")),
            "zc_peer browse output:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        drop(reg);
    });
    assert_no_host_name_conflict(&lab);
}

/// The daemon's host name changes (`avahi-set-host-name`): the server goes through
/// REGISTERING, our entry group is committed again, and the service points at the new name.
#[test]
fn a_host_name_change_recommits_the_registration() {
    let (lab, _a1, _a2) = lab();
    runtime().block_on(async {
        let sd = native().await;
        let reg = within(
            NET,
            "register",
            sd.register(service("Renamed Host", "_natrehost._tcp", 4600)),
        )
        .await
        .unwrap();
        wait_browse(lab.host(2), "_natrehost._tcp", "our service", |l| {
            l.iter().any(|l| l.name == "Renamed Host")
        });
        let new_host = format!("{}-renamed", lab.host(1).name());
        let status = lab
            .host(1)
            .command("avahi-set-host-name")
            .arg(&new_host)
            .status()
            .unwrap();
        assert!(status.success(), "avahi-set-host-name: {status}");
        wait_browse(
            lab.host(2),
            "_natrehost._tcp",
            "the service on the new host name",
            |l| {
                l.iter()
                    .any(|l| l.name == "Renamed Host" && l.host == format!("{new_host}.local"))
            },
        );
        drop(reg);
    });
    assert_no_host_name_conflict(&lab);
}
