//! The engine's whole receive path with arbitrary datagrams: no panics, nothing sent to
//! off-link sources, no datagram over 9000 bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

include!("../../dnssd-engine/tests/net/receive.rs");

fuzz_target!(|data: &[u8]| fuzz_receive(data));
