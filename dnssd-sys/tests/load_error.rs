//! `DNSSD_LIBRARY` names the only library `Api::load()` tries; a wrong one is a typed error.
//! Its own test binary (own process): it changes the environment and must load first.

#![cfg(target_os = "linux")]

use dnssd_sys::{Api, LoadError};

#[test]
fn a_bad_dnssd_library_gives_a_typed_load_error() {
    // SAFETY: this binary has a single test, so no other thread reads the environment.
    unsafe { std::env::set_var("DNSSD_LIBRARY", "/nonexistent/libdns_sd.so.1") };
    match Api::load() {
        Err(LoadError::NotFound { attempts }) => {
            assert_eq!(
                attempts.len(),
                1,
                "only the override is tried: {attempts:?}"
            );
            assert_eq!(attempts[0].library, "/nonexistent/libdns_sd.so.1");
        }
        other => panic!("expected NotFound, got {other:?}"),
    }

    // A real library that is not a dns_sd implementation.
    // SAFETY: as above.
    unsafe { std::env::set_var("DNSSD_LIBRARY", "libc.so.6") };
    match Api::load() {
        Err(LoadError::MissingSymbol { library, symbol }) => {
            assert_eq!(library, "libc.so.6");
            assert_eq!(symbol, "DNSServiceRefSockFD");
        }
        other => panic!("expected MissingSymbol, got {other:?}"),
    }

    // Failures are not cached: with the override gone the default library loads.
    // SAFETY: as above.
    unsafe { std::env::remove_var("DNSSD_LIBRARY") };
    assert!(Api::load().is_ok());
}
