//! What Apple's current `dns_sd.h` declares and Avahi's 2006 copy lacks.
//!
//! Hand-written from Apple's documented ABI (mDNSResponder's public `dns_sd.h`, API version
//! 1661 and later), not generated: the header installed on Linux is Avahi's, which stops at
//! mDNSResponder-107 era. Names, values and signatures follow Apple's header exactly, so code
//! written against Apple's documentation reads the same in Rust.
//!
//! Nothing here proves the running library has these entry points: Avahi's `libdns_sd` has
//! none of the functions below, and returns none of the newer error codes (a missing daemon is
//! [`kDNSServiceErr_Unknown`](crate::kDNSServiceErr_Unknown) there, [`kDNSServiceErr_ServiceNotRunning`]
//! with Apple's). The functions are reached through [`Api`](crate::Api), whose entries are
//! `None` where the library does not export the symbol.
//!
//! Constants use the same integer types as the generated ones (`c_uint` for flags, record
//! types and protocols, `c_int` for error codes), so both sets mix without casts.

#![allow(
    non_upper_case_globals,
    non_camel_case_types,
    non_snake_case,
    reason = "names are Apple's C names, so code reads like Apple's documentation"
)]

use core::ffi::{c_char, c_int, c_uint, c_void};

use crate::{DNSServiceErrorType, DNSServiceFlags, DNSServiceRef};

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

/// `DNSServiceProtocol`: a bit set of `kDNSServiceProtocol_*` values (GetAddrInfo, NAT mapping).
pub type DNSServiceProtocol = u32;

/// Opaque `struct sockaddr` as passed to [`DNSServiceGetAddrInfoReply`]: read `sa_family`
/// through the platform's own `sockaddr` type (for example `libc::sockaddr`) after a cast.
#[repr(C)]
#[derive(Debug)]
pub struct sockaddr {
    _opaque: [u8; 0],
}

/// Opaque `DNSServiceAttribute` (macOS 12 / iOS 15 and later).
#[repr(C)]
#[derive(Debug)]
pub struct DNSServiceAttribute {
    _opaque: [u8; 0],
}

/// `DNSServiceAttributeRef`: pointer to an attribute made by `DNSServiceAttributeCreate`.
pub type DNSServiceAttributeRef = *mut DNSServiceAttribute;

/// `DNSServiceAAAAPolicy` (a C enum; `kDNSServiceAAAAPolicy*` values).
pub type DNSServiceAAAAPolicy = c_uint;

/// `dispatch_queue_t`, only meaningful on Apple platforms (libdispatch object pointer).
pub type dispatch_queue_t = *mut c_void;

/// `dnssd_sock_t` as Apple declares it today: `SOCKET` on Windows, `int` elsewhere.
///
/// The generated `DNSServiceRefSockFD` returns `c_int` (Avahi's and older Apple headers,
/// including Bonjour SDK 3.0 for Windows). On 64-bit Windows with a newer library, a `SOCKET`
/// returned in a 64-bit register is read as its low 32 bits, which hold the handle value in
/// practice.
#[cfg(windows)]
pub type dnssd_sock_t = usize;
/// `dnssd_sock_t` as Apple declares it today: `SOCKET` on Windows, `int` elsewhere.
#[cfg(not(windows))]
pub type dnssd_sock_t = c_int;

/// Callback of [`Api::DNSServiceGetAddrInfo`](crate::Api::DNSServiceGetAddrInfo): one address
/// (`address` is a `sockaddr_in` or `sockaddr_in6`, null on error or timeout).
pub type DNSServiceGetAddrInfoReply = Option<
    unsafe extern "C" fn(
        sdRef: DNSServiceRef,
        flags: DNSServiceFlags,
        interfaceIndex: u32,
        errorCode: DNSServiceErrorType,
        hostname: *const c_char,
        address: *const sockaddr,
        ttl: u32,
        context: *mut c_void,
    ),
>;

/// Callback of [`Api::DNSServiceNATPortMappingCreate`](crate::Api::DNSServiceNATPortMappingCreate).
/// `externalAddress` and the ports are in network byte order.
pub type DNSServiceNATPortMappingReply = Option<
    unsafe extern "C" fn(
        sdRef: DNSServiceRef,
        flags: DNSServiceFlags,
        interfaceIndex: u32,
        errorCode: DNSServiceErrorType,
        externalAddress: u32,
        protocol: DNSServiceProtocol,
        internalPort: u16,
        externalPort: u16,
        ttl: u32,
        context: *mut c_void,
    ),
>;

/// Callback of [`Api::DNSServiceSleepKeepalive`](crate::Api::DNSServiceSleepKeepalive)
/// (not declared by Apple on Windows).
pub type DNSServiceSleepKeepaliveReply = Option<
    unsafe extern "C" fn(
        sdRef: DNSServiceRef,
        errorCode: DNSServiceErrorType,
        context: *mut c_void,
    ),
>;

// ---------------------------------------------------------------------------------------------
// Properties and versions
// ---------------------------------------------------------------------------------------------

/// Property name for `DNSServiceGetProperty`: the daemon's API version as a `u32`
/// (pass a `u32` result and `size = 4`).
pub const kDNSServiceProperty_DaemonVersion: &core::ffi::CStr = c"DaemonVersion";

/// Versions up to this value encode `x.y.z` as `x*10000 + y*100 + z`; above it as
/// `x*1000000 + y*1000 + z` (Apple's `DNS_SD_ORIGINAL_ENCODING_VERSION_NUMBER_MAX`).
pub const DNS_SD_ORIGINAL_ENCODING_VERSION_NUMBER_MAX: u32 = 16_610_000;

/// Apple's `kDNSServiceMaxDomainName`: 251 label bytes written as `\ddd` (1004) + 4 dots +
/// NUL. Avahi's header says 1005 ([`crate::kDNSServiceMaxDomainName`]); size buffers with this
/// larger value, which is safe for both libraries.
pub const kDNSServiceMaxDomainName: u32 = 1009;

// ---------------------------------------------------------------------------------------------
// Interface indexes (Apple writes them as `((uint32_t)-N)`)
// ---------------------------------------------------------------------------------------------

/// Unicast-only interface index (`(uint32_t)-2`), reported by Apple's daemon.
pub const kDNSServiceInterfaceIndexUnicast: u32 = u32::MAX - 1;
/// Peer-to-peer interfaces (`(uint32_t)-3`).
pub const kDNSServiceInterfaceIndexP2P: u32 = u32::MAX - 2;
/// Bluetooth Low Energy (`(uint32_t)-4`).
pub const kDNSServiceInterfaceIndexBLE: u32 = u32::MAX - 3;

// ---------------------------------------------------------------------------------------------
// Flags that Avahi's header lacks (Avahi rejects every non-zero flag anyway)
// ---------------------------------------------------------------------------------------------

/// Input flag of `DNSServiceRegisterRecord`: queue until `DNSServiceSendQueuedRequests`
/// (same bit as MoreComing, which is output-only).
pub const kDNSServiceFlagsQueueRequest: c_uint = 0x1;
/// Input flag of `DNSServiceBrowse`: trigger the browse over AWDL once found over BLE.
pub const kDNSServiceFlagsAutoTrigger: c_uint = 0x1;
/// Deprecated name of bit 0x800 (ReconfirmRecord: remove from cache at once).
pub const kDNSServiceFlagsForce: c_uint = 0x800;
/// Registration: names are known unique, skip probing (same bit as Avahi's `ReturnCNAME`).
pub const kDNSServiceFlagsKnownUnique: c_uint = 0x800;
/// Queries: also report NXDomain and intermediate CNAME results.
pub const kDNSServiceFlagsReturnIntermediates: c_uint = 0x1000;
/// Reserved by Apple ("private, should not be used").
pub const kDNSServiceFlagsPrivateOne: c_uint = 0x2000;
/// Operation shares the connection of a `DNSServiceCreateConnection` ref.
pub const kDNSServiceFlagsShareConnection: c_uint = 0x4000;
/// QueryRecord: skip unicast queries for address families this host cannot route.
pub const kDNSServiceFlagsSuppressUnusable: c_uint = 0x8000;
/// QueryRecord / GetAddrInfo: stop after a system-chosen time with `kDNSServiceErr_Timeout`.
pub const kDNSServiceFlagsTimeout: c_uint = 0x10000;
/// Include peer-to-peer interfaces with `kDNSServiceInterfaceIndexAny`.
pub const kDNSServiceFlagsIncludeP2P: c_uint = 0x20000;
/// Resolve: send a wake-on-LAN magic packet to the target.
pub const kDNSServiceFlagsWakeOnResolve: c_uint = 0x40000;
/// Unicast DNS: use the background traffic class.
pub const kDNSServiceFlagsBackgroundTrafficClass: c_uint = 0x80000;
/// Include the AWDL interface with `kDNSServiceInterfaceIndexAny`.
pub const kDNSServiceFlagsIncludeAWDL: c_uint = 0x100000;
/// Older name of [`kDNSServiceFlagsValidate`].
pub const kDNSServiceFlagsEnableDNSSEC: c_uint = 0x200000;
/// QueryRecord / GetAddrInfo: validate with DNSSEC (input and output flag).
pub const kDNSServiceFlagsValidate: c_uint = 0x200000;
/// DNSSEC result: secure (includes the Validate bit).
pub const kDNSServiceFlagsSecure: c_uint = 0x200010;
/// DNSSEC result: insecure (includes the Validate bit).
pub const kDNSServiceFlagsInsecure: c_uint = 0x200020;
/// DNSSEC result: bogus (includes the Validate bit).
pub const kDNSServiceFlagsBogus: c_uint = 0x200040;
/// DNSSEC result: indeterminate (includes the Validate bit).
pub const kDNSServiceFlagsIndeterminate: c_uint = 0x200080;
/// Ask for a unicast response to the query (mDNS QU bit).
pub const kDNSServiceFlagsUnicastResponse: c_uint = 0x400000;
/// Like Validate, but fall back to no validation when DNSSEC records are unavailable.
pub const kDNSServiceFlagsValidateOptional: c_uint = 0x800000;
/// Register: do not register the service with a sleep proxy.
pub const kDNSServiceFlagsWakeOnlyService: c_uint = 0x1000000;
/// Browse: stop retransmitting after one answer.
pub const kDNSServiceFlagsThresholdOne: c_uint = 0x2000000;
/// Browse: stop retransmitting after a system-chosen number of answers.
pub const kDNSServiceFlagsThresholdFinder: c_uint = 0x4000000;
/// Browse callback: the answer threshold is reached (same bit as ThresholdOne).
pub const kDNSServiceFlagsThresholdReached: c_uint = kDNSServiceFlagsThresholdOne;
/// Reserved by Apple ("private, should not be used").
pub const kDNSServiceFlagsPrivateTwo: c_uint = 0x8000000;
/// Reserved by Apple ("private, should not be used").
pub const kDNSServiceFlagsPrivateThree: c_uint = 0x10000000;
/// Reserved by Apple ("private, should not be used").
pub const kDNSServiceFlagsPrivateFour: c_uint = 0x20000000;
/// Reserved by Apple ("private, should not be used").
pub const kDNSServiceFlagsPrivateFive: c_uint = 0x40000000;
/// QueryRecord / GetAddrInfo callback: answered from the daemon's cache.
/// (Apple spells it `Flag`, not `Flags`.)
pub const kDNSServiceFlagAnsweredFromCache: c_uint = 0x40000000;
/// QueryRecord / GetAddrInfo: return expired cached answers at once while re-querying.
pub const kDNSServiceFlagsAllowExpiredAnswers: c_uint = 0x80000000;
/// Callback flag: this answer had expired (with AllowExpiredAnswers).
pub const kDNSServiceFlagsExpiredAnswer: c_uint = 0x80000000;

// ---------------------------------------------------------------------------------------------
// Protocols (DNSServiceGetAddrInfo, DNSServiceNATPortMappingCreate)
// ---------------------------------------------------------------------------------------------

/// GetAddrInfo: look up IPv4 addresses.
pub const kDNSServiceProtocol_IPv4: c_uint = 0x01;
/// GetAddrInfo: look up IPv6 addresses.
pub const kDNSServiceProtocol_IPv6: c_uint = 0x02;
/// NAT port mapping: UDP.
pub const kDNSServiceProtocol_UDP: c_uint = 0x10;
/// NAT port mapping: TCP.
pub const kDNSServiceProtocol_TCP: c_uint = 0x20;

// ---------------------------------------------------------------------------------------------
// AAAA policy (DNSServiceAttributeSetAAAAPolicy)
// ---------------------------------------------------------------------------------------------

/// No AAAA policy.
pub const kDNSServiceAAAAPolicyNone: DNSServiceAAAAPolicy = 0;
/// If no AAAA record exists, query for A.
pub const kDNSServiceAAAAPolicyFallback: DNSServiceAAAAPolicy = 1;

// ---------------------------------------------------------------------------------------------
// Record types added after Avahi's copy
// ---------------------------------------------------------------------------------------------

/// Address prefix list.
pub const kDNSServiceType_APL: c_uint = 42;
/// Delegation signer.
pub const kDNSServiceType_DS: c_uint = 43;
/// SSH key fingerprint.
pub const kDNSServiceType_SSHFP: c_uint = 44;
/// IPsec key.
pub const kDNSServiceType_IPSECKEY: c_uint = 45;
/// DNSSEC signature.
pub const kDNSServiceType_RRSIG: c_uint = 46;
/// Denial of existence (mDNS negative answers).
pub const kDNSServiceType_NSEC: c_uint = 47;
/// DNSSEC key.
pub const kDNSServiceType_DNSKEY: c_uint = 48;
/// DHCP client identifier.
pub const kDNSServiceType_DHCID: c_uint = 49;
/// Hashed denial of existence.
pub const kDNSServiceType_NSEC3: c_uint = 50;
/// NSEC3 parameters.
pub const kDNSServiceType_NSEC3PARAM: c_uint = 51;
/// Host identity protocol.
pub const kDNSServiceType_HIP: c_uint = 55;
/// Service binding.
pub const kDNSServiceType_SVCB: c_uint = 64;
/// HTTPS service binding.
pub const kDNSServiceType_HTTPS: c_uint = 65;
/// Sender policy framework.
pub const kDNSServiceType_SPF: c_uint = 99;
/// IANA-reserved.
pub const kDNSServiceType_UINFO: c_uint = 100;
/// IANA-reserved.
pub const kDNSServiceType_UID: c_uint = 101;
/// IANA-reserved.
pub const kDNSServiceType_GID: c_uint = 102;
/// IANA-reserved.
pub const kDNSServiceType_UNSPEC: c_uint = 103;

// ---------------------------------------------------------------------------------------------
// Error codes after kDNSServiceErr_BadTime (-65559), where Avahi's header stops
// ---------------------------------------------------------------------------------------------

/// Bad signature.
pub const kDNSServiceErr_BadSig: c_int = -65560;
/// Bad key.
pub const kDNSServiceErr_BadKey: c_int = -65561;
/// Transient failure.
pub const kDNSServiceErr_Transient: c_int = -65562;
/// The background daemon is not running (Apple). Avahi reports `kDNSServiceErr_Unknown`.
pub const kDNSServiceErr_ServiceNotRunning: c_int = -65563;
/// The NAT supports none of PCP, NAT-PMP or UPnP.
pub const kDNSServiceErr_NATPortMappingUnsupported: c_int = -65564;
/// The NAT supports port mapping but the administrator disabled it.
pub const kDNSServiceErr_NATPortMappingDisabled: c_int = -65565;
/// No router configured (probably no network connectivity).
pub const kDNSServiceErr_NoRouter: c_int = -65566;
/// Polling mode.
pub const kDNSServiceErr_PollingMode: c_int = -65567;
/// The query timed out (with `kDNSServiceFlagsTimeout`).
pub const kDNSServiceErr_Timeout: c_int = -65568;
/// The connection to the daemon was defuncted (`SO_ISDEFUNCT`, e.g. iOS app suspension).
pub const kDNSServiceErr_DefunctConnection: c_int = -65569;
/// Denied by policy (for example Local Network privacy on macOS/iOS).
pub const kDNSServiceErr_PolicyDenied: c_int = -65570;
/// Operation not permitted.
pub const kDNSServiceErr_NotPermitted: c_int = -65571;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_indexes_match_apples_negative_casts() {
        assert_eq!(kDNSServiceInterfaceIndexUnicast, (-2_i32) as u32);
        assert_eq!(kDNSServiceInterfaceIndexP2P, (-3_i32) as u32);
        assert_eq!(kDNSServiceInterfaceIndexBLE, (-4_i32) as u32);
    }

    #[test]
    fn error_codes_continue_avahis_range_without_gaps() {
        let apple_only = [
            kDNSServiceErr_BadSig,
            kDNSServiceErr_BadKey,
            kDNSServiceErr_Transient,
            kDNSServiceErr_ServiceNotRunning,
            kDNSServiceErr_NATPortMappingUnsupported,
            kDNSServiceErr_NATPortMappingDisabled,
            kDNSServiceErr_NoRouter,
            kDNSServiceErr_PollingMode,
            kDNSServiceErr_Timeout,
            kDNSServiceErr_DefunctConnection,
            kDNSServiceErr_PolicyDenied,
            kDNSServiceErr_NotPermitted,
        ];
        let mut expected = crate::kDNSServiceErr_BadTime - 1;
        for code in apple_only {
            assert_eq!(code, expected);
            expected -= 1;
        }
    }

    #[test]
    fn dnssec_status_flags_include_the_validate_bit() {
        for flag in [
            kDNSServiceFlagsSecure,
            kDNSServiceFlagsInsecure,
            kDNSServiceFlagsBogus,
            kDNSServiceFlagsIndeterminate,
        ] {
            assert_eq!(flag & kDNSServiceFlagsValidate, kDNSServiceFlagsValidate);
        }
    }
}
