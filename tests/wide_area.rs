//! Wide-area DNS-SD against a real BIND 9 `named` (host 3 of a lab, zone `example.test`,
//! updates allowed with the TSIG key `update-key`): registration by DNS UPDATE seen by `dig`,
//! browsed and resolved from another host, removed on drop; wrong keys, a dead server,
//! truncated answers, `nsupdate`-published services, name conflicts, domain enumeration and
//! the CLI. Figures (register -> visible to dig, browse refresh) are printed (`--no-capture`).

#![cfg(target_os = "linux")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs,
    reason = "test code: a failed expectation is the test failing"
)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use dnssd::{
    BackendKind, BrowseEvent, Domain, Error, Instance, InstanceName, Service, ServiceDiscovery,
    ServiceType, TsigKey, TxtRecord, WideAreaConfig,
};
use dnssd_netlab::{Host, Lab};

const SERVER: &str = "10.77.0.3:53";

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

fn server() -> SocketAddr {
    SERVER.parse().unwrap()
}

/// Fast polling, short TTLs, and the lab's server; the key if given.
fn config(key: Option<TsigKey>) -> WideAreaConfig {
    let mut config = WideAreaConfig::new()
        .server(server())
        .ttl(2)
        .poll_bounds(Duration::from_millis(200), Duration::from_secs(2))
        .timeouts(Duration::from_millis(500), 2)
        .resolv_conf("/nonexistent/resolv.conf");
    if let Some(key) = key {
        config = config.tsig_key(key);
    }
    config
}

async fn handle(config: WideAreaConfig) -> ServiceDiscovery {
    ServiceDiscovery::builder()
        .backend(BackendKind::Embedded)
        .wide_area(config)
        .build()
        .await
        .unwrap()
}

/// `dig +short @10.77.0.3 NAME TYPE` run in `host`.
fn dig(host: &Host, name: &str, rtype: &str) -> String {
    let out = host
        .command("dig")
        .args(["+short", "+time=1", "+tries=2", "@10.77.0.3", name, rtype])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Polls `dig` until `done(answer)` or `limit`; the last answer and when it came.
fn dig_until(
    host: &Host,
    name: &str,
    rtype: &str,
    limit: Duration,
    done: impl Fn(&str) -> bool,
) -> (String, Duration) {
    let start = Instant::now();
    loop {
        let answer = dig(host, name, rtype);
        if done(&answer) || start.elapsed() > limit {
            return (answer, start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn nsupdate(host: &Host, key_file: &Path, script: &str) {
    let mut child = host
        .command("nsupdate")
        .arg("-k")
        .arg(key_file)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    let mut stdin = child.stdin.take().unwrap();
    write!(
        stdin,
        "server 10.77.0.3\nzone example.test\n{script}\nsend\n"
    )
    .unwrap();
    drop(stdin);
    assert!(child.wait().unwrap().success(), "nsupdate failed");
}

fn example() -> Domain {
    Domain::new("example.test").unwrap()
}

fn ipp() -> ServiceType {
    ServiceType::new("_ipp._tcp").unwrap()
}

fn instance(name: &str) -> Instance {
    Instance {
        name: InstanceName::new(name).unwrap(),
        service_type: ipp(),
        domain: example(),
        interface: dnssd::Interface::Any,
    }
}

#[test]
fn registration_is_visible_to_dig_browsed_and_resolved_remotely_and_removed_on_drop() {
    let lab = Lab::new(3);
    let bind = lab.host(3).start_bind("");
    let key = TsigKey::from_key_file(bind.key_file()).unwrap();

    // Host 2 browses example.test from the start; its events come back over a channel.
    let (browse_tx, browse_rx) = std::sync::mpsc::channel::<(Instant, BrowseEvent)>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let browser = {
        let host = lab.host(2).clone();
        std::thread::spawn(move || {
            on_host(&host, move || async move {
                let sd = handle(config(None)).await;
                let mut browse = sd
                    .browse_on(&ipp(), Some("example.test"), dnssd::Interface::Any)
                    .unwrap();
                let forward = async {
                    while let Some(event) = browse.next_event().await {
                        browse_tx.send((Instant::now(), event.unwrap())).unwrap();
                    }
                };
                tokio::select! {
                    () = forward => {}
                    _ = stop_rx => {}
                }
                sd.shutdown().await;
            })
        })
    };

    // Host 1 registers, then waits for the go-ahead to drop.
    let (registered_tx, registered_rx) = std::sync::mpsc::channel::<(Instant, String)>();
    let (drop_tx, drop_rx) = tokio::sync::oneshot::channel::<()>();
    let registrant = {
        let host = lab.host(1).clone();
        let key = key.clone();
        std::thread::spawn(move || {
            on_host(&host, move || async move {
                let sd = handle(config(Some(key))).await;
                let txt = TxtRecord::from_pairs([("rp", "queue1"), ("note", "lab")]).unwrap();
                let service = Service::new(ipp(), 631)
                    .with_name(InstanceName::new("Lab Printer").unwrap())
                    .with_txt(txt)
                    .with_domain(example());
                let started = Instant::now();
                let registration = sd.register(service).await.unwrap();
                registered_tx
                    .send((started, registration.name().to_string()))
                    .unwrap();
                drop_rx.await.unwrap();
                drop(registration);
                // shutdown waits for the delete to be answered.
                sd.shutdown().await;
                Instant::now()
            })
        })
    };

    let (started, name) = registered_rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(name, "Lab Printer");
    let (ptr, visible_after) = dig_until(
        lab.host(2),
        "_ipp._tcp.example.test",
        "PTR",
        Duration::from_secs(5),
        |a| a.contains("Lab\\032Printer"),
    );
    assert!(
        ptr.contains("Lab\\032Printer._ipp._tcp.example.test."),
        "{ptr}"
    );
    // BIND applies an UPDATE before it answers it: the records are in the zone when
    // `register` returns, and `dig` (a process start plus one query) only adds its own time.
    let total = started.elapsed();
    eprintln!(
        "register -> visible to dig: {total:?} (register call {:?}, then dig {visible_after:?})",
        total.saturating_sub(visible_after)
    );
    let srv = dig(lab.host(2), "Lab\\032Printer._ipp._tcp.example.test", "SRV");
    assert!(srv.starts_with("0 0 631 "), "{srv}");
    let txt = dig(lab.host(2), "Lab\\032Printer._ipp._tcp.example.test", "TXT");
    assert!(
        txt.contains("\"rp=queue1\"") && txt.contains("\"note=lab\""),
        "{txt}"
    );
    // The host's address went with it.
    let target = srv.split_whitespace().nth(3).unwrap().to_owned();
    assert_eq!(dig(lab.host(2), &target, "A"), "10.77.0.1");

    // Host 2's browse saw it.
    let (added_at, added) = browse_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(added, BrowseEvent::Added(instance("Lab Printer")));
    eprintln!(
        "register -> remote browse Added: {:?}",
        added_at.duration_since(started)
    );

    // Drop: records gone from the zone, and the browse reports the removal.
    drop_tx.send(()).unwrap();
    let dropped_at = Instant::now();
    let Ok((removed_at, removed)) = browse_rx.recv_timeout(Duration::from_secs(10)) else {
        let log = bind.key_file().parent().unwrap().join("named.log");
        panic!(
            "no Removed; named: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    };
    assert_eq!(removed, BrowseEvent::Removed(instance("Lab Printer")));
    eprintln!(
        "drop -> remote browse Removed (browse refresh, TTL 2 s): {:?}",
        removed_at.duration_since(dropped_at)
    );
    registrant.join().unwrap();
    assert_eq!(dig(lab.host(2), "_ipp._tcp.example.test", "PTR"), "");
    assert_eq!(
        dig(lab.host(2), "Lab\\032Printer._ipp._tcp.example.test", "SRV"),
        ""
    );
    assert_eq!(dig(lab.host(2), &target, "A"), "");
    stop_tx.send(()).unwrap();
    browser.join().unwrap();
}

#[test]
fn a_remote_registration_resolves_with_its_txt_and_host_address() {
    let lab = Lab::new(3);
    let bind = lab.host(3).start_bind("");
    let key = TsigKey::from_key_file(bind.key_file()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let registrant = {
        let host = lab.host(1).clone();
        std::thread::spawn(move || {
            on_host(&host, move || async move {
                let sd = handle(config(Some(key))).await;
                let service = Service::new(ipp(), 8631)
                    .with_name(InstanceName::new("Res").unwrap())
                    .with_txt(TxtRecord::from_pairs([("k", "v")]).unwrap())
                    .with_domain(example());
                let registration = sd.register(service).await.unwrap();
                tx.send(()).unwrap();
                done_rx.await.unwrap();
                registration
                    .update_txt(TxtRecord::from_pairs([("k", "w")]).unwrap())
                    .await
                    .unwrap();
                drop(registration);
                sd.shutdown().await;
            })
        })
    };
    rx.recv_timeout(Duration::from_secs(20)).unwrap();
    let (resolved, addresses) = on_host(lab.host(2), || async {
        let sd = handle(config(None)).await;
        let resolved = tokio::time::timeout(Duration::from_secs(10), sd.resolve(&instance("Res")))
            .await
            .unwrap()
            .unwrap();
        let addresses = tokio::time::timeout(
            Duration::from_secs(10),
            sd.lookup_host(&resolved.host_target),
        )
        .await
        .unwrap()
        .unwrap();
        sd.shutdown().await;
        (resolved, addresses)
    });
    assert_eq!(resolved.port, 8631);
    assert_eq!(resolved.txt.get_str("k"), Some("v"));
    assert!(
        resolved.host_target.ends_with(".example.test."),
        "{}",
        resolved.host_target
    );
    assert_eq!(
        addresses
            .iter()
            .map(|a| a.addr.to_string())
            .collect::<Vec<_>>(),
        vec!["10.77.0.1"]
    );
    done_tx.send(()).unwrap();
    registrant.join().unwrap();
}

#[test]
fn a_wrong_key_is_a_typed_error_and_leaves_the_zone_unchanged() {
    let lab = Lab::new(3);
    let _bind = lab.host(3).start_bind("");
    let results = on_host(lab.host(1), || async {
        let service = || {
            Service::new(ipp(), 631)
                .with_name(InstanceName::new("Intruder").unwrap())
                .with_domain(example())
        };
        // Right name, wrong secret; unknown key name; no key at all.
        let wrong_secret = TsigKey::from_base64("update-key", "d3JvbmdzZWNyZXR3cm9uZw==").unwrap();
        let unknown = TsigKey::from_base64("nobody", "d3JvbmdzZWNyZXR3cm9uZw==").unwrap();
        let mut out = Vec::new();
        for key in [Some(wrong_secret), Some(unknown), None] {
            let sd = handle(config(key)).await;
            out.push(sd.register(service()).await.err());
            sd.shutdown().await;
        }
        out
    });
    assert!(
        matches!(results[0], Some(Error::BadSig)),
        "{:?}",
        results[0]
    );
    assert!(
        matches!(results[1], Some(Error::BadKey)),
        "{:?}",
        results[1]
    );
    assert!(matches!(results[2], Some(Error::NoKey)), "{:?}", results[2]);
    assert_eq!(
        dig(lab.host(2), "Intruder._ipp._tcp.example.test", "ANY"),
        ""
    );
    assert_eq!(dig(lab.host(2), "_ipp._tcp.example.test", "PTR"), "");
}

#[test]
fn a_dead_server_is_a_timeout_within_the_bound() {
    let lab = Lab::new(1);
    let (elapsed, results) = on_host(lab.host(1), || async {
        // Nobody has 10.77.0.200: ARP fails, nothing ever answers.
        let config = WideAreaConfig::new()
            .server("10.77.0.200:53".parse().unwrap())
            .timeouts(Duration::from_millis(300), 2)
            .tsig_key(TsigKey::from_base64("k", "c2VjcmV0").unwrap())
            .resolv_conf("/nonexistent/resolv.conf");
        let sd = handle(config).await;
        let start = Instant::now();
        let resolve = sd.resolve(&instance("Gone")).await.err();
        let resolve_time = start.elapsed();
        let start = Instant::now();
        let register = sd
            .register(Service::new(ipp(), 1).with_domain(example()))
            .await
            .err();
        let register_time = start.elapsed();
        let mut browse = sd
            .browse_on(&ipp(), Some("example.test"), dnssd::Interface::Any)
            .unwrap();
        let start = Instant::now();
        let browse_item = browse.next_event().await;
        let browse_time = start.elapsed();
        sd.shutdown().await;
        (
            [resolve_time, register_time, browse_time],
            (resolve, register, browse_item.map(|r| r.err())),
        )
    });
    eprintln!("dead server: resolve/register/browse failed after {elapsed:?} (bound 2 x 300 ms)");
    assert!(matches!(results.0, Some(Error::Timeout)), "{:?}", results.0);
    assert!(matches!(results.1, Some(Error::Timeout)), "{:?}", results.1);
    assert!(
        matches!(results.2, Some(Some(Error::Timeout))),
        "{:?}",
        results.2
    );
    for t in elapsed {
        // register asks for the zone first (one bounded exchange), then never gets further.
        assert!(t < Duration::from_secs(3), "{t:?}");
    }
}

#[test]
fn truncated_answers_are_retried_over_tcp_and_nsupdate_services_are_found() {
    // A TXT record of 8 x 200 bytes: more than the 1232-byte EDNS payload, so BIND truncates
    // the UDP answer and the client must ask again over TCP.
    let long: Vec<String> = (0..8)
        .map(|i| format!("\"k{i}={}\"", "x".repeat(195)))
        .collect();
    let zone = format!(
        "_ipp._tcp IN PTR Big._ipp._tcp\nBig._ipp._tcp IN SRV 0 0 9100 ns\nBig._ipp._tcp IN TXT {}\n",
        long.join(" ")
    );
    let lab = Lab::new(3);
    let bind = lab.host(3).start_bind(&zone);
    // And one published from host 2 with nsupdate.
    nsupdate(
        lab.host(2),
        bind.key_file(),
        "update add _ipp._tcp.example.test 30 PTR Peer._ipp._tcp.example.test.\n\
         update add Peer._ipp._tcp.example.test 30 SRV 0 0 515 ns.example.test.\n\
         update add Peer._ipp._tcp.example.test 30 TXT \"from=nsupdate\"",
    );
    let (names, big, peer) = on_host(lab.host(1), || async {
        let sd = handle(config(None)).await;
        let mut browse = sd
            .browse_on(&ipp(), Some("example.test"), dnssd::Interface::Any)
            .unwrap();
        let mut names = Vec::new();
        while names.len() < 2 {
            let event = tokio::time::timeout(Duration::from_secs(10), browse.next_event())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            if let BrowseEvent::Added(i) = event {
                names.push(i.name.to_string());
            }
        }
        names.sort();
        let big = sd.resolve(&instance("Big")).await.unwrap();
        let peer = sd.resolve(&instance("Peer")).await.unwrap();
        sd.shutdown().await;
        (names, big, peer)
    });
    assert_eq!(names, vec!["Big", "Peer"]);
    assert_eq!(big.port, 9100);
    assert_eq!(big.txt.len(), 8, "{:?}", big.txt);
    assert_eq!(big.txt.get_str("k7").map(str::len), Some(195));
    assert_eq!(peer.port, 515);
    assert_eq!(peer.txt.get_str("from"), Some("nsupdate"));
}

#[test]
fn a_taken_name_is_renamed_and_our_own_stale_records_are_reclaimed() {
    let lab = Lab::new(3);
    let bind = lab.host(3).start_bind(
        "Busy._ipp._tcp IN SRV 0 0 1 elsewhere\nBusy._ipp._tcp IN TXT \"owner=other\"\n",
    );
    let key = TsigKey::from_key_file(bind.key_file()).unwrap();
    let (renamed, reclaimed) = on_host(lab.host(1), move || async move {
        let sd = handle(config(Some(key))).await;
        let busy = || {
            Service::new(ipp(), 631)
                .with_name(InstanceName::new("Busy").unwrap())
                .with_domain(example())
        };
        let first = sd.register(busy()).await.unwrap();
        let renamed = first.name().to_string();
        // A second registration of the same service (same SRV) while the first still holds
        // the name: the situation after a crash. It takes the name over.
        let stale = Service::new(ipp(), 631)
            .with_name(first.name().clone())
            .with_domain(example());
        let second = sd.register(stale).await.unwrap();
        let reclaimed = second.name().to_string();
        std::mem::forget(first); // the crashed one never deletes
        drop(second);
        sd.shutdown().await;
        (renamed, reclaimed)
    });
    assert_eq!(renamed, "Busy (2)");
    assert_eq!(reclaimed, "Busy (2)");
    // The other owner's records are untouched; ours are gone after the drop.
    assert!(dig(lab.host(2), "Busy._ipp._tcp.example.test", "SRV").contains("elsewhere"));
    assert_eq!(
        dig(lab.host(2), "Busy\\032(2)._ipp._tcp.example.test", "SRV"),
        ""
    );
}

#[test]
fn enumerated_domains_are_listed_and_browsed_with_no_domain_given() {
    let lab = Lab::new(3);
    let bind = lab.host(3).start_bind("");
    let key = TsigKey::from_key_file(bind.key_file()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    // Host 1: one service on mDNS (embedded engine), one in example.test.
    let registrant = {
        let host = lab.host(1).clone();
        std::thread::spawn(move || {
            on_host(&host, move || async move {
                let sd = handle(config(Some(key))).await;
                let local = sd
                    .register(
                        Service::new(ipp(), 1).with_name(InstanceName::new("OnLink").unwrap()),
                    )
                    .await
                    .unwrap();
                let wide = sd
                    .register(
                        Service::new(ipp(), 2)
                            .with_name(InstanceName::new("InZone").unwrap())
                            .with_domain(example()),
                    )
                    .await
                    .unwrap();
                tx.send(()).unwrap();
                done_rx.await.unwrap();
                drop((local, wide));
                sd.shutdown().await;
            })
        })
    };
    rx.recv_timeout(Duration::from_secs(20)).unwrap();
    let (domains, seen) = on_host(lab.host(2), || async {
        let sd = handle(config(None)).await;
        let domains = sd.domains().await.unwrap();
        let mut browse = sd.browse(&ipp()).unwrap();
        let mut seen = Vec::new();
        while seen.len() < 2 {
            let event = tokio::time::timeout(Duration::from_secs(10), browse.next_event())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            if let BrowseEvent::Added(i) = event {
                seen.push((i.name.to_string(), i.domain.to_string()));
            }
        }
        seen.sort();
        sd.shutdown().await;
        (domains, seen)
    });
    done_tx.send(()).unwrap();
    registrant.join().unwrap();
    let example = Domain::new("example.test").unwrap();
    // Found through the reverse mapping of 10.77.0.2 (0.0.77.10.in-addr.arpa).
    assert_eq!(domains.browse, vec![example.clone()]);
    assert_eq!(domains.legacy_browse, vec![example]);
    assert_eq!(
        seen,
        vec![
            ("InZone".to_owned(), "example.test.".to_owned()),
            ("OnLink".to_owned(), "local.".to_owned())
        ]
    );
}

/// The CLI binary, built by `cargo build --workspace` (dnssd-cli's `dnssd`).
fn cli() -> std::path::PathBuf {
    let mut path = std::env::current_exe().unwrap();
    path.pop();
    if path.ends_with("deps") {
        path.pop();
    }
    path.join("dnssd")
}

#[test]
fn the_cli_registers_lists_domains_and_leaves_records_after_sigkill() {
    let lab = Lab::new(3);
    let bind = lab.host(3).start_bind("");
    let cli = cli();
    assert!(cli.exists(), "build the CLI first: {}", cli.display());
    let mut register = lab.host(1).spawn({
        let mut c = lab.host(1).command(&cli);
        c.args([
            "--backend",
            "embedded",
            "--dns-server",
            "10.77.0.3",
            "--tsig-key-file",
        ])
        .arg(bind.key_file())
        .args([
            "register",
            "Cli Svc",
            "_ipp._tcp",
            "4242",
            "a=b",
            "--domain",
            "example.test",
        ])
        .stdout(Stdio::null());
        c
    });
    let (srv, _) = dig_until(
        lab.host(2),
        "Cli\\032Svc._ipp._tcp.example.test",
        "SRV",
        Duration::from_secs(10),
        |a| !a.is_empty(),
    );
    assert!(srv.starts_with("0 0 4242 "), "{srv}");

    // `dnssd domains` from host 2 lists example.test (reverse-mapping enumeration).
    let out = lab
        .host(2)
        .command(&cli)
        .args(["--json", "--dns-server", "10.77.0.3", "domains"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(r#""kind":"browse","domain":"example.test.""#)
            && text.contains(r#""kind":"registration","domain":"example.test.""#),
        "{text}"
    );
    // `dnssd browse --domain` from host 2 finds it.
    let out = lab
        .host(2)
        .command(&cli)
        .args(["--json", "--timeout", "2", "--dns-server", "10.77.0.3"])
        .args(["browse", "_ipp._tcp", "--domain", "example.test"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Cli Svc"), "{text}");

    // SIGKILL: no delete is sent, and BIND ignores leases: the records stay (documented).
    register.signal(nix::sys::signal::Signal::SIGKILL);
    register.wait_timeout(Duration::from_secs(5)).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    assert!(!dig(lab.host(2), "Cli\\032Svc._ipp._tcp.example.test", "SRV").is_empty());
    // The same service registered again reclaims its name; stopping it cleans up.
    let out = lab
        .host(1)
        .command(&cli)
        .args([
            "--backend",
            "embedded",
            "--timeout",
            "1",
            "--dns-server",
            "10.77.0.3",
        ])
        .arg("--tsig-key-file")
        .arg(bind.key_file())
        .args([
            "--json",
            "register",
            "Cli Svc",
            "_ipp._tcp",
            "4242",
            "--domain",
            "example.test",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(r#""name":"Cli Svc""#), "{text}");
    assert_eq!(
        dig(lab.host(2), "Cli\\032Svc._ipp._tcp.example.test", "SRV"),
        ""
    );
    assert_eq!(dig(lab.host(2), "_ipp._tcp.example.test", "PTR"), "");
}

#[test]
fn the_lease_refresh_restores_records_and_port_changes_and_unregister_are_applied_in_order() {
    let lab = Lab::new(3);
    let bind = lab.host(3).start_bind("");
    let key = TsigKey::from_key_file(bind.key_file()).unwrap();
    let key_file = bind.key_file().to_owned();
    let host2 = lab.host(2).clone();
    let srv_name = "Mover._ipp._tcp.example.test";
    let (restored, moved, after_unregister) = on_host(lab.host(1), move || async move {
        // A 2 s lease: the registration re-sends its records every 1.6 s.
        let sd = handle(config(Some(key)).lease(Duration::from_secs(2))).await;
        let mut registration = sd
            .register(
                Service::new(ipp(), 1000)
                    .with_name(InstanceName::new("Mover").unwrap())
                    .with_domain(example()),
            )
            .await
            .unwrap();
        // Someone deletes the records behind our back; the next refresh puts them back.
        let h2 = host2.clone();
        let kf = key_file.clone();
        tokio::task::spawn_blocking(move || {
            nsupdate(&h2, &kf, &format!("update delete {srv_name} ANY"));
        })
        .await
        .unwrap();
        let h2 = host2.clone();
        let restored = tokio::task::spawn_blocking(move || {
            dig_until(&h2, srv_name, "SRV", Duration::from_secs(5), |a| {
                !a.is_empty()
            })
        })
        .await
        .unwrap();
        // A new port: withdrawn (and deleted) before the new records go in.
        registration.update_port(2000).await.unwrap();
        let h2 = host2.clone();
        let moved = tokio::task::spawn_blocking(move || dig(&h2, srv_name, "SRV"))
            .await
            .unwrap();
        registration.unregister().await;
        let h2 = host2.clone();
        let after = tokio::task::spawn_blocking(move || dig(&h2, srv_name, "SRV"))
            .await
            .unwrap();
        sd.shutdown().await;
        (restored, moved, after)
    });
    assert!(restored.0.starts_with("0 0 1000 "), "{restored:?}");
    eprintln!(
        "records deleted by a third party restored by the lease refresh after {:?}",
        restored.1
    );
    assert!(
        moved.starts_with("0 0 2000 ") && moved.lines().count() == 1,
        "{moved}"
    );
    assert_eq!(after_unregister, "");
}

#[test]
fn avahi_browses_and_resolves_our_registration_in_its_browse_domain() {
    let lab = Lab::new(3);
    let bind = lab.host(3).start_bind("");
    let key = TsigKey::from_key_file(bind.key_file()).unwrap();
    // avahi-daemon on host 2 with wide-area browsing of example.test through BIND.
    let status = std::process::Command::new(dnssd_netlab::script())
        .args(["avahi", lab.name(), "2"])
        .env("NETLAB_AVAHI_BROWSE_DOMAINS", "example.test")
        .env("NETLAB_AVAHI_NAMESERVER", "10.77.0.3")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let registrant = {
        let host = lab.host(1).clone();
        std::thread::spawn(move || {
            on_host(&host, move || async move {
                let sd = handle(config(Some(key))).await;
                let registration = sd
                    .register(
                        Service::new(ipp(), 6310)
                            .with_name(InstanceName::new("For Avahi").unwrap())
                            .with_txt(TxtRecord::from_pairs([("pdl", "pdf")]).unwrap())
                            .with_domain(example()),
                    )
                    .await
                    .unwrap();
                tx.send(()).unwrap();
                done_rx.await.unwrap();
                drop(registration);
                sd.shutdown().await;
            })
        })
    };
    rx.recv_timeout(Duration::from_secs(20)).unwrap();
    let out = lab
        .host(2)
        .command("timeout")
        .args([
            "5",
            "avahi-browse",
            "-d",
            "example.test",
            "-rp",
            "_ipp._tcp",
        ])
        .output()
        .unwrap();
    done_tx.send(()).unwrap();
    registrant.join().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // =;iface;proto;name;type;domain;host;address;port;txt
    let resolved = text
        .lines()
        .find(|l| l.starts_with("=;") && l.contains(r";For\032Avahi;"))
        .unwrap_or_else(|| panic!("avahi-browse did not resolve it:\n{text}"));
    let fields: Vec<&str> = resolved.split(';').collect();
    assert_eq!(fields[5], "example.test", "{resolved}");
    assert_eq!(fields[7], "10.77.0.1", "{resolved}");
    assert_eq!(fields[8], "6310", "{resolved}");
    assert!(fields[9].contains("pdl=pdf"), "{resolved}");
}
