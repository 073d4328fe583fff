//! Test support: throwaway network-namespace hosts with real avahi-daemons and foreign peers.
//!
//! A thin Rust face on `scripts/netlab`, which does the work (one implementation for tests,
//! demos and CI). Everything here must run inside `scripts/netlab run` (which `scripts/test`
//! does for the whole test suite); [`require_netlab`] refuses, with a clear message, anywhere
//! else, so no test ever multicasts on the machine's real interfaces.
//!
//! ```no_run
//! let lab = dnssd_netlab::Lab::new(2);
//! let avahi = lab.host(2).start_avahi();
//! // SAFETY-free: set before the first libdns_sd call of this process.
//! let status = lab.host(2).command("avahi-browse").args(["-rpt", "_http._tcp"]).status();
//! # drop((avahi, status));
//! ```

// Network namespaces are Linux's: elsewhere (the Windows build of the unit tests, run under
// Wine) this crate is empty, and only tests that do not use it are built.
#![cfg(target_os = "linux")]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test support: a failure to build the lab is a test failure with a message"
)]

pub mod compat_library;

use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The repository root (where `scripts/` lives).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// `scripts/netlab`.
pub fn script() -> PathBuf {
    repo_root().join("scripts/netlab")
}

/// `scripts/zc_peer.py`, the python-zeroconf peer.
pub fn zc_peer() -> PathBuf {
    repo_root().join("scripts/zc_peer.py")
}

/// Interfaces of the current thread's network namespace (from `/proc/thread-self/net/dev`).
pub fn interfaces() -> Vec<String> {
    let text = std::fs::read_to_string("/proc/thread-self/net/dev")
        .or_else(|_| std::fs::read_to_string("/proc/self/net/dev"))
        .unwrap_or_default();
    text.lines()
        .skip(2)
        .filter_map(|line| line.split(':').next())
        .map(|name| name.trim().to_string())
        .collect()
}

/// Whether this process has a UDP socket bound to port 5353 in the calling thread's network
/// namespace (its socket inodes from `/proc/self/fd`, matched against
/// `/proc/thread-self/net/udp{,6}`).
pub fn process_binds_mdns_port() -> bool {
    let ours: Vec<u64> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|link| {
            let link = link.to_string_lossy().into_owned();
            link.strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect();
    ["/proc/thread-self/net/udp", "/proc/thread-self/net/udp6"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .flat_map(|text| text.lines().skip(1).map(str::to_owned).collect::<Vec<_>>())
        .any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let port_5353 = fields.get(1).is_some_and(|local| local.ends_with(":14E9"));
            let inode = fields.get(9).and_then(|i| i.parse::<u64>().ok());
            port_5353 && inode.is_some_and(|i| ours.contains(&i))
        })
}

/// Whether this thread runs inside a netlab namespace: `DNSSD_NETLAB=1` and no interface other
/// than `lo` and the harness's own (`nl*`, `vh*`, `br*`).
pub fn inside_netlab() -> bool {
    std::env::var("DNSSD_NETLAB").as_deref() == Ok("1")
        && interfaces().iter().all(|name| {
            name == "lo"
                || ["nl", "vh", "br"].iter().any(|prefix| {
                    name.strip_prefix(prefix)
                        .is_some_and(|rest| rest.chars().next().is_some_and(|c| c.is_ascii_digit()))
                })
        })
}

/// Panics with a clear message unless [`inside_netlab`]: tests that use the network call this
/// first (every [`Lab`] does).
pub fn require_netlab() {
    assert!(
        inside_netlab(),
        "refusing to run: this test sends multicast and must run inside a netlab network \
         namespace, not on this machine's interfaces ({:?}). Run the suite with `scripts/test` \
         (or `scripts/netlab run cargo nextest run --offline ...`).",
        interfaces()
    );
}

fn netlab(args: &[&str]) -> String {
    let output = Command::new(script())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/netlab");
    assert!(
        output.status.success(),
        "scripts/netlab {} failed: {}\n{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Options for a [`Lab`].
#[derive(Debug, Clone)]
pub struct LabBuilder {
    hosts: usize,
    ipv6_only: bool,
    links: usize,
}

impl LabBuilder {
    /// Number of hosts (default 2).
    pub fn hosts(mut self, hosts: usize) -> Self {
        self.hosts = hosts;
        self
    }
    /// No IPv4 addresses: hosts have IPv6 link-local only.
    pub fn ipv6_only(mut self, ipv6_only: bool) -> Self {
        self.ipv6_only = ipv6_only;
        self
    }
    /// Number of links (each host gets `nl0`..`nl{K-1}`, link k is 10.77.k.0/24).
    pub fn links(mut self, links: usize) -> Self {
        self.links = links;
        self
    }
    /// Create the lab.
    pub fn build(self) -> Lab {
        require_netlab();
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "l{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let hosts = self.hosts.to_string();
        let links = self.links.to_string();
        let mut args = vec![
            "up",
            name.as_str(),
            hosts.as_str(),
            "--links",
            links.as_str(),
        ];
        if self.ipv6_only {
            args.push("--ipv6-only");
        }
        netlab(&args);
        let hosts = (1..=self.hosts)
            .map(|index| Host {
                lab: name.clone(),
                index,
                ipv4: (!self.ipv6_only).then(|| Ipv4Addr::new(10, 77, 0, index as u8)),
            })
            .collect();
        Lab { name, hosts }
    }
}

/// Hosts in network namespaces joined by a bridge; dropping it ends every process it started
/// (by PID) and deletes the namespaces.
#[derive(Debug)]
pub struct Lab {
    name: String,
    hosts: Vec<Host>,
}

impl Lab {
    /// `hosts` hosts on one link, IPv4 (10.77.0.i/24) and IPv6 link-local.
    pub fn new(hosts: usize) -> Lab {
        Lab::builder().hosts(hosts).build()
    }
    /// Options.
    pub fn builder() -> LabBuilder {
        LabBuilder {
            hosts: 2,
            ipv6_only: false,
            links: 1,
        }
    }
    /// The lab's name (prefix of its namespaces).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Host `index`, 1-based.
    pub fn host(&self, index: usize) -> &Host {
        &self.hosts[index - 1]
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .args(["down", &self.name])
            .stdin(Stdio::null())
            .status();
    }
}

/// One host of a [`Lab`]: a network namespace with `lo` and `nl0` (and more links if asked).
#[derive(Debug, Clone)]
pub struct Host {
    lab: String,
    index: usize,
    ipv4: Option<Ipv4Addr>,
}

impl Host {
    /// The network namespace's name.
    pub fn name(&self) -> String {
        format!("{}-h{}", self.lab, self.index)
    }
    /// The host's mDNS host name when avahi runs there (`<name>.local`).
    pub fn avahi_host_name(&self) -> String {
        format!("{}.local", self.name())
    }
    /// 1-based index in the lab.
    pub fn index(&self) -> usize {
        self.index
    }
    /// IPv4 address on `nl0` (none in an IPv6-only lab).
    pub fn ipv4(&self) -> Option<Ipv4Addr> {
        self.ipv4
    }
    /// The first link's interface name.
    pub fn interface(&self) -> &'static str {
        "nl0"
    }
    /// Moves the current thread into this host's network namespace: sockets created afterwards
    /// on this thread, and on threads it spawns, live there.
    pub fn enter(&self) {
        let path = format!("/run/netns/{}", self.name());
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
            .unwrap_or_else(|e| panic!("setns {path}: {e}"));
        require_netlab();
    }
    /// Runs `body` on a new thread inside this host's network namespace ([`Host::enter`]) and
    /// returns its result; a panic in `body` is re-raised here.
    pub fn run<T, F>(&self, body: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let host = self.clone();
        std::thread::spawn(move || {
            host.enter();
            body()
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
    /// Starts a private system D-Bus and avahi-daemon here; returns once avahi is RUNNING.
    pub fn start_avahi(&self) -> Avahi {
        let lab = self.lab.clone();
        let index = self.index.to_string();
        let out = netlab(&["avahi", &lab, &index]);
        let bus = out.lines().last().unwrap_or_default().trim().to_string();
        Avahi {
            host: self.clone(),
            bus,
            conflicts_expected: std::sync::atomic::AtomicBool::new(false),
        }
    }
    /// Starts BIND 9 (`named`) here serving `example.test` (dynamic updates allowed with the
    /// TSIG key `update-key`, HMAC-SHA256) and `0.77.10.in-addr.arpa`, both with RFC 6763
    /// domain enumeration records; `extra_zone_lines` are appended to `example.test`'s zone
    /// file. Returns once it answers (`scripts/netlab bind`).
    pub fn start_bind(&self, extra_zone_lines: &str) -> Bind {
        let output = Command::new(script())
            .args(["bind", &self.lab, &self.index.to_string()])
            .env("NETLAB_BIND_EXTRA", extra_zone_lines)
            .stdin(Stdio::null())
            .output()
            .expect("run scripts/netlab bind");
        assert!(
            output.status.success(),
            "scripts/netlab bind failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let key_file = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        Bind {
            key_file: PathBuf::from(key_file),
        }
    }
    /// `CMD` run in this host (`scripts/netlab exec`), with the host's D-Bus address when avahi
    /// runs here.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(script());
        command
            .args(["exec", &self.lab, &self.index.to_string()])
            .arg(program)
            .stdin(Stdio::null());
        command
    }
    /// Starts `command`; the child is killed (by PID) when the returned value drops.
    pub fn spawn(&self, mut command: Command) -> LabChild {
        LabChild(Some(command.spawn().expect("spawn a lab command")))
    }
}

/// A running BIND 9 `named` (ended with the lab).
#[derive(Debug)]
pub struct Bind {
    key_file: PathBuf,
}

impl Bind {
    /// The TSIG key file (BIND key-file format: `key "update-key" { algorithm hmac-sha256;
    /// secret "..."; };`) that the zone's `allow-update` accepts.
    pub fn key_file(&self) -> &std::path::Path {
        &self.key_file
    }
}

/// A running avahi-daemon with its own system D-Bus.
///
/// When dropped (at the end of a test that did not already fail) it checks the daemon's log:
/// a `Host name conflict` line means something on the lab (usually our engine beside it)
/// contested the daemon's host name, and fails the test, unless the test said it provokes
/// one ([`Avahi::expect_host_name_conflicts`]).
#[derive(Debug)]
pub struct Avahi {
    host: Host,
    bus: String,
    conflicts_expected: std::sync::atomic::AtomicBool,
}

/// The line avahi-daemon logs when another responder answers for its host name (it then
/// renames itself `<name>-2`, `-3`...).
pub const AVAHI_HOST_NAME_CONFLICT: &str = "Host name conflict";

impl Avahi {
    /// The value for `DBUS_SYSTEM_BUS_ADDRESS` (set it before the first libdns_sd call of the
    /// process: libdbus reads it once).
    pub fn bus_address(&self) -> &str {
        &self.bus
    }
    /// Sets `DBUS_SYSTEM_BUS_ADDRESS` (and `AVAHI_COMPAT_NOWARN`) for this process.
    ///
    /// Call before any thread that reads the environment starts (first thing in a test).
    pub fn use_for_this_process(&self) {
        // SAFETY: called at the start of a single test process before other threads use the
        // environment (nextest runs each test in its own process).
        unsafe {
            std::env::set_var("DBUS_SYSTEM_BUS_ADDRESS", &self.bus);
            std::env::set_var("AVAHI_COMPAT_NOWARN", "1");
        }
    }
    /// SIGKILL the daemon (a crash).
    pub fn kill(&self) {
        let index = self.host.index.to_string();
        netlab(&["avahi-stop", &self.host.lab, &index, "--kill"]);
    }
    /// SIGTERM the daemon (it sends goodbyes) and wait for it to exit.
    pub fn stop(&self) {
        let index = self.host.index.to_string();
        netlab(&["avahi-stop", &self.host.lab, &index]);
    }
    /// Start the daemon again on the same bus; returns once RUNNING.
    pub fn restart(&self) {
        let index = self.host.index.to_string();
        netlab(&["avahi", &self.host.lab, &index]);
    }
    /// The daemon's log file (all its runs in this lab), under `NETLAB_STATE`.
    pub fn log_path(&self) -> Option<PathBuf> {
        let state = std::env::var_os("NETLAB_STATE")?;
        Some(
            PathBuf::from(state)
                .join(&self.host.lab)
                .join(format!("h{}.avahi.log", self.host.index)),
        )
    }
    /// The daemon's log so far (empty if it cannot be read).
    pub fn log(&self) -> String {
        self.log_path()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .unwrap_or_default()
    }
    /// The daemon's `Host name conflict` log lines so far.
    pub fn host_name_conflicts(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|line| line.contains(AVAHI_HOST_NAME_CONFLICT))
            .map(str::to_owned)
            .collect()
    }
    /// Panics unless the daemon's log is free of `Host name conflict` lines: it kept its host
    /// name. Also checked when the guard drops.
    pub fn assert_kept_host_name(&self) {
        let conflicts = self.host_name_conflicts();
        assert!(
            conflicts.is_empty(),
            "avahi-daemon in {} had to rename its host (something contested {}): {:?}",
            self.host.name(),
            self.host.avahi_host_name(),
            conflicts
        );
    }
    /// This test provokes host-name conflicts on purpose: the drop check is skipped.
    pub fn expect_host_name_conflicts(&self) {
        self.conflicts_expected.store(true, Ordering::Relaxed);
    }
}

impl Drop for Avahi {
    fn drop(&mut self) {
        if std::thread::panicking() || self.conflicts_expected.load(Ordering::Relaxed) {
            return;
        }
        // The lab may already be gone (its state with it): nothing left to check.
        if self.log_path().is_some_and(|path| path.exists()) {
            self.assert_kept_host_name();
        }
    }
}

/// A child process killed (by its PID) and reaped when dropped.
#[derive(Debug)]
pub struct LabChild(Option<Child>);

impl LabChild {
    /// The process.
    pub fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("child present until drop")
    }
    /// Sends `signal` to the process.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        if let Some(child) = &self.0 {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, signal);
        }
    }
    /// Waits up to `timeout` for the process to exit; its status if it did.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child().try_wait() {
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for LabChild {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
