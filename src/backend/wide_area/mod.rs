//! Wide-area DNS-SD (RFC 6763 s10-11) over unicast DNS: the same PTR/SRV/TXT records as mDNS,
//! in an ordinary zone, found with polled queries and published with DNS UPDATE (RFC 2136)
//! signed with TSIG (RFC 8945, HMAC-SHA256). Behaviour, lease and crash semantics, timeouts,
//! the security analysis and measurements: `docs/WIDE_AREA.md` (and [`WideAreaConfig`]).

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
/// Every operation whose domain is not `local.` uses this client, on every backend: queries
/// go to [`server`](Self::server) (default: the resolvers of `/etc/resolv.conf`) and are
/// polled at half the answer's TTL; registrations are DNS UPDATEs signed with the
/// [`tsig_key`](Self::tsig_key), refreshed at 80 % of the [`lease`](Self::lease) and deleted
/// when dropped. After a crash, a server honouring the Update Lease (RFC 9664) drops the
/// records when the lease lapses; BIND ignores it, so there the records stay until the same
/// service registers again (it reclaims its name: same SRV) or someone deletes them with the
/// key. A dead server is [`Error::Timeout`](crate::Error::Timeout) after
/// `attempts x attempt_timeout` (default 3 x 1 s).
///
/// **Security.** Updates and their answers are authenticated (TSIG, HMAC-SHA256, 300 s
/// fudge): an on-path attacker cannot forge or alter them, and a forged answer is
/// [`Error::BadSig`](crate::Error::BadSig). They can read everything (TSIG does not encrypt),
/// drop or delay packets, and replay a captured update within the 300 s window (no replay
/// cache in TSIG or BIND). Queries are not authenticated (no DNSSEC validation): an on-path
/// attacker can forge browse and resolve answers; off-path forgery is made harder by random
/// IDs, random source ports and the check that the answer repeats the question. The key is
/// never logged or shown by `Debug`. Details and measurements: `docs/WIDE_AREA.md`.
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

/// Whether a host or record name is asked through the local backend (mDNS): `.local` names,
/// single labels and reverse-mapping names (`.arpa`, which mDNS responders answer for their
/// own addresses), rather than unicast DNS.
pub(crate) fn is_local_name(name: &str) -> bool {
    let trimmed = name.trim_end_matches('.').to_ascii_lowercase();
    trimmed == "local"
        || trimmed.ends_with(".local")
        || trimmed.ends_with(".arpa")
        || !trimmed.contains('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_outside_local_go_to_unicast_dns() {
        for local in [
            "h.local",
            "h.local.",
            "H.LOCAL",
            "h",
            "1.0.77.10.in-addr.arpa.",
        ] {
            assert!(is_local_name(local), "{local}");
        }
        for wide in [
            "h.example.test",
            "x._ipp._tcp.example.com.",
            "localhost.example",
        ] {
            assert!(!is_local_name(wide), "{wide}");
        }
    }

    #[test]
    fn enumerated_browse_domains_are_listed_once() {
        let d = |s: &str| Domain::new(s).expect("domain");
        let found = BrowseDomains {
            browse: vec![d("a.test"), d("b.test")],
            default_browse: vec![d("a.test")],
            legacy_browse: vec![d("c.test")],
            ..BrowseDomains::default()
        };
        assert_eq!(
            found.all_browse(),
            vec![d("a.test"), d("b.test"), d("c.test")]
        );
        assert!(!found.is_empty());
        assert!(BrowseDomains::default().is_empty());
    }
}
