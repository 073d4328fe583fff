//! No network, no daemon: both tables find the installed library (Avahi's here) and report
//! which entry points it has; calls into the TXT helpers go through each table.

#![cfg(all(unix, not(target_vendor = "apple")))]
#![allow(clippy::expect_used, reason = "test helpers outside #[test] fns")]

use std::ffi::c_void;

use dnssd_sys::{Api, ApiOrigin, TXTRecordRef, kDNSServiceErr_NoError};

/// Builds a one-key TXT record through `api` and returns its wire bytes.
fn txt_through(api: &Api) -> Vec<u8> {
    let create = api.TXTRecordCreate.expect("TXTRecordCreate");
    let set = api.TXTRecordSetValue.expect("TXTRecordSetValue");
    let len = api.TXTRecordGetLength.expect("TXTRecordGetLength");
    let bytes = api.TXTRecordGetBytesPtr.expect("TXTRecordGetBytesPtr");
    let free = api.TXTRecordDeallocate.expect("TXTRecordDeallocate");
    let mut buffer = [0u8; 64];
    // SAFETY: TXTRecordRef is plain old data that TXTRecordCreate initialises.
    let mut txt: TXTRecordRef = unsafe { std::mem::zeroed() };
    // SAFETY: `txt` and `buffer` outlive every call below; the key is NUL-terminated and the
    // value pointer/length describe a live slice; the record is deallocated once.
    unsafe {
        create(
            &mut txt,
            buffer.len() as u16,
            buffer.as_mut_ptr().cast::<c_void>(),
        );
        assert_eq!(
            set(&mut txt, c"path".as_ptr(), 2, b"/x".as_ptr().cast()),
            kDNSServiceErr_NoError
        );
        let wire =
            std::slice::from_raw_parts(bytes(&txt).cast::<u8>(), usize::from(len(&txt))).to_vec();
        free(&mut txt);
        wire
    }
}

#[test]
fn runtime_load_finds_avahis_library_without_getaddrinfo() {
    let api =
        Api::load().expect("Avahi's libdns_sd (Debian libavahi-compat-libdnssd1) is installed");
    assert!(
        matches!(api.origin(), ApiOrigin::Loaded { library } if library.contains("libdns_sd")),
        "{:?}",
        api.origin()
    );
    for present in [
        api.DNSServiceRegister.is_some(),
        api.DNSServiceBrowse.is_some(),
        api.DNSServiceResolve.is_some(),
        api.DNSServiceQueryRecord.is_some(),
    ] {
        assert!(present, "{api:?}");
    }
    // Avahi's 2006 API has none of Apple's later entry points.
    assert!(api.DNSServiceGetAddrInfo.is_none(), "{api:?}");
    assert!(api.DNSServiceGetProperty.is_none(), "{api:?}");
    for apple_only in Api::APPLE_ONLY_SYMBOLS {
        assert!(
            !api.available_symbols().contains(apple_only),
            "{apple_only}"
        );
    }
    // Loaded once per process: the same table comes back.
    assert!(std::ptr::eq(api, Api::load().unwrap()));
    assert_eq!(txt_through(api), b"\x07path=/x");
}

#[cfg(dnssd_linked)]
#[test]
fn linked_table_has_the_header_functions_and_no_apple_ones_with_avahi() {
    let api = Api::linked();
    assert_eq!(api.origin(), &ApiOrigin::Linked);
    assert_eq!(
        api.available_symbols().len(),
        Api::SYMBOLS.len() - Api::APPLE_ONLY_SYMBOLS.len()
    );
    assert!(api.DNSServiceGetAddrInfo.is_none(), "{api:?}");
    assert!(
        std::ptr::eq(Api::get().unwrap(), api),
        "with feature link, get() is the linked table"
    );
    assert_eq!(txt_through(api), b"\x07path=/x");
}

/// Built with `--features link` (CI's linked step) but without a linked library: the linked
/// table is missing and that is a failure here, not a silent skip.
#[cfg(all(feature = "link", not(dnssd_linked)))]
#[test]
fn linked_table_is_built() {
    panic!(
        "dnssd-sys was built without a linked libdns_sd (see the build warning): install \
         libavahi-compat-libdnssd-dev so the linked table is tested too"
    );
}
