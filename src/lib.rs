//! DNS-SD service discovery for async Rust: the system daemon (Bonjour, Avahi) or an embedded
//! mDNS engine, behind one API. See `docs/DESIGN.md`.

mod backend;
mod discovery;
pub mod embedded;
mod error;
mod name;
mod stream;
mod system;
mod txt;

pub use error::{Error, Result};
pub use name::{
    Domain, FullName, HostName, InstanceName, MAX_LABEL_LEN, MAX_NAME_LEN, MAX_SERVICE_NAME_LEN,
    Protocol, ServiceType, escape_label, full_name, parse_full_name,
};
pub use txt::{
    MAX_TXT_STRING_LEN, NOT_RECOMMENDED_TXT_LEN, RECOMMENDED_MAX_KEY_LEN, TxtRecord, TxtValue,
};
