//! Embedded backend: tokio driver for dnssd-engine. See docs/DESIGN.md.
