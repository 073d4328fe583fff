//! Proves the checked-in `src/bindings.rs` and `src/bindings_functions.rs` are exactly what
//! bindgen makes from the installed `dns_sd.h` with the options in `bindgen_config.rs`.
//!
//! Needs libclang and Avahi's header (Debian `libclang-dev libavahi-compat-libdnssd-dev`).
//! After a deliberate change of options or bindgen version, regenerate with
//! `DNSSD_SYS_BLESS=1 cargo test -p dnssd-sys --test bindings_current`.
//!
//! The checked-in files come from Avahi's header, so the test runs where that header is the
//! installed one (Linux, the BSDs); on macOS and Windows the system header is Apple's.

#[path = "../bindgen_config.rs"]
mod bindgen_config;

use bindgen_config::Output;
use std::path::{Path, PathBuf};

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
#[cfg_attr(
    any(target_vendor = "apple", windows),
    ignore = "the checked-in bindings come from Avahi's header"
)]
fn checked_in_bindings_match_bindgen_output_for_the_installed_header() {
    let header = bindgen_config::find_header(&[]).unwrap_or_else(|| {
        panic!(
            "dns_sd.h not found: install Debian libavahi-compat-libdnssd-dev \
             (Fedora avahi-compat-libdns_sd-devel, Alpine avahi-compat-libdns_sd) \
             or set DNSSD_INCLUDE_DIR"
        )
    });
    let bless = std::env::var_os("DNSSD_SYS_BLESS").is_some();
    let mut stale = Vec::new();
    for output in [Output::TypesAndConstants, Output::Functions] {
        let generated = bindgen_config::generate(&header, output)
            .unwrap_or_else(|e| panic!("bindgen failed on {}: {e}", header.display()));
        let path = src_dir().join(output.file_name());
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        if generated != checked_in {
            if bless {
                std::fs::write(&path, &generated).unwrap();
                eprintln!("rewrote {}", path.display());
            } else {
                let first_difference = generated
                    .lines()
                    .zip(checked_in.lines())
                    .position(|(a, b)| a != b)
                    .map_or_else(|| "length".to_owned(), |line| format!("line {}", line + 1));
                stale.push(format!(
                    "{} (first difference: {first_difference})",
                    path.display()
                ));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "checked-in bindings differ from bindgen's output for {}: {stale:?}; \
         rerun with DNSSD_SYS_BLESS=1 if the change is intended",
        header.display()
    );
}
