//! Wide-area DNS-SD (RFC 6763 s10-11) over unicast DNS: the same PTR/SRV/TXT records as mDNS,
//! in an ordinary zone, found with ordinary queries and published with DNS UPDATE (RFC 2136)
//! signed with TSIG (RFC 8945, HMAC-SHA256).
//!
//! Every operation whose domain is not `local.` goes here, whatever the local backend is
//! (system daemon or embedded engine): browse, resolve, record queries, host lookups and
//! type enumeration ask the resolvers of `/etc/resolv.conf` (or
//! [`WideAreaConfig::server`]); registrations send UPDATEs to
//! [`WideAreaConfig::update_server`] (default: the same server). On macOS the daemon has its
//! own wide-area support; this client is used there too, so behaviour is the same on every
//! platform.
//!
//! # Freshness
//! There is no multicast announcement: browses and resolves **poll**, at half the smallest
//! TTL of the answer (for an empty answer, half the negative-caching TTL of the zone's SOA),
//! bounded by [`WideAreaConfig::poll_bounds`]. A change shows up within that interval (plus
//! the resolver's cache, if the server is a caching resolver rather than the primary). DNS
//! Push Notifications (RFC 8765) are not implemented.
//!
//! # Registration lifetime
//! A registration adds `PTR <type>.<domain>` (and one per subtype), `SRV` and `TXT` at the
//! instance name, a `_services._dns-sd._udp` pointer to the type, and (when the service names
//! no host) `A`/`AAAA` for `<machine>.<domain>` with the address this host uses towards the
//! update server. The first UPDATE has the prerequisite "name not in use"; if the name is
//! taken by a different SRV, the name becomes `Name (2)`, `Name (3)`... as on mDNS. If the
//! name holds the *same* SRV (target and port; our own records left by a crash, or a reply
//! lost on the way back), the registration takes it over.
//!
//! Every UPDATE carries the Update Lease option (RFC 9664, [`WideAreaConfig::lease`]); the
//! registration re-sends its records at 80 % of the lease. Dropping the registration (or
//! `ServiceDiscovery::shutdown`, which waits for it) deletes them: the instance's records,
//! its PTRs, and the host's addresses once no registration of this handle uses them; the
//! `_services` pointer stays (other instances may share the type). **After a crash** (no
//! delete sent) a server honouring RFC 9664 removes the records when the lease lapses. BIND
//! 9 ignores the lease, so there they stay until (a) the same service registers again (it
//! reclaims the name, see above) and is then dropped, or (b) someone holding the key deletes
//! them (`nsupdate`: `update delete NAME ANY`).
//!
//! # Timeouts
//! Each query or update is tried over UDP [`WideAreaConfig::attempts`] times, each attempt
//! waiting [`WideAreaConfig::attempt_timeout`]; a truncated answer is asked again over TCP
//! (bounded by one more attempt timeout). A dead server is [`Error::Timeout`](crate::Error::Timeout) after at most
//! `attempts x attempt_timeout` per server (3 s by default). Streams report it as an `Err`
//! item and keep polling; `register` and `resolve` return it.
//!
//! # Security: what an attacker on the path can and cannot do
//! - **Updates** are signed with the TSIG key (HMAC-SHA256 over the whole message and a
//!   timestamp, within a 300 s fudge). An on-path attacker cannot forge or alter an update,
//!   and cannot replay one outside the fudge window (BIND also refuses a repeated signature
//!   inside it only if configured to; a replay within 5 minutes re-applies the same change).
//!   The server's answer must carry a valid TSIG from the same key: a forged "success" or
//!   "conflict" is refused as [`Error::BadSig`](crate::Error::BadSig). Without a key the client refuses to send
//!   an update ([`Error::NoKey`](crate::Error::NoKey)) unless [`WideAreaConfig::allow_unsigned_updates`] says
//!   otherwise.
//! - The attacker **can** read everything (TSIG authenticates, it does not encrypt): service
//!   names, ports, TXT contents and the key's name are visible. They can drop packets
//!   (registrations fail with `Timeout`, refreshes report errors) and delay them.
//! - **Queries are not authenticated** (no DNSSEC validation here, no TSIG on queries): an
//!   on-path attacker can answer a browse or resolve with forged records, hide instances or
//!   point a service elsewhere. Off-path spoofing is made harder by a random message ID, a
//!   fresh random source port per exchange and the check that the answer repeats the
//!   question; it is not prevented. Authenticate the service itself (TLS) as with mDNS.
//! - The key never appears in `Debug` output, errors or logs; it is read from a BIND key file
//!   or the [`TSIG_KEY_ENV`] variable.
//!
//! # Codec
//! Answers are parsed by the embedded engine's own bounded parser (3x faster than
//! hickory-proto on the engine's benchmarks, and already hardened against hostile input);
//! queries and UPDATEs are small uncompressed messages written in `message.rs`, which is
//! also what TSIG needs (it signs the exact bytes). HMAC-SHA256 comes from the RustCrypto
//! `hmac` and `sha2` crates (pure Rust, 6 small crates). hickory-proto's TSIG needs its
//! `dnssec-ring` or `dnssec-aws-lc-rs` feature, i.e. a C/assembly crypto library in the build.

mod client;
mod key;
mod message;
mod operations;
mod transport;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use key::{TSIG_KEY_ENV, TsigKey};
pub(crate) use operations::{WideAreaBackend, machine_name};

use crate::types::name::Domain;

/// Settings of the wide-area (unicast DNS) client, for
/// [`ServiceDiscoveryBuilder::wide_area`](crate::ServiceDiscoveryBuilder::wide_area).
///
/// ```
/// use std::time::Duration;
/// use dnssd::{TsigKey, WideAreaConfig};
/// let config = WideAreaConfig::new()
///     .server("192.0.2.53:53".parse().unwrap())
///     .tsig_key(TsigKey::from_base64("update-key", "c2VjcmV0c2VjcmV0")?)
///     .ttl(120)
///     .timeouts(Duration::from_millis(500), 2);
/// assert!(format!("{config:?}").contains("<redacted>"));
/// # Ok::<(), dnssd::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct WideAreaConfig {
    pub(crate) server: Option<SocketAddr>,
    pub(crate) update_server: Option<SocketAddr>,
    pub(crate) tsig_key: Option<TsigKey>,
    pub(crate) allow_unsigned_updates: bool,
    pub(crate) attempt_timeout: Duration,
    pub(crate) attempts: u32,
    pub(crate) ttl: u32,
    pub(crate) lease: Duration,
    pub(crate) min_poll: Duration,
    pub(crate) max_poll: Duration,
    pub(crate) negative_poll: u32,
    pub(crate) publish_host_address: bool,
    pub(crate) resolv_conf: PathBuf,
    pub(crate) domains: Vec<Domain>,
    pub(crate) browse_enumerated_domains: bool,
}

impl Default for WideAreaConfig {
    fn default() -> WideAreaConfig {
        WideAreaConfig {
            server: None,
            update_server: None,
            tsig_key: None,
            allow_unsigned_updates: false,
            attempt_timeout: Duration::from_secs(1),
            attempts: 3,
            ttl: 60,
            lease: Duration::from_secs(2 * 3600),
            min_poll: Duration::from_secs(1),
            max_poll: Duration::from_secs(300),
            negative_poll: 30,
            publish_host_address: true,
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            domains: Vec::new(),
            browse_enumerated_domains: true,
        }
    }
}

impl WideAreaConfig {
    /// The defaults: the servers of `/etc/resolv.conf`, no key, 1 s x 3 attempts, TTL 60 s,
    /// a 2 h lease, polls between 1 s and 300 s.
    pub fn new() -> WideAreaConfig {
        WideAreaConfig::default()
    }

    /// Ask this server (instead of `/etc/resolv.conf`'s) for every query, and send updates
    /// there unless [`update_server`](Self::update_server) says otherwise.
    pub fn server(mut self, server: SocketAddr) -> Self {
        self.server = Some(server);
        self
    }

    /// Send UPDATEs to this server (the zone's primary).
    pub fn update_server(mut self, server: SocketAddr) -> Self {
        self.update_server = Some(server);
        self
    }

    /// Sign UPDATEs with this key.
    pub fn tsig_key(mut self, key: TsigKey) -> Self {
        self.tsig_key = Some(key);
        self
    }

    /// Send UPDATEs without a TSIG key when none is set (default false: registration fails
    /// with [`Error::NoKey`](crate::Error::NoKey)). Only for servers that authorise by address.
    pub fn allow_unsigned_updates(mut self, allow: bool) -> Self {
        self.allow_unsigned_updates = allow;
        self
    }

    /// Per-attempt timeout and number of UDP attempts (at least 1) of every exchange.
    pub fn timeouts(mut self, attempt_timeout: Duration, attempts: u32) -> Self {
        self.attempt_timeout = attempt_timeout;
        self.attempts = attempts.max(1);
        self
    }

    /// TTL (seconds) of the records a registration publishes (default 60).
    pub fn ttl(mut self, ttl: u32) -> Self {
        self.ttl = ttl;
        self
    }

    /// Lease asked for with RFC 9664 (default 2 h); registrations refresh at 80 % of it.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_secs(1));
        self
    }

    /// Bounds of the polling interval of browses and resolves (default 1 s to 300 s).
    pub fn poll_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.min_poll = min;
        self.max_poll = max.max(min);
        self
    }

    /// Publish `A`/`AAAA` for `<machine>.<domain>` when a registered service names no host
    /// (default true).
    pub fn publish_host_address(mut self, publish: bool) -> Self {
        self.publish_host_address = publish;
        self
    }

    /// Read nameservers and search domains from this file instead of `/etc/resolv.conf`.
    pub fn resolv_conf(mut self, path: impl Into<PathBuf>) -> Self {
        self.resolv_conf = path.into();
        self
    }

    /// Also enumerate browse/registration domains below this domain (besides the search
    /// domains and the reverse mapping of this host's address).
    pub fn domain(mut self, domain: Domain) -> Self {
        self.domains.push(domain);
        self
    }

    /// Whether a browse with no domain also browses every enumerated browse domain (`b`,
    /// `db`, `lb`) besides `local.` (default true; only with a configured wide-area client).
    pub fn browse_enumerated_domains(mut self, browse: bool) -> Self {
        self.browse_enumerated_domains = browse;
        self
    }
}

/// The domains RFC 6763 s11 enumeration found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrowseDomains {
    /// `b._dns-sd._udp`: domains to offer for browsing.
    pub browse: Vec<Domain>,
    /// `db._dns-sd._udp`: the default browse domain(s).
    pub default_browse: Vec<Domain>,
    /// `lb._dns-sd._udp`: domains browsed automatically ("legacy browse").
    pub legacy_browse: Vec<Domain>,
    /// `r._dns-sd._udp`: domains to offer for registration.
    pub registration: Vec<Domain>,
    /// `dr._dns-sd._udp`: the default registration domain.
    pub default_registration: Vec<Domain>,
}

impl BrowseDomains {
    /// True when nothing was found.
    pub fn is_empty(&self) -> bool {
        self.browse.is_empty()
            && self.default_browse.is_empty()
            && self.legacy_browse.is_empty()
            && self.registration.is_empty()
            && self.default_registration.is_empty()
    }

    /// Every browse domain (`b`, `db`, `lb`), each once.
    pub fn all_browse(&self) -> Vec<Domain> {
        let mut out: Vec<Domain> = Vec::new();
        for d in self
            .browse
            .iter()
            .chain(&self.default_browse)
            .chain(&self.legacy_browse)
        {
            if !out.contains(d) {
                out.push(d.clone());
            }
        }
        out
    }
}

/// Whether a host or record name belongs to mDNS (`.local`, or a reverse-mapping name that
/// the local backend answers) rather than unicast DNS.
pub(crate) fn is_local_name(name: &str) -> bool {
    let trimmed = name.trim_end_matches('.').to_ascii_lowercase();
    trimmed == "local"
        || trimmed.ends_with(".local")
        || trimmed.ends_with(".254.169.in-addr.arpa")
        || !trimmed.contains('.')
}
