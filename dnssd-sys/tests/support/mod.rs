//! Test support: drive raw `DNSServiceRef`s from a test thread and record their callbacks.
//!
//! One `Operation` owns one ref (deallocated on drop, before the recorded events it points
//! into) and a boxed event log that the C callbacks append to. `Operation::wait_for` polls the
//! ref's descriptor with a timeout and only calls `DNSServiceProcessResult` when it is
//! readable, because Avahi's descriptor can wake spuriously and ProcessResult blocks when
//! nothing is pending.

#![allow(
    dead_code,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test support shared by several test binaries; failures are test failures"
)]

use std::ffi::{CStr, CString, c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dnssd_sys::{Api, DNSServiceErrorType, DNSServiceFlags, DNSServiceRef, kDNSServiceErr_NoError};

/// What a callback reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// DNSServiceRegisterReply.
    Registered {
        flags: DNSServiceFlags,
        error: DNSServiceErrorType,
        name: String,
        regtype: String,
        domain: String,
    },
    /// DNSServiceBrowseReply.
    Browsed {
        flags: DNSServiceFlags,
        interface: u32,
        error: DNSServiceErrorType,
        name: String,
        regtype: String,
        domain: String,
    },
    /// DNSServiceResolveReply (port in host order, TXT as wire bytes).
    Resolved {
        interface: u32,
        error: DNSServiceErrorType,
        fullname: String,
        host: String,
        port: u16,
        txt: Vec<u8>,
    },
}

/// Where the callbacks write; boxed so its address is stable while the ref lives.
type Log = Mutex<Vec<Event>>;

fn text(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: the library passes NUL-terminated strings valid for the callback's duration.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// Appends `event` to the log behind `context`, never unwinding into C.
fn record(context: *mut c_void, event: impl FnOnce() -> Event) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `context` is the `Box<Log>` of the Operation that owns the ref; the ref is
        // deallocated (so no callback can run) before the box is dropped.
        let log = unsafe { &*context.cast::<Log>() };
        log.lock().unwrap().push(event());
    }));
}

unsafe extern "C" fn on_register(
    _sd: DNSServiceRef,
    flags: DNSServiceFlags,
    error: DNSServiceErrorType,
    name: *const c_char,
    regtype: *const c_char,
    domain: *const c_char,
    context: *mut c_void,
) {
    record(context, || Event::Registered {
        flags,
        error,
        name: text(name),
        regtype: text(regtype),
        domain: text(domain),
    });
}

unsafe extern "C" fn on_browse(
    _sd: DNSServiceRef,
    flags: DNSServiceFlags,
    interface: u32,
    error: DNSServiceErrorType,
    name: *const c_char,
    regtype: *const c_char,
    domain: *const c_char,
    context: *mut c_void,
) {
    record(context, || Event::Browsed {
        flags,
        interface,
        error,
        name: text(name),
        regtype: text(regtype),
        domain: text(domain),
    });
}

unsafe extern "C" fn on_resolve(
    _sd: DNSServiceRef,
    _flags: DNSServiceFlags,
    interface: u32,
    error: DNSServiceErrorType,
    fullname: *const c_char,
    host: *const c_char,
    port_be: u16,
    txt_len: u16,
    txt: *const u8,
    context: *mut c_void,
) {
    record(context, || {
        let txt = if txt.is_null() {
            Vec::new()
        } else {
            // SAFETY: the library passes `txt_len` readable bytes at `txt` for the callback.
            unsafe { std::slice::from_raw_parts(txt, usize::from(txt_len)) }.to_vec()
        };
        Event::Resolved {
            interface,
            error,
            fullname: text(fullname),
            host: text(host),
            port: u16::from_be(port_be),
            txt,
        }
    });
}

/// One running operation: a ref and the log its callbacks fill.
pub struct Operation {
    api: &'static Api,
    // Declared before `log`: the ref is deallocated first, so no callback can touch the log
    // after it is freed (Drop below does it explicitly as well).
    sd: DNSServiceRef,
    log: Box<Log>,
}

impl Operation {
    fn context(log: &Log) -> *mut c_void {
        ptr::from_ref(log).cast_mut().cast()
    }

    /// DNSServiceRegister(name, regtype, port, txt wire bytes) on all interfaces.
    pub fn register(
        api: &'static Api,
        name: &str,
        regtype: &str,
        port: u16,
        txt: &[u8],
    ) -> Result<Operation, DNSServiceErrorType> {
        let log: Box<Log> = Box::default();
        let mut sd: DNSServiceRef = ptr::null_mut();
        let (name, regtype) = (CString::new(name).unwrap(), CString::new(regtype).unwrap());
        let register = api.DNSServiceRegister.expect("DNSServiceRegister");
        // SAFETY: every pointer is valid for the call (strings NUL-terminated, TXT slice of its
        // stated length); the context outlives the ref (see `Operation`).
        let error = unsafe {
            register(
                &mut sd,
                0,
                0,
                name.as_ptr(),
                regtype.as_ptr(),
                ptr::null(),
                ptr::null(),
                port.to_be(),
                u16::try_from(txt.len()).unwrap(),
                txt.as_ptr().cast(),
                Some(on_register),
                Self::context(&log),
            )
        };
        Self::started(api, sd, log, error)
    }

    /// DNSServiceBrowse(regtype) on all interfaces, default domain.
    pub fn browse(api: &'static Api, regtype: &str) -> Result<Operation, DNSServiceErrorType> {
        let log: Box<Log> = Box::default();
        let mut sd: DNSServiceRef = ptr::null_mut();
        let regtype = CString::new(regtype).unwrap();
        let browse = api.DNSServiceBrowse.expect("DNSServiceBrowse");
        // SAFETY: as in `register`.
        let error = unsafe {
            browse(
                &mut sd,
                0,
                0,
                regtype.as_ptr(),
                ptr::null(),
                Some(on_browse),
                Self::context(&log),
            )
        };
        Self::started(api, sd, log, error)
    }

    /// DNSServiceResolve(name, regtype, domain) on `interface`.
    pub fn resolve(
        api: &'static Api,
        interface: u32,
        name: &str,
        regtype: &str,
        domain: &str,
    ) -> Result<Operation, DNSServiceErrorType> {
        let log: Box<Log> = Box::default();
        let mut sd: DNSServiceRef = ptr::null_mut();
        let (name, regtype, domain) = (
            CString::new(name).unwrap(),
            CString::new(regtype).unwrap(),
            CString::new(domain).unwrap(),
        );
        let resolve = api.DNSServiceResolve.expect("DNSServiceResolve");
        // SAFETY: as in `register`.
        let error = unsafe {
            resolve(
                &mut sd,
                0,
                interface,
                name.as_ptr(),
                regtype.as_ptr(),
                domain.as_ptr(),
                Some(on_resolve),
                Self::context(&log),
            )
        };
        Self::started(api, sd, log, error)
    }

    fn started(
        api: &'static Api,
        sd: DNSServiceRef,
        log: Box<Log>,
        error: DNSServiceErrorType,
    ) -> Result<Operation, DNSServiceErrorType> {
        if error != kDNSServiceErr_NoError {
            return Err(error);
        }
        assert!(!sd.is_null(), "NoError but no ref");
        Ok(Operation { api, sd, log })
    }

    /// Events recorded so far.
    pub fn events(&self) -> Vec<Event> {
        self.log.lock().unwrap().clone()
    }

    /// Processes replies until `found` picks an event or `timeout` passes.
    pub fn wait_for<T>(
        &self,
        timeout: Duration,
        mut found: impl FnMut(&Event) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let sock_fd = self.api.DNSServiceRefSockFD.expect("DNSServiceRefSockFD");
        let process = self
            .api
            .DNSServiceProcessResult
            .expect("DNSServiceProcessResult");
        // SAFETY: `sd` is a live ref owned by self.
        let fd = unsafe { sock_fd(self.sd) };
        assert!(fd >= 0, "DNSServiceRefSockFD failed");
        loop {
            if let Some(hit) = self.log.lock().unwrap().iter().find_map(&mut found) {
                return Some(hit);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let mut pollfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = libc::c_int::try_from(left.as_millis().min(200)).unwrap();
            // SAFETY: one valid pollfd for the duration of the call.
            let ready = unsafe { libc::poll(&mut pollfd, 1, ms) };
            if ready > 0 {
                // Avahi's fd can wake spuriously: re-check with a zero timeout before a call
                // that would block.
                // SAFETY: as above.
                if unsafe { libc::poll(&mut pollfd, 1, 0) } > 0 {
                    // SAFETY: live ref, processed from this thread only.
                    let error = unsafe { process(self.sd) };
                    assert_eq!(error, kDNSServiceErr_NoError, "DNSServiceProcessResult");
                }
            }
        }
    }
}

impl Drop for Operation {
    fn drop(&mut self) {
        if let Some(deallocate) = self.api.DNSServiceRefDeallocate {
            // SAFETY: `sd` was created by this Operation and is deallocated exactly once.
            unsafe { deallocate(self.sd) };
        }
    }
}

/// TXT record wire format from `key=value` strings (test input, each < 256 bytes).
pub fn txt_wire(entries: &[&str]) -> Vec<u8> {
    let mut wire = Vec::new();
    for entry in entries {
        wire.push(u8::try_from(entry.len()).unwrap());
        wire.extend_from_slice(entry.as_bytes());
    }
    wire
}

/// The tables under test: linked (feature `link`, enabled for tests) and run-time loaded.
pub fn table(kind: Table) -> &'static Api {
    match kind {
        #[cfg(dnssd_linked)]
        Table::Linked => Api::linked(),
        #[cfg(not(dnssd_linked))]
        Table::Linked => panic!("dnssd-sys built without a linked libdns_sd"),
        Table::Loaded => Api::load().expect("libdns_sd loads"),
    }
}

/// Which [`Api`] table a test calls through.
#[derive(Clone, Copy, Debug)]
pub enum Table {
    /// `Api::linked()`.
    Linked,
    /// `Api::load()`.
    Loaded,
}

/// Marks a child process started by [`in_own_process`].
const CHILD_ENV: &str = "DNSSD_SYS_TEST_CHILD";

/// Runs `body` in a fresh process of this test binary (`--exact test_name`), unless this is
/// already that process. libdbus reads `DBUS_SYSTEM_BUS_ADDRESS` once per process, so a test
/// that points the library at its own lab's bus needs a process of its own, also under
/// `cargo test`, which runs the tests of a binary as threads of one process.
pub fn in_own_process(test_name: &str, body: impl FnOnce()) {
    if std::env::var_os(CHILD_ENV).is_some() {
        body();
        return;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let status = std::process::Command::new(exe)
        .args(["--exact", test_name, "--nocapture", "--test-threads", "1"])
        .env(CHILD_ENV, "1")
        .status()
        .expect("start the test in its own process");
    assert!(
        status.success(),
        "{test_name} failed in its own process ({status})"
    );
}
