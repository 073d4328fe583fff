//! parse -> encode -> parse of arbitrary datagrams: never panics, round trips exactly.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| dnssd_fuzz::message_roundtrip(data));
