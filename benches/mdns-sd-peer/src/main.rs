//! `mdns-sd-peer`: the mdns-sd side of `scripts/bench-peers`, on mdns-sd's public API (a
//! benchmark peer, not a test). Same command line and JSON lines as `examples/bench_peer.rs`:
//!
//! ```text
//! mdns-sd-peer register PREFIX TYPE PORT [--count K]
//! mdns-sd-peer browse TYPE [--expect K] [--timeout SECS] [--removals]
//! ```
//!
//! - `register`: `{"event":"start"}` just before the daemon is made, registers `K` services
//!   (`PREFIX` when `K` is 1, else `PREFIX-0` ..), prints `{"event":"registered",...}` once every
//!   `register` call returned (mdns-sd does not probe, so there is nothing to confirm), holds
//!   them until SIGTERM/SIGINT, then shuts the daemon down (it sends the goodbyes) and prints
//!   `{"event":"stopped"}`.
//! - `browse`: `{"event":"start"}`, `{"event":"up",...}` per newly resolved instance (every one
//!   when `K` <= 1 or with `--removals`, else every 100th), `{"event":"done"}` once `K` are up (then exits, unless `K`
//!   is 0), `{"event":"removed",...}` per instance gone with `--removals`, `{"event":"timeout"}`.
//!
//! `wall` in every line is the wall clock in seconds since the Unix epoch (shared by every
//! network namespace of one machine).

use std::collections::HashSet;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mdns_sd::{ServiceDaemon, ServiceEvent, ServiceInfo};
use serde_json::{Value, json};

fn wall() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn emit(mut value: Value) {
    if let Value::Object(map) = &mut value {
        map.insert("wall".into(), json!(wall()));
    }
    println!("{value}");
}

fn usage() -> String {
    "usage: mdns-sd-peer register PREFIX TYPE PORT [--count K] | \
     browse TYPE [--expect K] [--timeout SECS] [--removals]"
        .into()
}

/// The value after `flag` in `args`, parsed, or `default`.
fn option<T: std::str::FromStr>(args: &[String], flag: &str, default: T) -> Result<T, String> {
    match args.iter().position(|a| a == flag) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{flag} needs a value")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("register") => register(&args),
        Some("browse") => browse(&args),
        _ => Err(usage()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            emit(json!({"event": "error", "error": e}));
            ExitCode::FAILURE
        }
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "mdns-sd-peer".into())
}

fn register(args: &[String]) -> Result<(), String> {
    let [_, prefix, service_type, port, ..] = args else {
        return Err(usage());
    };
    let port: u16 = port.parse().map_err(|_| usage())?;
    let count: usize = option(args, "--count", 1)?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&stop)).map_err(|e| e.to_string())?;
    }
    let ty = format!("{service_type}.local.");
    let host = format!("{}.local.", host_name());
    emit(json!({"event": "start"}));
    let daemon = ServiceDaemon::new().map_err(|e| e.to_string())?;
    for i in 0..count {
        let name = if count == 1 {
            prefix.clone()
        } else {
            format!("{prefix}-{i}")
        };
        let index = i.to_string();
        let info = ServiceInfo::new(&ty, &name, &host, "", port, &[("i", index.as_str())][..])
            .map_err(|e| e.to_string())?
            .enable_addr_auto();
        // The daemon's command queue is bounded: wait for room when it is full.
        let mut info = Some(info);
        while let Some(next) = info.take() {
            match daemon.register(next.clone()) {
                Ok(()) => {}
                Err(mdns_sd::Error::Again) => {
                    std::thread::sleep(Duration::from_millis(1));
                    info = Some(next);
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }
    emit(json!({"event": "registered", "count": count, "pid": std::process::id()}));
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = daemon.shutdown().map_err(|e| e.to_string())?;
    let _ = status.recv_timeout(Duration::from_secs(10));
    emit(json!({"event": "stopped"}));
    Ok(())
}

fn browse(args: &[String]) -> Result<(), String> {
    let [_, service_type, ..] = args else {
        return Err(usage());
    };
    let expect: usize = option(args, "--expect", 1)?;
    let timeout: f64 = option(args, "--timeout", 60.0)?;
    let removals = args.iter().any(|a| a == "--removals");
    let ty = format!("{service_type}.local.");
    emit(json!({"event": "start"}));
    let daemon = ServiceDaemon::new().map_err(|e| e.to_string())?;
    let events = daemon.browse(&ty).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs_f64(timeout);
    let mut seen: HashSet<String> = HashSet::new();
    let mut removed = 0usize;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            emit(json!({"event": "timeout", "count": seen.len()}));
            break;
        }
        let Ok(event) = events.recv_timeout(left) else {
            continue;
        };
        match event {
            ServiceEvent::ServiceResolved(service) if !service.addresses.is_empty() => {
                let name = service
                    .fullname
                    .strip_suffix(&format!(".{ty}"))
                    .unwrap_or(&service.fullname)
                    .to_owned();
                if seen.insert(name.clone()) {
                    if expect <= 1 || removals || seen.len().is_multiple_of(100) {
                        emit(json!({
                            "event": "up",
                            "name": name,
                            "host": service.host,
                            "port": service.port,
                            "addresses": service.addresses.iter().map(|a| a.to_ip_addr().to_string()).collect::<Vec<_>>(),
                            "count": seen.len(),
                        }));
                    }
                    if expect > 0 && seen.len() == expect {
                        emit(json!({"event": "done", "count": seen.len()}));
                        if !removals {
                            break;
                        }
                    }
                }
            }
            ServiceEvent::ServiceRemoved(_, fullname) if removals => {
                removed += 1;
                let name = fullname
                    .strip_suffix(&format!(".{ty}"))
                    .unwrap_or(&fullname);
                emit(json!({"event": "removed", "name": name, "removed": removed}));
            }
            _ => {}
        }
    }
    let _ = daemon.shutdown();
    Ok(())
}
