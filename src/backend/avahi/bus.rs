//! One D-Bus connection to the system bus shared by every operation of an
//! [`AvahiBackend`](super::AvahiBackend): method calls to `org.freedesktop.Avahi`, signal
//! routing by object path (with the early-signal buffer libavahi-client also has), and the
//! daemon's presence (`NameOwnerChanged`) and server state (`Server.StateChanged`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use zbus::message::Type as MessageType;
use zbus::{Connection, MatchRule, Message, MessageStream};

use crate::types::error::Error;

/// The daemon's well-known bus name.
pub(crate) const AVAHI: &str = "org.freedesktop.Avahi";
/// The server object.
const SERVER_PATH: &str = "/";
/// The server interface (`Server2` adds only `...Prepare`, not relied on).
pub(crate) const SERVER: &str = "org.freedesktop.Avahi.Server";

/// Every method call gives up after this long (a hung daemon): libdbus's default. Under load
/// (1000 commits while another host browses them, on a busy machine) single calls were seen
/// to take over 10 s.
const CALL_TIMEOUT: Duration = Duration::from_secs(25);
/// Method calls in flight at once on the connection: dbus-daemon limits pending replies per
/// connection (128 on a default system bus), and 1000 registrations start at once.
const CALLS_IN_FLIGHT: usize = 64;
/// Signals queued by zbus for the router before the socket reader waits for it.
const SIGNAL_QUEUE: usize = 1 << 16;
/// Signals for a path nobody claimed yet are kept this long (the claim follows the `...New`
/// reply within milliseconds; older ones belong to objects already freed).
const EARLY_KEEP: Duration = Duration::from_secs(10);
/// Most early signals kept before old ones are dropped.
const EARLY_MAX: usize = 16 * 1024;

/// Avahi server states (`AvahiServerState`).
pub(crate) mod server_state {
    /// Host RRs are being registered (after a host name change).
    pub(crate) const REGISTERING: i32 = 1;
    /// Running: registrations can be committed.
    pub(crate) const RUNNING: i32 = 2;
    /// Host name collision: the daemon picks another name.
    pub(crate) const COLLISION: i32 = 3;
}

/// Whether the daemon owns its bus name, and how often it came back: operations re-create
/// their objects when `generation` changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Presence {
    /// `org.freedesktop.Avahi` has an owner.
    pub(crate) present: bool,
    /// Incremented each time the daemon appears.
    pub(crate) generation: u64,
}

/// A signal routed to the operation owning its object path.
pub(crate) type Signal = Message;

#[derive(Default)]
struct Routes {
    claimed: HashMap<String, mpsc::UnboundedSender<Signal>>,
    /// Signals for paths not claimed yet, in arrival order, with the time of the first.
    early: HashMap<String, (Instant, Vec<Signal>)>,
    early_count: usize,
}

impl Routes {
    fn deliver(&mut self, path: &str, signal: Signal) {
        if let Some(tx) = self.claimed.get(path) {
            drop(tx.send(signal));
            return;
        }
        if self.early_count >= EARLY_MAX {
            self.prune(Instant::now());
        }
        if self.early_count >= EARLY_MAX {
            // Still full of fresh signals: drop everything buffered rather than grow.
            self.early.clear();
            self.early_count = 0;
        }
        self.early
            .entry(path.to_owned())
            .or_insert_with(|| (Instant::now(), Vec::new()))
            .1
            .push(signal);
        self.early_count += 1;
    }

    /// Route `path` to `tx`, first handing over what arrived for it before.
    fn claim(&mut self, path: &str, tx: mpsc::UnboundedSender<Signal>) {
        if let Some((_, early)) = self.early.remove(path) {
            self.early_count = self.early_count.saturating_sub(early.len());
            for signal in early {
                drop(tx.send(signal));
            }
        }
        self.claimed.insert(path.to_owned(), tx);
    }

    fn prune(&mut self, now: Instant) {
        let mut dropped = 0;
        self.early.retain(|_, (since, signals)| {
            let keep = now.duration_since(*since) < EARLY_KEEP;
            if !keep {
                dropped += signals.len();
            }
            keep
        });
        self.early_count = self.early_count.saturating_sub(dropped);
    }
}

/// Signals of one object path; the route is removed when this is dropped.
pub(crate) struct Subscription {
    routes: Arc<Mutex<Routes>>,
    path: String,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
        routes.claimed.remove(&self.path);
    }
}

/// The shared connection.
#[derive(Debug)]
pub(crate) struct Bus {
    conn: Connection,
    routes: Arc<Mutex<Routes>>,
    presence: watch::Receiver<Presence>,
    server_state: watch::Receiver<i32>,
    calls: Semaphore,
    /// Dropped with the bus: the router then ends and the connection closes.
    _stop_router: oneshot::Sender<()>,
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routes")
            .field("claimed", &self.claimed.len())
            .field("early", &self.early_count)
            .finish()
    }
}

impl Bus {
    /// Connect to the system bus (`DBUS_SYSTEM_BUS_ADDRESS` or the default socket), subscribe
    /// to every Avahi signal and to the owner of its name, then ask whether it runs. Must run
    /// inside the tokio runtime that will drive the connection.
    pub(crate) async fn connect() -> Result<Arc<Bus>, Error> {
        let conn = tokio::time::timeout(
            CALL_TIMEOUT,
            zbus::connection::Builder::system()
                .map_err(bus_error)?
                .method_timeout(CALL_TIMEOUT)
                .max_queued(SIGNAL_QUEUE)
                .build(),
        )
        .await
        .map_err(|_| Error::Timeout)?
        .map_err(bus_error)?;
        // Match rules first: a signal emitted between a `...New` call and its reply must
        // already be on its way to us (Avahi issue 9).
        let avahi_rule = MatchRule::builder()
            .msg_type(MessageType::Signal)
            .sender(AVAHI)
            .map_err(bus_error)?
            .build();
        let signals = MessageStream::for_match_rule(avahi_rule, &conn, Some(SIGNAL_QUEUE))
            .await
            .map_err(bus_error)?;
        let owner_rule = MatchRule::builder()
            .msg_type(MessageType::Signal)
            .sender("org.freedesktop.DBus")
            .map_err(bus_error)?
            .interface("org.freedesktop.DBus")
            .map_err(bus_error)?
            .member("NameOwnerChanged")
            .map_err(bus_error)?
            .arg(0, AVAHI)
            .map_err(bus_error)?
            .build();
        let owners = MessageStream::for_match_rule(owner_rule, &conn, Some(64))
            .await
            .map_err(bus_error)?;
        let present = name_has_owner(&conn).await?;
        let (presence_tx, presence) = watch::channel(Presence {
            present,
            generation: 0,
        });
        // Start from the daemon's state (a later change is already queued on `signals`).
        let mut state = server_state::RUNNING;
        if present {
            let reply = conn
                .call_method(Some(AVAHI), SERVER_PATH, Some(SERVER), "GetState", &())
                .await;
            if let Ok(current) = reply.and_then(|r| r.body().deserialize::<i32>()) {
                state = current;
            }
        }
        let (state_tx, server_state) = watch::channel(state);
        let routes = Arc::new(Mutex::new(Routes::default()));
        let (stop_router, stop) = oneshot::channel();
        drop(tokio::spawn(route(
            signals,
            owners,
            stop,
            Arc::clone(&routes),
            presence_tx,
            state_tx,
        )));
        let bus = Bus {
            conn,
            routes,
            presence,
            server_state,
            calls: Semaphore::new(CALLS_IN_FLIGHT),
            _stop_router: stop_router,
        };
        Ok(Arc::new(bus))
    }

    /// The daemon's presence, to watch.
    pub(crate) fn presence(&self) -> watch::Receiver<Presence> {
        self.presence.clone()
    }

    /// The server state, to watch.
    pub(crate) fn server_state(&self) -> watch::Receiver<i32> {
        self.server_state.clone()
    }

    /// Route the signals of `path` to `tx`, starting with those that arrived
    /// before this call.
    pub(crate) fn subscribe(&self, path: &str, tx: mpsc::UnboundedSender<Signal>) -> Subscription {
        self.routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .claim(path, tx);
        Subscription {
            routes: Arc::clone(&self.routes),
            path: path.to_owned(),
        }
    }

    /// Call `method` of `interface` on the daemon's object `path`; the reply message.
    pub(crate) async fn call<B>(
        &self,
        path: &str,
        interface: &str,
        method: &str,
        body: &B,
    ) -> Result<Message, Error>
    where
        B: zbus::export::serde::ser::Serialize + zbus::zvariant::DynamicType,
    {
        let _permit = self.calls.acquire().await.ok();
        tokio::time::timeout(
            CALL_TIMEOUT,
            self.conn
                .call_method(Some(AVAHI), path, Some(interface), method, body),
        )
        .await
        .map_err(|_| Error::Timeout)?
        .map_err(bus_error)
    }

    /// A server method returning one value.
    pub(crate) async fn server_call<B, R>(&self, method: &str, body: &B) -> Result<R, Error>
    where
        B: zbus::export::serde::ser::Serialize + zbus::zvariant::DynamicType,
        R: for<'d> zbus::export::serde::de::Deserialize<'d> + zbus::zvariant::Type,
    {
        let reply = self.call(SERVER_PATH, SERVER, method, body).await?;
        reply.body().deserialize::<R>().map_err(bus_error)
    }

    /// Create a server-side object with `method` (`ServiceBrowserNew`...) and route its
    /// signals; signals sent before the reply are kept and delivered first.
    pub(crate) async fn create<B>(
        &self,
        method: &str,
        body: &B,
        tx: &mpsc::UnboundedSender<Signal>,
    ) -> Result<(String, Subscription), Error>
    where
        B: zbus::export::serde::ser::Serialize + zbus::zvariant::DynamicType,
    {
        let path: zbus::zvariant::OwnedObjectPath = self.server_call(method, body).await?;
        let path = path.as_str().to_owned();
        let subscription = self.subscribe(&path, tx.clone());
        Ok((path, subscription))
    }

    /// Free an object (`Free` on its interface). Errors are ignored: the object may be gone
    /// with its daemon.
    pub(crate) async fn free(&self, path: &str, interface: &str) {
        drop(self.call(path, interface, "Free", &()).await);
    }
}

/// Whether `org.freedesktop.Avahi` has an owner.
async fn name_has_owner(conn: &Connection) -> Result<bool, Error> {
    let reply = tokio::time::timeout(
        CALL_TIMEOUT,
        conn.call_method(
            Some("org.freedesktop.DBus"),
            "/org/freedesktop/DBus",
            Some("org.freedesktop.DBus"),
            "NameHasOwner",
            &(AVAHI,),
        ),
    )
    .await
    .map_err(|_| Error::Timeout)?
    .map_err(bus_error)?;
    reply.body().deserialize::<bool>().map_err(bus_error)
}

/// Dispatch every Avahi signal to the operation owning its path; follow the daemon's
/// presence and server state. Never awaits a method call: the connection's reader waits for
/// this task when the queue is full.
async fn route(
    mut signals: MessageStream,
    mut owners: MessageStream,
    mut stop: oneshot::Receiver<()>,
    routes: Arc<Mutex<Routes>>,
    presence: watch::Sender<Presence>,
    server_state: watch::Sender<i32>,
) {
    use futures_core::Stream;
    use std::future::Future;
    use std::pin::Pin;
    loop {
        let next = std::future::poll_fn(|cx| {
            if Pin::new(&mut stop).poll(cx).is_ready() {
                // The bus was dropped: end, closing the connection with the streams.
                return std::task::Poll::Ready((false, None));
            }
            if let std::task::Poll::Ready(owner) = Pin::new(&mut owners).poll_next(cx) {
                return std::task::Poll::Ready((true, owner));
            }
            Pin::new(&mut signals)
                .poll_next(cx)
                .map(|signal| (false, signal))
        })
        .await;
        match next {
            (_, None) => {
                // The bus connection is gone: the daemon is unreachable for good.
                tracing::warn!("the system bus connection closed; avahi-daemon is unreachable");
                presence.send_modify(|p| p.present = false);
                return;
            }
            (_, Some(Err(_))) => {}
            (true, Some(Ok(message))) => {
                let Ok((_, _, new_owner)) =
                    message.body().deserialize::<(String, String, String)>()
                else {
                    continue;
                };
                let present = !new_owner.is_empty();
                if present {
                    tracing::info!(owner = %new_owner, "avahi-daemon is on the bus again; recreating browsers and registrations");
                } else {
                    tracing::warn!("avahi-daemon left the system bus");
                }
                presence.send_modify(|p| {
                    if present {
                        p.generation = p.generation.wrapping_add(1);
                    }
                    p.present = present;
                });
                if present {
                    server_state.send_replace(server_state::RUNNING);
                }
            }
            (false, Some(Ok(message))) => {
                let header = message.header();
                let Some(path) = header.path().map(|p| p.as_str().to_owned()) else {
                    continue;
                };
                let is_server_state = path == SERVER_PATH
                    && header
                        .member()
                        .is_some_and(|m| m.as_str() == "StateChanged");
                drop(header);
                if is_server_state {
                    if let Ok((state, error)) = message.body().deserialize::<(i32, String)>() {
                        tracing::debug!(state, error = %error, "avahi-daemon server state changed");
                        if state == server_state::COLLISION {
                            tracing::warn!(
                                "avahi-daemon's host name is in conflict; its registrations are committed again once it settles"
                            );
                        }
                        server_state.send_replace(state);
                    }
                    continue;
                }
                routes
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .deliver(&path, message);
            }
        }
    }
}

/// A D-Bus or Avahi error as this crate's error.
pub(crate) fn bus_error(e: zbus::Error) -> Error {
    match e {
        zbus::Error::MethodError(name, detail, _) => avahi_error(name.as_str(), detail.as_deref()),
        zbus::Error::FDO(e) => match *e {
            zbus::fdo::Error::ServiceUnknown(_)
            | zbus::fdo::Error::NameHasNoOwner(_)
            | zbus::fdo::Error::Disconnected(_)
            | zbus::fdo::Error::NoServer(_)
            | zbus::fdo::Error::UnknownObject(_) => Error::DaemonNotRunning,
            zbus::fdo::Error::NoReply(_) | zbus::fdo::Error::Timeout(_) => Error::Timeout,
            zbus::fdo::Error::LimitsExceeded(_) => Error::Refused,
            other => Error::Io(std::io::Error::other(other.to_string())),
        },
        zbus::Error::InputOutput(io) if io.kind() == std::io::ErrorKind::TimedOut => Error::Timeout,
        zbus::Error::InputOutput(io) => match io.kind() {
            std::io::ErrorKind::NotFound
            | std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::BrokenPipe
            | std::io::ErrorKind::ConnectionReset => Error::DaemonNotRunning,
            _ => Error::Io(std::io::Error::new(io.kind(), io.to_string())),
        },
        other => Error::Io(std::io::Error::other(other.to_string())),
    }
}

/// An error reply by name: Avahi's own (`org.freedesktop.Avahi.CollisionError`...) or the
/// bus's (`org.freedesktop.DBus.Error.ServiceUnknown` when the daemon is not running).
pub(crate) fn avahi_error(name: &str, detail: Option<&str>) -> Error {
    let short = name
        .strip_prefix("org.freedesktop.Avahi.")
        .or_else(|| name.strip_prefix("org.freedesktop.DBus.Error."))
        .unwrap_or(name);
    match short {
        "ServiceUnknown" | "NameHasNoOwner" | "Disconnected" | "NoServer" | "UnknownObject"
        | "DisconnectedError" => Error::DaemonNotRunning,
        "CollisionError" => Error::NameConflict,
        "TimeoutError" | "NoReply" | "Timeout" => Error::Timeout,
        "TooManyClientsError"
        | "TooManyObjectsError"
        | "TooManyEntriesError"
        | "LimitsExceeded" => Error::Refused,
        "AccessDeniedError" | "AccessDenied" => Error::NoAuth,
        "NotSupportedError" | "IsPatternError" => Error::Unsupported {
            operation: detail.unwrap_or(short).to_owned().into(),
            backend: "avahi".into(),
        },
        "BadStateError" => Error::BadState,
        "InvalidInterfaceError" => Error::BadInterfaceIndex,
        "NotFoundError" => Error::NoSuchRecord,
        s if s.starts_with("Invalid") => Error::BadParam,
        _ => Error::Io(std::io::Error::other(format!(
            "avahi-daemon: {name}: {}",
            detail.unwrap_or("")
        ))),
    }
}

/// Whether `org.freedesktop.Avahi` has an owner on the system bus: `Some(answer)`, or `None`
/// when the bus cannot be reached or does not answer within `timeout` (connection included).
/// The probe's connection is closed afterwards.
pub(crate) async fn avahi_on_system_bus(timeout: Duration) -> Option<bool> {
    tokio::time::timeout(timeout, async {
        let conn = Connection::system().await.ok()?;
        name_has_owner(&conn).await.ok()
    })
    .await
    .ok()
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(path: &str, member: &str) -> Signal {
        Message::signal(path, "org.freedesktop.Avahi.ServiceBrowser", member)
            .and_then(|b| b.build(&()))
            .unwrap_or_else(|e| panic!("signal: {e}"))
    }

    fn member(signal: &Signal) -> String {
        signal
            .header()
            .member()
            .map(|m| m.as_str().to_owned())
            .unwrap_or_default()
    }

    #[test]
    fn signals_before_the_path_is_claimed_are_delivered_first_and_in_order() {
        let routes = Arc::new(Mutex::new(Routes::default()));
        let lock = || routes.lock().unwrap_or_else(PoisonError::into_inner);
        lock().deliver(
            "/Client1/ServiceBrowser1",
            signal("/Client1/ServiceBrowser1", "ItemNew"),
        );
        lock().deliver(
            "/Client1/ServiceBrowser1",
            signal("/Client1/ServiceBrowser1", "AllForNow"),
        );
        lock().deliver(
            "/Client1/ServiceBrowser2",
            signal("/Client1/ServiceBrowser2", "ItemNew"),
        );
        let (tx, mut rx) = mpsc::unbounded_channel();
        lock().claim("/Client1/ServiceBrowser1", tx);
        lock().deliver(
            "/Client1/ServiceBrowser1",
            signal("/Client1/ServiceBrowser1", "ItemRemove"),
        );
        let got: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|s| member(&s))
            .collect();
        assert_eq!(got, ["ItemNew", "AllForNow", "ItemRemove"]);
        assert_eq!(
            lock().early_count,
            1,
            "the other path's signal waits for its claim"
        );
    }

    #[test]
    fn the_early_buffer_is_bounded() {
        let mut routes = Routes::default();
        for i in 0..EARLY_MAX + 10 {
            let path = format!("/Client1/RecordBrowser{i}");
            routes.deliver(&path, signal(&path, "ItemNew"));
        }
        assert!(routes.early_count <= EARLY_MAX, "{}", routes.early_count);
    }

    #[test]
    fn avahi_error_names_map_to_typed_errors() {
        assert!(matches!(
            avahi_error("org.freedesktop.Avahi.CollisionError", None),
            Error::NameConflict
        ));
        assert!(matches!(
            avahi_error("org.freedesktop.DBus.Error.ServiceUnknown", None),
            Error::DaemonNotRunning
        ));
        assert!(matches!(
            avahi_error("org.freedesktop.Avahi.TooManyObjectsError", None),
            Error::Refused
        ));
        assert!(matches!(
            avahi_error("org.freedesktop.Avahi.InvalidServiceTypeError", None),
            Error::BadParam
        ));
        assert!(matches!(
            avahi_error("org.example.Other", Some("x")),
            Error::Io(_)
        ));
    }
}
