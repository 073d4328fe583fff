//! DNS-SD names: service types (RFC 6763 §7, subtypes §7.1), instance names (§4.1.1), domains,
//! host names, and full service instance names with their escaping (§4.3).

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use crate::types::error::{Error, Result};

/// Longest DNS label, in bytes (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;
/// Longest domain name in presentation form without the final dot, in bytes.
pub const MAX_NAME_LEN: usize = 253;
/// Longest service name (the `http` of `_http._tcp`), RFC 6763 §7 / RFC 6335 §5.1.
pub const MAX_SERVICE_NAME_LEN: usize = 15;

/// The transport label of a service type: `_tcp` or `_udp` (RFC 6763 §7).
///
/// ```
/// use dnssd::Protocol;
/// assert_eq!(Protocol::Tcp.to_string(), "_tcp");
/// assert_eq!("_UDP".parse::<Protocol>().ok(), Some(Protocol::Udp));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `_tcp`: the service runs over TCP.
    Tcp,
    /// `_udp`: every other transport (RFC 6763 §7).
    Udp,
}

impl Protocol {
    /// The label, `_tcp` or `_udp`.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Tcp => "_tcp",
            Protocol::Udp => "_udp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.label())
    }
}

impl FromStr for Protocol {
    type Err = Error;
    fn from_str(s: &str) -> Result<Protocol> {
        if s.eq_ignore_ascii_case("_tcp") {
            Ok(Protocol::Tcp)
        } else if s.eq_ignore_ascii_case("_udp") {
            Ok(Protocol::Udp)
        } else {
            Err(invalid_type(s, "the protocol label must be _tcp or _udp"))
        }
    }
}

fn invalid_type(input: &str, reason: &'static str) -> Error {
    Error::InvalidServiceType {
        input: input.to_owned(),
        reason,
    }
}

/// A DNS-SD service type such as `_http._tcp`, with optional subtypes (RFC 6763 §7, §7.1).
///
/// Accepted forms: `_http._tcp`, `_http._tcp.` (one trailing dot), the subtype form
/// `_printer._sub._http._tcp`, and Apple's comma form `_http._tcp,_printer,_scanner`.
/// The service name (`http`) is 1-15 letters, digits and hyphens with at least one letter and no
/// leading, trailing or doubled hyphen; the protocol is `_tcp` or `_udp`. Comparison ignores
/// ASCII case. `Display` gives the base type without subtypes.
///
/// ```
/// use dnssd::{Protocol, ServiceType};
///
/// let t = ServiceType::new("_http._tcp")?.with_subtype("_printer")?;
/// assert_eq!(t.name(), "http");
/// assert_eq!(t.protocol(), Protocol::Tcp);
/// assert_eq!(t.subtypes(), ["_printer"]);
/// assert_eq!(t.to_string(), "_http._tcp");
/// assert_eq!(t.dns_sd_regtype(), "_http._tcp,_printer");
/// assert_eq!(t, ServiceType::new("_printer._sub._http._tcp")?);
/// assert!(ServiceType::new("_http").is_err());
/// # Ok::<(), dnssd::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ServiceType {
    /// The service name without its underscore (`http`).
    name: String,
    protocol: Protocol,
    /// Subtype labels as given (usually with their leading underscore), no duplicates.
    subtypes: Vec<String>,
}

impl ServiceType {
    /// Parses and validates a service type in any of the accepted forms (see the type docs).
    pub fn new(input: &str) -> Result<ServiceType> {
        let trimmed = input.strip_suffix('.').unwrap_or(input);
        let mut parts = trimmed.split(',');
        let base = parts.next().unwrap_or_default();
        let labels: Vec<&str> = base.split('.').collect();
        let (sub_from_labels, service, proto) = match labels.as_slice() {
            [service, proto] => (None, *service, *proto),
            [sub, sub_marker, service, proto] if sub_marker.eq_ignore_ascii_case("_sub") => {
                (Some(*sub), *service, *proto)
            }
            [_, _, _, ..] => {
                return Err(invalid_type(
                    input,
                    "expected _service._tcp or _sub._sub._service._tcp (no instance or domain)",
                ));
            }
            _ => {
                return Err(invalid_type(
                    input,
                    "expected _service._tcp or _service._udp",
                ));
            }
        };
        let Some(name) = service.strip_prefix('_') else {
            return Err(invalid_type(input, "the service name must start with '_'"));
        };
        validate_service_name(name).map_err(|reason| invalid_type(input, reason))?;
        let protocol = proto
            .parse::<Protocol>()
            .map_err(|_| invalid_type(input, "the protocol label must be _tcp or _udp"))?;
        let mut t = ServiceType {
            name: name.to_owned(),
            protocol,
            subtypes: Vec::new(),
        };
        for sub in sub_from_labels.into_iter().chain(parts) {
            t.push_subtype(sub)
                .map_err(|reason| invalid_type(input, reason))?;
        }
        Ok(t)
    }

    /// A service type from its parts: `from_parts("http", Protocol::Tcp)` is `_http._tcp`. The
    /// name may be given with or without its leading underscore.
    pub fn from_parts(name: &str, protocol: Protocol) -> Result<ServiceType> {
        let bare = name.strip_prefix('_').unwrap_or(name);
        validate_service_name(bare).map_err(|reason| invalid_type(name, reason))?;
        Ok(ServiceType {
            name: bare.to_owned(),
            protocol,
            subtypes: Vec::new(),
        })
    }

    /// Adds a subtype (RFC 6763 §7.1), e.g. `_printer`. Adding one already present does nothing.
    ///
    /// A subtype is 1-63 bytes without control characters, `.`, `,` or `\`.
    pub fn with_subtype(mut self, subtype: &str) -> Result<ServiceType> {
        self.push_subtype(subtype)
            .map_err(|reason| invalid_type(subtype, reason))?;
        Ok(self)
    }

    fn push_subtype(&mut self, sub: &str) -> std::result::Result<(), &'static str> {
        validate_subtype(sub)?;
        if !self.subtypes.iter().any(|s| s.eq_ignore_ascii_case(sub)) {
            self.subtypes.push(sub.to_owned());
        }
        Ok(())
    }

    /// The service name without its underscore: `http` for `_http._tcp`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `_tcp` or `_udp`.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The subtypes, as given (usually `_printer`-style).
    pub fn subtypes(&self) -> &[String] {
        &self.subtypes
    }

    /// The same type without subtypes.
    pub fn without_subtypes(&self) -> ServiceType {
        ServiceType {
            name: self.name.clone(),
            protocol: self.protocol,
            subtypes: Vec::new(),
        }
    }

    /// The `regtype` string `dns_sd.h` takes: `_http._tcp` or, with subtypes, Apple's comma form
    /// `_http._tcp,_printer,_scanner`.
    pub fn dns_sd_regtype(&self) -> String {
        let mut s = self.to_string();
        for sub in &self.subtypes {
            s.push(',');
            s.push_str(sub);
        }
        s
    }

    /// The browse names of the subtypes: `_printer._sub._http._tcp` for each (RFC 6763 §7.1).
    pub fn subtype_names(&self) -> Vec<String> {
        self.subtypes
            .iter()
            .map(|sub| format!("{sub}._sub.{self}"))
            .collect()
    }
}

impl PartialEq for ServiceType {
    fn eq(&self, other: &ServiceType) -> bool {
        self.name.eq_ignore_ascii_case(&other.name)
            && self.protocol == other.protocol
            && self.subtypes.len() == other.subtypes.len()
            && self
                .subtypes
                .iter()
                .all(|a| other.subtypes.iter().any(|b| a.eq_ignore_ascii_case(b)))
    }
}

impl Eq for ServiceType {}

impl Hash for ServiceType {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Subtypes are left out: equal types have equal base names, which is enough.
        self.name.to_ascii_lowercase().hash(state);
        self.protocol.hash(state);
    }
}

impl fmt::Display for ServiceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad` so that width and alignment flags work in tables.
        f.pad(&format!("_{}.{}", self.name, self.protocol))
    }
}

impl FromStr for ServiceType {
    type Err = Error;
    fn from_str(s: &str) -> Result<ServiceType> {
        ServiceType::new(s)
    }
}

impl TryFrom<&str> for ServiceType {
    type Error = Error;
    fn try_from(s: &str) -> Result<ServiceType> {
        ServiceType::new(s)
    }
}

/// RFC 6335 §5.1 as RFC 6763 §7 uses it.
fn validate_service_name(name: &str) -> std::result::Result<(), &'static str> {
    if name.is_empty() {
        return Err("the service name is empty");
    }
    if name.len() > MAX_SERVICE_NAME_LEN {
        return Err("the service name is longer than 15 characters");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err("the service name may hold only letters, digits and hyphens");
    }
    if !name.bytes().any(|b| b.is_ascii_alphabetic()) {
        return Err("the service name must contain at least one letter");
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err("the service name must not begin or end with a hyphen");
    }
    if name.contains("--") {
        return Err("the service name must not contain two hyphens in a row");
    }
    Ok(())
}

fn validate_subtype(sub: &str) -> std::result::Result<(), &'static str> {
    if sub.is_empty() {
        return Err("a subtype is empty");
    }
    if sub.len() > MAX_LABEL_LEN {
        return Err("a subtype is longer than 63 bytes");
    }
    if sub
        .chars()
        .any(|c| c.is_ascii_control() || matches!(c, '.' | ',' | '\\'))
    {
        return Err("a subtype must not contain control characters, '.', ',' or '\\'");
    }
    Ok(())
}

/// A service instance name, the user-visible part of a service (RFC 6763 §4.1.1).
///
/// 1-63 bytes of UTF-8 without ASCII control characters; dots, spaces and backslashes are
/// allowed (they are escaped only in full names, see [`full_name`]). Comparison ignores ASCII
/// case, as DNS does. `Display` gives the plain name.
///
/// ```
/// use dnssd::InstanceName;
/// let n = InstanceName::new("Kitchen Printer 2.0")?;
/// assert_eq!(n.to_string(), "Kitchen Printer 2.0");
/// assert!(InstanceName::new("").is_err());
/// assert!(InstanceName::new("x".repeat(64)).is_err());
/// # Ok::<(), dnssd::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct InstanceName(String);

impl InstanceName {
    /// Validates an instance name.
    pub fn new(name: impl Into<String>) -> Result<InstanceName> {
        let name = name.into();
        let reason = if name.is_empty() {
            Some("the instance name is empty")
        } else if name.len() > MAX_LABEL_LEN {
            Some("the instance name is longer than 63 bytes of UTF-8")
        } else if name.chars().any(|c| c.is_ascii_control()) {
            Some("the instance name contains an ASCII control character")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(Error::InvalidInstanceName {
                input: name,
                reason,
            }),
            None => Ok(InstanceName(name)),
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as one escaped DNS label (`.` as `\.`, `\` as `\\`, RFC 6763 §4.3).
    pub fn escaped(&self) -> String {
        escape_label(&self.0)
    }
}

impl PartialEq for InstanceName {
    fn eq(&self, other: &InstanceName) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl Eq for InstanceName {}

impl Hash for InstanceName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.to_ascii_lowercase().hash(state);
    }
}

impl fmt::Display for InstanceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl AsRef<str> for InstanceName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for InstanceName {
    type Err = Error;
    fn from_str(s: &str) -> Result<InstanceName> {
        InstanceName::new(s)
    }
}

impl TryFrom<&str> for InstanceName {
    type Error = Error;
    fn try_from(s: &str) -> Result<InstanceName> {
        InstanceName::new(s)
    }
}

impl TryFrom<String> for InstanceName {
    type Error = Error;
    fn try_from(s: String) -> Result<InstanceName> {
        InstanceName::new(s)
    }
}

/// A DNS domain in presentation form, always ending in `.`; the default is `local.`.
///
/// Labels may carry `\.`, `\\` and `\DDD` escapes; each decoded label is 1-63 bytes and the
/// whole name at most 253 bytes. Comparison ignores ASCII case.
///
/// ```
/// use dnssd::Domain;
/// assert_eq!(Domain::default().as_str(), "local.");
/// assert_eq!(Domain::new("example.com")?.as_str(), "example.com.");
/// assert!(Domain::new("a..b").is_err());
/// # Ok::<(), dnssd::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Domain(String);

impl Domain {
    /// `local.`, the mDNS domain.
    pub fn local() -> Domain {
        Domain("local.".to_owned())
    }

    /// Validates a domain; a missing final dot is added.
    pub fn new(domain: &str) -> Result<Domain> {
        let err = |reason| Error::InvalidDomain {
            input: domain.to_owned(),
            reason,
        };
        let labels = split_labels(domain).map_err(err)?;
        if labels.is_empty() {
            return Err(err("the domain is empty"));
        }
        if labels.iter().any(|l| l.iter().any(u8::is_ascii_control)) {
            return Err(err("the domain contains a control character"));
        }
        let mut s = domain.to_owned();
        if !ends_with_unescaped_dot(&s) {
            s.push('.');
        }
        Ok(Domain(s))
    }

    /// The domain with its final dot, e.g. `local.`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for `local.` (any case).
    pub fn is_local(&self) -> bool {
        self.0.eq_ignore_ascii_case("local.")
    }
}

impl Default for Domain {
    fn default() -> Domain {
        Domain::local()
    }
}

impl PartialEq for Domain {
    fn eq(&self, other: &Domain) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl Eq for Domain {}

impl Hash for Domain {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.to_ascii_lowercase().hash(state);
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl FromStr for Domain {
    type Err = Error;
    fn from_str(s: &str) -> Result<Domain> {
        Domain::new(s)
    }
}

/// A host name such as `myhost.local.` or `server.example.com`, kept as given.
///
/// Labels 1-63 bytes (after `\` escapes are decoded), at most 253 bytes in all, no control
/// characters; UTF-8 is allowed, as in mDNS (RFC 6762 §16). Any domain is accepted.
///
/// ```
/// use dnssd::HostName;
/// let h = HostName::new("printer.local.")?;
/// assert!(h.is_local());
/// assert!(HostName::new("bad..name").is_err());
/// assert!(HostName::new(&format!("{}.local", "a".repeat(64))).is_err());
/// # Ok::<(), dnssd::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct HostName(String);

impl HostName {
    /// Validates a host name.
    pub fn new(host: &str) -> Result<HostName> {
        let err = |reason| Error::InvalidHostName {
            input: host.to_owned(),
            reason,
        };
        let labels = split_labels(host).map_err(err)?;
        if labels.is_empty() {
            return Err(err("the host name is empty"));
        }
        if labels.iter().any(|l| l.iter().any(u8::is_ascii_control)) {
            return Err(err("the host name contains a control character"));
        }
        Ok(HostName(host.to_owned()))
    }

    /// The host name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when the name is in `local.` (mDNS).
    pub fn is_local(&self) -> bool {
        let s = self.0.strip_suffix('.').unwrap_or(&self.0);
        s.len() >= 6
            && s.get(s.len() - 6..)
                .is_some_and(|tail| tail.eq_ignore_ascii_case(".local"))
    }
}

impl PartialEq for HostName {
    fn eq(&self, other: &HostName) -> bool {
        let a = self.0.strip_suffix('.').unwrap_or(&self.0);
        let b = other.0.strip_suffix('.').unwrap_or(&other.0);
        a.eq_ignore_ascii_case(b)
    }
}

impl Eq for HostName {}

impl fmt::Display for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl FromStr for HostName {
    type Err = Error;
    fn from_str(s: &str) -> Result<HostName> {
        HostName::new(s)
    }
}

/// Escapes one label for a full name (RFC 6763 §4.3): `.` becomes `\.` and `\` becomes `\\`.
///
/// ```
/// assert_eq!(dnssd::escape_label(r"A.B \ C"), r"A\.B \\ C");
/// ```
pub fn escape_label(label: &str) -> String {
    let mut out = String::with_capacity(label.len() + 4);
    for c in label.chars() {
        if c == '.' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn ends_with_unescaped_dot(s: &str) -> bool {
    let Some(body) = s.strip_suffix('.') else {
        return false;
    };
    let backslashes = body.bytes().rev().take_while(|&b| b == b'\\').count();
    backslashes % 2 == 0
}

/// Splits a name in presentation form into raw labels, decoding `\DDD` (a decimal byte, as
/// `DNSServiceConstructFullName` and Avahi write) and `\X` (the character X). One final dot is
/// allowed; empty labels elsewhere are not. Checks label and name lengths.
fn split_labels(name: &str) -> std::result::Result<Vec<Vec<u8>>, &'static str> {
    let bytes = name.as_bytes();
    let mut labels = Vec::new();
    let mut label = Vec::new();
    let mut wire_len = 0usize;
    let mut i = 0;
    let mut ended_with_dot = false;
    while let Some(&b) = bytes.get(i) {
        ended_with_dot = false;
        match b {
            b'\\' => {
                let digits = bytes.get(i + 1..i + 4);
                match digits {
                    Some(d) if d.iter().all(u8::is_ascii_digit) => {
                        let value = d
                            .iter()
                            .fold(0u32, |acc, &x| acc * 10 + u32::from(x - b'0'));
                        let byte =
                            u8::try_from(value).map_err(|_| "a \\DDD escape is above 255")?;
                        label.push(byte);
                        i += 4;
                    }
                    _ => match bytes.get(i + 1) {
                        Some(&next) => {
                            if next.is_ascii_digit() {
                                return Err("a \\DDD escape needs three digits");
                            }
                            label.push(next);
                            i += 2;
                        }
                        None => return Err("the name ends in a lone backslash"),
                    },
                }
            }
            b'.' => {
                if label.is_empty() {
                    return Err("the name has an empty label");
                }
                wire_len += label.len() + 1;
                labels.push(std::mem::take(&mut label));
                ended_with_dot = true;
                i += 1;
            }
            _ => {
                label.push(b);
                i += 1;
            }
        }
        if label.len() > MAX_LABEL_LEN {
            return Err("a label is longer than 63 bytes");
        }
    }
    if !label.is_empty() {
        wire_len += label.len() + 1;
        labels.push(label);
    } else if !ended_with_dot && !labels.is_empty() {
        return Err("the name has an empty label");
    }
    // A name of n labels has n length bytes and n-1 dots in presentation form.
    if wire_len.saturating_sub(1) > MAX_NAME_LEN {
        return Err("the name is longer than 253 bytes");
    }
    Ok(labels)
}

/// A full service instance name: `<instance>.<_service._proto>.<domain>` (RFC 6763 §4.1).
///
/// `Display` writes it escaped (RFC 6763 §4.3); `FromStr` parses it back, also decoding the
/// `\DDD` escapes that `DNSServiceConstructFullName` and Avahi produce.
///
/// ```
/// use dnssd::{Domain, FullName, InstanceName, ServiceType};
///
/// let full = FullName {
///     instance: InstanceName::new(r"A.B \ C")?,
///     service_type: ServiceType::new("_http._tcp")?,
///     domain: Domain::local(),
/// };
/// assert_eq!(full.to_string(), r"A\.B \\ C._http._tcp.local.");
/// assert_eq!(full.to_string().parse::<FullName>()?, full);
/// let avahi: FullName = r"My\032Printer._ipp._tcp.local.".parse()?;
/// assert_eq!(avahi.instance.as_str(), "My Printer");
/// # Ok::<(), dnssd::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FullName {
    /// The instance name, unescaped.
    pub instance: InstanceName,
    /// The service type (without subtypes).
    pub service_type: ServiceType,
    /// The domain, e.g. `local.`.
    pub domain: Domain,
}

impl fmt::Display for FullName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}.{}",
            self.instance.escaped(),
            self.service_type,
            self.domain
        )
    }
}

impl FromStr for FullName {
    type Err = Error;
    fn from_str(s: &str) -> Result<FullName> {
        let (instance, service_type, domain) = parse_full_name(s)?;
        Ok(FullName {
            instance,
            service_type,
            domain,
        })
    }
}

/// Builds the escaped full name `<instance>.<type>.<domain>` (RFC 6763 §4.3); subtypes of
/// `service_type` are not part of it.
///
/// ```
/// use dnssd::{full_name, Domain, InstanceName, ServiceType};
/// let s = full_name(&InstanceName::new("a.b")?, &ServiceType::new("_ipp._tcp")?, &Domain::local());
/// assert_eq!(s, r"a\.b._ipp._tcp.local.");
/// # Ok::<(), dnssd::Error>(())
/// ```
pub fn full_name(instance: &InstanceName, service_type: &ServiceType, domain: &Domain) -> String {
    format!("{}.{}.{}", instance.escaped(), service_type, domain)
}

/// Parses a full service instance name back into instance, type and domain.
///
/// Decodes `\.`, `\\`, any `\X` and `\DDD`. The first label is the instance, the next two the
/// service type, the rest the domain (`local.` when absent).
///
/// ```
/// use dnssd::parse_full_name;
/// let (instance, t, domain) = parse_full_name(r"A\.B \\ C._http._tcp.local.")?;
/// assert_eq!(instance.as_str(), r"A.B \ C");
/// assert_eq!(t.to_string(), "_http._tcp");
/// assert_eq!(domain.as_str(), "local.");
/// # Ok::<(), dnssd::Error>(())
/// ```
pub fn parse_full_name(input: &str) -> Result<(InstanceName, ServiceType, Domain)> {
    let err = |reason| Error::InvalidFullName {
        input: input.to_owned(),
        reason,
    };
    let labels = split_labels(input).map_err(err)?;
    let [instance, service, proto, domain @ ..] = labels.as_slice() else {
        return Err(err("expected <instance>.<_service>.<_proto>[.<domain>]"));
    };
    let instance =
        std::str::from_utf8(instance).map_err(|_| err("the instance name is not UTF-8"))?;
    let instance = InstanceName::new(instance)?;
    let service =
        std::str::from_utf8(service).map_err(|_| err("the service label is not UTF-8"))?;
    let proto = std::str::from_utf8(proto).map_err(|_| err("the protocol label is not UTF-8"))?;
    if service.eq_ignore_ascii_case("_sub") {
        return Err(err("this is a subtype name, not a service instance"));
    }
    let service_type = ServiceType::new(&format!("{service}.{proto}"))?;
    let domain = if domain.is_empty() {
        Domain::local()
    } else {
        let mut text = String::new();
        for label in domain {
            let label =
                std::str::from_utf8(label).map_err(|_| err("a domain label is not UTF-8"))?;
            text.push_str(&escape_label(label));
            text.push('.');
        }
        Domain::new(&text)?
    };
    Ok((instance, service_type, domain))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason_of(e: Error) -> &'static str {
        match e {
            Error::InvalidServiceType { reason, .. }
            | Error::InvalidInstanceName { reason, .. }
            | Error::InvalidHostName { reason, .. }
            | Error::InvalidDomain { reason, .. }
            | Error::InvalidFullName { reason, .. } => reason,
            other => panic!("unexpected error {other:?}"),
        }
    }

    #[test]
    fn service_type_accepts_valid_vectors() {
        for (input, name, proto) in [
            ("_http._tcp", "http", Protocol::Tcp),
            ("_http._tcp.", "http", Protocol::Tcp),
            ("_ipp._udp", "ipp", Protocol::Udp),
            ("_HTTP._TCP", "HTTP", Protocol::Tcp),
            ("_a._tcp", "a", Protocol::Tcp),
            ("_123456789abcde._tcp", "123456789abcde", Protocol::Tcp),
            ("_abcdefghijklmno._tcp", "abcdefghijklmno", Protocol::Tcp),
            ("_x-y-z._udp", "x-y-z", Protocol::Udp),
            ("_1a._tcp", "1a", Protocol::Tcp),
            ("_googlecast._tcp", "googlecast", Protocol::Tcp),
        ] {
            let t = ServiceType::new(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(t.name(), name, "{input}");
            assert_eq!(t.protocol(), proto, "{input}");
            assert!(t.subtypes().is_empty());
        }
    }

    #[test]
    fn service_type_rejects_each_rule() {
        for (input, reason_part) in [
            ("", "expected"),
            ("http", "expected"),
            ("_http", "expected"),
            ("http._tcp", "start with '_'"),
            ("_._tcp", "empty"),
            ("_abcdefghijklmnop._tcp", "longer than 15"),
            ("_http_x._tcp", "only letters"),
            ("_ht tp._tcp", "only letters"),
            ("_ht.tp._tcp", "no instance"),
            ("_123._tcp", "at least one letter"),
            ("_-http._tcp", "hyphen"),
            ("_http-._tcp", "hyphen"),
            ("_ht--tp._tcp", "two hyphens"),
            ("_http._sctp", "_tcp or _udp"),
            ("_http.tcp", "_tcp or _udp"),
            ("_http._tcp.local.", "no instance or domain"),
            ("x._sub._http._tcp.local", "no instance"),
            ("_p._notsub._http._tcp", "no instance"),
            ("_http._tcp,", "subtype is empty"),
            ("_http._tcp,_a,,_b", "subtype is empty"),
            ("._sub._http._tcp", "subtype is empty"),
            ("_http._tcp..", "expected"),
            ("_hétp._tcp", "only letters"),
        ] {
            let e = ServiceType::new(input).expect_err(input);
            let reason = reason_of(e);
            assert!(
                reason.contains(reason_part),
                "{input:?}: reason {reason:?} lacks {reason_part:?}"
            );
        }
    }

    #[test]
    fn subtype_forms_agree() {
        let a = ServiceType::new("_printer._sub._http._tcp").unwrap();
        let b = ServiceType::new("_http._tcp,_printer").unwrap();
        let c = ServiceType::new("_http._tcp")
            .unwrap()
            .with_subtype("_printer")
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(b, c);
        assert_eq!(a.subtypes(), ["_printer"]);
        assert_eq!(a.to_string(), "_http._tcp");
        assert_eq!(a.dns_sd_regtype(), "_http._tcp,_printer");
        assert_eq!(a.subtype_names(), ["_printer._sub._http._tcp"]);
        assert_ne!(a, a.without_subtypes());

        let many = ServiceType::new("_p._sub._http._tcp,_q,_r").unwrap();
        assert_eq!(many.subtypes(), ["_p", "_q", "_r"]);
        assert_eq!(many.dns_sd_regtype(), "_http._tcp,_p,_q,_r");
        // Duplicates collapse, case-insensitively.
        let dup = ServiceType::new("_http._tcp,_p,_P").unwrap();
        assert_eq!(dup.subtypes(), ["_p"]);
        // Subtypes without an underscore are legal (RFC 6763 §7.1).
        assert_eq!(
            ServiceType::new("_http._tcp,color").unwrap().subtypes(),
            ["color"]
        );
    }

    #[test]
    fn subtype_rules() {
        let base = ServiceType::new("_http._tcp").unwrap();
        for bad in ["", "a.b", "a,b", "a\\b", "a\u{1}", &"s".repeat(64)] {
            assert!(base.clone().with_subtype(bad).is_err(), "{bad:?}");
        }
        assert!(base.clone().with_subtype(&"s".repeat(63)).is_ok());
        assert!(base.with_subtype("_drücker").is_ok());
    }

    #[test]
    fn service_type_equality_ignores_case() {
        let a = ServiceType::new("_HTTP._Tcp").unwrap();
        let b = ServiceType::new("_http._tcp").unwrap();
        assert_eq!(a, b);
        let hash = |t: &ServiceType| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            t.hash(&mut h);
            h.finish()
        };
        assert_eq!(hash(&a), hash(&b));
        assert_ne!(b, ServiceType::new("_http._udp").unwrap());
    }

    #[test]
    fn display_honours_width() {
        let t = ServiceType::new("_ipp._tcp").unwrap();
        assert_eq!(format!("[{t:<12}]"), "[_ipp._tcp   ]");
        let n = InstanceName::new("ab").unwrap();
        assert_eq!(format!("[{n:>4}]"), "[  ab]");
        assert_eq!(format!("[{:<8}]", Domain::local()), "[local.  ]");
    }

    #[test]
    fn from_parts() {
        assert_eq!(
            ServiceType::from_parts("http", Protocol::Tcp).unwrap(),
            ServiceType::new("_http._tcp").unwrap()
        );
        assert_eq!(
            ServiceType::from_parts("_ipp", Protocol::Udp)
                .unwrap()
                .to_string(),
            "_ipp._udp"
        );
        assert!(ServiceType::from_parts("a_b", Protocol::Tcp).is_err());
    }

    /// Every string of up to 3 characters over a small alphabet: accepted exactly when the
    /// rules say so (an independent statement of RFC 6335 §5.1).
    #[test]
    fn service_name_rules_exhaustive() {
        let alphabet = ['a', 'Z', '0', '-', '_', '.'];
        let mut names = vec![String::new()];
        for _ in 0..3 {
            let longer: Vec<String> = names
                .iter()
                .flat_map(|n| alphabet.iter().map(move |c| format!("{n}{c}")))
                .collect();
            names.extend(longer);
        }
        names.sort();
        names.dedup();
        for n in &names {
            let chars: Vec<char> = n.chars().collect();
            let expect = !chars.is_empty()
                && chars.iter().all(|c| c.is_ascii_alphanumeric() || *c == '-')
                && chars.iter().any(|c| c.is_ascii_alphabetic())
                && chars.first() != Some(&'-')
                && chars.last() != Some(&'-')
                && !n.contains("--");
            let got = ServiceType::new(&format!("_{n}._tcp")).is_ok();
            assert_eq!(got, expect, "{n:?}");
        }
    }

    #[test]
    fn instance_name_rules() {
        for ok in [
            "a",
            "My Printer",
            r"A.B \ C",
            "Zürich Büro",
            "日本語のプリンター",
            &"x".repeat(63),
            "tab-free\u{80}", // C1 controls are not ASCII control characters
        ] {
            let n = InstanceName::new(ok).unwrap_or_else(|e| panic!("{ok:?}: {e}"));
            assert_eq!(n.to_string(), ok);
        }
        for (bad, part) in [
            ("", "empty"),
            (&"x".repeat(64) as &str, "63 bytes"),
            // 22 three-byte characters = 66 bytes although only 22 characters.
            (&"日".repeat(22), "63 bytes"),
            ("a\tb", "control"),
            ("a\nb", "control"),
            ("nul\0", "control"),
            ("del\u{7f}", "control"),
        ] {
            let e = InstanceName::new(bad).expect_err(bad);
            assert!(reason_of(e).contains(part), "{bad:?}");
        }
        assert_eq!(
            InstanceName::new("Office").unwrap(),
            InstanceName::new("OFFICE").unwrap()
        );
    }

    #[test]
    fn domain_rules() {
        assert_eq!(Domain::default(), Domain::new("LOCAL").unwrap());
        assert!(Domain::new("local").unwrap().is_local());
        assert_eq!(Domain::new("a.b.c.").unwrap().as_str(), "a.b.c.");
        assert_eq!(Domain::new(r"a\.b").unwrap().as_str(), r"a\.b.");
        for bad in ["", ".", "a..b", ".a", &format!("{}.com", "l".repeat(64))] {
            assert!(Domain::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn host_name_rules() {
        for ok in [
            "h",
            "h.local",
            "h.local.",
            "server.example.com",
            "Büro-Mac.local.",
            &format!("{}.local", "a".repeat(63)),
        ] {
            assert!(HostName::new(ok).is_ok(), "{ok:?}");
        }
        assert!(HostName::new("x.LOCAL.").unwrap().is_local());
        assert!(!HostName::new("x.example.com").unwrap().is_local());
        assert!(!HostName::new("local").unwrap().is_local());
        assert_eq!(
            HostName::new("H.local.").unwrap(),
            HostName::new("h.local").unwrap()
        );
        // 4 labels of 63 bytes = 255 bytes with dots: too long; 253 is the limit.
        let long = vec!["a".repeat(63); 4].join(".");
        assert_eq!(long.len(), 255);
        assert!(reason_of(HostName::new(&long).unwrap_err()).contains("253"));
        let max = format!("{}.{}", vec!["a".repeat(63); 3].join("."), "b".repeat(61));
        assert_eq!(max.len(), 253);
        assert!(HostName::new(&max).is_ok());
        assert!(HostName::new(&format!("{max}.")).is_ok());
        for bad in [
            "",
            ".",
            "a..b",
            ".local",
            "a\u{1}.local",
            "a\\",
            "a\\25.local",
        ] {
            assert!(HostName::new(bad).is_err(), "{bad:?}");
        }
        let too_long_label = format!("{}.local", "a".repeat(64));
        assert!(reason_of(HostName::new(&too_long_label).unwrap_err()).contains("63"));
    }

    #[test]
    fn escaping_vectors() {
        assert_eq!(escape_label("plain"), "plain");
        assert_eq!(escape_label("a.b"), r"a\.b");
        assert_eq!(escape_label(r"a\b"), r"a\\b");
        assert_eq!(escape_label(r"A.B \ C"), r"A\.B \\ C");
        assert_eq!(escape_label(r"\."), r"\\\.");
    }

    #[test]
    fn full_name_round_trips() {
        let t = ServiceType::new("_http._tcp").unwrap();
        for name in [
            r"A.B \ C",
            "plain",
            "...",
            r"\\\\",
            r"trailing\",
            "trailing.",
            "Zürich Büro (2)",
            r"\032 is literal",
            &"x.".repeat(31),
        ] {
            let instance = InstanceName::new(name).unwrap();
            for domain in [Domain::local(), Domain::new("example.com").unwrap()] {
                let s = full_name(&instance, &t, &domain);
                let (i2, t2, d2) = parse_full_name(&s).unwrap_or_else(|e| panic!("{s}: {e}"));
                assert_eq!(i2.as_str(), name, "{s}");
                assert_eq!(t2, t);
                assert_eq!(d2, domain);
            }
        }
    }

    #[test]
    fn parse_decodes_dns_sd_escapes() {
        // As DNSServiceConstructFullName writes spaces and control characters, and Avahi dots.
        let (i, t, d) = parse_full_name(r"My\032Printer\0462._ipp._tcp.local.").unwrap();
        assert_eq!(i.as_str(), "My Printer.2");
        assert_eq!(t.to_string(), "_ipp._tcp");
        assert!(d.is_local());
        // UTF-8 written byte by byte.
        let (i, ..) = parse_full_name(r"Z\195\188rich._http._tcp.local").unwrap();
        assert_eq!(i.as_str(), "Zürich");
        // No domain: local.
        let (_, _, d) = parse_full_name("x._http._tcp").unwrap();
        assert!(d.is_local());
        // Multi-label domains keep their labels.
        let (_, _, d) = parse_full_name(r"x._http._tcp.a\.b.example.").unwrap();
        assert_eq!(d.as_str(), r"a\.b.example.");
    }

    #[test]
    fn parse_rejects_bad_full_names() {
        for bad in [
            "",
            "x",
            "x._http",
            "_http._tcp.local.", // a type, not an instance: _http is the instance, "local" the proto
            r"x\._http._tcp",    // the dot is escaped: only two labels
            r"x\256._http._tcp", // escape above 255
            r"x\25._http._tcp",  // two digits
            r"x._http._tcp.local\", // lone backslash
            r"\255\254._http._tcp.local.", // not UTF-8
            "a\u{1}b._http._tcp.local.",
            "x._sub._http._tcp.local.",
            "x.._http._tcp",
            "x._http._bogus.local",
        ] {
            assert!(parse_full_name(bad).is_err(), "{bad:?}");
        }
        // The instance's own limit applies after decoding.
        let long = format!("{}._http._tcp.local.", r"\.".repeat(64));
        assert!(parse_full_name(&long).is_err());
        let fits = format!("{}._http._tcp.local.", r"\.".repeat(63));
        assert_eq!(parse_full_name(&fits).unwrap().0.as_str(), ".".repeat(63));
    }

    /// Random labels of random bytes: escape then parse recovers every valid instance name, and
    /// no input makes the parser panic.
    #[test]
    fn random_round_trip_and_no_panic() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let pool = ['a', '.', '\\', ' ', 'ü', '0', '3', '_', '\u{1}', '日'];
        let t = ServiceType::new("_x._udp").unwrap();
        for _ in 0..20_000 {
            let len = (next() % 30) as usize;
            let s: String = (0..len)
                .map(|_| pool[(next() % pool.len() as u64) as usize])
                .collect();
            if let Ok(instance) = InstanceName::new(s.clone()) {
                let full = full_name(&instance, &t, &Domain::local());
                let (back, ..) = parse_full_name(&full).unwrap();
                assert_eq!(back.as_str(), s);
            }
            let _ = parse_full_name(&s);
            let _ = ServiceType::new(&s);
            let _ = HostName::new(&s);
            let _ = Domain::new(&s);
        }
    }
}
