//! Which other mDNS responders run on this host, so that [`BackendKind::Auto`] never starts
//! the embedded engine beside one, and a forced engine takes a host name of its own.
//!
//! "This host" is this thread's network namespace: that is where a responder's multicast
//! meets ours. Every check is local, non-blocking and bounded: well under a millisecond when
//! no foreign 5353 socket exists; otherwise its owner is looked for among embedded engines,
//! then processes named like a known responder (one `comm` read per process), then, for at
//! most [`ATTRIBUTION_BUDGET`], every other process's descriptors:
//! - avahi-daemon: its client socket `/run/avahi-daemon/socket` accepts a connection;
//! - mDNSResponder: its socket `/var/run/mDNSResponder` accepts a connection;
//! - any socket bound to UDP 5353 in this network namespace (`/proc/thread-self/net/udp`,
//!   `udp6`) that is not this process's own (inodes of `/proc/self/fd`). Its owner is named
//!   from `/proc/PID/comm`: `avahi-daemon`, `systemd-resolve` (systemd-resolved binds 5353
//!   exactly when MulticastDNS is enabled on some link, so the socket is the precise test and
//!   needs no D-Bus), `mDNSResponder`/`mdnsd`, or another program running this crate's
//!   embedded engine (each engine holds an abstract Unix socket named
//!   `dnssd-engine/PID/N`, which is per network namespace too); anything else is
//!   [`HostResponder::UnknownPort5353`].
//!
//! [`BackendKind::Auto`]: crate::BackendKind::Auto

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::types::responder::HostResponder;

/// avahi-daemon's client socket.
const AVAHI_SOCKET: &str = "/run/avahi-daemon/socket";
/// mDNSResponder's client socket.
const MDNS_RESPONDER_SOCKET: &str = "/var/run/mDNSResponder";
/// Prefix of the abstract Unix socket names embedded engines hold (`dnssd-engine/PID/N`).
pub(crate) const ENGINE_MARKER_PREFIX: &str = "dnssd-engine/";
/// Program names (`/proc/PID/comm`, at most 15 bytes) of the responders this module names.
const KNOWN_RESPONDERS: [&str; 5] = [
    "avahi-daemon",
    "systemd-resolve",
    "systemd-resolved",
    "mDNSResponder",
    "mdnsd",
];
/// Longest time spent looking through the descriptors of processes other than embedded
/// engines and known responders (always looked at) for the owner of a UDP 5353 socket (only
/// done when such a socket exists and is not attributed yet).
const ATTRIBUTION_BUDGET: Duration = Duration::from_millis(40);

/// Other mDNS responders on this host (this thread's network namespace), most specific first;
/// empty when there are none. See the module documentation for what is checked.
pub fn detect() -> Vec<HostResponder> {
    let own_pid = std::process::id();
    let mut found: Vec<HostResponder> = Vec::new();
    if socket_answers(AVAHI_SOCKET) {
        found.push(HostResponder::Avahi { pid: None });
    }
    if socket_answers(MDNS_RESPONDER_SOCKET) {
        found.push(HostResponder::MdnsResponder { pid: None });
    }

    let own = own_socket_inodes();
    let foreign: BTreeSet<u64> = mdns_socket_inodes()
        .into_iter()
        .filter(|inode| !own.contains(inode))
        .collect();
    if foreign.is_empty() {
        return found;
    }
    // Owners: embedded engines first (their pids are in their marker names), then every
    // process we may look into, within the budget.
    let engines: BTreeSet<u32> = engine_marker_pids()
        .into_iter()
        .filter(|pid| *pid != own_pid)
        .collect();
    let mut owners: BTreeMap<u64, u32> = BTreeMap::new();
    for pid in &engines {
        for inode in socket_inodes_of(&format!("/proc/{pid}/fd")) {
            if foreign.contains(&inode) {
                owners.insert(inode, *pid);
            }
        }
    }
    if owners.len() < foreign.len() {
        // Known daemons by name first (one small read per process), then everyone else.
        let pids: Vec<u32> = all_pids()
            .into_iter()
            .filter(|pid| *pid != own_pid && !engines.contains(pid))
            .collect();
        let (daemons, others): (Vec<u32>, Vec<u32>) = pids.into_iter().partition(|pid| {
            program_of(*pid).is_some_and(|name| KNOWN_RESPONDERS.contains(&name.as_str()))
        });
        let deadline = Instant::now() + ATTRIBUTION_BUDGET;
        for (index, pid) in daemons.iter().chain(others.iter()).enumerate() {
            if owners.len() == foreign.len()
                || (index >= daemons.len() && Instant::now() >= deadline)
            {
                break;
            }
            for inode in socket_inodes_of(&format!("/proc/{pid}/fd")) {
                if foreign.contains(&inode) {
                    owners.insert(inode, *pid);
                }
            }
        }
    }

    let mut seen_pids: BTreeSet<u32> = BTreeSet::new();
    for inode in &foreign {
        let pid = owners.get(inode).copied();
        if let Some(pid) = pid {
            // One entry per process (it may hold an IPv4 and an IPv6 socket).
            if !seen_pids.insert(pid) {
                continue;
            }
        }
        let program = pid.and_then(program_of);
        let is_engine = pid.is_some_and(|pid| engines.contains(&pid));
        merge(&mut found, classify(*inode, pid, program, is_engine));
    }
    // The most specific first: a named daemon, then unknown sockets, then other engines
    // (which share a host on their own terms).
    found.sort_by_key(|r| match r {
        HostResponder::EmbeddedEngine { .. } => 2,
        HostResponder::UnknownPort5353 { .. } => 1,
        _ => 0,
    });
    found
}

/// What holds UDP 5353 socket `inode`: its owner `pid` (if found), that process's program
/// name, and whether it holds an embedded engine's marker.
fn classify(
    inode: u64,
    pid: Option<u32>,
    program: Option<String>,
    is_engine: bool,
) -> HostResponder {
    match (pid, program.as_deref()) {
        (Some(pid), _) if is_engine => HostResponder::EmbeddedEngine { pid, program },
        (pid, Some("avahi-daemon")) => HostResponder::Avahi { pid },
        (pid, Some("systemd-resolve" | "systemd-resolved")) => {
            HostResponder::SystemdResolved { pid }
        }
        (pid, Some("mDNSResponder" | "mdnsd")) => HostResponder::MdnsResponder { pid },
        (pid, _) => HostResponder::UnknownPort5353 {
            inode,
            pid,
            program,
        },
    }
}

/// Adds `responder`, or fills in the pid of the same daemon found through its socket path.
fn merge(found: &mut Vec<HostResponder>, responder: HostResponder) {
    for existing in found.iter_mut() {
        match (&mut *existing, &responder) {
            (HostResponder::Avahi { pid: None }, HostResponder::Avahi { pid })
            | (HostResponder::MdnsResponder { pid: None }, HostResponder::MdnsResponder { pid }) => {
                *existing = match responder {
                    HostResponder::Avahi { .. } => HostResponder::Avahi { pid: *pid },
                    _ => HostResponder::MdnsResponder { pid: *pid },
                };
                return;
            }
            _ => {}
        }
    }
    found.push(responder);
}

/// Whether a Unix stream socket at `path` accepts a connection (a stale file does not).
fn socket_answers(path: &str) -> bool {
    #[cfg(unix)]
    {
        std::path::Path::new(path).exists() && std::os::unix::net::UnixStream::connect(path).is_ok()
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// Inodes of the sockets bound to local port 5353 in this thread's network namespace.
fn mdns_socket_inodes() -> Vec<u64> {
    ["udp", "udp6"]
        .iter()
        .flat_map(|table| parse_udp_table(&read_net_table(table), 5353))
        .collect()
}

/// `/proc/thread-self/net/TABLE` (this thread's network namespace; tests enter namespaces per
/// thread), else `/proc/self/net/TABLE`.
fn read_net_table(table: &str) -> String {
    std::fs::read_to_string(format!("/proc/thread-self/net/{table}"))
        .or_else(|_| std::fs::read_to_string(format!("/proc/self/net/{table}")))
        .unwrap_or_default()
}

/// Inodes of the sockets in a `/proc/net/udp` or `udp6` table whose local port is `port`.
fn parse_udp_table(text: &str, port: u16) -> Vec<u64> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = fields.get(1)?;
            let (_, hex_port) = local.rsplit_once(':')?;
            let local_port = u16::from_str_radix(hex_port, 16).ok()?;
            let inode: u64 = fields.get(9)?.parse().ok()?;
            (local_port == port && inode != 0).then_some(inode)
        })
        .collect()
}

/// Pids named by embedded engines' abstract marker sockets in this network namespace.
fn engine_marker_pids() -> Vec<u32> {
    parse_engine_markers(&read_net_table("unix"))
}

/// Pids from `@dnssd-engine/PID/N` paths of a `/proc/net/unix` table.
fn parse_engine_markers(text: &str) -> Vec<u32> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let path = line.split_whitespace().nth(7)?;
            let rest = path.strip_prefix('@')?.strip_prefix(ENGINE_MARKER_PREFIX)?;
            rest.split('/').next()?.parse().ok()
        })
        .collect()
}

/// Socket inodes among the descriptors listed in `fd_dir` (`/proc/PID/fd`); empty when the
/// directory cannot be read (another user's process).
fn socket_inodes_of(fd_dir: &str) -> Vec<u64> {
    let Ok(entries) = std::fs::read_dir(fd_dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let target = std::fs::read_link(entry.ok()?.path()).ok()?;
            parse_socket_link(target.to_str()?)
        })
        .collect()
}

/// The inode of a `socket:[12345]` descriptor link.
fn parse_socket_link(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// This process's socket inodes.
fn own_socket_inodes() -> BTreeSet<u64> {
    socket_inodes_of("/proc/self/fd").into_iter().collect()
}

/// Every pid in `/proc`.
fn all_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// `/proc/PID/comm` without its newline.
fn program_of(pid: u32) -> Option<String> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    let comm = comm.trim_end_matches('\n');
    (!comm.is_empty()).then(|| comm.to_owned())
}

/// This program's name as a host-label fragment: the executable's file stem (else
/// `/proc/self/comm`), characters outside `[A-Za-z0-9-]` replaced by `-`.
#[cfg_attr(
    not(any(target_os = "linux", windows)),
    allow(dead_code, reason = "used by the embedded backend only")
)]
pub(crate) fn program_label() -> String {
    let name = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().and_then(|s| s.to_str()).map(str::to_owned))
        .or_else(|| program_of(std::process::id()))
        .unwrap_or_default();
    let label: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let label = label.trim_matches('-');
    if label.is_empty() {
        "app".to_owned()
    } else {
        label.to_owned()
    }
}

/// `<host>-<program>` within one 63-byte label (the program part is shortened first).
#[cfg_attr(
    not(any(target_os = "linux", windows)),
    allow(dead_code, reason = "used by the embedded backend only")
)]
pub(crate) fn own_host_label(host: &str, program: &str) -> String {
    let host: String = host.chars().take(40).collect();
    let room = 63usize.saturating_sub(host.len() + 1);
    let program: String = program.chars().take(room).collect();
    let program = program.trim_matches('-');
    if program.is_empty() {
        host
    } else {
        format!("{host}-{program}")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn udp_tables_give_the_inodes_on_port_5353() {
        let v4 = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
                  \x20 123: 00000000:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000   104        0 40211 2 0000000000000000 0\n\
                  \x20 124: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 40212 2 0000000000000000 0\n\
                  \x20 125: FB0000E0:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 40213 2 0000000000000000 0\n";
        assert_eq!(parse_udp_table(v4, 5353), vec![40211, 40213]);
        let v6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
                  \x20 9: 00000000000000000000000000000000:14E9 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 777 2 0000000000000000 0\n";
        assert_eq!(parse_udp_table(v6, 5353), vec![777]);
        assert!(parse_udp_table("garbage\nmore garbage : x", 5353).is_empty());
    }

    #[test]
    fn engine_markers_name_their_pids() {
        let unix = "Num       RefCount Protocol Flags    Type St Inode Path\n\
                    0000000000000000: 00000002 00000000 00000000 0002 01 51234 @dnssd-engine/4242/1\n\
                    0000000000000000: 00000002 00000000 00010000 0001 01 51235 /run/dbus/system_bus_socket\n\
                    0000000000000000: 00000002 00000000 00000000 0002 01 51236 @other/1\n\
                    0000000000000000: 00000003 00000000 00000000 0001 03 51237\n";
        assert_eq!(parse_engine_markers(unix), vec![4242]);
    }

    #[test]
    fn sockets_are_named_by_their_owner() {
        let named = |program: &str| classify(7, Some(42), Some(program.to_owned()), false);
        assert_eq!(
            named("avahi-daemon"),
            HostResponder::Avahi { pid: Some(42) }
        );
        assert_eq!(
            named("systemd-resolve"),
            HostResponder::SystemdResolved { pid: Some(42) }
        );
        assert_eq!(
            named("mdnsd"),
            HostResponder::MdnsResponder { pid: Some(42) }
        );
        assert_eq!(
            named("python3"),
            HostResponder::UnknownPort5353 {
                inode: 7,
                pid: Some(42),
                program: Some("python3".to_owned())
            }
        );
        assert_eq!(
            classify(7, Some(42), Some("player".to_owned()), true),
            HostResponder::EmbeddedEngine {
                pid: 42,
                program: Some("player".to_owned())
            }
        );
        assert_eq!(
            classify(7, None, None, false),
            HostResponder::UnknownPort5353 {
                inode: 7,
                pid: None,
                program: None
            }
        );
    }

    #[test]
    fn a_daemon_found_by_socket_path_and_port_is_listed_once() {
        let mut found = vec![HostResponder::Avahi { pid: None }];
        merge(&mut found, HostResponder::Avahi { pid: Some(9) });
        assert_eq!(found, vec![HostResponder::Avahi { pid: Some(9) }]);
        merge(&mut found, HostResponder::SystemdResolved { pid: Some(10) });
        assert_eq!(found.len(), 2);
        let message = HostResponder::UnknownPort5353 {
            inode: 7,
            pid: Some(42),
            program: Some("python3".to_owned()),
        }
        .to_string();
        assert_eq!(
            message,
            "python3 (pid 42) holding UDP port 5353 (socket inode 7)"
        );
    }

    #[test]
    fn socket_links_parse() {
        assert_eq!(parse_socket_link("socket:[40211]"), Some(40211));
        assert_eq!(parse_socket_link("pipe:[40211]"), None);
        assert_eq!(parse_socket_link("/dev/null"), None);
    }

    #[test]
    fn own_host_label_fits_one_label() {
        assert_eq!(own_host_label("box", "player"), "box-player");
        let long = own_host_label(&"h".repeat(63), &"p".repeat(63));
        assert!(long.len() <= 63, "{long}");
        assert!(long.starts_with("hhhh") && long.contains("h-p") && long.ends_with("ppp"));
        assert_eq!(own_host_label("box", "--"), "box");
    }

    #[test]
    fn this_process_is_not_its_own_responder() {
        // A socket of ours on 5353 is excluded by inode; whatever else runs here, never us.
        let found = detect();
        assert!(!found.iter().any(|r| matches!(
            r,
            HostResponder::EmbeddedEngine { pid, .. } | HostResponder::UnknownPort5353 { pid: Some(pid), .. }
                if *pid == std::process::id()
        )));
    }
}
