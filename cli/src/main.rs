//! `dnssd`: a command-line DNS-SD tool on this crate's public API, modelled on Apple's `dns-sd`.
//!
//! ```text
//! dnssd register "My Web" _http._tcp 8080 path=/ --subtype _printer
//! dnssd browse _http._tcp --resolve --json --timeout 5
//! dnssd browse --all
//! dnssd watch
//! dnssd resolve "My Web" _http._tcp
//! dnssd lookup myhost.local
//! dnssd query _http._tcp.local PTR
//! dnssd types
//! dnssd completions bash
//! ```
//!
//! Every command runs until Ctrl-C, SIGTERM or `--timeout SECS` (then exits 0); `resolve` and
//! `lookup` exit 0 once they have printed an answer, and fail if none came before the timeout.
//! `--json` prints one JSON object per line. Errors print the typed error and exit 1.

mod all;
mod watch;

use std::future::Future;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::num::NonZeroU32;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};
use dnssd::{
    BackendKind, BrowseEvent, Domain, Endpoint, EndpointEvent, Error, HostAddress,
    HostAddressEvent, Instance, InstanceName, Interface, Record, RecordEvent, RecordType,
    RegistrationEvent, Service, ServiceDiscovery, ServiceType, ServiceTypeEvent, TxtRecord,
};
use futures_core::Stream;
use serde::Serialize;
use tokio::sync::Notify;

#[derive(Parser, Debug)]
#[command(
    name = "dnssd",
    version,
    about = "DNS-SD service discovery (a dns-sd work-alike on the dnssd crate)"
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug, Clone)]
struct Common {
    /// Stop after SECS seconds and exit 0 (resolve/lookup: fail if no answer came by then).
    #[arg(long, global = true, value_name = "SECS", value_parser = parse_seconds)]
    timeout: Option<Duration>,
    /// One JSON object per line instead of the table.
    #[arg(long, global = true)]
    json: bool,
    /// Which implementation to use: auto, system (the OS's responder, whichever path), avahi
    /// (avahi-daemon over D-Bus), dns-sd (libdns_sd: Bonjour, or Avahi's compatibility
    /// library) or embedded.
    #[arg(long, global = true, value_name = "auto|system|avahi|dns-sd|embedded", default_value = "auto",
          value_parser = parse_backend)]
    backend: BackendKind,
    /// Interface name or index (default: all).
    #[arg(long, global = true, value_name = "IF")]
    interface: Option<String>,
    /// DNS server for domains other than local. (default: /etc/resolv.conf's), as IP or
    /// IP:PORT; also receives wide-area registrations (DNS UPDATE).
    #[arg(long, global = true, value_name = "ADDR", value_parser = parse_dns_server)]
    dns_server: Option<std::net::SocketAddr>,
    /// TSIG key for wide-area registrations, in BIND key-file format (tsig-keygen's output).
    /// Default: the DNSSD_TSIG_KEY environment variable (name:base64-secret).
    #[arg(long, global = true, value_name = "FILE")]
    tsig_key_file: Option<std::path::PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Register a service until Ctrl-C, SIGTERM or --timeout, then deregister it.
    Register {
        /// Instance name ("" for the computer's name).
        name: String,
        /// Service type, e.g. _http._tcp (subtypes: _http._tcp,_printer).
        #[arg(value_name = "TYPE")]
        service_type: String,
        /// Port the service listens on.
        port: u16,
        /// TXT entries: KEY=VALUE, or KEY alone for a boolean attribute.
        #[arg(value_name = "KEY=VALUE")]
        txt: Vec<String>,
        /// Also register under this subtype (repeatable).
        #[arg(long = "subtype", value_name = "S")]
        subtypes: Vec<String>,
        /// Host name the service runs on (default: this host).
        #[arg(long, value_name = "H")]
        host: Option<String>,
        /// Register in this DNS domain (DNS UPDATE, needs a TSIG key) instead of local.
        #[arg(long, value_name = "DOMAIN")]
        domain: Option<String>,
    },
    /// Browse for instances of a service type (or of every type: --all).
    Browse {
        /// Service type, e.g. _http._tcp or _printer._sub._http._tcp.
        #[arg(
            value_name = "TYPE",
            required_unless_present = "all",
            conflicts_with = "all"
        )]
        service_type: Option<String>,
        /// Resolve each instance and report ready-to-connect endpoints.
        #[arg(long)]
        resolve: bool,
        /// Browse this domain (unicast DNS unless local.); default local. plus, with
        /// --dns-server, the enumerated browse domains.
        #[arg(long, value_name = "DOMAIN")]
        domain: Option<String>,
        /// Every service type on the network, resolved, as they come and go (like
        /// `avahi-browse -art`).
        #[arg(long, conflicts_with = "domain")]
        all: bool,
    },
    /// A full-screen live table of the services on the network, grouped by type (q quits).
    Watch {
        /// Only this service type (default: every type).
        #[arg(value_name = "TYPE")]
        service_type: Option<String>,
    },
    /// Resolve one instance to host, port, TXT (and addresses).
    Resolve {
        /// Instance name.
        name: String,
        /// Service type.
        #[arg(value_name = "TYPE")]
        service_type: String,
        /// Domain of the instance.
        #[arg(long, default_value = "local.")]
        domain: String,
    },
    /// Look up the addresses of a host name.
    Lookup {
        /// Host name, e.g. printer.local.
        host: String,
    },
    /// Query a DNS record of any type.
    Query {
        /// Record name.
        name: String,
        /// Record type: A, AAAA, PTR, SRV, TXT, HINFO, CNAME, NSEC, ANY or a number.
        rrtype: String,
    },
    /// List the service types advertised on the network (RFC 6763 §9).
    Types,
    /// List the browse and registration domains found by RFC 6763 §11 enumeration.
    Domains,
    /// Print a shell completion script (e.g. `dnssd completions bash > /etc/bash_completion.d/dnssd`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

fn parse_dns_server(s: &str) -> Result<std::net::SocketAddr, String> {
    s.parse::<std::net::SocketAddr>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(|ip| (ip, 53).into()))
        .map_err(|_| format!("{s:?} is not an IP address or IP:PORT"))
}

/// The wide-area settings from --dns-server, --tsig-key-file and DNSSD_TSIG_KEY (`None`
/// when none is given: defaults apply).
fn wide_area_config(common: &Common) -> Result<Option<dnssd::WideAreaConfig>, Error> {
    let key = match &common.tsig_key_file {
        Some(path) => Some(dnssd::TsigKey::from_key_file(path)?),
        None => dnssd::TsigKey::from_env()?,
    };
    if common.dns_server.is_none() && key.is_none() {
        return Ok(None);
    }
    let mut config = dnssd::WideAreaConfig::new();
    if let Some(server) = common.dns_server {
        config = config.server(server);
    }
    if let Some(key) = key {
        config = config.tsig_key(key);
    }
    Ok(Some(config))
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .ok_or_else(|| format!("{s:?} is not a number of seconds (>= 0)"))
}

fn parse_backend(s: &str) -> Result<BackendKind, String> {
    s.parse::<BackendKind>().map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Completions { shell } = cli.command {
        // Nothing to discover: no backend is started.
        use clap::CommandFactory;
        // Into a buffer first: clap_complete panics on a failed write (`| head`).
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "dnssd", &mut script);
        let mut out = std::io::stdout().lock();
        // A closed pipe is the reader's choice, not an error.
        let _ = out.write_all(&script).and_then(|()| out.flush());
        return ExitCode::SUCCESS;
    }
    let json = cli.common.json;
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if json {
                Output { json }.error(&e, true);
            }
            warn(&format!("error: {e}"));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Error> {
    let common = cli.common;
    let interface = parse_interface(common.interface.as_deref())?;
    let out = Output { json: common.json };
    // Arguments are checked before any daemon is contacted, so a bad type fails the same way
    // everywhere.
    let command = Checked::new(cli.command)?;
    let mut builder = ServiceDiscovery::builder().backend(common.backend);
    if let Some(config) = wide_area_config(&common)? {
        builder = builder.wide_area(config);
    }
    let sd = builder.build().await?;
    let deadline = common.timeout;
    let stop = stop_signal(deadline);
    let cx = Ctx { sd, out, interface };
    let result = match command {
        Checked::Register(service) => register(&cx, service.with_interface(interface), stop).await,
        Checked::Browse(t, false, domain) => browse(&cx, &t, domain.as_deref(), stop).await,
        Checked::Browse(t, true, domain) => browse_resolved(&cx, &t, domain.as_deref(), stop).await,
        Checked::BrowseAll => browse_all(&cx, stop).await,
        Checked::Watch(scope) => watch::watch(&cx, scope, stop).await,
        Checked::Resolve(instance) => {
            let instance = Instance {
                interface: Interface::from_index(interface_index(interface)),
                ..instance
            };
            resolve(&cx, &instance, stop).await
        }
        Checked::Lookup(host) => lookup(&cx, &host, stop).await,
        Checked::Query(name, rtype) => query(&cx, &name, rtype, stop).await,
        Checked::Types => types(&cx, stop).await,
        Checked::Domains => domains(&cx, stop).await,
    };
    // The embedded backend sends its goodbyes here; the system backend has nothing to wait for.
    cx.sd.shutdown().await;
    result
}

/// What every command needs.
struct Ctx {
    sd: ServiceDiscovery,
    out: Output,
    interface: Interface,
}

/// A command with its arguments validated.
enum Checked {
    Register(Service),
    Browse(ServiceType, bool, Option<String>),
    BrowseAll,
    Watch(all::Scope),
    Resolve(Instance),
    Lookup(String),
    Query(String, u16),
    Types,
    Domains,
}

impl Checked {
    fn new(command: Command) -> Result<Checked, Error> {
        Ok(match command {
            Command::Register {
                name,
                service_type,
                port,
                txt,
                subtypes,
                host,
                domain,
            } => {
                let mut t = ServiceType::new(&service_type)?;
                for s in &subtypes {
                    t = t.with_subtype(s)?;
                }
                let txt = parse_txt(&txt)?;
                if txt.wire_len() > dnssd::NOT_RECOMMENDED_TXT_LEN {
                    // RFC 6763 §6.2: legal, but may not fit in one packet with the other records.
                    warn(&format!(
                        "warning: the TXT record is {} bytes; RFC 6763 §6.2 advises against \
                         more than {}",
                        txt.wire_len(),
                        dnssd::NOT_RECOMMENDED_TXT_LEN
                    ));
                }
                let mut service = Service::new(t, port).with_txt(txt);
                if !name.is_empty() {
                    service = service.with_name(InstanceName::new(name)?);
                }
                if let Some(host) = host {
                    service = service.with_host(dnssd::HostName::new(&host)?);
                }
                if let Some(domain) = domain {
                    service = service.with_domain(dnssd::Domain::new(&domain)?);
                }
                Checked::Register(service)
            }
            Command::Browse {
                service_type: Some(service_type),
                resolve,
                domain,
                all: false,
            } => {
                let domain = match domain {
                    Some(d) => Some(dnssd::Domain::new(&d)?.to_string()),
                    None => None,
                };
                Checked::Browse(ServiceType::new(&service_type)?, resolve, domain)
            }
            // clap requires a type without --all and refuses one with it.
            Command::Browse { .. } => Checked::BrowseAll,
            Command::Watch { service_type } => Checked::Watch(match service_type {
                Some(t) => all::Scope::One(ServiceType::new(&t)?),
                None => all::Scope::Every,
            }),
            Command::Resolve {
                name,
                service_type,
                domain,
            } => Checked::Resolve(Instance {
                name: InstanceName::new(name)?,
                service_type: ServiceType::new(&service_type)?,
                domain: dnssd::Domain::new(&domain)?,
                interface: Interface::Any,
            }),
            Command::Lookup { host } => {
                dnssd::HostName::new(&host)?;
                Checked::Lookup(host)
            }
            Command::Query { name, rrtype } => {
                dnssd::HostName::new(&name)?;
                Checked::Query(name, parse_rrtype(&rrtype)?)
            }
            Command::Types => Checked::Types,
            Command::Domains => Checked::Domains,
            Command::Completions { .. } => {
                return Err(usage_error(
                    "completions are printed before any backend starts",
                ));
            }
        })
    }
}

fn parse_txt(entries: &[String]) -> Result<TxtRecord, Error> {
    let mut txt = TxtRecord::new();
    for entry in entries {
        match entry.split_once('=') {
            Some((key, value)) => txt.insert(key, value)?,
            None => txt.insert_flag(entry)?,
        }
    }
    Ok(txt)
}

fn parse_interface(arg: Option<&str>) -> Result<Interface, Error> {
    let Some(arg) = arg else {
        return Ok(Interface::Any);
    };
    let index = match arg.parse::<u32>() {
        Ok(index) => index,
        Err(_) => index_of_interface(arg)?,
    };
    NonZeroU32::new(index)
        .map(Interface::Index)
        .ok_or_else(|| bad_interface(arg))
}

/// The index of the interface named `name` (0 if there is none).
#[cfg(unix)]
fn index_of_interface(name: &str) -> Result<u32, Error> {
    let c_name = std::ffi::CString::new(name).map_err(|_| bad_interface(name))?;
    // SAFETY: `c_name` is a valid NUL-terminated string that outlives the call;
    // if_nametoindex only reads it.
    Ok(unsafe { libc::if_nametoindex(c_name.as_ptr()) })
}

/// The index of the interface named `name`: its alias ("Ethernet", what `ipconfig` shows; 0 if
/// there is none).
#[cfg(windows)]
fn index_of_interface(name: &str) -> Result<u32, Error> {
    use windows_sys::Win32::NetworkManagement::IpHelper::{
        ConvertInterfaceAliasToLuid, ConvertInterfaceLuidToIndex,
    };
    use windows_sys::Win32::NetworkManagement::Ndis::NET_LUID_LH;
    let alias: Vec<u16> = name.encode_utf16().chain(std::iter::once(0)).collect();
    let mut luid = NET_LUID_LH { Value: 0 };
    // SAFETY: `alias` is a NUL-terminated UTF-16 string and `luid` a writable NET_LUID, both
    // alive for the call.
    if unsafe { ConvertInterfaceAliasToLuid(alias.as_ptr(), &mut luid) } != 0 {
        return Ok(0);
    }
    let mut index = 0u32;
    // SAFETY: `luid` was filled in by the call above; `index` is a writable u32.
    if unsafe { ConvertInterfaceLuidToIndex(&luid, &mut index) } != 0 {
        return Ok(0);
    }
    Ok(index)
}

/// A command line that cannot be carried out as given.
fn usage_error(message: &str) -> Error {
    Error::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        message.to_owned(),
    ))
}

fn bad_interface(arg: &str) -> Error {
    Error::Io(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!("no network interface {arg:?}"),
    ))
}

fn interface_index(interface: Interface) -> u32 {
    match interface {
        Interface::Index(i) => i.get(),
        _ => 0,
    }
}

/// Record type mnemonics and numbers (RFC 1035, 2782, 3596, 4034, 6762).
const RRTYPES: &[(&str, u16)] = &[
    ("A", 1),
    ("NS", 2),
    ("CNAME", 5),
    ("SOA", 6),
    ("NULL", 10),
    ("PTR", 12),
    ("HINFO", 13),
    ("MX", 15),
    ("TXT", 16),
    ("AAAA", 28),
    ("SRV", 33),
    ("OPT", 41),
    ("NSEC", 47),
    ("ANY", 255),
];

fn parse_rrtype(s: &str) -> Result<u16, Error> {
    if let Ok(n) = s.parse::<u16>() {
        return Ok(n);
    }
    let upper = s.to_ascii_uppercase();
    let upper = upper
        .strip_prefix("TYPE")
        .and_then(|n| n.parse::<u16>().ok());
    RRTYPES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(s))
        .map(|(_, n)| *n)
        .or(upper)
        .ok_or_else(|| {
            Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "unknown record type {s:?} (use A, AAAA, PTR, SRV, TXT, ANY ... or a number)"
                ),
            ))
        })
}

fn backend_name(kind: BackendKind) -> &'static str {
    kind.name()
}

fn rrtype_name(n: u16) -> String {
    RRTYPES
        .iter()
        .find(|(_, v)| *v == n)
        .map_or_else(|| format!("TYPE{n}"), |(name, _)| (*name).to_owned())
}

// ---------------------------------------------------------------------------------------------
// Stopping: Ctrl-C, SIGTERM or the timeout.

/// Why a command stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Signal,
    Timeout,
}

type StopFuture = Pin<Box<dyn Future<Output = Stop> + Send>>;

/// Waits for `signal`; forever if its handler could not be installed.
#[cfg(unix)]
async fn recv(signal: Option<&mut tokio::signal::unix::Signal>) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// One Windows console event listener.
#[cfg(windows)]
enum ConsoleEvent {
    C(tokio::signal::windows::CtrlC),
    Break(tokio::signal::windows::CtrlBreak),
    Close(tokio::signal::windows::CtrlClose),
    Logoff(tokio::signal::windows::CtrlLogoff),
    Shutdown(tokio::signal::windows::CtrlShutdown),
}

/// Waits for the console event; forever if its handler could not be installed.
#[cfg(windows)]
async fn recv_console(event: Option<&mut ConsoleEvent>) {
    match event {
        Some(ConsoleEvent::C(e)) => drop(e.recv().await),
        Some(ConsoleEvent::Break(e)) => drop(e.recv().await),
        Some(ConsoleEvent::Close(e)) => drop(e.recv().await),
        Some(ConsoleEvent::Logoff(e)) => drop(e.recv().await),
        Some(ConsoleEvent::Shutdown(e)) => drop(e.recv().await),
        None => std::future::pending().await,
    }
}

/// Fires on Ctrl-C (SIGINT), SIGTERM (on Windows: any console control event) or after
/// `deadline`. The signal handlers are installed
/// here, before the command starts, so a signal that arrives early still ends it cleanly.
fn stop_signal(deadline: Option<Duration>) -> StopFuture {
    #[cfg(unix)]
    let (mut interrupt, mut terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    #[cfg(windows)]
    let (mut ctrl_c, mut ctrl_break, mut ctrl_close, mut ctrl_logoff, mut ctrl_shutdown) = {
        use tokio::signal::windows as console;
        (
            console::ctrl_c().ok().map(ConsoleEvent::C),
            console::ctrl_break().ok().map(ConsoleEvent::Break),
            console::ctrl_close().ok().map(ConsoleEvent::Close),
            console::ctrl_logoff().ok().map(ConsoleEvent::Logoff),
            console::ctrl_shutdown().ok().map(ConsoleEvent::Shutdown),
        )
    };
    Box::pin(async move {
        let timeout = async {
            match deadline {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        #[cfg(unix)]
        let signalled = async {
            tokio::select! {
                () = recv(interrupt.as_mut()) => {},
                () = recv(terminate.as_mut()) => {},
            }
        };
        // Ctrl-C, Ctrl-Break, the console window closing, logoff and shutdown: every console
        // event Windows sends before it ends the process.
        #[cfg(windows)]
        let signalled = async {
            tokio::select! {
                () = recv_console(ctrl_c.as_mut()) => {},
                () = recv_console(ctrl_break.as_mut()) => {},
                () = recv_console(ctrl_close.as_mut()) => {},
                () = recv_console(ctrl_logoff.as_mut()) => {},
                () = recv_console(ctrl_shutdown.as_mut()) => {},
            }
        };
        #[cfg(not(any(unix, windows)))]
        let signalled = async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = signalled => Stop::Signal,
            () = STDOUT_GONE.notified() => Stop::Signal,
            () = timeout => Stop::Timeout,
        }
    })
}

/// The next item of a stream.
async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}

/// Runs `on_item` for each item of `stream` until it ends, fails, or `stop` fires.
///
/// The daemon going away after the stream delivered something is not the end: the system
/// backend re-establishes the stream when the daemon comes back (and reports its instances
/// again), so that is reported and the command carries on. Before anything arrived, a missing
/// daemon is an error: it was not running when the command started.
async fn drive<S, T>(
    out: Output,
    mut stream: S,
    mut stop: StopFuture,
    mut on_item: impl FnMut(T),
) -> Result<(), Error>
where
    S: Stream<Item = Result<T, Error>> + Unpin,
{
    let mut got_item = false;
    loop {
        tokio::select! {
            _ = &mut stop => return Ok(()),
            item = next(&mut stream) => match item {
                Some(Ok(item)) => {
                    got_item = true;
                    on_item(item);
                }
                Some(Err(e @ Error::DaemonNotRunning)) if got_item => out.transient(&e),
                Some(Err(e @ Error::Lagged { .. })) => out.lagged(&e),
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Output.

#[derive(Debug, Clone, Copy)]
struct Output {
    json: bool,
}

impl Output {
    /// One event: with `--json`, `{"event": EVENT, "time": ..., ...data}` where `data` is the
    /// library's own serde form of what happened (an `Instance`, `Endpoint`, `Resolved`,
    /// `HostAddress`, `Record`...), flattened in; else the `human` line.
    fn line<T: Serialize>(&self, event: &str, data: T, human: impl FnOnce() -> String) {
        if self.json {
            let line = JsonLine {
                event,
                time: timestamp(),
                data,
            };
            match serde_json::to_string(&line) {
                Ok(text) => print_line(&text),
                Err(e) => warn(&format!("cannot write {event} as JSON: {e}")),
            }
        } else {
            print_line(&human());
        }
    }

    /// `{"event":"error",...}` (JSON only).
    fn error(&self, e: &Error, fatal: bool) {
        #[derive(Serialize)]
        struct ErrorData {
            error: String,
            code: Option<i32>,
            fatal: bool,
        }
        let data = ErrorData {
            error: e.to_string(),
            code: e.code(),
            fatal,
        };
        self.line("error", data, String::new);
    }

    /// An error the command survives (the daemon went away; the library reconnects): a
    /// warning on stderr, and a non-fatal error event with `--json`.
    /// The consumer fell behind and events were dropped (the stream goes on).
    fn lagged(&self, e: &Error) {
        if self.json {
            self.error(e, false);
        }
        warn(&format!("warning: {e}"));
    }

    fn transient(&self, e: &Error) {
        if self.json {
            self.error(e, false);
        }
        warn(&format!("warning: {e}; waiting for it to come back"));
    }

    fn banner(&self, text: impl FnOnce() -> String) {
        if !self.json {
            print_line(&text());
        }
    }
}

/// One `--json` line.
#[derive(Serialize)]
struct JsonLine<'a, T> {
    event: &'a str,
    time: String,
    #[serde(flatten)]
    data: T,
}

/// A service type event's data.
#[derive(Serialize)]
struct TypeData<'a> {
    service_type: &'a ServiceType,
}

/// Fires once stdout is gone (its reader exited, as in `dnssd browse ... | head -1`): the
/// command then ends as on a signal (a registration is withdrawn with goodbyes) and exits 0,
/// instead of dying on the first failed write.
static STDOUT_GONE: LazyLock<Notify> = LazyLock::new(Notify::new);

/// Writes one line to stdout; a failed write (a closed pipe) stops the command.
fn print_line(text: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
        STDOUT_GONE.notify_one();
    }
}

/// `dnssd: MESSAGE` on stderr (nothing if stderr is closed too).
fn warn(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "dnssd: {message}");
}

/// `HH:MM:SS.mmm` (UTC), as `dns-sd` stamps each line.
fn timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60,
        now.subsec_millis()
    )
}

fn date_banner() -> String {
    let days = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        / 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "DATE: ---{y:04}-{m:02}-{d:02} (UTC)---\n{}  ...STARTING...",
        timestamp()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

// ---------------------------------------------------------------------------------------------
// Commands.

async fn register(cx: &Ctx, service: Service, stop: StopFuture) -> Result<(), Error> {
    cx.out.banner(|| {
        format!(
            "Registering Service {} {} port {}{}",
            service
                .name()
                .map_or("(default name)".to_owned(), |n| n.to_string()),
            service.service_type().dns_sd_regtype(),
            service.port(),
            if service.txt().is_empty() {
                String::new()
            } else {
                format!(" TXT {}", service.txt())
            }
        )
    });
    cx.out.banner(date_banner);
    let t = service.service_type().clone();
    let port = service.port();
    let txt = service.txt().clone();
    let domain = service.domain().cloned();
    let backend = backend_name(cx.sd.backend());
    let mut stop = stop;
    // Stopping before the daemon confirmed drops the pending registration, which withdraws it.
    let mut registration = tokio::select! {
        r = cx.sd.register(service) => r?,
        _ = &mut stop => return Ok(()),
    };
    #[derive(Serialize)]
    struct Registered<'a> {
        name: &'a InstanceName,
        service_type: &'a ServiceType,
        domain: &'a Domain,
        port: u16,
        txt: &'a TxtRecord,
        backend: &'a str,
    }
    let local = Domain::local();
    let domain = domain.as_ref().unwrap_or(&local);
    let registered = |name: &InstanceName| {
        let data = Registered {
            name,
            service_type: &t,
            domain,
            port,
            txt: &txt,
            backend,
        };
        cx.out.line("registered", data, || {
            format!(
                "{}  Got a reply for service {}.{}.local.: Name now registered and active",
                timestamp(),
                name.escaped(),
                t
            )
        });
    };
    registered(registration.name());
    // Renames after a late conflict and re-registrations after a daemon restart are reported;
    // the daemon going away is reported and waited out; any other error ends the command.
    let mut events_open = true;
    let why = loop {
        tokio::select! {
            why = &mut stop => break why,
            event = next(&mut registration), if events_open => match event {
                Some(Ok(RegistrationEvent::Registered(name))) => registered(&name),
                Some(Ok(RegistrationEvent::Withdrawn(name))) => cx.out.line(
                    "withdrawn",
                    Registered { name: &name, service_type: &t, domain, port, txt: &txt, backend },
                    || format!(
                        "{}  Got a reply for service {}.{}.local.: Name in use, withdrawn; \
                         renaming",
                        timestamp(),
                        name.escaped(),
                        t
                    ),
                ),
                Some(Ok(_)) => {}
                // The system backend registers it again when the daemon comes back.
                Some(Err(e @ Error::DaemonNotRunning)) => cx.out.transient(&e),
                Some(Err(e @ Error::Lagged { .. })) => cx.out.lagged(&e),
                Some(Err(e)) => return Err(e),
                None => events_open = false,
            },
        }
    };
    let name = registration.name().clone();
    // Dropping the registration deregisters it (the daemon sends goodbyes).
    drop(registration);
    #[derive(Serialize)]
    struct Deregistered<'a> {
        name: &'a InstanceName,
        reason: &'a str,
    }
    let reason = if why == Stop::Timeout {
        "timeout"
    } else {
        "signal"
    };
    cx.out.line(
        "deregistered",
        Deregistered {
            name: &name,
            reason,
        },
        || format!("{}  Deregistered {}", timestamp(), name),
    );
    Ok(())
}

async fn browse(
    cx: &Ctx,
    t: &ServiceType,
    domain: Option<&str>,
    stop: StopFuture,
) -> Result<(), Error> {
    cx.out
        .banner(|| format!("Browsing for {}", t.dns_sd_regtype()));
    cx.out.banner(date_banner);
    cx.out.banner(|| {
        "Timestamp     A/R     if Domain               Service Type         Instance Name"
            .to_owned()
    });
    let stream = cx.sd.browse_on(t, domain, cx.interface)?;
    drive(cx.out, stream, stop, |event| {
        let (ar, i) = match &event {
            BrowseEvent::Added(i) => ("Add", i),
            BrowseEvent::Removed(i) => ("Rmv", i),
            _ => return,
        };
        cx.out
            .line(if ar == "Add" { "added" } else { "removed" }, i, || {
                format!(
                    "{}  {:<6} {:>3} {:<20} {:<20} {}",
                    timestamp(),
                    ar,
                    i.interface.index(),
                    i.domain,
                    format!("{}.", i.service_type),
                    i.name
                )
            });
    })
    .await
}

async fn browse_resolved(
    cx: &Ctx,
    t: &ServiceType,
    domain: Option<&str>,
    stop: StopFuture,
) -> Result<(), Error> {
    cx.out
        .banner(|| format!("Browsing for {} and resolving", t.dns_sd_regtype()));
    cx.out.banner(date_banner);
    cx.out.banner(|| {
        "Timestamp     Event    if Instance Name                   Host:Port / Addresses / TXT"
            .to_owned()
    });
    let stream = cx.sd.browse_on(t, domain, cx.interface)?.resolved();
    drive(cx.out, stream, stop, |event| match &event {
        EndpointEvent::Up(e) | EndpointEvent::Changed(e) => {
            let kind = if matches!(event, EndpointEvent::Up(_)) {
                "up"
            } else {
                "changed"
            };
            cx.out.line(kind, e, || {
                endpoint_line(if kind == "up" { "Up" } else { "Changed" }, e, false)
            });
        }
        EndpointEvent::Down(e) => {
            let i = &e.instance;
            cx.out.line("down", e, || {
                format!(
                    "{}  {:<7} {:>3} {}",
                    timestamp(),
                    "Down",
                    i.interface.index(),
                    i.name
                )
            });
        }
        _ => {}
    })
    .await
}

fn endpoint_line(kind: &str, e: &Endpoint, with_type: bool) -> String {
    let addrs: Vec<String> = e.addresses.iter().map(|a| a.ip().to_string()).collect();
    let name = if with_type {
        format!("{}.{}", e.instance.name.escaped(), e.instance.service_type)
    } else {
        e.instance.name.to_string()
    };
    format!(
        "{}  {:<7} {:>3} {:<30} {}:{}  [{}]  {}",
        timestamp(),
        kind,
        e.interface.index(),
        name,
        e.host_target,
        e.port,
        addrs.join(", "),
        e.txt
    )
}

/// Every type on the network, resolved, live (`avahi-browse -art`, or `dns-sd -B
/// _services._dns-sd._udp` and then each type).
async fn browse_all(cx: &Ctx, stop: StopFuture) -> Result<(), Error> {
    cx.out
        .banner(|| "Browsing for every service type and resolving".to_owned());
    cx.out.banner(date_banner);
    cx.out.banner(|| {
        "Timestamp     Event    if Instance.Type                  Host:Port / Addresses / TXT"
            .to_owned()
    });
    let stream = all::Everything::start(&cx.sd, all::Scope::Every, cx.interface)?;
    drive(cx.out, stream, stop, |seen| match seen {
        all::Seen::Type(t, added) => {
            let event = if added { "type_added" } else { "type_removed" };
            cx.out.line(event, TypeData { service_type: &t }, || {
                format!(
                    "{}  {:<7}     {}",
                    timestamp(),
                    if added { "Type+" } else { "Type-" },
                    t
                )
            });
        }
        all::Seen::Endpoint(EndpointEvent::Up(e)) => {
            cx.out.line("up", &e, || endpoint_line("Up", &e, true));
        }
        all::Seen::Endpoint(EndpointEvent::Changed(e)) => {
            cx.out
                .line("changed", &e, || endpoint_line("Changed", &e, true));
        }
        all::Seen::Endpoint(EndpointEvent::Down(e)) => {
            let i = &e.instance;
            cx.out.line("down", &e, || {
                format!(
                    "{}  {:<7} {:>3} {}.{}",
                    timestamp(),
                    "Down",
                    i.interface.index(),
                    i.name.escaped(),
                    i.service_type
                )
            });
        }
        all::Seen::Endpoint(_) => {}
    })
    .await
}

async fn resolve(cx: &Ctx, instance: &Instance, stop: StopFuture) -> Result<(), Error> {
    cx.out.banner(|| {
        format!(
            "Lookup {}",
            dnssd::full_name(&instance.name, &instance.service_type, &instance.domain)
        )
    });
    cx.out.banner(date_banner);
    let resolved = tokio::select! {
        r = cx.sd.resolve(instance) => r?,
        why = stop => return match why {
            Stop::Timeout => Err(Error::Timeout),
            Stop::Signal => Ok(()),
        },
    };
    cx.out.line("resolved", &resolved, || {
        format!(
            "{}  {} can be reached at {}:{} (interface {})\n {}",
            timestamp(),
            dnssd::full_name(
                &resolved.instance.name,
                &resolved.instance.service_type,
                &resolved.instance.domain
            ),
            resolved.host_target,
            resolved.port,
            resolved.interface.index(),
            resolved.txt
        )
    });
    Ok(())
}

/// A `lookup` event's data: the host asked for and the library's `HostAddress`.
#[derive(Serialize)]
struct AddressData<'a> {
    host: &'a str,
    #[serde(flatten)]
    address: &'a HostAddress,
}

/// After the first address, how long `lookup` waits for the other family's: past the
/// querier's first retransmission (1 s after the first query) plus a responder's answer delay.
/// With 1 s, a lookup whose first A query went unanswered (seen against an avahi-daemon that
/// had just started) ended with the IPv6 address alone.
const LOOKUP_SETTLE: Duration = Duration::from_secs(3);

/// Prints addresses as they come; done once it has an IPv4 and an IPv6 address, or
/// [`LOOKUP_SETTLE`] after the first one.
async fn lookup(cx: &Ctx, host: &str, mut stop: StopFuture) -> Result<(), Error> {
    cx.out.banner(date_banner);
    cx.out.banner(|| {
        "Timestamp     A/R    if Hostname                               Address".to_owned()
    });
    let mut stream = cx.sd.lookup_host_stream(host, cx.interface)?;
    let mut seen: Vec<HostAddress> = Vec::new();
    let mut settle_at: Option<tokio::time::Instant> = None;
    let print = |ar: &str, a: &HostAddress| {
        let event = if ar == "Add" { "added" } else { "removed" };
        cx.out.line(event, AddressData { host, address: a }, || {
            let addr = match (a.addr, a.scope_id) {
                (IpAddr::V6(v6), scope) if scope != 0 => format!("{v6}%{scope}"),
                (addr, _) => addr.to_string(),
            };
            format!(
                "{}  {ar}   {:>3} {:<38} {}",
                timestamp(),
                a.interface.index(),
                host,
                addr
            )
        });
    };
    loop {
        let settled = async move {
            match settle_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            why = &mut stop => {
                return match why {
                    Stop::Timeout if seen.is_empty() => Err(Error::Timeout),
                    _ => Ok(()),
                };
            }
            () = settled => return Ok(()),
            item = next(&mut stream) => match item {
                Some(Ok(HostAddressEvent::Added(a))) => {
                    if !seen.contains(&a) {
                        print("Add", &a);
                        seen.push(a);
                    }
                    if seen.iter().any(|a| a.addr.is_ipv4()) && seen.iter().any(|a| a.addr.is_ipv6()) {
                        return Ok(());
                    }
                    settle_at.get_or_insert_with(|| tokio::time::Instant::now() + LOOKUP_SETTLE);
                }
                Some(Ok(HostAddressEvent::Removed(a))) => {
                    print("Rmv", &a);
                    seen.retain(|x| *x != a);
                }
                Some(Ok(_)) => {}
                Some(Err(e @ Error::Lagged { .. })) => warn(&format!("warning: {e}")),
                Some(Err(e)) => return Err(e),
                None if seen.is_empty() => return Err(Error::DaemonNotRunning),
                None => return Ok(()),
            },
        }
    }
}

/// Decodes an uncompressed domain name at the start of `bytes`.
fn decode_name(bytes: &[u8]) -> Option<(String, &[u8])> {
    let mut name = String::new();
    let mut rest = bytes;
    loop {
        let (&len, tail) = rest.split_first()?;
        if len == 0 {
            if name.is_empty() {
                name.push('.');
            }
            return Some((name, tail));
        }
        let label = tail.get(..usize::from(len))?;
        rest = tail.get(usize::from(len)..)?;
        let text = std::str::from_utf8(label).ok()?;
        name.push_str(&dnssd::escape_label(text));
        name.push('.');
    }
}

/// Rdata in presentation form for the common types, hex otherwise.
fn rdata_text(rtype: u16, rdata: &[u8]) -> String {
    let hex = || rdata.iter().map(|b| format!("{b:02x}")).collect::<String>();
    match rtype {
        1 => <[u8; 4]>::try_from(rdata).map_or_else(|_| hex(), |a| Ipv4Addr::from(a).to_string()),
        28 => <[u8; 16]>::try_from(rdata).map_or_else(|_| hex(), |a| Ipv6Addr::from(a).to_string()),
        2 | 5 | 12 => decode_name(rdata).map_or_else(hex, |(n, _)| n),
        16 => TxtRecord::from_wire_lossy(rdata).to_string(),
        33 => {
            let fields = rdata.get(..6).zip(rdata.get(6..));
            match fields.and_then(|(head, tail)| decode_name(tail).map(|(n, _)| (head, n))) {
                Some((head, target)) => {
                    let word = |i: usize| {
                        u16::from_be_bytes([
                            head.get(i).copied().unwrap_or(0),
                            head.get(i + 1).copied().unwrap_or(0),
                        ])
                    };
                    format!("{} {} {} {}", word(0), word(2), word(4), target)
                }
                None => hex(),
            }
        }
        _ => hex(),
    }
}

/// A `query` event's data: the library's `Record` (type number, rdata bytes) with the type's
/// mnemonic, the rdata in presentation form and, for TXT, the parsed record.
#[derive(Serialize)]
struct RecordData<'a> {
    #[serde(flatten)]
    record: &'a Record,
    rrtype: String,
    rdata_text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    txt: Option<TxtRecord>,
}

impl<'a> RecordData<'a> {
    fn new(record: &'a Record) -> Self {
        RecordData {
            record,
            rrtype: rrtype_name(record.rtype.0),
            rdata_text: rdata_text(record.rtype.0, &record.rdata),
            txt: (record.rtype == RecordType::TXT)
                .then(|| TxtRecord::from_wire_lossy(&record.rdata)),
        }
    }
}

async fn query(cx: &Ctx, name: &str, rtype: u16, stop: StopFuture) -> Result<(), Error> {
    cx.out.banner(date_banner);
    cx.out.banner(|| {
        "Timestamp     A/R    if Name                             Type  Class  Rdata".to_owned()
    });
    let stream = cx
        .sd
        .query_record_on(name, RecordType(rtype), cx.interface)?;
    drive(cx.out, stream, stop, |event| {
        let (event, ar, r) = match &event {
            RecordEvent::Added(r) => ("added", "Add", r),
            RecordEvent::Removed(r) => ("removed", "Rmv", r),
            _ => return,
        };
        cx.out.line(event, RecordData::new(r), || {
            format!(
                "{}  {:<5} {:>3} {:<32} {:<5} {:<6} {}",
                timestamp(),
                ar,
                r.interface.index(),
                r.name,
                rrtype_name(r.rtype.0),
                if r.class == 1 {
                    "IN".to_owned()
                } else {
                    r.class.to_string()
                },
                rdata_text(r.rtype.0, &r.rdata)
            )
        });
    })
    .await
}

async fn types(cx: &Ctx, stop: StopFuture) -> Result<(), Error> {
    cx.out
        .banner(|| "Browsing for service types (_services._dns-sd._udp)".to_owned());
    cx.out.banner(date_banner);
    cx.out
        .banner(|| "Timestamp     A/R    Service Type".to_owned());
    let stream = cx.sd.browse_types_on(cx.interface)?;
    drive(cx.out, stream, stop, |event| {
        let (event, ar, t) = match &event {
            ServiceTypeEvent::Added(t) => ("added", "Add", t),
            ServiceTypeEvent::Removed(t) => ("removed", "Rmv", t),
            _ => return,
        };
        cx.out.line(event, TypeData { service_type: t }, || {
            format!("{}  {:<6} {}", timestamp(), ar, t)
        });
    })
    .await
}

/// `dnssd domains`: one line (or JSON object) per domain and kind.
async fn domains(cx: &Ctx, stop: StopFuture) -> Result<(), Error> {
    let found = tokio::select! {
        found = cx.sd.domains() => found?,
        _ = stop => return Ok(()),
    };
    cx.out.banner(|| "Kind                  Domain".to_owned());
    for (kind, list) in [
        ("browse", &found.browse),
        ("default-browse", &found.default_browse),
        ("legacy-browse", &found.legacy_browse),
        ("registration", &found.registration),
        ("default-registration", &found.default_registration),
    ] {
        for domain in list {
            #[derive(Serialize)]
            struct DomainData<'a, D> {
                kind: &'a str,
                domain: &'a D,
            }
            cx.out.line("domain", DomainData { kind, domain }, || {
                format!("{kind:<21} {domain}")
            });
        }
    }
    Ok(())
}
