//! DNS-SD service discovery for async Rust: the system daemon (Bonjour, Avahi) or an embedded
//! mDNS engine, behind one API. See `docs/DESIGN.md`.
//!
//! The crate is layered, arrows pointing down only: `types` (names, TXT, events, errors: the
//! vocabulary), `api` (the [`ServiceDiscovery`] handle and its streams), `backend` (the
//! internal contract, the choice, and one module per implementation).
//!
//! ```no_run
//! # async fn demo() -> dnssd::Result<()> {
//! use dnssd::{BrowseEvent, Service, ServiceDiscovery, ServiceType};
//! let sd = ServiceDiscovery::new().await?;
//! let http = ServiceType::new("_http._tcp")?;
//! let registration = sd.register(Service::new(http.clone(), 8080)).await?;
//! println!("registered as {}", registration.name());
//! let mut browse = sd.browse(&http)?;
//! while let Some(event) = browse.next_event().await {
//!     if let BrowseEvent::Added(instance) = event? {
//!         let resolved = sd.resolve(&instance).await?;
//!         println!("{} at {}:{}", instance.name, resolved.host_target, resolved.port);
//!     }
//! }
//! # Ok(())
//! # }
//! ```

mod api;
mod backend;
mod types;

/// Settings of the embedded mDNS engine ([`BackendKind::Embedded`]).
pub mod embedded {
    pub use crate::backend::embedded::EmbeddedConfig;
    #[cfg(any(target_os = "linux", windows))]
    pub use crate::backend::embedded::interfaces::{InterfaceRule, InterfaceSelection};
}

pub use api::discovery::{
    BACKEND_ENV, DEFAULT_ANSWER_TIMEOUT, Registration, ServiceDiscovery, ServiceDiscoveryBuilder,
};
pub use api::endpoints::{Endpoints, UP_SETTLE};
pub use api::stream::{Browse, HostLookup, RecordQuery, ResolveStream, ServiceTypes};
pub use backend::detect::detect as detect_host_responders;
pub use backend::operation::EVENT_BUFFER;
pub use backend::wide_area::{BrowseDomains, TSIG_KEY_ENV, TsigKey, WideAreaConfig};
pub use backend::{BackendKind, Capabilities};
pub use types::error::{Error, Result};
pub use types::event::{
    BrowseEvent, Endpoint, EndpointEvent, HostAddress, HostAddressEvent, Instance, Record,
    RecordEvent, RegistrationEvent, Resolved, ServiceTypeEvent,
};
pub use types::name::{
    Domain, FullName, HostName, InstanceName, MAX_LABEL_LEN, MAX_NAME_LEN, MAX_SERVICE_NAME_LEN,
    Protocol, ServiceType, escape_label, full_name, parse_full_name,
};
pub use types::responder::HostResponder;
pub use types::service::{Interface, RecordType, Service};
pub use types::txt::{
    MAX_TXT_STRING_LEN, NOT_RECOMMENDED_TXT_LEN, RECOMMENDED_MAX_KEY_LEN, TxtRecord, TxtValue,
};

/// The README's example compiles (doctest only).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
