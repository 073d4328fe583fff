//! Embedded backend: a tokio driver for the sans-IO `dnssd-engine`, with the sockets and the
//! interface watcher it needs. See `docs/DESIGN.md` ("Backend contract").
//!
//! - [`socket`]: the two port-5353 sockets (per-datagram interface and destination, per-interface
//!   sends, echo recognition).
//! - [`interfaces`]: listing, selecting and following network interfaces.

#[cfg(target_os = "linux")]
pub mod interfaces;
#[cfg(target_os = "linux")]
pub mod socket;
