//! mDNS sockets: one UDP socket per IP family bound to port 5353, shared with any other mDNS
//! stack on the host, reporting for each datagram the interface it arrived on and whether it
//! was sent to the group or to one of our unicast addresses, and sending on a chosen interface.
//!
//! # Choices
//! - **Port sharing.** Both sockets set `SO_REUSEADDR` and `SO_REUSEPORT` before binding the
//!   wildcard address, so avahi-daemon or another process can hold 5353 beside us in either
//!   order. Multicast reaches every socket; a unicast datagram to 5353 reaches only one of them
//!   (`NETLAB.md`, "Sharing port 5353"), so the engine must not depend on unicast replies.
//! - **Per-datagram metadata without `unsafe`.** `IP_PKTINFO` / `IPV6_RECVPKTINFO` are read with
//!   `recvmsg` from the `nix` crate, whose `ControlMessageOwned::Ipv4PacketInfo` /
//!   `Ipv6PacketInfo` decode the control messages safely; sends carry an `IP_PKTINFO` /
//!   `IPV6_PKTINFO` control message naming the outgoing interface, which for multicast
//!   overrides `IP_MULTICAST_IF` and for link-local unicast pins the scope. No `unsafe` in this
//!   module (the embedded backend's only one registers the netlink socket in `interfaces.rs`).
//! - **TTL / hop limit 255** for multicast and unicast (RFC 6762 §11), `IPV6_V6ONLY` on the v6
//!   socket so IPv4 never arrives there mapped.
//! - **Our own packets.** `IP_MULTICAST_LOOP` stays on: other processes on this host (another
//!   stack, another program using this crate) must see what we send, and the kernel delivers
//!   the copy to our socket too. The driver is the only party that knows which datagrams it
//!   sent, so [`OwnEchoFilter`] lives here and the driver drops the echoes before the engine
//!   sees them. The engine must tolerate them anyway (an echo can slip through after the
//!   filter's window, or come back through another interface bridged to the same link): by
//!   RFC 6762 §9 identical records are no conflict, and a probe tie-break against identical
//!   data is a tie.
//! - **Windows** ([`windows`]): no `SO_REUSEPORT` (`SO_REUSEADDR` alone shares the port there);
//!   `WSARecvMsg` with `IP_PKTINFO` / `IPV6_PKTINFO` gives the destination and interface;
//!   sends choose the interface with `IP_MULTICAST_IF` / `IPV6_MULTICAST_IF` (and the scope
//!   id for link-local destinations) instead of a send-side `IP_PKTINFO`, which Wine ignores.
//!   That module holds the only `unsafe` of the embedded backend (the two socket calls
//!   `socket2` does not wrap on Windows).
//! - **Datagram size.** Up to 9000 bytes (RFC 6762 §17); a larger datagram arrives with
//!   `MSG_TRUNC` and is reported as truncated so the caller drops it.

use std::collections::VecDeque;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io;
#[cfg(target_os = "linux")]
use std::io::{IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
#[cfg(target_os = "linux")]
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

#[cfg(target_os = "linux")]
use nix::sys::socket::{
    self as nixsock, ControlMessage, ControlMessageOwned, MsgFlags, SockaddrIn, SockaddrIn6,
};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, SockRef, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;

#[cfg(windows)]
pub(crate) mod windows;

/// The mDNS port (RFC 6762 §3).
pub const MDNS_PORT: u16 = 5353;
/// The IPv4 mDNS group, 224.0.0.251.
pub const MDNS_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 251);
/// The IPv6 mDNS group, ff02::fb (link-local scope).
pub const MDNS_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0xfb);
/// Largest mDNS datagram we send or accept (RFC 6762 §17).
pub const MAX_DATAGRAM: usize = 9000;
/// Receive buffer asked of the kernel: bursts of announcements or goodbyes from a peer with
/// many services overflow the default (`NETLAB.md`: 555-742 of 1000 datagrams lost).
const RECEIVE_BUFFER_BYTES: usize = 2 * 1024 * 1024;
/// IP TTL / hop limit on everything we send (RFC 6762 §11).
const MDNS_HOP_LIMIT: u32 = 255;

/// IP family of a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// Where a received datagram was addressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatagramDestination {
    /// To the mDNS group (224.0.0.251 or ff02::fb), or any other multicast group.
    Multicast,
    /// To one of this host's unicast addresses.
    Unicast(IpAddr),
}

/// One datagram read from an [`MdnsSocket`]; its payload is the first `len` bytes of the
/// buffer given to [`MdnsSocket::recv`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceivedDatagram {
    /// Payload length in the buffer.
    pub len: usize,
    /// Sender's address and port (IPv6 link-local senders carry the scope id).
    pub source: SocketAddr,
    /// Index of the interface the datagram arrived on.
    pub interface_index: u32,
    /// Group or unicast destination.
    pub destination: DatagramDestination,
    /// The datagram was larger than the buffer and was cut: drop it.
    pub truncated: bool,
}

/// A UDP socket bound to the wildcard address and port 5353 for one IP family.
#[derive(Debug)]
pub struct MdnsSocket {
    family: Family,
    socket: UdpSocket,
}

impl MdnsSocket {
    /// Binds `0.0.0.0:5353` (port shared, TTL 255, loopback on, `IP_PKTINFO`). Must be called
    /// inside a tokio runtime.
    pub fn bind_v4() -> io::Result<MdnsSocket> {
        Self::bind(Family::V4, MDNS_PORT)
    }

    /// Binds `[::]:5353` (v6 only, port shared, hop limit 255, loopback on,
    /// `IPV6_RECVPKTINFO`). Must be called inside a tokio runtime.
    pub fn bind_v6() -> io::Result<MdnsSocket> {
        Self::bind(Family::V6, MDNS_PORT)
    }

    fn bind(family: Family, port: u16) -> io::Result<MdnsSocket> {
        let domain = match family {
            Family::V4 => Domain::IPV4,
            Family::V6 => Domain::IPV6,
        };
        #[cfg(target_os = "linux")]
        let kind = Type::DGRAM.cloexec();
        #[cfg(windows)]
        let kind = Type::DGRAM.no_inherit();
        let socket = Socket::new(domain, kind, Some(Protocol::UDP))?;
        socket.set_reuse_address(true)?;
        #[cfg(target_os = "linux")]
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        // Best effort: the kernel caps it at net.core.rmem_max.
        let _ = socket.set_recv_buffer_size(RECEIVE_BUFFER_BYTES);
        let bind_addr: SocketAddr = match family {
            Family::V4 => {
                socket.set_multicast_loop_v4(true)?;
                socket.set_multicast_ttl_v4(MDNS_HOP_LIMIT)?;
                socket.set_ttl(MDNS_HOP_LIMIT)?;
                #[cfg(target_os = "linux")]
                nixsock::setsockopt(&socket, nixsock::sockopt::Ipv4PacketInfo, &true)
                    .map_err(io::Error::from)?;
                #[cfg(windows)]
                windows::enable_packet_info(&socket, family)?;
                SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
            }
            Family::V6 => {
                socket.set_only_v6(true)?;
                socket.set_multicast_loop_v6(true)?;
                socket.set_multicast_hops_v6(MDNS_HOP_LIMIT)?;
                socket.set_unicast_hops_v6(MDNS_HOP_LIMIT)?;
                #[cfg(target_os = "linux")]
                nixsock::setsockopt(&socket, nixsock::sockopt::Ipv6RecvPacketInfo, &true)
                    .map_err(io::Error::from)?;
                #[cfg(windows)]
                windows::enable_packet_info(&socket, family)?;
                SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0))
            }
        };
        socket.bind(&SockAddr::from(bind_addr))?;
        Ok(MdnsSocket {
            family,
            socket: UdpSocket::from_std(socket.into())?,
        })
    }

    /// The socket's IP family.
    pub fn family(&self) -> Family {
        self.family
    }

    /// Joins the mDNS group on the interface with index `interface_index`. Joining twice is
    /// not an error.
    pub fn join_group(&self, interface_index: u32) -> io::Result<()> {
        let socket = SockRef::from(&self.socket);
        let joined = match self.family {
            Family::V4 => socket.join_multicast_v4_n(
                &MDNS_GROUP_V4,
                &InterfaceIndexOrAddress::Index(interface_index),
            ),
            Family::V6 => socket.join_multicast_v6(&MDNS_GROUP_V6, interface_index),
        };
        match joined {
            Err(e) if e.raw_os_error() == Some(ALREADY_JOINED) => Ok(()),
            other => other,
        }
    }

    /// Leaves the mDNS group on an interface. Leaving a group not joined, or on an interface
    /// that is gone, is not an error.
    pub fn leave_group(&self, interface_index: u32) -> io::Result<()> {
        let socket = SockRef::from(&self.socket);
        let left = match self.family {
            Family::V4 => socket.leave_multicast_v4_n(
                &MDNS_GROUP_V4,
                &InterfaceIndexOrAddress::Index(interface_index),
            ),
            Family::V6 => socket.leave_multicast_v6(&MDNS_GROUP_V6, interface_index),
        };
        match left {
            Err(e)
                if e.raw_os_error()
                    .is_some_and(|code| NOT_JOINED.contains(&code)) =>
            {
                Ok(())
            }
            other => other,
        }
    }

    /// Waits for the next datagram and reads it into `buf` (give it [`MAX_DATAGRAM`] bytes).
    /// Cancel-safe: dropping the future loses no datagram.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<ReceivedDatagram> {
        self.socket
            .async_io(Interest::READABLE, || self.recv_now(buf))
            .await
    }

    /// One non-blocking `recvmsg`; `WouldBlock` when nothing is queued.
    #[cfg(target_os = "linux")]
    fn recv_now(&self, buf: &mut [u8]) -> io::Result<ReceivedDatagram> {
        let fd = self.socket.as_raw_fd();
        let capacity = buf.len();
        let mut iov = [IoSliceMut::new(buf)];
        match self.family {
            Family::V4 => {
                let mut cmsg_buf = nix::cmsg_space!(libc::in_pktinfo);
                let msg = nixsock::recvmsg::<SockaddrIn>(
                    fd,
                    &mut iov,
                    Some(&mut cmsg_buf),
                    MsgFlags::MSG_TRUNC,
                )
                .map_err(io::Error::from)?;
                let source = msg
                    .address
                    .map(|a| SocketAddr::V4(SocketAddrV4::new(a.ip(), a.port())))
                    .ok_or_else(|| io::Error::other("datagram without source address"))?;
                let mut pktinfo = None;
                for cmsg in msg.cmsgs().map_err(io::Error::from)? {
                    if let ControlMessageOwned::Ipv4PacketInfo(info) = cmsg {
                        pktinfo = Some(info);
                    }
                }
                let info =
                    pktinfo.ok_or_else(|| io::Error::other("datagram without IP_PKTINFO"))?;
                let dest = Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr));
                Ok(ReceivedDatagram {
                    // With MSG_TRUNC, `bytes` is the datagram's real size, possibly larger
                    // than the buffer.
                    len: msg.bytes.min(capacity),
                    source,
                    interface_index: u32::try_from(info.ipi_ifindex).unwrap_or(0),
                    destination: if dest.is_multicast() {
                        DatagramDestination::Multicast
                    } else {
                        DatagramDestination::Unicast(IpAddr::V4(dest))
                    },
                    truncated: msg.flags.contains(MsgFlags::MSG_TRUNC),
                })
            }
            Family::V6 => {
                let mut cmsg_buf = nix::cmsg_space!(libc::in6_pktinfo);
                let msg = nixsock::recvmsg::<SockaddrIn6>(
                    fd,
                    &mut iov,
                    Some(&mut cmsg_buf),
                    MsgFlags::MSG_TRUNC,
                )
                .map_err(io::Error::from)?;
                let source = msg
                    .address
                    .map(|a| SocketAddr::V6(SocketAddrV6::from(a)))
                    .ok_or_else(|| io::Error::other("datagram without source address"))?;
                let mut pktinfo = None;
                for cmsg in msg.cmsgs().map_err(io::Error::from)? {
                    if let ControlMessageOwned::Ipv6PacketInfo(info) = cmsg {
                        pktinfo = Some(info);
                    }
                }
                let info =
                    pktinfo.ok_or_else(|| io::Error::other("datagram without IPV6_PKTINFO"))?;
                let dest = Ipv6Addr::from(info.ipi6_addr.s6_addr);
                Ok(ReceivedDatagram {
                    len: msg.bytes.min(capacity),
                    source,
                    interface_index: info.ipi6_ifindex,
                    destination: if dest.is_multicast() {
                        DatagramDestination::Multicast
                    } else {
                        DatagramDestination::Unicast(IpAddr::V6(dest))
                    },
                    truncated: msg.flags.contains(MsgFlags::MSG_TRUNC),
                })
            }
        }
    }

    /// Sends `payload` to `destination` out of the interface with index `interface_index`,
    /// from `source` (one of that interface's addresses, of this socket's family) or, with
    /// `None`, from the address the kernel picks. Give the source: for multicast on an
    /// interface whose only addresses have host scope (`lo` with 127.0.0.1), Linux picks
    /// 0.0.0.0, which receivers drop as off-link. `destination` must be of this socket's
    /// family.
    pub async fn send(
        &self,
        payload: &[u8],
        interface_index: u32,
        source: Option<IpAddr>,
        destination: SocketAddr,
    ) -> io::Result<()> {
        self.socket
            .async_io(Interest::WRITABLE, || {
                self.send_now(payload, interface_index, source, destination)
            })
            .await
    }

    /// Sends at once without waiting for the socket to become writable (`WouldBlock` if
    /// its buffer is full). Needs no runtime: the driver's last-resort goodbyes use it while
    /// the runtime is being torn down.
    #[cfg(target_os = "linux")]
    pub fn send_now(
        &self,
        payload: &[u8],
        interface_index: u32,
        source: Option<IpAddr>,
        destination: SocketAddr,
    ) -> io::Result<()> {
        let fd = self.socket.as_raw_fd();
        let iov = [IoSlice::new(payload)];
        let sent = match (self.family, destination) {
            (Family::V4, SocketAddr::V4(dest)) => {
                let source = match source {
                    Some(IpAddr::V4(a)) => a,
                    None => Ipv4Addr::UNSPECIFIED,
                    Some(IpAddr::V6(_)) => {
                        return Err(io::Error::from(io::ErrorKind::InvalidInput));
                    }
                };
                let info = libc::in_pktinfo {
                    ipi_ifindex: i32::try_from(interface_index)
                        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
                    // The source address (0: the kernel chooses).
                    ipi_spec_dst: libc::in_addr {
                        s_addr: u32::from(source).to_be(),
                    },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                nixsock::sendmsg(
                    fd,
                    &iov,
                    &[ControlMessage::Ipv4PacketInfo(&info)],
                    MsgFlags::empty(),
                    Some(&SockaddrIn::from(dest)),
                )
            }
            (Family::V6, SocketAddr::V6(dest)) => {
                let source = match source {
                    Some(IpAddr::V6(a)) => a,
                    None => Ipv6Addr::UNSPECIFIED,
                    Some(IpAddr::V4(_)) => {
                        return Err(io::Error::from(io::ErrorKind::InvalidInput));
                    }
                };
                let info = libc::in6_pktinfo {
                    // The source address (::: the kernel chooses).
                    ipi6_addr: libc::in6_addr {
                        s6_addr: source.octets(),
                    },
                    ipi6_ifindex: interface_index,
                };
                // A link-local or multicast destination needs its scope; the pktinfo gives the
                // interface, the address gives it too so both agree.
                let scoped = if dest.scope_id() == 0 && needs_scope(dest.ip()) {
                    SocketAddrV6::new(*dest.ip(), dest.port(), dest.flowinfo(), interface_index)
                } else {
                    dest
                };
                nixsock::sendmsg(
                    fd,
                    &iov,
                    &[ControlMessage::Ipv6PacketInfo(&info)],
                    MsgFlags::empty(),
                    Some(&SockaddrIn6::from(scoped)),
                )
            }
            _ => return Err(io::Error::from(io::ErrorKind::InvalidInput)),
        }
        .map_err(io::Error::from)?;
        if sent == payload.len() {
            Ok(())
        } else {
            Err(io::Error::other("datagram sent only in part"))
        }
    }
}

/// The error a second join of the same group on the same interface gives.
#[cfg(target_os = "linux")]
const ALREADY_JOINED: i32 = libc::EADDRINUSE;
#[cfg(windows)]
const ALREADY_JOINED: i32 = windows_sys::Win32::Networking::WinSock::WSAEADDRINUSE;
/// The errors leaving a group not joined, or on an interface that is gone, gives.
#[cfg(target_os = "linux")]
const NOT_JOINED: [i32; 3] = [libc::EADDRNOTAVAIL, libc::ENODEV, libc::EINVAL];
#[cfg(windows)]
const NOT_JOINED: [i32; 3] = {
    use windows_sys::Win32::Networking::WinSock as ws;
    [ws::WSAEADDRNOTAVAIL, ws::WSAENETDOWN, ws::WSAEINVAL]
};

/// Link-local unicast (fe80::/10) and link- or interface-scoped multicast need a scope id.
fn needs_scope(ip: &Ipv6Addr) -> bool {
    let segments = ip.segments();
    (segments[0] & 0xffc0) == 0xfe80
        || (ip.is_multicast() && matches!(segments[0] & 0x000f, 0x1 | 0x2))
}

/// Recognises the copies of our own datagrams that `IP_MULTICAST_LOOP` (or a unicast send to
/// one of our own addresses) hands back to our socket.
///
/// Each sent datagram is remembered as (interface, payload fingerprint) for
/// [`OwnEchoFilter::WINDOW`]; the first received datagram with the same interface and
/// payload inside the window consumes the entry and is an echo. Consuming matters: another
/// stack on this host may send a byte-identical query (same question, id 0, no known
/// answers) right after ours, and that one must still reach the engine. Entries expire lazily
/// on each call, so the filter never needs a timer; the list is capped so a send burst
/// without echoes (loopback disabled by the administrator) cannot grow it without bound.
#[derive(Debug, Default)]
pub struct OwnEchoFilter {
    sent: VecDeque<SentFingerprint>,
}

#[derive(Debug, Clone, Copy)]
struct SentFingerprint {
    interface_index: u32,
    family: Family,
    hash: u64,
    at: Instant,
}

impl OwnEchoFilter {
    /// How long a sent datagram waits for its echo. Loopback delivery takes microseconds; the
    /// margin covers a busy driver that reads its socket late.
    pub const WINDOW: Duration = Duration::from_secs(2);
    /// Most datagrams remembered at once (oldest forgotten first).
    pub const CAPACITY: usize = 1024;

    /// A new, empty filter.
    pub fn new() -> OwnEchoFilter {
        OwnEchoFilter::default()
    }

    /// Remembers a datagram just sent on `interface_index` with `family`.
    pub fn record_sent(
        &mut self,
        now: Instant,
        family: Family,
        interface_index: u32,
        payload: &[u8],
    ) {
        self.expire(now);
        if self.sent.len() >= Self::CAPACITY {
            self.sent.pop_front();
        }
        self.sent.push_back(SentFingerprint {
            interface_index,
            family,
            hash: fingerprint(payload),
            at: now,
        });
    }

    /// Whether a received datagram is the echo of one we sent (and forgets that send).
    pub fn take_echo(
        &mut self,
        now: Instant,
        family: Family,
        interface_index: u32,
        payload: &[u8],
    ) -> bool {
        self.expire(now);
        let hash = fingerprint(payload);
        let found = self.sent.iter().position(|s| {
            s.hash == hash && s.interface_index == interface_index && s.family == family
        });
        match found {
            Some(i) => {
                self.sent.remove(i);
                true
            }
            None => false,
        }
    }

    /// Number of sends still waiting for their echo.
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.sent.len()
    }

    fn expire(&mut self, now: Instant) {
        while let Some(oldest) = self.sent.front() {
            if now.saturating_duration_since(oldest.at) > Self::WINDOW {
                self.sent.pop_front();
            } else {
                break;
            }
        }
    }
}

fn fingerprint(payload: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    payload.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_is_recognised_once_and_only_on_its_interface() {
        let t0 = Instant::now();
        let mut f = OwnEchoFilter::new();
        f.record_sent(t0, Family::V4, 2, b"query");
        assert!(!f.take_echo(t0, Family::V4, 3, b"query"), "other interface");
        assert!(!f.take_echo(t0, Family::V6, 2, b"query"), "other family");
        assert!(!f.take_echo(t0, Family::V4, 2, b"other"), "other payload");
        assert!(f.take_echo(t0, Family::V4, 2, b"query"));
        assert!(
            !f.take_echo(t0, Family::V4, 2, b"query"),
            "a second identical datagram is someone else's"
        );
    }

    #[test]
    fn echo_window_expires_without_a_timer() {
        let t0 = Instant::now();
        let mut f = OwnEchoFilter::new();
        f.record_sent(t0, Family::V4, 2, b"query");
        let late = t0 + OwnEchoFilter::WINDOW + Duration::from_millis(1);
        assert!(!f.take_echo(late, Family::V4, 2, b"query"));
        assert_eq!(f.pending(), 0);
    }

    #[test]
    fn echo_filter_is_capped() {
        let t0 = Instant::now();
        let mut f = OwnEchoFilter::new();
        for i in 0..(OwnEchoFilter::CAPACITY + 10) {
            f.record_sent(t0, Family::V4, 2, &i.to_be_bytes());
        }
        assert_eq!(f.pending(), OwnEchoFilter::CAPACITY);
        assert!(
            !f.take_echo(t0, Family::V4, 2, &0usize.to_be_bytes()),
            "oldest evicted"
        );
        assert!(f.take_echo(
            t0,
            Family::V4,
            2,
            &(OwnEchoFilter::CAPACITY + 9).to_be_bytes()
        ));
    }

    #[test]
    fn scope_needed_for_link_local_only() {
        assert!(needs_scope(&"fe80::1".parse().unwrap()));
        assert!(needs_scope(&MDNS_GROUP_V6));
        assert!(!needs_scope(&"2001:db8::1".parse().unwrap()));
        assert!(!needs_scope(&"ff05::fb".parse().unwrap()));
    }
}
