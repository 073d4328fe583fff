//! The embedded engine in ordinary network life (issue 10), on netlab namespace hosts:
//! renumbering, cloned host names, dead peers and `reconfirm`.
//!
//! Run: `scripts/netlab run cargo nextest run --offline -p dnssd --test embedded_realnet`.

// Network namespaces, the embedded engine and `nix` are Linux-only.
#![cfg(target_os = "linux")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs,
    reason = "tests"
)]

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use dnssd::embedded::{EmbeddedConfig, InterfaceSelection};
use dnssd::{
    BackendKind, EndpointEvent, InstanceName, Registration, Service, ServiceDiscovery, ServiceType,
    TxtRecord,
};
use dnssd_netlab::{Host, Lab};
use tokio::sync::mpsc;

const SOON: Duration = Duration::from_secs(15);

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

async fn embedded_with(host_label: &str, interfaces: InterfaceSelection) -> ServiceDiscovery {
    let sd = ServiceDiscovery::builder()
        .backend(BackendKind::Embedded)
        .embedded_config(
            EmbeddedConfig::default()
                .with_host_name(host_label)
                .with_interfaces(interfaces),
        )
        .build()
        .await
        .unwrap();
    assert_eq!(sd.backend(), BackendKind::Embedded);
    sd
}

async fn embedded(host_label: &str) -> ServiceDiscovery {
    embedded_with(host_label, InterfaceSelection::default()).await
}

fn service(name: &str, service_type: &str, port: u16) -> Service {
    Service::new(ServiceType::new(service_type).unwrap(), port)
        .with_name(InstanceName::new(name).unwrap())
        .with_txt(TxtRecord::from_pairs([("k", "v")]).unwrap())
}

async fn register(sd: &ServiceDiscovery, service: Service) -> Registration {
    tokio::time::timeout(SOON, sd.register(service))
        .await
        .expect("registration confirmed in time")
        .expect("registration succeeds")
}

/// `ip -n HOST ARGS...` (runs in the runner namespace, changes the host's links).
async fn ip(host: &Host, args: &[&str]) {
    let status = tokio::process::Command::new("ip")
        .arg("-n")
        .arg(host.name())
        .args(args)
        .status()
        .await
        .unwrap();
    assert!(status.success(), "ip {args:?}");
}

/// `sysctl -w SETTING` inside `host`.
async fn sysctl(host: &Host, setting: &str) {
    let mut c = host.command("sysctl");
    c.args(["-q", "-w", setting]);
    let status = tokio::process::Command::from(c).status().await.unwrap();
    assert!(status.success(), "sysctl {setting}");
}

/// What a browser on another host reports, with the time it arrived.
type Seen = (Instant, &'static str, EndpointEvent);

/// Starts a thread on `host` browsing `service_type` with our engine (one browser per
/// family given, labelled), sending every endpoint event to the returned channel until
/// `stop` fires.
fn browse_on(
    host: &Host,
    service_type: &'static str,
    browsers: Vec<(&'static str, InterfaceSelection)>,
) -> (
    mpsc::UnboundedReceiver<Seen>,
    std::sync::mpsc::Sender<()>,
    std::thread::JoinHandle<()>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let host = host.clone();
    let thread = std::thread::spawn(move || {
        on_host(&host, move || async move {
            let mut handles = Vec::new();
            for (i, (label, selection)) in browsers.into_iter().enumerate() {
                let sd = embedded_with(&format!("browser{i}"), selection).await;
                let mut endpoints = sd
                    .browse(&ServiceType::new(service_type).unwrap())
                    .unwrap()
                    .resolved();
                let tx = tx.clone();
                handles.push(tokio::spawn(async move {
                    while let Some(Ok(e)) = endpoints.next_event().await {
                        if tx.send((Instant::now(), label, e)).is_err() {
                            break;
                        }
                    }
                    drop(sd);
                }));
            }
            tokio::task::spawn_blocking(move || stop_rx.recv_timeout(Duration::from_secs(60)))
                .await
                .unwrap()
                .ok();
            for h in handles {
                h.abort();
            }
        });
    });
    (rx, stop_tx, thread)
}

/// Waits for an event of browser `label` matching `wanted`; every event seen goes to `log`.
async fn wait_for(
    rx: &mut mpsc::UnboundedReceiver<Seen>,
    log: &mut Vec<Seen>,
    limit: Duration,
    wanted: impl Fn(&'static str, &EndpointEvent) -> bool,
) -> Option<Instant> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(seen)) => {
                let hit = wanted(seen.1, &seen.2);
                let at = seen.0;
                log.push(seen);
                if hit {
                    return Some(at);
                }
            }
            _ => return None,
        }
    }
}

fn addresses(e: &EndpointEvent) -> Vec<IpAddr> {
    match e {
        EndpointEvent::Up(ep) | EndpointEvent::Changed(ep) => {
            ep.addresses.iter().map(SocketAddr::ip).collect()
        }
        _ => Vec::new(),
    }
}

fn v4(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// `avahi-browse -rpt TYPE` on `host`: the IPv4 addresses it resolves `name` to.
async fn avahi_v4_addresses(host: &Host, service_type: &str, name: &str) -> Vec<String> {
    let mut c = host.command("avahi-browse");
    c.args(["-rpt", service_type])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut c = tokio::process::Command::from(c);
    c.kill_on_drop(true);
    let out = match tokio::time::timeout(Duration::from_secs(10), c.output()).await {
        Ok(Ok(out)) => String::from_utf8_lossy(&out.stdout).into_owned(),
        _ => String::new(),
    };
    out.lines()
        .map(|l| l.split(';').collect::<Vec<_>>())
        .filter(|f| f.len() > 7 && f[0] == "=" && f[2] == "IPv4" && f[3] == name)
        .map(|f| f[7].to_owned())
        .collect()
}

/// Lines of a long-running command, as they come.
fn lines_of(
    command: std::process::Command,
) -> (mpsc::UnboundedReceiver<String>, tokio::process::Child) {
    use tokio::io::AsyncBufReadExt;
    let mut command = tokio::process::Command::from(command);
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (rx, child)
}

#[test]
fn renumbered_ipv4_address_is_followed_and_goodbyes_go_on_both_families() {
    let lab = Lab::new(4);
    let h1 = lab.host(1).clone();
    let h3 = lab.host(3).clone();
    let h4 = lab.host(4).clone();
    let _avahi = lab.host(3).start_avahi();
    let (mut rx, stop, browser) = browse_on(
        lab.host(2),
        "_embmove._tcp",
        vec![
            ("v4", InterfaceSelection::new().families(true, false)),
            ("v6", InterfaceSelection::new().families(false, true)),
        ],
    );
    on_host(&h1.clone(), move || async move {
        let mut zc = h4.command("python3");
        zc.arg(dnssd_netlab::zc_peer())
            .args(["browse", "_embmove._tcp", "--timeout", "30"]);
        let (mut zc_lines, _zc) = lines_of(zc);
        let sd = embedded("emb-mover").await;
        let _r = register(&sd, service("Mover", "_embmove._tcp", 8201)).await;
        let mut log = Vec::new();
        let old = v4("10.77.0.1");
        let new = v4("10.77.0.41");
        let up = wait_for(&mut rx, &mut log, SOON, |l, e| {
            l == "v4" && addresses(e).contains(&old)
        })
        .await;
        assert!(up.is_some(), "browser never saw the service: {log:?}");
        let zc_has = |line: &str, addr: IpAddr| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
            v["name"] == "Mover"
                && v["addresses"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(&addr.to_string())))
        };
        let zc_lacks = |line: &str, addr: IpAddr| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
            v["name"] == "Mover" && !zc_has(line, addr)
        };
        let zc_up = tokio::time::timeout(SOON, async {
            while let Some(l) = zc_lines.recv().await {
                if zc_has(&l, old) {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(zc_up, Ok(true), "python-zeroconf never saw the service");
        assert!(
            avahi_v4_addresses(&h3, "_embmove._tcp", "Mover").await == ["10.77.0.1"],
            "avahi resolves the first address"
        );
        // DHCP renumbering: the new address first, then the old one removed. The new one
        // takes over as primary (as systemd's sysctl defaults have it; with the kernel's
        // default the secondary would go with the primary: see the next test).
        sysctl(&h1, "net.ipv4.conf.nl0.promote_secondaries=1").await;
        ip(&h1, &["addr", "add", "10.77.0.41/24", "dev", "nl0"]).await;
        ip(&h1, &["addr", "del", "10.77.0.1/24", "dev", "nl0"]).await;
        let moved_at = Instant::now();
        let moved = wait_for(&mut rx, &mut log, Duration::from_secs(5), |l, e| {
            let a = addresses(e);
            l == "v4" && a.contains(&new) && !a.contains(&old)
        })
        .await;
        let moved = moved.unwrap_or_else(|| panic!("no move to {new} seen: {log:#?}"));
        let ours = moved - moved_at;
        let zc_moved = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(l) = zc_lines.recv().await {
                if zc_has(&l, new) && zc_lacks(&l, old) {
                    return Instant::now();
                }
            }
            moved_at + Duration::from_secs(60)
        })
        .await
        .unwrap_or(moved_at + Duration::from_secs(60));
        let zc = zc_moved - moved_at;
        let mut avahi = Duration::from_secs(60);
        while moved_at.elapsed() < Duration::from_secs(6) {
            if avahi_v4_addresses(&h3, "_embmove._tcp", "Mover").await == ["10.77.0.41"] {
                avahi = moved_at.elapsed();
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        println!(
            "move seen by: ours {ours:?}, python-zeroconf {zc:?}, avahi-browse {avahi:?} (polled)"
        );
        assert!(
            ours <= Duration::from_secs(2),
            "ours saw the move after {ours:?}"
        );
        assert!(
            zc <= Duration::from_secs(2),
            "python-zeroconf saw the move after {zc:?}"
        );
        // avahi-browse is polled (each run takes a fraction of a second itself).
        assert!(
            avahi <= Duration::from_secs(3),
            "avahi saw the move after {avahi:?}"
        );
        // Shutdown: goodbyes reach the browsers of both families.
        let t0 = Instant::now();
        sd.shutdown().await;
        let mut down = std::collections::BTreeSet::new();
        while down.len() < 2 {
            let Some(_) = wait_for(&mut rx, &mut log, Duration::from_secs(5), |l, e| {
                matches!(e, EndpointEvent::Down(_)) && !down.contains(l)
            })
            .await
            else {
                break;
            };
            if let Some((_, l, _)) = log.last() {
                down.insert(*l);
            }
        }
        assert_eq!(
            down.into_iter().collect::<Vec<_>>(),
            ["v4", "v6"],
            "goodbye seen on both families within 5 s: {log:#?}"
        );
        assert!(t0.elapsed() < Duration::from_secs(5));
    });
    stop.send(()).unwrap();
    browser.join().unwrap();
}

#[test]
fn an_interface_that_loses_its_last_ipv4_address_and_gets_one_back() {
    let lab = Lab::new(2);
    let h1 = lab.host(1).clone();
    let (mut rx, stop, browser) = browse_on(
        lab.host(2),
        "_embback._tcp",
        vec![("v4", InterfaceSelection::new().families(true, false))],
    );
    on_host(&h1.clone(), move || async move {
        let sd = embedded("emb-back").await;
        let _r = register(&sd, service("Back", "_embback._tcp", 8202)).await;
        let mut log = Vec::new();
        let old = v4("10.77.0.1");
        let up = wait_for(&mut rx, &mut log, SOON, |_, e| addresses(e).contains(&old)).await;
        assert!(up.is_some(), "browser never saw the service: {log:?}");
        // Renumbering with the kernel's default (promote_secondaries off): deleting the
        // primary address takes the new secondary with it, leaving no IPv4 address at all.
        ip(&h1, &["addr", "add", "10.77.0.41/24", "dev", "nl0"]).await;
        ip(&h1, &["addr", "del", "10.77.0.1/24", "dev", "nl0"]).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        // An address comes back (DHCP again).
        let new = v4("10.77.0.42");
        ip(&h1, &["addr", "add", "10.77.0.42/24", "dev", "nl0"]).await;
        let back_at = Instant::now();
        let back = wait_for(&mut rx, &mut log, Duration::from_secs(5), |_, e| {
            let a = addresses(e);
            a.contains(&new) && !a.contains(&old)
        })
        .await
        .unwrap_or_else(|| panic!("{new} never reported: {log:#?}"));
        assert!(
            back - back_at <= Duration::from_secs(2),
            "seen after {:?}",
            back - back_at
        );
        sd.shutdown().await;
    });
    stop.send(()).unwrap();
    browser.join().unwrap();
}

/// Waits for the endpoint event of `name` matching `wanted` on `endpoints`.
async fn endpoint_until(
    endpoints: &mut dnssd::Endpoints,
    limit: Duration,
    wanted: impl Fn(&EndpointEvent) -> bool,
) -> Option<EndpointEvent> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, endpoints.next_event()).await {
            Ok(Some(Ok(e))) if wanted(&e) => return Some(e),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => panic!("endpoints failed: {e}"),
            Ok(None) | Err(_) => return None,
        }
    }
}

fn instance_name(e: &EndpointEvent) -> &str {
    match e {
        EndpointEvent::Up(ep) | EndpointEvent::Changed(ep) | EndpointEvent::Down(ep) => {
            ep.instance.name.as_str()
        }
        _ => "",
    }
}

#[test]
fn sigkilled_peers_are_down_within_ten_seconds_of_reconfirm() {
    let lab = Lab::new(3);
    // Host 2: another process on our engine (the CLI); host 3: avahi-daemon.
    let cli = dnssd_netlab::repo_root().join("target/debug/dnssd");
    assert!(
        cli.exists(),
        "build the CLI first: cargo build -p dnssd-cli"
    );
    let mut command = lab.host(2).command(&cli);
    command
        .args([
            "register",
            "Dead Emb",
            "_embdead._tcp",
            "8301",
            "--backend",
            "embedded",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let holder = lab.host(2).spawn(command);
    let avahi = lab.host(3).start_avahi();
    let mut publish = lab.host(3).command("avahi-publish");
    publish
        .args(["-s", "Dead Avahi", "_embdead._tcp", "8302"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let publisher = lab.host(3).spawn(publish);
    let (kill_tx, kill_rx) = std::sync::mpsc::channel::<()>();
    let (killed_tx, killed_rx) = std::sync::mpsc::channel::<()>();
    let killer = std::thread::spawn(move || {
        if kill_rx.recv_timeout(Duration::from_secs(60)).is_ok() {
            let mut holder = holder;
            holder.signal(nix::sys::signal::Signal::SIGKILL);
            assert!(holder.wait_timeout(Duration::from_secs(5)).is_some());
            avahi.kill();
            drop(publisher);
        }
        let _ = killed_tx.send(());
    });
    on_host(lab.host(1), move || async move {
        let sd = embedded("emb-watch").await;
        let mut endpoints = sd
            .browse(&ServiceType::new("_embdead._tcp").unwrap())
            .unwrap()
            .resolved();
        let mut up = std::collections::BTreeMap::new();
        while up.len() < 2 {
            let Some(EndpointEvent::Up(ep)) =
                endpoint_until(&mut endpoints, SOON, |e| matches!(e, EndpointEvent::Up(_))).await
            else {
                panic!("peers not found: {up:?}");
            };
            up.insert(ep.instance.name.as_str().to_owned(), ep.instance.clone());
        }
        kill_tx.send(()).unwrap();
        tokio::task::spawn_blocking(move || killed_rx.recv_timeout(SOON))
            .await
            .unwrap()
            .unwrap();
        let t0 = Instant::now();
        for instance in up.values() {
            sd.reconfirm(instance).await.unwrap();
        }
        let mut down = std::collections::BTreeSet::new();
        while down.len() < 2 {
            let Some(e) = endpoint_until(&mut endpoints, Duration::from_secs(12), |e| {
                matches!(e, EndpointEvent::Down(_))
            })
            .await
            else {
                panic!("only {down:?} reported down after {:?}", t0.elapsed());
            };
            down.insert(instance_name(&e).to_owned());
        }
        let after = t0.elapsed();
        println!("both SIGKILLed peers Down {after:?} after reconfirm");
        assert!(after <= Duration::from_secs(11), "Down after {after:?}");
        sd.shutdown().await;
    });
    killer.join().unwrap();
}

#[test]
fn three_hosts_with_one_host_name_never_show_another_hosts_address_in_the_cli() {
    // Every lab host has the machine's host name: the CLI's engines all start as
    // `<same>.local` and must settle the name before any SRV names it.
    let lab = Lab::new(4);
    let cli = dnssd_netlab::repo_root().join("target/debug/dnssd");
    assert!(
        cli.exists(),
        "build the CLI first: cargo build -p dnssd-cli"
    );
    let mut browse = lab.host(4).command(&cli);
    browse
        .args([
            "browse",
            "_embclone._tcp",
            "--resolve",
            "--json",
            "--backend",
            "embedded",
            "--timeout",
            "10",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut holders = Vec::new();
    for i in 1..=3 {
        let mut command = lab.host(i).command(&cli);
        command
            .args([
                "register",
                &format!("Clone {i}"),
                "_embclone._tcp",
                "8400",
                "--backend",
                "embedded",
                "--timeout",
                "12",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        holders.push(lab.host(i).spawn(command));
    }
    let out = browse.output().unwrap();
    let out = String::from_utf8_lossy(&out.stdout);
    let mut complete = std::collections::BTreeSet::new();
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
        let event = v["event"].as_str().unwrap_or_default();
        if event != "up" && event != "changed" {
            continue;
        }
        let name = v["name"].as_str().unwrap_or_default();
        let Some(i) = name.strip_prefix("Clone ") else {
            continue;
        };
        let own = format!("10.77.0.{i}");
        let v4: Vec<&str> = v["addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str())
            .filter(|a| a.contains('.'))
            .collect();
        for a in &v4 {
            assert_eq!(
                *a, own,
                "{name} reported with another host's address: {line}"
            );
        }
        if v4.contains(&own.as_str()) {
            complete.insert(name.to_owned());
        }
    }
    assert_eq!(
        complete.len(),
        3,
        "every clone found with its address: {out}"
    );
}
