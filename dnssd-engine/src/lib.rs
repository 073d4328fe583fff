//! Sans-IO mDNS / DNS-SD engine (RFC 6762, RFC 6763).
#![forbid(unsafe_code)]

pub mod wire;
