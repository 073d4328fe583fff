//! `bench_peer`: the dnssd side of `scripts/bench-peers` (a benchmark, not a test).
//!
//! ```text
//! bench_peer --backend embedded register PREFIX TYPE PORT [--count K] [--hold SECS]
//! bench_peer --backend embedded browse TYPE [--expect K] [--timeout SECS]
//! ```
//!
//! Prints one JSON object per line; `wall` is the wall-clock time in seconds since the Unix
//! epoch (all network namespaces of one machine share that clock, so the benchmark compares
//! times taken in different lab hosts).
//!
//! - `register`: `{"event":"start"}` just before the handle is built, then registers `K`
//!   services concurrently (named `PREFIX` when `K` is 1, else `PREFIX-0` .. `PREFIX-{K-1}`),
//!   prints `{"event":"registered","count":K}` once every one is confirmed, holds them until
//!   SIGTERM/SIGINT or `--hold`, then shuts down (goodbyes) and prints `{"event":"stopped"}`.
//! - `browse`: `{"event":"start"}` just before the handle is built, then one `{"event":"up"}` per
//!   new resolved endpoint (name, host, port, addresses), and `{"event":"done"}` once `K`
//!   distinct instances are up (then exits), or at `--timeout`.

use std::collections::HashSet;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use dnssd::{
    BackendKind, EndpointEvent, InstanceName, Service, ServiceDiscovery, ServiceType, TxtRecord,
};
use serde_json::{Value, json};
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinSet;

#[derive(Parser, Debug)]
#[command(name = "bench_peer", about = "dnssd peer for scripts/bench-peers")]
struct Cli {
    /// auto, system or embedded.
    #[arg(long, default_value = "embedded", value_parser = parse_backend)]
    backend: BackendKind,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Register COUNT services and hold them.
    Register {
        /// Instance name (prefix when --count > 1).
        prefix: String,
        /// Service type, e.g. _bench._tcp.
        service_type: String,
        /// Port.
        port: u16,
        /// How many services.
        #[arg(long, default_value_t = 1)]
        count: usize,
        /// Stop after SECS seconds.
        #[arg(long)]
        hold: Option<f64>,
    },
    /// Browse and resolve until EXPECT instances are up.
    Browse {
        /// Service type, e.g. _bench._tcp.
        service_type: String,
        /// Exit once this many distinct instances are up (0: never).
        #[arg(long, default_value_t = 1)]
        expect: usize,
        /// Give up after SECS seconds.
        #[arg(long, default_value_t = 60.0)]
        timeout: f64,
    },
}

fn parse_backend(s: &str) -> Result<BackendKind, String> {
    s.parse().map_err(|e: dnssd::Error| e.to_string())
}

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

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Register {
            prefix,
            service_type,
            port,
            count,
            hold,
        } => register(cli.backend, &prefix, &service_type, port, count, hold).await,
        Command::Browse {
            service_type,
            expect,
            timeout,
        } => browse(cli.backend, &service_type, expect, timeout).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            emit(json!({"event": "error", "error": e}));
            ExitCode::FAILURE
        }
    }
}

async fn register(
    backend: BackendKind,
    prefix: &str,
    service_type: &str,
    port: u16,
    count: usize,
    hold: Option<f64>,
) -> Result<(), String> {
    let t = ServiceType::new(service_type).map_err(|e| e.to_string())?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    emit(json!({"event": "start"}));
    let sd = ServiceDiscovery::builder()
        .backend(backend)
        .build()
        .await
        .map_err(|e| e.to_string())?;
    let mut tasks = JoinSet::new();
    for i in 0..count {
        let name = if count == 1 {
            prefix.to_owned()
        } else {
            format!("{prefix}-{i}")
        };
        let name = InstanceName::new(&name).map_err(|e| e.to_string())?;
        let mut txt = TxtRecord::new();
        txt.insert("i", i.to_string()).map_err(|e| e.to_string())?;
        let service = Service::new(t.clone(), port).with_name(name).with_txt(txt);
        let sd = sd.clone();
        tasks.spawn(async move { sd.register(service).await });
    }
    let mut registrations = Vec::with_capacity(count);
    while let Some(joined) = tasks.join_next().await {
        let registration = joined
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        if count == 1 {
            emit(json!({"event": "registered", "name": registration.name().as_str()}));
        }
        registrations.push(registration);
    }
    emit(json!({"event": "registered", "count": registrations.len(), "pid": std::process::id()}));
    let hold = hold.map_or(Duration::from_secs(365 * 86400), Duration::from_secs_f64);
    tokio::select! {
        _ = sigterm.recv() => {}
        _ = sigint.recv() => {}
        () = tokio::time::sleep(hold) => {}
    }
    drop(registrations);
    sd.shutdown().await;
    emit(json!({"event": "stopped"}));
    Ok(())
}

async fn browse(
    backend: BackendKind,
    service_type: &str,
    expect: usize,
    timeout: f64,
) -> Result<(), String> {
    let t = ServiceType::new(service_type).map_err(|e| e.to_string())?;
    emit(json!({"event": "start"}));
    let sd = ServiceDiscovery::builder()
        .backend(backend)
        .build()
        .await
        .map_err(|e| e.to_string())?;
    let mut endpoints = sd.browse(&t).map_err(|e| e.to_string())?.resolved();
    let mut seen: HashSet<String> = HashSet::new();
    let deadline = tokio::time::sleep(Duration::from_secs_f64(timeout));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            () = &mut deadline => {
                emit(json!({"event": "timeout", "count": seen.len()}));
                return Ok(());
            }
            event = endpoints.next_event() => match event {
                None => return Err("browse ended".into()),
                Some(Err(e)) => return Err(e.to_string()),
                Some(Ok(EndpointEvent::Up(e))) => {
                    let name = e.instance.name.as_str().to_owned();
                    if seen.insert(name.clone()) && (expect <= 1 || seen.len() % 100 == 0) {
                        emit(json!({
                            "event": "up",
                            "name": name,
                            "host": e.host_target,
                            "port": e.port,
                            "addresses": e.addresses.iter().map(ToString::to_string).collect::<Vec<_>>(),
                            "count": seen.len(),
                        }));
                    }
                    if expect > 0 && seen.len() >= expect {
                        emit(json!({"event": "done", "count": seen.len()}));
                        return Ok(());
                    }
                }
                Some(Ok(_)) => {}
            }
        }
    }
}
