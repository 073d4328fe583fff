//! Test support for network-namespace labs. See `scripts/netlab`.
