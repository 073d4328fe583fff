//! Rust side of `scripts/bench-system`: browse a service type through the system backend and
//! resolve every instance until COUNT distinct instances are resolved. Prints
//! `elapsed_ms=<ms> resolved=<n> cpu_ms=<ms>`, timed from just before the browse starts to the COUNT-th
//! resolve answer: the same span `benches/c/browse_resolve.c` measures with the C API.
//!
//! ```text
//! cargo run --release --example bench_browse_resolve -- _bench._tcp 200
//! ```
//!
//! `cpu_ms` is the process's user+system CPU time (all threads) at that point.
//!
//! Each instance is resolved by its own task (`ServiceDiscovery::resolve`, one-shot: the
//! resolve is cancelled as soon as the first answer arrives), as an application would.

use std::process::ExitCode;
use std::time::Instant;

use dnssd::{BackendKind, BrowseEvent, ServiceDiscovery, ServiceType};
use tokio::sync::mpsc;

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let service_type = args.next().unwrap_or_else(|| "_bench._tcp".to_owned());
    let count: usize = match args.next().map(|c| c.parse()) {
        None => 200,
        Some(Ok(count)) => count,
        Some(Err(e)) => {
            eprintln!("bad COUNT: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(&service_type, count).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_browse_resolve: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(service_type: &str, count: usize) -> dnssd::Result<()> {
    let service_type = ServiceType::new(service_type)?;
    let sd = ServiceDiscovery::builder()
        .backend(BackendKind::DnsSd)
        .build()
        .await?;
    let (done_tx, mut done) = mpsc::unbounded_channel();

    let start = Instant::now();
    let mut browse = sd.browse(&service_type)?;
    let mut resolved = 0;
    let mut failed = 0;
    while resolved < count {
        tokio::select! {
            event = browse.next_event() => match event {
                Some(Ok(BrowseEvent::Added(instance))) => {
                    let sd = sd.clone();
                    let done = done_tx.clone();
                    drop(tokio::spawn(async move {
                        drop(done.send(sd.resolve(&instance).await));
                    }));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Err(dnssd::Error::DaemonNotRunning),
            },
            Some(result) = done.recv() => match result {
                Ok(_) => resolved += 1,
                Err(e) => {
                    failed += 1;
                    eprintln!("resolve failed: {e}");
                }
            },
        }
    }
    let elapsed = start.elapsed();
    println!(
        "elapsed_ms={:.1} resolved={resolved} cpu_ms={:.1}",
        elapsed.as_secs_f64() * 1e3,
        cpu_ms()
    );
    if failed > 0 {
        return Err(dnssd::Error::Io(std::io::Error::other(format!(
            "{failed} resolves failed"
        ))));
    }
    Ok(())
}

/// User + system CPU time of the whole process so far, in milliseconds.
fn cpu_ms() -> f64 {
    // SAFETY: `getrusage` only writes the struct it is given; all-zero is a valid `rusage`.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
    ms(usage.ru_utime) + ms(usage.ru_stime)
}
