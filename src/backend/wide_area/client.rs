//! The unicast DNS client: which servers to ask (configured, else `/etc/resolv.conf`), queries
//! with their refresh time, and signed UPDATEs.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dnssd_engine::wire::{Message, Name, RData, Record};

use super::WideAreaConfig;
use super::message::{self, TYPE_SOA, TsigCheck, Update};
use super::transport::{self, Bounds};
use crate::types::error::{Error, Result};

/// What `/etc/resolv.conf` says (the parts we use).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ResolvConf {
    pub(crate) nameservers: Vec<IpAddr>,
    pub(crate) search: Vec<String>,
}

impl ResolvConf {
    /// Parses `nameserver`, `search` and `domain` lines (the last `search`/`domain` wins, as
    /// in glibc); everything else is ignored.
    pub(crate) fn parse(text: &str) -> ResolvConf {
        let mut conf = ResolvConf::default();
        for line in text.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    // Drop an IPv6 zone suffix (fe80::1%eth0): not representable here.
                    if let Some(ip) = words
                        .next()
                        .and_then(|w| w.split('%').next())
                        .and_then(|w| w.parse().ok())
                    {
                        conf.nameservers.push(ip);
                    }
                }
                Some("search" | "domain") => {
                    conf.search = words
                        .filter(|w| *w != ".")
                        .map(|w| w.trim_end_matches('.').to_owned() + ".")
                        .collect();
                }
                _ => {}
            }
        }
        conf
    }
}

/// An answer: the records that match the question and when to ask again.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) records: Vec<Record>,
    /// Smallest TTL of the answer (or the negative-caching TTL of an empty answer).
    pub(crate) ttl: Duration,
}

/// A random 16-bit message ID (SipHash keyed per `RandomState`, over a counter and the time).
pub(crate) fn random_id() -> u16 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (hasher.finish() & 0xFFFF) as u16
}

/// The client: configuration plus the servers found at start.
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) config: WideAreaConfig,
    pub(crate) resolv: ResolvConf,
}

impl Client {
    pub(crate) fn new(config: WideAreaConfig) -> Client {
        let resolv = std::fs::read_to_string(&config.resolv_conf)
            .map(|text| ResolvConf::parse(&text))
            .unwrap_or_default();
        Client { config, resolv }
    }

    fn bounds(&self) -> Bounds {
        Bounds {
            attempt_timeout: self.config.attempt_timeout,
            attempts: self.config.attempts,
        }
    }

    /// The servers to query, in order.
    pub(crate) fn servers(&self) -> Vec<SocketAddr> {
        match self.config.server {
            Some(server) => vec![server],
            None => self
                .resolv
                .nameservers
                .iter()
                .map(|ip| SocketAddr::new(*ip, 53))
                .collect(),
        }
    }

    /// The server UPDATEs go to: the configured one, else the first resolver.
    pub(crate) fn update_server(&self) -> Result<SocketAddr> {
        self.config
            .update_server
            .or(self.config.server)
            .or_else(|| self.servers().first().copied())
            .ok_or(Error::NoRouter)
    }

    /// Asks each server in turn (the next one only after a timeout) for `name`/`qtype`.
    pub(crate) async fn query(&self, name: &Name, qtype: u16) -> Result<Answer> {
        let servers = self.servers();
        if servers.is_empty() {
            return Err(Error::NoRouter);
        }
        let mut last = Error::Timeout;
        for server in servers {
            let id = random_id();
            let request = message::query(id, name, qtype);
            match transport::exchange(server, &request, self.bounds()).await {
                Ok(reply) => return self.answer(&reply.bytes, id, name, qtype),
                Err(e) => {
                    tracing::debug!(server = %server, name = %name, qtype, error = %e, "DNS query failed");
                    last = e;
                }
            }
        }
        Err(last)
    }

    fn answer(&self, bytes: &[u8], id: u16, name: &Name, qtype: u16) -> Result<Answer> {
        let parsed = Message::parse(bytes).map_err(|_| Error::DnsServer { rcode: 1 })?;
        let asked = parsed
            .questions
            .first()
            .is_some_and(|q| q.name == *name && q.qtype.0 == qtype);
        if parsed.header.id != id || !asked {
            return Err(Error::DnsServer { rcode: 1 });
        }
        let rcode = message::rcode(&parsed);
        if rcode != 0 && !message::is_nxdomain(rcode) {
            return Err(Error::DnsServer { rcode });
        }
        let records: Vec<Record> = parsed
            .answers
            .into_iter()
            .filter(|r| r.name == *name && (qtype == 255 || r.rtype().0 == qtype))
            .collect();
        let ttl = match records.iter().map(|r| r.ttl).min() {
            Some(ttl) => ttl,
            // RFC 2308: negative answers are cached for min(SOA TTL, SOA MINIMUM).
            None => parsed
                .authorities
                .iter()
                .find_map(|r| match &r.rdata {
                    RData::Unknown { rtype, data } if rtype.0 == TYPE_SOA => {
                        let tail = data.get(data.len().checked_sub(4)?..)?;
                        let minimum = u32::from_be_bytes(tail.try_into().ok()?);
                        Some(minimum.min(r.ttl))
                    }
                    _ => None,
                })
                .unwrap_or(self.config.negative_poll),
        };
        Ok(Answer {
            records,
            ttl: Duration::from_secs(u64::from(ttl)),
        })
    }

    /// The zone `name` belongs to: the owner of the SOA in the answer or authority section of
    /// a SOA query (falls back to `name` itself).
    pub(crate) async fn zone_of(&self, name: &Name) -> Result<Name> {
        let servers = self.servers();
        let mut last = Error::NoRouter;
        for server in servers {
            let id = random_id();
            let request = message::query(id, name, TYPE_SOA);
            match transport::exchange(server, &request, self.bounds()).await {
                Ok(reply) => {
                    let parsed =
                        Message::parse(&reply.bytes).map_err(|_| Error::DnsServer { rcode: 1 })?;
                    let soa = parsed
                        .answers
                        .iter()
                        .chain(&parsed.authorities)
                        .find(|r| r.rtype().0 == TYPE_SOA && name.ends_with(&r.name));
                    return Ok(soa.map_or_else(|| name.clone(), |r| r.name.clone()));
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Sends a signed UPDATE (unsigned only when allowed) and checks the answer: its TSIG must
    /// verify with our key, and its RCODE becomes the result.
    pub(crate) async fn update(&self, update: &Update) -> Result<()> {
        let key = match (&self.config.tsig_key, self.config.allow_unsigned_updates) {
            (Some(key), _) => Some(key),
            (None, true) => None,
            (None, false) => return Err(Error::NoKey),
        };
        let server = self.update_server()?;
        let id = random_id();
        let mut request = update.encode(id);
        let request_mac = key.map(|key| {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            message::sign(&mut request, key, now)
        });
        let reply = if request.len() > 512 {
            transport::exchange_tcp(server, &request, self.config.attempt_timeout).await?
        } else {
            transport::exchange(server, &request, self.bounds()).await?
        };
        let parsed = Message::parse(&reply.bytes).map_err(|_| Error::DnsServer { rcode: 1 })?;
        if parsed.header.id != id || parsed.header.opcode() != 5 {
            return Err(Error::DnsServer { rcode: 1 });
        }
        let rcode = message::rcode(&parsed);
        let tsig_error = match (key, &request_mac) {
            (Some(key), Some(mac)) => match message::verify(&reply.bytes, key, mac) {
                TsigCheck::Valid => None,
                TsigCheck::ServerError(e) => Some(e),
                // An unsigned or wrongly signed answer to a signed request proves nothing
                // (RFC 8945 s5.3.1): report it as a bad signature, whatever its RCODE says.
                TsigCheck::Missing if rcode == 9 => None,
                TsigCheck::Missing | TsigCheck::Invalid => Some(16),
            },
            _ => None,
        };
        let result = message::update_result(rcode, tsig_error);
        // The key's name may be logged, never its secret.
        tracing::debug!(
            server = %server,
            zone = %update.zone,
            key = key.map(|k| k.name()).unwrap_or_default(),
            rcode,
            tsig_error,
            ok = result.is_ok(),
            "DNS UPDATE answered"
        );
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_servers_and_search_domains() {
        let conf = ResolvConf::parse(
            "# comment\nnameserver 10.0.0.1\nnameserver fe80::1%eth0\nnameserver bogus\n\
             domain old.example\nsearch example.com. corp.example\noptions ndots:2\n",
        );
        assert_eq!(conf.nameservers.len(), 2);
        assert_eq!(conf.search, vec!["example.com.", "corp.example."]);
    }

    #[test]
    fn ids_vary() {
        let ids: std::collections::HashSet<u16> = (0..64).map(|_| random_id()).collect();
        assert!(ids.len() > 50, "{}", ids.len());
    }
}
