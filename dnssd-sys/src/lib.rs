//! Raw FFI to dns_sd.h.
