//! The Windows half of [`MdnsSocket`]: per-datagram destination and interface through
//! `WSARecvMsg` (which `socket2` does not wrap on Windows) and interface choice on send.
//!
//! `unsafe` is confined to the three Winsock calls below (`setsockopt`, `WSAIoctl` to fetch
//! the `WSARecvMsg` pointer, and `WSARecvMsg` itself); the control messages and the source
//! address come back as plain bytes and are decoded without `unsafe`.

use std::io;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::windows::io::AsRawSocket;
use std::ptr;
use std::sync::OnceLock;

use socket2::{SockAddr, SockRef, Socket};
use windows_sys::Win32::Networking::WinSock as ws;

use super::{DatagramDestination, Family, MdnsSocket, ReceivedDatagram, needs_scope};

/// `WSARecvMsg`, as `WSAIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER)` hands it out.
type RecvMsg = unsafe extern "system" fn(
    ws::SOCKET,
    *mut ws::WSAMSG,
    *mut u32,
    *mut windows_sys::Win32::System::IO::OVERLAPPED,
    ws::LPWSAOVERLAPPED_COMPLETION_ROUTINE,
) -> i32;

/// Room for one `IN6_PKTINFO` control message (16-byte header + 20 bytes) and some slack.
const CONTROL_BYTES: usize = 128;
/// `WSACMSGHDR` on 64-bit Windows: `cmsg_len` (`SIZE_T`), `cmsg_level`, `cmsg_type` (`INT`).
const CMSG_HEADER: usize = size_of::<usize>() + 8;
/// Control messages and their data are aligned to `SIZE_T`.
const CMSG_ALIGN: usize = size_of::<usize>();

/// A buffer Winsock may write a `SOCKADDR_STORAGE` or control messages into (both need
/// 8-byte alignment), read back as bytes.
#[repr(C, align(8))]
struct Aligned<const N: usize>([u8; N]);

fn raw(socket: &impl AsRawSocket) -> ws::SOCKET {
    // SOCKET is the same integer as RawSocket (u64) on 64-bit Windows.
    socket.as_raw_socket() as ws::SOCKET
}

/// Asks for `IP_PKTINFO` / `IPV6_PKTINFO` control messages on every received datagram.
pub(super) fn enable_packet_info(socket: &Socket, family: Family) -> io::Result<()> {
    let (level, name) = match family {
        Family::V4 => (ws::IPPROTO_IP, ws::IP_PKTINFO),
        Family::V6 => (ws::IPPROTO_IPV6, ws::IPV6_PKTINFO),
    };
    let on: u32 = 1;
    // SAFETY: `socket` is open; `optval` points to a DWORD that lives for the call and
    // `optlen` is its size.
    let rc = unsafe {
        ws::setsockopt(
            raw(socket),
            level,
            name,
            ptr::from_ref(&on).cast(),
            size_of::<u32>() as i32,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The process's `WSARecvMsg` (the same for every socket of the default provider).
fn recv_msg_fn(socket: ws::SOCKET) -> io::Result<RecvMsg> {
    static RECV_MSG: OnceLock<RecvMsg> = OnceLock::new();
    if let Some(f) = RECV_MSG.get() {
        return Ok(*f);
    }
    let guid = ws::WSAID_WSARECVMSG;
    let mut f: ws::LPFN_WSARECVMSG = None;
    let mut returned = 0u32;
    // SAFETY: `socket` is open; the in-buffer is the GUID and the out-buffer an
    // `LPFN_WSARECVMSG` (an optional function pointer), both alive for the call with their
    // sizes given; no overlapped I/O.
    let rc = unsafe {
        ws::WSAIoctl(
            socket,
            ws::SIO_GET_EXTENSION_FUNCTION_POINTER,
            ptr::from_ref(&guid).cast(),
            size_of::<windows_sys::core::GUID>() as u32,
            ptr::from_mut(&mut f).cast(),
            size_of::<ws::LPFN_WSARECVMSG>() as u32,
            &mut returned,
            ptr::null_mut(),
            None,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let f: RecvMsg = f.ok_or_else(|| io::Error::other("WSARecvMsg unavailable"))?;
    Ok(*RECV_MSG.get_or_init(|| f))
}

impl MdnsSocket {
    /// One non-blocking `WSARecvMsg`; `WouldBlock` when nothing is queued.
    pub(super) fn recv_now(&self, buf: &mut [u8]) -> io::Result<ReceivedDatagram> {
        let socket = raw(&self.socket);
        let recv_msg = recv_msg_fn(socket)?;
        let mut source = Aligned([0u8; 128]);
        let mut control = Aligned([0u8; CONTROL_BYTES]);
        let mut data = ws::WSABUF {
            len: u32::try_from(buf.len()).unwrap_or(u32::MAX),
            buf: buf.as_mut_ptr(),
        };
        let mut msg = ws::WSAMSG {
            name: source.0.as_mut_ptr().cast(),
            namelen: source.0.len() as i32,
            lpBuffers: &mut data,
            dwBufferCount: 1,
            Control: ws::WSABUF {
                len: CONTROL_BYTES as u32,
                buf: control.0.as_mut_ptr(),
            },
            dwFlags: 0,
        };
        let mut received = 0u32;
        // SAFETY: `socket` is open and non-blocking; `msg` points to a sockaddr buffer, one
        // WSABUF over `buf` and a control buffer, each alive and of the size given, for the
        // duration of this synchronous (non-overlapped) call.
        let rc = unsafe { recv_msg(socket, &mut msg, &mut received, ptr::null_mut(), None) };
        let mut truncated = msg.dwFlags & ws::MSG_TRUNC != 0;
        if rc != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(ws::WSAEMSGSIZE) {
                return Err(e);
            }
            truncated = true;
            received = data.len;
        }
        let source = parse_sockaddr(&source.0)
            .ok_or_else(|| io::Error::other("datagram without source address"))?;
        let control_len = usize::try_from(msg.Control.len).unwrap_or(0);
        let control = control.0.get(..control_len).unwrap_or_default();
        let (dest, interface_index) = parse_packet_info(control, self.family).ok_or_else(|| {
            io::Error::other(match self.family {
                Family::V4 => "datagram without IP_PKTINFO",
                Family::V6 => "datagram without IPV6_PKTINFO",
            })
        })?;
        Ok(ReceivedDatagram {
            len: usize::try_from(received).unwrap_or(0).min(buf.len()),
            source,
            interface_index,
            destination: if dest.is_multicast() {
                DatagramDestination::Multicast
            } else {
                DatagramDestination::Unicast(dest)
            },
            truncated,
        })
    }

    /// Sends at once (`WouldBlock` if the buffer is full). The interface is chosen with
    /// `IP_MULTICAST_IF` (by `source` address when given, else by index) or
    /// `IPV6_MULTICAST_IF`, set right before the send; unicast leaves the source to Windows.
    pub fn send_now(
        &self,
        payload: &[u8],
        interface_index: u32,
        source: Option<IpAddr>,
        destination: SocketAddr,
    ) -> io::Result<()> {
        let socket = SockRef::from(&self.socket);
        let destination = match (self.family, destination) {
            (Family::V4, SocketAddr::V4(dest)) => {
                if dest.ip().is_multicast() {
                    let interface = match source {
                        Some(IpAddr::V4(a)) => a,
                        // 0.0.0.x names interface x (Windows only).
                        None => Ipv4Addr::from(interface_index),
                        Some(IpAddr::V6(_)) => {
                            return Err(io::Error::from(io::ErrorKind::InvalidInput));
                        }
                    };
                    socket.set_multicast_if_v4(&interface)?;
                }
                SocketAddr::V4(dest)
            }
            (Family::V6, SocketAddr::V6(dest)) => {
                if dest.ip().is_multicast() {
                    socket.set_multicast_if_v6(interface_index)?;
                }
                if dest.scope_id() == 0 && needs_scope(dest.ip()) {
                    SocketAddr::V6(SocketAddrV6::new(
                        *dest.ip(),
                        dest.port(),
                        dest.flowinfo(),
                        interface_index,
                    ))
                } else {
                    SocketAddr::V6(dest)
                }
            }
            _ => return Err(io::Error::from(io::ErrorKind::InvalidInput)),
        };
        let sent = socket.send_to(payload, &SockAddr::from(destination))?;
        if sent == payload.len() {
            Ok(())
        } else {
            Err(io::Error::other("datagram sent only in part"))
        }
    }
}

fn u16_at(bytes: &[u8], at: usize, big_endian: bool) -> Option<u16> {
    let b: [u8; 2] = bytes.get(at..at + 2)?.try_into().ok()?;
    Some(if big_endian {
        u16::from_be_bytes(b)
    } else {
        u16::from_le_bytes(b)
    })
}

fn u32_le_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// A `SOCKADDR_IN` / `SOCKADDR_IN6` as bytes (family in host order, port in network order).
pub(crate) fn parse_sockaddr(bytes: &[u8]) -> Option<SocketAddr> {
    let family = u16_at(bytes, 0, false)?;
    let port = u16_at(bytes, 2, true)?;
    if family == ws::AF_INET {
        let ip: [u8; 4] = bytes.get(4..8)?.try_into().ok()?;
        Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
    } else if family == ws::AF_INET6 {
        let flowinfo = u32::from_be(u32_le_at(bytes, 4)?);
        let ip: [u8; 16] = bytes.get(8..24)?.try_into().ok()?;
        let scope_id = u32_le_at(bytes, 24)?;
        Some(SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::from(ip),
            port,
            flowinfo,
            scope_id,
        )))
    } else {
        None
    }
}

/// The destination address and interface index from the `IN_PKTINFO` / `IN6_PKTINFO`
/// control message among `control`.
fn parse_packet_info(control: &[u8], family: Family) -> Option<(IpAddr, u32)> {
    let (level, kind) = match family {
        Family::V4 => (ws::IPPROTO_IP, ws::IP_PKTINFO),
        Family::V6 => (ws::IPPROTO_IPV6, ws::IPV6_PKTINFO),
    };
    let mut at = 0;
    while at + CMSG_HEADER <= control.len() {
        let len = usize::try_from(u64_le_at(control, at)?).ok()?;
        if len < CMSG_HEADER {
            return None;
        }
        let msg_level = i32::from_le_bytes(control.get(at + 8..at + 12)?.try_into().ok()?);
        let msg_kind = i32::from_le_bytes(control.get(at + 12..at + 16)?.try_into().ok()?);
        let data = control.get(at + CMSG_HEADER..at + len)?;
        if msg_level == level && msg_kind == kind {
            return match family {
                // IN_PKTINFO { IN_ADDR ipi_addr; ULONG ipi_ifindex; }
                Family::V4 => {
                    let ip: [u8; 4] = data.get(..4)?.try_into().ok()?;
                    Some((IpAddr::V4(Ipv4Addr::from(ip)), u32_le_at(data, 4)?))
                }
                // IN6_PKTINFO { IN6_ADDR ipi6_addr; ULONG ipi6_ifindex; }
                Family::V6 => {
                    let ip: [u8; 16] = data.get(..16)?.try_into().ok()?;
                    Some((IpAddr::V6(Ipv6Addr::from(ip)), u32_le_at(data, 16)?))
                }
            };
        }
        at += len.div_ceil(CMSG_ALIGN) * CMSG_ALIGN;
    }
    None
}

fn u64_le_at(bytes: &[u8], at: usize) -> Option<u64> {
    // `cmsg_len` is a SIZE_T: 8 bytes on the 64-bit targets this module supports.
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmsg(level: i32, kind: i32, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&((CMSG_HEADER + data.len()) as u64).to_le_bytes());
        out.extend_from_slice(&level.to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(data);
        while out.len() % CMSG_ALIGN != 0 {
            out.push(0);
        }
        out
    }

    #[test]
    fn packet_info_is_found_after_other_messages() {
        let mut control = cmsg(ws::IPPROTO_IP, 99, &[1, 2, 3]);
        let mut info = vec![224, 0, 0, 251];
        info.extend_from_slice(&7u32.to_le_bytes());
        control.extend(cmsg(ws::IPPROTO_IP, ws::IP_PKTINFO, &info));
        assert_eq!(
            parse_packet_info(&control, Family::V4),
            Some((IpAddr::V4(Ipv4Addr::new(224, 0, 0, 251)), 7))
        );
        assert_eq!(parse_packet_info(&control, Family::V6), None);
        assert_eq!(parse_packet_info(&control[..20], Family::V4), None);
    }

    #[test]
    fn sockaddr_bytes_decode() {
        let mut v4 = vec![0u8; 16];
        v4[..2].copy_from_slice(&ws::AF_INET.to_le_bytes());
        v4[2..4].copy_from_slice(&5353u16.to_be_bytes());
        v4[4..8].copy_from_slice(&[10, 0, 0, 1]);
        assert_eq!(parse_sockaddr(&v4), Some("10.0.0.1:5353".parse().unwrap()));
        let mut v6 = vec![0u8; 28];
        v6[..2].copy_from_slice(&ws::AF_INET6.to_le_bytes());
        v6[2..4].copy_from_slice(&5353u16.to_be_bytes());
        v6[8..24].copy_from_slice(&"fe80::1".parse::<Ipv6Addr>().unwrap().octets());
        v6[24..28].copy_from_slice(&4u32.to_le_bytes());
        assert_eq!(
            parse_sockaddr(&v6),
            Some("[fe80::1%4]:5353".parse().unwrap())
        );
        assert_eq!(parse_sockaddr(&[0u8; 3]), None);
    }
}
