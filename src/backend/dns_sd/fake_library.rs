//! Test-only: a fake `dns_sd` library table. Its register and browse calls reply by a script
//! chosen by the name they are given, delivered through our real trampolines from inside its
//! `DNSServiceProcessResult`, so the flag sequences of Apple's and Avahi's libraries (and a
//! panicking callback) are covered without either daemon.
//!
//! Each fake ref owns a socket pair: one byte is written per scripted reply, the read end is
//! the ref's descriptor, and `DNSServiceProcessResult` reads one byte and calls the callback
//! with the next reply, as a real library does.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failure is a test failure"
)]

use std::collections::VecDeque;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, OnceLock};

use dnssd_sys::{
    Api, DNSServiceBrowseReply, DNSServiceErrorType, DNSServiceFlags, DNSServiceRef,
    DNSServiceRegisterReply,
};

use super::op::Flavor;
use super::service_ref::{FLAG_ADD, test_hook::PANIC_NAME};

/// Registering this name replays Apple's late conflict: registered, removed (no Add), renamed.
pub(crate) const APPLE_LATE_CONFLICT: &str = "apple-late-conflict";
/// Registering this name replays Avahi's: registered, renamed, both with flags 0.
pub(crate) const AVAHI_LATE_CONFLICT: &str = "avahi-late-conflict";
/// Browsing this type reports one instance named [`PANIC_NAME`].
pub(crate) const PANIC_TYPE: &str = "_panic._tcp";

/// One scripted callback.
struct Scripted {
    flags: DNSServiceFlags,
    name: CString,
}

enum Callback {
    Register(DNSServiceRegisterReply),
    Browse(DNSServiceBrowseReply),
}

struct FakeRef {
    reader: UnixStream,
    _writer: UnixStream,
    callback: Callback,
    context: *mut c_void,
    script: Mutex<VecDeque<Scripted>>,
}

/// The table of the fake library (one per flavor, for the life of the process); Apple's has
/// `DNSServiceGetAddrInfo`, so the backend takes it for Apple's.
pub(crate) fn table(flavor: Flavor) -> &'static Api {
    static APPLE: OnceLock<Api> = OnceLock::new();
    static AVAHI: OnceLock<Api> = OnceLock::new();
    let slot = match flavor {
        Flavor::Apple => &APPLE,
        Flavor::Avahi => &AVAHI,
    };
    slot.get_or_init(|| fake_table(flavor))
}

fn fake_table(flavor: Flavor) -> Api {
    let mut api = Api::empty();
    api.DNSServiceRegister = Some(register);
    api.DNSServiceBrowse = Some(browse);
    api.DNSServiceRefSockFD = Some(sock_fd);
    api.DNSServiceProcessResult = Some(process_result);
    api.DNSServiceRefDeallocate = Some(deallocate);
    if flavor == Flavor::Apple {
        api.DNSServiceGetAddrInfo = Some(get_addr_info);
    }
    api.DNSServiceReconfirmRecord = Some(reconfirm_record);
    api
}

fn script_for(name: &str) -> Vec<Scripted> {
    let reply = |flags, name: &str| Scripted {
        flags,
        name: CString::new(name).unwrap(),
    };
    match name {
        APPLE_LATE_CONFLICT => vec![
            reply(FLAG_ADD, "Clash"),
            reply(0, "Clash"),
            reply(FLAG_ADD, "Clash (2)"),
        ],
        AVAHI_LATE_CONFLICT => vec![reply(0, "Clash"), reply(0, "Clash #2")],
        other => vec![reply(FLAG_ADD, other)],
    }
}

fn new_ref(callback: Callback, context: *mut c_void, script: Vec<Scripted>) -> DNSServiceRef {
    let (reader, mut writer) = UnixStream::pair().unwrap();
    writer.write_all(&vec![b'r'; script.len()]).unwrap();
    let fake = FakeRef {
        reader,
        _writer: writer,
        callback,
        context,
        script: Mutex::new(script.into()),
    };
    Box::into_raw(Box::new(fake)).cast()
}

/// # Safety
/// `sd` is a live ref made by this module.
unsafe fn fake<'a>(sd: DNSServiceRef) -> &'a FakeRef {
    // SAFETY: per the contract, a live `FakeRef` from `Box::into_raw`.
    unsafe { &*sd.cast::<FakeRef>() }
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn register(
    out: *mut DNSServiceRef,
    _flags: DNSServiceFlags,
    _interface: u32,
    name: *const c_char,
    _regtype: *const c_char,
    _domain: *const c_char,
    _host: *const c_char,
    _port: u16,
    _txt_len: u16,
    _txt: *const c_void,
    callback: DNSServiceRegisterReply,
    context: *mut c_void,
) -> DNSServiceErrorType {
    let name = if name.is_null() {
        String::from("host")
    } else {
        // SAFETY: the caller passes a NUL-terminated name.
        unsafe { CStr::from_ptr(name) }
            .to_string_lossy()
            .into_owned()
    };
    let sd = new_ref(Callback::Register(callback), context, script_for(&name));
    // SAFETY: `out` is a valid out-pointer (dns_sd.h contract).
    unsafe { out.write(sd) };
    0
}

unsafe extern "C" fn browse(
    out: *mut DNSServiceRef,
    _flags: DNSServiceFlags,
    _interface: u32,
    regtype: *const c_char,
    _domain: *const c_char,
    callback: DNSServiceBrowseReply,
    context: *mut c_void,
) -> DNSServiceErrorType {
    // SAFETY: the caller passes a NUL-terminated type.
    let regtype = unsafe { CStr::from_ptr(regtype) }.to_string_lossy();
    let script = if regtype == PANIC_TYPE {
        script_for(PANIC_NAME)
    } else {
        Vec::new()
    };
    let sd = new_ref(Callback::Browse(callback), context, script);
    // SAFETY: `out` is a valid out-pointer (dns_sd.h contract).
    unsafe { out.write(sd) };
    0
}

unsafe extern "C" fn sock_fd(sd: DNSServiceRef) -> c_int {
    // SAFETY: a live ref of this module.
    unsafe { fake(sd) }.reader.as_raw_fd()
}

unsafe extern "C" fn process_result(sd: DNSServiceRef) -> DNSServiceErrorType {
    // SAFETY: a live ref of this module.
    let fake = unsafe { fake(sd) };
    let mut byte = [0u8; 1];
    if (&fake.reader).read_exact(&mut byte).is_err() {
        return -65537;
    }
    let Some(next) = fake.script.lock().unwrap().pop_front() else {
        return -65537;
    };
    let regtype = c"_fake._tcp.";
    let domain = c"local.";
    match fake.callback {
        // SAFETY: the callback and context are the ones the caller gave with this ref; the
        // strings live until the callback returns.
        Callback::Register(Some(callback)) => unsafe {
            callback(
                sd,
                next.flags,
                0,
                next.name.as_ptr(),
                regtype.as_ptr(),
                domain.as_ptr(),
                fake.context,
            );
        },
        // SAFETY: as above.
        Callback::Browse(Some(callback)) => unsafe {
            callback(
                sd,
                next.flags,
                1,
                0,
                next.name.as_ptr(),
                regtype.as_ptr(),
                domain.as_ptr(),
                fake.context,
            );
        },
        Callback::Register(None) | Callback::Browse(None) => {}
    }
    0
}

unsafe extern "C" fn deallocate(sd: DNSServiceRef) {
    // SAFETY: a live ref of this module, deallocated once (dns_sd.h contract).
    drop(unsafe { Box::from_raw(sd.cast::<FakeRef>()) });
}

/// What `DNSServiceReconfirmRecord` was called with: interface, name, type, class, rdata.
pub(crate) type Reconfirmed = (u32, String, u16, u16, Vec<u8>);

/// Every `DNSServiceReconfirmRecord` call made to the fake library.
pub(crate) static RECONFIRMED: Mutex<Vec<Reconfirmed>> = Mutex::new(Vec::new());

unsafe extern "C" fn reconfirm_record(
    _flags: DNSServiceFlags,
    interface: u32,
    full_name: *const c_char,
    rrtype: u16,
    rrclass: u16,
    rdlen: u16,
    rdata: *const c_void,
) -> DNSServiceErrorType {
    // SAFETY: the caller passes a NUL-terminated name and `rdlen` bytes of rdata.
    let (name, rdata) = unsafe {
        (
            CStr::from_ptr(full_name).to_string_lossy().into_owned(),
            std::slice::from_raw_parts(rdata.cast::<u8>(), usize::from(rdlen)).to_vec(),
        )
    };
    RECONFIRMED
        .lock()
        .unwrap()
        .push((interface, name, rrtype, rrclass, rdata));
    0
}

unsafe extern "C" fn get_addr_info(
    _out: *mut DNSServiceRef,
    _flags: DNSServiceFlags,
    _interface: u32,
    _protocol: dnssd_sys::apple::DNSServiceProtocol,
    _host: *const c_char,
    _callback: dnssd_sys::apple::DNSServiceGetAddrInfoReply,
    _context: *mut c_void,
) -> DNSServiceErrorType {
    -65544 // kDNSServiceErr_Unsupported
}

#[cfg(test)]
mod tests {
    use std::panic::AssertUnwindSafe;
    use std::time::Duration;

    use super::*;
    use crate::backend::Backend;
    use crate::backend::dns_sd::SystemBackend;
    use crate::types::event::{BrowseEvent, RegistrationEvent};
    use crate::types::name::{InstanceName, ServiceType};
    use crate::types::service::{Interface, Service};

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    fn service(name: &str) -> Service {
        Service::new(ServiceType::new("_fake._tcp").unwrap(), 4000)
            .with_name(InstanceName::new(name).unwrap())
    }

    async fn next_registration_event(
        guard: &mut crate::backend::operation::RegistrationGuard,
    ) -> RegistrationEvent {
        tokio::time::timeout(Duration::from_secs(5), guard.events.next_event())
            .await
            .expect("an event within 5 s")
            .expect("the registration is live")
            .expect("not an error")
    }

    /// Apple's late conflict: registered (Add), removed (no Add), renamed (Add). The removal
    /// is `Withdrawn`, not a second registration.
    #[test]
    fn apple_late_conflict_is_withdrawn_then_renamed() {
        runtime().block_on(async {
            let backend = SystemBackend::with_api(table(Flavor::Apple), false).unwrap();
            let (name, mut guard) = backend
                .register(&service(APPLE_LATE_CONFLICT))
                .await
                .unwrap();
            assert_eq!(name.as_str(), "Clash");
            assert_eq!(
                next_registration_event(&mut guard).await,
                RegistrationEvent::Withdrawn(InstanceName::new("Clash").unwrap())
            );
            assert_eq!(
                next_registration_event(&mut guard).await,
                RegistrationEvent::Registered(InstanceName::new("Clash (2)").unwrap())
            );
        });
    }

    /// Avahi's library passes flags 0 on every success: each reply is a registration.
    #[test]
    fn avahi_replies_without_flags_are_registrations() {
        runtime().block_on(async {
            let backend = SystemBackend::with_api(table(Flavor::Avahi), false).unwrap();
            let (name, mut guard) = backend
                .register(&service(AVAHI_LATE_CONFLICT))
                .await
                .unwrap();
            assert_eq!(name.as_str(), "Clash");
            assert_eq!(
                next_registration_event(&mut guard).await,
                RegistrationEvent::Registered(InstanceName::new("Clash #2").unwrap())
            );
        });
    }

    /// Reconfirm asks Apple's daemon about the instance's PTR record; Avahi's library only
    /// has a stub, so it is refused there before any call.
    #[test]
    fn reconfirm_asks_for_the_instance_ptr_with_apple_and_is_unsupported_with_avahi() {
        use crate::types::event::Instance;
        use crate::types::name::Domain;
        runtime().block_on(async {
            let instance = Instance {
                name: InstanceName::new("Printer 2").unwrap(),
                service_type: ServiceType::new("_ipp._tcp").unwrap(),
                domain: Domain::local(),
                interface: Interface::from_index(3),
            };
            let avahi = SystemBackend::with_api(table(Flavor::Avahi), false).unwrap();
            assert!(matches!(
                avahi.reconfirm(&instance).await,
                Err(crate::Error::Unsupported { .. })
            ));
            let apple = SystemBackend::with_api(table(Flavor::Apple), false).unwrap();
            apple.reconfirm(&instance).await.unwrap();
            let calls = RECONFIRMED.lock().unwrap().clone();
            assert_eq!(
                calls,
                vec![(
                    3,
                    "_ipp._tcp.local.".to_owned(),
                    12,
                    1,
                    b"\x09Printer 2\x04_ipp\x04_tcp\x05local\x00".to_vec()
                )]
            );
        });
    }

    fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default()
    }

    /// A panic inside the register callback makes `register()` panic, not fail quietly.
    #[test]
    fn a_panic_in_the_register_callback_reaches_the_caller() {
        let rt = runtime();
        let backend = rt
            .block_on(async { SystemBackend::with_api(table(Flavor::Apple), false) })
            .unwrap();
        let caught = std::panic::catch_unwind(AssertUnwindSafe(|| {
            // Bounded: before the fix the panic vanished and the confirmation never came.
            rt.block_on(async {
                tokio::time::timeout(
                    Duration::from_secs(5),
                    backend.register(&service(PANIC_NAME)),
                )
                .await
            })
        }));
        let payload = caught.expect_err("register() should panic");
        assert!(
            panic_message(&*payload).contains("panic inside a C callback"),
            "{}",
            panic_message(&*payload)
        );
    }

    /// A panic inside a browse callback makes the browse stream panic.
    #[test]
    fn a_panic_in_a_browse_callback_reaches_the_stream() {
        let rt = runtime();
        let mut stream = rt
            .block_on(async {
                let backend = SystemBackend::with_api(table(Flavor::Avahi), false)?;
                backend.browse(&ServiceType::new(PANIC_TYPE).unwrap(), None, Interface::Any)
            })
            .unwrap();
        let caught = std::panic::catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(5), stream.next_event()).await
            })
        }));
        let payload = match caught {
            Err(payload) => payload,
            Ok(event) => {
                let event: Option<Option<crate::Result<BrowseEvent>>> = event.ok();
                panic!("the stream should panic, got {event:?}")
            }
        };
        assert!(panic_message(&*payload).contains("panic inside a C callback"));
    }
}
