//! Build script of `dnssd-sys`.
//!
//! - Feature `link` (always on Apple targets): find the `dns_sd` library and link it, then set
//!   `cfg(dnssd_linked)`.
//!   Order: `DNSSD_LIB_DIR` (+ `DNSSD_LIB_NAME`) override; Apple targets link nothing extra
//!   (libSystem has the API); Windows uses `BONJOUR_SDK_HOME`; everything else asks
//!   pkg-config for `avahi-compat-libdns_sd`. A missing library is not a build error: one
//!   `cargo:warning` says what to install, and the crate is built without a linked table
//!   (`Api::get()` then loads the library at run time, and reports a clean error if absent).
//! - Feature `bindgen`: regenerate the bindings into `OUT_DIR` from the installed header.

use std::env;
use std::path::PathBuf;

#[cfg(feature = "bindgen")]
#[path = "bindgen_config.rs"]
mod bindgen_config;

/// Environment variables that change what this script does.
const ENV_INPUTS: &[&str] = &[
    "DNSSD_LIB_DIR",
    "DNSSD_LIB_NAME",
    "DNSSD_INCLUDE_DIR",
    "BONJOUR_SDK_HOME",
];

/// What a successful library search found.
struct Found {
    /// Directories holding `dns_sd.h`, for the `bindgen` feature.
    include_dirs: Vec<PathBuf>,
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=bindgen_config.rs");
    println!("cargo:rustc-check-cfg=cfg(dnssd_linked)");
    for var in ENV_INPUTS {
        println!("cargo:rerun-if-env-changed={var}");
    }

    let mut include_dirs = Vec::new();
    // Apple targets always use the linked table: libSystem, which every program links, has
    // the API, so linking costs nothing and loading would gain nothing.
    let apple = env::var("CARGO_CFG_TARGET_VENDOR").as_deref() == Ok("apple");
    if env::var_os("CARGO_FEATURE_LINK").is_some() || apple {
        match find_and_link() {
            Ok(found) => {
                println!("cargo:rustc-cfg=dnssd_linked");
                // Visible to dependents' build scripts as DEP_DNS_SD_LINKED.
                println!("cargo:linked=1");
                include_dirs = found.include_dirs;
            }
            Err(reason) => println!(
                "cargo:warning=dnssd-sys: libdns_sd not found ({reason}); built without \
                 linking it, the library will be loaded at run time if present. Install \
                 Debian/Ubuntu libavahi-compat-libdnssd-dev, Fedora \
                 avahi-compat-libdns_sd-devel or Alpine avahi-dev + avahi-compat-libdns_sd, or \
                 set DNSSD_LIB_DIR (and DNSSD_LIB_NAME) to the library's directory."
            ),
        }
    }

    #[cfg(feature = "bindgen")]
    generate_bindings(&include_dirs);
    #[cfg(not(feature = "bindgen"))]
    let _ = include_dirs;
}

/// Finds the library for the target and prints the link instructions.
fn find_and_link() -> Result<Found, String> {
    let target_os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_vendor = env::var("CARGO_CFG_TARGET_VENDOR").unwrap_or_default();
    let include_override: Vec<PathBuf> = env::var_os("DNSSD_INCLUDE_DIR")
        .map(PathBuf::from)
        .into_iter()
        .collect();

    if let Some(dir) = env::var_os("DNSSD_LIB_DIR") {
        let dir = PathBuf::from(dir);
        if !dir.is_dir() {
            return Err(format!(
                "DNSSD_LIB_DIR={} is not a directory",
                dir.display()
            ));
        }
        let default_name = if target_os == "windows" {
            "dnssd"
        } else {
            "dns_sd"
        };
        let name = env::var("DNSSD_LIB_NAME").unwrap_or_else(|_| default_name.to_owned());
        println!("cargo:rustc-link-search=native={}", dir.display());
        println!("cargo:rustc-link-lib=dylib={name}");
        return Ok(Found {
            include_dirs: include_override,
        });
    }

    if target_vendor == "apple" {
        // The dns_sd client is part of libSystem, which every binary links.
        return Ok(Found {
            include_dirs: include_override,
        });
    }

    if target_os == "windows" {
        let Some(sdk) = env::var_os("BONJOUR_SDK_HOME").map(PathBuf::from) else {
            return Err("BONJOUR_SDK_HOME is not set (install the Bonjour SDK)".to_owned());
        };
        let arch = if env::var("CARGO_CFG_TARGET_POINTER_WIDTH").as_deref() == Ok("32") {
            "Win32"
        } else {
            "x64"
        };
        let lib_dir = sdk.join("Lib").join(arch);
        if !lib_dir.join("dnssd.lib").is_file() {
            return Err(format!("no dnssd.lib in {}", lib_dir.display()));
        }
        println!("cargo:rustc-link-search=native={}", lib_dir.display());
        println!("cargo:rustc-link-lib=dylib=dnssd");
        let mut include_dirs = include_override;
        include_dirs.push(sdk.join("Include"));
        return Ok(Found { include_dirs });
    }

    match pkg_config::Config::new().probe("avahi-compat-libdns_sd") {
        Ok(library) => {
            let mut include_dirs = include_override;
            include_dirs.extend(library.include_paths);
            Ok(Found { include_dirs })
        }
        Err(error) => Err(format!(
            "pkg-config avahi-compat-libdns_sd: {}",
            pkg_config_reason(&error)
        )),
    }
}

/// One line saying why pkg-config failed: a cargo warning shows a single line, and
/// pkg-config's own message spans several.
fn pkg_config_reason(error: &pkg_config::Error) -> String {
    let full = match error {
        pkg_config::Error::ProbeFailure { output, .. }
        | pkg_config::Error::Failure { output, .. } => {
            String::from_utf8_lossy(&output.stderr).into_owned()
        }
        other => other.to_string(),
    };
    full.lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("failed")
        .to_owned()
}

/// Runs bindgen on the installed header (feature `bindgen`); fails the build if it cannot,
/// since the feature was asked for explicitly.
#[cfg(feature = "bindgen")]
fn generate_bindings(include_dirs: &[PathBuf]) {
    let Some(out_dir) = env::var_os("OUT_DIR").map(PathBuf::from) else {
        panic!("OUT_DIR is not set");
    };
    let Some(header) = bindgen_config::find_header(include_dirs) else {
        panic!(
            "feature `bindgen`: dns_sd.h not found; install the development package (Debian \
             libavahi-compat-libdnssd-dev) or set DNSSD_INCLUDE_DIR"
        );
    };
    println!("cargo:rerun-if-changed={}", header.display());
    for output in [
        bindgen_config::Output::TypesAndConstants,
        bindgen_config::Output::Functions,
    ] {
        let source = match bindgen_config::generate(&header, output) {
            Ok(source) => source,
            Err(error) => panic!("bindgen failed on {}: {error}", header.display()),
        };
        let path = out_dir.join(output.file_name());
        if let Err(error) = std::fs::write(&path, source) {
            panic!("cannot write {}: {error}", path.display());
        }
    }
}
