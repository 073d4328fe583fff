//! One task per operation: it owns the operation's refs inside `AsyncFd`s, turns replies into
//! events, and when the daemon goes away reports it, drops the dead refs and recreates them
//! with backoff (unless reconnection is off).
//!
//! Blocking calls (creating refs, deallocating them, `DNSServiceUpdateRecord`) run on tokio's
//! blocking pool via `spawn_blocking`; only the zero-timeout poll and `DNSServiceProcessResult`
//! (after the poll said data is pending) run on the worker thread.

use std::future::poll_fn;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

#[cfg(windows)]
use super::poller_windows::AsyncFd;
#[cfg(unix)]
use tokio::io::unix::AsyncFd;
use tokio::sync::{Notify, Semaphore, mpsc, oneshot, watch};

use super::service_ref::{CreateError, Reply, ServiceRef};
use crate::types::error::Error;
use crate::types::event::RegistrationEvent;
use crate::types::name::InstanceName;

/// How many `DNSServiceProcessResult` calls one ref gets per wake-up before others run.
const PROCESS_BUDGET: usize = 32;
/// First delay before recreating refs after the daemon went away.
const BACKOFF_FIRST: Duration = Duration::from_millis(250);
/// Longest delay between attempts to reach a missing daemon.
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Most refs being created at once (per backend) with Avahi's library. Each Avahi ref is its
/// own D-Bus connection, and every live connection receives the bus's `NameOwnerChanged`
/// broadcast for every connection that comes or goes: creating hundreds at once makes each of
/// them wake its helper thread many times for nothing (measured: ~29 empty
/// `DNSServiceProcessResult` round trips per ref with 200 parallel creations, ~5 with one at a
/// time). A few in parallel keep the latency of a burst low without that storm.
const AVAHI_PARALLEL_CREATES: usize = 4;

/// What the backend knows about the library that shapes error mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// Apple's mDNSResponder client library (has `DNSServiceGetAddrInfo`).
    Apple,
    /// Avahi's compatibility library (no `DNSServiceGetAddrInfo`; a missing daemon is -65537).
    Avahi,
}

/// Map a kDNSServiceErr code to the public error, folding every "daemon missing or gone" code
/// into [`Error::DaemonNotRunning`].
pub(crate) fn code_error(code: i32, flavor: Flavor) -> Error {
    const UNKNOWN: i32 = -65537;
    const SERVICE_NOT_RUNNING: i32 = -65563;
    const DEFUNCT_CONNECTION: i32 = -65569;
    match code {
        SERVICE_NOT_RUNNING | DEFUNCT_CONNECTION => Error::DaemonNotRunning,
        UNKNOWN if flavor == Flavor::Avahi => Error::DaemonNotRunning,
        _ => Error::from_code(code),
    }
}

pub(crate) fn create_error(e: CreateError, flavor: Flavor) -> Error {
    match e {
        CreateError::Code(code) => code_error(code, flavor),
        CreateError::Missing(function) => Error::unsupported(function, "system"),
        CreateError::Nul => Error::from_code(-65540),
    }
}

/// Settings every operation task shares.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpConfig {
    pub(crate) flavor: Flavor,
    /// Recreate refs after the daemon went away (or was not there yet).
    pub(crate) reconnect: bool,
}

/// Counts live operation tasks (a task counts until its last ref is deallocated) and cancels
/// them all on shutdown, so teardown can be awaited deterministically.
#[derive(Debug)]
pub(crate) struct Tracker {
    live: AtomicUsize,
    idle: Notify,
    cancel: watch::Sender<bool>,
    /// Bounds how many refs are being created at once (`None`: no bound).
    creating: Option<Arc<Semaphore>>,
}

impl Tracker {
    pub(crate) fn new(flavor: Flavor) -> Arc<Tracker> {
        Arc::new(Tracker {
            live: AtomicUsize::new(0),
            idle: Notify::new(),
            cancel: watch::Sender::new(false),
            creating: (flavor == Flavor::Avahi)
                .then(|| Arc::new(Semaphore::new(AVAHI_PARALLEL_CREATES))),
        })
    }

    /// What a new operation task carries: its ticket and the cancellation signal.
    pub(crate) fn enlist(self: &Arc<Self>) -> Ctl {
        self.live.fetch_add(1, Ordering::SeqCst);
        Ctl {
            ticket: Arc::new(Ticket(Arc::clone(self))),
            cancel: self.cancel.subscribe(),
        }
    }

    /// Cancel every operation (present and future).
    pub(crate) fn cancel_all(&self) {
        self.cancel.send_replace(true);
    }

    /// Wait until no operation task is live and every ref they made is deallocated.
    pub(crate) async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.live.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Held by an operation task and by each deallocation it hands to the blocking pool.
#[derive(Debug)]
pub(crate) struct Ticket(Arc<Tracker>);

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.0.live.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Per-task control: the ticket that keeps the task counted, and the shutdown signal.
#[derive(Debug)]
pub(crate) struct Ctl {
    ticket: Arc<Ticket>,
    cancel: watch::Receiver<bool>,
}

impl Ctl {
    /// Completes when the backend is shut down (never if the backend is gone: then the
    /// operation lives until its handle is dropped).
    async fn cancelled(&self) {
        let mut cancel = self.cancel.clone();
        loop {
            if *cancel.borrow_and_update() {
                return;
            }
            if cancel.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Deallocate refs off the worker thread; the task stays counted until that is done.
    fn dispose(&self, fds: Vec<AsyncFd<ServiceRef>>) {
        let refs: Vec<ServiceRef> = fds.into_iter().map(AsyncFd::into_inner).collect();
        self.dispose_refs(refs);
    }

    fn dispose_refs(&self, refs: Vec<ServiceRef>) {
        if refs.is_empty() {
            return;
        }
        let ticket = Arc::clone(&self.ticket);
        // If the runtime is shutting down, the closure is dropped where it stands, which
        // deallocates inline: still correct, just possibly blocking.
        drop(tokio::task::spawn_blocking(move || {
            drop(refs);
            drop(ticket);
        }));
    }
}

/// Creates the refs of one operation (called again after the daemon comes back).
pub(crate) type Creator = Arc<dyn Fn() -> Result<Vec<ServiceRef>, CreateError> + Send + Sync>;

/// Turns replies of one operation into user events; keeps whatever state that needs.
pub(crate) trait ReplySink: Send + 'static {
    /// Event type of the public stream.
    type Event: Send + 'static;
    /// Handle one (non-error) reply.
    fn reply(&mut self, reply: Reply, tx: &mpsc::UnboundedSender<Result<Self::Event, Error>>);
    /// The daemon went away: forget state (e.g. report every known instance removed).
    fn lost(&mut self, _tx: &mpsc::UnboundedSender<Result<Self::Event, Error>>) {}
}

/// Create refs on the blocking pool and register them with the reactor.
async fn create(
    creator: &Creator,
    flavor: Flavor,
    ctl: &Ctl,
) -> Result<Vec<AsyncFd<ServiceRef>>, Error> {
    let creator = Arc::clone(creator);
    // The semaphore is never closed, so acquiring fails only if it were; then go unbounded.
    let permit = match &ctl.ticket.0.creating {
        Some(creating) => Arc::clone(creating).acquire_owned().await.ok(),
        None => None,
    };
    // The closure owns a ticket and returns it with the refs: if this future is dropped while
    // the call runs (the consumer went away), the refs it makes are dropped on the blocking
    // thread before the ticket, so `Tracker::idle` still waits for their deallocation.
    let ticket = Arc::clone(&ctl.ticket);
    let (refs, ticket) = tokio::task::spawn_blocking(move || {
        let refs = creator();
        drop(permit);
        (refs, ticket)
    })
    .await
    .map_err(|e| Error::Io(io::Error::other(e)))?;
    drop(ticket);
    let refs = refs.map_err(|e| create_error(e, flavor))?;
    let mut fds = Vec::with_capacity(refs.len());
    let mut rest = refs.into_iter();
    while let Some(sref) = rest.next() {
        match sref.into_async_fd() {
            Ok(fd) => fds.push(fd),
            Err((sref, e)) => {
                ctl.dispose(fds);
                let mut remaining: Vec<ServiceRef> = rest.collect();
                remaining.push(sref);
                ctl.dispose_refs(remaining);
                return Err(Error::Io(e));
            }
        }
    }
    Ok(fds)
}

/// Poll every ref; process what is pending. `Ready(Ok(replies))` once at least one ref woke,
/// `Ready(Err(code))` when a ref failed (its connection is gone).
///
/// The fds stay blocking: `AsyncFd` is used only for its epoll registration, and no read is
/// ever made on them by us. `DNSServiceProcessResult` is called only when a zero-timeout poll
/// says data is pending, and readiness is cleared only after that poll says nothing is left;
/// tokio ignores a clear when new readiness arrived after the guard was taken, so no wake-up
/// is lost.
pub(crate) fn poll_replies(
    fds: &[AsyncFd<ServiceRef>],
    cx: &mut Context<'_>,
) -> Poll<Result<Vec<Reply>, i32>> {
    let mut woke = false;
    let mut replies = Vec::new();
    for fd in fds {
        let mut guard = match fd.poll_read_ready(cx) {
            Poll::Pending => continue,
            Poll::Ready(Ok(guard)) => guard,
            Poll::Ready(Err(_)) => return Poll::Ready(Err(-65537)),
        };
        woke = true;
        let sref = fd.get_ref();
        let mut drained = false;
        for _ in 0..PROCESS_BUDGET {
            if !sref.has_pending() {
                drained = true;
                break;
            }
            match sref.process() {
                Ok(mut more) => replies.append(&mut more),
                Err(code) => return Poll::Ready(Err(code)),
            }
        }
        if drained {
            guard.clear_ready();
        } else {
            // Still pending: ask to be polled again so other tasks get a turn first.
            cx.waker().wake_by_ref();
        }
    }
    if woke {
        Poll::Ready(Ok(replies))
    } else {
        Poll::Pending
    }
}

/// Error reporting and retry pacing across one daemon outage: the error is reported once,
/// then the refs are recreated with backoff until the daemon is back.
struct Outage {
    delay: Duration,
    reported: bool,
    reconnect: bool,
}

impl Outage {
    fn new(reconnect: bool) -> Self {
        Outage {
            delay: BACKOFF_FIRST,
            reported: false,
            reconnect,
        }
    }

    /// The refs work again.
    fn recovered(&mut self) {
        self.delay = BACKOFF_FIRST;
        self.reported = false;
    }

    /// Report `e` (once per outage) and wait before the next attempt. False when the operation
    /// should end: the error is fatal, reconnection is off, or the consumer went away.
    async fn failed<T>(
        &mut self,
        e: Error,
        tx: &mpsc::UnboundedSender<Result<T, Error>>,
        ctl: &Ctl,
    ) -> bool {
        if !(self.reconnect && e.is_daemon_gone()) {
            drop(tx.send(Err(e)));
            return false;
        }
        if !self.reported {
            if tx.send(Err(e)).is_err() {
                return false;
            }
            self.reported = true;
        }
        let wait = self.delay;
        self.delay = (self.delay * 2).min(BACKOFF_MAX);
        tokio::select! {
            () = tokio::time::sleep(wait) => true,
            () = tx.closed() => false,
            () = ctl.cancelled() => false,
        }
    }
}

enum Outcome {
    /// The consumer dropped the stream, or the operation finished.
    Closed,
    /// A ref reported this error code.
    Dead(i32),
}

/// Run a stream operation until its consumer drops it (or a fatal error).
pub(crate) async fn run_stream<S: ReplySink>(
    creator: Creator,
    mut sink: S,
    tx: mpsc::UnboundedSender<Result<S::Event, Error>>,
    config: OpConfig,
    ctl: Ctl,
) {
    let mut outage = Outage::new(config.reconnect);
    loop {
        let fds = tokio::select! {
            r = create(&creator, config.flavor, &ctl) => r,
            () = tx.closed() => return,
            () = ctl.cancelled() => return,
        };
        let fds = match fds {
            Ok(fds) => fds,
            Err(e) => {
                if !outage.failed(e, &tx, &ctl).await {
                    return;
                }
                continue;
            }
        };
        outage.recovered();
        let outcome = pump(&fds, &mut sink, &tx, &ctl).await;
        ctl.dispose(fds);
        match outcome {
            Outcome::Closed => return,
            Outcome::Dead(code) => {
                sink.lost(&tx);
                if !outage
                    .failed(code_error(code, config.flavor), &tx, &ctl)
                    .await
                {
                    return;
                }
            }
        }
    }
}

async fn pump<S: ReplySink>(
    fds: &[AsyncFd<ServiceRef>],
    sink: &mut S,
    tx: &mpsc::UnboundedSender<Result<S::Event, Error>>,
    ctl: &Ctl,
) -> Outcome {
    loop {
        let replies = tokio::select! {
            r = poll_fn(|cx| poll_replies(fds, cx)) => r,
            () = tx.closed() => return Outcome::Closed,
            () = ctl.cancelled() => return Outcome::Closed,
        };
        let replies = match replies {
            Ok(replies) => replies,
            Err(code) => return Outcome::Dead(code),
        };
        for reply in replies {
            if let Reply::Error(code) = reply {
                return Outcome::Dead(code);
            }
            sink.reply(reply, tx);
        }
    }
}

/// What a registration is asked to publish; kept so it can be re-registered.
#[derive(Debug, Clone)]
pub(crate) struct RegistrationSpec {
    pub(crate) interface: u32,
    pub(crate) name: Option<String>,
    pub(crate) regtype: String,
    pub(crate) domain: Option<String>,
    pub(crate) host: Option<String>,
    pub(crate) port: u16,
    pub(crate) txt: Vec<u8>,
}

/// Await `wait` (the back-off of an outage) while still answering the handle: a TXT update
/// made while the daemon is away is kept and published when the registration is re-created.
/// False when the registration should end.
async fn serve_while(
    wait: impl std::future::Future<Output = bool>,
    commands: &mut mpsc::UnboundedReceiver<RegistrationCommand>,
    spec: &mut RegistrationSpec,
) -> bool {
    tokio::pin!(wait);
    loop {
        tokio::select! {
            go_on = &mut wait => return go_on,
            command = commands.recv() => match command {
                None => return false,
                Some(RegistrationCommand::UpdateTxt(txt, done)) => {
                    spec.txt = txt;
                    drop(done.send(Ok(())));
                }
            },
        }
    }
}

/// Most renames tried for one registration before its name conflict is reported.
const MAX_RENAMES: u32 = 32;

/// Avahi's library answers a name already registered on the same daemon with NameConflict
/// instead of renaming (Apple's daemon and remote conflicts rename by themselves): pick the
/// next name the way Avahi does (`Name #2`, `Name #3`...) and say whether to try again. This
/// also applies when re-registering after the daemon came back (another client may have taken
/// the name meanwhile); the new name then reaches the handle as `Registered`.
fn rename_after_conflict(e: &Error, spec: &mut RegistrationSpec, renames: &mut u32) -> bool {
    if !matches!(e, Error::NameConflict) || *renames >= MAX_RENAMES {
        return false;
    }
    let Some(name) = spec.name.as_deref() else {
        return false;
    };
    *renames += 1;
    spec.name = Some(alternative_name(name));
    true
}

/// `Name` -> `Name #2`, `Name #2` -> `Name #3`, kept within 63 bytes (RFC 6763 §4.1.1).
pub(crate) fn alternative_name(name: &str) -> String {
    let (base, next) = match name.rsplit_once(" #") {
        Some((base, n)) => match n.parse::<u32>() {
            Ok(n) if n >= 2 => (base, n.saturating_add(1)),
            _ => (name, 2),
        },
        None => (name, 2),
    };
    let suffix = format!(" #{next}");
    let mut end = base.len().min(63usize.saturating_sub(suffix.len()));
    while !base.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{suffix}", base.get(..end).unwrap_or_default())
}

/// A request from the `Registration` handle to its task.
pub(crate) enum RegistrationCommand {
    /// Replace the primary TXT record; the result goes back on the sender.
    UpdateTxt(Vec<u8>, oneshot::Sender<Result<(), Error>>),
}

/// Run one registration: confirm (or fail) through `confirm`, then serve TXT updates, report
/// renames and daemon loss on `events`, and re-register when the daemon comes back. Ends when
/// the command sender is dropped (the `register()` future or the `Registration` handle went
/// away).
pub(crate) async fn run_registration(
    api: &'static dnssd_sys::Api,
    mut spec: RegistrationSpec,
    confirm: oneshot::Sender<Result<String, Error>>,
    mut commands: mpsc::UnboundedReceiver<RegistrationCommand>,
    events: mpsc::UnboundedSender<Result<RegistrationEvent, Error>>,
    config: OpConfig,
    ctl: Ctl,
) {
    let mut confirm = Some(confirm);
    let mut outage = Outage::new(config.reconnect);
    let mut renames = 0;
    loop {
        let creator: Creator = {
            let spec = spec.clone();
            Arc::new(move || {
                ServiceRef::register(
                    api,
                    spec.interface,
                    spec.name.as_deref(),
                    &spec.regtype,
                    spec.domain.as_deref(),
                    spec.host.as_deref(),
                    spec.port,
                    &spec.txt,
                )
                .map(|r| vec![r])
            })
        };
        let created = tokio::select! {
            r = create(&creator, config.flavor, &ctl) => r,
            () = events.closed() => return,
            () = ctl.cancelled() => return,
        };
        let mut fds = match created {
            Ok(fds) => fds,
            Err(e) => {
                if rename_after_conflict(&e, &mut spec, &mut renames) {
                    continue;
                }
                if let Some(confirm) = confirm.take() {
                    // Before the first confirmation every error goes to `register()`.
                    drop(confirm.send(Err(e)));
                    return;
                }
                let wait = outage.failed(e, &events, &ctl);
                if !serve_while(wait, &mut commands, &mut spec).await {
                    return;
                }
                continue;
            }
        };
        let outcome = 'pump: loop {
            enum Wake {
                Replies(Result<Vec<Reply>, i32>),
                Command(Option<RegistrationCommand>),
            }
            let wake = tokio::select! {
                r = poll_fn(|cx| poll_replies(&fds, cx)) => Wake::Replies(r),
                c = commands.recv() => Wake::Command(c),
                () = ctl.cancelled() => Wake::Command(None),
            };
            match wake {
                Wake::Command(None) => break 'pump Outcome::Closed,
                Wake::Replies(Err(code)) => break 'pump Outcome::Dead(code),
                Wake::Replies(Ok(replies)) => {
                    for reply in replies {
                        match reply {
                            Reply::Registered { name } => {
                                outage.recovered();
                                spec.name = Some(name.clone());
                                if let Some(confirm) = confirm.take() {
                                    drop(confirm.send(Ok(name)));
                                } else if let Ok(name) = InstanceName::new(&name) {
                                    drop(events.send(Ok(RegistrationEvent::Registered(name))));
                                }
                            }
                            Reply::Error(code) => break 'pump Outcome::Dead(code),
                            _ => {}
                        }
                    }
                }
                Wake::Command(Some(RegistrationCommand::UpdateTxt(txt, done))) => {
                    spec.txt.clone_from(&txt);
                    // Take the ref out of the reactor so the blocking call can own it, then
                    // put it back.
                    let Some(fd) = fds.pop() else {
                        break 'pump Outcome::Dead(-65537);
                    };
                    let sref = fd.into_inner();
                    let joined = tokio::task::spawn_blocking(move || {
                        let r = sref.update_primary_txt(&txt);
                        (sref, r)
                    })
                    .await;
                    let Ok((sref, result)) = joined else {
                        drop(done.send(Err(Error::Io(io::Error::other("update task failed")))));
                        break 'pump Outcome::Closed;
                    };
                    drop(done.send(result.map_err(|e| create_error(e, config.flavor))));
                    match sref.into_async_fd() {
                        Ok(fd) => fds.push(fd),
                        Err((sref, e)) => {
                            drop(tokio::task::spawn_blocking(move || drop(sref)));
                            drop(events.send(Err(Error::Io(e))));
                            break 'pump Outcome::Closed;
                        }
                    }
                }
            }
        };
        ctl.dispose(fds);
        match outcome {
            Outcome::Closed => return,
            Outcome::Dead(code) => {
                let e = code_error(code, config.flavor);
                if rename_after_conflict(&e, &mut spec, &mut renames) {
                    continue;
                }
                if let Some(confirm) = confirm.take() {
                    drop(confirm.send(Err(e)));
                    return;
                }
                let wait = outage.failed(e, &events, &ctl);
                if !serve_while(wait, &mut commands, &mut spec).await {
                    return;
                }
            }
        }
    }
}
