//! Does the system daemon answer? Backend choice ([`BackendKind::Auto`]) asks before it binds
//! port 5353 itself.
//!
//! The probe creates the cheapest reference the library offers and deallocates it at once:
//! `DNSServiceCreateConnection` where it exists (Apple), else a `DNSServiceBrowse` for a type
//! nobody registers (Avahi's compatibility library has no real `DNSServiceCreateConnection`).
//! Without a daemon Avahi's library answers `kDNSServiceErr_Unknown` within ~2 ms and Apple's
//! `kDNSServiceErr_ServiceNotRunning` at once. Creating a reference can block (Apple's client
//! waits up to 60 s for a hung daemon), so the probe runs on a thread of its own and the caller
//! waits at most a short timeout; a probe still running then is left to finish on its own.
//!
//! [`BackendKind::Auto`]: crate::BackendKind::Auto

use std::sync::mpsc;
use std::time::Duration;

use super::op::{Flavor, code_error};
use super::service_ref::{CreateError, ServiceRef};
use crate::types::error::{Error, Result};

/// A service type nobody registers: browsing it only asks the daemon to start a browser.
const PROBE_TYPE: &str = "_dnssd-probe._tcp";

/// What the probe learned about the system daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DaemonProbe {
    /// The daemon accepted a reference: it runs and owns mDNS on this host.
    Answered,
    /// The library reports that no daemon runs.
    NotRunning,
    /// No answer within the timeout: something is there but hangs.
    NoAnswer,
}

/// Loads `libdns_sd` (once per process) and asks whether its daemon answers, waiting at most
/// `timeout`. Fails with [`Error::LibraryUnavailable`] when the library does not load.
pub(crate) fn probe_daemon(timeout: Duration) -> Result<DaemonProbe> {
    super::nowarn::ensure_linked();
    let api = dnssd_sys::Api::get().map_err(|e| Error::LibraryUnavailable(e.to_string()))?;
    let flavor = if api.DNSServiceGetAddrInfo.is_some() {
        Flavor::Apple
    } else {
        Flavor::Avahi
    };
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("dnssd-daemon-probe".to_owned())
        .spawn(move || {
            let created = match flavor {
                Flavor::Apple if api.DNSServiceCreateConnection.is_some() => {
                    ServiceRef::connection(api)
                }
                _ => ServiceRef::browse(api, 0, PROBE_TYPE, None),
            };
            // Deallocated here, on this thread, before the answer is sent: nothing the probe
            // made outlives it.
            let answer = outcome(created.map(drop), flavor);
            let _ = tx.send(answer);
        });
    if spawned.is_err() {
        return Ok(DaemonProbe::NoAnswer);
    }
    Ok(rx.recv_timeout(timeout).unwrap_or(DaemonProbe::NoAnswer))
}

/// What a reference creation says about the daemon. Any refusal other than "not running"
/// (e.g. Avahi's D-Bus connection limit) still comes from a live daemon.
/// [`probe_daemon`] on tokio's blocking pool, so an async caller never blocks a worker.
pub(crate) async fn probe_daemon_async(timeout: Duration) -> Result<DaemonProbe> {
    tokio::task::spawn_blocking(move || probe_daemon(timeout))
        .await
        .unwrap_or(Ok(DaemonProbe::NoAnswer))
}

fn outcome(created: std::result::Result<(), CreateError>, flavor: Flavor) -> DaemonProbe {
    match created {
        Ok(()) => DaemonProbe::Answered,
        Err(CreateError::Code(code)) => match code_error(code, flavor) {
            Error::DaemonNotRunning => DaemonProbe::NotRunning,
            _ => DaemonProbe::Answered,
        },
        // A library without the calls we need is as good as no daemon.
        Err(CreateError::Missing(_) | CreateError::Nul) => DaemonProbe::NotRunning,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_say_whether_the_daemon_runs() {
        assert_eq!(outcome(Ok(()), Flavor::Avahi), DaemonProbe::Answered);
        // Avahi without a daemon: kDNSServiceErr_Unknown.
        assert_eq!(
            outcome(Err(CreateError::Code(-65537)), Flavor::Avahi),
            DaemonProbe::NotRunning
        );
        // Apple without a daemon: ServiceNotRunning.
        assert_eq!(
            outcome(Err(CreateError::Code(-65563)), Flavor::Apple),
            DaemonProbe::NotRunning
        );
        // Refused (too many D-Bus connections): the daemon is there.
        assert_eq!(
            outcome(Err(CreateError::Code(-65553)), Flavor::Avahi),
            DaemonProbe::Answered
        );
        assert_eq!(
            outcome(Err(CreateError::Missing("DNSServiceBrowse")), Flavor::Avahi),
            DaemonProbe::NotRunning
        );
    }
}
