//! One task per operation: it owns the operation's refs inside `AsyncFd`s, turns replies into
//! events, and when the daemon goes away reports it, drops the dead refs and recreates them
//! with backoff (unless reconnection is off).
//!
//! Blocking calls (creating refs, deallocating them, `DNSServiceUpdateRecord`) run on tokio's
//! blocking pool via `spawn_blocking`. `DNSServiceProcessResult` of a registration also runs
//! there (Avahi's collision handling inside it makes blocking D-Bus calls); for the other refs
//! only the zero-timeout poll and `DNSServiceProcessResult` (after the poll said data is
//! pending, dispatching callbacks that only copy their arguments) run on the worker thread.
//!
//! A panic inside a C callback is resumed after `DNSServiceProcessResult` returns
//! (`service_ref`); [`guarded`] catches it at the task's top and hands it to the consumer's
//! stream, which resumes it (`PanicSlot`).

use std::future::{Future, poll_fn};
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

#[cfg(windows)]
use super::poller_windows::AsyncFd;
#[cfg(unix)]
use tokio::io::unix::AsyncFd;
use tokio::sync::{Notify, Semaphore, mpsc, oneshot, watch};

use super::probe::{DaemonProbe, daemon_answers};
use super::service_ref::{CreateError, Reply, ServiceRef};
use crate::backend::operation::EventSender;
use crate::backend::operation::PanicSlot;
use crate::types::error::Error;
use crate::types::event::RegistrationEvent;
use crate::types::name::InstanceName;

/// How many `DNSServiceProcessResult` calls one ref gets per wake-up before others run.
const PROCESS_BUDGET: usize = 32;
/// First delay before recreating refs after the daemon went away.
const BACKOFF_FIRST: Duration = Duration::from_millis(250);
/// Longest delay between attempts to reach a missing daemon.
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// First delay before asking again after an operation timed out inside a daemon that still
/// answers (Avahi's resolver gives up after ~5 s when the host does not answer).
const TIMEOUT_BACKOFF_FIRST: Duration = Duration::from_secs(30);
/// Longest delay between attempts of an operation that keeps timing out.
const TIMEOUT_BACKOFF_MAX: Duration = Duration::from_secs(300);
/// `kDNSServiceErr_Unknown`: what Avahi's library reports both for a lost daemon and for
/// anything its `map_error` does not know, a resolver timeout included.
const ERR_UNKNOWN: i32 = -65537;
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
    /// The library the refs come from.
    pub(crate) api: &'static dnssd_sys::Api,
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
    fn dispose(&self, fds: Vec<AsyncFd<Arc<ServiceRef>>>) {
        let refs: Vec<Arc<ServiceRef>> = fds.into_iter().map(AsyncFd::into_inner).collect();
        self.dispose_refs(refs);
    }

    /// A ref still processed on the blocking pool is deallocated there when that ends (it
    /// holds its own ticket).
    fn dispose_refs(&self, refs: Vec<Arc<ServiceRef>>) {
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
    fn reply(&mut self, reply: Reply, tx: &EventSender<Self::Event>);
    /// The daemon went away: forget state (e.g. report every known instance removed).
    fn lost(&mut self, _tx: &EventSender<Self::Event>) {}
    /// What an `ERR_UNKNOWN` failure means when the daemon still answers (Avahi folds a
    /// timeout into that code). `None`: treat it as the daemon gone.
    fn live_daemon_failure(&self) -> Option<Error> {
        None
    }
}

/// Run `task` and, if it panics, keep the payload in `slot`, so the consumer's stream or future
/// resumes the panic instead of seeing the operation just end. `keepalive` (a clone of the
/// task's event sender) is dropped only after that: unwinding drops the task's own senders
/// before the panic reaches this frame, and the consumer must not see its channel end first.
pub(crate) async fn guarded<K: Send>(
    slot: Arc<PanicSlot>,
    keepalive: K,
    task: impl Future<Output = ()> + Send,
) {
    let mut task = Some(Box::pin(task));
    poll_fn(|cx| {
        let Some(running) = task.as_mut() else {
            return Poll::Ready(());
        };
        match catch_unwind(AssertUnwindSafe(|| running.as_mut().poll(cx))) {
            Ok(poll) => poll,
            Err(payload) => {
                slot.store(payload);
                task = None;
                Poll::Ready(())
            }
        }
    })
    .await;
    drop(keepalive);
}

/// Create refs on the blocking pool and register them with the reactor.
async fn create(
    creator: &Creator,
    flavor: Flavor,
    ctl: &Ctl,
) -> Result<Vec<AsyncFd<Arc<ServiceRef>>>, Error> {
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
                let mut remaining: Vec<Arc<ServiceRef>> = rest.map(Arc::new).collect();
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
    fds: &[AsyncFd<Arc<ServiceRef>>],
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
    /// Next wait after the operation timed out in a live daemon.
    timeout_delay: Duration,
}

impl Outage {
    fn new(reconnect: bool) -> Self {
        Outage {
            delay: BACKOFF_FIRST,
            reported: false,
            reconnect,
            timeout_delay: TIMEOUT_BACKOFF_FIRST,
        }
    }

    /// The refs work again.
    fn recovered(&mut self) {
        self.delay = BACKOFF_FIRST;
        self.reported = false;
    }

    /// An answer arrived: the next timeout starts the timeout back-off over.
    fn answered(&mut self) {
        self.timeout_delay = TIMEOUT_BACKOFF_FIRST;
    }

    /// The operation failed with `e` inside a daemon that still answers (a timeout): report
    /// it, then wait longer each time before asking again, so a stale instance costs one
    /// daemon reference per back-off period instead of one per second. False when the
    /// operation should end (the consumer went away, or shutdown).
    async fn timed_out<T>(&mut self, e: Error, tx: &EventSender<T>, ctl: &Ctl) -> bool {
        if tx.send(Err(e)).is_err() {
            return false;
        }
        let wait = self.timeout_delay;
        self.timeout_delay = (self.timeout_delay * 2).min(TIMEOUT_BACKOFF_MAX);
        tokio::select! {
            () = tokio::time::sleep(wait) => true,
            () = tx.closed() => false,
            () = ctl.cancelled() => false,
        }
    }

    /// Report `e` (once per outage) and wait before the next attempt. False when the operation
    /// should end: the error is fatal, reconnection is off, or the consumer went away.
    async fn failed<T>(&mut self, e: Error, tx: &EventSender<T>, ctl: &Ctl) -> bool {
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
    tx: EventSender<S::Event>,
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
        let outcome = pump(&fds, &mut sink, &tx, &ctl, &mut outage).await;
        ctl.dispose(fds);
        match outcome {
            Outcome::Closed => return,
            Outcome::Dead(code) => {
                if let Some(e) =
                    timeout_in_live_daemon(code, sink.live_daemon_failure(), config, &ctl).await
                {
                    if !outage.timed_out(e, &tx, &ctl).await {
                        return;
                    }
                    continue;
                }
                tracing::warn!(
                    code,
                    "dns_sd: the daemon connection failed; reporting what it held as removed and retrying"
                );
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

/// Avahi's library reports a resolver timeout as `kDNSServiceErr_Unknown`, the code it also
/// gives for a lost daemon. For an operation whose sink says what such a failure means in a
/// live daemon (`meaning`), ask the daemon (a fresh reference on the blocking pool): if it answers, that
/// meaning (e.g. [`Error::Timeout`]) is returned; `None` means treat it as daemon loss.
async fn timeout_in_live_daemon(
    code: i32,
    meaning: Option<Error>,
    config: OpConfig,
    ctl: &Ctl,
) -> Option<Error> {
    if code != ERR_UNKNOWN || config.flavor != Flavor::Avahi {
        return None;
    }
    let meaning = meaning?;
    let permit = match &ctl.ticket.0.creating {
        Some(creating) => Arc::clone(creating).acquire_owned().await.ok(),
        None => None,
    };
    let (api, flavor) = (config.api, config.flavor);
    let ticket = Arc::clone(&ctl.ticket);
    let probe = tokio::task::spawn_blocking(move || {
        let answer = daemon_answers(api, flavor);
        drop((permit, ticket));
        answer
    });
    let answer = tokio::select! {
        r = probe => r.ok()?,
        () = ctl.cancelled() => return None,
    };
    (answer == DaemonProbe::Answered).then_some(meaning)
}

async fn pump<S: ReplySink>(
    fds: &[AsyncFd<Arc<ServiceRef>>],
    sink: &mut S,
    tx: &EventSender<S::Event>,
    ctl: &Ctl,
    outage: &mut Outage,
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
            outage.answered();
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

/// What a register reply without an error says.
#[derive(Debug, PartialEq, Eq)]
enum News {
    /// The name is registered (first time, after a rename, or again after the daemon came
    /// back).
    Registered(String),
    /// The daemon withdrew the name (a late conflict); a rename follows.
    Withdrawn(String),
}

/// Read a register reply the way the loaded library means it: Apple's sets
/// `kDNSServiceFlagsAdd` on success and clears it when the registration is removed (a peer
/// took the name; the daemon then renames and replies again); Avahi's always passes 0, and
/// every one of its replies is a success under the name given.
fn registration_news(flavor: Flavor, add: bool, name: String) -> News {
    match flavor {
        Flavor::Apple if !add => News::Withdrawn(name),
        Flavor::Apple | Flavor::Avahi => News::Registered(name),
    }
}

/// Wait until the registration's ref is readable, then process what is pending on the
/// blocking pool: on Avahi, `DNSServiceProcessResult` runs the collision and state callbacks
/// of the entry group, which make blocking D-Bus calls to the daemon (up to 25 s when it is
/// wedged), so it must not run on a worker. The closure holds the ref and a ticket: if this
/// future is dropped meanwhile, the ref is deallocated there when the call returns.
async fn process_off_worker(
    fds: &[AsyncFd<Arc<ServiceRef>>],
    ctl: &Ctl,
) -> Result<Vec<Reply>, i32> {
    let Some(fd) = fds.first() else {
        return std::future::pending().await;
    };
    let mut guard = fd.readable().await.map_err(|_| ERR_UNKNOWN)?;
    let sref = Arc::clone(fd.get_ref());
    let ticket = Arc::clone(&ctl.ticket);
    let joined = tokio::task::spawn_blocking(move || {
        let mut replies = Vec::new();
        let mut drained = false;
        let mut failed = None;
        for _ in 0..PROCESS_BUDGET {
            if !sref.has_pending() {
                drained = true;
                break;
            }
            match sref.process() {
                Ok(mut more) => replies.append(&mut more),
                Err(code) => {
                    failed = Some(code);
                    break;
                }
            }
        }
        drop((sref, ticket));
        (replies, drained, failed)
    })
    .await;
    let (replies, drained, failed) = match joined {
        Ok(done) => done,
        // A panic inside a callback: resumed in this task, where `guarded` hands it on.
        Err(e) if e.is_panic() => resume_unwind(e.into_panic()),
        Err(_) => return Err(ERR_UNKNOWN),
    };
    if let Some(code) = failed {
        return Err(code);
    }
    if drained {
        guard.clear_ready();
    }
    Ok(replies)
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
    events: EventSender<RegistrationEvent>,
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
        let fds = match created {
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
                r = process_off_worker(&fds, &ctl) => Wake::Replies(r),
                c = commands.recv() => Wake::Command(c),
                () = ctl.cancelled() => Wake::Command(None),
            };
            match wake {
                Wake::Command(None) => break 'pump Outcome::Closed,
                Wake::Replies(Err(code)) => break 'pump Outcome::Dead(code),
                Wake::Replies(Ok(replies)) => {
                    for reply in replies {
                        match reply {
                            Reply::Register { add, name } => {
                                match registration_news(config.flavor, add, name) {
                                    News::Registered(name) => {
                                        outage.recovered();
                                        spec.name = Some(name.clone());
                                        if let Some(confirm) = confirm.take() {
                                            drop(confirm.send(Ok(name)));
                                        } else if let Ok(name) = InstanceName::new(&name) {
                                            drop(
                                                events
                                                    .send(Ok(RegistrationEvent::Registered(name))),
                                            );
                                        }
                                    }
                                    // Only a name we hold can be withdrawn; before the first
                                    // confirmation there is nothing to report.
                                    News::Withdrawn(name) if confirm.is_none() => {
                                        if let Ok(name) = InstanceName::new(&name) {
                                            drop(
                                                events.send(Ok(RegistrationEvent::Withdrawn(name))),
                                            );
                                        }
                                    }
                                    News::Withdrawn(_) => {}
                                }
                            }
                            Reply::Error(code) => break 'pump Outcome::Dead(code),
                            _ => {}
                        }
                    }
                }
                Wake::Command(Some(RegistrationCommand::UpdateTxt(txt, done))) => {
                    spec.txt.clone_from(&txt);
                    let Some(sref) = fds.first().map(|fd| Arc::clone(fd.get_ref())) else {
                        break 'pump Outcome::Dead(ERR_UNKNOWN);
                    };
                    let ticket = Arc::clone(&ctl.ticket);
                    let joined = tokio::task::spawn_blocking(move || {
                        let result = sref.update_primary_txt(&txt);
                        // The ref may be deallocated here if the task ended meanwhile.
                        drop((sref, ticket));
                        result
                    })
                    .await;
                    let result = match joined {
                        Ok(result) => result.map_err(|e| create_error(e, config.flavor)),
                        Err(e) if e.is_panic() => resume_unwind(e.into_panic()),
                        Err(_) => Err(Error::Io(io::Error::other("update task failed"))),
                    };
                    drop(done.send(result));
                }
            }
        };
        ctl.dispose(fds);
        match outcome {
            Outcome::Closed => return,
            Outcome::Dead(code) => {
                let e = code_error(code, config.flavor);
                if rename_after_conflict(&e, &mut spec, &mut renames) {
                    tracing::info!(name = ?spec.name, "dns_sd: name conflict, registering under a new name");
                    continue;
                }
                tracing::warn!(error = %e, "dns_sd: registration lost");
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
