//! The `dnssd` CLI (`cli/src/main.rs`) run in network-namespace hosts against foreign peers.
//!
//! Host 1 runs our CLI: with `--backend system` an avahi-daemon runs there, with
//! `--backend embedded` nothing does. Host 2 is the foreign peer: avahi-daemon with
//! `avahi-publish` / `avahi-browse`, or python-zeroconf (`scripts/zc_peer.py`).
//!
//! Cargo builds the binary for these tests (`CARGO_BIN_EXE_dnssd`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests: a failure is a panic with a message"
)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dnssd_netlab::{Avahi, Host, Lab};
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Harness.

/// The `dnssd` binary of this crate, built by cargo for its integration tests.
fn dnssd_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_dnssd"))
}

/// Which backend our CLI uses on host 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    /// avahi-daemon runs on host 1.
    System,
    /// No daemon on host 1.
    Embedded,
}

impl Backend {
    fn arg(self) -> &'static str {
        match self {
            Backend::System => "system",
            Backend::Embedded => "embedded",
        }
    }
}

/// Host 1 (ours) and host 2 (the foreign peer, with avahi-daemon).
struct Net {
    lab: Lab,
    _daemons: Vec<Avahi>,
}

/// A lab for `backend`: avahi on host 2 always, on host 1 only for the system backend.
fn net(backend: Backend) -> Net {
    net_with(backend == Backend::System)
}

/// The `backend` field names the path that serves the CLI: one of the OS responder's paths
/// when avahi-daemon runs on our host, else the embedded engine.
fn assert_backend(event: &Value, avahi_on_ours: bool) {
    let backend = event["backend"].as_str().unwrap_or_default();
    if avahi_on_ours {
        assert!(
            ["avahi", "dns-sd"].contains(&backend),
            "expected a system path, got {event}"
        );
    } else {
        assert_eq!(backend, "embedded", "{event}");
    }
}

fn net_with(avahi_on_ours: bool) -> Net {
    let lab = Lab::new(2);
    let mut daemons = vec![lab.host(2).start_avahi()];
    if avahi_on_ours {
        daemons.push(lab.host(1).start_avahi());
    }
    Net {
        lab,
        _daemons: daemons,
    }
}

impl Net {
    fn ours(&self) -> &Host {
        self.lab.host(1)
    }

    fn peer(&self) -> &Host {
        self.lab.host(2)
    }

    /// `dnssd --backend B ARGS...` in host 1.
    fn cli(&self, backend: &str, args: &[&str]) -> Command {
        let mut command = self.ours().command(dnssd_bin());
        command
            .env_remove("DNSSD_BACKEND")
            .arg("--backend")
            .arg(backend)
            .args(args);
        command
    }

    /// A command in host 2 with line-buffered stdout (avahi tools write through stdio).
    fn peer_command(&self, program: &str, args: &[&str]) -> Command {
        let mut command = self.peer().command("stdbuf");
        command.arg("-oL").arg(program).args(args);
        command
    }

    /// The peer's mDNS host name with the root dot, as our CLI prints it.
    fn peer_fqdn(&self) -> String {
        format!("{}.", self.peer().avahi_host_name())
    }

    /// `avahi-publish -s NAME TYPE PORT TXT...` on host 2; returns once avahi established it.
    fn publish(&self, name: &str, service_type: &str, port: u16, txt: &[&str]) -> Running {
        let port = port.to_string();
        let mut args = vec!["-s", name, service_type, port.as_str()];
        args.extend_from_slice(txt);
        let mut publisher = Running::start(self.peer_command("avahi-publish", &args));
        // avahi-publish reports on stderr.
        publisher.wait_for(
            true,
            Duration::from_secs(15),
            "avahi-publish established",
            |l| l.starts_with("Established under name"),
        );
        publisher
    }
}

/// A running child with its output delivered line by line (stdout, and stderr too when asked).
struct Running {
    child: Child,
    lines: mpsc::Receiver<(bool, String)>,
    /// Stdout lines received so far.
    seen: Vec<String>,
    /// Stderr lines received so far.
    errors: Vec<String>,
    readers: Vec<JoinHandle<()>>,
}

impl Running {
    fn start(mut command: Command) -> Running {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn a lab command");
        let (tx, lines) = mpsc::channel();
        let reader =
            |pipe: Box<dyn Read + Send>, is_stderr: bool, tx: mpsc::Sender<(bool, String)>| {
                std::thread::spawn(move || {
                    for line in BufReader::new(pipe).lines() {
                        let Ok(line) = line else { break };
                        if tx.send((is_stderr, line)).is_err() {
                            break;
                        }
                    }
                })
            };
        let readers = vec![
            reader(Box::new(child.stdout.take().unwrap()), false, tx.clone()),
            reader(Box::new(child.stderr.take().unwrap()), true, tx),
        ];
        Running {
            child,
            lines,
            seen: Vec::new(),
            errors: Vec::new(),
            readers,
        }
    }

    /// Waits up to `limit` for a line (on stderr if `stderr`, else stdout) matching `pred`;
    /// panics with everything seen.
    fn wait_for(
        &mut self,
        stderr: bool,
        limit: Duration,
        what: &str,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((is_stderr, line)) => {
                    let matched = is_stderr == stderr && pred(&line);
                    if is_stderr {
                        self.errors.push(line.clone());
                    } else {
                        self.seen.push(line.clone());
                    }
                    if matched {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no {what} within {limit:?}; stdout so far:\n{}\nstderr:\n{}",
                    self.seen.join("\n"),
                    self.errors.join("\n")
                ),
            }
        }
    }

    /// Waits up to `limit` for a stdout line matching `pred`.
    fn wait_line(&mut self, limit: Duration, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.wait_for(false, limit, what, pred)
    }

    /// Waits up to `limit` for a JSON line matching `pred`.
    fn wait_json(&mut self, limit: Duration, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let line = self.wait_line(limit, what, |line| {
            serde_json::from_str::<Value>(line).is_ok_and(|v| pred(&v))
        });
        serde_json::from_str(&line).unwrap()
    }

    /// Sends `signal` (`"TERM"`, `"INT"`) to the child, by PID.
    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits up to `limit` for the child to exit; returns its status and whole output.
    fn finish(mut self, limit: Duration) -> Finished {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        for (is_stderr, line) in self.lines.try_iter() {
            if is_stderr {
                self.errors.push(line);
            } else {
                self.seen.push(line);
            }
        }
        let stdout = self.seen.join("\n");
        let stderr = self.errors.join("\n");
        let status = status.unwrap_or_else(|| {
            panic!("still running after {limit:?}; stdout:\n{stdout}\nstderr:\n{stderr}")
        });
        Finished {
            status,
            stdout,
            stderr,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // By PID; a no-op when it already exited and was reaped.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Finished {
    fn assert_success(&self, what: &str) {
        assert!(
            self.status.success(),
            "{what}: {}\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
    }

    fn json(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
            })
            .collect()
    }
}

/// Runs `command` to completion (at most `limit`).
fn run(command: Command, limit: Duration) -> Finished {
    Running::start(command).finish(limit)
}

/// One line of `avahi-browse -p`: `+;nl0;IPv4;Name;Type;local` or, resolved,
/// `=;nl0;IPv4;Name;Type;local;host.local;10.77.0.1;80;"k=v" "flag"`.
#[derive(Debug)]
struct AvahiLine {
    kind: String,
    protocol: String,
    name: String,
    host: String,
    address: String,
    port: String,
    txt: String,
}

fn avahi_line(line: &str) -> Option<AvahiLine> {
    let fields: Vec<&str> = line.split(';').collect();
    if fields.len() < 6 {
        return None;
    }
    let field = |i: usize| fields.get(i).map_or(String::new(), |s| (*s).to_owned());
    Some(AvahiLine {
        kind: field(0),
        protocol: field(2),
        name: avahi_unescape(fields[3]),
        host: field(6),
        address: field(7),
        port: field(8),
        txt: field(9),
    })
}

/// Undoes avahi's label escaping (`\032` for a space, `\.` for a dot).
fn avahi_unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            let digits = bytes.get(i + 1..i + 4);
            if let Some(d) = digits.filter(|d| d.iter().all(u8::is_ascii_digit)) {
                let n = d.iter().fold(0u32, |n, b| n * 10 + u32::from(b - b'0'));
                out.push(n as u8);
                i += 4;
            } else if let Some(&c) = bytes.get(i + 1) {
                out.push(c);
                i += 2;
            } else {
                i += 1;
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Polls `avahi-browse -rpt TYPE` on host 2 until an IPv4 resolved line for `name` shows up.
fn avahi_browse_until(net: &Net, service_type: &str, name: &str, limit: Duration) -> AvahiLine {
    avahi_browse_on_until(net.peer(), service_type, name, limit)
}

/// Polls `avahi-browse -rpt TYPE` on `host` until an IPv4 resolved line for `name` shows up.
fn avahi_browse_on_until(
    host: &Host,
    service_type: &str,
    name: &str,
    limit: Duration,
) -> AvahiLine {
    let deadline = Instant::now() + limit;
    loop {
        let mut command = host.command("avahi-browse");
        command.args(["-rpt", service_type]);
        let out = run(command, Duration::from_secs(15));
        if let Some(line) = out
            .stdout
            .lines()
            .filter_map(avahi_line)
            .find(|l| l.kind == "=" && l.protocol == "IPv4" && l.name == name)
        {
            return line;
        }
        assert!(
            Instant::now() < deadline,
            "avahi-browse -rpt {service_type} never saw {name:?}:\n{}\n{}",
            out.stdout,
            out.stderr
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `HH:MM:SS.mmm` at the start of a human output line.
fn has_timestamp(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 12
        && [0, 1, 3, 4, 6, 7, 9, 10, 11]
            .iter()
            .all(|&i| b[i].is_ascii_digit())
        && b[2] == b':'
        && b[5] == b':'
        && b[8] == b'.'
}

const LONG: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// register

/// `register` is seen by avahi on the other host (name, port, TXT, subtype); on `signal` the CLI
/// exits 0 and the service disappears from the other host's avahi-browse promptly (goodbyes,
/// not the 75-minute TTL).
fn register_seen_then_withdrawn(backend: Backend, signal: &str) {
    let net = net(backend);
    let service_type = "_clireg._tcp";
    let name = "Cli Reg Svc";
    let mut browser = Running::start(net.peer_command("avahi-browse", &["-rp", service_type]));
    let mut register = Running::start(net.cli(
        backend.arg(),
        &[
            "--json",
            "register",
            name,
            service_type,
            "4711",
            "k=v",
            "flag",
            "--subtype",
            "_printer",
        ],
    ));
    let registered = register.wait_json(LONG, "registered event", |v| v["event"] == "registered");
    assert_eq!(registered["name"], name);
    assert_eq!(registered["port"], 4711);
    assert_backend(&registered, backend == Backend::System);
    assert_eq!(registered["txt"]["k"], "v");
    assert_eq!(registered["txt"]["flag"], true);

    let line = browser.wait_line(LONG, "avahi-browse resolved line", |l| {
        avahi_line(l).is_some_and(|a| a.kind == "=" && a.protocol == "IPv4" && a.name == name)
    });
    let seen = avahi_line(&line).unwrap();
    assert_eq!(seen.port, "4711", "{line}");
    assert_eq!(seen.address, "10.77.0.1", "{line}");
    assert!(seen.txt.contains("\"k=v\""), "{line}");
    assert!(seen.txt.contains("\"flag\""), "{line}");
    if backend == Backend::System {
        // Registered through host 1's avahi, which names the host after the lab host.
        assert_eq!(seen.host, net.ours().avahi_host_name(), "{line}");
    }

    let sub = avahi_browse_until(&net, "_printer._sub._clireg._tcp", name, LONG);
    assert_eq!(sub.port, "4711");

    register.signal(signal);
    let sent = Instant::now();
    // Generous, but far below the TTL (75 min) a missing goodbye would leave it cached for.
    browser.wait_line(Duration::from_secs(8), "removal after the goodbye", |l| {
        avahi_line(l).is_some_and(|a| a.kind == "-" && a.protocol == "IPv4" && a.name == name)
    });
    let gone_after = sent.elapsed();
    let deregistered = register.wait_json(Duration::from_secs(10), "deregistered event", |v| {
        v["event"] == "deregistered"
    });
    assert_eq!(deregistered["reason"], "signal");
    let done = register.finish(Duration::from_secs(10));
    done.assert_success(&format!("register after SIG{signal}"));
    eprintln!(
        "{} SIG{signal}: removal seen by avahi-browse after {gone_after:?}",
        backend.arg()
    );
}

#[test]
fn register_seen_by_avahi_then_sigterm_withdraws_it_system() {
    register_seen_then_withdrawn(Backend::System, "TERM");
}

#[test]
fn register_seen_by_avahi_then_sigterm_withdraws_it_embedded() {
    register_seen_then_withdrawn(Backend::Embedded, "TERM");
}

#[test]
fn register_seen_by_avahi_then_sigint_withdraws_it_system() {
    register_seen_then_withdrawn(Backend::System, "INT");
}

#[test]
fn register_seen_by_avahi_then_sigint_withdraws_it_embedded() {
    register_seen_then_withdrawn(Backend::Embedded, "INT");
}

/// `register --timeout` deregisters and exits 0 on its own (human output, timestamped).
fn register_timeout(backend: Backend) {
    let net = net(backend);
    let out = run(
        net.cli(
            backend.arg(),
            &[
                "register",
                "Cli Short",
                "_clishort._udp",
                "9",
                "--timeout",
                "3",
            ],
        ),
        LONG,
    );
    out.assert_success("register --timeout 3");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| has_timestamp(l) && l.contains("Name now registered and active")),
        "{}",
        out.stdout
    );
    assert!(
        lines
            .iter()
            .any(|l| has_timestamp(l) && l.contains("Deregistered Cli Short")),
        "{}",
        out.stdout
    );
}

#[test]
fn register_timeout_exits_zero_system() {
    register_timeout(Backend::System);
}

#[test]
fn register_timeout_exits_zero_embedded() {
    register_timeout(Backend::Embedded);
}

/// A name taken by avahi on the other host: `register` renames and reports the final name,
/// which the other host sees.
fn register_conflict(backend: Backend) {
    let net = net(backend);
    let _publisher = net.publish("Cli Dup", "_clidup._tcp", 4242, &[]);
    let mut register = Running::start(net.cli(
        backend.arg(),
        &["--json", "register", "Cli Dup", "_clidup._tcp", "1111"],
    ));
    let registered = register.wait_json(LONG, "registered event", |v| v["event"] == "registered");
    let name = registered["name"].as_str().unwrap().to_owned();
    assert_ne!(name, "Cli Dup", "{registered}");
    assert!(name.starts_with("Cli Dup"), "{registered}");
    let seen = avahi_browse_until(&net, "_clidup._tcp", &name, LONG);
    assert_eq!(seen.port, "1111");
    register.signal("TERM");
    register
        .finish(Duration::from_secs(10))
        .assert_success("register after SIGTERM");
}

#[test]
fn register_conflict_reports_the_new_name_system() {
    register_conflict(Backend::System);
}

#[test]
fn register_conflict_reports_the_new_name_embedded() {
    register_conflict(Backend::Embedded);
}

// ---------------------------------------------------------------------------------------------
// browse --resolve --json

fn browse_resolve_json(backend: Backend) {
    let net = net(backend);
    let _publisher = net.publish("Peer Browse", "_clibrw._tcp", 4242, &["k=v", "flag"]);
    let out = run(
        net.cli(
            backend.arg(),
            &[
                "browse",
                "_clibrw._tcp",
                "--resolve",
                "--json",
                "--timeout",
                "6",
            ],
        ),
        LONG,
    );
    out.assert_success("browse --resolve --json --timeout 6");
    let events = out.json();
    let ours: Vec<&Value> = events
        .iter()
        .filter(|e| e["name"] == "Peer Browse")
        .collect();
    let up = ours
        .iter()
        .find(|e| e["event"] == "up")
        .unwrap_or_else(|| panic!("no up event:\n{}", out.stdout));
    for key in [
        "event",
        "name",
        "type",
        "domain",
        "interface",
        "host",
        "port",
        "addresses",
        "txt",
    ] {
        assert!(up.get(key).is_some(), "{key} missing in {up}");
    }
    assert_eq!(up["type"], "_clibrw._tcp");
    assert_eq!(up["domain"], "local.");
    assert!(up["interface"].as_u64().is_some_and(|i| i > 0), "{up}");
    assert_eq!(up["host"], net.peer_fqdn().as_str());
    assert_eq!(up["port"], 4242);
    assert!(up["txt"].is_object(), "{up}");
    assert_eq!(up["txt"]["k"], "v");
    assert_eq!(up["txt"]["flag"], true);
    // IPv4 may arrive with the first event or in a `changed` one right after.
    assert!(
        ours.iter()
            .filter(|e| e["event"] == "up" || e["event"] == "changed")
            .any(|e| e["addresses"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == "10.77.0.2"))),
        "10.77.0.2 never reported:\n{}",
        out.stdout
    );
}

#[test]
fn browse_resolve_json_finds_avahi_publish_system() {
    browse_resolve_json(Backend::System);
}

#[test]
fn browse_resolve_json_finds_avahi_publish_embedded() {
    browse_resolve_json(Backend::Embedded);
}

/// Plain `browse` (human table) and `browse --resolve` of a python-zeroconf service.
fn browse_python_zeroconf(backend: Backend) {
    let net = net(backend);
    let mut peer = net.peer().command("python3");
    peer.arg(dnssd_netlab::zc_peer())
        .args(["register", "Zc Peer", "_clizc._tcp", "5151", "zk=zv"])
        .args(["--address", "10.77.0.2"]);
    let mut peer = Running::start(peer);
    peer.wait_json(LONG, "zc_peer registered", |v| v["event"] == "registered");

    let table = Running::start(net.cli(
        backend.arg(),
        &[
            "browse",
            "_clizc._tcp",
            "--interface",
            "nl0",
            "--timeout",
            "5",
        ],
    ));
    let resolved = run(
        net.cli(
            backend.arg(),
            &[
                "browse",
                "_clizc._tcp",
                "--resolve",
                "--json",
                "--timeout",
                "5",
            ],
        ),
        LONG,
    );
    let table = table.finish(LONG);
    table.assert_success("browse --timeout 5");
    resolved.assert_success("browse --resolve --json --timeout 5");
    assert!(
        table.stdout.lines().any(|l| l.starts_with("Timestamp")),
        "{}",
        table.stdout
    );
    assert!(
        table
            .stdout
            .lines()
            .any(|l| has_timestamp(l) && l.contains(" Add ") && l.ends_with("Zc Peer")),
        "{}",
        table.stdout
    );
    let up = resolved
        .json()
        .into_iter()
        .find(|e| e["event"] == "up" && e["name"] == "Zc Peer")
        .unwrap_or_else(|| panic!("no up event:\n{}", resolved.stdout));
    assert_eq!(up["port"], 5151);
    assert_eq!(up["txt"]["zk"], "zv");
}

#[test]
fn browse_finds_python_zeroconf_system() {
    browse_python_zeroconf(Backend::System);
}

#[test]
fn browse_finds_python_zeroconf_embedded() {
    browse_python_zeroconf(Backend::Embedded);
}

// ---------------------------------------------------------------------------------------------
// resolve, lookup, query, types

fn resolve_lookup_query_types(backend: Backend) {
    let net = net(backend);
    let _publisher = net.publish("Peer Rsl", "_clirsl._tcp", 4343, &["k=v", "flag"]);
    let host = net.peer().avahi_host_name();
    let be = backend.arg();
    // All at once: each is a separate process.
    let resolve_json = Running::start(net.cli(
        be,
        &[
            "resolve",
            "Peer Rsl",
            "_clirsl._tcp",
            "--json",
            "--timeout",
            "10",
        ],
    ));
    let resolve_human = Running::start(net.cli(
        be,
        &["resolve", "Peer Rsl", "_clirsl._tcp", "--timeout", "10"],
    ));
    let lookup = Running::start(net.cli(be, &["lookup", &host, "--json", "--timeout", "10"]));
    let query_txt = Running::start(net.cli(
        be,
        &[
            "query",
            "Peer Rsl._clirsl._tcp.local",
            "TXT",
            "--json",
            "--timeout",
            "4",
        ],
    ));
    let query_a = Running::start(net.cli(be, &["query", &host, "A", "--timeout", "4"]));
    let types = Running::start(net.cli(be, &["types", "--timeout", "4"]));

    let out = resolve_json.finish(LONG);
    out.assert_success("resolve --json");
    let resolved = out
        .json()
        .into_iter()
        .find(|e| e["event"] == "resolved")
        .unwrap_or_else(|| panic!("no resolved event:\n{}", out.stdout));
    assert_eq!(resolved["name"], "Peer Rsl");
    assert_eq!(resolved["type"], "_clirsl._tcp");
    assert_eq!(resolved["host"], net.peer_fqdn().as_str());
    assert_eq!(resolved["port"], 4343);
    assert_eq!(resolved["txt"]["k"], "v");
    assert_eq!(resolved["txt"]["flag"], true);

    let out = resolve_human.finish(LONG);
    out.assert_success("resolve");
    let expected = format!("can be reached at {}:4343", net.peer_fqdn());
    assert!(
        out.stdout
            .lines()
            .any(|l| has_timestamp(l) && l.contains(&expected)),
        "{}",
        out.stdout
    );

    let out = lookup.finish(LONG);
    out.assert_success("lookup");
    assert!(
        out.json()
            .iter()
            .any(|e| e["event"] == "added" && e["address"] == "10.77.0.2"),
        "{}",
        out.stdout
    );

    let out = query_txt.finish(LONG);
    out.assert_success("query TXT");
    let txt = out
        .json()
        .into_iter()
        .find(|e| e["event"] == "added" && e["rrtype"] == "TXT")
        .unwrap_or_else(|| panic!("no TXT record:\n{}", out.stdout));
    assert_eq!(txt["txt"]["k"], "v");
    assert_eq!(txt["txt"]["flag"], true);

    let out = query_a.finish(LONG);
    out.assert_success("query A");
    assert!(
        out.stdout
            .lines()
            .any(|l| has_timestamp(l) && l.contains(" A ") && l.ends_with("10.77.0.2")),
        "{}",
        out.stdout
    );

    let out = types.finish(LONG);
    out.assert_success("types");
    assert!(
        out.stdout
            .lines()
            .any(|l| has_timestamp(l) && l.contains("Add") && l.ends_with("_clirsl._tcp")),
        "{}",
        out.stdout
    );
}

#[test]
fn resolve_lookup_query_types_find_avahi_peer_system() {
    resolve_lookup_query_types(Backend::System);
}

#[test]
fn resolve_lookup_query_types_find_avahi_peer_embedded() {
    resolve_lookup_query_types(Backend::Embedded);
}

// ---------------------------------------------------------------------------------------------
// --timeout and bad arguments

fn timeouts(backend: Backend) {
    let net = net(backend);
    let be = backend.arg();
    let browse = Running::start(net.cli(be, &["browse", "_clinone._tcp", "--timeout", "1"]));
    let types = Running::start(net.cli(be, &["--json", "types", "--timeout", "1"]));
    let resolve = Running::start(net.cli(
        be,
        &["resolve", "Nobody", "_clinone._tcp", "--timeout", "1"],
    ));

    let out = browse.finish(LONG);
    out.assert_success("browse --timeout 1");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| has_timestamp(l) && l.ends_with("...STARTING...")),
        "{}",
        out.stdout
    );
    assert!(
        lines.iter().any(|l| l.starts_with("Timestamp")),
        "{}",
        out.stdout
    );
    types.finish(LONG).assert_success("types --timeout 1");
    // resolve/lookup with no answer by the deadline fail, saying why.
    let out = resolve.finish(LONG);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("timed out"), "{}", out.stderr);
}

#[test]
fn timeout_exits_zero_system() {
    timeouts(Backend::System);
}

#[test]
fn timeout_exits_zero_embedded() {
    timeouts(Backend::Embedded);
}

/// `dnssd browse ... | head -1`: once the reader is gone, the next write ends the command with
/// status 0 (no panic on the broken pipe).
fn stdout_closed(backend: Backend) {
    let net = net(backend);
    let mut command = net.cli(backend.arg(), &["browse", "_clipipe._tcp"]);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with("Browsing for"), "{first}");
    drop(stdout);
    // Something to print: a peer appears.
    let _publisher = net.publish("Peer Pipe", "_clipipe._tcp", 4242, &[]);
    let deadline = Instant::now() + LONG;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("browse still running {LONG:?} after its stdout closed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn stdout_closed_ends_browse_with_status_zero_system() {
    stdout_closed(Backend::System);
}

#[test]
fn stdout_closed_ends_browse_with_status_zero_embedded() {
    stdout_closed(Backend::Embedded);
}

fn bad_arguments(backend: Backend) {
    // No daemon anywhere: a bad argument must fail before any backend is involved.
    let lab = Lab::new(1);
    let long_name = "x".repeat(64);
    let cases: &[(&[&str], &str)] = &[
        (&["browse", "http._tcp"], "invalid service type"),
        (&["browse", "_http._tcpx"], "invalid service type"),
        (
            &["register", "ok", "_averyveryverylongname._tcp", "80"],
            "invalid service type",
        ),
        (
            &["register", &long_name, "_http._tcp", "80"],
            "invalid instance name",
        ),
        (
            &["register", "ok", "_http._tcp", "80", "=v"],
            "invalid TXT entry",
        ),
        (
            &["register", "ok", "_http._tcp", "80", "k\u{e9}y=v"],
            "invalid TXT entry",
        ),
        (&["register", "ok", "_http._tcp", "99999"], "99999"),
        (
            &["resolve", &long_name, "_http._tcp"],
            "invalid instance name",
        ),
        (&["query", "x.local", "NOTATYPE"], "unknown record type"),
        (&["--timeout", "-1", "types"], "-1"),
        (&["--timeout", "soon", "types"], "not a number of seconds"),
        (&["--interface", "bogus0", "types"], "no network interface"),
    ];
    for (args, reason) in cases {
        let mut command = lab.host(1).command(dnssd_bin());
        command
            .env_remove("DNSSD_BACKEND")
            .arg("--backend")
            .arg(backend.arg())
            .args(*args);
        let out = run(command, LONG);
        assert!(!out.status.success(), "{args:?} succeeded:\n{}", out.stdout);
        assert!(
            out.stderr.contains(reason),
            "{args:?}: stderr does not say {reason:?}:\n{}",
            out.stderr
        );
        assert!(
            !out.stdout.contains("registered"),
            "{args:?}: {}",
            out.stdout
        );
    }
    let mut command = lab.host(1).command(dnssd_bin());
    command.args(["--backend", "bonjour", "types"]);
    let out = run(command, LONG);
    assert!(!out.status.success(), "--backend bonjour succeeded");
    assert!(out.stderr.contains("unknown backend"), "{}", out.stderr);
}

#[test]
fn bad_arguments_fail_with_the_reason_system() {
    bad_arguments(Backend::System);
}

#[test]
fn bad_arguments_fail_with_the_reason_embedded() {
    bad_arguments(Backend::Embedded);
}

/// With the system backend, avahi-daemon dying under a running `register` and `browse` is
/// reported (non-fatal error event) and waited out: when it is back, the service is registered
/// again and the browse reports the peer again.
#[test]
fn daemon_restart_is_survived_system() {
    let net = net(Backend::System);
    let _publisher = net.publish("Peer Restart", "_clirst._tcp", 4242, &[]);
    let mut register = Running::start(net.cli(
        "system",
        &["--json", "register", "Cli Restart", "_clirst._tcp", "1111"],
    ));
    let mut browse = Running::start(net.cli("system", &["--json", "browse", "_clirst._tcp"]));
    register.wait_json(LONG, "registered event", |v| v["event"] == "registered");
    browse.wait_json(LONG, "the peer", |v| {
        v["event"] == "added" && v["name"] == "Peer Restart"
    });

    let ours = &net._daemons[1];
    ours.kill();
    for (what, running) in [("register", &mut register), ("browse", &mut browse)] {
        let error = running.wait_json(LONG, "non-fatal error event", |v| v["event"] == "error");
        assert_eq!(error["fatal"], false, "{what}: {error}");
        assert_eq!(error["code"], -65563, "{what}: {error}");
    }
    ours.restart();
    register.wait_json(LONG, "registered again", |v| v["event"] == "registered");
    browse.wait_json(LONG, "the peer again", |v| {
        v["event"] == "added" && v["name"] == "Peer Restart"
    });
    // The restarted daemon (empty cache) holds our service again.
    avahi_browse_on_until(net.ours(), "_clirst._tcp", "Cli Restart", LONG);
    for (what, running) in [("register", register), ("browse", browse)] {
        running.signal("TERM");
        running
            .finish(Duration::from_secs(10))
            .assert_success(&format!("{what} after SIGTERM"));
    }
}

/// `--backend system` on a host with no daemon fails at once with the typed error (JSON too).
#[test]
fn system_backend_without_a_daemon_fails_clearly() {
    let net = net_with(false);
    let register = Running::start(net.cli(
        "system",
        &["--json", "register", "Nobody", "_clinod._tcp", "80"],
    ));
    let browse = Running::start(net.cli("system", &["browse", "_clinod._tcp"]));
    for (what, out) in [
        ("register", register.finish(LONG)),
        ("browse", browse.finish(LONG)),
    ] {
        assert_eq!(out.status.code(), Some(1), "{what}: {}", out.stderr);
        assert!(
            out.stderr.contains("daemon is not running"),
            "{what}: {}",
            out.stderr
        );
        if what == "register" {
            let error = out
                .json()
                .into_iter()
                .find(|e| e["event"] == "error")
                .unwrap_or_else(|| panic!("no error event:\n{}", out.stdout));
            assert_eq!(error["code"], -65563);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// --backend auto

/// `auto` registers through avahi when it runs on the host, with the embedded engine when not.
fn auto_backend(avahi_on_ours: bool) {
    let net = net_with(avahi_on_ours);
    let name = "Cli Auto";
    let mut register = Running::start(net.cli(
        "auto",
        &["--json", "register", name, "_cliauto._tcp", "4800"],
    ));
    let registered = register.wait_json(LONG, "registered event", |v| v["event"] == "registered");
    assert_backend(&registered, avahi_on_ours);
    let seen = avahi_browse_until(&net, "_cliauto._tcp", name, LONG);
    assert_eq!(seen.port, "4800");
    if avahi_on_ours {
        assert_eq!(seen.host, net.ours().avahi_host_name());
    } else {
        assert_ne!(seen.host, net.ours().avahi_host_name());
    }
    register.signal("TERM");
    register
        .finish(Duration::from_secs(10))
        .assert_success("register --backend auto after SIGTERM");
}

#[test]
fn auto_backend_uses_avahi_when_it_runs() {
    auto_backend(true);
}

#[test]
fn auto_backend_is_embedded_without_a_daemon() {
    auto_backend(false);
}
