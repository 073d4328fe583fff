//! [`Api`]: one table of every `dns_sd.h` entry point, linked or loaded at run time.
//!
//! Each entry is `Option<unsafe extern "C" fn ...>` named like the C function, so a caller sees
//! which optional entry points the library in hand has (`api.DNSServiceGetAddrInfo.is_none()`
//! with Avahi's library) instead of failing to link or to load.

use core::ffi::{c_char, c_int, c_void};
use std::fmt;
use std::sync::{Mutex, OnceLock, PoisonError};

use libloading::Library;

use crate::apple::{
    DNSServiceAAAAPolicy, DNSServiceAttribute, DNSServiceAttributeRef, DNSServiceGetAddrInfoReply,
    DNSServiceNATPortMappingReply, DNSServiceProtocol, DNSServiceSleepKeepaliveReply,
    dispatch_queue_t,
};
use crate::{
    DNSRecordRef, DNSServiceBrowseReply, DNSServiceDomainEnumReply, DNSServiceErrorType,
    DNSServiceFlags, DNSServiceQueryRecordReply, DNSServiceRef, DNSServiceRegisterRecordReply,
    DNSServiceRegisterReply, DNSServiceResolveReply, TXTRecordRef,
};

/// Environment variable naming the library file [`Api::load`] opens instead of the defaults.
pub const LIBRARY_ENV: &str = "DNSSD_LIBRARY";

/// File names [`Api::load`] tries in order when [`LIBRARY_ENV`] is unset.
///
/// Linux and the BSDs: Avahi's compatibility library or mDNSResponder's client library, both
/// install `libdns_sd.so.1` (the unversioned name only comes with the `-dev` package). macOS:
/// the client library is part of libSystem. Windows: Bonjour's `dnssd.dll` (installed with
/// iTunes, Bonjour Print Services or the Bonjour SDK).
pub const DEFAULT_LIBRARY_NAMES: &[&str] = if cfg!(target_vendor = "apple") {
    &["/usr/lib/libSystem.B.dylib"]
} else if cfg!(windows) {
    &["dnssd.dll"]
} else {
    &["libdns_sd.so.1", "libdns_sd.so"]
};

/// Entry points without which no operation can be driven: [`Api::load`] refuses a library
/// that lacks any of them (it is then not a `dns_sd` library).
const REQUIRED_SYMBOLS: [&str; 3] = [
    "DNSServiceRefSockFD",
    "DNSServiceProcessResult",
    "DNSServiceRefDeallocate",
];

/// Where the function pointers of an [`Api`] come from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiOrigin {
    /// Linked at build time (feature `link`).
    Linked,
    /// Filled by the caller, starting from [`Api::empty`].
    Custom,
    /// Opened at run time from this file name or path.
    Loaded {
        /// The name or path given to the dynamic loader.
        library: String,
    },
}

/// Why [`Api::load`] found no usable library.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadError {
    /// No candidate library could be opened.
    NotFound {
        /// Each name tried with the loader's message for it.
        attempts: Vec<LoadAttempt>,
    },
    /// A library was opened but lacks an entry point every `dns_sd` library has.
    MissingSymbol {
        /// The library that was opened.
        library: String,
        /// The missing entry point.
        symbol: &'static str,
    },
}

/// One failed attempt to open a library.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadAttempt {
    /// The name or path given to the dynamic loader.
    pub library: String,
    /// The loader's message.
    pub error: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::NotFound { attempts } => {
                f.write_str("no dns_sd library found")?;
                for (i, attempt) in attempts.iter().enumerate() {
                    let sep = if i == 0 { ": " } else { "; " };
                    write!(f, "{sep}{} ({})", attempt.library, attempt.error)?;
                }
                write!(
                    f,
                    " (install Avahi's compatibility library, e.g. Debian \
                     libavahi-compat-libdnssd1, or set {LIBRARY_ENV} to the library's path)"
                )
            }
            LoadError::MissingSymbol { library, symbol } => {
                write!(f, "{library} is not a dns_sd library: it has no {symbol}")
            }
        }
    }
}

impl std::error::Error for LoadError {}

/// Reads one symbol from `library` as a value of type `T`.
///
/// # Safety
/// `T` must be the exact function-pointer type of the C symbol `name` (a NUL-terminated name),
/// and the returned pointer must not be called after `library` is unloaded.
unsafe fn symbol<T: Copy>(library: &Library, name: &[u8]) -> Option<T> {
    // SAFETY: the caller guarantees `T` is the symbol's true type; `Library::get` only reads
    // the symbol's address and copies it out of the `Symbol` wrapper.
    unsafe { library.get::<T>(name) }.ok().map(|found| *found)
}

/// Declares [`Api`] from two lists of C prototypes: the entry points of the generated
/// bindings (`header`), taken from the linked library in `Api::linked`, and the Apple-only ones
/// (`apple`), which are always looked up by name because a linked library may lack them.
macro_rules! api_table {
    (
        header {
            $( $(#[$hdoc:meta])* fn $hname:ident($($harg:ident: $hty:ty),* $(,)?) $(-> $hret:ty)?; )*
        }
        apple {
            $( $(#[$adoc:meta])* fn $aname:ident($($aarg:ident: $aty:ty),* $(,)?) $(-> $aret:ty)?; )*
        }
    ) => {
        /// Every `dns_sd.h` entry point as an optional function pointer, named like the C
        /// function.
        ///
        /// Get one with [`Api::get`], [`Api::load`] or (feature `link`) `Api::linked`. The
        /// pointers stay valid for the life of the process: a loaded library is never
        /// unloaded. Calling any of them is `unsafe`: the caller upholds the C API's contract
        /// (valid pointers, NUL-terminated strings, a `DNSServiceRef` used by one thread at a
        /// time, deallocated once).
        #[allow(non_snake_case)]
        pub struct Api {
            $(
                $(#[$hdoc])*
                pub $hname: Option<unsafe extern "C" fn($($harg: $hty),*) $(-> $hret)?>,
            )*
            $(
                $(#[$adoc])*
                pub $aname: Option<unsafe extern "C" fn($($aarg: $aty),*) $(-> $aret)?>,
            )*
            origin: ApiOrigin,
        }

        impl Api {
            /// Names of every entry point of the table, header ones first.
            pub const SYMBOLS: &'static [&'static str] = &[
                $(stringify!($hname),)*
                $(stringify!($aname),)*
            ];

            /// Names of the entry points Avahi's 2006 header lacks (see [`crate::apple`]).
            pub const APPLE_ONLY_SYMBOLS: &'static [&'static str] = &[$(stringify!($aname),)*];

            /// Fills every entry by looking its name up in `library`.
            ///
            /// # Safety
            /// `library` must be a `dns_sd` implementation whose symbols have the C types
            /// declared by Apple's `dns_sd.h`, and it must never be unloaded afterwards.
            unsafe fn from_library(library: &Library, origin: ApiOrigin) -> Api {
                Api {
                    $(
                        // SAFETY: the type is the prototype of the same-named C function; the
                        // caller keeps the library loaded.
                        $hname: unsafe {
                            symbol(library, concat!(stringify!($hname), "\0").as_bytes())
                        },
                    )*
                    $(
                        // SAFETY: as above, Apple's documented prototype.
                        $aname: unsafe {
                            symbol(library, concat!(stringify!($aname), "\0").as_bytes())
                        },
                    )*
                    origin,
                }
            }

            /// The table of the linked library: the header's functions as linked symbols (the
            /// compiler checks their types against the generated declarations), the
            /// Apple-only ones looked up by name in the linked library itself (`image`, see
            /// [`linked_image`]), where Avahi's does not have them and Apple's does.
            #[cfg(dnssd_linked)]
            fn from_linked_symbols(image: Option<&Library>) -> Api {
                Api {
                    $( $hname: Some(crate::bindings_functions::$hname), )*
                    $(
                        $aname: image.and_then(|library| {
                            // SAFETY: Apple's documented prototype; the linked library stays
                            // loaded for the life of the process.
                            unsafe {
                                symbol(library, concat!(stringify!($aname), "\0").as_bytes())
                            }
                        }),
                    )*
                    origin: ApiOrigin::Linked,
                }
            }

            /// A table with every entry `None` and origin [`ApiOrigin::Custom`], for the
            /// caller to fill: a fake library in tests, or entry points found another way.
            /// The caller then upholds, for every function it puts in, the contract of the
            /// C function of the same name.
            pub fn empty() -> Api {
                Api {
                    $( $hname: None, )*
                    $( $aname: None, )*
                    origin: ApiOrigin::Custom,
                }
            }

            /// Names of the entry points this library has.
            pub fn available_symbols(&self) -> Vec<&'static str> {
                let mut names = Vec::new();
                $( if self.$hname.is_some() { names.push(stringify!($hname)); } )*
                $( if self.$aname.is_some() { names.push(stringify!($aname)); } )*
                names
            }
        }

        impl fmt::Debug for Api {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct("Api")
                    .field("origin", &self.origin)
                    .field("available", &self.available_symbols())
                    .finish()
            }
        }
    };
}

api_table! {
    header {
        /// `DNSServiceRefSockFD`: the descriptor to poll for readability before
        /// `DNSServiceProcessResult` (Apple declares it `dnssd_sock_t`, see
        /// [`crate::apple::dnssd_sock_t`]).
        fn DNSServiceRefSockFD(sdRef: DNSServiceRef) -> c_int;
        /// `DNSServiceProcessResult`: reads one reply and runs its callback; blocks if none is
        /// pending.
        fn DNSServiceProcessResult(sdRef: DNSServiceRef) -> DNSServiceErrorType;
        /// `DNSServiceRefDeallocate`: ends the operation and frees the ref.
        fn DNSServiceRefDeallocate(sdRef: DNSServiceRef);
        /// `DNSServiceEnumerateDomains`.
        fn DNSServiceEnumerateDomains(
            sdRef: *mut DNSServiceRef,
            flags: DNSServiceFlags,
            interfaceIndex: u32,
            callBack: DNSServiceDomainEnumReply,
            context: *mut c_void,
        ) -> DNSServiceErrorType;
        /// `DNSServiceRegister` (`port` in network byte order).
        fn DNSServiceRegister(
            sdRef: *mut DNSServiceRef,
            flags: DNSServiceFlags,
            interfaceIndex: u32,
            name: *const c_char,
            regtype: *const c_char,
            domain: *const c_char,
            host: *const c_char,
            port: u16,
            txtLen: u16,
            txtRecord: *const c_void,
            callBack: DNSServiceRegisterReply,
            context: *mut c_void,
        ) -> DNSServiceErrorType;
        /// `DNSServiceAddRecord` (Avahi: Unsupported).
        fn DNSServiceAddRecord(
            sdRef: DNSServiceRef,
            RecordRef: *mut DNSRecordRef,
            flags: DNSServiceFlags,
            rrtype: u16,
            rdlen: u16,
            rdata: *const c_void,
            ttl: u32,
        ) -> DNSServiceErrorType;
        /// `DNSServiceUpdateRecord` (Avahi: the primary TXT record only).
        fn DNSServiceUpdateRecord(
            sdRef: DNSServiceRef,
            RecordRef: DNSRecordRef,
            flags: DNSServiceFlags,
            rdlen: u16,
            rdata: *const c_void,
            ttl: u32,
        ) -> DNSServiceErrorType;
        /// `DNSServiceRemoveRecord` (Avahi: Unsupported).
        fn DNSServiceRemoveRecord(
            sdRef: DNSServiceRef,
            RecordRef: DNSRecordRef,
            flags: DNSServiceFlags,
        ) -> DNSServiceErrorType;
        /// `DNSServiceBrowse`.
        fn DNSServiceBrowse(
            sdRef: *mut DNSServiceRef,
            flags: DNSServiceFlags,
            interfaceIndex: u32,
            regtype: *const c_char,
            domain: *const c_char,
            callBack: DNSServiceBrowseReply,
            context: *mut c_void,
        ) -> DNSServiceErrorType;
        /// `DNSServiceResolve`.
        fn DNSServiceResolve(
            sdRef: *mut DNSServiceRef,
            flags: DNSServiceFlags,
            interfaceIndex: u32,
            name: *const c_char,
            regtype: *const c_char,
            domain: *const c_char,
            callBack: DNSServiceResolveReply,
            context: *mut c_void,
        ) -> DNSServiceErrorType;
        /// `DNSServiceCreateConnection` (Avahi: Unsupported).
        fn DNSServiceCreateConnection(sdRef: *mut DNSServiceRef) -> DNSServiceErrorType;
        /// `DNSServiceRegisterRecord` (Avahi: Unsupported).
        fn DNSServiceRegisterRecord(
            sdRef: DNSServiceRef,
            RecordRef: *mut DNSRecordRef,
            flags: DNSServiceFlags,
            interfaceIndex: u32,
            fullname: *const c_char,
            rrtype: u16,
            rrclass: u16,
            rdlen: u16,
            rdata: *const c_void,
            ttl: u32,
            callBack: DNSServiceRegisterRecordReply,
            context: *mut c_void,
        ) -> DNSServiceErrorType;
        /// `DNSServiceQueryRecord` (Avahi reports every TTL as 0).
        fn DNSServiceQueryRecord(
            sdRef: *mut DNSServiceRef,
            flags: DNSServiceFlags,
            interfaceIndex: u32,
            fullname: *const c_char,
            rrtype: u16,
            rrclass: u16,
            callBack: DNSServiceQueryRecordReply,
            context: *mut c_void,
        ) -> DNSServiceErrorType;
        /// `DNSServiceReconfirmRecord` (Avahi: Unsupported).
        fn DNSServiceReconfirmRecord(
            flags: DNSServiceFlags,
            interfaceIndex: u32,
            fullname: *const c_char,
            rrtype: u16,
            rrclass: u16,
            rdlen: u16,
            rdata: *const c_void,
        ) -> DNSServiceErrorType;
        /// `DNSServiceConstructFullName` (`fullName` must hold
        /// [`crate::apple::kDNSServiceMaxDomainName`] bytes; Apple returns an error code,
        /// Avahi an `int`, the same ABI).
        fn DNSServiceConstructFullName(
            fullName: *mut c_char,
            service: *const c_char,
            regtype: *const c_char,
            domain: *const c_char,
        ) -> c_int;
        /// `TXTRecordCreate`.
        fn TXTRecordCreate(txtRecord: *mut TXTRecordRef, bufferLen: u16, buffer: *mut c_void);
        /// `TXTRecordDeallocate`.
        fn TXTRecordDeallocate(txtRecord: *mut TXTRecordRef);
        /// `TXTRecordSetValue`.
        fn TXTRecordSetValue(
            txtRecord: *mut TXTRecordRef,
            key: *const c_char,
            valueSize: u8,
            value: *const c_void,
        ) -> DNSServiceErrorType;
        /// `TXTRecordRemoveValue`.
        fn TXTRecordRemoveValue(txtRecord: *mut TXTRecordRef, key: *const c_char)
            -> DNSServiceErrorType;
        /// `TXTRecordGetLength`.
        fn TXTRecordGetLength(txtRecord: *const TXTRecordRef) -> u16;
        /// `TXTRecordGetBytesPtr`.
        fn TXTRecordGetBytesPtr(txtRecord: *const TXTRecordRef) -> *const c_void;
        /// `TXTRecordContainsKey`.
        fn TXTRecordContainsKey(txtLen: u16, txtRecord: *const c_void, key: *const c_char) -> c_int;
        /// `TXTRecordGetValuePtr`.
        fn TXTRecordGetValuePtr(
            txtLen: u16,
            txtRecord: *const c_void,
            key: *const c_char,
            valueLen: *mut u8,
        ) -> *const c_void;
        /// `TXTRecordGetCount`.
        fn TXTRecordGetCount(txtLen: u16, txtRecord: *const c_void) -> u16;
        /// `TXTRecordGetItemAtIndex`.
        fn TXTRecordGetItemAtIndex(
            txtLen: u16,
            txtRecord: *const c_void,
            index: u16,
            keyBufLen: u16,
            key: *mut c_char,
            valueLen: *mut u8,
            value: *mut *const c_void,
        ) -> DNSServiceErrorType;
    }
    apple {
        /// `DNSServiceGetProperty` (Apple; absent from Avahi's library).
        fn DNSServiceGetProperty(
            property: *const c_char,
            result: *mut c_void,
            size: *mut u32,
        ) -> DNSServiceErrorType;
        /// `DNSServiceGetAddrInfo` (Apple; absent from Avahi's library: use QueryRecord A/AAAA).
        fn DNSServiceGetAddrInfo(
            sdRef: *mut DNSServiceRef,
            flags: DNSServiceFlags,
            interfaceIndex: u32,
            protocol: DNSServiceProtocol,
            hostname: *const c_char,
            callBack: DNSServiceGetAddrInfoReply,
            context: *mut c_void,
        ) -> DNSServiceErrorType;
        /// `DNSServiceNATPortMappingCreate` (Apple; ports in network byte order).
        fn DNSServiceNATPortMappingCreate(
            sdRef: *mut DNSServiceRef,
            flags: DNSServiceFlags,
            interfaceIndex: u32,
            protocol: DNSServiceProtocol,
            internalPort: u16,
            externalPort: u16,
            ttl: u32,
            callBack: DNSServiceNATPortMappingReply,
            context: *mut c_void,
        ) -> DNSServiceErrorType;
        /// `DNSServiceSetDispatchQueue` (Apple platforms with libdispatch only).
        fn DNSServiceSetDispatchQueue(service: DNSServiceRef, queue: dispatch_queue_t)
            -> DNSServiceErrorType;
        /// `DNSServiceSleepKeepalive` (Apple, not on Windows).
        fn DNSServiceSleepKeepalive(
            sdRef: *mut DNSServiceRef,
            flags: DNSServiceFlags,
            fd: c_int,
            timeout: core::ffi::c_uint,
            callBack: DNSServiceSleepKeepaliveReply,
            context: *mut c_void,
        ) -> DNSServiceErrorType;
        /// `DNSServiceSendQueuedRequests` (Apple; after RegisterRecord with QueueRequest).
        fn DNSServiceSendQueuedRequests(sdRef: DNSServiceRef) -> DNSServiceErrorType;
        /// `DNSServiceAttributeCreate` (macOS 12 / iOS 15).
        fn DNSServiceAttributeCreate() -> DNSServiceAttributeRef;
        /// `DNSServiceAttributeSetAAAAPolicy` (macOS 12 / iOS 15).
        fn DNSServiceAttributeSetAAAAPolicy(
            attr: DNSServiceAttributeRef,
            policy: DNSServiceAAAAPolicy,
        ) -> DNSServiceErrorType;
        /// `DNSServiceAttributeSetTimestamp` (seconds in the past, 0 = now).
        fn DNSServiceAttributeSetTimestamp(attr: DNSServiceAttributeRef, timestamp: u32)
            -> DNSServiceErrorType;
        /// `DNSServiceAttributeDeallocate`.
        fn DNSServiceAttributeDeallocate(attr: DNSServiceAttributeRef);
        /// `DNSServiceQueryRecordWithAttribute` (`attr` may be null).
        fn DNSServiceQueryRecordWithAttribute(
            sdRef: *mut DNSServiceRef,
            flags: DNSServiceFlags,
            ifindex: u32,
            name: *const c_char,
            rrtype: u16,
            rrclass: u16,
            attr: *const DNSServiceAttribute,
            callback: DNSServiceQueryRecordReply,
            context: *mut c_void,
        ) -> DNSServiceErrorType;
        /// `DNSServiceRegisterWithAttribute` (`attr` may be null).
        fn DNSServiceRegisterWithAttribute(
            sdRef: *mut DNSServiceRef,
            flags: DNSServiceFlags,
            interfaceIndex: u32,
            name: *const c_char,
            regtype: *const c_char,
            domain: *const c_char,
            host: *const c_char,
            portInNetworkByteOrder: u16,
            txtLen: u16,
            txtRecord: *const c_void,
            attr: DNSServiceAttributeRef,
            callBack: DNSServiceRegisterReply,
            context: *mut c_void,
        ) -> DNSServiceErrorType;
        /// `DNSServiceRegisterRecordWithAttribute` (`attr` may be null).
        fn DNSServiceRegisterRecordWithAttribute(
            sdRef: DNSServiceRef,
            recordRef: *mut DNSRecordRef,
            flags: DNSServiceFlags,
            interfaceIndex: u32,
            fullname: *const c_char,
            rrtype: u16,
            rrclass: u16,
            rdlen: u16,
            rdata: *const c_void,
            ttl: u32,
            attr: DNSServiceAttributeRef,
            callBack: DNSServiceRegisterRecordReply,
            context: *mut c_void,
        ) -> DNSServiceErrorType;
        /// `DNSServiceUpdateRecordWithAttribute` (`attr` may be null).
        fn DNSServiceUpdateRecordWithAttribute(
            sdRef: DNSServiceRef,
            recordRef: DNSRecordRef,
            flags: DNSServiceFlags,
            rdlen: u16,
            rdata: *const c_void,
            ttl: u32,
            attr: DNSServiceAttributeRef,
        ) -> DNSServiceErrorType;
    }
}

/// A successfully loaded library and its table, kept for the rest of the process.
struct Loaded {
    /// Never dropped: the function pointers in `api` point into it.
    _library: Library,
    api: Api,
}

/// The run-time loaded table, set once by the first successful [`Api::load`].
static LOADED: OnceLock<Loaded> = OnceLock::new();
/// Opens `name`. On Windows a default name (`dnssd.dll`) is looked up in System32 only, where
/// Bonjour installs it: the loader's usual search would also try the executable's and the
/// current directory, where anyone who can write a file could plant a `dnssd.dll`.
///
/// # Safety
/// As [`Library::new`]: the library's initialisers run.
unsafe fn open(name: &str, default: bool) -> Result<Library, libloading::Error> {
    #[cfg(windows)]
    if default {
        use libloading::os::windows::{LOAD_LIBRARY_SEARCH_SYSTEM32, Library as WindowsLibrary};
        // SAFETY: per this function's contract.
        return unsafe { WindowsLibrary::load_with_flags(name, LOAD_LIBRARY_SEARCH_SYSTEM32) }
            .map(Library::from);
    }
    let _ = default;
    // SAFETY: per this function's contract.
    unsafe { Library::new(name) }
}

/// Serialises loading so two threads never open the library twice.
static LOADING: Mutex<()> = Mutex::new(());

impl Api {
    /// Where this table's pointers come from.
    pub fn origin(&self) -> &ApiOrigin {
        &self.origin
    }

    /// Opens the `dns_sd` library at run time (once per process) and looks up every entry
    /// point separately.
    ///
    /// Tries [`LIBRARY_ENV`] (`DNSSD_LIBRARY`) alone when it is set, else
    /// [`DEFAULT_LIBRARY_NAMES`] in order. A library missing one of the three entry points
    /// every implementation has (`DNSServiceRefSockFD`, `DNSServiceProcessResult`,
    /// `DNSServiceRefDeallocate`) is skipped and the next candidate tried; if none fits, that
    /// refusal is the error ([`LoadError::MissingSymbol`]). A failure is not
    /// cached: a later call tries again (the library may have been installed meanwhile).
    pub fn load() -> Result<&'static Api, LoadError> {
        if let Some(loaded) = LOADED.get() {
            return Ok(&loaded.api);
        }
        let _guard = LOADING.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(loaded) = LOADED.get() {
            return Ok(&loaded.api);
        }
        // (name, whether it is one of the defaults)
        let candidates: Vec<(String, bool)> = match std::env::var_os(LIBRARY_ENV) {
            Some(path) if !path.is_empty() => vec![(path.to_string_lossy().into_owned(), false)],
            _ => DEFAULT_LIBRARY_NAMES
                .iter()
                .map(|name| ((*name).to_owned(), true))
                .collect(),
        };
        let (library, api) = open_first(&candidates)?;
        let loaded = LOADED.get_or_init(|| Loaded {
            _library: library,
            api,
        });
        Ok(&loaded.api)
    }

    /// The table of the library linked at build time (feature `link`, when `build.rs` found
    /// the library: `cfg(dnssd_linked)`).
    ///
    /// The header's entry points are the linked symbols. The Apple-only ones are looked up
    /// by name in that same library (never in the rest of the process), so they are `Some`
    /// with Apple's library and `None` with Avahi's.
    #[cfg(dnssd_linked)]
    pub fn linked() -> &'static Api {
        static LINKED: OnceLock<(Option<Library>, Api)> = OnceLock::new();
        let (_, api) = LINKED.get_or_init(|| {
            let image = linked_image();
            let api = Api::from_linked_symbols(image.as_ref());
            (image, api)
        });
        api
    }

    /// The linked table when built with feature `link` (and the library was found at build
    /// time), otherwise [`Api::load`].
    pub fn get() -> Result<&'static Api, LoadError> {
        #[cfg(dnssd_linked)]
        {
            Ok(Api::linked())
        }
        #[cfg(not(dnssd_linked))]
        {
            Api::load()
        }
    }
}

/// Opens the first of `candidates` that is a `dns_sd` library. A file that opens but lacks one
/// of [`REQUIRED_SYMBOLS`] (another library under the same name, a stub) does not stop the
/// search: the next candidate is tried. When none fits, the first such refusal is reported
/// ([`LoadError::MissingSymbol`]), else every failed open ([`LoadError::NotFound`]).
fn open_first(candidates: &[(String, bool)]) -> Result<(Library, Api), LoadError> {
    let mut attempts = Vec::new();
    let mut refused = None;
    for (name, default) in candidates {
        // SAFETY: opening a library runs its initialisers. The candidates are the system's
        // dns_sd client library (or the one the user named in DNSSD_LIBRARY), whose
        // initialisers have no preconditions.
        let library = match unsafe { open(name, *default) } {
            Ok(library) => library,
            Err(error) => {
                attempts.push(LoadAttempt {
                    library: name.clone(),
                    error: error.to_string(),
                });
                continue;
            }
        };
        // SAFETY: the table is used only if the library has the required symbols (checked
        // just below), and then the caller keeps the library loaded for the rest of the
        // process; otherwise the table is dropped before the library is.
        let api = unsafe {
            Api::from_library(
                &library,
                ApiOrigin::Loaded {
                    library: name.clone(),
                },
            )
        };
        let available = api.available_symbols();
        match REQUIRED_SYMBOLS
            .into_iter()
            .find(|symbol| !available.contains(symbol))
        {
            None => return Ok((library, api)),
            Some(symbol) => {
                refused.get_or_insert(LoadError::MissingSymbol {
                    library: name.clone(),
                    symbol,
                });
            }
        }
    }
    Err(refused.unwrap_or(LoadError::NotFound { attempts }))
}

/// The linked `dns_sd` library itself, where the Apple-only entry points are looked up.
///
/// On Unix the library is found from the address of a linked symbol (`dladdr`) and reopened
/// with `RTLD_NOLOAD` (it is loaded already; this only takes a handle). Looking the names up
/// in the whole process (`dlopen(NULL)`) instead could find another library's
/// `DNSServiceGetAddrInfo` beside a linked Avahi library. On Windows it is the
/// linked `dnssd.dll`. When the library cannot be identified, the Apple-only entries stay
/// `None`.
#[cfg(dnssd_linked)]
fn linked_image() -> Option<Library> {
    #[cfg(unix)]
    {
        linked_library_unix().map(Into::into)
    }
    #[cfg(windows)]
    {
        libloading::os::windows::Library::open_already_loaded("dnssd.dll")
            .ok()
            .map(Into::into)
    }
    #[cfg(not(any(unix, windows)))]
    {
        None
    }
}

/// See [`linked_image`].
#[cfg(all(dnssd_linked, unix))]
fn linked_library_unix() -> Option<libloading::os::unix::Library> {
    use std::ffi::{CStr, OsStr};
    use std::os::unix::ffi::OsStrExt;

    let linked: unsafe extern "C" fn(DNSServiceRef) =
        crate::bindings_functions::DNSServiceRefDeallocate;
    // SAFETY: `Dl_info` is plain old data; all-zero is a valid value that `dladdr` overwrites.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: `dladdr` only reads the address (never calls it) and writes `info`, which is
    // valid for writes for the duration of the call.
    let found = unsafe { libc::dladdr(linked as *const c_void, &mut info) };
    if found == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: on success `dli_fname` is a NUL-terminated path owned by the loader, valid
    // while the object stays loaded (it is linked: for the life of the process); it is copied
    // before anything could unload it.
    let path = OsStr::from_bytes(unsafe { CStr::from_ptr(info.dli_fname) }.to_bytes()).to_owned();
    // SAFETY: the object is loaded already (RTLD_NOLOAD: this only takes a reference to it),
    // so no initialiser runs.
    unsafe {
        libloading::os::unix::Library::open(
            Some(path),
            libc::RTLD_NOW | libc::RTLD_NOLOAD | libc::RTLD_LOCAL,
        )
    }
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbol_lists_name_every_field_once() {
        let mut names = Api::SYMBOLS.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Api::SYMBOLS.len());
        assert!(Api::APPLE_ONLY_SYMBOLS.contains(&"DNSServiceGetAddrInfo"));
        assert!(!Api::APPLE_ONLY_SYMBOLS.contains(&"DNSServiceRegister"));
    }

    /// A candidate that opens but is no dns_sd library (libc here) must not stop the search.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_library_without_the_required_symbols_is_skipped_for_the_next_candidate() {
        let candidates = [
            ("libc.so.6".to_owned(), false),
            (DEFAULT_LIBRARY_NAMES[0].to_owned(), true),
        ];
        let (_library, api) = match open_first(&candidates) {
            Ok(found) => found,
            Err(e) => panic!("the second candidate should load: {e}"),
        };
        assert_eq!(
            api.origin(),
            &ApiOrigin::Loaded {
                library: DEFAULT_LIBRARY_NAMES[0].to_owned()
            }
        );
        // Alone, the impostor is refused with the symbol it lacks.
        match open_first(&candidates[..1]) {
            Err(LoadError::MissingSymbol { library, symbol }) => {
                assert_eq!(library, "libc.so.6");
                assert_eq!(symbol, "DNSServiceRefSockFD");
            }
            other => panic!(
                "expected MissingSymbol, got {:?}",
                other.map(|(_, api)| api)
            ),
        }
    }

    #[test]
    fn not_found_message_names_each_attempt_and_the_override() {
        let error = LoadError::NotFound {
            attempts: vec![
                LoadAttempt {
                    library: "a.so".into(),
                    error: "nope".into(),
                },
                LoadAttempt {
                    library: "b.so".into(),
                    error: "gone".into(),
                },
            ],
        };
        let text = error.to_string();
        assert!(text.contains("a.so (nope); b.so (gone)"), "{text}");
        assert!(text.contains(LIBRARY_ENV), "{text}");
    }
}
