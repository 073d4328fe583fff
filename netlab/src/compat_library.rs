//! Hiding Avahi's `libdns_sd` compatibility library from a test process, so the process sees
//! what a default desktop install has (avahi-daemon, no compat library): a private mount
//! namespace with `/dev/null` bound over every `libdns_sd.so*`. Nothing outside the process
//! (and its children) is affected.
//!
//! A mount namespace can only be entered by a single-threaded process, and a test body runs on
//! a thread of the harness: [`hide_libdns_sd_before_main!`](crate::hide_libdns_sd_before_main) does it from an `.init_array`
//! entry of the test binary, before `main` starts any thread. Each test then asserts
//! [`libdns_sd_hidden`].

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};

/// Where the dynamic linker finds libraries on the distributions CI uses (merged `/usr`).
const LIBRARY_DIRS: &[&str] = &["/usr/lib", "/usr/local/lib"];

/// Every `libdns_sd.so*` under the library directories (two levels deep: `/usr/lib/<triplet>`),
/// symlinks resolved, without duplicates.
pub fn libdns_sd_files() -> Vec<PathBuf> {
    let mut found = Vec::new();
    for dir in LIBRARY_DIRS {
        collect(Path::new(dir), 2, &mut found);
    }
    found.sort();
    found.dedup();
    found
}

fn collect(dir: &Path, depth: u32, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_lib = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with("libdns_sd.so"));
        if is_lib {
            if let Ok(real) = path.canonicalize() {
                found.push(real);
            }
        } else if depth > 0 && entry.file_type().is_ok_and(|t| t.is_dir()) {
            collect(&path, depth - 1, found);
        }
    }
}

/// Enter a private mount namespace and bind `/dev/null` over every `libdns_sd.so*`; the
/// number of files hidden. Needs root and a single-threaded process (see the module docs).
pub fn hide_libdns_sd() -> Result<usize, String> {
    unshare(CloneFlags::CLONE_NEWNS).map_err(|e| format!("unshare(CLONE_NEWNS): {e}"))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| format!("make / private: {e}"))?;
    let files = libdns_sd_files();
    for file in &files {
        mount(
            Some("/dev/null"),
            file,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| format!("bind /dev/null over {}: {e}", file.display()))?;
    }
    Ok(files.len())
}

/// Whether no real `libdns_sd` is visible to this process: each one found is `/dev/null`.
pub fn libdns_sd_hidden() -> bool {
    libdns_sd_files()
        .iter()
        .all(|file| std::fs::metadata(file).is_ok_and(|m| m.file_type().is_char_device()))
}

/// Called from the `.init_array` entry of [`hide_libdns_sd_before_main!`](crate::hide_libdns_sd_before_main): hides the library
/// when running inside `scripts/netlab run` (never outside it, e.g. when nextest lists tests).
pub fn hide_libdns_sd_in_netlab() {
    if std::env::var_os("DNSSD_NETLAB").is_some() {
        if let Err(e) = hide_libdns_sd() {
            eprintln!("dnssd-netlab: could not hide libdns_sd: {e}");
        }
    }
}

/// Put in a test binary (at module level) whose tests must not see Avahi's compat library:
/// hides it before `main` (see [`hide_libdns_sd`]); tests assert [`libdns_sd_hidden`].
#[macro_export]
macro_rules! hide_libdns_sd_before_main {
    () => {
        #[used]
        #[unsafe(link_section = ".init_array")]
        static HIDE_LIBDNS_SD: extern "C" fn() = {
            extern "C" fn hide() {
                // A panic must not unwind into the C runtime.
                drop(::std::panic::catch_unwind(
                    $crate::compat_library::hide_libdns_sd_in_netlab,
                ));
            }
            hide
        };
    };
}
