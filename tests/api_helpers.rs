//! The API's one-shot helpers and endpoint semantics across two namespace hosts, embedded
//! engine on both: `collect_for`, `first_matching` with TXT filters, `Down` carrying the last
//! endpoint, own registrations recognised in a browse, address order (IPv4 before IPv6
//! link-local in the first `Up`), `update_port`, `unregister().await`, the resolve timeout.

#![cfg(target_os = "linux")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs,
    reason = "tests: a failure is a panic with a message"
)]

use std::future::Future;
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use dnssd::embedded::EmbeddedConfig;
use dnssd::{
    BackendKind, Domain, EndpointEvent, Error, Instance, InstanceName, Interface, Service,
    ServiceDiscovery, ServiceType, TxtRecord,
};
use dnssd_netlab::{Host, Lab};

const SOON: Duration = Duration::from_secs(15);

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

async fn embedded(label: &str) -> ServiceDiscovery {
    ServiceDiscovery::builder()
        .backend(BackendKind::Embedded)
        .embedded_config(EmbeddedConfig::default().with_host_name(label))
        .answer_timeout(Duration::from_secs(2))
        .build()
        .await
        .unwrap()
}

fn service(name: &str, service_type: &ServiceType, port: u16, txt: &[(&str, &str)]) -> Service {
    Service::new(service_type.clone(), port)
        .with_name(InstanceName::new(name).unwrap())
        .with_txt(TxtRecord::from_pairs(txt.iter().copied()).unwrap())
}

/// A peer on another host holding registrations until told to stop; `commands` receives
/// `Some(port)` to move the first service to that port, `None` to stop.
struct Peer {
    commands: std_mpsc::Sender<Option<u16>>,
    done: Option<JoinHandle<()>>,
}

impl Peer {
    fn start(host: &Host, label: &'static str, services: Vec<Service>) -> Peer {
        let (commands, rx) = std_mpsc::channel::<Option<u16>>();
        let (ready_tx, ready_rx) = std_mpsc::channel();
        let host = host.clone();
        let done = std::thread::spawn(move || {
            on_host(&host, move || async move {
                let sd = embedded(label).await;
                let mut registrations = Vec::new();
                for s in services {
                    registrations.push(
                        tokio::time::timeout(SOON, sd.register(s))
                            .await
                            .unwrap()
                            .unwrap(),
                    );
                }
                ready_tx.send(()).unwrap();
                loop {
                    let command = tokio::task::block_in_place(|| rx.recv()).ok().flatten();
                    let Some(port) = command else { break };
                    registrations[0].update_port(port).await.unwrap();
                }
                if let Some(first) = registrations.pop() {
                    first.unregister().await;
                }
                sd.shutdown().await;
            });
        });
        ready_rx.recv_timeout(SOON).expect("peer registered");
        Peer {
            commands,
            done: Some(done),
        }
    }

    fn move_port(&self, port: u16) {
        self.commands.send(Some(port)).unwrap();
    }

    fn stop(mut self) {
        let _ = self.commands.send(None);
        if let Some(done) = self.done.take() {
            done.join().expect("peer thread");
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.commands.send(None);
    }
}

#[test]
fn collect_for_returns_every_endpoint_with_both_families() {
    let lab = Lab::new(2);
    let t = ServiceType::new("_apicollect._tcp").unwrap();
    let services = (0..3)
        .map(|i| service(&format!("Collect {i}"), &t, 7000 + i, &[]))
        .collect();
    let peer = Peer::start(lab.host(2), "api-peer", services);
    let found = on_host(lab.host(1), move || async move {
        let sd = embedded("api-h1").await;
        sd.browse(&t)
            .unwrap()
            .resolved()
            .collect_for(Duration::from_secs(3))
            .await
            .unwrap()
    });
    peer.stop();
    let mut names: Vec<&str> = found.iter().map(|e| e.instance.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["Collect 0", "Collect 1", "Collect 2"]);
    for endpoint in &found {
        assert!(
            endpoint.addresses.iter().any(|a| a.is_ipv4()),
            "{endpoint:?}"
        );
        assert!(
            endpoint.addresses.iter().any(|a| a.is_ipv6()),
            "{endpoint:?}"
        );
        assert!(endpoint.addresses[0].is_ipv4(), "IPv4 first: {endpoint:?}");
        assert!(!endpoint.is_own());
    }
}

#[test]
fn first_up_carries_both_families_ipv4_first() {
    let lab = Lab::new(2);
    let t = ServiceType::new("_apifirst._tcp").unwrap();
    let peer = Peer::start(
        lab.host(2),
        "api-peer",
        vec![service("First", &t, 7100, &[])],
    );
    let up = on_host(lab.host(1), move || async move {
        let sd = embedded("api-h1").await;
        let mut endpoints = sd.browse(&t).unwrap().resolved();
        match tokio::time::timeout(SOON, endpoints.next_event())
            .await
            .unwrap()
        {
            Some(Ok(EndpointEvent::Up(e))) => e,
            other => panic!("expected Up first, got {other:?}"),
        }
    });
    peer.stop();
    assert!(up.addresses[0].is_ipv4(), "{up:?}");
    assert!(
        up.addresses.iter().any(|a| a.is_ipv6()),
        "both families in the first Up: {up:?}"
    );
}

#[test]
fn txt_filter_and_first_matching() {
    let lab = Lab::new(2);
    let t = ServiceType::new("_apitxt._tcp").unwrap();
    let services = vec![
        service("Red", &t, 7200, &[("color", "red")]),
        service("Blue", &t, 7201, &[("color", "blue"), ("duplex", "")]),
        service("Plain", &t, 7202, &[]),
    ];
    let peer = Peer::start(lab.host(2), "api-peer", services);
    let (blue, timed_out, colored) = on_host(lab.host(1), move || async move {
        let sd = embedded("api-h1").await;
        let blue = sd
            .browse(&t)
            .unwrap()
            .resolved()
            .with_txt("color", Some("blue"))
            .first_matching(|_| true, SOON)
            .await
            .unwrap();
        let start = std::time::Instant::now();
        let missing = sd
            .browse(&t)
            .unwrap()
            .resolved()
            .first_matching(|e| e.port == 1, Duration::from_secs(2))
            .await;
        let waited = start.elapsed();
        assert!(
            waited < Duration::from_secs(4),
            "timeout honoured: {waited:?}"
        );
        let colored = sd
            .browse(&t)
            .unwrap()
            .resolved()
            .with_txt("COLOR", None)
            .collect_for(Duration::from_secs(3))
            .await
            .unwrap();
        (blue, missing, colored)
    });
    peer.stop();
    assert_eq!(blue.instance.name.as_str(), "Blue");
    assert_eq!(blue.port, 7201);
    assert!(matches!(timed_out, Err(Error::Timeout)), "{timed_out:?}");
    let mut names: Vec<&str> = colored.iter().map(|e| e.instance.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["Blue", "Red"]);
}

#[test]
fn down_carries_the_last_endpoint_and_update_port_is_seen() {
    let lab = Lab::new(2);
    let t = ServiceType::new("_apidown._tcp").unwrap();
    let peer = Peer::start(
        lab.host(2),
        "api-peer",
        vec![service("Mover", &t, 7300, &[("v", "1")])],
    );
    let peer = std::sync::Arc::new(std::sync::Mutex::new(Some(peer)));
    let control = std::sync::Arc::clone(&peer);
    let events = on_host(lab.host(1), move || async move {
        let sd = embedded("api-h1").await;
        let mut endpoints = sd.browse(&t).unwrap().resolved();
        let mut seen = Vec::new();
        let mut moved = false;
        loop {
            let event = tokio::time::timeout(SOON, endpoints.next_event())
                .await
                .expect("event in time")
                .expect("stream open")
                .expect("no error");
            seen.push(event.clone());
            match &event {
                EndpointEvent::Up(e) | EndpointEvent::Changed(e) if e.port == 7300 && !moved => {
                    moved = true;
                    control.lock().unwrap().as_ref().unwrap().move_port(7301);
                }
                EndpointEvent::Up(e) | EndpointEvent::Changed(e) if e.port == 7301 => {
                    let peer = control.lock().unwrap().take().unwrap();
                    tokio::task::spawn_blocking(move || peer.stop());
                }
                EndpointEvent::Down(_) if seen.iter().any(|e| matches!(e, EndpointEvent::Up(e) | EndpointEvent::Changed(e) if e.port == 7301)) => {
                    return seen;
                }
                _ => {}
            }
        }
    });
    drop(peer);
    let EndpointEvent::Down(last) = events.last().unwrap() else {
        unreachable!()
    };
    assert_eq!(last.instance.name.as_str(), "Mover");
    assert_eq!(
        last.port, 7301,
        "Down carries the last endpoint: {events:?}"
    );
    assert_eq!(last.txt.get_str("v"), Some("1"));
    assert!(!last.addresses.is_empty());
}

#[test]
fn own_registrations_are_recognised_and_resolve_times_out() {
    let lab = Lab::new(2);
    let t = ServiceType::new("_apiown._tcp").unwrap();
    let peer = Peer::start(
        lab.host(2),
        "api-peer",
        vec![service("Theirs", &t, 7400, &[])],
    );
    let (own_flags, timeout) = on_host(lab.host(1), move || async move {
        let sd = embedded("api-h1").await;
        let mine = sd.register(service("Mine", &t, 7401, &[])).await.unwrap();
        let found = sd
            .browse(&t)
            .unwrap()
            .resolved()
            .collect_for(Duration::from_secs(3))
            .await
            .unwrap();
        let mut flags: Vec<(String, bool)> = found
            .iter()
            .map(|e| (e.instance.name.to_string(), e.is_own()))
            .collect();
        flags.sort();
        let ghost = Instance {
            name: InstanceName::new("Nobody Here").unwrap(),
            service_type: t.clone(),
            domain: Domain::local(),
            interface: Interface::Any,
        };
        let start = std::time::Instant::now();
        let resolved = sd.resolve(&ghost).await;
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(1900) && waited < Duration::from_secs(5),
            "answer timeout of 2 s: {waited:?}"
        );
        drop(mine);
        (flags, resolved)
    });
    peer.stop();
    assert_eq!(
        own_flags,
        [("Mine".to_owned(), true), ("Theirs".to_owned(), false)]
    );
    assert!(matches!(timeout, Err(Error::Timeout)), "{timeout:?}");
}
