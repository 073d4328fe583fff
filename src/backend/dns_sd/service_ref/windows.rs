//! The Windows half of [`ServiceRef`]: readiness through the poller thread
//! ([`poller_windows`](super::super::poller_windows)) instead of tokio's `AsyncFd`, Winsock's
//! `SOCKADDR_IN6`, and no Avahi work-around (Avahi's library does not exist there).

use std::ffi::c_void;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ptr;
use std::sync::Arc;

use windows_sys::Win32::Networking::WinSock as ws;

use super::{AvahiSlot, ServiceRef};
use crate::backend::dns_sd::poller_windows::{AsyncFd, PollSocket, readable_now};

impl PollSocket for ServiceRef {
    fn poll_socket(&self) -> ws::SOCKET {
        // `fd` is non-negative (checked at creation): the low 32 bits of the SOCKET the
        // library holds, which is the whole handle value in practice (see
        // `dnssd_sys::apple::dnssd_sock_t`).
        usize::try_from(self.fd).unwrap_or(ws::INVALID_SOCKET)
    }
}

impl ServiceRef {
    /// Whether the ref's socket has data now (zero-timeout `WSAPoll`); checked before every
    /// `DNSServiceProcessResult`, which blocks when nothing is pending.
    pub(crate) fn has_pending(&self) -> bool {
        readable_now(self.poll_socket())
    }

    /// Hand the ref to the poller thread (see `poller_windows`). The ref is shared so a
    /// blocking-pool thread can process it while the poller watches its socket. On failure the
    /// ref comes back with the error.
    pub(crate) fn into_async_fd(
        self,
    ) -> Result<AsyncFd<Arc<ServiceRef>>, (Arc<ServiceRef>, io::Error)> {
        AsyncFd::new(Arc::new(self))
    }

    /// Avahi's library does not exist on Windows: nothing to work around.
    pub(super) fn clear_avahi_stale_callbacks(&self, _own: AvahiSlot, _trampoline: *const c_void) {}
}

/// # Safety
/// `address` is null or points to a `SOCKADDR` whose `sa_family` tells its real size.
pub(super) unsafe fn sockaddr_to_ip(address: *const ws::SOCKADDR) -> Option<(IpAddr, u32)> {
    if address.is_null() {
        return None;
    }
    // SAFETY: non-null; every sockaddr starts with its family.
    let family = unsafe { (*address).sa_family };
    if family == ws::AF_INET {
        // SAFETY: the family says this is a SOCKADDR_IN; read unaligned to be safe.
        let sin = unsafe { ptr::read_unaligned(address.cast::<ws::SOCKADDR_IN>()) };
        // SAFETY: every variant of the IN_ADDR union is the same four bytes.
        let octets = unsafe { sin.sin_addr.S_un.S_un_b };
        Some((
            IpAddr::V4(Ipv4Addr::new(
                octets.s_b1,
                octets.s_b2,
                octets.s_b3,
                octets.s_b4,
            )),
            0,
        ))
    } else if family == ws::AF_INET6 {
        // SAFETY: the family says this is a SOCKADDR_IN6; read unaligned to be safe.
        let sin6 = unsafe { ptr::read_unaligned(address.cast::<ws::SOCKADDR_IN6>()) };
        // SAFETY: both union variants are plain integers/bytes over the same memory.
        let (bytes, scope_id) = unsafe { (sin6.sin6_addr.u.Byte, sin6.Anonymous.sin6_scope_id) };
        Some((IpAddr::V6(Ipv6Addr::from(bytes)), scope_id))
    } else {
        None
    }
}
