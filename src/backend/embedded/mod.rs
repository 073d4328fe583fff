//! Embedded backend: the crate's own mDNS responder and querier, for machines without a
//! system daemon. A tokio driver (`driver`) moves bytes and time between the sans-IO
//! `dnssd-engine` and the network ([`socket`], [`interfaces`]); this module translates the
//! public API's types to engine commands and engine events to the API's streams. See
//! `docs/DESIGN.md` ("Backend contract").
//!
//! # Lifetime
//! [`start`] binds port 5353 (shared, see [`socket`]) and spawns the driver
//! on the current tokio runtime. Every live registration and stream holds a handle on the
//! driver; when the last one (and the backend) is dropped, the driver deregisters what is
//! left, sends the engine's goodbyes, and stops. Dropping cannot wait for that:
//! `ServiceDiscovery::shutdown` does, and a program about to
//! exit should call it. If the runtime is dropped first, the driver task is dropped with it;
//! its `Drop` then sends the goodbyes synchronously as a last resort (unpaced, best effort).
//!
//! Linux (netlink for interface changes, `IP_PKTINFO`) and Windows (`GetAdaptersAddresses`,
//! `WSARecvMsg`); elsewhere [`start`] returns [`Error::Unsupported`](crate::Error::Unsupported).

#[cfg(any(target_os = "linux", windows))]
mod driver;
#[cfg(any(target_os = "linux", windows))]
pub(crate) mod interfaces;
#[cfg(any(target_os = "linux", windows))]
pub(crate) mod socket;

#[cfg(any(target_os = "linux", windows))]
mod operations;
#[cfg(any(target_os = "linux", windows))]
pub use driver::EmbeddedConfig;
#[cfg(any(target_os = "linux", windows))]
pub(crate) use operations::start;

#[cfg(not(any(target_os = "linux", windows)))]
mod unsupported;
#[cfg(not(any(target_os = "linux", windows)))]
pub use unsupported::EmbeddedConfig;
#[cfg(not(any(target_os = "linux", windows)))]
pub(crate) use unsupported::start;

/// Name of this backend in errors and capability reports.
pub(crate) const BACKEND_NAME: &str = "embedded";

#[cfg(any(target_os = "linux", windows))]
use crate::backend::Capabilities;

/// What the embedded backend can do.
#[cfg(any(target_os = "linux", windows))]
pub(crate) fn capabilities() -> Capabilities {
    Capabilities {
        // Host lookups are native A/AAAA queries answered with real addresses and scopes.
        get_addr_info: true,
        extra_records: false,
        local_only: false,
        flags: false,
        max_browse_subtypes: Some(1),
        nat_port_mapping: false,
        record_ttl: true,
        reconfirm: true,
        txt_update: true,
        query_any: true,
    }
}
