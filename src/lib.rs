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
