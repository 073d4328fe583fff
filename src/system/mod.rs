//! System backend: Bonjour / Avahi libdns_sd. See docs/DESIGN.md.
