//! Windows interface listing (`GetAdaptersAddresses`) and change detection.
//!
//! # Why listing again instead of `NotifyIpInterfaceChange`
//! `NotifyIpInterfaceChange` / `NotifyUnicastIpAddressChange` call back on a system thread
//! with a raw context pointer, which needs a registration whose lifetime outlives every
//! callback (`CancelMibChangeNotify2` waits for running callbacks). Wine, where this code is
//! tested, does not deliver those notifications, so such code could not be checked here.
//! A listing costs one `GetAdaptersAddresses` call (well under a millisecond on a machine with
//! a few adapters); the watcher lists every [`RELIST_INTERVAL`] and reports a change only when
//! the list differs. The driver already treats a report as "list again and compare", so a
//! notification-driven watcher can replace this one without touching the driver.
//!
//! # Flags
//! `up` and `running` both follow `OperStatus == IfOperStatusUp`; `multicast` is the absence of
//! `IP_ADAPTER_NO_MULTICAST`; `loopback` is `IF_TYPE_SOFTWARE_LOOPBACK`; `point_to_point` is
//! `IF_TYPE_PPP` or `IF_TYPE_TUNNEL`. The name is the adapter's friendly name ("Ethernet";
//! Wine reports the Linux name).

use std::io;
use std::ptr;
use std::time::Duration;

use windows_sys::Win32::Foundation::{ERROR_BUFFER_OVERFLOW, ERROR_SUCCESS};
use windows_sys::Win32::NetworkManagement::IpHelper as ip;
use windows_sys::Win32::NetworkManagement::Ndis::IfOperStatusUp;
use windows_sys::Win32::Networking::WinSock::AF_UNSPEC;

use super::{InterfaceAddress, LinkFlags, NetworkInterface};
use crate::backend::embedded::socket::windows::parse_sockaddr;

/// How often [`InterfaceWatcher`] lists the interfaces again.
pub const RELIST_INTERVAL: Duration = Duration::from_secs(2);

/// Lists the host's interfaces (all of them, usable or not), sorted by index.
pub fn list_interfaces() -> io::Result<Vec<NetworkInterface>> {
    let flags =
        ip::GAA_FLAG_SKIP_ANYCAST | ip::GAA_FLAG_SKIP_MULTICAST | ip::GAA_FLAG_SKIP_DNS_SERVER;
    // u64 elements: the adapter records need 8-byte alignment.
    let mut buf: Vec<u64> = vec![0; 2048];
    let mut attempts = 0;
    loop {
        let mut size = u32::try_from(buf.len() * 8).unwrap_or(u32::MAX);
        // SAFETY: `buf` is writable for `size` bytes and 8-byte aligned, as the records need;
        // `size` is updated with the size needed when it is too small.
        let rc = unsafe {
            ip::GetAdaptersAddresses(
                u32::from(AF_UNSPEC),
                flags,
                ptr::null(),
                buf.as_mut_ptr().cast(),
                &mut size,
            )
        };
        if rc == ERROR_SUCCESS {
            break;
        }
        attempts += 1;
        if rc != ERROR_BUFFER_OVERFLOW || attempts > 4 {
            return Err(io::Error::from_raw_os_error(rc as i32));
        }
        buf.resize((size as usize).div_ceil(8) + 64, 0);
    }
    let mut list = Vec::new();
    let mut adapter = buf.as_ptr().cast::<ip::IP_ADAPTER_ADDRESSES_LH>();
    while !adapter.is_null() {
        // SAFETY: `adapter` is the first record of the list GetAdaptersAddresses wrote into
        // `buf`, or a `Next` pointer of one of its records; they all point into `buf`, which
        // is alive and not written while this loop reads.
        let a = unsafe { &*adapter };
        list.push(adapter_to_interface(a));
        adapter = a.Next.cast_const();
    }
    list.sort_by_key(|i| i.index);
    Ok(list)
}

fn adapter_to_interface(a: &ip::IP_ADAPTER_ADDRESSES_LH) -> NetworkInterface {
    // SAFETY: both union variants are plain integers over the same bytes; reading either
    // is valid for any bit pattern.
    let (if_index, adapter_flags) = unsafe { (a.Anonymous1.Anonymous.IfIndex, a.Anonymous2.Flags) };
    let index = if if_index != 0 {
        if_index
    } else {
        a.Ipv6IfIndex
    };
    // SAFETY: FriendlyName is null or a NUL-terminated UTF-16 string inside the buffer.
    let name = unsafe { wide_to_string(a.FriendlyName) };
    let flags = LinkFlags {
        up: a.OperStatus == IfOperStatusUp,
        running: a.OperStatus == IfOperStatusUp,
        multicast: adapter_flags & ip::IP_ADAPTER_NO_MULTICAST == 0,
        loopback: a.IfType == ip::IF_TYPE_SOFTWARE_LOOPBACK,
        point_to_point: a.IfType == ip::IF_TYPE_PPP || a.IfType == ip::IF_TYPE_TUNNEL,
    };
    let mut addresses = Vec::new();
    let mut unicast = a.FirstUnicastAddress.cast_const();
    while !unicast.is_null() {
        // SAFETY: a record of the unicast list inside the same buffer (see list_interfaces).
        let u = unsafe { &*unicast };
        let len = usize::try_from(u.Address.iSockaddrLength).unwrap_or(0);
        if !u.Address.lpSockaddr.is_null() && len > 0 {
            // SAFETY: lpSockaddr points to a sockaddr of iSockaddrLength bytes inside the
            // buffer.
            let bytes =
                unsafe { std::slice::from_raw_parts(u.Address.lpSockaddr.cast::<u8>(), len) };
            if let Some(sa) = parse_sockaddr(bytes) {
                let address = InterfaceAddress {
                    addr: sa.ip(),
                    prefix_len: u.OnLinkPrefixLength,
                };
                if !addresses.contains(&address) {
                    addresses.push(address);
                }
            }
        }
        unicast = u.Next.cast_const();
    }
    NetworkInterface {
        index,
        name,
        flags,
        addresses,
    }
}

/// # Safety
/// `p` is null or points to a NUL-terminated UTF-16 string.
unsafe fn wide_to_string(p: *const u16) -> String {
    if p.is_null() {
        return String::new();
    }
    let mut len = 0;
    // SAFETY: the string is NUL-terminated, so every index up to the NUL is in bounds.
    while unsafe { *p.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: `len` u16s before the NUL are readable.
    String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(p, len) })
}

/// Wakes when the interface list changed (listed again every [`RELIST_INTERVAL`]).
#[derive(Debug)]
pub struct InterfaceWatcher {
    last: Vec<NetworkInterface>,
}

impl InterfaceWatcher {
    /// Remembers the current list. Must be called inside a tokio runtime (as on Linux).
    pub fn new() -> io::Result<InterfaceWatcher> {
        Ok(InterfaceWatcher {
            last: list_interfaces()?,
        })
    }

    /// Waits until a listing differs from the previous one. The caller lists the interfaces
    /// again.
    pub async fn changed(&mut self) -> io::Result<()> {
        loop {
            tokio::time::sleep(RELIST_INTERVAL).await;
            let now = list_interfaces()?;
            if now != self.last {
                self.last = now;
                return Ok(());
            }
        }
    }
}
