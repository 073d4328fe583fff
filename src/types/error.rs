//! The crate's error type: every `kDNSServiceErr_*` code of Apple's current `dns_sd.h`, the
//! daemon-gone case, validation failures and local failures, in one `#[non_exhaustive]` enum.

use std::borrow::Cow;

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in `dnssd`.
///
/// Codes returned by the system's `dns_sd` library become the variant of the same name
/// ([`Error::from_code`]); [`Error::code`] gives the code back. The validation variants
/// (`Invalid*`) carry the rejected input and the rule it broke.
///
/// ```
/// use dnssd::Error;
///
/// let e = Error::from_code(-65548);
/// assert!(matches!(e, Error::NameConflict));
/// assert_eq!(e.code(), Some(-65548));
/// // Apple's "background daemon not running" has its own variant.
/// assert!(matches!(Error::from_code(-65563), Error::DaemonNotRunning));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- kDNSServiceErr_* codes, in the order of dns_sd.h ----
    /// `kDNSServiceErr_Unknown` (-65537). Avahi's compatibility library also reports a missing
    /// daemon this way; the system backend turns that case into [`Error::DaemonNotRunning`].
    #[error("unknown error from the DNS-SD daemon (kDNSServiceErr_Unknown, -65537)")]
    Unknown,
    /// `kDNSServiceErr_NoSuchName` (-65538).
    #[error("no such name (kDNSServiceErr_NoSuchName, -65538)")]
    NoSuchName,
    /// `kDNSServiceErr_NoMemory` (-65539).
    #[error("the DNS-SD library is out of memory (kDNSServiceErr_NoMemory, -65539)")]
    NoMemory,
    /// `kDNSServiceErr_BadParam` (-65540).
    #[error("bad parameter (kDNSServiceErr_BadParam, -65540)")]
    BadParam,
    /// `kDNSServiceErr_BadReference` (-65541).
    #[error("bad service reference (kDNSServiceErr_BadReference, -65541)")]
    BadReference,
    /// `kDNSServiceErr_BadState` (-65542).
    #[error("bad state (kDNSServiceErr_BadState, -65542)")]
    BadState,
    /// `kDNSServiceErr_BadFlags` (-65543).
    #[error("bad flags (kDNSServiceErr_BadFlags, -65543)")]
    BadFlags,
    /// `kDNSServiceErr_NotInitialized` (-65545).
    #[error("not initialized (kDNSServiceErr_NotInitialized, -65545)")]
    NotInitialized,
    /// `kDNSServiceErr_AlreadyRegistered` (-65547).
    #[error("already registered (kDNSServiceErr_AlreadyRegistered, -65547)")]
    AlreadyRegistered,
    /// `kDNSServiceErr_NameConflict` (-65548): the name is taken and renaming was not allowed.
    #[error("name conflict (kDNSServiceErr_NameConflict, -65548)")]
    NameConflict,
    /// `kDNSServiceErr_Invalid` (-65549).
    #[error("invalid (kDNSServiceErr_Invalid, -65549)")]
    Invalid,
    /// `kDNSServiceErr_Firewall` (-65550).
    #[error("blocked by a firewall (kDNSServiceErr_Firewall, -65550)")]
    Firewall,
    /// `kDNSServiceErr_Incompatible` (-65551): client library incompatible with the daemon.
    #[error("client library incompatible with the daemon (kDNSServiceErr_Incompatible, -65551)")]
    Incompatible,
    /// `kDNSServiceErr_BadInterfaceIndex` (-65552).
    #[error("bad interface index (kDNSServiceErr_BadInterfaceIndex, -65552)")]
    BadInterfaceIndex,
    /// `kDNSServiceErr_Refused` (-65553).
    #[error("refused (kDNSServiceErr_Refused, -65553)")]
    Refused,
    /// `kDNSServiceErr_NoSuchRecord` (-65554).
    #[error("no such record (kDNSServiceErr_NoSuchRecord, -65554)")]
    NoSuchRecord,
    /// `kDNSServiceErr_NoAuth` (-65555).
    #[error("not authorized (kDNSServiceErr_NoAuth, -65555)")]
    NoAuth,
    /// `kDNSServiceErr_NoSuchKey` (-65556).
    #[error("no such key (kDNSServiceErr_NoSuchKey, -65556)")]
    NoSuchKey,
    /// `kDNSServiceErr_NATTraversal` (-65557).
    #[error("NAT traversal failed (kDNSServiceErr_NATTraversal, -65557)")]
    NatTraversal,
    /// `kDNSServiceErr_DoubleNAT` (-65558).
    #[error("double NAT (kDNSServiceErr_DoubleNAT, -65558)")]
    DoubleNat,
    /// `kDNSServiceErr_BadTime` (-65559).
    #[error("bad time (kDNSServiceErr_BadTime, -65559)")]
    BadTime,
    /// `kDNSServiceErr_BadSig` (-65560).
    #[error("bad signature (kDNSServiceErr_BadSig, -65560)")]
    BadSig,
    /// `kDNSServiceErr_BadKey` (-65561).
    #[error("bad key (kDNSServiceErr_BadKey, -65561)")]
    BadKey,
    /// `kDNSServiceErr_Transient` (-65562).
    #[error("transient failure (kDNSServiceErr_Transient, -65562)")]
    Transient,
    /// `kDNSServiceErr_NATPortMappingUnsupported` (-65564).
    #[error(
        "NAT does not support PCP, NAT-PMP or UPnP (kDNSServiceErr_NATPortMappingUnsupported, -65564)"
    )]
    NatPortMappingUnsupported,
    /// `kDNSServiceErr_NATPortMappingDisabled` (-65565).
    #[error("NAT port mapping disabled (kDNSServiceErr_NATPortMappingDisabled, -65565)")]
    NatPortMappingDisabled,
    /// `kDNSServiceErr_NoRouter` (-65566): no router configured (probably no network).
    #[error("no router configured (kDNSServiceErr_NoRouter, -65566)")]
    NoRouter,
    /// `kDNSServiceErr_PollingMode` (-65567).
    #[error("polling mode (kDNSServiceErr_PollingMode, -65567)")]
    PollingMode,
    /// The operation timed out: `kDNSServiceErr_Timeout` (-65568) from the daemon, or a
    /// deadline of this crate.
    #[error("timed out")]
    Timeout,
    /// `kDNSServiceErr_DefunctConnection` (-65569): the connection to the daemon went defunct.
    #[error("connection to the daemon is defunct (kDNSServiceErr_DefunctConnection, -65569)")]
    DefunctConnection,
    /// `kDNSServiceErr_PolicyDenied` (-65570): denied by policy (e.g. local network privacy).
    #[error("denied by policy (kDNSServiceErr_PolicyDenied, -65570)")]
    PolicyDenied,
    /// `kDNSServiceErr_NotPermitted` (-65571).
    #[error("not permitted (kDNSServiceErr_NotPermitted, -65571)")]
    NotPermitted,
    /// A code this crate does not know (newer daemon, or a foreign library).
    #[error("unrecognised DNS-SD error code {0}")]
    UnknownCode(i32),

    // ---- this crate's own ----
    /// The system daemon (mDNSResponder, avahi-daemon) is not running or went away. Apple
    /// reports -65563; Avahi's compatibility library reports -65537 when the daemon is missing
    /// at creation or disappears under a live reference.
    #[error("the DNS-SD daemon is not running (or went away)")]
    DaemonNotRunning,
    /// The backend cannot do this: refused before calling it (for example any non-zero flag with
    /// Avahi's library; [`Capabilities`](crate::Capabilities) tells in advance), or the daemon
    /// answered `kDNSServiceErr_Unsupported` (-65544, the [`code`](Error::code) of this
    /// variant).
    #[error("{operation} is not supported by the {backend} backend")]
    Unsupported {
        /// What was asked for.
        operation: Cow<'static, str>,
        /// Which backend refused (`"avahi"`, `"bonjour"`, `"embedded"`...).
        backend: Cow<'static, str>,
    },
    /// A service type broke RFC 6763 §7.
    #[error("invalid service type {input:?}: {reason}")]
    InvalidServiceType {
        /// The rejected text.
        input: String,
        /// The rule it broke.
        reason: &'static str,
    },
    /// An instance name broke RFC 6763 §4.1.1.
    #[error("invalid instance name {input:?}: {reason}")]
    InvalidInstanceName {
        /// The rejected text.
        input: String,
        /// The rule it broke.
        reason: &'static str,
    },
    /// A TXT key or entry broke RFC 6763 §6.
    #[error("invalid TXT entry {key:?}: {reason}")]
    InvalidTxt {
        /// The key (lossily decoded) of the rejected entry.
        key: String,
        /// The rule it broke.
        reason: &'static str,
    },
    /// A host name is not a valid DNS name.
    #[error("invalid host name {input:?}: {reason}")]
    InvalidHostName {
        /// The rejected text.
        input: String,
        /// The rule it broke.
        reason: &'static str,
    },
    /// A domain is not a valid DNS name.
    #[error("invalid domain {input:?}: {reason}")]
    InvalidDomain {
        /// The rejected text.
        input: String,
        /// The rule it broke.
        reason: &'static str,
    },
    /// A full service instance name (`instance._type._proto.domain.`) could not be parsed.
    #[error("invalid full service name {input:?}: {reason}")]
    InvalidFullName {
        /// The rejected text.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The system `dns_sd` library could not be loaded or lacks a needed symbol.
    #[error("the DNS-SD library is unavailable: {0}")]
    LibraryUnavailable(String),
    /// A TSIG key (wide-area DNS UPDATE) could not be read or parsed. The message never
    /// contains the secret.
    #[error("invalid TSIG key: {reason}")]
    InvalidKey {
        /// What is wrong (file, format, algorithm).
        reason: String,
    },
    /// A wide-area registration was asked for without a TSIG key, and unsigned updates were
    /// not allowed (`WideAreaConfig::allow_unsigned_updates`).
    #[error("a DNS UPDATE needs a TSIG key, and none is configured")]
    NoKey,
    /// A unicast DNS server answered with an error RCODE this crate has no variant for
    /// (NOTAUTH, REFUSED, YXDOMAIN and the TSIG errors map to `NoAuth`, `Refused`,
    /// `NameConflict`, `BadSig`, `BadKey`, `BadTime`).
    #[error("the DNS server answered RCODE {rcode}")]
    DnsServer {
        /// The (extended) RCODE, e.g. 2 (SERVFAIL), 4 (NOTIMP), 8 (NXRRSET).
        rcode: u16,
    },
    /// `DNSSD_BACKEND` (or a name given to the CLI) names no backend.
    #[error("unknown backend name {value:?}: expected auto, system, avahi, dns-sd or embedded")]
    InvalidBackendName {
        /// The name as given.
        value: String,
    },
    /// Another mDNS responder owns this host and no backend of this crate talks to it, so
    /// `auto` refuses to start a second responder beside it (it would fight the host's
    /// responder over names). Force the embedded engine to run beside it anyway
    /// (`DNSSD_BACKEND=embedded` or `BackendKind::Embedded`): it then takes a host name of
    /// its own and claims nothing of the host's.
    #[error(
        "another mDNS responder runs on this host ({responder}) and no backend talks to it; \
         set DNSSD_BACKEND=embedded (or BackendKind::Embedded) to run the embedded engine \
         beside it under a host name of its own"
    )]
    ResponderPresent {
        /// What was found (e.g. `systemd-resolved`, `a process bound to UDP 5353`).
        responder: String,
    },
    /// The consumer of a stream fell behind: the stream holds at most
    /// [`EVENT_BUFFER`](crate::EVENT_BUFFER) events, and `missed` newer events were dropped
    /// because it was full. The stream goes on after this item (it is not an end): a browse
    /// that lagged may have missed an `Up` or a `Removed`, so a program that keeps a table
    /// should rebuild it (drop the stream and browse again, or reconfirm what it holds).
    #[error("the consumer fell behind and {missed} events were dropped (the stream goes on)")]
    Lagged {
        /// How many events were dropped since the previous item.
        missed: u64,
    },
    /// An I/O error (sockets, the daemon's file descriptor).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The error for a `DNSServiceErrorType` code (`kDNSServiceErr_*`).
    ///
    /// -65563 (`ServiceNotRunning`) becomes [`Error::DaemonNotRunning`]; -65568 becomes
    /// [`Error::Timeout`]; a code not in Apple's header becomes [`Error::UnknownCode`]. Callers
    /// check for 0 (`kDNSServiceErr_NoError`) before calling this; `from_code(0)` gives
    /// `UnknownCode(0)`.
    ///
    /// ```
    /// # use dnssd::Error;
    /// assert!(matches!(Error::from_code(-65540), Error::BadParam));
    /// assert!(matches!(Error::from_code(-1), Error::UnknownCode(-1)));
    /// ```
    pub fn from_code(code: i32) -> Error {
        match code {
            -65537 => Error::Unknown,
            -65538 => Error::NoSuchName,
            -65539 => Error::NoMemory,
            -65540 => Error::BadParam,
            -65541 => Error::BadReference,
            -65542 => Error::BadState,
            -65543 => Error::BadFlags,
            -65544 => Error::Unsupported {
                operation: Cow::Borrowed("this call (kDNSServiceErr_Unsupported)"),
                backend: Cow::Borrowed("dns-sd"),
            },
            -65545 => Error::NotInitialized,
            -65547 => Error::AlreadyRegistered,
            -65548 => Error::NameConflict,
            -65549 => Error::Invalid,
            -65550 => Error::Firewall,
            -65551 => Error::Incompatible,
            -65552 => Error::BadInterfaceIndex,
            -65553 => Error::Refused,
            -65554 => Error::NoSuchRecord,
            -65555 => Error::NoAuth,
            -65556 => Error::NoSuchKey,
            -65557 => Error::NatTraversal,
            -65558 => Error::DoubleNat,
            -65559 => Error::BadTime,
            -65560 => Error::BadSig,
            -65561 => Error::BadKey,
            -65562 => Error::Transient,
            -65563 => Error::DaemonNotRunning,
            -65564 => Error::NatPortMappingUnsupported,
            -65565 => Error::NatPortMappingDisabled,
            -65566 => Error::NoRouter,
            -65567 => Error::PollingMode,
            -65568 => Error::Timeout,
            -65569 => Error::DefunctConnection,
            -65570 => Error::PolicyDenied,
            -65571 => Error::NotPermitted,
            other => Error::UnknownCode(other),
        }
    }

    /// The `kDNSServiceErr_*` code this error stands for, if it stands for one.
    ///
    /// [`Error::DaemonNotRunning`] gives -65563 (`kDNSServiceErr_ServiceNotRunning`); validation and
    /// local errors give `None`.
    pub fn code(&self) -> Option<i32> {
        let code = match self {
            Error::Unknown => -65537,
            Error::NoSuchName => -65538,
            Error::NoMemory => -65539,
            Error::BadParam => -65540,
            Error::BadReference => -65541,
            Error::BadState => -65542,
            Error::BadFlags => -65543,
            Error::Unsupported { .. } => -65544,
            Error::NotInitialized => -65545,
            Error::AlreadyRegistered => -65547,
            Error::NameConflict => -65548,
            Error::Invalid => -65549,
            Error::Firewall => -65550,
            Error::Incompatible => -65551,
            Error::BadInterfaceIndex => -65552,
            Error::Refused => -65553,
            Error::NoSuchRecord => -65554,
            Error::NoAuth => -65555,
            Error::NoSuchKey => -65556,
            Error::NatTraversal => -65557,
            Error::DoubleNat => -65558,
            Error::BadTime => -65559,
            Error::BadSig => -65560,
            Error::BadKey => -65561,
            Error::Transient => -65562,
            Error::DaemonNotRunning => -65563,
            Error::NatPortMappingUnsupported => -65564,
            Error::NatPortMappingDisabled => -65565,
            Error::NoRouter => -65566,
            Error::PollingMode => -65567,
            Error::Timeout => -65568,
            Error::DefunctConnection => -65569,
            Error::PolicyDenied => -65570,
            Error::NotPermitted => -65571,
            Error::UnknownCode(c) => *c,
            Error::InvalidServiceType { .. }
            | Error::InvalidInstanceName { .. }
            | Error::InvalidTxt { .. }
            | Error::InvalidHostName { .. }
            | Error::InvalidDomain { .. }
            | Error::InvalidFullName { .. }
            | Error::LibraryUnavailable(_)
            | Error::InvalidKey { .. }
            | Error::NoKey
            | Error::DnsServer { .. }
            | Error::InvalidBackendName { .. }
            | Error::ResponderPresent { .. }
            | Error::Lagged { .. }
            | Error::Io(_) => return None,
        };
        Some(code)
    }

    /// True when the daemon is missing or its connection died: [`Error::DaemonNotRunning`],
    /// or [`Error::DefunctConnection`].
    pub fn is_daemon_gone(&self) -> bool {
        matches!(self, Error::DaemonNotRunning | Error::DefunctConnection)
    }

    /// Shorthand for [`Error::Unsupported`].
    pub fn unsupported(
        operation: impl Into<Cow<'static, str>>,
        backend: impl Into<Cow<'static, str>>,
    ) -> Error {
        Error::Unsupported {
            operation: operation.into(),
            backend: backend.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_apple_code_round_trips() {
        // -65546 is unassigned in dns_sd.h; everything else from -65537 to -65571 is a code.
        let mut mapped = 0;
        for code in -65571..=-65537 {
            let e = Error::from_code(code);
            if code == -65546 {
                assert!(matches!(e, Error::UnknownCode(-65546)));
            } else {
                assert!(!matches!(e, Error::UnknownCode(_)), "{code} unmapped");
                mapped += 1;
            }
            assert_eq!(e.code(), Some(code), "{e}");
        }
        assert_eq!(mapped, 34);
    }

    #[test]
    fn named_codes_from_the_header() {
        assert!(matches!(Error::from_code(-65537), Error::Unknown));
        assert!(matches!(
            Error::from_code(-65544),
            Error::Unsupported { .. }
        ));
        assert!(matches!(Error::from_code(-65548), Error::NameConflict));
        assert!(matches!(Error::from_code(-65559), Error::BadTime));
        assert!(matches!(Error::from_code(-65563), Error::DaemonNotRunning));
        assert!(matches!(Error::from_code(-65568), Error::Timeout));
        assert!(matches!(Error::from_code(-65569), Error::DefunctConnection));
        assert!(matches!(Error::from_code(0), Error::UnknownCode(0)));
        assert!(matches!(
            Error::from_code(i32::MIN),
            Error::UnknownCode(i32::MIN)
        ));
    }

    #[test]
    fn daemon_gone() {
        assert!(Error::DaemonNotRunning.is_daemon_gone());
        assert!(Error::DefunctConnection.is_daemon_gone());
        assert!(!Error::Unknown.is_daemon_gone());
        assert_eq!(Error::DaemonNotRunning.code(), Some(-65563));
    }

    #[test]
    fn local_errors_have_no_code() {
        // Refusals before a call carry the code the library would have answered.
        assert_eq!(Error::unsupported("flags", "avahi").code(), Some(-65544));
        assert_eq!(Error::LibraryUnavailable("x".into()).code(), None);
        assert_eq!(Error::from(std::io::Error::other("x")).code(), None);
    }

    #[test]
    fn messages_name_the_problem() {
        let e = Error::unsupported("kDNSServiceFlagsShareConnection", "avahi");
        assert_eq!(
            e.to_string(),
            "kDNSServiceFlagsShareConnection is not supported by the avahi backend"
        );
        let e = Error::InvalidServiceType {
            input: "http".into(),
            reason: "must start with '_'",
        };
        assert_eq!(
            e.to_string(),
            "invalid service type \"http\": must start with '_'"
        );
        assert!(Error::from_code(-65548).to_string().contains("-65548"));
    }
}
