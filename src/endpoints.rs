//! `browse(..).resolved()`: browse -> resolve -> address lookup, combined into complete
//! endpoints. Backend-independent: it only uses the public operations.
//!
//! One task owns the browse and a table of instances; each instance has its own task that
//! resolves it and looks up its host, and reports complete endpoints back. Removing an
//! instance aborts its task, which drops its streams and so cancels their operations.

use std::collections::HashMap;
use std::net::SocketAddr;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::discovery::{Interface, ServiceDiscovery};
use crate::error::Result;
use crate::event::{
    BrowseEvent, Endpoint, EndpointEvent, HostAddress, HostAddressEvent, Instance, Resolved,
};
use crate::stream::{EventStream, HostLookup, OperationGuard, ResolveStream};

struct Tracked {
    task: JoinHandle<()>,
    up: Option<Endpoint>,
}

/// Aborts every per-instance task when the combining task ends or is dropped.
struct Table(HashMap<Instance, Tracked>);

impl Drop for Table {
    fn drop(&mut self) {
        for tracked in self.0.values() {
            tracked.task.abort();
        }
    }
}

pub(crate) fn spawn(
    discovery: ServiceDiscovery,
    browse: EventStream<BrowseEvent>,
) -> EventStream<EndpointEvent> {
    let (tx, rx) = mpsc::unbounded_channel();
    drop(tokio::spawn(combine(discovery, browse, tx)));
    EventStream::new(rx, OperationGuard::none())
}

async fn combine(
    discovery: ServiceDiscovery,
    mut browse: EventStream<BrowseEvent>,
    tx: mpsc::UnboundedSender<Result<EndpointEvent>>,
) {
    let (updates_tx, mut updates) = mpsc::unbounded_channel::<Endpoint>();
    let mut table = Table(HashMap::new());
    loop {
        tokio::select! {
            () = tx.closed() => return,
            event = browse.next_event() => match event {
                None => return,
                Some(Err(e)) => {
                    if tx.send(Err(e)).is_err() {
                        return;
                    }
                }
                Some(Ok(BrowseEvent::Added(instance))) => {
                    let task = tokio::spawn(follow(
                        discovery.clone(),
                        instance.clone(),
                        updates_tx.clone(),
                    ));
                    if let Some(old) = table.0.insert(instance, Tracked { task, up: None }) {
                        old.task.abort();
                    }
                }
                Some(Ok(BrowseEvent::Removed(instance))) => {
                    if let Some(tracked) = table.0.remove(&instance) {
                        tracked.task.abort();
                        if tracked.up.is_some()
                            && tx.send(Ok(EndpointEvent::Down(instance))).is_err()
                        {
                            return;
                        }
                    }
                }
            },
            Some(endpoint) = updates.recv() => {
                // Updates from an instance removed in the meantime are stale.
                let Some(tracked) = table.0.get_mut(&endpoint.instance) else {
                    continue;
                };
                let event = match &tracked.up {
                    None => EndpointEvent::Up(endpoint.clone()),
                    Some(previous) if *previous != endpoint => {
                        EndpointEvent::Changed(endpoint.clone())
                    }
                    Some(_) => continue,
                };
                tracked.up = Some(endpoint);
                if tx.send(Ok(event)).is_err() {
                    return;
                }
            }
        }
    }
}

/// Resolve one instance and follow its host's addresses; send every complete state.
async fn follow(
    discovery: ServiceDiscovery,
    instance: Instance,
    updates: mpsc::UnboundedSender<Endpoint>,
) {
    let Ok(resolve) = discovery.resolve_stream(&instance) else {
        return;
    };
    let mut resolve: ResolveStream = resolve;
    let mut resolved: Option<Resolved> = None;
    let mut lookup: Option<HostLookup> = None;
    let mut addresses: Vec<HostAddress> = Vec::new();
    loop {
        tokio::select! {
            event = resolve.next_event() => match event {
                None => return,
                // Errors (daemon gone) reach the user through the browse.
                Some(Err(_)) => {}
                Some(Ok(r)) => {
                    let host_changed = resolved
                        .as_ref()
                        .is_none_or(|old| !old.host_target.eq_ignore_ascii_case(&r.host_target));
                    if host_changed {
                        addresses.clear();
                        let interface = std::num::NonZeroU32::new(r.interface)
                            .map_or(Interface::Any, Interface::Index);
                        lookup = discovery.lookup_host_stream(&r.host_target, interface).ok();
                    }
                    resolved = Some(r);
                }
            },
            event = next_lookup(&mut lookup) => match event {
                None => lookup = None,
                Some(Err(_)) => {}
                Some(Ok(HostAddressEvent::Added(a))) => {
                    if !addresses.contains(&a) {
                        addresses.push(a);
                    }
                }
                Some(Ok(HostAddressEvent::Removed(a))) => addresses.retain(|x| *x != a),
            },
        }
        if let Some(r) = &resolved {
            if !addresses.is_empty() && updates.send(endpoint(r, &addresses)).is_err() {
                return;
            }
        }
    }
}

async fn next_lookup(lookup: &mut Option<HostLookup>) -> Option<Result<HostAddressEvent>> {
    match lookup {
        Some(l) => l.next_event().await,
        None => std::future::pending().await,
    }
}

/// A complete endpoint; addresses sorted so equal states compare equal.
fn endpoint(resolved: &Resolved, addresses: &[HostAddress]) -> Endpoint {
    let mut socket_addrs: Vec<SocketAddr> = addresses
        .iter()
        .map(|a| a.socket_addr(resolved.port))
        .collect();
    socket_addrs.sort();
    socket_addrs.dedup();
    Endpoint {
        instance: resolved.instance.clone(),
        host_target: resolved.host_target.clone(),
        addresses: socket_addrs,
        port: resolved.port,
        txt: resolved.txt.clone(),
        interface: resolved.instance.interface,
    }
}
