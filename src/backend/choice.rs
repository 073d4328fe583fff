//! Which backend serves a handle: the name the caller asked for (builder, then
//! `DNSSD_BACKEND`), and for `auto`/`system` what runs on this host.
//!
//! The order, on Linux: avahi-daemon over D-Bus when `org.freedesktop.Avahi` has an owner on
//! the system bus; else Avahi's or Apple's `libdns_sd` when its daemon answers; else, when
//! another mDNS responder owns this host (systemd-resolved, a process bound to UDP 5353), a
//! typed error that names it (never a second responder beside it, unless the caller forces
//! `embedded`); else the embedded engine. macOS: always the system daemon. Windows: Bonjour
//! when its service answers, else the embedded engine.

use std::time::Duration;

use crate::backend::BackendKind;
use crate::backend::dns_sd::DaemonProbe;
use crate::types::error::{Error, Result};

/// Environment variable that overrides [`BackendKind::Auto`].
pub(crate) const BACKEND_ENV: &str = "DNSSD_BACKEND";

/// How long the choice waits for a daemon to answer its probe. A running or absent daemon
/// answers within milliseconds; only a hung one makes the probe wait.
pub(crate) const DAEMON_PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The kind asked for: `requested` unless it is `Auto`, then `DNSSD_BACKEND` if set (an
/// unknown name there is an error, not a silent `auto`).
pub(crate) fn requested_kind(requested: BackendKind) -> Result<BackendKind> {
    if requested != BackendKind::Auto {
        return Ok(requested);
    }
    match std::env::var(BACKEND_ENV) {
        Ok(value) => value.parse(),
        Err(std::env::VarError::NotPresent) => Ok(BackendKind::Auto),
        Err(std::env::VarError::NotUnicode(value)) => Err(Error::InvalidBackendName {
            value: value.to_string_lossy().into_owned(),
        }),
    }
}

/// What the host offers, asked lazily: each question is asked only when the answers before it
/// did not decide.
pub(crate) struct HostProbes<A, D, R> {
    /// `org.freedesktop.Avahi` has an owner on the system bus (and this build can talk to it).
    pub(crate) avahi_dbus: A,
    /// The answer of the `libdns_sd` daemon probe (`None`: no library).
    pub(crate) dns_sd: D,
    /// Another responder that owns mDNS on this host, by name, if any.
    pub(crate) other_responder: R,
}

/// The platform facts that decide without asking: `always_system` (macOS: Bonjour owns the
/// port), `embedded_available` (the embedded engine runs on this OS).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Platform {
    pub(crate) always_system: bool,
    pub(crate) embedded_available: bool,
}

impl Platform {
    /// This build's platform.
    pub(crate) const CURRENT: Platform = Platform {
        always_system: cfg!(target_os = "macos"),
        embedded_available: cfg!(any(target_os = "linux", windows)),
    };
}

/// The concrete backend (never `Auto` or `System`) for `requested`.
pub(crate) async fn choose<A, D, R>(
    requested: BackendKind,
    platform: Platform,
    probes: HostProbes<A, D, R>,
) -> Result<BackendKind>
where
    A: AsyncFnOnce() -> bool,
    D: AsyncFnOnce() -> Option<DaemonProbe>,
    R: FnOnce() -> Option<String>,
{
    let chosen = choose_quietly(requested, platform, probes).await;
    match &chosen {
        Ok(kind) => tracing::debug!(requested = %requested, chosen = %kind, "dnssd backend chosen"),
        Err(e) => tracing::warn!(requested = %requested, error = %e, "no dnssd backend"),
    }
    chosen
}

async fn choose_quietly<A, D, R>(
    requested: BackendKind,
    platform: Platform,
    probes: HostProbes<A, D, R>,
) -> Result<BackendKind>
where
    A: AsyncFnOnce() -> bool,
    D: AsyncFnOnce() -> Option<DaemonProbe>,
    R: FnOnce() -> Option<String>,
{
    match requested {
        BackendKind::Avahi | BackendKind::DnsSd | BackendKind::Embedded => return Ok(requested),
        BackendKind::System | BackendKind::Auto => {}
    }
    if platform.always_system {
        return Ok(BackendKind::DnsSd);
    }
    let avahi = (probes.avahi_dbus)().await;
    tracing::debug!(avahi_dbus = avahi, "asked the system bus for avahi-daemon");
    if avahi {
        return Ok(BackendKind::Avahi);
    }
    if requested == BackendKind::System || !platform.embedded_available {
        return Ok(BackendKind::DnsSd);
    }
    let dns_sd = (probes.dns_sd)().await;
    tracing::debug!(answer = ?dns_sd, "probed the libdns_sd daemon");
    match dns_sd {
        // A hung daemon still owns the host: never bind 5353 next to it.
        Some(DaemonProbe::Answered | DaemonProbe::NoAnswer) => return Ok(BackendKind::DnsSd),
        Some(DaemonProbe::NotRunning) | None => {}
    }
    match (probes.other_responder)() {
        Some(responder) => Err(Error::ResponderPresent { responder }),
        None => Ok(BackendKind::Embedded),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .map(|rt| rt.block_on(future))
            .unwrap_or_else(|e| panic!("runtime: {e}"))
    }

    const LINUX: Platform = Platform {
        always_system: false,
        embedded_available: true,
    };

    fn linux(
        avahi: bool,
        dns_sd: Option<DaemonProbe>,
        other: Option<&'static str>,
    ) -> Result<BackendKind> {
        run(choose(
            BackendKind::Auto,
            LINUX,
            HostProbes {
                avahi_dbus: async || avahi,
                dns_sd: async || dns_sd,
                other_responder: || other.map(str::to_owned),
            },
        ))
    }

    #[test]
    fn auto_prefers_avahi_over_dbus_then_the_library_then_the_engine() {
        assert_eq!(linux(true, None, None).ok(), Some(BackendKind::Avahi));
        assert_eq!(
            linux(false, Some(DaemonProbe::Answered), None).ok(),
            Some(BackendKind::DnsSd)
        );
        // A hung daemon still owns the host.
        assert_eq!(
            linux(false, Some(DaemonProbe::NoAnswer), None).ok(),
            Some(BackendKind::DnsSd)
        );
        assert_eq!(
            linux(false, Some(DaemonProbe::NotRunning), None).ok(),
            Some(BackendKind::Embedded)
        );
        assert_eq!(linux(false, None, None).ok(), Some(BackendKind::Embedded));
    }

    #[test]
    fn auto_refuses_to_start_beside_another_responder() {
        match linux(false, None, Some("systemd-resolved")) {
            Err(Error::ResponderPresent { responder }) => assert_eq!(responder, "systemd-resolved"),
            other => panic!("expected ResponderPresent, got {other:?}"),
        }
    }

    #[test]
    fn forced_kinds_are_taken_as_asked() {
        for kind in [
            BackendKind::Avahi,
            BackendKind::DnsSd,
            BackendKind::Embedded,
        ] {
            let chosen = run(choose(
                kind,
                LINUX,
                HostProbes {
                    avahi_dbus: async || panic!("no probe needed"),
                    dns_sd: async || panic!("no probe needed"),
                    other_responder: || panic!("no probe needed"),
                },
            ));
            assert_eq!(chosen.ok(), Some(kind));
        }
    }

    #[test]
    fn macos_always_uses_the_daemon() {
        let macos = Platform {
            always_system: true,
            embedded_available: true,
        };
        let chosen = run(choose(
            BackendKind::Auto,
            macos,
            HostProbes {
                avahi_dbus: async || panic!("no probe needed"),
                dns_sd: async || panic!("no probe needed"),
                other_responder: || panic!("no probe needed"),
            },
        ));
        assert_eq!(chosen.ok(), Some(BackendKind::DnsSd));
    }

    #[test]
    fn system_never_falls_back_to_the_engine() {
        let chosen = run(choose(
            BackendKind::System,
            LINUX,
            HostProbes {
                avahi_dbus: async || false,
                dns_sd: async || panic!("no probe needed"),
                other_responder: || panic!("no probe needed"),
            },
        ));
        assert_eq!(chosen.ok(), Some(BackendKind::DnsSd));
    }
}
