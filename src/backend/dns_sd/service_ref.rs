//! Ownership of one `DNSServiceRef` and the C callbacks that feed it: all of the system
//! backend's FFI. (The crate's other `unsafe` code: the `.init_array` entry in `dns_sd/mod.rs`
//! and the netlink socket's `AsyncFd` registration in `embedded/interfaces.rs`.)
//!
//! Shape:
//! - [`ServiceRef`] owns one `DNSServiceRef` and the [`ReplyQueue`] its callbacks write to. The
//!   queue is allocated with `Box::into_raw` and only ever reached through that raw pointer
//!   (the context the C library holds is the same pointer), so no Rust reference to it is
//!   invalidated by moving the owner. `Drop` deallocates the C ref first and frees the queue
//!   after, so the C library can never call back into freed memory.
//! - Every callback type has one `extern "C"` trampoline. Each converts the C arguments into an
//!   owned [`Reply`] and pushes it onto the queue inside `catch_unwind`, so a panic never
//!   unwinds into C. A caught panic's payload is kept in the queue and resumed by
//!   [`ServiceRef::process`] once `DNSServiceProcessResult` has returned (as git2 does), so
//!   it reaches the operation's task instead of vanishing.
//! - The owner implements [`AsRawFd`] through `DNSServiceRefSockFD`, so it can live inside a
//!   tokio `AsyncFd` that deregisters from epoll before the ref (and its fd) is deallocated.
//!
//! The socket stays in blocking mode. `AsyncFd` is used only for its epoll registration
//! (readiness); nothing in this crate reads from the socket. The library reads it inside
//! `DNSServiceProcessResult`, and it expects blocking reads: Apple's client reads a message
//! header then its body, and Avahi's reads one command byte, so a non-blocking socket would
//! make those reads fail with `EAGAIN` half-way. Soundness does not depend on the mode either
//! way; only progress does, and the zero-timeout `poll(2)` before every call keeps a worker
//! from waiting on a socket with nothing to read (Avahi's wakes epoll spuriously).
//!
//! Blocking: creating a ref, `DNSServiceRefDeallocate` and `DNSServiceUpdateRecord` can block
//! (Apple's client library waits up to 60 s for a hung daemon; Avahi's starts a thread and a
//! D-Bus connection). Callers run them on tokio's blocking pool (see `op`), never on a worker
//! thread. `DNSServiceProcessResult` is only called after a zero-timeout `poll(2)` says the fd
//! is readable, so it does not wait for a reply to arrive; but what it dispatches may block:
//! on Avahi a registration's collision and state callbacks make blocking D-Bus calls
//! (`avahi_entry_group_reset`/`add_service`/`commit`, up to libdbus's 25 s with a wedged
//! daemon). `op` therefore processes registration refs on the blocking pool; the other refs'
//! callbacks only copy their arguments (browse, resolve, query: compat.c calls our
//! trampoline and returns), so those are processed on the worker.

use std::any::Any;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
#[cfg(unix)]
use std::io;
use std::net::IpAddr;
#[cfg(unix)]
use std::net::{Ipv4Addr, Ipv6Addr};
#[cfg(unix)]
use std::os::fd::{AsRawFd, RawFd};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::ptr::{self, NonNull};
#[cfg(unix)]
use std::sync::Arc;
use std::sync::Mutex;

#[cfg(unix)]
use tokio::io::Interest;
#[cfg(unix)]
use tokio::io::unix::{AsyncFd, AsyncFdRegisterError};

use dnssd_sys::{Api, DNSServiceErrorType, DNSServiceFlags, DNSServiceRef};

#[cfg(windows)]
mod windows;
#[cfg(windows)]
use self::windows::sockaddr_to_ip;
/// What `DNSServiceRefSockFD` returns (see `dnssd_sys::apple::dnssd_sock_t`).
#[cfg(windows)]
type RawFd = c_int;

/// `kDNSServiceFlagsAdd`: the answer is being added (absent: removed). Same value in every
/// dns_sd.h since 2002.
pub(crate) const FLAG_ADD: DNSServiceFlags = 0x2;
/// `kDNSServiceProtocol_IPv4 | kDNSServiceProtocol_IPv6`: both families, whatever the
/// daemon thinks the network has (0 would let it choose).
const PROTOCOL_IPV4_AND_IPV6: u32 = 0x01 | 0x02;
/// `kDNSServiceErr_NoError`.
const NO_ERROR: DNSServiceErrorType = 0;

/// A reply delivered by the C library to one of the trampolines, copied into owned Rust data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// The callback reported an error code (the ref is dead on Avahi after this).
    Error(i32),
    /// `DNSServiceRegisterReply` without an error. What it means depends on the library:
    /// Apple's sets `kDNSServiceFlagsAdd` when the name is registered and clears it when the
    /// registration was removed (a late conflict; a rename follows); Avahi's always passes 0.
    Register {
        /// `kDNSServiceFlagsAdd` was set.
        add: bool,
        /// Instance name (after any rename).
        name: String,
    },
    /// `DNSServiceBrowseReply`.
    Browse {
        /// Added (true) or removed.
        add: bool,
        /// Interface index the instance was seen on.
        interface: u32,
        /// Instance name, unescaped.
        name: String,
        /// Service type as the daemon reports it, e.g. `_http._tcp.`.
        regtype: String,
        /// Domain, e.g. `local.` (Avahi omits the trailing dot).
        domain: String,
    },
    /// `DNSServiceResolveReply`.
    Resolve {
        /// Interface index.
        interface: u32,
        /// SRV target host name.
        host_target: String,
        /// Port in host byte order.
        port: u16,
        /// Raw TXT rdata.
        txt: Vec<u8>,
    },
    /// `DNSServiceQueryRecordReply`.
    Record {
        /// Added (true) or removed.
        add: bool,
        /// Interface index.
        interface: u32,
        /// Owner name of the record.
        name: String,
        /// Record type.
        rrtype: u16,
        /// Record class.
        rrclass: u16,
        /// Raw rdata.
        rdata: Vec<u8>,
        /// TTL in seconds (Avahi always reports 0).
        ttl: u32,
    },
    /// `DNSServiceGetAddrInfoReply` (Apple only).
    Address {
        /// Added (true) or removed.
        add: bool,
        /// Interface index.
        interface: u32,
        /// The address.
        addr: IpAddr,
        /// IPv6 scope id from the sockaddr (0 for IPv4).
        scope_id: u32,
    },
}

/// Where a ref's callbacks put their replies. Boxed by [`ServiceRef`] so its address is stable
/// for the lifetime of the C registration. Callbacks run inside `DNSServiceProcessResult` on the
/// thread that called it; the mutex makes that sound on any thread anyway.
#[derive(Default)]
pub(crate) struct ReplyQueue {
    replies: Mutex<Vec<Reply>>,
    /// The payload of a panic caught in a trampoline, resumed after ProcessResult returns.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

impl ReplyQueue {
    fn push(&self, reply: Reply) {
        // A poisoned lock only means an earlier push panicked half-way; the Vec is still valid.
        let mut guard = self
            .replies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.push(reply);
    }

    fn take(&self) -> Vec<Reply> {
        let mut guard = self
            .replies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::mem::take(&mut *guard)
    }

    /// Keep the first panic caught in a callback (later ones of the same call are dropped).
    fn store_panic(&self, payload: Box<dyn Any + Send>) {
        let mut guard = self
            .panic
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.get_or_insert(payload);
    }

    fn take_panic(&self) -> Option<Box<dyn Any + Send>> {
        self.panic
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

/// The leading fields of `struct _DNSServiceRef_t` in Avahi's compat.c (0.6 to 0.8), used
/// only by [`ServiceRef::clear_avahi_stale_callbacks`] after checking the layout on the ref.
#[cfg(unix)]
#[repr(C)]
struct AvahiRef {
    n_ref: c_int,
    simple_poll: *mut c_void,
    thread_fd: c_int,
    main_fd: c_int,
    thread: libc::pthread_t,
    thread_running: c_int,
    mutex: libc::pthread_mutex_t,
    context: *mut c_void,
    /// Browse, resolve, domain-enumeration, register and query callbacks, in this order.
    callbacks: [*const c_void; 5],
}

/// Index of a callback slot in [`AvahiRef::callbacks`]; the client-state callback tries the
/// browse, resolve, domain and query slots in this order.
#[derive(Clone, Copy)]
enum AvahiSlot {
    Resolve = 1,
    Query = 4,
}

/// Why creating a ref failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CreateError {
    /// The library lacks the entry point (e.g. `DNSServiceGetAddrInfo` in Avahi).
    Missing(&'static str),
    /// A string argument holds a NUL byte.
    Nul,
    /// The call returned this error code (no ref was created).
    Code(i32),
}

/// Owner of one `DNSServiceRef` and the context its callbacks write to.
///
/// Invariant: `raw` is a live ref returned by the library and not yet deallocated; `queue` is the
/// context pointer that was passed with it, from `Box::into_raw`, freed only in `Drop` after
/// `raw`, and only ever dereferenced as a shared reference; `fd` is the ref's socket, which the
/// library keeps open (same number, same file description) until `DNSServiceRefDeallocate`.
pub(crate) struct ServiceRef {
    /// Declared before `queue`; `Drop` deallocates it explicitly before any field is dropped,
    /// so the C side can no longer call the trampolines when `queue` is freed.
    raw: NonNull<c_void>,
    api: &'static Api,
    /// `DNSServiceRefSockFD`, read once at creation.
    fd: RawFd,
    /// Serialises every call on `raw` (see the `Sync` impl).
    calls: Mutex<()>,
    queue: NonNull<ReplyQueue>,
}

// SAFETY: a DNSServiceRef may be used from any thread as long as calls on it are not concurrent
// (Apple's dns_sd.h leaves serialisation to the client; Avahi's compat layer guards each ref with
// its own mutex and helper thread). Moving the owner to another thread does not create
// concurrent calls. The queue (owned through `queue`) is Send + Sync on its own.
unsafe impl Send for ServiceRef {}

// SAFETY: every method that calls into C through `&self` (`process`, `update_primary_txt`) holds
// `calls` for the duration of the call, so shared references on several threads cannot make
// concurrent calls on the ref. `as_raw_fd` and `has_pending` only read the cached fd number.
// Deallocation needs `&mut self` (Drop), so it cannot overlap a call either.
unsafe impl Sync for ServiceRef {}

impl std::fmt::Debug for ServiceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceRef")
            .field("raw", &self.raw)
            .field("fd", &self.fd)
            .finish()
    }
}

impl Drop for ServiceRef {
    fn drop(&mut self) {
        if let Some(dealloc) = self.api.DNSServiceRefDeallocate {
            // SAFETY: `raw` is live (type invariant) and deallocated exactly once, here. After
            // this call the library makes no more callbacks with our context.
            unsafe { dealloc(self.raw.as_ptr().cast()) };
        }
        // SAFETY: `queue` came from `Box::into_raw` (type invariant) and is freed exactly once,
        // here, after the ref that could call back with it is gone; no reference to it
        // outlives `self`.
        drop(unsafe { Box::from_raw(self.queue.as_ptr()) });
    }
}

#[cfg(unix)]
impl AsRawFd for ServiceRef {
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}

impl ServiceRef {
    fn queue(&self) -> &ReplyQueue {
        // SAFETY: `queue` is live until `Drop` (type invariant) and only shared references to
        // it are ever made, here and in the trampolines.
        unsafe { self.queue.as_ref() }
    }

    /// Whether the ref's socket has data now (zero-timeout `poll(2)`). Avahi's socket wakes
    /// epoll spuriously and `DNSServiceProcessResult` blocks when nothing is pending, so this is
    /// checked before every call.
    #[cfg(unix)]
    pub(crate) fn has_pending(&self) -> bool {
        let mut pfd = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: `pfd` is a valid pollfd array of length 1 for the duration of the call.
        let n = unsafe { libc::poll(&mut pfd, 1, 0) };
        n > 0 && (pfd.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR)) != 0
    }

    /// Read and dispatch one reply if one is pending; the callbacks' replies are returned.
    /// Returns `Err(code)` if `DNSServiceProcessResult` itself failed (connection gone).
    ///
    /// # Panics
    /// Resumes a panic caught inside one of the callbacks, after the C call has returned.
    pub(crate) fn process(&self) -> Result<Vec<Reply>, i32> {
        if !self.has_pending() {
            return Ok(self.queue().take());
        }
        let Some(process) = self.api.DNSServiceProcessResult else {
            return Err(-65537);
        };
        let calls = self
            .calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // SAFETY: `raw` is live; `calls` is held, so no other call on this ref runs
        // concurrently; data is pending, so the call does not wait for the daemon.
        let code = unsafe { process(self.raw.as_ptr().cast()) };
        drop(calls);
        if let Some(payload) = self.queue().take_panic() {
            resume_unwind(payload);
        }
        let replies = self.queue().take();
        if code != NO_ERROR && replies.is_empty() {
            return Err(code);
        }
        Ok(replies)
    }

    /// Replace the primary TXT record of a registration (`DNSServiceUpdateRecord` with a null
    /// record ref). May block on Apple's library: call from a blocking thread.
    pub(crate) fn update_primary_txt(&self, txt: &[u8]) -> Result<(), CreateError> {
        let update = self
            .api
            .DNSServiceUpdateRecord
            .ok_or(CreateError::Missing("DNSServiceUpdateRecord"))?;
        let len = u16::try_from(txt.len()).map_err(|_| CreateError::Code(-65540))?;
        let _calls = self
            .calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // SAFETY: `raw` is a live registration ref and `calls` is held; a null record ref means
        // the primary TXT record; `txt` is valid for `len` bytes during the call and copied by
        // the library.
        let code = unsafe {
            update(
                self.raw.as_ptr().cast(),
                ptr::null_mut(),
                0,
                len,
                txt.as_ptr().cast(),
                0,
            )
        };
        if code == NO_ERROR {
            Ok(())
        } else {
            Err(CreateError::Code(code))
        }
    }

    /// Allocate the queue, call `create` with the out-pointer and the context, and take
    /// ownership of the ref it produced.
    fn create(
        api: &'static Api,
        create: impl FnOnce(*mut DNSServiceRef, *mut c_void) -> DNSServiceErrorType,
    ) -> Result<Self, CreateError> {
        let queue = NonNull::from(Box::leak(Box::new(ReplyQueue::default())));
        // Frees the queue on the paths where no ref holds it.
        let free_queue = || {
            // SAFETY: the queue came from a Box just above and no ref was created with it,
            // so nothing else can reach it.
            drop(unsafe { Box::from_raw(queue.as_ptr()) });
        };
        let mut raw: DNSServiceRef = ptr::null_mut();
        let code = create(&mut raw, queue.as_ptr().cast());
        if code != NO_ERROR {
            free_queue();
            return Err(CreateError::Code(code));
        }
        let Some(raw) = NonNull::new(raw.cast::<c_void>()) else {
            free_queue();
            return Err(CreateError::Code(-65537));
        };
        let fd = match api.DNSServiceRefSockFD {
            // SAFETY: `raw` is the live ref just returned; the call only reads it.
            Some(sock_fd) => unsafe { sock_fd(raw.as_ptr().cast()) },
            None => -1,
        };
        // Owning it from here on means a failure below still deallocates the ref.
        let sref = ServiceRef {
            raw,
            api,
            fd,
            calls: Mutex::new(()),
            queue,
        };
        if sref.fd < 0 {
            return Err(CreateError::Missing("DNSServiceRefSockFD"));
        }
        Ok(sref)
    }

    /// Works around a bug of Avahi's compatibility library (0.6 to 0.8 at least, compat.c):
    /// `sdref_new` allocates each ref with `malloc` and sets only the callback pointer of its
    /// own kind, but when the daemon goes away its client-state callback calls the first
    /// non-null of the browse, resolve, domain-enumeration and query callback pointers. For a
    /// resolve or query ref that reads uninitialised memory, often a stale pointer left by an
    /// earlier ref, and calls it: a crash, or another trampoline with our context
    /// (`tests/system_drop_stress.rs` crashed this way about every other run).
    ///
    /// Right after creation, before the first `DNSServiceProcessResult` (the only call that
    /// dispatches callbacks; the ref's helper thread only polls and never touches these
    /// fields), the slots before ours are set to null. Done only with Avahi's library (no
    /// `DNSServiceGetAddrInfo`), and only when the ref matches compat.c's layout: `n_ref` 1,
    /// `main_fd` the socket `DNSServiceRefSockFD` gave, `context` ours and our trampoline in
    /// our slot. Any other library or layout is left untouched.
    #[cfg(unix)]
    fn clear_avahi_stale_callbacks(&self, own: AvahiSlot, trampoline: *const c_void) {
        if self.api.DNSServiceGetAddrInfo.is_some() {
            return;
        }
        let context: *const ReplyQueue = self.queue.as_ptr();
        let p = self.raw.as_ptr().cast::<AvahiRef>();
        // SAFETY: with Avahi's library `raw` points to compat.c's `struct _DNSServiceRef_t`,
        // whose leading fields `AvahiRef` mirrors. Only fields that no other thread writes
        // while we hold the ref are read or written (`n_ref` changes in ProcessResult and
        // Deallocate, which we have not called; the callback slots and `context` are written
        // only at creation), one field at a time through raw pointers, never the fields the
        // helper thread writes (`thread`, `thread_running`) or the mutex. The other callback
        // slots are only written after the layout check passed.
        unsafe {
            let slots = ptr::addr_of_mut!((*p).callbacks).cast::<*const c_void>();
            let matches = ptr::addr_of!((*p).n_ref).read() == 1
                && ptr::addr_of!((*p).main_fd).read() == self.fd
                && ptr::addr_of!((*p).context).read().cast_const() == context.cast()
                && slots.add(own as usize).read() == trampoline;
            if matches {
                for slot in 0..own as usize {
                    slots.add(slot).write(ptr::null());
                }
            }
        }
    }

    /// Register the ref's socket with the tokio reactor (readable interest only). Must be
    /// called inside a runtime. The ref is shared so a blocking-pool thread can process it
    /// while the registration stays in the reactor. On failure the ref comes back with the
    /// error.
    #[cfg(unix)]
    pub(crate) fn into_async_fd(
        self,
    ) -> Result<AsyncFd<Arc<ServiceRef>>, (Arc<ServiceRef>, io::Error)> {
        // SAFETY: `fd` is open and names the same file description until
        // DNSServiceRefDeallocate, which only runs in `ServiceRef::drop`, when the last `Arc`
        // goes; the AsyncFd holds one `Arc` and deregisters before dropping it (or before
        // `into_inner` hands it back), so the fd outlives the registration; `as_raw_fd` always
        // returns the same cached number.
        unsafe { AsyncFd::register_with_interest(Arc::new(self), Interest::READABLE) }
            .map_err(AsyncFdRegisterError::into_parts)
    }

    /// `DNSServiceRegister`. `port` in host order; `txt` in wire form (never empty: an empty
    /// record is one 0x00 byte).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn register(
        api: &'static Api,
        interface: u32,
        name: Option<&str>,
        regtype: &str,
        domain: Option<&str>,
        host: Option<&str>,
        port: u16,
        txt: &[u8],
    ) -> Result<Self, CreateError> {
        let register = api
            .DNSServiceRegister
            .ok_or(CreateError::Missing("DNSServiceRegister"))?;
        let name = opt_cstring(name)?;
        let regtype = cstring(regtype)?;
        let domain = opt_cstring(domain)?;
        let host = opt_cstring(host)?;
        let txt_len = u16::try_from(txt.len()).map_err(|_| CreateError::Code(-65540))?;
        Self::create(api, |out, context| {
            // SAFETY: `out` is a valid out-pointer; every string is NUL-terminated and lives
            // until the call returns (the library copies them); `txt` is valid for `txt_len`
            // bytes; `context` stays valid until the ref is deallocated (ServiceRef owns both).
            unsafe {
                register(
                    out,
                    0,
                    interface,
                    opt_ptr(&name),
                    regtype.as_ptr(),
                    opt_ptr(&domain),
                    opt_ptr(&host),
                    port.to_be(),
                    txt_len,
                    txt.as_ptr().cast(),
                    Some(register_reply),
                    context,
                )
            }
        })
    }

    /// `DNSServiceCreateConnection`: a connection to the daemon and nothing else (Apple's
    /// library; Avahi's answers Unsupported). Used to ask whether the daemon answers.
    pub(crate) fn connection(api: &'static Api) -> Result<Self, CreateError> {
        let connect = api
            .DNSServiceCreateConnection
            .ok_or(CreateError::Missing("DNSServiceCreateConnection"))?;
        Self::create(api, |out, _context| {
            // SAFETY: `out` is a valid out-pointer for the new ref; the call takes no callback,
            // so the context is never used.
            unsafe { connect(out) }
        })
    }

    /// `DNSServiceBrowse` (`regtype` may carry subtypes after commas).
    pub(crate) fn browse(
        api: &'static Api,
        interface: u32,
        regtype: &str,
        domain: Option<&str>,
    ) -> Result<Self, CreateError> {
        let browse = api
            .DNSServiceBrowse
            .ok_or(CreateError::Missing("DNSServiceBrowse"))?;
        let regtype = cstring(regtype)?;
        let domain = opt_cstring(domain)?;
        Self::create(api, |out, context| {
            // SAFETY: as in `register`: valid out-pointer, NUL-terminated strings alive for the
            // call, context alive until deallocation.
            unsafe {
                browse(
                    out,
                    0,
                    interface,
                    regtype.as_ptr(),
                    opt_ptr(&domain),
                    Some(browse_reply),
                    context,
                )
            }
        })
    }

    /// `DNSServiceResolve`.
    pub(crate) fn resolve(
        api: &'static Api,
        interface: u32,
        name: &str,
        regtype: &str,
        domain: &str,
    ) -> Result<Self, CreateError> {
        let resolve = api
            .DNSServiceResolve
            .ok_or(CreateError::Missing("DNSServiceResolve"))?;
        let name = cstring(name)?;
        let regtype = cstring(regtype)?;
        let domain = cstring(domain)?;
        let sref = Self::create(api, |out, context| {
            // SAFETY: as in `register`.
            unsafe {
                resolve(
                    out,
                    0,
                    interface,
                    name.as_ptr(),
                    regtype.as_ptr(),
                    domain.as_ptr(),
                    Some(resolve_reply),
                    context,
                )
            }
        })?;
        let own = resolve_reply as unsafe extern "C" fn(_, _, _, _, _, _, _, _, _, _);
        sref.clear_avahi_stale_callbacks(AvahiSlot::Resolve, own as *const c_void);
        Ok(sref)
    }

    /// `DNSServiceQueryRecord` (class IN).
    pub(crate) fn query_record(
        api: &'static Api,
        interface: u32,
        full_name: &str,
        rrtype: u16,
    ) -> Result<Self, CreateError> {
        let query = api
            .DNSServiceQueryRecord
            .ok_or(CreateError::Missing("DNSServiceQueryRecord"))?;
        let full_name = cstring(full_name)?;
        let sref = Self::create(api, |out, context| {
            // SAFETY: as in `register`.
            unsafe {
                query(
                    out,
                    0,
                    interface,
                    full_name.as_ptr(),
                    rrtype,
                    1,
                    Some(query_record_reply),
                    context,
                )
            }
        })?;
        let own = query_record_reply as unsafe extern "C" fn(_, _, _, _, _, _, _, _, _, _, _);
        sref.clear_avahi_stale_callbacks(AvahiSlot::Query, own as *const c_void);
        Ok(sref)
    }

    /// `DNSServiceGetAddrInfo` for IPv4 and IPv6 (Apple's library only).
    pub(crate) fn get_addr_info(
        api: &'static Api,
        interface: u32,
        host: &str,
    ) -> Result<Self, CreateError> {
        let get_addr_info = api
            .DNSServiceGetAddrInfo
            .ok_or(CreateError::Missing("DNSServiceGetAddrInfo"))?;
        let host = cstring(host)?;
        Self::create(api, |out, context| {
            // SAFETY: as in `register`.
            unsafe {
                get_addr_info(
                    out,
                    0,
                    interface,
                    PROTOCOL_IPV4_AND_IPV6,
                    host.as_ptr(),
                    Some(get_addr_info_reply),
                    context,
                )
            }
        })
    }
}

/// `DNSServiceReconfirmRecord` (class IN): ask the daemon to verify one record it has cached.
/// No ref is made. May block (Apple's client opens a connection to the daemon): call from a
/// blocking thread.
pub(crate) fn reconfirm_record(
    api: &'static Api,
    interface: u32,
    full_name: &str,
    rrtype: u16,
    rdata: &[u8],
) -> Result<(), CreateError> {
    let reconfirm = api
        .DNSServiceReconfirmRecord
        .ok_or(CreateError::Missing("DNSServiceReconfirmRecord"))?;
    let full_name = cstring(full_name)?;
    let len = u16::try_from(rdata.len()).map_err(|_| CreateError::Code(-65540))?;
    // SAFETY: `full_name` is NUL-terminated and `rdata` valid for `len` bytes during the call
    // (the library copies both); no callback or context is involved.
    let code = unsafe {
        reconfirm(
            0,
            interface,
            full_name.as_ptr(),
            rrtype,
            1,
            len,
            rdata.as_ptr().cast(),
        )
    };
    if code == NO_ERROR {
        Ok(())
    } else {
        Err(CreateError::Code(code))
    }
}

fn cstring(s: &str) -> Result<CString, CreateError> {
    CString::new(s).map_err(|_| CreateError::Nul)
}

fn opt_cstring(s: Option<&str>) -> Result<Option<CString>, CreateError> {
    s.map(cstring).transpose()
}

fn opt_ptr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(ptr::null(), |s| s.as_ptr())
}

/// Copy a C string the library handed us; null becomes empty. Invalid UTF-8 is replaced (the
/// DNS-SD names we receive are UTF-8 by RFC 6762 §16).
///
/// # Safety
/// `p` is null or points to a NUL-terminated string valid for the duration of the call.
unsafe fn owned_str(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: non-null and NUL-terminated per the function contract.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// Copy `len` bytes from `p`; null gives an empty Vec.
///
/// # Safety
/// `p` is null or valid for reads of `len` bytes for the duration of the call.
unsafe fn owned_bytes(p: *const c_void, len: u16) -> Vec<u8> {
    if p.is_null() || len == 0 {
        return Vec::new();
    }
    // SAFETY: valid for `len` bytes per the function contract; u8 has no alignment needs.
    unsafe { std::slice::from_raw_parts(p.cast::<u8>(), usize::from(len)) }.to_vec()
}

/// The one place a trampoline touches its context: build the reply (inside `catch_unwind`, so
/// neither a panic in the conversion nor one in the queue unwinds into C) and push it.
///
/// # Safety
/// `context` is the pointer `ServiceRef::create` passed with this ref: a live `ReplyQueue`
/// (the owning `ServiceRef` deallocates the ref before freeing it).
unsafe fn deliver(context: *mut c_void, reply: impl FnOnce() -> Reply) {
    if context.is_null() {
        return;
    }
    // SAFETY: per the function contract the pointer is a live ReplyQueue, only ever accessed
    // through shared references.
    let queue = unsafe { &*context.cast_const().cast::<ReplyQueue>() };
    let result = catch_unwind(AssertUnwindSafe(|| {
        let reply = reply();
        #[cfg(test)]
        test_hook::panic_if_asked(&reply);
        queue.push(reply);
    }));
    // The panic must not unwind through C frames: keep it for `ServiceRef::process`, which
    // resumes it once the C call has returned.
    if let Err(payload) = result {
        queue.store_panic(payload);
    }
}

/// Test-only: a reply naming [`test_hook::PANIC_NAME`] makes the trampoline panic, so tests
/// can check that a panic inside a C callback reaches the caller.
#[cfg(test)]
pub(crate) mod test_hook {
    use super::Reply;

    /// The instance name that makes a trampoline panic.
    pub(crate) const PANIC_NAME: &str = "panic-in-callback";

    pub(super) fn panic_if_asked(reply: &Reply) {
        let name = match reply {
            Reply::Register { name, .. } | Reply::Browse { name, .. } => name,
            _ => return,
        };
        assert!(name != PANIC_NAME, "test hook: panic inside a C callback");
    }
}

unsafe extern "C" fn register_reply(
    _sd: DNSServiceRef,
    flags: DNSServiceFlags,
    error: DNSServiceErrorType,
    name: *const c_char,
    _regtype: *const c_char,
    _domain: *const c_char,
    context: *mut c_void,
) {
    // SAFETY: the library passes back our context and NUL-terminated strings valid during the
    // callback.
    unsafe {
        deliver(context, || {
            if error != NO_ERROR {
                return Reply::Error(error);
            }
            Reply::Register {
                add: flags & FLAG_ADD != 0,
                name: owned_str(name),
            }
        });
    }
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn browse_reply(
    _sd: DNSServiceRef,
    flags: DNSServiceFlags,
    interface: u32,
    error: DNSServiceErrorType,
    name: *const c_char,
    regtype: *const c_char,
    domain: *const c_char,
    context: *mut c_void,
) {
    // SAFETY: the library passes back our context and NUL-terminated strings valid during the
    // callback.
    unsafe {
        deliver(context, || {
            if error != NO_ERROR {
                return Reply::Error(error);
            }
            Reply::Browse {
                add: flags & FLAG_ADD != 0,
                interface,
                name: owned_str(name),
                regtype: owned_str(regtype),
                domain: owned_str(domain),
            }
        });
    }
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn resolve_reply(
    _sd: DNSServiceRef,
    _flags: DNSServiceFlags,
    interface: u32,
    error: DNSServiceErrorType,
    _full_name: *const c_char,
    host_target: *const c_char,
    port: u16,
    txt_len: u16,
    txt: *const u8,
    context: *mut c_void,
) {
    // SAFETY: the library passes back our context, a NUL-terminated host name and `txt_len`
    // bytes of TXT rdata, all valid during the callback.
    unsafe {
        deliver(context, || {
            if error != NO_ERROR {
                return Reply::Error(error);
            }
            Reply::Resolve {
                interface,
                host_target: owned_str(host_target),
                port: u16::from_be(port),
                txt: owned_bytes(txt.cast(), txt_len),
            }
        });
    }
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn query_record_reply(
    _sd: DNSServiceRef,
    flags: DNSServiceFlags,
    interface: u32,
    error: DNSServiceErrorType,
    full_name: *const c_char,
    rrtype: u16,
    rrclass: u16,
    rdlen: u16,
    rdata: *const c_void,
    ttl: u32,
    context: *mut c_void,
) {
    // SAFETY: the library passes back our context, a NUL-terminated name and `rdlen` bytes of
    // rdata, all valid during the callback.
    unsafe {
        deliver(context, || {
            if error != NO_ERROR {
                return Reply::Error(error);
            }
            Reply::Record {
                add: flags & FLAG_ADD != 0,
                interface,
                name: owned_str(full_name),
                rrtype,
                rrclass,
                rdata: owned_bytes(rdata, rdlen),
                ttl,
            }
        });
    }
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn get_addr_info_reply(
    _sd: DNSServiceRef,
    flags: DNSServiceFlags,
    interface: u32,
    error: DNSServiceErrorType,
    _host: *const c_char,
    address: *const dnssd_sys::apple::sockaddr,
    _ttl: u32,
    context: *mut c_void,
) {
    // SAFETY: the library passes back our context and, on success, a sockaddr of the family it
    // names (sockaddr_in or sockaddr_in6), valid during the callback.
    unsafe {
        deliver(context, || {
            if error != NO_ERROR {
                return Reply::Error(error);
            }
            match sockaddr_to_ip(address.cast()) {
                Some((addr, scope_id)) => Reply::Address {
                    add: flags & FLAG_ADD != 0,
                    interface,
                    addr,
                    scope_id,
                },
                // An unknown family is not an address we can report; treat as a bad reply.
                None => Reply::Error(-65540),
            }
        });
    }
}

/// # Safety
/// `address` is null or points to a sockaddr whose `sa_family` tells its real size.
#[cfg(unix)]
unsafe fn sockaddr_to_ip(address: *const libc::sockaddr) -> Option<(IpAddr, u32)> {
    if address.is_null() {
        return None;
    }
    // SAFETY: non-null; every sockaddr starts with its family.
    let family = c_int::from(unsafe { (*address).sa_family });
    match family {
        libc::AF_INET => {
            // SAFETY: the family says this is a sockaddr_in; read unaligned to be safe.
            let sin = unsafe { ptr::read_unaligned(address.cast::<libc::sockaddr_in>()) };
            Some((
                IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))),
                0,
            ))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this is a sockaddr_in6; read unaligned to be safe.
            let sin6 = unsafe { ptr::read_unaligned(address.cast::<libc::sockaddr_in6>()) };
            Some((
                IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)),
                sin6.sin6_scope_id,
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trampoline_copies_browse_reply_into_queue() {
        let queue = ReplyQueue::default();
        let name = CString::new("My Web").unwrap();
        let regtype = CString::new("_http._tcp.").unwrap();
        let domain = CString::new("local").unwrap();
        let context: *const ReplyQueue = &queue;
        // SAFETY: the context is a live ReplyQueue and the strings outlive the call.
        unsafe {
            browse_reply(
                ptr::null_mut(),
                FLAG_ADD,
                3,
                0,
                name.as_ptr(),
                regtype.as_ptr(),
                domain.as_ptr(),
                context.cast_mut().cast(),
            );
        }
        assert_eq!(
            queue.take(),
            vec![Reply::Browse {
                add: true,
                interface: 3,
                name: "My Web".into(),
                regtype: "_http._tcp.".into(),
                domain: "local".into(),
            }]
        );
    }

    #[test]
    fn trampoline_reports_error_code_and_survives_null_strings() {
        let queue = ReplyQueue::default();
        let context: *const ReplyQueue = &queue;
        // SAFETY: null strings are allowed by owned_str; the context is live.
        unsafe {
            resolve_reply(
                ptr::null_mut(),
                0,
                1,
                -65537,
                ptr::null(),
                ptr::null(),
                0,
                0,
                ptr::null(),
                context.cast_mut().cast(),
            );
            resolve_reply(
                ptr::null_mut(),
                0,
                1,
                0,
                ptr::null(),
                ptr::null(),
                0x5000u16.to_be(),
                0,
                ptr::null(),
                context.cast_mut().cast(),
            );
        }
        assert_eq!(
            queue.take(),
            vec![
                Reply::Error(-65537),
                Reply::Resolve {
                    interface: 1,
                    host_target: String::new(),
                    port: 0x5000,
                    txt: vec![],
                }
            ]
        );
    }

    #[cfg(unix)]
    #[test]
    fn sockaddr_v6_keeps_scope_id() {
        // SAFETY: sockaddr_in6 is plain old data; all-zero is a valid value.
        let mut sin6: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
        sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        sin6.sin6_addr.s6_addr = "fe80::1".parse::<Ipv6Addr>().unwrap().octets();
        sin6.sin6_scope_id = 7;
        let p: *const libc::sockaddr_in6 = &sin6;
        // SAFETY: p points to a live sockaddr_in6 with the right family.
        let got = unsafe { sockaddr_to_ip(p.cast()) };
        assert_eq!(got, Some(("fe80::1".parse().unwrap(), 7)));
    }
}
