//! The programs in `examples/` run in network-namespace hosts, so they cannot rot: each example
//! binary (built by cargo with the tests, `target/<profile>/examples/NAME`) runs on host 1 with
//! the embedded engine (or host 1's avahi-daemon), and the peer it talks to runs on host 2:
//! avahi-daemon with `avahi-publish` / `avahi-browse`, and for the update finder a Python HTTP
//! server.

// Network namespaces are Linux-only.
#![cfg(target_os = "linux")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs,
    reason = "tests: a failure is a panic with a message"
)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dnssd_netlab::{Avahi, Host, Lab};

const LONG: Duration = Duration::from_secs(20);

/// `target/<profile>/examples/NAME`, next to this test's `deps/` directory.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: build the examples first (cargo build --examples)",
        path.display()
    );
    path
}

/// Host 1 runs the example, host 2 the peer's avahi-daemon (host 1 gets one too for the
/// system backend).
struct Net {
    lab: Lab,
    _daemons: Vec<Avahi>,
}

impl Net {
    fn new(avahi_on_ours: bool) -> Net {
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

    fn ours(&self) -> &Host {
        self.lab.host(1)
    }

    fn peer(&self) -> &Host {
        self.lab.host(2)
    }

    /// Example `name ARGS...` on host 1 with `backend` (`embedded` or `system`).
    fn example(&self, backend: &str, name: &str, args: &[&str]) -> Command {
        let mut command = self.ours().command(example(name));
        command
            .env("DNSSD_BACKEND", backend)
            .env("AVAHI_COMPAT_NOWARN", "1")
            .args(args);
        command
    }

    /// `avahi-publish -s NAME TYPE PORT TXT...` on host 2; returns once avahi established it.
    fn publish(&self, name: &str, service_type: &str, port: u16, txt: &[&str]) -> Running {
        let port = port.to_string();
        let mut command = self.peer().command("stdbuf");
        command
            .args(["-oL", "avahi-publish", "-s", name, service_type, &port])
            .args(txt);
        let mut publisher = Running::start(command);
        publisher.wait_for(true, LONG, "avahi-publish established", |l| {
            l.starts_with("Established under name")
        });
        publisher
    }
}

/// A running child with its output delivered line by line; killed (by PID) when dropped.
struct Running {
    child: Child,
    lines: mpsc::Receiver<(bool, String)>,
    stdout: Vec<String>,
    stderr: Vec<String>,
}

impl Running {
    fn start(mut command: Command) -> Running {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn a lab command");
        let (tx, lines) = mpsc::channel();
        let reader = |pipe: Box<dyn Read + Send>, is_stderr: bool, tx: mpsc::Sender<_>| {
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if tx.send((is_stderr, line)).is_err() {
                        break;
                    }
                }
            });
        };
        reader(Box::new(child.stdout.take().unwrap()), false, tx.clone());
        reader(Box::new(child.stderr.take().unwrap()), true, tx);
        Running {
            child,
            lines,
            stdout: Vec::new(),
            stderr: Vec::new(),
        }
    }

    fn take(&mut self, is_stderr: bool, line: String) {
        if is_stderr {
            self.stderr.push(line);
        } else {
            self.stdout.push(line);
        }
    }

    /// Waits up to `limit` for a line (stderr if `stderr`) matching `pred`; panics with
    /// everything seen.
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
                    self.take(is_stderr, line.clone());
                    if matched {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no {what} within {limit:?}; stdout:\n{}\nstderr:\n{}",
                    self.stdout.join("\n"),
                    self.stderr.join("\n")
                ),
            }
        }
    }

    fn wait_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.wait_for(false, LONG, what, pred)
    }

    /// Sends SIGINT (Ctrl-C) to the child, by PID.
    fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -INT failed");
    }

    /// Waits up to `limit` for the exit; returns the status and the whole stdout.
    fn finish(mut self, limit: Duration) -> (ExitStatus, String) {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // The readers end at EOF; collect what they still hold.
                while let Ok((is_stderr, line)) = self.lines.recv_timeout(Duration::from_secs(2)) {
                    self.take(is_stderr, line);
                }
                assert!(
                    status.success(),
                    "{status}\nstdout:\n{}\nstderr:\n{}",
                    self.stdout.join("\n"),
                    self.stderr.join("\n")
                );
                return (status, self.stdout.join("\n"));
            }
            assert!(
                Instant::now() < deadline,
                "still running after {limit:?}; stdout:\n{}\nstderr:\n{}",
                self.stdout.join("\n"),
                self.stderr.join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `command` to completion; panics unless it exits 0 within `limit`.
fn run(command: Command, limit: Duration) -> String {
    Running::start(command).finish(limit).1
}

// ---------------------------------------------------------------------------------------------

/// presence: a peer arriving and leaving is printed as `+` and `-`, our own entry never is,
/// and the peer's avahi sees us.
#[test]
fn presence_lists_who_comes_and_goes() {
    let net = Net::new(false);
    let mut alice = Running::start(net.example("embedded", "presence", &["Alice", "60"]));
    alice.wait_line("present as Alice", |l| l == "present as Alice");
    let bob = net.publish("Bob", "_presence._tcp", 5298, &[]);
    let line = alice.wait_line("+ Bob", |l| l.starts_with("+ Bob"));
    assert_eq!(line, format!("+ Bob on {}.", net.peer().avahi_host_name()));
    let mut browse = net.peer().command("avahi-browse");
    browse.args(["-kpt", "_presence._tcp"]);
    let seen = run(browse, LONG);
    assert!(seen.contains(";Alice;_presence._tcp;"), "{seen}");
    drop(bob);
    alice.wait_line("- Bob", |l| l == "- Bob");
    alice.interrupt();
    let (_, out) = alice.finish(LONG);
    assert!(!out.contains("+ Alice"), "own entry listed:\n{out}");
}

/// update_finder: finds the `_update._tcp` server of host 2, downloads the file its TXT names
/// from the Python HTTP server there, and saves exactly its bytes.
#[test]
fn update_finder_downloads_the_advertised_file() {
    let net = Net::new(false);
    let dir = std::env::temp_dir().join(format!("dnssd-update-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let firmware: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    std::fs::write(dir.join("fw-2.bin"), &firmware).unwrap();
    let mut server = net.peer().command("python3");
    server
        .args([
            "-u",
            "-m",
            "http.server",
            "8088",
            "--bind",
            "10.77.0.2",
            "--directory",
        ])
        .arg(&dir);
    let mut server = Running::start(server);
    server.wait_line("http.server listening", |l| l.starts_with("Serving HTTP"));
    let _advert = net.publish("Kiosk Updates", "_update._tcp", 8088, &["path=/fw-2.bin"]);

    let saved = dir.join("downloaded.bin");
    let out = run(
        net.example("embedded", "update_finder", &[saved.to_str().unwrap()]),
        LONG,
    );
    assert!(out.contains("found Kiosk Updates at "), "{out}");
    assert!(
        out.contains(&format!("downloaded {} bytes of /fw-2.bin", firmware.len())),
        "{out}"
    );
    assert!(
        std::fs::read(&saved).unwrap() == firmware,
        "saved bytes differ"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// attribute_query: of two printers only the one whose TXT has `Color=T` is listed.
#[test]
fn attribute_query_lists_only_matching_txt() {
    let net = Net::new(false);
    let _color = net.publish("Color Printer", "_exattr._tcp", 631, &["Color=T", "rp=q1"]);
    let _mono = net.publish("Mono Printer", "_exattr._tcp", 632, &["Color=F", "rp=q2"]);
    let out = run(
        net.example(
            "embedded",
            "attribute_query",
            &["_exattr._tcp", "Color=T", "4"],
        ),
        LONG,
    );
    let line = out
        .lines()
        .find(|l| l.starts_with("Color Printer"))
        .unwrap_or_else(|| panic!("no Color Printer:\n{out}"));
    assert!(line.contains(":631"), "{out}");
    assert!(line.contains("10.77.0.2"), "{out}");
    assert!(!out.contains("Mono Printer"), "{out}");
    assert!(out.ends_with("1 instances have Color=T"), "{out}");
}

/// device_table: three services of two devices become two rows, each with the address.
#[test]
fn device_table_maps_ids_to_addresses() {
    let net = Net::new(false);
    let _a = net.publish("Sensor A", "_exsensor._tcp", 7001, &["id=dev-42"]);
    let _b = net.publish("Sensor B", "_exsensor._tcp", 7002, &["id=dev-42"]);
    let _c = net.publish("Sensor C", "_exsensor._tcp", 7003, &["id=dev-7"]);
    let _other = net.publish("No Id", "_exsensor._tcp", 7004, &["k=v"]);
    let out = run(
        net.example("embedded", "device_table", &["_exsensor._tcp", "4"]),
        LONG,
    );
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(rows[0].starts_with("dev-42 "), "{out}");
    assert!(rows[1].starts_with("dev-7 "), "{out}");
    for row in rows {
        assert!(row.split_whitespace().any(|a| a == "10.77.0.2"), "{out}");
    }
}

/// register_browse_resolve: the process finds and resolves its own service (port, TXT, host
/// address), which the other host's avahi sees meanwhile; then it withdraws it.
fn register_browse_resolve(backend: &str) {
    let net = Net::new(backend == "system");
    let mut program = Running::start(net.example(
        backend,
        "register_browse_resolve",
        &["Rbr Web", "8093", "30"],
    ));
    program.wait_line("registered", |l| l.starts_with("registered Rbr Web"));
    program.wait_line("browsed", |l| l == "browsed Rbr Web._http._tcp.local.");
    let resolved = program.wait_line("resolved", |l| l.starts_with("resolved "));
    assert!(resolved.contains(":8093 txt path=/ "), "{resolved}");
    assert!(
        resolved.split_whitespace().any(|a| a == "10.77.0.1"),
        "{resolved}"
    );
    let deadline = Instant::now() + LONG;
    loop {
        let mut browse = net.peer().command("avahi-browse");
        browse.args(["-rpt", "_http._tcp"]);
        let seen = run(browse, LONG);
        if seen
            .lines()
            .any(|l| l.starts_with("=;") && l.contains(r";Rbr\032Web;") && l.contains(";8093;"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "avahi never saw Rbr Web:\n{seen}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    program.interrupt();
    let (_, out) = program.finish(LONG);
    assert!(out.ends_with("withdrawn"), "{out}");
}

#[test]
fn register_browse_resolve_in_one_process_embedded() {
    register_browse_resolve("embedded");
}

#[test]
fn register_browse_resolve_in_one_process_system() {
    register_browse_resolve("system");
}
