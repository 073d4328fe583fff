//! The embedded engine against foreign mDNS stacks, on netlab namespace hosts.
//!
//! Our engine runs on host 1 (no daemon there): the test thread enters the host's network
//! namespace and builds a tokio runtime on it, so every socket the engine opens lives there.
//! The peers run on the other hosts: avahi-daemon (with `avahi-browse`, `avahi-publish`),
//! python-zeroconf (`scripts/zc_peer.py`), `dig` and raw queries.
//!
//! Notes on the peers:
//! - `dig -p 5353 @224.0.0.251` cannot receive any mDNS answer (ours or Avahi's): it connects
//!   its UDP socket to the group address, so the unicast reply from the responder's own
//!   address is refused with ICMP port unreachable. The legacy unicast tests therefore ask
//!   with `dig @<host address> -p 5353` (a direct legacy query) and send the multicast legacy
//!   query from a plain socket (`legacy_multicast_query_*`).
//! - Avahi keeps a record whose owner died without a goodbye until its TTL (75 min for a PTR)
//!   unless it sees queries for it go unanswered (POOF, RFC 6762 §10.5): the SIGKILL test
//!   sends such queries from a third host (`zc_peer.py query`).
//!
//! Run: `scripts/netlab run cargo nextest run --offline -p dnssd --test embedded_interop`.
//! `register_to_avahi_browse_timing` prints its measurements (`--no-capture`).

// Network namespaces, the embedded engine and `nix` are Linux-only.
#![cfg(target_os = "linux")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::collections::BTreeSet;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dnssd::embedded::{EmbeddedConfig, InterfaceRule, InterfaceSelection};
use dnssd::{
    BackendKind, BrowseEvent, Error, HostAddress, Instance, InstanceName, Registration, Service,
    ServiceDiscovery, ServiceType, ServiceTypeEvent, TxtRecord,
};
use dnssd_engine::wire::{CLASS_IN, Header, Message, MessageWriter, Name, Question, RecordType};
use dnssd_netlab::{Host, Lab};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

/// Generous bound for anything that should take about a second.
const SOON: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

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

/// Our embedded engine, with a host name of its own (every lab host shares the machine's
/// UTS name).
async fn embedded(host_label: &str) -> ServiceDiscovery {
    let sd = ServiceDiscovery::builder()
        .backend(BackendKind::Embedded)
        .embedded_config(EmbeddedConfig::default().with_host_name(host_label))
        .build()
        .await
        .unwrap();
    assert_eq!(sd.backend(), BackendKind::Embedded);
    sd
}

fn service(name: &str, service_type: &str, port: u16, txt: &[(&str, &str)]) -> Service {
    Service::new(ServiceType::new(service_type).unwrap(), port)
        .with_name(InstanceName::new(name).unwrap())
        .with_txt(TxtRecord::from_pairs(txt.iter().copied()).unwrap())
}

async fn register(sd: &ServiceDiscovery, service: Service) -> Registration {
    tokio::time::timeout(SOON, sd.register(service))
        .await
        .expect("registration confirmed in time")
        .expect("registration succeeds")
}

/// Runs a command to completion (killed after `limit`), returning its stdout.
async fn output(command: Command, limit: Duration) -> String {
    let mut command = tokio::process::Command::from(command);
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let child = command.spawn().expect("spawn");
    match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(Ok(out)) => String::from_utf8_lossy(&out.stdout).into_owned(),
        _ => String::new(),
    }
}

/// A long-running command whose stdout lines are collected as they come.
struct Lines {
    lines: mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
    child: tokio::process::Child,
}

impl Lines {
    fn spawn(command: Command) -> Lines {
        let mut command = tokio::process::Command::from(command);
        command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("spawn");
        let (tx, rx) = mpsc::unbounded_channel();
        // avahi-publish reports on stderr; the others on stdout.
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        forward_lines(stdout, tx.clone());
        forward_lines(stderr, tx);
        Lines {
            lines: rx,
            seen: Vec::new(),
            child,
        }
    }

    /// The first line (not yet returned) matching `wanted`, waiting at most `limit`.
    async fn wait_for(&mut self, limit: Duration, wanted: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return Some(line);
                    }
                }
                _ => return None,
            }
        }
    }

    /// Every line received so far, after reading what is pending for `settle`.
    async fn drain(&mut self, settle: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + settle;
        while let Ok(Some(line)) = tokio::time::timeout_at(deadline, self.lines.recv()).await {
            self.seen.push(line);
        }
        self.seen.clone()
    }

    fn signal(&self, signal: nix::sys::signal::Signal) {
        if let Some(pid) = self.child.id() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal);
        }
    }
}

fn forward_lines(
    pipe: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    tx: mpsc::UnboundedSender<String>,
) {
    tokio::spawn(async move {
        let mut reader = BufReader::new(pipe).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
}

/// JSON lines of zc_peer.py.
fn json(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or(Value::Null)
}

fn zc_peer(host: &Host) -> Command {
    let mut c = host.command("python3");
    c.arg(dnssd_netlab::zc_peer());
    c
}

/// An instance name as `avahi-browse -p` prints it: ASCII other than letters, digits, `-`
/// and `_` as `\DDD` (decimal).
fn avahi_escaped(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || !c.is_ascii() {
                c.to_string()
            } else {
                format!("\\{:03}", u32::from(c))
            }
        })
        .collect()
}

/// `avahi-browse -rpt TYPE` on `host`: its resolved lines (`=;iface;proto;name;...`), split.
async fn avahi_resolved(host: &Host, service_type: &str) -> Vec<Vec<String>> {
    let mut c = host.command("avahi-browse");
    c.args(["-rpt", service_type]);
    output(c, Duration::from_secs(10))
        .await
        .lines()
        .filter(|l| l.starts_with('='))
        .map(|l| l.split(';').map(str::to_owned).collect())
        .collect()
}

/// Polls [`avahi_resolved`] until `done` accepts its lines or `limit` passes; the last lines.
async fn avahi_resolved_until(
    host: &Host,
    service_type: &str,
    limit: Duration,
    done: impl Fn(&[Vec<String>]) -> bool,
) -> Vec<Vec<String>> {
    let deadline = Instant::now() + limit;
    loop {
        let lines = avahi_resolved(host, service_type).await;
        if done(&lines) || Instant::now() >= deadline {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Names `avahi-browse -pt TYPE` on `host` lists.
async fn avahi_names(host: &Host, service_type: &str) -> BTreeSet<String> {
    let mut c = host.command("avahi-browse");
    c.args(["-pt", service_type]);
    output(c, Duration::from_secs(10))
        .await
        .lines()
        .filter(|l| l.starts_with('+'))
        .filter_map(|l| l.split(';').nth(3).map(str::to_owned))
        .collect()
}

/// Polls `check` every half second until it returns true or `limit` passes.
async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The next browse event matching `wanted`, within `limit`.
async fn browse_until(
    browse: &mut dnssd::Browse,
    limit: Duration,
    wanted: impl Fn(&BrowseEvent) -> bool,
) -> Option<BrowseEvent> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, browse.next_event()).await {
            Ok(Some(Ok(event))) if wanted(&event) => return Some(event),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => panic!("browse failed: {e}"),
            Ok(None) | Err(_) => return None,
        }
    }
}

fn added(name: &str) -> impl Fn(&BrowseEvent) -> bool + '_ {
    move |e| matches!(e, BrowseEvent::Added(i) if i.name.as_str() == name)
}

fn removed(name: &str) -> impl Fn(&BrowseEvent) -> bool + '_ {
    move |e| matches!(e, BrowseEvent::Removed(i) if i.name.as_str() == name)
}

fn index_of(interface: &str) -> u32 {
    nix::net::if_::if_nametoindex(interface).expect("interface exists in this namespace")
}

// ---------------------------------------------------------------------------------------------
// Our registrations, seen by the others
// ---------------------------------------------------------------------------------------------

#[test]
fn avahi_sees_our_registration_and_its_goodbye() {
    let lab = Lab::new(2);
    let _avahi = lab.host(2).start_avahi();
    let h2 = lab.host(2).clone();
    on_host(lab.host(1), move || async move {
        let sd = embedded("emb-h1").await;
        let registration = register(
            &sd,
            service("Emb Web", "_embav._tcp", 8080, &[("path", "/x")]),
        )
        .await;
        assert_eq!(registration.name().as_str(), "Emb Web");
        let escaped = avahi_escaped("Emb Web");
        let ours = |l: &Vec<String>| l[3] == escaped && l[2] == "IPv4";
        let lines =
            avahi_resolved_until(&h2, "_embav._tcp", SOON, |lines| lines.iter().any(ours)).await;
        assert!(
            lines.iter().any(ours),
            "avahi-browse never resolved our service: {lines:?}"
        );
        let v4 = lines.iter().find(|l| ours(l)).unwrap();
        assert_eq!(v4[6], "emb-h1.local", "host name: {v4:?}");
        assert_eq!(v4[7], "10.77.0.1", "address: {v4:?}");
        assert_eq!(v4[8], "8080", "port: {v4:?}");
        assert_eq!(v4[9], "\"path=/x\"", "TXT: {v4:?}");

        // The goodbye: avahi forgets it at once (well before any TTL).
        drop(registration);
        let gone = eventually(SOON, || async {
            !avahi_names(&h2, "_embav._tcp").await.contains(&escaped)
        })
        .await;
        assert!(gone, "avahi still lists the service after our goodbye");
        sd.shutdown().await;
    });
}

#[test]
fn avahi_finds_our_subtype_and_our_service_type() {
    let lab = Lab::new(2);
    let _avahi = lab.host(2).start_avahi();
    let h2 = lab.host(2).clone();
    on_host(lab.host(1), move || async move {
        let sd = embedded("emb-h1").await;
        let with_subtype = service("Emb Sub", "_embsub._tcp", 8085, &[])
            .with_subtype("_printer")
            .unwrap();
        let _registration = register(&sd, with_subtype).await;
        let escaped = avahi_escaped("Emb Sub");
        let in_subtype = eventually(SOON, || async {
            avahi_names(&h2, "_printer._sub._embsub._tcp")
                .await
                .contains(&escaped)
        })
        .await;
        assert!(in_subtype, "avahi's subtype browse does not list us");
        assert!(
            !avahi_names(&h2, "_scanner._sub._embsub._tcp")
                .await
                .contains(&escaped),
            "listed under a subtype we never registered"
        );
        // `avahi-browse -a` enumerates types (RFC 6763 §9) and lists our instance.
        let listed = eventually(SOON, || async {
            let mut c = h2.command("avahi-browse");
            c.args(["-apt"]);
            output(c, Duration::from_secs(10))
                .await
                .lines()
                .any(|l| l.contains(&escaped) && l.contains("_embsub._tcp"))
        })
        .await;
        assert!(listed, "avahi-browse -a does not list our service type");
        sd.shutdown().await;
    });
}

#[test]
fn python_zeroconf_sees_registration_txt_update_and_goodbye() {
    let lab = Lab::new(2);
    let h2 = lab.host(2).clone();
    on_host(lab.host(1), move || async move {
        let mut zc = zc_peer(&h2);
        zc.args(["browse", "_embzc._tcp", "--timeout", "40"]);
        let mut browser = Lines::spawn(zc);
        let sd = embedded("emb-h1").await;
        let registration =
            register(&sd, service("Emb Zc", "_embzc._tcp", 8081, &[("k", "1")])).await;
        let line = browser
            .wait_for(SOON, |l| json(l)["event"] == "added")
            .await
            .expect("python-zeroconf reports the service");
        let v = json(&line);
        assert_eq!(v["name"], "Emb Zc", "{line}");
        assert_eq!(v["port"], 8081, "{line}");
        assert_eq!(v["server"], "emb-h1.local.", "{line}");
        assert_eq!(v["txt"]["k"], "1", "{line}");
        let addresses: Vec<&str> = v["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(addresses.contains(&"10.77.0.1"), "{line}");
        assert!(
            addresses.iter().any(|a| a.starts_with("fe80::")),
            "IPv6 link-local address too: {line}"
        );

        registration
            .update_txt(TxtRecord::from_pairs([("k", "2")]).unwrap())
            .await
            .unwrap();
        let line = browser
            .wait_for(SOON, |l| {
                let v = json(l);
                v["event"] == "updated" && v["txt"]["k"] == "2"
            })
            .await;
        assert!(line.is_some(), "TXT update not seen: {:?}", browser.seen);

        drop(registration);
        let line = browser
            .wait_for(SOON, |l| {
                let v = json(l);
                v["event"] == "removed" && v["name"] == "Emb Zc"
            })
            .await;
        assert!(line.is_some(), "goodbye not seen: {:?}", browser.seen);
        sd.shutdown().await;
    });
}

#[test]
fn shutdown_and_a_dropped_runtime_both_send_goodbyes() {
    let lab = Lab::new(2);
    let h1 = lab.host(1).clone();
    let h2 = lab.host(2).clone();
    // The observer runs on its own runtime in host 1's thread; it only spawns processes.
    on_host(&h1.clone(), move || async move {
        let mut zc = zc_peer(&h2);
        zc.args(["browse", "_embbye._tcp", "--timeout", "40"]);
        let mut browser = Lines::spawn(zc);
        let event = |kind: &'static str, name: &'static str| {
            move |l: &str| {
                let v = json(l);
                v["event"] == kind && v["name"] == name
            }
        };

        // 1. `shutdown()` with a registration still held: goodbye before it returns.
        let sd = embedded("emb-h1").await;
        let held = register(&sd, service("Bye Shutdown", "_embbye._tcp", 8120, &[])).await;
        assert!(
            browser
                .wait_for(SOON, event("added", "Bye Shutdown"))
                .await
                .is_some()
        );
        sd.shutdown().await;
        assert!(
            browser
                .wait_for(SOON, event("removed", "Bye Shutdown"))
                .await
                .is_some(),
            "no goodbye from shutdown: {:?}",
            browser.seen
        );
        drop(held);

        // 2. A runtime dropped with the engine and a registration alive (a program returning
        // from main without shutdown): the driver's drop sends the goodbyes.
        h1.run(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let (sd, registration) = runtime.block_on(async {
                let sd = embedded("emb-h1b").await;
                let r = register(&sd, service("Bye Runtime", "_embbye._tcp", 8121, &[])).await;
                tokio::time::sleep(Duration::from_millis(1500)).await;
                (sd, r)
            });
            drop(runtime);
            drop((sd, registration));
        });
        assert!(
            browser
                .wait_for(SOON, event("removed", "Bye Runtime"))
                .await
                .is_some(),
            "no goodbye when the runtime was dropped: {:?}",
            browser.seen
        );
    });
}

#[test]
fn dig_legacy_unicast_queries_get_srv_txt_and_a() {
    let lab = Lab::new(2);
    let h2 = lab.host(2).clone();
    on_host(lab.host(1), move || async move {
        let sd = embedded("emb-h1").await;
        let _registration =
            register(&sd, service("Emb Dig", "_embdig._tcp", 8082, &[("a", "b")])).await;
        let dig = |name: &str, rtype: &str| {
            let mut c = h2.command("dig");
            c.args(["+short", "+time=2", "+tries=3", "-p", "5353", "@10.77.0.1"])
                .args([name, rtype]);
            output(c, Duration::from_secs(10))
        };
        let srv = dig(r"Emb\ Dig._embdig._tcp.local", "SRV").await;
        assert_eq!(srv.trim(), "0 0 8082 emb-h1.local.", "SRV via dig");
        let txt = dig(r"Emb\ Dig._embdig._tcp.local", "TXT").await;
        assert_eq!(txt.trim(), "\"a=b\"", "TXT via dig");
        let a = dig("emb-h1.local", "A").await;
        assert_eq!(a.trim(), "10.77.0.1", "A via dig");
        let ptr = dig("_embdig._tcp.local", "PTR").await;
        assert_eq!(ptr.trim(), r"Emb\032Dig._embdig._tcp.local.", "PTR via dig");
        sd.shutdown().await;
    });
}

/// Sends a legacy unicast query (ephemeral port) for `name`/`rtype` to the mDNS group from
/// `host` and returns the first answer.
fn legacy_multicast_query(host: &Host, name: &str, rtype: RecordType) -> Option<Message> {
    let name = name.to_owned();
    host.run(move || {
        let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut writer = MessageWriter::new(
            Header {
                id: 0x5eed,
                flags: 0,
            },
            512,
        );
        writer
            .push_question(&Question {
                name: Name::from_dotted(&name).unwrap(),
                qtype: rtype,
                qclass: CLASS_IN,
                unicast_response: false,
            })
            .unwrap();
        let query = writer.finish();
        let group = SocketAddr::from((Ipv4Addr::new(224, 0, 0, 251), 5353));
        let mut buf = [0u8; 9000];
        for _ in 0..20 {
            socket.send_to(&query, group).unwrap();
            if let Ok((len, _from)) = socket.recv_from(&mut buf) {
                return Message::parse(&buf[..len]).ok();
            }
        }
        None
    })
}

#[test]
fn legacy_multicast_query_gets_a_conforming_unicast_reply() {
    let lab = Lab::new(2);
    let h2 = lab.host(2).clone();
    on_host(lab.host(1), move || async move {
        let sd = embedded("emb-h1").await;
        let _registration = register(&sd, service("Emb Legacy", "_emblu._tcp", 8083, &[])).await;
        let reply = tokio::task::spawn_blocking(move || {
            legacy_multicast_query(&h2, r"Emb\032Legacy._emblu._tcp.local.", RecordType(33))
        })
        .await
        .unwrap()
        .expect("a legacy unicast reply");
        // RFC 6762 §6.7: ID and question echoed, no cache-flush bit, TTL at most 10 s.
        assert_eq!(reply.header.id, 0x5eed);
        assert!(reply.header.is_response());
        assert_eq!(reply.questions.len(), 1);
        assert_eq!(
            reply.questions[0].name,
            Name::from_dotted(r"Emb\032Legacy._emblu._tcp.local.").unwrap()
        );
        assert!(!reply.answers.is_empty());
        for r in reply.answers.iter().chain(&reply.additionals) {
            assert!(
                !r.cache_flush,
                "no cache-flush bit in legacy replies: {r:?}"
            );
            assert!(r.ttl <= 10, "TTL {} > 10 in a legacy reply", r.ttl);
        }
        assert_eq!(reply.answers[0].rtype(), RecordType(33));
        sd.shutdown().await;
    });
}

#[test]
fn sigkilled_registration_leaves_avahi_after_poof() {
    let lab = Lab::new(3);
    let _avahi = lab.host(2).start_avahi();
    let h1 = lab.host(1).clone();
    let h2 = lab.host(2).clone();
    let h3 = lab.host(3).clone();
    // The CLI on host 1 holds the registration; no engine of ours runs in this test process.
    let cli = dnssd_netlab::repo_root().join("target/debug/dnssd");
    assert!(
        cli.exists(),
        "build the CLI first: cargo build -p dnssd-cli"
    );
    let mut command = h1.command(&cli);
    command
        .args([
            "register",
            "Killed Web",
            "_embkill._tcp",
            "8084",
            "--backend",
            "embedded",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let holder = h1.spawn(command);
    on_host(lab.host(3), move || async move {
        let name = avahi_escaped("Killed Web");
        let seen = eventually(SOON, || async {
            avahi_names(&h2, "_embkill._tcp").await.contains(&name)
        })
        .await;
        assert!(seen, "avahi never saw the CLI's registration");
        holder.signal(nix::sys::signal::Signal::SIGKILL);
        let mut holder = holder;
        assert!(holder.wait_timeout(Duration::from_secs(5)).is_some());
        // No goodbye was sent: avahi keeps the PTR (TTL 75 min) until queries for it from
        // another host go unanswered (POOF).
        let mut q = zc_peer(&h3);
        q.args([
            "query",
            "_embkill._tcp.local",
            "--count",
            "12",
            "--gap",
            "1.1",
        ]);
        let _querier = Lines::spawn(q);
        let gone = eventually(Duration::from_secs(25), || async {
            !avahi_names(&h2, "_embkill._tcp").await.contains(&name)
        })
        .await;
        assert!(gone, "avahi still lists the killed registration after POOF");
    });
}

// ---------------------------------------------------------------------------------------------
// The others' registrations, found by us
// ---------------------------------------------------------------------------------------------

#[test]
fn we_find_resolve_and_look_up_avahi_and_zeroconf_services() {
    let lab = Lab::new(3);
    let _avahi = lab.host(2).start_avahi();
    let h2 = lab.host(2).clone();
    let h3 = lab.host(3).clone();
    let mut publish = h2.command("avahi-publish");
    publish
        .args([
            "-s",
            "Av Web",
            "_embfind._tcp",
            "8091",
            "a=1",
            "--subtype",
            "_printer._sub._embfind._tcp",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let publisher = h2.spawn(publish);
    let mut zc = zc_peer(&h3);
    zc.args([
        "register",
        "Zc Web",
        "_embfind._tcp",
        "8092",
        "k=1",
        "--address",
        "10.77.0.3",
        "--update-after",
        "6",
        "--update-txt",
        "k=2",
    ]);
    let avahi_host = format!("{}.", h2.avahi_host_name());
    on_host(lab.host(1), move || async move {
        let zc = Lines::spawn(zc);
        let sd = embedded("emb-h1").await;
        let t = ServiceType::new("_embfind._tcp").unwrap();
        let mut browse = sd.browse(&t).unwrap();
        let mut found: Vec<Instance> = Vec::new();
        while found.len() < 2 {
            let Some(BrowseEvent::Added(i)) =
                browse_until(&mut browse, SOON, |e| matches!(e, BrowseEvent::Added(_))).await
            else {
                panic!("browse found only {found:?}");
            };
            found.push(i);
        }
        let names: BTreeSet<&str> = found.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, BTreeSet::from(["Av Web", "Zc Web"]));

        let av = found.iter().find(|i| i.name.as_str() == "Av Web").unwrap();
        let resolved = tokio::time::timeout(SOON, sd.resolve(av))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(resolved.port, 8091);
        assert_eq!(resolved.host_target, avahi_host);
        assert_eq!(resolved.txt.get_str("a"), Some("1"));
        let zc_instance = found.iter().find(|i| i.name.as_str() == "Zc Web").unwrap();
        let resolved = tokio::time::timeout(SOON, sd.resolve(zc_instance))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(resolved.port, 8092);
        assert_eq!(resolved.txt.get_str("k"), Some("1"));
        let zc_host = resolved.host_target.clone();

        // Host lookups of both.
        let addresses = tokio::time::timeout(SOON, sd.lookup_host(&avahi_host))
            .await
            .unwrap()
            .unwrap();
        assert!(
            addresses
                .iter()
                .any(|a| a.addr == IpAddr::from([10, 77, 0, 2])),
            "{addresses:?}"
        );
        let addresses = tokio::time::timeout(SOON, sd.lookup_host(&zc_host))
            .await
            .unwrap()
            .unwrap();
        assert!(
            addresses
                .iter()
                .any(|a| a.addr == IpAddr::from([10, 77, 0, 3])),
            "{addresses:?}"
        );

        // Subtype browse: only avahi's service has `_printer`.
        let mut printers = sd
            .browse(&t.clone().with_subtype("_printer").unwrap())
            .unwrap();
        assert!(
            browse_until(&mut printers, SOON, added("Av Web"))
                .await
                .is_some()
        );
        assert!(
            browse_until(&mut printers, Duration::from_secs(2), added("Zc Web"))
                .await
                .is_none(),
            "Zc Web has no _printer subtype"
        );

        // Service type enumeration.
        let mut types = sd.browse_types().unwrap();
        let deadline = tokio::time::Instant::now() + SOON;
        let mut listed = false;
        while let Ok(Some(Ok(event))) = tokio::time::timeout_at(deadline, types.next_event()).await
        {
            if matches!(&event, ServiceTypeEvent::Added(s) if s.to_string() == "_embfind._tcp") {
                listed = true;
                break;
            }
        }
        assert!(listed, "browse_types lists _embfind._tcp");

        // python-zeroconf replaces its TXT 6 s after it started.
        let mut updates = sd.resolve_stream(zc_instance).unwrap();
        let deadline = tokio::time::Instant::now() + SOON;
        let mut updated = false;
        while let Ok(Some(Ok(r))) = tokio::time::timeout_at(deadline, updates.next_event()).await {
            if r.txt.get_str("k") == Some("2") {
                updated = true;
                break;
            }
        }
        assert!(updated, "TXT update from python-zeroconf not seen");

        // Removals: avahi-publish and python-zeroconf say goodbye when terminated.
        publisher.signal(nix::sys::signal::Signal::SIGTERM);
        assert!(
            browse_until(&mut browse, SOON, removed("Av Web"))
                .await
                .is_some(),
            "avahi's goodbye not seen"
        );
        zc.signal(nix::sys::signal::Signal::SIGTERM);
        assert!(
            browse_until(&mut browse, SOON, removed("Zc Web"))
                .await
                .is_some(),
            "python-zeroconf's goodbye not seen"
        );
        drop(publisher);
        sd.shutdown().await;
    });
}

#[test]
fn a_sigkilled_peer_leaves_our_browse_after_poof() {
    let lab = Lab::new(3);
    let h2 = lab.host(2).clone();
    let h3 = lab.host(3).clone();
    let mut zc = zc_peer(&h3);
    zc.args([
        "register",
        "Zc Gone",
        "_embpoof._tcp",
        "8110",
        "--address",
        "10.77.0.3",
    ]);
    on_host(lab.host(1), move || async move {
        let mut peer = Lines::spawn(zc);
        assert!(
            peer.wait_for(SOON, |l| json(l)["event"] == "registered")
                .await
                .is_some()
        );
        let sd = embedded("emb-h1").await;
        let t = ServiceType::new("_embpoof._tcp").unwrap();
        let mut browse = sd.browse(&t).unwrap();
        assert!(
            browse_until(&mut browse, SOON, added("Zc Gone"))
                .await
                .is_some()
        );
        // Dies without a goodbye; another host's unanswered queries show it is gone.
        peer.signal(nix::sys::signal::Signal::SIGKILL);
        let mut q = zc_peer(&h2);
        q.args([
            "query",
            "_embpoof._tcp.local",
            "--count",
            "15",
            "--gap",
            "1.1",
        ]);
        let _querier = Lines::spawn(q);
        assert!(
            browse_until(&mut browse, Duration::from_secs(25), removed("Zc Gone"))
                .await
                .is_some(),
            "the dead peer's instance stayed in our cache"
        );
        sd.shutdown().await;
    });
}

// ---------------------------------------------------------------------------------------------
// Name conflicts
// ---------------------------------------------------------------------------------------------

/// Asserts that `registration` reports nothing (no rename, no error) for `quiet`.
async fn stays_quiet(registration: &mut Registration, quiet: Duration) {
    if let Ok(event) = tokio::time::timeout(quiet, registration.next_event()).await {
        panic!("registration changed while it should be stable: {event:?}");
    }
}

#[test]
fn name_conflicts_with_avahi_rename_the_later_registrant_only() {
    let lab = Lab::new(2);
    let _avahi = lab.host(2).start_avahi();
    let h2 = lab.host(2).clone();
    on_host(lab.host(1), move || async move {
        let sd = embedded("emb-h1").await;
        // Avahi first: we rename.
        let mut publish = h2.command("avahi-publish");
        publish.args(["-s", "Dup Web", "_embdup._tcp", "8093"]);
        let mut first = Lines::spawn(publish);
        assert!(
            first
                .wait_for(SOON, |l| l.contains("Established"))
                .await
                .is_some()
        );
        let mut ours = register(&sd, service("Dup Web", "_embdup._tcp", 8094, &[])).await;
        let renamed = ours.name().as_str().to_owned();
        assert_ne!(renamed, "Dup Web", "the later registrant renames");
        assert!(renamed.starts_with("Dup Web"), "{renamed}");

        // We first: avahi renames.
        let ours_first = register(&sd, service("Dup Two", "_embdup._tcp", 8095, &[])).await;
        assert_eq!(ours_first.name().as_str(), "Dup Two");
        let mut publish = h2.command("avahi-publish");
        publish.args(["-s", "Dup Two", "_embdup._tcp", "8096"]);
        let mut second = Lines::spawn(publish);
        let collision = second
            .wait_for(SOON, |l| l.contains("Established"))
            .await
            .expect("avahi-publish establishes under some name");
        assert!(
            !collision.contains("'Dup Two'"),
            "avahi must not take our name: {collision}"
        );

        // Nobody loops: names stay put for a while.
        let mut ours_first = ours_first;
        stays_quiet(&mut ours, Duration::from_secs(4)).await;
        stays_quiet(&mut ours_first, Duration::from_secs(1)).await;
        let names = avahi_names(&h2, "_embdup._tcp").await;
        let expected: BTreeSet<String> = [
            "Dup Web".to_owned(),
            renamed.clone(),
            "Dup Two".to_owned(),
            collision.split('\'').nth(1).unwrap_or_default().to_owned(),
        ]
        .iter()
        .map(|n| avahi_escaped(n))
        .collect();
        assert_eq!(names, expected);
        for publisher in [&mut first, &mut second] {
            let lines = publisher.drain(Duration::from_millis(100)).await;
            let established = lines.iter().filter(|l| l.contains("Established")).count();
            assert_eq!(established, 1, "avahi-publish re-established: {lines:?}");
        }
        sd.shutdown().await;
    });
}

#[test]
fn name_conflicts_with_python_zeroconf_rename_the_later_registrant_only() {
    let lab = Lab::new(2);
    let h2 = lab.host(2).clone();
    on_host(lab.host(1), move || async move {
        let sd = embedded("emb-h1").await;
        // python-zeroconf first: we rename.
        let mut zc = zc_peer(&h2);
        zc.args([
            "register",
            "Zc Dup",
            "_embzcdup._tcp",
            "8097",
            "--address",
            "10.77.0.2",
        ]);
        let mut first = Lines::spawn(zc);
        let line = first
            .wait_for(SOON, |l| json(l)["event"] == "registered")
            .await
            .expect("python-zeroconf registers");
        assert_eq!(json(&line)["name"], "Zc Dup");
        let mut ours = register(&sd, service("Zc Dup", "_embzcdup._tcp", 8098, &[])).await;
        assert_ne!(
            ours.name().as_str(),
            "Zc Dup",
            "the later registrant renames"
        );

        // We first: python-zeroconf renames.
        let mut ours_first = register(&sd, service("Zc Two", "_embzcdup._tcp", 8099, &[])).await;
        let mut zc = zc_peer(&h2);
        zc.args([
            "register",
            "Zc Two",
            "_embzcdup._tcp",
            "8100",
            "--address",
            "10.77.0.2",
        ]);
        let mut second = Lines::spawn(zc);
        let line = second
            .wait_for(SOON, |l| json(l)["event"] == "registered")
            .await
            .expect("python-zeroconf registers");
        assert_ne!(json(&line)["name"], "Zc Two", "python-zeroconf must rename");

        stays_quiet(&mut ours, Duration::from_secs(4)).await;
        stays_quiet(&mut ours_first, Duration::from_secs(1)).await;
        assert_eq!(ours_first.name().as_str(), "Zc Two");
        for peer in [&mut first, &mut second] {
            let lines = peer.drain(Duration::from_millis(100)).await;
            let registered = lines
                .iter()
                .filter(|l| json(l)["event"] == "registered")
                .count();
            assert_eq!(registered, 1, "python-zeroconf re-registered: {lines:?}");
        }
        sd.shutdown().await;
    });
}

// ---------------------------------------------------------------------------------------------
// IPv6-only links and hosts on two links
// ---------------------------------------------------------------------------------------------

#[test]
fn ipv6_only_lookup_gives_link_local_with_scope() {
    let lab = Lab::builder().hosts(2).ipv6_only(true).build();
    let _avahi = lab.host(2).start_avahi();
    let h2 = lab.host(2).clone();
    let avahi_host = h2.avahi_host_name();
    on_host(lab.host(1), move || async move {
        let nl0 = index_of("nl0");
        let sd = embedded("emb-h1").await;
        let addresses = tokio::time::timeout(SOON, sd.lookup_host(&avahi_host))
            .await
            .expect("lookup answered")
            .unwrap();
        assert!(!addresses.is_empty());
        for a in &addresses {
            let IpAddr::V6(v6) = a.addr else {
                panic!("IPv4 address on an IPv6-only link: {a:?}");
            };
            assert_eq!(v6.segments()[0] & 0xffc0, 0xfe80, "link-local: {a:?}");
            assert_eq!(a.scope_id, nl0, "scope id is the interface: {a:?}");
            assert_eq!(a.interface.index(), nl0);
            let SocketAddr::V6(sa) = a.socket_addr(80) else {
                unreachable!()
            };
            assert_eq!(sa.scope_id(), nl0);
        }

        // And avahi resolves our registration to our link-local address.
        let _registration = register(&sd, service("Six Web", "_emb6._tcp", 8101, &[])).await;
        let escaped = avahi_escaped("Six Web");
        let ours = |l: &Vec<String>| l[3] == escaped && l[7].starts_with("fe80::");
        let lines =
            avahi_resolved_until(&h2, "_emb6._tcp", SOON, |lines| lines.iter().any(ours)).await;
        let found = lines.iter().any(ours);
        assert!(found, "avahi did not resolve us over IPv6: {lines:?}");
        assert!(
            lines.iter().all(|l| l[2] == "IPv6"),
            "nothing over IPv4: {lines:?}"
        );
        sd.shutdown().await;
    });
}

#[test]
fn two_links_addresses_stay_on_their_interface() {
    let lab = Lab::builder().hosts(2).links(2).build();
    let _avahi = lab.host(2).start_avahi();
    let h2 = lab.host(2).clone();
    let avahi_host = h2.avahi_host_name();
    on_host(lab.host(1), move || async move {
        let (nl0, nl1) = (index_of("nl0"), index_of("nl1"));
        let sd = embedded("emb-h1").await;
        let _registration = register(&sd, service("Two Links", "_emb2._tcp", 8102, &[])).await;

        // Our lookup: each of avahi's addresses on the interface it belongs to.
        let mut lookup = sd
            .lookup_host_stream(&avahi_host, dnssd::Interface::Any)
            .unwrap();
        let mut v4: BTreeSet<(IpAddr, u32)> = BTreeSet::new();
        let deadline = tokio::time::Instant::now() + SOON;
        let mut all: Vec<HostAddress> = Vec::new();
        while v4.len() < 2 {
            match tokio::time::timeout_at(deadline, lookup.next_event()).await {
                Ok(Some(Ok(dnssd::HostAddressEvent::Added(a)))) => {
                    all.push(a);
                    if a.addr.is_ipv4() {
                        v4.insert((a.addr, a.interface.index()));
                    }
                }
                Ok(Some(Ok(_))) => {}
                other => panic!("lookup ended early: {other:?} after {all:?}"),
            }
        }
        assert_eq!(
            v4,
            BTreeSet::from([
                (IpAddr::from([10, 77, 0, 2]), nl0),
                (IpAddr::from([10, 77, 1, 2]), nl1)
            ]),
            "{all:?}"
        );
        for a in all.iter().filter(|a| a.addr.is_ipv6()) {
            assert_eq!(a.scope_id, a.interface.index(), "{a:?}");
        }

        // Our answers: each link hears only its own address of ours.
        for (link, ours) in [(0, "10.77.0.1"), (1, "10.77.1.1")] {
            let mut c = h2.command("dig");
            c.args(["+short", "+time=2", "+tries=3", "-p", "5353"])
                .arg(format!("@{ours}"))
                .args(["emb-h1.local", "A"]);
            let answer = output(c, Duration::from_secs(10)).await;
            assert_eq!(answer.trim(), ours, "A on link {link}");
        }
        let escaped = avahi_escaped("Two Links");
        let both = |lines: &[Vec<String>]| {
            let v4: Vec<_> = lines
                .iter()
                .filter(|l| l[3] == escaped && l[2] == "IPv4")
                .collect();
            v4.iter().any(|l| l[1] == "nl0") && v4.iter().any(|l| l[1] == "nl1")
        };
        let lines = avahi_resolved_until(&h2, "_emb2._tcp", SOON, both).await;
        let found = both(&lines);
        assert!(found, "avahi resolves us on both links: {lines:?}");
        for l in lines.iter().filter(|l| l[2] == "IPv4") {
            let expected = if l[1] == "nl0" {
                "10.77.0.1"
            } else {
                "10.77.1.1"
            };
            assert_eq!(l[7], expected, "address on the wrong link: {l:?}");
        }
        sd.shutdown().await;
    });
}

#[test]
fn embedded_config_selects_the_interfaces() {
    let lab = Lab::builder().hosts(2).links(2).build();
    let _avahi = lab.host(2).start_avahi();
    let h2 = lab.host(2).clone();
    on_host(lab.host(1), move || async move {
        let sd = ServiceDiscovery::builder()
            .backend(BackendKind::Embedded)
            .embedded_config(
                EmbeddedConfig::default()
                    .with_host_name("emb-h1")
                    .with_interfaces(
                        InterfaceSelection::new().include(InterfaceRule::Name("nl1".into())),
                    ),
            )
            .build()
            .await
            .unwrap();
        let _registration = register(&sd, service("Only One", "_embsel._tcp", 8103, &[])).await;
        let escaped = avahi_escaped("Only One");
        let on_nl1 = |lines: &[Vec<String>]| {
            lines
                .iter()
                .any(|l| l[3] == escaped && l[1] == "nl1" && l[2] == "IPv4")
        };
        let lines = avahi_resolved_until(&h2, "_embsel._tcp", SOON, on_nl1).await;
        assert!(on_nl1(&lines), "avahi resolves us on nl1: {lines:?}");
        // Give nl0 the same chance: nothing of ours was ever sent there.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let lines = avahi_resolved(&h2, "_embsel._tcp").await;
        assert!(
            lines.iter().all(|l| l[1] == "nl1"),
            "only nl1 was selected: {lines:?}"
        );
        let mut c = h2.command("dig");
        c.args(["+short", "+time=1", "+tries=2", "-p", "5353", "@10.77.0.1"])
            .args(["emb-h1.local", "A"]);
        let answer = output(c, Duration::from_secs(10)).await;
        assert!(
            !answer.lines().any(|l| l.starts_with("10.")),
            "no answers on nl0: {answer}"
        );
        sd.shutdown().await;
    });
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

/// `dig +short` for `emb-h1.local A` asked at `server` from `host`, sorted.
async fn dig_a(host: &Host, server: &str) -> Vec<String> {
    let mut c = host.command("dig");
    c.args(["+short", "+time=1", "+tries=2", "-p", "5353"])
        .arg(format!("@{server}"))
        .args(["emb-h1.local", "A"]);
    let mut lines: Vec<String> = output(c, Duration::from_secs(10))
        .await
        .lines()
        .filter(|l| l.starts_with("10."))
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

#[test]
fn address_and_link_changes_are_followed() {
    let lab = Lab::builder().hosts(2).links(2).build();
    let _avahi = lab.host(2).start_avahi();
    let h1 = lab.host(1).clone();
    let h2 = lab.host(2).clone();
    on_host(&h1.clone(), move || async move {
        let sd = embedded("emb-h1").await;
        let mut registration = register(&sd, service("Flappy", "_embflap._tcp", 8106, &[])).await;
        assert_eq!(dig_a(&h2, "10.77.1.1").await, ["10.77.1.1"]);

        // A new address on nl1 is answered there (and only there).
        ip(&h1, &["addr", "add", "10.77.1.11/24", "dev", "nl1"]).await;
        let both = eventually(SOON, || async {
            dig_a(&h2, "10.77.1.1").await == ["10.77.1.1", "10.77.1.11"]
        })
        .await;
        assert!(
            both,
            "new address not answered: {:?}",
            dig_a(&h2, "10.77.1.1").await
        );
        assert_eq!(dig_a(&h2, "10.77.0.1").await, ["10.77.0.1"]);

        // Removed again: no longer answered.
        ip(&h1, &["addr", "del", "10.77.1.11/24", "dev", "nl1"]).await;
        let one = eventually(SOON, || async {
            dig_a(&h2, "10.77.1.1").await == ["10.77.1.1"]
        })
        .await;
        assert!(one, "removed address still answered");

        // The link goes down and comes back: mDNS resumes there, and re-probing our own
        // names does not rename anything.
        ip(&h1, &["link", "set", "nl1", "down"]).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        ip(&h1, &["link", "set", "nl1", "up"]).await;
        let back = eventually(SOON, || async {
            dig_a(&h2, "10.77.1.1").await == ["10.77.1.1"]
        })
        .await;
        assert!(back, "no answers on nl1 after the link came back");
        stays_quiet(&mut registration, Duration::from_secs(2)).await;
        assert_eq!(registration.name().as_str(), "Flappy");
        let escaped = avahi_escaped("Flappy");
        let on_nl1 = |lines: &[Vec<String>]| {
            lines
                .iter()
                .any(|l| l[3] == escaped && l[1] == "nl1" && l[7] == "10.77.1.1")
        };
        let lines = avahi_resolved_until(&h2, "_embflap._tcp", SOON, on_nl1).await;
        assert!(on_nl1(&lines), "{lines:?}");
        sd.shutdown().await;
    });
}

#[test]
fn host_name_conflict_between_two_embedded_hosts_renames_one() {
    let lab = Lab::new(3);
    let _avahi = lab.host(3).start_avahi();
    let h3 = lab.host(3).clone();
    // Host 2 holds "twin.local" first, on a thread of its own.
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<String>();
    let h2 = lab.host(2).clone();
    let first = std::thread::spawn(move || {
        on_host(&h2, move || async move {
            let sd = embedded("twin").await;
            let r = register(&sd, service("Twin A", "_embtwin._tcp", 8104, &[])).await;
            ready_tx.send(r.name().to_string()).unwrap();
            tokio::task::spawn_blocking(move || stop_rx.recv_timeout(Duration::from_secs(40)))
                .await
                .unwrap()
                .ok();
            drop(r);
            sd.shutdown().await;
        });
    });
    ready_rx.recv_timeout(SOON).expect("host 2 registered");
    on_host(lab.host(1), move || async move {
        let sd = embedded("twin").await;
        let mut r = register(&sd, service("Twin B", "_embtwin._tcp", 8105, &[])).await;
        let both = |lines: &[Vec<String>]| {
            ["Twin\\032A", "Twin\\032B"]
                .iter()
                .all(|n| lines.iter().any(|l| l[3] == *n && l[2] == "IPv4"))
        };
        let lines = avahi_resolved_until(&h3, "_embtwin._tcp", SOON, both).await;
        assert!(both(&lines), "{lines:?}");
        for l in lines.iter().filter(|l| l[2] == "IPv4") {
            let (host, address) = if l[3] == "Twin\\032A" {
                ("twin.local", "10.77.0.2")
            } else {
                ("twin-2.local", "10.77.0.1")
            };
            assert_eq!((l[6].as_str(), l[7].as_str()), (host, address), "{l:?}");
        }
        stays_quiet(&mut r, Duration::from_secs(3)).await;
        sd.shutdown().await;
    });
    stop_tx.send(()).unwrap();
    first.join().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Measurement (printed, not asserted beyond generous bounds)
// ---------------------------------------------------------------------------------------------

/// Prints median, min and max of `(confirmed, seen)` pairs.
fn print_times(label: &str, times: &mut [(Duration, Duration)]) {
    times.sort_by_key(|t| t.1);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    eprintln!("{label} (ms), {} runs:", times.len());
    for (confirmed, seen) in times.iter() {
        eprintln!("  confirmed {:7.1}  seen {:7.1}", ms(*confirmed), ms(*seen));
    }
    eprintln!(
        "  median seen {:.1} ms, min {:.1}, max {:.1}",
        ms(times[times.len() / 2].1),
        ms(times[0].1),
        ms(times[times.len() - 1].1)
    );
}

/// Register -> a remote `avahi-browse -rp` prints the resolved line: our embedded engine
/// (host 1), then avahi-daemon itself (`avahi-publish` on host 3) as the reference.
#[test]
fn register_to_avahi_browse_timing() {
    const RUNS: usize = 4;
    let lab = Lab::new(3);
    let _avahi = lab.host(2).start_avahi();
    let _reference = lab.host(3).start_avahi();
    let h2 = lab.host(2).clone();
    let h3 = lab.host(3).clone();
    let (mut ours, mut avahi) = on_host(lab.host(1), move || async move {
        let resolved = |name: &str| {
            let escaped = avahi_escaped(name);
            move |l: &str| l.starts_with('=') && l.split(';').nth(3) == Some(escaped.as_str())
        };
        let goodbye = |name: &str| {
            let escaped = avahi_escaped(name);
            move |l: &str| l.starts_with('-') && l.split(';').nth(3) == Some(escaped.as_str())
        };
        let sd = embedded("emb-h1").await;
        let mut c = h2.command("avahi-browse");
        c.args(["-rp", "_embtime._tcp"]);
        let mut browser = Lines::spawn(c);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut ours = Vec::new();
        for run in 0..RUNS {
            let name = format!("Timed {run}");
            let start = Instant::now();
            let registration = register(&sd, service(&name, "_embtime._tcp", 8200, &[])).await;
            let confirmed = start.elapsed();
            let line = browser.wait_for(SOON, resolved(&name)).await;
            assert!(line.is_some(), "avahi never resolved {name}");
            ours.push((confirmed, start.elapsed()));
            drop(registration);
            let gone = browser.wait_for(SOON, goodbye(&name)).await;
            assert!(gone.is_some(), "goodbye of {name} not seen");
        }
        sd.shutdown().await;
        let mut avahi = Vec::new();
        for run in 0..RUNS {
            let name = format!("Avahi Timed {run}");
            let mut c = h3.command("avahi-publish");
            c.args(["-s", &name, "_embtime._tcp", "8201"]);
            let start = Instant::now();
            let mut publisher = Lines::spawn(c);
            let established = publisher
                .wait_for(SOON, |l| l.contains("Established"))
                .await;
            assert!(
                established.is_some(),
                "avahi-publish did not establish {name}"
            );
            let confirmed = start.elapsed();
            let line = browser.wait_for(SOON, resolved(&name)).await;
            assert!(line.is_some(), "avahi never resolved {name}");
            avahi.push((confirmed, start.elapsed()));
            publisher.signal(nix::sys::signal::Signal::SIGTERM);
            let gone = browser.wait_for(SOON, goodbye(&name)).await;
            assert!(gone.is_some(), "goodbye of {name} not seen");
        }
        (ours, avahi)
    });
    print_times(
        "embedded register -> remote avahi-browse resolved",
        &mut ours,
    );
    print_times("avahi-publish -> remote avahi-browse resolved", &mut avahi);
}

#[test]
fn embedded_capabilities_match_what_it_refuses() {
    // LocalOnly is not something the embedded engine can do: refused before anything is sent.
    let lab = Lab::new(1);
    on_host(lab.host(1), || async {
        let sd = embedded("emb-h1").await;
        assert!(!sd.capabilities().local_only);
        let t = ServiceType::new("_embcap._tcp").unwrap();
        let r = sd
            .register(Service::new(t.clone(), 1).with_interface(dnssd::Interface::LocalOnly))
            .await;
        assert!(matches!(r, Err(Error::Unsupported { .. })), "{r:?}");
        let two = t.with_subtype("_a").unwrap().with_subtype("_b").unwrap();
        assert_eq!(sd.capabilities().max_browse_subtypes, Some(1));
        assert!(matches!(sd.browse(&two), Err(Error::Unsupported { .. })));
        sd.shutdown().await;
    });
}
