//! With feature `link`, the Apple-only entry points come from the linked library itself, never
//! from whatever else the process has loaded (run with `--features link`; own test binary, so
//! `Api::linked()` is first called here, after the impostor is loaded).
//!
//! An impostor library exporting `DNSServiceGetAddrInfo` is compiled with the system C
//! compiler and loaded with `RTLD_GLOBAL` before the linked table is built. Looking the Apple
//! names up in the whole process (`dlopen(NULL)`) finds the impostor's; the linked library
//! (Avahi's here) has none, so the table must have none.

#![cfg(all(target_os = "linux", dnssd_linked))]

use std::process::Command;

use dnssd_sys::Api;

#[test]
fn apple_only_symbols_are_not_taken_from_another_loaded_library() {
    let dir = std::env::temp_dir().join(format!("dnssd-sys-impostor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join("impostor.c");
    let library = dir.join("libimpostor.so");
    std::fs::write(
        &source,
        "int DNSServiceGetAddrInfo(void) { return -65537; }\n\
         int DNSServiceGetProperty(void) { return -65537; }\n",
    )
    .unwrap();
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&library)
        .arg(&source)
        .status()
        .expect("run cc (a C compiler is needed for this test)");
    assert!(status.success(), "cc failed: {status}");

    // SAFETY: the impostor has no initialisers; it is never unloaded (leaked below) and its
    // functions are never called.
    let impostor = unsafe {
        libloading::os::unix::Library::open(
            Some(&library),
            libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_GLOBAL,
        )
    }
    .expect("load the impostor");
    std::mem::forget(impostor);
    // The impostor is visible process-wide now: the old lookup would have found it.
    let process = libloading::os::unix::Library::this();
    // SAFETY: only the symbol's address is read.
    let visible = unsafe { process.get::<unsafe extern "C" fn()>(b"DNSServiceGetAddrInfo\0") };
    assert!(
        visible.is_ok(),
        "the impostor should be visible process-wide"
    );

    let api = Api::linked();
    assert!(
        api.DNSServiceGetAddrInfo.is_none(),
        "DNSServiceGetAddrInfo taken from another library: {api:?}"
    );
    assert!(api.DNSServiceGetProperty.is_none(), "{api:?}");
    // The header's functions are the linked ones.
    assert!(api.DNSServiceBrowse.is_some());
    let _ = std::fs::remove_dir_all(&dir);
}
