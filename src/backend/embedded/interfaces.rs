//! Network interfaces: listing them with their addresses and flags, choosing the ones mDNS runs
//! on, and noticing when they change.
//!
//! # How changes are followed (and why not `if-watch` or `rtnetlink`)
//! The list comes from `getifaddrs(3)` (through `nix`, safely; this module's one `unsafe` is
//! registering the netlink socket with tokio's `AsyncFd`), which gives every
//! interface's name, flags, addresses and netmasks in one call. Changes are noticed on a
//! `NETLINK_ROUTE` socket subscribed to the link and IPv4/IPv6 address groups; its messages
//! are not parsed at all: any message (or an overflow, `ENOBUFS`) means "list again and
//! compare", which also covers a burst of messages with one listing. Alternatives weighed:
//! - `if-watch` 3.2 reports only `Up(IpNet)` / `Down(IpNet)`: no interface index, name or
//!   flags, so it cannot tell which interface an address is on, nor see a link go down or
//!   lose its multicast flag. It also pulls in `rtnetlink`, `futures` and `smol` support.
//! - `rtnetlink` 0.24 (MSRV 1.85) gives everything, through `netlink-proto`,
//!   `netlink-packet-route`, `netlink-packet-core`, `netlink-sys`, `futures` and `log`: five
//!   crates and a request/response framework to learn what one `getifaddrs` call returns.
//!
//! On Windows ([`windows`]) the list comes from `GetAdaptersAddresses` (through `windows-sys`;
//! the flags come from the adapter's operational status, type and `NO_MULTICAST` flag) and
//! changes are noticed by listing again every [`windows::RELIST_INTERVAL`] and comparing (see
//! there why not `NotifyIpInterfaceChange`). macOS always uses its system daemon.
//!
//! # Which interfaces are used by default
//! An interface must be up, have carrier (`IFF_RUNNING`), be multicast-capable and have an
//! address of an enabled family. Of those, by default these are left out, because announcing
//! local services there is usually wrong or useless: loopback; point-to-point links; Docker
//! bridges (`docker0`, `br-*`); VPN and tunnel devices (`tun*`, `tap*`, `wg*`, `utun*`,
//! `ipsec*`, `ppp*`, `zt*`, `tailscale*`). Any of them is used when selected explicitly (by
//! name, index, address or predicate). **Loopback** is used, without being asked for, only if
//! it is the only multicast-capable interface left: a host on a single `lo` (a network
//! namespace lab, a container with networking off) then still sees the services of its own
//! processes, while a normal host never doubles every answer on `lo`.

#[cfg(target_os = "linux")]
use std::collections::BTreeMap;
use std::fmt;
#[cfg(target_os = "linux")]
use std::io;
use std::net::IpAddr;
#[cfg(target_os = "linux")]
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;

#[cfg(target_os = "linux")]
use nix::ifaddrs::getifaddrs;
#[cfg(target_os = "linux")]
use nix::net::if_::InterfaceFlags;
#[cfg(target_os = "linux")]
use nix::sys::socket::{
    self as nixsock, AddressFamily, NetlinkAddr, SockFlag, SockProtocol, SockType,
};
#[cfg(target_os = "linux")]
use tokio::io::unix::AsyncFd;

#[cfg(windows)]
pub mod windows;
#[cfg(windows)]
pub use windows::{InterfaceWatcher, list_interfaces};

/// One address of an interface, with its prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InterfaceAddress {
    /// The address (an IPv6 link-local address carries no scope here: the scope is the
    /// interface).
    pub addr: IpAddr,
    /// Network prefix length (`/24`, `/64`).
    pub prefix_len: u8,
}

impl InterfaceAddress {
    /// Whether `other` is on this address's subnet.
    pub fn contains(&self, other: IpAddr) -> bool {
        match (self.addr, other) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let mask = prefix_mask_u32(self.prefix_len);
                u32::from(a) & mask == u32::from(b) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let mask = prefix_mask_u128(self.prefix_len);
                u128::from(a) & mask == u128::from(b) & mask
            }
            _ => false,
        }
    }
}

fn prefix_mask_u32(prefix_len: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(prefix_len.min(32)))
        .unwrap_or(0)
}

fn prefix_mask_u128(prefix_len: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(prefix_len.min(128)))
        .unwrap_or(0)
}

/// What an interface is and can do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LinkFlags {
    /// Administratively up.
    pub up: bool,
    /// Has carrier (`IFF_RUNNING`).
    pub running: bool,
    /// Multicast-capable.
    pub multicast: bool,
    /// The loopback interface.
    pub loopback: bool,
    /// A point-to-point link.
    pub point_to_point: bool,
}

/// A network interface with its addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkInterface {
    /// Kernel interface index.
    pub index: u32,
    /// Interface name (`eth0`).
    pub name: String,
    /// Flags.
    pub flags: LinkFlags,
    /// IPv4 and IPv6 addresses, in the kernel's order (the primary IPv4 address first).
    pub addresses: Vec<InterfaceAddress>,
}

impl NetworkInterface {
    /// Whether it has at least one IPv4 address.
    pub fn has_ipv4(&self) -> bool {
        self.addresses.iter().any(|a| a.addr.is_ipv4())
    }

    /// Whether it has an IPv6 link-local address (fe80::/10), which mDNS over IPv6 sends
    /// from. `lo`, with only `::1`, has none: Linux has no multicast route for it either.
    pub fn has_ipv6_link_local(&self) -> bool {
        self.ipv6_link_local().is_some()
    }

    /// The first IPv4 address: the source of our IPv4 datagrams on this interface.
    pub fn ipv4_source(&self) -> Option<std::net::Ipv4Addr> {
        self.addresses.iter().find_map(|a| match a.addr {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
    }

    /// The first IPv6 link-local address: the source of our IPv6 datagrams on this interface.
    pub fn ipv6_link_local(&self) -> Option<std::net::Ipv6Addr> {
        self.addresses.iter().find_map(|a| match a.addr {
            IpAddr::V6(v6) if v6.segments().first().is_some_and(|s| s & 0xffc0 == 0xfe80) => {
                Some(v6)
            }
            _ => None,
        })
    }

    /// Whether mDNS can run on it at all: up, with carrier, multicast-capable.
    pub fn is_usable(&self) -> bool {
        self.flags.up && self.flags.running && self.flags.multicast
    }

    /// Whether it is left out unless selected explicitly: point-to-point, a Docker bridge or
    /// a VPN/tunnel device (loopback is handled separately, see the module docs).
    pub fn is_excluded_by_default(&self) -> bool {
        const EXCLUDED_PREFIXES: &[&str] = &[
            "br-",
            "tun",
            "tap",
            "wg",
            "utun",
            "ipsec",
            "ppp",
            "zt",
            "tailscale",
        ];
        self.flags.point_to_point
            || self.name == "docker0"
            || EXCLUDED_PREFIXES.iter().any(|p| self.name.starts_with(p))
    }
}

/// Lists the host's interfaces (all of them, usable or not), sorted by index.
#[cfg(target_os = "linux")]
pub fn list_interfaces() -> io::Result<Vec<NetworkInterface>> {
    let mut by_name: BTreeMap<String, NetworkInterface> = BTreeMap::new();
    for entry in getifaddrs().map_err(io::Error::from)? {
        // IPv4 alias labels ("eth0:1") belong to their interface.
        let name = match entry.interface_name.split_once(':') {
            Some((base, _label)) => base.to_owned(),
            None => entry.interface_name.clone(),
        };
        let iface = by_name
            .entry(name.clone())
            .or_insert_with(|| NetworkInterface {
                index: 0,
                name,
                flags: LinkFlags::default(),
                addresses: Vec::new(),
            });
        iface.flags = LinkFlags {
            up: entry.flags.contains(InterfaceFlags::IFF_UP),
            running: entry.flags.contains(InterfaceFlags::IFF_RUNNING),
            multicast: entry.flags.contains(InterfaceFlags::IFF_MULTICAST),
            loopback: entry.flags.contains(InterfaceFlags::IFF_LOOPBACK),
            point_to_point: entry.flags.contains(InterfaceFlags::IFF_POINTOPOINT),
        };
        let Some(address) = entry.address else {
            continue;
        };
        if let Some(link) = address.as_link_addr() {
            iface.index = u32::try_from(link.ifindex()).unwrap_or(0);
            continue;
        }
        let addr = if let Some(v4) = address.as_sockaddr_in() {
            IpAddr::V4(v4.ip())
        } else if let Some(v6) = address.as_sockaddr_in6() {
            IpAddr::V6(v6.ip())
        } else {
            continue;
        };
        let prefix_len = entry
            .netmask
            .as_ref()
            .and_then(|m| {
                m.as_sockaddr_in()
                    .map(|m| u32::from(m.ip()).count_ones())
                    .or_else(|| m.as_sockaddr_in6().map(|m| u128::from(m.ip()).count_ones()))
            })
            .and_then(|bits| u8::try_from(bits).ok())
            .unwrap_or(if addr.is_ipv4() { 32 } else { 128 });
        iface.addresses.push(InterfaceAddress { addr, prefix_len });
    }
    let mut list: Vec<NetworkInterface> = by_name
        .into_values()
        .filter_map(|mut iface| {
            if iface.index == 0 {
                iface.index = nix::net::if_::if_nametoindex(iface.name.as_str()).ok()?;
            }
            let mut seen = Vec::with_capacity(iface.addresses.len());
            iface.addresses.retain(|a| {
                let new = !seen.contains(a);
                seen.push(*a);
                new
            });
            Some(iface)
        })
        .collect();
    list.sort_by_key(|i| i.index);
    Ok(list)
}

/// A rule naming interfaces.
#[derive(Clone)]
pub enum InterfaceRule {
    /// By name; a trailing `*` matches any suffix (`"eth*"`).
    Name(String),
    /// By kernel index.
    Index(u32),
    /// The interface holding this address.
    Address(IpAddr),
    /// Any interface the predicate accepts.
    Predicate(Arc<dyn Fn(&NetworkInterface) -> bool + Send + Sync>),
}

impl fmt::Debug for InterfaceRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InterfaceRule::Name(n) => f.debug_tuple("Name").field(n).finish(),
            InterfaceRule::Index(i) => f.debug_tuple("Index").field(i).finish(),
            InterfaceRule::Address(a) => f.debug_tuple("Address").field(a).finish(),
            InterfaceRule::Predicate(_) => f.write_str("Predicate(..)"),
        }
    }
}

impl InterfaceRule {
    /// Whether the rule names `iface`.
    pub fn matches(&self, iface: &NetworkInterface) -> bool {
        match self {
            InterfaceRule::Name(pattern) => match pattern.strip_suffix('*') {
                Some(prefix) => iface.name.starts_with(prefix),
                None => iface.name == *pattern,
            },
            InterfaceRule::Index(index) => iface.index == *index,
            InterfaceRule::Address(addr) => iface.addresses.iter().any(|a| a.addr == *addr),
            InterfaceRule::Predicate(accepts) => accepts(iface),
        }
    }
}

/// Which interfaces and IP families the embedded backend uses. The default follows the module
/// docs; [`InterfaceSelection::include`] replaces the default choice by the named interfaces.
#[derive(Clone, Debug)]
pub struct InterfaceSelection {
    include: Vec<InterfaceRule>,
    exclude: Vec<InterfaceRule>,
    ipv4: bool,
    ipv6: bool,
}

impl Default for InterfaceSelection {
    fn default() -> Self {
        InterfaceSelection {
            include: Vec::new(),
            exclude: Vec::new(),
            ipv4: true,
            ipv6: true,
        }
    }
}

/// An interface chosen for mDNS, with the families to run on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectedInterface {
    /// The interface as listed.
    pub interface: NetworkInterface,
    /// Run mDNS over IPv4 here (enabled and the interface has an IPv4 address).
    pub ipv4: bool,
    /// Run mDNS over IPv6 here (enabled and the interface has an IPv6 link-local address).
    pub ipv6: bool,
}

impl InterfaceSelection {
    /// The default selection: both families, default interfaces.
    pub fn new() -> InterfaceSelection {
        InterfaceSelection::default()
    }

    /// Uses the interfaces this rule names (even loopback, point-to-point, Docker or VPN
    /// ones). Once any rule is included, only included interfaces are used.
    pub fn include(mut self, rule: InterfaceRule) -> InterfaceSelection {
        self.include.push(rule);
        self
    }

    /// Never uses the interfaces this rule names (wins over [`include`](Self::include)).
    pub fn exclude(mut self, rule: InterfaceRule) -> InterfaceSelection {
        self.exclude.push(rule);
        self
    }

    /// Enables or disables IPv4 and IPv6 (both enabled by default).
    pub fn families(mut self, ipv4: bool, ipv6: bool) -> InterfaceSelection {
        self.ipv4 = ipv4;
        self.ipv6 = ipv6;
        self
    }

    /// Whether IPv4 is enabled.
    pub fn ipv4(&self) -> bool {
        self.ipv4
    }

    /// Whether IPv6 is enabled.
    pub fn ipv6(&self) -> bool {
        self.ipv6
    }

    /// Chooses from `interfaces` (as `list_interfaces` returns them), sorted by index.
    pub fn select(&self, interfaces: &[NetworkInterface]) -> Vec<SelectedInterface> {
        let candidate = |iface: &&NetworkInterface| {
            iface.is_usable()
                && ((self.ipv4 && iface.has_ipv4()) || (self.ipv6 && iface.has_ipv6_link_local()))
                && !self.exclude.iter().any(|r| r.matches(iface))
        };
        let chosen: Vec<&NetworkInterface> = if self.include.is_empty() {
            let normal: Vec<&NetworkInterface> = interfaces
                .iter()
                .filter(candidate)
                .filter(|i| !i.flags.loopback && !i.is_excluded_by_default())
                .collect();
            if normal.is_empty() {
                interfaces
                    .iter()
                    .filter(candidate)
                    .filter(|i| i.flags.loopback)
                    .collect()
            } else {
                normal
            }
        } else {
            interfaces
                .iter()
                .filter(candidate)
                .filter(|i| self.include.iter().any(|r| r.matches(i)))
                .collect()
        };
        let mut selected: Vec<SelectedInterface> = chosen
            .into_iter()
            .map(|iface| SelectedInterface {
                ipv4: self.ipv4 && iface.has_ipv4(),
                ipv6: self.ipv6 && iface.has_ipv6_link_local(),
                interface: iface.clone(),
            })
            .collect();
        selected.sort_by_key(|s| s.interface.index);
        selected
    }
}

/// How the selected set changed between two listings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SelectionChange {
    /// Newly selected.
    pub added: Vec<SelectedInterface>,
    /// Still selected, but addresses, flags or families differ (the new state).
    pub changed: Vec<SelectedInterface>,
    /// No longer selected (the old state).
    pub removed: Vec<SelectedInterface>,
}

impl SelectionChange {
    /// Compares two selections (each sorted by index, as [`InterfaceSelection::select`] gives).
    pub fn between(old: &[SelectedInterface], new: &[SelectedInterface]) -> SelectionChange {
        let mut change = SelectionChange::default();
        for n in new {
            match old.iter().find(|o| o.interface.index == n.interface.index) {
                None => change.added.push(n.clone()),
                Some(o) if o != n => change.changed.push(n.clone()),
                Some(_) => {}
            }
        }
        for o in old {
            if !new.iter().any(|n| n.interface.index == o.interface.index) {
                change.removed.push(o.clone());
            }
        }
        change
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

/// Wakes when the kernel reports a link or address change (Linux `NETLINK_ROUTE`).
#[cfg(target_os = "linux")]
#[derive(Debug)]
pub struct InterfaceWatcher {
    fd: AsyncFd<OwnedFd>,
}

#[cfg(target_os = "linux")]
impl InterfaceWatcher {
    /// Subscribes to link and address changes. Must be called inside a tokio runtime.
    pub fn new() -> io::Result<InterfaceWatcher> {
        let fd = nixsock::socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )
        .map_err(io::Error::from)?;
        let groups = libc::RTMGRP_LINK | libc::RTMGRP_IPV4_IFADDR | libc::RTMGRP_IPV6_IFADDR;
        let groups = u32::try_from(groups).map_err(|_| io::Error::other("netlink groups"))?;
        // Port id 0: the kernel assigns one.
        nixsock::bind(fd.as_raw_fd(), &NetlinkAddr::new(0, groups)).map_err(io::Error::from)?;
        // SAFETY: `OwnedFd` owns the netlink descriptor: it stays open and is the same
        // descriptor for as long as the `AsyncFd` holds the `OwnedFd`, and `as_raw_fd` always
        // returns it. Nothing else closes it (it is never handed out).
        let fd = unsafe { AsyncFd::register(fd) }.map_err(|e| e.into_parts().1)?;
        Ok(InterfaceWatcher { fd })
    }

    /// Waits until at least one change was reported, then consumes every queued report, so
    /// one call stands for a whole burst. The caller lists the interfaces again.
    pub async fn changed(&mut self) -> io::Result<()> {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let mut guard = self.fd.readable().await?;
            let mut got_any = false;
            loop {
                match nixsock::recv(
                    guard.get_inner().as_fd().as_raw_fd(),
                    &mut buf,
                    nixsock::MsgFlags::empty(),
                ) {
                    Ok(0) => break,
                    Ok(_) => got_any = true,
                    // Reports were lost: a listing catches up with whatever they said.
                    Err(nix::errno::Errno::ENOBUFS) => got_any = true,
                    Err(nix::errno::Errno::EAGAIN) => {
                        guard.clear_ready();
                        break;
                    }
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(io::Error::from(e)),
                }
            }
            if got_any {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(index: u32, name: &str, addrs: &[&str], flags: LinkFlags) -> NetworkInterface {
        NetworkInterface {
            index,
            name: name.to_owned(),
            flags,
            addresses: addrs
                .iter()
                .map(|a| {
                    let (addr, len) = a.split_once('/').unwrap();
                    InterfaceAddress {
                        addr: addr.parse().unwrap(),
                        prefix_len: len.parse().unwrap(),
                    }
                })
                .collect(),
        }
    }

    const ETH: LinkFlags = LinkFlags {
        up: true,
        running: true,
        multicast: true,
        loopback: false,
        point_to_point: false,
    };
    const LO: LinkFlags = LinkFlags {
        loopback: true,
        ..ETH
    };

    fn names(s: &[SelectedInterface]) -> Vec<&str> {
        s.iter().map(|s| s.interface.name.as_str()).collect()
    }

    fn host() -> Vec<NetworkInterface> {
        vec![
            iface(1, "lo", &["127.0.0.1/8", "::1/128"], LO),
            iface(2, "eth0", &["10.0.0.2/24", "fe80::2/64"], ETH),
            iface(3, "docker0", &["172.17.0.1/16"], ETH),
            iface(4, "br-1234", &["172.18.0.1/16"], ETH),
            iface(5, "wg0", &["10.9.0.1/24"], ETH),
            iface(
                6,
                "ppp0",
                &["10.8.0.1/32"],
                LinkFlags {
                    point_to_point: true,
                    ..ETH
                },
            ),
            iface(
                7,
                "eth1",
                &["10.1.0.2/24"],
                LinkFlags {
                    running: false,
                    ..ETH
                },
            ),
            iface(
                8,
                "eth2",
                &["10.2.0.2/24"],
                LinkFlags {
                    multicast: false,
                    ..ETH
                },
            ),
            iface(9, "eth3", &[], ETH),
            iface(10, "tun0", &["10.10.0.1/24"], ETH),
        ]
    }

    #[test]
    fn default_selection_skips_loopback_docker_vpn_ptp_and_unusable() {
        let s = InterfaceSelection::new().select(&host());
        assert_eq!(names(&s), ["eth0"]);
        assert!(s[0].ipv4 && s[0].ipv6);
    }

    #[test]
    fn loopback_only_when_it_is_the_only_multicast_interface() {
        let lab = vec![iface(1, "lo", &["127.0.0.1/8"], LO)];
        assert_eq!(names(&InterfaceSelection::new().select(&lab)), ["lo"]);
        let lo_without_multicast = vec![iface(
            1,
            "lo",
            &["127.0.0.1/8"],
            LinkFlags {
                multicast: false,
                ..LO
            },
        )];
        assert!(
            InterfaceSelection::new()
                .select(&lo_without_multicast)
                .is_empty()
        );
    }

    #[test]
    fn explicit_selection_overrides_default_exclusions() {
        let s = InterfaceSelection::new()
            .include(InterfaceRule::Name("docker0".into()))
            .include(InterfaceRule::Index(5))
            .include(InterfaceRule::Address("10.8.0.1".parse().unwrap()))
            .include(InterfaceRule::Name("lo".into()))
            .select(&host());
        assert_eq!(names(&s), ["lo", "docker0", "wg0", "ppp0"]);
        let by_predicate = InterfaceSelection::new()
            .include(InterfaceRule::Predicate(Arc::new(|i| {
                i.name.starts_with("br-")
            })))
            .select(&host());
        assert_eq!(names(&by_predicate), ["br-1234"]);
        let wildcard = InterfaceSelection::new()
            .include(InterfaceRule::Name("eth*".into()))
            .select(&host());
        assert_eq!(names(&wildcard), ["eth0"], "eth1-3 are not usable");
    }

    #[test]
    fn exclusion_and_families() {
        let s = InterfaceSelection::new()
            .exclude(InterfaceRule::Name("eth0".into()))
            .select(&host());
        assert_eq!(names(&s), ["lo"], "nothing else left: loopback fallback");
        let v6 = InterfaceSelection::new()
            .families(false, true)
            .select(&host());
        assert_eq!(names(&v6), ["eth0"]);
        assert!(!v6[0].ipv4 && v6[0].ipv6);
        let v6_docker = InterfaceSelection::new()
            .families(false, true)
            .include(InterfaceRule::Name("docker0".into()))
            .select(&host());
        assert!(v6_docker.is_empty(), "docker0 has no IPv6 address");
        let lo_v6 = InterfaceSelection::new()
            .include(InterfaceRule::Name("lo".into()))
            .select(&host());
        assert!(
            lo_v6[0].ipv4 && !lo_v6[0].ipv6,
            "::1 is no link-local address"
        );
    }

    #[test]
    fn change_between_selections() {
        let all = host();
        let old = InterfaceSelection::new().select(&all);
        let mut moved = all.clone();
        moved[1].addresses.push(InterfaceAddress {
            addr: "10.0.0.3".parse().unwrap(),
            prefix_len: 24,
        });
        moved[6].flags.running = true;
        let new = InterfaceSelection::new().select(&moved);
        let change = SelectionChange::between(&old, &new);
        assert_eq!(names(&change.added), ["eth1"]);
        assert_eq!(names(&change.changed), ["eth0"]);
        assert!(change.removed.is_empty());
        let back = SelectionChange::between(&new, &old);
        assert_eq!(names(&back.removed), ["eth1"]);
        assert!(SelectionChange::between(&old, &old).is_empty());
    }

    #[test]
    fn subnet_membership() {
        let a = InterfaceAddress {
            addr: "10.0.0.2".parse().unwrap(),
            prefix_len: 24,
        };
        assert!(a.contains("10.0.0.200".parse().unwrap()));
        assert!(!a.contains("10.0.1.2".parse().unwrap()));
        assert!(!a.contains("fe80::1".parse().unwrap()));
        let b = InterfaceAddress {
            addr: "fe80::2".parse().unwrap(),
            prefix_len: 64,
        };
        assert!(b.contains("fe80::99".parse().unwrap()));
        let all = InterfaceAddress {
            addr: "0.0.0.0".parse().unwrap(),
            prefix_len: 0,
        };
        assert!(all.contains("1.2.3.4".parse().unwrap()));
    }

    #[test]
    fn listing_this_host_finds_loopback() {
        // getifaddrs only reads; safe outside a namespace.
        let list = list_interfaces().unwrap();
        let lo = list
            .iter()
            .find(|i| i.flags.loopback)
            .expect("a loopback interface");
        assert!(lo.index > 0);
        assert!(
            lo.addresses
                .iter()
                .any(|a| a.addr == IpAddr::from([127, 0, 0, 1]) && a.prefix_len == 8)
        );
    }
}
