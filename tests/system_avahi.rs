//! The system backend against real avahi-daemons in netlab namespace hosts.
//!
//! Each test joins host 1 of its own lab before it builds a runtime (nextest runs every test in
//! its own process, so moving the thread and setting the D-Bus address is per test), talks to
//! host 1's daemon through this crate, and checks what another host sees with avahi-utils.

use std::net::IpAddr;
use std::time::Duration;

use dnssd::{
    BrowseEvent, EndpointEvent, Error, Instance, InstanceName, RecordEvent, RecordType,
    RegistrationEvent, Service, ServiceDiscovery, ServiceType, ServiceTypeEvent, TxtRecord,
    TxtValue,
};
use dnssd_netlab::{Lab, require_namespace};

/// Generous bound for anything that crosses the (virtual) network: avahi probes for ~1 s.
const NET: Duration = Duration::from_secs(15);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn within<F: std::future::Future>(what: &str, bound: Duration, f: F) -> F::Output {
    tokio::time::timeout(bound, f)
        .await
        .unwrap_or_else(|_| panic!("timed out after {bound:?} waiting for {what}"))
}

/// Next browse event that is not an error, or panic.
async fn next_browse(browse: &mut dnssd::Browse, what: &str) -> BrowseEvent {
    within(what, NET, async {
        loop {
            match browse.next_event().await {
                Some(Ok(event)) => return event,
                Some(Err(e)) => panic!("browse error while waiting for {what}: {e}"),
                None => panic!("browse ended while waiting for {what}"),
            }
        }
    })
    .await
}

/// Wait for an `Added` of the instance called `name`.
async fn added(browse: &mut dnssd::Browse, name: &str) -> Instance {
    loop {
        if let BrowseEvent::Added(instance) = next_browse(browse, name).await {
            if instance.name.as_str() == name {
                return instance;
            }
        }
    }
}

async fn removed(browse: &mut dnssd::Browse, name: &str) -> Instance {
    loop {
        if let BrowseEvent::Removed(instance) = next_browse(browse, name).await {
            if instance.name.as_str() == name {
                return instance;
            }
        }
    }
}

fn txt(pairs: &[(&str, &str)]) -> TxtRecord {
    let mut txt = TxtRecord::new();
    for (k, v) in pairs {
        txt.insert(k, v).unwrap();
    }
    txt
}

#[test]
fn registration_is_seen_by_avahi_on_another_host_updated_and_withdrawn() {
    require_namespace();
    let lab = Lab::new(2);
    let h1 = lab.join_host(1);
    let h2 = lab.host(2);
    let _a1 = h1.start_avahi();
    let _a2 = h2.start_avahi();
    let rt = runtime();
    rt.block_on(async {
        let sd = ServiceDiscovery::new().unwrap();
        let mut t = txt(&[("path", "/x")]);
        t.insert_flag("secure").unwrap();
        let service = Service::new(ServiceType::new("_http._tcp").unwrap(), 8080)
            .name(InstanceName::new("Rust Web").unwrap())
            .txt(t);
        let registration = within("register", NET, sd.register(service)).await.unwrap();
        assert_eq!(registration.name().as_str(), "Rust Web");

        let seen = h2
            .avahi_find("_http._tcp", "Rust Web", NET)
            .expect("avahi-browse on host 2 did not see the registration");
        assert_eq!(seen.port, 8080);
        assert_eq!(seen.txt_value("path"), Some(Some("/x".to_owned())));
        assert_eq!(seen.txt_value("secure"), Some(None), "boolean key");

        // Live TXT update, seen remotely.
        registration
            .update_txt(txt(&[("path", "/y")]))
            .await
            .unwrap();
        let deadline = std::time::Instant::now() + NET;
        loop {
            let seen = h2.avahi_find("_http._tcp", "Rust Web", NET);
            if seen.as_ref().and_then(|s| s.txt_value("path")) == Some(Some("/y".to_owned())) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "host 2 never saw the updated TXT (last: {seen:?})"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }

        // Dropping the handle withdraws the service.
        let mut watcher = h2.avahi_browser("_http._tcp");
        assert!(watcher.wait_resolved("Rust Web", NET).is_some());
        drop(registration);
        assert!(
            watcher.wait_removed("Rust Web", NET),
            "host 2 still sees the service after the registration was dropped"
        );
    });
}

#[test]
fn avahi_publish_on_another_host_is_browsed_resolved_and_looked_up() {
    require_namespace();
    let lab = Lab::new(2);
    let h1 = lab.join_host(1);
    let h2 = lab.host(2);
    let _a1 = h1.start_avahi();
    let _a2 = h2.start_avahi();
    let rt = runtime();
    rt.block_on(async {
        let sd = ServiceDiscovery::new().unwrap();
        let ipp = ServiceType::new("_ipp._tcp").unwrap();
        let mut browse = sd.browse(&ipp).unwrap();
        let mut endpoints = sd.browse(&ipp).unwrap().resolved();
        let mut types = sd.browse_types().unwrap();
        let publish = h2.avahi_publish("Foreign Printer", "_ipp._tcp", 631, &["rp=queue", "color"]);

        let instance = added(&mut browse, "Foreign Printer").await;
        assert_eq!(instance.service_type, ipp);
        assert_eq!(instance.domain, "local.");
        assert_ne!(instance.interface, 0);

        let resolved = within("resolve", NET, sd.resolve(&instance)).await.unwrap();
        assert_eq!(resolved.port, 631);
        assert_eq!(resolved.txt.get_str("rp"), Some("queue"));
        assert_eq!(resolved.txt.get("color"), Some(&TxtValue::Flag));
        assert!(
            resolved.host_target.starts_with(&h2.hostname()),
            "host target {} is not host 2 ({})",
            resolved.host_target,
            h2.hostname()
        );

        let addresses = within("lookup_host", NET, sd.lookup_host(&resolved.host_target))
            .await
            .unwrap();
        let h2_v4 = IpAddr::V4(h2.ipv4().unwrap());
        assert!(
            addresses.iter().any(|a| a.addr == h2_v4),
            "{addresses:?} lacks {h2_v4}"
        );
        for a in &addresses {
            if let IpAddr::V6(v6) = a.addr {
                if v6.segments()[0] & 0xffc0 == 0xfe80 {
                    assert_ne!(a.scope_id, 0, "link-local {v6} without scope id");
                }
            }
        }

        // The ready-to-connect stream: complete endpoint with host 2's address and the port.
        let endpoint = within("endpoint Up", NET, async {
            loop {
                match endpoints.next_event().await {
                    Some(Ok(EndpointEvent::Up(e))) if e.instance.name.as_str() == "Foreign Printer" => {
                        return e;
                    }
                    Some(Ok(_)) => {}
                    other => panic!("endpoints: {other:?}"),
                }
            }
        })
        .await;
        assert_eq!(endpoint.port, 631);
        assert!(endpoint.addresses.iter().any(|a| a.ip() == h2_v4 && a.port() == 631));
        assert_eq!(endpoint.txt.get_str("rp"), Some("queue"));

        // A raw record query for the TXT record.
        let mut query = sd
            .query_record("Foreign Printer._ipp._tcp.local.", RecordType::TXT)
            .unwrap();
        let record = within("TXT record", NET, query.next_event()).await;
        match record {
            Some(Ok(RecordEvent::Added(r))) => {
                assert_eq!(r.rtype, 16);
                assert!(
                    r.rdata.windows(8).any(|w| w == b"rp=queue"),
                    "rdata {:?}",
                    r.rdata
                );
            }
            other => panic!("query_record: {other:?}"),
        }

        // Service type enumeration sees _ipp._tcp.
        within("_ipp._tcp in type enumeration", NET, async {
            loop {
                match types.next_event().await {
                    Some(Ok(ServiceTypeEvent::Added(t))) if t == ipp => return,
                    Some(Ok(_)) => {}
                    other => panic!("browse_types: {other:?}"),
                }
            }
        })
        .await;

        // The remote side goes away: Removed, and the endpoint goes Down.
        drop(publish);
        let gone = removed(&mut browse, "Foreign Printer").await;
        assert_eq!(gone.name, instance.name);
        within("endpoint Down", NET, async {
            loop {
                match endpoints.next_event().await {
                    Some(Ok(EndpointEvent::Down(i))) if i.name.as_str() == "Foreign Printer" => {
                        return;
                    }
                    Some(Ok(_)) => {}
                    other => panic!("endpoints: {other:?}"),
                }
            }
        })
        .await;
    });
}

#[test]
fn name_conflict_with_avahi_published_service_renames_ours() {
    require_namespace();
    let lab = Lab::new(2);
    let h1 = lab.join_host(1);
    let h2 = lab.host(2);
    let _a1 = h1.start_avahi();
    let _a2 = h2.start_avahi();
    let rt = runtime();
    rt.block_on(async {
        let sd = ServiceDiscovery::new().unwrap();
        let http = ServiceType::new("_http._tcp").unwrap();
        let mut browse = sd.browse(&http).unwrap();
        let _publish = h2.avahi_publish("Clash", "_http._tcp", 80, &[]);
        // Make sure host 1's daemon knows the other service before we claim the name.
        added(&mut browse, "Clash").await;

        let service = Service::new(http.clone(), 8081).name(InstanceName::new("Clash").unwrap());
        let registration = within("register", NET, sd.register(service)).await.unwrap();
        let name = registration.name().as_str().to_owned();
        assert_ne!(name, "Clash", "the conflicting name was kept");
        assert!(name.starts_with("Clash"), "renamed to {name:?}");

        // The other host sees ours under the new name.
        let seen = h2.avahi_find("_http._tcp", &name, NET);
        assert_eq!(seen.map(|s| s.port), Some(8081));
    });
}

#[test]
fn daemon_killed_mid_browse_and_registration_then_restarted() {
    require_namespace();
    let lab = Lab::new(2);
    let h1 = lab.join_host(1);
    let h2 = lab.host(2);
    let a1 = h1.start_avahi();
    let _a2 = h2.start_avahi();
    let rt = runtime();
    rt.block_on(async {
        let sd = ServiceDiscovery::new().unwrap();
        let http = ServiceType::new("_http._tcp").unwrap();
        let service = Service::new(http.clone(), 8082).name(InstanceName::new("Survivor").unwrap());
        let mut registration = within("register", NET, sd.register(service)).await.unwrap();
        let mut browse = sd.browse(&http).unwrap();
        let _publish = h2.avahi_publish("Remote", "_http._tcp", 80, &[]);
        added(&mut browse, "Remote").await;

        a1.kill();
        // Both the registration and the browse report the daemon's loss (well within the
        // bound; avahi's library notices within ~0.3 s).
        let error = within("registration error", Duration::from_secs(5), registration.next_event()).await;
        assert!(
            matches!(error, Some(Err(Error::DaemonNotRunning))),
            "registration reported {error:?}"
        );
        within("browse error", Duration::from_secs(5), async {
            loop {
                match browse.next_event().await {
                    Some(Err(e)) => {
                        assert!(e.is_daemon_gone(), "browse reported {e}");
                        return;
                    }
                    // Removed for what it had reported comes with the error.
                    Some(Ok(BrowseEvent::Removed(_))) => {}
                    other => panic!("browse after kill: {other:?}"),
                }
            }
        })
        .await;

        a1.start_again();
        // Without any user action, the registration comes back...
        let back = within("re-registration", NET, registration.next_event()).await;
        assert!(
            matches!(&back, Some(Ok(RegistrationEvent::Registered(n))) if n.as_str() == "Survivor"),
            "registration after restart: {back:?}"
        );
        assert!(h2.avahi_find("_http._tcp", "Survivor", NET).is_some());
        // ...and so does the browse.
        added(&mut browse, "Remote").await;
    });
}

#[test]
fn without_a_daemon_every_operation_fails_promptly_and_a_late_daemon_is_picked_up() {
    require_namespace();
    let lab = Lab::new(1);
    let h1 = lab.join_host(1);
    let rt = runtime();
    rt.block_on(async {
        let sd = ServiceDiscovery::new().unwrap();
        let http = ServiceType::new("_http._tcp").unwrap();
        let prompt = Duration::from_secs(5);

        let reg = within(
            "register",
            prompt,
            sd.register(Service::new(http.clone(), 1).name(InstanceName::new("X").unwrap())),
        )
        .await;
        assert!(matches!(reg, Err(Error::DaemonNotRunning)), "{reg:?}");

        let instance = Instance {
            name: InstanceName::new("X").unwrap(),
            service_type: http.clone(),
            domain: "local.".into(),
            interface: 0,
        };
        let r = within("resolve", prompt, sd.resolve(&instance)).await;
        assert!(matches!(r, Err(Error::DaemonNotRunning)), "{r:?}");
        let l = within("lookup_host", prompt, sd.lookup_host("x.local")).await;
        assert!(matches!(l, Err(Error::DaemonNotRunning)), "{l:?}");
        let mut q = sd.query_record("x.local", RecordType::A).unwrap();
        let q = within("query_record", prompt, q.next_event()).await;
        assert!(matches!(q, Some(Err(Error::DaemonNotRunning))), "{q:?}");
        let mut types = sd.browse_types().unwrap();
        let t = within("browse_types", prompt, types.next_event()).await;
        assert!(matches!(t, Some(Err(Error::DaemonNotRunning))), "{t:?}");

        let mut browse = sd.browse(&http).unwrap();
        let b = within("browse", prompt, browse.next_event()).await;
        assert!(matches!(b, Some(Err(Error::DaemonNotRunning))), "{b:?}");

        // The daemon starts late: the same browse picks it up by itself.
        let _a1 = h1.start_avahi();
        let _publish = h1.avahi_publish("Late", "_http._tcp", 80, &[]);
        added(&mut browse, "Late").await;
    });
}

#[test]
fn reconnect_off_makes_daemon_loss_fatal() {
    require_namespace();
    let lab = Lab::new(1);
    let h1 = lab.join_host(1);
    let a1 = h1.start_avahi();
    let rt = runtime();
    rt.block_on(async {
        let sd = ServiceDiscovery::builder().reconnect(false).build().unwrap();
        let http = ServiceType::new("_http._tcp").unwrap();
        let mut browse = sd.browse(&http).unwrap();
        let _publish = h1.avahi_publish("Local", "_http._tcp", 80, &[]);
        added(&mut browse, "Local").await;
        a1.kill();
        let mut saw_error = false;
        within("browse end", Duration::from_secs(10), async {
            while let Some(event) = browse.next_event().await {
                if let Err(e) = event {
                    assert!(e.is_daemon_gone(), "{e}");
                    saw_error = true;
                }
            }
        })
        .await;
        assert!(saw_error, "the stream ended without reporting the error");
    });
}
