//! Everything on the network, resolved and live: service type enumeration (RFC 6763 §9), then
//! a resolved browse of each type as it appears, merged into one stream. Used by
//! `browse --all` and `watch`.

use std::collections::HashSet;
use std::pin::Pin;
use std::task::{Context, Poll};

use dnssd::{EndpointEvent, Error, Interface, ServiceDiscovery, ServiceType, ServiceTypeEvent};
use futures_core::Stream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// What the merged stream reports.
#[derive(Debug)]
pub enum Seen {
    /// A service type appeared (`true`) or went away (`false`) on the network.
    Type(ServiceType, bool),
    /// An endpoint of one of the types came up, changed or went down.
    Endpoint(EndpointEvent),
}

/// Which types to follow.
#[derive(Debug, Clone)]
pub enum Scope {
    /// Every type the network advertises, as it appears.
    Every,
    /// Only this type.
    One(ServiceType),
}

/// The merged stream; dropping it stops every browse.
pub struct Everything {
    events: mpsc::Receiver<Result<Seen, Error>>,
    // Aborts the enumeration task, and with it each type's browse task, when dropped.
    _tasks: JoinSet<()>,
}

/// Events waiting for the consumer before the browses wait for it (a slow terminal slows the
/// browses down instead of growing memory).
const BACKLOG: usize = 1024;

impl Everything {
    /// Starts following `scope` on `interface`. Errors starting the first stream are returned
    /// here; later ones arrive as items.
    pub fn start(sd: &ServiceDiscovery, scope: Scope, interface: Interface) -> Result<Self, Error> {
        let (tx, events) = mpsc::channel(BACKLOG);
        let mut tasks = JoinSet::new();
        match scope {
            Scope::One(t) => {
                let stream = sd.browse_on(&t, None, interface)?.resolved();
                tasks.spawn(forward(stream, tx));
            }
            Scope::Every => {
                let types = sd.browse_types_on(interface)?;
                tasks.spawn(enumerate(sd.clone(), types, interface, tx));
            }
        }
        Ok(Everything {
            events,
            _tasks: tasks,
        })
    }
}

impl Stream for Everything {
    type Item = Result<Seen, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().events.poll_recv(cx)
    }
}

/// The next item of a stream.
async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}

/// Forwards one type's endpoint events until the stream or the consumer ends.
async fn forward(mut stream: dnssd::Endpoints, tx: mpsc::Sender<Result<Seen, Error>>) {
    while let Some(item) = next(&mut stream).await {
        if tx.send(item.map(Seen::Endpoint)).await.is_err() {
            return;
        }
    }
}

/// Follows type enumeration and starts a resolved browse for each new type. The browses live in
/// this task's `JoinSet`, so they end with it.
async fn enumerate(
    sd: ServiceDiscovery,
    mut types: dnssd::ServiceTypes,
    interface: Interface,
    tx: mpsc::Sender<Result<Seen, Error>>,
) {
    let mut browses = JoinSet::new();
    let mut started: HashSet<String> = HashSet::new();
    while let Some(item) = next(&mut types).await {
        let seen = match item {
            Ok(ServiceTypeEvent::Added(t)) => {
                // A type that goes and comes back keeps its browse (it reports the comeback).
                if started.insert(t.to_string().to_ascii_lowercase()) {
                    match sd.browse_on(&t, None, interface) {
                        Ok(browse) => {
                            browses.spawn(forward(browse.resolved(), tx.clone()));
                        }
                        Err(e) => {
                            if tx.send(Err(e)).await.is_err() {
                                return;
                            }
                        }
                    }
                }
                Ok(Seen::Type(t, true))
            }
            Ok(ServiceTypeEvent::Removed(t)) => Ok(Seen::Type(t, false)),
            // An event kind this program does not know yet.
            Ok(_) => continue,
            Err(e) => Err(e),
        };
        if tx.send(seen).await.is_err() {
            return;
        }
    }
    // Enumeration ended (a fatal error was sent): the browses carry on until the consumer goes.
    while browses.join_next().await.is_some() {}
}
